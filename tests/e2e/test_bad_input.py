"""Bad input over HTTP, end to end: a clear 4xx problem+json, never API Gateway's bare answer or a stuck queue."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("DELETE", "/jobs"), ("GET", "/jobs/x/y/z")])
def test_a_request_no_route_matches_is_a_problem_404(api: Api, method: str, path: str) -> None:
    # GIVEN a path or method the API does not have / WHEN requested
    r = api.http.request(method, path)
    # THEN the gateway answers a problem+json 404 naming it, not API Gateway's {"message": "Not Found"}
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 404
    assert problem["type"] == "https://batchplane.dev/problems/not-found"
    assert path in problem["detail"]


def test_a_job_the_runner_cannot_start_never_blocks_the_queue(api: Api) -> None:
    # GIVEN a pipeline job too large for any queue, and a NUL byte in a job's command
    r = api.http.post("/pipelines", json={"name": "big", "jobs": [{"id": "a", "vcpus": 4096}]})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["jobs.0.vcpus"]
    r = api.http.post("/jobs", json={"name": "nul", "command": ["echo", "a\x00b"]})
    assert r.status_code == 422, r.text
    # WHEN a good job follows THEN it runs
    job = api.submit({"name": "after-bad-input", "command": ["echo", "ok"]})
    assert api.wait(job["jobId"], {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"


def test_a_job_too_big_for_its_pool_never_holds_its_tenants_later_jobs(api: Api) -> None:
    # GIVEN a job of 8 vCPUs (the largest the queues accept) on a stack whose Spot pool has 4 (and 1 of margin)
    big = api.submit({"name": "too-big-for-the-pool", "vcpus": 8, "command": ["true"]})
    try:
        # WHEN the same tenant submits a job that fits, after it
        small = api.submit({"name": "after-too-big", "command": ["echo", "ok"]})
        # THEN that job runs: the one that cannot is out of its tenant's line, not its head for ever
        assert api.wait(small["jobId"], {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"
        # AND the big one still waits, saying why
        waiting = api.job(big["jobId"])
        assert waiting["status"] == "QUEUED", waiting
        assert waiting["waiting"]["hold"] == "never-fits", waiting["waiting"]
        assert "asks 8 vCPU" in waiting["waiting"]["reason"]
    finally:
        api.http.post(f"/jobs/{big['jobId']}/cancel", json={"reason": "test done"})
