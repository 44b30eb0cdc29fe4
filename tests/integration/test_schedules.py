"""Schedules on moto: EventBridge Scheduler holds the timer, scheduled_submit submits each firing once."""

from __future__ import annotations

import os

import boto3
import pytest
from batchplane.adapters.dynamo.items import job_from_item

from tests.apigw import BOB, http_event, response_json
from tests.conftest import REGION, Stack
from tests.handlers import FakeLambdaContext, load_handler

pytestmark = pytest.mark.integration
FN_ARN = "arn:aws:lambda:us-east-1:123456789012:function:batchplane-test-ScheduledSubmitFunction"


@pytest.fixture
def env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    from batchplane import wiring

    wiring.schedule_service.cache_clear()
    wiring.settings.cache_clear()
    return stack


def test_a_schedule_is_an_eventbridge_schedule_and_each_firing_submits_once(env: Stack) -> None:
    gateway, fire = load_handler("gateway"), load_handler("scheduled_submit")
    ctx = FakeLambdaContext()
    body = {"name": "nightly", "expression": "cron(0 3 * * ? *)", "timezone": "Europe/Paris", "job": {"name": "n"}}
    # GIVEN a schedule created through the API
    created = gateway.lambda_handler(http_event("POST", "/schedules", body=body), ctx)
    assert created["statusCode"] == 201, created["body"]
    name = response_json(created)["schedulerName"]
    # THEN EventBridge Scheduler holds it, targeting scheduled_submit with the fire time in the input
    sched = boto3.client("scheduler", region_name=REGION).get_schedule(Name=name, GroupName="batchplane-test")
    assert sched["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert sched["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert sched["Target"]["Arn"] == FN_ARN
    assert "<aws.scheduler.scheduled-time>" in sched["Target"]["Input"]
    # WHEN one firing is delivered twice (at-least-once)
    firing = {"scheduleName": name, "scheduledTime": "2026-11-25T02:00:00Z"}
    env.calls.reset()
    first = fire.lambda_handler(firing, ctx)
    second = fire.lambda_handler(firing, ctx)
    # THEN one job was accepted (recorded QUEUED for the dispatcher: one transaction, no SubmitJob here), and the job
    # says which schedule and firing made it
    assert first["outcome"] == "submitted"
    assert second == {**first, "outcome": "replayed"}
    assert env.calls.counts["dynamodb.TransactWriteItems"] == 2  # the replay's was cancelled: the job exists
    assert env.calls.counts["batch.SubmitJob"] == 0
    job = response_json(
        gateway.lambda_handler(
            http_event(
                "GET", f"/jobs/{first['jobId']}", route="GET /jobs/{jobId}", path_parameters={"jobId": first["jobId"]}
            ),
            ctx,
        )
    )
    assert job["origin"] == "schedule:nightly@2026-11-25T02:00:00Z"
    # AND another tenant sees none of it
    other = gateway.lambda_handler(
        http_event(
            "GET", "/schedules/nightly", caller=BOB, route="GET /schedules/{name}", path_parameters={"name": "nightly"}
        ),
        ctx,
    )
    assert other["statusCode"] == 404
    # AND deleting removes the timer
    gone = gateway.lambda_handler(
        http_event(
            "DELETE", "/schedules/nightly", route="DELETE /schedules/{name}", path_parameters={"name": "nightly"}
        ),
        ctx,
    )
    assert gone["statusCode"] == 204
    assert boto3.client("scheduler", region_name=REGION).list_schedules()["Schedules"] == []


def test_a_schedule_created_through_lost_answers_is_created_once(env: Stack) -> None:
    from batchplane.adapters import aws as aws_clients
    from botocore.awsrequest import AWSResponse

    class _Raw:
        def stream(self, **_: object) -> object:
            yield b""

    lost: list[str] = []

    def lose_first_answers(request: object, **_: object) -> AWSResponse | None:
        # moto in-process has applied the call before this hook runs: a 503 here is an answer lost on the way back
        headers = request.headers  # type: ignore[attr-defined]
        target = headers.get("X-Amz-Target") or b""
        op = "PutItem" if bytes(target).endswith(b".PutItem") else None
        if op is None and request.method == "POST" and "/schedules/" in request.url:  # type: ignore[attr-defined]
            op = "CreateSchedule"
        if op is None or op in lost:
            return None
        lost.append(op)
        return AWSResponse(request.url, 503, {}, _Raw())  # type: ignore[attr-defined]

    aws_clients.session().events.register_first("before-send.*.*", lose_first_answers)
    gateway = load_handler("gateway")
    body = {"name": "lossy", "expression": "rate(5 minutes)", "job": {"name": "n"}}
    # WHEN the table's and Scheduler's first answers are lost after they did the work (the SDK retries)
    created = gateway.lambda_handler(http_event("POST", "/schedules", body=body), FakeLambdaContext())
    # THEN the creation still succeeds, once, with exactly the schedule asked for
    assert created["statusCode"] == 201, created["body"]
    assert lost == ["PutItem", "CreateSchedule"]
    schedules = boto3.client("scheduler", region_name=REGION).list_schedules()["Schedules"]
    assert [s["Name"] for s in schedules] == [response_json(created)["schedulerName"]]
    # AND a different schedule under the same name is still a conflict
    other = gateway.lambda_handler(
        http_event("POST", "/schedules", body={**body, "expression": "rate(1 hour)"}), FakeLambdaContext()
    )
    assert other["statusCode"] == 409


def _job_tenant(job_id: str) -> str:
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=os.environ["TABLE_NAME"], Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}
    )["Item"]
    return job_from_item(item).tenant


