"""Admission: which QUEUED jobs the dispatcher submits to Batch this tick, and why every other one waits. A pure
function of a `Snapshot` (no clock, no environment, no AWS): ``admit(snapshot) -> AdmissionPlan``.

Rules (applied in this order; the tests are named after them):
  1. Dependencies. A job whose dependencies have not finished is out of line (hold DEPENDENCIES); it does not block
     its tenant's later jobs.
  2. Priority. Classes are served strictly from urgent down to low: every admission of a higher class comes before
     any of a lower class in the same tick.
  3. FIFO within a tenant and class. A tenant's jobs of one priority class form a line ordered by (enqueued, job id),
     across queue classes. Only the head may be admitted; a later, smaller job never passes its own blocked head
     (hold BEHIND). Users can rely on submission order, and a tenant cannot starve its own big job with small ones.
     A job that cannot be admitted whatever finishes is out of line, as rule 1's are: one asking more than its
     tenant's quota allows with nothing running (rule 4), or more than its pool could ever hold (rule 6). The order
     of jobs that can run is kept, and one that cannot does not hold its tenant's later jobs for ever. It takes its
     place again once the quota is raised or the pool grows.
  4. Quota. A head whose admission would take its tenant's running vCPUs, memory or GPUs over its quota waits (hold
     QUOTA_VCPUS / QUOTA_MEMORY / QUOTA_GPUS, with used/limit/need). Only resources the job asks for are checked.
     A quota-held head blocks its own line only, never another tenant; a job over the quota on its own is out of
     line (rule 3).
  5. Fair share (weighted DRF). Within a class, the next admission goes to the head of the tenant with the lowest
     weighted dominant share: max over resources of (tenant's running in this class / capacity of all pools) /
     weight. Ties go to the head enqueued first (then the lower job id). Shares are exact fractions.
  6. Room. Queue classes fill pools (the compute environments they share). A pool takes a job only while
     capacity + margin - running - the RUNNABLE backlog of all its queues covers it, so Batch is never handed more
     than its environments can run plus a margin (hold BACKLOG_FULL, or CAPACITY when Batch has said why the queue
     is blocked: AWS's reason and since when). A job that could not fit even an empty pool, or whose queue class the
     snapshot does not know, waits NEVER_FITS, out of its line (rule 3), and reserves nothing.
  7. Reservation. When the tenant chosen by rule 5 has a head that does not fit its pool's room (but would fit the
     empty pool), the pool is reserved for that job for the rest of the tick: no other job of this or a lower class
     is admitted into it (their hold: FAIR_SHARE, naming the job the room is kept for). Other pools go on
     admitting. Without this a big job starves behind a stream of small ones (the no-starvation test fails).
  8. Rate. Each admission spends one SubmitJob token; with none left the rest wait ACCOUNT_RATE (AWS Batch allows 50
     SubmitJob calls per second per account; the snapshot says how many this tick may use).
A waiting line head that fits both quota and room when the tick ends waits because the room went to a higher class
(PRIORITY) or to a tenant with a lower share (FAIR_SHARE, with its weighted entitlement and its usage), or for rate
tokens. Every waiting job carries ``ahead``: how many of its tenant's jobs in the same class are ahead of it in line.

Guaranteed (each is a property test):
  * quotas and room are never exceeded by what this tick admits;
  * FIFO within tenant and class; plan order is priority order;
  * at each admission, no other tenant admitted later in the same class had a lower weighted dominant share;
  * near work-conserving: while tokens remain, a line head that fits its quota and its pool's room waits only
    behind a reservation, and then the idle room of that pool is smaller than the reserved job;
  * no starvation within the highest non-empty class: a head that fits its quota is admitted within a bounded
    number of ticks while others keep arriving (as long as running jobs finish);
  * determinism: the plan depends on the snapshot's content, not on the order of its collections.
Not guaranteed:
  * no starvation across classes: a steady flood of higher-class work holds lower classes back (the sweeper ages
    waiting jobs up in priority; that is its job, not this policy's);
  * exact shares: DRF evens out shares one job at a time, so a tenant may be one job above or below its share;
  * room in a queue's later environments: a pool is what its queues fill first, so a Spot queue's On-Demand
    environment (its order-2 CE) is not counted as its room; this under-admits, never floods;
  * anything about jobs already in Batch: a RUNNABLE attempt's wait (Spot dwell before fallback) is the sweeper's
    `decide_stuck_runnable`, and time estimates need durations this snapshot does not have.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from fractions import Fraction
from typing import Any

from pydantic.alias_generators import to_camel

from batchplane.domain.failures import BlockedReason
from batchplane.domain.models import Priority
from batchplane.domain.quotas import QUOTA_OF_RESOURCE, RESOURCES, Resources, TenantPolicies, TenantUsage

PRIORITY_ORDER: tuple[Priority, ...] = tuple(reversed(Priority))  # urgent first


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A job waiting QUEUED in batchplane, as admission sees it."""

    job_id: str
    tenant: str
    priority: Priority
    queue_class: str  # the QueueRoom it would be submitted to (the arbiter's Placement)
    need: Resources
    enqueued: int  # order key: when it was enqueued (e.g. epoch milliseconds); ties broken by job_id
    waiting_on: tuple[str, ...] = ()  # ids of dependencies not finished yet

    @property
    def line_key(self) -> tuple[int, str]:
        return (self.enqueued, self.job_id)


