"""Releasing a wide fan-out is durable work: an invocation that is cut off (a Lambda timeout) midway loses nothing.

A parent with 60 dependants succeeds. The job_events invocation that hears it is cut off after a few AWS calls (as a
29 s timeout cuts off a real one: 1,000 dependants cannot be submitted in 29 s at Batch's 50 SubmitJob/s), then
Lambda retries it (MaximumRetryAttempts 2) with a budget of calls each time; the consumer of the stage queue is cut
off once too. Every dependant must still be submitted, exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.conftest import REGION, Stack
from tests.handlers import FakeLambdaContext, load_handler

pytestmark = pytest.mark.integration

CHILDREN = 60


class InvocationCut(BaseException):
    """Lambda ended the invocation (its timeout): nothing after this point runs (a kill, not an error: no `except
    Exception` may catch it)."""


class Budget:
    """AWS calls one invocation may make before it is cut off (None: unlimited)."""

    def __init__(self) -> None:
        self.left: int | None = None

    def hook(self, **_: Any) -> None:
        if self.left is None:
            return
        if self.left <= 0:
            raise InvocationCut
        self.left -= 1


class FakeExecutions:
    def __init__(self) -> None:
        self.answers: list[str] = []

    def start(self, name: str, payload: dict[str, Any]) -> str:
        return f"arn:aws:states:us-east-1:123456789012:execution:p:{name}"

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self.answers.append(token)

    def fail(self, token: str, error: str, cause: str) -> None:
        self.answers.append(token)


@pytest.fixture
def plane(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Budget, str]]:
    from batchplane import wiring
    from batchplane.adapters import aws as aws_clients

    url = stack.sqs_queues["StageQueue"]  # the template's stage queue (what the functions' roles may send to)
    monkeypatch.setenv("REPAIR_AFTER_SECONDS", "0")
    wiring.reset()
    aws_clients.session().events.register("before-call.*.*", stack.calls.hook)
    aws_clients.session().events.register("provide-client-params.*.*", stack.calls.capture)
    budget = Budget()
    aws_clients.session().events.register("before-call.*.*", budget.hook)
    svc = wiring.pipeline_service()
    monkeypatch.setattr(svc, "_sfn", FakeExecutions())
    stack.run_as_functions(svc, monkeypatch)
    with stack.observing():
        yield svc, budget, url


def _invoke(budget: Budget, calls: int | None, fn: Any, *args: Any) -> Any:
    budget.left = calls
    try:
        return fn(*args)
    except InvocationCut:
        return None
    finally:
        budget.left = None


def test_a_fan_out_cut_off_midway_still_submits_every_dependant_exactly_once(
    plane: tuple[Any, Budget, str], stack: Stack
) -> None:
    from batchplane import wiring
    from batchplane.domain.pipelines import PipelineRequest

    from tests.batchevents import batch_event

    svc, budget, url = plane
    events, tasks, sweeper = (load_handler(n) for n in ("job_events", "pipeline_tasks", "sweeper"))
    ctx = FakeLambdaContext()
    # GIVEN a pipeline root -> 60 dependants whose task tokens have all arrived (the root is submitted)
    body = {
        "name": "wide",
        "jobs": [
            {"id": "root", "command": ["true"]},
            {"id": "leaf", "command": ["true"], "dependsOn": ["root"], "map": [{"i": str(i)} for i in range(CHILDREN)]},
        ],
    }
    record, _ = svc.create("alice", PipelineRequest.model_validate(body), None)
    pid = record.pipeline_id
    for key in record.jobs:
        svc.on_token(pid, 1, key, f"t-{key}")
    root = wiring.job_service()._store.get_job(svc._store.get(pid).jobs["root"].job_id)
    succeeded = batch_event(
        "SUCCEEDED",
        job_id=root.job_id,
        attempt=1,
        batch_job_id=f"batch-{root.job_id}",
        queue_arn=root.attempts[0].queue_arn,
        name=root.name,
    )
    stack.calls.reset()

    # WHEN the invocation that hears the root succeed is cut off after 3 AWS calls (before it hands the dependants
    # over), and Lambda retries it twice with 40 calls each (a real 29 s invocation's worth of work at this scale)
    for calls in (3, 40, 40):
        _invoke(budget, calls, events.lambda_handler, succeeded, ctx)
    # AND the stage queue's consumer drains the release work, its first invocation cut off midway
    sqs = boto3.client("sqs", region_name=REGION)
    cuts = [12]
    for _ in range(100):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        if not messages:
            break
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:stage",
                "awsRegion": REGION,
            }
            for m in messages
        ]
        result = _invoke(budget, cuts.pop() if cuts else None, tasks.lambda_handler, {"Records": records}, ctx)
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        for m in messages:
            if result is None or m["MessageId"] in failed:  # back on the queue (its visibility timeout, shortened)
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    # THEN nothing was lost: every dependant is claimed and started in the pipeline, none submitted twice
    batch = boto3.client("batch", region_name=REGION)

    def submissions() -> dict[str, int]:
        """Batch jobs by name (what Batch has: a SubmitJob cut off before it was sent made none)."""
        names: Counter[str] = Counter()
        for queue in stack.queues.values():
            for page in batch.get_paginator("list_jobs").paginate(jobQueue=queue, jobStatus="SUCCEEDED"):
                names.update(str(j["jobName"]) for j in page["jobSummaryList"])
        return {name: n for name, n in names.items() if "-leaf-" in name}

    jobs = svc._store.get(pid).jobs
    leaves = {k: j for k, j in jobs.items() if k != "root"}
    assert len(leaves) == CHILDREN
    assert {j.state for j in leaves.values()} == {"SUBMITTED"}
    assert all(j.job_id for j in leaves.values())
    assert set(submissions().values()) <= {1}
    # AND once the sweeper has repaired a dependant claimed but not submitted (a cut between the two calls), every
    # dependant was submitted to Batch exactly once
    sweeper.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, ctx)
    # (the dependants were recorded QUEUED: the dispatcher admits them, at most its rate's worth a tick)
    from batchplane.services.dispatcher import DispatchReport

    with stack.acting_as("dispatcher"):
        for _ in range(3):
            wiring.dispatcher().tick(DispatchReport())
    assert len(submissions()) == CHILDREN
    assert set(submissions().values()) == {1}


def test_a_queued_start_of_a_job_skipped_meanwhile_submits_nothing(
    plane: tuple[Any, Budget, str], stack: Stack
) -> None:
    from batchplane.domain.pipelines import PipelineRequest

    svc, _budget, _url = plane
    # GIVEN a start of b handed over as release work, and b skipped (fail-fast) before it is consumed
    body = {"name": "p", "jobs": [{"id": "a", "command": ["true"]}, {"id": "b", "command": ["true"]}]}
    record, _ = svc.create("alice", PipelineRequest.model_validate(body), None)
    assert svc._store.transition(record.pipeline_id, "b", "SKIPPED", allowed_from=("WAITING",))
    stack.calls.reset()
    # WHEN the release is consumed (twice: at-least-once) THEN nothing is submitted
    assert svc.on_release(record.pipeline_id, 1, ["b"], None) == "not-waiting=1"
    assert svc.on_release(record.pipeline_id, 1, ["b"], None) == "not-waiting=1"
    assert stack.calls.counts["batch.SubmitJob"] == 0
    assert stack.calls.counts["dynamodb.PutItem"] == 0
