"""A dispatcher tick's admissions as one TransactWriteItems: each job QUEUED → SUBMITTED (conditional on it still
QUEUED on the queue the snapshot read, and not cancelled), and each tenant's and pool's counters changed once for all
of its jobs, the tenant's running quotas as conditions on the sum.

Why one transaction and not one a job: a transaction bills 2 write units per item, and each admission used to write
its tenant's and its pool's counter items besides the job (6 units, and a gsi1 write of the tenant's item); a tick
that admits 20 jobs of one tenant into one pool now writes those two items once (docs/costs.md). It is as exact: the
counters move in the same transaction as the jobs they count, or nothing is written. When the transaction is refused
(a job no longer QUEUED, a quota raced, a conflicting write), each job is tried again in a transaction of its own, as
before, so one refused job costs the others nothing but a second write."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batchplane.adapters.dynamo.counters import RESOURCE_ATTRS, number, pool_key, tenant_key
from batchplane.adapters.dynamo.items import (
    ACTIVE,
    IN_BUCKET,
    NOT_CANCELLED,
    NOT_CANCELLED_VALUES,
    QUEUED,
    error_code,
    job_key,
)
from batchplane.domain.models import JobStatus
from batchplane.domain.ports import GRANTS_PER_ADMIT, Grant
from batchplane.domain.sweep_keys import SweepIndex
from batchplane.domain.timestamps import iso_to_ms

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def job_action(table: str, sweep: SweepIndex, grant: Grant, now: str) -> dict[str, Any]:
    """The job's own update: SUBMITTED, filed in its sweeper shard due a repair window from now (nothing may reach
    Batch), holding what it was admitted with (``adm``), on the condition it is still QUEUED on the queue the
    snapshot read (a job re-prioritised meanwhile waits for the next tick) and not cancelled."""
    job, need = grant.job, grant.need
    adm = {"pool": grant.pool, "priority": job.priority, "vcpus": need.vcpus, "memoryMiB": need.memory_mib}
    adm["gpus"] = need.gpus
    return {
        "Update": {
            "TableName": table,
            "Key": job_key(job.job_id),
            "UpdateExpression": (
                "SET #st = :sub, gsi2pk = :active, gsi2sk = :created, updatedAt = :now, adm = :adm REMOVE statusReason"
            ),
            "ConditionExpression": f"{IN_BUCKET.format(':queued')} AND queueArn = :qa AND {NOT_CANCELLED}",
            "ExpressionAttributeNames": {"#st": "status"},
            "ExpressionAttributeValues": {
                **NOT_CANCELLED_VALUES,
                ":sub": {"S": JobStatus.SUBMITTED.value},
                ":active": {"S": sweep.key(ACTIVE, job.job_id)},
                ":created": {"S": sweep.active_sort_key(iso_to_ms(now), job.job_id, heard=False)},
                ":now": {"S": now},
                ":queued": {"S": QUEUED},
                ":qa": {"S": job.queue_arn},
                ":adm": {"M": {k: {"S": str(v)} for k, v in adm.items()}},
            },
        }
    }


def counter_actions(table: str, grants: Sequence[Grant]) -> list[dict[str, Any]]:
    """Each tenant's counters (queued down by its jobs, running up by their needs, in all and per class) and each
    pool's (up), once per item. A tenant's running quota is a condition on its sum: room for all of its jobs here."""
    tenants: dict[str, list[Grant]] = {}
    pools: dict[str, dict[str, int]] = {}
    for grant in grants:
        tenants.setdefault(grant.job.tenant, []).append(grant)
        held = pools.setdefault(grant.pool, {})
        for attr, resource in RESOURCE_ATTRS:
            if (amount := grant.need.get(resource)) > 0:
                held[attr] = held.get(attr, 0) + amount
    actions: list[dict[str, Any]] = []
    for tenant, own in tenants.items():
        sums: dict[str, int] = {"queued": -len(own)}
        for grant in own:
            for attr, resource in RESOURCE_ATTRS:
                if (amount := grant.need.get(resource)) > 0:
                    sums[attr] = sums.get(attr, 0) + amount
                    per_class = f"{attr}_{grant.job.priority}"
                    sums[per_class] = sums.get(per_class, 0) + amount
        update: dict[str, Any] = {
            "TableName": table,
            "Key": tenant_key(tenant),
            "UpdateExpression": "ADD " + ", ".join(f"{a} :{a}" for a in sums),
            "ExpressionAttributeValues": {f":{a}": number(v) for a, v in sums.items()},
        }
        conditions = []
        for attr, resource in RESOURCE_ATTRS:
            limit = own[0].quota.running_limit(resource)
            if attr in sums and limit is not None:
                room = limit - sums[attr]
                update["ExpressionAttributeValues"][f":max_{attr}"] = number(room)
                # over the limit by itself: a condition no item meets (a missing count compares false)
                fits = f"{attr} <= :max_{attr}"
                conditions.append(fits if room < 0 else f"(attribute_not_exists({attr}) OR {fits})")
        if conditions:
            update["ConditionExpression"] = " AND ".join(conditions)
        actions.append({"Update": update})
    for pool, held in pools.items():
        if held:
            actions.append(
                {
                    "Update": {
                        "TableName": table,
                        "Key": pool_key(pool),
                        "UpdateExpression": "ADD " + ", ".join(f"{a} :{a}" for a in held),
                        "ExpressionAttributeValues": {f":{a}": number(v) for a, v in held.items()},
                    }
                }
            )
    return actions


def request_token(grants: Sequence[Grant], now: str) -> str:
    """The transaction's idempotency token (36 characters at most): an SDK retry of this very write is answered, not
    made again. A digest of the write's time and jobs: a later tick's write of the same jobs (after one refused) has
    a token of its own, where reusing one within DynamoDB's 10 minutes with other values (its time) would be refused
    as IdempotentParameterMismatch."""
    text = "|".join([now, *(g.job.job_id for g in grants)])
    return f"admit-{hashlib.blake2b(text.encode(), digest_size=15).hexdigest()}"


class Admitter:
    """Writes admissions: all of a tick's (up to GRANTS_PER_ADMIT) in one transaction, else each in its own."""

    def __init__(self, client: DynamoDBClient, table: str, sweep: SweepIndex) -> None:
        self._db = client
        self._table = table
        self._sweep = sweep

    def admit(self, grants: Sequence[Grant], now: str) -> list[bool]:
        if not grants:
            return []
        if len(grants) > GRANTS_PER_ADMIT or len({g.job.job_id for g in grants}) < len(grants):
            msg = f"one admission write takes 1 to {GRANTS_PER_ADMIT} distinct jobs, not {len(grants)}"
            raise ValueError(msg)
        if self._transact(grants, now):
            return [True] * len(grants)
        if len(grants) == 1:
            return [False]
        return [self._transact([grant], now) for grant in grants]

    def _transact(self, grants: Sequence[Grant], now: str) -> bool:
        items = [job_action(self._table, self._sweep, g, now) for g in grants] + counter_actions(self._table, grants)
        try:
            self._db.transact_write_items(TransactItems=items, ClientRequestToken=request_token(grants, now))  # type: ignore[arg-type]
        except ClientError as err:
            if error_code(err) == "TransactionCanceledException":
                return False
            raise
        return True
