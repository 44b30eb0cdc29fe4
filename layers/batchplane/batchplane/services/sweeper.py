"""The sweeper: what events cannot do by themselves. Due retries and released holds are submitted, jobs stuck RUNNABLE
move to On-Demand or fail fast, and records that events did not keep up to date are repaired or reconciled (the
DescribeJobs output applied as the events that were lost). Acting on a job is the lifecycle engine's
(services/lifecycle.py): the sweeper finds the jobs and hands them over."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from batchplane.domain.arbiter import QueueCatalogue
from batchplane.domain.events import JobDetail
from batchplane.domain.failures import FailureClass, capacity_type
from batchplane.domain.models import Capacity, JobStatus
from batchplane.domain.outcomes import Metric, Outcome
from batchplane.domain.records import AttemptRecord, JobRecord
from batchplane.domain.retry import (
    CapacityAction,
    RetrySpec,
    blocked_queues,
    decide_stuck_runnable,
    infrastructure_budget_left,
    preference_type,
)
from batchplane.domain.sweep_keys import RECONCILE_CAP_MS, RELEASE_BUCKET, due_until, next_look_ms
from batchplane.domain.timestamps import epoch_ms, iso, parse_iso
from batchplane.services.lifecycle import children_known

if TYPE_CHECKING:
    from batchplane.domain.ports import BatchOps, DependencyStore, LifecycleStore
    from batchplane.services.lifecycle import LifecycleService


@dataclass
class SweepReport:
    released: list[str] = field(default_factory=list)
    moved_to_on_demand: list[str] = field(default_factory=list)
    failed_fast: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)  # cancel-requested jobs ended CANCELLED before they started
    usage_released: list[str] = field(default_factory=list)  # ended jobs whose lost admission release was made
    describe_calls: int = 0
    looked_later: int = 0  # due active jobs with nothing to do, filed for a later look
    part: int = 0  # which sweep part this was (of ``parts``: each reads its share of the shards)
    parts: int = 1
    cut_short: bool = False  # the invocation's time ran low: it stopped, gave the lease back; the rest stays due
    skipped: bool = False  # another sweep holds the lease: this one did nothing


STOP_WITH_MS_LEFT = 8_000  # stop taking on jobs when less is left of the invocation (one job's work, and the lease)
LOOK_LATER_THREADS = 8  # look-later writes in flight at once (a sweep's most numerous call: ~4,000 a part at 1M jobs)
HEADS_FRESH_MS = 120_000  # another part's blocked queue heads count for two sweeps (each part rewrites its own)


class _OutOfTime(Exception):  # noqa: N818 - control flow inside a sweep, never raised out of it
    """The invocation's time is nearly up: the sweep stops where it is."""


