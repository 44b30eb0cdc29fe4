"""The dispatcher's pure parts: what a queued job asks, what a tenant holds, how the admission snapshot is put
together from what the table and Batch say, and the account-wide SubmitJob budget's arithmetic. No clock (times are
passed in), no environment, no AWS.

The SubmitJob budget is a GCRA (generic cell rate algorithm: a virtual scheduling of calls, one every ``1/rate``
seconds) kept in one table item as its "theoretical arrival time" (TAT): a caller reserving ``k`` calls gets the
``k`` slots after ``max(TAT, now)`` and moves TAT past them. Every SubmitJob of the account (the dispatcher's, a
retry's, a fallback's) is made at or after its own slot, and slots are ``1/rate`` apart, so no one-second window
holds more than ``rate`` of them (plus one, when both ends of a closed window fall on slots)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from math import ceil

from batchplane.domain.admission import Pool, QueuedJob, QueueRoom, Snapshot
from batchplane.domain.models import Priority
from batchplane.domain.quotas import Quota, Resources, TenantPolicies, TenantUsage

# What a job that names no size asks: the template's sample job definition (1 vCPU, 2,048 MiB).
DEFAULT_VCPUS = 1
# Memory a pool is taken to have per vCPU of its maxvCpus: compute environments say only vCPUs; the instance types
# the template lists (m6g/c6g/r6g) carry 2 to 8 GiB per vCPU. Memory is thus checked loosely; vCPUs exactly.
POOL_MEMORY_MIB_PER_VCPU = 8192
RESERVED_BUDGET_HORIZON_MS = 2_000  # nobody reserves SubmitJob slots more than this far ahead


def job_need(request: Mapping[str, object], default_memory_mib: int) -> Resources:
    """What one job holds while admitted: its vCPUs, memory and GPUs (one child of an array, one node of a
    multi-node job: Batch starts an array's children as capacity frees, so holding all of them would keep a big
    array out for ever)."""
    vcpus = request.get("vcpus")
    memory = request.get("memoryMiB")
    gpus = request.get("gpus")
    return Resources(
        vcpus=vcpus if isinstance(vcpus, int) else DEFAULT_VCPUS,
        memory_mib=memory if isinstance(memory, int) else default_memory_mib,
        gpus=gpus if isinstance(gpus, int) else 0,
    )


@dataclass(frozen=True, slots=True)
class TenantAccount:
    """One tenant's item in the table: its counters (jobs queued; resources admitted and not finished, per priority
    class) and what admins set (a quota override, a weight)."""

    tenant: str
    queued: int = 0
    running: Mapping[Priority, Resources] = field(default_factory=dict)
    quota: Quota | None = None
    weight: float | None = None

    @property
    def usage(self) -> TenantUsage:
        return TenantUsage(self.tenant, dict(self.running), self.queued)


def policies_of(accounts: Iterable[TenantAccount], default_quota: Quota, default_weight: float = 1.0) -> TenantPolicies:
    quotas: dict[str, Quota] = {}
    weights: dict[str, float] = {}
    for account in accounts:
        if account.quota is not None:
            quotas[account.tenant] = account.quota
        if account.weight is not None:
            weights[account.tenant] = account.weight
    return TenantPolicies(default_quota=default_quota, default_weight=default_weight, quotas=quotas, weights=weights)


@dataclass(frozen=True, slots=True)
class PoolState:
    """A pool of compute environments as the dispatcher knows it: its environments' maxvCpus (from Batch), the queue
    classes (job queue names) that fill it first, and what is admitted to those queues and not finished (the pool's
    counter item)."""

    name: str
    max_vcpus: int
    queues: tuple[str, ...]
    admitted: Resources = field(default_factory=Resources)
    gpus: int = 0


def pool_capacity(state: PoolState) -> Resources:
    return Resources(state.max_vcpus, state.max_vcpus * POOL_MEMORY_MIB_PER_VCPU, state.gpus)


def pool_margin(state: PoolState) -> Resources:
    """How much backlog beyond what the pool can run Batch is handed: a quarter of its vCPUs (at least one job's
    worth of a vCPU), so Batch sees demand to scale out on, and the rest waits with us, where priorities and quotas
    still apply."""
    vcpus = max(1, ceil(state.max_vcpus / 4))
    return Resources(vcpus, vcpus * POOL_MEMORY_MIB_PER_VCPU, ceil(state.gpus / 4))


def snapshot_of(
    jobs: Sequence[QueuedJob],
    accounts: Iterable[TenantAccount],
    pools: Iterable[PoolState],
    *,
    default_quota: Quota,
    rate_tokens: int,
) -> Snapshot:
    """The admission snapshot: queued jobs, each pool's room (capacity + margin - what is admitted and unfinished:
    running and RUNNABLE together, as one counter), tenants' usage and policies."""
    accounts = list(accounts)
    pool_map: dict[str, Pool] = {}
    queues: dict[str, QueueRoom] = {}
    for state in pools:
        pool_map[state.name] = Pool(
            name=state.name, capacity=pool_capacity(state), running=state.admitted, margin=pool_margin(state)
        )
        for queue in state.queues:
            queues[queue] = QueueRoom(queue_class=queue, pool=state.name)
    return Snapshot(
        jobs=tuple(jobs),
        pools=pool_map,
        queues=queues,
        usage={a.tenant: a.usage for a in accounts},
        policies=policies_of(accounts, default_quota),
        rate_tokens=rate_tokens,
    )


