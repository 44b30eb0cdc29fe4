"""The AdmissionStore port over the lineage table: a job enqueued QUEUED with its tenant's queued count (one
transaction), the dispatcher's reads (the QUEUED bucket of gsi2, tenants' and pools' counter items), a job's admission
(one transaction: the job QUEUED → SUBMITTED, its tenant's and pool's counters up, the tenant's running quotas as
conditions) and its release (one transaction, once per job: conditional on the job's own ``admReleased`` flag).

Items (their keys, and the updates that give usage back: counters.py): ``QUOTA#<tenant>``/``TENANT`` (counters
``queued``, ``rv``/``rm``/``rg`` and per class ``rv_<class>``...; admins' ``qV``/``qM``/``qG``/``qQ`` and
``weight``; listed by gsi1 ``QUOTAS#<shard>``), ``POOL#<name>``/``POOL`` (admitted ``rv``/``rm``/``rg``),
``ADMISSION``/``POOLS`` (the pools' layout from Batch, cached)."""

from __future__ import annotations

import contextvars
import functools
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batchplane.adapters.dynamo.admit import Admitter
from batchplane.adapters.dynamo.counters import (
    QUOTA_ATTRS,
    QUOTAS_KEYS,
    REGISTRY_SK,
    RESOURCE_ATTRS,
    account_from_item,
    number,
    pool_key,
    registered,
    registry_item,
    release_counter_updates,
    tenant_key,
)
from batchplane.adapters.dynamo.items import (
    BRIEF,
    DEFAULT_SWEEP_INDEX,
    IN_BUCKET,
    NOT_CANCELLED,
    NOT_CANCELLED_VALUES,
    QUEUED,
    RELEASE,
    Item,
    batch_get,
    conditional,
    error_code,
    expires_at,
    get_attr,
    job_from_item,
    job_key,
    job_to_item,
    listed_as,
    listing_item,
)
from batchplane.adapters.dynamo.leases import LeasesAndBuckets
from batchplane.domain.dispatch import PoolState, TenantAccount
from batchplane.domain.errors import QuotaExceededError
from batchplane.domain.models import Capacity, JobStatus
from batchplane.domain.ports import Grant, QueuedPage
from batchplane.domain.quotas import Quota, QuotaName, Resources
from batchplane.domain.records import JobRecord
from batchplane.domain.sweep_keys import SweepIndex, bucket_key, bucket_keys

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# QUEUED (items.py), the gsi2 bucket of jobs waiting for admission, is split into QUEUED_SHARDS partition keys
# "QUEUED#<n>" (n: the job id's CRC-32, as the sweeper's buckets are):
# at 1,000 submissions a second of ~2-3 KB items one key would take ~3,000 write units a second on the index, three
# times a partition's 1,000; four keys take ~750 each. Items enqueued before sharding keep the bare "QUEUED" key,
# which is read too until they are admitted or cancelled.
QUEUED_SHARDS = 4
QUEUED_KEYS = bucket_keys(QUEUED, QUEUED_SHARDS)
SHARD_KEYS = tuple(k for k in QUEUED_KEYS if k != QUEUED)  # without the bare key


@functools.cache
def _readers() -> ThreadPoolExecutor:
    """The container's threads for reads made at once (made on first use: none on the cold path)."""
    return ThreadPoolExecutor(max_workers=len(QUEUED_KEYS), thread_name_prefix="queued-read")


def _at_once[T](calls: Iterable[Callable[[], T]]) -> list[T]:
    """Each call made in a thread of its own (the caller's context with it: what a call reads of
    it, X-Ray's segment among others), the answers in the calls' order; the first error is raised."""
    futures = [_readers().submit(contextvars.copy_context().run, call) for call in calls]
    return [future.result() for future in futures]


def queued_key(job_id: str) -> str:
    """The gsi2 partition key of a QUEUED job: its shard of the bucket."""
    return bucket_key(QUEUED, job_id, QUEUED_SHARDS)


IS_QUEUED = IN_BUCKET  # a condition on gsi2pk: "begins_with(gsi2pk, :q)" with :q the bare bucket name


