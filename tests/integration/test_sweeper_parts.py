"""The sweep runs in parts, all at once: each of the sweeper's schedules names one part of 16 (its constant input),
and each part sweeps its share of the shards (``part_shards``) under its own lease. Under each function's enforced
role, counting calls (never timing them): every shard's due work is acted on once over the parts, a part's lease
keeps that part single-flight and no other, a part short of time gives its lease back, and a queue blocked at its
head in one part's shards moves the jobs behind it in another's."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from batchplane.domain.sweep_keys import BUCKETS, part_shards, shard_of

from tests.cfn import resources
from tests.conftest import BASE_PARAMETERS, REGION, Stack
from tests.handlers import FakeLambdaContext
from tests.integration.conftest import Plane
from tests.integration.test_sweeper_shards import ShortOfTime, gsi2_keys_queried, item, refile

pytestmark = pytest.mark.integration
SHARDS = 4
FAST_RETRY = {"attempts": 2, "backoff": {"baseSeconds": 0.2, "maxSeconds": 0.2}}


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {**BASE_PARAMETERS, "SweeperShards": SHARDS}


def sweep_part(plane: Plane, part: int, parts: int, ctx: Any = None) -> dict[str, Any]:
    """One part's invocation, as its schedule sends it (the schedule's constant input, not a Scheduled Event)."""
    return plane.sweeper.lambda_handler({"part": part, "parts": parts}, ctx or FakeLambdaContext())


def lease(stack: Stack, name: str) -> dict[str, Any] | None:
    with stack.observing():
        got = boto3.client("dynamodb", region_name=REGION).get_item(
            TableName=stack.table_name, Key={"pk": {"S": f"LEASE#{name}"}, "sk": {"S": "LEASE"}}
        )
    return got.get("Item")


def due_retries_in_every_shard(plane: Plane) -> list[dict[str, Any]]:
    """Jobs whose retries are due, at least one in each shard (job ids are random: submit until each holds one)."""
    jobs: list[dict[str, Any]] = []
    while len(jobs) < 6 or {shard_of(j["jobId"], SHARDS) for j in jobs} != set(range(SHARDS)):
        assert len(jobs) < 200, "job ids never reached every shard"
        jobs.append(plane.submit({"name": f"part-{len(jobs)}", "retry": FAST_RETRY}))
    for job in jobs:
        assert plane.deliver(plane.event("FAILED", job, seconds=3)) == "retry-scheduled"
    return jobs


def test_the_template_schedules_one_sweep_a_minute_in_16_parts_covering_each_once() -> None:
    # GIVEN the sweeper's schedules in the template
    events = resources()["SweeperFunction"]["Properties"]["Events"]
    schedules = [e["Properties"] for e in events.values() if e["Type"] == "Schedule"]
    # THEN each fires every minute with a constant input naming one part of 16, every part exactly once
    assert {s["Schedule"] for s in schedules} == {"rate(1 minute)"}
    parts = sorted((json.loads(s["Input"])["part"], json.loads(s["Input"])["parts"]) for s in schedules)
    assert parts == [(p, 16) for p in range(16)]
    # AND at the default 16 shards, each part reads exactly one (part 0 also the legacy keys)
    assert [part_shards(p, 16, 16) for p in range(16)] == [(p,) for p in range(16)]
    # AND the stuck-RUNNABLE alarm adds the parts' counts up (each part counts its own shards once a minute)
    alarm = resources()["JobsStuckRunnableAlarm"]["Properties"]
    assert alarm["Statistic"] == "Sum"
    assert alarm["Period"] == 60


@pytest.mark.parametrize(
    "event",
    [{"part": 16, "parts": 16}, {"part": -1, "parts": 4}, {"part": "0", "parts": 2}, {"part": True, "parts": 2}],
)
def test_a_schedule_input_naming_no_part_is_refused_before_any_call(
    plane: Plane, stack: Stack, event: dict[str, Any]
) -> None:
    # GIVEN a schedule whose constant input names no part of the sweep
    stack.calls.reset()
    # WHEN it invokes the sweeper THEN the invocation fails (async: no retry, the schedule's next minute comes) and
    # nothing was called
    with pytest.raises(ValueError, match="sweep part"):
        plane.sweeper.lambda_handler(event, FakeLambdaContext())
    assert stack.calls.total == 0


def test_every_shards_due_work_is_acted_on_once_over_the_parts(plane: Plane, stack: Stack) -> None:
    # GIVEN due retries in every one of the 4 shards, one of them filed as before sharding (the bare "RETRY" key)
    jobs = due_retries_in_every_shard(plane)
    legacy = jobs[0]["jobId"]
    refile(stack, legacy, gsi2pk="RETRY")
    time.sleep(0.3)
    stack.calls.reset()
    # WHEN the sweep runs in 3 parts (uneven: part 0 reads shards 0 and 3 and the legacy keys)
    reports = [sweep_part(plane, p, 3) for p in range(3)]
    # THEN every due retry was released exactly once, by the part that holds its shard (the legacy one by part 0)
    released = [j for r in reports for j in r["released"]]
    assert sorted(released) == sorted(j["jobId"] for j in jobs)
    for report in reports:
        for job_id in report["released"]:
            expected = 0 if job_id == legacy else shard_of(job_id, SHARDS) % 3
            assert report["part"] == expected, job_id
    assert stack.calls.counts["batch.SubmitJob"] == len(jobs)
    # AND each key of each bucket was read once over the parts, none twice
    queried = gsi2_keys_queried(stack)
    assert sorted(queried) == sorted({f"{b}#{n}" for b in BUCKETS for n in range(SHARDS)} | set(BUCKETS))
    # AND each part held its own lease and gave it back
    for p in range(3):
        item = lease(stack, f"sweeper#{p}")
        assert item is not None
        assert item["leaseUntil"]["N"] == "0"


def test_parts_beyond_the_shard_count_make_no_call(plane: Plane, stack: Stack) -> None:
    # GIVEN 4 shards and the template's 16 parts
    stack.calls.reset()
    # WHEN parts 4..15 run (no shard is theirs)
    reports = [sweep_part(plane, p, 16) for p in range(SHARDS, 16)]
    # THEN none touched AWS, not even a lease
    assert stack.calls.total == 0
    assert all(r["released"] == [] and r["skipped"] is False for r in reports)


def test_a_parts_lease_keeps_that_part_single_flight_and_no_other(plane: Plane, stack: Stack) -> None:
    # GIVEN due retries in every shard, and another container sweeping part 1 (holding its lease)
    jobs = due_retries_in_every_shard(plane)
    with stack.observing():
        boto3.client("dynamodb", region_name=REGION).put_item(
            TableName=stack.table_name,
            Item={
                "pk": {"S": "LEASE#sweeper#1"},
                "sk": {"S": "LEASE"},
                "owner": {"S": "another-container"},
                "leaseUntil": {"N": str(int(time.time() * 1000) + 60_000)},
            },
        )
    time.sleep(0.3)
    stack.calls.reset()
    # WHEN this container runs part 1
    report = sweep_part(plane, 1, SHARDS)
    # THEN it did nothing but try its lease
    assert report["skipped"] is True
    assert stack.calls.counts == {"dynamodb.UpdateItem": 1}
    # WHEN the other parts run
    others = [sweep_part(plane, p, SHARDS) for p in (0, 2, 3)]
    # THEN they release the jobs of their shards, and only those: shard 1's wait for part 1's next sweep
    released = sorted(j for r in others for j in r["released"])
    assert released == sorted(j["jobId"] for j in jobs if shard_of(j["jobId"], SHARDS) != 1)


def test_a_part_short_of_time_gives_its_lease_back_and_its_next_sweep_finishes(plane: Plane, stack: Stack) -> None:
    # GIVEN several due retries in one shard (part 2 of 4 reads shard 2 alone)
    jobs: list[dict[str, Any]] = []
    while len(jobs) < 4:
        job = plane.submit({"name": f"late-{len(jobs)}", "retry": FAST_RETRY})
        if shard_of(job["jobId"], SHARDS) == 2:
            jobs.append(job)
    for job in jobs:
        assert plane.deliver(plane.event("FAILED", job, seconds=3)) == "retry-scheduled"
    time.sleep(0.3)
    # WHEN part 2 runs with time for 1 of them
    first = sweep_part(plane, 2, SHARDS, ShortOfTime(calls=1))
    # THEN it stopped short and gave its lease back
    assert first["cut_short"] is True
    assert len(first["released"]) == 1
    item = lease(stack, "sweeper#2")
    assert item is not None
    assert item["leaseUntil"]["N"] == "0"
    # AND its next sweep releases the rest
    second = sweep_part(plane, 2, SHARDS)
    assert second["cut_short"] is False
    assert sorted(first["released"] + second["released"]) == sorted(j["jobId"] for j in jobs)


def head_and_follower_in_different_parts(plane: Plane) -> tuple[dict[str, Any], dict[str, Any]]:
    """A job that heads a Spot queue blocked for capacity and one behind it, in different shards (so parts)."""
    spec = {"retry": {"stuckRunnableSeconds": 60}}
    head = plane.submit({"name": "head", **spec})
    behind = plane.submit({"name": "behind", **spec})
    while shard_of(behind["jobId"], SHARDS) == shard_of(head["jobId"], SHARDS):
        behind = plane.submit({"name": "behind", **spec})
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    plane.deliver(plane.event("BLOCKED", head, when=long_ago))
    plane.deliver(plane.event("RUNNABLE", behind, when=long_ago))
    return head, behind


def test_a_head_blocked_in_one_part_moves_the_jobs_behind_it_in_another(plane: Plane, stack: Stack) -> None:
    # GIVEN a Spot queue blocked at its head (AWS's capacity reason on the head only) and a job behind it past its
    # dwell, in another shard
    head, behind = head_and_follower_in_different_parts(plane)
    head_part, behind_part = shard_of(head["jobId"], SHARDS), shard_of(behind["jobId"], SHARDS)
    # WHEN the head's part sweeps, then the follower's (parts run at once: here, one after the other)
    first = sweep_part(plane, head_part, SHARDS)
    second = sweep_part(plane, behind_part, SHARDS)
    # THEN the head moved to On-Demand in its part, and the job behind it in the other, in the same minute
    assert first["moved_to_on_demand"] == [head["jobId"]]
    assert second["moved_to_on_demand"] == [behind["jobId"]]
    moved = plane.job(behind["jobId"])["attempts"][-1]
    assert "queue blocked at its head: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY" in moved["explanation"]


def test_a_head_published_after_the_followers_part_swept_counts_at_its_next_sweep(plane: Plane, stack: Stack) -> None:
    # GIVEN the same queue, blocked at its head in one part and a job behind it in another
    head, behind = head_and_follower_in_different_parts(plane)
    head_part, behind_part = shard_of(head["jobId"], SHARDS), shard_of(behind["jobId"], SHARDS)
    # WHEN the follower's part sweeps before the head's part has ever swept
    early = sweep_part(plane, behind_part, SHARDS)
    # THEN the follower waits: nothing told its part of the head (it has no reason of its own)
    assert early["moved_to_on_demand"] == []
    # WHEN the head's part sweeps (publishing the head it saw), and the follower's part sweeps again
    assert sweep_part(plane, head_part, SHARDS)["moved_to_on_demand"] == [head["jobId"]]
    later = sweep_part(plane, behind_part, SHARDS)
    # THEN the follower moves at that next sweep: a minute late, never lost
    assert later["moved_to_on_demand"] == [behind["jobId"]]


def test_a_parts_look_later_writes_are_made_once_each_in_flight_together(plane: Plane, stack: Stack) -> None:
    # GIVEN 12 RUNNING jobs, all due for a look (filed as due a minute ago) with nothing to do (heard from just now)
    jobs = [plane.submit({"name": f"quiet-{i}"}) for i in range(12)]
    past = int(time.time() * 1000) - 60_000
    for job in jobs:
        assert plane.deliver(plane.event("RUNNING", job)) == "recorded"
        refile(stack, job["jobId"], gsi2sk=f"{past:013d}#{job['jobId']}")
    stack.calls.reset()
    # WHEN the sweep runs in its parts
    reports = [sweep_part(plane, p, SHARDS) for p in range(SHARDS)]
    # THEN each job was filed for a later look exactly once (one conditional write each, several at once), and
    # nothing else was written but each part's lease (taken, given back) and its heads
    assert sum(r["looked_later"] for r in reports) == len(jobs)
    assert stack.calls.counts["dynamodb.UpdateItem"] == len(jobs) + 3 * SHARDS
    now_ms = int(time.time() * 1000)
    for job in jobs:
        filed = item(stack, job["jobId"])
        assert filed["gsi2pk"]["S"] == f"ACTIVE#{shard_of(job['jobId'], SHARDS)}"
        assert filed["gsi2sk"]["S"] > f"{now_ms:013d}"  # due again in the future
    # AND a second sweep finds none of them due
    stack.calls.reset()
    assert sum(sweep_part(plane, p, SHARDS)["looked_later"] for p in range(SHARDS)) == 0
