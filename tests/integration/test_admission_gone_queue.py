"""A QUEUED job whose job queue no longer exists (deleted or renamed, or its priority class dropped from the
PriorityClasses parameter) ends FAILED at the dispatcher's next tick, once, naming the queue and AWS's own refusal
of a SubmitJob to a missing queue (ClientException "JobQueue <queue> not found."), its tenant's queued count given
back in the same transaction. "No longer exists" is decided by a fresh DescribeJobQueues of that queue, never by the
cached pools' layout: a queue that is DISABLED, or created after the layout was read, exists, and its jobs do not
fail. On moto, the dispatcher under its own enforced IAM role; calls counted, nothing timed."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.apigw import http_event, response_json
from tests.conftest import REGION, Stack
from tests.integration.conftest import Plane
from tests.integration.test_pipeline_advance import FakeExecutions
from tests.integration.test_submit_rejected import _set_quota
from tests.integration.test_submit_rejected import _usage as usage

ADMIN = "arn:aws:iam::123456789012:user/admin"
ALICE = "arn:aws:iam::123456789012:user/alice"


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {"AdminPrincipals": ADMIN, "PriceSource": "shipped"}


def _post(plane: Plane, body: dict[str, Any], caller: str = ALICE) -> dict[str, Any]:
    response = plane.gateway.lambda_handler(http_event("POST", "/jobs", body=body, caller=caller), plane.ctx)
    assert response["statusCode"] == 202, response["body"]
    return response_json(response)


def _view(plane: Plane, job_id: str, caller: str = ALICE) -> dict[str, Any]:
    event = http_event(
        "GET", f"/jobs/{job_id}", caller=caller, route="GET /jobs/{jobId}", path_parameters={"jobId": job_id}
    )
    return response_json(plane.gateway.lambda_handler(event, plane.ctx))


def _usage(plane: Plane, tenant: str = ALICE) -> dict[str, Any]:
    return usage(plane, tenant)


def _queue_of(plane: Plane, job: dict[str, Any]) -> str:
    return str(plane.stack.queues_by_name[job["attempts"][0]["queue"]])


def _delete_queue(stack: Stack, queue_arn: str) -> None:
    """An operator disables, then deletes, a queue (as AWS requires: DISABLED first), outside the stack."""
    batch = boto3.client("batch", region_name=REGION)
    with stack.observing():
        batch.update_job_queue(jobQueue=queue_arn, state="DISABLED")
        batch.delete_job_queue(jobQueue=queue_arn)


def _layout_read_from_batch(stack: Stack) -> None:
    """The dispatcher reads the pools' layout from Batch now (as it does once its 30 s copy has run out)."""
    from batchplane import wiring
    from batchplane.domain.timestamps import epoch_ms

    dispatcher = wiring.dispatcher()
    with stack.acting_as("dispatcher"):
        dispatcher._read_layout(epoch_ms(dispatcher._clock()))


def _layout_cached_without(stack: Stack, queue_arn: str) -> None:
    """The pools' layout the dispatcher finds (in the table, fresh: another container read it a moment ago) was read
    before ``queue_arn`` existed: the queue is not in it. This container has no copy of its own yet."""
    from batchplane import wiring
    from batchplane.domain.dispatch import PoolState
    from batchplane.domain.timestamps import epoch_ms

    dispatcher = wiring.dispatcher()
    name = queue_arn.rsplit("/", 1)[-1]
    with stack.acting_as("dispatcher"):
        pools = dispatcher._read_layout(epoch_ms(dispatcher._clock()))
        older = [PoolState(p.name, p.max_vcpus, tuple(q for q in p.queues if q != name), gpus=p.gpus) for p in pools]
        wiring.admission_store().save_pool_layout(older, epoch_ms(dispatcher._clock()))
    dispatcher._pools = None


