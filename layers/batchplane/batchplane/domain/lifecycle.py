"""From a "Batch Job State Change" event to what batchplane records and does next: pure functions of data.

Delivery is at-least-once and unordered. Each event is reduced to an `Observation` of one attempt; the store applies
it only if its rank key is higher than the attempt's (status rank, then event time, then event id), so the final
record is a function of the highest-ranked event alone, whatever the arrival order, and a duplicate is a failed
conditional write."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from batchplane.domain.arbiter import QueueCatalogue, QueueClass
from batchplane.domain.containers import fargate_memory
from batchplane.domain.events import ContainerDetail, JobDetail
from batchplane.domain.failures import (
    ArrayFailure,
    FailureClass,
    FailureSignal,
    capacity_type,
    child_failures,
    classify,
    classify_array,
    signal_from_detail,
)
from batchplane.domain.ids import TAG_ATTEMPT, TAG_JOB_ID, AttemptRef, is_job_id, parse_batch_job_name
from batchplane.domain.models import STATUS_RANK, Capacity, JobStatus, Platform
from batchplane.domain.records import JobRecord
from batchplane.domain.retry import (
    AttemptHistory,
    AttemptReason,
    RetryDecision,
    RetrySpec,
    decide_retry,
    preference_type,
)

STATE_CHANGE = "Batch Job State Change"
QUEUE_BLOCKED = "Batch Job Queue Blocked"


@dataclass(frozen=True, slots=True)
class Observation:
    """One attempt's state as one event reports it."""

    ref: AttemptRef
    status: JobStatus
    rank_key: str
    batch_job_id: str
    queue_arn: str
    status_reason: str | None = None
    exit_code: int | None = None
    container_reason: str | None = None
    log_stream: str | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    memory_mib: int | None = None
    array_summary: str | None = None  # JSON of arrayProperties.statusSummary (array parents)

    @property
    def terminal(self) -> bool:
        return self.status.terminal


def rank_key(status: JobStatus, event_time: str, event_id: str, *, has_reason: bool = False) -> str:
    """Orders observations of one attempt: a later state always wins; among events of the same state, the later
    event (EventBridge times have second resolution), then one that carries a statusReason (a RUNNABLE job's blocked
    reason arrives in a second RUNNABLE event), then the greater id, so two different same-state events resolve the
    same way in any order."""
    return f"{STATUS_RANK[status]:02d}#{event_time}#{int(has_reason)}#{event_id}"


def attempt_ref(detail: JobDetail) -> AttemptRef | None:
    """Our job and attempt, from the deterministic jobName (tags as a cross-check), with no lookup."""
    ref = parse_batch_job_name(detail.job_name)
    if ref is not None:
        return ref
    job_id, attempt = detail.tags.get(TAG_JOB_ID), detail.tags.get(TAG_ATTEMPT)
    if job_id is not None and is_job_id(job_id) and attempt is not None and attempt.isdigit():
        return AttemptRef(job_id, int(attempt))
    return None


def failed_child(detail: JobDetail) -> tuple[AttemptRef, int] | None:
    """A FAILED array child ("<parent>:<index>") of one of our attempts: the attempt and the child's index."""
    if detail.status is not JobStatus.FAILED or ":" not in detail.job_id:
        return None
    ref = attempt_ref(detail)
    index = detail.array_properties.index if detail.array_properties is not None else None
    if ref is None or index is None:
        tail = detail.job_id.rsplit(":", 1)[-1]
        if ref is None or not tail.isdigit():
            return None
        index = int(tail)
    return ref, index


def observe(detail: JobDetail, event_time: str, event_id: str) -> Observation | None:
    """The observation a job's detail carries (an event's, or DescribeJobs' with the time it was read), or None if
    it is not about one of our attempts."""
    if detail.is_child:
        return None
    ref = attempt_ref(detail)
    if ref is None:
        return None
    last = detail.last_attempt
    container = (last.container if last is not None else None) or ContainerDetail()
    top = detail.container or ContainerDetail()
    exit_code = container.exit_code if "exit_code" in container.model_fields_set else top.exit_code
    return Observation(
        ref=ref,
        status=detail.status,
        rank_key=rank_key(detail.status, event_time, event_id, has_reason=bool(detail.status_reason)),
        batch_job_id=detail.job_id,
        queue_arn=detail.job_queue,
        status_reason=detail.status_reason or None,
        exit_code=exit_code,
        container_reason=container.reason or top.reason,
        log_stream=container.log_stream_name or top.log_stream_name,
        started_at=detail.started_at,
        stopped_at=detail.stopped_at,
        memory_mib=top.memory_mib,
        array_summary=_array_summary(detail),
    )


def _array_summary(detail: JobDetail) -> str | None:
    summary = detail.array_properties.status_summary if detail.array_properties is not None else None
    if not summary:
        return None
    return json.dumps({str(k): int(v) for k, v in sorted(summary.items()) if isinstance(v, int)})


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of a guarded write: the job after it (applied) or as it was (not applied); None: no such job."""

    applied: bool
    job: JobRecord | None


@dataclass(frozen=True, slots=True)
class NextAttempt:
    """A decided retry: where and how the next attempt runs."""

    attempt: int
    queue: QueueClass
    memory_mib: int | None
    reason: AttemptReason
    delay_seconds: float
    explanation: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with a job whose current attempt failed."""

    failure_class: FailureClass
    decision: RetryDecision
    next_attempt: NextAttempt | None  # None: give up
    own_failures: int
    infrastructure_failures: int
    spot_reclaims: int
    array: ArrayFailure | None = None  # an array attempt: which children failed and why


