"""The sweeper at 1,000,000 active jobs, modelled: what one sweep reads (DynamoDB read units, Query calls, items),
describes and writes, and how long it takes, from the design (sharded buckets, due-time order of ACTIVE, the look-later
back-off) and per-call costs. One figure is measured here (the CPU to turn one job item of a Query page into a
JobRecord: botocore's parsing plus ``job_from_item``); the AWS latencies are stated assumptions (Lambda-to-DynamoDB and
-Batch round trips in one Region), written next to each number.

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
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

# Assumptions (AWS, same Region, from a Lambda function): not measured here.
QUERY_PAGE_MS = 25.0  # a Query round trip returning a 1 MB page (DynamoDB's page limit)
EMPTY_QUERY_MS = 5.0  # a Query of an empty shard
DESCRIBE_CALL_MS = 150.0  # DescribeJobs of 100 job ids
WRITE_MS = 6.0  # one conditional UpdateItem (look_later, release, ...)
RCU_PER_4KB = 0.5  # eventually consistent reads (GSI Queries are)
PAGE_BYTES = 1_000_000


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
    seconds_per_shard_in_parallel: float  # NOT BUILT: one sweep per shard, all at once (each 1/shards of the work)


def model(load: Load, parse_ms_per_item: float) -> SweepCost:
    """One sweep's reads, calls and time under ``load`` (sequential calls, as services/sweeper.py makes them)."""
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
    return SweepCost(
        items_read=items,
        queries=queries,
        read_units=round(read_units, 1),
        describe_calls=describe_calls,
        writes=writes,
        seconds=round(seconds, 1),
        fits=seconds <= min(load.sweep_period_s, 60.0),
        seconds_per_shard_in_parallel=round(seconds / load.shards, 1),
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
    out: dict[str, Any] = {"item_bytes_typical": size, "parse_ms_per_item": round(parse, 4)}
    for load in LOADS:
        sized = Load(**{**asdict(load), "item_bytes": max(size, 1)})
        out[load.name] = asdict(model(sized, parse))
    return out


if __name__ == "__main__":  # pragma: no cover - python -m tests.perf.sweeper_model
    print(json.dumps(run(), indent=2))
