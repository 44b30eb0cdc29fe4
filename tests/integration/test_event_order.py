"""Property: for random job histories, every event delivered 1-3 times in random order yields the same final record
as in-order delivery, and never a duplicate resubmission (the guarded write, on moto's DynamoDB)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Stack
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration

OUTCOMES = ["SUCCEEDED", "RECLAIM", "OOM", "FAILED"]
# `waiting` is read from the record with the clock (since when, due in how long): the record itself is compared
VOLATILE = {
    "name",
    "jobId",
    "createdAt",
    "updatedAt",
    "batchJobName",
    "explanation",
    "startedAt",
    "stoppedAt",
    "waiting",
}


def normalise(view: dict[str, Any]) -> Any:
    if isinstance(view, dict):
        return {k: normalise(v) for k, v in view.items() if k not in VOLATILE}
    if isinstance(view, list):
        return [normalise(v) for v in view]
    return view


def run(plane: Plane, stack: Stack, plan: list[str], rng: random.Random | None, name: str) -> dict[str, Any]:
    """Drive one job through ``plan`` (one outcome per attempt); shuffle and duplicate events when ``rng``."""
    job = plane.submit(
        {"name": name, "memoryMiB": 2048, "retry": {"attempts": 3, "backoff": {"baseSeconds": 0}}},
    )
    for attempt, outcome in enumerate(plan, start=1):
        view = plane.job(job["jobId"])
        if len(view["attempts"]) < attempt or view["status"] in ("SUCCEEDED", "FAILED"):
            break
        kinds = ["RUNNABLE", "STARTING", "RUNNING", outcome]
        events = [
            plane.event(
                kind, view, attempt=attempt, seconds=10 * attempt + i, event_id=f"{name}-{attempt}-{i}", memory_mib=None
            )
            for i, kind in enumerate(kinds)
        ]
        for e in events:
            e["detail"]["jobId"] = f"b-{attempt}"
            e["detail"]["jobName"] = e["detail"]["jobName"].replace(job["jobId"], view["jobId"])
        if rng is not None:
            events = [e for e in events for _ in range(rng.randint(1, 3))]
            rng.shuffle(events)
        for e in events:
            plane.deliver(e)
    return plane.job(job["jobId"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=5), seed=st.integers(0, 2**32 - 1))
def test_any_delivery_order_gives_the_in_order_record(plane: Plane, stack: Stack, plan: list[str], seed: int) -> None:
    # GIVEN the same history delivered in order and shuffled with duplicates
    stack.calls.reset()
    in_order = run(plane, stack, plan, None, f"in-order-{seed}")
    shuffled = run(plane, stack, plan, random.Random(seed), f"shuffled-{seed}")
    # THEN the final records are the same
    assert normalise(shuffled) == normalise(in_order)
    # AND no attempt was ever submitted twice
    names = Counter(p["jobName"] for op, p in stack.calls.requests if op == "batch.SubmitJob")
    assert all(n == 1 for n in names.values()), names
