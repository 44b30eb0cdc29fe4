"""The table's TTL (expiresAt) is written when a job ends, in the write that ends it: a finished job expires
RetentionDays after it ended; an active job never does."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from tests.cfn import template
from tests.conftest import REGION, Stack
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration
DAY = 86_400


@pytest.fixture
def plane7(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> Plane:
    from batchplane import wiring

    monkeypatch.setenv("RETENTION_DAYS", "7")
    for built in (wiring.settings, wiring.job_service, wiring.lifecycle_service, wiring.pipeline_service):
        built.cache_clear()  # the call-counting session stays
    return plane


def item(stack: Stack, job_id: str) -> dict[str, Any]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    return ddb.get_item(TableName=stack.table_name, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}})["Item"]


def test_a_succeeded_job_expires_retention_days_after_it_ended_in_its_one_write(plane7: Plane, stack: Stack) -> None:
    # GIVEN a running job (active jobs never expire)
    job = plane7.submit({"name": "kept"})
    plane7.deliver(plane7.event("RUNNING", job))
    assert "expiresAt" not in item(stack, job["jobId"])
    stack.calls.reset()
    # WHEN it succeeds
    plane7.deliver(plane7.event("SUCCEEDED", job))
    # THEN the one write that ended it set expiresAt to about now + 7 days (epoch seconds): a guarded UpdateItem, or
    # (a job holding an admission) the transaction that also gives the admission back; the other write adds the
    # attempt's cost to the per-day rollup
    job_writes = [
        p["UpdateExpression"]
        for op, p in stack.calls.requests
        if op == "dynamodb.UpdateItem" and p["Key"]["pk"]["S"].startswith("JOB#")
    ] + [
        action["Update"]["UpdateExpression"]
        for op, p in stack.calls.requests
        if op == "dynamodb.TransactWriteItems"
        for action in p["TransactItems"]
        if "Update" in action and action["Update"]["Key"]["pk"]["S"].startswith("JOB#")
    ]
    assert len(job_writes) == 1
    assert "expiresAt = :exp" in job_writes[0]
    expires = int(item(stack, job["jobId"])["expiresAt"]["N"])
    assert abs(expires - (time.time() + 7 * DAY)) < 120


def test_a_failed_job_expires_too(plane7: Plane, stack: Stack) -> None:
    # GIVEN a job with one attempt
    job = plane7.submit({"name": "doomed"})
    # WHEN it fails for good
    plane7.deliver(plane7.event("FAILED", job, seconds=3))
    # THEN it ended FAILED with its expiry
    record = item(stack, job["jobId"])
    assert record["status"]["S"] == "FAILED"
    assert abs(int(record["expiresAt"]["N"]) - (time.time() + 7 * DAY)) < 120


def test_retention_is_a_documented_parameter_passed_to_every_function() -> None:
    parameter = template()["Parameters"]["RetentionDays"]
    assert parameter["Default"] == 90
    assert parameter["Description"]
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["RETENTION_DAYS"] == {"Ref": "RetentionDays"}
    assert template()["Resources"]["BatchplaneTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expiresAt",
        "Enabled": True,
    }