def test_a_job_whose_queue_was_deleted_ends_failed_once_naming_the_queue(plane: Plane, stack: Stack) -> None:
    from batchplane import wiring
    from batchplane.services.dispatcher import DispatchReport

    # GIVEN alice's two QUEUED jobs, one high, one normal (two queues)
    gone = _post(plane, {"name": "gone", "command": ["true"], "priority": "high"})
    other = _post(plane, {"name": "other", "command": ["true"]})
    queue = _queue_of(plane, gone)
    assert queue != _queue_of(plane, other)
    assert _usage(plane)["queuedJobs"] == 2
    # AND the high job's queue is deleted, and the dispatcher's layout was read from Batch since (it is not in it)
    _delete_queue(stack, queue)
    _layout_read_from_batch(stack)
    with stack.acting_as("dispatcher"):
        before = {j.job_id: j for j in wiring.admission_store().queued(10)}
    stack.calls.reset()
    # WHEN the dispatcher ticks (its lifecycle engine counting metrics)
    metrics: list[tuple[str, float]] = []
    report = DispatchReport()
    with stack.acting_as("dispatcher"):
        wiring.dispatcher(lambda name, value: metrics.append((name, value))).tick(report)
    # THEN a fresh look at that queue (one DescribeJobQueues) finds it gone, and the job ends FAILED in one
    # transaction, never submitted; the other job is admitted in the same tick
    assert report.gone == [gone["jobId"]]
    assert report.admitted == [other["jobId"]]
    assert stack.calls.counts["batch.DescribeJobQueues"] == 1
    assert stack.calls.last("batch.DescribeJobQueues") == {"jobQueues": [queue]}
    assert [p["jobName"] for op, p in stack.calls.requests if op == "batch.SubmitJob"] == [
        f"bp-{other['jobId']}-a1-other"
    ]
    assert stack.calls.counts["dynamodb.TransactWriteItems"] == 2  # the end of one, the admission of the other
    # AND its statusReason names the queue and AWS's own refusal; its attempt FAILED, a misconfiguration
    shown = _view(plane, gone["jobId"])
    assert shown["status"] == "FAILED"
    name = queue.rsplit("/", 1)[-1]
    assert shown["statusReason"] == (
        f"batchplane: job queue {name} no longer exists in AWS Batch (DescribeJobQueues does not list it); "
        f"a SubmitJob to it would be refused: JobQueue {queue} not found."
    )
    attempt = shown["attempts"][0]
    assert (attempt["status"], attempt["failureClass"], attempt["batchJobId"]) == ("FAILED", "misconfiguration", None)
    assert attempt["statusReason"] == shown["statusReason"]
    # AND counted as any failed job; alice's queued count was given back (the other job was admitted)
    assert sorted(metrics) == [("Failures.misconfiguration", 1), ("JobsFailed", 1)]
    assert _usage(plane)["queuedJobs"] == 0
    # AND it ends once: a dispatcher acting on a copy read before gives back nothing again
    again = DispatchReport()
    stack.calls.reset()
    with stack.acting_as("dispatcher"):
        wiring.dispatcher()._fail_gone(before[gone["jobId"]], "again", again, None)
    assert again.gone == []
    assert stack.calls.counts["dynamodb.TransactWriteItems"] == 1  # the one that lost its condition
    assert _usage(plane)["queuedJobs"] == 0
    # AND the next tick has nothing to look at
    stack.calls.reset()
    assert plane.dispatch().gone == []
    assert stack.calls.counts["batch.DescribeJobQueues"] == 0


