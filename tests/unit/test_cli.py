"""The user CLI (`batchplane`) and its HTTP client, against an httpx.MockTransport: no network."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from batchplane_local import cli
from batchplane_local.client import ApiError, BatchplaneClient
from typer.testing import CliRunner

pytestmark = pytest.mark.unit

JOB_ID = "01JZ0000000000000000000000"
runner = CliRunner()


def _job(status: str, attempts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "jobId": JOB_ID,
        "name": "align",
        "status": status,
        "priority": "normal",
        "capacity": "spot-first",
        "queue": "bp-normal-spot",
        "placementReason": "normal priority, spot-first: the Spot queue",
        "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": "2025-01-01T00:00:01.000Z",
        "attempts": attempts
        or [
            {
                "attempt": 1,
                "reason": "initial",
                "batchJobName": "bp-x-a1-align",
                "queue": "bp-normal-spot",
                "capacity": "spot",
                "status": status,
            }
        ],
    }


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich sizes tables to the terminal: a wide one keeps cells on one line."""
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("BATCHPLANE_API", "BATCHPLANE_TENANT"):
        monkeypatch.delenv(name, raising=False)


class Api:
    """A scripted API: records every request, answers with `handler`."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def body(self, i: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[i].content)


@pytest.fixture
def mock_api(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[httpx.Request], httpx.Response]], Api]:
    """Route the CLI's client factory to a MockTransport (keeping --api/--tenant/--sign as the CLI decided)."""

    def install(handler: Callable[[httpx.Request], httpx.Response]) -> Api:
        api = Api(handler)
        transport = httpx.MockTransport(api)
        monkeypatch.setattr(
            cli,
            "make_client",
            lambda url, tenant, sign: BatchplaneClient(url, tenant=tenant, sign=sign, transport=transport),
        )
        return api

    return install


