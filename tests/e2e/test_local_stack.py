"""End to end on the local stack: real job processes, real events, the same handlers as in AWS, over HTTP only."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e
PY = sys.executable
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


def test_health(api: Api) -> None:
    assert api.http.get("/_local/health").json() == {"status": "ok"}


def test_an_echo_job_succeeds_and_its_logs_show_the_output(api: Api) -> None:
    # GIVEN a job that echoes / WHEN it runs
    job = api.submit({"name": "echo", "command": ["sh", "-c", "echo hello from batchplane"]})
    done = api.wait(job["jobId"], TERMINAL)
    # THEN it succeeds and its logs show what it printed
    assert done["status"] == "SUCCEEDED", done
    logs = api.http.get(f"/jobs/{job['jobId']}/logs").json()
    assert "hello from batchplane" in logs["lines"]


def test_exit_3_with_three_attempts_fails_after_three_attempts(api: Api) -> None:
    job = api.submit(
        {
            "name": "exit3",
            "command": ["sh", "-c", "exit 3"],
            "retry": {"attempts": 3, "backoff": {"baseSeconds": 0.2, "maxSeconds": 0.5}},
        }
    )
    done = api.wait(job["jobId"], {"FAILED"}, timeout=60, attempts=3)
    assert [a["exitCode"] for a in done["attempts"]] == [3, 3, 3]
    assert [a["reason"] for a in done["attempts"]] == ["initial", "retry", "retry"]
    assert done["attempts"][-1]["failureClass"] == "app-error"


def test_a_retried_job_sees_its_attempt_and_why(api: Api) -> None:
    # GIVEN a job that prints the attempt batchplane says it is, then fails, with two attempts
    job = api.submit(
        {
            "name": "whoami",
            "command": ["sh", "-c", 'echo "attempt=$BATCHPLANE_ATTEMPT/$BATCHPLANE_ATTEMPT_REASON"; exit 3'],
            "retry": {"attempts": 2, "backoff": {"baseSeconds": 0.2, "maxSeconds": 0.5}},
        }
    )
    # WHEN it has failed twice
    api.wait(job["jobId"], {"FAILED"}, attempts=2)
    # THEN its second Batch job knew it was attempt 2, a retry
    logs = api.http.get(f"/jobs/{job['jobId']}/logs").json()
    assert "attempt=2/retry" in logs["lines"]


def test_an_interrupted_spot_job_finishes_on_demand_linked_in_lineage(api: Api) -> None:
    # GIVEN a spot-first job running on Spot
    job = api.submit({"name": "reclaimme", "command": ["sh", "-c", "sleep 2; echo done"]})
    api.wait_attempt(job["jobId"], 1, {"RUNNING"})
    # WHEN its Spot instance is reclaimed
    r = api.http.post("/_local/interrupt", json={"jobId": job["jobId"]})
    assert r.status_code == 200, r.text
    # THEN it finishes on On-Demand in a second attempt linked to the first
    done = api.wait(job["jobId"], TERMINAL, attempts=2)
    assert done["status"] == "SUCCEEDED", done
    first, second = done["attempts"]
    assert first["failureClass"] == "spot-reclaim"
    assert first["statusReason"].startswith("Host EC2 (instance i-")
    assert (second["reason"], second["capacity"], second["replaces"]) == ("spot-fallback", "on-demand", 1)
    graph = api.http.get(f"/jobs/{job['jobId']}/lineage").json()
    assert any(e["kind"] == "replaces" and e["reason"] == "spot-fallback" for e in graph["edges"])


def test_a_job_over_its_memory_is_escalated(api: Api) -> None:
    hog = "x = bytearray(150 * 1024 * 1024); import time; time.sleep(0.5); print('ok')"
    job = api.submit({"name": "hog", "command": [PY, "-c", hog], "memoryMiB": 100, "retry": {"attempts": 2}})
    done = api.wait(job["jobId"], TERMINAL, timeout=60)
    assert done["status"] == "SUCCEEDED", done
    first, second = done["attempts"]
    assert first["exitCode"] == 137
    assert first["failureClass"] == "oom"
    assert (second["reason"], second["memoryMiB"]) == ("memory-escalation", 200)


def test_no_spot_capacity_moves_a_spot_first_job_to_on_demand_after_the_dwell(api: Api) -> None:
    # GIVEN no Spot capacity
    assert api.http.put("/_local/capacity", json={"capacity": "spot", "maxVcpus": 0}).status_code == 200
    try:
        # WHEN a spot-first job waits for the dwell time
        job = api.submit({"name": "nospot", "command": ["true"], "retry": {"stuckRunnableSeconds": 5}})
        api.wait_until(
            job["jobId"],
            lambda j: (j["attempts"][0]["statusReason"] or "").startswith("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"),
            "a RUNNABLE attempt blocked for capacity",
        )
        # THEN it is moved to On-Demand and succeeds there
        done = api.wait(job["jobId"], TERMINAL, timeout=60, attempts=2)
        assert done["status"] == "SUCCEEDED", done
        assert (done["attempts"][1]["reason"], done["attempts"][1]["capacity"]) == ("capacity-fallback", "on-demand")
    finally:
        api.http.put("/_local/capacity", json={"capacity": "spot", "maxVcpus": 4})


def test_depends_on_ordering_is_respected(api: Api) -> None:
    first = api.submit({"name": "first", "command": ["sh", "-c", "sleep 1"]})
    second = api.submit({"name": "second", "command": ["true"], "dependsOn": [{"jobId": first["jobId"]}]})
    assert second["status"] == "PENDING"
    a = api.wait(first["jobId"], TERMINAL)
    b = api.wait(second["jobId"], TERMINAL)
    assert (a["status"], b["status"]) == ("SUCCEEDED", "SUCCEEDED")
    assert b["attempts"][0]["startedAt"] >= a["attempts"][0]["stoppedAt"]


def test_an_array_job_of_20_runs_every_index(api: Api) -> None:
    job = api.submit({"name": "array", "command": ["sh", "-c", "echo i=$AWS_BATCH_JOB_ARRAY_INDEX"], "arraySize": 20})
    done = api.wait(job["jobId"], TERMINAL, timeout=90)
    assert done["status"] == "SUCCEEDED", done
    assert done["attempts"][0]["arraySummary"]["SUCCEEDED"] == 20


def test_cancel_while_runnable_and_terminate_while_running(api: Api) -> None:
    # GIVEN a job that cannot start (no Spot capacity) and one that runs
    api.http.put("/_local/capacity", json={"capacity": "spot", "maxVcpus": 0})
    try:
        queued = api.submit({"name": "queued", "command": ["true"], "capacity": "spot"})
        api.wait_attempt(queued["jobId"], 1, {"RUNNABLE"})
        r = api.http.post(f"/jobs/{queued['jobId']}/cancel", json={"reason": "changed my mind"})
        assert r.json()["action"] == "cancel"
        ended = api.wait(queued["jobId"], TERMINAL)
        assert (ended["status"], ended["attempts"][0]["status"]) == ("CANCELLED", "FAILED")
    finally:
        api.http.put("/_local/capacity", json={"capacity": "spot", "maxVcpus": 4})
    running = api.submit({"name": "running", "command": ["sleep", "30"], "capacity": "on-demand"})
    api.wait(running["jobId"], {"RUNNING"})
    r = api.http.post(f"/jobs/{running['jobId']}/cancel", json={})
    assert r.json()["action"] == "terminate"
    done = api.wait(running["jobId"], TERMINAL)
    assert done["status"] == "CANCELLED"
    assert len(done["attempts"]) == 1  # a cancelled job is never retried


def test_an_array_retries_only_its_failed_children(api: Api, tmp_path: Any) -> None:
    # GIVEN an array of 6 whose odd children fail once; each child finds its original index
    script = (
        "i=$AWS_BATCH_JOB_ARRAY_INDEX; "
        'if [ -n "$BATCHPLANE_ARRAY_INDEXES" ]; then i=$(echo "$BATCHPLANE_ARRAY_INDEXES" | cut -d, -f$((i + 1))); fi; '
        f"if [ $((i % 2)) -eq 1 ] && [ ! -e {tmp_path}/m$i ]; then touch {tmp_path}/m$i; exit 1; fi; echo ok $i"
    )
    job = api.submit(
        {
            "name": "children",
            "command": ["sh", "-c", script],
            "arraySize": 6,
            "retry": {"attempts": 2, "arrayRetry": "failed-children", "backoff": {"baseSeconds": 0}},
        }
    )
    # WHEN it runs THEN the second attempt runs only the 3 failed children, and the job succeeds
    done = api.wait(job["jobId"], TERMINAL, timeout=90, attempts=2)
    assert done["status"] == "SUCCEEDED", done
    first, second = done["attempts"]
    assert first["failedChildren"] == [1, 3, 5]
    assert second["arrayIndexes"] == "1,3,5"
    assert second["arraySummary"]["SUCCEEDED"] == 3


def test_an_array_whose_child_fails_once_is_retried_whole_and_succeeds(api: Api) -> None:
    # GIVEN an array of 3 with 2 attempts (default arrayRetry: whole) whose child 1 exits 1 on the first attempt only
    script = 'if [ "$AWS_BATCH_JOB_ARRAY_INDEX" = 1 ] && [ "$BATCHPLANE_ATTEMPT" = 1 ]; then exit 1; fi; echo ok'
    job = api.submit(
        {
            "name": "array-once",
            "command": ["sh", "-c", script],
            "arraySize": 3,
            "retry": {"attempts": 2, "backoff": {"baseSeconds": 0}},
        }
    )
    # WHEN it runs
    done = api.wait(job["jobId"], TERMINAL, timeout=90, attempts=2)
    # THEN the first attempt was an app error of child 1, the whole array ran again, and the job SUCCEEDED
    assert done["status"] == "SUCCEEDED", done
    first, second = done["attempts"]
    assert (first["failureClass"], first["failedChildren"]) == ("app-error", [1])
    assert second["reason"] == "retry"
    assert "child 1 of 3 exited 1" in second["explanation"]
    assert second["arraySummary"]["SUCCEEDED"] == 3


def test_an_array_whose_child_always_fails_ends_failed_naming_the_child(api: Api) -> None:
    # GIVEN an array of 3 with 2 attempts whose child 2 always exits 7
    job = api.submit(
        {
            "name": "array-always",
            "command": ["sh", "-c", 'test "$AWS_BATCH_JOB_ARRAY_INDEX" != 2 || exit 7'],
            "arraySize": 3,
            "retry": {"attempts": 2, "backoff": {"baseSeconds": 0}},
        }
    )
    # WHEN both attempts have failed
    done = api.wait(job["jobId"], {"FAILED"}, timeout=90, attempts=2)
    # THEN it ends FAILED as an app error, saying which child failed with which exit code
    assert [a["failureClass"] for a in done["attempts"]] == ["app-error", "app-error"]
    assert done["statusReason"].startswith("Array Child Job failed: child 2 of 3 exited 7"), done["statusReason"]
    assert "all 2 attempt(s) are used" in done["statusReason"]
