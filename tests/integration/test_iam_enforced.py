"""IAM is enforced on every call a function makes, from its own role in the SAM-transformed template.

Two proofs: taking one statement out of one role makes the path that needs it fail as AWS would fail it (for Batch,
DynamoDB, Step Functions, Scheduler, SQS and CloudWatch Logs), and a walk through the main paths lists, per
function, every (action, resource) it was seen calling, all of them allowed."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from batchplane_local import iam

from tests import handlers
from tests.apigw import http_event, response_json
from tests.conftest import Stack
from tests.handlers import FakeLambdaContext, load_handler
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration
CTX = FakeLambdaContext()


def without(principal: iam.Principal, action: str, resource: str) -> tuple[iam.Principal, str]:
    """The principal with the ONE statement that grants ``action`` on a resource ending ``resource`` taken out."""
    granting = [
        s
        for s in principal.statements
        if s.get("Effect") == "Allow"
        and any(iam.glob(a, action, ignore_case=True) for a in iam._as_list(s.get("Action")))
        and any(str(r).endswith(resource) for r in iam._as_list(s.get("Resource")))
    ]
    assert len(granting) == 1, f"{principal.function}: {len(granting)} statements grant {action}"
    kept = tuple(s for s in principal.statements if s is not granting[0])
    return dataclasses.replace(principal, statements=kept), str(granting[0].get("Sid"))


def gateway_call(method: str, path: str, route: str | None = None, **kw: Any) -> dict[str, Any]:
    gateway = load_handler("gateway")
    return gateway.lambda_handler(http_event(method, path, route=route, **kw), CTX)


def submit_job(stack: Stack) -> dict[str, Any]:
    return gateway_call("POST", "/jobs", body={"name": "iam"})


def dispatch_a_job(stack: Stack) -> dict[str, Any]:
    """A job submitted, then one dispatcher tick as the dispatcher function: was it submitted to Batch?"""
    from batchplane import wiring
    from batchplane.services.dispatcher import DispatchReport

    assert submit_job(stack)["statusCode"] == 202
    report = DispatchReport()
    with iam.acting_as(handlers.PRINCIPALS["dispatcher"]):
        wiring.dispatcher().tick(report)
    return {"outcome": "deferred" if report.submit_deferred else "submitted" if report.admitted else "none"}


def create_pipeline(stack: Stack) -> dict[str, Any]:
    body = {"name": "p", "jobs": [{"id": "a", "command": ["true"]}]}
    return gateway_call("POST", "/pipelines", body=body)


def create_schedule(stack: Stack) -> dict[str, Any]:
    body = {"name": "nightly", "expression": "rate(5 minutes)", "job": {"name": "n"}}
    return gateway_call("POST", "/schedules", body=body)


def read_logs(stack: Stack) -> dict[str, Any]:
    stack.queues_by_name = {arn.rsplit("/", 1)[-1]: arn for arn in [*stack.queues.values(), stack.multi_node_queue]}
    plane = Plane(stack)
    job = plane.submit({"name": "logs"})
    assert plane.deliver(plane.event("RUNNING", job)) in ("applied", "recorded", "updated")
    jid = job["jobId"]
    return gateway_call("GET", f"/jobs/{jid}/logs", route="GET /jobs/{jobId}/logs", path_parameters={"jobId": jid})


def dead_letter_a_malformed_event(stack: Stack) -> dict[str, Any]:
    events = load_handler("job_events")
    try:
        return dict(events.lambda_handler({"detail-type": "Batch Job State Change", "detail": {}}, CTX))
    except Exception as exc:  # noqa: BLE001 - Lambda would count the invocation as failed and retry it
        return {"statusCode": 500, "error": repr(exc)}


# (function folder, the action whose statement is removed, on a resource ending so, the path that needs it)
PATHS = [
    ("gateway", "dynamodb:PutItem", "", submit_job),
    ("dispatcher", "batch:SubmitJob", "", dispatch_a_job),
    ("gateway", "states:StartExecution", "PipelineStateMachine", create_pipeline),
    ("gateway", "scheduler:CreateSchedule", "", create_schedule),
    ("gateway", "iam:PassRole", "SchedulerRole", create_schedule),
    ("gateway", "logs:GetLogEvents", "", read_logs),
    ("job_events", "sqs:SendMessage", "JobEventsDeadLetterQueue", dead_letter_a_malformed_event),
]


@pytest.mark.parametrize(("function", "action", "resource", "path"), PATHS, ids=[f"{f}-{a}" for f, a, _, _ in PATHS])
def test_removing_one_statement_makes_the_path_that_needs_it_fail(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, function: str, action: str, resource: str, path: Any
) -> None:
    # GIVEN the path succeeds under the function's role as the template defines it
    ok = path(stack)
    assert ok.get("statusCode", 200) < 300 or ok.get("outcome"), ok
    assert stack.enforcer.denied == []
    # WHEN one statement is taken out of that role
    reduced, sid = without(stack.principals[function], action, resource)
    monkeypatch.setitem(handlers.PRINCIPALS, function, reduced)
    failed = path(stack)
    # THEN the path fails (the gateway answers 5xx without AWS's text) and IAM refused exactly that action
    assert failed.get("statusCode", 200) >= 500 or failed.get("outcome") != ok.get("outcome"), (sid, failed)
    refused = {(d.principal.function, d.request.action) for d in stack.enforcer.denied if d.principal}
    assert refused == {(reduced.function, action)}, sid
    assert "not authorized" not in str(failed.get("body", ""))
    stack.enforcer.denied.clear()


# What each function was seen calling on the paths below, by action (resources listed by the test when it fails)
EXPECTED_ACTIONS = {
    "GatewayFunction": {
        "batch:ListJobs",  # a cancel finds the Batch job by name (ListJobs: no resource ARN)
        "batch:TerminateJob",
        "dynamodb:BatchWriteItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "iam:PassRole",  # the Scheduler role handed to each schedule
        "logs:GetLogEvents",
        "scheduler:CreateSchedule",
        "scheduler:DeleteSchedule",
        "states:StartExecution",
    },
    "JobEventsFunction": {
        "batch:ListJobs",  # a failed array's failed children, listed once to say why it failed
        "batch:SubmitJob",
        "batch:TagResource",
        "dynamodb:GetItem",  # a SUCCEEDED job read first: does it hold an admission to give back with its end?
        "dynamodb:UpdateItem",
    },
    "SweeperFunction": {"dynamodb:Query", "dynamodb:UpdateItem"},
    "DispatcherFunction": {
        "batch:DescribeComputeEnvironments",  # the pools' capacity (cached in the table)
        "batch:DescribeJobQueues",
        "batch:SubmitJob",
        "batch:TagResource",
        "dynamodb:BatchGetItem",  # tenants' and pools' counters
        "dynamodb:GetItem",  # the pools' cached layout
        "dynamodb:PutItem",
        "dynamodb:Query",  # the QUEUED bucket
        "dynamodb:UpdateItem",  # the lease, the budget, each admission (TransactWriteItems, item by item)
    },
}


def test_each_function_is_seen_calling_only_what_its_role_allows(stack: Stack, plane: Plane, capsys: Any) -> None:
    # GIVEN the main paths of a user: submit, run, fail and retry, sweep, cancel, logs, a pipeline, a schedule
    done = plane.submit({"name": "ok"})
    plane.deliver(plane.event("RUNNING", done))
    plane.deliver(plane.event("SUCCEEDED", done, seconds=60))
    flaky = plane.submit({"name": "flaky", "retry": {"attempts": 2}})
    plane.deliver(plane.event("FAILED", flaky, seconds=30, exit_code=1))
    plane.sweep()
    array = plane.submit({"name": "array", "arraySize": 2, "retry": {"attempts": 2}})
    plane.deliver(plane.event("ARRAY_FAILED", array, seconds=30))  # its children are listed: why did it fail?
    reclaimed = plane.submit({"name": "reclaimed"})
    plane.deliver(plane.event("RECLAIM", reclaimed, seconds=30))  # falls back to On-Demand at once
    victim = plane.submit({"name": "victim"})
    jid = victim["jobId"]
    cancel = gateway_call(
        "POST", f"/jobs/{jid}/cancel", route="POST /jobs/{jobId}/cancel", path_parameters={"jobId": jid}
    )
    assert cancel["statusCode"] < 300, cancel
    assert read_logs(stack)["statusCode"] == 200
    assert create_pipeline(stack)["statusCode"] < 300
    created = create_schedule(stack)
    assert created["statusCode"] == 201, created
    name = response_json(created)["name"]
    deleted = gateway_call(
        "DELETE", f"/schedules/{name}", route="DELETE /schedules/{name}", path_parameters={"name": name}
    )
    assert deleted["statusCode"] < 300, deleted
    # WHEN the calls each function made are listed
    seen: dict[str, set[tuple[str, str]]] = {}
    for function, action, resource in stack.enforcer.seen:
        seen.setdefault(function, set()).add((action, resource))
    with capsys.disabled():
        for function in sorted(seen):
            print(f"\n{function}:")
            for action, resource in sorted(seen[function]):
                print(f"  {action:28} {resource}")
    # THEN nothing was refused, and each function did what its role is for, no more
    assert stack.enforcer.denied == []
    for function, actions in EXPECTED_ACTIONS.items():
        assert {a for a, _ in seen.get(function, set())} == actions, (function, sorted(seen.get(function, set())))


def stage_message(pipeline_id: str, key: str, token: str) -> dict[str, Any]:
    """What the state machine's waitForTaskToken task puts on the stage queue, as the event source delivers it."""
    import json

    body = json.dumps({"pipelineId": pipeline_id, "run": 1, "key": key, "taskToken": token})
    return {"Records": [{"messageId": f"m-{key}", "receiptHandle": "r", "body": body, "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:batchplane-test-StageQueue",
                         "awsRegion": "us-east-1"}]}  # fmt: skip