def queued_sort_key(enqueued_ms: int, job_id: str) -> str:
    return f"{enqueued_ms:013d}#{job_id}"


class DynamoAdmission(LeasesAndBuckets):
    """AdmissionStore over one DynamoDB table (its lease: ``LEASE#dispatcher``)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        retention_days: int = 90,
        sweep: SweepIndex = DEFAULT_SWEEP_INDEX,
    ) -> None:
        self._db = client
        self._table = table_name
        self._retention_days = retention_days
        self._sweep = sweep
        self._registered: set[str] = set()  # tenants this container has listed (registry_item): once each
        self._admitter = Admitter(client, table_name, sweep)

    # ---- enqueue (the gateway) ---------------------------------------------------------------------------------

    def enqueue(self, job: JobRecord, enqueued_ms: int, default_max_queued: int | None) -> JobRecord | None:
        """Create the job QUEUED and count it in its tenant's queued jobs: one TransactWriteItems. None when created
        (or when this very request's write was applied and its answer lost); the existing job when the id is taken;
        QuotaExceededError (429, naming maxQueuedJobs) when the tenant's queue is full. The job's entry in its
        tenant's listing is an item of its own, written in the same transaction (``items.listing_item``)."""
        item = job_to_item(job, listed=False)
        item["gsi2pk"] = {"S": queued_key(job.job_id)}
        item["gsi2sk"] = {"S": queued_sort_key(enqueued_ms, job.job_id)}
        values: dict[str, Any] = {":one": number(1), ":t": {"S": job.tenant}}
        condition = "attribute_not_exists(qQ) OR queued < qQ"
        if default_max_queued is not None:
            values[":dq"] = number(default_max_queued)
            condition = "(attribute_not_exists(qQ) AND (attribute_not_exists(queued) OR queued < :dq)) OR queued < qQ"
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": tenant_key(job.tenant),
                            "UpdateExpression": "SET tenant = :t ADD queued :one REMOVE gsi1pk, gsi1sk",
                            "ConditionExpression": condition,
                            "ExpressionAttributeValues": values,
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": listing_item(job, self._retention_days)}},
                    # the tenant listed among the tenants, by this container's first write for it (the same item
                    # every time: another container's write changes nothing an index holds); its counter item,
                    # listed by itself before, leaves gsi1 above
                    *registered(self._registered, self._table, job.tenant),
                ],
                # an SDK retry of a write whose answer was lost is recognised by DynamoDB (for 10 minutes)
                ClientRequestToken=(job.claim_token or job.job_id)[:36],
            )
        except ClientError as err:
            if error_code(err) != "TransactionCanceledException":
                raise
            reasons: list[Any] = list(err.response.get("CancellationReasons") or [])
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                old = reasons[0].get("Item")
                existing = job_from_item(old) if old else self.get_job(job.job_id)
                if existing is None:
                    raise
                if job.claim_token and existing.claim_token == job.claim_token:
                    return None
                return existing
            if len(reasons) > 1 and reasons[1].get("Code") == "ConditionalCheckFailed":
                old = reasons[1].get("Item") or {}
                limit = get_attr(old, "qQ")
                limit = int(limit) if limit is not None else default_max_queued or 0
                used = int(get_attr(old, "queued") or 0)
                raise QuotaExceededError(
                    f"tenant quota {QuotaName.MAX_QUEUED_JOBS.value} is {limit} and {used} job(s) are already "
                    "queued: retry when some have started",
                    quota=QuotaName.MAX_QUEUED_JOBS.value,
                    limit=limit,
                    used=used,
                ) from err
            raise
        self._registered.add(job.tenant)
        return None

    def get_job(self, job_id: str) -> JobRecord | None:
        out = self._db.get_item(TableName=self._table, Key=job_key(job_id), ConsistentRead=True)
        item = out.get("Item")
        return job_from_item(item) if item else None

    def cancel_queued(self, job: JobRecord, reason: str, now: str) -> JobRecord | None:
        """End a QUEUED, cancel-requested job CANCELLED and take it off its tenant's queued count: one transaction,
        conditional on it still being QUEUED (None when the dispatcher admitted it first)."""
        return self._end_queued(
            job,
            {
                "UpdateExpression": (
                    "SET #st = :c, statusReason = :r, updatedAt = :now, expiresAt = :exp REMOVE gsi2pk, gsi2sk"
                ),
                "ConditionExpression": f"{IS_QUEUED.format(':q')} AND cancelRequested = :yes",
                "ExpressionAttributeNames": {"#st": "status"},
                "ExpressionAttributeValues": {
                    ":c": {"S": JobStatus.CANCELLED.value},
                    ":r": {"S": reason[:2048]},
                    ":now": {"S": now},
                    ":exp": {"N": expires_at(now, self._retention_days)},
                    ":q": {"S": QUEUED},
                    ":yes": {"BOOL": True},
                },
            },
        )

    def fail_queued(self, job: JobRecord, *, failure_class: str, reason: str, now: str) -> JobRecord | None:
        """End a QUEUED job FAILED before it reached Batch (its job queue is gone) and take it off its tenant's queued
        count: one transaction, conditional on it still being QUEUED on the queue it was read with and not cancelled,
        so a re-prioritisation or a cancel that lands first wins (None then). Its current attempt is recorded FAILED
        with the same reason and failure class; it holds no admission, so there is nothing else to give back."""
        return self._end_queued(
            job,
            {
                "UpdateExpression": (
                    "SET #st = :f, statusReason = :r, updatedAt = :now, expiresAt = :exp, "
                    "att.#n.#st = :f, att.#n.statusReason = :r, att.#n.failureClass = :fc "
                    "REMOVE gsi2pk, gsi2sk"
                ),
                "ConditionExpression": (
                    f"{IS_QUEUED.format(':q')} AND queueArn = :qa AND currentAttempt = :n AND {NOT_CANCELLED}"
                ),
                "ExpressionAttributeNames": {"#st": "status", "#n": str(job.current_attempt)},
                "ExpressionAttributeValues": {
                    **NOT_CANCELLED_VALUES,
                    ":f": {"S": JobStatus.FAILED.value},
                    ":r": {"S": reason[:2048]},
                    ":fc": {"S": failure_class},
                    ":now": {"S": now},
                    ":exp": {"N": expires_at(now, self._retention_days)},
                    ":q": {"S": QUEUED},
                    ":qa": {"S": job.queue_arn},
                    ":n": number(job.current_attempt),
                },
            },
            token=f"gone-{job.job_id}"[:36],
        )

    def _end_queued(self, job: JobRecord, update: dict[str, Any], *, token: str | None = None) -> JobRecord | None:
        """A QUEUED job ended (``update``: its conditional write) and taken off its tenant's queued count, in one
        transaction; the job as it then is, or None when the condition did not hold."""
        record: dict[str, Any] = {"TableName": self._table, "Key": job_key(job.job_id), **update}
        tenant = {
            "TableName": self._table,
            "Key": tenant_key(job.tenant),
            "UpdateExpression": "ADD queued :minus",
            "ExpressionAttributeValues": {":minus": number(-1)},
        }
        actions: list[Any] = [{"Update": record}, {"Update": tenant}]
        try:
            if token is None:
                self._db.transact_write_items(TransactItems=actions)
            else:
                self._db.transact_write_items(TransactItems=actions, ClientRequestToken=token)
        except ClientError as err:
            if error_code(err) == "TransactionCanceledException":
                return None
            raise
        return self.get_job(job.job_id)

    # ---- the dispatcher's reads ----------------------------------------------------------------------------------

    def queued(
        self, limit: int, *, since_ms: int | None = None, known: Mapping[str, JobRecord] | None = None
    ) -> list[JobRecord]:
        """About the oldest ``limit`` QUEUED jobs (gsi2, eventually consistent: the admission write decides), each
        shard's oldest share of them merged in enqueue order; with ``since_ms``, only those enqueued (or listed again:
        released, re-prioritised) after it. One Query per shard key (a page each, unless more are listed). The bare
        key of jobs queued before sharding is read by whole reads only: nothing lists a job there any more (a
        re-prioritised one moves to its shard), so its recent end is always empty; a job an older gateway still
        queued there during an upgrade waits for the next whole read (every FULL_READ_SECONDS), as one an eventually
        consistent read missed does. An idle tick makes 4 Queries, not 5.

        With ``known`` (the caller's jobs by id), the Queries return only what tells a job's version (``BRIEF``):
        a job held as listed comes from ``known``, the others from the table (a consistent BatchGetItem; one no
        longer QUEUED is left out). Each tick re-reads entries read before, which cost more than the rest of it."""
        per_shard = -(-limit * 5 // (4 * QUEUED_SHARDS))  # a quarter more than an even share: shards are uneven
        keys = QUEUED_KEYS if since_ms is None else SHARD_KEYS
        brief = known is not None
        # the keys are read at once, not one after another: a tick waited for five round trips in a row
        reads = [
            functools.partial(self._queued_items, key, limit if key == QUEUED else per_shard, since_ms, brief)
            for key in keys
        ]
        items = [item for got in _at_once(reads) for item in got]
        items.sort(key=lambda i: str(get_attr(i, "gsi2sk")))
        if known is None:
            return [job_from_item(i) for i in items[:limit]]
        listed = [(str(get_attr(i, "pk")).removeprefix("JOB#"), i) for i in items[:limit]]
        held = {j: known[j] for j, i in listed if listed_as(known.get(j), i)}
        unread = [job_key(j) for j, _ in listed if j not in held]
        fresh = {
            job.job_id: job
            for job in map(job_from_item, batch_get(self._db, self._table, unread, ConsistentRead=True))
            if job.status is JobStatus.QUEUED
        }
        return [job for j, _ in listed if (job := held.get(j) or fresh.get(j))]

    def _queued_items(self, key: str, limit: int, since_ms: int | None, brief: bool = False) -> list[Item]:
        condition = "gsi2pk = :q"
        values: dict[str, Any] = {":q": {"S": key}}
        if since_ms is not None:
            condition += " AND gsi2sk > :since"
            values[":since"] = {"S": f"{max(0, since_ms):013d}"}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi2",
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "Limit": limit,
            **(BRIEF if brief else {}),
        }
        items: list[Item] = []
        while len(items) < limit:
            page = self._db.query(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            kwargs["Limit"] = limit - len(items)
        return items[:limit]

    def queued_page(self, after: dict[str, str | None], limit: int) -> QueuedPage:
        """One page of the QUEUED listing past ``after``, a shard's next share of ``limit`` each (one Query per
        shard key not read to its end; eventually consistent: the admission write decides)."""
        per_shard = max(1, -(-limit // len(QUEUED_KEYS)))
        jobs: list[tuple[str, str, JobRecord]] = []
        ends: dict[str, str | None] = {}
        for key in QUEUED_KEYS:
            start = after.get(key, "")
            if start is None:
                ends[key] = None
                continue
            condition, values = "gsi2pk = :q", {":q": {"S": key}}
            if start:  # a key condition may not compare with an empty string: a shard not begun is read from its start
                condition, values[":after"] = condition + " AND gsi2sk > :after", {"S": start}
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": "gsi2",
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "Limit": per_shard,
            }
            page = self._db.query(**kwargs)
            jobs += [(key, str(get_attr(item, "gsi2sk")), job_from_item(item)) for item in page.get("Items", [])]
            last = page.get("LastEvaluatedKey")
            ends[key] = str(get_attr(last, "gsi2sk")) if last else None
        return QueuedPage(jobs, ends)

    def counters(
        self, tenants: Collection[str], pools: Collection[str]
    ) -> tuple[dict[str, TenantAccount], dict[str, Resources]]:
        """Tenants' and pools' counter items, read strongly consistent (one BatchGetItem per 100 keys)."""
        keys = [tenant_key(t) for t in sorted(tenants)] + [pool_key(p) for p in sorted(pools)]
        accounts: dict[str, TenantAccount] = {}
        admitted: dict[str, Resources] = {}
        for item in batch_get(self._db, self._table, keys, ConsistentRead=True):
            pk = str(get_attr(item, "pk"))
            if pk.startswith("QUOTA#"):
                account = account_from_item(item)
                accounts[account.tenant] = account
            else:
                admitted[pk.removeprefix("POOL#")] = Resources(
                    *(max(0, int(get_attr(item, a) or 0)) for a, _ in RESOURCE_ATTRS)
                )
        return accounts, admitted

    def accounts(self) -> list[TenantAccount]:
        """Every tenant that has submitted or has a quota set: its registry item (or, written before, its counter
        item) in gsi1 ``QUOTAS#<n>`` or the bare ``QUOTAS``, one Query per key; then the counters of those listed by
        a registry item, one consistent BatchGetItem per 100. A tenant listed twice by the eventually consistent
        index (an item moving between keys, a counter item not yet out of it) is listed once."""
        out: dict[str, TenantAccount] = {}
        listed: set[str] = set()
        for key in QUOTAS_KEYS:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": "gsi1",
                "KeyConditionExpression": "gsi1pk = :q",
                "ExpressionAttributeValues": {":q": {"S": key}},
            }
            while True:
                page = self._db.query(**kwargs)
                for item in page.get("Items", []):
                    if get_attr(item, "sk") == REGISTRY_SK:
                        listed.add(str(get_attr(item, "tenant")))
                    else:
                        account = account_from_item(item)
                        out.setdefault(account.tenant, account)
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        counted, _ = self.counters(listed, ())
        out.update(counted)  # the counter item read consistently is the newer
        for tenant in listed - out.keys():
            out[tenant] = TenantAccount(tenant)  # listed, nothing counted yet
        return list(out.values())

    def account(self, tenant: str) -> TenantAccount:
        out = self._db.get_item(TableName=self._table, Key=tenant_key(tenant), ConsistentRead=True)
        item = out.get("Item")
        return account_from_item(item) if item else TenantAccount(tenant)

    def put_quota(self, tenant: str, quota: Quota, weight: float | None) -> TenantAccount:
        """An admin's override: the tenant's whole quota (None: no limit) and weight (None: the default)."""
        if tenant not in self._registered:  # listed by its registry item (its counter item leaves gsi1 below)
            self._db.put_item(TableName=self._table, Item=registry_item(tenant))
            self._registered.add(tenant)
        sets = ["tenant = :t", "queued = if_not_exists(queued, :zero)"]
        removes: list[str] = ["gsi1pk", "gsi1sk"]  # listed by its registry item
        values: dict[str, Any] = {":t": {"S": tenant}, ":zero": number(0)}
        fields = (*QUOTA_ATTRS, ("qQ", "max_queued_jobs"))
        for attr, name in fields:
            value = getattr(quota, name)
            if value is None:
                removes.append(attr)
            else:
                sets.append(f"{attr} = :{attr}")
                values[f":{attr}"] = number(value)
        if weight is None:
            removes.append("weight")
        else:
            sets.append("weight = :w")
            values[":w"] = number(weight)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        out = self._db.update_item(
            TableName=self._table,
            Key=tenant_key(tenant),
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return account_from_item(out["Attributes"])

    # ---- admission and release -----------------------------------------------------------------------------------

    def fall_back(self, job: JobRecord, *, queue_arn: str, why: str, now: str) -> bool:
        """The queue move re-prioritising makes of a job not in Batch yet (its class unchanged), conditional on the
        job still QUEUED: the admission write that could race it is conditional on the queue it read."""
        from batchplane.adapters.dynamo.priority import DynamoPriorityStore  # it imports this module

        mover = DynamoPriorityStore(self._db, self._table, retention_days=self._retention_days, sweep=self._sweep)
        return mover.move_unsubmitted(
            job,
            job.priority,
            queue_arn=queue_arn,
            capacity=Capacity.ON_DEMAND,
            why=why,
            now=now,
            buckets=(QUEUED,),
        )

    def admit(self, grants: Sequence[Grant], now: str) -> list[bool]:
        """QUEUED → SUBMITTED, once each: one TransactWriteItems of the jobs (each still QUEUED, not cancelled), their
        tenants' counters (queued down, running up; each running quota the jobs ask against is a condition, so two
        admissions raced past a stale snapshot cannot both pass it) and their pools' counters; if it is refused,
        one transaction a job (admit.py). False for a job no longer QUEUED, cancelled, or whose tenant's quota no
        longer has room."""
        return self._admitter.admit(grants, now)

    def release(self, job: JobRecord) -> bool:
        """Give back what an admitted job held, once: the job's ``admReleased`` flag (set only if the job holds an
        admission and has not released it) is a condition of the same transaction as the counters. A duplicate,
        redelivered or reordered end of the job releases nothing. The ended job leaves the sweeper's RELEASE bucket
        in the same write (the condition keeps a job that is still filed elsewhere, not ended, where it is). A job's
        SUCCEEDED event usually makes its release itself, in the transaction that records it (attempts.py)."""
        if not job.admission:
            return False
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": job_key(job.job_id),
                    "UpdateExpression": "SET admReleased = :yes REMOVE gsi2pk, gsi2sk, adm",
                    "ConditionExpression": (
                        "attribute_exists(adm) AND attribute_not_exists(admReleased) AND "
                        f"(attribute_not_exists(gsi2pk) OR {IN_BUCKET.format(':release')})"
                    ),
                    "ExpressionAttributeValues": {":yes": {"BOOL": True}, ":release": {"S": RELEASE}},
                }
            },
            *release_counter_updates(self._table, job),
        ]
        try:
            self._db.transact_write_items(
                TransactItems=items,  # type: ignore[arg-type]
                ClientRequestToken=f"release-{job.job_id}"[:36],
            )
        except ClientError as err:
            if error_code(err) == "TransactionCanceledException":
                return False
            raise
        return True

    # ---- pools' layout (from Batch, cached in the table) ---------------------------------------------------------

    def pool_layout(self) -> tuple[list[PoolState], int] | None:
        out = self._db.get_item(TableName=self._table, Key={"pk": {"S": "ADMISSION"}, "sk": {"S": "POOLS"}})
        item = out.get("Item")
        if not item:
            return None
        raw = json.loads(str(get_attr(item, "pools") or "[]"))
        pools = [PoolState(p["name"], int(p["maxVcpus"]), tuple(p["queues"]), gpus=int(p.get("gpus", 0))) for p in raw]
        return pools, int(get_attr(item, "seenAt") or 0)

    def take_lease_with_window(self, name: str, owner: str, now_ms: int, until_ms: int) -> list[int] | None:
        """``take_lease``, answering the SubmitJob times (epoch ms) its last holder made in its last second (kept in
        the lease as it gave it back: ``release_lease_with_window``), so the dispatcher's send window spans
        invocations; None when another holds the lease. One write: before, the window was an item of its own, read
        and written by each invocation besides the lease (four calls, now two)."""
        item = self._take_lease(name, owner, now_ms, until_ms)
        if item is None:
            return None
        return [int(t) for t in json.loads(str(get_attr(item, "sent") or "[]"))]

    def release_lease_with_window(self, name: str, owner: str, sent_ms: list[int]) -> None:
        """Give the lease back (only if still ours) with the SubmitJob times of its last second (epoch ms)."""
        self.release_lease(name, owner, keep={"sent": {"S": json.dumps(sent_ms, separators=(",", ":"))}})

    def save_pool_layout(self, pools: Iterable[PoolState], seen_ms: int) -> None:
        body = [{"name": p.name, "maxVcpus": p.max_vcpus, "queues": list(p.queues), "gpus": p.gpus} for p in pools]
        conditional(
            lambda: self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": "ADMISSION"},
                    "sk": {"S": "POOLS"},
                    "pools": {"S": json.dumps(body, separators=(",", ":"))},
                    "seenAt": number(seen_ms),
                },
            )
        )
