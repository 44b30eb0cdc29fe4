"""The one timestamp module: ISO 8601 in UTC with a Z suffix, to the millisecond, and epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from batchplane.domain.timestamps import epoch_ms, iso, iso_from_ms, iso_to_epoch_seconds, iso_to_ms, parse_iso

pytestmark = pytest.mark.unit

MOMENT = datetime(2026, 3, 4, 5, 6, 7, 891_234, tzinfo=UTC)


def test_iso_ends_in_z_and_keeps_milliseconds() -> None:
    # GIVEN a UTC moment with microseconds
    # WHEN it is written
    text = iso(MOMENT)
    # THEN it is UTC with a Z suffix, cut to the millisecond
    assert text == "2026-03-04T05:06:07.891Z"


def test_iso_to_the_second() -> None:
    # GIVEN the same moment WHEN written to the second THEN no fraction is kept
    assert iso(MOMENT, "seconds") == "2026-03-04T05:06:07Z"


def test_round_trip_through_epoch_milliseconds() -> None:
    # GIVEN a moment's epoch milliseconds
    ms = epoch_ms(MOMENT)
    # WHEN written as ISO and read back
    text = iso_from_ms(ms)
    # THEN nothing is lost at millisecond resolution
    assert text == "2026-03-04T05:06:07.891Z"
    assert iso_to_ms(text) == ms
    assert parse_iso(text) == MOMENT.replace(microsecond=891_000)


def test_parse_reads_z_and_offsets_alike() -> None:
    # GIVEN the same moment with a Z suffix and with a +02:00 offset
    plus_two = timezone(timedelta(hours=2))
    # WHEN parsed THEN both name the same moment
    assert parse_iso("2026-03-04T05:06:07Z") == parse_iso("2026-03-04T07:06:07+02:00")
    assert parse_iso("2026-03-04T07:06:07+02:00").tzinfo == plus_two
    assert iso_to_epoch_seconds("1970-01-01T00:01:40Z") == 100


def test_parse_rejects_what_is_not_a_time() -> None:
    # GIVEN text that is no ISO time WHEN parsed THEN ValueError (callers choose the fallback)
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_iso("yesterday")
