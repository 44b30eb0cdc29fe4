"""template.yaml for jobs with their own image: the functions register only allowed images under the stack's
prefix, never privileged, pass only the listed roles and only to ECS tasks; Fargate resources exist only when turned
on, a Spot and an On-Demand queue per priority class."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane_local import iam

from tests.cfn import REGION, deployed_stack, function_principals, resources, template

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/etl-job"
PARAMETERS = {
    "AllowedImageRegistries": "123456789012.dkr.ecr.us-east-1.amazonaws.com/,public.ecr.aws/amazonlinux/",
    "AllowedJobRoleArns": ROLE,
    "EnableFargate": "true",
}
# every function that starts a new job (job events and the sweeper start a pipeline's next jobs)
REGISTERING = (
    "GatewayFunction",
    "PipelineTasksFunction",
    "ScheduledSubmitFunction",
    "JobEventsFunction",
    "SweeperFunction",
)
DEFINITION = f"arn:aws:batch:{REGION}:123456789012:job-definition/batchplane_img_0123abcd"


def principals(parameters: dict[str, Any]) -> dict[str, Any]:
    return {p.function: p for p in function_principals(deployed_stack({}, "batchplane", parameters)).values()}


def register(image: str, privileged: str = "false", resource: str = DEFINITION) -> iam.Request:
    return iam.Request("batch:RegisterJobDefinition", resource, {"batch:Image": image, "batch:Privileged": privileged})


def pass_role(role: str, service: str = "ecs-tasks.amazonaws.com") -> iam.Request:
    return iam.Request("iam:PassRole", role, {"iam:PassedToService": service})


def test_functions_register_only_allowed_images_and_pass_only_listed_roles_to_ecs_tasks() -> None:
    # GIVEN the roles of a stack whose operator allowed two registries, one job role, and Fargate
    roles = principals(PARAMETERS)
    for function in REGISTERING:
        statements = roles[function].statements

        def decide(request: iam.Request, statements: Any = statements) -> str:
            return iam.decide(statements, request)

        # THEN an allowed image registers under the stack's prefix, nothing else does
        assert decide(register("public.ecr.aws/amazonlinux/amazonlinux:2023")) == "Allow", function
        assert decide(register("123456789012.dkr.ecr.us-east-1.amazonaws.com/etl:1")) == "Allow", function
        assert decide(register("docker.io/library/alpine:3")) == "ImplicitDeny", function
        assert decide(register("public.ecr.aws/amazonlinux/x", privileged="true")) == "ImplicitDeny", function
        other = f"arn:aws:batch:{REGION}:123456789012:job-definition/someone-elses"
        assert decide(register("public.ecr.aws/amazonlinux/x", resource=other)) == "ImplicitDeny", function
        # (nor another stack's: stack names have no "_", so "batchplane_img_*" never matches "batchplane-prod_img_...")
        prod = f"arn:aws:batch:{REGION}:123456789012:job-definition/batchplane-prod_img_0123abcd"
        assert decide(register("public.ecr.aws/amazonlinux/x", resource=prod)) == "ImplicitDeny", function
        assert decide(iam.Request("batch:SubmitJob", f"{prod}:1")) == "ImplicitDeny", function
        # AND the listed role passes to ECS tasks only; no other role, no other service
        assert decide(pass_role(ROLE)) == "Allow", function
        assert decide(pass_role(ROLE, "ec2.amazonaws.com")) == "ImplicitDeny", function
        assert decide(pass_role("arn:aws:iam::123456789012:role/admin")) == "ImplicitDeny", function
        # AND SubmitJob reaches the registered definitions, from the functions that call it (since admission, pipeline
        # stages and schedules only record their jobs QUEUED: the dispatcher submits them)
        submits = "Allow" if function not in ("PipelineTasksFunction", "ScheduledSubmitFunction") else "ImplicitDeny"
        assert decide(iam.Request("batch:SubmitJob", f"{DEFINITION}:1")) == submits, function


def test_with_nothing_allowed_no_image_registers_and_no_role_passes() -> None:
    statements = principals({})["GatewayFunction"].statements
    assert iam.decide(statements, register("public.ecr.aws/amazonlinux/amazonlinux:2023")) == "ImplicitDeny"
    assert iam.decide(statements, pass_role(ROLE)) == "ImplicitDeny"


def test_every_pass_role_of_the_registration_policy_is_conditioned_on_ecs_tasks() -> None:
    policy = resources("AWS::IAM::ManagedPolicy")["RegisterJobDefinitionsPolicy"]["Properties"]["PolicyDocument"]
    statements = [s["Fn::If"][1] if "Fn::If" in s else s for s in policy["Statement"]]
    passing = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert len(passing) == 2
    for statement in passing:
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    (registering,) = [s for s in statements if s["Action"] == "batch:RegisterJobDefinition"]
    assert registering["Condition"]["Bool"] == {"batch:Privileged": "false"}
    assert "batch:Image" in registering["Condition"]["StringLike"]


def test_fargate_environments_and_a_queue_pair_per_class_exist_only_when_turned_on() -> None:
    # GIVEN the template's Fargate resources
    fargate = {k: v for k, v in resources().items() if "Fargate" in k}
    classes = template()["Parameters"]["PriorityClasses"]["Default"].split(",")
    # THEN a Fargate Spot and a Fargate environment, an execution role, and two queues per class, all conditional
    expected = {"FargateSpotComputeEnvironment", "FargateComputeEnvironment", "FargateExecutionRole"}
    expected |= {f"{c}Fargate{kind}Queue" for c in classes for kind in ("Spot", "OnDemand")}
    assert set(fargate) == expected
    assert {v.get("Condition") for v in fargate.values()} == {"FargateOn"}
    spot = fargate["FargateSpotComputeEnvironment"]["Properties"]["ComputeResources"]
    assert spot["Type"] == "FARGATE_SPOT"
    assert fargate["FargateComputeEnvironment"]["Properties"]["ComputeResources"]["Type"] == "FARGATE"
    # AND each class's Fargate queues are named as the control plane derives them
    queue = fargate[f"{classes[0]}FargateSpotQueue"]["Properties"]
    assert queue["JobQueueName"] == {"Fn::Sub": f"${{AWS::StackName}}_{classes[0]}_fargate-spot"}
    on_demand = fargate[f"{classes[0]}FargateOnDemandQueue"]["Properties"]
    assert on_demand["JobQueueName"] == {"Fn::Sub": f"${{AWS::StackName}}_{classes[0]}_fargate-on-demand"}
    assert on_demand["ComputeEnvironmentOrder"] == [
        {"Order": 1, "ComputeEnvironment": {"Ref": "FargateComputeEnvironment"}}
    ]


def test_an_image_prefix_must_name_its_registry_host_and_a_slash() -> None:
    import re

    pattern = re.compile(template()["Parameters"]["AllowedImageRegistries"]["AllowedPattern"])
    good = ("", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/", "public.ecr.aws/amazonlinux/", "registry:5000/team/")
    bad = ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "docker.io", "*", "/etl", "a b/")
    assert all(pattern.match(p) for p in good)
    assert not any(pattern.match(p) for p in bad)


def test_the_control_plane_derives_exactly_the_template_fargate_queues() -> None:
    from batchplane.domain.models import Platform
    from batchplane.settings import Settings

    from tests.cfn import deployed_environment

    # GIVEN a stack deployed with Fargate on, and the functions' environment as CloudFormation resolves it
    stack = deployed_stack({}, "batchplane", PARAMETERS)
    env = deployed_environment(stack)
    # WHEN the control plane builds its catalogue from that environment
    catalogue = Settings.from_environ(env).catalogue()
    # THEN its Fargate queues are exactly the template's, by ARN, and the execution role reaches the functions
    derived = {q.queue_arn for q in catalogue.queues if q.platform is Platform.FARGATE}
    declared = {
        stack.physical[logical]["Ref"]
        for logical in stack.resources("AWS::Batch::JobQueue")
        if "Fargate" in logical and stack.condition_holds(stack.resources()[logical].get("Condition"))
    }
    assert derived == declared
    assert len(declared) == 2 * len(template()["Parameters"]["PriorityClasses"]["Default"].split(","))
    assert env["FARGATE_EXECUTION_ROLE_ARN"].startswith("arn:aws:iam::")
    assert env["ALLOWED_JOB_ROLE_ARNS"] == ROLE