def test_a_job_of_a_disabled_queue_waits(plane: Plane, stack: Stack) -> None:
    # GIVEN alice may run 1 vCPU and queues a 2-vCPU job, whose queue is DISABLED and not in the layout the
    # dispatcher finds
    _set_quota(plane, ALICE, {"maxRunningVcpus": 1})
    job = _post(plane, {"name": "held", "command": ["true"], "vcpus": 2})
    queue = _queue_of(plane, job)
    with stack.observing():
        boto3.client("batch", region_name=REGION).update_job_queue(jobQueue=queue, state="DISABLED")
    _layout_cached_without(stack, queue)
    stack.calls.reset()
    # WHEN the dispatcher ticks twice
    first = plane.dispatch()
    second = plane.dispatch()
    # THEN a fresh look finds the queue (DISABLED, not gone): the job is not failed, and waits (its quota)
    assert first.gone == second.gone == []
    shown = _view(plane, job["jobId"])
    assert shown["status"] == "QUEUED"
    assert shown["waiting"]["hold"] == "quota-vcpus"
    assert _usage(plane)["queuedJobs"] == 1
    # AND the queue was looked at once: the layout read again with it; the second tick looks at nothing
    requests = [p for op, p in stack.calls.requests if op == "batch.DescribeJobQueues"]
    assert requests[0] == {"jobQueues": [queue]}
    assert len(requests) == 2  # the fresh look, then the layout read from Batch
    assert stack.calls.counts["batch.SubmitJob"] == 0
    assert stack.calls.counts["dynamodb.TransactWriteItems"] == 0


def test_a_queue_created_after_the_layout_was_cached_does_not_fail_its_jobs(plane: Plane, stack: Stack) -> None:
    # GIVEN the layout the dispatcher finds was read before alice's job's queue existed (a new priority class)
    job = _post(plane, {"name": "new", "command": ["true"], "priority": "high"})
    queue = _queue_of(plane, job)
    _layout_cached_without(stack, queue)
    stack.calls.reset()
    # WHEN the dispatcher ticks
    report = plane.dispatch()
    # THEN a fresh look finds the queue, the layout is read again from Batch with it, and the job is admitted
    assert report.gone == []
    assert report.admitted == [job["jobId"]]
    assert stack.calls.counts["batch.DescribeJobQueues"] == 2
    assert stack.calls.counts["batch.DescribeComputeEnvironments"] == 1
    assert _view(plane, job["jobId"])["status"] != "FAILED"
    # AND the next job of that queue needs no look at all: the layout in memory knows the queue
    later = _post(plane, {"name": "later", "command": ["true"], "priority": "high"})
    stack.calls.reset()
    assert plane.dispatch().admitted == [later["jobId"]]
    assert stack.calls.counts["batch.DescribeJobQueues"] == 0


def test_a_cancel_landing_first_wins_over_the_end_of_a_gone_queue(plane: Plane, stack: Stack) -> None:
    from batchplane import wiring

    # GIVEN alice's QUEUED job whose queue is deleted, and a dispatcher that read the QUEUED listing already
    job = _post(plane, {"name": "raced", "command": ["true"], "priority": "low"})
    _delete_queue(stack, _queue_of(plane, job))
    _layout_read_from_batch(stack)
    with stack.acting_as("dispatcher"):
        listed = wiring.admission_store().queued(10)
    assert [j.job_id for j in listed] == [job["jobId"]]
    # AND alice's cancel lands first
    cancel = http_event(
        "POST",
        f"/jobs/{job['jobId']}/cancel",
        caller=ALICE,
        route="POST /jobs/{jobId}/cancel",
        path_parameters={"jobId": job["jobId"]},
    )
    assert response_json(plane.gateway.lambda_handler(cancel, plane.ctx))["status"] == "CANCELLED"
    assert _usage(plane)["queuedJobs"] == 0
    stack.calls.reset()
    # WHEN the dispatcher acts on what it read
    dispatcher = wiring.dispatcher()
    from batchplane.services.dispatcher import DispatchReport

    report = DispatchReport()
    with stack.acting_as("dispatcher"):
        kept = dispatcher._settle_unplaced(listed, report, None)
    # THEN its conditional end loses: the job stays CANCELLED, alice's queued count is not taken down twice
    assert kept == []
    assert report.gone == []
    assert stack.calls.counts["dynamodb.TransactWriteItems"] == 1  # the one that lost its condition
    shown = _view(plane, job["jobId"])
    assert shown["status"] == "CANCELLED"
    assert _usage(plane)["queuedJobs"] == 0
    assert json.dumps(shown).count("no longer exists") == 0


