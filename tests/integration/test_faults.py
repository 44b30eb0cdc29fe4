"""Faults: 20% of DynamoDB and Batch calls fail with throttling or 5xx (injected with a botocore hook, not by editing
code paths). Every job still reaches a terminal state; none is lost, none duplicated (Batch jobs counted against the
recorded attempts).

moto applies a call before a before-send hook can answer for it, so every injected fault here is the hard case: AWS
did the work and the answer was lost. That is what found that SubmitJob (no idempotency token) must never be retried
blindly by the SDK, and that a conditional write retried after a lost answer must recognise itself."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import boto3
import pytest
from batchplane_local.faults import Faults

from tests.conftest import REGION, Stack
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration


def deliver(plane: Plane, event: dict[str, Any], tries: int = 3) -> None:
    """Lambda's async invoke: the event is retried when the handler raises."""
    for _ in range(tries):
        try:
            plane.deliver(event)
            return
        except Exception:  # noqa: BLE001, S112 - Lambda retries whatever the handler raised
            continue


def dispatch(plane: Plane, ticks: int = 2) -> None:
    """The dispatcher admits what is QUEUED; a tick that raised is tried again by the next."""
    for _ in range(ticks):
        try:
            plane.dispatch()
        except Exception:  # noqa: BLE001, S112 - the next tick tries again
            continue


def test_jobs_survive_throttling_and_5xx(plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from batchplane import wiring
    from batchplane.adapters import aws as aws_clients

    monkeypatch.setenv("REPAIR_AFTER_SECONDS", "0")
    # botocore's backoff between its retries is waiting only (about 0.4 s a retry, 2 of this test's 2.5 minutes):
    # the retries themselves, how many a call gets and the retry quota they draw on are botocore's own, unchanged
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda _self, _context: 0)
    wiring.reset()
    aws_clients.session().events.register("before-call.*.*", stack.calls.hook)
    faults = Faults(rate=0.2, seed=7, send_lost_answers=False)  # moto in-process: answers are lost
    aws_clients.session().events.register_first("before-send.*.*", faults)
    rng = random.Random(11)
    batch = boto3.client("batch", region_name=REGION)

    def in_batch(name: str) -> bool:
        queues = [*stack.queues.values(), stack.multi_node_queue]
        filters = [{"name": "JOB_NAME", "values": [name]}]
        return any(batch.list_jobs(jobQueue=q, filters=filters)["jobSummaryList"] for q in queues)

    # GIVEN 30 jobs submitted by a client that retries a 5xx with the same Idempotency-Key
    job_ids = []
    for i in range(30):
        for _ in range(10):
            response = plane.gateway.lambda_handler(
                __import__("tests.apigw", fromlist=["http_event"]).http_event(
                    "POST",
                    "/jobs",
                    body={"name": f"f{i}", "retry": {"attempts": 2}},
                    headers={"Idempotency-Key": f"k{i}"},
                ),
                plane.ctx,
            )
            assert response["statusCode"] < 500 or response["statusCode"] == 503, response["body"]
            if response["statusCode"] == 202:
                job_ids.append(json.loads(response["body"])["jobId"])
                break
    assert len(job_ids) == 30
    # WHEN the dispatcher admits them, Batch reports on them (a third are reclaimed once), and the sweeper runs, all
    # under faults
    for round_ in range(6):
        dispatch(plane)
        for job_id in job_ids:
            faults.on = False
            job = plane.job(job_id)
            faults.on = True
            if job["status"] in ("SUCCEEDED", "FAILED"):
                continue
            current = job["attempts"][-1]
            if current["status"] != "SUBMITTED" and round_ == 0:
                continue
            if not in_batch(current["batchJobName"]):
                continue  # not in Batch (yet): no events; the sweeper repairs it
            outcome = "RECLAIM" if current["attempt"] == 1 and rng.random() < 0.33 else "SUCCEEDED"
            for i, kind in enumerate(["RUNNABLE", "RUNNING", outcome]):
                deliver(plane, plane.event(kind, job, attempt=current["attempt"], seconds=100 * round_ + i))
        for _ in range(2):
            try:
                plane.sweep()
            except Exception:  # noqa: BLE001, S112 - the next minute's run tries again
                continue
    faults.on = False
    # THEN every job is terminal
    finals = {j: plane.job(j) for j in job_ids}
    assert {j["status"] for j in finals.values()} <= {"SUCCEEDED", "FAILED"}, {
        k: (v["status"], [a["status"] for a in v["attempts"]])
        for k, v in finals.items()
        if v["status"] not in ("SUCCEEDED", "FAILED")
    }
    # AND every recorded attempt is exactly one Batch job, and every batchplane Batch job is a recorded attempt
    names: Counter[str] = Counter()
    seen: set[str] = set()
    for queue in [*stack.queues.values(), stack.multi_node_queue]:
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
            for summary in batch.list_jobs(jobQueue=queue, jobStatus=status)["jobSummaryList"]:
                if summary["jobId"] not in seen:  # moto may list a job under more than one status
                    seen.add(summary["jobId"])
                    names[summary["jobName"]] += 1
    recorded = {a["batchJobName"] for j in finals.values() for a in j["attempts"]}
    assert all(n == 1 for n in names.values()), [n for n, c in names.items() if c > 1]
    assert set(names) == recorded
    assert sum(faults.injected.values()) > 50, faults.injected