def _ok(body: dict[str, Any], status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _req: httpx.Response(status, json=body)


# --- submit -------------------------------------------------------------------------------------------------------


def test_submit_from_flags_builds_the_body(mock_api) -> None:
    # GIVEN an API accepting the job
    api = mock_api(_ok(_job("SUBMITTED"), 202))
    # WHEN submitting from flags only
    result = runner.invoke(
        cli.app,
        [
            "submit",
            "--name", "align",
            "--command", "bwa mem 'ref one.fa' r1.fq",
            "--priority", "high",
            "--capacity", "on-demand",
            "--memory", "4096",
            "--vcpus", "2",
            "--gpus", "1",
            "--timeout", "3600",
            "--attempts", "3",
            "--array-size", "10",
            "--tag", "team=genomics",
            "--tag", "run=7",
            "--env", "THREADS=2",
            "--definition", "sample",
        ],
    )  # fmt: skip
    # THEN the POST /jobs body carries every field under its API name, and the answer is summarised
    assert result.exit_code == 0, result.output
    req = api.requests[0]
    assert (req.method, req.url.path) == ("POST", "/jobs")
    assert api.body() == {
        "name": "align",
        "command": ["bwa", "mem", "ref one.fa", "r1.fq"],
        "priority": "high",
        "capacity": "on-demand",
        "memoryMiB": 4096,
        "vcpus": 2,
        "gpus": 1,
        "timeoutSeconds": 3600,
        "retry": {"attempts": 3},
        "arraySize": 10,
        "tags": {"team": "genomics", "run": "7"},
        "environment": {"THREADS": "2"},
        "jobDefinition": "sample",
    }
    assert JOB_ID in result.output
    assert "bp-normal-spot" in result.output
    assert "the Spot queue" in result.output
    assert "Idempotency-Key" not in req.headers


def test_submit_repeated_command_is_taken_verbatim(mock_api) -> None:
    # GIVEN an API accepting the job
    api = mock_api(_ok(_job("SUBMITTED"), 202))
    # WHEN --command is repeated
    result = runner.invoke(cli.app, ["submit", "--name", "x", "--command", "echo", "--command", "a b"])
    # THEN each value is one argument (no shell splitting)
    assert result.exit_code == 0, result.output
    assert api.body()["command"] == ["echo", "a b"]


def test_submit_json_file_merged_with_flags(mock_api, tmp_path: Path) -> None:
    # GIVEN a job.json and an API accepting it
    api = mock_api(_ok(_job("SUBMITTED"), 202))
    job = tmp_path / "job.json"
    job.write_text(
        json.dumps(
            {
                "name": "from-file",
                "command": ["true"],
                "priority": "low",
                "retry": {"attempts": 1, "memoryFactor": 3},
                "tags": {"team": "a"},
                "inputs": ["s3://b/in"],
            }
        )
    )
    # WHEN flags override some of its fields
    result = runner.invoke(
        cli.app, ["submit", "--file", str(job), "--priority", "urgent", "--attempts", "4", "--tag", "run=9"]
    )
    # THEN flags win, nested dicts merge, and the file's other fields are kept
    assert result.exit_code == 0, result.output
    assert api.body() == {
        "name": "from-file",
        "command": ["true"],
        "priority": "urgent",
        "retry": {"attempts": 4, "memoryFactor": 3},
        "tags": {"team": "a", "run": "9"},
        "inputs": ["s3://b/in"],
    }


def test_submit_yaml_file(mock_api, tmp_path: Path) -> None:
    # GIVEN a job.yaml
    api = mock_api(_ok(_job("SUBMITTED"), 202))
    job = tmp_path / "job.yaml"
    job.write_text("name: yaml-job\ncommand: [python, -c, 'print(1)']\nmemoryMiB: 2048\nenvironment:\n  A: '1'\n")
    # WHEN submitting it with a --name override
    result = runner.invoke(cli.app, ["submit", "-f", str(job), "--name", "renamed"])
    # THEN the YAML is parsed into the body and the flag overrides it
    assert result.exit_code == 0, result.output
    assert api.body() == {
        "name": "renamed",
        "command": ["python", "-c", "print(1)"],
        "memoryMiB": 2048,
        "environment": {"A": "1"},
    }


def test_submit_json_prints_raw_answer(mock_api) -> None:
    # GIVEN an API answering a job
    mock_api(_ok(_job("SUBMITTED"), 202))
    # WHEN --json
    result = runner.invoke(cli.app, ["submit", "--name", "x", "--json"])
    # THEN stdout is the raw JSON answer
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["jobId"] == JOB_ID


def test_submit_without_name_is_a_usage_error(mock_api) -> None:
    # GIVEN an API that must not be called
    api = mock_api(_ok({}))
    # WHEN no name is given
    result = runner.invoke(cli.app, ["submit", "--command", "true"])
    # THEN usage error, nothing sent
    assert result.exit_code == 2
    assert api.requests == []


def test_idempotency_and_tenant_headers_sent(mock_api) -> None:
    # GIVEN an API accepting the job
    api = mock_api(_ok(_job("SUBMITTED"), 202))
    # WHEN submitting with a tenant and an idempotency key
    result = runner.invoke(cli.app, ["--tenant", "alice", "submit", "--name", "x", "--idempotency-key", "key-1"])
    # THEN both headers are on the request, and no signature (loopback default)
    assert result.exit_code == 0, result.output
    headers = api.requests[0].headers
    assert headers["Idempotency-Key"] == "key-1"
    assert headers["X-Batchplane-Tenant"] == "alice"
    assert "Authorization" not in headers


def test_tenant_from_environment(mock_api, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN BATCHPLANE_TENANT set
    monkeypatch.setenv("BATCHPLANE_TENANT", "bob")
    api = mock_api(_ok({"queues": []}))
    # WHEN any command runs
    result = runner.invoke(cli.app, ["queues"])
    # THEN the tenant header carries it
    assert result.exit_code == 0, result.output
    assert api.requests[0].headers["X-Batchplane-Tenant"] == "bob"


# --- errors -------------------------------------------------------------------------------------------------------

PROBLEM = {
    "type": "https://batchplane.dev/problems/validation",
    "title": "Invalid request",
    "status": 422,
    "detail": "memoryMiB: Input should be greater than or equal to 4",
    "errors": [
        {"field": "memoryMiB", "pointer": "#/memoryMiB", "message": "Input should be greater than or equal to 4"}
    ],
}


def test_problem_json_is_printed_and_exits_1(mock_api) -> None:
    # GIVEN an API refusing the job with problem+json
    mock_api(lambda _r: httpx.Response(422, json=PROBLEM, headers={"Content-Type": "application/problem+json"}))
    # WHEN submitting
    result = runner.invoke(cli.app, ["submit", "--name", "x", "--memory", "1"])
    # THEN exit 1, the title, detail and each field error on stderr, nothing on stdout
    assert result.exit_code == 1
    assert "Invalid request" in result.stderr
    assert "memoryMiB: Input should be greater than or equal to 4" in result.stderr
    assert result.stdout == ""


def test_api_error_str_names_fields() -> None:
    # GIVEN a client against a refusing API
    client = BatchplaneClient(
        "http://127.0.0.1:8080", transport=httpx.MockTransport(lambda _r: httpx.Response(422, json=PROBLEM))
    )
    # WHEN a call fails
    with pytest.raises(ApiError) as info:
        client.submit({"name": "x"})
    # THEN the error carries status, problem, and its text shows title, detail and the fields
    assert info.value.status == 422
    text = str(info.value)
    assert "Invalid request" in text
    assert "memoryMiB: Input should be greater than or equal to 4" in text.splitlines()[-1]


def test_non_problem_error_is_still_reported(mock_api) -> None:
    # GIVEN API Gateway's own 403 body
    mock_api(lambda _r: httpx.Response(403, json={"message": "Forbidden"}))
    # WHEN a command runs
    result = runner.invoke(cli.app, ["status", JOB_ID])
    # THEN exit 1 with the message
    assert result.exit_code == 1
    assert "Forbidden" in result.stderr


def test_connection_error_exits_3(mock_api) -> None:
    # GIVEN an API that cannot be reached
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    mock_api(refuse)
    # WHEN a command runs
    result = runner.invoke(cli.app, ["list"])
    # THEN exit 3 with a clear message naming the URL
    assert result.exit_code == 3
    assert "cannot reach the batchplane API at http://127.0.0.1:8080" in result.stderr


# --- status / watch -----------------------------------------------------------------------------------------------


def test_status_shows_attempts(mock_api) -> None:
    # GIVEN a job with a reclaimed Spot attempt and its On-Demand fallback
    attempts = [
        {"attempt": 1, "reason": "initial", "queue": "bp-normal-spot", "capacity": "spot", "status": "FAILED",
         "statusReason": "Host EC2 terminated", "memoryMiB": 2048},
        {"attempt": 2, "reason": "spot-fallback", "replaces": 1, "queue": "bp-normal-od", "capacity": "on-demand",
         "status": "SUCCEEDED", "exitCode": 0, "memoryMiB": 2048},
    ]  # fmt: skip
    api = mock_api(_ok(_job("SUCCEEDED", attempts)))
    # WHEN asking for its status
    result = runner.invoke(cli.app, ["status", JOB_ID])
    # THEN GET /jobs/{id}, and both attempts are in the table
    assert result.exit_code == 0, result.output
    assert api.requests[0].url.path == f"/jobs/{JOB_ID}"
    for text in ("spot-fallback", "on-demand", "bp-normal-od", "Host EC2", "SUCCEEDED", "2048"):
        assert text in result.stdout


def _sequence(statuses: list[str]) -> Callable[[httpx.Request], httpx.Response]:
    answers = iter(statuses)
    last = {"s": statuses[0]}

    def handler(_r: httpx.Request) -> httpx.Response:
        last["s"] = next(answers, last["s"])
        return httpx.Response(200, json=_job(last["s"]))

    return handler


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        (["SUBMITTED", "RUNNABLE", "RUNNING", "SUCCEEDED"], 0),
        (["RUNNABLE", "RUNNING", "FAILED"], 1),
    ],
)
def test_watch_exit_code_follows_the_outcome(mock_api, statuses: list[str], code: int) -> None:
    # GIVEN a job whose status moves on at each poll
    api = mock_api(_sequence(statuses))
    # WHEN watching it
    result = runner.invoke(cli.app, ["watch", JOB_ID, "--interval", "0"])
    # THEN it polls until the terminal status and exits 0 on SUCCEEDED, 1 on FAILED
    assert result.exit_code == code, result.output
    assert len(api.requests) == len(statuses)
    assert statuses[-1] in result.output


