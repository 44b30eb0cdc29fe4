"""Admission at AWS-like latencies, modelled (issue #10): does the dispatcher's design hold AND sustain the account's
SubmitJob rate when each call takes as long as it does in AWS, rather than as long as moto takes on this machine?

The code under test is the real one: ``services.dispatcher.Dispatcher`` (its ticks, its 8 admission threads, its
slot waits), the pure admission policy, the budget's adapter (``DynamoRateBudget``, over a one-item table below that
applies its two conditional updates as DynamoDB would) and ``job_from_item`` on every QUEUED item each tick (the
parse is CPU of ours, paid in Lambda too). The jobs are real items: made by the gateway on moto, then copied here.
What is modelled is where the ports meet AWS: each call holds its thread for a stated latency (sleeping, so the
threads overlap as they do on the network), and the state behind the ports lives in memory with the same
conditions (an admission only of a job still QUEUED on the queue the snapshot read; the budget's TAT conditions).

The latencies are assumptions, not measurements: AWS publishes no per-call latency for these APIs (DynamoDB says
"single-digit millisecond"; nothing for Batch). They are written next to each number and shared with
tests/perf/sweeper_model.py."""

from __future__ import annotations

import copy
import math
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.perf.sweeper_model import PAGE_BYTES, QUERY_PAGE_MS, WRITE_MS

# Assumptions (AWS, same Region, from a Lambda function), beside those of sweeper_model (a 1 MB Query page 25 ms,
# a conditional UpdateItem 6 ms):
TRANSACT_MS = 15.0  # a TransactWriteItems of 3 updates (DynamoDB runs a transaction in two phases: ~2x a write)
TRANSACT_ITEM_MS = 0.5  # each item past 3 (a tick's write of 25 jobs: 27 ms); a guess, AWS publishes none
BATCH_GET_MS = 8.0
GET_MS = 5.0  # a strongly consistent GetItem  # a BatchGetItem of up to 100 small counter items, strongly consistent
SUBMIT_JOB_MS = (60.0, 100.0)  # batch:SubmitJob, uniformly within (the brief's figure: not published by AWS)


def _pause(ms: float) -> None:
    time.sleep(ms / 1000)


def _condition_failed() -> Exception:
    """What ``conditional`` of adapters/dynamo/items.py takes for a failed condition: a ClientError of that code."""
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "condition"}}, "UpdateItem")


