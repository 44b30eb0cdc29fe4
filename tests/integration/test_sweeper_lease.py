"""The sweeper is single-flight by a lease item in the table (one conditional write), not by reserved concurrency:
a sweep that finds another container's unexpired lease does nothing; an expired lease is taken over."""

from __future__ import annotations

import time

import boto3
import pytest

from tests.cfn import resources
from tests.conftest import REGION
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration


def hold_lease(plane: Plane, owner: str, until_ms: int) -> None:
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=plane.stack.table_name,
        Item={
            "pk": {"S": "LEASE#sweeper"},
            "sk": {"S": "LEASE"},
            "owner": {"S": owner},
            "leaseUntil": {"N": str(until_ms)},
        },
    )


def test_a_sweep_does_nothing_while_another_holds_the_lease_and_takes_an_expired_one(plane: Plane) -> None:
    # GIVEN a job whose retry is due (the sweeper's work), and another sweeper container holding the lease
    job = plane.submit({"name": "lease", "retry": {"attempts": 2, "backoff": {"baseSeconds": 0.2, "maxSeconds": 0.2}}})
    assert plane.deliver(plane.event("FAILED", job, seconds=3)) == "retry-scheduled"
    now_ms = int(time.time() * 1000)
    hold_lease(plane, "another-container", now_ms + 60_000)
    time.sleep(0.3)
    plane.stack.calls.reset()
    # WHEN this container's sweep runs
    report = plane.sweep()
    # THEN it did nothing but try the lease (one conditional write)
    assert report["skipped"] is True
    assert report["released"] == []
    assert plane.stack.calls.counts == {"dynamodb.UpdateItem": 1}
    assert plane.job(job["jobId"])["status"] == "PENDING"
    # WHEN the other's lease has expired (it crashed mid-sweep)
    hold_lease(plane, "another-container", now_ms - 1)
    report = plane.sweep()
    # THEN this sweep takes it over, does the work, and gives the lease back
    assert report["skipped"] is False
    assert report["released"] == [job["jobId"]]
    assert plane.stack.calls.counts["batch.SubmitJob"] == 1
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=plane.stack.table_name, Key={"pk": {"S": "LEASE#sweeper"}, "sk": {"S": "LEASE"}}
    )["Item"]
    assert item["owner"]["S"] != "another-container"
    assert item["leaseUntil"]["N"] == "0"
    assert int(item["expiresAt"]["N"]) > now_ms // 1000  # the lease item itself expires by TTL


def test_the_sweeper_reserves_no_concurrency() -> None:
    # GIVEN the sweeper function: reserved concurrency fails on accounts with a low concurrency quota
    sweeper = resources()["SweeperFunction"]["Properties"]
    # THEN it reserves none (the lease keeps sweeps single-flight)
    assert "ReservedConcurrentExecutions" not in sweeper
