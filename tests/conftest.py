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

from tests.cfn import table_definition

REGION = "us-east-1"
STACK = "batchplane-test"
PRIORITIES = ("low", "normal", "high", "urgent")
CAPACITIES = ("spot", "on-demand")
MAX_JOB_MEMORY_MIB = 62_000
MAX_JOB_VCPUS = 8


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


@dataclass
class Stack:
    """What a deployed stack gives the functions: the table, the queues, the job definitions, as environment."""

    table_name: str
    queues: dict[tuple[str, str], str]
    multi_node_queue: str
    job_definitions: dict[str, str]
    env: dict[str, str]
    calls: AwsCalls

    def queue(self, priority: str, capacity: str) -> str:
        return self.queues[(priority, capacity)]


@pytest.fixture
def aws() -> Iterator[None]:
    from moto import mock_aws

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
    for rank, priority in enumerate(PRIORITIES, start=1):
        for capacity in CAPACITIES:
            queues[(priority, capacity)] = batch.create_job_queue(
                jobQueueName=f"{STACK}-{priority}-{capacity}",
                state="ENABLED",
                priority=rank * 100 + (10 if capacity == "on-demand" else 0),
                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": envs[capacity]}],
            )["jobQueueArn"]
    mnp = batch.create_job_queue(
        jobQueueName=f"{STACK}-multinode",
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


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A provisioned stack on moto, the functions' environment set as the template sets it, calls counted."""
    from batchplane import wiring
    from batchplane.adapters import aws as aws_clients

    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(TableName=f"{STACK}-table", **table_definition())
    queues, mnp, definitions = _make_batch(
        boto3.client("batch", region_name=REGION), boto3.client("iam", region_name=REGION)
    )
    catalogue = [
        {"p": p, "c": c, "q": arn, "v": MAX_JOB_VCPUS, "m": MAX_JOB_MEMORY_MIB, "g": 0}
        for (p, c), arn in queues.items()
    ]
    catalogue.append({"p": "*", "c": "on-demand", "q": mnp, "v": 72, "m": 180_000, "g": 0, "mnp": True})
    env = {
        "TABLE_NAME": f"{STACK}-table",
        "STACK_NAME": STACK,
        "QUEUE_CATALOGUE": json.dumps(catalogue),
        "JOB_DEFINITIONS": json.dumps(definitions),
        "DEFAULT_JOB_DEFINITION": "sample",
        "MULTINODE_JOB_DEFINITIONS": "mnp-sample",
        "TENANT_CLAIM": "sub",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    calls = AwsCalls()
    aws_clients.session().events.register("before-call.*.*", calls.hook)
    aws_clients.session().events.register("provide-client-params.*.*", calls.capture)
    yield Stack(f"{STACK}-table", queues, mnp, definitions, env, calls)
    wiring.reset()