class BudgetTable:
    """The ``RATE``/``SUBMITJOB`` item behind ``DynamoRateBudget``: the two update expressions it sends, applied
    atomically with their conditions, each call taking WRITE_MS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tat: int | None = None
        self.calls = 0

    def update_item(self, **kw: Any) -> dict[str, Any]:
        values = {k: int(v["N"]) for k, v in kw["ExpressionAttributeValues"].items()}
        _pause(WRITE_MS / 2)
        with self._lock:
            self.calls += 1
            if kw["UpdateExpression"] == "SET tat = :end":
                ok = self.tat is None or self.tat <= values[":now"]
                new = values[":end"]
            elif kw["UpdateExpression"] == "SET tat = tat + :span":
                ok = self.tat is not None and values[":now"] < self.tat <= values[":latest"]
                new = (self.tat or 0) + values[":span"]
            else:  # pragma: no cover - the adapter sends only those two
                raise AssertionError(kw["UpdateExpression"])
            if ok:
                self.tat = new
        _pause(WRITE_MS / 2)
        if not ok:
            raise _condition_failed()
        return {"Attributes": {"tat": {"N": str(new)}}} if kw.get("ReturnValues") else {}


@dataclass
class _Counters:
    queued: int = 0
    running: dict[str, list[int]] = field(default_factory=dict)  # priority -> [vcpus, memory, gpus]


class ModelStore:
    """The AdmissionStore port over memory: the QUEUED items (as the table holds them), tenants' and pools' counters,
    the lease. Reads and writes hold their thread for the assumed latency; each decision is atomic."""

    def __init__(self, items: Iterable[dict[str, Any]], layout: list[Any]) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, dict[str, Any]] = {}
        self._tenants: dict[str, _Counters] = defaultdict(_Counters)
        self._pools: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self._layout = layout
        self._lease: tuple[str, int] | None = None
        self._sent: list[int] = []
        self.calls: Counter[str] = Counter()
        for item in items:
            self.add(item)

    def add(self, item: dict[str, Any]) -> None:
        """A job the gateway has just recorded QUEUED (its one transaction is not timed: latency starts after it)."""
        with self._lock:
            job = _job(item)  # job items may be compact (adapters/dynamo/items.py): read them as the adapter does
            self._items[job.job_id] = item
            self._tenants[job.tenant].queued += 1

    def queued(self, limit: int, *, since_ms: int | None = None, known: Any = None) -> list[Any]:
        from batchplane.adapters.dynamo.items import job_from_item

        after = "" if since_ms is None else f"{max(0, since_ms):013d}"
        from batchplane.adapters.dynamo.admission import QUEUED_KEYS

        with self._lock:
            self.calls["Query"] += len(QUEUED_KEYS)  # one per shard key, one after another
            found = sorted(
                (
                    i
                    for i in self._items.values()
                    if i.get("gsi2pk", {}).get("S", "").startswith("QUEUED") and i["gsi2sk"]["S"] > after
                ),
                key=lambda i: i["gsi2sk"]["S"],
            )[:limit]
        size = sum(_item_bytes(i) for i in found)
        _pause(QUERY_PAGE_MS * max(len(QUEUED_KEYS), math.ceil(size / PAGE_BYTES)))
        return [job_from_item(i) for i in found]  # the CPU of ours each tick pays

    def queued_page(self, after: dict[str, str | None], limit: int) -> Any:
        from batchplane.adapters.dynamo.admission import QUEUED_KEYS
        from batchplane.adapters.dynamo.items import job_from_item
        from batchplane.domain.ports import QueuedPage

        per_shard = max(1, -(-limit // len(QUEUED_KEYS)))
        jobs: list[tuple[str, str, Any]] = []
        ends: dict[str, str | None] = {}
        with self._lock:
            for key in QUEUED_KEYS:
                start = after.get(key, "")
                if start is None:
                    ends[key] = None
                    continue
                self.calls["Query"] += 1
                listed = sorted(
                    (
                        i
                        for i in self._items.values()
                        if i.get("gsi2pk", {}).get("S") == key and i["gsi2sk"]["S"] > start
                    ),
                    key=lambda i: i["gsi2sk"]["S"],
                )
                page = listed[:per_shard]
                jobs += [(key, i["gsi2sk"]["S"], job_from_item(i)) for i in page]
                ends[key] = page[-1]["gsi2sk"]["S"] if len(listed) > per_shard else None
        _pause(QUERY_PAGE_MS * len(QUEUED_KEYS))
        return QueuedPage(jobs, ends)

    def accounts(self) -> list[Any]:
        from batchplane.adapters.dynamo.counters import QUOTAS_KEYS
        from batchplane.domain.dispatch import TenantAccount

        with self._lock:
            self.calls["Query"] += len(QUOTAS_KEYS)
            out = [TenantAccount(tenant=t, queued=c.queued) for t, c in self._tenants.items()]
        _pause(QUERY_PAGE_MS * len(QUOTAS_KEYS))
        return out

    def get_job(self, job_id: str) -> Any:
        from batchplane.adapters.dynamo.items import job_from_item

        with self._lock:
            self.calls["GetItem"] += 1
            item = copy.deepcopy(self._items.get(job_id))
        _pause(GET_MS)
        return job_from_item(item) if item is not None else None

    def counters(self, tenants: Collection[str], pools: Collection[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        from batchplane.domain.dispatch import TenantAccount
        from batchplane.domain.models import Priority
        from batchplane.domain.quotas import Resources

        keys = len(tenants) + len(pools)
        with self._lock:
            self.calls["BatchGetItem"] += max(1, math.ceil(keys / 100))
            accounts = {
                t: TenantAccount(
                    tenant=t,
                    queued=self._tenants[t].queued,
                    running={Priority(p): Resources(*r) for p, r in self._tenants[t].running.items()},
                )
                for t in tenants
            }
            admitted = {p: Resources(*self._pools[p]) for p in pools}
        _pause(BATCH_GET_MS * max(1, math.ceil(keys / 100)))
        return accounts, admitted

    def admit(self, grants: Any, now: str) -> list[bool]:
        """As the adapter (adapters/dynamo/admit.py): one transaction for all the grants, else one each."""
        items = len(grants) + len({g.job.tenant for g in grants}) + len({g.pool for g in grants})
        latency = TRANSACT_MS + TRANSACT_ITEM_MS * max(0, items - 3)
        _pause(latency / 2)
        with self._lock:
            self.calls["TransactWriteItems"] += 1
            ok = self._fits(grants)
            if ok:
                for grant in grants:
                    self._apply(grant)
        _pause(latency / 2)
        if ok or len(grants) == 1:
            return [ok] * len(grants)
        return [self.admit([grant], now)[0] for grant in grants]

    def _fits(self, grants: Any) -> bool:
        """Every job still QUEUED on its queue, not cancelled; every tenant's running quota has room for its sum."""
        asked: dict[str, list[int]] = {}
        for grant in grants:
            job, need = grant.job, grant.need
            item = self._items.get(job.job_id)
            if (
                item is None
                or not item.get("gsi2pk", {}).get("S", "").startswith("QUEUED")
                or _job(item).queue_arn != job.queue_arn
                or item.get("cancelRequested", {}).get("BOOL", False)
            ):
                return False
            mine = asked.setdefault(job.tenant, [0, 0, 0])
            for i, amount in enumerate((need.vcpus, need.memory_mib, need.gpus)):
                mine[i] += amount
        for grant in grants:
            held = [sum(r[i] for r in self._tenants[grant.job.tenant].running.values()) for i in range(3)]
            for i, resource in enumerate(("vcpus", "memory_mib", "gpus")):
                limit = grant.quota.running_limit(resource)
                amount = asked[grant.job.tenant][i]
                if amount > 0 and limit is not None and held[i] > limit - amount:
                    return False
        return True

    def _apply(self, grant: Any) -> None:
        job, need = grant.job, grant.need
        item = self._items[job.job_id]
        item["gsi2pk"] = {"S": "ACTIVE"}
        item["status"] = {"S": "SUBMITTED"}
        counters = self._tenants[job.tenant]
        counters.queued -= 1
        mine = counters.running.setdefault(job.priority, [0, 0, 0])
        for i, amount in enumerate((need.vcpus, need.memory_mib, need.gpus)):
            mine[i] += amount
            self._pools[grant.pool][i] += amount

    def fall_back(self, job: Any, *, queue_arn: str, why: str, now: str) -> bool:
        """The move of a QUEUED job and its attempt to an On-Demand queue (the bench's jobs fit their queues: it is
        not called there), written as the adapter would store the moved record."""
        from dataclasses import replace

        from batchplane.adapters.dynamo.items import job_to_item
        from batchplane.domain.models import Capacity

        with self._lock:
            self.calls["UpdateItem"] += 1
            item = self._items.get(job.job_id)
            if item is None or not item.get("gsi2pk", {}).get("S", "").startswith("QUEUED"):
                return False
            stored = _job(item)
            current = replace(stored.current, queue_arn=queue_arn, capacity=Capacity.ON_DEMAND, explanation=why)
            attempts = [current if a.attempt == current.attempt else a for a in stored.attempts]
            moved = replace(
                stored, queue_arn=queue_arn, capacity=Capacity.ON_DEMAND, placement_reason=why, attempts=attempts
            )
            keys = {k: item[k] for k in ("gsi2pk", "gsi2sk") if k in item}
            item.clear()
            item.update(job_to_item(moved), **keys)
            return True

    def take_lease_with_window(self, name: str, owner: str, now_ms: int, until_ms: int) -> list[int] | None:
        with self._lock:
            self.calls["UpdateItem"] += 1
            free = self._lease is None or self._lease[1] <= now_ms or self._lease[0] == owner
            if free:
                self._lease = (owner, until_ms)
            sent = list(self._sent)
        _pause(WRITE_MS)
        return sent if free else None

    def release_lease_with_window(self, name: str, owner: str, sent_ms: list[int]) -> None:
        with self._lock:
            self.calls["UpdateItem"] += 1
            if self._lease is not None and self._lease[0] == owner:
                self._lease = None
                self._sent = list(sent_ms)
        _pause(WRITE_MS)

    def pool_layout(self) -> tuple[list[Any], int] | None:
        return self._layout, int(time.time() * 1000)

    def save_pool_layout(self, pools: Iterable[Any], seen_ms: int) -> None:
        return None


