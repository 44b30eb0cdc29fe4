"""Scheduled submissions: create/list/delete schedules, and submit on each firing (at most once per firing)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from batchplane.domain.errors import FieldError, InvalidRequestError, NotFoundError
from batchplane.domain.models import JobRequest
from batchplane.domain.pipelines import PipelineRequest
from batchplane.domain.ports import Scheduler, ScheduleStore
from batchplane.domain.schedules import (
    ScheduleRecord,
    ScheduleRequest,
    check_fires_after,
    firing_key,
    scheduler_name,
)
from batchplane.domain.timestamps import iso
from batchplane.services.jobs import JobService
from batchplane.services.pipelines import PipelineService

# The tenant that owns what schedules declared in template.yaml submit. Never taken from a firing's payload: whoever
# may invoke scheduled_submit could otherwise submit as any tenant.
TEMPLATE_TENANT = "template"


class ScheduleService:
    def __init__(
        self,
        *,
        store: ScheduleStore,
        scheduler: Scheduler,
        jobs: Callable[[], JobService],
        pipelines: Callable[[], PipelineService],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._scheduler = scheduler
        self._jobs = jobs
        self._pipelines = pipelines
        self._clock = clock

    def create(self, tenant: str, request: ScheduleRequest) -> ScheduleRecord:
        try:
            check_fires_after(request.expression, request.timezone, self._clock())
        except ValueError as err:
            raise InvalidRequestError(str(err), errors=[FieldError("expression", str(err))]) from None
        if request.job is not None:  # its definition or its own container must be usable: refused now, not at firing
            try:
                self._jobs().check_definition(request.job)
            except InvalidRequestError as err:
                err.errors = [FieldError(f"job.{e.field}", e.message) for e in err.errors]
                raise
        record = ScheduleRecord(
            tenant=tenant,
            name=request.name,
            expression=request.expression,
            timezone=request.timezone,
            enabled=request.enabled,
            target=request.target(),
            created_at=iso(self._clock(), "seconds"),
        )
        self._store.create(record)  # conditional: a name is taken once
        try:
            self._scheduler.put(record)
        except Exception:
            self._store.delete(record.scheduler_name)
            raise
        return record

    def get(self, tenant: str, name: str) -> ScheduleRecord:
        record = self._store.get(scheduler_name(tenant, name))
        if record is None or record.tenant != tenant:
            raise NotFoundError(f"no schedule {name}")
        return record

    def list(self, tenant: str) -> list[ScheduleRecord]:
        return self._store.of_tenant(tenant)

    def delete(self, tenant: str, name: str) -> None:
        record = self.get(tenant, name)
        self._scheduler.delete(record.scheduler_name)
        self._store.delete(record.scheduler_name)

    def fire(self, event: dict[str, Any]) -> dict[str, Any]:
        """One firing. From EventBridge Scheduler: {"scheduleName", "scheduledTime"}; a schedule declared in the
        template carries its target inline: {"schedule", "scheduledTime", "job"|"pipeline"}. The tenant is the stored
        schedule's, or TEMPLATE_TENANT for a template schedule; a "tenant" in the payload is ignored."""
        fired_at = str(event.get("scheduledTime") or event.get("time") or "")
        if "scheduleName" in event:
            record = self._store.get(str(event["scheduleName"]))
            if record is None:
                return {"outcome": "no-such-schedule"}
            tenant, name, target = record.tenant, record.name, record.target
        else:
            tenant, name = TEMPLATE_TENANT, str(event["schedule"])
            target = {k: event[k] for k in ("job", "pipeline") if k in event}
        key = firing_key(name, fired_at)
        origin = f"schedule:{name}@{fired_at}"
        if "job" in target:
            submitted = self._jobs().submit(tenant, JobRequest.model_validate(target["job"]), key, origin=origin)
            return {"outcome": "replayed" if submitted.replayed else "submitted", "jobId": submitted.job.job_id}
        pipeline, replayed = self._pipelines().create(tenant, PipelineRequest.model_validate(target["pipeline"]), key)
        return {"outcome": "replayed" if replayed else "submitted", "pipelineId": pipeline.pipeline_id}
