"""The local Batch's model: the records it keeps (compute environments, queues, definitions, jobs, running
containers), AWS Batch's status names and reason strings, and the pure helpers that read a job's properties."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import fnmatch
import os
import re
import secrets
import signal
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from batchplane_local.batch.spawn import Child

STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
RANK = {s: i for i, s in enumerate(STATUSES)}
RANK["FAILED"] = RANK["SUCCEEDED"]
TERMINAL = frozenset({"SUCCEEDED", "FAILED"})
ACTIVE = frozenset({"STARTING", "RUNNING"})
WAITING = frozenset({"SUBMITTED", "PENDING", "RUNNABLE"})

ESSENTIAL_EXITED = "Essential container in task exited"
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
HOST_TERMINATED = "Host EC2 (instance {instance_id}) terminated."
# Fargate Spot's interruption, as Batch reports it ("Handling Fargate Spot termination notices", ECS developer guide)
FARGATE_SPOT_INTERRUPTED = "Your Spot Task was interrupted."
DEPENDENCY_FAILED = "Dependent Job failed"
# An array parent whose child failed ends FAILED with this reason, no container of its own (batchplane.domain.failures)
ARRAY_CHILD_FAILED = "Array Child Job failed"
TASK_FAILED_TO_START = "Task failed to start"
CAPACITY_REASON = (
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type "
    "[{instance_type}]"
)
MAX_RESOURCE_REASON = (
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the CPU "
    "requirement of the job."
)

MAX_JOB_SIZE_BYTES = 30 * 1024  # SubmitJob's request, as AWS Batch measures it (approximately: its JSON)

Capacity = Literal["spot", "on-demand"]
EventCallback = Callable[[dict[str, Any]], None]
LogCallback = Callable[[str, int, str], None]  # (log stream, timestamp ms, line): each line as the container writes it
JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_REF_RE = re.compile(r"Ref::([A-Za-z0-9_-]+)")


class BatchClientError(Exception):
    """A request AWS Batch would refuse: ClientException, HTTP 400."""

    code = "ClientException"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


def parse_node_range(target: str, num_nodes: int) -> range:
    """`targetNodes` syntax: "2", "0:", ":3", "1:4" (inclusive)."""
    if ":" not in target:
        index = int(target)
        return range(index, index + 1)
    start_text, end_text = target.split(":", 1)
    start = int(start_text) if start_text else 0
    end = int(end_text) if end_text else num_nodes - 1
    return range(start, end + 1)


def requirements(container: Mapping[str, Any]) -> dict[str, str]:
    out = {str(r["type"]): str(r["value"]) for r in container.get("resourceRequirements") or []}
    if "VCPU" not in out and container.get("vcpus") is not None:
        out["VCPU"] = str(container["vcpus"])
    if "MEMORY" not in out and container.get("memory") is not None:
        out["MEMORY"] = str(container["memory"])
    return out


def merge_container(base: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """A container's effective properties: the definition's, with SubmitJob's containerOverrides applied."""
    merged = copy.deepcopy(dict(base))
    for key in ("volumes", "environment", "mountPoints", "ulimits", "resourceRequirements", "secrets"):
        merged.setdefault(key, [])
    if not overrides:
        return merged
    if overrides.get("command") is not None:
        merged["command"] = list(overrides["command"])
    if overrides.get("environment"):
        env = {e["name"]: e.get("value", "") for e in merged["environment"]}
        env.update({e["name"]: e.get("value", "") for e in overrides["environment"]})
        merged["environment"] = [{"name": k, "value": v} for k, v in env.items()]
    reqs = {r["type"]: r for r in merged["resourceRequirements"]}
    for key, rtype in (("vcpus", "VCPU"), ("memory", "MEMORY")):
        if overrides.get(key) is not None:
            reqs[rtype] = {"value": str(overrides[key]), "type": rtype}
    for req in overrides.get("resourceRequirements") or []:
        reqs[req["type"]] = {"value": str(req["value"]), "type": req["type"]}
    merged["resourceRequirements"] = list(reqs.values())
    if overrides.get("instanceType"):
        merged["instanceType"] = overrides["instanceType"]
    return merged


def substitute(command: Sequence[str], parameters: Mapping[str, str]) -> list[str]:
    """Batch's parameter substitution: `Ref::name` in the command becomes the parameter's value (unknown refs stay)."""
    return [_REF_RE.sub(lambda m: parameters.get(m.group(1), m.group(0)), arg) for arg in command]


