"""A tick's admissions in one transaction (adapters/dynamo/admit.py), on moto under the dispatcher's enforced role:
each tenant's and pool's counters written once for its jobs, as exact as one write a job; a job refused by the
write (cancelled meanwhile, or over a quota taken meanwhile) costs the others nothing but a write of their own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apigw import ALICE, http_event, response_json
from tests.conftest import Stack
from tests.integration.conftest import Plane

BOB = "arn:aws:iam::123456789012:user/bob"
NOW = "2026-12-03T10:00:00Z"


def _post(plane: Plane, name: str, caller: str = ALICE, vcpus: int = 1) -> dict[str, Any]:
    event = http_event("POST", "/jobs", body={"name": name, "command": ["true"], "vcpus": vcpus}, caller=caller)
    response = plane.gateway.lambda_handler(event, plane.ctx)
    assert response["statusCode"] == 202, response["body"]
    return response_json(response)


def _store(stack: Stack) -> Any:
    from batchplane import wiring

    with stack.acting_as("dispatcher"):
        return wiring.admission_store()


def _admit(stack: Stack, grants: list[Any]) -> list[bool]:
    from batchplane import wiring

    with stack.acting_as("dispatcher"):
        return wiring.admission_store().admit(grants, NOW)


def _queued(stack: Stack, names: list[str]) -> list[Any]:
    from batchplane import wiring

    with stack.acting_as("dispatcher"):
        jobs = {j.name: j for j in wiring.admission_store().queued(100)}
    return [jobs[n] for n in names]


def _item(stack: Stack, pk: str, sk: str) -> dict[str, int]:
    import boto3

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    with stack.observing():
        item = ddb.get_item(TableName=stack.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item", {})
    return {k: int(v["N"]) for k, v in item.items() if "N" in v}


def _grants(jobs: list[Any], quota: Any = None, pool: str = "test-pool") -> list[Any]:
    from batchplane.domain.ports import Grant
    from batchplane.domain.quotas import Quota, Resources

    return [Grant(j, pool, Resources(1, 512), quota or Quota()) for j in jobs]


def test_a_ticks_jobs_of_two_tenants_are_admitted_by_one_write_with_exact_counters(plane: Plane, stack: Stack) -> None:
    # GIVEN three of alice's jobs and two of bob's, QUEUED
    for name in ("a1", "a2", "a3"):
        _post(plane, name)
    for name in ("b1", "b2"):
        _post(plane, name, BOB)
    jobs = _queued(stack, ["a1", "a2", "a3", "b1", "b2"])
    stack.calls.reset()
    # WHEN they are admitted together
    done = _admit(stack, _grants(jobs))
    # THEN one transaction admitted all five
    assert done == [True] * 5
    assert dict(stack.calls.counts) == {"dynamodb.TransactWriteItems": 1}
    (request,) = [p for op, p in stack.calls.requests if op == "dynamodb.TransactWriteItems"]
    assert len(request["TransactItems"]) == 5 + 2 + 1  # the jobs, each tenant's counters, the pool's
    # AND each tenant's counters are exact, in all and for the class; the pool holds all of them
    alice, bob = (_item(stack, f"QUOTA#{jobs[i].tenant}", "TENANT") for i in (0, 3))
    assert (alice["queued"], alice["rv"], alice["rv_normal"], alice["rm"]) == (0, 3, 3, 1536)
    assert (bob["queued"], bob["rv"], bob["rm_normal"]) == (0, 2, 1024)
    assert _item(stack, "POOL#test-pool", "POOL") == {"rv": 5, "rm": 2560}
    # AND each job is SUBMITTED, holding its own admission
    with stack.acting_as("dispatcher"):
        store = _store(stack)
        for job in jobs:
            now = store.get_job(job.job_id)
            assert (now.status, now.admission["vcpus"], now.admission["pool"]) == ("SUBMITTED", "1", "test-pool")


def test_a_job_cancelled_before_the_write_costs_the_others_nothing(plane: Plane, stack: Stack) -> None:
    # GIVEN three QUEUED jobs read by the dispatcher, then the second one cancelled
    for name in ("c1", "c2", "c3"):
        _post(plane, name)
    jobs = _queued(stack, ["c1", "c2", "c3"])
    cancel = http_event(
        "POST",
        f"/jobs/{jobs[1].job_id}/cancel",
        route="POST /jobs/{jobId}/cancel",
        path_parameters={"jobId": jobs[1].job_id},
    )
    assert response_json(plane.gateway.lambda_handler(cancel, plane.ctx))["status"] == "CANCELLED"
    stack.calls.reset()
    # WHEN the three are admitted together
    done = _admit(stack, _grants(jobs))
    # THEN the write of all three is refused, and each is written alone: the other two are admitted
    assert done == [True, False, True]
    assert dict(stack.calls.counts) == {"dynamodb.TransactWriteItems": 1 + 3}
    # AND the counters count the two: none queued (the cancel gave its count back), two running
    alice = _item(stack, f"QUOTA#{jobs[0].tenant}", "TENANT")
    assert (alice["queued"], alice["rv"], alice["rv_normal"]) == (0, 2, 2)
    assert _item(stack, "POOL#test-pool", "POOL")["rv"] == 2
    assert plane.job(jobs[1].job_id)["status"] == "CANCELLED"


def test_a_quota_with_room_for_some_of_the_jobs_admits_them_in_order(plane: Plane, stack: Stack) -> None:
    from batchplane.domain.quotas import Quota

    # GIVEN three of alice's 1-vCPU jobs planned against a snapshot, and her quota now 2 running vCPUs
    for name in ("q1", "q2", "q3"):
        _post(plane, name)
    jobs = _queued(stack, ["q1", "q2", "q3"])
    stack.calls.reset()
    # WHEN they are admitted together under it
    done = _admit(stack, _grants(jobs, Quota(max_running_vcpus=2)))
    # THEN the sum (3) fails the quota's condition; alone, the first two fit and the third does not
    assert done == [True, True, False]
    assert dict(stack.calls.counts) == {"dynamodb.TransactWriteItems": 1 + 3}
    alice = _item(stack, f"QUOTA#{jobs[0].tenant}", "TENANT")
    assert (alice["queued"], alice["rv"]) == (1, 2)
    assert plane.job(jobs[2].job_id)["status"] == "QUEUED"


@pytest.mark.parametrize("count", [30])
def test_a_tick_writes_its_admissions_twenty_five_at_a_time(plane: Plane, stack: Stack, count: int) -> None:
    from batchplane.domain.ports import GRANTS_PER_ADMIT

    # GIVEN more QUEUED jobs than one write may hold, the pools' layout read by a first tick
    _post(plane, "first")
    plane.dispatch()
    for i in range(count):
        _post(plane, f"t{i}")
    stack.calls.reset()
    # WHEN a tick admits them
    report = plane.dispatch()
    # THEN its writes held at most GRANTS_PER_ADMIT jobs each, one write for each such share of what it admitted
    writes = [p for op, p in stack.calls.requests if op == "dynamodb.TransactWriteItems"]
    admitted = len(report.admitted)
    assert admitted > GRANTS_PER_ADMIT, report
    assert len(writes) == -(-admitted // GRANTS_PER_ADMIT)
    jobs = [sum(1 for i in w["TransactItems"] if i["Update"]["Key"]["sk"]["S"] == "JOB") for w in writes]
    assert sorted(jobs, reverse=True) == [GRANTS_PER_ADMIT, admitted - GRANTS_PER_ADMIT]
    assert stack.calls.counts["batch.SubmitJob"] == admitted
