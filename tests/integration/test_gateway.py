"""The gateway handler invoked as Lambda invokes it, with API Gateway HTTP API v2 events, against moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from batchplane.adapters.dynamo.items import job_from_item
from batchplane.domain.sweep_keys import bucket_key

from tests.apigw import ALICE, BOB, content_type, http_event, response_json
from tests.conftest import REGION, Stack
from tests.eventdata import load_event
from tests.handlers import FakeLambdaContext, load_handler

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(stack: Stack) -> Any:
    return load_handler("gateway")


def call(gateway: Any, event: dict[str, Any]) -> dict[str, Any]:
    return gateway.lambda_handler(event, FakeLambdaContext())


def submit(gateway: Any, body: dict[str, Any], *, dispatch: bool = True, **kwargs: Any) -> dict[str, Any]:
    """POST /jobs; unless ``dispatch`` is False, a QUEUED job is then admitted by one dispatcher tick and the answer
    carries its view as it is then, with the Batch job id (as POST /jobs answered when the gateway submitted)."""
    response = call(gateway, http_event("POST", "/jobs", body=body, **kwargs))
    return admitted(gateway, response, caller=kwargs.get("caller", ALICE)) if dispatch else response


def admitted(gateway: Any, response: dict[str, Any], caller: str | None = ALICE) -> dict[str, Any]:
    """One dispatcher tick (as the dispatcher function) after a 202 QUEUED answer; the answer with the job's view."""
    from batchplane import wiring
    from batchplane.services.dispatcher import DispatchReport
    from batchplane_local import iam

    from tests import handlers

    body = response_json(response)
    if response["statusCode"] != 202 or body.get("status") != "QUEUED":
        return response
    with iam.acting_as(handlers.PRINCIPALS["dispatcher"]):
        wiring.dispatcher().tick(DispatchReport())
    event = http_event(
        "GET",
        f"/jobs/{body['jobId']}",
        route="GET /jobs/{jobId}",
        path_parameters={"jobId": body["jobId"]},
        caller=caller,
    )
    view = response_json(call(gateway, event))
    current = view["attempts"][-1]
    queue = next(
        q["jobQueueArn"]
        for q in boto3.client("batch", region_name=REGION).describe_job_queues()["jobQueues"]
        if q["jobQueueName"] == current["queue"]
    )
    listed = boto3.client("batch", region_name=REGION).list_jobs(
        jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [current["batchJobName"]]}]
    )["jobSummaryList"]
    if listed and not view["batchJobId"]:
        view["batchJobId"] = current["batchJobId"] = listed[0]["jobId"]
    return {**response, "body": json.dumps(view)}


def batch_job(job_id: str) -> dict[str, Any]:
    return boto3.client("batch", region_name=REGION).describe_jobs(jobs=[job_id])["jobs"][0]


def job_item(stack: Stack, job_id: str) -> dict[str, Any]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    return ddb.get_item(TableName=stack.table_name, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}})["Item"]


