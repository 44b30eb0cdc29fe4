"""template.yaml as CloudFormation deploys it: the SAM transform run offline, then evaluated as CloudFormation would.

:func:`transformed` runs aws-sam-translator (the library behind `sam validate` and cfn-lint) with no AWS call: local
code paths become ``s3://`` placeholders first (as `sam validate` does), managed policy names come from a static map,
the pseudo parameters are passed. What comes out is what CloudFormation would create: generated roles with policy
templates expanded, event rules with their real dead-letter config, Lambda permissions, event source mappings,
generated schedule names. The local stack and the integration tests provision from that, never from SAM's own types.
A template that lists ``AWS::LanguageExtensions`` first in its Transform is expanded before SAM sees it, as
CloudFormation does (:func:`expand_language_extensions`): Fn::ForEach, with the deploy's parameter values.

:class:`Stack` evaluates it. Supported intrinsics, and only these (anything else fails loudly, naming it): Ref
(parameters, resources, pseudo parameters), Fn::Sub, Fn::GetAtt, Fn::If / Equals / Not / And / Or, Condition,
Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap (with AWS::LanguageExtensions' DefaultValue). A resource's Ref /
Arn is what AWS gives for its type (a job queue's Ref is its ARN, a table's Ref its name...)."""

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
        "Fn::FindInMap",
    }
)
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
SERVERLESS = "AWS::Serverless-2016-10-31"
FOREACH = "Fn::ForEach::"
# What AWS::LanguageExtensions adds that this loader does not evaluate: refused, never passed on half-done
_UNSUPPORTED_EXTENSIONS = frozenset({"Fn::Length", "Fn::ToJsonString"})
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


def _transforms(template: dict[str, Any]) -> list[str]:
    value = template.get("Transform") or []
    return [value] if isinstance(value, str) else list(value)


def _parameter_values(template: dict[str, Any], parameters: dict[str, Any] | None) -> dict[str, Any]:
    """Each parameter's value for this deploy (given, else its Default); a CommaDelimitedList as its list."""
    out: dict[str, Any] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        value = (parameters or {}).get(name, spec.get("Default"))
        kind = str(spec.get("Type", ""))
        if (kind == "CommaDelimitedList" or kind.startswith("List<")) and not isinstance(value, list):
            value = [v for v in str(value if value is not None else "").split(",") if v]
        out[name] = value
    return out


