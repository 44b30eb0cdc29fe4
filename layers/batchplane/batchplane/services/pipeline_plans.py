"""A pipeline's plan (its request expanded into a DAG, parsed once per container) and the small pure helpers the
pipeline service runs on: the dependencies left and sinks a run waits for, a Batch status as a pipeline job state,
a run's StartExecution input."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from batchplane.domain.pipeline_records import JobState, PipelineHead, PipelineJobState, PipelineRecord
from batchplane.domain.pipeline_runs import edge_met
from batchplane.domain.pipelines import Dag, ExpandedJob, PipelineRequest, expand_maps, expanded_dag

TERMINAL = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"}


@dataclass(frozen=True)
class Plan:
    request: PipelineRequest
    jobs: dict[str, ExpandedJob]
    dag: Dag
    index: dict[str, int]  # a job's position in dag.order (names its marker when it meets a dependent's edge)

    def dependencies(self, key: str) -> int:
        return len({e.id for e in self.dag.deps[key]})

    def is_sink(self, key: str) -> bool:
        """No job depends on it: the run has ended when every sink of it has (see `sinks_waited`)."""
        return not self.dag.children[key]


def plan_of(request: PipelineRequest) -> Plan:
    jobs = expand_maps(request)
    dag = expanded_dag(jobs)
    return Plan(request, {j.id: j for j in jobs}, dag, {k: i for i, k in enumerate(dag.order)})


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


def initial_left(plan: Plan, states: Mapping[str, JobState]) -> tuple[dict[str, int], bool]:
    """Each WAITING job's dependencies not met yet at the start of a run, and whether the run can be counted (no
    WAITING job has an edge on a job already ended that can never be met)."""
    left: dict[str, int] = {}
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
        left[key] = len(pending)
    return left, counted


def sinks_waited(plan: Plan, states: Mapping[str, JobState]) -> int:
    """The sinks a counted run waits for: its WAITING jobs that no job depends on. While every job succeeds, each job
    is an ancestor of some sink (or one itself) and a job starts only after its dependencies succeeded, so the run's
    jobs have all succeeded exactly when these sinks have: their count, lowered once per sink, says when to read the
    whole pipeline and finish, with no per-job task in the execution."""
    return sum(1 for k in plan.dag.order if plan.is_sink(k) and states.get(k, "WAITING") == "WAITING")


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
