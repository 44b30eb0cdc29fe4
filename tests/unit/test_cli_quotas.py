"""The CLI's admission commands (`quotas list|get|set`) and a QUEUED job's `waiting` in `status`, against an
httpx.MockTransport: no network."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from batchplane_local import cli
from batchplane_local.client import BatchplaneClient, tenant_path
from typer.testing import CliRunner

pytestmark = pytest.mark.unit
runner = CliRunner()
ALICE = "arn:aws:iam::123456789012:user/alice"
QUOTA = {
    "tenant": ALICE,
    "quota": {"maxRunningVcpus": 4, "maxRunningMemoryMiB": None, "maxRunningGpus": None, "maxQueuedJobs": 10},
    "overridden": True,
    "weight": 2,
    "usage": {"queuedJobs": 3, "runningVcpus": 1, "runningMemoryMiB": 2048, "runningGpus": 0, "byPriority": {}},
}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[httpx.Request], httpx.Response]], list[httpx.Request]]:
    monkeypatch.setenv("COLUMNS", "200")

    def install(handler: Callable[[httpx.Request], httpx.Response]) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return handler(request)

        transport = httpx.MockTransport(record)
        monkeypatch.setattr(
            cli.api, "make_client", lambda url, tenant, sign: BatchplaneClient(url, tenant=tenant, transport=transport)
        )
        return seen

    return install


def test_a_tenant_in_a_path_is_encoded_twice() -> None:
    # API Gateway HTTP APIs decode the path once before routing: an ARN's "/" must survive it
    assert tenant_path(ALICE) == "arn%253Aaws%253Aiam%253A%253A123456789012%253Auser%252Falice"


def test_quotas_set_sends_only_the_options_given(api: Any) -> None:
    seen = api(lambda _r: httpx.Response(200, json=QUOTA))
    result = runner.invoke(cli.app, ["quotas", "set", ALICE, "--max-running-vcpus", "4", "--weight", "2"])
    assert result.exit_code == 0, result.output
    assert seen[0].method == "PUT"
    assert seen[0].url.raw_path.decode() == f"/quotas/{tenant_path(ALICE)}"
    assert json.loads(seen[0].content) == {"maxRunningVcpus": 4, "weight": 2.0}
    assert "1/4" in result.output  # used/limit
    assert "3/10" in result.output


def test_quotas_list_shows_defaults_and_usage(api: Any) -> None:
    api(
        lambda _r: httpx.Response(200, json={"default": {"maxQueuedJobs": 100}, "defaultWeight": 1, "tenants": [QUOTA]})
    )
    result = runner.invoke(cli.app, ["quotas", "list"])
    assert result.exit_code == 0, result.output
    assert "maxQueuedJobs 100" in result.output
    assert ALICE in result.output


def test_a_non_admin_gets_the_problem_on_one_line(api: Any) -> None:
    problem = {"type": "about:blank", "title": "Not allowed", "status": 403, "detail": "quotas are for admins only"}
    api(lambda _r: httpx.Response(403, json=problem, headers={"Content-Type": "application/problem+json"}))
    result = runner.invoke(cli.app, ["quotas", "get", ALICE])
    assert result.exit_code == 1
    assert "admins only" in result.output


def test_status_shows_why_a_queued_job_waits_in_one_line(api: Any) -> None:
    job: dict[str, Any] = {
        "jobId": "01JZ0000000000000000000000",
        "name": "align",
        "status": "QUEUED",
        "priority": "normal",
        "capacity": "spot-first",
        "queue": "q",
        "placementReason": "p",
        "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": "2025-01-01T00:00:00.000Z",
        "attempts": [{"attempt": 1, "reason": "initial", "queue": "q", "capacity": "spot", "status": "SUBMITTED"}],
        "waiting": {"hold": "quota-vcpus", "reason": "tenant quota: vcpus 4 running + 1 asked > limit 4", "ahead": 2},
    }
    api(lambda _r: httpx.Response(200, json=job))
    result = runner.invoke(cli.app, ["status", job["jobId"]])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("waiting"))
    assert "quota-vcpus (2 ahead): tenant quota: vcpus 4 running + 1 asked > limit 4" in line
