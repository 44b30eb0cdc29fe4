"""The local Batch's runner: a placed job's container run as a process group on this machine, watched for its memory
limit and its timeout, its output streamed as log lines, its exit turned into the attempt AWS Batch records.

Memory (MEMORY requirement, MiB) is enforced on resident memory, peaks included (see `forkserver`); a timeout sends
SIGTERM, then SIGKILL after a grace; a kill asked by TerminateJob, a Spot reclaim or the end of a multi-node job's
main node is carried out here. What the attempt's end means for the job (retry, finish) is `BatchState`'s call."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import psutil

from batchplane_local.batch.model import (
    ACTIVE,
    ESSENTIAL_EXITED,
    FARGATE_SPOT_INTERRUPTED,
    HOST_TERMINATED,
    OOM_REASON,
    TASK_FAILED_TO_START,
    TIMEOUT_REASON,
    ComputeEnvironment,
    Job,
    LogCallback,
    Proc,
    instance_id,
    now_ms,
    requirements,
)
from batchplane_local.batch.spawn import Child, ForkServer
from batchplane_local.batch.state import BatchState

log = logging.getLogger(__name__)


def _peak_rss(pid: int) -> int:
    """A process's peak resident set (VmHWM, bytes): a high-water mark the kernel keeps, so no burst is missed."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_memory(root: psutil.Process) -> tuple[int, int]:
    """(sum of the current RSS of the job's processes, the largest peak RSS of any of them), in bytes: the job's
    process and its descendants."""
    total = peak = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
        peak = max(peak, _peak_rss(p.pid))
    return total, peak


def _check_executable(command: str, path: str | None, cwd: str) -> None:
    """Raise as Popen would for a command that cannot be run (the fork server runs it; a job that cannot start must
    still fail with CannotStartContainerError before it is RUNNING)."""
    if os.sep in command:
        target = Path(cwd, command)
        if not target.is_file():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), command)
        if not os.access(target, os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), command)
    elif shutil.which(command, path=path) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), command)


