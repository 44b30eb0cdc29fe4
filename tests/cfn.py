"""Read template.yaml as data: a YAML loader that keeps CloudFormation's short-form tags (!Ref, !Sub, ...) as their
long form ({"Ref": ...}, {"Fn::Sub": ...}), so tests build resources from the template's own properties."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from batchplane_local.stack import template as _stack_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


CfnLoader = _stack_template.CfnLoader


@cache
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


@cache
def expanded_template() -> dict[str, Any]:
    """template.yaml after AWS::LanguageExtensions (Fn::ForEach unrolled with the parameters' defaults), before SAM."""
    return _stack_template.expand_language_extensions(template())


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    """The template's resources as SAM receives them (its loops unrolled): SAM's own types, the rest as written."""
    out = expanded_template()["Resources"]
    return {k: v for k, v in out.items() if kind is None or v["Type"] == kind}


def table_definition(resource_id: str = "BatchplaneTable") -> dict[str, Any]:
    """create_table kwargs from the table's properties as CloudFormation receives them (so tests cannot drift)."""
    props = deployed_resources()[resource_id]["Properties"]
    kwargs: dict[str, Any] = {
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return kwargs


# ---- the template as CloudFormation deploys it (after the SAM transform) ----------------------------------------

REGION = "us-east-1"
ACCOUNT = "123456789012"


@cache
def deployed_template(stack_name: str = "batchplane-test") -> dict[str, Any]:
    """template.yaml after the SAM transform, offline (what CloudFormation would create)."""
    from batchplane_local.stack.template import transformed

    return transformed(template(), region=REGION, account=ACCOUNT, stack_name=stack_name)


def deployed_resources(kind: str | None = None, stack_name: str = "batchplane-test") -> dict[str, dict[str, Any]]:
    out = deployed_template(stack_name)["Resources"]
    return {k: v for k, v in out.items() if kind is None or v["Type"] == kind}


def _physical(name: str, kind: str) -> dict[str, str]:
    """A resource of ``kind`` named ``name``: its Ref and the ARN AWS gives it."""
    arn = {
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
        "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
        "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "AWS::IAM::ManagedPolicy": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
        "AWS::StepFunctions::StateMachine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}",
        "AWS::Batch::JobQueue": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{name}",
        "AWS::Batch::JobDefinition": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/{name}:1",
        "AWS::Batch::ComputeEnvironment": f"arn:aws:batch:{REGION}:{ACCOUNT}:compute-environment/{name}",
        "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
        "AWS::Events::Rule": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
        "AWS::Scheduler::ScheduleGroup": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{name}",
    }.get(kind, f"arn:aws:local:{REGION}:{ACCOUNT}:{name}")
    ref = {
        "AWS::SQS::Queue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
        "AWS::Batch::JobQueue": arn,
        "AWS::Batch::JobDefinition": arn,
        "AWS::Batch::ComputeEnvironment": arn,
        "AWS::StepFunctions::StateMachine": arn,
        "AWS::IAM::ManagedPolicy": arn,
    }.get(kind, name)
    return {"Ref": ref, "Arn": arn, "Name": name, "QueueName": name, "QueueUrl": ref}


def deployed_stack(
    physical: dict[str, dict[str, str]], stack_name: str = "batchplane-test", parameters: dict[str, Any] | None = None
) -> Any:
    """The transformed template with every resource's physical identity: the given ones, CloudFormation's defaults
    for the rest. Resolves anything in it (a role's policies, a function's environment) as CloudFormation would."""
    return stack_of(deployed_template(stack_name), physical, stack_name, parameters)


def stack_of(
    cfn: dict[str, Any],
    physical: dict[str, dict[str, str]],
    stack_name: str = "batchplane-test",
    parameters: dict[str, Any] | None = None,
) -> Any:
    """A transformed template ``cfn`` with every resource's physical identity (see :func:`deployed_stack`)."""
    from batchplane_local.stack.template import Stack

    # CloudFormation's names (without their random suffix), unless the template gives one
    names = {logical: _physical(f"{stack_name}-{logical}", res["Type"]) for logical, res in cfn["Resources"].items()}
    stack = Stack(
        cfn, name=stack_name, region=REGION, account=ACCOUNT, physical=names, parameters=dict(parameters or {})
    )
    for logical, res in stack.resources().items():  # a name the template gives wins over CloudFormation's
        prop = _NAME_PROPERTY.get(res["Type"])
        given = (res.get("Properties") or {}).get(prop) if prop else None
        if given is not None:
            names[logical] = _physical(str(stack.resolve(given)), res["Type"])
    for logical, given_physical in physical.items():
        names[logical] = {**names.get(logical, {}), **given_physical}
    return stack


# Types whose Ref is the name the template may give in this property
_NAME_PROPERTY = {
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Events::Rule": "Name",
    "AWS::Batch::JobQueue": "JobQueueName",
}


def function_principals(stack: Any) -> dict[str, Any]:
    """Each function's IAM principal (its role's resolved policies), by the function's code folder name."""
    from batchplane_local import iam

    out = {}
    customer = {
        stack.physical[logical]["Ref"]: iam._as_list(stack.resolve(res["Properties"]["PolicyDocument"])["Statement"])
        for logical, res in stack.resources("AWS::IAM::ManagedPolicy").items()
    }
    for logical, res in stack.resources("AWS::Lambda::Function").items():
        props = res["Properties"]
        role_logical = props["Role"]["Fn::GetAtt"][0]
        role_props = stack.resolve(stack.resources()[role_logical]["Properties"])
        folder = str(props["Code"]["S3Key"]).rstrip("/").rsplit("/", 1)[-1]
        out[folder] = iam.principal_of(
            logical, stack.physical[role_logical]["Ref"], role_props, customer_policies=customer
        )
    return out


def deployed_environment(stack: Any) -> dict[str, str]:
    """Every function's environment variables, resolved (Powertools' own settings left to the tests' defaults)."""
    env: dict[str, str] = {}
    for logical, res in stack.resources("AWS::Lambda::Function").items():
        for name, value in ((res["Properties"].get("Environment") or {}).get("Variables") or {}).items():
            resolved = str(stack.resolve(value))
            if env.get(name, resolved) != resolved:
                msg = f"{logical} disagrees with another function on {name}"
                raise AssertionError(msg)
            env[name] = resolved
    return {k: v for k, v in env.items() if not k.startswith("POWERTOOLS_")}
