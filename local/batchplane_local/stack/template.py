"""Read template.yaml and evaluate it as CloudFormation would, for the resources the local stack provisions.

Supports the intrinsics the template uses: Ref (parameters, resources, pseudo parameters), Fn::Sub, Fn::GetAtt,
Fn::If / Equals / Not / And / Or, Condition, Fn::Join, Fn::Select, Fn::Split. A resource's Ref / Arn is what AWS
gives for its type (a job queue's Ref is its ARN, a table's Ref its name...)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NO_VALUE = object()


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
                return sep.join(str(v) for v in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
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


def merged_environment(stack: Stack, logical_id: str) -> dict[str, str]:
    """A function's environment: Globals.Function.Environment merged with its own, resolved."""
    glob = ((stack.template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
    own = (stack.resources()[logical_id].get("Properties") or {}).get("Environment") or {}
    merged: dict[str, Any] = {**(glob.get("Variables") or {}), **(own.get("Variables") or {})}
    return {k: str(stack.resolve(v)) for k, v in merged.items()}


def function_property(stack: Stack, logical_id: str, name: str, default: Any = None) -> Any:
    glob = (stack.template.get("Globals") or {}).get("Function") or {}
    own = stack.resources()[logical_id].get("Properties") or {}
    return own.get(name, glob.get(name, default))