def expand_language_extensions(template: dict[str, Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """What CloudFormation's AWS::LanguageExtensions transform makes of ``template`` for a deploy with these
    parameter values: every ``Fn::ForEach::<Loop>`` in Conditions, Resources (and a resource's Properties) and Outputs
    expanded (``${Id}`` and ``&{Id}`` in keys and strings, ``{"Ref": Id}``; the collection a literal list or a Ref to
    a CommaDelimitedList parameter; loops nested in a loop's body). Fn::FindInMap (DefaultValue too) is left for
    :class:`Stack` to evaluate. Anything else the transform offers (Fn::Length, Fn::ToJsonString, intrinsic
    DeletionPolicy / UpdateReplacePolicy) or a ForEach anywhere else is refused with :class:`UnsupportedTemplate`."""
    transforms = _transforms(template)
    if LANGUAGE_EXTENSIONS not in transforms:
        return template
    if transforms[0] != LANGUAGE_EXTENSIONS:
        msg = f"{LANGUAGE_EXTENSIONS} must be the first transform (CloudFormation runs it before {transforms[0]})"
        raise UnsupportedTemplate(msg)
    out = copy.deepcopy(template)
    rest = transforms[1:]
    if rest:
        out["Transform"] = rest[0] if len(rest) == 1 else rest
    else:
        out.pop("Transform", None)
    values = _parameter_values(template, parameters)
    names = set(template.get("Parameters") or {})
    for section in ("Conditions", "Resources", "Outputs"):
        if section in out:
            out[section] = _expand_section(out[section] or {}, values, names, (), section)
    for logical, resource in (out.get("Resources") or {}).items():
        if isinstance(resource, dict) and isinstance(resource.get("Properties"), dict):
            resource["Properties"] = _expand_section(resource["Properties"], values, names, (), logical)
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if policy in resource and not isinstance(resource[policy], str):
                msg = f"{logical}: {policy} as an intrinsic function is not supported by the local loader"
                raise UnsupportedTemplate(msg)
    _refuse_leftovers(out, "template")
    return out


def _expand_section(
    section: dict[str, Any], values: dict[str, Any], parameters: set[str], outer: tuple[str, ...], where: str
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in section.items():
        if not key.startswith(FOREACH):
            expanded = {key: value}
        else:
            expanded = _expand_loop(key, value, values, parameters, outer, where)
        clash = sorted(set(result) & set(expanded))
        if clash:
            msg = f"{where}: {key} makes {clash}, which already exist (CloudFormation refuses the template)"
            raise UnsupportedTemplate(msg)
        result.update(expanded)
    return result


def _expand_loop(
    key: str, value: Any, values: dict[str, Any], parameters: set[str], outer: tuple[str, ...], where: str
) -> dict[str, Any]:
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and isinstance(value[2], dict)):
        msg = f"{where}: {key} must be [identifier, collection, {{body}}]"
        raise UnsupportedTemplate(msg)
    identifier, collection, body = value
    if not identifier or identifier in parameters or identifier in outer:
        msg = f"{where}: {key}'s identifier {identifier!r} is empty or already a parameter or an outer loop's"
        raise UnsupportedTemplate(msg)
    items = _collection(collection, values, f"{where}: {key}")
    result: dict[str, Any] = {}
    for item in items:
        one = _substitute(body, identifier, item)
        expanded = _expand_section(one, values, parameters, (*outer, identifier), where)
        clash = sorted(set(result) & set(expanded))
        if clash:
            msg = f"{where}: {key} makes {clash} twice: put ${{{identifier}}} or &{{{identifier}}} in each key"
            raise UnsupportedTemplate(msg)
        result.update(expanded)
    return result


def _collection(collection: Any, values: dict[str, Any], where: str) -> list[str]:
    if isinstance(collection, dict) and set(collection) == {"Ref"} and collection["Ref"] in values:
        collection = values[collection["Ref"]]
        if not isinstance(collection, list):
            msg = f"{where}: the collection must Ref a CommaDelimitedList parameter, not {collection!r}"
            raise UnsupportedTemplate(msg)
    if not isinstance(collection, list) or not all(isinstance(v, (str, int, float, bool)) for v in collection):
        msg = f"{where}: the collection must be a list of strings or a Ref to a CommaDelimitedList parameter"
        raise UnsupportedTemplate(msg)
    return [("true" if v else "false") if isinstance(v, bool) else str(v) for v in collection]


def _substitute(value: Any, identifier: str, item: str) -> Any:
    if isinstance(value, str):
        bare = re.sub(r"[^A-Za-z0-9]", "", item)
        return value.replace("${" + identifier + "}", item).replace("&{" + identifier + "}", bare)
    if isinstance(value, list):
        return [_substitute(v, identifier, item) for v in value]
    if isinstance(value, dict):
        if value == {"Ref": identifier}:
            return item
        return {_substitute(k, identifier, item): _substitute(v, identifier, item) for k, v in value.items()}
    return value


def _refuse_leftovers(value: Any, where: str) -> None:
    if isinstance(value, list):
        for v in value:
            _refuse_leftovers(v, where)
    elif isinstance(value, dict):
        for key, v in value.items():
            if key.startswith(FOREACH) or key in _UNSUPPORTED_EXTENSIONS:
                msg = f"{key} in {where} is not supported by the local loader (batchplane_local.stack.template)"
                raise UnsupportedTemplate(msg)
            _refuse_leftovers(v, key if where == "template" else where)


def transformed(
    template: dict[str, Any], *, parameters: dict[str, Any] | None = None, region: str, account: str, stack_name: str
) -> dict[str, Any]:
    """The CloudFormation template SAM makes of ``template`` (offline), after AWS::LanguageExtensions if the template
    asks for it. Local code paths become ``s3://batchplane-local-artifacts/<relative path>`` (see
    :func:`artifact_path`)."""
    from samtranslator.translator.transform import transform

    source = copy.deepcopy(expand_language_extensions(template, parameters))
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
        # a deploy's value or the Default; a list type's comma-separated string as its list, as CloudFormation does
        given = {k: v for k, v in self.parameters.items() if v is not None}
        self.parameters.update(_parameter_values(self.template, given))
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
            if key == "Fn::FindInMap":
                return self._find_in_map(arg)
            if key.startswith("Fn::") and key not in SUPPORTED_INTRINSICS:
                msg = f"intrinsic {key} is not supported by the local evaluator ({sorted(SUPPORTED_INTRINSICS)} are)"
                raise UnsupportedTemplate(msg)
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _find_in_map(self, arg: Any) -> Any:
        """Fn::FindInMap [map, top key, second key] (each may be an intrinsic), with AWS::LanguageExtensions'
        optional fourth element {"DefaultValue": ...}. A missing key fails as the deploy would."""
        if not isinstance(arg, list) or len(arg) not in (3, 4):
            msg = f"Fn::FindInMap takes [map, top-level key, second-level key(, {{DefaultValue: ...}})]: {arg!r}"
            raise UnsupportedTemplate(msg)
        name, top, second = (str(self.resolve(v)) for v in arg[:3])
        default = arg[3] if len(arg) == 4 else None
        if default is not None and (not isinstance(default, dict) or set(default) != {"DefaultValue"}):
            msg = f"Fn::FindInMap's fourth element must be {{DefaultValue: ...}}: {default!r}"
            raise UnsupportedTemplate(msg)
        mapping = (self.template.get("Mappings") or {}).get(name)
        if mapping is None:
            msg = f"Fn::FindInMap: no mapping {name!r} in Mappings"
            raise KeyError(msg)
        try:
            return mapping[top][second]
        except KeyError:
            if default is not None:
                return self.resolve(default["DefaultValue"])
            msg = f"Fn::FindInMap: mapping {name!r} has no {top!r} / {second!r} (the deploy would fail)"
            raise KeyError(msg) from None

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