@dataclass(frozen=True, slots=True)
class Pool:
    """The compute environments that one or more queue classes fill first (in template.yaml every Spot queue's
    first environment is the Spot CE, every On-Demand queue's the On-Demand CE), now: what they can run at once
    (``capacity``: the sum of their maxvCpus, and the memory and GPUs that buys), what runs on them from any queue
    (``running``: STARTING/RUNNING), and how much backlog beyond that Batch may be handed (``margin``)."""

    name: str
    capacity: Resources
    running: Resources = field(default_factory=Resources)
    margin: Resources = field(default_factory=Resources)

    @property
    def limit(self) -> Resources:
        """The most admitted, unfinished work the pool's queues may hold together: capacity plus margin."""
        return self.capacity + self.margin


@dataclass(frozen=True, slots=True)
class QueueRoom:
    """One queue class (Batch job queue) now: the pool it fills, its RUNNABLE backlog (admitted jobs not started:
    SUBMITTED/PENDING/RUNNABLE), and, when Batch has said so, why it is blocked and since when."""

    queue_class: str
    pool: str
    runnable: Resources = field(default_factory=Resources)
    blocked: BlockedReason | None = None  # AWS's blocked-queue reason (statusReason of its stuck RUNNABLE jobs)
    blocked_since: str | None = None  # when it was first seen (the caller's timestamp, passed through)


@dataclass(frozen=True, slots=True)
class Snapshot:
    jobs: tuple[QueuedJob, ...]
    pools: Mapping[str, Pool]  # by name
    queues: Mapping[str, QueueRoom]  # by queue_class
    usage: Mapping[str, TenantUsage] = field(default_factory=dict)  # by tenant; absent means nothing running
    policies: TenantPolicies = field(default_factory=TenantPolicies)
    rate_tokens: int = 50  # SubmitJob calls this tick may make


class Hold(StrEnum):
    """What holds a waiting job."""

    DEPENDENCIES = "dependencies"
    BEHIND = "behind"  # an earlier job of the same tenant and class waits
    QUOTA_VCPUS = "quota-vcpus"
    QUOTA_MEMORY = "quota-memory"
    QUOTA_GPUS = "quota-gpus"
    NEVER_FITS = "never-fits"  # larger than its pool's capacity plus margin (or an unknown queue class)
    BACKLOG_FULL = "backlog-full"  # the pool's room is used up
    CAPACITY = "capacity"  # room used up, and Batch says why the queue is blocked
    PRIORITY = "priority"  # a higher class took the room this tick
    FAIR_SHARE = "fair-share"  # tenants with a lower share took the room, or it is kept for one
    ACCOUNT_RATE = "account-rate"  # no SubmitJob tokens left this tick
    # waits outside admission (domain/waiting.py): before Batch, or in Batch
    RETRY_BACKOFF = "retry-backoff"  # a retry waiting out its backoff
    SUBMIT_RETRY = "submit-retry"  # its SubmitJob failed: the next sweep submits it again
    BATCH_QUEUE = "batch-queue"  # in a Batch job queue, AWS giving no reason: waiting its turn
    UNPLACEABLE = "unplaceable"  # Batch says it cannot place the job as configured (a MISCONFIGURATION reason)


QUOTA_HOLDS: Mapping[str, Hold] = {
    "vcpus": Hold.QUOTA_VCPUS,
    "memory_mib": Hold.QUOTA_MEMORY,
    "gpus": Hold.QUOTA_GPUS,
}


@dataclass(frozen=True, slots=True)
class QuotaDetail:
    resource: str
    used: int
    limit: int
    need: int


