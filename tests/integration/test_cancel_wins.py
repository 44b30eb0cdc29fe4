"""A cancel wins over every path that would start work: held release, due retries, stuck-RUNNABLE moves, reconcile
resubmits, retries decided on a failure and array re-runs. Each path is raced by a cancel that lands after the path
read the job and before it starts anything (decided by a conditional write, not by the read), and a cancelled job
ends in its own status, CANCELLED, while its attempts keep Batch's statuses."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.apigw import http_event, response_json
from tests.conftest import Stack
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration


def submit_calls(stack: Stack) -> list[dict[str, Any]]:
    return [p for op, p in stack.calls.requests if op == "batch.SubmitJob"]


def cancel(plane: Plane, job_id: str) -> dict[str, Any]:
    event = http_event(
        "POST", f"/jobs/{job_id}/cancel", body={}, route="POST /jobs/{jobId}/cancel", path_parameters={"jobId": job_id}
    )
    response = plane.gateway.lambda_handler(event, plane.ctx)
    assert response["statusCode"] == 200, response["body"]
    return response_json(response)


def succeed(plane: Plane, job: dict[str, Any]) -> None:
    for i, kind in enumerate(("RUNNABLE", "RUNNING", "SUCCEEDED")):
        plane.deliver(plane.event(kind, job, seconds=i))


def cancel_after(
    monkeypatch: pytest.MonkeyPatch, plane: Plane, cls: Any, method: str, job_id: str, when: Callable[..., bool]
) -> list[dict[str, Any]]:
    """Make ``cls.method`` land a cancel of ``job_id`` right after it returns (once, when ``when(*args)``): the read
    a start path acts on is then stale."""
    real = getattr(cls, method)
    answers: list[dict[str, Any]] = []

    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(self, *args, **kwargs)
        if not answers and when(*args, **kwargs):
            answers.append(cancel(plane, job_id))
        return out

    monkeypatch.setattr(cls, method, wrapped)
    return answers


def bucket_named(name: str) -> Callable[..., bool]:
    return lambda bucket, *_a, **_k: bucket == name


def test_a_held_job_cancelled_ends_cancelled_at_once_and_is_never_released(plane: Plane, stack: Stack) -> None:
    # GIVEN a job held for its dependency
    dep = plane.submit({"name": "dep"})
    held = plane.submit({"name": "held", "dependsOn": [{"jobId": dep["jobId"]}]})
    # WHEN it is cancelled while held
    answer = cancel(plane, held["jobId"])
    # THEN it is CANCELLED at once, and filterable as such
    assert answer["status"] == "CANCELLED"
    assert plane.job(held["jobId"])["status"] == "CANCELLED"
    listed = plane.gateway.lambda_handler(
        http_event("GET", "/jobs", query={"status": "CANCELLED"}, route="GET /jobs"), plane.ctx
    )
    assert [j["jobId"] for j in response_json(listed)["jobs"]] == [held["jobId"]]
    # AND when its dependency succeeds and the sweeper runs, it is never submitted
    succeed(plane, dep)
    stack.calls.reset()
    assert plane.sweep()["released"] == []
    assert submit_calls(stack) == []
    assert plane.job(held["jobId"])["status"] == "CANCELLED"


def test_a_cancel_landing_between_the_held_read_and_the_release_wins(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.adapters.dynamo.attempts import DynamoLifecycleStore

    # GIVEN a held job whose dependency succeeded
    dep = plane.submit({"name": "dep"})
    held = plane.submit({"name": "held", "dependsOn": [{"jobId": dep["jobId"]}]})
    succeed(plane, dep)
    # AND a cancel that lands right after the sweeper read the held jobs
    answers = cancel_after(monkeypatch, plane, DynamoLifecycleStore, "bucket", held["jobId"], bucket_named("HELD"))
    stack.calls.reset()
    # WHEN the sweeper runs
    report = plane.sweep()
    # THEN the cancel won: nothing was submitted and the job is CANCELLED
    assert answers[0]["status"] == "CANCELLED"
    assert report["released"] == []
    assert submit_calls(stack) == []
    assert plane.job(held["jobId"])["status"] == "CANCELLED"


def _in_backoff(plane: Plane) -> dict[str, Any]:
    job = plane.submit({"name": "flaky", "retry": {"attempts": 3, "backoff": {"baseSeconds": 0.2, "maxSeconds": 0.2}}})
    assert plane.deliver(plane.event("FAILED", job, seconds=1)) == "retry-scheduled"
    return job


def test_a_cancel_during_a_retry_backoff_stops_the_next_attempt(plane: Plane, stack: Stack) -> None:
    # GIVEN a job waiting out its retry backoff
    job = _in_backoff(plane)
    # WHEN it is cancelled, and the retry falls due
    assert cancel(plane, job["jobId"])["status"] == "CANCELLED"
    time.sleep(0.25)
    stack.calls.reset()
    report = plane.sweep()
    # THEN no next attempt is submitted; the job is CANCELLED and its first attempt keeps Batch's FAILED
    assert report["released"] == []
    assert submit_calls(stack) == []
    shown = plane.job(job["jobId"])
    assert shown["status"] == "CANCELLED"
    assert shown["attempts"][0]["status"] == "FAILED"


def test_a_cancel_landing_between_the_due_read_and_the_release_wins(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.adapters.dynamo.attempts import DynamoLifecycleStore

    job = _in_backoff(plane)
    time.sleep(0.25)
    answers = cancel_after(monkeypatch, plane, DynamoLifecycleStore, "bucket", job["jobId"], bucket_named("RETRY"))
    stack.calls.reset()
    report = plane.sweep()
    assert answers[0]["status"] == "CANCELLED"
    assert report["released"] == []
    assert submit_calls(stack) == []
    assert plane.job(job["jobId"])["status"] == "CANCELLED"


def test_a_cancel_landing_between_the_stuck_read_and_the_move_wins(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.adapters.dynamo.attempts import DynamoLifecycleStore

    # GIVEN a spot-first job blocked for capacity for 10 minutes
    stuck = plane.submit({"name": "stuck", "retry": {"stuckRunnableSeconds": 60}})
    plane.deliver(plane.event("CAPACITY", stuck, when=datetime.now(UTC) - timedelta(minutes=10)))
    answers = cancel_after(monkeypatch, plane, DynamoLifecycleStore, "bucket", stuck["jobId"], bucket_named("RUNNABLE"))
    stack.calls.reset()
    # WHEN the sweeper would move it to On-Demand, but a cancel lands after its read
    report = plane.sweep()
    # THEN it is not moved: no new attempt, nothing submitted
    assert answers
    assert report["moved_to_on_demand"] == []
    assert submit_calls(stack) == []
    assert len(plane.job(stuck["jobId"])["attempts"]) == 1
    # AND the terminated attempt's FAILED event ends the job CANCELLED, its attempt FAILED
    assert plane.deliver(plane.event("CANCELLED", stuck, seconds=900)) == "cancelled"
    shown = plane.job(stuck["jobId"])
    assert (shown["status"], shown["attempts"][0]["status"]) == ("CANCELLED", "FAILED")


def test_a_cancel_landing_between_the_reconcile_read_and_the_resubmit_wins(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane import wiring
    from batchplane.adapters.dynamo.attempts import DynamoLifecycleStore

    # GIVEN a job whose record was written but whose SubmitJob never happened (the gateway died in between)
    # (a repair window of 0 s for the whole stack, set before anything is written: each write files the job due for
    # the sweeper's look after the window in force then)
    monkeypatch.setenv("REPAIR_AFTER_SECONDS", "0")
    wiring.settings.cache_clear()
    wiring.job_service.cache_clear()
    wiring.lifecycle_service.cache_clear()

    class Died(BaseException):
        pass

    def die(_request: dict[str, Any], **_: Any) -> str:
        raise Died

    svc = wiring.job_service()
    real_submit = svc._batch.submit
    svc._batch.submit = die  # type: ignore[method-assign]
    try:
        with pytest.raises(Died):
            plane.submit({"name": "orphan"})
    finally:
        svc._batch.submit = real_submit  # type: ignore[method-assign]
    monkeypatch.setenv("REPAIR_AFTER_SECONDS", "0")
    wiring.lifecycle_service.cache_clear()
    wiring.settings.cache_clear()
    job_id = next(iter(_jobs(plane)))
    answers = cancel_after(monkeypatch, plane, DynamoLifecycleStore, "bucket", job_id, bucket_named("ACTIVE"))
    stack.calls.reset()
    # WHEN the sweeper would resubmit it, but a cancel lands after its read; and the sweeper runs again
    first = plane.sweep()
    second = plane.sweep()
    # THEN it is never submitted, and ends CANCELLED
    assert answers
    assert first["repaired"] == []
    assert submit_calls(stack) == []
    assert plane.job(job_id)["status"] == "CANCELLED", second


def _jobs(plane: Plane) -> list[str]:
    listed = plane.gateway.lambda_handler(http_event("GET", "/jobs", route="GET /jobs"), plane.ctx)
    return [j["jobId"] for j in response_json(listed)["jobs"]]


def test_a_cancel_landing_between_the_failure_and_the_retry_wins(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.adapters.dynamo.attempts import DynamoLifecycleStore

    # GIVEN a job that retries at once, and a cancel that lands right after its FAILED event was recorded
    job = plane.submit({"name": "flaky", "retry": {"attempts": 3, "backoff": {"baseSeconds": 0}}})
    answers = cancel_after(
        monkeypatch, plane, DynamoLifecycleStore, "apply_observation", job["jobId"], lambda obs, *_: True
    )
    stack.calls.reset()
    # WHEN the FAILED event is handled
    plane.deliver(plane.event("FAILED", job, seconds=1))
    # THEN no retry is submitted, and the job ends CANCELLED at once with its attempt FAILED
    assert answers
    assert submit_calls(stack) == []
    shown = plane.job(job["jobId"])
    assert (shown["status"], len(shown["attempts"]), shown["attempts"][0]["status"]) == ("CANCELLED", 1, "FAILED")


def test_a_cancelled_array_does_not_rerun_its_failed_children(plane: Plane, stack: Stack) -> None:
    # GIVEN an array that retries only failed children, cancelled while it runs
    job = plane.submit(
        {
            "name": "arr",
            "arraySize": 5,
            "retry": {"attempts": 3, "arrayRetry": "failed-children", "backoff": {"baseSeconds": 0}},
        }
    )
    cancel(plane, job["jobId"])
    parent = plane.event("CANCELLED", job, seconds=5)
    parent["detail"]["arrayProperties"] = {"statusSummary": {"SUCCEEDED": 3, "FAILED": 2}, "size": 5}
    children = []
    for index in (1, 3):
        child = plane.event("CANCELLED", job, seconds=4)
        child["detail"]["jobId"] = f"{parent['detail']['jobId']}:{index}"
        child["detail"]["arrayProperties"] = {"index": index}
        children.append(child)
    stack.calls.reset()
    # WHEN its children's and its own FAILED events arrive
    for event in [*children, parent]:
        plane.deliver(event)
    # THEN its failed children are not re-run: it ends CANCELLED
    assert submit_calls(stack) == []
    assert plane.job(job["jobId"])["status"] == "CANCELLED"


def test_a_cancel_landing_after_the_release_was_claimed_stops_the_job_it_submitted(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.adapters.batch import BatchAdapter

    # GIVEN a held job whose dependency succeeded, and a cancel that lands after the release was claimed, just as its
    # SubmitJob goes out (too early for the cancel to find the Batch job)
    dep = plane.submit({"name": "dep"})
    held = plane.submit({"name": "held", "dependsOn": [{"jobId": dep["jobId"]}]})
    succeed(plane, dep)
    real_submit = BatchAdapter.submit
    answers: list[dict[str, Any]] = []
    submitted: list[str] = []

    def submit(self: BatchAdapter, request: dict[str, Any], **kw: Any) -> str:
        if request["jobName"].startswith(f"bp-{held['jobId']}") and not answers:
            answers.append(cancel(plane, held["jobId"]))
            submitted.append(real_submit(self, request, **kw))
            return submitted[-1]
        return real_submit(self, request, **kw)

    monkeypatch.setattr(BatchAdapter, "submit", submit)
    assert plane.sweep()["released"] == [held["jobId"]]  # to the admission queue
    plane.dispatch()  # the dispatcher admits it and submits it
    assert answers[0]["action"] == "none"
    stack.calls.reset()
    # WHEN Batch reports the job it submitted
    shown = plane.job(held["jobId"])
    shown["attempts"][0]["batchJobId"] = submitted[0]
    plane.deliver(plane.event("RUNNABLE", shown, seconds=10))
    # THEN the control plane stops it at once
    assert stack.calls.counts["batch.TerminateJob"] == 1
    assert stack.calls.last("batch.TerminateJob")["jobId"] == submitted[0]
    # AND its FAILED event ends the job CANCELLED
    plane.deliver(plane.event("CANCELLED", shown, seconds=11))
    assert plane.job(held["jobId"])["status"] == "CANCELLED"


def test_a_pipeline_job_cancelled_in_its_backoff_ends_cancelled_at_the_next_sweep_and_its_pipeline_hears(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane import wiring

    from tests.integration.test_pipeline_advance import FakeExecutions

    # GIVEN a pipeline whose one job failed and waits out a long retry backoff
    body = {"name": "p", "jobs": [{"id": "a", "command": ["false"], "retry": {"attempts": 3}}]}
    created = plane.gateway.lambda_handler(
        http_event("POST", "/pipelines", body=body, route="POST /pipelines"), plane.ctx
    )
    assert created["statusCode"] == 202, created["body"]
    pid = response_json(created)["pipelineId"]
    svc = wiring.pipeline_service()
    fake = FakeExecutions()
    monkeypatch.setattr(svc, "_sfn", fake)
    with stack.acting_as("pipeline_tasks"):
        svc.on_token(pid, 1, "a", "t-a")
    with stack.observing():
        job_id = svc._store.get(pid).jobs["a"].job_id
    assert plane.deliver(plane.event("FAILED", plane.job(job_id), seconds=1)) == "retry-scheduled"
    # WHEN its owner cancels the job during the backoff, and the sweeper runs
    cancel(plane, job_id)
    stack.calls.reset()
    report = plane.sweep()
    # THEN it ends CANCELLED without a next attempt, and its pipeline hears: the job CANCELLED, its token answered
    assert report["cancelled"] == [job_id]
    assert submit_calls(stack) == []
    assert plane.job(job_id)["status"] == "CANCELLED"
    with stack.observing():
        assert svc._store.get(pid).jobs["a"].state == "CANCELLED"
    assert ("t-a", "CANCELLED") in fake.answers


def test_the_pipeline_list_says_how_many_jobs_each_has(plane: Plane) -> None:
    # GIVEN a pipeline of a job, a map of 3 and a job after them
    body = {
        "name": "counted",
        "jobs": [
            {"id": "a", "command": ["true"]},
            {"id": "m", "command": ["true"], "dependsOn": ["a"], "map": [{"i": "1"}, {"i": "2"}, {"i": "3"}]},
            {"id": "z", "command": ["true"], "dependsOn": ["m"]},
        ],
    }
    created = plane.gateway.lambda_handler(
        http_event("POST", "/pipelines", body=body, route="POST /pipelines"), plane.ctx
    )
    assert created["statusCode"] == 202, created["body"]
    pid = response_json(created)["pipelineId"]
    # WHEN the owner lists its pipelines, and reads the one
    listed = response_json(
        plane.gateway.lambda_handler(http_event("GET", "/pipelines", route="GET /pipelines"), plane.ctx)
    )
    one = response_json(
        plane.gateway.lambda_handler(
            http_event(
                "GET", f"/pipelines/{pid}", route="GET /pipelines/{pipelineId}", path_parameters={"pipelineId": pid}
            ),
            plane.ctx,
        )
    )
    # THEN the list (pipeline items only: no job's state) says it has 5 jobs once maps are expanded, as the
    # pipeline does, which also lists each
    (mine,) = [p for p in listed["pipelines"] if p["pipelineId"] == pid]
    assert (mine["jobCount"], mine["jobs"]) == (5, [])
    assert one["jobCount"] == len(one["jobs"]) == 5