class Runner:
    """Runs containers as process groups, one thread each; `open()` before the first, `close()` after the last."""

    def __init__(
        self,
        state: BatchState,
        *,
        on_log: LogCallback | None,
        monitor_interval: float,
        kill_grace_seconds: float,
        log_dir: Path | None,
        work_dir: Path | None,
        base_env: Mapping[str, str],
    ) -> None:
        self.state = state
        self.on_log = on_log
        self.monitor_interval = monitor_interval
        self.kill_grace_seconds = kill_grace_seconds
        self.log_dir = log_dir
        self.base_env = dict(base_env)
        self._work_dir_arg = work_dir
        self._work_dir: Path | None = None
        self._threads: list[threading.Thread] = []
        self._forks: ForkServer | None = None

    @property
    def fork_servers_started(self) -> int:
        """How many fork servers this runner has started (one for its life unless one was killed)."""
        return self._forks.starts if self._forks is not None else 0

    def open(self) -> None:
        """Make the directory the containers' working directories go in (a temporary one unless one was given)."""
        if self._work_dir_arg is not None:
            self._work_dir_arg.mkdir(parents=True, exist_ok=True)
            self._work_dir = self._work_dir_arg
        else:
            self._work_dir = Path(tempfile.mkdtemp(prefix="batchplane-local-batch-"))
        self._forks = ForkServer()  # its process starts with the first job

    def join(self, deadline: float) -> None:
        """Wait (until ``deadline``, a monotonic time) for the containers' threads to end."""
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Forget the threads and remove the temporary work directory (call with the state's lock held)."""
        self._threads = []
        if self._forks is not None:
            self._forks.close()
        if self._work_dir is not None and self._work_dir_arg is None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
        self._work_dir = None

    def launch(self, procs: list[Proc]) -> None:
        """Start each prepared container in a thread of its own."""
        for proc in procs:
            thread = threading.Thread(target=self._run, args=(proc,), name=f"job-{proc.job.job_id}", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def prepare(self, job: Job, ce: ComputeEnvironment, attempt: int) -> Proc:
        container = job.container or {}
        task_id = uuid.uuid4().hex
        log_stream = f"{job.definition.name}/default/{task_id}"
        container.update(
            containerInstanceArn=f"arn:aws:ecs:{self.state.region}:{self.state.account}:container-instance/{ce.cluster_name}/"
            f"{uuid.uuid4().hex}",
            taskArn=f"arn:aws:ecs:{self.state.region}:{self.state.account}:task/{ce.cluster_name}/{task_id}",
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
        reqs = requirements(container)
        memory = reqs.get("MEMORY")
        timeout_s = float(job.timeout["attemptDurationSeconds"]) if job.timeout else None
        if self._work_dir is None:
            raise RuntimeError("LocalBatch.start() was not called")
        cwd = tempfile.mkdtemp(prefix=job.job_id.replace(":", "_").replace("#", "_") + "-", dir=self._work_dir)
        lines: list[str] = []
        self.state.logs[log_stream] = lines
        proc = Proc(
            job=job,
            argv=[str(a) for a in container.get("command") or []],
            env=env,
            cwd=cwd,
            mem_limit=int(float(memory) * 1024 * 1024) if memory else None,
            timeout_s=timeout_s,
            log_stream=log_stream,
            instance_id=instance_id(),
            lines=lines,
        )
        job.procs = [proc]
        return proc

    def _run(self, proc: Proc) -> None:
        if not proc.argv:
            self._finished(proc, None, start_error="CannotStartContainerError: no command specified")
            return
        forks = self._forks
        if forks is None:
            raise RuntimeError("LocalBatch.start() was not called")
        try:
            _check_executable(proc.argv[0], proc.env.get("PATH"), proc.cwd)
            popen = forks.spawn(proc.argv, proc.env, proc.cwd)
        except Exception as exc:  # noqa: BLE001 - any failure to start (OSError, a NUL byte's ValueError) ends the job
            # FAILED with a reason: a job left STARTING would hold its vCPUs, and every queue behind them, forever.
            self._finished(proc, None, start_error=f"CannotStartContainerError: {exc}")
            return
        with self.state.cond:
            proc.popen = popen
            proc.started_at = now_ms()
            self._on_running(proc)
            if proc.kill_reason is not None and proc.hard_kill:
                proc.signal(signal.SIGKILL)
        reader = threading.Thread(target=self._read_output, args=(proc, popen.stdout), daemon=True)
        reader.start()
        peak = self._monitor(proc, popen)
        # The container is gone: nothing it started survives it.
        proc.signal(signal.SIGKILL)
        peak = max(peak, popen.peak)
        if proc.mem_limit is not None and peak > proc.mem_limit:
            with self.state.lock:
                if proc.kill_reason is None:  # over its memory between two looks: a cgroup would have killed it
                    proc.kill_reason, proc.hard_kill = "oom", True
        reader.join(2.0)
        self._finished(proc, popen.returncode)

    def _monitor(self, proc: Proc, popen: Child) -> int:
        """Watch a running container until it exits: its timeout, its memory, the kills asked of it. Returns
        the largest peak RSS (bytes) seen in its processes."""
        deadline = time.monotonic() + proc.timeout_s if proc.timeout_s else None
        root: psutil.Process | None = None
        if proc.mem_limit:
            with contextlib.suppress(psutil.Error):  # gone already: its peak comes from its reaping
                root = psutil.Process(popen.pid)
        peak = 0
        while popen.poll() is None:
            now = time.monotonic()
            over = False
            if root is not None and proc.mem_limit is not None:
                total, tree_peak = _tree_memory(root)
                peak = max(peak, tree_peak)
                over = max(total, peak) > proc.mem_limit
            with self.state.lock:
                if deadline is not None and now >= deadline and proc.kill_reason is None:
                    proc.kill_reason = "timeout"
                if over and proc.kill_reason is None:
                    proc.kill_reason = "oom"
                    proc.hard_kill = True
                reason, hard = proc.kill_reason, proc.hard_kill
            if reason is not None:
                if hard:
                    proc.signal(signal.SIGKILL)
                elif proc.term_at is None:
                    proc.signal(signal.SIGTERM)
                    proc.term_at = now
                elif now - proc.term_at >= self.kill_grace_seconds:
                    proc.signal(signal.SIGKILL)
            # woken by the exit itself: a short job is not held for the rest of an interval (a `true` ran 60 ms)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(self.monitor_interval)
        return peak

    def _read_output(self, proc: Proc, stream: IO[bytes] | None) -> None:
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
                with self.state.lock:
                    proc.lines.append(line)
                if self.on_log is not None:
                    try:
                        self.on_log(proc.log_stream, now_ms(), line)
                    except Exception:
                        log.exception("on_log callback failed for %s", proc.log_stream)
                if log_file is not None:
                    log_file.write(line + "\n")
                    log_file.flush()
        finally:
            stream.close()
            if log_file is not None:
                log_file.close()

    def _on_running(self, proc: Proc) -> None:
        job = proc.job
        if self.state.stopping or job.status not in ACTIVE:
            return
        job.started_at = proc.started_at
        self.state.set_status(job, "RUNNING")
        parent = job.parent
        if job.node_index is not None and parent is not None and parent.status == "STARTING":
            parent.started_at = proc.started_at
            self.state.set_status(parent, "RUNNING")

    def _finished(self, proc: Proc, returncode: int | None, start_error: str | None = None) -> None:
        with self.state.cond:
            proc.done = True
            if self.state.stopping:
                return
            job = proc.job
            kind = proc.kill_reason
            exit_code = None if returncode is None else (128 - returncode if returncode < 0 else returncode)
            container_reason: str | None = None
            if start_error is not None:
                status_reason, container_reason, exit_code = TASK_FAILED_TO_START, start_error, None
            elif kind == "interrupt" and job.ce is not None and job.ce.fargate and job.ce.capacity == "spot":
                status_reason, exit_code = FARGATE_SPOT_INTERRUPTED, None
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
                "startedAt": proc.started_at or now_ms(),
                "stoppedAt": now_ms(),
                "statusReason": status_reason,
            }
            success = start_error is None and kind is None and exit_code == 0
            if job.node_index is not None and job.parent is not None:
                self.state.node_finished(job, job.parent, proc, success=success, reason=status_reason, attempt=attempt)
            else:
                self.state.attempt_finished(job, success, status_reason, attempt, kind)
