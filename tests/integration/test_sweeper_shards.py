"""The sweeper's index is sharded (gsi2pk ``<BUCKET>#<n>``): jobs land in every shard, the sweeper finds due work in
all of them and in the legacy unsharded keys of items written before sharding, pages through all of it (no cap),
and reads only what is due. Under each function's enforced role, counting Query calls."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from batchplane.domain.sweep_keys import BUCKETS, shard_of

from tests.conftest import REGION, Stack
from tests.handlers import FakeLambdaContext
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration
SHARDS = 4
FAST_RETRY = {"attempts": 2, "backoff": {"baseSeconds": 0.2, "maxSeconds": 0.2}}


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {"SweeperShards": SHARDS}


def item(stack: Stack, job_id: str) -> dict[str, Any]:
    with stack.observing():
        got = boto3.client("dynamodb", region_name=REGION).get_item(
            TableName=stack.table_name, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}
        )
    return dict(got["Item"])


def refile(stack: Stack, job_id: str, **attrs: str) -> None:
    """Rewrite a job's index attributes as an older version of batchplane wrote them (the test harness, not a
    function)."""
    names = {f"#a{i}": k for i, k in enumerate(attrs)}
    values = {f":v{i}": {"S": v} for i, v in enumerate(attrs.values())}
    with stack.observing():
        boto3.client("dynamodb", region_name=REGION).update_item(
            TableName=stack.table_name,
            Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}},
            UpdateExpression="SET " + ", ".join(f"{n} = {v}" for n, v in zip(names, values, strict=True)),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


def gsi2_keys_queried(stack: Stack) -> list[str]:
    return [
        params["ExpressionAttributeValues"][":b"]["S"]
        for op, params in stack.calls.requests
        if op == "dynamodb.Query" and params.get("IndexName") == "gsi2"
    ]


def test_due_retries_are_found_in_every_shard_and_in_the_legacy_key(plane: Plane, stack: Stack) -> None:
    # GIVEN jobs whose retries are due in every one of the 4 shards (job ids are random, so submit until each shard
    # holds one: a fixed 16 left a shard empty about once in 25 runs), and one filed as before sharding ("RETRY")
    jobs: list[dict[str, Any]] = []
    while len(jobs) < 8 or {shard_of(j["jobId"], SHARDS) for j in jobs} != set(range(SHARDS)):
        assert len(jobs) < 200, "job ids never reached every shard"
        jobs.append(plane.submit({"name": f"shard-{len(jobs)}", "retry": FAST_RETRY}))
    for job in jobs:
        assert plane.deliver(plane.event("FAILED", job, seconds=3)) == "retry-scheduled"
    filed = {job["jobId"]: item(stack, job["jobId"])["gsi2pk"]["S"] for job in jobs}
    assert {f"RETRY#{shard_of(j, SHARDS)}" for j in filed} == set(filed.values())
    assert len(set(filed.values())) == SHARDS  # every shard holds some
    legacy = jobs[0]["jobId"]
    refile(stack, legacy, gsi2pk="RETRY")
    time.sleep(0.3)
    stack.calls.reset()
    # WHEN the sweeper runs
    report = plane.sweep()
    # THEN every due retry is released, the legacy one included, each submitted once
    assert sorted(report["released"]) == sorted(filed)
    assert stack.calls.counts["batch.SubmitJob"] == len(jobs)
    # AND the released jobs are ACTIVE, each in its own shard (the legacy one moved there)
    assert item(stack, legacy)["gsi2pk"]["S"] == f"ACTIVE#{shard_of(legacy, SHARDS)}"
    # AND each bucket was read once per shard plus its legacy key (RUNNABLE once, for both passes that judge it),
    # one Query each: nothing here fills a page
    queried = gsi2_keys_queried(stack)
    expected = {f"{b}#{n}" for b in BUCKETS for n in range(SHARDS)} | set(BUCKETS)
    assert set(queried) == expected
    assert stack.calls.counts["dynamodb.Query"] == len(queried) == len(BUCKETS) * (SHARDS + 1)


def test_the_sweeper_pages_through_all_due_work_past_the_old_cap_of_500(plane: Plane, stack: Stack) -> None:
    # GIVEN 700 jobs held for a dependency (the HELD bucket; the old sweeper read the 500 oldest), each padded so the
    # bucket takes more than one 1 MB page of Query
    dep = plane.submit({"name": "dep"})
    held = plane.submit({"name": "held", "dependsOn": [{"jobId": dep["jobId"]}]})
    template = item(stack, held["jobId"])
    pad = "x" * 8_000
    with stack.observing():
        db = boto3.client("dynamodb", region_name=REGION)
        for i in range(700):
            job_id = f"{held['jobId'][:-4]}{i:04d}"
            copy = {**template, "pk": {"S": f"JOB#{job_id}"}, "jobId": {"S": job_id}, "pad": {"S": pad}}
            copy["gsi2pk"] = {"S": f"HELD#{shard_of(job_id, SHARDS)}"}
            db.put_item(TableName=stack.table_name, Item=copy)
    stack.calls.reset()
    # WHEN the sweeper's store reads the bucket, as the sweeper
    from batchplane import wiring

    with stack.acting_as("sweeper"):
        found = wiring.lifecycle_service()._store.bucket("HELD")
    # THEN all 701 are there, oldest first, read over more than one page of some shard
    assert len(found) == 701
    queries = stack.calls.counts["dynamodb.Query"]
    assert queries > SHARDS + 1  # at least one shard took a second page
    assert [j.created_at for j in found] == sorted(j.created_at for j in found)


def test_quiet_active_jobs_are_not_read_until_due_and_legacy_ones_move_to_their_shard(
    plane: Plane, stack: Stack
) -> None:
    # GIVEN a job RUNNING (Batch heard from just now: due for a look in 15 minutes), and one filed as before
    # sharding: gsi2pk "ACTIVE", sorted by creation time
    quiet = plane.submit({"name": "quiet"})
    assert plane.deliver(plane.event("RUNNING", quiet)) == "recorded"
    old = plane.submit({"name": "old"})
    assert plane.deliver(plane.event("RUNNING", old)) == "recorded"
    refile(stack, old["jobId"], gsi2pk="ACTIVE", gsi2sk=old["createdAt"])
    stack.calls.reset()
    # WHEN the sweeper runs
    report = plane.sweep()
    # THEN the quiet job was not read at all (not due), nothing was described
    assert report["describe_calls"] == 0
    assert item(stack, quiet["jobId"])["gsi2pk"]["S"] == f"ACTIVE#{shard_of(quiet['jobId'], SHARDS)}"
    # AND the legacy job was read (the legacy key has no due order) and filed in its shard for a later look
    assert report["looked_later"] == 1
    moved = item(stack, old["jobId"])
    assert moved["gsi2pk"]["S"] == f"ACTIVE#{shard_of(old['jobId'], SHARDS)}"
    assert moved["gsi2sk"]["S"] > f"{int(time.time() * 1000):013d}"  # due in the future
    # WHEN the sweeper runs again
    stack.calls.reset()
    again = plane.sweep()
    # THEN neither is read or written: no job is due (only the lease's two writes)
    assert again["looked_later"] == 0
    assert stack.calls.counts["dynamodb.UpdateItem"] == 2


class ShortOfTime(FakeLambdaContext):
    """An invocation whose remaining time drops below the sweeper's margin after ``calls`` looks at the clock."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return 50_000 if self.calls >= 0 else 1_000


