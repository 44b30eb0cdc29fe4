"""What the API answers: response models (they also make the OpenAPI document)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from batchplane.domain.models import JobStatus, Priority
from batchplane.domain.records import AttemptRecord, JobRecord
from batchplane.domain.timestamps import iso_from_ms

if TYPE_CHECKING:
    from collections.abc import Mapping

    from batchplane.domain.arbiter import QueueClass
    from batchplane.domain.costs import Cost
    from batchplane.domain.pipeline_records import PipelineRecord
    from batchplane.domain.schedules import ScheduleRecord


class _View(BaseModel):
    """The answers' base. ``defer_build``: a view's serializer is built on its first use (or in SnapStart's priming),
    not at import: most views belong to routes a container may never serve."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, defer_build=True
    )


def _same(record: object, *names: str) -> dict[str, Any]:
    """The record's attributes that a view shows as they are, under the same names."""
    return {name: getattr(record, name) for name in names}


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_from_ms(ms)


Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class CostView(_View):
    """An estimate, never a bill: ``basis`` says how it was reached (instance type, Spot or On-Demand, share, running
    time, the prices' source and date) and what it leaves out."""

    amount: Money = Field(description="estimated cost, in currency units (rounded to 0.000001)")
    currency: str
    wasted: Money = Field(description="the part of amount spent on attempts that could not produce the result")
    basis: str

    @classmethod
    def of(cls, cost: Cost) -> CostView:
        return cls(amount=cost.amount, currency=cost.currency, wasted=cost.wasted, basis=cost.basis)


class AttemptView(_View):
    attempt: int
    reason: str = Field(description="why the attempt exists: initial, retry, spot-fallback, capacity-fallback, ...")
    replaces: int | None = None
    batch_job_id: str | None = None
    batch_job_name: str
    queue: str
    capacity: str
    status: str
    status_reason: str | None = None
    exit_code: int | None = None
    container_reason: str | None = None
    failure_class: str | None = None
    memory_mi_b: int | None = Field(default=None, alias="memoryMiB")
    vcpus: int | None = None
    created_at: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    log_stream_name: str | None = None
    explanation: str | None = None
    array_summary: dict[str, int] | None = Field(default=None, description="array job: children by status")
    failed_children: list[int] = Field(default_factory=list, description="array job: indexes of failed children")
    array_indexes: str | None = Field(default=None, description="a retry over some children: their original indexes")

    @classmethod
    def of(cls, a: AttemptRecord) -> AttemptView:
        return cls(
            **_same(a, "attempt", "reason", "replaces", "batch_job_id", "batch_job_name", "status_reason"),
            **_same(a, "exit_code", "container_reason", "failure_class", "vcpus", "explanation", "array_indexes"),
            queue=a.queue_arn.rsplit("/", 1)[-1],
            capacity=a.capacity.value,
            status=a.status.value,
            memory_mi_b=a.memory_mib,
            log_stream_name=a.log_stream,
            created_at=_iso(a.created_at),
            started_at=_iso(a.started_at),
            stopped_at=_iso(a.stopped_at),
            array_summary=json.loads(a.array_summary) if a.array_summary else None,
            failed_children=list(a.failed_children),
        )


class DependencyView(_View):
    job_id: str
    type: str | None = Field(default=None, description="N_TO_N or SEQUENTIAL for an array dependency")