@dataclass(frozen=True, slots=True)
class RoomDetail:
    queue_class: str
    pool: str
    need: Resources
    room: Resources  # what is left in the pool now
    capacity: Resources  # the pool's
    running: Resources  # on the pool
    runnable: Resources  # the backlog of the pool's queues
    margin: Resources
    reserved: bool = False  # the room is being kept for this job (rule 7)
    aws_reason: str | None = None
    since: str | None = None


@dataclass(frozen=True, slots=True)
class FairShareDetail:
    share: float  # weighted entitlement: weight / sum of the weights of the tenants queued or running in this class
    usage: float  # the tenant's dominant share of the capacity, unweighted
    weight: float
    reserved_for: str | None = None  # the job the pool's room is kept for


@dataclass(frozen=True, slots=True)
class BehindDetail:
    head: str  # the job at the head of the tenant's line
    head_hold: Hold


@dataclass(frozen=True, slots=True)
class DependencyDetail:
    waiting_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RateDetail:
    tokens: int  # tokens this tick had


HoldDetail = QuotaDetail | RoomDetail | FairShareDetail | BehindDetail | DependencyDetail | RateDetail | None


@dataclass(frozen=True, slots=True)
class Waiting:
    """Why a job is still QUEUED after this tick: the ``waiting`` of its view."""

    job_id: str
    tenant: str
    priority: Priority
    hold: Hold
    ahead: int  # the tenant's jobs of the same class ahead of it in line (0: it is the head)
    detail: HoldDetail = None

    @property
    def message(self) -> str:
        return _message(self)

    def view(self) -> dict[str, Any]:
        """The ``waiting`` object of the job's view (JSON-able, camelCase like the rest of the API): the hold, a
        sentence, the job's place in its tenant's line, and the hold's numbers."""
        out: dict[str, Any] = {"hold": self.hold.value, "reason": self.message, "ahead": self.ahead}
        if isinstance(self.detail, QuotaDetail):
            out["quota"] = QUOTA_OF_RESOURCE[self.detail.resource].value
        if self.detail is not None:
            for f in fields(self.detail):
                value = getattr(self.detail, f.name)
                if value is not None and f.name != "resource":
                    out[to_camel(f.name)] = _view_value(value)
        return out


@dataclass(frozen=True, slots=True)
class Admission:
    job: QueuedJob
    share: float  # the tenant's weighted dominant share in the class just before this admission


@dataclass(frozen=True, slots=True)
class AdmissionPlan:
    admitted: tuple[Admission, ...]  # submit in this order
    waiting: tuple[Waiting, ...]  # by priority, then tenant, then line order; jobs held by dependencies last
    reservations: Mapping[str, str]  # pool -> the job its room is kept for
    tokens_left: int

    def waiting_for(self, job_id: str) -> Waiting | None:
        return next((w for w in self.waiting if w.job_id == job_id), None)

    @property
    def job_ids(self) -> tuple[str, ...]:
        return tuple(a.job.job_id for a in self.admitted)


_NO_POOL = Pool(name="", capacity=Resources())


