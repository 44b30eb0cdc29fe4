"""A pipeline's plan (its request expanded into a DAG, parsed once per container) and the small pure helpers the
pipeline service runs on: the dependencies left and sinks a run waits for, a Batch status as a pipeline job state,
a run's StartExecution input."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from batchplane.domain.pipeline_records import JobState, PipelineHead, PipelineJobState, PipelineRecord
from batchplane.domain.pipeline_runs import edge_met
from batchplane.domain.pipelines import Dag, ExpandedJob, PipelineRequest, expand_maps, expanded_dag

TERMINAL = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"}
# A job with more dependencies than this counts them in buckets of this many (items of their own): a dependency met
# lowers its bucket's count once (a marker per dependency in the bucket), and a bucket that reaches 0 lowers the job's
# own count once (a marker per bucket). Every item then holds at most FAN_IN_BUCKET markers, so a write to it stays
# about one write unit: one counter with a marker per dependency grew to ~30 KB at a fan-in of 5,000 (a write unit
# per KB, and DynamoDB's 1,000 units a second per partition: about 60 counts a second at the end).
FAN_IN_BUCKET = 64
# The run's end is counted the same way, as a fan-in of its sinks under this key (job ids start with a letter or digit)
FINISH = "__finish__"


@dataclass(frozen=True)
class Plan:
    request: PipelineRequest
    jobs: dict[str, ExpandedJob]
    dag: Dag
    index: dict[str, int]  # a job's position in dag.order (names its marker when it meets a dependent's edge)
    # for each job with over FAN_IN_BUCKET dependencies: each dependency's bucket (by their order in dag.order)
    buckets: dict[str, dict[str, int]] = field(default_factory=dict)
    sink_buckets: dict[str, int] = field(default_factory=dict)  # each sink's bucket in the run's count of its sinks

    def dependencies(self, key: str) -> int:
        return len({e.id for e in self.dag.deps[key]})

    def bucket_of(self, key: str, dependency: str) -> int | None:
        """The bucket that counts ``dependency`` for ``key`` (None: ``key`` counts its dependencies itself)."""
        of = self.buckets.get(key)
        return None if of is None else of[dependency]

    def is_sink(self, key: str) -> bool:
        """No job depends on it: the run has ended when every sink of it has (see `sinks_waited`)."""
        return not self.dag.children[key]


def plan_of(request: PipelineRequest) -> Plan:
    jobs = expand_maps(request)
    dag = expanded_dag(jobs)
    index = {k: i for i, k in enumerate(dag.order)}
    buckets: dict[str, dict[str, int]] = {}
    for key in dag.order:
        deps = sorted({e.id for e in dag.deps[key]}, key=index.__getitem__)
        if len(deps) > FAN_IN_BUCKET:
            buckets[key] = {d: i // FAN_IN_BUCKET for i, d in enumerate(deps)}
    sinks = [k for k in dag.order if not dag.children[k]]
    sink_buckets = {k: i // FAN_IN_BUCKET for i, k in enumerate(sinks)}
    return Plan(request, {j.id: j for j in jobs}, dag, index, buckets, sink_buckets)


_PLANS: OrderedDict[tuple[str, str], Plan] = OrderedDict()
_PLANS_KEPT = 64


def cached_plan(pipeline_id: str, request_hash: str, body: Callable[[], dict[str, Any] | None]) -> Plan | None:
    """A pipeline's plan, parsed once per container (its request never changes after creation); ``body`` is read only
    when the plan is not known yet."""
    key = (pipeline_id, request_hash)
    plan = _PLANS.get(key)
    if plan is None:
        request = body()
        if request is None:
            return None
        plan = plan_of(PipelineRequest.model_validate(request))
        _PLANS[key] = plan
        while len(_PLANS) > _PLANS_KEPT:
            _PLANS.popitem(last=False)
    _PLANS.move_to_end(key)
    return plan


def plan_of_record(record: PipelineRecord) -> Plan:
    plan = cached_plan(record.pipeline_id, record.request_hash, lambda: record.request)
    assert plan is not None  # noqa: S101 - the record carries its request
    return plan


@dataclass(frozen=True)
class Counts:
    """What a run counts at its start: each WAITING job's ``left`` (its dependencies not met yet; for a bucketed job,
    its buckets not met yet), each bucketed job's buckets' counts (a bucket with nothing pending is left out), and
    whether the run can be counted at all (no WAITING job has an edge on an ended job that can never be met)."""

    left: dict[str, int]
    buckets: dict[str, dict[int, int]]
    counted: bool


def initial_left(plan: Plan, states: Mapping[str, JobState]) -> Counts:
    """The counts a run starts from, given the jobs' states at its start (a job missing is WAITING)."""
    left: dict[str, int] = {}
    buckets: dict[str, dict[int, int]] = {}
    counted = True
    for key in plan.dag.order:
        if states.get(key, "WAITING") != "WAITING":
            continue
        pending = set()
        for e in plan.dag.deps[key]:
            met = edge_met(e.condition, states.get(e.id, "WAITING"))
            if met is None:
                pending.add(e.id)
            elif met is False:
                counted = False
        of = plan.buckets.get(key)
        if of is None:
            left[key] = len(pending)
            continue
        counts: dict[int, int] = {}
        for dep in pending:
            counts[of[dep]] = counts.get(of[dep], 0) + 1
        buckets[key] = counts
        left[key] = len(counts)
    return Counts(left, buckets, counted)


def sinks_waited(plan: Plan, states: Mapping[str, JobState]) -> dict[int, int]:
    """The sinks a counted run waits for: its WAITING jobs that no job depends on. While every job succeeds, each job
    is an ancestor of some sink (or one itself) and a job starts only after its dependencies succeeded, so the run's
    jobs have all succeeded exactly when these sinks have: their count, lowered once per sink, says when to read the
    whole pipeline and finish, with no per-job task in the execution. Counted in buckets as a wide fan-in is: the
    sinks pending in each bucket (a bucket with none is left out)."""
    counts: dict[int, int] = {}
    for key, bucket in plan.sink_buckets.items():
        if states.get(key, "WAITING") == "WAITING":
            counts[bucket] = counts.get(bucket, 0) + 1
    return counts


def job_state_of(status: str, cancel_requested: bool) -> JobState:
    if status == "SUCCEEDED":
        return "SUCCEEDED"
    if status == "CANCELLED":
        return "CANCELLED"
    if status == "FAILED":
        return "CANCELLED" if cancel_requested else "FAILED"
    if status in ("STARTING", "RUNNING"):
        return "RUNNING"
    return "SUBMITTED"


def run_input_of(pid: str, run: int) -> dict[str, Any]:
    """A run's StartExecution input: which pipeline and run its Finish task waits for. It names no job: the run's
    jobs are the pipeline's items, so the input stays a few dozen bytes whatever the pipeline's size."""
    return {"pipelineId": pid, "run": run}


def unanswered(job: PipelineJobState) -> bool:
    """An ended job whose task token has arrived and has not been answered."""
    return job.state in TERMINAL and bool(job.token) and not job.reported


def counted(head: PipelineHead) -> bool:
    return head.status == "RUNNING" and head.mode == "counted"


def spec_hash_of(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