class JobView(_View):
    job_id: str
    name: str
    status: JobStatus = Field(
        description="the job's status: its current attempt's AWS Batch status, or how it ended (SUCCEEDED, FAILED, "
        "or CANCELLED: cancelled by its owner), or QUEUED: accepted, waiting for admission to AWS Batch"
    )
    status_reason: str | None = None
    priority: str
    capacity: str = Field(description="the capacity preference asked for")
    queue: str = Field(description="the current attempt's job queue")
    placement_reason: str
    created_at: str
    updated_at: str
    attempts: list[AttemptView]
    tags: dict[str, str] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    depends_on: list[DependencyView] = Field(default_factory=list, description="the jobs it waits for, as submitted")
    batch_job_id: str | None = Field(default=None, description="the current attempt's AWS Batch job id, once known")
    cancel_requested: bool = False
    origin: str | None = Field(default=None, description="what submitted it: api, pipeline:<id>, schedule:<name>@<t>")
    pipeline_id: str | None = None
    cost: CostView | None = Field(default=None, description="estimated cost of the attempts that ran (GET only)")
    image: str | None = Field(default=None, description="the job's own container image, when it gave one")
    platform: str | None = Field(default=None, description="ec2 or fargate, for a job with its own image")
    job_definition: str | None = Field(default=None, description="the job definition it runs on (ARN or name)")
    waiting: dict[str, Any] | None = Field(
        default=None,
        description="what holds the job while it waits (GET /jobs/{jobId} only): hold (while QUEUED: quota-vcpus, "
        "quota-memory, quota-gpus, fair-share, priority, backlog-full, never-fits, behind, account-rate, dispatch; "
        "then dependencies, retry-backoff, submit-retry, capacity, unplaceable, batch-queue, ...), reason (a "
        "sentence), ahead (its place in its tenant's line), and the hold's details (quota used/limit, share, room)",
    )

    @classmethod
    def of(cls, job: JobRecord, waiting: dict[str, Any] | None = None) -> JobView:
        req: dict[str, Any] = job.request
        attempts = [AttemptView.of(a) for a in job.attempts]
        return cls(
            **_same(job, "job_id", "name", "status", "status_reason", "priority", "placement_reason", "created_at"),
            **_same(job, "updated_at", "tags", "cancel_requested", "origin", "pipeline_id"),
            capacity=job.preference,
            queue=job.queue_name,
            attempts=attempts,
            inputs=list(req.get("inputs", [])),
            outputs=list(req.get("outputs", [])),
            image=req.get("image"),
            platform=req.get("platform", "ec2") if req.get("image") else None,
            job_definition=job.job_definition or None,
            depends_on=[
                DependencyView(job_id=d["jobId"], type=d.get("type"))
                for d in req.get("dependsOn") or []
                if "jobId" in d
            ],
            batch_job_id=attempts[-1].batch_job_id if attempts else None,
            waiting=waiting,
        )


class JobSummary(_View):
    job_id: str
    name: str
    status: JobStatus = Field(
        description="the job's status: its current attempt's AWS Batch status, or how it ended (SUCCEEDED, FAILED, "
        "or CANCELLED: cancelled by its owner)"
    )
    priority: str
    queue: str
    created_at: str
    pipeline_id: str | None = Field(default=None, description="the pipeline that runs it, if any")

    @classmethod
    def of(cls, job: JobRecord) -> JobSummary:
        return cls(
            **_same(job, "job_id", "name", "status", "priority", "created_at", "pipeline_id"), queue=job.queue_name
        )


class JobList(_View):
    jobs: list[JobSummary]
    next_token: str | None = None


class CancelRequest(_View):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=512)


class CancelView(_View):
    job_id: str
    action: str = Field(
        description="cancel (not yet STARTING by batchplane's record), terminate (STARTING/RUNNING) or none (no Batch "
        "job yet: a job held for its dependencies or waiting out a retry's backoff ends CANCELLED at once); when there "
        "is a Batch job batchplane calls TerminateJob, which cancels or stops it as Batch sees it, and the job ends "
        "CANCELLED when Batch reports it FAILED"
    )
    status: JobStatus = Field(
        description="the job's status: its current attempt's AWS Batch status, or how it ended (SUCCEEDED, FAILED, "
        "or CANCELLED: cancelled by its owner)"
    )


class PriorityRequest(_View):
    """POST /jobs/{jobId}/priority body."""

    model_config = ConfigDict(extra="forbid")
    priority: Priority = Field(description="the priority class to move the job to")


class PriorityView(_View):
    job_id: str
    priority: str
    previous_priority: str
    action: str = Field(
        description="unchanged (already that class), moved (not in AWS Batch yet: it will be submitted to the new "
        "class's queue), replaced (waiting in Batch: a new attempt in the new class's queue replaced it, and the old "
        "Batch job is terminated) or recorded (its queue serves every class: only the record changed)"
    )
    reason: str
    status: JobStatus
    status_reason: str | None = Field(
        default=None, description="the job's statusReason (FAILED: AWS Batch refused the replacing attempt's SubmitJob)"
    )
    queue: str = Field(description="the current attempt's job queue")
    attempt: int = Field(description="the current attempt")
    replaced: int | None = Field(default=None, description="replaced: the attempt the new one replaces")