def test_a_firing_submits_as_the_stored_schedules_tenant_whatever_its_payload_claims(env: Stack) -> None:
    gateway, fire = load_handler("gateway"), load_handler("scheduled_submit")
    ctx = FakeLambdaContext()
    body = {"name": "owned", "expression": "rate(1 hour)", "job": {"name": "n"}}
    # GIVEN alice's schedule
    created = gateway.lambda_handler(http_event("POST", "/schedules", body=body), ctx)
    assert created["statusCode"] == 201, created["body"]
    name = response_json(created)["schedulerName"]
    # WHEN a firing of it claims to be bob's
    out = fire.lambda_handler({"scheduleName": name, "scheduledTime": "2026-11-25T02:00:00Z", "tenant": BOB}, ctx)
    # THEN the job is alice's (the stored schedule's tenant)
    assert out["outcome"] == "submitted"
    assert _job_tenant(out["jobId"]) == "arn:aws:sts::123456789012:assumed-role/genomics-team"


def test_an_inline_firing_never_submits_as_a_tenant_named_in_its_payload(env: Stack) -> None:
    fire = load_handler("scheduled_submit")
    # GIVEN a firing in the inline form of template schedules, claiming bob as its tenant
    event = {"schedule": "sneaky", "tenant": BOB, "scheduledTime": "2026-11-25T02:00:00Z", "job": {"name": "n"}}
    # WHEN it is delivered
    out = fire.lambda_handler(event, FakeLambdaContext())
    # THEN the job belongs to the template's own tenant, not bob
    assert out["outcome"] == "submitted"
    assert _job_tenant(out["jobId"]) == "template"


def test_schedules_are_created_and_deleted_in_the_stacks_own_group(env: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from batchplane import wiring

    scheduler = boto3.client("scheduler", region_name=REGION)
    # GIVEN a stack whose schedule group is its own (as the template's ScheduleGroup gives it)
    scheduler.create_schedule_group(Name="batchplane-test")
    monkeypatch.setenv("SCHEDULE_GROUP_NAME", "batchplane-test")
    wiring.schedule_service.cache_clear()
    wiring.settings.cache_clear()
    gateway, ctx = load_handler("gateway"), FakeLambdaContext()
    body = {"name": "grouped", "expression": "rate(1 hour)", "job": {"name": "n"}}
    # WHEN a schedule is created through the API
    created = gateway.lambda_handler(http_event("POST", "/schedules", body=body), ctx)
    assert created["statusCode"] == 201, created["body"]
    name = response_json(created)["schedulerName"]
    # THEN EventBridge Scheduler holds it in that group, and the default group holds nothing of ours
    assert scheduler.get_schedule(Name=name, GroupName="batchplane-test")["GroupName"] == "batchplane-test"
    assert scheduler.list_schedules(GroupName="default")["Schedules"] == []
    # AND every Scheduler call named the group
    calls = [(op, params) for op, params in env.calls.requests if op.startswith("scheduler.")]
    assert calls
    assert all(params.get("GroupName") == "batchplane-test" for _op, params in calls), calls
    # AND deleting removes it from that group
    gone = gateway.lambda_handler(
        http_event(
            "DELETE", "/schedules/grouped", route="DELETE /schedules/{name}", path_parameters={"name": "grouped"}
        ),
        ctx,
    )
    assert gone["statusCode"] == 204
    assert scheduler.list_schedules(GroupName="batchplane-test")["Schedules"] == []
