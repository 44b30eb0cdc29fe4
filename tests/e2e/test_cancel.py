"""End to end on the local stack: a cancel wins over every path that would start work later (held release, a due
retry), and a cancelled job ends in its own status, CANCELLED."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


def test_a_job_held_on_depends_on_and_cancelled_ends_cancelled_and_never_runs(api: Api) -> None:
    # GIVEN a job held for a dependency that will succeed
    first = api.submit({"name": "dep", "command": ["sh", "-c", "sleep 2"]})
    held = api.submit({"name": "held", "command": ["true"], "dependsOn": [{"jobId": first["jobId"]}]})
    assert held["status"] == "PENDING"
    # WHEN its owner cancels it while it is held
    r = api.http.post(f"/jobs/{held['jobId']}/cancel", json={"reason": "not needed"})
    # THEN it ends CANCELLED at once
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELLED", r.json()
    # AND after its dependency succeeds and the sweeper has run many times, it still never ran
    assert api.wait(first["jobId"], TERMINAL)["status"] == "SUCCEEDED"
    time.sleep(3)  # the e2e sweeper runs every 0.5 s
    done = api.job(held["jobId"])
    assert done["status"] == "CANCELLED", done
    assert [a["batchJobId"] for a in done["attempts"]] == [None]
    # AND users can list their cancelled jobs
    listed = api.http.get("/jobs", params={"status": "CANCELLED"}).json()
    assert held["jobId"] in [j["jobId"] for j in listed["jobs"]]


def test_a_cancel_during_a_retry_backoff_stops_the_next_attempt(api: Api) -> None:
    # GIVEN a job whose first attempt fails and whose retry waits 5 to 10 s
    job = api.submit(
        {"name": "backoff", "command": ["sh", "-c", "exit 3"], "retry": {"attempts": 3, "backoff": {"baseSeconds": 10}}}
    )
    waiting = api.wait_until(job["jobId"], lambda j: len(j["attempts"]) == 2, "a retry scheduled")
    assert waiting["status"] == "PENDING", waiting
    # WHEN it is cancelled during the backoff
    r = api.http.post(f"/jobs/{job['jobId']}/cancel", json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELLED", r.json()
    # THEN no next attempt ever starts, after the backoff is long over
    time.sleep(12)
    done = api.job(job["jobId"])
    assert done["status"] == "CANCELLED", done
    assert len(done["attempts"]) == 2
    assert done["attempts"][1]["batchJobId"] is None
    # AND the attempt that ran keeps Batch's own status
    assert done["attempts"][0]["status"] == "FAILED"
