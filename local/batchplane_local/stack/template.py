"""template.yaml as CloudFormation deploys it: the SAM transform run offline, then evaluated as CloudFormation would.

:func:`transformed` runs aws-sam-translator (the library behind `sam validate` and cfn-lint) with no AWS call: local
code paths become ``s3://`` placeholders first (as `sam validate` does), managed policy names come from a static map,
the pseudo parameters are passed. What comes out is what CloudFormation would create: generated roles with policy
templates expanded, event rules with their real dead-letter config, Lambda permissions, event source mappings,
generated schedule names. The local stack and the integration tests provision from that, never from SAM's own types.

:class:`Stack` evaluates it. Supported intrinsics, and only these (anything else fails loudly, naming it): Ref
(parameters, resources, pseudo parameters), Fn::Sub, Fn::GetAtt, Fn::If / Equals / Not / And / Or, Condition,
Fn::Join, Fn::Select, Fn::Split. A resource's Ref / Arn is what AWS gives for its type (a job queue's Ref is its ARN,
a table's Ref its name...)."""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NO_VALUE = object()
ARTIFACTS_BUCKET = "batchplane-local-artifacts"
SUPPORTED_INTRINSICS = frozenset(
    {
        "Ref",
        "Condition",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::If",
        "Fn::Equals",
        "Fn::Not",
        "Fn::And",
        "Fn::Or",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
    }
)
# The AWS managed policies SAM may be asked for by name (SAM's loader would call IAM to list them)
MANAGED_POLICY_ARNS = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSBatchServiceRole": "arn:aws:iam::aws:policy/service-role/AWSBatchServiceRole",
    "AmazonEC2ContainerServiceforEC2Role": "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
}


class UnsupportedTemplate(Exception):  # noqa: N818 - a template feature the local stack refuses to guess about
    """Something in the template this loader cannot evaluate or provision: named, never skipped silently."""


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _tag)


def load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506 - a SafeLoader subclass


class _ManagedPolicies:
    def load(self) -> dict[str, str]:
        return MANAGED_POLICY_ARNS


_LOCAL_PATHS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


def transformed(
    template: dict[str, Any], *, parameters: dict[str, Any] | None = None, region: str, account: str, stack_name: str
) -> dict[str, Any]:
    """The CloudFormation template SAM makes of ``template`` (offline). Local code paths become
    ``s3://batchplane-local-artifacts/<relative path>`` (see :func:`artifact_path`)."""
    from samtranslator.translator.transform import transform

    source = copy.deepcopy(template)
    for resource in (source.get("Resources") or {}).values():
        key = _LOCAL_PATHS.get(resource.get("Type", ""))
        props = resource.get("Properties") or {}
        if key and isinstance(props.get(key), str) and not props[key].startswith("s3://"):
            props[key] = f"s3://{ARTIFACTS_BUCKET}/{props[key]}"
    values = {
        **{k: v for k, v in (parameters or {}).items() if v is not None},
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::StackName": stack_name,
    }
    os.environ.setdefault("AWS_DEFAULT_REGION", region)  # samtranslator reads the region for ARNs it builds
    out: dict[str, Any] = transform(source, values, _ManagedPolicies())
    return out


def artifact_path(root: Path, location: Any) -> Path:
    """The local folder or file behind a placeholder location SAM wrote (Code, Content, DefinitionS3Location)."""
    if isinstance(location, dict):
        bucket = location.get("S3Bucket") or location.get("Bucket")
        key = location.get("S3Key") or location.get("Key")
    else:
        bucket, _, key = str(location).removeprefix("s3://").partition("/")
    if bucket != ARTIFACTS_BUCKET or not key:
        msg = f"artifact {location!r} is not a local path the transform replaced"
        raise UnsupportedTemplate(msg)
    return root / str(key).rstrip("/")


@dataclass
class Stack:
    """A template with parameter values and the physical identity of each resource."""

    template: dict[str, Any]
    name: str = "batchplane-local"
    region: str = "us-east-1"
    account: str = "123456789012"
    parameters: dict[str, Any] = field(default_factory=dict)
    physical: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> {"Ref": ..., "Arn": ...}

    def __post_init__(self) -> None:
        for name, spec in (self.template.get("Parameters") or {}).items():
            if name not in self.parameters:
                default = spec.get("Default")
                if spec.get("Type", "").startswith("List<") or spec.get("Type") == "CommaDelimitedList":
                    default = [v for v in str(default or "").split(",") if v]
                self.parameters[name] = default
        self._conditions: dict[str, bool] = {}

    # ---- names ----

    def resources(self, kind: str | None = None) -> dict[str, dict[str, Any]]:
        out = self.template.get("Resources") or {}
        return {
            k: v
            for k, v in out.items()
            if (kind is None or v.get("Type") == kind) and self.condition_holds(v.get("Condition"))
        }

    def condition_holds(self, name: str | None) -> bool:
        if name is None:
            return True
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve((self.template.get("Conditions") or {})[name]))
        return self._conditions[name]

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::StackName": self.name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.name}/local",
            "AWS::NoValue": NO_VALUE,
        }[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]["Ref"]
        msg = f"Ref to {name!r}: not a parameter nor a provisioned resource"
        raise KeyError(msg)

    def get_att(self, name: str, attribute: str) -> Any:
        try:
            return self.physical[name][attribute]
        except KeyError:
            msg = f"GetAtt {name}.{attribute}: not provisioned locally"
            raise KeyError(msg) from None

    # ---- evaluation ----

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition_holds(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition_holds(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(v) for v in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Fn::Join":
                sep, items = arg
                if not isinstance(sep, str):
                    msg = f"Fn::Join takes a literal delimiter, never a function (CloudFormation refuses it): {sep!r}"
                    raise UnsupportedTemplate(msg)
                return sep.join(str(v) for v in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key.startswith("Fn::") and key not in SUPPORTED_INTRINSICS:
                msg = f"intrinsic {key} is not supported by the local evaluator ({sorted(SUPPORTED_INTRINSICS)} are)"
                raise UnsupportedTemplate(msg)
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                return str(self.get_att(resource, attribute))
            value = self.ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", one, text)
