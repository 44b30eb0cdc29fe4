"""Only the template's job definitions and those an operator lists in AllowedJobDefinitions run, whichever path
submits (API jobs, pipelines); anything else is a 422 naming jobDefinition before anything is written."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.apigw import http_event, response_json
from tests.conftest import BASE_PARAMETERS, REGION, Stack
from tests.handlers import FakeLambdaContext, load_handler

pytestmark = pytest.mark.integration

FOREIGN = "arn:aws:batch:us-east-1:123456789012:job-definition/someone-elses:1"


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    # the operator allowed "etl": its environment and its IAM say so
    return {**BASE_PARAMETERS, "AllowedJobDefinitions": "etl"}


@pytest.fixture
def gateway(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Any:
    from batchplane import wiring

    batch = boto3.client("batch", region_name=REGION)
    for name in ("someone-elses", "etl"):  # two definitions in the account; the operator allowed "etl" only
        batch.register_job_definition(
            jobDefinitionName=name, type="container", containerProperties={"image": "x", "vcpus": 1, "memory": 512}
        )
    for built in (wiring.settings, wiring.job_service, wiring.pipeline_service):  # keeps the call-counting session
        built.cache_clear()
    return load_handler("gateway")


def post(gateway: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return gateway.lambda_handler(http_event("POST", path, body=body), FakeLambdaContext())


def test_a_job_runs_only_declared_or_allowed_definitions(gateway: Any, stack: Stack) -> None:
    # WHEN a job names a definition of the account that nobody allowed, by ARN
    refused = post(gateway, "/jobs", {"name": "x", "jobDefinition": FOREIGN})
    # THEN it is a 422 naming jobDefinition, and nothing reached Batch
    assert refused["statusCode"] == 422, refused["body"]
    assert response_json(refused)["errors"][0]["field"] == "jobDefinition"
    assert stack.calls.counts["batch.SubmitJob"] == 0
    # AND the operator's allowed definition runs, by name
    accepted = post(gateway, "/jobs", {"name": "y", "jobDefinition": "etl"})
    assert accepted["statusCode"] == 202, accepted["body"]
    assert stack.dispatch().admitted
    assert stack.calls.last("batch.SubmitJob")["jobDefinition"] == "etl"


def test_a_pipeline_with_a_foreign_definition_is_refused_before_anything_runs(gateway: Any, stack: Stack) -> None:
    # GIVEN a pipeline whose second job names a definition nobody allowed
    body = {"name": "p", "jobs": [{"id": "a", "command": ["true"]}, {"id": "b", "jobDefinition": FOREIGN}]}
    # WHEN it is created
    answer = post(gateway, "/pipelines", body)
    # THEN it is a 422 naming that job's jobDefinition, and no execution started
    assert answer["statusCode"] == 422, answer["body"]
    assert response_json(answer)["errors"][0]["field"] == "jobs.1.jobDefinition"
    assert stack.calls.counts["stepfunctions.StartExecution"] == 0