@dataclass(frozen=True, slots=True)
class Reservation:
    """SubmitJob slots granted by the account budget: the i-th call may be made at ``first_ms + i * interval_ms``."""

    first_ms: int
    count: int
    interval_ms: float

    def slot(self, index: int) -> float:
        return self.first_ms + index * self.interval_ms


def budget_interval_ms(rate_per_second: float) -> float:
    return 1000.0 / rate_per_second


def reservable(tat_ms: int, now_ms: int, interval_ms: float, horizon_ms: int = RESERVED_BUDGET_HORIZON_MS) -> int:
    """How many slots may be reserved now, given the budget's TAT: as many as fit before ``now + horizon``."""
    start = max(tat_ms, now_ms)
    return max(0, int((now_ms + horizon_ms - start) // interval_ms))


# ---- queues that are gone -------------------------------------------------------------------------------------------

# A job queue DescribeJobQueues lists with one of these statuses is on its way out: AWS deletes a queue only once it
# is DISABLED (SubmitJob refuses it), and terminates the jobs in it.
GONE_QUEUE_STATUSES = frozenset({"DELETING", "DELETED"})


def unplaced_queues(queue_arns: Iterable[str], layout: Iterable[PoolState]) -> set[str]:
    """Of queued jobs' job queues (ARNs), those the pools' layout does not know (by name, as the layout and the
    queue classes name them): a queue deleted (or a priority class dropped) since, or one created after the layout
    was read."""
    known = {q for p in layout for q in p.queues}
    return {arn for arn in queue_arns if arn.rsplit("/", 1)[-1] not in known}


def gone_queues(asked: Iterable[str], listed: Mapping[str, str]) -> dict[str, str | None]:
    """Of the job queues ``asked`` (ARNs), those that no longer exist, from a fresh DescribeJobQueues (``listed``:
    ARN -> status of every queue it returned): absent, or DELETING/DELETED. A queue that is merely DISABLED, INVALID
    or has no capacity exists: its jobs wait. ARN -> the status it was listed with (None: not listed)."""
    return {arn: listed.get(arn) for arn in sorted(asked) if arn not in listed or listed[arn] in GONE_QUEUE_STATUSES}


def queue_gone_reason(queue_arn: str, status: str | None) -> str:
    """The statusReason of a QUEUED job whose job queue no longer exists: the queue by name, what Batch said of it,
    and AWS's own refusal of a SubmitJob to a missing queue (ClientException ``JobQueue <queue> not found.``)."""
    name = queue_arn.rsplit("/", 1)[-1]
    seen = "DescribeJobQueues does not list it" if status is None else f"DescribeJobQueues lists it {status}"
    return (
        f"batchplane: job queue {name} no longer exists in AWS Batch ({seen}); a SubmitJob to it would be refused: "
        f"JobQueue {queue_arn} not found."
    )
