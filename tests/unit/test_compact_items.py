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


QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/s_normal_spot"
ON_DEMAND = "arn:aws:batch:us-east-1:123456789012:job-queue/s_normal_ondemand"
JOB_ID = "01J0000000000000000000000A"
TENANT = "arn:aws:sts::123456789012:assumed-role/genomics-team"
SHA = "fe2beb34ee2464e47e451bb62546e0577f3f945ba4a3b32ca8c309249a859a9e"


def lived(job: JobRecord) -> JobRecord:
    """The job after a Spot reclaim: a second attempt on On-Demand, counters up, the first attempt observed."""
    first = job.attempts[0]
    first.status, first.batch_job_id, first.rank_key = JobStatus.FAILED, "b-1", "06#2026-12-01T00:01:00Z#1#e1"
    first.status_reason, first.failure_class = "Host EC2 (instance i-1) terminated.", "spot-reclaim"
    second = AttemptRecord.new(
        job.job_id,
        job.name,
        after=first,
        reason="spot-fallback",
        queue_arn=ON_DEMAND,
        capacity=Capacity.ON_DEMAND,
        now_ms=2,
        memory_mib=None,
        vcpus=None,
        explanation="reclaimed: On-Demand",
    )
    job.attempts.append(second)
    job.current_attempt, job.queue_arn, job.capacity = 2, ON_DEMAND, Capacity.ON_DEMAND
    job.infrastructure_failures, job.spot_reclaims, job.cancel_requested = 1, 1, True
    return job


def tenant_job(request: dict[str, Any]) -> JobRecord:
    job = job_of(request, explanation="placed")
    job.tenant, job.request_hash, job.claim_token = TENANT, SHA, "4c45a7c9781c38d6"
    job.job_definition = "arn:aws:batch:us-east-1:123456789012:job-definition/s-sample:3"
    job.preference = CapacityPreference(job.request["capacity"])
    job.tags = dict(job.request["tags"])
    return job


@pytest.mark.parametrize("request_body", REQUESTS, ids=[r["name"] for r in REQUESTS])
def test_a_compact_item_reads_back_as_the_job_that_was_written(request_body: dict[str, Any]) -> None:
    # GIVEN a job as submitted, and the same job later (a second attempt, counters, a cancel)
    for job in (tenant_job(request_body), lived(tenant_job(request_body))):
        # WHEN it is stored and read back
        item = job_to_item(job)
        # THEN every field reads back as it was
        assert job_from_item(item) == job
        # AND what can be read elsewhere is not written again
        assert not {"jobId", "tenant", "createdAt", "type", "requestHash", "jobDefinition", "preference"} & set(item)
        assert {"batchJobName", "attempt", "queueArn"}.isdisjoint(item["att"]["M"]["1"]["M"])
        assert item["jd"] == {"S": "job-definition/s-sample:3"}
        assert len(item["rh"]["S"]) == 43


def test_defaults_are_not_written() -> None:
    item = job_to_item(tenant_job(REQUESTS[0]))
    assert not {"cancelRequested", "ownFailures", "infraFailures", "spotReclaims"} & set(item)
    assert "reason" not in item["att"]["M"]["1"]["M"]


def test_what_is_not_the_usual_form_is_kept_as_it_is() -> None:
    # GIVEN a job whose definition is in another account, with a hash that is no SHA-256 and a renamed Batch job
    job = tenant_job(REQUESTS[1])
    job.job_definition = "arn:aws:batch:eu-west-1:999999999999:job-definition/other:1"
    job.request_hash = "adopted"
    job.preference = CapacityPreference.ON_DEMAND  # not what the request says (spot-first)
    job.attempts[0].batch_job_name = "named-by-someone-else"
    # WHEN it is stored
    item = job_to_item(job)
    # THEN those are written in full, and read back
    assert item["jobDefinition"] == {"S": job.job_definition}
    assert item["requestHash"] == {"S": "adopted"}
    assert item["preference"] == {"S": "on-demand"}
    assert item["att"]["M"]["1"]["M"]["batchJobName"] == {"S": "named-by-someone-else"}
    assert job_from_item(item) == job