class _Tick:
    """The mutable state of one ``admit`` call (never escapes it)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.policies = snapshot.policies
        self.tokens = max(0, snapshot.rate_tokens)
        self.total = Resources.sum(p.capacity for p in snapshot.pools.values())
        self.backlog: dict[str, Resources] = defaultdict(Resources)
        for q in snapshot.queues.values():
            self.backlog[q.pool] += q.runnable
        self.start_room = {n: p.limit - p.running - self.backlog[n] for n, p in snapshot.pools.items()}
        self.room = dict(self.start_room)
        self.taken_by: dict[tuple[str, Priority, str], Resources] = defaultdict(Resources)  # (pool, class, tenant)
        self.running: dict[str, Resources] = {t: u.running_total for t, u in sorted(snapshot.usage.items())}
        self.in_class: dict[tuple[str, Priority], Resources] = {
            (t, p): r for t, u in sorted(snapshot.usage.items()) for p, r in u.running.items()
        }
        self.reserved: dict[str, QueuedJob] = {}
        self.admitted: list[Admission] = []

    def pool_of(self, job: QueuedJob) -> str | None:
        """The pool the job's queue class fills, or None when the snapshot does not know it."""
        queue = self.snapshot.queues.get(job.queue_class)
        return queue.pool if queue is not None and queue.pool in self.snapshot.pools else None

    def share(self, tenant: str, priority: Priority) -> Fraction:
        """Weighted dominant share of ``tenant`` in ``priority`` (rule 5)."""
        used = self.in_class.get((tenant, priority), Resources())
        dominant = max(
            (Fraction(used.get(r), self.total.get(r)) for r in RESOURCES if self.total.get(r) > 0),
            default=Fraction(0),
        )
        return dominant / Fraction(self.policies.weight(tenant))

    def quota_blocks(self, job: QueuedJob) -> str | None:
        return self.policies.quota(job.tenant).first_exceeded(self.running.get(job.tenant, Resources()), job.need)

    def over_quota_alone(self, job: QueuedJob) -> bool:
        """Its need alone, with nothing of its tenant running, is over its tenant's quota (rule 4)."""
        return self.policies.quota(job.tenant).first_exceeded(Resources(), job.need) is not None

    def never_fits(self, job: QueuedJob) -> bool:
        pool = self.pool_of(job)
        return pool is None or not job.need.fits_in(self.snapshot.pools[pool].limit)

    def take(self, job: QueuedJob, pool: str, share: Fraction) -> None:
        self.tokens -= 1
        self.room[pool] -= job.need
        self.taken_by[pool, job.priority, job.tenant] += job.need
        self.running[job.tenant] = self.running.get(job.tenant, Resources()) + job.need
        key = (job.tenant, job.priority)
        self.in_class[key] = self.in_class.get(key, Resources()) + job.need
        self.admitted.append(Admission(job, float(share)))


def admit(snapshot: Snapshot) -> AdmissionPlan:
    """The plan for one tick: what to submit now, in order, and why each other job waits."""
    tick = _Tick(snapshot)
    lines: dict[Priority, dict[str, list[QueuedJob]]] = {p: defaultdict(list) for p in PRIORITY_ORDER}
    held: list[QueuedJob] = []
    unfit: list[QueuedJob] = []
    for job in sorted(snapshot.jobs, key=lambda j: j.line_key):
        if job.waiting_on:
            held.append(job)  # rule 1
        elif tick.over_quota_alone(job) or tick.never_fits(job):
            unfit.append(job)  # rules 3, 4 and 6: out of line, it holds none of its tenant's later jobs
        else:
            lines[job.priority][job.tenant].append(job)  # rule 3: lines in (enqueued, job id) order

    cursor: dict[tuple[str, Priority], int] = defaultdict(int)  # how many of each line were admitted
    for priority in PRIORITY_ORDER:  # rule 2
        _serve_class(tick, priority, lines[priority], cursor)

    waiting: list[Waiting] = []
    for priority in PRIORITY_ORDER:
        left = {t: line[cursor[t, priority] :] for t, line in sorted(lines[priority].items())}
        active = set(lines[priority]) | {t for t, p in tick.in_class if p is priority}
        weights = sum(tick.policies.weight(t) for t in sorted(active))
        for tenant, line in left.items():
            waiting.extend(_explain_line(tick, priority, tenant, line, weights))
    for job in held + unfit:
        line = lines[job.priority].get(job.tenant, [])
        ahead = sum(1 for j in line[cursor[job.tenant, job.priority] :] if j.line_key < job.line_key)
        hold, detail = (
            (Hold.DEPENDENCIES, DependencyDetail(job.waiting_on)) if job.waiting_on else _out_of_line(tick, job)
        )
        waiting.append(Waiting(job.job_id, job.tenant, job.priority, hold, ahead, detail))
    return AdmissionPlan(
        admitted=tuple(tick.admitted),
        waiting=tuple(waiting),
        reservations={q: j.job_id for q, j in sorted(tick.reserved.items())},
        tokens_left=tick.tokens,
    )


def spot_fallbacks(snapshot: Snapshot, peers: Mapping[str, str]) -> tuple[str, ...]:
    """The queued jobs, of those in ``peers`` (job id -> the On-Demand queue class its Spot one falls back to: its
    Spot-first jobs), that could never fit their Spot class's pool (rule 6) but would fit the On-Demand one's. Spot
    first means On-Demand on a capacity shortage; one no end of another job relieves is decided before admission,
    not left to a Spot queue it can never run in (the caller moves them, then plans). A job whose Spot class is in
    no pool the snapshot knows is not one: its queue may be gone, which is decided elsewhere (it ends FAILED)."""
    tick = _Tick(snapshot)
    moving = []
    for job in snapshot.jobs:
        peer = peers.get(job.job_id)
        if peer is None or peer == job.queue_class or tick.pool_of(job) is None or not tick.never_fits(job):
            continue
        if not tick.never_fits(replace(job, queue_class=peer)):
            moving.append(job.job_id)
    return tuple(sorted(moving))


