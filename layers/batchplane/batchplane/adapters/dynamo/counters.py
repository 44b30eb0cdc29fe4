"""The admission's counter items in the lineage table: a tenant's (``QUOTA#<tenant>``/``TENANT``: its queued count,
running usage per resource and class, an admin's quota and weight; the tenant listed in gsi1 ``QUOTAS#<shard>`` by
its registry item, ``QUOTA#<tenant>``/``LISTED``) and a pool's
(``POOL#<name>``/``POOL``: its admitted usage), and the counter updates that give an admitted job's usage back (one
transaction with the job's own ``admReleased``: admission.py's release, attempts.py's end-and-release)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batchplane.adapters.dynamo.items import Item, get_attr
from batchplane.domain.dispatch import TenantAccount
from batchplane.domain.models import Priority
from batchplane.domain.quotas import Quota, Resources
from batchplane.domain.records import JobRecord
from batchplane.domain.sweep_keys import bucket_key, bucket_keys

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

QUOTAS_INDEX_KEY = "QUOTAS"  # gsi1: every tenant's registry item (legacy: its counter item), for GET /quotas ...
# ... split into QUOTAS_SHARDS partition keys "QUOTAS#<n>" (n: the tenant's CRC-32). Every enqueue, admission and
# release rewrites its tenant's counter item, and gsi1 projects the whole item: under one key, 1,000 submissions a
# second were ~3,000 index writes a second on one partition (three times its limit). Each tenant's item moves to its
# shard at its next enqueue or quota change; the bare key is still read until then.
QUOTAS_SHARDS = 16
REGISTRY_SK = "LISTED"  # a tenant's item in the list of tenants (registry_item)
QUOTAS_KEYS = bucket_keys(QUOTAS_INDEX_KEY, QUOTAS_SHARDS)
QUOTA_ATTRS = (("qV", "max_running_vcpus"), ("qM", "max_running_memory_mib"), ("qG", "max_running_gpus"))
RESOURCE_ATTRS = (("rv", "vcpus"), ("rm", "memory_mib"), ("rg", "gpus"))


def quotas_index_key(tenant: str) -> str:
    """The gsi1 partition key that lists a tenant's counter item: its shard of ``QUOTAS``."""
    return bucket_key(QUOTAS_INDEX_KEY, tenant, QUOTAS_SHARDS)


def tenant_key(tenant: str) -> Item:
    return {"pk": {"S": f"QUOTA#{tenant}"}, "sk": {"S": "TENANT"}}


def registry_item(tenant: str) -> Item:
    """The tenant's entry in the list of tenants (gsi1 ``QUOTAS#<shard>``, for GET /quotas and the dispatcher's look
    at who has jobs queued): an item of its own beside its counters (``QUOTA#<tenant>``/``LISTED``), written the same
    every time, so that the counter item, rewritten at every submission, admission and release, is in no index.
    Counter items written before carry the gsi1 keys themselves until their tenant's next submission removes them."""
    return {
        "pk": {"S": f"QUOTA#{tenant}"},
        "sk": {"S": REGISTRY_SK},
        "tenant": {"S": tenant},
        "gsi1pk": {"S": quotas_index_key(tenant)},
        "gsi1sk": {"S": tenant},
    }


def pool_key(pool: str) -> Item:
    return {"pk": {"S": f"POOL#{pool}"}, "sk": {"S": "POOL"}}


def registered(known: set[str], table: str, tenant: str) -> list[TransactWriteItemTypeDef]:
    """The Put of the tenant's registry item, unless ``known`` (a container's tenants already written) holds it: the
    caller writes it in the transaction that counts the tenant's job, and adds the tenant once that is written."""
    return [] if tenant in known else [{"Put": {"TableName": table, "Item": registry_item(tenant)}}]


def number(value: int | float) -> Item:
    return {"N": str(value)}


def account_from_item(item: Item) -> TenantAccount:
    running: dict[Priority, Resources] = {}
    for p in Priority:
        amount = Resources(*(int(get_attr(item, f"{a}_{p.value}") or 0) for a, _ in RESOURCE_ATTRS))
        if amount != Resources():
            running[p] = amount
    quota = None
    if any(k in item for k, _ in QUOTA_ATTRS) or "qQ" in item:
        quota = Quota(
            max_running_vcpus=get_attr(item, "qV"),
            max_running_memory_mib=get_attr(item, "qM"),
            max_running_gpus=get_attr(item, "qG"),
            max_queued_jobs=get_attr(item, "qQ"),
        )
    weight = get_attr(item, "weight")
    return TenantAccount(
        tenant=str(get_attr(item, "tenant")),
        queued=max(0, int(get_attr(item, "queued") or 0)),
        running=running,
        quota=quota,
        weight=float(weight) if weight is not None else None,
    )


def release_counter_updates(table: str, job: JobRecord) -> list[dict[str, Any]]:
    """The TransactWriteItems actions that give back what an admitted job holds: its tenant's and its pool's
    counters lowered by its admission (none when it holds no resources). Made once per job only by a transaction
    whose write of the job itself is conditional on ``attribute_not_exists(admReleased)`` and sets it."""
    adm = job.admission or {}
    priority = adm.get("priority", job.priority)
    need = Resources(int(adm.get("vcpus", 0)), int(adm.get("memoryMiB", 0)), int(adm.get("gpus", 0)))
    adds: list[str] = []
    values: dict[str, Any] = {}
    for attr, resource in RESOURCE_ATTRS:
        amount = need.get(resource)
        if amount > 0:
            adds += [f"{attr} :{attr}", f"{attr}_{priority} :{attr}"]
            values[f":{attr}"] = number(-amount)
    if not adds:
        return []
    pool_adds = [a for a in adds if "_" not in a.split(" ")[0]]
    return [
        {
            "Update": {
                "TableName": table,
                "Key": tenant_key(job.tenant),
                "UpdateExpression": "ADD " + ", ".join(adds),
                "ExpressionAttributeValues": values,
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": pool_key(adm.get("pool", "")),
                "UpdateExpression": "ADD " + ", ".join(pool_adds),
                "ExpressionAttributeValues": values,
            }
        },
    ]
