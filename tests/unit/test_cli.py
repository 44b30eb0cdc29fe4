"""The user CLI (`batchplane`) and its HTTP client, against an httpx.MockTransport: no network."""

from __future__ import annotations

import json
import sys
import time
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
            cli.api,
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


def _answers(*bodies: dict[str, Any]) -> Callable[[httpx.Request], httpx.Response]:
    """Answer each request with the next body (the last one again once they run out)."""
    queue = list(bodies)

    def handler(_req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=queue.pop(0) if len(queue) > 1 else queue[0])

    return handler


def _logs(status: str, lines: list[str], *, after: str, attempt: int = 1, **extra: Any) -> dict[str, Any]:
    streams = extra.pop("streams", [{"logStreamName": f"s/{attempt}", "lines": lines}])
    return {
        "jobId": JOB_ID,
        "status": status,
        "attempt": attempt,
        "attemptStatus": extra.pop("attemptStatus", status),
        "logStreamName": f"s/{attempt}",
        "lines": lines,
        "streams": streams,
        "nextToken": after,
        **extra,
    }


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _s: None)


def test_logs_sends_attempt_and_index(mock_api) -> None:
    # GIVEN an array child's answer
    api = mock_api(_ok(_logs("RUNNING", ["child 3"], after="t1", attempt=2, arraySize=5)))
    # WHEN asking for attempt 2's child 3
    result = runner.invoke(cli.app, ["logs", JOB_ID, "--attempt", "2", "--index", "3"])
    # THEN both go to the API as query parameters, and the child's lines are printed once (no following)
    assert result.exit_code == 0, result.output
    assert dict(api.requests[0].url.params) == {"attempt": "2", "index": "3"}
    assert len(api.requests) == 1
    assert result.stdout.splitlines() == ["child 3"]


def test_logs_follow_prints_new_lines_until_the_job_ends(mock_api, no_sleep: None) -> None:
    # GIVEN a job running, then still running with a new line, then SUCCEEDED with its last line
    api = mock_api(
        _answers(
            _logs("RUNNING", ["first"], after="t1"),
            _logs("RUNNING", ["second"], after="t2"),
            _logs("SUCCEEDED", ["last"], after="t3"),
            _logs("SUCCEEDED", ["never asked for"], after="t4"),
        )
    )
    # WHEN following
    result = runner.invoke(cli.app, ["logs", JOB_ID, "--follow"])
    # THEN each look passes on the previous answer's token, each line is printed once, and it stops at the job's end
    assert result.exit_code == 0, result.output
    assert [r.url.params.get("nextToken") for r in api.requests] == [None, "t1", "t2"]
    assert result.stdout.splitlines() == ["first", "second", "last"]
    assert "job SUCCEEDED" in result.stderr


def test_logs_follow_of_an_attempt_stops_when_that_attempt_ends(mock_api, no_sleep: None) -> None:
    # GIVEN attempt 1 failed while the job goes on (a retry)
    api = mock_api(_answers(_logs("RUNNABLE", ["boom"], after="t1", attemptStatus="FAILED")))
    # WHEN following attempt 1
    result = runner.invoke(cli.app, ["logs", JOB_ID, "--follow", "--attempt", "1"])
    # THEN one look is enough: that attempt is over
    assert result.exit_code == 0, result.output
    assert len(api.requests) == 1
    assert result.stdout.splitlines() == ["boom"]


def test_logs_follow_reads_an_attempt_to_its_end_then_moves_on_to_the_retry(mock_api, no_sleep: None) -> None:
    # GIVEN attempt 1 runs, then fails with a last line while attempt 2 starts, which then succeeds
    api = mock_api(
        _answers(
            _logs("RUNNING", ["a1 line"], after="t1", attempt=1, latestAttempt=1),
            _logs("RUNNABLE", ["a1 tail"], after="t2", attempt=1, attemptStatus="FAILED", latestAttempt=2),
            _logs("SUCCEEDED", ["a2 line"], after="t3", attempt=2, latestAttempt=2),
        )
    )
    # WHEN following the job
    result = runner.invoke(cli.app, ["logs", JOB_ID, "-f"])
    # THEN attempt 1 is read to its last line, then attempt 2 from its head, under a header naming it
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["a1 line", "a1 tail", "a2 line"]
    assert "attempt 2" in result.stderr
    asked = [(r.url.params.get("attempt"), r.url.params.get("nextToken")) for r in api.requests]
    assert asked == [(None, None), ("1", "t1"), ("2", None)]


