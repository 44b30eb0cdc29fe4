"""Batch EventBridge events for our own jobs, made from the real-shaped samples in events/."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.eventdata import load_event

SAMPLES = {
    "RUNNABLE": "batch-job-state-change-runnable",
    "STARTING": "batch-job-state-change-starting",
    "RUNNING": "batch-job-state-change-running",
    "SUCCEEDED": "batch-job-state-change-succeeded",
    "FAILED": "batch-job-state-change-failed-app-error",
    "ARRAY_FAILED": "batch-job-state-change-failed-array",
    "OOM": "batch-job-state-change-failed-oom",
    "RECLAIM": "batch-job-state-change-failed-spot-reclaim",
    "TIMEOUT": "batch-job-state-change-failed-timeout",
    "IMAGE": "batch-job-state-change-failed-image-pull",
    "CAPACITY": "batch-job-state-change-runnable-capacity",
    "CANCELLED": "batch-job-state-change-cancelled",
    "BLOCKED": "batch-job-queue-blocked",
}
BASE_TIME = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def batch_event(
    kind: str,
    *,
    job_id: str,
    attempt: int,
    batch_job_id: str,
    queue_arn: str,
    name: str = "job",
    seconds: float = 0,
    event_id: str | None = None,
    memory_mib: int | None = None,
    exit_code: int | None = None,
    when: datetime | None = None,
) -> dict[str, Any]:
    event = copy.deepcopy(load_event(SAMPLES[kind]))
    at = when or BASE_TIME + timedelta(seconds=seconds)
    event["id"] = event_id or str(uuid.uuid4())
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    arn = f"arn:aws:batch:us-east-1:123456789012:job/{batch_job_id}"
    event["resources"] = [arn] + [r for r in event["resources"] if ":job-queue/" in r]
    detail = event["detail"]
    detail["jobArn"] = arn
    detail["jobId"] = batch_job_id
    detail["jobName"] = f"bp-{job_id}-a{attempt}-{name}"
    detail["jobQueue"] = queue_arn
    detail["tags"] = {"batchplane:jobId": job_id, "batchplane:attempt": str(attempt), "batchplane:tenant": "t"}
    if memory_mib is not None:
        for req in detail.get("container", {}).get("resourceRequirements", []):
            if req["type"] == "MEMORY":
                req["value"] = str(memory_mib)
    if exit_code is not None:
        detail["attempts"][-1]["container"]["exitCode"] = exit_code
        detail["container"]["exitCode"] = exit_code
    return event