def _job(item: dict[str, Any]) -> Any:
    from batchplane.adapters.dynamo.items import job_from_item

    return job_from_item(item)


def _item_bytes(item: dict[str, Any]) -> int:
    return len(repr(item))  # close enough to DynamoDB's item size for counting 1 MB pages


class ModelBatch:
    """The lifecycle engine's SubmitJob as the dispatcher calls it: the request is built as lifecycle builds it
    (CPU of ours), then the call holds its thread for SUBMIT_JOB_MS; when it was made is stamped."""

    def __init__(self, seed: int = 10) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.stamps: list[float] = []
        self.submitted: dict[str, float] = {}

    def submit(self, job: Any, attempt: Any, outcome: Any, *, admitted: bool = False, pace: Any = None) -> Any:
        from batchplane.domain.models import JobRequest
        from batchplane.domain.submit_request import submit_job_request

        request = JobRequest.model_validate(job.request)
        submit_job_request(
            request=request,
            job_id=job.job_id,
            attempt=attempt.attempt,
            tenant=job.tenant,
            queue_arn=attempt.queue_arn,
            job_definition=job.job_definition,
            memory_mib=attempt.memory_mib,
        )
        if pace is not None:
            pace()  # as the adapter's hook does, as the call leaves
        now = time.monotonic()
        with self._lock:
            self.stamps.append(now)
            self.submitted.setdefault(job.job_id, now)
            low, high = SUBMIT_JOB_MS
            took = self._rng.uniform(low, high)
        _pause(took)
        return outcome


