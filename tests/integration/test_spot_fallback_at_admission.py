"""Spot first, decided at admission: a Spot-first job that its Spot queue's compute environments could never hold
goes to the On-Demand queue of its class before it is admitted, instead of waiting `never-fits` for ever. On moto,
the dispatcher under its own enforced IAM role, with a Spot environment of 2 vCPUs and an On-Demand one of 16."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import STACK, Stack
from tests.integration.conftest import Plane

VCPUS = {f"{STACK}-spot": 2, f"{STACK}-on-demand": 16}


@pytest.fixture(autouse=True)
def sized_environments(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness's compute environments are UNMANAGED (moto cannot run managed ones) and moto answers no
    `unmanagedvCpus` for them, which AWS does (the maximum vCPUs of an unmanaged environment): answered here, so the
    dispatcher reads a Spot environment of 2 vCPUs and an On-Demand one of 16 through its own Batch calls."""
    from moto.batch.models import BatchBackend

    described = BatchBackend.describe_compute_environments

    def with_vcpus(self: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        envs = described(self, *args, **kwargs)
        return [{**e, "unmanagedvCpus": VCPUS[e["computeEnvironmentName"]]} if e["computeEnvironmentName"] in VCPUS
                else e for e in envs]  # fmt: skip

    monkeypatch.setattr(BatchBackend, "describe_compute_environments", with_vcpus)


def _submitted_to(stack: Stack) -> list[str]:
    """The job queues Batch was asked to run jobs on (every SubmitJob the stack's functions made)."""
    return [str(params["jobQueue"]) for op, params in stack.calls.requests if op == "batch.SubmitJob"]


def test_a_spot_first_job_spot_can_never_hold_is_admitted_on_demand(plane: Plane, stack: Stack) -> None:
    # GIVEN a Spot-first job of 4 vCPUs, and a Spot environment of 2 (3 with the dispatcher's margin)
    queued = plane.submit({"name": "four", "command": ["true"], "vcpus": 4}, dispatch=False)
    assert queued["queue"].endswith("_normal_spot")
    # WHEN the dispatcher ticks
    stack.calls.reset()
    report = plane.dispatch()
    # THEN it moved the job to its class's On-Demand queue (one conditional write) and admitted it there
    assert report.fell_back == [queued["jobId"]]
    job_writes = [
        p
        for op, p in stack.calls.requests
        if op == "dynamodb.UpdateItem" and p["Key"]["pk"]["S"].endswith(queued["jobId"])
    ]
    assert len(job_writes) == 1
    view = plane.job(queued["jobId"])
    assert view["status"] == "SUBMITTED", view
    assert view["queue"].endswith("_normal_on-demand")
    attempt = view["attempts"][-1]
    assert (attempt["attempt"], attempt["reason"], attempt["capacity"]) == (1, "initial", "on-demand")
    assert "can never hold it (4 vCPU" in view["placementReason"]
    assert [q.rsplit("/", 1)[-1] for q in _submitted_to(stack)] == [view["queue"]]


def test_a_job_that_fits_spot_or_asked_for_spot_only_stays_on_spot(plane: Plane, stack: Stack) -> None:
    # GIVEN a Spot-first job that fits the Spot environment, and a Spot-only one that does not
    fits = plane.submit({"name": "two", "command": ["true"], "vcpus": 2}, dispatch=False)
    spot_only = plane.submit({"name": "four", "command": ["true"], "vcpus": 4, "capacity": "spot"}, dispatch=False)
    # WHEN the dispatcher ticks
    report = plane.dispatch()
    # THEN nothing falls back: the first is admitted to Spot, the Spot-only one waits, saying it never fits
    assert report.fell_back == []
    assert plane.job(fits["jobId"])["queue"].endswith("_normal_spot")
    waiting = plane.job(spot_only["jobId"])
    assert waiting["status"] == "QUEUED"
    assert waiting["queue"].endswith("_normal_spot")
    assert waiting["waiting"]["hold"] == "never-fits"