def glob(pattern: str | None, value: str | None) -> bool:
    if pattern is None:
        return True
    return fnmatch.fnmatchcase(value or "", pattern)


@dataclass(eq=False)
class ComputeEnvironment:
    name: str
    arn: str
    capacity: Capacity
    max_vcpus: int
    instance_types: list[str]
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    used_vcpus: float = 0.0
    tags: dict[str, str] = field(default_factory=dict)
    fargate: bool = False  # a FARGATE / FARGATE_SPOT environment: runs only FARGATE job definitions

    @property
    def cluster_name(self) -> str:
        return f"{self.name}_Batch_{self.uuid}"


@dataclass(eq=False)
class JobQueue:
    name: str
    arn: str
    priority: int
    compute_environments: list[str]
    seq: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class JobDefinition:
    name: str
    revision: int
    arn: str
    type: str
    container_properties: dict[str, Any] | None
    node_properties: dict[str, Any] | None
    parameters: dict[str, str]
    timeout: dict[str, Any] | None
    retry_strategy: dict[str, Any] | None
    tags: dict[str, str]
    propagate_tags: bool
    platform_capabilities: list[str]
    status: str = "ACTIVE"


@dataclass(eq=False)
class Proc:
    """One running container: an attempt of a job, or of one node of a multi-node job."""

    job: Job
    argv: list[str]
    env: dict[str, str]
    cwd: str
    mem_limit: int | None
    timeout_s: float | None
    log_stream: str
    instance_id: str
    lines: list[str]
    popen: Child | None = None  # its process (the fork server started it)
    started_at: int | None = None
    kill_reason: str | None = None
    hard_kill: bool = False
    term_at: float | None = None
    done: bool = False

    def signal(self, sig: signal.Signals) -> None:
        """Signal the container's whole process group (nothing if it has not started)."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def request_kill(self, reason: str, *, hard: bool) -> None:
        """Ask the container to stop for ``reason`` (the first reason stands); a hard kill is SIGKILL, now."""
        if self.kill_reason is None:
            self.kill_reason = reason
            self.hard_kill = hard
        elif hard:
            self.hard_kill = True
        if hard:
            self.signal(signal.SIGKILL)


@dataclass(eq=False)
class Job:
    job_id: str
    name: str
    queue: JobQueue
    definition: JobDefinition
    seq: int
    created_at: int
    parameters: dict[str, str]
    container: dict[str, Any] | None
    retry_strategy: dict[str, Any]
    timeout: dict[str, Any] | None
    tags: dict[str, str]
    propagate_tags: bool
    depends_on: list[dict[str, Any]]
    wait_on: list[str]
    share_identifier: str | None = None
    scheduling_priority: int | None = None
    status: str = "SUBMITTED"
    status_reason: str | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    is_cancelled: bool = False
    is_terminated: bool = False
    terminate_reason: str | None = None
    # array jobs
    array_size: int | None = None
    array_index: int | None = None
    parent: Job | None = None
    children: list[Job] = field(default_factory=list)
    summary_updated_at: int | None = None
    # multi-node parallel jobs
    node_properties: dict[str, Any] | None = None
    node_index: int | None = None
    is_main_node: bool = False
    nodes: list[Job] = field(default_factory=list)
    main_outcome: tuple[bool, str, dict[str, Any], str | None] | None = None
    live_nodes: int = 0
    # runtime
    ce: ComputeEnvironment | None = None
    alloc_vcpus: float = 0.0
    procs: list[Proc] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return self.queue.arn.split(":job-queue/")[0] + f":job/{self.job_id}"

    @property
    def is_array_parent(self) -> bool:
        return self.array_size is not None

    @property
    def is_mnp_parent(self) -> bool:
        return self.node_properties is not None and self.node_index is None


def vcpus(job: Job) -> float:
    """The vCPUs a job needs (a multi-node job: the sum of its nodes')."""
    if job.is_mnp_parent:
        return sum(vcpus(node) for node in job.nodes)
    reqs = requirements(job.container or {})
    return float(reqs.get("VCPU", 1))


def procs_of(job: Job) -> list[Proc]:
    """The containers running for a job (a multi-node job: its nodes')."""
    if job.is_mnp_parent:
        return [p for node in job.nodes for p in node.procs]
    return list(job.procs)