def test_an_item_written_before_the_compact_form_reads_as_it_did() -> None:
    # GIVEN a job item as it was written before (every attribute in full)
    job = lived(tenant_job(REQUESTS[4]))
    att = {
        str(a.attempt): {
            "M": {
                "attempt": {"N": str(a.attempt)},
                "reason": {"S": a.reason},
                "queueArn": {"S": a.queue_arn},
                "batchJobName": {"S": a.batch_job_name},
                "capacity": {"S": a.capacity.value},
                "status": {"S": a.status.value},
                "createdAt": {"N": str(a.created_at)},
                **({"replaces": {"N": str(a.replaces)}} if a.replaces else {}),
                **({"batchJobId": {"S": a.batch_job_id}} if a.batch_job_id else {}),
                **({"rk": {"S": a.rank_key}} if a.rank_key else {}),
                **({"statusReason": {"S": a.status_reason}} if a.status_reason else {}),
                **({"failureClass": {"S": a.failure_class}} if a.failure_class else {}),
                **({"explanation": {"S": a.explanation}} if a.attempt > 1 else {}),
            }
        }
        for a in job.attempts
    }
    old = {
        "pk": {"S": f"JOB#{JOB_ID}"},
        "sk": {"S": "JOB"},
        "type": {"S": "job"},
        "jobId": {"S": JOB_ID},
        "tenant": {"S": TENANT},
        "name": {"S": job.name},
        "status": {"S": job.status.value},
        "createdAt": {"S": job.created_at},
        "updatedAt": {"S": job.updated_at},
        "rq": job_to_item(job)["rq"],
        "requestHash": {"S": SHA},
        "priority": {"S": job.priority},
        "preference": {"S": job.preference.value},
        "queueArn": {"S": job.queue_arn},
        "capacity": {"S": job.capacity.value},
        "placementReason": {"S": job.placement_reason},
        "jobDefinition": {"S": job.job_definition},
        "currentAttempt": {"N": "2"},
        "cancelRequested": {"BOOL": True},
        "tags": {"M": {"team": {"S": "a"}}},
        "version": {"N": "1"},
        "ownFailures": {"N": "0"},
        "infraFailures": {"N": "1"},
        "spotReclaims": {"N": "1"},
        "claimToken": {"S": job.claim_token},
        "gsi1pk": {"S": f"TENANT#{TENANT}"},
        "gsi1sk": {"S": f"{job.created_at}#{JOB_ID}"},
        "att": {"M": att},
    }
    # WHEN it is read
    # THEN it is the job it was
    assert job_from_item(old) == job


def test_a_submitted_job_item_is_under_one_write_unit() -> None:
    # GIVEN a job as the gateway records it (a tenant's role ARN, Batch ARNs, a placement explanation)
    from tests.perf.costs import item_size

    job = tenant_job({"name": "bench-0", "command": ["echo", "0"], "vcpus": 7, "memoryMiB": 512, "tags": {"t": "b"}})
    job.placement_reason = job.attempts[0].explanation = (
        "priority high: Spot first (falls back to On-Demand on reclaim or capacity shortage) → s_normal_spot"
    )
    job.status_reason = "waiting for admission"
    # WHEN it is stored, listed by an item of its own
    item = job_to_item(job, listed=False)
    # THEN the item is billed one write unit (1 KB), not two, for the table and for each index that projects it
    assert item_size(item) <= 1024
    # AND it reads back as it was written, its placement reason without the queue it names (its first attempt's)
    assert item["pr"] == {"S": "priority high: Spot first (falls back to On-Demand on reclaim or capacity shortage)"}
    assert job_from_item(item) == job


@pytest.mark.parametrize("request_body", REQUESTS, ids=[r["name"] for r in REQUESTS])
def test_a_job_listed_by_an_item_of_its_own_reads_back_and_stays_out_of_gsi1(request_body: dict[str, Any]) -> None:
    from batchplane.adapters.dynamo.items import is_listing_item, listing_item

    for job in (tenant_job(request_body), lived(tenant_job(request_body))):
        # WHEN a job is stored listed by an item of its own
        item = job_to_item(job, listed=False)
        entry = listing_item(job, retention_days=90)
        # THEN the job's item holds no gsi1 key, and reads back as it was
        assert not {"gsi1pk", "gsi1sk"} & set(item)
        assert job_from_item(item) == job
        # AND its listing item is the job's key in gsi1, with what the list filters on, expiring in time
        assert is_listing_item(entry)
        assert not is_listing_item(item)
        assert entry["pk"] == item["pk"]
        assert entry["gsi1pk"] == {"S": f"TENANT#{TENANT}"}
        assert entry["gsi1sk"] == {"S": f"{job.created_at}#{job.job_id}"}
        assert entry["name"] == {"S": job.name}
        assert ("tags" in entry) == bool(job.tags)
        assert int(entry["expiresAt"]["N"]) > 1_796_083_200 + 455 * 86_400 - 1  # 2026-12-01 + 90 + 365 days


def test_a_stored_rank_key_orders_events_as_the_whole_key_does() -> None:
    from batchplane.adapters.dynamo.attempts import stored_rank_key
    from batchplane.domain.lifecycle import rank_key

    ids = ("71b5f72a-c5eb-4227-9db7-a34a0de7248f", "13e11d18-a755-40fa-ab8b-623921716e8e")
    keys = [
        rank_key(JobStatus.RUNNABLE, "2026-12-01T00:00:01Z", ids[0]),
        rank_key(JobStatus.RUNNABLE, "2026-12-01T00:00:01Z", ids[0], has_reason=True),
        rank_key(JobStatus.RUNNABLE, "2026-12-01T00:00:02Z", ids[1]),
        rank_key(JobStatus.STARTING, "2026-12-01T00:00:00Z", ids[1]),
        rank_key(JobStatus.SUCCEEDED, "2026-12-01T00:00:00Z", ids[0]),
    ]
    # GIVEN events of one attempt in their order; WHEN their keys are stored cut short; THEN they keep that order
    assert sorted(keys, key=stored_rank_key) == sorted(keys)
    assert len(stored_rank_key(keys[0])) == len(keys[0]) - 28
    # AND two events of one state and second order by their ids, cut or not
    same = [rank_key(JobStatus.RUNNING, "2026-12-01T00:00:05Z", i) for i in ids]
    assert sorted(same, key=stored_rank_key) == sorted(same)
    # AND a duplicate of an event whose key an earlier version stored whole is not newer than it (not applied again)
    assert not stored_rank_key(keys[2]) > keys[2]
