"""LocalBatch: an AWS Batch that really runs jobs, as subprocesses, on this machine.

What it mirrors from AWS Batch (each point checked against the AWS docs or the botocore service model):

- Job lifecycle SUBMITTED -> PENDING -> RUNNABLE -> STARTING -> RUNNING -> SUCCEEDED | FAILED, each transition
  published as an EventBridge "Batch Job State Change" event whose ``detail`` is the JobDetail that DescribeJobs
  returns at that moment. AWS sends no event for the initial SUBMITTED state ("Events aren't created for the initial
  job submission"), so neither do we. A job with no dependency goes SUBMITTED -> RUNNABLE (PENDING is published only
  while a job waits on another job, or always with ``publish_pending=True``).
- Scheduling: compute environments (CEs) have ``max_vcpus`` of capacity; job queues are served in descending
  priority, FIFO within a queue, each queue trying its CEs in order. A RUNNABLE job that cannot fit for a structural
  reason carries the statusReason AWS gives (CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY when every CE has no capacity,
  MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE when the job is bigger than every CE) only when it is the job at
  the head of its queue, as AWS does ("If AWS Batch detects that you have a RUNNABLE job at the head and blocking the
  queue, you'll receive a Job queue blocked event ... The same reason is also updated into the statusReason field"):
  the head gets the reason and a "Batch Job Queue Blocked" event, the jobs waiting behind it get neither, and when the
  head leaves (placed, cancelled, terminated) the next job becomes the head and is judged in turn. Head-of-line
  blocking itself is not modelled: a later job that fits is still placed.
- An attempt runs the container command (``Ref::name`` parameters substituted) as a subprocess in its own process
  group, with the variables Batch sets (AWS_BATCH_JOB_ID, AWS_BATCH_JOB_ATTEMPT, AWS_BATCH_JQ_NAME,
  AWS_BATCH_CE_NAME, array and multi-node variables) plus the container environment. stdout+stderr are the attempt's
  log stream ``<jobDefinitionName>/default/<task id>``.
- Memory (MEMORY requirement, MiB) is enforced on the process tree's RSS: exitCode 137, container.reason
  "OutOfMemoryError: Container killed due to memory usage", statusReason "Essential container in task exited".
- Timeout (attemptDurationSeconds; any positive value is accepted locally) sends SIGTERM then SIGKILL after a grace
  (ECS uses 30 s; 2 s here by default), statusReason "Job attempt duration exceeded timeout".
- ``interrupt()`` is a Spot reclaim / host failure: statusReason "Host EC2 (instance i-...) terminated.", no exitCode.
- retryStrategy (attempts, evaluateOnExit globs, RETRY/EXIT; no rule matching means retry), CancelJob (SUBMITTED,
  PENDING, RUNNABLE only) and TerminateJob (also STARTING/RUNNING); the caller's reason becomes statusReason.
- Array jobs (children ``<parentId>:<index>``, N_TO_N and SEQUENTIAL dependencies; a parent with a failed child
  ends FAILED "Array Child Job failed" once every child has ended), multi-node parallel jobs (nodes
  ``<jobId>#<index>``, the main node's exit decides, the other nodes are stopped when it exits), dependsOn (a FAILED
  dependency fails the dependent with "Dependent Job failed").
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import fnmatch
import json
import logging
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import psutil

log = logging.getLogger(__name__)

STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
_RANK = {s: i for i, s in enumerate(STATUSES)}
_RANK["FAILED"] = _RANK["SUCCEEDED"]
TERMINAL = frozenset({"SUCCEEDED", "FAILED"})
ACTIVE = frozenset({"STARTING", "RUNNING"})
WAITING = frozenset({"SUBMITTED", "PENDING", "RUNNABLE"})

ESSENTIAL_EXITED = "Essential container in task exited"
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
HOST_TERMINATED = "Host EC2 (instance {instance_id}) terminated."
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
_JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_REF_RE = re.compile(r"Ref::([A-Za-z0-9_-]+)")


class BatchClientError(Exception):
    """A request AWS Batch would refuse: ClientException, HTTP 400."""

    code = "ClientException"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


def _parse_node_range(target: str, num_nodes: int) -> range:
    """`targetNodes` syntax: "2", "0:", ":3", "1:4" (inclusive)."""
    if ":" not in target:
        index = int(target)
        return range(index, index + 1)
    start_text, end_text = target.split(":", 1)
    start = int(start_text) if start_text else 0
    end = int(end_text) if end_text else num_nodes - 1
    return range(start, end + 1)


def _requirements(container: Mapping[str, Any]) -> dict[str, str]:
    out = {str(r["type"]): str(r["value"]) for r in container.get("resourceRequirements") or []}
    if "VCPU" not in out and container.get("vcpus") is not None:
        out["VCPU"] = str(container["vcpus"])
    if "MEMORY" not in out and container.get("memory") is not None:
        out["MEMORY"] = str(container["memory"])
    return out


def _merge_container(base: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
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


def _substitute(command: Sequence[str], parameters: Mapping[str, str]) -> list[str]:
    """Batch's parameter substitution: `Ref::name` in the command becomes the parameter's value (unknown refs stay)."""
    return [_REF_RE.sub(lambda m: parameters.get(m.group(1), m.group(0)), arg) for arg in command]


def _glob(pattern: str | None, value: str | None) -> bool:
    if pattern is None:
        return True
    return fnmatch.fnmatchcase(value or "", pattern)


def _reap(popen: subprocess.Popen[bytes]) -> int | None:
    """None while the process runs; once it has ended, its peak RSS in bytes (the largest of it and the children it
    waited for: wait4's ru_maxrss, KiB on Linux), with ``popen.returncode`` set as ``poll()`` would."""
    try:
        pid, status, usage = os.wait4(popen.pid, os.WNOHANG)
    except ChildProcessError:  # reaped elsewhere: no peak to read
        return None if popen.poll() is None else 0
    if pid == 0:
        return None
    popen.returncode = os.waitstatus_to_exitcode(status)
    return int(usage.ru_maxrss) * 1024


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


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
class _Proc:
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
    popen: subprocess.Popen[bytes] | None = None
    started_at: int | None = None
    kill_reason: str | None = None
    hard_kill: bool = False
    term_at: float | None = None
    done: bool = False


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
    procs: list[_Proc] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return self.queue.arn.split(":job-queue/")[0] + f":job/{self.job_id}"

    @property
    def is_array_parent(self) -> bool:
        return self.array_size is not None

    @property
    def is_mnp_parent(self) -> bool:
        return self.node_properties is not None and self.node_index is None


class LocalBatch:
    """A thread-safe AWS Batch emulator. `start()` runs the scheduler; `stop()` kills every process it started."""

    def __init__(
        self,
        *,
        on_event: EventCallback | None = None,
        region: str = "us-east-1",
        account: str = "123456789012",
        poll_interval: float = 0.02,
        monitor_interval: float = 0.05,
        kill_grace_seconds: float = 2.0,
        log_dir: str | os.PathLike[str] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        base_env: Mapping[str, str] | None = None,
        publish_pending: bool = False,
    ) -> None:
        self.on_event = on_event
        self.region = region
        self.account = account
        self.poll_interval = poll_interval
        self.monitor_interval = monitor_interval
        self.kill_grace_seconds = kill_grace_seconds
        self.log_dir = Path(log_dir) if log_dir else None
        self._work_dir_arg = Path(work_dir) if work_dir else None
        self._work_dir: Path | None = None
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.publish_pending = publish_pending
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._dirty = False
        self._stopping = False
        self._seq = 0
        self._ces: dict[str, ComputeEnvironment] = {}
        self._queues: dict[str, JobQueue] = {}
        self._defs: dict[str, list[JobDefinition]] = {}
        self._jobs: dict[str, Job] = {}
        self._logs: dict[str, list[str]] = {}
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._scheduler: threading.Thread | None = None
        self._dispatcher: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalBatch:
        with self._lock:
            if self._scheduler is not None:
                return self
            self._stopping = False
            if self._work_dir_arg is not None:
                self._work_dir_arg.mkdir(parents=True, exist_ok=True)
                self._work_dir = self._work_dir_arg
            else:
                self._work_dir = Path(tempfile.mkdtemp(prefix="batchplane-local-batch-"))
            self._scheduler = threading.Thread(target=self._schedule_loop, name="local-batch-scheduler", daemon=True)
            self._dispatcher = threading.Thread(target=self._dispatch_loop, name="local-batch-events", daemon=True)
        self._scheduler.start()
        self._dispatcher.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scheduling, SIGKILL every job's process group, deliver the events already queued."""
        with self._cond:
            self._stopping = True
            procs = [p for job in self._jobs.values() for p in job.procs]
            self._cond.notify_all()
        for proc in procs:
            self._killpg(proc, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        for thread in [self._scheduler, *self._threads]:
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._events.put(None)
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            self._dispatcher.join(max(0.1, deadline - time.monotonic()))
        with self._lock:
            self._scheduler = None
            self._dispatcher = None
            self._threads = []
            if self._work_dir is not None and self._work_dir_arg is None:
                shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    def __enter__(self) -> LocalBatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ resources

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:batch:{self.region}:{self.account}:{kind}/{name}"

    def add_compute_environment(
        self,
        name: str,
        *,
        capacity: Capacity,
        max_vcpus: int,
        instance_types: Sequence[str] = ("optimal",),
        arn: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        if capacity not in ("spot", "on-demand"):
            raise ValueError(f"capacity must be 'spot' or 'on-demand', not {capacity!r}")
        with self._cond:
            ce = ComputeEnvironment(
                name=name,
                arn=arn or self._arn("compute-environment", name),
                capacity=capacity,
                max_vcpus=int(max_vcpus),
                instance_types=list(instance_types) or ["optimal"],
                tags=dict(tags or {}),
            )
            self._ces[name] = ce
            self._kick()
            return ce.arn

    def add_job_queue(
        self,
        name: str,
        *,
        priority: int,
        compute_environments: Sequence[str],
        arn: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        with self._cond:
            names = [self._ce(ce).name for ce in compute_environments]
            self._seq += 1
            jq = JobQueue(name, arn or self._arn("job-queue", name), int(priority), names, self._seq, dict(tags or {}))
            self._queues[name] = jq
            self._kick()
            return jq.arn

    def register_job_definition(
        self,
        name: str,
        *,
        type: Literal["container", "multinode"] = "container",
        container_properties: Mapping[str, Any] | None = None,
        node_properties: Mapping[str, Any] | None = None,
        parameters: Mapping[str, str] | None = None,
        timeout: Mapping[str, Any] | None = None,
        retry_strategy: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        propagate_tags: bool = False,
        platform_capabilities: Sequence[str] = ("EC2",),
        arn: str | None = None,
    ) -> str:
        if type == "container" and not container_properties:
            raise BatchClientError("containerProperties is required for a container job definition")
        if type == "multinode" and not node_properties:
            raise BatchClientError("nodeProperties is required for a multinode job definition")
        with self._lock:
            revisions = self._defs.setdefault(name, [])
            revision = len(revisions) + 1
            jd = JobDefinition(
                name=name,
                revision=revision,
                arn=arn or self._arn("job-definition", f"{name}:{revision}"),
                type=type,
                container_properties=copy.deepcopy(dict(container_properties)) if container_properties else None,
                node_properties=copy.deepcopy(dict(node_properties)) if node_properties else None,
                parameters=dict(parameters or {}),
                timeout=dict(timeout) if timeout else None,
                retry_strategy=copy.deepcopy(dict(retry_strategy)) if retry_strategy else None,
                tags=dict(tags or {}),
                propagate_tags=propagate_tags,
                platform_capabilities=list(platform_capabilities),
            )
            revisions.append(jd)
            return jd.arn

    def set_capacity(self, ce_name: str, max_vcpus: int) -> None:
        with self._cond:
            self._ce(ce_name).max_vcpus = int(max_vcpus)
            self._kick()

    def compute_environments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "name": ce.name,
                    "arn": ce.arn,
                    "capacity": ce.capacity,
                    "maxvCpus": ce.max_vcpus,
                    "usedvCpus": ce.used_vcpus,
                    "desiredvCpus": ce.used_vcpus,
                    "instanceTypes": list(ce.instance_types),
                }
                for ce in self._ces.values()
            ]

    def _ce(self, name_or_arn: str) -> ComputeEnvironment:
        for ce in self._ces.values():
            if name_or_arn in (ce.name, ce.arn):
                return ce
        raise BatchClientError(f"ComputeEnvironment {name_or_arn} does not exist")

    def _queue(self, name_or_arn: str) -> JobQueue:
        for jq in self._queues.values():
            if name_or_arn in (jq.name, jq.arn):
                return jq
        raise BatchClientError(f"Job queue {name_or_arn} does not exist")

    def _definition(self, ref: str) -> JobDefinition:
        for revisions in self._defs.values():
            for jd in revisions:
                if ref == jd.arn:
                    return jd
        name, _, rev = ref.partition(":")
        revisions = [jd for jd in self._defs.get(name, []) if jd.status == "ACTIVE"]
        if rev:
            revisions = [jd for jd in revisions if str(jd.revision) == rev]
        if not revisions:
            raise BatchClientError(f"Job definition {ref} does not exist")
        return revisions[-1]

    def job_definition_arn(self, ref: str) -> str | None:
        """The ARN a definition name (or name:revision) resolves to, as Batch resolves it for IAM (None: unknown)."""
        with self._lock:
            try:
                return self._definition(ref).arn
            except BatchClientError:
                return None

    def job_tags(self, job_id: str) -> dict[str, str]:
        """A job's tags (what IAM's aws:ResourceTag reads); none for a job Batch does not know."""
        with self._lock:
            job = self._jobs.get(job_id)
            return dict(job.tags) if job else {}

    # ------------------------------------------------------------------ submit

    def submit_job(self, **request: Any) -> dict[str, str]:
        """SubmitJob with the API's own request members; returns {"jobArn", "jobName", "jobId"}."""
        size = len(json.dumps(request, separators=(",", ":")).encode())
        if size > MAX_JOB_SIZE_BYTES:  # AWS: "Job size must be less than 30 KiB, got 47 KiB" (ClientException)
            raise BatchClientError(f"Job size must be less than 30 KiB, got {(size + 1023) // 1024} KiB")
        known = {
            "jobName",
            "jobQueue",
            "jobDefinition",
            "parameters",
            "containerOverrides",
            "nodeOverrides",
            "arrayProperties",
            "dependsOn",
            "retryStrategy",
            "timeout",
            "tags",
            "propagateTags",
            "shareIdentifier",
            "schedulingPriorityOverride",
            "eksPropertiesOverride",
            "ecsPropertiesOverride",
            "consumableResourcePropertiesOverride",
        }
        unknown = sorted(set(request) - known)
        if unknown:
            raise BatchClientError(f"Unknown parameter(s) in SubmitJob: {', '.join(unknown)}")
        self._validate_request(request)
        name = str(request["jobName"])
        with self._cond:
            return self._submit(name, request)

    def _validate_request(self, request: Mapping[str, Any]) -> None:
        for required in ("jobName", "jobQueue", "jobDefinition"):
            if not request.get(required):
                raise BatchClientError(f"{required} is required")
        name = str(request["jobName"])
        if not _JOB_NAME_RE.match(name):
            raise BatchClientError(
                "Job name should be between 1 and 128 characters, can contain uppercase and lowercase letters, "
                "numbers, hyphens and underscores, and must start with a letter or number"
            )

    def _submit(self, name: str, request: Mapping[str, Any]) -> dict[str, str]:
        jq = self._queue(str(request["jobQueue"]))
        jd = self._definition(str(request["jobDefinition"]))
        size = (request.get("arrayProperties") or {}).get("size")
        if size is not None and not 2 <= int(size) <= 10000:
            raise BatchClientError("Array job size must be between 2 and 10000")
        if size is not None and jd.type == "multinode":
            raise BatchClientError("Array jobs are not supported for multi-node parallel job definitions")
        timeout = request.get("timeout") or jd.timeout
        if timeout and float(timeout.get("attemptDurationSeconds", 1)) <= 0:
            raise BatchClientError("timeout.attemptDurationSeconds must be positive")
        retry = copy.deepcopy(request.get("retryStrategy") or jd.retry_strategy or {"attempts": 1})
        retry.setdefault("attempts", 1)
        retry.setdefault("evaluateOnExit", [])
        if not 1 <= int(retry["attempts"]) <= 10:
            raise BatchClientError("retryStrategy.attempts must be between 1 and 10")
        depends_on = [dict(d) for d in request.get("dependsOn") or []]
        if len(depends_on) > 20:
            raise BatchClientError("A job can depend on at most 20 jobs")
        for dep in depends_on:
            dep_type = dep.get("type")
            if dep_type not in (None, "N_TO_N", "SEQUENTIAL"):
                raise BatchClientError(f"Invalid dependency type {dep_type}")
            if dep_type in ("N_TO_N", "SEQUENTIAL") and size is None:
                raise BatchClientError(f"{dep_type} dependencies are only valid for array jobs")
            if dep_type != "SEQUENTIAL" and dep.get("jobId") not in self._jobs:
                raise BatchClientError(f"Dependency job {dep.get('jobId')} does not exist")
        parameters = {**jd.parameters, **(request.get("parameters") or {})}
        propagate = bool(request.get("propagateTags", jd.propagate_tags))
        tags = {**(jd.tags if propagate else {}), **(request.get("tags") or {})}
        container = None
        if jd.container_properties is not None:
            container = _merge_container(jd.container_properties, request.get("containerOverrides"))
            if container.get("command"):
                container["command"] = _substitute(container["command"], parameters)
        self._seq += 1
        job_id = str(uuid.uuid4())
        job = Job(
            job_id=job_id,
            name=name,
            queue=jq,
            definition=jd,
            seq=self._seq,
            created_at=_now_ms(),
            parameters=parameters,
            container=container,
            retry_strategy=retry,
            timeout=dict(timeout) if timeout else None,
            tags=tags,
            propagate_tags=propagate,
            depends_on=depends_on,
            wait_on=[d["jobId"] for d in depends_on if d.get("type") not in ("N_TO_N", "SEQUENTIAL")],
            share_identifier=request.get("shareIdentifier"),
            scheduling_priority=request.get("schedulingPriorityOverride"),
            array_size=int(size) if size is not None else None,
        )
        if jd.type == "multinode":
            self._init_nodes(job, request.get("nodeOverrides"))
        self._jobs[job_id] = job
        self._kick()
        return {"jobArn": job.arn, "jobName": name, "jobId": job_id}

    def _init_nodes(self, job: Job, overrides: Mapping[str, Any] | None) -> None:
        props = copy.deepcopy(job.definition.node_properties or {})
        num_nodes = int((overrides or {}).get("numNodes") or props["numNodes"])
        props["numNodes"] = num_nodes
        main = int(props.get("mainNode", 0))
        if not 0 <= main < num_nodes:
            raise BatchClientError("mainNode must be a node index below numNodes")
        containers: dict[int, dict[str, Any]] = {}
        for rng in props.get("nodeRangeProperties") or []:
            for i in _parse_node_range(str(rng.get("targetNodes", "0:")), num_nodes):
                containers[i] = rng.get("container") or {}
        node_overrides: dict[int, dict[str, Any]] = {}
        for ov in (overrides or {}).get("nodePropertyOverrides") or []:
            for i in _parse_node_range(str(ov.get("targetNodes", "0:")), num_nodes):
                node_overrides[i] = ov.get("containerOverrides") or {}
        job.node_properties = props
        for i in range(num_nodes):
            if i not in containers:
                raise BatchClientError(f"Node {i} is not covered by any nodeRangeProperties targetNodes")
            container = _merge_container(containers[i], node_overrides.get(i))
            if container.get("command"):
                container["command"] = _substitute(container["command"], job.parameters)
            self._seq += 1
            node = Job(
                job_id=f"{job.job_id}#{i}",
                name=job.name,
                queue=job.queue,
                definition=job.definition,
                seq=self._seq,
                created_at=job.created_at,
                parameters=job.parameters,
                container=container,
                retry_strategy=job.retry_strategy,
                timeout=job.timeout,
                tags=job.tags,
                propagate_tags=job.propagate_tags,
                depends_on=[],
                wait_on=[],
                parent=job,
                node_properties=props,
                node_index=i,
                is_main_node=i == main,
            )
            job.nodes.append(node)
            self._jobs[node.job_id] = node

    # ------------------------------------------------------------------ control

    def cancel_job(self, job_id: str, reason: str) -> None:
        """CancelJob: only SUBMITTED, PENDING and RUNNABLE jobs are cancelled; STARTING/RUNNING ones carry on."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return
            if job.is_array_parent:
                job.terminate_reason = reason
                for child in job.children:
                    if child.status in WAITING:
                        child.is_cancelled = True
                        self._fail(child, reason)
            if job.status in WAITING:
                job.is_cancelled = True
                if job.is_array_parent and job.children:
                    self._refresh_array_parent(job)
                else:
                    self._fail(job, reason)
            self._kick()

    def terminate_job(self, job_id: str, reason: str) -> None:
        """TerminateJob: like CancelJob, and STARTING/RUNNING jobs are stopped (SIGTERM, then SIGKILL after a grace)."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return
            if job.node_index is not None and job.parent is not None:
                job = job.parent
            targets = [*job.children, job] if job.is_array_parent else [job]
            if job.is_array_parent and job.status not in TERMINAL:
                job.terminate_reason = reason
            for target in targets:
                if target.status in TERMINAL:
                    continue
                target.is_terminated = True
                if target.status in ACTIVE:
                    target.terminate_reason = reason
                    for proc in self._procs_of(target):
                        self._request_kill(proc, "terminate", hard=False)
                elif target.is_array_parent and target.children:
                    self._refresh_array_parent(target)
                else:
                    self._fail(target, reason)
            self._kick()

    def interrupt(self, job_id: str) -> bool:
        """Fail the running attempt as AWS does on a Spot reclaim (or a host failure on On-Demand)."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                raise BatchClientError(f"Job {job_id} does not exist")
            if job.node_index is not None and job.parent is not None:
                job = job.parent
            procs = self._procs_of(job)
            if job.status not in ACTIVE or not procs:
                return False
            for proc in procs:
                self._request_kill(proc, "interrupt", hard=True)
            return True

    def _procs_of(self, job: Job) -> list[_Proc]:
        if job.is_mnp_parent:
            return [p for node in job.nodes for p in node.procs]
        return list(job.procs)

    # ------------------------------------------------------------------ read

    def submitted(self) -> list[dict[str, str]]:
        """Every job SubmitJob made (not array children or nodes): id, name, status."""
        with self._lock:
            return [
                {"jobId": j.job_id, "jobName": j.name, "status": j.status}
                for j in self._jobs.values()
                if j.parent is None and j.node_index is None
            ]

    def describe_jobs(self, job_ids: Iterable[str]) -> list[dict[str, Any]]:
        ids = list(job_ids)
        if len(ids) > 100:
            raise BatchClientError("jobs must contain at most 100 job IDs")
        with self._lock:
            return [self._detail(self._jobs[i]) for i in ids if i in self._jobs]

    def list_jobs(
        self,
        *,
        jobQueue: str | None = None,  # noqa: N803 - the API's member names
        arrayJobId: str | None = None,  # noqa: N803
        multiNodeJobId: str | None = None,  # noqa: N803
        jobStatus: str | None = None,  # noqa: N803
        filters: Sequence[Mapping[str, Any]] | None = None,
        maxResults: int | None = None,  # noqa: N803
        nextToken: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        with self._lock:
            if arrayJobId:
                parent = self._jobs.get(arrayJobId)
                jobs = list(parent.children) if parent else []
            elif multiNodeJobId:
                parent = self._jobs.get(multiNodeJobId)
                jobs = list(parent.nodes) if parent else []
            elif jobQueue:
                jq = self._queue(jobQueue)
                jobs = [j for j in self._jobs.values() if j.queue is jq and j.parent is None]
            else:
                raise BatchClientError("Either jobQueue, arrayJobId or multiNodeJobId must be specified")
            if filters:
                for flt in filters:
                    name, values = flt.get("name"), list(flt.get("values") or [])
                    jobs = [j for j in jobs if self._filter_matches(j, str(name), values)]
            else:
                if jobStatus is not None and jobStatus not in STATUSES:
                    raise BatchClientError(f"Invalid jobStatus {jobStatus}")
                status = jobStatus or "RUNNING"
                jobs = [j for j in jobs if j.status == status]
            jobs.sort(key=lambda j: j.seq, reverse=True)
            start = int(nextToken or 0)
            end = start + int(maxResults or 100)
            out: dict[str, Any] = {"jobSummaryList": [self._summary(j) for j in jobs[start:end]]}
            if end < len(jobs):
                out["nextToken"] = str(end)
            return out

    def _filter_matches(self, job: Job, name: str, values: list[str]) -> bool:
        if not values:
            return True
        value = values[0]
        if name == "JOB_NAME":
            return _glob(value, job.name)
        if name == "JOB_DEFINITION":
            return value in (job.definition.arn, job.definition.name, f"{job.definition.name}:*") or _glob(
                value, f"{job.definition.name}:{job.definition.revision}"
            )
        if name == "BEFORE_CREATED_AT":
            return job.created_at < int(value)
        if name == "AFTER_CREATED_AT":
            return job.created_at > int(value)
        raise BatchClientError(f"Invalid filter name {name}")

    def describe_job_queues(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            queues = [self._queue(n) for n in names] if names else list(self._queues.values())
            return [
                {
                    "jobQueueName": jq.name,
                    "jobQueueArn": jq.arn,
                    "state": "ENABLED",
                    "status": "VALID",
                    "statusReason": "JobQueue Healthy",
                    "priority": jq.priority,
                    "computeEnvironmentOrder": [
                        {"order": i + 1, "computeEnvironment": self._ces[ce].arn}
                        for i, ce in enumerate(jq.compute_environments)
                    ],
                    "jobQueueType": "ECS",
                    "tags": dict(jq.tags),
                    "jobStateTimeLimitActions": [],
                }
                for jq in queues
            ]

    def describe_compute_environments(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            ces = [self._ce(n) for n in names] if names else list(self._ces.values())
            return [
                {
                    "computeEnvironmentName": ce.name,
                    "computeEnvironmentArn": ce.arn,
                    "ecsClusterArn": f"arn:aws:ecs:{self.region}:{self.account}:cluster/{ce.cluster_name}",
                    "tags": dict(ce.tags),
                    "type": "MANAGED",
                    "state": "ENABLED",
                    "status": "VALID",
                    "statusReason": "ComputeEnvironment Healthy",
                    "computeResources": {
                        "type": "SPOT" if ce.capacity == "spot" else "EC2",
                        "allocationStrategy": (
                            "SPOT_PRICE_CAPACITY_OPTIMIZED" if ce.capacity == "spot" else "BEST_FIT_PROGRESSIVE"
                        ),
                        "minvCpus": 0,
                        "maxvCpus": ce.max_vcpus,
                        # as Batch sets it from queue demand: what runs plus what waits RUNNABLE for it, up to max
                        "desiredvCpus": min(ce.max_vcpus, int(ce.used_vcpus + self._waiting_vcpus(ce) + 0.999)),
                        "instanceTypes": list(ce.instance_types),
                        "subnets": [],
                        "securityGroupIds": [],
                        "tags": {},
                        "ec2Configuration": [{"imageType": "ECS_AL2023"}],
                    },
                    "serviceRole": f"arn:aws:iam::{self.account}:role/aws-service-role/batch.amazonaws.com/"
                    "AWSServiceRoleForBatch",
                    "updatePolicy": {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 30},
                    "containerOrchestrationType": "ECS",
                    "uuid": ce.uuid,
                }
                for ce in ces
            ]

    def _waiting_vcpus(self, ce: ComputeEnvironment) -> float:
        """vCPUs of RUNNABLE jobs whose queue lists ``ce`` (the demand a managed environment scales out for)."""
        return sum(
            self._vcpus(j)
            for j in self._jobs.values()
            if j.status == "RUNNABLE"
            and not j.is_array_parent
            and j.node_index is None
            and ce.name in j.queue.compute_environments
        )

    def describe_job_definitions(
        self,
        job_definitions: Iterable[str] | None = None,
        *,
        job_definition_name: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        with self._lock:
            if job_definitions:
                defs = []
                for ref in job_definitions:
                    with contextlib.suppress(BatchClientError):
                        defs.append(self._definition(ref))
            else:
                defs = [jd for revs in self._defs.values() for jd in revs]
            if job_definition_name:
                defs = [jd for jd in defs if jd.name == job_definition_name]
            if status:
                defs = [jd for jd in defs if jd.status == status]
            return [self._definition_detail(jd) for jd in defs]

    def _definition_detail(self, jd: JobDefinition) -> dict[str, Any]:
        out: dict[str, Any] = {
            "jobDefinitionName": jd.name,
            "jobDefinitionArn": jd.arn,
            "revision": jd.revision,
            "status": jd.status,
            "type": jd.type,
            "parameters": dict(jd.parameters),
            "tags": dict(jd.tags),
            "propagateTags": jd.propagate_tags,
            "platformCapabilities": list(jd.platform_capabilities),
            "containerOrchestrationType": "ECS",
        }
        if jd.container_properties is not None:
            out["containerProperties"] = copy.deepcopy(jd.container_properties)
        if jd.node_properties is not None:
            out["nodeProperties"] = copy.deepcopy(jd.node_properties)
        if jd.retry_strategy is not None:
            out["retryStrategy"] = copy.deepcopy(jd.retry_strategy)
        if jd.timeout is not None:
            out["timeout"] = dict(jd.timeout)
        return out

    def logs(self, log_stream_name: str) -> list[str]:
        with self._lock:
            return list(self._logs.get(log_stream_name, []))

    def wait_for(self, job_id: str, statuses: Iterable[str] = TERMINAL, timeout: float = 30.0) -> dict[str, Any]:
        """Block until the job reaches one of `statuses`; returns its JobDetail (TimeoutError otherwise)."""
        wanted = set(statuses)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                job = self._jobs.get(job_id)
                if job is not None and job.status in wanted:
                    return self._detail(job)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    status = job.status if job else "unknown"
                    raise TimeoutError(f"job {job_id} is {status}, not in {sorted(wanted)} after {timeout}s")
                self._cond.wait(min(remaining, 0.1))

    def flush_events(self, timeout: float = 5.0) -> None:
        """Wait until every event published so far has been handed to `on_event`."""
        deadline = time.monotonic() + timeout
        while self._events.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    # ------------------------------------------------------------------ tags

    def _tagged(self, arn: str) -> dict[str, str]:
        for ce in self._ces.values():
            if ce.arn == arn:
                return ce.tags
        for jq in self._queues.values():
            if jq.arn == arn:
                return jq.tags
        for revs in self._defs.values():
            for jd in revs:
                if jd.arn == arn:
                    return jd.tags
        for job in self._jobs.values():
            if job.arn == arn:
                return job.tags
        raise BatchClientError(f"Resource {arn} not found")

    def tag_resource(self, arn: str, tags: Mapping[str, str]) -> None:
        with self._lock:
            self._tagged(arn).update(tags)

    def untag_resource(self, arn: str, tag_keys: Iterable[str]) -> None:
        with self._lock:
            tags = self._tagged(arn)
            for key in tag_keys:
                tags.pop(key, None)

    def list_tags_for_resource(self, arn: str) -> dict[str, str]:
        with self._lock:
            return dict(self._tagged(arn))

    # ------------------------------------------------------------------ JobDetail

    def _detail(self, job: Job) -> dict[str, Any]:
        d: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "jobId": job.job_id,
            "jobQueue": job.queue.arn,
            "status": job.status,
            "attempts": copy.deepcopy(job.attempts),
            "createdAt": job.created_at,
            "retryStrategy": copy.deepcopy(job.retry_strategy),
            "dependsOn": copy.deepcopy(job.depends_on),
            "jobDefinition": job.definition.arn,
            "parameters": dict(job.parameters),
            "tags": dict(job.tags),
            "propagateTags": job.propagate_tags,
            "platformCapabilities": list(job.definition.platform_capabilities),
            "eksAttempts": [],
        }
        if job.status_reason is not None:
            d["statusReason"] = job.status_reason
        if job.started_at is not None:
            d["startedAt"] = job.started_at
        if job.stopped_at is not None:
            d["stoppedAt"] = job.stopped_at
        if job.container is not None:
            d["container"] = copy.deepcopy(job.container)
        if job.timeout is not None:
            d["timeout"] = dict(job.timeout)
        if job.share_identifier is not None:
            d["shareIdentifier"] = job.share_identifier
        if job.scheduling_priority is not None:
            d["schedulingPriority"] = job.scheduling_priority
        if job.is_cancelled:
            d["isCancelled"] = True
        if job.is_terminated:
            d["isTerminated"] = True
        if job.is_array_parent:
            d["arrayProperties"] = {"statusSummary": self._status_summary(job), "size": job.array_size}
            if job.summary_updated_at is not None:
                d["arrayProperties"]["statusSummaryLastUpdatedAt"] = job.summary_updated_at
        elif job.array_index is not None:
            d["arrayProperties"] = {"index": job.array_index}
        if job.node_properties is not None:
            d["nodeProperties"] = copy.deepcopy(job.node_properties)
            if job.node_index is not None:
                d["nodeDetails"] = {"nodeIndex": job.node_index, "isMainNode": job.is_main_node}
        return d

    def _status_summary(self, job: Job) -> dict[str, int]:
        if not job.children:
            return {}
        summary = dict.fromkeys(STATUSES, 0)
        for child in job.children:
            summary[child.status] += 1
        return summary

    def _summary(self, job: Job) -> dict[str, Any]:
        s: dict[str, Any] = {
            "jobArn": job.arn,
            "jobId": job.job_id,
            "jobName": job.name,
            "createdAt": job.created_at,
            "status": job.status,
            "jobDefinition": job.definition.arn,
        }
        optional = {
            "statusReason": job.status_reason,
            "startedAt": job.started_at,
            "stoppedAt": job.stopped_at,
            "shareIdentifier": job.share_identifier,
        }
        s.update({key: value for key, value in optional.items() if value is not None})
        if job.container is not None and job.attempts:
            last = job.attempts[-1].get("container", {})
            s["container"] = {k: last[k] for k in ("exitCode", "reason") if k in last}
        if job.is_array_parent:
            s["arrayProperties"] = {"size": job.array_size, "statusSummary": self._status_summary(job)}
        elif job.array_index is not None:
            s["arrayProperties"] = {"index": job.array_index}
        if job.node_properties is not None:
            s["nodeProperties"] = {"numNodes": job.node_properties["numNodes"]}
            if job.node_index is not None:
                s["nodeProperties"].update(nodeIndex=job.node_index, isMainNode=job.is_main_node)
        if job.is_cancelled:
            s["isCancelled"] = True
        if job.is_terminated:
            s["isTerminated"] = True
        return s

    # ------------------------------------------------------------------ transitions (call with the lock held)

    def _kick(self) -> None:
        self._dirty = True
        self._cond.notify_all()

    def _publish(self, job: Job) -> None:
        if self._stopping:
            return
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Batch Job State Change",
            "source": "aws.batch",
            "account": self.account,
            "time": _iso_now(),
            "region": self.region,
            "resources": [job.arn],
            "detail": self._detail(job),
        }
        self._events.put(event)

    def _publish_blocked(self, job: Job) -> None:
        """AWS's "Batch Job Queue Blocked" event: the JobDetail of the RUNNABLE job blocking the head of its queue."""
        if self._stopping:
            return
        self._events.put(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Batch Job Queue Blocked",
                "source": "aws.batch",
                "account": self.account,
                "time": _iso_now(),
                "region": self.region,
                "resources": [job.arn, job.queue.arn],
                "detail": self._detail(job),
            }
        )

    def _set_status(self, job: Job, status: str, reason: str | None = None) -> None:
        job.status = status
        job.status_reason = reason
        if status in TERMINAL and job.stopped_at is None:
            job.stopped_at = _now_ms()
        self._publish(job)
        self._kick()
        if job.parent is not None and job.parent.is_array_parent:
            self._refresh_array_parent(job.parent)

    def _fail(self, job: Job, reason: str) -> None:
        self._set_status(job, "FAILED", reason)

    def _refresh_array_parent(self, parent: Job) -> None:
        parent.summary_updated_at = _now_ms()
        children = parent.children
        if not children or parent.status in TERMINAL:
            return
        statuses = [c.status for c in children]
        if all(s in TERMINAL for s in statuses):
            new = "FAILED" if "FAILED" in statuses else "SUCCEEDED"
            parent.stopped_at = max(c.stopped_at or 0 for c in children) or _now_ms()
        elif any(s in ACTIVE or s in TERMINAL for s in statuses):
            new = "RUNNING"
        elif "RUNNABLE" in statuses:
            new = "RUNNABLE"
        else:
            new = "PENDING"
        started = [c.started_at for c in children if c.started_at is not None]
        if started:
            parent.started_at = min(started)
        if _RANK[new] > _RANK[parent.status]:
            reason = (parent.terminate_reason or ARRAY_CHILD_FAILED) if new == "FAILED" else None
            self._set_status(parent, new, reason)

    # ------------------------------------------------------------------ scheduler

    def _schedule_loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                if not self._dirty:
                    self._cond.wait(self.poll_interval)
                if self._stopping:
                    return
                self._dirty = False
                try:
                    self._resolve_dependencies()
                    self._place_runnable()
                except Exception:  # pragma: no cover - a bug must not kill the scheduler silently
                    log.exception("local batch scheduler tick failed")

    def _resolve_dependencies(self) -> None:
        for job in sorted(self._jobs.values(), key=lambda j: j.seq):
            if job.status not in ("SUBMITTED", "PENDING") or job.node_index is not None:
                continue
            deps = [self._dep_status(d) for d in job.wait_on]
            if "FAILED" in deps:
                self._fail(job, DEPENDENCY_FAILED)
            elif all(d == "SUCCEEDED" for d in deps):
                if job.is_array_parent:
                    if job.status == "SUBMITTED":
                        self._set_status(job, "PENDING")
                    self._spawn_children(job)
                else:
                    if job.status == "SUBMITTED" and self.publish_pending:
                        self._set_status(job, "PENDING")
                    self._set_status(job, "RUNNABLE")
            elif job.status == "SUBMITTED":
                self._set_status(job, "PENDING")

    def _dep_status(self, job_id: str) -> str:
        job = self._jobs.get(job_id)
        if job is not None:
            return job.status
        parent_id, sep, _ = job_id.rpartition(":")
        parent = self._jobs.get(parent_id) if sep else None
        if parent is not None:  # an N_TO_N child of an array job whose children do not exist yet
            return "FAILED" if parent.status == "FAILED" else "PENDING"
        return "SUCCEEDED"

    def _spawn_children(self, parent: Job) -> None:
        if parent.children or parent.array_size is None:
            return
        now = _now_ms()
        for i in range(parent.array_size):
            wait_on: list[str] = []
            for dep in parent.depends_on:
                if dep.get("type") == "N_TO_N":
                    wait_on.append(f"{dep['jobId']}:{i}")
                elif dep.get("type") == "SEQUENTIAL" and i > 0:
                    wait_on.append(f"{parent.job_id}:{i - 1}")
            self._seq += 1
            child = Job(
                job_id=f"{parent.job_id}:{i}",
                name=parent.name,
                queue=parent.queue,
                definition=parent.definition,
                seq=self._seq,
                created_at=now,
                parameters=parent.parameters,
                container=copy.deepcopy(parent.container),
                retry_strategy=copy.deepcopy(parent.retry_strategy),
                timeout=parent.timeout,
                tags=dict(parent.tags),
                propagate_tags=parent.propagate_tags,
                depends_on=copy.deepcopy(parent.depends_on),
                wait_on=wait_on,
                share_identifier=parent.share_identifier,
                scheduling_priority=parent.scheduling_priority,
                status="PENDING",
                array_index=i,
                parent=parent,
            )
            parent.children.append(child)
            self._jobs[child.job_id] = child
        parent.summary_updated_at = now
        self._kick()

    def _vcpus(self, job: Job) -> float:
        if job.is_mnp_parent:
            return sum(self._vcpus(node) for node in job.nodes)
        reqs = _requirements(job.container or {})
        return float(reqs.get("VCPU", 1))

    def _place_runnable(self) -> None:
        runnable = sorted(
            (
                j
                for j in self._jobs.values()
                if j.status == "RUNNABLE" and not j.is_array_parent and j.node_index is None
            ),
            key=lambda j: (-j.queue.priority, j.queue.seq, j.seq),
        )
        judged: set[str] = set()  # queues whose head (first job not placed) has been judged in this pass
        for job in runnable:
            need = self._vcpus(job)
            ces = [self._ces[name] for name in job.queue.compute_environments]
            target = next((ce for ce in ces if ce.max_vcpus - ce.used_vcpus >= need), None)
            if target is not None:
                self._place(job, target)
                continue
            reason = None
            if job.queue.arn not in judged:  # only the head of a queue carries a blocked reason
                judged.add(job.queue.arn)
                if ces and all(ce.max_vcpus <= 0 for ce in ces):
                    reason = CAPACITY_REASON.format(instance_type=ces[0].instance_types[0])
                elif not ces or need > max(ce.max_vcpus for ce in ces):
                    reason = MAX_RESOURCE_REASON
            if reason != job.status_reason:
                job.status_reason = reason  # no status change: DescribeJobs shows it; a new reason is also an event
                if reason is not None:
                    self._publish_blocked(job)

    def _place(self, job: Job, ce: ComputeEnvironment) -> None:
        job.ce = ce
        job.alloc_vcpus = self._vcpus(job)
        ce.used_vcpus += job.alloc_vcpus
        if job.is_mnp_parent:
            job.main_outcome = None
            job.live_nodes = len(job.nodes)
            # The main node starts first, as on AWS (the others need its address).
            ordered = sorted(job.nodes, key=lambda n: not n.is_main_node)
            procs = [self._prepare(node, ce, attempt=len(job.attempts) + 1) for node in ordered]
            self._set_status(job, "STARTING")
            for node in ordered:
                node.stopped_at = None
                self._set_status(node, "STARTING")
        else:
            procs = [self._prepare(job, ce, attempt=len(job.attempts) + 1)]
            self._set_status(job, "STARTING")
        for proc in procs:
            thread = threading.Thread(target=self._run_proc, args=(proc,), name=f"job-{proc.job.job_id}", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _prepare(self, job: Job, ce: ComputeEnvironment, attempt: int) -> _Proc:
        container = job.container or {}
        task_id = uuid.uuid4().hex
        log_stream = f"{job.definition.name}/default/{task_id}"
        container.update(
            containerInstanceArn=f"arn:aws:ecs:{self.region}:{self.account}:container-instance/{ce.cluster_name}/"
            f"{uuid.uuid4().hex}",
            taskArn=f"arn:aws:ecs:{self.region}:{self.account}:task/{ce.cluster_name}/{task_id}",
            logStreamName=log_stream,
        )
        container.pop("exitCode", None)
        container.pop("reason", None)
        env = dict(self.base_env)
        env.update({e["name"]: str(e.get("value", "")) for e in container.get("environment") or []})
        env.update(
            AWS_BATCH_JOB_ID=job.job_id,
            AWS_BATCH_JOB_ATTEMPT=str(attempt),
            AWS_BATCH_JQ_NAME=job.queue.name,
            AWS_BATCH_CE_NAME=ce.name,
        )
        if job.array_index is not None and job.parent is not None:
            env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.array_index)
            env["AWS_BATCH_JOB_ARRAY_SIZE"] = str(job.parent.array_size)
        if job.node_index is not None and job.node_properties is not None:
            env["AWS_BATCH_JOB_NODE_INDEX"] = str(job.node_index)
            env["AWS_BATCH_JOB_NUM_NODES"] = str(job.node_properties["numNodes"])
            env["AWS_BATCH_JOB_MAIN_NODE_INDEX"] = str(job.node_properties.get("mainNode", 0))
            if not job.is_main_node:  # AWS: "This variable isn't present on the main node."
                env["AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"] = "127.0.0.1"
        reqs = _requirements(container)
        memory = reqs.get("MEMORY")
        timeout_s = float(job.timeout["attemptDurationSeconds"]) if job.timeout else None
        if self._work_dir is None:
            raise RuntimeError("LocalBatch.start() was not called")
        cwd = tempfile.mkdtemp(prefix=job.job_id.replace(":", "_").replace("#", "_") + "-", dir=self._work_dir)
        lines: list[str] = []
        self._logs[log_stream] = lines
        proc = _Proc(
            job=job,
            argv=[str(a) for a in container.get("command") or []],
            env=env,
            cwd=cwd,
            mem_limit=int(float(memory) * 1024 * 1024) if memory else None,
            timeout_s=timeout_s,
            log_stream=log_stream,
            instance_id=_instance_id(),
            lines=lines,
        )
        job.procs = [proc]
        return proc

    # ------------------------------------------------------------------ running

    def _killpg(self, proc: _Proc, sig: signal.Signals) -> None:
        if proc.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.popen.pid, sig)

    def _request_kill(self, proc: _Proc, reason: str, *, hard: bool) -> None:
        if proc.kill_reason is None:
            proc.kill_reason = reason
            proc.hard_kill = hard
        elif hard:
            proc.hard_kill = True
        if hard:
            self._killpg(proc, signal.SIGKILL)

    def _run_proc(self, proc: _Proc) -> None:
        if not proc.argv:
            self._proc_finished(proc, None, start_error="CannotStartContainerError: no command specified")
            return
        try:
            popen = subprocess.Popen(  # noqa: S603 - running the job's own argv is the point
                proc.argv,
                cwd=proc.cwd,
                env=proc.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except Exception as exc:  # noqa: BLE001 - any failure to start (OSError, a NUL byte's ValueError) ends the job
            # FAILED with a reason: a job left STARTING would hold its vCPUs, and every queue behind them, forever.
            self._proc_finished(proc, None, start_error=f"CannotStartContainerError: {exc}")
            return
        with self._cond:
            proc.popen = popen
            proc.started_at = _now_ms()
            self._on_running(proc)
            if proc.kill_reason is not None and proc.hard_kill:
                self._killpg(proc, signal.SIGKILL)
        reader = threading.Thread(target=self._read_output, args=(proc, popen.stdout), daemon=True)
        reader.start()
        deadline = time.monotonic() + proc.timeout_s if proc.timeout_s else None
        ps = psutil.Process(popen.pid) if proc.mem_limit else None
        while (ended := _reap(popen)) is None:
            now = time.monotonic()
            over = ps is not None and proc.mem_limit is not None and _tree_rss(ps) > proc.mem_limit
            with self._lock:
                if deadline is not None and now >= deadline and proc.kill_reason is None:
                    proc.kill_reason = "timeout"
                if over and proc.kill_reason is None:
                    proc.kill_reason = "oom"
                    proc.hard_kill = True
                reason, hard = proc.kill_reason, proc.hard_kill
            if reason is not None:
                if hard:
                    self._killpg(proc, signal.SIGKILL)
                elif proc.term_at is None:
                    self._killpg(proc, signal.SIGTERM)
                    proc.term_at = now
                elif now - proc.term_at >= self.kill_grace_seconds:
                    self._killpg(proc, signal.SIGKILL)
            time.sleep(self.monitor_interval)
        # The kernel kills a container the moment it goes over its memory; sampling RSS misses a peak between two
        # looks (a process that allocates and exits at once), the process's own peak (ru_maxrss) does not.
        with self._lock:
            if proc.mem_limit is not None and ended > proc.mem_limit and proc.kill_reason is None:
                proc.kill_reason = "oom"
                proc.hard_kill = True
        # The container is gone: nothing it started survives it.
        self._killpg(proc, signal.SIGKILL)
        reader.join(2.0)
        self._proc_finished(proc, popen.returncode)

    def _read_output(self, proc: _Proc, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        log_file: IO[str] | None = None
        if self.log_dir is not None:
            path = self.log_dir / f"{proc.log_stream}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            log_file = path.open("a", encoding="utf-8")
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                with self._lock:
                    proc.lines.append(line)
                if log_file is not None:
                    log_file.write(line + "\n")
                    log_file.flush()
        finally:
            stream.close()
            if log_file is not None:
                log_file.close()

    def _on_running(self, proc: _Proc) -> None:
        job = proc.job
        if self._stopping or job.status not in ACTIVE:
            return
        job.started_at = proc.started_at
        self._set_status(job, "RUNNING")
        parent = job.parent
        if job.node_index is not None and parent is not None and parent.status == "STARTING":
            parent.started_at = proc.started_at
            self._set_status(parent, "RUNNING")

    def _proc_finished(self, proc: _Proc, returncode: int | None, start_error: str | None = None) -> None:
        with self._cond:
            proc.done = True
            if self._stopping:
                return
            job = proc.job
            kind = proc.kill_reason
            exit_code = None if returncode is None else (128 - returncode if returncode < 0 else returncode)
            container_reason: str | None = None
            if start_error is not None:
                status_reason, container_reason, exit_code = TASK_FAILED_TO_START, start_error, None
            elif kind == "interrupt":
                status_reason, exit_code = HOST_TERMINATED.format(instance_id=proc.instance_id), None
            elif kind == "oom":
                status_reason, container_reason, exit_code = ESSENTIAL_EXITED, OOM_REASON, 137
            elif kind == "timeout":
                status_reason = TIMEOUT_REASON
            elif kind == "terminate":
                root = job.parent if job.node_index is not None and job.parent is not None else job
                status_reason = root.terminate_reason or ESSENTIAL_EXITED
            else:
                status_reason = ESSENTIAL_EXITED
            container = job.container if job.container is not None else {}
            attempt_container: dict[str, Any] = {
                k: container[k] for k in ("containerInstanceArn", "taskArn") if k in container
            }
            if exit_code is not None:
                attempt_container["exitCode"] = exit_code
                container["exitCode"] = exit_code
            if container_reason is not None:
                attempt_container["reason"] = container_reason
                container["reason"] = container_reason
            attempt_container["logStreamName"] = proc.log_stream
            attempt_container["networkInterfaces"] = []
            attempt = {
                "container": attempt_container,
                "startedAt": proc.started_at or _now_ms(),
                "stoppedAt": _now_ms(),
                "statusReason": status_reason,
            }
            success = start_error is None and kind is None and exit_code == 0
            if job.node_index is not None and job.parent is not None:
                self._node_finished(job, job.parent, proc, success=success, reason=status_reason, attempt=attempt)
            else:
                self._attempt_finished(job, success, status_reason, attempt, kind)

    def _node_finished(
        self, node: Job, parent: Job, proc: _Proc, *, success: bool, reason: str, attempt: dict[str, Any]
    ) -> None:
        node.attempts.append(attempt)
        node.procs = []
        if node.is_main_node:
            parent.main_outcome = (success, reason, copy.deepcopy(attempt), proc.kill_reason)
            for other in parent.nodes:
                for p in other.procs:
                    if not p.done:
                        self._request_kill(p, "stop", hard=False)
        main_ok = parent.main_outcome is not None and parent.main_outcome[0]
        if proc.kill_reason == "stop":
            success = main_ok
        self._set_status(node, "SUCCEEDED" if success else "FAILED", reason)
        parent.live_nodes -= 1
        if parent.live_nodes <= 0 and parent.main_outcome is not None:
            ok, main_reason, main_attempt, kind = parent.main_outcome
            # The parent's attempt is the main node's (its container carries the exit code that decided the job).
            self._attempt_finished(parent, ok, main_reason, main_attempt, kind)

    def _attempt_finished(
        self, job: Job, success: bool, reason: str, attempt: dict[str, Any], kind: str | None
    ) -> None:
        job.attempts.append(attempt)
        job.procs = []
        if job.ce is not None:
            job.ce.used_vcpus = max(0.0, job.ce.used_vcpus - job.alloc_vcpus)
            job.alloc_vcpus = 0.0
        if success:
            self._set_status(job, "SUCCEEDED", ESSENTIAL_EXITED)
        elif kind != "terminate" and self._should_retry(job, attempt):
            self._set_status(job, "RUNNABLE")
        else:
            self._set_status(job, "FAILED", reason)

    def _should_retry(self, job: Job, attempt: dict[str, Any]) -> bool:
        if len(job.attempts) >= int(job.retry_strategy.get("attempts", 1)):
            return False
        container = attempt.get("container") or {}
        exit_code = container.get("exitCode")
        for rule in job.retry_strategy.get("evaluateOnExit") or []:
            if (
                _glob(rule.get("onStatusReason"), attempt.get("statusReason"))
                and _glob(rule.get("onReason"), container.get("reason"))
                and _glob(rule.get("onExitCode"), None if exit_code is None else str(exit_code))
            ):
                return str(rule.get("action", "")).upper() == "RETRY"
        return True

    # ------------------------------------------------------------------ events

    def _dispatch_loop(self) -> None:
        while True:
            event = self._events.get()
            try:
                if event is None:
                    return
                if self.on_event is not None:
                    try:
                        self.on_event(event)
                    except Exception:
                        log.exception("on_event callback failed for %s", event["detail"]["jobId"])
            finally:
                self._events.task_done()
