"""Tenant quotas and fair-share weights: what admins read and set (PUT /quotas/{tenant} merges a partial change
into the tenant's current quota), with each tenant's usage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batchplane.domain.models import Priority
from batchplane.domain.quotas import Quota, Resources

if TYPE_CHECKING:
    from batchplane.domain.dispatch import TenantAccount
    from batchplane.domain.ports import AdmissionStore

_FIELDS = {
    "maxRunningVcpus": "max_running_vcpus",
    "maxRunningMemoryMiB": "max_running_memory_mib",
    "maxRunningGpus": "max_running_gpus",
    "maxQueuedJobs": "max_queued_jobs",
}


@dataclass(frozen=True, slots=True)
class QuotaChange:
    """A partial change: only the fields given change; None in ``clear`` removes an override (back to default)."""

    values: dict[str, int | None]  # API field name -> limit (None: no limit)
    weight: float | None = None
    clear_weight: bool = False
    reset: bool = False  # drop every override first (back to the defaults)


class QuotaService:
    def __init__(self, *, store: AdmissionStore, default_quota: Quota, default_weight: float = 1.0) -> None:
        self._store = store
        self._default = default_quota
        self._default_weight = default_weight

    def get(self, tenant: str) -> dict[str, Any]:
        return self._view(self._store.account(tenant))

    def list(self) -> dict[str, Any]:
        return {
            "default": self._limits(self._default),
            "defaultWeight": self._default_weight,
            "tenants": [self._view(a) for a in sorted(self._store.accounts(), key=lambda a: a.tenant)],
        }

    def put(self, tenant: str, change: QuotaChange) -> dict[str, Any]:
        current = self._store.account(tenant)
        base = Quota() if change.reset or current.quota is None else current.quota
        if current.quota is None and not change.reset:
            base = self._default
        merged = {name: getattr(base, name) for name in _FIELDS.values()}
        for api, value in change.values.items():
            merged[_FIELDS[api]] = value
        weight = None if change.clear_weight else (change.weight if change.weight is not None else current.weight)
        return self._view(self._store.put_quota(tenant, Quota(**merged), weight))

    def _limits(self, quota: Quota) -> dict[str, int | None]:
        return {api: getattr(quota, name) for api, name in _FIELDS.items()}

    def _view(self, account: TenantAccount) -> dict[str, Any]:
        quota = account.quota or self._default
        running = Resources.sum(account.running.values())
        return {
            "tenant": account.tenant,
            "quota": self._limits(quota),
            "overridden": account.quota is not None,
            "weight": account.weight if account.weight is not None else self._default_weight,
            "usage": {
                "queuedJobs": account.queued,
                "runningVcpus": running.vcpus,
                "runningMemoryMiB": running.memory_mib,
                "runningGpus": running.gpus,
                "byPriority": {
                    p.value: {"vcpus": r.vcpus, "memoryMiB": r.memory_mib, "gpus": r.gpus}
                    for p, r in sorted(account.running.items(), key=lambda kv: list(Priority).index(kv[0]))
                },
            },
        }
