"""The local stack: template.yaml provisioned on this machine as CloudFormation would deploy it (after the SAM
transform), handlers invoked in-process exactly as Lambda invokes them, each under its own IAM role enforced on every
AWS call, AWS emulated by moto over HTTP, AWS Batch emulated by batchplane_local.batch (jobs really run).

Wiring follows the transformed template: the HTTP API's OpenAPI body becomes routes, event rules subscribe functions
to the events the local Batch emits (matched by the rules' own patterns) or fire on their schedule, event source
mappings poll SQS, EventInvokeConfig gives async retries and the on-failure destination, and Lambda permissions must
allow each source as AWS requires. Nothing is listed twice: change the template, the local stack follows."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from batchplane_local import iam, moto_glue
from batchplane_local.batch.api import BatchApi
from batchplane_local.batch.engine import LocalBatch
from batchplane_local.loopback import Loopback
from batchplane_local.stack import events, schedules
from batchplane_local.stack.account import ACCOUNT, REGION
from batchplane_local.stack.dispatch import AdmissionTrigger, run_dispatcher
from batchplane_local.stack.functions import LocalFunction, async_worker, invoke_async
from batchplane_local.stack.http_api import Route
from batchplane_local.stack.provision import DISPATCHER, Provisioner, SqsSource
from batchplane_local.stack.template import Stack, load, transformed

LOCAL_PARAMETERS: dict[str, Any] = {"SweeperShards": 2}


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
        # locally the local user administers batchplane (GET /costs shows every tenant), through the template's
        # own AdminPrincipals parameter, as a deployment would name its administrators; and prices are the shipped
        # table's (moto has no Price List API). The sweeper runs every 2 s here, in the process that runs every
        # function (85 Queries of ~3 ms each would be a tenth of its time), so 2 shards (15 Queries a sweep) rather
        # than the template's 16 (85); the same sharded code.
        self.parameters = {
            "AdminPrincipals": f"arn:aws:iam::{ACCOUNT}:user/local-user",
            "DispatcherLoopSeconds": "0",  # each dispatcher invocation ticks once (it is invoked every 0.3 s)
            "PriceSource": "shipped",
            **LOCAL_PARAMETERS,
            **(parameters or {}),
        }
        self.log = log
        self.kill_grace_seconds = kill_grace_seconds
        self.functions: dict[str, LocalFunction] = {}
        self.routes: list[Route] = []
        self.rules: list[tuple[moto_glue.Pattern, str]] = []
        self.schedules: list[tuple[float, str, str]] = []  # (period, function, rule ARN)
        self.schedule_inputs: dict[tuple[str, str], dict[str, Any]] = {}  # (rule ARN, function) -> constant input
        self.sqs_sources: list[SqsSource] = []
        self.roles: dict[str, tuple[str, dict[str, Any]]] = {}  # logical id -> (role name, properties)
        self.customer_policies: dict[str, list[dict[str, Any]]] = {}  # the stack's managed policies: ARN -> statements
        self.iam: iam.Enforcer | None = None
        self.admission_trigger: AdmissionTrigger | None = None
        self.ce_capacity: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self.job_logs = events.JobLogs(lambda: self._client("logs"), log)
        self._servers: list[Any] = []
        # the stack's own endpoints answered in process (BATCHPLANE_LOOPBACK=0: over TCP, as before)
        self.loopback = Loopback() if os.environ.get("BATCHPLANE_LOOPBACK", "1") != "0" else None
        self.ready = threading.Event()

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        import warnings

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        # moto in a child interpreter by default (its own core: a 1,000-job DAG 122 -> 102 s on 2 cores, README
        # Performance); BATCHPLANE_MOTO_PROCESS=0 keeps it in this process
        self.moto = moto_glue.start_server(own_process=os.environ.get("BATCHPLANE_MOTO_PROCESS", "1") != "0")
        if self.loopback is not None and self.moto.server is not None:  # not a moto in its own process
            self.loopback.add(self.moto.endpoint, moto_glue.wsgi_app(self.moto.server), moto_glue.direct_dynamodb)
        elif self.loopback is not None and self.moto.channel is not None:  # its requests over its Unix socket
            from batchplane_local.moto_channel import Channel

            self.loopback.add(self.moto.endpoint, None, Channel(self.moto.channel))
        self.batch = LocalBatch(
            on_event=self._on_batch_event,
            on_log=self.job_logs.add,
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
            for worker in range(fn.containers):  # as many events at once as the function has environments
                self._spawn(self._async_worker, fn, name=f"async-{fn.logical_id}-{worker}")
        for period, logical_id, rule_arn in self.schedules:
            if logical_id == DISPATCHER and self.admission_trigger is not None:
                self._spawn(self._dispatch_loop, period, rule_arn, name=f"schedule-{logical_id}")
            else:
                self._spawn(self._schedule_loop, period, logical_id, rule_arn, name=f"schedule-{logical_id}")
        self._spawn(self._scheduler_loop, name="eventbridge-scheduler")
        self._spawn(self.job_logs.ship, self._stopping, name="awslogs")
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
        if self.admission_trigger is not None:
            self.admission_trigger.wake.set()
        for fn in self.functions.values():
            for _ in range(fn.containers):  # one per async worker
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
        endpoint = f"http://127.0.0.1:{server.server_port}"
        if self.loopback is not None:
            self.loopback.add(endpoint, app)
        return endpoint

    def _client(self, service: str) -> Any:
        """The stack's own client for a service, made once (a client costs milliseconds to make and is thread-safe
        to use; making one is not)."""
        with self._clients_lock:
            client = self._clients.get(service)
            if client is None:
                client = boto3.client(service, region_name=REGION, endpoint_url=self.moto.endpoint)
                if self.loopback is not None:
                    self.loopback.register(client.meta.events)
                self._clients[service] = client
            return client

    def _provision(self) -> None:
        """Create every resource of the transformed template (`provision.Provisioner`), then wire the functions:
        environment, layers, event sources, and each function's IAM role enforced on every call its clients make."""
        provisioner = Provisioner(
            self.stack,
            root=self.root,
            batch=self.batch,
            client=self._client,
            vcpus=self.vcpus,
            sweep_interval=self.sweep_interval,
        )
        try:
            env = provisioner.provision()
        finally:
            self.functions = provisioner.functions
            self.routes = provisioner.routes
            self.rules = provisioner.rules
            self.schedules = provisioner.schedules
            self.schedule_inputs = provisioner.schedule_inputs
            self.sqs_sources = provisioner.sqs_sources
            self.roles = provisioner.roles
            self.customer_policies = provisioner.customer_policies
            self.ce_capacity = provisioner.ce_capacity
        self._wire_functions(env)

    def _wire_functions(self, env: dict[str, str]) -> None:
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
        if self.loopback is not None:  # last on before-send: an injected fault answers first
            self.loopback.register(function_clients.session().events)
        if DISPATCHER in self.functions:
            # the counter items admission reads, named by the layer's own key functions (one source of truth)
            from batchplane.adapters.dynamo.counters import pool_key, tenant_key

            prefixes = (tenant_key("")["pk"]["S"], pool_key("")["pk"]["S"])
            self.admission_trigger = AdmissionTrigger(prefixes, DISPATCHER)
            self.admission_trigger.register(function_clients.session().events)

    # ---- events: Batch → EventBridge rules → functions (async invoke) ------------------------------------------

    def _on_batch_event(self, event: dict[str, Any]) -> None:
        if event.get("detail", {}).get("status") in ("SUCCEEDED", "FAILED"):
            # every line the job wrote is in CloudWatch Logs before anyone hears that it ended
            self.job_logs.flush()
        for pattern, logical in self.rules:
            if pattern.matches(event):
                self.functions[logical].inbox.put(event)

    def _async_worker(self, fn: LocalFunction) -> None:
        async_worker(fn, lambda: self._client("sqs"), self.log)

    def _scheduler_loop(self) -> None:
        """EventBridge Scheduler (`schedules.run_scheduler`), its targets this stack's functions."""
        schedules.run_scheduler(
            self._client("scheduler"),
            {self.stack.physical[k]["Arn"]: fn for k, fn in self.functions.items()},
            stopping=self._stopping,
            scale=self.schedule_scale,
            allowed=self._role_allows,
            log=self.log,
        )

    def _role_allows(self, role_arn: str, action: str, fn: LocalFunction) -> bool:
        """Scheduler invokes its target as the schedule's role: that role must allow the call (else AWS fails it)."""
        for name, props in self.roles.values():
            if role_arn == f"arn:aws:iam::{ACCOUNT}:role/{name}":
                principal = iam.principal_of(
                    name, name, self.stack.resolve(props), customer_policies=self.customer_policies
                )
                arn = self.stack.physical[fn.logical_id]["Arn"]
                if iam.decide(principal.statements, iam.Request(action, arn)) == "Allow":
                    return True
        self.log(f"scheduler: role {role_arn} may not {action} {fn.name}: the schedule's invocation fails")
        return False

    def _sqs_poller(self, source: SqsSource) -> None:
        events.poll_sqs(
            source, self.functions[source.function], self._client("sqs"), stopping=self._stopping, log=self.log
        )

    def _schedule_loop(self, period: float, logical_id: str, rule_arn: str) -> None:
        events.fire_rule(
            period,
            self.functions[logical_id],
            rule_arn,
            self._stopping,
            constant=self.schedule_inputs.get((rule_arn, logical_id)),
        )

    def _dispatch_loop(self, fallback: float, rule_arn: str) -> None:
        """The dispatcher's schedule, locally: invoked when admission has news (`stack.dispatch`)."""
        fn = self.functions[DISPATCHER]
        assert self.admission_trigger is not None  # noqa: S101 - only spawned with one
        run_dispatcher(
            lambda: invoke_async(fn, events.scheduled_event(rule_arn), lambda: self._client("sqs"), self.log),
            self.admission_trigger,
            self._stopping,
            fallback,
            # a tick admits at most one second of the SubmitJob budget (the dispatcher's own setting and default)
            full=max(1, int(float(fn.environment.get("SUBMIT_JOBS_PER_SECOND") or 50))),
        )

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
        """Invoke the sweeper once, as its schedule would (the dispatcher runs on a schedule too: not it)."""
        for _period, logical, _rule in self.schedules:
            if logical != "SweeperFunction":
                continue
            fn = self.functions[logical]
            return {"swept": logical, "report": fn.invoke({"source": "aws.events", "detail-type": "Scheduled Event"})}
        return {"swept": None}


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