def test_sample_event_submits_to_the_high_spot_queue_with_overrides_tags_and_name(gateway: Any, stack: Stack) -> None:
    # GIVEN the sample POST /jobs event (high priority, spot-first by default, 2 vCPU, 4096 MiB)
    event = load_event("http-api-post-jobs")
    # WHEN API Gateway invokes the gateway (and the dispatcher admits the job)
    response = admitted(gateway, call(gateway, event))
    # THEN it answers 202 with the job, its queue and why
    assert response["statusCode"] == 202, response["body"]
    body = response_json(response)
    assert body["status"] == "SUBMITTED"
    assert body["queue"] == "batchplane-test_high_spot"
    assert "Spot first" in body["placementReason"]
    assert body["batchJobId"]
    # AND the Batch job is in the chosen queue with our overrides, tags and deterministic name
    job = batch_job(body["batchJobId"])
    assert job["jobQueue"] == stack.queue("high", "spot")
    assert job["jobName"] == f"bp-{body['jobId']}-a1-align-sample-42"
    assert job["jobDefinition"] == stack.job_definitions["sample"]
    assert job["container"]["command"] == ["bwa", "mem", "ref.fa", "r1.fq"]
    sent = stack.calls.last("batch.SubmitJob")
    assert sent["containerOverrides"]["command"] == ["bwa", "mem", "ref.fa", "r1.fq"]
    assert sent["retryStrategy"] == {"attempts": 1}  # batchplane owns retries
    resources = {r["type"]: r["value"] for r in sent["containerOverrides"]["resourceRequirements"]}
    assert resources["MEMORY"] == "4096"
    assert resources["VCPU"] == "2"
    assert job["tags"]["batchplane:jobId"] == body["jobId"]
    assert job["tags"]["batchplane:attempt"] == "1"
    assert job["tags"]["batchplane:tenant"] == "arn:aws:sts::123456789012:assumed-role/genomics-team"
    assert job["tags"]["batchplane:stack"] == "batchplane-test"  # IAM lets only this stack stop or tag it
    # AND the DynamoDB record is the job, owned by the caller's role (not the session), active, listed under the tenant
    item = job_item(stack, body["jobId"])
    assert job_from_item(item).tenant == "arn:aws:sts::123456789012:assumed-role/genomics-team"
    assert item["status"]["S"] == "SUBMITTED"
    assert item["queueArn"]["S"] == stack.queue("high", "spot")
    # (listed by an item of its own, written with it, so that the job's own writes do not write gsi1 again)
    assert "gsi1pk" not in item
    listed = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=stack.table_name, Key={"pk": {"S": f"JOB#{body['jobId']}"}, "sk": {"S": "LISTED"}}
    )["Item"]
    assert listed["gsi1pk"]["S"] == "TENANT#arn:aws:sts::123456789012:assumed-role/genomics-team"
    assert item["gsi2pk"]["S"] == bucket_key("ACTIVE", body["jobId"], 16)  # the sweeper's index, in the job's shard
    assert item["idempotencyKey"]["S"] == "nightly-align-2026-11-24"


def test_submission_costs_one_aws_call(gateway: Any, stack: Stack) -> None:
    # GIVEN a warm gateway (clients made)
    submit(gateway, {"name": "warmup"}, dispatch=False)
    stack.calls.reset()
    # WHEN a job is submitted
    response = submit(
        gateway, {"name": "counted", "command": ["true"]}, headers={"Idempotency-Key": "k-1"}, dispatch=False
    )
    # THEN exactly one transaction was made (the job QUEUED, its tenant's queued count), and no SubmitJob
    assert response["statusCode"] == 202
    assert dict(stack.calls.counts) == {"dynamodb.TransactWriteItems": 1}


@pytest.mark.parametrize(
    ("priority", "capacity", "queue"),
    [
        ("low", "spot-first", ("low", "spot")),
        ("normal", "spot", ("normal", "spot")),
        ("urgent", "on-demand", ("urgent", "on-demand")),
        ("high", "on-demand", ("high", "on-demand")),
    ],
)
def test_priority_and_capacity_choose_the_queue(
    gateway: Any, stack: Stack, priority: str, capacity: str, queue: tuple[str, str]
) -> None:
    # GIVEN a job with a priority class and capacity preference / WHEN submitted
    response = submit(gateway, {"name": "q", "priority": priority, "capacity": capacity})
    # THEN the Batch job sits in that class's queue
    assert response["statusCode"] == 202
    assert batch_job(response_json(response)["batchJobId"])["jobQueue"] == stack.queue(*queue)