class Sweeper:
    """One sweep's passes, in order: due retries, held jobs, stuck RUNNABLE, reconciliation. Given the invocation's
    remaining time, it stops before a job when it runs low (all of a sweep's work is due work, which stays due: the
    next sweep takes it), so the lease is given back rather than held past a timeout into the next sweep's turn."""

    def __init__(
        self,
        *,
        engine: LifecycleService,
        store: LifecycleStore,
        batch: BatchOps,
        catalogue: QueueCatalogue,
        clock: Callable[[], datetime],
        on_metric: Callable[[str, float], None],
        dependencies: DependencyStore | None,
        on_terminal: Callable[[JobRecord, str], None] | None,
        repair_after_seconds: float,
        reconcile_after_seconds: float,
        lease_owner: str,
        lease_seconds: float,
        part: int = 0,
        parts: int = 1,
    ) -> None:
        self._engine = engine
        self._store = store
        self._batch = batch
        self._catalogue = catalogue
        self._clock = clock
        self._metric = on_metric
        self._deps = dependencies
        self._on_terminal = on_terminal
        self._repair_after = repair_after_seconds
        self._reconcile_after = reconcile_after_seconds
        self._lease_owner = lease_owner
        self._lease_seconds = lease_seconds
        self._time_left: Callable[[], int] | None = None
        self._part = part
        self._parts = parts

    def sweep(self, time_left_ms: Callable[[], int] | None = None) -> SweepReport:
        """One sweep, single-flight across containers: a lease item taken with one conditional write (held longer
        than the sweeper's timeout, so a crashed sweep frees it at the latest one lease later), given back at the
        end. A sweep that finds the lease held does nothing. No reserved concurrency needed.

        A sweep part (``part`` of ``parts`` > 1, each on its own schedule, all at once) reads only its shards
        (``part_shards``) under its own lease, ``sweeper#<part>``. The stuck-RUNNABLE pass judges a queue by its
        head, which may sit in another part's shards: each part publishes the blocked heads it saw first thing and
        reads every part's before that pass (a head another part has not published yet this minute counts from
        the sweep before)."""
        report = SweepReport(part=self._part, parts=self._parts)
        self._time_left = time_left_ms
        now = self._clock()
        now_ms = epoch_ms(now)
        if self._parts > 1 and self._store.part_is_empty(self._part, self._parts):
            return report  # more parts than shards: this one has none (no call made)
        lease = "sweeper" if self._parts == 1 else f"sweeper#{self._part}"
        if not self._store.take_lease(lease, self._lease_owner, now_ms, now_ms + int(self._lease_seconds * 1000)):
            report.skipped = True
            return report
        try:
            runnable: list[JobRecord] | None = None
            if self._parts > 1:  # read first, so the heads it holds reach the other parts early
                runnable = self._bucket("RUNNABLE")
                self._store.publish_heads(self._part, _heads(_waiting(runnable)), now_ms)
            self._settle_releases(now, report)
            self._release_due(now, report)
            self._release_held(now, report)
            shared: dict[str, str] = {}
            if runnable is None:
                runnable = self._bucket("RUNNABLE")  # read once: both passes judge it (its largest read at scale)
            else:
                shared = self._store.shared_heads(self._parts, now_ms - HEADS_FRESH_MS)
            self._stuck_runnable(now, report, runnable, shared)
            acted = {*report.moved_to_on_demand, *report.failed_fast}
            self._reconcile(now, report, [job for job in runnable if job.job_id not in acted])
        except _OutOfTime:
            report.cut_short = True
        finally:
            self._store.release_lease(lease, self._lease_owner)
        return report

    def _bucket(self, name: str, upto: str | None = None) -> list[JobRecord]:
        """This sweep's share of a bucket: every shard, or its part's."""
        return self._store.bucket(name, upto, part=self._part, parts=self._parts)

    def _in_time(self) -> None:
        """Before each job: stop the sweep (``_OutOfTime``) when the invocation's time runs low."""
        if self._time_left is not None and self._time_left() < STOP_WITH_MS_LEFT:
            raise _OutOfTime

    def _release_due(self, now: datetime, report: SweepReport) -> None:
        for job in self._bucket("RETRY", upto=due_until(epoch_ms(now))):
            self._in_time()
            attempt = job.current
            if job.cancel_requested:
                found = (
                    self._batch.find_job_id(attempt.queue_arn, attempt.batch_job_name)
                    if attempt.submit_failed_at is not None  # its failed SubmitJob may have made it after all
                    else None
                )
                if found is not None:
                    self._batch.terminate(found, "batchplane: cancelled before it started")  # its FAILED event ends it
                else:
                    self._end_cancelled(job, now, report)
            elif self._store.release_due(job, attempt.attempt, iso(now)):  # fails if a cancel landed since the read
                self._engine.submit(job, attempt, Outcome.RELEASED)
                report.released.append(job.job_id)

    def _settle_releases(self, now: datetime, report: SweepReport) -> None:
        """Ended jobs still in RELEASE a repair window after their end: the invocation that ended them died before
        giving their admission back (and the event that would tell again was not redelivered). Their end is acted
        on again (``on_terminal``: the release, one conditional transaction that also takes the job out of the
        index, and its pipeline told again, idempotent); one that holds no admission just leaves the index."""
        for job in self._bucket(RELEASE_BUCKET, upto=due_until(epoch_ms(now))):
            self._in_time()
            if job.holds_admission and job.status.terminal and self._on_terminal is not None:
                self._on_terminal(job, job.status.value)
                report.usage_released.append(job.job_id)
            else:
                self._store.unfile_released(job)

    def _end_cancelled(self, job: JobRecord, now: datetime, report: SweepReport, *, unsubmitted: bool = False) -> None:
        """A cancel-requested job none of whose work was started ends CANCELLED, and its pipeline hears."""
        reason = "batchplane: cancelled before it started"
        ended = self._store.mark_cancelled(
            job.job_id, reason, iso(now), unsubmitted=job.current.attempt if unsubmitted else None
        )
        if ended is None:
            return
        report.cancelled.append(job.job_id)
        self._metric(Metric.JOBS_CANCELLED, 1)
        if self._on_terminal is not None:
            self._on_terminal(ended, JobStatus.CANCELLED.value)

    def _release_held(self, now: datetime, report: SweepReport) -> None:
        """Jobs held for their dependencies (batchplane's dependsOn: retries of a dependency never fail the
        dependent, unlike Batch's own dependsOn on one Batch job id): submit when all succeeded, fail as Batch does
        ("Dependent Job failed") when one failed."""
        if self._deps is None:
            return
        held = self._bucket("HELD")
        wanted = [d["jobId"] for job in held for d in job.request.get("dependsOn") or []]
        statuses = self._deps.statuses(wanted) if wanted else {}
        for job in held:
            self._in_time()
            if job.cancel_requested:
                self._end_cancelled(job, now, report)
                continue
            deps = [d["jobId"] for d in job.request.get("dependsOn") or []]
            states = [statuses.get(d) for d in deps]
            missing = [d for d, st in zip(deps, states, strict=True) if st is None or st[1] != job.tenant]
            failed = [d for d, st in zip(deps, states, strict=True) if st is not None and st[0] == "FAILED"]
            if missing or failed:
                which = ", ".join(missing or failed)
                why = f"Dependent Job failed: {which}" if failed else f"dependency not found: {which}"
                if self._deps.fail_held(job, why, iso(now)):
                    report.failed_fast.append(job.job_id)
            elif all(st is not None and st[0] == "SUCCEEDED" for st in states) and self._deps.release(job, iso(now)):
                # released to the admission queue only if no cancel landed since the read (the write decides): the
                # dispatcher submits it, under its tenant's quota and the account's SubmitJob budget
                report.released.append(job.job_id)

    def _stuck_runnable(
        self, now: datetime, report: SweepReport, runnable: list[JobRecord], shared: dict[str, str]
    ) -> None:
        """Jobs RUNNABLE past their dwell. AWS gives a blocked reason only to the job at the head of a queue, so a
        queue whose head is blocked for capacity moves every job behind it that is past its dwell too: a Spot-starved
        backlog drains in one sweep after the dwell, not one job per sweep. ``shared``: the heads other sweep parts
        saw (a sweep of every shard sees them all itself)."""
        jobs = _waiting(runnable)
        heads = {**shared, **_heads(jobs)}
        scaling: dict[str, bool] = {}  # per queue, asked once per sweep
        stuck = 0  # past their dwell and left where they are (the JobsStuckRunnableAlarm's metric)
        for job in jobs:
            self._in_time()
            attempt = job.current
            assert attempt.runnable_at is not None  # noqa: S101 - filtered above
            spec = RetrySpec.model_validate(job.request.get("retry") or {})
            runnable_for = (epoch_ms(now) - attempt.runnable_at) / 1000
            if runnable_for < spec.stuck_runnable_seconds:
                continue
            queue = self._catalogue.by_arn(attempt.queue_arn)
            on_demand = self._catalogue.on_demand_peer(queue) if queue is not None else None
            decision = decide_stuck_runnable(
                status_reason=attempt.status_reason,
                runnable_for_seconds=runnable_for,
                dwell_seconds=spec.stuck_runnable_seconds,
                capacity=capacity_type(attempt.capacity),
                preference=preference_type(job.preference),
                scaling_up=self._scaling_up(attempt.queue_arn, scaling),
                on_demand_available=on_demand is not None and on_demand is not queue,
                infra_budget_left=infrastructure_budget_left(spec, job.infrastructure_failures),
                queue_reason=heads.get(attempt.queue_arn),
            )
            if decision.action is CapacityAction.MOVE_TO_ON_DEMAND and on_demand is not None:
                self._move_to_on_demand(job, attempt, on_demand.queue_arn, decision.reason_text, now, report)
            elif decision.action is CapacityAction.FAIL:
                reason = f"batchplane: {decision.reason_text}"
                if self._store.request_cancel(job.job_id, job.tenant, reason) is not None and attempt.batch_job_id:
                    self._batch.terminate(attempt.batch_job_id, reason[:1024])
                report.failed_fast.append(job.job_id)
            else:
                stuck += 1
        self._metric(Metric.JOBS_STUCK_RUNNABLE, stuck)  # every sweep, 0 too: a gap would read as no data

    def _scaling_up(self, queue_arn: str, known: dict[str, bool]) -> bool:
        if queue_arn not in known:
            known[queue_arn] = self._batch.scaling_up(queue_arn)
        return known[queue_arn]

    def _move_to_on_demand(
        self, job: JobRecord, attempt: AttemptRecord, queue_arn: str, why: str, now: datetime, report: SweepReport
    ) -> None:
        new = AttemptRecord.new(
            job.job_id,
            job.name,
            after=attempt,
            reason="capacity-fallback",
            queue_arn=queue_arn,
            capacity=Capacity.ON_DEMAND,
            now_ms=epoch_ms(now),
            memory_mib=attempt.memory_mib,
            vcpus=attempt.vcpus,
            explanation=why,
        )
        superseded = f"batchplane: moved to On-Demand: {why}"
        counters = (job.own_failures, job.infrastructure_failures + 1, job.spot_reclaims)
        if not self._store.claim_next_attempt(
            job,
            previous=attempt.attempt,
            failure_class=FailureClass.UNSCHEDULABLE.value,
            new=new,
            counters=counters,
            now=iso(now),
            supersede_reason=superseded,
        ):
            return
        if attempt.batch_job_id:
            try:
                self._batch.terminate(attempt.batch_job_id, superseded[:1024])
            except Exception:  # noqa: BLE001 - the old attempt is already superseded in the record
                self._metric(Metric.CANCEL_FAILED, 1)
        self._engine.submit(job, new, Outcome.CAPACITY_FALLBACK)
        self._metric(Metric.FALLBACKS_CAPACITY, 1)
        report.moved_to_on_demand.append(job.job_id)

    def _reconcile(self, now: datetime, report: SweepReport, runnable: list[JobRecord]) -> None:
        """Repair what events did not tell us: an attempt that never reached Batch (a crash between the write and
        SubmitJob) is resubmitted once (found by its deterministic name first, so never twice); an attempt whose
        events were lost is described (DescribeJobs, 100 ids a call) and the description applied as an event.
        Only due ACTIVE jobs are read (their sort key is when to look); one with nothing to do is filed for a later
        look, a silent one backing off (``next_look_ms``), so quiet jobs are not read at every sweep."""
        now_ms = epoch_ms(now)
        stale: dict[str, JobRecord] = {}
        later: dict[str, tuple[JobRecord, int]] = {}  # job id -> (job, when to look again): ACTIVE jobs only
        active = self._bucket("ACTIVE", upto=due_until(now_ms))
        active_ids = {job.job_id for job in active}
        for job in active + runnable:
            self._in_time()
            attempt = job.current
            age = (now - parse_iso(job.updated_at)).total_seconds()
            updated_ms = now_ms - int(age * 1000)
            if job.awaiting_decision is not None:
                if age >= self._repair_after:  # the handler died between recording a failure and acting on it
                    # (an array still missing some children's events is retried whole rather than waiting forever)
                    self._engine.act_on_failure(job, None, whole=not children_known(job))
                    report.repaired.append(job.job_id)
                else:
                    later[job.job_id] = (job, updated_ms + int(self._repair_after * 1000))
                continue
            if attempt.rank_key is None and not attempt.batch_job_id:
                if age < self._repair_after or (attempt.not_before or 0) > now_ms:
                    later[job.job_id] = (job, max(updated_ms + int(self._repair_after * 1000), attempt.not_before or 0))
                    continue
                found = self._batch.find_job_id(attempt.queue_arn, attempt.batch_job_name)
                if found is not None:
                    stale[found] = job
                elif job.cancel_requested:
                    self._end_cancelled(job, now, report, unsubmitted=True)
                elif self._store.mark_repaired(job, attempt.attempt, iso(now), "resubmitted by the sweeper"):
                    self._engine.submit(job, attempt, Outcome.REPAIRED)
                    report.repaired.append(job.job_id)
            elif attempt.batch_job_id and age >= self._reconcile_after:
                stale[attempt.batch_job_id] = job
                # looked at again later unless the description changes it (then its own write files it)
                reconcile_ms = int(self._reconcile_after * 1000)
                later[job.job_id] = (job, next_look_ms(now_ms, now_ms - updated_ms, reconcile_ms, RECONCILE_CAP_MS))
            else:
                later[job.job_id] = (job, updated_ms + int(self._reconcile_after * 1000))
        ids = list(stale)
        for chunk in _chunks(ids, 100):
            self._in_time()
            report.describe_calls += 1
            for described in self._batch.describe(chunk):
                try:
                    detail = JobDetail.model_validate(described)
                except ValidationError:
                    continue  # not a job Batch could describe to us: nothing to apply
                outcome = self._engine.on_detail(
                    detail, event_time=iso(now), event_id=f"reconcile-{detail.job_id}-{detail.status.value}"
                )
                if outcome is not Outcome.STALE:
                    report.reconciled.append(stale[detail.job_id].job_id)
        # a job whose description changed it was written since it was read: the condition keeps that write
        self._look_later([(job, due_ms) for job, due_ms in later.values() if job.job_id in active_ids], report)

    def _look_later(self, jobs: list[tuple[JobRecord, int]], report: SweepReport) -> None:
        """File each job for its next look: one conditional write each, independent of each other, so up to
        ``LOOK_LATER_THREADS`` are in flight at once (the clients are thread-safe; each write runs in a copy of the
        caller's context). The time check stays before each write is started; a write's error is raised as if
        written one after another, once the writes started are done."""
        if len(jobs) < 2:  # one write needs no pool
            for job, due_ms in jobs:
                self._in_time()
                report.looked_later += self._store.look_later(job, due_ms)
            return
        futures: list[Future[bool]] = []
        try:
            with ThreadPoolExecutor(max_workers=LOOK_LATER_THREADS, thread_name_prefix="look-later") as pool:
                for job, due_ms in jobs:
                    self._in_time()
                    futures.append(pool.submit(contextvars.copy_context().run, self._store.look_later, job, due_ms))
        finally:
            report.looked_later += sum(1 for f in futures if f.exception() is None and f.result())
        for future in futures:
            future.result()  # the first error, if any


def _waiting(runnable: list[JobRecord]) -> list[JobRecord]:
    """The RUNNABLE jobs the stuck pass judges: waiting RUNNABLE since a known time, no cancel asked."""
    return [
        job
        for job in runnable
        if job.current.status is JobStatus.RUNNABLE and job.current.runnable_at is not None and not job.cancel_requested
    ]


def _heads(jobs: list[JobRecord]) -> dict[str, str]:
    """The queues these jobs show blocked at their head (queue ARN -> the head's statusReason)."""
    return blocked_queues((job.current.queue_arn, job.current.status_reason) for job in jobs)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
