"""The dispatcher: admits QUEUED jobs to AWS Batch. One invocation holds a lease (single flight across containers
and invocations) and ticks until its time is up: a snapshot (the QUEUED jobs, the tenants' and pools' counters, the
pools' capacity), the pure policy (`domain.admission.admit`), SubmitJob slots from the account-wide budget, then
for each admitted job its admission write (one transaction, conditional on QUEUED: exactly once whatever the
triggers) and its SubmitJob at its slot (lifecycle's submit: a failure leaves the attempt due for the sweeper, which
finds it by name first; a refusal by Batch, ClientException, ends the job FAILED and gives its usage back).

Within an invocation the ticks are pipelined, so the account's rate is sustained rather than lost between ticks:
a tick waits for its admission writes, not for its SubmitJobs, which callers make at their slots while the next tick
reads ahead of the last slot (`_Backlog` keeps the QUEUED jobs between ticks: each tick reads only what was enqueued
lately, the whole listing every FULL_READ_SECONDS, or, cut at its limit, once half of it is admitted; a warm
container's next invocation goes on from it). A call made late (a stalled thread) never crowds a second: the
invocation's own calls pass a sliding window of the rate (`SendWindow`) as they leave (the Batch adapter's pace)."""

from __future__ import annotations

import contextvars
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from batchplane.domain.admission import AdmissionPlan, QueuedJob, Snapshot, Waiting, admit
from batchplane.domain.dispatch import (
    RESERVED_BUDGET_HORIZON_MS,
    PoolState,
    gone_queues,
    job_need,
    queue_gone_reason,
    snapshot_of,
    unplaced_queues,
)
from batchplane.domain.errors import BatchplaneError
from batchplane.domain.failures import FailureClass
from batchplane.domain.models import JobStatus, Priority
from batchplane.domain.outcomes import Outcome
from batchplane.domain.ports import GRANTS_PER_ADMIT, Grant
from batchplane.domain.timestamps import epoch_ms, iso, parse_iso
from batchplane.services.send_window import SendWindow
from batchplane.services.spot_first import spot_first_to_on_demand

if TYPE_CHECKING:
    from datetime import datetime

    from batchplane.domain.arbiter import QueueCatalogue
    from batchplane.domain.ports import AdmissionStore, PoolSource, RateBudget
    from batchplane.domain.quotas import Quota
    from batchplane.domain.records import JobRecord
    from batchplane.services.lifecycle import LifecycleService

POOL_LAYOUT_SECONDS = 30  # how long the pools' capacity read from Batch is trusted
LEASE = "dispatcher"
FULL_READ_SECONDS = 10.0  # an invocation re-reads the whole QUEUED listing at least this often
# ... unless the last whole read stopped at the limit: the backlog holds the oldest jobs, and a whole read before half
# of it is admitted would list the same ones again (what is listed later is listed newer); a safety net only
CUT_READ_SECONDS = 60.0
# a tick re-reads what was enqueued in the last RECENT_MS too: the index is eventually consistent and the gateways'
# clocks (which stamp the enqueue time) differ a little. At most once every RECENT_READ_SECONDS: between, a tick
# reaches back only RECENT_SHORT_MS, for a job stamped just before the last read and written just after it (the
# gateway stamps, then writes). A burst of enqueues (a pipeline releasing a thousand jobs) was otherwise read again
# by every tick for RECENT_MS (ten times at the 0.5 s tick: about 1 MB each for a thousand jobs, parsed by the
# dispatcher); a job the index shows later than RECENT_SHORT_MS now waits at most RECENT_READ_SECONDS more.
RECENT_MS = 5_000
RECENT_READ_SECONDS = 1.0
RECENT_SHORT_MS = 1_000
# A whole read cut at its limit holds the oldest jobs: a tenant none of whose jobs are among them (its jobs queued
# after another's thousands) would wait until those were admitted. So, while the backlog is cut, the tenants with
# jobs queued are read (their counters, every TENANTS_READ_SECONDS), and while some of them have none in the cut
# read, the listing is read on past it, a page every DEEP_READ_SECONDS, keeping those tenants' jobs (at most
# DEEP_SHARE of the limit each) for admission to weigh with the rest.
TENANTS_READ_SECONDS = 5.0
DEEP_READ_SECONDS = 1.0
DEEP_SHARE = 20  # a tenant found past the cut keeps at most limit // DEEP_SHARE jobs (fewer with more such tenants)
READ_AHEAD_SECONDS = (0.2, 1.0)  # the next tick starts this long before the last slot: at least, at most
# why a QUEUED job waits (GET /jobs/{id}) is told from a read of the QUEUED listing this young at most: a console
# polling a few queued jobs reads the listing (up to the limit: 2,000 jobs, about 2 MB) once, not once per look
EXPLAIN_READ_SECONDS = 2.0


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
    gone: list[str] = field(default_factory=list)  # QUEUED jobs ended FAILED: their job queue no longer exists
    cancelled: list[str] = field(default_factory=list)  # QUEUED jobs whose cancel was left to the dispatcher: ended
    skipped: bool = False  # another invocation holds the lease
    full_reads: int = 0  # ticks that read the whole QUEUED listing (the others read its recent end)
    fell_back: list[str] = field(default_factory=list)  # Spot-first jobs moved to On-Demand: Spot can never hold them
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, what: str, job_id: str | None = None) -> None:
        """Counted from the callers' threads: one at a time."""
        with self._lock:
            if job_id is not None:
                self.admitted.append(job_id)
            if what:
                setattr(self, what, getattr(self, what) + 1)