def test_watch_ends_on_a_cancelled_job_and_exits_1(mock_api) -> None:
    # GIVEN a job that is cancelled while watched
    api = mock_api(_sequence(["PENDING", "CANCELLED"]))
    # WHEN watching it (a timeout, so a watch that missed the end cannot hang the test)
    result = runner.invoke(cli.app, ["watch", JOB_ID, "--interval", "0", "--timeout", "5"])
    # THEN it stops at CANCELLED, a terminal status, and exits 1 (it did not succeed)
    assert result.exit_code == 1, result.output
    assert len(api.requests) == 2
    assert "CANCELLED" in result.output


def test_watch_timeout_exits_2(mock_api) -> None:
    # GIVEN a job that never finishes
    mock_api(_ok(_job("RUNNING")))
    # WHEN watching with a zero timeout
    result = runner.invoke(cli.app, ["watch", JOB_ID, "--interval", "0", "--timeout", "0"])
    # THEN exit 2
    assert result.exit_code == 2
    assert "timed out" in result.stderr


# --- logs / lineage / cancel / list / queues ----------------------------------------------------------------------


def test_logs_prints_lines(mock_api) -> None:
    # GIVEN log lines of the latest attempt
    api = mock_api(_ok({"jobId": JOB_ID, "attempt": 2, "logStreamName": "s/2", "lines": ["hello [world]", "done"]}))
    # WHEN printing them
    result = runner.invoke(cli.app, ["logs", JOB_ID])
    # THEN verbatim (no rich markup interpretation), one per line
    assert result.exit_code == 0, result.output
    assert api.requests[0].url.path == f"/jobs/{JOB_ID}/logs"
    assert result.stdout.splitlines() == ["hello [world]", "done"]