def test_a_retry_whose_submission_failed_is_submitted_again_at_the_next_sweep(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry whose SubmitJob failed (every bounded try throttled) is due again at once, not after the sweeper's
    repair window (kept, at its default of 120 s, for invocations that crashed)."""
    from batchplane.adapters import aws as aws_clients
    from botocore.awsrequest import AWSResponse

    # GIVEN a job that retries at once, and SubmitJob throttled for its retry until the handler gives up
    refused: list[str] = []

    def throttle(params: dict[str, Any], **_: Any) -> Any:
        body = params.get("body") or b""
        if b"-a2-flaky" in (body if isinstance(body, bytes) else str(body).encode()) and faults_on[0]:
            refused.append("a2")
            error = {"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}
            return AWSResponse("https://batch", 429, {}, None), error
        return None

    faults_on = [True]
    aws_clients.session().events.register_first("before-call.batch.SubmitJob", throttle)  # before any client is made
    job = plane.submit({"name": "flaky", "retry": {"attempts": 2, "backoff": {"baseSeconds": 0}}})
    assert plane.deliver(plane.event("FAILED", job, seconds=1)) == "retry-deferred"
    assert refused
    faults_on[0] = False
    stack.calls.reset()
    # WHEN the sweeper runs next (its repair window, 120 s, not over)
    report = plane.sweep()
    # THEN the retry is submitted now, once, under its deterministic name
    names = [p["jobName"] for op, p in stack.calls.requests if op == "batch.SubmitJob"]
    assert names == [f"bp-{job['jobId']}-a2-flaky"], report
    assert report["released"] == [job["jobId"]]
    batch = boto3.client("batch", region_name=REGION)
    listed = batch.list_jobs(jobQueue=stack.queue("normal", "spot"), filters=[{"name": "JOB_NAME", "values": names}])
    assert len(listed["jobSummaryList"]) == 1


def test_a_cancelled_retry_whose_failed_submission_made_a_batch_job_is_stopped_not_marked_over_it(
    plane: Plane, stack: Stack
) -> None:
    """A retry whose SubmitJob answer was lost (Batch made the job) and whose lookups failed is due again; cancelled
    then, it is stopped through Batch and ends CANCELLED on its FAILED event, never CANCELLED while its job runs."""
    from batchplane.adapters import aws as aws_clients
    from botocore.awsrequest import AWSResponse

    faults_on = [True]

    def lose_answer(request: Any, **_: Any) -> Any:  # moto in-process applied the call already: its answer is lost
        return (
            AWSResponse(request.url, 503, {}, None) if faults_on[0] and b"-a2-flaky" in (request.body or b"") else None
        )

    def refuse_lookup(params: dict[str, Any], **_: Any) -> Any:
        if faults_on[0]:
            return AWSResponse("https://batch", 503, {}, None), {"Error": {"Code": "ServiceUnavailable"}}
        return None

    # GIVEN a retry whose SubmitJob made a Batch job whose answer was lost, and whose lookups by name all failed
    aws_clients.session().events.register_first("before-send.batch.SubmitJob", lose_answer)
    aws_clients.session().events.register_first("before-call.batch.ListJobs", refuse_lookup)
    job = plane.submit({"name": "flaky", "retry": {"attempts": 2, "backoff": {"baseSeconds": 0}}})
    assert plane.deliver(plane.event("FAILED", job, seconds=1)) == "retry-deferred"
    faults_on[0] = False
    # WHEN it is cancelled and the sweeper runs
    assert cancel_job(plane, job["jobId"])["action"] != "none"
    stack.calls.reset()
    report = plane.sweep()
    # THEN nothing is submitted again, and the job is not marked CANCELLED over its Batch job
    assert [op for op, _ in stack.calls.requests if op == "batch.SubmitJob"] == []
    assert report["cancelled"] == []
    shown = plane.job(job["jobId"])
    assert shown["status"] != "CANCELLED"
    # AND when Batch reports that job FAILED (terminated), the job ends CANCELLED
    shown["attempts"][1]["batchJobId"] = stack.calls.last("batch.TerminateJob")["jobId"]
    assert plane.deliver(plane.event("CANCELLED", shown, attempt=2, seconds=5)) == "cancelled"
    assert plane.job(job["jobId"])["status"] == "CANCELLED"


def cancel_job(plane: Plane, job_id: str) -> dict[str, Any]:
    from tests.apigw import http_event, response_json

    event = http_event(
        "POST", f"/jobs/{job_id}/cancel", body={}, route="POST /jobs/{jobId}/cancel", path_parameters={"jobId": job_id}
    )
    response = plane.gateway.lambda_handler(event, plane.ctx)
    assert response["statusCode"] == 200, response["body"]
    return response_json(response)