@dataclass
class _Backlog:
    """The QUEUED jobs as this invocation knows them, between its ticks: the admission write decides (a job cancelled
    or re-prioritised meanwhile fails its condition and is read again), so a copy a few seconds old is safe."""

    jobs: dict[str, JobRecord]
    read_ms: int  # when the listing was last read (whole or recent end)
    full_ms: int  # when it was last read whole
    truncated: bool  # the whole read stopped at its limit: newer jobs wait for the next whole read
    recent_ms: int = 0  # when a read last reached RECENT_MS back (a whole read reaches everything)
    # jobs this invocation admitted, and when: the index is eventually consistent, so a read soon after may still list
    # them; they are not taken back (kept as long as a recent-end read reaches back, then forgotten)
    admitted: dict[str, int] = field(default_factory=dict)
    head: frozenset[str] = frozenset()  # the tenants the last whole read listed
    tenants_ms: int = 0  # when the tenants with jobs queued were last read
    behind: frozenset[str] = frozenset()  # ... those of them the cut read did not list: their jobs are read past it
    deep_ms: int = 0  # when the listing was last read past the cut
    cursor: dict[str, str | None] = field(default_factory=dict)  # where that read goes on, each shard ({}: the start)
    deep: set[str] = field(default_factory=set)  # jobs found past the cut, kept across whole reads

    def take(self, jobs: list[JobRecord], now_ms: int) -> None:
        """What a read listed, less what this invocation has admitted since."""
        self.admitted = {j: t for j, t in self.admitted.items() if now_ms - t <= 2 * RECENT_MS}
        for job in jobs:
            if job.job_id not in self.admitted:
                self.jobs[job.job_id] = job


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
        # job queues outside the catalogue's that a fresh look found in Batch (created after the layout was read),
        # and when: read with the layout from then on, and not looked at again for POOL_LAYOUT_SECONDS
        self._queues_found: dict[str, int] = {}
        self._found_lock = threading.Lock()
        self._write_seconds = 0.1  # how long the last tick's admission writes took (50 in AWS, about, at first)
        # the QUEUED jobs as the last invocation left them: a warm container's next invocation goes on from them (its
        # first tick reads the listing's end since that read, the whole listing once FULL_READ_SECONDS have passed)
        self._backlog: _Backlog | None = None
        self._converted: dict[str, tuple[JobRecord, QueuedJob]] = {}  # the last snapshot's jobs, as admission sees them
        self._backlog_lock = threading.Lock()
        self._explained: tuple[int, list[JobRecord]] | None = None  # the listing explain last read, and when
        self._threads: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None  # see _executors

    def _executors(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        """The threads for admission writes and for SubmitJobs: the container's, made on first use (none on the cold
        path) and kept between invocations. Made per invocation, each invocation started its threads and joined
        them at its end: a one-tick invocation (the local stack's) spent a quarter of its time doing so."""
        if self._threads is None:
            self._threads = (
                ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="admit"),
                ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="submit"),
            )
        return self._threads

    # ---- one invocation ----------------------------------------------------------------------------------------

    def run(self, seconds: float, tick_seconds: float = 0.5) -> DispatchReport:
        """Tick for ``seconds`` (at least once), holding the lease; do nothing when another invocation holds it.
        Ticks follow each other without waiting for their SubmitJobs: the next reads ahead of the last slot."""
        report = DispatchReport()
        start = epoch_ms(self._clock())
        lease_ms = int((seconds + 15) * 1000)
        sent_before = self._store.take_lease_with_window(LEASE, self._owner, start, start + lease_ms)
        if sent_before is None:
            report.skipped = True
            return report
        # kept for the container's next invocation (one at a time; one that overlaps, as a lease that ran out can
        # let happen, starts from nothing): a copy some seconds old is safe, the admission write decides
        mine = self._backlog_lock.acquire(blocking=False)
        backlog = (self._backlog if mine else None) or _Backlog({}, 0, 0, truncated=False)
        window = SendWindow(self._rate, time.monotonic, self._sleep)  # elapsed time: immune to wall-clock steps
        window.seed(sent_before, self._clock().timestamp())
        writers, callers = self._executors()
        calls: list[Future[bool]] = []
        try:
            while True:
                began = self._clock().timestamp()
                admitted, last_slot_ms = self._tick(report, writers, callers, window, calls, backlog)
                now = self._clock().timestamp()
                if epoch_ms(self._clock()) - start >= seconds * 1000:
                    break
                if not admitted:
                    self._sleep(tick_seconds)
                    continue
                # read the next snapshot ahead of this tick's last slot by twice what this tick took
                ahead = min(max(2 * (now - began), READ_AHEAD_SECONDS[0]), READ_AHEAD_SECONDS[1])
                pause = min(last_slot_ms / 1000 - ahead - now, start / 1000 + seconds - now)
                if pause > 0:
                    self._sleep(pause)
            for call in calls:
                call.result()
        finally:
            wait(calls)  # a tick that failed midway: its SubmitJobs end before the lease and the window are given back
            if mine:
                self._backlog = backlog
                self._backlog_lock.release()
            self._store.release_lease_with_window(LEASE, self._owner, window.sent(self._clock().timestamp()))
        return report

    def tick(self, report: DispatchReport, pool: ThreadPoolExecutor | None = None) -> int:
        """One round: snapshot, plan, reserve, admit and submit, waiting for its SubmitJobs (one tick on its own, as
        the tests run it). Returns how many were admitted."""
        calls: list[Future[bool]] = []
        admitted, _ = self._tick(report, pool, pool, None, calls, None)
        for call in calls:
            call.result()
        return admitted

    def _tick(
        self,
        report: DispatchReport,
        writers: ThreadPoolExecutor | None,
        callers: ThreadPoolExecutor | None,
        window: SendWindow | None,
        calls: list[Future[bool]],
        backlog: _Backlog | None,
    ) -> tuple[int, float]:
        """Snapshot, plan, reserve, then the admission writes (in ``writers``, waited for) and the SubmitJobs (in
        ``callers``, each at its slot, appended to ``calls``: not waited for). (how many were admitted, the last
        slot's time in epoch ms)"""
        report.ticks += 1
        jobs = self._queued_jobs(report, backlog)
        if any(j.cancel_requested for j in jobs):
            for job in jobs:
                if job.cancel_requested:
                    self._end_cancelled(job, report, backlog)
            jobs = [j for j in jobs if not j.cancel_requested]
        if jobs:
            jobs = self._settle_unplaced(jobs, report, backlog)
        if not jobs:
            return 0, 0.0
        snapshot = self.snapshot(jobs, rate_tokens=max(1, int(self._rate)))
        now = iso(self._clock())
        if moved := spot_first_to_on_demand(jobs, snapshot, self._catalogue, self._store, self._default_memory, now):
            report.fell_back += list(moved)
            if backlog is not None:
                backlog.jobs.update({job_id: j for job_id, j in moved.items() if job_id in backlog.jobs})
            jobs = [moved.get(j.job_id, j) for j in jobs]
            snapshot = self.snapshot(jobs, rate_tokens=max(1, int(self._rate)))
        by_id = {j.job_id: j for j in jobs}
        plan = admit(snapshot)
        if not plan.admitted:
            return 0, 0.0
        # the slots start once this tick's admissions are written (as long as the last tick's writes took, and half
        # again): a call made after its slot would crowd the next second (and the window would hold it back)
        lead_ms = min(int(1.5 * self._write_seconds * 1000), RESERVED_BUDGET_HORIZON_MS // 4) if writers else 0
        reservation = self._budget.reserve(len(plan.admitted), epoch_ms(self._clock()) + lead_ms)
        if reservation is None:
            return 0, 0.0
        pools = {q: room.pool for q, room in snapshot.queues.items()}
        work: list[_Work] = []
        for index, admission in enumerate(plan.admitted[: reservation.count]):
            job = by_id[admission.job.job_id]
            quota = snapshot.policies.quota(job.tenant)
            work.append(_Work(job, pools[admission.job.queue_class], admission.job, quota, reservation.slot(index)))
        # a write each GRANTS_PER_ADMIT jobs: their counters written once (issue #15), the writes side by side
        chunks = [work[i : i + GRANTS_PER_ADMIT] for i in range(0, len(work), GRANTS_PER_ADMIT)]
        if writers is None:
            done = [self._write(chunk, report, backlog) for chunk in chunks]
        else:
            # each in a copy of this context: what the invocation carries (its logger keys, a tracer) goes along
            began = self._clock().timestamp()
            writes = [writers.submit(self._in_context(self._write, c, report, backlog)) for c in chunks]
            wait(writes)  # every one ends before any error is raised (the invocation's end waits for no thread)
            done = [f.result() for f in writes]
            self._write_seconds = self._clock().timestamp() - began
        written = [w for chunk, oks in zip(chunks, done, strict=True) for w, ok in zip(chunk, oks, strict=True) if ok]
        for w in written:
            if callers is None:
                self._call(w, report, window)
            else:
                calls.append(callers.submit(self._in_context(self._call, w, report, window)))
        return len(written), work[-1].slot_ms if work else 0.0

    def _queued_jobs(self, report: DispatchReport, backlog: _Backlog | None) -> list[JobRecord]:
        """The QUEUED jobs for this tick: read whole outside ``run`` and, inside it, when due (``_whole_read_due``);
        else the backlog (this invocation's, or the container's last one's; a job admitted or lost meanwhile has left
        it) with what was enqueued lately read again, unless it was cut at the limit (what was enqueued since is newer
        than all it holds: then the tenants it does not list are looked for past the cut, ``_read_past_the_cut``)."""
        now = epoch_ms(self._clock())
        if backlog is None or self._whole_read_due(backlog, now):
            report.count("full_reads")
            jobs = self._store.queued(self._queued_limit, known=None if backlog is None else backlog.jobs)
            if backlog is None:
                return jobs
            found = {j: backlog.jobs[j] for j in backlog.deep if j in backlog.jobs}
            backlog.jobs = {}
            backlog.take(jobs, now)
            backlog.read_ms = backlog.full_ms = backlog.recent_ms = now
            backlog.truncated = len(jobs) >= self._queued_limit
            backlog.head = frozenset(j.tenant for j in jobs)
            if backlog.truncated:  # what was found past the cut is still queued (the admission write decides)
                for job_id, job in found.items():
                    backlog.jobs.setdefault(job_id, job)
                backlog.deep = set(found) - {j.job_id for j in jobs}
            else:  # the read listed every queued job: nothing is past it
                backlog.deep, backlog.behind, backlog.cursor = set(), frozenset(), {}
                return list(backlog.jobs.values())
        if backlog.truncated:  # the oldest jobs, admitted from the front: newer ones wait for the next whole read...
            self._read_past_the_cut(backlog, now)  # ... except those of tenants it does not list
            return list(backlog.jobs.values())
        reach = min(RECENT_SHORT_MS, RECENT_MS)
        if now - backlog.recent_ms >= RECENT_READ_SECONDS * 1000:
            reach, backlog.recent_ms = RECENT_MS, now
        backlog.take(self._store.queued(self._queued_limit, since_ms=backlog.read_ms - reach, known=backlog.jobs), now)
        backlog.read_ms = now
        return list(backlog.jobs.values())

    def _read_past_the_cut(self, backlog: _Backlog, now: int) -> None:
        """While the backlog is cut at the limit: every TENANTS_READ_SECONDS, which tenants have jobs queued (their
        counters, exact) that the cut read did not list; while there are any, a page of the listing past where the
        last page stopped, every DEEP_READ_SECONDS, keeping their jobs, oldest first, at most a share of the limit
        each. The pages go round the listing and start again from its start: a tenant with more jobs past the cut
        than its share is given the others as later rounds come to them (its share is taken back as its jobs are
        admitted), and no tenant's jobs stop the pages from reaching another's."""
        if now - backlog.tenants_ms >= TENANTS_READ_SECONDS * 1000:
            backlog.tenants_ms = now
            queued = {a.tenant for a in self._store.accounts() if a.queued > 0}
            backlog.behind = frozenset(queued - backlog.head)
        if not backlog.behind or now - backlog.deep_ms < DEEP_READ_SECONDS * 1000:
            return
        backlog.deep_ms = now
        page = self._store.queued_page(backlog.cursor, self._queued_limit)
        share = max(1, self._queued_limit // max(DEEP_SHARE, len(backlog.behind)))
        held = Counter(j.tenant for j in backlog.jobs.values() if j.tenant in backlog.behind)
        for _, _, job in sorted(page.jobs, key=lambda found: found[1]):  # in enqueue order across the shards
            tenant = job.tenant
            if tenant not in backlog.behind or held[tenant] >= share or job.job_id in backlog.admitted:
                continue
            if job.job_id not in backlog.jobs:
                held[tenant] += 1
                backlog.jobs[job.job_id] = job
                backlog.deep.add(job.job_id)
        # every shard read to its end: the next page starts again from the listing's start
        backlog.cursor = {} if all(end is None for end in page.ends.values()) else dict(page.ends)

    def _whole_read_due(self, backlog: _Backlog, now_ms: int) -> bool:
        """Every FULL_READ_SECONDS; a backlog cut at the limit once admissions have taken half of it, or every
        CUT_READ_SECONDS (it holds the oldest jobs, so a tick before then reads nothing: reading the limit's worth of
        jobs every tick made a long queue cost O(queued) per tick)."""
        if not backlog.truncated:
            return now_ms - backlog.full_ms >= FULL_READ_SECONDS * 1000
        return len(backlog.jobs) <= self._queued_limit // 2 or now_ms - backlog.full_ms >= CUT_READ_SECONDS * 1000

    def _settle_unplaced(
        self, jobs: list[JobRecord], report: DispatchReport, backlog: _Backlog | None
    ) -> list[JobRecord]:
        """Jobs whose job queue the pools' layout does not know: a fresh DescribeJobQueues of those queues (never the
        cached layout) decides. A queue Batch does not list (or lists DELETING/DELETED) is gone: its jobs end FAILED
        at once (``_fail_gone``). A queue it lists (created after the layout was read; or DISABLED) exists: the
        layout is read again from Batch with it, and its jobs wait or are admitted as any. A queue found is not
        looked at again for POOL_LAYOUT_SECONDS. The jobs left for this tick."""
        now = epoch_ms(self._clock())
        with self._found_lock:
            recent = {q for q, seen in self._queues_found.items() if now - seen < POOL_LAYOUT_SECONDS * 1000}
        asked = unplaced_queues({j.queue_arn for j in jobs}, self.pool_states()) - recent
        if not asked:
            return jobs
        try:
            listed = self._pool_source.queue_statuses(sorted(asked))
        except BatchplaneError:  # Batch unavailable, throttled, or refusing the look: nothing is decided, they wait
            return jobs
        gone = gone_queues(asked, listed)
        with self._found_lock:
            for queue in gone:
                self._queues_found.pop(queue, None)
        if found := asked - gone.keys():
            with self._found_lock:
                self._queues_found.update(dict.fromkeys(found, now))
            self._read_layout(now)
        if not gone:
            return jobs
        for job in jobs:
            if job.queue_arn in gone:
                self._fail_gone(job, queue_gone_reason(job.queue_arn, gone[job.queue_arn]), report, backlog)
        return [j for j in jobs if j.queue_arn not in gone]

    def _fail_gone(self, job: JobRecord, reason: str, report: DispatchReport, backlog: _Backlog | None) -> None:
        """A QUEUED job whose job queue is gone ends FAILED, a misconfiguration (one transaction, conditional on it
        still QUEUED on that queue and not cancelled: a re-prioritisation or cancel that landed first wins), then is
        counted and its end acted on as a job Batch refused (its pipeline told)."""
        if backlog is not None:
            backlog.jobs.pop(job.job_id, None)  # still QUEUED (the write lost): listed again by the next read
        ended = self._store.fail_queued(
            job, failure_class=FailureClass.MISCONFIGURATION.value, reason=reason, now=iso(self._clock())
        )
        if ended is None:
            return
        with report._lock:
            report.gone.append(job.job_id)
        self._engine.failed_before_batch(ended)

    def _end_cancelled(self, job: JobRecord, report: DispatchReport, backlog: _Backlog | None) -> None:
        """A QUEUED job whose cancel was asked for and left to the dispatcher (a pipeline's job: the gateway cannot
        tell a pipeline) ends CANCELLED (one transaction, conditional on it still QUEUED) and its pipeline hears."""
        if backlog is not None:
            backlog.jobs.pop(job.job_id, None)
        reason = job.cancel_reason or "batchplane: cancelled before it was admitted"
        ended = self._store.cancel_queued(job, reason, iso(self._clock()))
        if ended is None:
            return
        with report._lock:
            report.cancelled.append(job.job_id)
        self._engine.cancelled_before_batch(ended)

    def _in_context[T](self, step: Callable[..., T], *args: Any) -> Callable[[], T]:
        context = contextvars.copy_context()
        return lambda: context.run(step, *args)

    def _write(self, works: list[_Work], report: DispatchReport, backlog: _Backlog | None) -> list[bool]:
        """The admissions: one transaction, conditional on each job still QUEUED on the queue the snapshot read. Each
        job leaves the backlog; one that lost (its quota raced, or it was re-prioritised) but is still QUEUED comes
        back as it now is, read strongly consistent."""
        if backlog is not None:
            for work in works:
                backlog.jobs.pop(work.job.job_id, None)
        done = self._store.admit([Grant(w.job, w.pool, w.queued.need, w.quota) for w in works], iso(self._clock()))
        for work, admitted in zip(works, done, strict=True):
            if admitted:
                if backlog is not None:
                    backlog.admitted[work.job.job_id] = epoch_ms(self._clock())
                continue
            report.count("lost")
            if backlog is not None:
                now = self._store.get_job(work.job.job_id)
                if now is not None and now.status == JobStatus.QUEUED:
                    backlog.jobs[now.job_id] = now  # a cancel asked for meanwhile is ended by the next tick
        return done

    def _call(self, work: _Work, report: DispatchReport, window: SendWindow | None) -> bool:
        """Its SubmitJob, not before its slot (a failure leaves the attempt due for the sweeper)."""
        if (wait := work.slot_ms / 1000 - self._clock().timestamp()) > 0:
            self._sleep(wait)
        outcome = self._engine.submit(
            work.job, work.job.current, Outcome.RELEASED, admitted=True, pace=window.enter if window else None
        )
        if outcome is Outcome.REJECTED:
            report.count("rejected", work.job.job_id)
        elif outcome is not Outcome.RELEASED:
            report.count("submit_deferred", work.job.job_id)
        else:
            report.count("", work.job.job_id)
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
        return self._read_layout(now)

    def _read_layout(self, now: int) -> list[PoolState]:
        """The pools' layout read from Batch (the catalogue's queues, and those found since), kept and saved."""
        queues = [q.queue_arn for q in self._catalogue.queues]
        with self._found_lock:
            queues += sorted(set(self._queues_found) - set(queues))
        gpu = {q.queue_arn.rsplit("/", 1)[-1] for q in self._catalogue.queues if q.max_gpus > 0}
        self._pools = self._pool_source.pools(queues, gpu)
        self._pools_seen_ms = now
        self._store.save_pool_layout(self._pools, now)
        return self._pools

    def snapshot(self, jobs: list[JobRecord], *, rate_tokens: int) -> Snapshot:
        layout = self.pool_states()
        # a job record read once is the same object tick after tick in the backlog: converted once (a tick over a
        # 2,000-job backlog spent more converting them than deciding)
        known = self._converted
        converted = {}
        for j in jobs:
            hit = known.get(j.job_id)
            converted[j.job_id] = hit if hit is not None and hit[0] is j else (j, queued_job(j, self._default_memory))
        self._converted = converted
        queued = [q for _, q in converted.values()]
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
        ``Waiting.view()``, or, when the policy would admit it now, that it waits for the dispatcher's next tick.
        The QUEUED listing is read again when the last read is EXPLAIN_READ_SECONDS old (the job itself as it is
        now, the counters and the pools' capacity as they are: only the others queued may be that old)."""
        now = epoch_ms(self._clock())
        read = self._explained
        if read is None or not 0 <= now - read[0] < EXPLAIN_READ_SECONDS * 1000:
            read = self._explained = (now, self._store.queued(self._queued_limit))
        jobs = [j for j in read[1] if j.job_id != job.job_id]
        jobs.append(job)
        plan: AdmissionPlan = admit(self.snapshot(jobs, rate_tokens=max(1, int(self._rate))))
        waiting: Waiting | None = plan.waiting_for(job.job_id)
        if waiting is not None:
            return waiting.view()
        return {"hold": "dispatch", "reason": "admissible now: the dispatcher submits it at its next tick", "ahead": 0}