def _serve_class(
    tick: _Tick, priority: Priority, lines: Mapping[str, list[QueuedJob]], cursor: dict[tuple[str, Priority], int]
) -> None:
    """Rules 4-8 for one class: repeatedly admit the head of the tenant with the lowest weighted dominant share."""
    heap: list[tuple[Fraction, tuple[int, str], str]] = []
    for tenant, line in lines.items():
        heapq.heappush(heap, (tick.share(tenant, priority), line[0].line_key, tenant))
    while heap and tick.tokens > 0:
        share, _, tenant = heapq.heappop(heap)
        line = lines[tenant]
        head = line[cursor[tenant, priority]]
        if tick.quota_blocks(head) is not None:
            continue  # rule 4: this tenant's line is done for the tick (its usage only grows)
        pool = tick.pool_of(head)
        if pool is None:
            continue  # not reached: a job of no known pool never fits, and is out of line (rule 6)
        if pool in tick.reserved:
            continue  # rule 7: the room is kept for a fairer tenant's job
        if not head.need.fits_in(tick.room[pool]):
            tick.reserved[pool] = head  # rule 7
            continue
        tick.take(head, pool, share)
        cursor[tenant, priority] += 1
        if cursor[tenant, priority] < len(line):
            nxt = line[cursor[tenant, priority]]
            heapq.heappush(heap, (tick.share(tenant, priority), nxt.line_key, tenant))


def _explain_line(tick: _Tick, priority: Priority, tenant: str, line: list[QueuedJob], weights: float) -> list[Waiting]:
    if not line:
        return []
    head = line[0]
    hold, detail = _head_hold(tick, priority, weights, head)
    out = [Waiting(head.job_id, tenant, priority, hold, 0, detail)]
    out.extend(
        Waiting(job.job_id, tenant, priority, Hold.BEHIND, ahead, BehindDetail(head.job_id, hold))
        for ahead, job in enumerate(line[1:], start=1)
    )
    return out


def _head_hold(tick: _Tick, priority: Priority, weights: float, head: QueuedJob) -> tuple[Hold, HoldDetail]:
    resource = tick.quota_blocks(head)
    if resource is not None:  # rule 4
        used = tick.running.get(head.tenant, Resources()).get(resource)
        limit = tick.policies.quota(head.tenant).running_limit(resource)
        return QUOTA_HOLDS[resource], QuotaDetail(resource, used, limit or 0, head.need.get(resource))

    queue = tick.snapshot.queues.get(head.queue_class)
    pool_name = tick.pool_of(head)
    blocked = queue.blocked if queue is not None else None

    def room_detail(*, reserved: bool) -> RoomDetail:
        return _room_detail(tick, head, reserved=reserved)

    def fair(reserved_for: str | None = None) -> tuple[Hold, FairShareDetail]:
        weight = tick.policies.weight(head.tenant)
        usage = float(tick.share(head.tenant, priority) * Fraction(weight))
        return Hold.FAIR_SHARE, FairShareDetail(weight / weights, usage, weight, reserved_for)

    if pool_name is None or tick.never_fits(head):  # not reached: such a job is out of line (rules 3 and 6)
        return _never_fits(tick, head)
    room_hold = Hold.CAPACITY if blocked is not None else Hold.BACKLOG_FULL
    reserved = tick.reserved.get(pool_name)
    if reserved is not None and reserved is not head:  # rule 7
        return fair(reserved.job_id)
    if reserved is head or not head.need.fits_in(tick.room[pool_name]):
        mine = reserved is head
        start = tick.start_room[pool_name]
        if not head.need.fits_in(start):
            return room_hold, room_detail(reserved=mine)
        higher = Resources.sum(
            r for (q, p, _), r in tick.taken_by.items() if q == pool_name and _rank(p) > _rank(priority)
        )
        if not head.need.fits_in(start - higher):
            return Hold.PRIORITY, room_detail(reserved=mine)
        own = tick.taken_by.get((pool_name, priority, head.tenant), Resources())
        if not head.need.fits_in(start - higher - own):
            return room_hold, room_detail(reserved=mine)  # its own earlier jobs filled the room
        return fair(head.job_id if mine else None)
    return Hold.ACCOUNT_RATE, RateDetail(tick.snapshot.rate_tokens)  # rule 8


