"""Why is a job waiting, outside admission? A pure function of the job's record (and its dependencies' states, the
queue catalogue and the time), answering in the same shape as admission's `Waiting.view()` (domain/admission.py):
``hold`` (a `Hold` name), ``reason`` (a sentence), ``ahead``, then the hold's detail fields, camelCase. So a job
held by the dispatcher and one held anywhere else render alike.

The holds it names:
  * ``dependencies``: held for its dependsOn jobs (which ones have not succeeded, and their states).
  * ``retry-backoff``: a retry waiting out its backoff (``dueAt``: the earliest it is submitted; the sweeper submits
    it at its first run after that, every minute in AWS).
  * ``submit-retry``: its SubmitJob failed; the next sweep submits it again (looked up by name first).
  * ``capacity``: RUNNABLE in Batch with AWS's blocked reason (CAPACITY, UNDETERMINED, ACTION_REQUIRED; ``awsReason``
    and ``since``), and for a spot-first job on Spot the dwell before the sweeper moves it to On-Demand
    (``fallbackAt``), decided by the sweeper's own policy (`decide_stuck_runnable`).
  * ``unplaceable``: RUNNABLE with a MISCONFIGURATION reason: Batch says it cannot place the job as configured; the
    sweeper fails it (or moves it, when On-Demand can fit it) after the dwell.
  * ``batch-queue``: in Batch (SUBMITTED, PENDING, RUNNABLE) with no reason from AWS: it waits its turn. AWS gives a
    blocked reason only to the job at the head of a queue, so a job behind a blocked head says no more than this.
``ahead`` is 0 for waits before Batch (no line of ours holds the job) and null in Batch (Batch's queue order is not
ours to know). Estimates are given only where they are floors we can stand by: a due time, a dwell's end; never a
start time, which would need Batch's queue and the running jobs' durations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batchplane.domain.admission import Hold
from batchplane.domain.arbiter import QueueCatalogue
from batchplane.domain.failures import capacity_type, parse_blocked_reason
from batchplane.domain.models import JobStatus
from batchplane.domain.priority import NOT_STARTED, PreBatch, pre_batch_state
from batchplane.domain.records import AttemptRecord, JobRecord
from batchplane.domain.retry import (
    CapacityAction,
    RetrySpec,
    decide_stuck_runnable,
    infrastructure_budget_left,
    preference_type,
)
from batchplane.domain.timestamps import iso_from_ms

_BLOCKED_FOR_CAPACITY = ("CAPACITY", "UNDETERMINED", "ACTION_REQUIRED")


@dataclass(frozen=True, slots=True)
class OutsideWait:
    """Why a job waits outside admission: the ``waiting`` of its view."""

    hold: Hold
    reason: str
    ahead: int | None = 0
    detail: Mapping[str, Any] = field(default_factory=dict)  # camelCase keys, JSON-able values

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hold": self.hold.value, "reason": self.reason, "ahead": self.ahead}
        out.update((k, v) for k, v in self.detail.items() if v is not None)
        return out


def waiting(
    job: JobRecord,
    *,
    now_ms: int,
    catalogue: QueueCatalogue,
    dependencies: Mapping[str, str | None] | None = None,
    queue_reason: str | None = None,
) -> OutsideWait | None:
    """What holds ``job`` now, or None when nothing does outside admission (it runs, it ended, its end or its retry is
    being decided, or it waits in admission's queue). ``dependencies``: jobId -> status of its dependsOn jobs (None:
    not found, or not the owner's); without it a held job names its dependencies without their states.
    ``queue_reason``: the blocked reason of its queue's head, when the caller knows it (AWS puts it on the head)."""
    if job.status.terminal or job.cancel_requested or job.awaiting_decision is not None or not job.attempts:
        return None
    current = job.current
    state = pre_batch_state(job)
    if state is PreBatch.HELD:
        return _dependencies(job, dependencies)
    if state is PreBatch.RETRY:
        return _backoff(job, current, now_ms)
    if current.submit_failed_at is not None and current.rank_key is None and current.not_before:
        due = current.not_before
        return OutsideWait(
            Hold.SUBMIT_RETRY,
            f"attempt {current.attempt}'s SubmitJob failed; the sweeper submits it again at its first run after "
            f"{iso_from_ms(due)} (looking it up by name first)",
            detail={"attempt": current.attempt, "dueAt": iso_from_ms(due), "queue": _name(current.queue_arn)},
        )
    if current.status not in NOT_STARTED:
        return None
    if current.status is JobStatus.RUNNABLE:
        return _runnable(job, current, now_ms, catalogue, queue_reason)
    since = current.created_at
    heard = "" if current.rank_key else " (no event from Batch yet)"
    return OutsideWait(
        Hold.BATCH_QUEUE,
        f"{current.status.value} in Batch queue {_name(current.queue_arn)}{heard}: Batch has not made it RUNNABLE yet",
        ahead=None,
        detail={
            "attempt": current.attempt,
            "status": current.status.value,
            "queue": _name(current.queue_arn),
            "since": _iso(since),
        },
    )


def _dependencies(job: JobRecord, states: Mapping[str, str | None] | None) -> OutsideWait:
    ids = [str(d["jobId"]) for d in job.request.get("dependsOn") or [] if "jobId" in d]
    if states is None:
        return OutsideWait(
            Hold.DEPENDENCIES,
            f"waiting for {_count(len(ids), 'dependency', 'dependencies')} to succeed",
            detail={"waitingOn": ids},
        )
    listed = [{"jobId": i, "status": states.get(i) or "NOT_FOUND"} for i in ids]
    open_ = [d for d in listed if d["status"] != JobStatus.SUCCEEDED.value]
    failed = [d for d in open_ if d["status"] in (JobStatus.FAILED.value, JobStatus.CANCELLED.value, "NOT_FOUND")]
    named = ", ".join(f"{d['jobId']} ({d['status']})" for d in open_)
    if failed:
        why = f"dependency {failed[0]['jobId']} is {failed[0]['status']}: the sweeper fails this job at its next run"
    elif open_:
        why = f"waiting for {len(open_)} of {_count(len(ids), 'dependency', 'dependencies')} to succeed: {named}"
    else:
        why = "every dependency succeeded: the sweeper submits it at its next run"
    return OutsideWait(
        Hold.DEPENDENCIES, why, detail={"waitingOn": [d["jobId"] for d in open_], "dependencies": listed}
    )


def _backoff(job: JobRecord, current: AttemptRecord, now_ms: int) -> OutsideWait:
    due = current.not_before or now_ms
    before = next((a for a in job.attempts if a.attempt == current.replaces), None)
    after = before.failure_class if before is not None else None
    left = max(0, (due - now_ms) // 1000)
    what = f"attempt {current.attempt} ({current.reason}" + (f" after {after})" if after else ")")
    return OutsideWait(
        Hold.RETRY_BACKOFF,
        f"{what} is due at {iso_from_ms(due)} (in {left}s); the sweeper submits it at its first run after that",
        detail={
            "attempt": current.attempt,
            "attemptReason": current.reason,
            "afterFailure": after,
            "dueAt": iso_from_ms(due),
            "dueInSeconds": left,
            "queue": _name(current.queue_arn),
        },
    )


def _runnable(
    job: JobRecord, current: AttemptRecord, now_ms: int, catalogue: QueueCatalogue, queue_reason: str | None
) -> OutsideWait:
    queue_name = _name(current.queue_arn)
    since = current.runnable_at
    base: dict[str, Any] = {
        "attempt": current.attempt,
        "status": current.status.value,
        "queue": queue_name,
        "since": _iso(since),
    }
    own = parse_blocked_reason(current.status_reason)
    head = parse_blocked_reason(queue_reason)
    blocked = own or (head if head is not None and head.kind in ("CAPACITY", "UNDETERMINED") else None)
    if blocked is None:
        return OutsideWait(
            Hold.BATCH_QUEUE,
            f"RUNNABLE in Batch queue {queue_name} since {_iso(since) or 'an unknown time'}; AWS gives no reason "
            "(only the job at the head of a blocked queue carries one): it waits its turn",
            ahead=None,
            detail=base,
        )
    aws_says = current.status_reason if own is not None else f"queue blocked at its head: {queue_reason}"
    spec = RetrySpec.model_validate(job.request.get("retry") or {})
    dwell = spec.stuck_runnable_seconds
    waited = max(0.0, (now_ms - since) / 1000) if since is not None else 0.0
    queue = catalogue.by_arn(current.queue_arn)
    on_demand = catalogue.on_demand_peer(queue) if queue is not None else None
    after_dwell = decide_stuck_runnable(
        status_reason=current.status_reason,
        runnable_for_seconds=max(waited, float(dwell)),
        dwell_seconds=dwell,
        capacity=capacity_type(current.capacity),
        preference=preference_type(job.preference),
        scaling_up=False,
        on_demand_available=on_demand is not None and on_demand is not queue,
        infra_budget_left=infrastructure_budget_left(spec, job.infrastructure_failures),
        queue_reason=queue_reason,
    )
    hold = Hold.CAPACITY if blocked.kind in _BLOCKED_FOR_CAPACITY else Hold.UNPLACEABLE
    detail = {**base, "awsReason": blocked.label, "statusReason": aws_says, "spotDwellSeconds": dwell}
    why = f"RUNNABLE in {queue_name} since {_iso(since) or 'an unknown time'}: Batch says {aws_says}"
    if since is not None and after_dwell.action is not CapacityAction.WAIT:
        at = since + dwell * 1000
        left = max(0, (at - now_ms) // 1000)
        key = "fallbackAt" if after_dwell.action is CapacityAction.MOVE_TO_ON_DEMAND else "failsAt"
        detail[key] = iso_from_ms(at)
        detail[f"{key.removesuffix('At')}InSeconds"] = left
        if after_dwell.action is CapacityAction.MOVE_TO_ON_DEMAND:
            target = on_demand.queue_name if on_demand is not None else "On-Demand"
            why += (
                f"; moves to On-Demand ({target}) at the first sweep after {iso_from_ms(at)} (in {left}s), unless "
                "its compute environment is scaling up then"
            )
        else:
            why += f"; the sweeper fails it at its first run after {iso_from_ms(at)} (in {left}s)"
    else:
        why += f"; {after_dwell.reason_text}"
    return OutsideWait(hold, why, ahead=None, detail=detail)


def _name(queue_arn: str) -> str:
    return queue_arn.rsplit("/", 1)[-1]


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_from_ms(ms)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
