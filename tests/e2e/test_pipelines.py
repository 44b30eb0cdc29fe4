"""Pipelines end to end on the local stack: Step Functions (moto's interpreter) waiting on managed jobs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e
DONE = {"SUCCEEDED", "FAILED", "CANCELLED"}


def create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    r = api.http.post("/pipelines", json=body)
    assert r.status_code == 202, r.text
    return r.json()


def wait_pipeline(api: Api, pid: str, statuses: set[str] = DONE, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    p: dict[str, Any] = {}
    while time.monotonic() < deadline:
        p = api.http.get(f"/pipelines/{pid}").json()
        if p["status"] in statuses:
            return p
        time.sleep(0.3)
    msg = f"pipeline {pid} did not reach {statuses}: {p}"
    raise AssertionError(msg)


def jobs_of(api: Api, pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {j["id"]: (api.job(j["jobId"]) if j["jobId"] else {"status": j["state"]}) for j in pipeline["jobs"]}


def states(pipeline: dict[str, Any]) -> dict[str, str]:
    return {j["id"]: j["state"] for j in pipeline["jobs"]}


def running(api: Api, pid: str, job: str, timeout: float = 30) -> str:
    """The jobId of pipeline job ``job`` once it is RUNNING (fails if it does not get there in ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job_id = next(j["jobId"] for j in api.http.get(f"/pipelines/{pid}").json()["jobs"] if j["id"] == job)
        if job_id and api.job(job_id)["status"] == "RUNNING":
            return str(job_id)
        time.sleep(0.2)
    msg = f"pipeline {pid}: {job} was not RUNNING within {timeout} s"
    raise AssertionError(msg)


def sh(text: str) -> list[str]:
    return ["sh", "-c", text]


def test_a_diamond_runs_b_and_c_together_and_d_after_both(api: Api) -> None:
    p = create(
        api,
        {
            "name": "diamond",
            "jobs": [
                {"id": "a", "command": sh("echo a")},
                {"id": "b", "command": sh("sleep 1.5"), "dependsOn": ["a"]},
                {"id": "c", "command": sh("sleep 1.5"), "dependsOn": ["a"]},
                {"id": "d", "command": sh("echo d"), "dependsOn": ["b", "c"]},
            ],
        },
    )
    done = wait_pipeline(api, p["pipelineId"])
    assert done["status"] == "SUCCEEDED", done
    j = {k: v["attempts"][-1] for k, v in jobs_of(api, done).items()}
    # b and c overlap in time; d starts only after both ended; both after a
    assert j["b"]["startedAt"] < j["c"]["stoppedAt"]
    assert j["c"]["startedAt"] < j["b"]["stoppedAt"]
    assert j["d"]["startedAt"] >= max(j["b"]["stoppedAt"], j["c"]["stoppedAt"])
    assert min(j["b"]["startedAt"], j["c"]["startedAt"]) >= j["a"]["stoppedAt"]
    # at most 3 state transitions per pipeline job, counted from the execution history
    history = api.http.get(f"/_local/pipelines/{p['pipelineId']}/history").json()
    assert history["runs"][0]["status"] == "SUCCEEDED"
    assert history["runs"][0]["stateEntered"] / 4 <= 3
    graph = api.http.get(f"/pipelines/{p['pipelineId']}/graph").text
    assert graph.startswith("flowchart TD")
    assert "SUCCEEDED" in graph


def test_fail_fast_skips_what_has_not_started(api: Api) -> None:
    p = create(
        api,
        {
            "name": "failfast",
            "jobs": [
                {"id": "bad", "command": sh("exit 2")},
                {"id": "slow", "command": sh("sleep 20")},
                {"id": "after", "command": sh("echo never"), "dependsOn": ["bad"]},
                {"id": "later", "command": sh("echo never"), "dependsOn": ["slow"]},
            ],
        },
    )
    done = wait_pipeline(api, p["pipelineId"], timeout=60)
    assert done["status"] == "FAILED"
    st = states(done)
    assert st["bad"] == "FAILED"
    assert st["after"] == "SKIPPED"
    assert st["later"] == "SKIPPED"
    # "slow" never finishes: cancelled if it had started by the time "bad" failed, skipped if it had not
    assert st["slow"] in {"CANCELLED", "SKIPPED"}
    slow = next(j for j in done["jobs"] if j["id"] == "slow")
    if slow["jobId"]:
        assert api.wait(slow["jobId"], {"CANCELLED"})["cancelRequested"]
    # AND its execution ends FAILED: Step Functions applies the Finish token's answer after the record is written
    deadline, status = time.monotonic() + 10, None
    while time.monotonic() < deadline and status != "FAILED":
        status = api.http.get(f"/_local/pipelines/{p['pipelineId']}/history").json()["runs"][0]["status"]
        time.sleep(0.1)
    assert status == "FAILED"


def test_continue_lets_independent_branches_finish(api: Api) -> None:
    p = create(
        api,
        {
            "name": "continue",
            "onFailure": "continue",
            "jobs": [
                {"id": "bad", "command": sh("exit 2")},
                {"id": "after-bad", "command": sh("echo never"), "dependsOn": ["bad"]},
                {"id": "cleanup", "command": sh("echo cleanup"), "dependsOn": [{"id": "bad", "condition": "finished"}]},
                {"id": "good", "command": sh("sleep 1")},
                {"id": "after-good", "command": sh("echo fine"), "dependsOn": ["good"]},
            ],
        },
    )
    done = wait_pipeline(api, p["pipelineId"])
    assert done["status"] == "FAILED"
    assert states(done) == {
        "bad": "FAILED",
        "after-bad": "SKIPPED",
        "cleanup": "SUCCEEDED",
        "good": "SUCCEEDED",
        "after-good": "SUCCEEDED",
    }


def test_an_interrupted_spot_stage_completes_through_fallback(api: Api) -> None:
    p = create(
        api,
        {
            "name": "spotstage",
            "jobs": [
                {"id": "work", "command": sh("sleep 2")},
                {"id": "next", "command": sh("true"), "dependsOn": ["work"]},
            ],
        },
    )
    pid = p["pipelineId"]
    job_id = running(api, pid, "work")
    assert api.http.post("/_local/interrupt", json={"jobId": job_id}).status_code == 200
    done = wait_pipeline(api, pid)
    assert done["status"] == "SUCCEEDED"
    work = api.job(job_id)
    assert [a["reason"] for a in work["attempts"]] == ["initial", "spot-fallback"]


def test_resume_reruns_only_the_failed_and_downstream_jobs(api: Api, tmp_path: Any) -> None:
    flag = tmp_path / "fixed"
    p = create(
        api,
        {
            "name": "resumable",
            "jobs": [
                {"id": "a", "command": sh("echo a")},
                {"id": "b", "command": sh(f"test -e {flag}"), "dependsOn": ["a"]},
                {"id": "c", "command": sh("echo c"), "dependsOn": ["b"]},
                {"id": "x", "command": sh("echo x")},
            ],
        },
    )
    first = wait_pipeline(api, p["pipelineId"])
    assert first["status"] == "FAILED"
    before = {j["id"]: j["jobId"] for j in first["jobs"]}
    flag.write_text("ok")
    r = api.http.post(f"/pipelines/{p['pipelineId']}/resume")
    assert r.status_code == 200, r.text
    second = wait_pipeline(api, p["pipelineId"])
    assert second["status"] == "SUCCEEDED"
    assert second["run"] == 2
    after = {j["id"]: j["jobId"] for j in second["jobs"]}
    assert after["a"] == before["a"]  # carried over, not re-run
    assert after["x"] == before["x"]
    assert after["b"] != before["b"]
    assert after["c"] is not None
    assert len(second["previousRuns"]) == 1


def test_cancel_stops_everything(api: Api) -> None:
    p = create(
        api,
        {
            "name": "cancelme",
            "jobs": [
                {"id": "long", "command": sh("sleep 30")},
                {"id": "next", "command": sh("true"), "dependsOn": ["long"]},
            ],
        },
    )
    pid = p["pipelineId"]
    long = running(api, pid, "long")
    r = api.http.post(f"/pipelines/{pid}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELLED"
    job = api.wait(long, {"CANCELLED"})
    assert job["cancelRequested"]
    assert states(api.http.get(f"/pipelines/{pid}").json())["next"] == "SKIPPED"
    # AND its execution was stopped: ABORTED, as StopExecution leaves it in AWS (not FAILED)
    history = api.http.get(f"/_local/pipelines/{pid}/history").json()
    assert [(r["status"], r["events"].get("ExecutionAborted")) for r in history["runs"]] == [("ABORTED", 1)]


def test_a_fan_out_of_50_stages_completes(api: Api) -> None:
    throttled_before = api.http.get("/_local/batch/jobs").json()["submitJobThrottled"]
    p = create(
        api,
        {
            "name": "fanout",
            "jobs": [
                {"id": "split", "command": sh("echo split")},
                {
                    "id": "work",
                    "command": sh("echo shard $SHARD"),
                    "dependsOn": ["split"],
                    "map": [{"shard": str(i)} for i in range(50)],
                },
                {"id": "merge", "command": sh("echo merge"), "dependsOn": ["work"]},
            ],
        },
    )
    done = wait_pipeline(api, p["pipelineId"], timeout=120)
    assert done["status"] == "SUCCEEDED", done
    assert len(done["jobs"]) == 52
    # AND the dispatcher kept under Batch's 50 SubmitJob calls a second: the local Batch refused none of its calls
    assert api.http.get("/_local/batch/jobs").json()["submitJobThrottled"] == throttled_before
    assert all(j["state"] == "SUCCEEDED" for j in done["jobs"])


def test_bad_pipelines_are_refused_before_anything_runs(api: Api) -> None:
    r = api.http.post(
        "/pipelines",
        json={"name": "cyclic", "jobs": [{"id": "a", "dependsOn": ["b"]}, {"id": "b", "dependsOn": ["a"]}]},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "cycle" in r.text


def test_more_roots_than_the_inline_map_runs_at_once_all_start_without_waiting_for_it(api: Api) -> None:
    # GIVEN a pipeline of 60 independent long jobs (an inline Map runs at most 40 iterations at once, and the local
    # stack's Step Functions caps it as AWS does), with a job after all of them
    roots = 60
    p = create(
        api,
        {
            "name": "wide-roots",
            "onFailure": "continue",
            "jobs": [
                {"id": "root", "command": sh("sleep 30"), "map": [{"i": str(i)} for i in range(roots)]},
                {"id": "after", "command": sh("true"), "dependsOn": ["root"]},
            ],
        },
    )
    pid = p["pipelineId"]
    # WHEN the execution starts (no root can end for 30 s, so no Map iteration frees its place before then)
    deadline = time.monotonic() + 25
    started: list[str] = []
    while time.monotonic() < deadline:
        jobs = api.http.get(f"/pipelines/{pid}").json()["jobs"]
        started = [j["id"] for j in jobs if j["id"].startswith("root[") and j["jobId"]]
        if len(started) == roots:
            break
        time.sleep(0.5)
    try:
        # THEN every root has been submitted: none waits for a Map iteration of its own
        assert len(started) == roots, f"{len(started)} of {roots} roots started"
        assert states(api.http.get(f"/pipelines/{pid}").json())["after"] == "WAITING"
    finally:
        api.http.post(f"/pipelines/{pid}/cancel")


def test_an_array_stage_runs_every_child_once_and_its_dependant_after_all_of_them(api: Api, tmp_path: Any) -> None:
    # GIVEN split -> an array stage of 30 children (one SubmitJob: Batch's answer to its 50 SubmitJob/s quota) ->
    # merge, each child writing its own index, merge checking that all 30 (and no other) wrote before it started
    size = 30
    out = tmp_path / "children"
    out.mkdir()
    check = f'test "$(ls {out} | sort -n | tr "\\n" " ")" = "{" ".join(str(i) for i in range(size))} "'
    p = create(
        api,
        {
            "name": "array-stage",
            "jobs": [
                {"id": "split", "command": sh("true")},
                {
                    "id": "work",
                    "command": sh(f"touch {out}/$AWS_BATCH_JOB_ARRAY_INDEX"),
                    "dependsOn": ["split"],
                    "arraySize": size,
                },
                {"id": "merge", "command": sh(check), "dependsOn": ["work"]},
            ],
        },
    )
    # WHEN it runs
    done = wait_pipeline(api, p["pipelineId"], timeout=120)
    # THEN it succeeds: merge saw every child's index (it exits 1 otherwise), and the stage is one job of 30 children
    assert done["status"] == "SUCCEEDED", done
    assert len(done["jobs"]) == 3
    assert sorted(int(f.name) for f in out.iterdir()) == list(range(size))
    jobs = jobs_of(api, done)
    work = jobs["work"]["attempts"]
    assert len(work) == 1
    assert work[0]["arraySummary"]["SUCCEEDED"] == size
    assert jobs["merge"]["attempts"][0]["startedAt"] >= work[0]["stoppedAt"]
    assert len(jobs["merge"]["attempts"]) == 1


def test_cancelling_a_pipeline_in_its_array_stage_ends_every_child_and_skips_the_rest(api: Api) -> None:
    # GIVEN a pipeline whose array stage of 6 long children is running
    p = create(
        api,
        {
            "name": "cancel-array",
            "jobs": [
                {"id": "work", "command": sh("sleep 30"), "arraySize": 6},
                {"id": "merge", "command": sh("true"), "dependsOn": ["work"]},
            ],
        },
    )
    pid = p["pipelineId"]
    work = running(api, pid, "work")
    # WHEN the pipeline is cancelled
    r = api.http.post(f"/pipelines/{pid}/cancel", json={"reason": "not needed"})
    assert r.status_code == 200, r.text
    # THEN the array job ends CANCELLED, none of its children still runs or waits, and merge never starts
    job = api.wait(work, {"CANCELLED"})
    assert job["cancelRequested"]
    unended = {"RUNNING", "STARTING", "RUNNABLE", "PENDING", "SUBMITTED"}
    deadline = time.monotonic() + 20
    summary: dict[str, int] = {}
    while time.monotonic() < deadline:
        summary = api.job(work)["attempts"][-1].get("arraySummary") or {}
        if summary and not any(summary.get(status) for status in unended):
            break
        time.sleep(0.3)
    assert summary, "the array's children were never summarised"
    assert not any(summary.get(status) for status in unended), summary
    assert summary.get("FAILED") == 6, summary  # Batch reports a cancelled or terminated child FAILED
    assert states(api.http.get(f"/pipelines/{pid}").json())["merge"] == "SKIPPED"


def test_resuming_a_pipeline_whose_array_stage_failed_runs_the_array_again_then_its_dependant(
    api: Api, tmp_path: Any
) -> None:
    # GIVEN a pipeline whose array stage fails in child 2 until a file exists
    flag = tmp_path / "fixed"
    p = create(
        api,
        {
            "name": "resume-array",
            "jobs": [
                {
                    "id": "work",
                    "command": sh(f'test "$AWS_BATCH_JOB_ARRAY_INDEX" != 2 || test -e {flag}'),
                    "arraySize": 4,
                },
                {"id": "merge", "command": sh("true"), "dependsOn": ["work"]},
            ],
        },
    )
    first = wait_pipeline(api, p["pipelineId"], timeout=120)
    assert first["status"] == "FAILED", first
    assert states(first) == {"work": "FAILED", "merge": "SKIPPED"}
    failed = api.job(next(j["jobId"] for j in first["jobs"] if j["id"] == "work"))
    assert failed["attempts"][-1]["failedChildren"] == [2]
    # WHEN the cause is fixed and the pipeline resumed
    flag.write_text("ok")
    r = api.http.post(f"/pipelines/{p['pipelineId']}/resume")
    assert r.status_code == 200, r.text
    # THEN the array runs again, all 4 children succeed, and merge runs after it
    second = wait_pipeline(api, p["pipelineId"], timeout=120)
    assert second["status"] == "SUCCEEDED", second
    work = api.job(next(j["jobId"] for j in second["jobs"] if j["id"] == "work"))
    assert work["attempts"][-1]["arraySummary"]["SUCCEEDED"] == 4