LINEAGE = {
    "jobId": JOB_ID,
    "nodes": [
        {"id": JOB_ID, "kind": "job", "label": "align", "status": "SUCCEEDED"},
        {"id": f"{JOB_ID}#a1", "kind": "attempt", "label": "a1", "status": "FAILED", "attempt": 1,
         "reason": "initial", "capacity": "spot"},
        {"id": f"{JOB_ID}#a2", "kind": "attempt", "label": "a2", "status": "SUCCEEDED", "attempt": 2,
         "reason": "spot-fallback", "capacity": "on-demand"},
        {"id": "s3://b/reads.fq", "kind": "artifact", "label": "s3://b/reads.fq"},
        {"id": "s3://b/out.bam", "kind": "artifact", "label": "s3://b/out.bam"},
    ],
    "edges": [
        {"from": JOB_ID, "to": f"{JOB_ID}#a1", "kind": "attempt"},
        {"from": JOB_ID, "to": f"{JOB_ID}#a2", "kind": "attempt"},
        {"from": f"{JOB_ID}#a2", "to": f"{JOB_ID}#a1", "kind": "replaces"},
        {"from": "s3://b/reads.fq", "to": f"{JOB_ID}#a2", "kind": "input"},
        {"from": f"{JOB_ID}#a2", "to": "s3://b/out.bam", "kind": "output"},
    ],
}  # fmt: skip


def test_lineage_renders_a_tree(mock_api) -> None:
    # GIVEN a job's lineage graph (two attempts, the second replacing the first, with artifacts)
    api = mock_api(_ok(LINEAGE))
    # WHEN rendering it
    result = runner.invoke(cli.app, ["lineage", JOB_ID])
    # THEN a tree: job → attempts with reason, capacity, status and what they replace → inputs/outputs
    assert result.exit_code == 0, result.output
    assert api.requests[0].url.path == f"/jobs/{JOB_ID}/lineage"
    out = result.stdout
    assert "a1 initial spot FAILED" in out
    assert "a2 spot-fallback on-demand SUCCEEDED (replaces a1)" in out
    assert out.index("a1 initial") < out.index("a2 spot-fallback") < out.index("inputs") < out.index("outputs")
    assert "s3://b/reads.fq" in out
    assert "s3://b/out.bam" in out
    assert "├──" in out or "└──" in out


