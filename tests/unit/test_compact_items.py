"""A job item keeps its request compact (defaults dropped) and the first attempt's explanation once: what is read
back is exactly what was written."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane.adapters.dynamo.items import job_from_item, job_to_item, stored_request
from batchplane.domain.models import Capacity, CapacityPreference, JobRequest, JobStatus
from batchplane.domain.records import AttemptRecord, JobRecord

pytestmark = pytest.mark.unit

REQUESTS: list[dict[str, Any]] = [
    {"name": "plain", "command": ["echo", "hi"]},
    {"name": "sized", "command": ["x"], "vcpus": 4, "memoryMiB": 8192, "gpus": 1, "priority": "urgent"},
    {"name": "array", "command": ["x"], "arraySize": 10, "retry": {"attempts": 3, "arrayRetry": "failed-children"}},
    {"name": "mnp", "command": ["x"], "nodes": {"count": 3}, "timeoutSeconds": 600},
    {
        "name": "full",
        "command": ["sh", "-c", "echo $X"],
        "capacity": "on-demand",
        "environment": {"X": "1"},
        "tags": {"team": "a"},
        "inputs": ["s3://b/in"],
        "outputs": ["s3://b/out"],
        "parameters": {"p": "v"},
        "retry": {"attempts": 5, "backoff": {"baseSeconds": 1, "multiplier": 3}, "retryExitCodes": [3]},
    },
]


def job_of(request: dict[str, Any], explanation: str = "placed") -> JobRecord:
    canonical = JobRequest.model_validate(request).canonical()
    attempt = AttemptRecord.new(
        "01J0000000000000000000000A",
        canonical["name"],
        after=None,
        reason="initial",
        queue_arn="arn:aws:batch:us-east-1:123456789012:job-queue/s_normal_spot",
        capacity=Capacity.SPOT,
        now_ms=1,
        memory_mib=None,
        vcpus=None,
        explanation=explanation,
    )
    return JobRecord(
        job_id="01J0000000000000000000000A",
        tenant="t",
        name=canonical["name"],
        status=JobStatus.SUBMITTED,
        created_at="2026-12-01T00:00:00.000Z",
        updated_at="2026-12-01T00:00:00.000Z",
        request=canonical,
        request_hash="h",
        priority="normal",
        preference=CapacityPreference.SPOT_FIRST,
        queue_arn=attempt.queue_arn,
        capacity=Capacity.SPOT,
        placement_reason="placed",
        job_definition="sample",
        attempts=[attempt],
    )


@pytest.mark.parametrize("request_body", REQUESTS, ids=[r["name"] for r in REQUESTS])
def test_the_request_and_the_first_explanation_read_back_as_written(request_body: dict[str, Any]) -> None:
    # GIVEN a job
    job = job_of(request_body)
    # WHEN it is stored and read back
    item = job_to_item(job)
    back = job_from_item(item)
    # THEN the request is the canonical one, defaults included, and the explanation is the placement reason
    assert back.request == job.request
    assert back.attempts[0].explanation == "placed"
    # AND the item holds the compact form only, and no second copy of the explanation
    assert "request" not in item
    assert len(item["rq"]["S"]) < len(str(job.request))
    assert "explanation" not in item["att"]["M"]["1"]["M"]


def test_an_explanation_unlike_the_placement_reason_is_kept() -> None:
    job = job_of(REQUESTS[0], explanation="something else")
    item = job_to_item(job)
    assert job_from_item(item).attempts[0].explanation == "something else"


def test_a_request_that_is_no_job_request_is_kept_as_it_is() -> None:
    # an adopted job's request: not a valid JobRequest (no command, no definition: whatever Batch ran)
    odd = {"retry": {"attempts": "many"}}
    assert stored_request(odd)[0][0] == "request"
