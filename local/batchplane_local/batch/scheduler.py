"""The local Batch's scheduler: SubmitJob's checks and the jobs it makes, dependencies, array children and the
nodes of multi-node jobs, and placement of RUNNABLE jobs on compute environments.

Job queues are served in descending priority, FIFO within a queue, each queue trying its compute environments in
order. A RUNNABLE job that cannot fit for a structural reason carries the statusReason AWS gives only when it is at
the head of its queue (and a "Batch Job Queue Blocked" event is published); head-of-line blocking itself is not
modelled: a later job that fits is still placed."""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from batchplane_local.batch.model import (
    CAPACITY_REASON,
    DEPENDENCY_FAILED,
    JOB_NAME_RE,
    MAX_RESOURCE_REASON,
    BatchClientError,
    ComputeEnvironment,
    Job,
    merge_container,
    now_ms,
    parse_node_range,
    substitute,
    vcpus,
)
from batchplane_local.batch.runner import Runner
from batchplane_local.batch.state import BatchState

log = logging.getLogger(__name__)


class Scheduler:
    """Admits jobs and moves them SUBMITTED -> PENDING -> RUNNABLE -> STARTING; the runner takes them from there."""

    def __init__(self, state: BatchState, runner: Runner, *, poll_interval: float, publish_pending: bool) -> None:
        self.state = state
        self.runner = runner
        self.poll_interval = poll_interval
        self.publish_pending = publish_pending
        self.thread: threading.Thread | None = None

    # ------------------------------------------------------------------ submit

    def validate_request(self, request: Mapping[str, Any]) -> None:
        for required in ("jobName", "jobQueue", "jobDefinition"):
            if not request.get(required):
                raise BatchClientError(f"{required} is required")
        name = str(request["jobName"])
        if not JOB_NAME_RE.match(name):
            raise BatchClientError(
                "Job name should be between 1 and 128 characters, can contain uppercase and lowercase letters, "
                "numbers, hyphens and underscores, and must start with a letter or number"
            )

    def submit(self, name: str, request: Mapping[str, Any]) -> dict[str, str]:
        try:
            jq = self.state.queue(str(request["jobQueue"]))
        except BatchClientError:
            # AWS's own words for a SubmitJob to a job queue it does not know (ClientException, HTTP 400)
            raise BatchClientError(f"JobQueue {request['jobQueue']} not found.") from None
        jd = self.state.definition(str(request["jobDefinition"]))
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
            if dep_type != "SEQUENTIAL" and dep.get("jobId") not in self.state.jobs:
                raise BatchClientError(f"Dependency job {dep.get('jobId')} does not exist")
        parameters = {**jd.parameters, **(request.get("parameters") or {})}
        propagate = bool(request.get("propagateTags", jd.propagate_tags))
        tags = {**(jd.tags if propagate else {}), **(request.get("tags") or {})}
        container = None
        if jd.container_properties is not None:
            container = merge_container(jd.container_properties, request.get("containerOverrides"))
            if container.get("command"):
                container["command"] = substitute(container["command"], parameters)
        self.state.seq += 1
        job_id = str(uuid.uuid4())
        job = Job(
            job_id=job_id,
            name=name,
            queue=jq,
            definition=jd,
            seq=self.state.seq,
            created_at=now_ms(),
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
        self.state.add(job)
        self.state.kick()
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
            for i in parse_node_range(str(rng.get("targetNodes", "0:")), num_nodes):
                containers[i] = rng.get("container") or {}
        node_overrides: dict[int, dict[str, Any]] = {}
        for ov in (overrides or {}).get("nodePropertyOverrides") or []:
            for i in parse_node_range(str(ov.get("targetNodes", "0:")), num_nodes):
                node_overrides[i] = ov.get("containerOverrides") or {}
        job.node_properties = props
        for i in range(num_nodes):
            if i not in containers:
                raise BatchClientError(f"Node {i} is not covered by any nodeRangeProperties targetNodes")
            container = merge_container(containers[i], node_overrides.get(i))
            if container.get("command"):
                container["command"] = substitute(container["command"], job.parameters)
            self.state.seq += 1
            node = Job(
                job_id=f"{job.job_id}#{i}",
                name=job.name,
                queue=job.queue,
                definition=job.definition,
                seq=self.state.seq,
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
            self.state.add(node)

    # ------------------------------------------------------------------ the loop

    def start(self) -> threading.Thread | None:
        """Make the scheduler's thread (None if it runs already); the caller starts it."""
        if self.thread is not None:
            return None
        self.thread = threading.Thread(target=self._loop, name="local-batch-scheduler", daemon=True)
        return self.thread

    def join(self, deadline: float) -> None:
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while True:
            with self.state.cond:
                if self.state.stopping:
                    return
                if not self.state.dirty:
                    self.state.cond.wait(self.poll_interval)
                if self.state.stopping:
                    return
                self.state.dirty = False
                try:
                    self._resolve_dependencies()
                    self._place_runnable()
                except Exception:  # pragma: no cover - a bug must not kill the scheduler silently
                    log.exception("local batch scheduler tick failed")

    # ------------------------------------------------------------------ dependencies and array children

    def _resolve_dependencies(self) -> None:
        # only the jobs still waiting, in submission order (every job ever submitted stays in ``jobs``: sorting them
        # all on each pass was most of this loop's cost once a thousand had run; walking them, once ten thousand had)
        waiting = (
            j for j in self.state.unended.values() if j.status in ("SUBMITTED", "PENDING") and j.node_index is None
        )
        for job in sorted(waiting, key=lambda j: j.seq):
            deps = [self._dep_status(d) for d in job.wait_on]
            if "FAILED" in deps:
                self.state.fail(job, DEPENDENCY_FAILED)
            elif all(d == "SUCCEEDED" for d in deps):
                if job.is_array_parent:
                    if job.status == "SUBMITTED":
                        self.state.set_status(job, "PENDING")
                    self._spawn_children(job)
                else:
                    if job.status == "SUBMITTED" and self.publish_pending:
                        self.state.set_status(job, "PENDING")
                    self.state.set_status(job, "RUNNABLE")
            elif job.status == "SUBMITTED":
                self.state.set_status(job, "PENDING")

    def _dep_status(self, job_id: str) -> str:
        job = self.state.jobs.get(job_id)
        if job is not None:
            return job.status
        parent_id, sep, _ = job_id.rpartition(":")
        parent = self.state.jobs.get(parent_id) if sep else None
        if parent is not None:  # an N_TO_N child of an array job whose children do not exist yet
            return "FAILED" if parent.status == "FAILED" else "PENDING"
        return "SUCCEEDED"

    def _spawn_children(self, parent: Job) -> None:
        if parent.children or parent.array_size is None:
            return
        now = now_ms()
        for i in range(parent.array_size):
            wait_on: list[str] = []
            for dep in parent.depends_on:
                if dep.get("type") == "N_TO_N":
                    wait_on.append(f"{dep['jobId']}:{i}")
                elif dep.get("type") == "SEQUENTIAL" and i > 0:
                    wait_on.append(f"{parent.job_id}:{i - 1}")
            self.state.seq += 1
            child = Job(
                job_id=f"{parent.job_id}:{i}",
                name=parent.name,
                queue=parent.queue,
                definition=parent.definition,
                seq=self.state.seq,
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
            self.state.add(child)
        parent.summary_updated_at = now
        self.state.kick()

    # ------------------------------------------------------------------ placement

    def _place_runnable(self) -> None:
        runnable = sorted(
            (
                j
                for j in self.state.unended.values()
                if j.status == "RUNNABLE" and not j.is_array_parent and j.node_index is None
            ),
            key=lambda j: (-j.queue.priority, j.queue.seq, j.seq),
        )
        judged: set[str] = set()  # queues whose head (first job not placed) has been judged in this pass
        for job in runnable:
            need = vcpus(job)
            ces = [self.state.ces[name] for name in job.queue.compute_environments]
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
                    self.state.publish_blocked(job)

    def _place(self, job: Job, ce: ComputeEnvironment) -> None:
        job.ce = ce
        job.alloc_vcpus = vcpus(job)
        ce.used_vcpus += job.alloc_vcpus
        if job.is_mnp_parent:
            job.main_outcome = None
            job.live_nodes = len(job.nodes)
            # The main node starts first, as on AWS (the others need its address).
            ordered = sorted(job.nodes, key=lambda n: not n.is_main_node)
            procs = [self.runner.prepare(node, ce, attempt=len(job.attempts) + 1) for node in ordered]
            self.state.set_status(job, "STARTING")
            for node in ordered:
                node.stopped_at = None
                self.state.set_status(node, "STARTING")
        else:
            procs = [self.runner.prepare(job, ce, attempt=len(job.attempts) + 1)]
            self.state.set_status(job, "STARTING")
        self.runner.launch(procs)
