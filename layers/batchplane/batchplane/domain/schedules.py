"""Scheduled submissions: POST /schedules, with EventBridge Scheduler's own expressions (rate, cron, at).

A firing submits at most once: the fire time is part of the job's (or pipeline's) Idempotency-Key."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from batchplane.domain.models import JobRequest, _Wire
from batchplane.domain.pipelines import PipelineRequest

SCHEDULE_NAME_PATTERN = r"^[0-9a-zA-Z-_.]{1,50}$"  # Scheduler names (64) less our tenant prefix
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\(([^)]+)\)$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?,/#L W-]+$")


# EventBridge Scheduler's ranges (cron: minutes hours day-of-month month day-of-week year).
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (1970, 2199))
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February 29 only in leap years
MAX_RATE_VALUE = 2**31 - 1  # our bound (AWS documents none): a 32-bit integer, over 4,000 years in minutes


def validate_expression(expression: str) -> str:
    """EventBridge Scheduler's ``rate(value unit)``, ``cron(min hour day-of-month month day-of-week year)`` (six
    fields, one of day-of-month / day-of-week is ``?``) or ``at(yyyy-mm-ddThh:mm:ss)``: well formed, in range, and able
    to fire at least once (``cron(0 0 31 2 ? *)``, February 31, never does)."""
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            msg = "rate(1 minute), rate(5 minutes): a positive value, singular unit for 1"
            raise ValueError(msg)
        if value > MAX_RATE_VALUE:
            msg = f"a rate's value is at most {MAX_RATE_VALUE}"
            raise ValueError(msg)
        return expression
    at = _AT.match(expression)
    if at:
        at_time(expression)
        return expression
    cron = _CRON.match(expression)
    if cron:
        fields = cron.group(1).split()
        if len(fields) != 6 or not all(_CRON_FIELD.match(f) for f in fields):
            msg = "cron() takes six fields: minutes hours day-of-month month day-of-week year"
            raise ValueError(msg)
        if "?" not in (fields[2], fields[4]):
            msg = "cron(): day-of-month or day-of-week must be '?'"
            raise ValueError(msg)
        _cron_can_fire(fields)
        return expression
    if expression.startswith("rate("):  # say what is wrong with it, not that it is not a rate
        msg = "rate(value unit): a whole number, then minute(s), hour(s) or day(s) (1 minute is the shortest rate)"
    elif expression.startswith("at("):
        msg = "at(yyyy-mm-ddThh:mm:ss): a date and time, in the schedule's timezone"
    else:
        msg = "expected rate(...), cron(...) or at(...), as EventBridge Scheduler takes them"
    raise ValueError(msg)


def at_time(expression: str) -> datetime | None:
    """The local date and time of an ``at(...)`` expression (None for rate and cron); ValueError if no such time."""
    at = _AT.match(expression)
    if not at:
        return None
    try:
        return datetime.fromisoformat(at.group(1))
    except ValueError:
        msg = f"at(): {at.group(1)} is not a date and time"
        raise ValueError(msg) from None


def last_cron_year(expression: str) -> int | None:
    """The last year a valid ``cron(...)`` can fire in (None: rate, at, or no last year before 2199's end)."""
    cron = _CRON.match(expression)
    if not cron:
        return None
    return max(_cron_values(cron.group(1).split()[5], 5) or {_CRON_RANGES[5][1]})


def _cron_values(field: str, index: int) -> set[int] | None:
    """The values a cron field names, or None for the special forms (``?``, ``L``, ``W``, ``#``) that fire anyway."""
    lo, hi = _CRON_RANGES[index]
    names = _MONTHS if index == 3 else _DAYS if index == 4 else {}
    if field == "?" or any(ch in field for ch in "LW#"):
        return None
    values: set[int] = set()
    for part in field.split(","):
        rng, _, step_text = part.partition("/")
        step = _number(step_text, names, 1, hi - lo + 1 if hi > lo else 1, field) if step_text else 1
        if rng == "*":
            first, last = lo, hi
        elif "-" in rng:
            a, _, b = rng.partition("-")
            first, last = _number(a, names, lo, hi, field), _number(b, names, lo, hi, field)
        else:
            first = _number(rng, names, lo, hi, field)
            last = hi if step_text else first
        if first > last:
            msg = f"cron(): {field!r} is an empty range"
            raise ValueError(msg)
        values.update(range(first, last + 1, step))
    return values


def _number(text: str, names: dict[str, int], lo: int, hi: int, field: str) -> int:
    value = names.get(text.upper()) if not text.isdigit() else int(text)
    if value is None or not lo <= value <= hi:
        msg = f"cron(): {field!r} is out of range ({lo}-{hi})"
        raise ValueError(msg)
    return value


def _cron_can_fire(fields: list[str]) -> None:
    sets = [_cron_values(f, i) for i, f in enumerate(fields)]
    days, months, years = sets[2], sets[3], sets[5]
    if days is None or months is None:
        return
    leap = years is None or any(y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) for y in years)
    longest = max((_DAYS_IN_MONTH[m - 1] if m != 2 or leap else 28) for m in months)
    if min(days) > longest:
        msg = f"cron(): day {min(days)} of month(s) {fields[3]} never comes, so the schedule would never fire"
        raise ValueError(msg)