def test_logs_read_a_full_page_on_at_once(mock_api) -> None:
    # GIVEN a first page that says more lines are there
    api = mock_api(_answers(_logs("SUCCEEDED", ["l1"], after="t1", more=True), _logs("SUCCEEDED", ["l2"], after="t2")))
    # WHEN printing (not following)
    result = runner.invoke(cli.app, ["logs", JOB_ID])
    # THEN the next page is asked for with the token, and both are printed
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["l1", "l2"]
    assert [r.url.params.get("nextToken") for r in api.requests] == [None, "t1"]


def test_logs_of_a_multi_node_job_prefix_each_line_with_its_node(mock_api) -> None:
    # GIVEN two nodes' streams
    streams = [
        {"node": 0, "logStreamName": "d/default/a", "lines": ["main up"]},
        {"node": 1, "logStreamName": "d/default/b", "lines": ["worker up", "worker done"]},
    ]
    mock_api(_ok(_logs("SUCCEEDED", ["main up"], after="t", streams=streams)))
    # WHEN printing
    result = runner.invoke(cli.app, ["logs", JOB_ID])
    # THEN every node's lines, each prefixed by its node index
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["[node 0] main up", "[node 1] worker up", "[node 1] worker done"]


def test_logs_of_an_array_job_without_index_says_to_pass_one(mock_api) -> None:
    mock_api(_ok(_logs("RUNNING", [], after="t", streams=[], arraySize=4)))
    result = runner.invoke(cli.app, ["logs", JOB_ID])
    assert result.exit_code == 0, result.output
    assert "pass --index" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [["--attempt", "0"], ["--index", "-1"], ["--json", "--follow"], ["--interval", "0"], ["--attempt", "x"]],
)
def test_logs_refuses_bad_options_before_calling_the_api(mock_api, args: list[str]) -> None:
    api = mock_api(_ok({}))
    result = runner.invoke(cli.app, ["logs", JOB_ID, *args])
    assert result.exit_code == 2, result.output
    assert api.requests == []


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


def test_cancel_of_a_queued_pipeline_job_says_when_it_ends(mock_api) -> None:
    # GIVEN a pipeline's job still queued for admission (the answer: nothing to stop, still QUEUED)
    mock_api(_ok({"jobId": JOB_ID, "action": "none", "status": "QUEUED"}))
    # WHEN cancelling it
    result = runner.invoke(cli.app, ["cancel", JOB_ID])
    # THEN the user is told the cancel is requested and when the job ends
    assert result.exit_code == 0, result.output
    assert "cancel requested" in result.stdout
    assert "dispatcher's next look" in " ".join(result.stdout.split())


def test_cancel_of_a_job_that_never_reached_batch_says_it_is_cancelled(mock_api) -> None:
    # GIVEN a job still queued for admission, which the cancel ends at once (action none: no Batch job to stop)
    mock_api(_ok({"jobId": JOB_ID, "action": "none", "status": "CANCELLED"}))
    result = runner.invoke(cli.app, ["cancel", JOB_ID])
    # THEN the user reads that it is cancelled, not a bare "none"
    assert result.exit_code == 0, result.output
    assert f"{JOB_ID}: CANCELLED (no Batch job had been started: none to stop)" in result.stdout


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
    # AND its sizes are said to be the largest job, not the queue's capacity (the local stack's environments have 2)
    assert "largest job vCPUs" in result.stdout


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


# --- errors: one line on stderr, never a traceback ------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_a_problem_is_one_line_naming_title_detail_and_field(mock_api) -> None:
    # GIVEN an API refusing the job with a problem whose detail does not name the field
    problem = {**PROBLEM, "detail": "the job is invalid"}
    mock_api(lambda _r: httpx.Response(422, json=problem, headers={"Content-Type": "application/problem+json"}))
    # WHEN submitting
    result = runner.invoke(cli.app, ["submit", "--name", "x", "--memory", "1"])
    # THEN exactly one line: status, title, detail and the field error
    assert result.exit_code == 1
    assert _lines(result.stderr) == [
        "error: 422 Invalid request: the job is invalid: memoryMiB: Input should be greater than or equal to 4"
    ]


