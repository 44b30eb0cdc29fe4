"""Bad input gets a clear answer: a 4xx problem+json naming what is wrong, never a 500 and never a stuck job."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.apigw import ALICE, BOB, content_type, http_event, response_json
from tests.conftest import Stack
from tests.handlers import FakeLambdaContext, load_handler

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(stack: Stack) -> Any:
    return load_handler("gateway")


def _problem(response: dict[str, Any], status: int) -> dict[str, Any]:
    assert response["statusCode"] == status, response["body"]
    assert content_type(response) == "application/problem+json"
    problem = response_json(response)
    assert problem["status"] == status
    return problem


@pytest.mark.parametrize(
    ("case", "raw"),
    [
        # too deep for json: 3.11 stopped below 2,000 levels; 3.13 reads 2,000 (then it is a 422 naming tags) and stops by 10,000
        ("nested 20,000 deep", '{"name":"x","tags":' + "[" * 20_000 + "]" * 20_000 + "}"),
        ("integer of 5,000 digits", '{"name":"x","vcpus":' + "9" * 5000 + "}"),
    ],
)
def test_hostile_json_is_400_not_500(gateway: Any, stack: Stack, case: str, raw: str) -> None:
    # GIVEN a body Python's JSON parser cannot take / WHEN posted
    response = gateway.lambda_handler(http_event("POST", "/jobs", raw_body=raw), FakeLambdaContext())
    # THEN a 400 problem+json names the body, and nothing is written
    problem = _problem(response, 400)
    assert [e["field"] for e in problem["errors"]] == ["body"]
    assert stack.calls.counts["dynamodb.PutItem"] == 0


def test_body_limit_counts_bytes_not_characters(gateway: Any, stack: Stack) -> None:
    # GIVEN a body of 217,000 characters that is 868 KB in UTF-8
    raw = json.dumps({"name": "x", "command": ["\U0001f600" * 217_000]}, ensure_ascii=False)
    assert len(raw) < 256 * 1024 < len(raw.encode())
    # WHEN posted THEN the 256 KiB guard refuses it before parsing
    problem = _problem(gateway.lambda_handler(http_event("POST", "/jobs", raw_body=raw), FakeLambdaContext()), 413)
    assert str(len(raw.encode())) in problem["detail"]


def test_pipeline_job_too_large_for_any_queue_is_422(gateway: Any, stack: Stack) -> None:
    # GIVEN a pipeline whose second job no queue can ever run (POST /jobs refuses the same job)
    body = {"name": "p", "jobs": [{"id": "a", "command": ["true"]}, {"id": "b", "command": ["true"], "vcpus": 4096}]}
    # WHEN posted
    response = gateway.lambda_handler(http_event("POST", "/pipelines", body=body), FakeLambdaContext())
    # THEN 422 names jobs.1.vcpus, and nothing was started
    problem = _problem(response, 422)
    assert "jobs.1.vcpus" in [e["field"] for e in problem["errors"]], problem
    assert stack.calls.counts["states.StartExecution"] == 0
    assert stack.calls.counts["dynamodb.PutItem"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "command": ["echo", "a\x00b"]}, "command.1"),
        ({"name": "x", "environment": {"V": "a\x00b"}}, "environment.V"),
        ({"name": "x", "command": ["echo", "Ref::p"], "parameters": {"p": "\x00"}}, "parameters.p"),
    ],
    ids=["command", "environment", "parameters"],
)
def test_nul_byte_is_422(gateway: Any, stack: Stack, body: dict[str, Any], field: str) -> None:
    # GIVEN a NUL byte where it would reach a container (ECS refuses it; a process cannot take it)
    # WHEN posted
    response = gateway.lambda_handler(http_event("POST", "/jobs", body=body), FakeLambdaContext())
    # THEN 422 names the field, and nothing was submitted
    problem = _problem(response, 422)
    assert field in [e["field"] for e in problem["errors"]], problem
    assert stack.calls.counts["batch.SubmitJob"] == 0


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 0 31 2 ? *)",  # February 31 never comes
        "cron(0 0 29 2 ? 2027)",  # nor February 29 of a common year
        "cron(0 0 1 1 ? 2001)",  # its last year is over
        "cron(61 0 * * ? *)",
        "at(9999-99-99T00:00:00)",
        "at(2001-01-01T00:00:00)",  # in the past
        "rate(99999999999999999999 minutes)",
    ],
)
def test_a_schedule_that_can_never_fire_is_422(gateway: Any, stack: Stack, expression: str) -> None:
    # GIVEN a schedule expression EventBridge Scheduler could never run
    body = {"name": "never", "expression": expression, "job": {"name": "x", "command": ["true"]}}
    # WHEN posted
    response = gateway.lambda_handler(http_event("POST", "/schedules", body=body), FakeLambdaContext())
    # THEN 422 names the expression, and no schedule was made
    problem = _problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == ["expression"], problem
    assert stack.calls.counts["scheduler.CreateSchedule"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "vcpus": True}, "vcpus"),
        ({"name": "x", "memoryMiB": "2048"}, "memoryMiB"),
        ({"name": "x", "gpus": False}, "gpus"),
        ({"name": "x", "arraySize": 2.0}, "arraySize"),
        ({"name": "x", "timeoutSeconds": "600"}, "timeoutSeconds"),
        ({"name": "x", "nodes": {"count": True}}, "nodes.count"),
        ({"name": "x", "retry": {"memoryFactor": "3"}}, "retry.memoryFactor"),
        ({"name": "x", "retry": {"backoff": {"multiplier": True}}}, "retry.backoff.multiplier"),
    ],
    ids=[
        "bool-vcpus",
        "string-memory",
        "bool-gpus",
        "float-array",
        "string-timeout",
        "bool-nodes",
        "string-memory-factor",
        "bool-multiplier",
    ],
)
def test_integers_are_strict_where_aws_wants_integers(
    gateway: Any, stack: Stack, body: dict[str, Any], field: str
) -> None:
    # GIVEN a boolean, string or float where AWS Batch takes an integer (true is not 1 vCPU)
    # WHEN posted
    response = gateway.lambda_handler(http_event("POST", "/jobs", body=body), FakeLambdaContext())
    # THEN 422 names the field, and nothing was submitted
    problem = _problem(response, 422)
    assert field in [e["field"] for e in problem["errors"]], problem
    assert stack.calls.counts["batch.SubmitJob"] == 0


def _post_job(gateway: Any, body: dict[str, Any], caller: str = ALICE) -> dict[str, Any]:
    return gateway.lambda_handler(http_event("POST", "/jobs", body=body, caller=caller), FakeLambdaContext())


def test_depends_on_a_job_that_is_not_yours_is_refused_alike_whether_it_exists_or_not(
    gateway: Any, stack: Stack
) -> None:
    # GIVEN a job of Bob's, and a job id nobody has
    bobs = response_json(_post_job(gateway, {"name": "bobs", "command": ["true"]}, caller=BOB))["jobId"]
    nobodys = "01J00000000000000000000000"
    stack.calls.counts.clear()
    # WHEN Alice submits a job depending on either
    answers = [_post_job(gateway, {"name": "x", "dependsOn": [{"jobId": dep}]}) for dep in (bobs, nobodys)]
    # THEN both are the same 422 naming dependsOn.0.jobId (nothing tells her Bob's job exists), and nothing is written
    problems = [_problem(a, 422) for a in answers]
    assert [[e["field"] for e in p["errors"]] for p in problems] == [["dependsOn.0.jobId"]] * 2
    assert problems[0]["errors"][0]["message"].replace(bobs, "?") == problems[1]["errors"][0]["message"].replace(
        nobodys, "?"
    )
    assert stack.calls.counts["dynamodb.PutItem"] == 0
    assert stack.calls.counts["batch.SubmitJob"] == 0


def test_depends_on_own_job_costs_one_read_more_and_none_without(gateway: Any, stack: Stack) -> None:
    # GIVEN a job of Alice's
    first = response_json(_post_job(gateway, {"name": "first", "command": ["true"]}))["jobId"]
    stack.calls.counts.clear()
    # WHEN she submits one depending on it, then one with no dependsOn
    held = _post_job(gateway, {"name": "second", "dependsOn": [{"jobId": first}]})
    assert held["statusCode"] == 202, held["body"]
    assert stack.calls.counts["dynamodb.BatchGetItem"] == 1
    stack.calls.counts.clear()
    plain = _post_job(gateway, {"name": "third", "command": ["true"]})
    assert plain["statusCode"] == 202, plain["body"]
    # THEN the check cost one read only when dependsOn was given
    assert stack.calls.counts["dynamodb.BatchGetItem"] == 0


def test_a_next_token_nested_too_deeply_is_400(gateway: Any, stack: Stack) -> None:
    # GIVEN a nextToken (within its 4,096 characters) that decodes to JSON nested 1,500 deep
    token = base64.urlsafe_b64encode(("[" * 1500 + "]" * 1500).encode()).decode().rstrip("=")
    assert len(token) <= 4096
    # WHEN listing with it THEN 400 names nextToken
    response = gateway.lambda_handler(http_event("GET", "/jobs", query={"nextToken": token}), FakeLambdaContext())
    assert [e["field"] for e in _problem(response, 400)["errors"]] == ["nextToken"]


def test_a_schedule_enabled_as_a_string_is_422(gateway: Any, stack: Stack) -> None:
    # GIVEN "enabled": "false" (lax parsing took "false", "no" or 0 as false, "yes" or 1 as true)
    body = {"name": "s", "expression": "rate(5 minutes)", "enabled": "false", "job": {"name": "x"}}
    # WHEN posted THEN 422 names enabled, and no schedule was made
    response = gateway.lambda_handler(http_event("POST", "/schedules", body=body), FakeLambdaContext())
    assert [e["field"] for e in _problem(response, 422)["errors"]] == ["enabled"]
    assert stack.calls.counts["scheduler.CreateSchedule"] == 0
