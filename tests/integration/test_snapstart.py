"""SnapStart on the gateway and job_events: the template publishes versions with SnapStart and every source invokes
the alias; each handler's before-snapshot priming makes no AWS call (nothing of an account or a caller in the
snapshot) yet leaves clients made and services built; after a restore the container's identity is its own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from batchplane import snapstart, wiring

from tests.apigw import http_event
from tests.cfn import deployed_resources, resources
from tests.conftest import Stack
from tests.handlers import FakeLambdaContext, load_handler
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration
SNAPSTART = ("GatewayFunction", "JobEventsFunction")


@pytest.mark.parametrize("function", SNAPSTART)
def test_the_template_snapstarts_published_versions_behind_an_alias(function: str) -> None:
    # GIVEN the function as written / THEN SnapStart applies to published versions, published as alias "live"
    props = resources()[function]["Properties"]
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["AutoPublishAlias"] == "live"


def test_every_source_of_a_snapstarted_function_invokes_its_alias() -> None:
    # GIVEN the template as CloudFormation deploys it
    deployed = deployed_resources()
    alias = {f: f"{f}Aliaslive" for f in SNAPSTART}
    assert all(deployed[a]["Type"] == "AWS::Lambda::Alias" for a in alias.values())
    # THEN the API's integrations call the gateway's alias (the unqualified function would run $LATEST, no SnapStart)
    api = next(r for r in deployed.values() if r["Type"] == "AWS::ApiGatewayV2::Api")
    body = json.dumps(api["Properties"]["Body"])
    assert "${GatewayFunctionAliaslive}" in body
    assert "${GatewayFunction.Arn}" not in body
    # AND the Batch events rule targets job_events' alias
    rule = deployed["JobEventsFunctionBatchJobEvents"]["Properties"]
    assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": "JobEventsFunctionAliaslive"}]
    # AND every Lambda permission names the alias, and the async invoke config (retries, dead letters) the alias
    functions = [{"Ref": f} for f in SNAPSTART]
    permissions = [r["Properties"] for r in deployed.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert not [p for p in permissions if p["FunctionName"] in functions]
    assert sum(p["FunctionName"] == {"Ref": alias["JobEventsFunction"]} for p in permissions) == 1
    configs = [r["Properties"] for r in deployed.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert [c["Qualifier"] for c in configs if c["FunctionName"] in functions] == ["live"]


def test_the_gateway_primes_with_no_aws_call_and_serves_after_a_restore(stack: Stack) -> None:
    # GIVEN the gateway's module loaded (init) and nothing built yet
    gateway = load_handler("gateway")
    stack.calls.reset()
    # WHEN Lambda runs the before-snapshot hook
    with stack.acting_as("gateway"):
        answer: dict[str, Any] = gateway.prime()
    # THEN it made no AWS call, its request was refused by validation (422 naming the field, no route ran)
    assert stack.calls.total == 0
    assert answer["statusCode"] == 422
    assert json.loads(answer["body"])["errors"][0]["field"] == "memoryMiB"
    # AND the clients it needs are made (cached in the container, so in the snapshot)
    made = set(wiring.aws._clients)
    assert {"dynamodb", "batch", "batch:no-retry", "stepfunctions", "scheduler", "logs", "sqs"} <= made
    # WHEN an environment is restored and serves a submission
    snapstart.run_after_restore()
    event = http_event("POST", "/jobs", body={"name": "after-restore"})
    answer = gateway.lambda_handler(event, FakeLambdaContext())
    # THEN it costs the same one AWS call as ever, the QUEUED write (the clients primed before the snapshot were used)
    assert answer["statusCode"] == 202, answer["body"]
    assert stack.calls.counts == {"dynamodb.TransactWriteItems": 1}
    assert json.loads(answer["body"])["status"] == "QUEUED"
    assert set(wiring.aws._clients) == made


def test_job_events_primes_with_no_aws_call_and_each_restore_has_its_own_lease_holder(stack: Stack) -> None:
    # GIVEN job_events' module loaded
    events = load_handler("job_events")
    stack.calls.reset()
    # WHEN Lambda runs its before-snapshot hook
    with stack.acting_as("job_events"):
        events.prime()
    # THEN no AWS call was made and the lifecycle service is built
    assert stack.calls.total == 0
    primed = wiring.lifecycle_service(events._metric)
    assert wiring.lifecycle_service(events._metric) is primed
    # WHEN two environments are restored from the snapshot
    owners = set()
    for _ in range(2):
        snapstart.run_after_restore()
        owners.add(wiring.lifecycle_service(events._metric)._lease_owner)
    # THEN each drew its own lease holder (a shared one would let two sweeps both hold the lease)
    assert primed._lease_owner not in owners
    assert len(owners) == 2
    # AND an event is handled as ever after a restore
    stack.queues_by_name = {arn.rsplit("/", 1)[-1]: arn for arn in [*stack.queues.values(), stack.multi_node_queue]}
    plane = Plane(stack)
    job = plane.submit({"name": "events-after-restore"})
    assert events.lambda_handler(plane.event("RUNNING", job), FakeLambdaContext())["outcome"] == "recorded"