def test_connection_refused_is_one_line(mock_api) -> None:
    # GIVEN an API that cannot be reached
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    mock_api(refuse)
    # WHEN a command runs THEN exit 3 and one line naming the URL and what to do
    result = runner.invoke(cli.app, ["status", JOB_ID])
    assert result.exit_code == 3
    (line,) = _lines(result.stderr)
    assert line.startswith("error: cannot reach the batchplane API at http://127.0.0.1:8080")
    assert "batchplane local up" in line


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.yaml", "name: p\njobs:\n  - {id: a, command: [sh\n  - id: b\n", "is not valid YAML: line 4 column"),
        ("bad.json", '{"name": "p", "jobs": [}', "is not valid JSON: line 1 column 24"),
        ("list.yaml", "- a\n- b\n", "must hold a JSON/YAML object, not list"),
    ],
)
def test_pipeline_run_of_a_bad_file_is_one_clean_line(
    mock_api, tmp_path: Path, name: str, text: str, expected: str
) -> None:
    # GIVEN a pipeline file that cannot be read as an object, and an API that must not be called
    api = mock_api(_ok({}))
    path = tmp_path / name
    path.write_text(text)
    # WHEN running it
    result = runner.invoke(cli.app, ["pipeline", "run", str(path)])
    # THEN a usage error (2) on one line naming the file and where it is wrong; no traceback, no request
    assert result.exit_code == 2, result.output
    (line,) = _lines(result.stderr)
    assert line.startswith(f"error: FILE: {path} ")
    assert expected in line
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert api.requests == []


def test_a_missing_file_is_one_line(mock_api, tmp_path: Path) -> None:
    mock_api(_ok({}))
    for args in (["pipeline", "run", str(tmp_path / "nope.yaml")], ["submit", "-f", str(tmp_path / "nope.json")]):
        result = runner.invoke(cli.app, args)
        assert result.exit_code == 2, result.output
        (line,) = _lines(result.stderr)
        assert "cannot read" in line
        assert "No such file or directory" in line


def test_the_entry_point_turns_an_unexpected_error_into_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a command that fails in a way nobody foresaw
    def boom(**_: Any) -> None:
        raise KeyError("pipelineId")

    monkeypatch.setattr(cli, "app", boom)
    # WHEN the installed entry point runs it
    with pytest.raises(SystemExit) as info:
        cli.main()
    # THEN exit 1 with one line, no traceback
    assert info.value.code == 1
    assert _lines(capsys.readouterr().err) == ["error: KeyError: 'pipelineId'"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["submit", "--memory", "abc"], "error: Invalid value for '--memory': "),
        (["submit", "--no-such-flag"], "error: No such option: --no-such-flag"),
        (["pipeline", "run"], "error: Missing argument 'file'."),
    ],
)
def test_the_entry_point_prints_a_usage_error_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    # GIVEN a command line the CLI cannot parse
    monkeypatch.setattr(sys, "argv", ["batchplane", *argv])
    # WHEN the installed entry point runs it
    with pytest.raises(SystemExit) as info:
        cli.main()
    # THEN exit 2 with one line naming the problem and where help is, no box
    assert info.value.code == 2
    (line,) = _lines(capsys.readouterr().err)
    assert line.startswith(expected)
    assert line.endswith("--help)")


