"""The dispatcher: admits QUEUED jobs to AWS Batch. One invocation holds a lease (single flight across containers
and invocations) and ticks until its time is up: a snapshot (the QUEUED bucket, the tenants' and pools' counters,
the pools' capacity), the pure policy (`domain.admission.admit`), SubmitJob slots from the account-wide budget, then
for each admitted job its admission write (one transaction, conditional on QUEUED: exactly once whatever the
triggers) and its SubmitJob at its slot (lifecycle's submit: a failure leaves the attempt due for the sweeper, which
finds it by name first; a refusal by Batch, ClientException, ends the job FAILED and gives its usage back)."""

from __future__ import annotations

import contextvars
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from batchplane.domain.admission import AdmissionPlan, QueuedJob, Snapshot, Waiting, admit
from batchplane.domain.dispatch import (
    LATE_MS,
    RESERVED_BUDGET_HORIZON_MS,
    PoolState,
    job_need,
    snapshot_of,
)
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


@dataclass(frozen=True, slots=True)
class _Work:
    """One planned admission: the job, the pool it fills, what admission saw of it, its tenant's quota, its slot."""

    job: JobRecord
    pool: str
    queued: QueuedJob
    quota: Quota
    slot_ms: float


@dataclass
class DispatchReport:
    ticks: int = 0
    admitted: list[str] = field(default_factory=list)
    lost: int = 0  # admissions whose conditional write failed (cancelled, raced, quota taken meanwhile)
    submit_deferred: int = 0
    rejected: int = 0  # admitted, then refused by Batch (ClientException): ended FAILED, their usage given back
    reslotted: int = 0  # SubmitJobs whose slot had passed when their turn came: a new slot was taken
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
        self._last_slot_ms = 0.0  # the last SubmitJob slot reserved
        self._just_admitted: set[str] = set()  # admitted by this invocation's last tick
        self._write_seconds = 0.2  # how long the last tick's admission writes took (at first: 50 in AWS, about)

    # ---- one invocation ----------------------------------------------------------------------------------------

    def run(self, seconds: float, tick_seconds: float = 0.5) -> DispatchReport:
        """Tick for ``seconds`` (at least once), holding the lease; do nothing when another invocation holds it.

        A tick's admissions are written at once (in parallel); its SubmitJobs are then made by the sender, each at its
        slot, while the next tick already reads its snapshot, in time for its slots to follow the last ones without a
        gap (the budget's reservations may run ``RESERVED_BUDGET_HORIZON_MS`` ahead): the account's rate is
        sustained, not lost between ticks to their reads and the last calls' round trips."""
        report = DispatchReport()
        start = epoch_ms(self._clock())
        lease_ms = int((seconds + 15) * 1000)
        if not self._store.take_lease(LEASE, self._owner, start, start + lease_ms):
            report.skipped = True
            return report
        try:
            with (
                ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="admit") as writers,
                ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="submit") as callers,
                _Sender(self, callers) as sender,
            ):
                while True:
                    began = self._clock().timestamp()
                    admitted = self.tick(report, writers, sender)
                    now = self._clock().timestamp()
                    if (now - start / 1000) >= seconds:
                        break
                    if not admitted:
                        self._sleep(tick_seconds)
                        continue
                    # the next snapshot is read ahead of this tick's last slot by twice what this one took to read,
                    # plan, reserve and write (what the next one will take, with room to spare)
                    ahead = min(2 * (now - began), RESERVED_BUDGET_HORIZON_MS / 2000)
                    wait = self._last_slot_ms / 1000 - ahead - now
                    if wait > 0:
                        self._sleep(min(wait, max(0.0, start / 1000 + seconds - now)))
        finally:
            self._store.release_lease(LEASE, self._owner)
        return report

    def tick(
        self,
        report: DispatchReport,
        pool: ThreadPoolExecutor | None = None,
        sender: _Sender | None = None,
    ) -> int:
        """One round: snapshot, plan, reserve, admit (the writes, in ``pool``) and submit (each call at its slot, by
        ``sender``: not waited for). Returns how many were admitted. Without them, one after another."""
        report.ticks += 1
        jobs = self._store.queued(self._queued_limit)
        # the QUEUED index is eventually consistent: what this invocation admitted last tick may still be listed
        jobs = [j for j in jobs if j.job_id not in self._just_admitted]
        if not jobs:
            return 0
        by_id = {j.job_id: j for j in jobs}
        snapshot = self.snapshot(jobs, rate_tokens=max(1, int(self._rate)))
        plan = admit(snapshot)
        if not plan.admitted:
            return 0
        # the slots start once the admissions are written (as long as the last tick's writes took): a call made
        # late, after its slot, would crowd the next second
        lead_ms = min(int(1.5 * self._write_seconds * 1000), RESERVED_BUDGET_HORIZON_MS // 4) if pool is not None else 0
        reservation = self._budget.reserve(len(plan.admitted), epoch_ms(self._clock()) + lead_ms)
        if reservation is None:
            return 0
        pools = {q: room.pool for q, room in snapshot.queues.items()}
        work: list[_Work] = []
        for index, admission in enumerate(plan.admitted[: reservation.count]):
            job = by_id[admission.job.job_id]
            quota = snapshot.policies.quota(job.tenant)
            work.append(_Work(job, pools[admission.job.queue_class], admission.job, quota, reservation.slot(index)))
        self._last_slot_ms = work[-1].slot_ms if work else 0.0
        if pool is None:
            done = [w for w in work if self._write(w, report) and self._submit(w, report)]
            self._just_admitted = {w.job.job_id for w in done}
            return len(done)
        # each in a copy of this context: what the invocation carries (its logger keys, a tracer) goes along
        began = self._clock().timestamp()
        writes = [pool.submit(self._in_context(self._write, w, report)) for w in work]
        written = [w for w, f in zip(work, writes, strict=True) if f.result()]
        self._write_seconds = self._clock().timestamp() - began
        self._just_admitted = {w.job.job_id for w in written}
        if sender is None:
            calls = [pool.submit(self._in_context(self._submit, w, report)) for w in written]
            return sum(1 for f in calls if f.result())
        for w in written:
            sender.put(w, report)
        return len(written)

    def _in_context(
        self, step: Callable[[_Work, DispatchReport], bool], work: _Work, report: DispatchReport
    ) -> Callable[[], bool]:
        context = contextvars.copy_context()
        return lambda: context.run(step, work, report)

    def _write(self, work: _Work, report: DispatchReport) -> bool:
        """The admission: one transaction, conditional on the job still QUEUED (exactly once)."""
        if not self._store.admit(work.job, work.pool, work.queued.need, work.quota, iso(self._clock())):
            report.lost += 1
            return False
        return True

    def _submit(self, work: _Work, report: DispatchReport) -> bool:
        """Its SubmitJob, not before its slot (a failure leaves the attempt due for the sweeper)."""
        if (wait := work.slot_ms / 1000 - self._clock().timestamp()) > 0:
            self._sleep(wait)
        return self._call(work, report)

    def _call(self, work: _Work, report: DispatchReport) -> bool:
        outcome = self._engine.submit(work.job, work.job.current, Outcome.RELEASED, admitted=True)
        if outcome is Outcome.REJECTED:
            report.rejected += 1
        elif outcome is not Outcome.RELEASED:
            report.submit_deferred += 1
        report.admitted.append(work.job.job_id)
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


class _Sender:
    """Makes one invocation's SubmitJobs, each at its slot: one thread takes them in slot order and hands each to
    ``callers`` when its slot comes, so no call waits behind another's round trip. A call whose slot has passed by
    more than ``LATE_MS`` when its turn comes (the sender stalled: a GC pause, a descheduled container) is not made
    late into a second whose slots the budget has since handed to others: it takes a new slot from the budget (one
    more UpdateItem, as a retry takes its slot) and waits for it behind the others."""

    def __init__(self, dispatcher: Dispatcher, callers: ThreadPoolExecutor) -> None:
        self._dispatcher = dispatcher
        self._callers = callers
        self._due: list[tuple[float, int, _Work, DispatchReport, contextvars.Context, bool]] = []
        self._count = itertools.count()
        self._changed = threading.Condition()
        self._closed = False
        self._round_trip = 0.01  # the budget's last answer, seconds
        self._thread = threading.Thread(target=self._loop, name="sender", daemon=True)

    def __enter__(self) -> _Sender:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        """Every call handed to the callers (their pool is shut down after this, waiting for the answers)."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()

    def put(
        self,
        work: _Work,
        report: DispatchReport,
        slot_ms: float | None = None,
        context: contextvars.Context | None = None,
        *,
        reslotted: bool = False,
    ) -> None:
        """A call to make at its slot (or ``slot_ms``), in ``context`` (by default the caller's: the invocation's)."""
        with self._changed:
            entry = (work.slot_ms if slot_ms is None else slot_ms, next(self._count), work, report)
            heapq.heappush(self._due, (*entry, context or contextvars.copy_context(), reslotted))
            self._changed.notify()

    def _loop(self) -> None:
        d = self._dispatcher
        while True:
            with self._changed:
                if not self._due:
                    if self._closed:
                        return
                    self._changed.wait()
                    continue
                slot_ms, _, work, report, context, reslotted = self._due[0]
                wait = slot_ms / 1000 - d._clock().timestamp()
                if wait > 0:
                    self._changed.wait(wait)  # an earlier slot may come in meanwhile
                    continue
                heapq.heappop(self._due)
            # late once at most: on a slow table the new slot may itself be gone when the budget's answer comes
            if -wait * 1000 <= LATE_MS or reslotted:
                self._callers.submit(context.run, d._call, work, report)
                continue
            # the new slot starts after the budget's answer can be back (twice its last round trip), so it is not
            # gone by then; asked as the invocation it serves
            asked = d._clock().timestamp()
            reservation = context.run(d._budget.reserve, 1, epoch_ms(d._clock()) + int(2000 * self._round_trip))
            self._round_trip = d._clock().timestamp() - asked
            if reservation is not None:
                report.reslotted += 1
                self.put(work, report, reservation.slot(0), context, reslotted=True)
                continue
            with self._changed:  # none to be had (others reserved the whole horizon): ask again in a while
                self._changed.wait(0.1)
            self.put(work, report, slot_ms, context, reslotted=reslotted)
