"""A failed array job is classified from its children (the parent says only "Array Child Job failed"), retried whole
when its children's class is retryable, and its record says which children failed and why. Real-shaped events,
moto's Batch holding the array's children, every call authorised against the job-events function's role."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.conftest import REGION, Stack
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration

ESSENTIAL = "Essential container in task exited"


def fail_children(batch_job_id: str, outcomes: dict[int, tuple[int | None, str]]) -> None:
    """Batch's side of the story: these children of the array FAILED with (exit code, statusReason)."""
    from moto.batch.models import batch_backends

    jobs = batch_backends["123456789012"][REGION]._jobs
    for index, (exit_code, reason) in outcomes.items():
        child = jobs[f"{batch_job_id}:{index}"]
        child.status = "FAILED"
        child.exit_code = exit_code
        child.job_stopped_reason = reason
        child.job_stopped = True
        child.job_stopped_at = dt.datetime.now()


def batch_id_of(job_id: str, attempt: int) -> str:
    """The Batch job id of an attempt's array parent (the record learns it from the attempt's first event)."""
    from moto.batch.models import batch_backends

    jobs = batch_backends["123456789012"][REGION]._jobs.values()
    return next(j.job_id for j in jobs if j.job_name.startswith(f"bp-{job_id}-a{attempt}-") and ":" not in j.job_id)


def parent_failed(plane: Plane, job: dict[str, Any], attempt: int, failed: int, size: int) -> dict[str, Any]:
    event = plane.event("ARRAY_FAILED", job, attempt=attempt, seconds=10 * attempt)
    batch_job_id = batch_id_of(job["jobId"], attempt)
    event["detail"]["jobId"] = batch_job_id
    event["detail"]["jobArn"] = event["resources"][0] = f"arn:aws:batch:{REGION}:123456789012:job/{batch_job_id}"
    event["detail"]["arrayProperties"] = {"statusSummary": {"SUCCEEDED": size - failed, "FAILED": failed}, "size": size}
    return event


def batch_calls(stack: Stack) -> list[str]:
    return sorted(op for op in stack.calls.counts.elements() if op.startswith("batch."))


def test_an_array_whose_child_exited_1_is_retried_whole_and_says_which_child(plane: Plane, stack: Stack) -> None:
    # GIVEN an array of 3 allowed 2 attempts, whose child 1 exited 1
    job = plane.submit({"name": "arr", "arraySize": 3, "retry": {"attempts": 2, "backoff": {"baseSeconds": 0}}})
    first = batch_id_of(job["jobId"], 1)
    fail_children(first, {1: (1, ESSENTIAL)})
    stack.calls.reset()
    # WHEN the parent's FAILED event arrives ("Array Child Job failed", no exit code of its own)
    outcome = plane.deliver(parent_failed(plane, job, attempt=1, failed=1, size=3))
    # THEN it is an app error: one ListJobs of the failed children, one SubmitJob of the whole array again
    assert outcome == "retry"
    assert batch_calls(stack) == ["batch.ListJobs", "batch.SubmitJob"]
    listed = stack.calls.last("batch.ListJobs")
    assert (listed["arrayJobId"], listed["jobStatus"]) == (first, "FAILED")
    assert stack.calls.last("batch.SubmitJob")["arrayProperties"] == {"size": 3}
    # AND the job says which child failed and why
    shown = plane.job(job["jobId"])
    assert shown["attempts"][0]["failureClass"] == "app-error"
    assert "child 1 of 3 exited 1: Essential container in task exited" in shown["statusReason"]
    assert "child 1 of 3 exited 1" in shown["attempts"][1]["explanation"]
    # AND when the second attempt fails the same way, the job ends FAILED naming the class and the child
    fail_children(batch_id_of(job["jobId"], 2), {1: (1, ESSENTIAL)})
    assert plane.deliver(parent_failed(plane, shown, attempt=2, failed=1, size=3)) == "gave-up"
    final = plane.job(job["jobId"])
    assert final["status"] == "FAILED"
    assert final["attempts"][1]["failureClass"] == "app-error"
    assert final["statusReason"].startswith("Array Child Job failed: child 1 of 3 exited 1")
    assert stack.enforcer.denied == []


def test_an_array_child_exit_code_in_never_retry_ends_it_at_once(plane: Plane, stack: Stack) -> None:
    # GIVEN an array whose children exited 3 and 4, where 4 is never retried
    job = plane.submit({"name": "arr", "arraySize": 4, "retry": {"attempts": 3, "neverRetryExitCodes": [4]}})
    fail_children(batch_id_of(job["jobId"], 1), {0: (3, ESSENTIAL), 2: (4, ESSENTIAL)})
    # WHEN the parent fails
    outcome = plane.deliver(parent_failed(plane, job, attempt=1, failed=2, size=4))
    # THEN re-running the whole array is pointless: it ends FAILED, naming both children
    assert outcome == "gave-up"
    final = plane.job(job["jobId"])
    assert "2 of 4 children failed: child 0 of 4 exited 3" in final["statusReason"]
    assert "child 2 of 4 exited 4" in final["statusReason"]
    assert "exit code 4 is in neverRetryExitCodes" in final["statusReason"]


def test_a_cancelled_array_is_not_looked_into(plane: Plane, stack: Stack) -> None:
    # GIVEN an array cancelled through the API (its parent's reason is batchplane's own)
    job = plane.submit({"name": "arr", "arraySize": 2, "retry": {"attempts": 3}})
    event = parent_failed(plane, job, attempt=1, failed=2, size=2)
    event["detail"]["statusReason"] = "batchplane: cancelled by the user"
    stack.calls.reset()
    # WHEN the parent's FAILED event arrives
    assert plane.deliver(event) == "cancelled"
    # THEN no call to Batch was needed to know it was cancelled
    assert batch_calls(stack) == []
    final = plane.job(job["jobId"])
    assert final["attempts"][0]["failureClass"] == "cancelled"
    assert final["status"] == "CANCELLED"
