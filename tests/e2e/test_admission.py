"""Admission on the local stack (issue #10): a tenant's running quota holds its jobs QUEUED while another tenant's
start at once; three backlogged tenants share constrained capacity by their weights; over the queued quota POST /jobs
answers 429; the quotas API is for admins only. The local user is the admin; ``X-Batchplane-Tenant`` acts as others."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batchplane_local.client import tenant_path

from tests.e2e.conftest import Api, local_stack

pytestmark = pytest.mark.e2e

ACCOUNT = "123456789012"
VCPUS = 20
POOL_LIMIT = VCPUS + math.ceil(VCPUS / 4)  # what the dispatcher admits to the Spot pool: its vCPUs plus a margin


def arn(tenant: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{tenant}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    args = ("--sweep-interval", "0.5", "--spot-vcpus", str(VCPUS), "--on-demand-vcpus", "2")
    with local_stack(Path(tmp_path_factory.mktemp("admission")), *args) as api:
        yield api


def set_quota(api: Api, tenant: str, change: dict[str, Any]) -> dict[str, Any]:
    r = api.http.put(f"/quotas/{tenant_path(arn(tenant))}", json=change)
    assert r.status_code == 200, r.text
    return dict(r.json())


def submit_as(api: Api, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
    r = api.http.post("/jobs", json=body, headers={"X-Batchplane-Tenant": tenant})
    assert r.status_code == 202, r.text
    return dict(r.json())


def job_as(api: Api, tenant: str, job_id: str) -> dict[str, Any]:
    r = api.http.get(f"/jobs/{job_id}", headers={"X-Batchplane-Tenant": tenant})
    assert r.status_code == 200, r.text
    return dict(r.json())


def wait_as(api: Api, tenant: str, job_id: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = job_as(api, tenant, job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"{job_id} did not reach {statuses}: {job}")


def usage_of(api: Api, tenants: dict[str, int]) -> dict[str, dict[str, Any]]:
    listed = {t["tenant"]: t["usage"] for t in api.http.get("/quotas").json()["tenants"]}
    return {t: listed.get(arn(t), {}) for t in tenants}


def queued_of(api: Api, tenants: dict[str, int]) -> dict[str, int]:
    return {t: int(u.get("queuedJobs", 0)) for t, u in usage_of(api, tenants).items()}


def test_quotas_api_is_for_admins_only(stack: Api) -> None:
    # WHEN a tenant who is not an admin reads or sets quotas: 403 problem+json
    for method, path in (("GET", "/quotas"), ("GET", f"/quotas/{tenant_path(arn('x'))}")):
        r = stack.http.request(method, path, headers={"X-Batchplane-Tenant": "mallory"})
        assert r.status_code == 403, r.text
        assert r.headers["content-type"] == "application/problem+json"
    r = stack.http.put(
        f"/quotas/{tenant_path(arn('mallory'))}",
        json={"maxRunningVcpus": 1000},
        headers={"X-Batchplane-Tenant": "mallory"},
    )
    assert r.status_code == 403
    # AND the local user (the admin) may
    assert stack.http.get("/quotas").status_code == 200


def test_over_the_queued_quota_is_429_naming_it(stack: Api) -> None:
    # GIVEN a tenant that may queue 2 jobs and run nothing (so its jobs stay QUEUED)
    set_quota(stack, "queuer", {"maxQueuedJobs": 2, "maxRunningVcpus": 0})
    jobs = [submit_as(stack, "queuer", {"name": f"q{i}", "command": ["true"]}) for i in range(2)]
    # WHEN it submits a third
    r = stack.http.post("/jobs", json={"name": "q3", "command": ["true"]}, headers={"X-Batchplane-Tenant": "queuer"})
    # THEN 429, naming the quota
    assert r.status_code == 429, r.text
    assert r.json()["errors"][0]["field"] == "maxQueuedJobs"
    # AND its queued jobs say why they wait
    waiting = job_as(stack, "queuer", jobs[0]["jobId"])["waiting"]
    assert waiting["hold"] == "quota-vcpus"
    assert waiting["quota"] == "maxRunningVcpus"
    for job in jobs:
        stack.http.post(f"/jobs/{job['jobId']}/cancel", json={}, headers={"X-Batchplane-Tenant": "queuer"})


def test_a_one_vcpu_quota_runs_one_job_at_a_time_while_another_tenant_starts(stack: Api) -> None:
    # GIVEN tenant "slow" may run 1 vCPU
    set_quota(stack, "slow", {"maxRunningVcpus": 1})
    # WHEN it submits three 1-vCPU jobs, and then tenant "fast" submits one
    slow = [
        submit_as(stack, "slow", {"name": f"slow{i}", "vcpus": 1, "command": ["sh", "-c", "sleep 1"]}) for i in range(3)
    ]
    fast = submit_as(stack, "fast", {"name": "fast", "vcpus": 1, "command": ["true"]})
    # THEN fast's job runs to the end while slow's later jobs are still waiting for the first
    done = wait_as(stack, "fast", fast["jobId"], {"SUCCEEDED"})
    assert done["status"] == "SUCCEEDED"
    last = job_as(stack, "slow", slow[2]["jobId"])
    assert last["status"] == "QUEUED", last
    assert last["waiting"]["hold"] in {"quota-vcpus", "behind"}
    # AND slow's jobs ran one at a time: no two of them overlapped
    ended = [wait_as(stack, "slow", j["jobId"], {"SUCCEEDED"}) for j in slow]
    spans = sorted((j["attempts"][-1]["startedAt"], j["attempts"][-1]["stoppedAt"]) for j in ended)
    for (_, stop), (start, _) in itertools.pairwise(spans):
        assert stop <= start, spans


def test_a_job_over_its_tenants_quota_on_its_own_does_not_hold_the_tenants_later_jobs(stack: Api) -> None:
    # GIVEN tenant "capped" may run 1 vCPU and first submits a job of 2, which no end of another job can let in
    set_quota(stack, "capped", {"maxRunningVcpus": 1})
    big = submit_as(stack, "capped", {"name": "two-vcpus", "vcpus": 2, "command": ["true"]})
    # WHEN it submits a 1-vCPU job after it
    small = submit_as(stack, "capped", {"name": "one-vcpu", "vcpus": 1, "command": ["true"]})
    # THEN that job runs, and the big one waits for the quota, saying so
    assert wait_as(stack, "capped", small["jobId"], {"SUCCEEDED"})["status"] == "SUCCEEDED"
    waiting = job_as(stack, "capped", big["jobId"])
    assert waiting["status"] == "QUEUED", waiting
    assert waiting["waiting"]["hold"] == "quota-vcpus", waiting["waiting"]
    # AND once the quota is raised it runs too
    set_quota(stack, "capped", {"maxRunningVcpus": 2})
    assert wait_as(stack, "capped", big["jobId"], {"SUCCEEDED"})["status"] == "SUCCEEDED"


def test_three_backlogged_tenants_share_by_weight(stack: Api) -> None:
    # GIVEN weights 1, 2, 3 and 100 4-second 1-vCPU jobs each on 20 vCPUs of Spot capacity, all three backlogged: their
    # jobs are held (a running quota of 0) until all 300 are queued, so how fast the stack runs jobs while they are
    # being submitted cannot drain a tenant's queue before the sampling starts
    weights = {"w1": 1, "w2": 2, "w3": 3}
    for tenant, weight in weights.items():
        set_quota(stack, tenant, {"weight": weight, "maxRunningVcpus": 0})
    for i in range(100):
        for tenant in weights:
            submit_as(stack, tenant, {"name": f"{tenant}-{i}", "vcpus": 1, "command": ["sh", "-c", "sleep 4"]})
    assert [queued_of(stack, weights)[t] for t in weights] == [100, 100, 100]
    # WHEN their hold is lifted and they run, sample what each holds (admitted, not finished) while all three still
    # have jobs queued. The hold is lifted one tenant at a time, so a dispatcher tick in between admits the first a
    # whole pool: samples start once 2 pools' worth of jobs have been admitted (the first pool has turned over).
    for tenant in weights:
        set_quota(stack, tenant, {"maxRunningVcpus": None})
    samples: list[dict[str, int]] = []
    usage: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        usage = usage_of(stack, weights)
        queued = {t: int(u.get("queuedJobs", 0)) for t, u in usage.items()}
        if not all(queued.values()):
            break
        running = {t: int(u.get("runningVcpus", 0)) for t, u in usage.items()}
        # the pool is full (its 20 vCPUs and the backlog margin Batch may be handed, domain/dispatch.py pool_margin):
        # a moment of contention the dispatcher has decided. (Just after a job ends, before the next tick admits its
        # successor, up to 0.5 s, its tenant holds less than its share: that is a gap, not a decision. With 25 slots,
        # moments with none in a gap need jobs much longer than the gap: with 0.5 s and 2 s jobs full runs saw 4 such
        # moments in a run, too few; with 4 s jobs a run sees 20 to 26, 22 with both cores busy elsewhere.)
        if sum(queued.values()) <= 300 - 2 * POOL_LIMIT and sum(running.values()) >= POOL_LIMIT:
            samples.append(running)
        time.sleep(0.2)
    # THEN at every such moment each tenant's share is within 10 points of its weight's (DRF admits one job at a
    # time: a job is 4 points of the 20 vCPUs plus their margin)
    assert len(samples) >= 5, (samples, usage)
    total_weight = sum(weights.values())
    for running in samples:
        held = sum(running.values())
        for tenant, weight in weights.items():
            assert abs(running[tenant] / held - weight / total_weight) <= 0.10, (running, samples)
