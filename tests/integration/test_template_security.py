"""template.yaml's security and multi-stack promises: roles each mode needs, instance metadata closed to containers,
IAM scoped to this stack's own queues, definitions, jobs and schedules, dead letters that reach their queue.

Pure file reads, plus the SAM transform (offline, aws-sam-translator) where what matters is what SAM generates."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from typing import Any

import pytest

from tests.cfn import ROOT, resources, template
from tests.samtransform import transformed

pytestmark = pytest.mark.integration

MANAGED_ENVIRONMENTS = (
    "SpotComputeEnvironment",
    "OnDemandComputeEnvironment",
    "MultiNodeComputeEnvironment",
    "GpuComputeEnvironment",
)


def props(logical_id: str) -> dict[str, Any]:
    return resources()[logical_id]["Properties"]


def function_statements(logical_id: str) -> dict[str, dict[str, Any]]:
    """A SAM function's policy statements by Sid: inline, and those of the stack's managed policies it attaches."""
    out: dict[str, dict[str, Any]] = {}
    for policy in props(logical_id).get("Policies", []):
        if isinstance(policy, dict) and set(policy) == {"Ref"}:
            attached = resources()[policy["Ref"]]
            assert attached["Type"] == "AWS::IAM::ManagedPolicy", policy
            policy = attached["Properties"]["PolicyDocument"]  # noqa: PLW2901
        if isinstance(policy, dict) and "Statement" in policy:
            statements = [s["Fn::If"][1] if "Fn::If" in s else s for s in policy["Statement"]]
            assert not set(out) & {s["Sid"] for s in statements}, logical_id  # a Sid says one thing per function
            out.update({s["Sid"]: s for s in statements})
    return out


# ---- Batch: roles and instances ----


def test_unmanaged_environment_names_its_service_role_and_only_in_unmanaged_mode() -> None:
    # GIVEN the unmanaged compute environment (AWS creates the service-linked role for managed environments only)
    env = resources()["UnmanagedComputeEnvironment"]
    # WHEN its service role is read
    role_ref = env["Properties"]["ServiceRole"]
    role = resources()[role_ref["Fn::GetAtt"][0]]
    # THEN it is a role Batch can assume, with AWS's managed service-role policy, created only in unmanaged mode
    assert role_ref["Fn::GetAtt"][1] == "Arn"
    assert role["Type"] == "AWS::IAM::Role"
    assert role["Condition"] == env["Condition"] == "UseUnmanaged"
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"]["Service"] for s in trust] == ["batch.amazonaws.com"]
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSBatchServiceRole"}
    ]
    # AND the managed environments keep the service-linked role (no ServiceRole)
    for logical_id in MANAGED_ENVIRONMENTS:
        assert "ServiceRole" not in props(logical_id), logical_id


def test_managed_environments_launch_instances_with_imdsv2_and_hop_limit_one() -> None:
    # GIVEN the job instances' launch template
    template_resource = resources()["JobInstanceLaunchTemplate"]
    metadata = template_resource["Properties"]["LaunchTemplateData"]["MetadataOptions"]
    # THEN IMDSv2 is required and a container (one hop further) cannot reach the instance role's credentials
    assert template_resource["Type"] == "AWS::EC2::LaunchTemplate"
    assert template_resource["Condition"] == "UseManaged"
    assert metadata == {"HttpEndpoint": "enabled", "HttpTokens": "required", "HttpPutResponseHopLimit": 1}
    # AND every managed compute environment launches from it
    for logical_id in MANAGED_ENVIRONMENTS:
        launch = props(logical_id)["ComputeResources"]["LaunchTemplate"]
        assert launch["LaunchTemplateId"] == {"Ref": "JobInstanceLaunchTemplate"}, logical_id
        assert launch["Version"] == {"Fn::GetAtt": ["JobInstanceLaunchTemplate", "LatestVersionNumber"]}, logical_id


# ---- Batch events: dead letters reach their queue ----


def test_undeliverable_batch_events_reach_the_job_events_dead_letter_queue() -> None:
    # GIVEN the template as CloudFormation receives it (after the SAM transform)
    out = transformed()["Resources"]
    # WHEN the Batch events rule SAM generates (<FunctionLogicalId><EventName>) is read
    rule = out["JobEventsFunctionBatchJobEvents"]
    assert rule["Type"] == "AWS::Events::Rule"
    (target,) = rule["Properties"]["Targets"]
    # THEN its dead-letter queue is JobEventsDeadLetterQueue, and SAM made no second queue
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["JobEventsDeadLetterQueue", "Arn"]}}
    queues = {k for k, v in out.items() if v["Type"] == "AWS::SQS::Queue"}
    assert queues == {"JobEventsDeadLetterQueue", "StageQueue", "StageDeadLetterQueue", "ScheduleDeadLetterQueue"}
    # AND the queue's policy lets only that rule send (aws:SourceArn), as EventBridge requires for a DLQ
    (statement,) = out["JobEventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["JobEventsFunctionBatchJobEvents", "Arn"]}}
    }


# ---- Schedules: one group per stack ----


def test_schedules_live_in_the_stacks_own_group_and_the_gateway_manages_only_that_group() -> None:
    # GIVEN the stack's schedule group, named after the stack
    group = resources()["ScheduleGroup"]
    assert group["Type"] == "AWS::Scheduler::ScheduleGroup"
    assert group["Properties"]["Name"] == {"Ref": "AWS::StackName"}
    # THEN the gateway is told the group, and may create, update and delete batchplane schedules in it only
    gateway = props("GatewayFunction")
    assert gateway["Environment"]["Variables"]["SCHEDULE_GROUP_NAME"] == {"Ref": "ScheduleGroup"}
    manage = function_statements("GatewayFunction")["ManageSchedules"]
    assert sorted(manage["Action"]) == [
        "scheduler:CreateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:UpdateSchedule",
    ]
    assert manage["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/bp-*"
    }
    # AND the template's own schedules are in that group too (their names are fixed: the group keeps stacks apart)
    for logical_id, fn in resources("AWS::Serverless::Function").items():
        for name, event in (fn["Properties"].get("Events") or {}).items():
            if event["Type"] == "ScheduleV2":
                assert event["Properties"]["GroupName"] == {"Ref": "ScheduleGroup"}, (logical_id, name)


def test_samconfig_environments_override_only_parameters_the_template_declares() -> None:
    # GIVEN samconfig.toml's deploy environments
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    declared = set(template()["Parameters"])
    required = {name for name, p in template()["Parameters"].items() if "Default" not in p}
    for env_name in ("default", "prod"):
        deploy = config[env_name]["deploy"]["parameters"]
        # WHEN its parameter overrides are read
        overrides = dict(pair.split("=", 1) for pair in shlex.split(deploy["parameter_overrides"]))
        # THEN each names a parameter of the template, and the stack name fits the schedule group's 64 characters
        assert set(overrides) <= declared, env_name
        assert len(config[env_name]["global"]["parameters"]["stack_name"]) <= 64
        assert "CAPABILITY_IAM" in deploy["capabilities"].split()
        # AND the AWS::LanguageExtensions transform is acknowledged (CloudFormation refuses the deploy without it)
        assert "CAPABILITY_AUTO_EXPAND" in deploy["capabilities"].split()
        # AND SAM CLI expands it too when it builds and packages (it cannot read a Fn::ForEach resource otherwise)
        assert deploy["language_extensions"] is config[env_name]["build"]["parameters"]["language_extensions"] is True
        # AND what it leaves out is either defaulted or asked by --guided (and said so in the file)
        assert required - set(overrides) <= {"SubnetIds", "SecurityGroupIds"}, env_name
    assert "--guided --config-env prod" in (ROOT / "samconfig.toml").read_text()


# ---- IAM: only this stack's jobs ----

STACK_TAG_CONDITION = {"aws:ResourceTag/batchplane:stack": {"Ref": "AWS::StackName"}}


def test_functions_stop_and_tag_only_jobs_tagged_with_their_own_stack() -> None:
    # GIVEN every function's policy statements that terminate or tag Batch jobs
    found = []
    for logical_id in resources("AWS::Serverless::Function"):
        for sid, statement in function_statements(logical_id).items():
            actions = set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
            if not actions & {"batch:TerminateJob", "batch:TagResource"}:
                continue
            found.append((logical_id, sid))
            condition = statement.get("Condition") or {}
            # THEN TerminateJob needs the job's batchplane:stack tag to be this stack's name
            if "batch:TerminateJob" in actions:
                assert actions == {"batch:TerminateJob"}, (logical_id, sid)
                assert condition == {"StringEquals": STACK_TAG_CONDITION}, (logical_id, sid)
            # AND TagResource (SubmitJob's tag-on-create) needs the request to tag the job with this stack's name,
            # and an existing job to carry it already
            else:
                assert condition == {
                    "StringEquals": {"aws:RequestTag/batchplane:stack": {"Ref": "AWS::StackName"}},
                    "StringEqualsIfExists": STACK_TAG_CONDITION,
                }, (logical_id, sid)
    functions_found = {lid for lid, _ in found}
    assert {"GatewayFunction", "JobEventsFunction", "SweeperFunction", "PipelineTasksFunction"} <= functions_found
    assert "DispatcherFunction" in functions_found
    assert "ScheduledSubmitFunction" not in functions_found  # it records jobs QUEUED: it touches no Batch job
    # AND the functions know the stack's name, which the code puts on every job
    assert template()["Globals"]["Function"]["Environment"]["Variables"]["STACK_NAME"] == {"Ref": "AWS::StackName"}


def test_job_logs_are_read_from_batchs_log_group_only() -> None:
    # GIVEN the gateway's log statement
    logs = function_statements("GatewayFunction")["ReadBatchJobLogs"]
    # THEN it reads log events of Batch's job log group only (its streams are named only once a job runs)
    assert logs["Action"] == "logs:GetLogEvents"
    assert logs["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/batch/job:log-stream:*"
    }


# ---- IAM: SubmitJob on this stack's queues and usable job definitions only ----

# Who calls SubmitJob since admission: the dispatcher (every first attempt), job events (retries, fallbacks,
# escalations), the sweeper (due retries, repairs, moves to On-Demand) and the gateway (re-prioritising a job waiting
# in Batch). Pipeline tasks and scheduled submit record jobs QUEUED and submit nothing.
SUBMITTERS = (
    "DispatcherFunction",
    "GatewayFunction",
    "JobEventsFunction",
    "SweeperFunction",
)
NON_SUBMITTERS = ("PipelineTasksFunction", "ScheduledSubmitFunction")


def evaluate(value: Any, parameters: dict[str, str]) -> Any:
    """``value`` resolved as CloudFormation would, with these parameters (the local stack's own evaluator)."""
    from batchplane_local.stack.template import Stack

    return Stack(template(), region="eu-west-1", account="123456789012", parameters=dict(parameters)).resolve(value)


def test_submit_job_reaches_only_the_stacks_queues_and_usable_job_definitions() -> None:
    from batchplane_local import iam

    from tests.cfn import REGION, deployed_stack, function_principals

    # GIVEN each submitting function's role as deployed in stack "batchplane" (a stack "batchplane-prod" beside it)
    stack = deployed_stack({}, "batchplane")
    principals = {p.function: p for p in function_principals(stack).values()}
    queues = [stack.physical[q]["Ref"] for q in stack.resources("AWS::Batch::JobQueue")]
    definitions = [stack.physical[d]["Ref"] for d in stack.resources("AWS::Batch::JobDefinition")]
    other_stack = f"arn:aws:batch:{REGION}:123456789012:job-queue/batchplane-prod_low_spot"
    other_definition = f"arn:aws:batch:{REGION}:123456789012:job-definition/someone-elses:1"
    for logical_id in SUBMITTERS:
        statements = principals[logical_id].statements

        def decision(resource: str, statements: Any = statements) -> str:
            return iam.decide(statements, iam.Request("batch:SubmitJob", resource))

        # THEN SubmitJob reaches every queue of the stack and its own definitions, and not another stack's queue
        # (stack names have no "_": "batchplane_*" never matches "batchplane-prod_...") nor any other definition
        assert {decision(r) for r in queues + definitions} == {"Allow"}, logical_id
        assert decision(other_stack) == decision(other_definition) == "ImplicitDeny", logical_id
        # AND the shared statement writes the stack's queue prefix, and the definitions by Ref (no job-definition/*)
        own = function_statements(logical_id)["SubmitToBatchplaneQueues"]
        assert {r["Ref"] for r in own["Resource"] if "Ref" in r} == set(resources("AWS::Batch::JobDefinition"))
        assert [r["Fn::Sub"] for r in own["Resource"] if "Fn::Sub" in r] == [
            "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job-queue/${AWS::StackName}_*",
            # the definitions batchplane registers for jobs with their own image (tests/.../test_own_image.py)
            "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job-definition/${AWS::StackName}_img_*",
        ]
        # AND the operator's definitions only under HasAllowedJobDefinitions, by name and any revision
        policy = resources("AWS::IAM::ManagedPolicy")["SubmitJobsPolicy"]["Properties"]["PolicyDocument"]
        (conditional,) = [s for s in policy["Statement"] if "Fn::If" in s]
        condition, statement, otherwise = conditional["Fn::If"]
        assert (condition, otherwise) == ("HasAllowedJobDefinitions", {"Ref": "AWS::NoValue"})
        assert statement["Action"] == "batch:SubmitJob"
        prefix = "arn:*:batch:*:*:job-definition/"
        resolved = evaluate(statement["Resource"], {"AllowedJobDefinitions": "etl,train-gpu"})
        assert sorted(resolved) == sorted(
            f"{prefix}{name}{rev}" for name in ("etl", "train-gpu") for rev in ("", ":*")
        ), logical_id
    # AND the parameter defaults to none, admits names only, and reaches the functions
    parameter = template()["Parameters"]["AllowedJobDefinitions"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert all(pattern.match(v) for v in ("", "etl", "etl,train-gpu"))
    assert not any(pattern.match(v) for v in ("etl, x", "arn:aws:batch:x", "etl:3", "*"))
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["ALLOWED_JOB_DEFINITIONS"] == {"Ref": "AllowedJobDefinitions"}


def test_functions_that_submit_nothing_may_not_submit_or_tag_batch_jobs() -> None:
    from batchplane_local import iam

    from tests.cfn import REGION, deployed_stack, function_principals

    # GIVEN the roles of the functions that record jobs QUEUED and never call SubmitJob, as deployed
    stack = deployed_stack({}, "batchplane")
    principals = {p.function: p for p in function_principals(stack).values()}
    queues = [stack.physical[q]["Ref"] for q in stack.resources("AWS::Batch::JobQueue")]
    definitions = [stack.physical[d]["Ref"] for d in stack.resources("AWS::Batch::JobDefinition")]
    job = f"arn:aws:batch:{REGION}:123456789012:job/0123"
    for logical_id in NON_SUBMITTERS:
        statements = principals[logical_id].statements
        # THEN neither SubmitJob (on any of the stack's queues or definitions) nor its tag-on-create is allowed
        for resource in queues + definitions:
            assert iam.decide(statements, iam.Request("batch:SubmitJob", resource)) == "ImplicitDeny", logical_id
        tagging = iam.Request("batch:TagResource", job, {"aws:RequestTag/batchplane:stack": "batchplane"})
        assert iam.decide(statements, tagging) == "ImplicitDeny", logical_id
        # AND the shared submitting policy is not attached
        assert {"Ref": "SubmitJobsPolicy"} not in props(logical_id)["Policies"], logical_id


def test_each_job_definitions_propagated_tag_count_is_what_the_functions_are_told() -> None:
    # GIVEN the functions' view of the declared definitions: name -> logical id, and name -> tag count
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    names = {name: ref.strip("${}") for name, ref in json.loads(variables["JOB_DEFINITIONS"]["Fn::Sub"]).items()}
    counts = json.loads(variables["JOB_DEFINITION_TAGS"])
    # THEN every declared definition's count is its Tags' (they propagate to each job and count in its 50)
    assert set(counts) == set(names)
    for name, logical_id in names.items():
        definition = props(logical_id)
        assert definition.get("PropagateTags") is True, logical_id
        assert counts[name] == len(definition.get("Tags") or {}), name
