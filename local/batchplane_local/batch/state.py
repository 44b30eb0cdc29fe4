"""What the local Batch knows, behind one lock, and the transitions every part of it makes.

`BatchState` holds the registries (compute environments, queues, definitions, jobs, log lines), the queue of events
on their way to `on_event`, and the moves of a job's lifecycle that publish an event: a status change (which also
updates an array parent from its children), and the end of an attempt (retry by the retryStrategy, or finish).
Its methods are called with ``lock`` held, by the scheduler, the runner and the API alike."""

from __future__ import annotations

import copy
import queue
import threading
from typing import Any

from batchplane_local.batch.model import (
    ACTIVE,
    ARRAY_CHILD_FAILED,
    ESSENTIAL_EXITED,
    RANK,
    TERMINAL,
    BatchClientError,
    ComputeEnvironment,
    Job,
    JobDefinition,
    JobQueue,
    Proc,
    glob,
    now_ms,
    vcpus,
)
from batchplane_local.batch.shapes import queue_blocked_event, state_change_event


class BatchState:
    """The local Batch's records and lifecycle moves (call every method with ``lock`` held)."""

    def __init__(self, *, region: str, account: str) -> None:
        self.region = region
        self.account = account
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.dirty = False  # something changed that the scheduler should look at
        self.stopping = False
        self.seq = 0
        self.ces: dict[str, ComputeEnvironment] = {}
        self.queues: dict[str, JobQueue] = {}
        self.defs: dict[str, list[JobDefinition]] = {}
        self.jobs: dict[str, Job] = {}
        # the jobs not yet SUCCEEDED or FAILED (kept by ``add`` and ``set_status``): what a scheduling pass looks at,
        # where every job ever submitted made each pass O(all jobs) (a tenth of a 10,000-job pipeline's CPU)
        self.unended: dict[str, Job] = {}
        self.logs: dict[str, list[str]] = {}
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()

    # ------------------------------------------------------------------ lookups

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:batch:{self.region}:{self.account}:{kind}/{name}"

    def ce(self, name_or_arn: str) -> ComputeEnvironment:
        for ce in self.ces.values():
            if name_or_arn in (ce.name, ce.arn):
                return ce
        raise BatchClientError(f"ComputeEnvironment {name_or_arn} does not exist")

    def queue(self, name_or_arn: str) -> JobQueue:
        for jq in self.queues.values():
            if name_or_arn in (jq.name, jq.arn):
                return jq
        raise BatchClientError(f"Job queue {name_or_arn} does not exist")

    def definition(self, ref: str) -> JobDefinition:
        for revisions in self.defs.values():
            for jd in revisions:
                if ref == jd.arn:
                    return jd
        name, _, rev = ref.partition(":")
        revisions = [jd for jd in self.defs.get(name, []) if jd.status == "ACTIVE"]
        if rev:
            revisions = [jd for jd in revisions if str(jd.revision) == rev]
        if not revisions:
            raise BatchClientError(f"Job definition {ref} does not exist")
        return revisions[-1]

    def waiting_vcpus(self, ce: ComputeEnvironment) -> float:
        """vCPUs of RUNNABLE jobs whose queue lists ``ce`` (the demand a managed environment scales out for)."""
        return sum(
            vcpus(j)
            for j in self.unended.values()
            if j.status == "RUNNABLE"
            and not j.is_array_parent
            and j.node_index is None
            and ce.name in j.queue.compute_environments
        )

    # ------------------------------------------------------------------ transitions

    def add(self, job: Job) -> None:
        """A new job (submitted, a multi-node job's node, an array job's child)."""
        self.jobs[job.job_id] = job
        if job.status not in TERMINAL:
            self.unended[job.job_id] = job

    def kick(self) -> None:
        self.dirty = True
        self.cond.notify_all()

    def publish(self, job: Job) -> None:
        if self.stopping:
            return
        self.events.put(state_change_event(job, self.region, self.account))

    def publish_blocked(self, job: Job) -> None:
        """AWS's "Batch Job Queue Blocked" event: the JobDetail of the RUNNABLE job blocking the head of its queue."""
        if self.stopping:
            return
        self.events.put(queue_blocked_event(job, self.region, self.account))

    def set_status(self, job: Job, status: str, reason: str | None = None) -> None:
        job.status = status
        job.status_reason = reason
        if status in TERMINAL:
            self.unended.pop(job.job_id, None)
        else:
            self.unended[job.job_id] = job
        if status in TERMINAL and job.stopped_at is None:
            job.stopped_at = now_ms()
        self.publish(job)
        self.kick()
        if job.parent is not None and job.parent.is_array_parent:
            self.refresh_array_parent(job.parent)

    def fail(self, job: Job, reason: str) -> None:
        self.set_status(job, "FAILED", reason)

    def refresh_array_parent(self, parent: Job) -> None:
        parent.summary_updated_at = now_ms()
        children = parent.children
        if not children or parent.status in TERMINAL:
            return
        statuses = [c.status for c in children]
        if all(s in TERMINAL for s in statuses):
            new = "FAILED" if "FAILED" in statuses else "SUCCEEDED"
            parent.stopped_at = max(c.stopped_at or 0 for c in children) or now_ms()
        elif any(s in ACTIVE or s in TERMINAL for s in statuses):
            new = "RUNNING"
        elif "RUNNABLE" in statuses:
            new = "RUNNABLE"
        else:
            new = "PENDING"
        started = [c.started_at for c in children if c.started_at is not None]
        if started:
            parent.started_at = min(started)
        if RANK[new] > RANK[parent.status]:
            reason = (parent.terminate_reason or ARRAY_CHILD_FAILED) if new == "FAILED" else None
            self.set_status(parent, new, reason)

    # ------------------------------------------------------------------ attempt outcomes

    def node_finished(
        self, node: Job, parent: Job, proc: Proc, *, success: bool, reason: str, attempt: dict[str, Any]
    ) -> None:
        node.attempts.append(attempt)
        node.procs = []
        if node.is_main_node:
            parent.main_outcome = (success, reason, copy.deepcopy(attempt), proc.kill_reason)
            for other in parent.nodes:
                for p in other.procs:
                    if not p.done:
                        p.request_kill("stop", hard=False)
        main_ok = parent.main_outcome is not None and parent.main_outcome[0]
        if proc.kill_reason == "stop":
            success = main_ok
        self.set_status(node, "SUCCEEDED" if success else "FAILED", reason)
        parent.live_nodes -= 1
        if parent.live_nodes <= 0 and parent.main_outcome is not None:
            ok, main_reason, main_attempt, kind = parent.main_outcome
            # The parent's attempt is the main node's (its container carries the exit code that decided the job).
            self.attempt_finished(parent, ok, main_reason, main_attempt, kind)

    def attempt_finished(self, job: Job, success: bool, reason: str, attempt: dict[str, Any], kind: str | None) -> None:
        job.attempts.append(attempt)
        job.procs = []
        if job.ce is not None:
            job.ce.used_vcpus = max(0.0, job.ce.used_vcpus - job.alloc_vcpus)
            job.alloc_vcpus = 0.0
        if success:
            self.set_status(job, "SUCCEEDED", ESSENTIAL_EXITED)
        elif kind != "terminate" and self.should_retry(job, attempt):
            self.set_status(job, "RUNNABLE")
        else:
            self.set_status(job, "FAILED", reason)

    def should_retry(self, job: Job, attempt: dict[str, Any]) -> bool:
        if len(job.attempts) >= int(job.retry_strategy.get("attempts", 1)):
            return False
        container = attempt.get("container") or {}
        exit_code = container.get("exitCode")
        for rule in job.retry_strategy.get("evaluateOnExit") or []:
            if (
                glob(rule.get("onStatusReason"), attempt.get("statusReason"))
                and glob(rule.get("onReason"), container.get("reason"))
                and glob(rule.get("onExitCode"), None if exit_code is None else str(exit_code))
            ):
                return str(rule.get("action", "")).upper() == "RETRY"
        return True
