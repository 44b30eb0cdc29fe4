"""Tenant isolation on every route that names a resource: another tenant's job, lineage, logs, pipeline or schedule
does not exist for you (404), and lists show only your own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apigw import ALICE, BOB, http_event, response_json
from tests.conftest import Stack
from tests.handlers import FakeLambdaContext, load_handler

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Any:
    return load_handler("gateway")


def call(gateway: Any, method: str, path: str, route: str | None = None, caller: str = ALICE, **kw: Any) -> dict:
    params = {}
    if route and "{" in route:
        names = [p.strip("{}") for p in route.split()[1].split("/") if p.startswith("{")]
        values = [p for p, r in zip(path.split("/"), route.split()[1].split("/"), strict=True) if r.startswith("{")]
        params = dict(zip(names, values, strict=True))
    event = http_event(method, path, route=route, caller=caller, path_parameters=params or None, **kw)
    return gateway.lambda_handler(event, FakeLambdaContext())


def test_another_tenants_resources_do_not_exist(gateway: Any, stack: Stack) -> None:
    # GIVEN alice's job and schedule
    job = response_json(call(gateway, "POST", "/jobs", body={"name": "secret"}))
    jid = job["jobId"]
    sched = {"name": "mine", "expression": "rate(5 minutes)", "job": {"name": "x"}}
    assert call(gateway, "POST", "/schedules", body=sched)["statusCode"] == 201
    # WHEN bob asks for them, THEN they are not found
    for method, path, route in [
        ("GET", f"/jobs/{jid}", "GET /jobs/{jobId}"),
        ("GET", f"/jobs/{jid}/lineage", "GET /jobs/{jobId}/lineage"),
        ("GET", f"/jobs/{jid}/logs", "GET /jobs/{jobId}/logs"),
        ("POST", f"/jobs/{jid}/cancel", "POST /jobs/{jobId}/cancel"),
        ("GET", "/schedules/mine", "GET /schedules/{name}"),
        ("DELETE", "/schedules/mine", "DELETE /schedules/{name}"),
    ]:
        answer = call(gateway, method, path, route, caller=BOB)
        assert answer["statusCode"] == 404, (method, path, answer["body"])
    # AND his lists are empty
    assert response_json(call(gateway, "GET", "/jobs", caller=BOB))["jobs"] == []
    assert response_json(call(gateway, "GET", "/schedules", caller=BOB))["schedules"] == []
    assert response_json(call(gateway, "GET", "/pipelines", caller=BOB))["pipelines"] == []
    # AND alice still has hers
    assert call(gateway, "GET", f"/jobs/{jid}", "GET /jobs/{jobId}")["statusCode"] == 200
    assert call(gateway, "GET", "/schedules/mine", "GET /schedules/{name}")["statusCode"] == 200


def test_another_tenants_pipeline_does_not_exist(gateway: Any, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a pipeline of alice's (Step Functions stubbed: moto in-process does not execute it)
    from batchplane import wiring

    svc = wiring.pipeline_service()
    monkeypatch.setattr(
        svc._sfn, "start", lambda name, payload: f"arn:aws:states:us-east-1:123456789012:execution:p:{name}"
    )
    body = {"name": "p", "jobs": [{"id": "a", "command": ["true"]}]}
    created = call(gateway, "POST", "/pipelines", body=body)
    assert created["statusCode"] == 202, created["body"]
    pid = response_json(created)["pipelineId"]
    for method, path, route in [
        ("GET", f"/pipelines/{pid}", "GET /pipelines/{pipelineId}"),
        ("GET", f"/pipelines/{pid}/graph", "GET /pipelines/{pipelineId}/graph"),
        ("POST", f"/pipelines/{pid}/cancel", "POST /pipelines/{pipelineId}/cancel"),
        ("POST", f"/pipelines/{pid}/resume", "POST /pipelines/{pipelineId}/resume"),
    ]:
        assert call(gateway, method, path, route, caller=BOB)["statusCode"] == 404, path
    assert call(gateway, "GET", f"/pipelines/{pid}", "GET /pipelines/{pipelineId}")["statusCode"] == 200


def test_a_pipeline_larger_than_one_execution_is_refused(gateway: Any, stack: Stack) -> None:
    # GIVEN maps that expand past the 10,000 jobs one pipeline may have (11 x 1,000)
    body = {"name": "huge", "jobs": [{"id": "a", "command": ["true"], "map": [{"i": str(i)} for i in range(1000)]}] * 1}
    body["jobs"] = [{**body["jobs"][0], "id": f"a{k}"} for k in range(11)]
    # WHEN submitted THEN it is a 422 naming jobs, before anything runs
    answer = call(gateway, "POST", "/pipelines", body=body)
    assert answer["statusCode"] == 422, answer["body"]
    assert response_json(answer)["errors"][0]["field"] == "jobs"
