"""A table of bad inputs: each gets a 4xx problem+json naming the field, and nothing is created."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apigw import content_type, http_event, response_json
from tests.conftest import Stack
from tests.handlers import FakeLambdaContext, load_handler

pytestmark = pytest.mark.integration

BAD_INPUTS: list[tuple[str, Any, int, str]] = [
    ("missing name", {"command": ["true"]}, 422, "name"),
    ("name too long", {"name": "a" * 129}, 422, "name"),
    ("name with space", {"name": "bad name"}, 422, "name"),
    ("name starts with hyphen", {"name": "-x"}, 422, "name"),
    ("unknown field", {"name": "x", "memory": 5}, 422, "memory"),
    ("array too small", {"name": "x", "arraySize": 1}, 422, "arraySize"),
    ("array too big", {"name": "x", "arraySize": 10_001}, 422, "arraySize"),
    ("21 dependencies", {"name": "x", "dependsOn": [{"jobId": "0" * 26}] * 21}, 422, "dependsOn"),
    ("bad priority", {"name": "x", "priority": "asap"}, 422, "priority"),
    ("bad capacity", {"name": "x", "capacity": "cheap"}, 422, "capacity"),
    ("timeout below Batch's 60 s", {"name": "x", "timeoutSeconds": 30}, 422, "timeoutSeconds"),
    ("too many tags", {"name": "x", "tags": {f"k{i}": "v" for i in range(48)}}, 422, "tags"),
    ("reserved tag", {"name": "x", "tags": {"aws:owner": "me"}}, 422, "tags"),
    ("reserved env", {"name": "x", "environment": {"AWS_BATCH_JOB_ID": "1"}}, 422, "environment"),
    ("memory over any instance", {"name": "x", "memoryMiB": 500_000}, 422, "memoryMiB"),
    ("vcpus over any instance", {"name": "x", "vcpus": 64}, 422, "vcpus"),
    ("gpus with no GPU queue", {"name": "x", "gpus": 1}, 422, "gpus"),
    ("unknown job definition", {"name": "x", "jobDefinition": "nope"}, 422, "jobDefinition"),
    (
        "another job definition's ARN",
        {"name": "x", "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/someone-elses:1"},
        422,
        "jobDefinition",
    ),
    ("retry attempts 0", {"name": "x", "retry": {"attempts": 0}}, 422, "retry.attempts"),
    ("retry unknown key", {"name": "x", "retry": {"tries": 3}}, 422, "retry.tries"),
    ("bad artifact uri", {"name": "x", "inputs": ["not a uri"]}, 422, "inputs"),
    ("mainNode out of range", {"name": "x", "nodes": {"count": 2, "mainNode": 2}}, 422, "nodes"),
    ("array and nodes", {"name": "x", "arraySize": 3, "nodes": {"count": 2}}, 422, "body"),
    ("body is a list", [1, 2], 422, "body"),
    # AWS Batch refuses a SubmitJob of 30 KiB or more ("Job size must be less than 30 KiB"): refused before anything
    # is written (a record nothing could ever submit), naming the largest field
    (
        "SubmitJob over 30 KiB",
        {"name": "x", "environment": {f"V{i}": "v" * 8000 for i in range(4)}},
        422,
        "environment",
    ),
    ("command over 30 KiB", {"name": "x", "command": ["echo", "c" * 31_000]}, 422, "command"),
]


@pytest.fixture
def gateway(stack: Stack) -> Any:
    return load_handler("gateway")


@pytest.mark.parametrize(("case", "body", "status", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_problem_naming_the_field(
    gateway: Any, stack: Stack, case: str, body: Any, status: int, field: str
) -> None:
    # GIVEN a bad body / WHEN posted
    response = gateway.lambda_handler(http_event("POST", "/jobs", body=body), FakeLambdaContext())
    # THEN a 4xx problem+json names the field
    assert response["statusCode"] == status, response["body"]
    assert content_type(response) == "application/problem+json"
    problem = response_json(response)
    assert problem["status"] == status
    assert problem["type"].startswith("https://batchplane.dev/problems/")
    fields = [e["field"] for e in problem.get("errors", [])]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields
    # AND nothing was submitted or written
    assert stack.calls.counts["batch.SubmitJob"] == 0
    assert stack.calls.counts["dynamodb.PutItem"] == 0


def test_malformed_json_is_400(gateway: Any, stack: Stack) -> None:
    response = gateway.lambda_handler(http_event("POST", "/jobs", raw_body="{not json"), FakeLambdaContext())
    assert response["statusCode"] == 400
    assert content_type(response) == "application/problem+json"
    assert response_json(response)["errors"][0]["field"] == "body"


def test_oversize_body_is_413_before_parsing(gateway: Any, stack: Stack) -> None:
    response = gateway.lambda_handler(
        http_event("POST", "/jobs", raw_body='{"name":"x","command":["' + "a" * 300_000 + '"]}'), FakeLambdaContext()
    )
    assert response["statusCode"] == 413
    assert content_type(response) == "application/problem+json"


def test_bad_idempotency_key_is_422(gateway: Any, stack: Stack) -> None:
    response = gateway.lambda_handler(
        http_event("POST", "/jobs", body={"name": "x"}, headers={"Idempotency-Key": "k" * 300}), FakeLambdaContext()
    )
    assert response["statusCode"] == 422
    assert response_json(response)["errors"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("query", "field"), [({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"), ({"status": "DONE"}, "status")]
)
def test_bad_list_query_is_422(gateway: Any, stack: Stack, query: dict[str, str], field: str) -> None:
    response = gateway.lambda_handler(http_event("GET", "/jobs", query=query), FakeLambdaContext())
    assert response["statusCode"] == 422
    assert response_json(response)["errors"][0]["field"] == field
