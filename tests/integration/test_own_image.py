"""Jobs with their own image, on moto with every call authorised against the function's own role: the definition is
registered once per image and shape, found by name by a new container, and IAM itself refuses an image or a job role
the operator did not allow."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from batchplane.adapters.definitions import BatchJobDefinitions
from batchplane.domain.containers import ContainerPolicy
from batchplane.domain.errors import UpstreamUnavailableError
from batchplane.domain.models import JobRequest

from tests.apigw import BOB, http_event, response_json
from tests.conftest import REGION, STACK, Stack
from tests.handlers import FakeLambdaContext, load_handler

pytestmark = pytest.mark.integration

REGISTRY = "public.ecr.aws/amazonlinux/"
IMAGE = f"{REGISTRY}amazonlinux:2023"
ROLE = "arn:aws:iam::123456789012:role/etl-job"
OTHER_ROLE = "arn:aws:iam::123456789012:role/admin"


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {"AllowedImageRegistries": REGISTRY, "AllowedJobRoleArns": ROLE}


@pytest.fixture
def gateway(stack: Stack) -> Any:
    return load_handler("gateway")


def post(gateway: Any, body: dict[str, Any]) -> dict[str, Any]:
    return gateway.lambda_handler(http_event("POST", "/jobs", body=body), FakeLambdaContext())


def job(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "vcpus": 1, "memoryMiB": 2048, "command": ["echo", name], **kw}


def test_one_definition_per_image_and_shape_and_no_call_once_known(gateway: Any, stack: Stack) -> None:
    # WHEN a job with its own image is submitted
    first = post(gateway, job("a", jobRoleArn=ROLE))
    # THEN it is accepted and its definition was looked up by name, then registered, once
    assert first["statusCode"] == 202, first["body"]
    assert stack.calls.counts["batch.RegisterJobDefinition"] == 1
    # (the stack's first job of this container: look up, register, look up again, then the usual QUEUED write)
    assert stack.calls.counts["batch.DescribeJobDefinitions"] == 2
    assert stack.calls.total == 4, stack.calls.counts
    registered = stack.calls.last("batch.RegisterJobDefinition")
    # AND the dispatcher admits it on that definition
    assert stack.dispatch().admitted
    assert registered["jobDefinitionName"].startswith(f"{STACK}_img_")
    assert registered["containerProperties"]["image"] == IMAGE
    assert registered["containerProperties"]["privileged"] is False
    definition = stack.calls.last("batch.SubmitJob")["jobDefinition"]
    assert f"job-definition/{registered['jobDefinitionName']}:" in definition
    assert response_json(first)["image"] == IMAGE
    # WHEN a second job with the same image and shape (another command) is submitted
    stack.calls.reset()
    second = post(gateway, job("b", jobRoleArn=ROLE))
    # THEN it shares the definition, and costs what any submission costs: one write
    assert second["statusCode"] == 202, second["body"]
    assert stack.calls.counts["batch.RegisterJobDefinition"] == 0
    assert stack.calls.counts["batch.DescribeJobDefinitions"] == 0
    assert stack.calls.total == 1, stack.calls.counts
    assert stack.dispatch().admitted
    assert stack.calls.last("batch.SubmitJob")["jobDefinition"] == definition
    # WHEN a third job names another image
    stack.calls.reset()
    third = post(gateway, job("c", image=f"{REGISTRY}amazonlinux:2"))
    # THEN it gets a second definition
    assert third["statusCode"] == 202, third["body"]
    assert stack.calls.counts["batch.RegisterJobDefinition"] == 1
    assert stack.dispatch().admitted
    assert stack.calls.last("batch.SubmitJob")["jobDefinition"] != definition


def test_a_new_container_finds_the_definition_by_name_and_registers_nothing(gateway: Any, stack: Stack) -> None:
    from batchplane import wiring

    # GIVEN a definition registered by one container
    assert post(gateway, job("a"))["statusCode"] == 202
    definition = stack.calls.last("batch.RegisterJobDefinition")["jobDefinitionName"]
    # WHEN another container (nothing in memory) submits the same image
    wiring.job_service.cache_clear()
    stack.calls.reset()
    assert post(gateway, job("b"))["statusCode"] == 202
    # THEN it found it with one DescribeJobDefinitions and registered nothing: two calls in all, with the write
    assert stack.calls.counts["batch.DescribeJobDefinitions"] == 1
    assert stack.calls.counts["batch.RegisterJobDefinition"] == 0
    assert stack.calls.total == 2, stack.calls.counts
    # AND both jobs are admitted on it
    assert len(stack.dispatch().admitted) == 2
    used = {p["jobDefinition"] for op, p in stack.calls.requests if op == "batch.SubmitJob"}
    assert len(used) == 1
    assert f"job-definition/{definition}:" in used.pop()


def test_a_race_that_made_two_revisions_ends_with_one_in_use(stack: Stack) -> None:
    # GIVEN two containers raced and each registered the same definition: revisions 1 and 2 are ACTIVE
    policy = ContainerPolicy(stack=STACK, registries=(REGISTRY,))
    spec = policy.definition(JobRequest.model_validate(job("a")))
    batch = boto3.client("batch", region_name=REGION)
    arns = [batch.register_job_definition(**spec.body)["jobDefinitionArn"] for _ in range(2)]
    # WHEN any container resolves it
    with stack.acting_as("gateway"):
        chosen = {BatchJobDefinitions(batch).ensure(spec) for _ in range(3)}
    # THEN every one uses the lowest revision
    assert chosen == {arns[0]}


def test_an_image_or_role_not_allowed_is_a_422_and_nothing_is_registered(gateway: Any, stack: Stack) -> None:
    for body, field in (
        (job("x", image="docker.io/library/alpine:3"), "image"),
        (job("y", jobRoleArn=OTHER_ROLE), "jobRoleArn"),
        (job("z", volumes=["shared"]), "volumes"),  # no EFS file system declared
        (job("f", platform="fargate"), "platform"),  # Fargate not turned on
    ):
        answer = post(gateway, body)
        assert answer["statusCode"] == 422, answer["body"]
        assert answer["headers"]["Content-Type"] == "application/problem+json"
        assert [e["field"] for e in response_json(answer)["errors"]] == [field]
    assert stack.calls.counts["batch.RegisterJobDefinition"] == 0
    assert stack.calls.counts["batch.SubmitJob"] == 0


def test_iam_itself_refuses_a_role_or_image_the_operator_did_not_list(stack: Stack) -> None:
    # GIVEN the gateway's own role, and a registration that skipped the gateway's checks
    from batchplane.adapters import aws

    lenient = ContainerPolicy(stack=STACK, registries=("",), job_roles=frozenset({OTHER_ROLE}))
    registry = BatchJobDefinitions(aws.batch())  # the functions' client: IAM-enforced
    for body in (job("r", jobRoleArn=OTHER_ROLE), job("i", image="docker.io/library/alpine:3")):
        spec = lenient.definition(JobRequest.model_validate(body))
        # WHEN it registers the definition as the gateway
        with stack.acting_as("gateway"), pytest.raises(UpstreamUnavailableError):
            registry.ensure(spec)
    # THEN IAM refused it: PassRole on the unlisted role, RegisterJobDefinition for the unlisted image
    refused = {(d.request.action, d.request.resource) for d in stack.enforcer.denied}
    assert ("iam:PassRole", OTHER_ROLE) in refused
    assert any(action == "batch:RegisterJobDefinition" for action, _ in refused)
    stack.enforcer.denied.clear()
    # AND the listed role passes, only to ECS tasks
    allowed = ContainerPolicy(stack=STACK, registries=(REGISTRY,), job_roles=frozenset({ROLE}))
    with stack.acting_as("gateway"):
        assert registry.ensure(allowed.definition(JobRequest.model_validate(job("ok", jobRoleArn=ROLE))))


def test_definitions_lists_what_was_registered_and_the_callers_jobs_on_it(gateway: Any, stack: Stack) -> None:
    ids = [response_json(post(gateway, job(n)))["jobId"] for n in ("a", "b")]
    other = response_json(post(gateway, job("c", image=f"{REGISTRY}amazonlinux:2")))["jobId"]
    answer = gateway.lambda_handler(http_event("GET", "/definitions"), FakeLambdaContext())
    assert answer["statusCode"] == 200, answer["body"]
    listed = {d["image"]: d for d in response_json(answer)["definitions"]}
    assert sorted(listed[IMAGE]["jobs"]) == sorted(ids)
    assert listed[f"{REGISTRY}amazonlinux:2"]["jobs"] == [other]
    assert listed[IMAGE]["platform"] == "ec2"
    assert listed[IMAGE]["revision"] == 1
    # AND another tenant learns nothing of these images: its list is its own (empty)
    theirs = gateway.lambda_handler(http_event("GET", "/definitions", caller=BOB), FakeLambdaContext())
    assert response_json(theirs)["definitions"] == []


def test_a_lost_registration_answer_leaves_two_revisions_and_one_in_use(gateway: Any, stack: Stack) -> None:
    from batchplane.adapters import aws
    from botocore.awsrequest import AWSResponse

    # GIVEN the first RegisterJobDefinition's answer is lost after Batch applied it (the SDK retries the 503)
    lost: list[str] = []

    class _Empty:
        def stream(self, **_: Any) -> Any:
            yield b""

    def lose_first_answer(request: Any, **_: Any) -> AWSResponse | None:
        if request.url.endswith("/v1/registerjobdefinition") and not lost:
            lost.append(request.url)
            return AWSResponse(request.url, 503, {}, _Empty())
        return None

    aws.session().events.register_first("before-send.batch.RegisterJobDefinition", lose_first_answer)
    # WHEN two jobs with that image are submitted
    first = post(gateway, job("a"))
    second = post(gateway, job("b"))
    # THEN both are accepted, Batch holds two ACTIVE revisions, and both jobs run on the lowest
    assert lost, "the fault was not injected"
    assert first["statusCode"] == second["statusCode"] == 202, (first["body"], second["body"])
    name = stack.calls.last("batch.RegisterJobDefinition")["jobDefinitionName"]
    batch = boto3.client("batch", region_name=REGION)
    revisions = batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]
    lowest = min(revisions, key=lambda d: d["revision"])["jobDefinitionArn"]
    assert len(revisions) == 2
    assert len(stack.dispatch().admitted) == 2
    used = {p["jobDefinition"] for op, p in stack.calls.requests if op == "batch.SubmitJob"}
    assert used == {lowest}


def test_a_schedule_of_a_job_whose_image_is_not_allowed_is_refused_when_created(gateway: Any, stack: Stack) -> None:
    body = {"name": "nightly", "expression": "rate(1 day)", "job": job("n", image="docker.io/library/alpine:3")}
    answer = gateway.lambda_handler(http_event("POST", "/schedules", body=body), FakeLambdaContext())
    assert answer["statusCode"] == 422, answer["body"]
    assert [e["field"] for e in response_json(answer)["errors"]] == ["job.image"]
    assert stack.calls.counts["scheduler.CreateSchedule"] == 0
    # AND an allowed one is created (its definition is registered when it first fires, not now)
    body["job"] = job("n")
    created = gateway.lambda_handler(http_event("POST", "/schedules", body=body), FakeLambdaContext())
    assert created["statusCode"] == 201, created["body"]
    assert stack.calls.counts["batch.RegisterJobDefinition"] == 0
