"""AWS's size limits where batchplane meets them: DynamoDB's 400 KB item (moto enforces it on every write, as
DynamoDB does), Step Functions' 256 KiB payload and 25,000 history events (a run's execution names no job), and the
10,000 jobs a pipeline run takes."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


class CapturingExecutions:
    def __init__(self) -> None:
        self.inputs: list[dict[str, Any]] = []

    def start(self, name: str, payload: dict[str, Any]) -> str:
        self.inputs.append(payload)
        return f"arn:aws:states:us-east-1:123456789012:execution:p:{name}"

    def execution_arn(self, name: str) -> str:
        return f"arn:aws:states:us-east-1:123456789012:execution:p:{name}"


@pytest.fixture
def service(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, CapturingExecutions]]:
    from batchplane import wiring

    svc = wiring.pipeline_service()
    fake = CapturingExecutions()
    monkeypatch.setattr(svc, "_sfn", fake)
    stack.run_as_functions(svc, monkeypatch)
    with stack.observing():
        yield svc, fake


def _id(i: int) -> str:
    return f"j{i:05d}-" + "x" * 57  # 64 characters: the longest a pipeline job id may be


def test_the_largest_pipeline_fits_one_item_and_one_execution_input(
    service: tuple[Any, CapturingExecutions], stack: Stack
) -> None:
    from batchplane.domain.pipelines import PipelineRequest

    svc, sfn = service
    # GIVEN the largest pipeline a run takes: 10,000 jobs after map expansion (a root, then nine jobs each fanned out
    # to 1,000 and one to 999, every id 64 characters)
    jobs: list[dict[str, Any]] = [{"id": _id(0), "command": ["true"]}]
    for i in range(1, 11):
        width = 999 if i == 10 else 1000
        jobs.append(
            {"id": _id(i), "command": ["true"], "dependsOn": [_id(0)], "map": [{"i": str(n)} for n in range(width)]}
        )
    request = PipelineRequest.model_validate({"name": "largest", "jobs": jobs})
    stack.calls.reset()
    # WHEN it is created (moto refuses any item over DynamoDB's 400 KB, as DynamoDB does)
    record, replayed = svc.create("alice", request, None)
    # THEN it is stored, reads back as the same pipeline, and its execution's input names no job: a few dozen bytes
    assert not replayed
    stored = svc._store.get(record.pipeline_id)
    assert PipelineRequest.model_validate(stored.request) == request
    assert len(stored.jobs) == 10_000
    assert svc._store.request_of(record.pipeline_id) == stored.request
    assert sfn.inputs[-1] == {"pipelineId": record.pipeline_id, "run": 1}
    assert len(json.dumps(sfn.inputs[-1]).encode()) < 100
    # AND its items took one conditional PutItem and 407 BatchWriteItem calls, 25 items a call: 10,000 jobs, the run's
    # count of its 9,999 sinks in 157 buckets of 64, and each bucket's count
    assert stack.calls.counts["dynamodb.PutItem"] == 1
    assert stack.calls.counts["dynamodb.BatchWriteItem"] == 407
    assert svc._store.sinks_left(record.pipeline_id, 1) == 157


def test_a_pipeline_of_more_than_10000_jobs_after_expansion_is_refused_naming_jobs(
    service: tuple[Any, CapturingExecutions],
) -> None:
    from batchplane.domain.errors import InvalidRequestError
    from batchplane.domain.pipelines import PipelineRequest

    svc, sfn = service
    # GIVEN 10,001 jobs after map expansion
    jobs = [{"id": f"m{i}", "command": ["true"], "map": [{"i": str(n)} for n in range(1000)]} for i in range(10)]
    jobs.append({"id": "one-more", "command": ["true"]})
    request = PipelineRequest.model_validate({"name": "too-big", "jobs": jobs})
    # WHEN it is created THEN it is refused (422), naming jobs, before anything is written or started
    with pytest.raises(InvalidRequestError) as refused:
        svc.create("alice", request, None)
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("jobs", "10001 jobs once maps are expanded; at most 10000")
    ]
    assert sfn.inputs == []
    assert svc.list("alice", 10) == []


def test_a_pipeline_whose_stored_form_would_pass_400_kb_is_refused_naming_jobs(
    service: tuple[Any, CapturingExecutions],
) -> None:
    from batchplane.domain.errors import InvalidRequestError
    from batchplane.domain.pipelines import PipelineRequest

    svc, sfn = service
    # GIVEN 1,000 jobs each carrying 600 random characters (compression cannot help)
    jobs = [{"id": f"j{i}", "command": ["echo", secrets.token_hex(300)]} for i in range(1000)]
    request = PipelineRequest.model_validate({"name": "huge", "jobs": jobs})
    # WHEN it is created THEN it is refused before anything is written or started, naming the field
    with pytest.raises(InvalidRequestError) as refused:
        svc.create("alice", request, None)
    assert [e.field for e in refused.value.errors] == ["jobs"]
    assert sfn.inputs == []
    assert svc.list("alice", 10) == []


def test_a_run_holds_no_state_per_job_so_its_history_and_payloads_do_not_grow_with_the_pipeline() -> None:
    # GIVEN the pipeline state machine
    asl = json.loads((ROOT / "statemachines" / "pipeline.asl.json").read_text())
    # THEN it is one Task waiting on its Finish token: no Map (inline: 40 iterations at once; history: about 8 events
    # per iteration against an execution's 25,000), so a run's history, input and output are the same at any size
    assert list(asl["States"]) == ["Finish"]
    finish = asl["States"]["Finish"]
    assert finish["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    assert finish["Parameters"]["MessageBody"]["key"] == "__finish__"
    assert "Map" not in json.dumps(asl)


def test_a_job_item_stays_under_400_kb_over_ten_failed_children_retries_of_a_10000_array(stack: Stack) -> None:
    import boto3
    from batchplane import wiring
    from batchplane.adapters.dynamo.attempts import DynamoLifecycleStore
    from batchplane.domain.ids import batch_job_name
    from batchplane.domain.models import JobRequest
    from batchplane.domain.records import AttemptRecord

    from tests.conftest import REGION

    # GIVEN an array job of 10,000 children retried by failed children, 10 attempts
    body = {"name": "wide", "arraySize": 10_000, "retry": {"attempts": 10, "arrayRetry": "failed-children"}}
    with stack.acting_as("gateway"):
        job_id = wiring.job_service().submit("alice", JobRequest.model_validate(body), None).job.job_id
    store = DynamoLifecycleStore(boto3.client("dynamodb", region_name=REGION), stack.table_name)
    everyone = ",".join(str(i) for i in range(10_000))
    for attempt in range(1, 11):
        # WHEN every child of the attempt fails (recorded in the attempt, as the children's events do), and the next
        # attempt over all of them is claimed
        boto3.client("dynamodb", region_name=REGION).update_item(
            TableName=stack.table_name,
            Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}},
            UpdateExpression="SET awaiting = :n ADD att.#n.failedChildren :all",
            ExpressionAttributeNames={"#n": str(attempt)},
            ExpressionAttributeValues={":n": {"N": str(attempt)}, ":all": {"NS": [str(i) for i in range(10_000)]}},
        )
        job = store.get_job(job_id)
        assert job is not None
        new = AttemptRecord(
            attempt=attempt + 1,
            reason="retry",
            replaces=attempt,
            queue_arn=job.current.queue_arn,
            capacity=job.current.capacity,
            batch_job_name=batch_job_name(job_id, attempt + 1, "wide"),
            created_at=0,
            array_indexes=everyone,
        )
        # THEN each write is accepted (moto refuses items over 400 KB, as DynamoDB does)
        assert store.claim_next_attempt(
            job,
            previous=attempt,
            failure_class="app-error",
            new=new,
            counters=(attempt, 0, 0),
            now="2026-12-01T12:00:00.000Z",
        )
    # AND only the latest attempt holds the array lists
    job = store.get_job(job_id)
    assert job is not None
    assert [a.attempt for a in job.attempts if a.array_indexes] == [11]
    assert [a.attempt for a in job.attempts if a.failed_children] == []


def test_a_pipeline_job_batch_would_refuse_is_refused_before_the_pipeline_runs(
    service: tuple[Any, CapturingExecutions],
) -> None:
    from batchplane.domain.errors import InvalidRequestError
    from batchplane.domain.pipelines import PipelineRequest

    svc, sfn = service
    # GIVEN a pipeline whose second job's SubmitJob would be over Batch's 30 KiB
    body = {"name": "p", "jobs": [{"id": "a"}, {"id": "b", "dependsOn": ["a"], "command": ["echo", "c" * 31_000]}]}
    # WHEN it is created THEN it is refused naming that job's field, and no execution starts
    with pytest.raises(InvalidRequestError) as refused:
        svc.create("alice", PipelineRequest.model_validate(body), None)
    assert [e.field for e in refused.value.errors] == ["jobs.1.command"]
    assert sfn.inputs == []