def test_multi_node_job_goes_to_the_multinode_queue_never_spot(gateway: Any, stack: Stack) -> None:
    # GIVEN a multi-node parallel job (spot-first by default) / WHEN submitted
    response = submit(gateway, {"name": "mpi", "nodes": {"count": 4}, "jobDefinition": "mnp-sample", "vcpus": 4})
    # THEN it goes to the On-Demand multi-node queue with node overrides
    assert response["statusCode"] == 202, response["body"]
    body = response_json(response)
    assert body["queue"] == "batchplane-test_multinode"
    assert "never run on Spot" in body["placementReason"]
    sent = stack.calls.last("batch.SubmitJob")
    assert sent["nodeOverrides"]["numNodes"] == 4
    assert "containerOverrides" not in sent
    # AND a container definition is refused for nodes, naming jobDefinition
    response = submit(gateway, {"name": "mpi", "nodes": {"count": 4}, "jobDefinition": "sample"})
    assert response["statusCode"] == 422
    assert response_json(response)["errors"][0]["field"] == "jobDefinition"
    # AND asking Spot explicitly for a multi-node job is refused, naming capacity
    response = submit(
        gateway, {"name": "mpi", "nodes": {"count": 4}, "capacity": "spot", "jobDefinition": "mnp-sample"}
    )
    assert response["statusCode"] == 422
    assert response_json(response)["errors"][0]["field"] == "capacity"


def test_idempotency_key_replays_the_original_job(gateway: Any, stack: Stack) -> None:
    # GIVEN a job submitted with an Idempotency-Key
    body = {"name": "once", "command": ["echo", "1"]}
    first = submit(gateway, body, headers={"Idempotency-Key": "abc-123"})
    assert first["statusCode"] == 202
    # WHEN the same key and body arrive again
    stack.calls.reset()
    again = submit(gateway, body, headers={"Idempotency-Key": "abc-123"})
    # THEN the original job comes back, flagged as replayed, and no second Batch job is made
    assert again["statusCode"] == 202
    assert response_json(again)["jobId"] == response_json(first)["jobId"]
    assert again["headers"]["Idempotent-Replayed"] == "true"
    assert stack.calls.counts["batch.SubmitJob"] == 0
    batch = boto3.client("batch", region_name=REGION)
    listed = batch.list_jobs(jobQueue=stack.queue("normal", "spot"), jobStatus="SUCCEEDED")["jobSummaryList"]
    assert len([j for j in listed if j["jobName"].startswith(f"bp-{response_json(first)['jobId']}")]) == 1


def test_idempotency_key_with_another_body_is_422(gateway: Any, stack: Stack) -> None:
    # GIVEN a key already used
    submit(gateway, {"name": "once"}, headers={"Idempotency-Key": "same"})
    # WHEN it is reused with a different body
    response = submit(gateway, {"name": "twice"}, headers={"Idempotency-Key": "same"})
    # THEN 422 problem+json says so
    assert response["statusCode"] == 422
    assert content_type(response) == "application/problem+json"
    assert response_json(response)["type"].endswith("/idempotency-key-reused")


def test_same_key_from_another_tenant_is_another_job(gateway: Any, stack: Stack) -> None:
    # GIVEN alice used a key / WHEN bob uses the same key
    a = submit(gateway, {"name": "x"}, headers={"Idempotency-Key": "shared"}, caller=ALICE)
    b = submit(gateway, {"name": "x"}, headers={"Idempotency-Key": "shared"}, caller=BOB)
    # THEN each has their own job
    assert a["statusCode"] == b["statusCode"] == 202
    assert response_json(a)["jobId"] != response_json(b)["jobId"]


def test_tenant_sees_and_cancels_only_its_own_jobs(gateway: Any, stack: Stack) -> None:
    # GIVEN alice's job
    job_id = response_json(submit(gateway, {"name": "mine"}, caller=ALICE))["jobId"]
    path = f"/jobs/{job_id}"
    # WHEN bob reads, lists or cancels it THEN it does not exist for him
    got = call(
        gateway, http_event("GET", path, caller=BOB, route="GET /jobs/{jobId}", path_parameters={"jobId": job_id})
    )
    assert got["statusCode"] == 404
    assert content_type(got) == "application/problem+json"
    listed = response_json(call(gateway, http_event("GET", "/jobs", caller=BOB)))
    assert listed["jobs"] == []
    cancelled = call(
        gateway,
        http_event(
            "POST", f"{path}/cancel", caller=BOB, route="POST /jobs/{jobId}/cancel", path_parameters={"jobId": job_id}
        ),
    )
    assert cancelled["statusCode"] == 404
    # AND alice still can
    mine = call(
        gateway, http_event("GET", path, caller=ALICE, route="GET /jobs/{jobId}", path_parameters={"jobId": job_id})
    )
    assert mine["statusCode"] == 200
    assert response_json(mine)["attempts"][0]["reason"] == "initial"


