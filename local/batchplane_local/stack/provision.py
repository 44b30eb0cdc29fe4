"""Provisioning: the transformed template's resources created on this machine as CloudFormation would create them,
in an order where everything a resource refers to exists first, each by the provisioner of its type (`PROVISIONERS`,
a table keyed by CloudFormation type; a type with none fails loudly, naming it). What it makes for the stack to
run (functions, routes, rules, schedules, SQS sources, roles, permissions) is kept on the `Provisioner`."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchplane_local import iam, moto_glue
from batchplane_local.batch.engine import LocalBatch
from batchplane_local.stack.account import ACCOUNT, REGION
from batchplane_local.stack.dispatch import FALLBACK_SECONDS
from batchplane_local.stack.functions import LocalFunction, require_runtime
from batchplane_local.stack.http_api import DEFAULT_ROUTE, Route, make_route
from batchplane_local.stack.schedules import rate_seconds
from batchplane_local.stack.template import Stack, UnsupportedTemplate, artifact_path

BATCH_LOG_GROUP = "/aws/batch/job"


@dataclass(frozen=True)
class SqsSource:
    """An event source mapping from an SQS queue to a function."""

    url: str
    arn: str
    function: str
    batch_size: int
    partial: bool


DISPATCHER = "DispatcherFunction"  # template.yaml's dispatcher (admission)


class Provisioner:
    """Creates the template's resources (in moto, in the local Batch, or as records of its own) and keeps what the
    stack needs to run them."""

    def __init__(
        self,
        stack: Stack,
        *,
        root: Path,
        batch: LocalBatch,
        client: Callable[[str], Any],
        vcpus: dict[str, int],
        sweep_interval: float | None,
    ) -> None:
        self.stack = stack
        self.root = root
        self.batch = batch
        self._client = client
        self.vcpus = vcpus
        self.sweep_interval = sweep_interval
        self.functions: dict[str, LocalFunction] = {}
        self.routes: list[Route] = []
        self.rules: list[tuple[moto_glue.Pattern, str]] = []
        self.schedules: list[tuple[float, str, str]] = []  # (period, function, rule ARN)
        # a scheduled target's constant input (its Input: sent instead of the Scheduled Event): (rule ARN, function)
        self.schedule_inputs: dict[tuple[str, str], dict[str, Any]] = {}
        self.sqs_sources: list[SqsSource] = []
        self.roles: dict[str, tuple[str, dict[str, Any]]] = {}  # logical id -> (role name, properties)
        self.customer_policies: dict[str, list[dict[str, Any]]] = {}  # the stack's managed policies: ARN -> statements
        self.permissions: list[tuple[str, str, str]] = []  # (function, principal, source ARN pattern)
        self.rule_targets: list[tuple[str, str]] = []  # (rule ARN, function)
        self.apis: list[str] = []
        self.ce_capacity: dict[str, str] = {}

    def provision(self) -> dict[str, str]:
        """Create every resource of the transformed template in CloudFormation's order (references first), each by
        its type's provisioner, then check that Lambda would invoke each function for its sources. Returns the
        environment the functions share (they run in one process)."""
        st = self.stack
        # Batch's awslogs driver writes to this group in every account (AWS's own, not the template's)
        self._client("logs").create_log_group(logGroupName=BATCH_LOG_GROUP)
        for logical in creation_order(st):
            res = st.resources()[logical]
            kind = res["Type"]
            if kind in RECORDED_ONLY:
                st.physical[logical] = {"Ref": f"{st.name}-{logical}", "Arn": f"arn:aws:local:::{logical}"}
                continue
            provision = PROVISIONERS.get(kind)
            if provision is None:
                msg = f"{logical}: resource type {kind} has no local provisioner (batchplane_local.stack.provision)"
                raise UnsupportedTemplate(msg)
            provision(self, logical, res.get("Properties") or {})
        return self._check_functions()

    # ---- one provisioner per CloudFormation type ----------------------------------------------------------------

    def _table(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        name = st.resolve(props.get("TableName")) if props.get("TableName") else f"{st.name}-{logical}"
        kwargs = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        ddb = self._client("dynamodb")
        out = ddb.create_table(**kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification") or {}
        if st.resolve(ttl.get("Enabled")):
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
            )
        st.physical[logical] = {"Ref": name, "Arn": out["TableArn"], "StreamArn": ""}

    def _queue(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        name = str(st.resolve(props["QueueName"])) if props.get("QueueName") else f"{st.name}-{logical}"
        attributes: dict[str, str] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "DelaySeconds"):
            if props.get(key) is not None:
                attributes[key] = str(st.resolve(props[key]))
        if props.get("RedrivePolicy"):
            attributes["RedrivePolicy"] = json.dumps(st.resolve(props["RedrivePolicy"]))
        url = self._client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        visibility = attributes.get("VisibilityTimeout", "30")
        st.physical[logical] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url, "Visibility": visibility}

    def _queue_policy(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        policy = json.dumps(st.resolve(props["PolicyDocument"]))
        for url in st.resolve(props["Queues"]):
            self._client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
        st.physical[logical] = {"Ref": logical}

    def _log_group(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        name = str(st.resolve(props["LogGroupName"])) if props.get("LogGroupName") else f"{st.name}-{logical}"
        with contextlib.suppress(self._client("logs").exceptions.ResourceAlreadyExistsException):
            self._client("logs").create_log_group(logGroupName=name)
        st.physical[logical] = {"Ref": name, "Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"}

    def _role(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        name = str(st.resolve(props["RoleName"])) if props.get("RoleName") else f"{st.name}-{logical}"[:64]
        st.physical[logical] = {"Ref": name, "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "RoleId": name}
        self.roles[logical] = (name, props)

    def _managed_policy(self, logical: str, props: dict[str, Any]) -> None:
        """A customer managed policy: its ARN (its Ref), and its statements for the roles that attach it."""
        st = self.stack
        name = str(st.resolve(props["ManagedPolicyName"])) if props.get("ManagedPolicyName") else f"{st.name}-{logical}"
        arn = f"arn:aws:iam::{ACCOUNT}:policy{st.resolve(props.get('Path') or '/')}{name}"
        if props.get("Roles") or props.get("Users") or props.get("Groups"):
            msg = f"{logical}: attach a managed policy through a role's ManagedPolicyArns (the only way modelled)"
            raise UnsupportedTemplate(msg)
        statements = st.resolve(props["PolicyDocument"]).get("Statement")
        self.customer_policies[arn] = statements if isinstance(statements, list) else [statements]
        st.physical[logical] = {"Ref": arn, "PolicyArn": arn}

    def _named(self, logical: str, props: dict[str, Any]) -> None:
        """A resource the local stack only names (instance profiles, placement groups, launch templates)."""
        st = self.stack
        kind = st.resources()[logical]["Type"]
        if kind == "AWS::IAM::InstanceProfile":
            st.physical[logical] = {"Ref": logical, "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{logical}"}
        elif kind == "AWS::EC2::LaunchTemplate":
            st.physical[logical] = {"Ref": f"lt-{logical}", "LatestVersionNumber": "1", "DefaultVersionNumber": "1"}
        else:
            st.physical[logical] = {"Ref": f"{st.name}-{logical}"}

    def _layer(self, logical: str, props: dict[str, Any]) -> None:
        path = artifact_path(self.root, props["Content"])
        if str(path) not in sys.path:  # what Lambda mounts at /opt/python
            sys.path.insert(0, str(path))
        self.stack.physical[logical] = {"Ref": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{logical}:1"}

    def _compute_environment(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        name = st.resolve(props.get("ComputeEnvironmentName") or f"{st.name}-{logical}")
        resources = props.get("ComputeResources") or {}
        kind = st.resolve(resources.get("Type"))
        capacity = "spot" if kind in ("SPOT", "FARGATE_SPOT") else "on-demand"
        max_vcpus = self.vcpus.get(capacity, self.vcpus.get(logical, os.cpu_count() or 2))
        types = st.resolve(resources.get("InstanceTypes")) or ["optimal"]
        arn = self.batch.add_compute_environment(
            name,
            capacity=capacity,
            max_vcpus=max_vcpus,
            instance_types=types,
            fargate=str(kind).startswith("FARGATE"),
        )
        self.ce_capacity[name] = capacity
        st.physical[logical] = {"Ref": arn, "Arn": arn, "ComputeEnvironmentArn": arn}

    def _job_queue(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        name = st.resolve(props.get("JobQueueName") or f"{st.name}-{logical}")
        order = sorted(st.resolve(props["ComputeEnvironmentOrder"]), key=lambda o: int(o["Order"]))
        ces = [str(o["ComputeEnvironment"]).rsplit("/", 1)[-1] for o in order]
        arn = self.batch.add_job_queue(name, priority=int(st.resolve(props["Priority"])), compute_environments=ces)
        st.physical[logical] = {"Ref": arn, "Arn": arn, "JobQueueArn": arn}

    def _job_definition(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        props = st.resolve(props)
        name = props.get("JobDefinitionName") or f"{st.name}-{logical}"
        arn = self.batch.register_job_definition(
            name,
            type=str(props.get("Type", "container")).lower(),  # type: ignore[arg-type]
            container_properties=camel(props.get("ContainerProperties")),
            node_properties=camel(props.get("NodeProperties")),
            parameters=props.get("Parameters"),
            timeout=camel(props.get("Timeout")),
            retry_strategy=camel(props.get("RetryStrategy")),
            propagate_tags=bool(props.get("PropagateTags", False)),
        )
        st.physical[logical] = {"Ref": arn, "Arn": arn}

    def _state_machine(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        if props.get("DefinitionS3Location"):
            definition = artifact_path(self.root, props["DefinitionS3Location"]).read_text()
        elif props.get("DefinitionString"):
            definition = str(st.resolve(props["DefinitionString"]))
        else:
            definition = json.dumps(st.resolve(props["Definition"]))
        for key, value in (st.resolve(props.get("DefinitionSubstitutions")) or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        name = str(st.resolve(props.get("StateMachineName") or f"{st.name}-{logical}"))
        arn = self._client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=str(st.resolve(props["RoleArn"])),
            type=str(props.get("StateMachineType", "STANDARD")),
        )["stateMachineArn"]
        st.physical[logical] = {"Ref": arn, "Arn": arn, "Name": name}

    def _function(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        name = str(st.resolve(props["FunctionName"])) if props.get("FunctionName") else f"{st.name}-{logical}"[:64]
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        st.physical[logical] = {"Ref": name, "Arn": arn}
        role = props["Role"]
        role_logical = role["Fn::GetAtt"][0] if isinstance(role, dict) and "Fn::GetAtt" in role else None
        if role_logical not in self.roles:
            msg = f"{logical}: its Role must be a role of this template (got {role!r}) for the local IAM to enforce it"
            raise UnsupportedTemplate(msg)
        role_name, role_props = self.roles[role_logical]
        require_runtime(logical, str(st.resolve(props.get("Runtime", ""))))
        variables = (props.get("Environment") or {}).get("Variables") or {}
        self.functions[logical] = LocalFunction(
            logical_id=logical,
            name=name,
            code_dir=artifact_path(self.root, props["Code"]),
            handler=str(props["Handler"]),
            timeout=float(st.resolve(props.get("Timeout", 3))),
            memory=int(st.resolve(props.get("MemorySize", 128))),
            environment={k: str(st.resolve(v)) for k, v in variables.items()},
            principal=iam.principal_of(
                logical, role_name, st.resolve(role_props), session_name=name, customer_policies=self.customer_policies
            ),
        )

    def _function_of(self, reference: Any) -> LocalFunction:
        """The function a FunctionName / target Arn names (its Ref, its Arn, or an alias/version of it)."""
        value = str(self.stack.resolve(reference))
        for logical, fn in self.functions.items():
            phys = self.stack.physical[logical]
            if value in (phys["Ref"], phys["Arn"]) or value.startswith(phys["Arn"] + ":"):
                return fn
        msg = f"{reference!r} names no function of this stack"
        raise UnsupportedTemplate(msg)

    def _version(self, logical: str, props: dict[str, Any]) -> None:
        """A published version (SAM's AutoPublishAlias): locally the function itself, numbered 1 (SnapStart's
        snapshot is not emulated; the handler's before-snapshot hooks are not run locally)."""
        fn = self._function_of(props["FunctionName"])
        arn = f"{self.stack.physical[fn.logical_id]['Arn']}:1"
        self.stack.physical[logical] = {"Ref": arn, "Arn": arn, "Version": "1"}

    def _alias(self, logical: str, props: dict[str, Any]) -> None:
        """An alias of a published version: its ARN is the function's with the alias name; sources that target it
        invoke the function."""
        fn = self._function_of(props["FunctionName"])
        name = str(self.stack.resolve(props["Name"]))
        arn = f"{self.stack.physical[fn.logical_id]['Arn']}:{name}"
        self.stack.physical[logical] = {"Ref": arn, "Arn": arn, "Name": name}

    def _invoke_config(self, logical: str, props: dict[str, Any]) -> None:
        fn = self._function_of(props["FunctionName"])
        fn.max_retries = int(props.get("MaximumRetryAttempts", 2))
        failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        fn.on_failure_queue = self._queue_url_of(str(self.stack.resolve(failure))) if failure else None
        self.stack.physical[logical] = {"Ref": logical}

    def _permission(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        fn = self._function_of(props["FunctionName"])
        source = str(st.resolve(props["SourceArn"])) if props.get("SourceArn") else "*"
        self.permissions.append((fn.logical_id, str(props["Principal"]), source))
        st.physical[logical] = {"Ref": logical}

    def _event_source_mapping(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        fn = self._function_of(props["FunctionName"])
        source = str(st.resolve(props["EventSourceArn"]))
        url = self._queue_url_of(source)
        if url is None:
            msg = f"{logical}: event source {source} is not an SQS queue of this stack (the only kind modelled)"
            raise UnsupportedTemplate(msg)
        batch = int(st.resolve(props.get("BatchSize", 10)))
        partial = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.sqs_sources.append(SqsSource(url, source, fn.logical_id, batch, partial))
        st.physical[logical] = {"Ref": logical}

    def _rule(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        name = str(st.resolve(props["Name"])) if props.get("Name") else f"{st.name}-{logical}"[:64]
        arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"
        st.physical[logical] = {"Ref": name, "Arn": arn}
        if str(st.resolve(props.get("State", "ENABLED"))) != "ENABLED":
            return
        targets = [self._function_of(t["Arn"]) for t in props.get("Targets") or []]
        for fn in targets:
            self.rule_targets.append((arn, fn.logical_id))
        for target, fn in zip(props.get("Targets") or [], targets, strict=True):
            if target.get("Input") is not None:
                self.schedule_inputs[(arn, fn.logical_id)] = json.loads(str(st.resolve(target["Input"])))
        if props.get("EventPattern") is not None:
            pattern = moto_glue.Pattern(st.resolve(props["EventPattern"]))
            self.rules.extend((pattern, fn.logical_id) for fn in targets)
        if props.get("ScheduleExpression") is not None:
            expression = str(st.resolve(props["ScheduleExpression"]))
            period = self.sweep_interval if self.sweep_interval else rate_seconds(expression)
            # the dispatcher's schedule: in AWS one invocation a minute ticks for 50 s; here each invocation ticks
            # once (DispatcherLoopSeconds 0), invoked when admission has news and at least every FALLBACK_SECONDS
            # (batchplane_local.stack.dispatch)
            self.schedules.extend(
                (FALLBACK_SECONDS if fn.logical_id == DISPATCHER else period, fn.logical_id, arn) for fn in targets
            )

    def _schedule_group(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        name = str(st.resolve(props["Name"])) if props.get("Name") else f"{st.name}-{logical}"
        arn = self._client("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
        st.physical[logical] = {"Ref": name, "Arn": arn}

    def _schedule(self, logical: str, props: dict[str, Any]) -> None:
        st = self.stack
        props = st.resolve(props)
        name = str(props.get("Name") or f"{st.name}-{logical}")[:64]
        kwargs = {
            "Name": name,
            "ScheduleExpression": str(props["ScheduleExpression"]),
            "ScheduleExpressionTimezone": str(props.get("ScheduleExpressionTimezone") or "UTC"),
            "FlexibleTimeWindow": props["FlexibleTimeWindow"],
            "State": str(props.get("State") or "ENABLED"),
            "Target": {k: v for k, v in props["Target"].items() if k in ("Arn", "RoleArn", "Input", "RetryPolicy")},
        }
        if props.get("GroupName"):
            kwargs["GroupName"] = props["GroupName"]
        try:
            arn = self._client("scheduler").create_schedule(**kwargs)["ScheduleArn"]
        except self._client("scheduler").exceptions.ConflictException as exc:
            msg = f"{logical}: a schedule named {name!r} already exists in its group (two stacks would collide)"
            raise UnsupportedTemplate(msg) from exc
        st.physical[logical] = {"Ref": name, "Arn": arn}

    def _http_api(self, logical: str, props: dict[str, Any]) -> None:
        """API Gateway HTTP API from its OpenAPI body: each path's integration names the function it invokes."""
        st = self.stack
        api_id = f"local{len(self.apis)}"
        st.physical[logical] = {"Ref": api_id, "ApiEndpoint": "http://127.0.0.1"}
        self.apis.append(logical)
        body = props.get("Body")
        if body is None:
            msg = f"{logical}: an HTTP API without an inline OpenAPI Body (routes as resources) is not modelled"
            raise UnsupportedTemplate(msg)
        for path, methods in (st.resolve(body).get("paths") or {}).items():
            for method, operation in methods.items():
                integration = (
                    (operation or {}).get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
                )
                if not integration:
                    continue
                uri = str(integration["uri"])
                function_arn = uri.split("/functions/", 1)[1].removesuffix("/invocations")
                fn = self._function_of(function_arn)
                where = DEFAULT_ROUTE if path == "/$default" else path  # SAM writes the $default route as /$default
                self.routes.append(
                    make_route("ANY" if method == "x-amazon-apigateway-any-method" else method, where, fn.logical_id)
                )

    def _check_functions(self) -> dict[str, str]:
        """The environment the functions share (they must agree: one process runs them all), once every source of a
        function is allowed by its Lambda permissions."""
        env: dict[str, str] = {}
        for fn in self.functions.values():
            for key, value in fn.environment.items():
                if key in env and env[key] != value:
                    msg = f"functions disagree on {key}: the local stack runs them in one process"
                    raise RuntimeError(msg)
                env[key] = value
        # Lambda invokes a function for a source only if the function's resource policy allows that source
        for rule_arn, function in self.rule_targets:
            self._require_permission(function, "events.amazonaws.com", rule_arn)
        for route in self.routes:
            api = self.stack.physical[self.apis[0]]["Ref"]
            where = "*/$default" if route.path == DEFAULT_ROUTE else f"{route.method}{route.path}"
            source = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api}/$default/{where}"
            self._require_permission(route.function, "apigateway.amazonaws.com", source)
        return env

    def _require_permission(self, function: str, principal: str, source_arn: str) -> None:
        path_pattern = re.sub(r"\{[^}]+\}", "*", source_arn)
        for fn, who, allowed in self.permissions:
            if fn == function and who == principal and (allowed == "*" or iam.glob(allowed, path_pattern)):
                return
        msg = f"{function} has no Lambda permission for {principal} from {source_arn}: AWS would not invoke it"
        raise UnsupportedTemplate(msg)

    def _queue_url_of(self, arn: str) -> str | None:
        for phys in self.stack.physical.values():
            if phys.get("Arn") == arn and "QueueUrl" in phys:
                return phys["QueueUrl"]
        return None


def _references(value: Any) -> set[str]:
    """The logical ids a property value refers to (Ref, Fn::GetAtt, ${...} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= _references(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!]+)\}", str(text))}
                if isinstance(arg, list):
                    found |= _references(arg[1])
            else:
                found |= _references(arg)
    return found


def creation_order(stack: Stack) -> list[str]:
    """Resources in an order CloudFormation could create them: everything a resource refers to (or DependsOn) first."""
    resources = stack.resources()
    deps = {
        k: ((_references(v.get("Properties")) | set(_as_list(v.get("DependsOn")))) & set(resources)) - {k}
        for k, v in resources.items()
    }
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(resources):
        ready = sorted(k for k in resources if k not in done and deps[k] <= done)
        if not ready:
            msg = f"circular references between {sorted(set(resources) - done)}"
            raise UnsupportedTemplate(msg)
        order.extend(ready)
        done.update(ready)
    return order


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


PROVISIONERS: dict[str, Callable[[Provisioner, str, dict[str, Any]], None]] = {
    "AWS::DynamoDB::Table": Provisioner._table,
    "AWS::SQS::Queue": Provisioner._queue,
    "AWS::SQS::QueuePolicy": Provisioner._queue_policy,
    "AWS::Logs::LogGroup": Provisioner._log_group,
    "AWS::IAM::Role": Provisioner._role,
    "AWS::IAM::ManagedPolicy": Provisioner._managed_policy,
    "AWS::IAM::InstanceProfile": Provisioner._named,
    "AWS::EC2::PlacementGroup": Provisioner._named,
    "AWS::EC2::LaunchTemplate": Provisioner._named,
    "AWS::Lambda::LayerVersion": Provisioner._layer,
    "AWS::Batch::ComputeEnvironment": Provisioner._compute_environment,
    "AWS::Batch::JobQueue": Provisioner._job_queue,
    "AWS::Batch::JobDefinition": Provisioner._job_definition,
    "AWS::StepFunctions::StateMachine": Provisioner._state_machine,
    "AWS::Lambda::Function": Provisioner._function,
    "AWS::Lambda::Version": Provisioner._version,
    "AWS::Lambda::Alias": Provisioner._alias,
    "AWS::Lambda::EventInvokeConfig": Provisioner._invoke_config,
    "AWS::Lambda::Permission": Provisioner._permission,
    "AWS::Lambda::EventSourceMapping": Provisioner._event_source_mapping,
    "AWS::Events::Rule": Provisioner._rule,
    "AWS::Scheduler::ScheduleGroup": Provisioner._schedule_group,
    "AWS::Scheduler::Schedule": Provisioner._schedule,
    "AWS::ApiGatewayV2::Api": Provisioner._http_api,
}
# Resources that change nothing the local stack runs: named, not emulated (the README lists them)
RECORDED_ONLY = frozenset(
    {"AWS::ApiGatewayV2::Stage", "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::SNS::Topic"}
)


def camel(value: Any) -> Any:
    """CloudFormation's PascalCase properties → the Batch API's camelCase members."""
    if isinstance(value, list):
        return [camel(v) for v in value]
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: camel(v) for k, v in value.items()}
    return value
