"""The dispatcher: admits QUEUED jobs to AWS Batch. One invocation holds a lease (single flight across containers
and invocations) and ticks until its time is up: a snapshot (the QUEUED bucket, the tenants' and pools' counters,
the pools' capacity), the pure policy (`domain.admission.admit`), SubmitJob slots from the account-wide budget, then
for each admitted job its admission write (one transaction, conditional on QUEUED: exactly once whatever the
triggers) and its SubmitJob at its slot (lifecycle's submit: a failure leaves the attempt due for the sweeper, which
finds it by name first; a refusal by Batch, ClientException, ends the job FAILED and gives its usage back)."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from batchplane.domain.admission import AdmissionPlan, QueuedJob, Snapshot, Waiting, admit
from batchplane.domain.dispatch import PoolState, job_need, snapshot_of
from batchplane.domain.models import Priority
from batchplane.domain.outcomes import Outcome
from batchplane.domain.timestamps import epoch_ms, iso, parse_iso

if TYPE_CHECKING:
    from datetime import datetime

    from batchplane.domain.arbiter import QueueCatalogue
    from batchplane.domain.ports import AdmissionStore, PoolSource, RateBudget
    from batchplane.domain.quotas import Quota
    from batchplane.domain.records import JobRecord
    from batchplane.services.lifecycle import LifecycleService

POOL_LAYOUT_SECONDS = 30  # how long the pools' capacity read from Batch is trusted
LEASE = "dispatcher"


@dataclass
class DispatchReport:
    ticks: int = 0
    admitted: list[str] = field(default_factory=list)
    lost: int = 0  # admissions whose conditional write failed (cancelled, raced, quota taken meanwhile)
    submit_deferred: int = 0
    rejected: int = 0  # admitted, then refused by Batch (ClientException): ended FAILED, their usage given back
    skipped: bool = False  # another invocation holds the lease


def queued_job(job: JobRecord, default_memory_mib: int) -> QueuedJob:
    """A QUEUED job as admission sees it: its queue class is its job queue's name."""
    return QueuedJob(
        job_id=job.job_id,
        tenant=job.tenant,
        priority=Priority(job.priority),
        queue_class=job.queue_name,
        need=job_need(job.request, default_memory_mib),
        enqueued=epoch_ms(parse_iso(job.created_at)),
    )


