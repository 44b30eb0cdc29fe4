"""A Spot-starved backlog drains to On-Demand in one sweep after the dwell, on the local stack; a Spot-first job too
big for the Spot environment goes On-Demand at admission.

AWS Batch gives the capacity reason only to the job at the head of a queue (the local Batch does the same), so a
sweeper that needed the reason on each job would move one job per sweep (100 jobs: 100 minutes at AWS's rate(1
minute)). The sweeper judges the queue: once its head is blocked for capacity, every job behind it past its dwell
moves too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Api, local_stack

pytestmark = pytest.mark.e2e

JOBS = 10
DWELL = 5


def _stack(factory: pytest.TempPathFactory, name: str, spot: int, on_demand: int) -> Iterator[Api]:
    """A local stack with these environments' vCPUs, its sweeper at the template's own rate (a minute): a test that
    needs a sweep runs it by hand."""
    args = ("--sweep-interval", "0", "--spot-vcpus", str(spot), "--on-demand-vcpus", str(on_demand))
    with local_stack(Path(factory.mktemp(name)), *args) as api:
        yield api


@pytest.fixture(scope="module")
def starved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from _stack(tmp_path_factory, "starved", spot=0, on_demand=2)


def test_a_spot_starved_backlog_moves_to_on_demand_in_one_sweep(starved: Api) -> None:
    api = starved
    # GIVEN 10 spot-first jobs queued on a Spot environment with max vCPUs 0
    jobs = [
        api.submit({"name": f"starved-{i}", "command": ["true"], "retry": {"stuckRunnableSeconds": DWELL}})
        for i in range(JOBS)
    ]
    last_submitted = time.monotonic()
    # WHEN Batch has put its capacity reason on the head of the queue (on one job only)
    deadline = time.monotonic() + 30
    reasons: list[str | None] = []
    while time.monotonic() < deadline:
        reasons = [api.job(j["jobId"])["attempts"][0].get("statusReason") for j in jobs]
        if any(r and r.startswith("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY") for r in reasons):
            break
        time.sleep(0.2)
    assert sum(1 for r in reasons if r) == 1, reasons
    # AND every job has been RUNNABLE longer than its dwell when the sweeper runs once
    time.sleep(max(0.0, last_submitted + DWELL + 1 - time.monotonic()))
    report = api.http.post("/_local/sweep").json()["report"]
    # THEN that one sweep moves all of them to On-Demand, and they all run there
    assert sorted(report["moved_to_on_demand"]) == sorted(j["jobId"] for j in jobs)
    for j in jobs:
        done = api.wait(j["jobId"], {"SUCCEEDED", "FAILED"}, timeout=60)
        assert done["status"] == "SUCCEEDED"
        assert [a["reason"] for a in done["attempts"]] == ["initial", "capacity-fallback"]


@pytest.fixture(scope="module")
def small_spot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from _stack(tmp_path_factory, "small-spot", spot=1, on_demand=4)


def test_a_spot_first_job_spot_can_never_hold_runs_on_demand_without_waiting_for_a_sweep(small_spot: Api) -> None:
    # GIVEN a Spot environment of 1 vCPU (2 with the dispatcher's margin), and a Spot-first job of 3
    job = small_spot.submit({"name": "three-vcpus", "vcpus": 3, "command": ["echo", "ok"]})
    # WHEN the dispatcher looks at it (no sweeper runs here)
    done = small_spot.wait(job["jobId"], {"SUCCEEDED", "FAILED"}, timeout=60)
    # THEN it ran in its class's On-Demand queue, its one attempt moved there before it reached Batch
    assert done["status"] == "SUCCEEDED", done
    assert done["queue"].endswith("_normal_on-demand")
    assert [(a["attempt"], a["reason"], a["capacity"]) for a in done["attempts"]] == [(1, "initial", "on-demand")]
    assert "can never hold it" in done["placementReason"]