@dataclass(frozen=True)
class Model:
    """What the model runs on: QUEUED job items made by the real gateway, the pools' layout and the dispatcher's
    configuration, all read from a moto stack once."""

    items: list[dict[str, Any]]
    layout: list[Any]
    catalogue: Any
    default_quota: Any
    default_memory_mib: int
    tick_seconds: float


def build(jobs: int, tenants: int = 100) -> Model:
    """``jobs`` submissions across ``tenants`` through the gateway on moto; their items, as the table holds them."""
    import boto3
    from batchplane import wiring
    from batchplane.settings import settings

    from tests.perf.admission import _submit
    from tests.perf.harness import moto_plane
    from tests.perf.measures import quiet

    with moto_plane(count_calls=False) as plane, quiet():
        for i in range(jobs):
            _submit(plane, i, tenants)
        from batchplane.adapters.dynamo.admission import QUEUED_KEYS

        items: list[dict[str, Any]] = []
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        for key in QUEUED_KEYS:
            for page in ddb.get_paginator("query").paginate(
                TableName=plane.stack.table_name,
                IndexName="gsi2",
                KeyConditionExpression="gsi2pk = :q",
                ExpressionAttributeValues={":q": {"S": key}},
            ):
                items += page["Items"]
        cfg = settings()
        return Model(
            items=items,
            layout=wiring.dispatcher().pool_states(),
            catalogue=wiring.catalogue(),
            default_quota=cfg.default_quota(),
            default_memory_mib=cfg.default_memory_mib,
            tick_seconds=cfg.dispatcher_tick_seconds,
        )


def _dispatcher(model: Model, store: ModelStore, table: BudgetTable, batch: ModelBatch, rate: float, owner: str) -> Any:
    from datetime import UTC, datetime

    from batchplane.adapters.dynamo.ratebudget import DynamoRateBudget
    from batchplane.services.dispatcher import Dispatcher

    return Dispatcher(
        store=store,  # type: ignore[arg-type]
        budget=DynamoRateBudget(table, "model", rate),  # type: ignore[arg-type]
        pools=None,  # type: ignore[arg-type]  # the layout is cached in the store: Batch is not asked
        engine=batch,  # type: ignore[arg-type]
        catalogue=model.catalogue,
        default_quota=model.default_quota,
        default_memory_mib=model.default_memory_mib,
        rate_per_second=rate,
        clock=lambda: datetime.now(UTC),
        lease_owner=owner,
    )


