"""Shared fixtures: fake credentials (never real AWS), moto, the table built from template.yaml, Batch queues, and a
botocore hook that counts every AWS call the code makes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from hypothesis import settings

from tests import handlers
from tests.cfn import (
    deployed_environment,
    deployed_resources,
    deployed_stack,
    function_principals,
    table_definition,
    template,
)

REGION = "us-east-1"
STACK = "batchplane-test"
# The template's one list of priority classes (lowest first) and their Batch priorities
PRIORITIES = tuple(template()["Parameters"]["PriorityClasses"]["Default"].split(","))
RANKS = template()["Mappings"]["PriorityClassRank"]
CAPACITIES = ("spot", "on-demand")
MAX_JOB_MEMORY_MIB = 62_000
MAX_JOB_VCPUS = 8

# Hypothesis profiles (pytest --hypothesis-profile=NAME). "ci", loaded by default (make test), keeps each property's
# own example count and runs the costly ones that take theirs from the profile (the event storms, on moto) at
# CI_EXAMPLES; examples are drawn afresh each run (derandomize=False), so runs add up to more than one run's share, and
# a failure prints the blob that replays it. "thorough" is the long run: THOROUGH_EXAMPLES for those tests.
CI_EXAMPLES = 100
THOROUGH_EXAMPLES = 500
settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=False, print_blob=True)
settings.register_profile("thorough", max_examples=THOROUGH_EXAMPLES, derandomize=False, print_blob=True)
settings.load_profile("ci")


def _share_botocore_loader() -> None:
    """One botocore data loader for every session the tests make. Each test's stack gets a fresh boto3 session (moto
    resets the default one, ``wiring.reset()`` drops the functions'), and each new session parsed the service models'
    JSON again: about 0.2 s a client, a dozen clients a test. The loader only reads botocore's own data files and
    caches what it parsed, as one session already shares it between its clients; AWS_DATA_PATH is not used here."""
    import botocore.loaders
    import botocore.session

    shared = botocore.loaders.create_loader()

    def register_data_loader(self: botocore.session.Session) -> None:
        self._components.lazy_register_component("data_loader", lambda: shared)

    botocore.session.Session._register_data_loader = register_data_loader  # type: ignore[method-assign]


_share_botocore_loader()


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "batchplane")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "batchplane")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")


@dataclass
class AwsCalls:
    """Counts AWS API calls (service.Operation) seen by a botocore before-call hook."""

    counts: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def hook(self, model: Any, **_: Any) -> None:
        self.counts[f"{model.service_model.service_name}.{model.name}"] += 1

    def capture(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests.append((f"{model.service_model.service_name}.{model.name}", dict(params)))

    def last(self, operation: str) -> dict[str, Any]:
        return next(p for op, p in reversed(self.requests) if op == operation)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reset(self) -> None:
        self.counts.clear()
        self.requests.clear()


def _harness() -> Any:
    from batchplane_local import iam

    return iam.Principal("test-harness", "test-harness", ({"Effect": "Allow", "Action": "*", "Resource": "*"},))


HARNESS = _harness()
# The pipeline service's entry points, by the function that calls each in the deployed stack
PIPELINE_ENTRY_POINTS = {
    "create": "gateway",
    "list": "gateway",
    "cancel": "gateway",
    "resume": "gateway",
    "on_token": "pipeline_tasks",
    "on_release": "pipeline_tasks",
    "on_job_terminal": "job_events",
}


@dataclass
class Stack:
    """What a deployed stack gives the functions: the table, the queues, the job definitions, as environment."""

    table_name: str
    queues: dict[tuple[str, str], str]
    multi_node_queue: str
    job_definitions: dict[str, str]
    env: dict[str, str]
    calls: AwsCalls
    principals: dict[str, Any] = field(default_factory=dict)
    enforcer: Any = None
    sqs_queues: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL

    def queue(self, priority: str, capacity: str) -> str:
        return self.queues[(priority, capacity)]

    def acting_as(self, function: str) -> Any:
        """Run a block as the deployed function ``function`` (its code folder: gateway, job_events, ...): every AWS
        call in it is authorised against that function's role. A stack made without roles (the bench's moto plane:
        nothing is enforced there) runs the block as it is."""
        import contextlib

        from batchplane_local import iam

        if not self.principals and self.enforcer is None:
            return contextlib.nullcontext()
        return iam.acting_as(self.principals[function])

    def dispatch(self) -> Any:
        """One dispatcher tick, as the dispatcher function: the QUEUED jobs it may admit go to Batch. Its report."""
        from batchplane import wiring
        from batchplane.services.dispatcher import DispatchReport

        report = DispatchReport()
        with self.acting_as("dispatcher"):
            wiring.dispatcher().tick(report)
        return report

    def run_as_functions(self, service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make a service's entry points run as the deployed function that calls each (PIPELINE_ENTRY_POINTS)."""
        for method, function in PIPELINE_ENTRY_POINTS.items():
            if hasattr(service, method):
                monkeypatch.setattr(service, method, self._as(function, getattr(service, method)))

    def _as(self, function: str, method: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            with self.acting_as(function):
                return method(*args, **kwargs)

        return run

    def observing(self) -> Any:
        """Run a block as the test harness looking at what the functions did (reads a test makes to check a record):
        an administrator, not a function. Code under test runs as its function inside ``acting_as``."""
        from batchplane_local import iam

        return iam.acting_as(HARNESS)


@pytest.fixture
def aws() -> Iterator[None]:
    from batchplane_local.moto_glue import cheap_transactions
    from moto import mock_aws

    cheap_transactions()  # as the local stack does: moto's TransactWriteItems backs up only what it touches
    with mock_aws(config={"batch": {"use_docker": False}, "core": {"reset_boto3_session": True}}):
        yield


def _make_batch(batch: Any, iam: Any) -> tuple[dict[tuple[str, str], str], str, dict[str, str]]:
    role = iam.create_role(
        RoleName="batch-service",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    envs = {}
    for name in ("spot", "on-demand", "multinode"):
        envs[name] = batch.create_compute_environment(
            computeEnvironmentName=f"{STACK}-{name}", type="UNMANAGED", state="ENABLED", serviceRole=role
        )["computeEnvironmentArn"]
    queues: dict[tuple[str, str], str] = {}
    for priority in PRIORITIES:
        for capacity in CAPACITIES:
            queues[(priority, capacity)] = batch.create_job_queue(
                jobQueueName=f"{STACK}_{priority}_{capacity}",  # as template.yaml names them
                state="ENABLED",
                priority=RANKS[priority]["Spot" if capacity == "spot" else "OnDemand"],
                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": envs[capacity]}],
            )["jobQueueArn"]
    mnp = batch.create_job_queue(
        jobQueueName=f"{STACK}_multinode",
        state="ENABLED",
        priority=250,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": envs["multinode"]}],
    )["jobQueueArn"]
    sample = batch.register_job_definition(
        jobDefinitionName=f"{STACK}-sample",
        type="container",
        containerProperties={
            "image": "public.ecr.aws/amazonlinux/amazonlinux:2023",
            "command": ["echo", "hello"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
        },
    )["jobDefinitionArn"]
    mnp_definition = batch.register_job_definition(
        jobDefinitionName=f"{STACK}-mnp-sample",
        type="multinode",
        nodeProperties={
            "numNodes": 2,
            "mainNode": 0,
            "nodeRangeProperties": [
                {
                    "targetNodes": "0:",
                    "container": {
                        "image": "public.ecr.aws/amazonlinux/amazonlinux:2023",
                        "command": ["hostname"],
                        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
                    },
                }
            ],
        },
    )["jobDefinitionArn"]
    return queues, mnp, {"sample": sample, "mnp-sample": mnp_definition}


class _MotoBatchFacts:
    """What IAM reads of existing Batch resources (a job's tags, a definition's latest revision), from moto."""

    def __init__(self) -> None:
        self.batch = boto3.client("batch", region_name=REGION)

    def job_tags(self, job_id: str) -> dict[str, str]:
        arn = f"arn:aws:batch:{REGION}:123456789012:job/{job_id}"
        try:
            return dict(self.batch.list_tags_for_resource(resourceArn=arn).get("tags") or {})
        except Exception:  # noqa: BLE001 - a job Batch does not know has no tags
            return {}

    def job_definition_arn(self, ref: str) -> str:
        if ref.startswith("arn:"):
            return ref
        name, _, revision = ref.partition(":")
        found = self.batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]
        found = [d for d in found if not revision or str(d["revision"]) == revision]
        best = max(found, key=lambda d: d["revision"], default=None)
        return best["jobDefinitionArn"] if best else f"arn:aws:batch:{REGION}:123456789012:job-definition/{ref}"


def _template_queue_ids(queues: dict[tuple[str, str], str], mnp: str) -> dict[str, dict[str, str]]:
    """The template's job queue logical ids (lowSpotQueue, ...) mapped to the queues made on moto."""
    out = {}
    for (priority, capacity), arn in queues.items():
        logical = f"{priority}{'Spot' if capacity == 'spot' else 'OnDemand'}Queue"
        out[logical] = {"Ref": arn, "Arn": arn, "JobQueueArn": arn}
    out["MultiNodeQueue"] = {"Ref": mnp, "Arn": mnp, "JobQueueArn": mnp}
    return out


def _provision_the_rest(deployed: Any) -> None:
    """What else the functions call by name: the stack's schedule groups and state machines, from the template."""
    from tests.cfn import ROOT

    scheduler = boto3.client("scheduler", region_name=REGION)
    for logical in deployed.resources("AWS::Scheduler::ScheduleGroup"):
        scheduler.create_schedule_group(Name=deployed.physical[logical]["Ref"])
    sfn = boto3.client("stepfunctions", region_name=REGION)
    for logical, res in deployed.resources("AWS::StepFunctions::StateMachine").items():
        props = res["Properties"]
        definition = (ROOT / props["DefinitionS3Location"]["Key"]).read_text()
        for key, value in (deployed.resolve(props.get("DefinitionSubstitutions")) or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        sfn.create_state_machine(
            name=deployed.physical[logical]["Name"], definition=definition, roleArn=deployed.resolve(props["RoleArn"])
        )


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    """The template parameters the integration stack is deployed with (a test module overrides this fixture; moto
    has no Price List API, so prices are the shipped table's unless a test fakes AWS's answers)."""
    return dict(BASE_PARAMETERS)


BASE_PARAMETERS: dict[str, Any] = {"PriceSource": "shipped"}


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch, stack_parameters: dict[str, Any]) -> Iterator[Stack]:
    """A provisioned stack on moto, the functions' environment set as the template sets it, calls counted, and each
    function's calls authorised against its own role from the SAM-transformed template (handlers loaded with
    tests.handlers.load_handler run as their function; other code runs as one with ``stack.acting_as(...)``)."""
    from batchplane import wiring
    from batchplane.adapters import aws as aws_clients
    from batchplane_local import iam

    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(TableName=f"{STACK}-table", **table_definition())
    queues, mnp, definitions = _make_batch(
        boto3.client("batch", region_name=REGION), boto3.client("iam", region_name=REGION)
    )
    sqs = boto3.client("sqs", region_name=REGION)
    sqs_queues = {
        logical: sqs.create_queue(QueueName=f"{STACK}-{logical}")["QueueUrl"]
        for logical in deployed_resources("AWS::SQS::Queue")
    }
    physical = {
        "BatchplaneTable": {
            "Ref": f"{STACK}-table",
            "Arn": f"arn:aws:dynamodb:{REGION}:123456789012:table/{STACK}-table",
        },
        "SampleJobDefinition": {"Ref": definitions["sample"], "Arn": definitions["sample"]},
        "MultiNodeJobDefinition": {"Ref": definitions["mnp-sample"], "Arn": definitions["mnp-sample"]},
        **_template_queue_ids(queues, mnp),
        **{logical: {"Ref": url, "QueueUrl": url} for logical, url in sqs_queues.items()},
    }
    deployed = deployed_stack(physical, STACK, stack_parameters)
    _provision_the_rest(deployed)
    principals = function_principals(deployed)
    enforcer = iam.Enforcer(resolver=_MotoBatchFacts())  # type: ignore[arg-type]
    original_session = aws_clients.session

    def enforced_session() -> Any:
        made = original_session()
        if not getattr(made, "_batchplane_iam", False):
            enforcer.register(made.events)
            made._batchplane_iam = True  # type: ignore[attr-defined]
        return made

    monkeypatch.setattr(aws_clients, "session", enforced_session)
    monkeypatch.setattr(handlers, "PRINCIPALS", principals)
    # the functions' environment as CloudFormation resolves it for this stack's resources (one process: they agree)
    env = deployed_environment(deployed)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    calls = AwsCalls()
    aws_clients.session().events.register("before-call.*.*", calls.hook)
    aws_clients.session().events.register("provide-client-params.*.*", calls.capture)
    yield Stack(f"{STACK}-table", queues, mnp, definitions, env, calls, principals, enforcer, sqs_queues)
    wiring.reset()
    # zero AccessDenied on every tested path (a test that expects a refusal clears what it checked)
    refused = sorted({(d.principal.function if d.principal else None, d.request.action) for d in enforcer.denied})
    assert refused == [], f"calls the functions' roles refused: {refused}"
