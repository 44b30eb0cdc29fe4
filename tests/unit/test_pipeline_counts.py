"""The counts a pipeline run advances by (services/pipeline_plans.py, pure): dependencies left per job, a wide
fan-in's buckets, the sinks that end a run. A counted run must start a job exactly when its dependencies have all
succeeded and end exactly when every job has: checked here against the plan, for any pipeline shape."""

from __future__ import annotations

from typing import Any

from batchplane.domain.pipelines import PipelineRequest
from batchplane.services.pipeline_plans import FAN_IN_BUCKET, initial_left, plan_of, sinks_waited
from hypothesis import given, settings
from hypothesis import strategies as st


def _plan(jobs: list[dict[str, Any]]) -> Any:
    return plan_of(PipelineRequest.model_validate({"name": "p", "jobs": jobs}))


def _leaves(width: int) -> list[dict[str, Any]]:
    """``width`` leaves after the root: jobs ``leaf``, ``leaf1``, ... each mapped to at most 1,000 (a map's limit)."""
    return [
        {
            "id": f"leaf{k or ''}",
            "command": ["true"],
            "dependsOn": ["root"],
            "map": [{"i": str(i)} for i in range(k * 1000, min(width, (k + 1) * 1000))],
        }
        for k in range((width + 999) // 1000)
    ]


def _fan(width: int, *, join: bool = True) -> Any:
    leaves = _leaves(width)
    tail = [{"id": "join", "command": ["true"], "dependsOn": [j["id"] for j in leaves]}] if join else []
    return _plan([{"id": "root", "command": ["true"]}, *leaves, *tail])


def _leaf(i: int) -> str:
    return f"leaf{i // 1000 or ''}[{i % 1000}]"


def test_a_job_with_up_to_64_dependencies_counts_them_itself() -> None:
    # GIVEN a fan-in of exactly FAN_IN_BUCKET
    plan = _fan(FAN_IN_BUCKET)
    counts = initial_left(plan, {})
    # THEN the join counts its 64 dependencies on its own item, no bucket
    assert counts.left["join"] == FAN_IN_BUCKET
    assert counts.buckets == {}
    assert plan.bucket_of("join", "leaf[0]") is None


def test_a_wide_fan_in_counts_buckets_of_64_each_item_bounded() -> None:
    # GIVEN a fan-in of 5,000
    plan = _fan(5000)
    counts = initial_left(plan, {})
    # THEN the join waits on 79 buckets (78 of 64 and one of 8), every dependency in exactly one
    assert counts.left["join"] == 79
    assert sorted(counts.buckets["join"].values()) == [8] + [64] * 78
    assert sum(counts.buckets["join"].values()) == 5000
    assert {plan.bucket_of("join", _leaf(i)) for i in range(5000)} == set(range(79))
    # AND the 5,000 leaves (each one dependency) count themselves
    assert {counts.left[_leaf(i)] for i in range(5000)} == {1}


def test_a_resumed_wide_fan_in_counts_only_what_is_pending() -> None:
    # GIVEN a fan-in of 200 resumed with the first 100 leaves carried over as SUCCEEDED
    plan = _fan(200)
    states = {"root": "SUCCEEDED", **{f"leaf[{i}]": "SUCCEEDED" for i in range(100)}}
    counts = initial_left(plan, states)  # type: ignore[arg-type]
    # THEN buckets 0 (leaves 0-63) is met and left out, bucket 1 has 28 pending (100-127), bucket 2 and 3 all theirs
    assert counts.buckets["join"] == {1: 28, 2: 64, 3: 8}
    assert counts.left["join"] == 3
    assert counts.counted


def test_the_sinks_of_a_run_are_counted_in_buckets() -> None:
    # GIVEN a fan-out of 5,000 with no join: 5,000 sinks
    plan = _fan(5000, join=False)
    # THEN they are counted in 79 buckets, and a sink already SUCCEEDED (a resume) is not waited for
    assert sum(sinks_waited(plan, {}).values()) == 5000
    assert len(sinks_waited(plan, {})) == 79
    assert sum(sinks_waited(plan, {"leaf[0]": "SUCCEEDED"}).values()) == 4999


@st.composite
def dags(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 12))
    jobs: list[dict[str, Any]] = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=i)) if i else []
        width = draw(st.integers(1, 80)) if draw(st.booleans()) else 0
        job: dict[str, Any] = {"id": f"j{i}", "command": ["true"], "dependsOn": [f"j{d}" for d in deps]}
        if width:
            job["map"] = [{"k": str(k)} for k in range(width)]
        jobs.append(job)
    return jobs


@settings(max_examples=60, deadline=None)
@given(jobs=dags(), seed=st.randoms(use_true_random=False))
def test_counting_down_starts_each_job_once_its_dependencies_succeed_and_ends_the_run_with_the_last(
    jobs: list[dict[str, Any]], seed: Any
) -> None:
    # GIVEN any pipeline, run by the counts alone, jobs succeeding in a random order as they become ready
    plan = _plan(jobs)
    counts = initial_left(plan, {})
    left = dict(counts.left)
    buckets = {k: dict(v) for k, v in counts.buckets.items()}
    sink_buckets = sinks_waited(plan, {})
    sinks_left = len(sink_buckets)
    ready = [k for k, n in left.items() if n == 0]
    done: set[str] = set()
    ended_when = None
    while ready:
        key = ready.pop(seed.randrange(len(ready)))
        assert key not in done  # THEN no job starts twice
        assert all(e.id in done for e in plan.dag.deps[key])  # nor before its dependencies succeeded
        done.add(key)
        for child in plan.dag.children[key]:
            bucket = plan.bucket_of(child, key)
            if bucket is not None:
                buckets[child][bucket] -= 1
                if buckets[child][bucket]:
                    continue
            left[child] -= 1
            if left[child] == 0:
                ready.append(child)
        if plan.is_sink(key):
            b = plan.sink_buckets[key]
            sink_buckets[b] -= 1
            if sink_buckets[b] == 0:
                sinks_left -= 1
                if sinks_left == 0:
                    ended_when = len(done)
    # AND every job ran, and the run's end was counted exactly when the last one succeeded
    assert done == set(plan.jobs)
    assert ended_when == len(plan.jobs)