def test_get_job_shows_the_planned_attempt(gateway: Any, stack: Stack) -> None:
    job_id = response_json(submit(gateway, {"name": "show", "memoryMiB": 1024}))["jobId"]
    got = response_json(
        call(
            gateway, http_event("GET", f"/jobs/{job_id}", route="GET /jobs/{jobId}", path_parameters={"jobId": job_id})
        )
    )
    assert got["jobId"] == job_id
    assert got["attempts"][0]["memoryMiB"] == 1024
    assert got["attempts"][0]["batchJobName"].startswith(f"bp-{job_id}-a1")
    assert got["attempts"][0]["capacity"] == "spot"


def test_get_job_shows_what_it_depends_on(gateway: Any, stack: Stack) -> None:
    # GIVEN a job, and a second one depending on it
    first = response_json(submit(gateway, {"name": "first"}))["jobId"]
    second = response_json(submit(gateway, {"name": "second", "dependsOn": [{"jobId": first}]}))["jobId"]
    # WHEN reading each
    got = [
        response_json(
            call(gateway, http_event("GET", f"/jobs/{j}", route="GET /jobs/{jobId}", path_parameters={"jobId": j}))
        )
        for j in (first, second)
    ]
    # THEN the second says what it waits for; the first waits for nothing
    assert [g["dependsOn"] for g in got] == [[], [{"jobId": first, "type": None}]]


def test_list_is_paginated_with_an_opaque_token_and_filters(gateway: Any, stack: Stack) -> None:
    # GIVEN five jobs, two tagged team=a
    for i in range(5):
        tags = {"team": "a"} if i < 2 else {"team": "b"}
        submit(gateway, {"name": f"job-{i}", "tags": tags})
    # WHEN listing two at a time
    seen: list[str] = []
    token = None
    while True:
        query = {"limit": "2"} | ({"nextToken": token} if token else {})
        page = response_json(call(gateway, http_event("GET", "/jobs", query=query)))
        seen += [j["name"] for j in page["jobs"]]
        token = page.get("nextToken")
        if not token:
            break
    # THEN every job comes once, newest first
    assert sorted(seen) == [f"job-{i}" for i in range(5)]
    assert len(seen) == 5
    # AND filters narrow the list
    tagged = response_json(call(gateway, http_event("GET", "/jobs", query={"tag": "team=a"})))
    assert sorted(j["name"] for j in tagged["jobs"]) == ["job-0", "job-1"]
    named = response_json(call(gateway, http_event("GET", "/jobs", query={"name": "job-3"})))
    assert [j["name"] for j in named["jobs"]] == ["job-3"]
    by_status = response_json(call(gateway, http_event("GET", "/jobs", query={"status": "SUCCEEDED"})))
    assert by_status["jobs"] == []