class Dispatcher:
    def __init__(
        self,
        *,
        store: AdmissionStore,
        budget: RateBudget,
        pools: PoolSource,
        engine: LifecycleService,
        catalogue: QueueCatalogue,
        default_quota: Quota,
        default_memory_mib: int,
        rate_per_second: float,
        clock: Callable[[], datetime],
        lease_owner: str,
        sleep: Callable[[float], None] = time.sleep,
        queued_limit: int = 2000,
        workers: int = 8,
    ) -> None:
        self._store = store
        self._budget = budget
        self._pool_source = pools
        self._engine = engine
        self._catalogue = catalogue
        self._default_quota = default_quota
        self._default_memory = default_memory_mib
        self._rate = rate_per_second
        self._clock = clock
        self._sleep = sleep
        self._owner = lease_owner
        self._queued_limit = queued_limit
        self._workers = workers
        self._pools: list[PoolState] | None = None
        self._pools_seen_ms = 0

    # ---- one invocation ----------------------------------------------------------------------------------------

    def run(self, seconds: float, tick_seconds: float = 0.5) -> DispatchReport:
        """Tick for ``seconds`` (at least once), holding the lease; do nothing when another invocation holds it."""
        report = DispatchReport()
        start = epoch_ms(self._clock())
        lease_ms = int((seconds + 15) * 1000)
        if not self._store.take_lease(LEASE, self._owner, start, start + lease_ms):
            report.skipped = True
            return report
        try:
            with ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="dispatch") as pool:
                while True:
                    admitted = self.tick(report, pool)
                    if epoch_ms(self._clock()) - start >= seconds * 1000:
                        break
                    if not admitted:
                        self._sleep(tick_seconds)
        finally:
            self._store.release_lease(LEASE, self._owner)
        return report

    def tick(self, report: DispatchReport, pool: ThreadPoolExecutor | None = None) -> int:
        """One round: snapshot, plan, reserve, admit and submit. Returns how many were admitted."""
        report.ticks += 1
        jobs = self._store.queued(self._queued_limit)
        if not jobs:
            return 0
        by_id = {j.job_id: j for j in jobs}
        snapshot = self.snapshot(jobs, rate_tokens=max(1, int(self._rate)))
        plan = admit(snapshot)
        if not plan.admitted:
            return 0
        reservation = self._budget.reserve(len(plan.admitted), epoch_ms(self._clock()))
        if reservation is None:
            return 0
        pools = {q: room.pool for q, room in snapshot.queues.items()}
        work: list[tuple[JobRecord, str, QueuedJob, Quota, float]] = []
        for index, admission in enumerate(plan.admitted[: reservation.count]):
            job = by_id[admission.job.job_id]
            quota = snapshot.policies.quota(job.tenant)
            work.append((job, pools[admission.job.queue_class], admission.job, quota, reservation.slot(index)))
        if pool is None:
            return sum(1 for w in work if self._admit_one(*w, report))
        # each in a copy of this context: what the invocation carries (its logger keys, a tracer) goes along
        futures = [pool.submit(self._in_context(contextvars.copy_context(), w, report)) for w in work]
        return sum(1 for f in futures if f.result())

    def _in_context(
        self, context: contextvars.Context, work: tuple[JobRecord, str, QueuedJob, Quota, float], report: DispatchReport
    ) -> Callable[[], bool]:
        return lambda: context.run(self._admit_one, *work, report)

    def _admit_one(
        self, job: JobRecord, pool_name: str, queued: QueuedJob, quota: Quota, slot_ms: float, report: DispatchReport
    ) -> bool:
        if not self._store.admit(job, pool_name, queued.need, quota, iso(self._clock())):
            report.lost += 1
            return False
        wait = slot_ms / 1000 - self._clock().timestamp()
        if wait > 0:
            self._sleep(wait)
        outcome = self._engine.submit(job, job.current, Outcome.RELEASED, admitted=True)
        if outcome is Outcome.REJECTED:
            report.rejected += 1
        elif outcome is not Outcome.RELEASED:
            report.submit_deferred += 1
        report.admitted.append(job.job_id)
        return True

    # ---- the snapshot --------------------------------------------------------------------------------------------

    def pool_states(self) -> list[PoolState]:
        """The pools' layout and capacity: from this container's memory, else the table's cached copy, else Batch
        (then saved for the gateway's explanations); refreshed every POOL_LAYOUT_SECONDS."""
        now = epoch_ms(self._clock())
        if self._pools is not None and now - self._pools_seen_ms < POOL_LAYOUT_SECONDS * 1000:
            return self._pools
        cached = self._store.pool_layout()
        if cached is not None and now - cached[1] < POOL_LAYOUT_SECONDS * 1000:
            self._pools, self._pools_seen_ms = cached
            return cached[0]
        queues = [q.queue_arn for q in self._catalogue.queues]
        gpu = {q.queue_arn.rsplit("/", 1)[-1] for q in self._catalogue.queues if q.max_gpus > 0}
        self._pools = self._pool_source.pools(queues, gpu)
        self._pools_seen_ms = now
        self._store.save_pool_layout(self._pools, now)
        return self._pools

    def snapshot(self, jobs: list[JobRecord], *, rate_tokens: int) -> Snapshot:
        layout = self.pool_states()
        queued = [queued_job(j, self._default_memory) for j in jobs]
        accounts, admitted = self._store.counters({j.tenant for j in jobs}, [p.name for p in layout])
        states = [
            PoolState(p.name, p.max_vcpus, p.queues, admitted=admitted.get(p.name, p.admitted), gpus=p.gpus)
            for p in layout
        ]
        return snapshot_of(
            queued, accounts.values(), states, default_quota=self._default_quota, rate_tokens=rate_tokens
        )

    def explain(self, job: JobRecord) -> dict[str, Any]:
        """Why a QUEUED job waits, as the dispatcher would see it now (the ``waiting`` of its view): admission's
        ``Waiting.view()``, or, when the policy would admit it now, that it waits for the dispatcher's next tick."""
        jobs = self._store.queued(self._queued_limit)
        if all(j.job_id != job.job_id for j in jobs):
            jobs.append(job)
        plan: AdmissionPlan = admit(self.snapshot(jobs, rate_tokens=max(1, int(self._rate))))
        waiting: Waiting | None = plan.waiting_for(job.job_id)
        if waiting is not None:
            return waiting.view()
        return {"hold": "dispatch", "reason": "admissible now: the dispatcher submits it at its next tick", "ahead": 0}
