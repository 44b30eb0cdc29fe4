"""A SubmitJob AWS Batch refuses for a reason in the request (ClientException, HTTP 400: botocore's batch model
lists ClientException and ServerException for SubmitJob) will not succeed on retry: the job ends FAILED naming
Batch's message, its attempt recorded, its admission given back exactly once, and other tenants' admissions go on.
Throttling and server errors (TooManyRequestsException, ServerException) stay retried. On moto, each function under
its own enforced role.

moto accepts a DISABLED queue and a deregistered (INACTIVE) job definition, so the refusal used here is one moto
really makes: a queue deleted after the dispatcher read the pools' layout (the dispatcher caches it for 30 s, so in
AWS too a job can be admitted to a queue that is gone)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import boto3
import pytest

from tests.apigw import http_event, response_json
from tests.conftest import REGION, Stack
from tests.integration.conftest import Plane

ADMIN = "arn:aws:iam::123456789012:user/admin"
ALICE = "arn:aws:iam::123456789012:user/alice"
CAROL = "arn:aws:iam::123456789012:user/carol"


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {"AdminPrincipals": ADMIN, "PriceSource": "shipped"}


def _post(plane: Plane, body: dict[str, Any], caller: str) -> dict[str, Any]:
    response = plane.gateway.lambda_handler(http_event("POST", "/jobs", body=body, caller=caller), plane.ctx)
    assert response["statusCode"] == 202, response["body"]
    return response_json(response)


def _view(plane: Plane, job_id: str, caller: str) -> dict[str, Any]:
    event = http_event(
        "GET", f"/jobs/{job_id}", caller=caller, route="GET /jobs/{jobId}", path_parameters={"jobId": job_id}
    )
    return response_json(plane.gateway.lambda_handler(event, plane.ctx))


def _usage(plane: Plane, tenant: str) -> dict[str, Any]:
    encoded = quote(tenant, safe="")
    event = http_event(
        "GET", f"/quotas/{encoded}", caller=ADMIN, route="GET /quotas/{tenant}", path_parameters={"tenant": encoded}
    )
    return dict(response_json(plane.gateway.lambda_handler(event, plane.ctx))["usage"])


def _set_quota(plane: Plane, tenant: str, body: dict[str, Any]) -> None:
    encoded = quote(tenant, safe="")
    event = http_event(
        "PUT",
        f"/quotas/{encoded}",
        body=body,
        caller=ADMIN,
        route="PUT /quotas/{tenant}",
        path_parameters={"tenant": encoded},
    )
    assert plane.gateway.lambda_handler(event, plane.ctx)["statusCode"] == 200


def _layout_read(stack: Stack) -> None:
    """The dispatcher reads the pools' layout from Batch (as its first tick would) and keeps it (30 s)."""
    from batchplane import wiring

    with stack.acting_as("dispatcher"):
        wiring.dispatcher().pool_states()


def _delete_queue(stack: Stack, queue_arn: str) -> None:
    """An operator disables, then deletes, a queue (as AWS requires: DISABLED first), outside the stack."""
    batch = boto3.client("batch", region_name=REGION)
    with stack.observing():
        batch.update_job_queue(jobQueue=queue_arn, state="DISABLED")
        batch.delete_job_queue(jobQueue=queue_arn)


def _submit_names(stack: Stack) -> list[str]:
    return [p["jobName"] for op, p in stack.calls.requests if op == "batch.SubmitJob"]


def test_a_submission_batch_rejects_ends_failed_once_and_frees_its_usage(plane: Plane, stack: Stack) -> None:
    # GIVEN alice may run 1 vCPU; she queues a high job, then a normal one; carol queues a normal one
    _set_quota(plane, ALICE, {"maxRunningVcpus": 1})
    rejected = _post(plane, {"name": "gone", "command": ["true"], "vcpus": 1, "priority": "high"}, ALICE)
    waiting = _post(plane, {"name": "next", "command": ["true"], "vcpus": 1}, ALICE)
    other = _post(plane, {"name": "other", "command": ["true"], "vcpus": 1}, CAROL)
    # AND the high job's queue is deleted after the dispatcher read the pools' layout
    _layout_read(stack)
    queue = stack.queues_by_name[rejected["attempts"][0]["queue"]]
    assert queue not in (stack.queues_by_name[j["attempts"][0]["queue"]] for j in (waiting, other))
    _delete_queue(stack, queue)
    stack.calls.reset()
    # WHEN the dispatcher ticks
    report = plane.dispatch()
    # THEN Batch refuses the high job's SubmitJob once (no retry), and carol's job is submitted in the same tick
    assert report.rejected == 1
    assert report.submit_deferred == 0
    assert sorted(report.admitted) == sorted([rejected["jobId"], other["jobId"]])
    assert sorted(_submit_names(stack)) == sorted([f"bp-{rejected['jobId']}-a1-gone", f"bp-{other['jobId']}-a1-other"])
    assert stack.calls.counts["batch.ListJobs"] == 0  # a refusal is an answer: nothing to look up
    # AND the job ended FAILED naming Batch's refusal, its attempt recorded FAILED, a misconfiguration
    shown = _view(plane, rejected["jobId"], ALICE)
    assert shown["status"] == "FAILED"
    assert "AWS Batch rejected SubmitJob (ClientException)" in shown["statusReason"]
    assert "does not exist" in shown["statusReason"]  # Batch's own message
    attempt = shown["attempts"][0]
    assert (attempt["status"], attempt["failureClass"]) == ("FAILED", "misconfiguration")
    assert attempt["statusReason"] == shown["statusReason"]
    assert attempt["batchJobId"] is None
    # AND its usage was given back in the same tick (one release transaction): alice runs nothing
    assert stack.calls.counts["dynamodb.TransactWriteItems"] == 2  # both admissions in one, 1 release
    assert _usage(plane, ALICE)["runningVcpus"] == 0
    # AND the next tick admits her waiting job; the sweeper never submits the rejected one again
    stack.calls.reset()
    plane.sweep()
    second = plane.dispatch()
    assert second.admitted == [waiting["jobId"]]
    assert _submit_names(stack) == [f"bp-{waiting['jobId']}-a1-next"]
    assert _usage(plane, ALICE)["runningVcpus"] == 1