def check_fires_after(expression: str, timezone: str, now: datetime) -> None:
    """ValueError unless the (valid) expression can still fire after ``now``: an ``at`` in the past, or a cron whose
    last year is over, would be accepted by nothing that ever runs."""
    when = at_time(expression)
    if when is not None and when.replace(tzinfo=ZoneInfo(timezone)) <= now:
        msg = f"at(): {when.isoformat()} {timezone} is in the past"
        raise ValueError(msg)
    last_year = last_cron_year(expression)
    if last_year is not None and last_year < now.astimezone(ZoneInfo(timezone)).year:
        msg = f"cron(): its last year, {last_year}, is over"
        raise ValueError(msg)


class ScheduleRequest(_Wire):
    """POST /schedules body: what to submit (a job or a pipeline) and when."""

    name: str = Field(pattern=SCHEDULE_NAME_PATTERN)
    expression: str = Field(max_length=256, description="rate(...), cron(...) or at(...)")
    timezone: str = Field(default="UTC", max_length=50)
    job: JobRequest | None = None
    pipeline: PipelineRequest | None = None
    enabled: bool = Field(default=True, strict=True)  # "false" or 0 is not false: 422

    @field_validator("expression")
    @classmethod
    def _expression(cls, value: str) -> str:
        return validate_expression(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"unknown IANA time zone {value!r}"
            raise ValueError(msg) from None
        return value

    @model_validator(mode="after")
    def _one_target(self) -> ScheduleRequest:
        if (self.job is None) == (self.pipeline is None):
            msg = "a schedule submits exactly one of `job` or `pipeline`"
            raise ValueError(msg)
        return self

    def target(self) -> dict[str, Any]:
        if self.job is not None:
            return {"job": self.job.canonical()}
        assert self.pipeline is not None  # noqa: S101 - guaranteed by _one_target
        return {"pipeline": self.pipeline.model_dump(mode="json", by_alias=True)}


def firing_key(schedule: str, fired_at: str) -> str:
    """The Idempotency-Key of one firing: a firing delivered twice submits once."""
    return f"schedule:{schedule}:{fired_at}"


def scheduler_name(tenant: str, name: str) -> str:
    """EventBridge Scheduler names are per account (64 characters): the tenant's hash keeps tenants apart."""
    return f"bp-{hashlib.sha256(tenant.encode()).hexdigest()[:10]}-{name}"[:64]


@dataclass
class ScheduleRecord:
    """A schedule as batchplane records it: its definition (the timer is EventBridge Scheduler's)."""

    tenant: str
    name: str
    expression: str
    timezone: str
    enabled: bool
    target: dict[str, Any]
    created_at: str

    @property
    def scheduler_name(self) -> str:
        return scheduler_name(self.tenant, self.name)