def test_the_list_mixes_jobs_listed_by_their_own_item_and_jobs_listed_themselves(gateway: Any, stack: Stack) -> None:
    from batchplane.adapters.dynamo.items import job_to_item

    # GIVEN three jobs submitted now (each listed by an item of its own, written with it)
    made = [response_json(submit(gateway, {"name": f"job-{i}", "tags": {"team": "ab"[i > 0]}})) for i in range(3)]
    # AND two older ones written as jobs were before (listed themselves), and a listing item whose job is gone
    ddb = boto3.client("dynamodb", region_name=REGION)
    for i in range(2):
        old = job_from_item(job_item(stack, made[0]["jobId"]))
        old.job_id, old.name, old.created_at = (
            f"01J000000000000000000000{i}A",
            f"old-{i}",
            f"2026-01-01T00:00:0{i}.000Z",
        )
        old.tags = old.request["tags"] = {"team": "ab"[i > 0]}
        ddb.put_item(TableName=stack.table_name, Item=job_to_item(old))
    gone = "01J0000000000000000000009A"
    listing = {"gsi1pk": {"S": f"TENANT#{ALICE}"}, "gsi1sk": {"S": f"2026-01-01T00:00:05.000Z#{gone}"}}
    ddb.put_item(TableName=stack.table_name, Item={"pk": {"S": f"JOB#{gone}"}, "sk": {"S": "LISTED"}, **listing})
    # WHEN listing two at a time
    seen: list[str] = []
    token = None
    while True:
        query = {"limit": "2"} | ({"nextToken": token} if token else {})
        page = response_json(call(gateway, http_event("GET", "/jobs", query=query)))
        seen += [j["name"] for j in page["jobs"]]
        token = page.get("nextToken")
        if not token:
            break
    # THEN every job comes once, newest first, whichever way it is listed; the one that is gone does not
    assert seen == ["job-2", "job-1", "job-0", "old-1", "old-0"]
    # AND the filters hold for both
    tagged = response_json(call(gateway, http_event("GET", "/jobs", query={"tag": "team=a"})))
    assert [j["name"] for j in tagged["jobs"]] == ["job-0", "old-0"]
    named = response_json(call(gateway, http_event("GET", "/jobs", query={"name": "old-1"})))
    assert [j["name"] for j in named["jobs"]] == ["old-1"]
    by_status = response_json(call(gateway, http_event("GET", "/jobs", query={"status": "SUBMITTED", "limit": "2"})))
    assert [j["name"] for j in by_status["jobs"]] == ["job-2", "job-1"]
    rest = call(gateway, http_event("GET", "/jobs", query={"status": "SUBMITTED", "nextToken": by_status["nextToken"]}))
    assert [j["name"] for j in response_json(rest)["jobs"]] == ["job-0", "old-1", "old-0"]
    assert response_json(call(gateway, http_event("GET", "/jobs", query={"status": "FAILED"})))["jobs"] == []


def test_forged_next_token_is_400(gateway: Any, stack: Stack) -> None:
    response = call(gateway, http_event("GET", "/jobs", query={"nextToken": "eyJwayI6eyJTIjoiSk9CI3gifX0"}))
    assert response["statusCode"] == 400
    assert response_json(response)["errors"][0]["field"] == "nextToken"


def test_cancel_before_running_terminates_through_batch(gateway: Any, stack: Stack) -> None:
    # GIVEN a submitted job (no event has arrived yet, so its record is SUBMITTED)
    job_id = response_json(submit(gateway, {"name": "c"}))["jobId"]
    # WHEN its owner cancels it
    stack.calls.reset()
    response = call(
        gateway,
        http_event(
            "POST",
            f"/jobs/{job_id}/cancel",
            body={"reason": "wrong input"},
            route="POST /jobs/{jobId}/cancel",
            path_parameters={"jobId": job_id},
        ),
    )
    # THEN the answer says the job had not started (by our record), and Batch's TerminateJob is used, not CancelJob:
    # CancelJob is accepted and does nothing for a job that reached STARTING since our record was written
    assert response["statusCode"] == 200, response["body"]
    assert response_json(response)["action"] == "cancel"
    assert stack.calls.counts["batch.TerminateJob"] == 1
    assert stack.calls.counts["batch.CancelJob"] == 0
    assert job_item(stack, job_id)["cancelRequested"]["BOOL"] is True


def test_cancel_while_running_uses_terminate_job(gateway: Any, stack: Stack) -> None:
    # GIVEN a job whose record says RUNNING (as the job_events function records it)
    job_id = response_json(submit(gateway, {"name": "t"}))["jobId"]
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.update_item(
        TableName=stack.table_name,
        Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}},
        UpdateExpression="SET #s = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "RUNNING"}},
    )
    stack.calls.reset()
    # WHEN it is cancelled
    response = call(
        gateway,
        http_event(
            "POST", f"/jobs/{job_id}/cancel", route="POST /jobs/{jobId}/cancel", path_parameters={"jobId": job_id}
        ),
    )
    # THEN TerminateJob is used
    assert response_json(response)["action"] == "terminate"
    assert stack.calls.counts["batch.TerminateJob"] == 1