def test_the_entry_point_keeps_exit_codes_and_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["batchplane", "--version"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("batchplane ")
    monkeypatch.setattr(sys, "argv", ["batchplane", "pipeline", "--help"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 0
    assert "resume" in capsys.readouterr().out


def test_version_prints_the_package_version() -> None:
    import importlib.metadata

    result = runner.invoke(cli.app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"batchplane {importlib.metadata.version('batchplane')}"


# --- help that says what the code does ------------------------------------------------------------------------------


def _help(*args: str) -> str:
    result = runner.invoke(cli.app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.replace("│", " ").split())


def test_cancel_help_says_terminate_job() -> None:
    # GIVEN the code, which always calls TerminateJob  WHEN reading `cancel --help`  THEN it says so
    text = _help("cancel")
    assert "always calls TerminateJob" in text
    assert "CancelJob before STARTING" not in text


def test_command_help_says_no_shell_and_shell_runs_sh_c() -> None:
    text = _help("submit")
    assert "not by a shell" in text
    assert "sh -c" in text
    assert "Exit codes" in text


def test_shell_sends_sh_c_and_the_string(mock_api) -> None:
    # GIVEN an API accepting the job
    api = mock_api(_ok(_job("SUBMITTED"), 202))
    # WHEN --shell with a pipeline of commands
    result = runner.invoke(cli.app, ["submit", "--name", "x", "--shell", "--command", "echo $HOME | wc -c > /tmp/o"])
    # THEN the command is ["sh", "-c", STRING], the string untouched
    assert result.exit_code == 0, result.output
    assert api.body()["command"] == ["sh", "-c", "echo $HOME | wc -c > /tmp/o"]


def test_shell_takes_one_command_string(mock_api) -> None:
    api = mock_api(_ok({}))
    result = runner.invoke(cli.app, ["submit", "--name", "x", "--shell", "--command", "a", "--command", "b"])
    assert result.exit_code == 2
    assert "--shell takes exactly one --command" in result.stderr
    assert api.requests == []


# --- status: why it failed ------------------------------------------------------------------------------------------


def test_status_shows_the_failure_class_exit_code_and_container_reason(mock_api) -> None:
    # GIVEN a job whose only attempt was killed for memory
    attempts = [
        {"attempt": 1, "reason": "initial", "queue": "bp-normal-spot", "capacity": "spot", "status": "FAILED",
         "statusReason": "Essential container in task exited", "exitCode": 137,
         "containerReason": "OutOfMemoryError: Container killed due to memory usage", "failureClass": "oom"},
    ]  # fmt: skip
    job = {**_job("FAILED", attempts), "statusReason": "Essential container in task exited"}
    mock_api(_ok(job))
    # WHEN asking for its status
    result = runner.invoke(cli.app, ["status", JOB_ID])
    # THEN the failure row says the class, the exit code and AWS's container reason, not only Batch's statusReason
    assert result.exit_code == 0, result.output
    failure = next(line for line in result.stdout.splitlines() if line.startswith("failure"))
    assert "oom" in failure
    assert "exit code 137" in failure
    assert "OutOfMemoryError: Container killed due to memory usage" in failure
    assert "containerReason" in result.stdout  # and the attempts table has the column


def test_status_shows_what_the_job_cost_and_how_long_each_attempt_ran(mock_api) -> None:
    # GIVEN a job whose Spot attempt ran 3.25 s and was reclaimed, then ran 4 min 12 s On-Demand
    attempts = [
        {"attempt": 1, "reason": "initial", "capacity": "spot", "status": "FAILED", "failureClass": "spot-reclaim",
         "startedAt": "2026-01-01T00:00:00.000Z", "stoppedAt": "2026-01-01T00:00:03.250Z"},
        {"attempt": 2, "reason": "spot-fallback", "capacity": "on-demand", "status": "SUCCEEDED",
         "startedAt": "2026-01-01T00:01:00.000Z", "stoppedAt": "2026-01-01T00:05:12.000Z"},
    ]  # fmt: skip
    cost = {"amount": 0.012345, "currency": "USD", "wasted": 0.000151, "basis": "attempt 1 ..."}
    mock_api(_ok({**_job("SUCCEEDED", attempts), "cost": cost}))
    # WHEN asking for its status
    result = runner.invoke(cli.app, ["status", JOB_ID])
    # THEN a cost row gives the amount and the wasted part, and the attempts table how long each ran
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("cost"))
    assert "USD 0.012345, of which 0.000151 wasted" in row
    assert "ran" in result.stdout
    assert "3.2 s" in result.stdout
    assert "4 min 12 s" in result.stdout


def test_status_of_a_job_not_yet_started_has_no_running_time(mock_api) -> None:
    attempts = [{"attempt": 1, "reason": "initial", "status": "RUNNABLE", "startedAt": None, "stoppedAt": None}]
    mock_api(_ok(_job("RUNNABLE", attempts)))
    result = runner.invoke(cli.app, ["status", JOB_ID])
    assert result.exit_code == 0, result.output
    assert " s " not in result.stdout.replace("status", "")
    assert not any(line.startswith("cost") for line in result.stdout.splitlines())


def test_status_shows_what_the_job_depends_on(mock_api) -> None:
    other = "01JZ0000000000000000000001"
    mock_api(_ok({**_job("PENDING"), "dependsOn": [{"jobId": other, "type": None}]}))
    result = runner.invoke(cli.app, ["status", JOB_ID])
    assert result.exit_code == 0, result.output
    assert any(line.startswith("depends on") and other in line for line in result.stdout.splitlines())


def test_status_of_an_array_job_counts_its_children_and_names_the_failed_ones(mock_api) -> None:
    summary = {"SUBMITTED": 0, "PENDING": 0, "RUNNABLE": 0, "STARTING": 0, "RUNNING": 1, "SUCCEEDED": 3, "FAILED": 1}
    attempts = [{"attempt": 1, "status": "RUNNING", "arraySummary": summary, "failedChildren": [4]}]
    mock_api(_ok(_job("RUNNING", attempts)))
    result = runner.invoke(cli.app, ["status", JOB_ID])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("children"))
    assert "1 FAILED, 1 RUNNING, 3 SUCCEEDED, failed indexes 4" in line


def test_status_of_a_job_that_is_no_array_has_no_children_line(mock_api) -> None:
    mock_api(_ok(_job("SUCCEEDED", [{"attempt": 1, "status": "SUCCEEDED"}])))
    result = runner.invoke(cli.app, ["status", JOB_ID])
    assert result.exit_code == 0, result.output
    assert not any(line.startswith("children") for line in result.stdout.splitlines())


def test_watch_of_a_failed_job_says_why(mock_api) -> None:
    attempts = [{"attempt": 1, "status": "FAILED", "exitCode": 3, "failureClass": "app-error"}]
    mock_api(_ok(_job("FAILED", attempts)))
    result = runner.invoke(cli.app, ["watch", JOB_ID, "--interval", "0"])
    assert result.exit_code == 1
    assert "FAILED: app-error; exit code 3" in result.stderr


# --- submit --depends-on / --parameter / --wait ---------------------------------------------------------------------


def test_submit_depends_on_and_parameters(mock_api) -> None:
    # GIVEN an API accepting the job
    api = mock_api(_ok(_job("PENDING"), 202))
    other = "01JZ0000000000000000000001"
    # WHEN it depends on two jobs (one an array dependency) and sets parameters
    result = runner.invoke(
        cli.app,
        ["submit", "--name", "x", "--depends-on", JOB_ID, "--depends-on", f"{other}:n_to_n",
         "--parameter", "ref=s3://b/ref.fa", "-p", "sample=NA1"],
    )  # fmt: skip
    # THEN dependsOn and parameters carry them under the API's names
    assert result.exit_code == 0, result.output
    body = api.body()
    assert body["dependsOn"] == [{"jobId": JOB_ID}, {"jobId": other, "type": "N_TO_N"}]
    assert body["parameters"] == {"ref": "s3://b/ref.fa", "sample": "NA1"}


def test_depends_on_with_an_unknown_type_is_a_usage_error(mock_api) -> None:
    api = mock_api(_ok({}))
    result = runner.invoke(cli.app, ["submit", "--name", "x", "--depends-on", f"{JOB_ID}:AFTER"])
    assert result.exit_code == 2
    assert "N_TO_N or SEQUENTIAL" in result.stderr
    assert api.requests == []


@pytest.mark.parametrize(("final", "code"), [("SUCCEEDED", 0), ("FAILED", 1), ("CANCELLED", 1)])
def test_submit_wait_exits_by_the_outcome(mock_api, final: str, code: int) -> None:
    # GIVEN an API accepting the job, which then runs and ends `final`
    statuses = iter(["RUNNABLE", "RUNNING", final])

    def handler(r: httpx.Request) -> httpx.Response:
        if r.method == "POST":
            return httpx.Response(202, json=_job("SUBMITTED"))
        return httpx.Response(200, json=_job(next(statuses, final)))

    api = mock_api(handler)
    # WHEN submitting with --wait
    result = runner.invoke(cli.app, ["submit", "--name", "x", "--wait", "--interval", "0"])
    # THEN it polls the job until it ends: exit 0 on SUCCEEDED, 1 otherwise
    assert result.exit_code == code, result.output
    assert [r.method for r in api.requests] == ["POST", "GET", "GET", "GET"]
    assert "RUNNING" in result.stdout


def test_submit_wait_timeout_exits_2(mock_api) -> None:
    mock_api(lambda r: httpx.Response(202 if r.method == "POST" else 200, json=_job("RUNNING")))
    result = runner.invoke(cli.app, ["submit", "--name", "x", "--wait", "--interval", "0", "--wait-timeout", "0"])
    assert result.exit_code == 2
    assert "timed out" in result.stderr


# --- schedules ------------------------------------------------------------------------------------------------------

SCHEDULE = {
    "name": "nightly",
    "expression": "cron(0 3 * * ? *)",
    "timezone": "Europe/Paris",
    "enabled": True,
    "target": {"job": {"name": "nightly", "command": ["sh", "-c", "echo hi"]}},
    "createdAt": "2026-01-01T00:00:00Z",
    "schedulerName": "bp-alice-nightly",
}


def test_schedule_create_from_a_command(mock_api) -> None:
    # GIVEN an API creating schedules
    api = mock_api(_ok(SCHEDULE, 201))
    # WHEN creating one from flags
    result = runner.invoke(
        cli.app,
        ["schedule", "create", "nightly", "-e", "cron(0 3 * * ? *)", "--timezone", "Europe/Paris",
         "--shell", "--command", "echo hi"],
    )  # fmt: skip
    # THEN POST /schedules with a job named after the schedule
    assert result.exit_code == 0, result.output
    assert (api.requests[0].method, api.requests[0].url.path) == ("POST", "/schedules")
    assert api.body() == {
        "name": "nightly",
        "expression": "cron(0 3 * * ? *)",
        "timezone": "Europe/Paris",
        "job": {"name": "nightly", "command": ["sh", "-c", "echo hi"]},
    }
    assert "cron(0 3 * * ? *)" in result.stdout


def test_schedule_create_of_a_pipeline_file(mock_api, tmp_path: Path) -> None:
    api = mock_api(_ok(SCHEDULE, 201))
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("name: p\njobs:\n  - {id: a, command: ['true']}\n")
    result = runner.invoke(
        cli.app, ["schedule", "create", "weekly", "-e", "rate(7 days)", "--disabled", "--pipeline", str(pipeline)]
    )
    assert result.exit_code == 0, result.output
    assert api.body() == {
        "name": "weekly",
        "expression": "rate(7 days)",
        "enabled": False,
        "pipeline": {"name": "p", "jobs": [{"id": "a", "command": ["true"]}]},
    }


def test_schedule_create_needs_an_expression_and_a_target(mock_api) -> None:
    api = mock_api(_ok({}))
    no_expression = runner.invoke(cli.app, ["schedule", "create", "x", "--command", "true"])
    no_target = runner.invoke(cli.app, ["schedule", "create", "x", "-e", "rate(1 day)"])
    assert (no_expression.exit_code, no_target.exit_code) == (2, 2)
    assert "--expression" in no_expression.stderr
    assert "--command" in no_target.stderr
    assert api.requests == []


def test_schedule_list_get_delete(mock_api) -> None:
    # GIVEN an API holding one schedule
    def handler(r: httpx.Request) -> httpx.Response:
        if r.method == "DELETE":
            return httpx.Response(204)
        if r.url.path == "/schedules":
            return httpx.Response(200, json={"schedules": [SCHEDULE]})
        return httpx.Response(200, json=SCHEDULE)

    api = mock_api(handler)
    # WHEN listing, getting and deleting it
    listed = runner.invoke(cli.app, ["schedule", "list"])
    got = runner.invoke(cli.app, ["schedule", "get", "nightly"])
    deleted = runner.invoke(cli.app, ["schedule", "delete", "nightly"])
    # THEN each maps to its route, and what each shows
    assert (listed.exit_code, got.exit_code, deleted.exit_code) == (0, 0, 0), listed.output + got.output
    assert [(r.method, r.url.path) for r in api.requests] == [
        ("GET", "/schedules"),
        ("GET", "/schedules/nightly"),
        ("DELETE", "/schedules/nightly"),
    ]
    assert "job nightly" in listed.stdout
    assert "bp-alice-nightly" in got.stdout
    assert "deleted schedule nightly" in deleted.stdout


def test_schedule_get_of_an_unknown_name_is_one_line(mock_api) -> None:
    problem = {"type": "about:blank", "title": "Not found", "status": 404, "detail": "no schedule nope"}
    mock_api(lambda _r: httpx.Response(404, json=problem))
    result = runner.invoke(cli.app, ["schedule", "get", "nope"])
    assert result.exit_code == 1
    assert _lines(result.stderr) == ["error: 404 Not found: no schedule nope"]


# --- artifacts / list --next-token ----------------------------------------------------------------------------------


def test_artifacts_asks_what_used_or_produced_a_uri(mock_api) -> None:
    # GIVEN an API knowing one producer of the URI
    uri = "s3://bucket/out/a b.bam"
    api = mock_api(_ok({"uri": uri, "jobs": [{"uri": uri, "role": "output", "jobId": JOB_ID, "name": "align"}]}))
    # WHEN asking about it
    result = runner.invoke(cli.app, ["artifacts", uri])
    # THEN GET /artifacts?uri= (percent-encoded) and the job is shown with its role
    assert result.exit_code == 0, result.output
    assert api.requests[0].url.path == "/artifacts"
    assert api.requests[0].url.params["uri"] == uri
    assert "%20" in str(api.requests[0].url)
    for text in ("output", JOB_ID, "align"):
        assert text in result.stdout


def test_list_next_token_starts_at_that_page(mock_api) -> None:
    api = mock_api(_ok({"jobs": [{"jobId": "J2"}], "nextToken": "t3"}))
    result = runner.invoke(cli.app, ["list", "--next-token", "t2", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert api.requests[0].url.params["nextToken"] == "t2"
    assert "--next-token t3" in result.stdout


# --- pipelines ------------------------------------------------------------------------------------------------------

PID = "01JZ00000000000000000000PP"


def _pipeline(status: str, **states: str) -> dict[str, Any]:
    jobs = [{"id": k, "state": v, "jobId": f"J-{k}" if v != "WAITING" else None} for k, v in states.items()]
    return {"pipelineId": PID, "name": "p", "status": status, "run": 1, "jobs": jobs, "createdAt": "2026-01-01"}


def test_pipeline_status_shows_what_its_jobs_cost(mock_api) -> None:
    cost = {"amount": 0.5, "currency": "USD", "wasted": 0.25, "basis": "The sum of ..."}
    mock_api(_ok({**_pipeline("SUCCEEDED", a="SUCCEEDED", b="SUCCEEDED"), "cost": cost}))
    result = runner.invoke(cli.app, ["pipeline", "status", PID])
    assert result.exit_code == 0, result.output
    assert "cost: USD 0.500000, of which 0.250000 wasted" in result.stdout


def test_pipeline_run_wait_shows_each_job_as_it_moves(mock_api, tmp_path: Path) -> None:
    # GIVEN a pipeline a -> b that runs, then ends `SUCCEEDED`
    polls = iter(
        [
            _pipeline("RUNNING", a="RUNNING", b="WAITING"),
            _pipeline("RUNNING", a="SUCCEEDED", b="RUNNING"),
            _pipeline("SUCCEEDED", a="SUCCEEDED", b="SUCCEEDED"),
        ]
    )

    def handler(r: httpx.Request) -> httpx.Response:
        if r.method == "POST":
            return httpx.Response(202, json=_pipeline("RUNNING", a="SUBMITTED", b="WAITING"))
        return httpx.Response(200, json=next(polls))

    api = mock_api(handler)
    path = tmp_path / "p.yaml"
    path.write_text("name: p\njobs:\n  - {id: a, command: ['true']}\n  - {id: b, dependsOn: [a], command: ['true']}\n")
    # WHEN running it with --wait
    result = runner.invoke(cli.app, ["pipeline", "run", str(path), "--wait", "--interval", "0"])
    # THEN each job's state change is printed as it happens, in order, and the exit code is 0
    assert result.exit_code == 0, result.output
    states = {"SUBMITTED", "WAITING", "RUNNING", "SUCCEEDED"}
    progress = [
        line.split()[:2]
        for line in result.stdout.splitlines()
        if line[:2] == "  " and line.split()[1:2] and line.split()[1] in states
    ]
    assert progress == [
        ["a", "SUBMITTED"], ["b", "WAITING"], ["a", "RUNNING"], ["a", "SUCCEEDED"], ["b", "RUNNING"], ["b", "SUCCEEDED"]
    ]  # fmt: skip
    assert [r.method for r in api.requests] == ["POST", "GET", "GET", "GET"]


def test_pipeline_resume_wait_exits_1_when_it_fails(mock_api) -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if r.method == "POST":
            return httpx.Response(200, json=_pipeline("RUNNING", a="SUBMITTED"))
        return httpx.Response(200, json=_pipeline("FAILED", a="FAILED"))

    api = mock_api(handler)
    result = runner.invoke(cli.app, ["pipeline", "resume", PID, "--wait", "--interval", "0"])
    assert result.exit_code == 1, result.output
    assert (api.requests[0].method, api.requests[0].url.path) == ("POST", f"/pipelines/{PID}/resume")
    assert f"pipeline {PID} FAILED: 1 FAILED" in result.stderr


def test_pipeline_cancel_sends_the_reason(mock_api) -> None:
    api = mock_api(_ok(_pipeline("CANCELLED", a="SKIPPED")))
    result = runner.invoke(cli.app, ["pipeline", "cancel", PID, "--reason", "wrong reference"])
    assert result.exit_code == 0, result.output
    assert (api.requests[0].method, api.requests[0].url.path) == ("POST", f"/pipelines/{PID}/cancel")
    assert api.body() == {"reason": "wrong reference"}


def test_pipeline_list(mock_api) -> None:
    api = mock_api(_ok({"pipelines": [_pipeline("RUNNING", a="SUCCEEDED", b="RUNNING", c="WAITING")]}))
    result = runner.invoke(cli.app, ["pipeline", "list", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert (api.requests[0].url.path, api.requests[0].url.params["limit"]) == ("/pipelines", "5")
    assert PID in result.stdout
    assert "1 RUNNING, 1 SUCCEEDED, 1 WAITING" in result.stdout


# --- your own image -------------------------------------------------------------------------------------------------


def test_submit_with_an_image_sends_the_container_fields(mock_api) -> None:
    # GIVEN an API accepting a job with its own image
    api = mock_api(_ok({**_job("SUBMITTED"), "image": "public.ecr.aws/x/y:1", "platform": "fargate"}, 202))
    # WHEN it is submitted with --image, --platform, --job-role and --volume
    result = runner.invoke(
        cli.app,
        [
            "submit", "--name", "own", "--command", "true",
            "--image", "public.ecr.aws/x/y:1", "--platform", "fargate",
            "--job-role", "arn:aws:iam::123456789012:role/etl", "--volume", "shared",
        ],
    )  # fmt: skip
    # THEN the body carries them under their API names, and the answer names the image
    assert result.exit_code == 0, result.output
    assert api.body() == {
        "name": "own",
        "command": ["true"],
        "image": "public.ecr.aws/x/y:1",
        "platform": "fargate",
        "jobRoleArn": "arn:aws:iam::123456789012:role/etl",
        "volumes": ["shared"],
    }
    assert "public.ecr.aws/x/y:1 (fargate)" in result.output


def test_definitions_lists_what_was_registered_and_your_jobs(mock_api) -> None:
    listed = {
        "definitions": [
            {"name": "bp_img_ab12", "arn": "arn:d:1", "revision": 1, "image": "public.ecr.aws/x/y:1",
             "platform": "ec2", "jobRoleArn": None, "volumes": ["shared"], "jobs": [JOB_ID]},
        ]
    }  # fmt: skip
    api = mock_api(_ok(listed))
    result = runner.invoke(cli.app, ["definitions"])
    assert result.exit_code == 0, result.output
    assert (api.requests[0].method, api.requests[0].url.path) == ("GET", "/definitions")
    for text in ("bp_img_ab12", "public.ecr.aws/x/y:1", "shared", JOB_ID):
        assert text in result.output


def test_pipeline_list_as_the_api_answers_it_says_how_many_jobs(mock_api) -> None:
    # GET /pipelines carries no job's state (each pipeline's page does), only how many jobs it has
    listed = {**_pipeline("RUNNING"), "jobs": [], "jobCount": 1000}
    mock_api(_ok({"pipelines": [listed]}))
    result = runner.invoke(cli.app, ["pipeline", "list"])
    assert result.exit_code == 0, result.output
    assert "1000 jobs" in result.stdout


def test_piped_output_keeps_each_row_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from batchplane_local.cli import output
    from rich.table import Table

    # GIVEN stdout that is no terminal (as under pytest) and no COLUMNS (the other tests set 200)
    monkeypatch.delenv("COLUMNS", raising=False)
    piped = output._console()
    assert not piped.is_terminal
    # WHEN a list's rows pass 80 columns (where rich folds when not on a terminal)
    queue = "batchplane-production-eu-west-1_normal_spot"
    ids = [f"01M8V1ZM069NHYRXBQ1Y99CK5{i}" for i in range(3)]
    table = Table()
    for col in ("jobId", "name", "status", "queue", "createdAt"):
        table.add_column(col, overflow="fold")
    for job_id in ids:
        table.add_row(job_id, "align", "FAILED", queue, "2026-12-02T09:40:15.970Z")
    with piped.capture() as captured:
        piped.print(table)
    # THEN each job is one line, id and queue whole, as grep or a script would read them
    for job_id in ids:
        (line,) = [ln for ln in captured.get().splitlines() if job_id in ln]
        assert queue in line
        assert "FAILED" in line
