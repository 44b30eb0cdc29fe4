"""The user CLI end to end: the installed `batchplane` entry point, run as a user runs it, against the local stack.
Each test drives the CLI only and checks what it printed and how it exited (and, through the API, what it did)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ENTRY_POINT, Api

pytestmark = pytest.mark.e2e


def batchplane(api: Api, tenant: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`batchplane --api URL --tenant T ARGS...` in a subprocess, as a user types it (no AWS settings, no PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BATCHPLANE_")) and k != "PYTHONPATH"}
    env["COLUMNS"] = "200"
    cmd = [str(ENTRY_POINT), "--api", api.base, "--tenant", tenant, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_jobs_depends_on_wait_artifacts_failure_and_pages(api: Api, tmp_path: Path) -> None:
    tenant = "cli-jobs"
    # GIVEN a first job
    first = json.loads(ok(batchplane(api, tenant, "submit", "--name", "first", "--shell", "--command",
                                     "sleep 1; echo one", "--json")))  # fmt: skip
    # WHEN a second job, from a file naming an output, depends on it and is followed with --wait
    job_file = tmp_path / "second.yaml"
    job_file.write_text("name: second\ncommand: [echo, Ref::word]\noutputs: [s3://cli-e2e/out/second.txt]\n")
    out = ok(batchplane(api, tenant, "submit", "-f", str(job_file), "--depends-on", first["jobId"],
                        "--parameter", "word=two", "--wait", "--interval", "0.2"))  # fmt: skip
    # THEN it exits 0 once SUCCEEDED, and it ran only after the first had ended
    second_id = out.split()[0]
    assert out.rstrip().endswith("SUCCEEDED")
    a, b = _job(api, tenant, first["jobId"]), _job(api, tenant, second_id)
    assert a["status"] == b["status"] == "SUCCEEDED"
    depends = next(
        line for line in ok(batchplane(api, tenant, "status", second_id)).splitlines() if "depends on" in line
    )
    assert first["jobId"] in depends
    assert b["attempts"][-1]["startedAt"] >= a["attempts"][-1]["stoppedAt"]
    # AND `artifacts URI` names it as the producer
    produced = json.loads(ok(batchplane(api, tenant, "artifacts", "s3://cli-e2e/out/second.txt", "--json")))
    assert [(j["jobId"], j["role"]) for j in produced["jobs"]] == [(second_id, "output")]
    assert second_id in ok(batchplane(api, tenant, "artifacts", "s3://cli-e2e/out/second.txt"))

    # WHEN a job that exits 3 is submitted with --wait
    failed = batchplane(api, tenant, "submit", "--name", "bad", "--shell", "--command", "exit 3", "--attempts", "1",
                        "--wait", "--interval", "0.2")  # fmt: skip
    # THEN exit 1, and the reason is the class and the exit code, not only Batch's statusReason
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "exit code 3" in failed.stderr
    bad_id = failed.stdout.split()[0]
    status = ok(batchplane(api, tenant, "status", bad_id))
    failure = next(line for line in status.splitlines() if line.startswith("failure"))
    assert "app-error" in failure
    assert "exit code 3" in failure

    # WHEN listing one job a page, the second page from the first page's token
    page1 = json.loads(ok(batchplane(api, tenant, "list", "--limit", "1", "--json")))
    page2 = json.loads(ok(batchplane(api, tenant, "list", "--limit", "1", "--next-token", page1["nextToken"],
                                     "--json")))  # fmt: skip
    # THEN the pages are the newest job, then the one before it
    assert [j["jobId"] for j in page1["jobs"] + page2["jobs"]] == [bad_id, second_id]
    assert page2["nextToken"]

    # AND a flag the CLI cannot parse is one line and exit 2
    unparsable = batchplane(api, tenant, "submit", "--name", "x", "--memory", "lots")
    assert unparsable.returncode == 2
    assert "--memory" in one_error_line(unparsable)
    # AND an API that is not there is one line and exit 3
    refused = subprocess.run(
        [str(ENTRY_POINT), "--api", "http://127.0.0.1:9", "list"], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 3
    assert "cannot reach the batchplane API at http://127.0.0.1:9" in one_error_line(refused)


def test_schedule_create_list_get_delete(api: Api) -> None:
    tenant = "cli-schedules"
    # GIVEN no schedule  WHEN creating one that runs a shell command daily
    out = ok(batchplane(api, tenant, "schedule", "create", "cli-daily", "-e", "cron(0 3 * * ? *)",
                        "--timezone", "Europe/Paris", "--shell", "--command", "echo daily"))  # fmt: skip
    assert "cron(0 3 * * ? *)" in out
    # THEN list and get show it, with what it submits
    assert "cli-daily" in ok(batchplane(api, tenant, "schedule", "list"))
    got = json.loads(ok(batchplane(api, tenant, "schedule", "get", "cli-daily", "--json")))
    assert (got["expression"], got["timezone"]) == ("cron(0 3 * * ? *)", "Europe/Paris")
    assert got["target"]["job"]["command"] == ["sh", "-c", "echo daily"]
    # AND another tenant does not see it
    assert "cli-daily" not in ok(batchplane(api, "cli-someone-else", "schedule", "list"))
    # WHEN deleting it THEN it is gone: get is a one-line 404
    ok(batchplane(api, tenant, "schedule", "delete", "cli-daily"))
    gone = batchplane(api, tenant, "schedule", "get", "cli-daily")
    assert gone.returncode == 1
    assert "404" in one_error_line(gone)
    # AND an expression AWS would refuse is one line naming the field
    bad = batchplane(api, tenant, "schedule", "create", "x", "-e", "every day", "--command", "true")
    assert bad.returncode == 1
    assert "expression" in one_error_line(bad)


def _progress(out: str) -> list[tuple[str, str]]:
    """The `pipeline run --wait` progress lines: (job, state), in the order printed."""
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")]
    return [(r[0], r[1]) for r in rows if len(r) >= 2 and r[1].isupper() and r[1].isalpha()]


def test_pipeline_run_wait_list_resume_cancel(api: Api, tmp_path: Path) -> None:
    tenant = "cli-pipelines"
    flag = tmp_path / "fixed"
    # GIVEN a pipeline a -> b where b fails until a flag file exists
    body = {
        "name": "cli-resumable",
        "jobs": [
            {"id": "a", "command": ["sh", "-c", "sleep 1; echo a"]},
            {"id": "b", "dependsOn": ["a"], "command": ["sh", "-c", f"test -e {flag}"], "retry": {"attempts": 1}},
        ],
    }
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps(body))
    # WHEN running it with --wait
    run = batchplane(api, tenant, "pipeline", "run", str(spec), "--wait", "--interval", "0.2")
    # THEN exit 1 (FAILED), with each job's progress printed as it moved
    assert run.returncode == 1, run.stdout + run.stderr
    pid = run.stdout.split()[1]
    progress = _progress(run.stdout)
    assert ("a", "SUCCEEDED") in progress
    assert ("b", "FAILED") in progress
    assert progress.index(("b", "WAITING")) < progress.index(("a", "SUCCEEDED")) < progress.index(("b", "FAILED"))
    assert f"pipeline {pid} FAILED" in run.stderr
    # AND `pipeline list` shows it
    listed = json.loads(ok(batchplane(api, tenant, "pipeline", "list", "--json")))
    assert [(p["pipelineId"], p["status"]) for p in listed["pipelines"]] == [(pid, "FAILED")]
    # WHEN the cause is fixed and it is resumed with --wait THEN exit 0, only b re-ran
    flag.write_text("ok")
    resumed = ok(batchplane(api, tenant, "pipeline", "resume", pid, "--wait", "--interval", "0.2"))
    assert ("b", "SUCCEEDED") in _progress(resumed)
    assert api.http.get(f"/pipelines/{pid}", headers={"X-Batchplane-Tenant": tenant}).json()["run"] == 2

    # WHEN a long pipeline is cancelled with a reason
    spec.write_text(json.dumps({"name": "cli-long", "jobs": [{"id": "long", "command": ["sleep", "60"]}]}))
    started = json.loads(ok(batchplane(api, tenant, "pipeline", "run", str(spec), "--json")))
    job_id = _wait_running(api, tenant, started["pipelineId"])
    cancelled = ok(batchplane(api, tenant, "pipeline", "cancel", started["pipelineId"], "--reason", "wrong input"))
    # THEN it is CANCELLED and its job ends with the reason
    assert "CANCELLED" in cancelled
    job = _wait_ended(api, tenant, job_id)
    reasons = [job.get("statusReason")] + [a.get("statusReason") for a in job["attempts"]]
    assert any("pipeline cancelled: wrong input" in (r or "") for r in reasons), job

    # AND a file that is not YAML is one line and exit 2, nothing submitted
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: p\njobs:\n  - {id: a, command: [sh\n")
    refused = batchplane(api, tenant, "pipeline", "run", str(bad))
    assert refused.returncode == 2
    assert "is not valid YAML: line 4" in one_error_line(refused)
    assert "Traceback" not in refused.stderr


def _job(api: Api, tenant: str, job_id: str) -> dict[str, Any]:
    r = api.http.get(f"/jobs/{job_id}", headers={"X-Batchplane-Tenant": tenant})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _wait_running(api: Api, tenant: str, pid: str, timeout: float = 60) -> str:
    headers = {"X-Batchplane-Tenant": tenant}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.http.get(f"/pipelines/{pid}", headers=headers).json()["jobs"][0]
        if job["jobId"] and _job(api, tenant, job["jobId"])["status"] == "RUNNING":
            return str(job["jobId"])
        time.sleep(0.2)
    msg = f"pipeline {pid}'s job did not start"
    raise AssertionError(msg)


def _wait_ended(api: Api, tenant: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = _job(api, tenant, job_id)
        if job["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return job
        time.sleep(0.2)
    msg = f"job {job_id} did not end: {job}"
    raise AssertionError(msg)
