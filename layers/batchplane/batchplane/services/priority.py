"""Re-prioritising a job: read it, ask `decide_reprioritise`, carry the decision out with one conditional write, and
for a job waiting in Batch, terminate the old Batch job and submit the new attempt (through the lifecycle engine's
`submit`, so a failed SubmitJob is deferred to the sweeper like every other)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from batchplane.domain.arbiter import QueueCatalogue
from batchplane.domain.errors import ConflictError, NotFoundError
from batchplane.domain.models import JobStatus, Priority
from batchplane.domain.outcomes import Metric, Outcome
from batchplane.domain.priority import (
    NOT_STARTED,
    REPRIORITISED,
    PreBatch,
    PriorityAction,
    PriorityDecision,
    decide_reprioritise,
)
from batchplane.domain.records import SUPERSEDED_RANK, AttemptRecord, JobRecord
from batchplane.domain.timestamps import epoch_ms, iso

if TYPE_CHECKING:
    from batchplane.domain.ports import BatchPort, PriorityStore
    from batchplane.services.lifecycle import LifecycleService

TRIES = 3  # reads and decisions when a conditional write loses a race (a concurrent request, an event, a cancel)


@dataclass(frozen=True, slots=True)
class PriorityChange:
    job: JobRecord  # the job after the change (as written; its new attempt not yet heard from Batch)
    action: PriorityAction
    previous: str  # the priority class before
    reason: str
    replaced: int | None = None  # REPLACED: the attempt that was replaced


class PriorityService:
    def __init__(
        self,
        *,
        store: PriorityStore,
        batch: BatchPort,
        catalogue: QueueCatalogue,
        engine: LifecycleService,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_metric: Callable[[str, float], None] = lambda _name, _value: None,
    ) -> None:
        self._store = store
        self._batch = batch
        self._catalogue = catalogue
        self._engine = engine
        self._clock = clock
        self._metric = on_metric

    def change(self, tenant: str, job_id: str, priority: Priority) -> PriorityChange:
        """Move the caller's job to class ``priority``: 404 for another tenant's job, 409 once it has started or
        ended, 422 (naming ``priority``) when the class has no queue for it. Exactly one new attempt however often
        the request is repeated or raced: each write is conditional on the state the decision was taken on, and a
        lost race is decided again on a fresh read."""
        for _ in range(TRIES):
            job = self._store.get_job(job_id)
            if job is None or job.tenant != tenant:
                raise NotFoundError(f"no job {job_id}")
            decision = decide_reprioritise(job, priority, self._catalogue)
            done = self._carry_out(job, decision)
            if done is not None:
                return done
        raise ConflictError(f"job {job_id} kept changing while it was re-prioritised: ask again")

    def _carry_out(self, job: JobRecord, decision: PriorityDecision) -> PriorityChange | None:
        """The change, or None when its conditional write lost a race (decide again on a fresh read)."""
        now = self._clock()
        stamp = iso(now)
        previous = job.priority
        target = decision.priority.value
        match decision.action:
            case PriorityAction.UNCHANGED:
                return PriorityChange(job, decision.action, previous, decision.reason)
            case PriorityAction.REFUSED:
                raise ConflictError(decision.reason)
            case PriorityAction.RECORDED:
                if not self._store.record_priority(job, target, now=stamp, not_started=NOT_STARTED):
                    return None
                return PriorityChange(replace(job, priority=target), decision.action, previous, decision.reason)
            case PriorityAction.MOVED:
                assert decision.queue is not None  # noqa: S101 - a move always names its queue
                queue = decision.queue
                if not self._store.move_unsubmitted(
                    job,
                    target,
                    queue_arn=queue.queue_arn,
                    capacity=queue.capacity,
                    why=decision.reason,
                    now=stamp,
                    buckets=tuple(s.value for s in PreBatch),
                ):
                    return None
                moved = job.moved(
                    queue_arn=queue.queue_arn, capacity=queue.capacity, why=decision.reason, priority=target
                )
                return PriorityChange(moved, decision.action, previous, decision.reason)
            case PriorityAction.REPLACED:
                return self._replace(job, decision, now)
        return None  # pragma: no cover - every action is matched above

    def _replace(self, job: JobRecord, decision: PriorityDecision, now: datetime) -> PriorityChange | None:
        """A new attempt in the new class's queue replaces the waiting one: recorded first (one conditional write:
        still current, not started, no failure pending, no cancel), then the old Batch job is terminated and the new
        one submitted. A TerminateJob that fails, or an old attempt whose Batch job id is not known yet, is caught
        when that attempt reports it is on its way (job_events stops a superseded attempt)."""
        assert decision.queue is not None  # noqa: S101 - a replacement always names its queue
        old = job.current
        queue = decision.queue
        new = AttemptRecord.new(
            job.job_id,
            job.name,
            after=old,
            reason=REPRIORITISED,
            queue_arn=queue.queue_arn,
            capacity=queue.capacity,
            now_ms=epoch_ms(now),
            memory_mib=old.memory_mib,
            vcpus=old.vcpus,
            explanation=decision.reason,
            array_indexes=old.array_indexes,
        )
        superseded = f"batchplane: {decision.reason}"
        if not self._store.claim_next_attempt(
            job,
            previous=old.attempt,
            failure_class=None,
            new=new,
            counters=(job.own_failures, job.infrastructure_failures, job.spot_reclaims),
            now=iso(now),
            supersede_reason=superseded,
            supersede_from=NOT_STARTED,
            priority=decision.priority.value,
        ):
            return None
        if old.batch_job_id:
            try:
                self._batch.terminate(old.batch_job_id, superseded[:1024])
            except Exception:  # noqa: BLE001 - the old attempt is superseded in the record: job_events stops it later
                self._metric(Metric.CANCEL_FAILED, 1)
        if self._engine.submit(job, new, Outcome.REPRIORITISED) is Outcome.REJECTED:
            # Batch refused the new attempt (its queue is gone, ...): the job ended FAILED, so say what is stored
            stored = self._store.get_job(job.job_id)
            if stored is not None:
                return PriorityChange(stored, decision.action, job.priority, decision.reason, replaced=old.attempt)
        ended = replace(
            old,
            status=JobStatus.FAILED,
            status_reason=superseded[:2048],
            rank_key=f"{SUPERSEDED_RANK}#{iso(now)}",
        )
        after = replace(
            job,
            priority=decision.priority.value,
            status=JobStatus.SUBMITTED,
            status_reason=decision.reason,
            queue_arn=queue.queue_arn,
            capacity=queue.capacity,
            current_attempt=new.attempt,
            attempts=[*(ended if a.attempt == old.attempt else a for a in job.attempts), new],
        )
        return PriorityChange(after, decision.action, job.priority, decision.reason, replaced=old.attempt)
