"""Schedule expressions as EventBridge Scheduler takes them, and the local clock that fires them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from batchplane.domain.schedules import firing_key, validate_expression
from batchplane_local.stack.schedules import next_fire

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(2 hours)",
        "cron(0 3 * * ? *)",
        "cron(15 10 ? * MON-FRI *)",
        "at(2026-12-01T09:00:00)",
    ],
)
def test_valid_expressions(expression: str) -> None:
    assert validate_expression(expression) == expression


@pytest.mark.parametrize(
    "expression",
    [
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(5 seconds)",
        "cron(0 3 * * *)",
        "cron(0 3 * * * *)",
        "every day",
        "at(tomorrow)",
    ],
)
def test_invalid_expressions(expression: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        validate_expression(expression)


@pytest.mark.parametrize(
    ("expression", "said"),
    [
        ("rate(30 seconds)", "minute(s), hour(s) or day(s)"),
        ("rate(1.5 hours)", "a whole number"),
        ("at(tomorrow)", "at(yyyy-mm-ddThh:mm:ss)"),
        ("every day", "expected rate(...), cron(...) or at(...)"),
    ],
)
def test_an_invalid_expression_is_told_what_its_kind_takes(expression: str, said: str) -> None:
    # a rate with an unknown unit is not "not a rate": the message says what a rate takes
    with pytest.raises(ValueError, match=re.escape(said)):
        validate_expression(expression)


def test_next_fire_follows_the_expression() -> None:
    t0 = datetime(2026, 11, 24, 12, 0, 30, tzinfo=UTC)
    assert next_fire("rate(5 minutes)", "UTC", t0) == datetime(2026, 11, 24, 12, 5, 30, tzinfo=UTC)
    assert next_fire("rate(1 minute)", "UTC", t0, scale=30) == datetime(2026, 11, 24, 12, 0, 32, tzinfo=UTC)
    assert next_fire("cron(0 3 * * ? *)", "UTC", t0) == datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    assert next_fire("cron(0 3 * * ? *)", "Europe/Paris", t0) == datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    assert next_fire("at(2026-11-24T13:00:00)", "UTC", t0) == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    assert next_fire("at(2026-11-24T11:00:00)", "UTC", t0) is None


def test_a_firing_key_names_schedule_and_time() -> None:
    assert firing_key("n", "2026-11-25T02:00:00Z") == "schedule:n:2026-11-25T02:00:00Z"
    assert firing_key("n", "2026-11-25T02:00:00Z") != firing_key("n", "2026-11-25T02:01:00Z")
