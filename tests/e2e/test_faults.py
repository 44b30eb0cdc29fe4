"""Faults end to end: the local stack with `--faults 0.2`, so 20% of the functions' DynamoDB, Batch, Step Functions and
EventBridge Scheduler calls fail with a throttle or a 5xx, half of them after AWS applied the call (a lost answer).
Jobs, pipelines and a schedule still reach terminal states; no job is lost and none is duplicated (Batch jobs counted
against recorded attempts)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import E2E_STACK_ARGS, Api, local_stack

pytestmark = pytest.mark.e2e
TENANT = {"X-Batchplane-Tenant": "chaos"}
DONE = {"SUCCEEDED", "FAILED", "CANCELLED"}


# Seed 13 fails each service's first or second call (each service draws from its own seeded sequence): Step Functions
# and the Scheduler, called only a few times here, are faulted on every run, whatever the threads' interleaving.
# The sweeper's repair window (REPAIR_AFTER_SECONDS, 120 s by default) is 30 s here: a job whose SubmitJob and then its
# deferral both failed waits for it, once or twice a run, and the waits were most of this test's 5 minutes. 30 s is
# still 15 times the longest a submission waits for its SubmitJob slot (2 s), so nothing in flight is "repaired".
REPAIR_AFTER_SECONDS = 30


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with local_stack(
        tmp_path_factory.mktemp("chaos"),
        *E2E_STACK_ARGS,
        "--faults",
        "0.2",
        "--fault-seed",
        "13",
        env={"REPAIR_AFTER_SECONDS": str(REPAIR_AFTER_SECONDS)},
    ) as api:
        yield api


def call(api: Api, method: str, path: str, ok: set[int], **kw: Any) -> httpx.Response:
    """A well-behaved client: retries 429 / 5xx (same Idempotency-Key), as the problem answers ask."""
    headers = {**TENANT, **kw.pop("headers", {})}
    for _ in range(30):
        r = api.http.request(method, path, headers=headers, **kw)
        if r.status_code in ok:
            return r
        assert r.status_code in (429, 500, 502, 503, 504), r.text
        if r.status_code != 500:  # 500 only from the local API Gateway when a function raised
            assert r.headers["content-type"].startswith("application/problem+json"), r.text
        time.sleep(0.2)
    msg = f"{method} {path} never answered {ok}"
    raise AssertionError(msg)


def wait_for(api: Api, path: str, done: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = api.http.get(path, headers=TENANT)
        if r.status_code == 200:
            seen = r.json()
            if seen["status"] in done:
                return seen
        time.sleep(0.5)
    msg = f"{path} did not finish in {timeout}s: {seen}"
    raise AssertionError(msg)


def test_jobs_pipelines_and_schedules_survive_20_percent_faults(chaos: Api, tmp_path: Path) -> None:
    # GIVEN 12 jobs (a third of them reclaimed once while running), a diamond pipeline, a fan-out pipeline and a
    # schedule firing every 2 s, all submitted through a stack whose AWS calls fail 20% of the time
    jobs = [
        call(
            chaos,
            "POST",
            "/jobs",
            {202},
            json={"name": f"c{i}", "command": ["sleep", "1" if i % 3 == 0 else "0.1"], "retry": {"attempts": 3}},
            headers={"Idempotency-Key": f"c{i}"},
        ).json()["jobId"]
        for i in range(12)
    ]
    diamond = {
        "name": "diamond",
        "jobs": [
            {"id": "a", "command": ["true"]},
            {"id": "b", "command": ["true"], "dependsOn": ["a"]},
            {"id": "c", "command": ["true"], "dependsOn": ["a"]},
            {"id": "d", "command": ["true"], "dependsOn": ["b", "c"]},
        ],
    }
    fan = {
        "name": "fan",
        "jobs": [
            {"id": "split", "command": ["true"]},
            {"id": "work", "command": ["true"], "dependsOn": ["split"], "map": [{"i": str(i)} for i in range(6)]},
            {"id": "merge", "command": ["true"], "dependsOn": ["work"]},
        ],
    }
    pipelines = [
        call(chaos, "POST", "/pipelines", {201, 202}, json=body, headers={"Idempotency-Key": body["name"]}).json()
        for body in (diamond, fan)
    ]
    schedule = {"name": "tick", "expression": "rate(1 minute)", "job": {"name": "tick", "command": ["true"]}}
    call(chaos, "POST", "/schedules", {201}, json=schedule, headers={"Idempotency-Key": "tick"})
    yearly = [{"name": f"y{i}", "expression": f"cron(0 {i} 1 1 ? *)", "job": {"name": "y"}} for i in range(10)]
    for body in yearly:  # Scheduler calls enough for faults to hit them
        call(chaos, "POST", "/schedules", {201}, json=body, headers={"Idempotency-Key": body["name"]})
    for job_id in jobs[::3]:  # reclaim a Spot instance under a third of them
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if chaos.http.post("/_local/interrupt", json={"jobId": job_id}).status_code == 200:
                break
            if chaos.http.get(f"/jobs/{job_id}", headers=TENANT).json().get("status") in DONE:
                break
            time.sleep(0.1)
    time.sleep(6)
    call(chaos, "DELETE", "/schedules/tick", {204, 404})
    for body in yearly:
        call(chaos, "DELETE", f"/schedules/{body['name']}", {204, 404})
    assert call(chaos, "GET", "/schedules", {200}).json()["schedules"] == []
    # THEN every job and pipeline reaches a terminal state
    finals = [wait_for(chaos, f"/jobs/{j}", DONE, 360) for j in jobs]
    assert {j["status"] for j in finals} == {"SUCCEEDED"}, [(j["name"], j["status"]) for j in finals]
    for p in pipelines:
        done = wait_for(chaos, f"/pipelines/{p['pipelineId']}", DONE, 240)
        assert done["status"] == "SUCCEEDED", done
    # AND the schedule's firings each submitted one job, which finished
    ticks = call(chaos, "GET", "/jobs", {200}, params={"name": "tick", "limit": 100}).json()["jobs"]
    assert ticks, "the schedule never fired"
    # (a job whose SubmitJob and then its deferral both fail waits for the sweeper's repair window, REPAIR_AFTER_SECONDS,
    # and under 20% faults that can happen twice in a row: the waits allow for it)
    tick_jobs = [wait_for(chaos, f"/jobs/{t['jobId']}", DONE, 360) for t in ticks]
    origins = Counter(t["origin"] for t in tick_jobs)
    assert all(n == 1 for n in origins.values()), origins
    # AND every recorded attempt is exactly one Batch job, and every Batch job is a recorded attempt
    listed = call(chaos, "GET", "/jobs", {200}, params={"limit": 100}).json()["jobs"]
    recorded: list[str] = []
    for summary in listed:
        job = wait_for(chaos, f"/jobs/{summary['jobId']}", DONE, 360)
        recorded += [a["batchJobName"] for a in job["attempts"] if a.get("batchJobId")]
    names = Counter(j["jobName"] for j in chaos.http.get("/_local/batch/jobs").json()["jobs"])
    assert all(n == 1 for n in names.values()), [n for n, c in names.items() if c > 1]
    assert sorted(recorded) == sorted(names), set(recorded) ^ set(names)
    # AND the faults really happened, to every service
    injected = chaos.http.get("/_local/faults").json()["injected"]
    services = {key.split(":")[0] for key in injected}
    assert {"dynamodb", "batch", "states", "scheduler"} <= services, injected
    assert sum(injected.values()) >= 50, injected


def test_local_up_with_faults_starts_from_the_installed_entry_point(chaos: Api) -> None:
    # GIVEN `batchplane local up --faults 0.2` started as a user starts it (the chaos fixture: the installed entry
    # point, no PYTHONPATH; one stack start for both tests of this module)
    # WHEN it is up THEN it answers, with the fault hook installed on the functions' clients
    assert chaos.http.get("/_local/health").json() == {"status": "ok"}
    assert chaos.http.get("/_local/faults").json()["rate"] == 0.2