def test_a_stale_second_submission_of_a_rejected_attempt_releases_nothing(plane: Plane, stack: Stack) -> None:
    """The rejection is one conditional write: a second invocation acting on the same attempt (a duplicated trigger,
    a sweeper that read it before) finds the job ended and gives back nothing again."""
    from batchplane import wiring
    from batchplane.domain.outcomes import Outcome

    # GIVEN alice's job whose SubmitJob Batch refused (her usage given back)
    job = _post(plane, {"name": "gone", "command": ["true"], "vcpus": 2, "priority": "low"}, ALICE)
    _layout_read(stack)
    _delete_queue(stack, stack.queues_by_name[job["attempts"][0]["queue"]])
    with stack.acting_as("dispatcher"):
        before = wiring.admission_store().queued(10)
    assert plane.dispatch().rejected == 1
    assert _usage(plane, ALICE)["runningVcpus"] == 0
    stack.calls.reset()
    # WHEN another invocation submits the same attempt from what it read before the rejection
    (stale,) = before
    with stack.acting_as("sweeper"):
        outcome = wiring.lifecycle_service().submit(stale, stale.current, Outcome.RELEASED)
    # THEN Batch refuses again, the job's write loses (it ended), and nothing is released twice
    assert outcome is Outcome.RACED
    assert stack.calls.counts["dynamodb.TransactWriteItems"] == 0
    assert _usage(plane, ALICE)["runningVcpus"] == 0
    assert _view(plane, job["jobId"], ALICE)["status"] == "FAILED"


def test_a_retry_batch_rejects_ends_the_job_failed_and_frees_its_usage(plane: Plane, stack: Stack) -> None:
    # GIVEN alice's admitted job, which may retry at once, whose queue is deleted while it runs
    body = {"name": "flaky", "command": ["false"], "vcpus": 2, "priority": "low"}
    body["retry"] = {"attempts": 3, "backoff": {"baseSeconds": 0}}
    queued = _post(plane, body, ALICE)
    plane.dispatch()
    job = _view(plane, queued["jobId"], ALICE)
    job["attempts"][0]["batchJobId"] = plane._batch_job_id(job)
    assert _usage(plane, ALICE)["runningVcpus"] == 2
    _delete_queue(stack, stack.queues_by_name[job["attempts"][0]["queue"]])
    stack.calls.reset()
    # WHEN its attempt fails (exit 1) and job_events retries it in the same queue
    outcome = plane.deliver(plane.event("FAILED", job, exit_code=1, seconds=5))
    # THEN Batch refuses the retry's SubmitJob once; the job ends FAILED naming why, its usage given back
    assert outcome == "rejected"
    assert _submit_names(stack) == [f"bp-{job['jobId']}-a2-flaky"]
    shown = _view(plane, job["jobId"], ALICE)
    assert shown["status"] == "FAILED"
    assert "AWS Batch rejected SubmitJob (ClientException)" in shown["statusReason"]
    assert [a["failureClass"] for a in shown["attempts"]] == ["app-error", "misconfiguration"]
    assert _usage(plane, ALICE)["runningVcpus"] == 0
    # AND the sweeper leaves it be
    stack.calls.reset()
    plane.sweep()
    assert _submit_names(stack) == []


@pytest.mark.parametrize(
    ("status", "code"), [(500, "ServerException"), (429, "TooManyRequestsException")], ids=["server", "throttled"]
)
def test_server_errors_and_throttling_stay_retried(plane: Plane, stack: Stack, status: int, code: str) -> None:
    from batchplane.adapters import aws as aws_clients
    from botocore.awsrequest import AWSResponse

    failing = [True]

    def refuse(params: dict[str, Any], **_: Any) -> Any:
        if failing[0]:
            return AWSResponse("https://batch", status, {}, None), {"Error": {"Code": code, "Message": "try later"}}
        return None

    aws_clients.session().events.register_first("before-call.batch.SubmitJob", refuse)
    # GIVEN alice's queued job, and Batch answering every SubmitJob of the tick with a retryable error
    job = _post(plane, {"name": "later", "command": ["true"], "vcpus": 1}, ALICE)
    # WHEN the dispatcher admits it
    report = plane.dispatch()
    # THEN it is deferred, not failed: SUBMITTED, its usage held, due for the sweeper
    assert (report.rejected, report.submit_deferred) == (0, 1)
    assert _view(plane, job["jobId"], ALICE)["status"] == "SUBMITTED"
    assert _usage(plane, ALICE)["runningVcpus"] == 1
    # AND once Batch answers again, the next sweep submits it (looked up by name first), once
    failing[0] = False
    stack.calls.reset()
    assert plane.sweep()["released"] == [job["jobId"]]
    assert _submit_names(stack) == [f"bp-{job['jobId']}-a1-later"]
    assert stack.calls.counts["batch.ListJobs"] >= 1