def test_a_sweep_short_of_time_stops_gives_the_lease_back_and_the_next_one_finishes(plane: Plane, stack: Stack) -> None:
    # GIVEN 6 jobs whose retries are due
    jobs = [plane.submit({"name": f"late-{i}", "retry": FAST_RETRY}) for i in range(6)]
    for job in jobs:
        assert plane.deliver(plane.event("FAILED", job, seconds=3)) == "retry-scheduled"
    time.sleep(0.3)
    # WHEN a sweep runs whose invocation has time for 2 of them
    event = {"source": "aws.events", "detail-type": "Scheduled Event"}
    first = plane.sweeper.lambda_handler(event, ShortOfTime(calls=2))
    # THEN it released 2, said it stopped short, and gave the lease back (the next sweep is not locked out)
    assert len(first["released"]) == 2
    assert first["cut_short"] is True
    with stack.observing():
        lease = boto3.client("dynamodb", region_name=REGION).get_item(
            TableName=stack.table_name, Key={"pk": {"S": "LEASE#sweeper"}, "sk": {"S": "LEASE"}}
        )["Item"]
    assert lease["leaseUntil"]["N"] == "0"
    # AND the next sweep releases the rest: nothing was lost, only late
    second = plane.sweep()
    assert second["cut_short"] is False
    assert sorted(first["released"] + second["released"]) == sorted(j["jobId"] for j in jobs)