def test_queues_lists_the_catalogue(gateway: Any, stack: Stack) -> None:
    body = response_json(call(gateway, http_event("GET", "/queues")))
    names = {q["queue"] for q in body["queues"]}
    assert "batchplane-test_urgent_on-demand" in names
    assert any(q["multiNode"] for q in body["queues"])


def test_openapi_and_swagger_are_served(gateway: Any, stack: Stack) -> None:
    spec = response_json(call(gateway, http_event("GET", "/openapi.json")))
    assert "/jobs" in spec["paths"]
    assert "JobRequest" in json.dumps(spec)
    docs = call(gateway, http_event("GET", "/docs"))
    assert docs["statusCode"] == 200
    assert "swagger" in docs["body"].lower()


def test_openapi_names_every_job_status_cancelled_included(gateway: Any, stack: Stack) -> None:
    # GIVEN the served OpenAPI document
    spec = response_json(call(gateway, http_event("GET", "/openapi.json")))
    schemas = spec["components"]["schemas"]
    statuses = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "QUEUED"]
    # THEN a job's, a listed job's and a cancel's status are one of the statuses, CANCELLED among them
    for view in ("JobView", "JobSummary", "CancelView"):
        status = schemas[view]["properties"]["status"]
        enum = schemas[status["$ref"].rsplit("/", 1)[-1]]["enum"] if "$ref" in status else status.get("enum")
        assert enum == statuses, (view, status)
    # AND GET /jobs filters by any of them
    param = next(p for p in spec["paths"]["/jobs"]["get"]["parameters"] if p["name"] == "status")
    refs = [s["$ref"].rsplit("/", 1)[-1] for s in param["schema"].get("anyOf", [param["schema"]]) if "$ref" in s]
    assert [schemas[r]["enum"] for r in refs] == [statuses]


def test_unknown_route_is_problem_404(gateway: Any, stack: Stack) -> None:
    response = call(gateway, http_event("GET", "/nope"))
    assert response["statusCode"] == 404
    assert content_type(response) == "application/problem+json"


def test_no_identity_is_401(gateway: Any, stack: Stack) -> None:
    response = submit(gateway, {"name": "anon"}, caller=None)
    assert response["statusCode"] == 401
    assert content_type(response) == "application/problem+json"


def test_logs_carry_no_job_environment_and_errors_no_internals(gateway: Any, stack: Stack, capsys: Any) -> None:
    # GIVEN a job whose environment holds a secret
    secret = "s3cr3t-token-value"
    response = submit(gateway, {"name": "env", "environment": {"API_TOKEN": secret}})
    assert response["statusCode"] == 202
    # WHEN the gateway has logged what it logs
    out = capsys.readouterr()
    # THEN the secret appears nowhere in its logs, nor in an error answer
    assert secret not in out.out + out.err
    bad = submit(gateway, {"name": "bad name", "environment": {"API_TOKEN": secret}})
    assert secret not in bad["body"]
    assert "Traceback" not in bad["body"]


def test_batch_throttling_is_retried_after_a_lookup_by_name(stack: Stack) -> None:
    from batchplane import wiring

    gateway = load_handler("gateway")
    throttle = {"left": 1}

    def answer(**_: Any) -> None:
        if throttle["left"]:
            throttle["left"] -= 1
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Too Many Requests"}}, "x")

    wiring.aws.session().events.register("before-call.batch.SubmitJob", answer)  # before the clients are made
    # WHEN Batch answers the first SubmitJob (the dispatcher's) with TooManyRequestsException
    response = submit(gateway, {"name": "t"})
    # THEN the job is still submitted once (looked up by name, then resubmitted)
    assert response["statusCode"] == 202, response["body"]
    assert throttle["left"] == 0
    assert stack.calls.counts["batch.ListJobs"] == 1
    assert stack.calls.counts["batch.SubmitJob"] == 2  # the throttled one and the one that went through
    batch = boto3.client("batch", region_name=REGION)
    queue = response_json(response)["attempts"][0]["queue"]
    listed = batch.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": ["*"]}])["jobSummaryList"]
    assert len(listed) == 1


