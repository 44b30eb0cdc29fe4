"""The local stack: template.yaml provisioned on this machine, handlers invoked in-process exactly as Lambda invokes
them, AWS emulated by moto over HTTP, AWS Batch emulated by batchplane_local.batch (jobs really run).

Wiring follows the template: HttpApi events become routes, EventBridgeRule events subscribe functions to the events
the local Batch emits (matched by the template's own patterns), Schedule events fire on time, EventInvokeConfig gives
async retries and the on-failure destination. Nothing is listed twice: change the template, the local stack follows."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import boto3

from batchplane_local import moto_glue
from batchplane_local.batch.api import BatchApi
from batchplane_local.batch.engine import LocalBatch
from batchplane_local.stack.template import Stack, function_property, load, merged_environment

REGION = "us-east-1"
ACCOUNT = "123456789012"
BATCH_LOG_GROUP = "/aws/batch/job"


@dataclass
class Route:
    method: str
    path: str  # template path, e.g. /jobs/{jobId}
    function: str
    regex: re.Pattern[str]
    params: list[str]


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


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    timeout: float
    memory: int
    environment: dict[str, str]
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
        spec.loader.exec_module(module)
        self.module = module

    def invoke(self, event: dict[str, Any]) -> Any:
        """Synchronous invoke (RequestResponse): one at a time per function, as one warm container."""
        if self.module is None:
            self.load()
        fn = getattr(self.module, self.handler.rpartition(".")[2])
        with self.lock:
            self.invocations += 1
            return fn(event, LambdaContext(self.name, self.timeout, self.memory))


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
        self.schedules: list[tuple[float, str, str]] = []
        self.sqs_sources: list[tuple[str, str]] = []
        self._scheduler_schedules: list[tuple[str, dict[str, Any]]] = []
        self.ce_capacity: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._logged_streams: dict[str, int] = {}
        self._servers: list[Any] = []
        self.ready = threading.Event()

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        import logging
        import warnings

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self.moto = moto_glue.start_server()
        self.batch = LocalBatch(
            on_event=self._on_batch_event,
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
        if self.fault_rate > 0:
            # chaos: a share of the functions' AWS calls fail (a botocore hook on the session their clients come from)
            from batchplane.adapters import aws as function_clients

            from batchplane_local.faults import Faults

            self.faults = Faults(self.fault_rate, self.fault_seed)
            function_clients.session().events.register_first("before-send.*.*", self.faults)
        self.stack = Stack(load(self.root / "template.yaml"), name=self.stack_name, region=REGION, account=ACCOUNT)
        self.stack.parameters.update(self.parameters)
        self._provision()
        self.batch.start()
        for fn in self.functions.values():
            self._spawn(self._async_worker, fn, name=f"async-{fn.logical_id}")
        for period, logical_id, _expr in self.schedules:
            self._spawn(self._schedule_loop, period, logical_id, name=f"schedule-{logical_id}")
        self._spawn(self._scheduler_loop, name="eventbridge-scheduler")
        for queue_url, logical_id in self.sqs_sources:
            self._spawn(self._sqs_poller, queue_url, logical_id, name=f"sqs-{logical_id}")
        self.ready.set()
        return self

    def serve_api(self, port: int = 0) -> str:
        """Serve the HTTP API (the template's routes, plus /_local) on 127.0.0.1; returns its base URL."""
        from batchplane_local.stack.server import LocalApi

        self.api_url = self._serve(LocalApi(self), "local-http-api", port)
        return self.api_url

    def stop(self) -> None:
        self._stopping.set()
        for fn in self.functions.values():
            fn.inbox.put(None)
        self.batch.stop()
        for server in self._servers:
            server.shutdown()
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

    def _provision(self) -> None:  # noqa: PLR0915 - one pass over the template's resource types
        st = self.stack
        ddb, sqs, logs = self._client("dynamodb"), self._client("sqs"), self._client("logs")
        for logical, res in st.resources("AWS::DynamoDB::Table").items():
            props = res["Properties"]
            name = (props.get("TableName") and st.resolve(props["TableName"])) or f"{st.name}-{logical}"
            kwargs = {
                "TableName": name,
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": "PAY_PER_REQUEST",
            }
            if props.get("GlobalSecondaryIndexes"):
                kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            out = ddb.create_table(**kwargs)["TableDescription"]
            st.physical[logical] = {"Ref": name, "Arn": out["TableArn"], "StreamArn": ""}
        for logical in st.resources("AWS::SQS::Queue"):
            name = f"{st.name}-{logical}"
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
            st.physical[logical] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
        logs.create_log_group(logGroupName=BATCH_LOG_GROUP)
        for logical in st.resources("AWS::Logs::LogGroup"):
            st.physical[logical] = {"Ref": f"/aws/lambda/{st.name}-{logical}", "Arn": ""}
        for logical in st.resources("AWS::IAM::Role"):
            st.physical[logical] = {"Ref": logical, "Arn": f"arn:aws:iam::{ACCOUNT}:role/{st.name}-{logical}"}
        for logical in st.resources("AWS::IAM::InstanceProfile"):
            st.physical[logical] = {"Ref": logical, "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{logical}"}
        for logical in st.resources("AWS::EC2::PlacementGroup"):
            st.physical[logical] = {"Ref": f"{st.name}-{logical}"}
        for logical in st.resources("AWS::Serverless::LayerVersion"):
            st.physical[logical] = {"Ref": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{logical}:1"}
        for logical in st.resources("AWS::Serverless::HttpApi"):
            st.physical[logical] = {"Ref": "local"}
        for logical, res in st.resources("AWS::Scheduler::ScheduleGroup").items():
            group = str(st.resolve(res["Properties"].get("Name") or f"{st.name}-{logical}"))
            self._client("scheduler").create_schedule_group(Name=group)
            st.physical[logical] = {"Ref": group, "Arn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{group}"}
        cores = os.cpu_count() or 2
        for logical, res in st.resources("AWS::Batch::ComputeEnvironment").items():
            props = res["Properties"]
            name = st.resolve(props.get("ComputeEnvironmentName") or f"{st.name}-{logical}")
            resources = props.get("ComputeResources") or {}
            capacity = "spot" if st.resolve(resources.get("Type")) in ("SPOT", "FARGATE_SPOT") else "on-demand"
            max_vcpus = self.vcpus.get(capacity, self.vcpus.get(logical, cores))
            types = st.resolve(resources.get("InstanceTypes")) or ["optimal"]
            arn = self.batch.add_compute_environment(name, capacity=capacity, max_vcpus=max_vcpus, instance_types=types)
            self.ce_capacity[name] = capacity
            st.physical[logical] = {"Ref": arn, "Arn": arn, "ComputeEnvironmentArn": arn}
        for logical, res in st.resources("AWS::Batch::JobQueue").items():
            props = res["Properties"]
            name = st.resolve(props.get("JobQueueName") or f"{st.name}-{logical}")
            order = sorted(st.resolve(props["ComputeEnvironmentOrder"]), key=lambda o: int(o["Order"]))
            ces = [str(o["ComputeEnvironment"]).rsplit("/", 1)[-1] for o in order]
            arn = self.batch.add_job_queue(name, priority=int(st.resolve(props["Priority"])), compute_environments=ces)
            st.physical[logical] = {"Ref": arn, "Arn": arn, "JobQueueArn": arn}
        for logical, res in st.resources("AWS::Batch::JobDefinition").items():
            props = st.resolve(res["Properties"])
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
        sfn = self._client("stepfunctions")
        for logical, res in st.resources("AWS::Serverless::StateMachine").items():
            props = res["Properties"]
            definition = (self.root / str(props["DefinitionUri"])).read_text()
            for key, value in (st.resolve(props.get("DefinitionSubstitutions")) or {}).items():
                definition = definition.replace("${" + key + "}", str(value))
            name = f"{st.name}-{logical}"
            arn = sfn.create_state_machine(
                name=name,
                definition=definition,
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}",
                type=str(props.get("Type", "STANDARD")),
            )["stateMachineArn"]
            st.physical[logical] = {"Ref": arn, "Arn": arn, "Name": name}
        functions = st.resources("AWS::Serverless::Function")
        for logical in functions:
            st.physical[logical] = {
                "Ref": f"{st.name}-{logical}",
                "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{st.name}-{logical}",
            }
        env: dict[str, str] = {}
        for logical, res in functions.items():
            props = res["Properties"]
            fn_env = merged_environment(st, logical)
            for key, value in fn_env.items():
                if key in env and env[key] != value:
                    msg = f"functions disagree on {key}: the local stack runs them in one process"
                    raise RuntimeError(msg)
                env[key] = value
            invoke = props.get("EventInvokeConfig") or {}
            failure = ((invoke.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            fn = LocalFunction(
                logical_id=logical,
                name=f"{st.name}-{logical}",
                code_dir=self.root / str(props["CodeUri"]).rstrip("/"),
                handler=str(function_property(st, logical, "Handler")),
                timeout=float(function_property(st, logical, "Timeout", 3)),
                memory=int(function_property(st, logical, "MemorySize", 128)),
                environment=fn_env,
                max_retries=int(invoke.get("MaximumRetryAttempts", 2)),
                on_failure_queue=self._queue_url_of(st.resolve(failure)) if failure else None,
            )
            self.functions[logical] = fn
            for event in (props.get("Events") or {}).values():
                kind, eprops = event.get("Type"), event.get("Properties") or {}
                if kind == "HttpApi":
                    self.routes.append(_route(eprops["Method"], eprops["Path"], logical))
                elif kind == "EventBridgeRule":
                    self.rules.append((moto_glue.Pattern(st.resolve(eprops["Pattern"])), logical))
                elif kind == "SQS":
                    self.sqs_sources.append((self._queue_url_of(str(st.resolve(eprops["Queue"]))) or "", logical))
                elif kind == "ScheduleV2":
                    self._scheduler_schedules.append((logical, st.resolve(eprops)))
                elif kind == "Schedule":
                    expression = str(st.resolve(eprops.get("Schedule") or eprops.get("ScheduleExpression")))
                    period = self.sweep_interval if self.sweep_interval else _rate_seconds(expression)
                    self.schedules.append((period, logical, expression))
        os.environ.update(env)
        # Locally, the functions' logs go to this terminal: quieter than in AWS unless asked, and no EMF metrics.
        os.environ["POWERTOOLS_LOG_LEVEL"] = self.function_log_level
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
        os.environ["POWERTOOLS_DEV"] = "false"
        layers = [
            self.root / str(r["Properties"]["ContentUri"]).rstrip("/")
            for r in st.resources("AWS::Serverless::LayerVersion").values()
        ]
        for layer in layers:  # what Lambda mounts at /opt/python
            if str(layer) not in sys.path:
                sys.path.insert(0, str(layer))
        for fn in self.functions.values():
            fn.load()
        scheduler = self._client("scheduler")
        for logical, props in self._scheduler_schedules:  # ScheduleV2 events: EventBridge Scheduler schedules
            scheduler.create_schedule(
                Name=f"{st.name}-{logical}"[:64],
                GroupName=str(props.get("GroupName") or "default"),
                ScheduleExpression=str(props["ScheduleExpression"]),
                ScheduleExpressionTimezone=str(props.get("ScheduleExpressionTimezone") or "UTC"),
                FlexibleTimeWindow={"Mode": "OFF"},
                State=str(props.get("State") or "ENABLED"),
                Target={
                    "Arn": st.physical[logical]["Arn"],
                    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/{st.name}-{logical}-scheduler",
                    "Input": str(props.get("Input") or "{}"),
                },
            )

    def _queue_url_of(self, arn: str) -> str | None:
        for phys in self.stack.physical.values():
            if phys.get("Arn") == arn and "QueueUrl" in phys:
                return phys["QueueUrl"]
        return None

    # ---- events: Batch → EventBridge rules → functions (async invoke) ------------------------------------------

    def _on_batch_event(self, event: dict[str, Any]) -> None:
        if event.get("detail", {}).get("status") in ("SUCCEEDED", "FAILED"):
            self._ship_logs(event["detail"])
        for pattern, logical in self.rules:
            if pattern.matches(event):
                self.functions[logical].inbox.put(event)

    def _ship_logs(self, detail: dict[str, Any]) -> None:
        """What the awslogs driver does in AWS: the container's output lands in CloudWatch Logs."""
        streams = {(a.get("container") or {}).get("logStreamName") for a in detail.get("attempts") or []} | {
            (detail.get("container") or {}).get("logStreamName")
        }
        logs = self._client("logs")
        for stream in filter(None, streams):
            lines = self.batch.logs(stream)
            sent = self._logged_streams.get(stream, 0)
            if len(lines) <= sent:
                continue
            if sent == 0:
                with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                    logs.create_log_stream(logGroupName=BATCH_LOG_GROUP, logStreamName=stream)
            now = int(time.time() * 1000)
            events = [{"timestamp": now, "message": line or " "} for line in lines[sent:]]
            for i in range(0, len(events), 5000):
                logs.put_log_events(logGroupName=BATCH_LOG_GROUP, logStreamName=stream, logEvents=events[i : i + 5000])
            self._logged_streams[stream] = len(lines)

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
                groups = {s["Name"]: s.get("GroupName") or "default" for s in scheduler.list_schedules()["Schedules"]}
                names = list(groups)
                for name in names:
                    if name not in seen:
                        seen[name] = scheduler.get_schedule(Name=name, GroupName=groups[name])
                        last[name] = datetime.now(UTC)
                for gone in set(seen) - set(names):
                    seen.pop(gone)
                now = datetime.now(UTC)
                for name, sched in seen.items():
                    if sched.get("State") != "ENABLED":
                        continue
                    due = next_fire(
                        sched["ScheduleExpression"],
                        sched.get("ScheduleExpressionTimezone") or "UTC",
                        last[name],
                        self.schedule_scale,
                    )
                    if due is None or due > now:
                        continue
                    last[name] = due
                    target = sched["Target"]
                    fn = by_arn.get(target["Arn"])
                    if fn is None:
                        continue
                    stamp = due.strftime("%Y-%m-%dT%H:%M:%SZ")
                    text = str(target.get("Input") or "{}").replace("<aws.scheduler.scheduled-time>", stamp)
                    fn.inbox.put(json.loads(text))
            except Exception:  # noqa: BLE001 - keep the clock ticking; the stack may be stopping
                if self._stopping.is_set():
                    return
                self.log(f"scheduler: {traceback.format_exc()}")

    def _sqs_poller(self, queue_url: str, logical_id: str) -> None:
        """Lambda's SQS event source mapping: batches of up to 10, partial batch failures (ReportBatchItemFailures)
        left on the queue to be retried after the visibility timeout."""
        fn = self.functions[logical_id]
        sqs = self._client("sqs")
        arn = next((p["Arn"] for p in self.stack.physical.values() if p.get("QueueUrl") == queue_url), "")
        while not self._stopping.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=30
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
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
            try:
                result = fn.invoke({"Records": records}) or {}
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            except Exception:  # noqa: BLE001 - the whole batch returns to the queue
                self.log(f"{fn.logical_id} failed:\n{traceback.format_exc()}")
                continue
            for m in messages:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    def _schedule_loop(self, period: float, logical_id: str) -> None:
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
                "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{fn.name}-schedule"],
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
            if self.stack.resources().get(k, {}).get("Type") == "AWS::Serverless::StateMachine"
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

    def _queue_arns(self) -> list[str]:
        return [q["jobQueueArn"] for q in self.batch.describe_job_queues()]

    def sweep_now(self) -> dict[str, Any]:
        for _period, logical, _expr in self.schedules:
            fn = self.functions[logical]
            return {"swept": logical, "report": fn.invoke({"source": "aws.events", "detail-type": "Scheduled Event"})}
        return {"swept": None}

    # ---- HTTP API (API Gateway HTTP API, payload format 2.0) ----------------------------------------------------

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method in (method.upper(), "ANY"):
                m = route.regex.match(path)
                if m:
                    return route, dict(zip(route.params, m.groups(), strict=False))
        return None

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
            "routeKey": f"{route.method} {route.path}",
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
                "routeKey": f"{route.method} {route.path}",
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
