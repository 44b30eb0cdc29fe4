"""Job output as AWS Batch's awslogs driver ships it (while the job runs), read over the API and with `batchplane logs`."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ENTRY_POINT, Api

pytestmark = pytest.mark.e2e
TERMINAL = {"SUCCEEDED", "FAILED"}


def _cli(api: Api, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATCHPLANE_API": api.base}
    return subprocess.run(
        [str(ENTRY_POINT), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _logs(api: Api, job_id: str, **params: Any) -> dict[str, Any]:
    r = api.http.get(f"/jobs/{job_id}/logs", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_running_jobs_first_line_shows_before_it_ends_and_follow_ends_with_it(api: Api, tmp_path: Path) -> None:
    # GIVEN a job that prints a line, then waits for a file before it prints its last one and ends
    go = tmp_path / "go"
    script = f"echo started; while [ ! -e {go} ]; do sleep 0.1; done; echo finished"
    job = api.submit({"name": "streams", "command": ["sh", "-c", script]})
    job_id = job["jobId"]

    # WHEN its logs are read while it waits
    deadline = time.monotonic() + 30
    answer = _logs(api, job_id)
    while "started" not in answer["lines"] and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = _logs(api, job_id)

    # THEN the first line is there while the job is still running (its record may still say STARTING: events are
    # delivered asynchronously, and the line can be shipped before the RUNNING event is applied)
    assert answer["lines"] == ["started"], answer
    assert answer["status"] in {"STARTING", "RUNNING"}
    assert api.job(job_id)["status"] in {"STARTING", "RUNNING"}

    # AND `logs --follow` prints it, then the last line once the job writes it, and returns when the job ends
    follower = subprocess.Popen(
        [str(ENTRY_POINT), "logs", job_id, "--follow", "--interval", "0.2"],
        env={**os.environ, "BATCHPLANE_API": api.base},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    assert follower.poll() is None  # still following: the job has not ended
    go.touch()
    out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    assert out.splitlines() == ["started", "finished"]
    assert "job SUCCEEDED" in err
    assert api.job(job_id)["status"] == "SUCCEEDED"


def test_attempt_selects_an_earlier_attempts_output(api: Api, tmp_path: Path) -> None:
    # GIVEN a job whose first attempt fails and whose second succeeds, each printing which it is
    marker = tmp_path / "tried"
    script = f"if [ -e {marker} ]; then echo second try; else touch {marker}; echo first try; exit 3; fi"
    job = api.submit(
        {"name": "twice", "command": ["sh", "-c", script], "retry": {"attempts": 2, "backoff": {"baseSeconds": 0}}}
    )
    done = api.wait(job["jobId"], TERMINAL, timeout=60, attempts=2)
    assert done["status"] == "SUCCEEDED", done

    # WHEN reading the logs with and without --attempt
    latest = _cli(api, "logs", job["jobId"])
    first = _cli(api, "logs", job["jobId"], "--attempt", "1")
    missing = _cli(api, "logs", job["jobId"], "--attempt", "5")

    # THEN the latest attempt by default, the first when asked, and a 404 for an attempt that never was
    assert latest.stdout.splitlines() == ["second try"], latest.stderr
    assert first.stdout.splitlines() == ["first try"], first.stderr
    assert missing.returncode == 1
    assert "404" in missing.stderr


def test_index_selects_an_array_childs_output(api: Api) -> None:
    # GIVEN an array of 3 whose children print their index
    job = api.submit({"name": "kids", "command": ["sh", "-c", "echo child $AWS_BATCH_JOB_ARRAY_INDEX"], "arraySize": 3})
    done = api.wait(job["jobId"], TERMINAL, timeout=60)
    assert done["status"] == "SUCCEEDED", done

    # WHEN reading child 2's logs, and the parent's without an index
    child = _cli(api, "logs", job["jobId"], "--index", "2")
    parent = _cli(api, "logs", job["jobId"])
    outside = _logs_status(api, job["jobId"], index=7)

    # THEN child 2's own stream; the parent says to pass --index; an index outside the array is a 422 naming it
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == ["child 2"]
    assert parent.stdout == ""
    assert "pass --index" in parent.stderr
    assert outside == (422, "index")


def test_every_node_of_a_multi_node_job_is_shown_by_node(api: Api, tmp_path: Path) -> None:
    # GIVEN a two-node job whose nodes print their index; the main node waits for the other to have printed (as in
    # AWS, the main node's exit ends the job and stops the nodes still running: on a loaded machine node 1 could be
    # stopped before it printed)
    printed = tmp_path / "node-1-printed"
    script = (
        "echo node $AWS_BATCH_JOB_NODE_INDEX up; "
        f'if [ "$AWS_BATCH_JOB_NODE_INDEX" = 1 ]; then touch {printed}; '
        f"else i=0; while [ ! -e {printed} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; fi"
    )
    job = api.submit(
        {"name": "mnp", "jobDefinition": "mnp-sample", "nodes": {"count": 2}, "command": ["sh", "-c", script]}
    )
    done = api.wait(job["jobId"], TERMINAL, timeout=60)
    assert done["status"] == "SUCCEEDED", done

    # WHEN reading its logs
    result = _cli(api, "logs", job["jobId"])
    answer = _logs(api, job["jobId"])

    # THEN each node's lines, prefixed by the node, from each node's own stream
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[node 0] node 0 up", "[node 1] node 1 up"]
    streams = [s["logStreamName"] for s in answer["streams"]]
    assert len(set(streams)) == 2
    assert all(re.fullmatch(r"[^/]+/default/[0-9a-f]{32}", s) for s in streams), streams


def _logs_status(api: Api, job_id: str, **params: Any) -> tuple[int, str | None]:
    r = api.http.get(f"/jobs/{job_id}/logs", params=params)
    errors = r.json().get("errors") or [{}]
    return r.status_code, errors[0].get("field")


def test_follow_reads_a_failed_attempt_to_its_end_then_its_retry(api: Api, tmp_path: Path) -> None:
    # GIVEN a job whose first attempt prints a line, waits for a file, prints its last line and fails; the retry succeeds
    go, marker = tmp_path / "go", tmp_path / "tried"
    script = (
        f"if [ -e {marker} ]; then echo second try; exit 0; fi; touch {marker}; echo first try; "
        f"while [ ! -e {go} ]; do sleep 0.1; done; echo first try ends; exit 3"
    )
    job = api.submit(
        {"name": "refollow", "command": ["sh", "-c", script], "retry": {"attempts": 2, "backoff": {"baseSeconds": 0}}}
    )
    api.wait_until(job["jobId"], lambda j: "first try" in _logs(api, j["jobId"])["lines"], "the first line")

    # WHEN it is followed while attempt 1 waits, and attempt 1 is let go once the follower has shown its line
    follower = subprocess.Popen(
        [str(ENTRY_POINT), "logs", job["jobId"], "-f", "--interval", "0.2"],
        env={**os.environ, "BATCHPLANE_API": api.base},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    first = follower.stdout.readline()  # it follows attempt 1 (which waits) ...
    go.touch()  # ... when attempt 1 is let go
    out, err = follower.communicate(timeout=60)

    # THEN attempt 1's every line, then the retry's, and it returns when the job has ended
    assert follower.returncode == 0, err
    assert [first.rstrip("\n"), *out.splitlines()] == ["first try", "first try ends", "second try"], err
    assert "attempt 2" in err
    assert api.job(job["jobId"])["status"] == "SUCCEEDED"
