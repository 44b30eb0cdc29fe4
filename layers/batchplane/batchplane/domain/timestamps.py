"""The one place batchplane writes and reads times: ISO 8601 strings in UTC with a "Z" suffix (records, API answers,
EventBridge's ``time``) and epoch milliseconds (what Batch reports, what the sweeper's indexes sort by).

Pure: nothing here reads the clock; callers pass the moment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

TimeSpec = Literal["seconds", "milliseconds"]


def iso(moment: datetime, timespec: TimeSpec = "milliseconds") -> str:
    """``2026-01-02T03:04:05.678Z`` (``timespec="seconds"``: ``2026-01-02T03:04:05Z``)."""
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def iso_from_ms(ms: int) -> str:
    """The ISO string of an epoch-milliseconds time, to the millisecond."""
    return iso(datetime.fromtimestamp(ms / 1000, UTC))


def parse_iso(value: str) -> datetime:
    """The moment an ISO string names ("Z" or an offset); ValueError when it is not one."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso_to_ms(value: str) -> int:
    """Epoch milliseconds of an ISO string; ValueError when it is not one."""
    return epoch_ms(parse_iso(value))


def iso_to_epoch_seconds(value: str) -> int:
    """Epoch seconds (whole) of an ISO string, as DynamoDB's TTL wants them."""
    return int(parse_iso(value).timestamp())