@pytest.mark.parametrize(
    ("code", "status"),
    [("ProvisionedThroughputExceededException", 503), ("ThrottlingException", 503), ("AccessDeniedException", 500)],
)
def test_an_aws_failure_is_503_when_passing_and_500_when_ours(stack: Stack, code: str, status: int) -> None:
    from batchplane import wiring
    from botocore.exceptions import ClientError

    def get(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "secret internals"}}, "GetItem")

    wiring.aws.session().events.register("before-call.dynamodb.GetItem", get)
    wiring.aws.session().events.register("before-call.dynamodb.Query", get)
    gateway = load_handler("gateway")
    job_id = "01JCDEFGHJKMNPQRSTVWXYZ012"
    # WHEN DynamoDB fails a read with that code after the SDK's retries
    answer = call(
        gateway, http_event("GET", f"/jobs/{job_id}", route="GET /jobs/{jobId}", path_parameters={"jobId": job_id})
    )
    # THEN a passing failure is 503 with Retry-After and our own (permissions, a bug) is 500; neither leaks AWS's text
    assert answer["statusCode"] == status, answer["body"]
    assert content_type(answer) == "application/problem+json"
    assert "secret internals" not in answer["body"]
    if status == 503:
        assert answer["headers"]["Retry-After"] == "2"


def test_a_filtered_list_fills_its_pages_within_a_bounded_number_of_reads(
    gateway: Any, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.adapters.dynamo import jobs as dynamo

    # GIVEN six jobs, the two oldest tagged team=a, listed newest first; each read of the index evaluates 2 items
    monkeypatch.setattr(dynamo, "LIST_READ_ITEMS", 2, raising=False)
    for i in range(6):
        submit(gateway, {"name": f"job-{i}", "tags": {"team": "a" if i < 2 else "b"}})
    # WHEN listing team=a two at a time
    stack.calls.reset()
    page = response_json(call(gateway, http_event("GET", "/jobs", query={"tag": "team=a", "limit": "2"})))
    # THEN the first page holds both matches (DynamoDB's Limit is applied before the filter: not an empty page)
    assert [j["name"] for j in page["jobs"]] == ["job-1", "job-0"]
    assert stack.calls.counts["dynamodb.Query"] == 3
    # WHEN a page needs more reads than the bound allows
    monkeypatch.setattr(dynamo, "LIST_MAX_READS", 2)
    stack.calls.reset()
    first = response_json(call(gateway, http_event("GET", "/jobs", query={"tag": "team=a", "limit": "2"})))
    # THEN it stops at the bound with what it found (nothing in the four newest), and its token goes on from there
    assert stack.calls.counts["dynamodb.Query"] == 2
    assert first["jobs"] == []
    query = {"tag": "team=a", "limit": "2", "nextToken": first["nextToken"]}
    rest = response_json(call(gateway, http_event("GET", "/jobs", query=query)))
    assert [j["name"] for j in rest["jobs"]] == ["job-1", "job-0"]
    # AND a page holding `limit` of more matches ends at its last job, the next page starting after it
    query = {"tag": "team=b", "limit": "1"}
    monkeypatch.setattr(dynamo, "LIST_READ_ITEMS", 3)
    one = response_json(call(gateway, http_event("GET", "/jobs", query=query)))
    two = response_json(call(gateway, http_event("GET", "/jobs", query=query | {"nextToken": one["nextToken"]})))
    assert [j["name"] for j in one["jobs"] + two["jobs"]] == ["job-5", "job-4"]


def test_a_status_filter_matches_in_any_case(gateway: Any, stack: Stack) -> None:
    # GIVEN three submitted jobs
    for i in range(3):
        submit(gateway, {"name": f"job-{i}"})
    # WHEN listing by status in lower case THEN they are found; an unknown status is 422 naming it
    page = response_json(call(gateway, http_event("GET", "/jobs", query={"status": "submitted", "limit": "3"})))
    assert len(page["jobs"]) == 3
    bad = call(gateway, http_event("GET", "/jobs", query={"status": "done"}))
    assert bad["statusCode"] == 422
    assert response_json(bad)["errors"][0]["field"] == "status"