class QueueView(_View):
    priority: str
    capacity: str
    queue: str
    queue_arn: str
    max_vcpus: int
    max_memory_mi_b: int = Field(alias="maxMemoryMiB")
    max_gpus: int
    multi_node: bool
    platform: str = "ec2"

    @classmethod
    def of(cls, q: QueueClass) -> QueueView:
        return cls(
            **_same(q, "priority", "queue_arn", "max_vcpus", "max_gpus", "multi_node"),
            platform=q.platform.value,
            capacity=q.capacity.value,
            queue=q.queue_name,
            max_memory_mi_b=q.max_memory_mib,
        )


class QueueList(_View):
    queues: list[QueueView]


class PipelineJobView(_View):
    id: str
    state: str = Field(description="WAITING, SUBMITTED, RUNNING, SUCCEEDED, FAILED, SKIPPED or CANCELLED")
    job_id: str | None = Field(default=None, description="the managed job (GET /jobs/{jobId})")


class PipelineView(_View):
    pipeline_id: str
    name: str
    status: str = Field(description="RUNNING, SUCCEEDED, FAILED or CANCELLED")
    on_failure: str
    run: int
    created_at: str
    updated_at: str
    execution_arn: str | None = None
    previous_runs: list[str] = Field(default_factory=list)
    job_count: int = Field(default=0, description="its jobs once maps are expanded")
    jobs: list[PipelineJobView] = Field(
        default_factory=list,
        description="each job's state (GET /pipelines/{id}; the list GET /pipelines leaves it empty: jobCount)",
    )
    cost: CostView | None = Field(default=None, description="estimated cost of its jobs' ended attempts (GET only)")

    @classmethod
    def of(cls, p: PipelineRecord) -> PipelineView:
        return cls(
            **_same(p, "pipeline_id", "name", "status", "on_failure", "run", "created_at", "updated_at"),
            execution_arn=p.execution_arn,
            previous_runs=list(p.previous_runs),
            job_count=expanded_count(p.request),
            jobs=[PipelineJobView(id=j.key, state=j.state, job_id=j.job_id) for j in p.jobs.values()],
        )


def expanded_count(request: Mapping[str, Any]) -> int:
    """How many jobs a stored pipeline request makes once its maps are expanded (a job with a map: one per item)."""
    jobs = request.get("jobs")
    if not isinstance(jobs, list):
        return 0
    widths = (j.get("map") if isinstance(j, dict) else None for j in jobs)
    return sum(len(m) if isinstance(m, list) and m else 1 for m in widths)


class PipelineList(_View):
    pipelines: list[PipelineView]


class ScheduleView(_View):
    name: str
    expression: str
    timezone: str
    enabled: bool
    target: dict[str, Any]
    created_at: str
    scheduler_name: str = Field(description="the EventBridge Scheduler schedule")

    @classmethod
    def of(cls, s: ScheduleRecord) -> ScheduleView:
        return cls(**_same(s, "name", "expression", "timezone", "enabled", "target", "created_at", "scheduler_name"))


class ScheduleList(_View):
    schedules: list[ScheduleView]


class CostGroupView(_View):
    key: str = Field(description="the tenant, queue, priority class or day (YYYY-MM-DD)")
    amount: Money
    wasted: Money
    attempts: int = Field(description="ended attempts counted")


class CostsView(_View):
    group_by: str
    from_: str = Field(alias="from")
    to: str
    every_tenant: bool = Field(description="true for an administrator: every tenant's costs; else the caller's")
    currency: str
    amount: Money
    wasted: Money
    groups: list[CostGroupView]
    basis: str


class DefinitionView(_View):
    name: str
    arn: str
    revision: int | None = None
    image: str | None = None
    platform: str
    job_role_arn: str | None = None
    volumes: list[str] = Field(default_factory=list)
    jobs: list[str] = Field(default_factory=list, description="the caller's jobs (of its latest 100) that use it")


class DefinitionList(_View):
    definitions: list[DefinitionView]
