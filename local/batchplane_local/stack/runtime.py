"""The local stack: template.yaml provisioned on this machine as CloudFormation would deploy it (after the SAM
transform), handlers invoked in-process exactly as Lambda invokes them, each under its own IAM role enforced on every
AWS call, AWS emulated by moto over HTTP, AWS Batch emulated by batchplane_local.batch (jobs really run).

Wiring follows the transformed template: the HTTP API's OpenAPI body becomes routes, event rules subscribe functions
to the events the local Batch emits (matched by the rules' own patterns) or fire on their schedule, event source
mappings poll SQS, EventInvokeConfig gives async retries and the on-failure destination, and Lambda permissions must
allow each source as AWS requires. Nothing is listed twice: change the template, the local stack follows."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import queue
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import boto3

from batchplane_local import iam, moto_glue
from batchplane_local.batch.api import BatchApi
from batchplane_local.batch.engine import LocalBatch
from batchplane_local.stack.template import Stack, UnsupportedTemplate, artifact_path, load, transformed

REGION = "us-east-1"
ACCOUNT = "123456789012"
BATCH_LOG_GROUP = "/aws/batch/job"
LOG_FLUSH_SECONDS = 0.2  # how often job output is shipped to CloudWatch Logs while the job runs (awslogs: 5 s)
MAX_LOG_EVENT_BYTES = 256 * 1024 - 26  # PutLogEvents: an event is at most 256 KiB, counting 26 bytes of overhead
MAX_LOG_BATCH_BYTES = 1_048_576  # PutLogEvents: a batch is at most 1 MiB (messages + 26 bytes each) ...
MAX_LOG_BATCH_EVENTS = 10_000  # ... and 10,000 events


DEFAULT_ROUTE = "$default"  # an HTTP API's catch-all route: requests no other route matches


@dataclass
class Route:
    method: str
    path: str  # template path, e.g. /jobs/{jobId}
    function: str
    regex: re.Pattern[str]
    params: list[str]

    @property
    def key(self) -> str:
        """API Gateway's routeKey: ``GET /jobs/{jobId}``, or ``$default``."""
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"


def _route(method: str, path: str, function: str) -> Route:
    params = re.findall(r"\{([^}+]+)\+?\}", path)
    pattern = re.sub(r"\\\{[^}]+\\\+\\\}", "(.+)", re.escape(path))
    pattern = re.sub(r"\\\{[^}]+\\\}", "([^/]+)", pattern)
    return Route(method.upper(), path, function, re.compile(f"^{pattern}$"), params)


class LambdaContext:
    """What Lambda passes as context."""

    def __init__(self, name: str, timeout_s: float, memory: int) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = f"local/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_LOAD_LOCK = threading.Lock()


@contextlib.contextmanager
def _own_powertools_loggers(function: str) -> Any:
    """Lambda runs each function in its own container. In this one process every Powertools ``Logger()`` of a service
    is the same ``logging.Logger`` (named after the service) with one formatter, whose keys ``inject_lambda_context``
    appends: one function's invocation would log under another's ``function_name``. While a function's code loads,
    its Loggers get a logging.Logger (handler, formatter, keys) of their own; the ``service`` key is unchanged."""
    from aws_lambda_powertools.logging.logger import Logger

    with _LOAD_LOCK:
        real = Logger._get_logger

        def own(self: Logger) -> logging.Logger:
            if self.child:
                return real(self)
            return logging.getLogger(f"{self.service}[{function}]")  # no dot: not a child of the shared logger

        Logger._get_logger = own  # type: ignore[method-assign]
        try:
            yield
        finally:
            Logger._get_logger = real  # type: ignore[method-assign]


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    timeout: float
    memory: int
    environment: dict[str, str]
    principal: iam.Principal
    max_retries: int = 2
    on_failure_queue: str | None = None
    module: ModuleType | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    inbox: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    invocations: int = 0
    errors: int = 0

    def load(self) -> None:
        module_name, _, _ = self.handler.rpartition(".")
        path = self.code_dir / f"{module_name.replace('.', '/')}.py"
        spec = importlib.util.spec_from_file_location(f"batchplane_fn_{self.code_dir.name}", path)
        if spec is None or spec.loader is None:
            msg = f"cannot load {path}"
            raise RuntimeError(msg)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        with _own_powertools_loggers(self.name):
            spec.loader.exec_module(module)
        self.module = module

    def invoke(self, event: dict[str, Any]) -> Any:
        """Synchronous invoke (RequestResponse): one at a time per function, as one warm container. An invocation
        still running at the function's Timeout is stopped, as Lambda stops it, and fails with LambdaTimeout: the
        caller (async invoke, event source mapping, API) then does what Lambda does for that source."""
        if self.module is None:
            self.load()
        fn = getattr(self.module, self.handler.rpartition(".")[2])
        with self.lock, iam.acting_as(self.principal):
            self.invocations += 1
            context = LambdaContext(self.name, self.timeout, self.memory)
            with _deadline(self.timeout, self.name, context.aws_request_id):
                return fn(event, context)