def test_the_sweeper_may_carry_a_pipeline_on_when_it_reconciles_a_lost_event(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a pipeline whose first job ran in Batch but whose events were lost (moto's Batch ends it at once)
    monkeypatch.setenv("RECONCILE_AFTER_SECONDS", "0")
    monkeypatch.setenv("REPAIR_AFTER_SECONDS", "0")
    from batchplane import wiring

    wiring.settings.cache_clear()
    wiring.reset()
    created = gateway_call(
        "POST", "/pipelines", body={"name": "p", "jobs": [{"id": "a", "command": ["true"]},
                                                          {"id": "b", "command": ["true"], "dependsOn": ["a"]}]}
    )  # fmt: skip
    assert created["statusCode"] == 202, created
    pid = response_json(created)["pipelineId"]
    tasks = load_handler("pipeline_tasks")
    for key in ("a", "b"):
        assert tasks.lambda_handler(stage_message(pid, key, f"token-{key}"), CTX)["batchItemFailures"] == []
    from batchplane.services.dispatcher import DispatchReport

    with iam.acting_as(handlers.PRINCIPALS["dispatcher"]):
        wiring.dispatcher().tick(DispatchReport())  # a is admitted and submitted to Batch
    # WHEN the sweeper reconciles the silent job: it applies what DescribeJobs says and tells the pipeline
    report = load_handler("sweeper").lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, CTX)
    assert report["reconciled"], report
    # THEN it does so as the sweeper, with nothing refused: the next job is submitted and a's token answered
    sweeper = {(a, r.rsplit(":", 1)[-1]) for f, a, r in stack.enforcer.seen if f == "SweeperFunction"}
    assert ("batch:DescribeJobs", "*") in sweeper
    assert ("states:SendTaskSuccess", "*") in sweeper
    assert stack.enforcer.denied == []
