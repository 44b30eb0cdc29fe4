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
  log stream ``<jobDefinitionName>/default/<task id>``, each line handed to ``on_log`` as it is written (the awslogs
  driver streams a container's output to CloudWatch Logs while it runs).
- Memory (MEMORY requirement, MiB) is enforced on resident memory (RSS), as a container's cgroup limit is, and a
  short burst cannot slip through: the kernel keeps each process's peak RSS (VmHWM) while it runs and reports it
  (ru_maxrss of wait4, which covers the descendants it reaped) when it exits; a small fork server (forkserver.py,
  started once) forks the job and reaps it, as the engine's own wait4 would count the engine's image into the peak.
  The job is SIGKILLed when any process's peak, or the sum of the tree's current RSS, is over the limit, and an
  attempt whose peak was over the limit is an OOM even if it exited before the monitor saw it: exitCode 137,
  container.reason "OutOfMemoryError: Container killed due to memory usage", statusReason "Essential container in
  task exited". Unlike a cgroup, page cache is not counted, and the kill comes within one monitor interval of the
  peak rather than at the allocation itself. A job's peak includes the fork server's image it was forked from
  (about 8.5 MiB), as it included the shim's before; a job has SIGPIPE at its default, as a container's process has.
- Timeout (attemptDurationSeconds; any positive value is accepted locally) sends SIGTERM then SIGKILL after a grace
  (ECS uses 30 s; 2 s here by default), statusReason "Job attempt duration exceeded timeout".
- ``interrupt()`` is a Spot reclaim / host failure: statusReason "Host EC2 (instance i-...) terminated.", no exitCode.
- retryStrategy (attempts, evaluateOnExit globs, RETRY/EXIT; no rule matching means retry), CancelJob (SUBMITTED,
  PENDING, RUNNABLE only) and TerminateJob (also STARTING/RUNNING); the caller's reason becomes statusReason.
- Array jobs (children ``<parentId>:<index>``, N_TO_N and SEQUENTIAL dependencies; a parent with a failed child
  ends FAILED "Array Child Job failed" once every child has ended), multi-node parallel jobs (nodes
  ``<jobId>#<index>``, the main node's exit decides, the other nodes are stopped when it exits), dependsOn (a FAILED
  dependency fails the dependent with "Dependent Job failed").

Where each part lives: `LocalBatch` (here) is the API and the lifecycle of the threads; `model` the records, AWS's
status names and reasons; `state` the registries behind one lock and the lifecycle moves that publish events;
`scheduler` SubmitJob, dependencies, array children, multi-node nodes and placement; `runner` the processes, their
memory, timeouts and logs; `shapes` the records in the API's and the events' shapes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from batchplane_local.batch.model import (
    ACTIVE,
    MAX_JOB_SIZE_BYTES,
    STATUSES,
    TERMINAL,
    WAITING,
    BatchClientError,
    Capacity,
    ComputeEnvironment,
    EventCallback,
    JobDefinition,
    JobQueue,
    LogCallback,
    procs_of,
)
from batchplane_local.batch.runner import Runner
from batchplane_local.batch.scheduler import Scheduler
from batchplane_local.batch.shapes import (
    compute_environment_detail,
    definition_detail,
    filter_matches,
    job_detail,
    job_summary,
    queue_detail,
)
from batchplane_local.batch.state import BatchState
from batchplane_local.batch.throttle import ACCOUNT_SUBMIT_JOBS_PER_SECOND, SubmitRate

log = logging.getLogger(__name__)


class LocalBatch:
    """A thread-safe AWS Batch emulator. `start()` runs the scheduler; `stop()` kills every process it started."""

    def __init__(
        self,
        *,
        on_event: EventCallback | None = None,
        on_log: LogCallback | None = None,
        region: str = "us-east-1",
        account: str = "123456789012",
        poll_interval: float = 0.02,
        monitor_interval: float = 0.05,
        kill_grace_seconds: float = 2.0,
        log_dir: str | os.PathLike[str] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        base_env: Mapping[str, str] | None = None,
        publish_pending: bool = False,
        submit_jobs_per_second: float | None = ACCOUNT_SUBMIT_JOBS_PER_SECOND,
    ) -> None:
        self.on_event = on_event
        # AWS Batch's fixed SubmitJob quota per account (None: unlimited, for tests of the engine alone)
        self.submit_rate = SubmitRate(submit_jobs_per_second) if submit_jobs_per_second else None
        self._state = BatchState(region=region, account=account)
        self._runner = Runner(
            self._state,
            on_log=on_log,
            monitor_interval=monitor_interval,
            kill_grace_seconds=kill_grace_seconds,
            log_dir=Path(log_dir) if log_dir else None,
            work_dir=Path(work_dir) if work_dir else None,
            base_env=os.environ if base_env is None else base_env,
        )
        self._scheduler = Scheduler(
            self._state, self._runner, poll_interval=poll_interval, publish_pending=publish_pending
        )
        self._dispatcher: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalBatch:
        with self._state.lock:
            scheduler = self._scheduler.start()
            if scheduler is None:
                return self
            self._state.stopping = False
            self._runner.open()
            self._dispatcher = threading.Thread(target=self._dispatch_loop, name="local-batch-events", daemon=True)
        scheduler.start()
        self._dispatcher.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scheduling, SIGKILL every job's process group, deliver the events already queued."""
        with self._state.cond:
            self._state.stopping = True
            procs = [p for job in self._state.jobs.values() for p in job.procs]
            self._state.cond.notify_all()
        for proc in procs:
            proc.signal(signal.SIGKILL)
        deadline = time.monotonic() + timeout
        self._scheduler.join(deadline)
        self._runner.join(deadline)
        self._state.events.put(None)
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            self._dispatcher.join(max(0.1, deadline - time.monotonic()))
        with self._state.lock:
            self._scheduler.thread = None
            self._dispatcher = None
            self._runner.close()

    def __enter__(self) -> LocalBatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ resources

    def add_compute_environment(
        self,
        name: str,
        *,
        capacity: Capacity,
        max_vcpus: int,
        instance_types: Sequence[str] = ("optimal",),
        arn: str | None = None,
        tags: Mapping[str, str] | None = None,
        fargate: bool = False,
    ) -> str:
        if capacity not in ("spot", "on-demand"):
            raise ValueError(f"capacity must be 'spot' or 'on-demand', not {capacity!r}")
        with self._state.cond:
            ce = ComputeEnvironment(
                name=name,
                arn=arn or self._state.arn("compute-environment", name),
                capacity=capacity,
                max_vcpus=int(max_vcpus),
                instance_types=list(instance_types) or ["optimal"],
                tags=dict(tags or {}),
                fargate=fargate,
            )
            self._state.ces[name] = ce
            self._state.kick()
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
        with self._state.cond:
            names = [self._state.ce(ce).name for ce in compute_environments]
            self._state.seq += 1
            jq = JobQueue(
                name, arn or self._state.arn("job-queue", name), int(priority), names, self._state.seq, dict(tags or {})
            )
            self._state.queues[name] = jq
            self._state.kick()
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
        with self._state.lock:
            revisions = self._state.defs.setdefault(name, [])
            revision = len(revisions) + 1
            jd = JobDefinition(
                name=name,
                revision=revision,
                arn=arn or self._state.arn("job-definition", f"{name}:{revision}"),
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
        with self._state.cond:
            self._state.ce(ce_name).max_vcpus = int(max_vcpus)
            self._state.kick()

    def compute_environments(self) -> list[dict[str, Any]]:
        with self._state.lock:
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
                for ce in self._state.ces.values()
            ]

    def job_definition_arn(self, ref: str) -> str | None:
        """The ARN a definition name (or name:revision) resolves to, as Batch resolves it for IAM (None: unknown)."""
        with self._state.lock:
            try:
                return self._state.definition(ref).arn
            except BatchClientError:
                return None

    def job_tags(self, job_id: str) -> dict[str, str]:
        """A job's tags (what IAM's aws:ResourceTag reads); none for a job Batch does not know."""
        with self._state.lock:
            job = self._state.jobs.get(job_id)
            return dict(job.tags) if job else {}

    # ------------------------------------------------------------------ submit

    def submit_job(self, **request: Any) -> dict[str, str]:
        """SubmitJob with the API's own request members; returns {"jobArn", "jobName", "jobId"}. Over the account's
        SubmitJob rate it raises TooManyRequestsError (429 TooManyRequestsException), before looking at the request."""
        if self.submit_rate is not None:
            self.submit_rate.take()
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
        self._scheduler.validate_request(request)
        name = str(request["jobName"])
        with self._state.cond:
            return self._scheduler.submit(name, request)

    # ------------------------------------------------------------------ control

    def cancel_job(self, job_id: str, reason: str) -> None:
        """CancelJob: only SUBMITTED, PENDING and RUNNABLE jobs are cancelled; STARTING/RUNNING ones carry on."""
        with self._state.cond:
            job = self._state.jobs.get(job_id)
            if job is None:
                return
            if job.is_array_parent:
                job.terminate_reason = reason
                for child in job.children:
                    if child.status in WAITING:
                        child.is_cancelled = True
                        self._state.fail(child, reason)
            if job.status in WAITING:
                job.is_cancelled = True
                if job.is_array_parent and job.children:
                    self._state.refresh_array_parent(job)
                else:
                    self._state.fail(job, reason)
            self._state.kick()

    def terminate_job(self, job_id: str, reason: str) -> None:
        """TerminateJob: like CancelJob, and STARTING/RUNNING jobs are stopped (SIGTERM, then SIGKILL after a grace)."""
        with self._state.cond:
            job = self._state.jobs.get(job_id)
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
                    for proc in procs_of(target):
                        proc.request_kill("terminate", hard=False)
                elif target.is_array_parent and target.children:
                    self._state.refresh_array_parent(target)
                else:
                    self._state.fail(target, reason)
            self._state.kick()

    def interrupt(self, job_id: str) -> bool:
        """Fail the running attempt as AWS does on a Spot reclaim (or a host failure on On-Demand)."""
        with self._state.cond:
            job = self._state.jobs.get(job_id)
            if job is None:
                raise BatchClientError(f"Job {job_id} does not exist")
            if job.node_index is not None and job.parent is not None:
                job = job.parent
            procs = procs_of(job)
            if job.status not in ACTIVE or not procs:
                return False
            for proc in procs:
                proc.request_kill("interrupt", hard=True)
            return True

    # ------------------------------------------------------------------ read

    def submitted(self) -> list[dict[str, str]]:
        """Every job SubmitJob made (not array children or nodes): id, name, status, and the job definition and image
        it would have run (the local Batch runs the command as a process, whatever the image)."""
        with self._state.lock:
            return [
                {
                    "jobId": j.job_id,
                    "jobName": j.name,
                    "status": j.status,
                    "jobDefinition": j.definition.arn,
                    "image": (j.container or {}).get("image"),
                }
                for j in self._state.jobs.values()
                if j.parent is None and j.node_index is None
            ]

    def describe_jobs(self, job_ids: Iterable[str]) -> list[dict[str, Any]]:
        ids = list(job_ids)
        if len(ids) > 100:
            raise BatchClientError("jobs must contain at most 100 job IDs")
        with self._state.lock:
            return [job_detail(self._state.jobs[i]) for i in ids if i in self._state.jobs]

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
        with self._state.lock:
            if arrayJobId:
                parent = self._state.jobs.get(arrayJobId)
                jobs = list(parent.children) if parent else []
            elif multiNodeJobId:
                parent = self._state.jobs.get(multiNodeJobId)
                jobs = list(parent.nodes) if parent else []
            elif jobQueue:
                jq = self._state.queue(jobQueue)
                jobs = [j for j in self._state.jobs.values() if j.queue is jq and j.parent is None]
            else:
                raise BatchClientError("Either jobQueue, arrayJobId or multiNodeJobId must be specified")
            if filters:
                for flt in filters:
                    name, values = flt.get("name"), list(flt.get("values") or [])
                    jobs = [j for j in jobs if filter_matches(j, str(name), values)]
            else:
                if jobStatus is not None and jobStatus not in STATUSES:
                    raise BatchClientError(f"Invalid jobStatus {jobStatus}")
                status = jobStatus or "RUNNING"
                jobs = [j for j in jobs if j.status == status]
            jobs.sort(key=lambda j: j.seq, reverse=True)
            start = int(nextToken or 0)
            end = start + int(maxResults or 100)
            out: dict[str, Any] = {"jobSummaryList": [job_summary(j) for j in jobs[start:end]]}
            if end < len(jobs):
                out["nextToken"] = str(end)
            return out

    def describe_job_queues(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        with self._state.lock:
            # as AWS answers: a queue it does not know is left out (no error), so a deleted one is simply not listed
            queues = list(self._state.queues.values())
            if names:
                wanted = set(names)
                queues = [jq for jq in queues if jq.name in wanted or jq.arn in wanted]
            return [queue_detail(jq, self._state.ces) for jq in queues]

    def describe_compute_environments(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        with self._state.lock:
            ces = [self._state.ce(n) for n in names] if names else list(self._state.ces.values())
            return [
                compute_environment_detail(ce, self._state.region, self._state.account, self._state.waiting_vcpus(ce))
                for ce in ces
            ]

    def describe_job_definitions(
        self,
        job_definitions: Iterable[str] | None = None,
        *,
        job_definition_name: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        with self._state.lock:
            if job_definitions:
                defs = []
                for ref in job_definitions:
                    with contextlib.suppress(BatchClientError):
                        defs.append(self._state.definition(ref))
            else:
                defs = [jd for revs in self._state.defs.values() for jd in revs]
            if job_definition_name:
                defs = [jd for jd in defs if jd.name == job_definition_name]
            if status:
                defs = [jd for jd in defs if jd.status == status]
            return [definition_detail(jd) for jd in defs]

    @property
    def fork_servers_started(self) -> int:
        """Processes started to start jobs (one fork server for the engine's life, unless one was killed)."""
        return self._runner.fork_servers_started

    def logs(self, log_stream_name: str) -> list[str]:
        with self._state.lock:
            return list(self._state.logs.get(log_stream_name, []))

    def wait_for(self, job_id: str, statuses: Iterable[str] = TERMINAL, timeout: float = 30.0) -> dict[str, Any]:
        """Block until the job reaches one of `statuses`; returns its JobDetail (TimeoutError otherwise)."""
        wanted = set(statuses)
        deadline = time.monotonic() + timeout
        with self._state.cond:
            while True:
                job = self._state.jobs.get(job_id)
                if job is not None and job.status in wanted:
                    return job_detail(job)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    status = job.status if job else "unknown"
                    raise TimeoutError(f"job {job_id} is {status}, not in {sorted(wanted)} after {timeout}s")
                self._state.cond.wait(min(remaining, 0.1))

    def flush_events(self, timeout: float = 5.0) -> None:
        """Wait until every event published so far has been handed to `on_event`."""
        deadline = time.monotonic() + timeout
        while self._state.events.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    # ------------------------------------------------------------------ tags

    def _tagged(self, arn: str) -> dict[str, str]:
        for ce in self._state.ces.values():
            if ce.arn == arn:
                return ce.tags
        for jq in self._state.queues.values():
            if jq.arn == arn:
                return jq.tags
        for revs in self._state.defs.values():
            for jd in revs:
                if jd.arn == arn:
                    return jd.tags
        for job in self._state.jobs.values():
            if job.arn == arn:
                return job.tags
        raise BatchClientError(f"Resource {arn} not found")

    def tag_resource(self, arn: str, tags: Mapping[str, str]) -> None:
        with self._state.lock:
            self._tagged(arn).update(tags)

    def untag_resource(self, arn: str, tag_keys: Iterable[str]) -> None:
        with self._state.lock:
            tags = self._tagged(arn)
            for key in tag_keys:
                tags.pop(key, None)

    def list_tags_for_resource(self, arn: str) -> dict[str, str]:
        with self._state.lock:
            return dict(self._tagged(arn))

    # ------------------------------------------------------------------ JobDetail

    # ------------------------------------------------------------------ events

    def _dispatch_loop(self) -> None:
        while True:
            event = self._state.events.get()
            try:
                if event is None:
                    return
                if self.on_event is not None:
                    try:
                        self.on_event(event)
                    except Exception:
                        log.exception("on_event callback failed for %s", event["detail"]["jobId"])
            finally:
                self._state.events.task_done()