class LambdaTimeout(Exception):  # noqa: N818 - Lambda's own words for it
    """``Task timed out after N seconds``: the invocation ran past its function's Timeout and was stopped."""


@contextlib.contextmanager
def _deadline(seconds: float, name: str, request_id: str) -> Any:
    """Stop the calling thread's invocation at ``seconds``: a Python thread cannot be killed, so LambdaTimeout is
    raised in it (asynchronously, at its next bytecode; a call blocked in C, such as a socket read, is stopped when it
    returns, and the SDK's read timeout bounds that)."""
    import ctypes

    thread_id = threading.get_ident()
    lock = threading.Lock()
    finished = threading.Event()
    fired = threading.Event()

    def stop() -> None:
        with lock:
            if not finished.is_set():
                fired.set()
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(LambdaTimeout))

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    try:
        yield
    except LambdaTimeout:
        msg = f"{request_id} Task timed out after {seconds:.2f} seconds ({name})"
        raise LambdaTimeout(msg) from None
    finally:
        with lock:
            finished.set()
            timer.cancel()
            if fired.is_set():  # the exception may not have been delivered yet: take it back before leaving
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)


class LocalStack:
    def __init__(
        self,
        root: Path,
        *,
        stack_name: str = "batchplane-local",
        sweep_interval: float | None = 2.0,
        vcpus: dict[str, int] | None = None,
        parameters: dict[str, Any] | None = None,
        log: Callable[[str], None] = lambda _line: None,
        kill_grace_seconds: float = 2.0,
        function_log_level: str = "WARNING",
        schedule_scale: float = 1.0,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
    ) -> None:
        self.schedule_scale = schedule_scale
        self.fault_rate = fault_rate
        self.fault_seed = fault_seed
        self.faults: Any = None
        self.function_log_level = function_log_level
        self.root = root
        self.stack_name = stack_name
        self.sweep_interval = sweep_interval
        self.vcpus = vcpus or {}
        self.parameters = parameters or {}
        self.log = log
        self.kill_grace_seconds = kill_grace_seconds
        self.functions: dict[str, LocalFunction] = {}
        self.routes: list[Route] = []
        self.rules: list[tuple[moto_glue.Pattern, str]] = []
        self.schedules: list[tuple[float, str, str]] = []  # (period, function, rule ARN)
        self.sqs_sources: list[SqsSource] = []
        self.roles: dict[str, tuple[str, dict[str, Any]]] = {}  # logical id -> (role name, properties)
        self.customer_policies: dict[str, list[dict[str, Any]]] = {}  # the stack's managed policies: ARN -> statements
        self.permissions: list[tuple[str, str, str]] = []  # (function, principal, source ARN pattern)
        self.rule_targets: list[tuple[str, str]] = []  # (rule ARN, function)
        self.apis: list[str] = []
        self.iam: iam.Enforcer | None = None
        self.ce_capacity: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._logged_streams: set[str] = set()
        self._log_lines: queue.Queue[tuple[str, int, str]] = queue.Queue()
        self._log_lock = threading.Lock()
        self._servers: list[Any] = []
        self.ready = threading.Event()

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        import warnings

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self.moto = moto_glue.start_server()
        self.batch = LocalBatch(
            on_event=self._on_batch_event,
            on_log=self._on_log,
            region=REGION,
            account=ACCOUNT,
            kill_grace_seconds=self.kill_grace_seconds,
            base_env={k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BATCHPLANE_"))},
        )
        self.batch_endpoint = self._serve(BatchApi(self.batch), "local-batch-api")
        for key, value in {
            "AWS_ENDPOINT_URL": self.moto.endpoint,
            "AWS_ENDPOINT_URL_BATCH": self.batch_endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }.items():
            os.environ[key] = value
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        cfn = transformed(
            load(self.root / "template.yaml"),
            parameters=self.parameters,
            region=REGION,
            account=ACCOUNT,
            stack_name=self.stack_name,
        )
        self.stack = Stack(cfn, name=self.stack_name, region=REGION, account=ACCOUNT, parameters=dict(self.parameters))
        self._provision()
        self.batch.start()
        for fn in self.functions.values():
            self._spawn(self._async_worker, fn, name=f"async-{fn.logical_id}")
        for period, logical_id, rule_arn in self.schedules:
            self._spawn(self._schedule_loop, period, logical_id, rule_arn, name=f"schedule-{logical_id}")
        self._spawn(self._scheduler_loop, name="eventbridge-scheduler")
        self._spawn(self._log_shipper, name="awslogs")
        for source in self.sqs_sources:
            self._spawn(self._sqs_poller, source, name=f"sqs-{source.function}")
        self.ready.set()
        return self

    def serve_api(self, port: int = 0) -> str:
        """Serve the HTTP API (the template's routes, plus /_local) on 127.0.0.1; returns its base URL."""
        from batchplane_local.stack.server import LocalApi

        self.api_url = self._serve(LocalApi(self), "local-http-api", port)
        return self.api_url

    def table_name(self) -> str | None:
        """The physical name of the template's DynamoDB table (None before provisioning)."""
        for logical, res in self.stack.resources().items():
            if res.get("Type") == "AWS::DynamoDB::Table" and logical in self.stack.physical:
                return str(self.stack.physical[logical]["Ref"])
        return None

    def stop(self) -> None:
        """Stop everything started so far (also after a start that failed or was interrupted half-way): the jobs'
        processes are killed and the local Batch's work directories removed."""
        self._stopping.set()
        for fn in self.functions.values():
            fn.inbox.put(None)
        if getattr(self, "batch", None) is not None:
            self.batch.stop()
        for server in self._servers:
            server.shutdown()
        if getattr(self, "moto", None) is not None:
            self.moto.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], *args: Any, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _serve(self, app: Any, name: str, port: int = 0) -> str:
        from werkzeug.serving import make_server

        server = make_server("127.0.0.1", port, app, threaded=True)
        self._servers.append(server)
        self._spawn(server.serve_forever, name=name)
        return f"http://127.0.0.1:{server.server_port}"

    # ---- provisioning from the template ------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        """The stack's own client for a service, made once (a client costs milliseconds to make and is thread-safe
        to use; making one is not)."""
        with self._clients_lock:
            client = self._clients.get(service)
            if client is None:
                client = boto3.client(service, region_name=REGION, endpoint_url=self.moto.endpoint)
                self._clients[service] = client
            return client

    def _provision(self) -> None:
        """Create every resource of the transformed template in CloudFormation's order (references first), each by
        its type's provisioner; a type with none fails loudly, naming it. Then wire the functions: environment,
        layers, event sources, and each function's IAM role enforced on every call its clients make."""
        st = self.stack
        # Batch's awslogs driver writes to this group in every account (AWS's own, not the template's)
        self._client("logs").create_log_group(logGroupName=BATCH_LOG_GROUP)
        order = _creation_order(st)
        for logical in order:
            res = st.resources()[logical]
            kind = res["Type"]
            if kind in _RECORDED_ONLY:
                st.physical[logical] = {"Ref": f"{st.name}-{logical}", "Arn": f"arn:aws:local:::{logical}"}
                continue
            provision = _PROVISIONERS.get(kind)
            if provision is None:
                msg = f"{logical}: resource type {kind} has no local provisioner (batchplane_local.stack.runtime)"
                raise UnsupportedTemplate(msg)
            provision(self, logical, res.get("Properties") or {})
        self._wire_functions()

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
        capacity = "spot" if st.resolve(resources.get("Type")) in ("SPOT", "FARGATE_SPOT") else "on-demand"
        max_vcpus = self.vcpus.get(capacity, self.vcpus.get(logical, os.cpu_count() or 2))
        types = st.resolve(resources.get("InstanceTypes")) or ["optimal"]
        arn = self.batch.add_compute_environment(name, capacity=capacity, max_vcpus=max_vcpus, instance_types=types)
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
            container_properties=_camel(props.get("ContainerProperties")),
            node_properties=_camel(props.get("NodeProperties")),
            parameters=props.get("Parameters"),
            timeout=_camel(props.get("Timeout")),
            retry_strategy=_camel(props.get("RetryStrategy")),
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
        if props.get("EventPattern") is not None:
            pattern = moto_glue.Pattern(st.resolve(props["EventPattern"]))
            self.rules.extend((pattern, fn.logical_id) for fn in targets)
        if props.get("ScheduleExpression") is not None:
            expression = str(st.resolve(props["ScheduleExpression"]))
            period = self.sweep_interval if self.sweep_interval else _rate_seconds(expression)
            self.schedules.extend((period, fn.logical_id, arn) for fn in targets)

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
                    _route("ANY" if method == "x-amazon-apigateway-any-method" else method, where, fn.logical_id)
                )

    def _wire_functions(self) -> None:
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
        os.environ.update(env)
        # Locally, the functions' logs go to this terminal: quieter than in AWS unless asked, and no EMF metrics.
        os.environ["POWERTOOLS_LOG_LEVEL"] = self.function_log_level
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
        os.environ["POWERTOOLS_DEV"] = "false"
        for fn in self.functions.values():
            fn.load()
        # the layer package is importable only now: the template's layer (provisioned above) put it on sys.path
        from batchplane.adapters import aws as function_clients

        if self.fault_rate > 0:
            # chaos: a share of the functions' AWS calls fail (a botocore hook on the session their clients come from;
            # registered before any function makes a client, as clients copy the session's hooks when made)
            from batchplane_local.faults import Faults

            self.faults = Faults(self.fault_rate, self.fault_seed)
            function_clients.session().events.register_first("before-send.*.*", self.faults)
        self.iam = iam.Enforcer(resolver=_BatchFacts(self.batch))
        self.iam.register(function_clients.session().events)

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

    # ---- events: Batch → EventBridge rules → functions (async invoke) ------------------------------------------

    def _on_batch_event(self, event: dict[str, Any]) -> None:
        if event.get("detail", {}).get("status") in ("SUCCEEDED", "FAILED"):
            # every line the job wrote is in CloudWatch Logs before anyone hears that it ended
            self._flush_logs()
        for pattern, logical in self.rules:
            if pattern.matches(event):
                self.functions[logical].inbox.put(event)

    def _on_log(self, stream: str, timestamp: int, line: str) -> None:
        self._log_lines.put((stream, timestamp, line))

    def _log_shipper(self) -> None:
        """What the awslogs driver does in AWS: a container's output goes to CloudWatch Logs while it runs, in
        batches (PutLogEvents) every LOG_FLUSH_SECONDS."""
        while not self._stopping.wait(LOG_FLUSH_SECONDS):
            try:
                self._flush_logs()
            except Exception:  # noqa: BLE001 - a failed batch must not stop the shipping of the next ones
                self.log(f"shipping job logs failed:\n{traceback.format_exc()}")

    def _flush_logs(self) -> None:
        """Put every line written so far to its stream of /aws/batch/job, in order, within PutLogEvents' limits."""
        with self._log_lock:
            by_stream: dict[str, list[dict[str, Any]]] = {}
            while True:
                try:
                    stream, timestamp, line = self._log_lines.get_nowait()
                except queue.Empty:
                    break
                message = line.encode()[:MAX_LOG_EVENT_BYTES].decode(errors="ignore") or " "  # no empty events
                by_stream.setdefault(stream, []).append({"timestamp": timestamp, "message": message})
            logs = self._client("logs")
            for stream, events in by_stream.items():
                if stream not in self._logged_streams:
                    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                        logs.create_log_stream(logGroupName=BATCH_LOG_GROUP, logStreamName=stream)
                    self._logged_streams.add(stream)
                for batch in _log_batches(events):
                    logs.put_log_events(logGroupName=BATCH_LOG_GROUP, logStreamName=stream, logEvents=batch)

    def _async_worker(self, fn: LocalFunction) -> None:
        """Lambda's async invocation: retries (MaximumRetryAttempts), then the on-failure destination."""
        while True:
            event = fn.inbox.get()
            if event is None:
                return
            for attempt in range(fn.max_retries + 1):
                try:
                    fn.invoke(event)
                    break
                except Exception:  # noqa: BLE001 - Lambda catches everything a handler raises
                    fn.errors += 1
                    self.log(f"{fn.logical_id} failed (attempt {attempt + 1}):\n{traceback.format_exc()}")
                    time.sleep(min(0.2 * (attempt + 1), 1.0))
            else:
                if fn.on_failure_queue:
                    body = {"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": event}
                    self._client("sqs").send_message(QueueUrl=fn.on_failure_queue, MessageBody=json.dumps(body))

    def _scheduler_loop(self) -> None:
        """EventBridge Scheduler, which moto only stores: fire each ENABLED schedule on time (rate(...) periods are
        divided by --schedule-scale locally), invoking its target function asynchronously with its Input, the
        ``<aws.scheduler.scheduled-time>`` context attribute filled in."""
        scheduler = self._client("scheduler")
        by_arn = {self.stack.physical[k]["Arn"]: fn for k, fn in self.functions.items()}
        seen: dict[str, dict[str, Any]] = {}
        last: dict[str, datetime] = {}
        while not self._stopping.wait(0.25):
            try:
                listed = scheduler.list_schedules().get("Schedules", [])
                names = [f"{s.get('GroupName') or 'default'}/{s['Name']}" for s in listed]
                for s, name in zip(listed, names, strict=True):
                    if name not in seen:
                        seen[name] = scheduler.get_schedule(Name=s["Name"], GroupName=s.get("GroupName") or "default")
                        last[name] = datetime.now(UTC)
                for gone in set(seen) - set(names):
                    seen.pop(gone)
                now = datetime.now(UTC)
                for name, sched in seen.items():
                    if sched.get("State") != "ENABLED":
                        continue
                    try:  # one schedule that can never fire (AWS would have refused it) must not stop the others
                        due = next_fire(
                            sched["ScheduleExpression"],
                            sched.get("ScheduleExpressionTimezone") or "UTC",
                            last[name],
                            self.schedule_scale,
                        )
                    except (ValueError, OverflowError) as exc:
                        sched["State"] = "DISABLED"  # our copy: said once, then skipped
                        self.log(f"scheduler: {name} {sched['ScheduleExpression']!r} can never fire: {exc}")
                        continue
                    if due is None or due > now:
                        continue
                    last[name] = due
                    target = sched["Target"]
                    fn = by_arn.get(target["Arn"])
                    if fn is None or not self._role_allows(target.get("RoleArn", ""), "lambda:InvokeFunction", fn):
                        continue
                    stamp = due.strftime("%Y-%m-%dT%H:%M:%SZ")
                    text = str(target.get("Input") or "{}").replace("<aws.scheduler.scheduled-time>", stamp)
                    fn.inbox.put(json.loads(text))
            except Exception:  # noqa: BLE001 - keep the clock ticking; the stack may be stopping
                if self._stopping.is_set():
                    return
                self.log(f"scheduler: {traceback.format_exc()}")

    def _role_allows(self, role_arn: str, action: str, fn: LocalFunction) -> bool:
        """Scheduler invokes its target as the schedule's role: that role must allow the call (else AWS fails it)."""
        for name, props in self.roles.values():
            if role_arn == f"arn:aws:iam::{ACCOUNT}:role/{name}":
                principal = iam.principal_of(name, name, self.stack.resolve(props))
                arn = self.stack.physical[fn.logical_id]["Arn"]
                if iam.decide(principal.statements, iam.Request(action, arn)) == "Allow":
                    return True
        self.log(f"scheduler: role {role_arn} may not {action} {fn.name}: the schedule's invocation fails")
        return False

    def _sqs_poller(self, source: SqsSource) -> None:
        """Lambda's SQS event source mapping: batches of up to BatchSize, the queue's own visibility timeout, partial
        batch failures (ReportBatchItemFailures) left on the queue to be retried once the message is visible again."""
        fn = self.functions[source.function]
        sqs = self._client("sqs")
        while not self._stopping.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=source.url,
                    MaxNumberOfMessages=min(source.batch_size, 10),
                    WaitTimeSeconds=1,
                    AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                ).get("Messages", [])
            except Exception:  # noqa: BLE001 - the server is stopping
                if self._stopping.is_set():
                    return
                time.sleep(0.5)
                continue
            if not messages:
                continue
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {
                        "ApproximateReceiveCount": (m.get("Attributes") or {}).get("ApproximateReceiveCount", "1"),
                        "SentTimestamp": (m.get("Attributes") or {}).get("SentTimestamp", str(int(time.time() * 1000))),
                    },
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": source.arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
            try:
                result = fn.invoke({"Records": records}) or {}
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])} if source.partial else set()
            except Exception:  # noqa: BLE001 - the whole batch returns to the queue
                self.log(f"{fn.logical_id} failed:\n{traceback.format_exc()}")
                continue
            for m in messages:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=source.url, ReceiptHandle=m["ReceiptHandle"])

    def _schedule_loop(self, period: float, logical_id: str, rule_arn: str) -> None:
        fn = self.functions[logical_id]
        while not self._stopping.wait(period):
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "region": REGION,
                "resources": [rule_arn],
                "detail": {},
            }
            fn.inbox.put(event)

    # ---- chaos and introspection (the /_local routes) --------------------------------------------------------

    def capacity(self) -> list[dict[str, Any]]:
        return [
            {
                "name": ce["computeEnvironmentName"],
                "capacity": self.ce_capacity.get(ce["computeEnvironmentName"], "on-demand"),
                "maxVcpus": ce.get("computeResources", {}).get("maxvCpus"),
                "desiredVcpus": ce.get("computeResources", {}).get("desiredvCpus"),
                "state": ce.get("state"),
            }
            for ce in self.batch.describe_compute_environments()
        ]

    def set_capacity(self, capacity: str, max_vcpus: int) -> list[dict[str, Any]]:
        for name, kind in self.ce_capacity.items():
            if kind == capacity:
                self.batch.set_capacity(name, max_vcpus)
        return self.capacity()

    def interrupt(self, job_id: str) -> str | None:
        """Reclaim the instance running the job's current attempt (found by the attempt's deterministic name)."""
        for queue_arn in self._queue_arns():
            listed = self.batch.list_jobs(
                jobQueue=queue_arn, filters=[{"name": "JOB_NAME", "values": [f"bp-{job_id}-a*"]}]
            )
            for job in listed.get("jobSummaryList", []):
                if job.get("status") in ("STARTING", "RUNNING") and self.batch.interrupt(job["jobId"]):
                    return str(job["jobId"])
        return None

    def execution_history(self, pipeline_id: str) -> dict[str, Any] | None:
        """The Step Functions history of a pipeline's runs: events by type and states entered (billed transitions)."""
        sfn = self._client("stepfunctions")
        arns = [
            p["Arn"]
            for k, p in self.stack.physical.items()
            if self.stack.resources().get(k, {}).get("Type") == "AWS::StepFunctions::StateMachine"
        ]
        runs = []
        for arn in arns:
            for ex in sfn.list_executions(stateMachineArn=arn).get("executions", []):
                if ex["name"].startswith(f"{pipeline_id}-r"):
                    events = sfn.get_execution_history(executionArn=ex["executionArn"], maxResults=1000)["events"]
                    by_type: dict[str, int] = {}
                    for e in events:
                        by_type[e["type"]] = by_type.get(e["type"], 0) + 1
                    entered = sum(v for k, v in by_type.items() if k.endswith("StateEntered"))
                    runs.append(
                        {"name": ex["name"], "status": ex["status"], "stateEntered": entered, "events": by_type}
                    )
        return {"pipelineId": pipeline_id, "runs": runs} if runs else None

    def iam_report(self) -> dict[str, Any]:
        """What each function was seen doing (action, resource), and every call IAM refused, as AWS words it."""
        enforcer = self.iam
        seen: dict[str, list[list[str]]] = {}
        for function, action, resource in sorted(enforcer.seen if enforcer else ()):
            seen.setdefault(function, []).append([action, resource])
        denied = [
            {
                "function": d.principal.function if d.principal else None,
                "action": d.request.action,
                "resource": d.request.resource,
                "message": str(d),
            }
            for d in (enforcer.denied if enforcer else [])
        ]
        return {"enforced": enforcer is not None, "seen": seen, "denied": denied}

    def _queue_arns(self) -> list[str]:
        return [q["jobQueueArn"] for q in self.batch.describe_job_queues()]

    def sweep_now(self) -> dict[str, Any]:
        for _period, logical, _rule in self.schedules:
            fn = self.functions[logical]
            return {"swept": logical, "report": fn.invoke({"source": "aws.events", "detail-type": "Scheduled Event"})}
        return {"swept": None}

    # ---- HTTP API (API Gateway HTTP API, payload format 2.0) ----------------------------------------------------

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route a request takes, as API Gateway picks it: a matching route, else the ``$default`` route if any."""
        for route in self.routes:
            if route.path != DEFAULT_ROUTE and route.method in (method.upper(), "ANY"):
                m = route.regex.match(path)
                if m:
                    return route, dict(zip(route.params, m.groups(), strict=False))
        return next(((r, {}) for r in self.routes if r.path == DEFAULT_ROUTE), None)

    def http_event(
        self,
        route: Route,
        path_params: dict[str, str],
        *,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        tenant: str,
        source_ip: str,
    ) -> dict[str, Any]:
        now = time.time()
        text = body.decode("utf-8", errors="replace") if body else None
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": {k.lower(): v for k, v in headers.items()},
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "local",
                "authorizer": {
                    "iam": {
                        "accessKey": "LOCALACCESSKEY",
                        "accountId": ACCOUNT,
                        "callerId": tenant,
                        "cognitoIdentity": None,
                        "principalOrgId": None,
                        "userArn": f"arn:aws:iam::{ACCOUNT}:user/{tenant}",
                        "userId": tenant,
                    }
                },
                "domainName": "127.0.0.1",
                "domainPrefix": "local",
                "http": {
                    "method": method.upper(),
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": source_ip,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": uuid.uuid4().hex[:16],
                "routeKey": route.key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": False,
        }
        if query:
            from urllib.parse import parse_qsl

            pairs = parse_qsl(query, keep_blank_values=True)
            event["queryStringParameters"] = {k: ",".join(v for kk, v in pairs if kk == k) for k, _ in pairs}
        if path_params:
            event["pathParameters"] = path_params
        if text is not None:
            event["body"] = text
        return event


@dataclass(frozen=True)
class SqsSource:
    """An event source mapping from an SQS queue to a function."""

    url: str
    arn: str
    function: str
    batch_size: int
    partial: bool


class _BatchFacts(iam.Resolver):
    """What IAM needs to know of existing Batch resources, read from the local Batch (not through the functions'
    clients: these are AWS's own lookups)."""

    def __init__(self, batch: LocalBatch) -> None:
        self.batch = batch

    def job_tags(self, job_id: str) -> dict[str, str]:
        return self.batch.job_tags(job_id)

    def job_definition_arn(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        return self.batch.job_definition_arn(name_or_arn) or super().job_definition_arn(name_or_arn)


def _log_batches(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Events cut into PutLogEvents calls that each respect its size and count limits."""
    batch: list[dict[str, Any]] = []
    size = 0
    for event in events:
        cost = len(event["message"].encode()) + 26
        if batch and (size + cost > MAX_LOG_BATCH_BYTES or len(batch) >= MAX_LOG_BATCH_EVENTS):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += cost
    if batch:
        yield batch


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


def _creation_order(stack: Stack) -> list[str]:
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


_PROVISIONERS: dict[str, Callable[[LocalStack, str, dict[str, Any]], None]] = {
    "AWS::DynamoDB::Table": LocalStack._table,
    "AWS::SQS::Queue": LocalStack._queue,
    "AWS::SQS::QueuePolicy": LocalStack._queue_policy,
    "AWS::Logs::LogGroup": LocalStack._log_group,
    "AWS::IAM::Role": LocalStack._role,
    "AWS::IAM::ManagedPolicy": LocalStack._managed_policy,
    "AWS::IAM::InstanceProfile": LocalStack._named,
    "AWS::EC2::PlacementGroup": LocalStack._named,
    "AWS::EC2::LaunchTemplate": LocalStack._named,
    "AWS::Lambda::LayerVersion": LocalStack._layer,
    "AWS::Batch::ComputeEnvironment": LocalStack._compute_environment,
    "AWS::Batch::JobQueue": LocalStack._job_queue,
    "AWS::Batch::JobDefinition": LocalStack._job_definition,
    "AWS::StepFunctions::StateMachine": LocalStack._state_machine,
    "AWS::Lambda::Function": LocalStack._function,
    "AWS::Lambda::EventInvokeConfig": LocalStack._invoke_config,
    "AWS::Lambda::Permission": LocalStack._permission,
    "AWS::Lambda::EventSourceMapping": LocalStack._event_source_mapping,
    "AWS::Events::Rule": LocalStack._rule,
    "AWS::Scheduler::ScheduleGroup": LocalStack._schedule_group,
    "AWS::Scheduler::Schedule": LocalStack._schedule,
    "AWS::ApiGatewayV2::Api": LocalStack._http_api,
}
# Resources that change nothing the local stack runs: named, not emulated (the README lists them)
_RECORDED_ONLY = frozenset(
    {"AWS::ApiGatewayV2::Stage", "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::SNS::Topic"}
)


def next_fire(expression: str, timezone: str, after: datetime, scale: float = 1.0) -> datetime | None:
    """The first fire time of an EventBridge Scheduler expression strictly after ``after`` (None: never again)."""
    rate = re.match(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$", expression)
    if rate:
        return after + timedelta(seconds=_rate_seconds(expression) / max(scale, 1e-6))
    at = re.match(r"^at\((.+)\)$", expression)
    if at:
        when = datetime.fromisoformat(at.group(1)).replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)
        return when if when > after else None
    cron = re.match(r"^cron\((.+)\)$", expression)
    if cron:
        from croniter import croniter

        fields = cron.group(1).split()
        five = " ".join(f.replace("?", "*") for f in fields[:5])
        base = after.astimezone(ZoneInfo(timezone))
        nxt: datetime = croniter(five, base).get_next(datetime)
        return nxt.astimezone(UTC)
    return None


def _rate_seconds(expression: str) -> float:
    m = re.match(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression)
    if not m:
        return 60.0
    unit = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}[m.group(2)]
    return float(int(m.group(1)) * unit)


def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase properties → the Batch API's camelCase members."""
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    return value
