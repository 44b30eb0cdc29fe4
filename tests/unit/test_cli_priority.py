"""`batchplane priority JOB CLASS`, and a waiting job's `waiting` in one line in `status` and `watch`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from batchplane_local import cli

from tests.unit.test_cli import JOB_ID, _job, _ok, _wide_terminal, mock_api, runner  # noqa: F401 - fixtures

pytestmark = pytest.mark.unit

CAPACITY = {
    "hold": "capacity",
    "reason": "RUNNABLE in bp-normal-spot since 2025-01-01T00:00:00.000Z: Batch says CAPACITY:INSUFFICIENT_INSTANCE"
    "_CAPACITY; moves to On-Demand (bp-normal-od) at the first sweep after 2025-01-01T00:05:00.000Z (in 240s)",
    "ahead": None,
    "awsReason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
}


def test_priority_posts_the_class_and_prints_what_was_done(mock_api: Any) -> None:  # noqa: F811
    # GIVEN an API that replaces the job's attempt
    answer = {
        "jobId": JOB_ID,
        "priority": "urgent",
        "previousPriority": "normal",
        "action": "replaced",
        "reason": "re-prioritised from normal to urgent: replaces attempt 1 (RUNNABLE in bp-normal-spot)",
        "status": "SUBMITTED",
        "queue": "bp-urgent-spot",
        "attempt": 2,
        "replaced": 1,
    }
    api = mock_api(_ok(answer))
    # WHEN `batchplane priority JOB urgent`
    result = runner.invoke(cli.app, ["priority", JOB_ID, "urgent"])
    # THEN POST /jobs/{id}/priority {"priority": "urgent"}, and the change is printed
    assert result.exit_code == 0, result.output
    assert (api.requests[0].method, api.requests[0].url.path) == ("POST", f"/jobs/{JOB_ID}/priority")
    assert api.body() == {"priority": "urgent"}
    for text in ("replaced", "normal -> urgent", "a2", "bp-urgent-spot"):
        assert text in result.stdout


def test_priority_refused_is_one_line_and_exit_1(mock_api: Any) -> None:  # noqa: F811
    problem = {"type": "x", "title": "Conflict with the resource's state", "status": 409, "detail": "it is RUNNING"}
    mock_api(lambda _r: httpx.Response(409, json=problem, headers={"content-type": "application/problem+json"}))
    result = runner.invoke(cli.app, ["priority", JOB_ID, "urgent"])
    assert result.exit_code == 1
    assert "409" in result.output
    assert "RUNNING" in result.output


def test_status_shows_waiting_in_one_line(mock_api: Any) -> None:  # noqa: F811
    # GIVEN a RUNNABLE job held for capacity
    mock_api(_ok({**_job("RUNNABLE"), "waiting": CAPACITY}))
    # WHEN its status is shown  THEN one line says what holds it
    result = runner.invoke(cli.app, ["status", JOB_ID])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("waiting")]
    assert len(lines) == 1
    assert "capacity: RUNNABLE in bp-normal-spot" in lines[0]


def test_watch_prints_a_line_when_the_hold_changes(mock_api: Any) -> None:  # noqa: F811
    # GIVEN a job held by its dependency, then RUNNABLE for capacity, then done
    deps = {"hold": "dependencies", "reason": "waiting for 1 of 1 dependency to succeed: J0 (RUNNING)", "ahead": 0}
    answers = iter(
        [
            {**_job("PENDING"), "waiting": deps},
            {**_job("PENDING"), "waiting": deps},
            {**_job("RUNNABLE"), "waiting": CAPACITY},
            _job("SUCCEEDED"),
        ]
    )
    mock_api(lambda _r: httpx.Response(200, json=next(answers)))
    # WHEN watched
    result = runner.invoke(cli.app, ["watch", JOB_ID, "--interval", "0"])
    # THEN each hold is printed once, on the job's progress line
    assert result.exit_code == 0, result.output
    assert result.output.count("waiting: dependencies") == 1
    assert result.output.count("waiting: capacity") == 1
