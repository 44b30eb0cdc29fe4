"""Costs on moto under enforced IAM: a job's cost from its record, the per-day rollup written once per ended
attempt, GET /costs over that rollup (Query per day, never Scan), tenants kept apart, admins seeing all, bad input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.apigw import ALICE, BOB, http_event, response_json
from tests.conftest import BASE_PARAMETERS, Stack
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration

DAY = "2025-01-08"  # the sample events' stoppedAt (1736331695000), UTC; they run 1,200 s


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {**BASE_PARAMETERS, "AdminPrincipals": [BOB]}


def costs(plane: Plane, caller: str = ALICE, **query: str) -> dict[str, Any]:
    event = http_event("GET", "/costs", route="GET /costs", query=query, caller=caller)
    response = plane.gateway.lambda_handler(event, plane.ctx)
    body = response_json(response)
    body["_status"] = response["statusCode"]
    return body


def reclaimed_then_succeeded(plane: Plane) -> dict[str, Any]:
    job = plane.submit({"name": "reclaimed", "priority": "high", "vcpus": 2, "memoryMiB": 4096})
    plane.deliver(plane.event("RUNNING", job, seconds=1))
    assert plane.deliver(plane.event("RECLAIM", job, seconds=2)) == "spot-fallback"
    shown = plane.job(job["jobId"])
    assert plane.deliver(plane.event("SUCCEEDED", shown, attempt=2, seconds=3)) == "succeeded"
    return plane.job(job["jobId"])


def test_a_reclaimed_job_shows_its_wasted_spend(plane: Plane, stack: Stack) -> None:
    # GIVEN a job reclaimed on Spot that then succeeded On-Demand
    job = reclaimed_then_succeeded(plane)
    # WHEN it is read
    cost = job["cost"]
    # THEN both attempts are priced, the reclaimed one as wasted, with the basis of each
    assert cost["currency"] == "USD"
    assert cost["amount"] > cost["wasted"] > 0
    assert "wasted (spot-reclaim)" in cost["basis"]
    assert "On-Demand" in cost["basis"]
    assert "Spot" in cost["basis"]
    assert "the stack's InstanceTypes parameter" in cost["basis"]  # the fleet the template passes
    # 2 vCPUs and 4 GiB: cheapest on c5.xlarge (half of it, $0.17/h); the reclaimed attempt on Spot (no Spot figure
    # for c5.xlarge: the On-Demand ceiling) and the On-Demand one ran the same 1,200 s: half of the total is wasted
    assert "c5.xlarge" in cost["basis"]
    assert Decimal(str(cost["wasted"])) == Decimal("0.028333")  # 0.17 x 0.5 x 1200 / 3600
    assert Decimal(str(cost["amount"])) == Decimal("0.056667")  # the two summed, rounded once


def test_reading_a_jobs_cost_makes_no_aws_call_beyond_reading_the_job(plane: Plane, stack: Stack) -> None:
    job = reclaimed_then_succeeded(plane)
    stack.calls.reset()
    assert plane.job(job["jobId"])["cost"]["amount"] > 0
    assert dict(stack.calls.counts) == {"dynamodb.GetItem": 1}  # the job's item, as before costs


def test_each_ended_attempt_adds_to_the_rollup_with_one_write(plane: Plane, stack: Stack) -> None:
    # GIVEN a running job
    job = plane.submit({"name": "ok"})
    plane.deliver(plane.event("RUNNING", job, seconds=1))
    stack.calls.reset()
    # WHEN it succeeds, and the event is delivered twice
    succeeded = plane.event("SUCCEEDED", job, seconds=2)
    assert plane.deliver(succeeded) == "succeeded"
    # THEN one guarded write, which also gives back the job's admission (one transaction, the job read before it),
    # and one rollup write
    assert dict(stack.calls.counts) == {
        "dynamodb.GetItem": 1,
        "dynamodb.TransactWriteItems": 1,
        "dynamodb.UpdateItem": 1,
    }
    stack.calls.reset()
    assert plane.deliver(succeeded) == "stale"
    # a duplicate adds nothing: the job read (it holds no admission now) and one refused guarded write
    assert dict(stack.calls.counts) == {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 1}
    # AND neither does another, later SUCCEEDED event of the same attempt (a new id), nor a FAILED after it
    stack.calls.reset()
    assert plane.deliver(plane.event("SUCCEEDED", job, seconds=9)) == "stale"
    assert plane.deliver(plane.event("FAILED", job, seconds=10, exit_code=1)) == "stale"
    assert dict(stack.calls.counts) == {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 2}
    assert plane.job(job["jobId"])["status"] == "SUCCEEDED"
    report = costs(plane, groupBy="day", **{"from": DAY, "to": DAY})
    assert [g["attempts"] for g in report["groups"]] == [1]


def test_get_costs_groups_the_callers_attempts_from_the_rollup(plane: Plane, stack: Stack) -> None:
    # GIVEN alice's reclaimed-then-succeeded job
    job = reclaimed_then_succeeded(plane)
    stack.calls.reset()
    # WHEN she asks for her costs by queue on that day
    report = costs(plane, groupBy="queue", **{"from": DAY, "to": DAY})
    # THEN two groups (the Spot and the On-Demand queue of "high"), summing to the job's cost, from one Query
    assert report["_status"] == 200
    assert report["everyTenant"] is False
    assert sorted(g["key"] for g in report["groups"]) == ["batchplane-test_high_on-demand", "batchplane-test_high_spot"]
    # the rollup adds attempts rounded each to 0.000001; the job rounds its sum once: they differ by under 1e-6 each
    assert report["amount"] == pytest.approx(job["cost"]["amount"], abs=2e-6)
    assert report["wasted"] == pytest.approx(job["cost"]["wasted"], abs=1e-6)
    assert dict(stack.calls.counts) == {"dynamodb.Query": 1}
    by_priority = costs(plane, groupBy="priority", **{"from": DAY, "to": DAY})
    assert [(g["key"], g["attempts"]) for g in by_priority["groups"]] == [("high", 2)]


def test_tenants_see_their_own_costs_and_admins_see_every_tenants(plane: Plane, stack: Stack) -> None:
    reclaimed_then_succeeded(plane)
    carol = "arn:aws:iam::123456789012:user/carol"
    # a tenant that ran nothing sees nothing
    assert costs(plane, caller=carol, **{"from": DAY, "to": DAY})["groups"] == []
    # BOB is in AdminPrincipals: every tenant, grouped by tenant
    report = costs(plane, caller=BOB, groupBy="tenant", **{"from": DAY, "to": DAY})
    assert report["everyTenant"] is True
    assert [g["key"] for g in report["groups"]] == ["arn:aws:sts::123456789012:assumed-role/genomics-team"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"groupBy": "colour"}, "groupBy"),
        ({"from": "2025-13-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2025-01-09", "to": "2025-01-08"}, "from"),
        ({"from": "2024-01-01", "to": "2025-01-08"}, "from"),
    ],
)
def test_bad_cost_queries_are_422_naming_the_field(plane: Plane, query: dict[str, str], field: str) -> None:
    report = costs(plane, **query)
    assert report["_status"] == 422, report
    assert field in str(report)
    # one problem type, one title (RFC 9457: a type's title does not change between occurrences), whichever check
    # found it: the model's (groupBy) or the route's (the dates)
    assert (report["type"], report["title"]) == ("https://batchplane.dev/problems/validation", "Invalid request")