def test_lineage_json(mock_api) -> None:
    # GIVEN a lineage graph  WHEN --json  THEN the raw graph
    mock_api(_ok(LINEAGE))
    result = runner.invoke(cli.app, ["lineage", JOB_ID, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == LINEAGE


def test_cancel_prints_action(mock_api) -> None:
    # GIVEN a running job
    api = mock_api(_ok({"jobId": JOB_ID, "action": "terminate", "status": "RUNNING"}))
    # WHEN cancelling it with a reason
    result = runner.invoke(cli.app, ["cancel", JOB_ID, "--reason", "wrong input"])
    # THEN POST /jobs/{id}/cancel with the reason, and the action is printed
    assert result.exit_code == 0, result.output
    assert (api.requests[0].method, api.requests[0].url.path) == ("POST", f"/jobs/{JOB_ID}/cancel")
    assert api.body() == {"reason": "wrong input"}
    assert "terminate" in result.stdout


def test_list_all_follows_next_token(mock_api) -> None:
    # GIVEN two pages of jobs
    pages = {
        None: {"jobs": [{"jobId": "J1", "name": "one", "status": "RUNNING"}], "nextToken": "tok 2"},
        "tok 2": {"jobs": [{"jobId": "J2", "name": "two", "status": "FAILED"}], "nextToken": None},
    }
    api = mock_api(lambda r: httpx.Response(200, json=pages[r.url.params.get("nextToken")]))
    # WHEN listing all with filters
    result = runner.invoke(cli.app, ["list", "--all", "--status", "RUNNING", "--tag", "team=g", "--limit", "1"])
    # THEN both pages are fetched (the second with the token) and both jobs shown
    assert result.exit_code == 0, result.output
    assert len(api.requests) == 2
    first, second = (r.url.params for r in api.requests)
    assert (first["status"], first["tag"], first["limit"], "nextToken" in first) == ("RUNNING", "team=g", "1", False)
    assert second["nextToken"] == "tok 2"
    assert "J1" in result.stdout
    assert "J2" in result.stdout


def test_list_without_all_stops_after_one_page(mock_api) -> None:
    # GIVEN a first page with a nextToken
    api = mock_api(_ok({"jobs": [{"jobId": "J1"}], "nextToken": "t"}))
    # WHEN listing without --all
    result = runner.invoke(cli.app, ["list"])
    # THEN one request only
    assert result.exit_code == 0, result.output
    assert len(api.requests) == 1


def test_queues_table(mock_api) -> None:
    # GIVEN the queue catalogue
    mock_api(_ok({"queues": [{"priority": "high", "capacity": "spot", "queue": "bp-high-spot", "queueArn": "arn",
                              "maxVcpus": 8, "maxMemoryMiB": 62000, "maxGpus": 0, "multiNode": False}]}))  # fmt: skip
    # WHEN listing queues
    result = runner.invoke(cli.app, ["queues"])
    # THEN a table row
    assert result.exit_code == 0, result.output
    assert "bp-high-spot" in result.stdout
    assert "62000" in result.stdout


# --- SigV4 --------------------------------------------------------------------------------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


@pytest.mark.usefixtures("aws_env")
def test_sign_adds_sigv4_authorization(mock_api) -> None:
    # GIVEN fake AWS credentials and region
    api = mock_api(_ok(_job("SUBMITTED"), 202))
    # WHEN submitting with --sign
    result = runner.invoke(cli.app, ["--sign", "submit", "--name", "x", "--idempotency-key", "k"])
    # THEN the request carries a SigV4 signature for execute-api in the configured region
    assert result.exit_code == 0, result.output
    headers = api.requests[0].headers
    auth = headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in auth
    assert "idempotency-key" in auth
    assert "X-Amz-Date" in headers


@pytest.mark.usefixtures("aws_env")
def test_non_loopback_url_signs_by_default_with_the_url_region(mock_api) -> None:
    # GIVEN a deployed API URL (region in the host name)
    api = mock_api(_ok({"jobs": [], "nextToken": None}))
    url = "https://abc123.execute-api.us-west-2.amazonaws.com"
    # WHEN listing without --sign/--no-sign
    result = runner.invoke(cli.app, ["--api", url, "list", "--tag", "a=b c"])
    # THEN it is signed, for the URL's region
    assert result.exit_code == 0, result.output
    auth = api.requests[0].headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256")
    assert "/us-west-2/execute-api/" in auth
    assert "b%20c" in str(api.requests[0].url)


@pytest.mark.usefixtures("aws_env")
def test_no_sign_overrides_the_default(mock_api) -> None:
    # GIVEN a non-loopback URL  WHEN --no-sign  THEN no Authorization header
    api = mock_api(_ok({"queues": []}))
    result = runner.invoke(cli.app, ["--api", "https://api.example.com", "--no-sign", "queues"])
    assert result.exit_code == 0, result.output
    assert "Authorization" not in api.requests[0].headers


def test_local_placeholder_group_exists() -> None:
    # GIVEN the app  WHEN asking for `local --help`  THEN the (empty) local group is there
    result = runner.invoke(cli.app, ["local", "--help"])
    assert result.exit_code == 0
    assert "Run the local stack" in result.stdout
