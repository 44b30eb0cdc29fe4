"""A Fargate definition registers under the gateway's own role with Fargate on: the stack's execution role passes
to ECS tasks, and moto stores the Fargate fields batchplane sends (the queues themselves run on the local stack:
tests/e2e/test_own_image.py)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from batchplane.adapters.definitions import BatchJobDefinitions
from batchplane.domain.models import JobRequest
from batchplane.settings import Settings

from tests.conftest import REGION, Stack

pytestmark = pytest.mark.integration

REGISTRY = "public.ecr.aws/amazonlinux/"


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {"AllowedImageRegistries": REGISTRY, "EnableFargate": "true"}


def test_a_fargate_definition_registers_with_the_stacks_execution_role(stack: Stack) -> None:
    from batchplane.adapters import aws

    # GIVEN the functions' settings with Fargate on, and a Fargate job
    assert stack.env["FARGATE_EXECUTION_ROLE_ARN"].startswith("arn:aws:iam::123456789012:role/")
    policy = Settings.from_environ(stack.env).container_policy()
    request = JobRequest.model_validate(
        {"name": "f", "image": f"{REGISTRY}amazonlinux:2023", "platform": "fargate", "vcpus": 2, "memoryMiB": 4096}
    )
    policy.check(request)
    spec = policy.definition(request)
    # WHEN the gateway registers its definition (every call authorised against the gateway's role)
    with stack.acting_as("gateway"):
        arn = BatchJobDefinitions(aws.batch()).ensure(spec)
    # THEN it was allowed (PassRole of the stack's execution role to ecs-tasks), and Batch holds the Fargate fields
    assert stack.enforcer.denied == []
    (found,) = boto3.client("batch", region_name=REGION).describe_job_definitions(jobDefinitions=[arn])[
        "jobDefinitions"
    ]
    assert found["platformCapabilities"] == ["FARGATE"]
    container = found["containerProperties"]
    assert container["executionRoleArn"] == stack.env["FARGATE_EXECUTION_ROLE_ARN"]
    assert container["image"] == f"{REGISTRY}amazonlinux:2023"
