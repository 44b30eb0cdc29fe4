"""Fixtures for the local AWS Batch: a started LocalBatch with a Spot and an On-Demand compute environment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from batchplane_local import iam
from batchplane_local.batch import LocalBatch
from batchplane_local.stack.functions import LocalFunction

JOB_DEF = "bp-test"


@dataclass
class Recorder:
    """Collects every event LocalBatch publishes."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def of(self, job_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["detail"]["jobId"] == job_id]

    def statuses(self, job_id: str) -> list[str]:
        return [e["detail"]["status"] for e in self.of(job_id)]


@dataclass
class Env:
    batch: LocalBatch
    recorder: Recorder

    def statuses(self, job_id: str) -> list[str]:
        self.batch.flush_events()
        return self.recorder.statuses(job_id)

    def submit(self, command: list[str] | None = None, **request: Any) -> str:
        request.setdefault("jobName", "job")
        request.setdefault("jobQueue", "normal-spot")
        request.setdefault("jobDefinition", JOB_DEF)
        if command is not None:
            overrides = dict(request.pop("containerOverrides", {}) or {})
            overrides["command"] = command
            request["containerOverrides"] = overrides
        return self.batch.submit_job(**request)["jobId"]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    recorder = Recorder()
    batch = LocalBatch(
        on_event=recorder,
        poll_interval=0.01,
        monitor_interval=0.02,
        kill_grace_seconds=0.3,
        log_dir=tmp_path / "logs",
        work_dir=tmp_path / "work",
    )
    batch.add_compute_environment("spot-ce", capacity="spot", max_vcpus=4, instance_types=["m5.large", "m5.xlarge"])
    batch.add_compute_environment("od-ce", capacity="on-demand", max_vcpus=4, instance_types=["m5.large"])
    batch.add_job_queue("normal-spot", priority=10, compute_environments=["spot-ce"])
    batch.add_job_queue("normal-od", priority=10, compute_environments=["od-ce"])
    batch.register_job_definition(
        JOB_DEF,
        container_properties={
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/batchplane/worker:1",
            "command": ["sh", "-c", "echo hello; echo world"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "256"}],
        },
    )
    batch.start()
    try:
        yield Env(batch, recorder)
    finally:
        batch.stop()


def local_function(code_dir: Path, name: str, **options: Any) -> LocalFunction:
    """A function of the local stack from ``code_dir/app.py`` (``lambda_handler``), with a role that allows nothing."""
    return LocalFunction(
        logical_id=name,
        name=name,
        code_dir=code_dir,
        handler="app.lambda_handler",
        timeout=10,
        memory=128,
        environment={},
        principal=iam.Principal(function=name, role_name=f"{name}-role", statements=()),
        **options,
    )


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie has ended: only its parent's wait is missing)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