INFRA = {FailureClass.SPOT_RECLAIM, FailureClass.HOST_FAILURE, FailureClass.UNSCHEDULABLE}
OWN = {FailureClass.APP_ERROR, FailureClass.OOM, FailureClass.TIMEOUT}


def is_array(job: JobRecord) -> bool:
    return bool(job.request.get("arraySize"))


def failure_signal(job: JobRecord, detail: JobDetail | None) -> FailureSignal:
    """What the classifier reads of the job's failed current attempt (for an array: the parent's, before its children
    are read): the detail of its event (or of DescribeJobs), or, with None, the attempt as recorded (a decision taken
    later: a redelivery, a child's event, the sweeper)."""
    attempt = job.current
    capacity = capacity_type(attempt.capacity)
    if detail is not None:
        return signal_from_detail(detail, capacity, cancelled_by_user=job.cancel_requested)
    return FailureSignal(
        status=attempt.status.value,
        status_reason=attempt.status_reason or None,
        container_reason=attempt.container_reason or None,
        exit_code=attempt.exit_code,
        capacity=capacity,
        cancelled_by_user=job.cancel_requested,
    )


def judge_failure(
    job: JobRecord,
    signal: FailureSignal,
    catalogue: QueueCatalogue,
    jitter: float,
    default_memory_mib: int,
    children: Sequence[Mapping[str, Any]] | None = None,
) -> Verdict:
    """Classify the failed current attempt (``signal``: `failure_signal`) and decide: retry where, with what memory,
    after how long; or give up.

    An array attempt (``children``: ListJobs summaries of its failed children) is classified from its children
    (`classify_array`) and retried whole, as a new array of the same size: Batch cannot run selected children of an
    array again. With several exit codes among the deciding children, the first that the policy would not retry
    decides (a child that will fail again makes the whole re-run pointless)."""
    attempt = job.current
    capacity = capacity_type(attempt.capacity)
    failure = classify(signal)
    array: ArrayFailure | None = None
    if children is not None:
        summary = json.loads(attempt.array_summary) if attempt.array_summary else {}
        size = job.request.get("arraySize")
        array = classify_array(
            failure,
            child_failures(children, capacity),
            size=int(size) if size else None,
            failed=int(summary.get("FAILED", 0)),
        )
        failure = array.failure_class
    own = job.own_failures + (1 if failure in OWN else 0)
    infra = job.infrastructure_failures + (1 if failure in INFRA else 0)
    reclaims = job.spot_reclaims + (1 if failure is FailureClass.SPOT_RECLAIM else 0)
    queue = catalogue.by_arn(attempt.queue_arn)
    on_demand = catalogue.on_demand_peer(queue) if queue is not None else None
    memory = attempt.memory_mib or default_memory_mib
    ceiling = queue.max_memory_mib if queue is not None else max(memory, catalogue.max_memory_mib)
    fargate = queue is not None and queue.platform is Platform.FARGATE
    if fargate:  # Fargate offers set memory sizes per vCPU count: escalate only as far as they go
        ceiling = fargate_memory(attempt.vcpus, ceiling)
    spec = RetrySpec.model_validate(job.request.get("retry") or {})
    history = AttemptHistory(
        attempt_number=attempt.attempt,
        own_failures=own,
        infrastructure_failures=infra,
        spot_reclaims=reclaims,
        capacity=capacity,
        preference=preference_type(job.preference),
        memory_mib=memory,
        max_memory_mib=ceiling,
        on_demand_available=on_demand is not None and on_demand is not queue,
    )
    codes: tuple[int | None, ...] = array.exit_codes if array is not None and array.exit_codes else (signal.exit_code,)
    decisions = [decide_retry(spec, history, failure, code, jitter) for code in codes]
    decision = next((d for d in decisions if not d.retry), decisions[0])
    if fargate and decision.memory_mib is not None:
        decision = replace(decision, memory_mib=fargate_memory(attempt.vcpus, decision.memory_mib))
    if decision.retry and job.cancel_requested:  # cancelled, or failed fast by the sweeper: never retried
        decision = replace(
            decision, retry=False, reason=None, delay_seconds=0.0, explanation="gave up: its end was asked for"
        )
    next_attempt = None
    if decision.retry and queue is not None:
        target = queue
        if decision.capacity == Capacity.ON_DEMAND.value and queue.capacity is not Capacity.ON_DEMAND:
            target = on_demand or queue
        next_attempt = NextAttempt(
            attempt=attempt.attempt + 1,
            queue=target,
            memory_mib=decision.memory_mib if (attempt.memory_mib or decision.memory_mib != memory) else None,
            reason=decision.reason or AttemptReason.RETRY,
            delay_seconds=decision.delay_seconds,
            explanation=f"{array.description}; {decision.explanation}"
            if array and array.description
            else decision.explanation,
        )
    return Verdict(failure, decision, next_attempt, own, infra, reclaims, array)


def final_status(failure_class: str) -> JobStatus:
    """How a job that is given up on ends: CANCELLED when its last attempt was cancelled on purpose (its owner's
    cancel), else FAILED (the sweeper failing a job fast is a failure: a misconfiguration)."""
    return JobStatus.CANCELLED if failure_class == FailureClass.CANCELLED.value else JobStatus.FAILED
