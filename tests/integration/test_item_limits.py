"""AWS's size limits where batchplane meets them: DynamoDB's 400 KB item (moto enforces it on every write, as
DynamoDB does) and Step Functions' 256 KiB payload (an execution's input, a state's output)."""

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
SFN_PAYLOAD_LIMIT = 256 * 1024


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


def test_the_largest_pipeline_fits_one_item_and_one_execution_input(service: tuple[Any, CapturingExecutions]) -> None:
    from batchplane.domain.pipelines import PipelineRequest

    svc, sfn = service
    # GIVEN the largest pipeline a run takes: 1,999 jobs as written plus one fanned out to 501, every id 64 characters
    # (about 75 KB as sent; with every default spelled out its request alone was 1.1 MB)
    jobs: list[dict[str, Any]] = [
        {"id": _id(i), "command": ["true"], **({"dependsOn": [_id(i - 1)]} if i else {})} for i in range(1999)
    ]
    jobs.append({"id": _id(9999), "command": ["true"], "map": [{"i": str(i)} for i in range(501)]})
    request = PipelineRequest.model_validate({"name": "largest", "jobs": jobs})
    # WHEN it is created (moto refuses any item over DynamoDB's 400 KB, as DynamoDB does)
    record, replayed = svc.create("alice", request, None)
    # THEN it is stored, reads back as the same pipeline, and its execution's input is under 256 KiB
    assert not replayed
    stored = svc._store.get(record.pipeline_id)
    assert PipelineRequest.model_validate(stored.request) == request
    assert len(stored.jobs) == 2500
    assert svc._store.request_of(record.pipeline_id) == stored.request
    payload = json.dumps(sfn.inputs[-1]).encode()
    assert len(sfn.inputs[-1]["jobs"]) == 2500
    assert len(payload) <= SFN_PAYLOAD_LIMIT


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


def test_map_iterations_output_nothing_so_the_map_result_stays_small() -> None:
    # GIVEN the pipeline state machine
    asl = json.loads((ROOT / "statemachines" / "pipeline.asl.json").read_text())
    jobs = asl["States"]["Jobs"]
    run_job = jobs["ItemProcessor"]["States"]["RunJob"]
    # THEN each iteration outputs {} (OutputPath null): the Map's collected result is 2,500 x "{}", not 2,500 task
    # answers (about 130 bytes each: 325 KB, over Step Functions' 256 KiB), and the Map discards it anyway
    assert "OutputPath" in run_job
    assert run_job["OutputPath"] is None
    assert jobs["ResultPath"] is None


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
