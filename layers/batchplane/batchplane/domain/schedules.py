"""Scheduled submissions: POST /schedules, with EventBridge Scheduler's own expressions (rate, cron, at).

A firing submits at most once: the fire time is part of the job's (or pipeline's) Idempotency-Key."""

from __future__ import annotations

import re
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


def validate_expression(expression: str) -> str:
    """EventBridge Scheduler's ``rate(value unit)``, ``cron(min hour day-of-month month day-of-week year)`` (six
    fields, one of day-of-month / day-of-week is ``?``) or ``at(yyyy-mm-ddThh:mm:ss)``."""
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            msg = "rate(1 minute), rate(5 minutes): a positive value, singular unit for 1"
            raise ValueError(msg)
        return expression
    if _AT.match(expression):
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
        return expression
    msg = "expected rate(...), cron(...) or at(...), as EventBridge Scheduler takes them"
    raise ValueError(msg)


class ScheduleRequest(_Wire):
    """POST /schedules body: what to submit (a job or a pipeline) and when."""

    name: str = Field(pattern=SCHEDULE_NAME_PATTERN)
    expression: str = Field(max_length=256, description="rate(...), cron(...) or at(...)")
    timezone: str = Field(default="UTC", max_length=50)
    job: JobRequest | None = None
    pipeline: PipelineRequest | None = None
    enabled: bool = True

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
