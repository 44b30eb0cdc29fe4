"""Re-prioritising a job (``POST /jobs/{id}/priority``): a pure decision over the job's record and the queue catalogue.

AWS Batch has no API to move a submitted job to another queue (UpdateJobQueue changes a whole queue; UpdateServiceJob
changes the ``schedulingPriority`` of a *service* job only, and that orders jobs only inside a fair-share queue). So
where the job is decides what re-prioritising it means:

* Not in Batch yet (`PreBatch`: held for its dependencies, waiting out a retry's backoff): its record moves to the new
  class at once (priority, queue); it is submitted there when its time comes. Nothing in Batch changes.
* In Batch and not started (its current attempt SUBMITTED, PENDING or RUNNABLE): a new attempt of the job in the new
  class's queue replaces it (reason ``reprioritised``, ``replaces`` the old one in lineage), and the old Batch job is
  terminated. The record decides with one conditional write (the old attempt still current and not started, no cancel,
  no failure being decided), so a repeated request or one racing the job's start makes at most one new attempt.
* In Batch in a queue every class shares (multi-node, GPU): the new class's queue is the one it is in; the record
  changes, nothing is resubmitted.
* STARTING or later, or finished: refused (409); it is running where it is.

The same priority as now is a no-op answered 200 (whatever the job's state), so a retried request is harmless."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from batchplane.domain.arbiter import Demand, QueueCatalogue, QueueClass
from batchplane.domain.errors import FieldError, UnschedulableError
from batchplane.domain.models import Capacity, JobRequest, JobStatus, Priority
from batchplane.domain.records import JobRecord

REPRIORITISED = "reprioritised"  # the reason of an attempt that replaces one for a new priority class


class PreBatch(StrEnum):
    """Where a job waits before any Batch job of it exists. The one list of them: re-prioritising a job in one of
    these changes its record only. Values are the sweeper's gsi2 buckets the adapter conditions its write on (the
    admission dispatcher's QUEUED joins here when it lands)."""

    QUEUED = "QUEUED"  # accepted, waiting for the admission dispatcher
    HELD = "HELD"  # waiting for its dependencies (dependsOn)
    RETRY = "RETRY"  # a recorded retry waiting out its backoff


# An attempt in Batch that has not started: a new attempt may replace it.
NOT_STARTED: tuple[JobStatus, ...] = (JobStatus.SUBMITTED, JobStatus.PENDING, JobStatus.RUNNABLE)


class PriorityAction(StrEnum):
    UNCHANGED = "unchanged"  # already in that class
    MOVED = "moved"  # not in Batch yet: the record moved to the new class
    REPLACED = "replaced"  # in Batch, not started: a new attempt in the new class's queue, the old one terminated
    RECORDED = "recorded"  # in Batch, in a queue all classes share: only the record changes
    REFUSED = "refused"  # started or finished: 409


@dataclass(frozen=True, slots=True)
class PriorityDecision:
    action: PriorityAction
    priority: Priority
    reason: str  # a sentence: what is done, or why not
    queue: QueueClass | None = None  # where the job goes (MOVED, REPLACED, RECORDED)
    pre_batch: PreBatch | None = None  # MOVED: the state it waits in


def pre_batch_state(job: JobRecord) -> PreBatch | None:
    """The `PreBatch` state the record says the job is in, or None (in Batch, maybe in Batch, or ended). A hint: the
    adapter's conditional write decides. An attempt whose SubmitJob failed (``submit_failed_at``) may be in Batch after
    all (the answer may have been lost), so it is not pre-Batch."""
    current = job.current
    if job.status is JobStatus.QUEUED and not job.cancel_requested:
        return PreBatch.QUEUED
    if job.status is not JobStatus.PENDING or job.cancel_requested or job.awaiting_decision is not None:
        return None
    if current.batch_job_id or current.rank_key or current.submit_failed_at is not None:
        return None
    if current.not_before:
        return PreBatch.RETRY
    if job.request.get("dependsOn"):
        return PreBatch.HELD
    return None


def target_queue(job: JobRecord, priority: Priority, catalogue: QueueCatalogue) -> QueueClass:
    """The queue the job's current attempt would have in class ``priority``: the arbiter's placement for the job's
    request as it runs now (its current memory, escalated or not), on the capacity its current attempt uses (a job
    already fallen back to On-Demand stays On-Demand). 422 naming ``priority`` when no queue of that class fits."""
    request = JobRequest.model_validate(job.request)
    current = job.current
    asked = Demand.of(request)  # everything else the request asks (platform, GPUs, nodes) stays as it is
    demand = replace(
        asked,
        priority=priority,
        vcpus=current.vcpus or asked.vcpus,
        memory_mib=current.memory_mib or asked.memory_mib,
    )
    try:
        queue = catalogue.place(demand).queue
    except UnschedulableError as err:
        raise UnschedulableError(
            f"priority {priority.value}: {err.detail}", errors=[FieldError("priority", err.detail)]
        ) from err
    if current.capacity is Capacity.ON_DEMAND and queue.capacity is Capacity.SPOT:
        queue = catalogue.on_demand_peer(queue) or queue
    return queue


def decide_reprioritise(job: JobRecord, priority: Priority, catalogue: QueueCatalogue) -> PriorityDecision:
    """What re-prioritising ``job`` to ``priority`` does (module docstring). Raises UnschedulableError (422 naming
    ``priority``) when the class has no queue that can run the job."""
    if job.priority == priority.value:
        return PriorityDecision(PriorityAction.UNCHANGED, priority, f"already {priority.value}")
    if job.status.terminal:
        return _refused(priority, f"job {job.job_id} is {job.status.value}: it has ended")
    if job.cancel_requested:
        return _refused(priority, f"job {job.job_id} is being cancelled")
    current = job.current
    if job.awaiting_decision is not None:
        return _refused(priority, f"attempt {current.attempt} of job {job.job_id} failed; its retry is being decided")
    queue = target_queue(job, priority, catalogue)
    state = pre_batch_state(job)
    moved = f"from {job.priority} to {priority.value}"
    if state is not None:
        why = f"re-prioritised {moved} before reaching Batch ({state.value.lower()}): it will run in {queue.queue_name}"
        return PriorityDecision(PriorityAction.MOVED, priority, why, queue, state)
    if current.status not in NOT_STARTED:
        return _refused(
            priority,
            f"attempt {current.attempt} of job {job.job_id} is {current.status.value} in {job.queue_name}: "
            "a job that has started cannot change class",
        )
    if queue.queue_arn == current.queue_arn:
        why = f"re-prioritised {moved}; {queue.queue_name} serves every class, so it stays there"
        return PriorityDecision(PriorityAction.RECORDED, priority, why, queue)
    why = (
        f"re-prioritised {moved}: replaces attempt {current.attempt} ({current.status.value} in "
        f"{job.queue_name}) in {queue.queue_name}"
    )
    return PriorityDecision(PriorityAction.REPLACED, priority, why, queue)


def _refused(priority: Priority, why: str) -> PriorityDecision:
    return PriorityDecision(PriorityAction.REFUSED, priority, why)
