"""A fan-out and a fan-in through the same code path as the 5,000-wide ones of `make bench`, with every AWS call
counted: one root -> N leaves (a map) -> one join. The root's success releases the leaves as durable work on the
stage queue (drained by the pipeline_tasks handler); the leaves' successes, each delivered twice, in any order, start
the join exactly once; the join, the run's only sink, ends the run and answers its Finish token once. Step Functions
is stubbed (moto in-process does not execute it); the counts are what the functions' own calls cost."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.conftest import REGION, Stack
from tests.handlers import FakeLambdaContext, load_handler

pytestmark = pytest.mark.integration

LEAVES = 120  # the bench runs 5,000 (tests.perf.pipeline_scale); same path, under a minute here


class FakeExecutions:
    def __init__(self) -> None:
        self.answers: list[tuple[str, str]] = []

    def start(self, name: str, payload: dict[str, Any]) -> str:
        return self.execution_arn(name)

    def execution_arn(self, name: str) -> str:
        return f"arn:aws:states:us-east-1:123456789012:execution:p:{name}"

    def stop(self, execution_arn: str, cause: str) -> None:  # pragma: no cover - nothing is cancelled here
        raise AssertionError("nothing is stopped")

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self.answers.append((token, str(output.get("status"))))

    def fail(self, token: str, error: str, cause: str) -> None:
        self.answers.append((token, error))


@pytest.fixture
def plane(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, FakeExecutions]]:
    from batchplane import wiring
    from batchplane.adapters import aws as aws_clients

    wiring.reset()
    aws_clients.session().events.register("before-call.*.*", stack.calls.hook)
    aws_clients.session().events.register("provide-client-params.*.*", stack.calls.capture)
    svc = wiring.pipeline_service()
    fake = FakeExecutions()
    monkeypatch.setattr(svc, "_sfn", fake)
    stack.run_as_functions(svc, monkeypatch)
    with stack.observing():
        yield svc, fake


def _drain(url: str) -> int:
    """Deliver the stage queue's messages to the pipeline_tasks handler, 10 at a time, until none is left; returns
    how many invocations it took."""
    tasks = load_handler("pipeline_tasks")
    sqs = boto3.client("sqs", region_name=REGION)
    invocations = 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
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
        result = tasks.lambda_handler({"Records": records}, FakeLambdaContext())
        assert result == {"batchItemFailures": []}
        invocations += 1
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return invocations


def _dispatch_all(stack: Stack) -> int:
    """Dispatcher ticks until nothing QUEUED is admitted (the account budget, 50 a second, spreads 120 over ticks);
    returns how many were admitted."""
    admitted = 0
    while batch := stack.dispatch().admitted:
        admitted += len(batch)
    return admitted


def _submissions(stack: Stack) -> Counter[str]:
    """SubmitJob calls the functions made, by the pipeline job they were for (its key is in the job's name)."""
    return Counter(p["jobName"] for name, p in stack.calls.requests if name == "batch.SubmitJob")


def test_a_fan_out_then_a_fan_in_start_each_job_once_and_end_the_run_once(
    plane: tuple[Any, FakeExecutions], stack: Stack
) -> None:
    from batchplane.domain.pipelines import PipelineRequest

    svc, sfn = plane
    url = stack.sqs_queues["StageQueue"]
    body = {
        "name": "fan",
        "jobs": [
            {"id": "root", "command": ["true"]},
            {"id": "leaf", "command": ["true"], "dependsOn": ["root"], "map": [{"i": str(i)} for i in range(LEAVES)]},
            {"id": "join", "command": ["true"], "dependsOn": ["leaf"]},
        ],
    }
    # GIVEN a pipeline root -> 120 leaves -> join whose execution handed over its Finish token (the root starts)
    record, _ = svc.create("alice", PipelineRequest.model_validate(body), None)
    pid = record.pipeline_id
    svc.on_token(pid, 1, "__finish__", "t-finish")
    jobs = svc._store.get(pid).jobs
    assert jobs["root"].state == "SUBMITTED"
    assert _dispatch_all(stack) == 1
    stack.calls.reset()

    # WHEN the root succeeds (the event delivered twice) and the stage queue's release work is drained
    for _ in range(2):
        svc.on_job_terminal(pid, "root", jobs["root"].job_id, "SUCCEEDED", False)
    sends = stack.calls.counts["sqs.SendMessageBatch"]
    invocations = _drain(url)
    starting = (
        stack.calls.total - sends - stack.calls.counts["sqs.ReceiveMessage"] - stack.calls.counts["sqs.DeleteMessage"]
    )
    # (the leaves are QUEUED: the dispatcher admits them)
    assert _dispatch_all(stack) == LEAVES
    # THEN every leaf is submitted exactly once; the hand-over took 12 messages (10 leaves each) in 2 SendMessageBatch
    # calls per delivery of the event (a duplicate event re-sends; its messages submit nothing twice)
    jobs = svc._store.get(pid).jobs
    leaves = [k for k in jobs if k.startswith("leaf")]
    assert len(leaves) == LEAVES
    assert {jobs[k].state for k in leaves} == {"SUBMITTED"}
    submitted = _submissions(stack)
    assert len(submitted) == LEAVES
    assert set(submitted.values()) == {1}
    assert sends == 2  # the duplicate found the root's dependants already told
    assert invocations == 2
    # AND a leaf's start cost about 2 AWS calls besides its share of the messages (its claim in the pipeline, the
    # job's QUEUED write; the dispatcher's admission and SubmitJob are counted in its own tests)
    assert starting <= 2 * LEAVES + 20, stack.calls.counts

    # WHEN every leaf succeeds, in a random order, each event delivered twice
    stack.calls.reset()
    order = [k for k in leaves for _ in range(2)]
    random.Random(7).shuffle(order)
    for key in order:
        svc.on_job_terminal(pid, key, jobs[key].job_id, "SUCCEEDED", False)
    queued_join = stack.calls.total
    assert _dispatch_all(stack) == 1
    # THEN the join is submitted exactly once; each leaf lowered its bucket's count once and each of the 2 buckets
    # (64 + 56 leaves) lowered the join's count once. A duplicate tells its bucket again (nothing remembers that a
    # leaf's end was passed on: telling is idempotent), its conditional write changing nothing, and one that comes
    # after its bucket emptied tells the join again, with the same effect
    assert list(_submissions(stack).values()) == [1]
    join = svc._store.get(pid).jobs["join"]
    assert join.state == "SUBMITTED"
    counted: Counter[str] = Counter(
        p["Key"]["sk"]["S"].split("#")[0] + "#" + p["Key"]["sk"]["S"].split("#")[-1]
        for name, p in stack.calls.requests
        if name == "dynamodb.UpdateItem" and "#m" in p.get("ExpressionAttributeNames", {})
    )
    assert (counted["LEFT#0"], counted["LEFT#1"]) == (2 * 64, 2 * 56)
    assert 2 <= counted["PJOB#join"] <= 2 + LEAVES
    # AND no item the fan-in writes holds more than 64 markers: every write stays about one write unit; each bucket
    # holds its leaves' markers and is at 0, the join holds its buckets' two
    items = boto3.client("dynamodb", region_name=REGION).query(
        TableName=stack.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"PIPELINE#{pid}"}},
    )["Items"]
    assert max(sum(1 for a in i if a[0] in "mb" and a[1:].isdigit()) for i in items) <= 64
    markers = {
        i["sk"]["S"]: (sorted(a for a in i if a[0] in "mb" and a[1:].isdigit()), i.get("left", {}).get("N"))
        for i in items
        if i["sk"]["S"].startswith("LEFT#1#join#") or i["sk"]["S"] == "PJOB#join"
    }
    assert [(len(m), left) for sk, (m, left) in sorted(markers.items()) if sk.startswith("LEFT#")] == [
        (64, "0"),
        (56, "0"),
    ]
    assert markers["PJOB#join"][0] == ["b0", "b1"]
    # AND each leaf event cost 3 calls (the pipeline's head, the leaf's state, its bucket's count; a duplicate the
    # same, its count changing nothing), plus the join's counts and its start
    assert queued_join <= 3 * 2 * LEAVES + counted["PJOB#join"] + 8, stack.calls.counts
    assert sfn.answers == []

    # WHEN the join, the run's only sink, succeeds (twice)
    for _ in range(2):
        svc.on_job_terminal(pid, "join", join.job_id, "SUCCEEDED", False)
    # THEN the run ends SUCCEEDED and its Finish token is answered once
    assert sfn.answers == [("t-finish", "SUCCEEDED")]
    assert svc._store.head(pid, 1).status == "SUCCEEDED"