class _AnsweringExecutions(FakeExecutions):
    """Step Functions as the pipeline service meets it (moto in-process runs no execution): each answer to a task
    token is also made as the real call, under the calling function's role (a token moto does not know is refused
    after the role is checked), so a function that may not answer tokens is caught."""

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        super().succeed(token, output)
        self._call("send_task_success", taskToken=token, output=json.dumps(output))

    def fail(self, token: str, error: str, cause: str) -> None:
        super().fail(token, error, cause)
        self._call("send_task_failure", taskToken=token, error=error, cause=cause)

    @staticmethod
    def _call(operation: str, **params: Any) -> None:
        from batchplane.adapters import aws
        from botocore.exceptions import ClientError

        try:
            getattr(aws.client("stepfunctions"), operation)(**params)
        except ClientError as err:
            if err.response["Error"]["Code"] == "AccessDeniedException":
                raise


PIPELINE = {
    "name": "two",
    "jobs": [
        {"id": "a", "command": ["true"], "priority": "low"},
        {"id": "b", "command": ["true"], "dependsOn": ["a"]},
        {"id": "c", "command": ["true"], "dependsOn": [{"id": "a", "condition": "failed"}]},
    ],
}


def test_the_pipeline_of_a_job_whose_queue_is_gone_is_told(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane import wiring
    from batchplane.domain.pipelines import PipelineRequest

    # GIVEN a pipeline whose tokens have arrived: its root is QUEUED, a dependant and a catch job (runs if the root
    # fails) wait
    svc = wiring.pipeline_service()
    sfn = _AnsweringExecutions()
    monkeypatch.setattr(svc, "_sfn", sfn)
    with stack.acting_as("gateway"):
        record, _ = svc.create(ALICE, PipelineRequest.model_validate(PIPELINE), None)
    pid = record.pipeline_id
    with stack.acting_as("pipeline_tasks"):
        for key in "abc":
            svc.on_token(pid, 1, key, f"t-{key}")
    with stack.observing():
        root = svc._store.get(pid).jobs["a"].job_id
    # AND the root's queue is deleted, and the dispatcher's layout read from Batch since
    _delete_queue(stack, _queue_of(plane, _view(plane, root)))
    _layout_read_from_batch(stack)
    # WHEN the dispatcher ticks (as the dispatcher function)
    report = plane.dispatch()
    # THEN the root ends FAILED and its pipeline hears it at once (under the dispatcher's role): the dependant is
    # skipped, the catch job started, the tokens of the ended ones answered
    assert report.gone == [root]
    with stack.observing():
        states = {k: j.state for k, j in svc._store.get(pid).jobs.items()}
    assert states == {"a": "FAILED", "b": "SKIPPED", "c": "SUBMITTED"}
    assert sorted(sfn.answers) == [("t-a", "FAILED"), ("t-b", "SKIPPED")]


def test_a_look_batch_does_not_answer_decides_nothing(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane import wiring
    from batchplane.domain.errors import UpstreamUnavailableError

    # GIVEN alice's QUEUED job whose queue is deleted (and not in the layout), and DescribeJobQueues unavailable
    job = _post(plane, {"name": "unsure", "command": ["true"], "priority": "low"})
    _delete_queue(stack, _queue_of(plane, job))
    _layout_read_from_batch(stack)

    def unavailable(queue_arns: list[str]) -> dict[str, str]:
        raise UpstreamUnavailableError("AWS Batch DescribeJobQueues is unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(wiring.batch_adapter(), "queue_statuses", unavailable)
        # WHEN the dispatcher ticks THEN nothing is decided: the job waits QUEUED, its tenant's count as it was
        assert plane.dispatch().gone == []
        assert _view(plane, job["jobId"])["status"] == "QUEUED"
        assert _usage(plane)["queuedJobs"] == 1
    # AND once Batch answers, the next tick ends it
    assert plane.dispatch().gone == [job["jobId"]]
