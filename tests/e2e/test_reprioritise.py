"""End to end on the local stack (every function under its enforced IAM role): a job waiting for Spot capacity says
why (AWS's reason, since when, the dwell before its fallback), a job held for it names it as its dependency, and
re-prioritising the waiting job moves it to the urgent class's queue with one new attempt, where it runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Api, local_stack

pytestmark = pytest.mark.e2e

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


@pytest.fixture(scope="module")
def starved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    # no Spot capacity at all: a spot-first job waits RUNNABLE with AWS's capacity reason (it heads its queue)
    args = ("--sweep-interval", "0.5", "--spot-vcpus", "0", "--on-demand-vcpus", "2")
    with local_stack(Path(tmp_path_factory.mktemp("reprioritise")), *args) as api:
        yield api


def queue_name(api: Api, priority: str, capacity: str) -> str:
    queues = api.http.get("/queues").json()["queues"]
    return next(q["queue"] for q in queues if (q["priority"], q["capacity"]) == (priority, capacity))


def batch_jobs_of(api: Api, job_id: str) -> list[dict[str, Any]]:
    """The local Batch's jobs made for ``job_id`` (each attempt is one Batch job named bp-<jobId>-a<n>-...)."""
    jobs = api.http.get("/_local/batch/jobs").json()["jobs"]
    return sorted((j for j in jobs if j["jobName"].startswith(f"bp-{job_id}-")), key=lambda j: j["jobName"])


def test_waiting_names_batch_capacity_and_a_dependency_then_reprioritising_moves_the_job(starved: Api) -> None:
    api = starved
    # GIVEN a spot-first job on a Spot environment with no capacity (a long dwell: the sweeper leaves it there)
    stuck = api.submit({"name": "stuck", "command": ["true"], "retry": {"stuckRunnableSeconds": 3600}})
    job = api.wait_until(
        stuck["jobId"],
        lambda j: (j["attempts"][0].get("statusReason") or "").startswith("CAPACITY:"),
        "Batch's capacity reason",
    )
    # WHEN it is read  THEN `waiting` names Batch's capacity: AWS's reason, since when, the dwell before On-Demand
    waiting = job["waiting"]
    assert waiting["hold"] == "capacity", waiting
    assert waiting["awsReason"] == "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    assert waiting["statusReason"] == job["attempts"][0]["statusReason"]
    assert waiting["since"] is not None
    assert waiting["spotDwellSeconds"] == 3600
    assert "fallbackAt" in waiting
    assert "On-Demand" in waiting["reason"]
    # AND a job held for it names it as the dependency it waits on, with its state
    held = api.submit({"name": "after", "command": ["true"], "dependsOn": [{"jobId": stuck["jobId"]}]})
    waiting = api.job(held["jobId"])["waiting"]
    assert waiting["hold"] == "dependencies", waiting
    assert waiting["waitingOn"] == [stuck["jobId"]]
    assert waiting["dependencies"] == [{"jobId": stuck["jobId"], "status": "RUNNABLE"}]
    assert stuck["jobId"] in waiting["reason"]

    # WHEN the waiting job is re-prioritised to urgent
    r = api.http.post(f"/jobs/{stuck['jobId']}/priority", json={"priority": "urgent"})
    assert r.status_code == 200, r.text
    assert (r.json()["action"], r.json()["attempt"]) == ("replaced", 2)
    # THEN one new attempt waits in the urgent Spot queue, and the old Batch job is ended
    urgent_spot = queue_name(api, "urgent", "spot")
    job = api.wait_attempt(stuck["jobId"], 2, {"RUNNABLE"})
    assert [(a["reason"], a["queue"]) for a in job["attempts"]] == [
        ("initial", queue_name(api, "normal", "spot")),
        ("reprioritised", urgent_spot),
    ]
    assert (job["priority"], job["queue"]) == ("urgent", urgent_spot)
    in_batch = batch_jobs_of(api, stuck["jobId"])
    assert [(j["jobName"].split("-")[2], j["status"]) for j in in_batch] == [("a1", "FAILED"), ("a2", "RUNNABLE")]
    # AND asking again changes nothing
    again = api.http.post(f"/jobs/{stuck['jobId']}/priority", json={"priority": "urgent"})
    assert again.json()["action"] == "unchanged"
    # AND the held job moves at once (nothing of it is in Batch)
    r = api.http.post(f"/jobs/{held['jobId']}/priority", json={"priority": "urgent"})
    assert (r.status_code, r.json()["action"]) == (200, "moved"), r.text

    # WHEN Spot capacity comes back
    api.http.put("/_local/capacity", json={"capacity": "spot", "maxVcpus": 4})
    # THEN the new attempt runs and succeeds; the old one never ran; the held job follows in its new class
    done = api.wait(stuck["jobId"], TERMINAL, timeout=60)
    assert done["status"] == "SUCCEEDED", done
    assert [a["status"] for a in done["attempts"]] == ["FAILED", "SUCCEEDED"]
    assert done["attempts"][0]["startedAt"] is None
    assert done.get("waiting") is None
    after = api.wait(held["jobId"], TERMINAL, timeout=60)
    assert after["status"] == "SUCCEEDED", after
    assert [a["queue"] for a in after["attempts"]] == [urgent_spot]
    assert len(batch_jobs_of(api, stuck["jobId"])) == 2


def test_a_running_job_cannot_change_class(starved: Api) -> None:
    api = starved
    # GIVEN a job running On-Demand
    job = api.submit({"name": "runs", "command": ["sh", "-c", "sleep 5"], "capacity": "on-demand"})
    api.wait(job["jobId"], {"RUNNING"}, timeout=30)
    # WHEN re-prioritised  THEN 409 problem+json, and it runs on where it is
    r = api.http.post(f"/jobs/{job['jobId']}/priority", json={"priority": "urgent"})
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert api.wait(job["jobId"], TERMINAL, timeout=30)["status"] == "SUCCEEDED"
