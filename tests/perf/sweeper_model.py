"""The sweeper at 1,000,000 active jobs, modelled: what one sweep reads (DynamoDB read units, Query calls, items),
describes and writes, and how long it takes, from the design (sharded buckets, due-time order of ACTIVE, the look-later
back-off, the sweep's parts) and per-call costs.

Measured here: the CPU to turn one job item of a Query page into a JobRecord (botocore's parsing plus
``job_from_item``), and the CPU of one look-later write (``DynamoLifecycleStore.look_later`` through botocore, AWS
stubbed). Read from the built design, not assumed: how many parts the template's schedules run the sweep in, the
shard count (``SweeperShards``' default), which shards each part reads (``part_shards``, with the share of jobs the
busiest part gets over CRC-32 of 200,000 job ids), how many look-later writes a part keeps in flight
(``LOOK_LATER_THREADS``) and the sweeper's memory (Lambda gives a function CPU in proportion: 1,769 MB is one vCPU;
this machine's core is taken as one vCPU). The AWS latencies are stated assumptions (Lambda-to-DynamoDB and -Batch
round trips in one Region), written next to each number.

What a sweep reads, per bucket (domain/sweep_keys.py; services/sweeper.py):
- ACTIVE: only the jobs due for a look. A job is due 120 s after a write Batch has not confirmed, and 900 s after its
  last event; a job still silent is looked at again after as long again, capped at an hour. With N active jobs
  arriving at rate λ, each lives W = N/λ (Little's law); a job is looked at when it stays silent past 15 min, again at
  30 and 60 min, then hourly. So looks per minute are at most 60·λ·(looks per job) while jobs arrive, and N/60 per
  minute for a population of long runners (one look an hour each).
- RETRY: the retries that fell due since the last sweep.
- RUNNABLE: all of it, every sweep (read once for the stuck-RUNNABLE pass, which judges each queue by its head, and
  reconciliation), so its size is the sweeper's largest read when capacity is short.
- HELD: all of it, every sweep (dependencies are polled: a job with ``dependsOn`` is not released by events).
- plus one Query per shard and bucket (S+1 keys per bucket: the shards and the legacy key).

A part (services/sweeper.py) reads its shards' keys only (part 0 the legacy keys too), writes its blocked queue
heads and reads every part's (one UpdateItem, one BatchGetItem), and makes its calls one after another except the
look-later writes, ``LOOK_LATER_THREADS`` at a time. The parts run at once, so a sweep takes as long as its busiest
part.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

# Assumptions (AWS, same Region, from a Lambda function): not measured here.
QUERY_PAGE_MS = 25.0  # a Query round trip returning a 1 MB page (DynamoDB's page limit)
EMPTY_QUERY_MS = 5.0  # a Query of an empty shard
DESCRIBE_CALL_MS = 150.0  # DescribeJobs of 100 job ids
WRITE_MS = 6.0  # one conditional UpdateItem (look_later, release, ...)
RCU_PER_4KB = 0.5  # eventually consistent reads (GSI Queries are)
PAGE_BYTES = 1_000_000
MB_PER_VCPU = 1_769  # Lambda: a function at 1,769 MB has the equivalent of one vCPU (CPU grows with memory)
STOPS_WITH_S_LEFT = 8.0  # a part stops taking on jobs with 8 s of its 60 s left (services/sweeper.py)


@dataclass(frozen=True)
class Load:
    """What the table holds and how fast it changes."""

    name: str
    active_jobs: int = 1_000_000
    arrivals_per_s: float = 1_000.0  # jobs entering (submissions), so jobs leave at the same rate
    looks_per_job: float = 1.0  # looks a job gets in its life (silent past 15 min: 1; past 30: 2; past 60: 3; +1/h)
    runnable_share: float = 0.05  # share of active jobs RUNNABLE (read every sweep)
    held_jobs: int = 10_000  # jobs waiting for their dependencies (read every sweep)
    retry_share: float = 0.05  # share of arrivals whose attempt fails and is retried after a backoff
    item_bytes: int = 2_048  # a job item as gsi2 projects it (ALL)
    shards: int = 16
    sweep_period_s: float = 60.0


@dataclass(frozen=True)
class SweepCost:
    items_read: int
    queries: int
    read_units: float
    describe_calls: int
    writes: int
    seconds: float
    fits: bool  # inside the sweep period (and the function's 60 s timeout)
    seconds_one_sweep: float  # before the parts: one invocation sweeping every shard, its calls one after another
    parts: int  # the built design: the sweep's parts, all at once
    part_items: int  # the busiest part's items read
    part_writes: int  # ... its writes (look-later writes LOOK_LATER_THREADS at a time)
    part_cpu_seconds: float  # ... its CPU at the sweeper's memory (parsing the items, making the writes)
    part_round_trip_seconds: float  # ... its time waiting on AWS
    seconds: float  # the sweep's wall time: its busiest part's CPU + round trips
    margin_seconds: float  # what is left of the part's 52 s (its 60 s timeout less the 8 s it stops with)


@dataclass(frozen=True)
class Design:
    """The built design, read from the template and the code (`built_design`)."""

    parts: int
    shards: int
    busiest_share: float  # share of all jobs in the busiest part's shards
    busiest_keys: int  # partition keys the busiest part Queries (part 0: its shards' and the legacy keys)
    look_later_threads: int
    memory_mb: int

    @property
    def vcpus(self) -> float:
        return min(1.0, self.memory_mb / MB_PER_VCPU)  # one Python thread uses at most one vCPU


def model(load: Load, parse_ms_per_item: float, design: Design, write_cpu_ms: float, part: PartRun) -> SweepCost:
    """One sweep's reads, calls and time under ``load``: the whole sweep's counts, the time it took as one invocation
    of calls one after another (before the parts), and the built design's: its busiest part's CPU and round trips."""
    per_sweep = load.sweep_period_s
    looks = min(load.active_jobs, load.arrivals_per_s * per_sweep * load.looks_per_job)
    if load.arrivals_per_s == 0:
        looks = load.active_jobs * per_sweep / 3_600  # long runners: one look an hour each
    retries = load.arrivals_per_s * load.retry_share * per_sweep
    runnable = load.active_jobs * load.runnable_share
    items = int(looks + retries + runnable + load.held_jobs)
    per_page = PAGE_BYTES // load.item_bytes
    pages = -(-items // per_page)
    # ACTIVE, RETRY, HELD, RUNNABLE: each its shards and the legacy key. Not modelled: RELEASE's keys, one more empty
    # Query per shard (a job leaves RELEASE with its release; only a lost release waits there), as the README's table
    # was computed before that bucket existed
    keys = 4 * (load.shards + 1)
    queries = keys + pages
    read_units = items * load.item_bytes / 4_096 * RCU_PER_4KB + keys * RCU_PER_4KB
    describe_calls = -(-int(looks) // 100)
    writes = int(looks + retries)  # a look_later per job looked at (or the event it reconciled); a release per retry
    seconds = (
        keys * EMPTY_QUERY_MS
        + pages * QUERY_PAGE_MS
        + items * parse_ms_per_item
        + describe_calls * DESCRIBE_CALL_MS
        + writes * WRITE_MS
    ) / 1_000
    # the built design: the busiest part's share of every item and call, its CPU at the sweeper's memory
    share = design.busiest_share
    part_items = math.ceil(items * share)
    part_pages = math.ceil(part_items / per_page)
    part_looks = math.ceil(looks * share)
    part_releases = math.ceil(retries * share)
    part_describes = math.ceil(part_looks / 100)
    # CPU as the part's own run measured it: each job looked at (read, judged, filed for later), each other job read
    # (RUNNABLE, HELD, RETRY: read and judged), plus a write for each released retry
    cpu_ms = (
        part_looks * part.looked_at_ms + (part_items - part_looks) * part.read_only_ms + part_releases * write_cpu_ms
    )
    cpu_s = cpu_ms / 1_000 / design.vcpus
    round_trips_s = (
        design.busiest_keys * EMPTY_QUERY_MS
        + part_pages * QUERY_PAGE_MS
        + 2 * WRITE_MS  # its heads: published (UpdateItem), everyone's read (BatchGetItem)
        + 2 * WRITE_MS  # its lease, taken and given back
        + part_describes * DESCRIBE_CALL_MS
        + part_releases * WRITE_MS
        + math.ceil(part_looks / design.look_later_threads) * WRITE_MS
    ) / 1_000
    part_seconds = cpu_s + round_trips_s
    budget = min(load.sweep_period_s, 60.0) - STOPS_WITH_S_LEFT
    return SweepCost(
        items_read=items,
        queries=queries,
        read_units=round(read_units, 1),
        describe_calls=describe_calls,
        writes=writes,
        seconds_one_sweep=round(seconds, 1),
        parts=design.parts,
        part_items=part_items,
        part_writes=part_looks + part_releases + 4,
        part_cpu_seconds=round(cpu_s, 1),
        part_round_trip_seconds=round(round_trips_s, 1),
        seconds=round(part_seconds, 1),
        margin_seconds=round(budget - part_seconds, 1),
        fits=part_seconds <= budget,
    )


LOADS = (
    # 1,000,000 active jobs fed at 1,000/s: each lives ~1,000 s; at worst every one is a silent runner looked at once
    Load("1M active, 1,000 submissions/s"),
    # 1,000,000 long runners (hours), nothing arriving: each looked at once an hour
    Load("1M long runners, no arrivals", arrivals_per_s=0.0, retry_share=0.0),
    # capacity short: a fifth of the million RUNNABLE
    Load("1M active, 20% RUNNABLE", runnable_share=0.2),
)


def parse_ms_per_item(item: dict[str, Any], items: int = 2_000) -> float:
    """Measured: ms of CPU to turn one job item of a Query answer into a JobRecord (botocore parses the JSON page,
    then ``job_from_item``), over a stubbed 1 MB-class page of ``items`` copies."""
    import boto3
    from batchplane.adapters.dynamo.items import job_from_item

    from tests.perf.harness import stub_aws

    page = {"Items": [item] * items, "Count": items, "ScannedCount": items}
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106 - fake: the stub answers
    client = session.client("dynamodb")
    client.meta.events.register_first(
        "before-send", stub_aws({"dynamodb.Query": (200, page, "application/x-amz-json-1.0")})
    )
    started = time.perf_counter()
    got = client.query(TableName="t", IndexName="gsi2", KeyConditionExpression="gsi2pk = :b",
                       ExpressionAttributeValues={":b": {"S": "ACTIVE#0"}})  # fmt: skip
    records = [job_from_item(i) for i in got["Items"]]
    elapsed_ms = (time.perf_counter() - started) * 1_000
    assert len(records) == items
    return elapsed_ms / items


def write_cpu_ms(item: dict[str, Any], writes: int = 500) -> float:
    """Measured: ms of CPU for one look-later write (``DynamoLifecycleStore.look_later``: botocore serialising,
    signing and parsing an UpdateItem), AWS stubbed."""
    import boto3
    from batchplane.adapters.dynamo.attempts import DynamoLifecycleStore
    from batchplane.adapters.dynamo.items import job_from_item

    from tests.perf.harness import stub_aws

    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106 - fake: the stub answers
    client = session.client("dynamodb")
    client.meta.events.register_first(
        "before-send", stub_aws({"dynamodb.UpdateItem": (200, {}, "application/x-amz-json-1.0")})
    )
    store = DynamoLifecycleStore(client, "t")
    job = job_from_item(item)
    store.look_later(job, 1)  # the first call builds botocore's caches: not what a sweep pays per write
    started = time.perf_counter()
    for n in range(writes):
        assert store.look_later(job, 1_796_000_000_000 + n)
    return (time.perf_counter() - started) * 1_000 / writes


@dataclass(frozen=True)
class PartRun:
    """One part's sweep as built (services/sweeper.py, part 0 of the design's parts), run here with AWS stubbed:
    its CPU per item and the calls it made."""

    looked_at_ms: float  # CPU per due ACTIVE job read, judged and filed for a later look (its write included)
    read_only_ms: float  # CPU per RUNNABLE job read and judged (no write: the bulk of what HELD and RUNNABLE hold)
    calls_looked_at: dict[str, int]  # the calls of the run with the ACTIVE jobs
    calls_read_only: dict[str, int]  # ... with the RUNNABLE jobs


def _due_active(item: dict[str, Any], n: int, now_ms: int) -> dict[str, Any]:
    """Job ``n``: a RUNNING job heard from just now (nothing to do), due for a look a minute ago."""
    from batchplane.domain.sweep_keys import due_key

    job_id = f"01M8SXA9NA169G570F{n:08d}"
    return {**item, "pk": {"S": f"JOB#{job_id}"}, "gsi2pk": {"S": "ACTIVE#0"},
            "gsi2sk": {"S": due_key(now_ms - 60_000, job_id)}}  # fmt: skip


def _runnable(item: dict[str, Any], n: int, now_ms: int) -> dict[str, Any]:
    """Job ``n``: RUNNABLE since just now (inside its dwell), heard from just now."""
    job_id = f"01M8SXA9NA169G570R{n:08d}"
    attempt = {k: v for k, v in item["att"]["M"]["1"]["M"].items() if k != "startedAt"}
    attempt |= {"status": {"S": "RUNNABLE"}, "runnableAt": {"N": str(now_ms)}}
    return {**item, "pk": {"S": f"JOB#{job_id}"}, "status": {"S": "RUNNABLE"}, "gsi2pk": {"S": "RUNNABLE#0"},
            "gsi2sk": {"S": f"{job_id}"}, "att": {"M": {"1": {"M": attempt}}}}  # fmt: skip


def _run_part(pages: dict[str, list[dict[str, Any]]]) -> tuple[float, dict[str, int]]:
    """Part 0 of 16's sweep (the lifecycle service's ``sweep``, as the sweeper function calls it), every AWS call
    answered by a stub: a Query of a key in ``pages`` gets those items (one page), of any other key none. The ms it
    took (all CPU: nothing waits on a network) and the calls it made."""
    from batchplane import wiring
    from batchplane.adapters import aws as aws_clients
    from botocore.awsrequest import AWSResponse

    from tests.conftest import AwsCalls
    from tests.perf.harness import FAKE_AWS_ENV, STACK, _Raw, environ, functions_env

    bodies = {k: json.dumps({"Items": v, "Count": len(v), "ScannedCount": len(v)}).encode() for k, v in pages.items()}
    empty = json.dumps({"Items": [], "Count": 0, "ScannedCount": 0}).encode()

    def answer(request: Any, event_name: str = "", **_: Any) -> AWSResponse:
        if event_name == "before-send.dynamodb.Query":
            body = bodies.get(json.loads(request.body)["ExpressionAttributeValues"][":b"]["S"], empty)
        elif event_name == "before-send.dynamodb.UpdateItem":  # the lease, the heads, each look-later write
            body = b"{}"
        elif event_name == "before-send.dynamodb.BatchGetItem":  # every part's heads: none published
            body = b'{"Responses": {}}'
        else:
            msg = f"the stubbed sweep made an unexpected AWS call: {event_name}"
            raise AssertionError(msg)
        headers = {"x-amzn-requestid": "model", "content-type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 200, headers, _Raw(body))

    arn = "arn:aws:batch:us-east-1:123456789012"
    definitions = {"sample": f"{arn}:job-definition/{STACK}-sample:1"}
    with environ({**FAKE_AWS_ENV, **functions_env(f"{arn}:job-queue/{STACK}_", definitions)}):
        wiring.reset()
        events = aws_clients.session().events
        calls = AwsCalls()
        events.register("before-call.*.*", calls.hook)
        events.register_first("before-send", answer)
        try:
            service = wiring.lifecycle_service(lambda _name, _value: None)
            service.sweep(lambda: 60_000, part=1, parts=16)  # makes the clients, warms botocore's caches
            calls.reset()
            started = time.perf_counter()
            report = service.sweep(lambda: 60_000, part=0, parts=16)
            elapsed_ms = (time.perf_counter() - started) * 1_000
        finally:
            events.unregister("before-send", answer)
            events.unregister("before-call.*.*", calls.hook)
            wiring.reset()
    assert not report.cut_short
    return elapsed_ms, dict(calls.counts)


def measure_part(item: dict[str, Any], jobs: int = 2_000) -> PartRun:
    """Measured: part 0's sweep as built, AWS stubbed (`_run_part`): one run with ``jobs`` due ACTIVE jobs in its
    shard (each read, judged, filed for a later look: the look-later writes 8 at a time), one with ``jobs`` RUNNABLE
    jobs (each read, judged by the stuck and reconcile passes, nothing written). The CPU per job and the calls of
    each run."""
    from batchplane.domain.timestamps import iso

    now = time.time()
    now_ms = int(now * 1000)
    fresh = {**item, "updatedAt": {"S": iso(datetime.fromtimestamp(now, UTC))}}
    looked_ms, looked_calls = _run_part({"ACTIVE#0": [_due_active(fresh, n, now_ms) for n in range(jobs)]})
    assert looked_calls.get("dynamodb.UpdateItem") == jobs + 3, looked_calls  # every job filed once (+ lease, heads)
    read_ms, read_calls = _run_part({"RUNNABLE#0": [_runnable(fresh, n, now_ms) for n in range(jobs)]})
    assert read_calls.get("dynamodb.UpdateItem") == 3, read_calls  # nothing written but the lease and the heads
    return PartRun(looked_ms / jobs, read_ms / jobs, looked_calls, read_calls)


def built_design(ids: int = 200_000) -> Design:
    """The sweep's parts as built: the template's sweeper schedules (each names its part), SweeperShards' default,
    the sweeper's memory, the code's shard-to-part map and its look-later threads."""
    from batchplane.domain.sweep_keys import part_shards, shard_of
    from batchplane.services.sweeper import LOOK_LATER_THREADS

    from tests.cfn import template

    tpl = template()
    sweeper = tpl["Resources"]["SweeperFunction"]["Properties"]
    inputs = [json.loads(e["Properties"]["Input"]) for e in sweeper["Events"].values() if e["Type"] == "Schedule"]
    n_parts = inputs[0]["parts"]
    assert sorted((i["part"], i["parts"]) for i in inputs) == [(p, n_parts) for p in range(n_parts)]
    shards = int(tpl["Parameters"]["SweeperShards"]["Default"])
    memory = int(sweeper.get("MemorySize") or tpl["Globals"]["Function"]["MemorySize"])
    per_shard = [0] * shards
    for _ in range(ids):
        per_shard[shard_of(os.urandom(13).hex(), shards)] += 1
    loads = [sum(per_shard[n] for n in part_shards(p, n_parts, shards)) for p in range(n_parts)]
    return Design(
        parts=n_parts,
        shards=shards,
        busiest_share=max(loads) / ids,
        # part 0 reads the legacy keys too: the most keys of any part, each one Query at least
        busiest_keys=max(5 * len(part_shards(p, n_parts, shards)) + (5 if p == 0 else 0) for p in range(n_parts)),
        look_later_threads=LOOK_LATER_THREADS,
        memory_mb=memory,
    )


def typical_item() -> dict[str, Any]:
    """A job item as the table holds it after a typical life (submitted, RUNNABLE, RUNNING), from a moto run."""
    from tests.perf.harness import moto_plane

    with moto_plane(count_calls=False) as plane:
        job = plane.submit({"name": "model", "command": ["sh", "-c", "echo model"], "tags": {"team": "bench"}})
        for kind in ("RUNNABLE", "STARTING", "RUNNING"):
            plane.deliver(plane.event(kind, job, seconds=1))
        import boto3

        got = boto3.client("dynamodb", region_name="us-east-1").get_item(
            TableName=plane.stack.table_name, Key={"pk": {"S": f"JOB#{job['jobId']}"}, "sk": {"S": "JOB"}}
        )
        return dict(got["Item"])


def run() -> dict[str, Any]:
    """The model at each load, with the parse cost measured on this machine and the item size of a typical job."""
    item = typical_item()
    size = len(json.dumps(item))
    parse = parse_ms_per_item(item)
    write = write_cpu_ms(item)
    design = built_design()
    part = measure_part(item)
    assert part.calls_read_only["dynamodb.Query"] == design.busiest_keys  # part 0: one Query per key, as modelled
    out: dict[str, Any] = {
        "item_bytes_typical": size,
        "parse_ms_per_item": round(parse, 4),
        "write_cpu_ms": round(write, 4),
        "design": {**asdict(design), "vcpus": round(design.vcpus, 3)},
        "part_run": {
            "looked_at_ms_per_job": round(part.looked_at_ms, 4),
            "read_only_ms_per_job": round(part.read_only_ms, 4),
            "calls_looked_at": part.calls_looked_at,
            "calls_read_only": part.calls_read_only,
        },
    }
    for load in LOADS:
        sized = Load(**{**asdict(load), "item_bytes": max(size, 1)})
        out[load.name] = asdict(model(sized, parse, design, write, part))
    return out


if __name__ == "__main__":  # pragma: no cover - python -m tests.perf.sweeper_model
    print(json.dumps(run(), indent=2))
