"""Tenant quotas: what one tenant may hold at once, and the enqueue check behind POST /jobs's 429. Pure data and
arithmetic: no clock, no environment, no AWS.

A tenant's quota limits what it has *running* (admitted to Batch and not finished: SUBMITTED through RUNNING) in
vCPUs, memory and GPUs, and how many of its jobs may wait QUEUED in batchplane. Over the queued limit a new job is
refused (429, naming the quota); over a running limit a queued job simply waits (see `batchplane.domain.admission`).
The default quota comes from a template parameter; admins set per-tenant overrides and fair-share weights. An
override is a whole `Quota` (the admin API merges a partial change into the tenant's current quota before saving).
``None`` means "no limit"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from batchplane.domain.models import Priority

RESOURCES = ("vcpus", "memory_mib", "gpus")


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of the three resources Batch schedules by."""

    vcpus: int = 0
    memory_mib: int = 0
    gpus: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.vcpus + other.vcpus, self.memory_mib + other.memory_mib, self.gpus + other.gpus)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.vcpus - other.vcpus, self.memory_mib - other.memory_mib, self.gpus - other.gpus)

    def __str__(self) -> str:
        gpus = f", {self.gpus} GPU" if self.gpus else ""
        return f"{self.vcpus} vCPU, {self.memory_mib} MiB{gpus}"

    def get(self, resource: str) -> int:
        return int(getattr(self, resource))

    def fits_in(self, room: Resources) -> bool:
        """Every resource this amount asks for (> 0) is within ``room``; a resource it does not ask for is never
        checked (a CPU job is not held because GPUs are short)."""
        return all(self.get(r) <= room.get(r) for r in RESOURCES if self.get(r) > 0)

    @staticmethod
    def sum(amounts: Iterable[Resources]) -> Resources:
        out = Resources()
        for amount in amounts:
            out += amount
        return out


class QuotaName(StrEnum):
    """Quota names as the admin API and problem answers spell them."""

    MAX_QUEUED_JOBS = "maxQueuedJobs"
    MAX_RUNNING_VCPUS = "maxRunningVcpus"
    MAX_RUNNING_MEMORY_MIB = "maxRunningMemoryMiB"
    MAX_RUNNING_GPUS = "maxRunningGpus"


QUOTA_OF_RESOURCE: Mapping[str, QuotaName] = MappingProxyType(
    {
        "vcpus": QuotaName.MAX_RUNNING_VCPUS,
        "memory_mib": QuotaName.MAX_RUNNING_MEMORY_MIB,
        "gpus": QuotaName.MAX_RUNNING_GPUS,
    }
)


@dataclass(frozen=True, slots=True)
class Quota:
    """One tenant's limits; None is unlimited."""

    max_running_vcpus: int | None = None
    max_running_memory_mib: int | None = None
    max_running_gpus: int | None = None
    max_queued_jobs: int | None = None

    def __post_init__(self) -> None:
        limits = (self.max_running_vcpus, self.max_running_memory_mib, self.max_running_gpus, self.max_queued_jobs)
        if any(limit is not None and limit < 0 for limit in limits):
            msg = "quota limits are counts: 0 or more, or None for no limit"
            raise ValueError(msg)

    def running_limit(self, resource: str) -> int | None:
        return {
            "vcpus": self.max_running_vcpus,
            "memory_mib": self.max_running_memory_mib,
            "gpus": self.max_running_gpus,
        }[resource]

    def first_exceeded(self, running: Resources, need: Resources) -> str | None:
        """The first resource (vcpus, memory, gpus) that ``need`` on top of ``running`` would take over its limit;
        resources the job does not ask for are not checked."""
        for resource in RESOURCES:
            limit = self.running_limit(resource)
            if need.get(resource) > 0 and limit is not None and running.get(resource) + need.get(resource) > limit:
                return resource
        return None


@dataclass(frozen=True, slots=True)
class TenantPolicies:
    """The default quota (template parameter) and what admins set per tenant: quota overrides and fair-share weights
    (a weight-2 tenant is entitled to twice a weight-1 tenant's share of contended capacity)."""

    default_quota: Quota = field(default_factory=Quota)
    default_weight: float = 1.0
    quotas: Mapping[str, Quota] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [w for w in (self.default_weight, *self.weights.values()) if not 0 < w < float("inf")]
        if bad:
            msg = f"fair-share weights must be positive and finite, not {bad[0]!r}"
            raise ValueError(msg)

    def quota(self, tenant: str) -> Quota:
        return self.quotas.get(tenant, self.default_quota)

    def weight(self, tenant: str) -> float:
        return self.weights.get(tenant, self.default_weight)


@dataclass(frozen=True, slots=True)
class TenantUsage:
    """What one tenant holds now: ``running`` per priority class (admitted to Batch and not finished), and how many of
    its jobs wait QUEUED in batchplane."""

    tenant: str
    running: Mapping[Priority, Resources] = field(default_factory=dict)
    queued: int = 0

    @property
    def running_total(self) -> Resources:
        return Resources.sum(self.running.values())


@dataclass(frozen=True, slots=True)
class QuotaExceeded:
    """A job refused at enqueue, naming the quota: ``status`` 429 when waiting helps (the tenant's queue drains),
    422 when it never will (the job alone asks more than the tenant may ever run)."""

    quota: QuotaName
    limit: int
    used: int
    requested: int
    status: int

    @property
    def detail(self) -> str:
        if self.quota is QuotaName.MAX_QUEUED_JOBS:
            return (
                f"tenant quota {self.quota.value} is {self.limit} and {self.used} job(s) are already queued: "
                "retry when some have started"
            )
        return (
            f"the job asks for {self.requested} against tenant quota {self.quota.value} of {self.limit}: "
            "it could never be admitted"
        )


def check_enqueue(usage: TenantUsage, quota: Quota, need: Resources | None = None) -> QuotaExceeded | None:
    """May the tenant enqueue one more job (asking ``need``)? None when it may.

    Rules, in order: 1. a job that alone exceeds a running quota could never be admitted: refused 422 (waiting would
    not help); 2. at ``maxQueuedJobs`` already queued: refused 429. The count is the caller's snapshot; two racing
    enqueues may both pass (the dispatcher never admits past the running quotas, so a race costs queue length only)."""
    if need is not None:
        for resource in RESOURCES:
            limit = quota.running_limit(resource)
            if limit is not None and need.get(resource) > limit:
                return QuotaExceeded(QUOTA_OF_RESOURCE[resource], limit, 0, need.get(resource), 422)
    if quota.max_queued_jobs is not None and usage.queued + 1 > quota.max_queued_jobs:
        return QuotaExceeded(QuotaName.MAX_QUEUED_JOBS, quota.max_queued_jobs, usage.queued, 1, 429)
    return None