@dataclass(frozen=True)
class ModelRun:
    rate: float
    queued: int
    submitted: int
    seconds: float
    max_in_any_second: int
    sustained_share: float
    invocations: int
    skipped: int
    ticks: int
    calls: dict[str, int]


def rate_run(model: Model, *, rate: float = 50.0, invocations: int = 4, seconds: float = 8.0) -> ModelRun:
    """All of ``model``'s jobs queued, ``invocations`` dispatcher invocations started at once, each for ``seconds``
    at the production tick: when was each SubmitJob made?"""
    from tests.perf.admission import busy_span, max_in_window

    store = ModelStore(copy.deepcopy(model.items), model.layout)
    table = BudgetTable()
    batch = ModelBatch()
    reports: list[Any] = []

    def invoke(n: int) -> None:
        reports.append(_dispatcher(model, store, table, batch, rate, f"container-{n}").run(seconds, model.tick_seconds))

    with _threads(invoke, invocations):
        pass
    ended = time.monotonic()
    stamps = sorted(batch.stamps)
    busy = busy_span(stamps, ended, len(model.items))
    calls = dict(store.calls)
    calls["UpdateItem"] = calls.get("UpdateItem", 0) + table.calls
    calls["SubmitJob"] = len(stamps)
    return ModelRun(
        rate=rate,
        queued=len(model.items),
        submitted=len(stamps),
        seconds=round(busy, 2),
        max_in_any_second=max_in_window(stamps),
        sustained_share=round((len(stamps) - 1) / busy / rate, 3) if busy else 0.0,
        invocations=invocations,
        skipped=sum(1 for r in reports if r.skipped),
        ticks=sum(r.ticks for r in reports),
        calls=calls,
    )


def latency_run(model: Model, *, rate: float = 50.0, every: float = 0.05) -> tuple[float, float]:
    """Free capacity: one dispatcher invocation at the production tick while ``model``'s jobs arrive one every
    ``every`` seconds; from the moment each is recorded QUEUED to its SubmitJob. (p50 ms, p99 ms)"""
    store = ModelStore((), model.layout)
    table = BudgetTable()
    batch = ModelBatch()
    accepted: dict[str, float] = {}
    seconds = len(model.items) * every + 2 * model.tick_seconds + 1

    def invoke(_: int) -> None:
        _dispatcher(model, store, table, batch, rate, "container-0").run(seconds, model.tick_seconds)

    with _threads(invoke, 1):
        for item in copy.deepcopy(model.items):
            # enqueued now, as the gateway would stamp it (the items were made earlier, by build)
            item["gsi2sk"] = {"S": f"{int(time.time() * 1000):013d}#{_job(item).job_id}"}
            store.add(item)
            accepted[_job(item).job_id] = time.monotonic()
            time.sleep(every)
    waits = sorted((batch.submitted[j] - t) * 1000 for j, t in accepted.items() if j in batch.submitted)
    if len(waits) < len(accepted):
        msg = f"{len(accepted) - len(waits)} of {len(accepted)} jobs were never submitted"
        raise RuntimeError(msg)
    p99 = statistics.quantiles(waits, n=100)[-1] if len(waits) >= 2 else waits[-1]
    return round(statistics.median(waits), 1), round(p99, 1)


@contextmanager
def _threads(target: Any, n: int) -> Iterator[None]:
    """``n`` threads running ``target``; the setup's garbage (moto's whole account, the copies) frozen first, so that
    a collection of this bench's own heap (up to half a second here) is not taken for the dispatcher's pauses."""
    import gc

    gc.collect()
    gc.freeze()
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        for t in threads:
            t.join()
        gc.unfreeze()


if __name__ == "__main__":  # pragma: no cover - python -m tests.perf.admission_model
    from tests.perf.harness import FAKE_AWS_ENV, environ

    with environ(FAKE_AWS_ENV):
        built = build(600)
        print(rate_run(built))
        print(latency_run(build(100)))
