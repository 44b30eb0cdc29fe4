"""What batchplane records: a Job, and each Attempt (one AWS Batch job) that carries it out."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from batchplane.domain.ids import batch_job_name
from batchplane.domain.models import Capacity, CapacityPreference, JobStatus

SUPERSEDED_RANK = "99"  # an attempt's rank key prefix above every Batch status rank: a superseded attempt's events
# can never overwrite it (a later attempt replaced it: moved to On-Demand, re-prioritised)


@dataclass(slots=True)
class AttemptRecord:
    attempt: int
    reason: str  # why the attempt exists: initial | retry | spot-fallback | capacity-fallback | memory-escalation
    queue_arn: str
    capacity: Capacity
    batch_job_name: str
    status: JobStatus = JobStatus.SUBMITTED
    replaces: int | None = None
    batch_job_id: str | None = None
    memory_mib: int | None = None
    vcpus: int | None = None
    status_reason: str | None = None
    exit_code: int | None = None
    container_reason: str | None = None
    log_stream: str | None = None
    failure_class: str | None = None
    created_at: int | None = None  # epoch milliseconds, as Batch reports times
    started_at: int | None = None
    stopped_at: int | None = None
    runnable_at: int | None = None
    explanation: str | None = None
    rank_key: str | None = None  # "<status rank>#<event time>#<event id>" of the event that set this state
    not_before: int | None = None  # epoch ms: a delayed retry is submitted at or after this time
    submit_failed_at: int | None = None  # epoch ms: its SubmitJob failed (maybe only its answer): look it up first
    array_summary: str | None = None  # JSON {status: count} of an array job's children
    failed_children: tuple[int, ...] = ()  # array indexes (of this attempt's array) whose child failed
    array_indexes: str | None = None  # "3,7,12": the original indexes this attempt's children stand for

    @property
    def superseded(self) -> bool:
        """A later attempt replaced this one while it was in Batch (its Batch job was to be terminated)."""
        return (self.rank_key or "").startswith(f"{SUPERSEDED_RANK}#")

    @classmethod
    def new(
        cls,
        job_id: str,
        job_name: str,
        *,
        after: AttemptRecord | None,
        reason: str,
        queue_arn: str,
        capacity: Capacity,
        now_ms: int,
        memory_mib: int | None,
        vcpus: int | None,
        explanation: str | None,
        delay_seconds: float = 0.0,
        array_indexes: str | None = None,
    ) -> AttemptRecord:
        """A new attempt of a job: its first (``after`` None) or the one that replaces ``after``, numbered next;
        named deterministically for Batch (so a lost SubmitJob is found by name, never made twice); due now, or
        ``delay_seconds`` after ``now_ms`` (a retry's backoff)."""
        number = 1 if after is None else after.attempt + 1
        return cls(
            attempt=number,
            reason=reason,
            replaces=None if after is None else after.attempt,
            queue_arn=queue_arn,
            capacity=capacity,
            batch_job_name=batch_job_name(job_id, number, job_name),
            memory_mib=memory_mib,
            vcpus=vcpus,
            created_at=now_ms,
            explanation=explanation,
            not_before=now_ms + int(delay_seconds * 1000) if delay_seconds > 0 else None,
            array_indexes=array_indexes,
        )


@dataclass(slots=True)
class JobRecord:
    job_id: str
    tenant: str
    name: str
    status: JobStatus
    created_at: str  # ISO 8601, UTC
    updated_at: str
    request: dict[str, Any]  # the canonical request (camelCase), as validated
    request_hash: str
    priority: str
    preference: CapacityPreference
    queue_arn: str  # the current attempt's queue
    capacity: Capacity
    placement_reason: str
    job_definition: str  # resolved ARN (or name) given to SubmitJob
    current_attempt: int = 1
    status_reason: str | None = None
    idempotency_key: str | None = None
    cancel_requested: bool = False
    cancel_reason: str | None = None  # the status reason a cancel asked for (its requester and reason)
    attempts: list[AttemptRecord] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    version: int = 1
    own_failures: int = 0  # failed attempts counted against retry.attempts
    infrastructure_failures: int = 0  # reclaims, host failures, capacity fallbacks
    spot_reclaims: int = 0
    awaiting_decision: int | None = None  # attempt whose failure is recorded but not yet acted upon
    pipeline_id: str | None = None  # the pipeline (and its job key) this job is a stage of
    pipeline_key: str | None = None
    origin: str | None = None  # what submitted it: "schedule:<name>@<fire time>", "api"
    claim_token: str | None = None  # unique to the request that created the record (a retried write knows itself)
    # what the dispatcher admitted it with (pool, priority, vcpus, memoryMiB, gpus), held until the job ends
    admission: dict[str, str] | None = None
    admission_released: bool = False  # its admission was given back (once: a conditional write)

    @property
    def holds_admission(self) -> bool:
        return bool(self.admission) and not self.admission_released

    @property
    def current(self) -> AttemptRecord:
        return next(a for a in reversed(self.attempts) if a.attempt == self.current_attempt)

    def moved(self, *, queue_arn: str, capacity: Capacity, why: str, priority: str | None = None) -> JobRecord:
        """The record once it and its current attempt are in ``queue_arn`` (before any of it reached Batch: a
        re-prioritisation, or a Spot-first job Spot can never hold), ``why`` its placement reason."""
        current = replace(self.current, queue_arn=queue_arn, capacity=capacity, explanation=why)
        return replace(
            self,
            priority=priority or self.priority,
            queue_arn=queue_arn,
            capacity=capacity,
            placement_reason=why,
            attempts=[current if a.attempt == current.attempt else a for a in self.attempts],
        )

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit("/", 1)[-1]

    @property
    def unstarted(self) -> bool:
        """Nothing of it was handed to Batch, nor is being: held for its dependencies, or waiting out a retry's
        backoff (a cancel can end it at once; only a conditional write can tell for sure, this is the hint)."""
        current = self.current
        return (
            self.status is JobStatus.PENDING
            and current.batch_job_id is None
            and current.rank_key is None
            and (bool(self.request.get("dependsOn")) or bool(current.not_before))
        )


def lineage_graph(job: JobRecord) -> dict[str, object]:
    """The job's attempts and artifacts as a graph: nodes and edges, JSON-ready.

    Edges: job -attempt-> attempt; attempt(n+1) -replaces-> attempt(n) (with the reason); artifact -input-> job;
    job -output-> artifact."""
    job_node = f"job:{job.job_id}"
    nodes: list[dict[str, object]] = [
        {"id": job_node, "kind": "job", "label": job.name, "status": job.status.value, "jobId": job.job_id}
    ]
    edges: list[dict[str, object]] = []
    for a in job.attempts:
        node = f"attempt:{job.job_id}:{a.attempt}"
        nodes.append(
            {
                "id": node,
                "kind": "attempt",
                "label": f"a{a.attempt}",
                "attempt": a.attempt,
                "reason": a.reason,
                "capacity": a.capacity.value,
                "queue": a.queue_arn.rsplit("/", 1)[-1],
                "status": a.status.value,
                "statusReason": a.status_reason,
                "failureClass": a.failure_class,
                "memoryMiB": a.memory_mib,
                "batchJobId": a.batch_job_id,
                "replaces": a.replaces,
            }
        )
        edges.append({"from": job_node, "to": node, "kind": "attempt"})
        if a.replaces is not None:
            edges.append(
                {"from": node, "to": f"attempt:{job.job_id}:{a.replaces}", "kind": "replaces", "reason": a.reason}
            )
    for role, uris in (("input", job.request.get("inputs") or []), ("output", job.request.get("outputs") or [])):
        for uri in uris:
            art = f"artifact:{uri}"
            nodes.append({"id": art, "kind": "artifact", "label": uri, "role": role})
            edges.append(
                {"from": art, "to": job_node, "kind": "input"}
                if role == "input"
                else {"from": job_node, "to": art, "kind": "output"}
            )
    return {"jobId": job.job_id, "nodes": nodes, "edges": edges}