def _room_detail(tick: _Tick, job: QueuedJob, *, reserved: bool) -> RoomDetail:
    """The room of the pool ``job``'s queue class fills, as the tick left it (its capacity, running, backlog and
    margin; AWS's reason when Batch said the queue is blocked)."""
    queue = tick.snapshot.queues.get(job.queue_class)
    pool_name = tick.pool_of(job)
    pool = tick.snapshot.pools[pool_name] if pool_name is not None else _NO_POOL
    blocked = queue.blocked if queue is not None else None
    return RoomDetail(
        queue_class=job.queue_class,
        pool=pool.name,
        need=job.need,
        room=tick.room.get(pool.name, Resources()),
        capacity=pool.capacity,
        running=pool.running,
        runnable=tick.backlog.get(pool.name, Resources()),
        margin=pool.margin,
        reserved=reserved,
        aws_reason=blocked.label if blocked is not None else None,
        since=queue.blocked_since if queue is not None and blocked is not None else None,
    )


def _out_of_line(tick: _Tick, job: QueuedJob) -> tuple[Hold, HoldDetail]:
    """Why a job that cannot be admitted whatever finishes waits (rule 3): over its quota on its own, or too big."""
    resource = tick.policies.quota(job.tenant).first_exceeded(Resources(), job.need)
    if resource is not None:
        used = tick.running.get(job.tenant, Resources()).get(resource)
        limit = tick.policies.quota(job.tenant).running_limit(resource)
        return QUOTA_HOLDS[resource], QuotaDetail(resource, used, limit or 0, job.need.get(resource))
    return _never_fits(tick, job)


def _never_fits(tick: _Tick, job: QueuedJob) -> tuple[Hold, RoomDetail]:
    """Rule 6: the job could not fit even its empty pool (or its queue class is in no pool the snapshot knows)."""
    return Hold.NEVER_FITS, _room_detail(tick, job, reserved=False)


def _view_value(value: object) -> object:
    if isinstance(value, Resources):
        return {"vcpus": value.vcpus, "memoryMiB": value.memory_mib, "gpus": value.gpus}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def _rank(priority: Priority) -> int:
    return PRIORITY_ORDER[::-1].index(priority)


def _message(w: Waiting) -> str:
    d = w.detail
    match d:
        case DependencyDetail():
            return f"waiting for {len(d.waiting_on)} dependenc{'y' if len(d.waiting_on) == 1 else 'ies'} to finish"
        case BehindDetail():
            return (
                f"behind {w.ahead} earlier job(s) of tenant {w.tenant} in class {w.priority.value} "
                f"(head {d.head}: {d.head_hold.value})"
            )
        case QuotaDetail():
            return f"tenant quota: {d.resource} {d.used} running + {d.need} asked > limit {d.limit}"
        case RoomDetail() if w.hold is Hold.NEVER_FITS and not d.pool:
            return (
                f"queue class {d.queue_class} is not in the pools' layout read from Batch: the dispatcher looks at the "
                "queue afresh (a job queue that no longer exists ends its jobs FAILED)"
            )
        case RoomDetail() if w.hold is Hold.NEVER_FITS:
            return (
                f"asks {d.need}, more than queue class {d.queue_class} can ever hold "
                f"(pool {d.pool}: {d.capacity} + margin {d.margin})"
            )
        case RoomDetail():
            why = (
                f"queue class {d.queue_class}: pool {d.pool} has room {d.room} for {d.need} "
                f"(capacity {d.capacity}, running {d.running}, RUNNABLE {d.runnable}, margin {d.margin})"
            )
            if d.aws_reason:
                why += f"; Batch: {d.aws_reason} since {d.since}"
            if d.reserved:
                why += "; the room is kept for this job"
            return why if w.hold is not Hold.PRIORITY else f"higher classes took the room: {why}"
        case FairShareDetail():
            if d.reserved_for == w.job_id:
                kept = (
                    "; tenants further below their weighted share took the room this tick; it is now kept for this job"
                )
            elif d.reserved_for:
                kept = f"; the room is kept for {d.reserved_for}, of a tenant further below its weighted share"
            else:
                kept = "; tenants further below their weighted share took the room"
            return f"fair share: tenant uses {d.usage:.1%} (weight {d.weight:g}, entitled to {d.share:.1%}){kept}"
        case RateDetail():
            return f"the SubmitJob rate for this tick ({d.tokens}) is spent"
    return w.hold.value
