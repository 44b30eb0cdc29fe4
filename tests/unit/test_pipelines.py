"""Pipelines: request models, DAG validation, readiness (`step`), resume, map fan-out and drawings."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, get_args

import pytest
from batchplane.domain.errors import FieldError, InvalidRequestError
from batchplane.domain.models import JobRequest
from batchplane.domain.pipeline_runs import (
    ACTIVE_STATES,
    FAILURE_STATES,
    TERMINAL_STATES,
    edge_met,
    resume_plan,
    resume_states,
    step,
    to_dot,
    to_mermaid,
)
from batchplane.domain.pipelines import (
    MAX_EXPANDED_JOBS,
    Dag,
    DependencyCondition,
    Edge,
    JobState,
    OnFailure,
    PipelineJob,
    PipelineRequest,
    expand_maps,
    expanded_dag,
    spec_hash,
    validate_dag,
)
from batchplane.http.problems import field_errors_from_pydantic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

pytestmark = pytest.mark.unit

CONDITIONS: tuple[DependencyCondition, ...] = get_args(DependencyCondition)
STATES: tuple[JobState, ...] = get_args(JobState)


def job(job_id: str, *deps: str | dict[str, str], **fields: Any) -> dict[str, Any]:
    return {"id": job_id, "command": ["true"], "dependsOn": list(deps), **fields}


def request(*jobs: dict[str, Any], **fields: Any) -> PipelineRequest:
    return PipelineRequest.model_validate({"name": "nightly", "jobs": list(jobs), **fields})


def dag_of(spec: Mapping[str, Sequence[str | tuple[str, DependencyCondition]]]) -> Dag:
    """{"b": ["a", ("c", "failed")]}: b depends on a (succeeded) and on c (failed)."""
    return Dag.build({j: [Edge(d) if isinstance(d, str) else Edge(*d) for d in deps] for j, deps in spec.items()})


def dag_errors(req: PipelineRequest) -> list[FieldError]:
    with pytest.raises(InvalidRequestError) as err:
        validate_dag(req)
    return err.value.errors


DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


# ------------------------------------------------------------------------------------------------ models


def test_pipeline_job_is_flat_on_the_wire_and_round_trips():
    # GIVEN a job written with standalone-job fields beside the pipeline's own
    body = job("extract", "setup", {"id": "probe", "condition": "finished"}, vcpus=2, memoryMiB=4096)
    # WHEN it is parsed and dumped again
    parsed = PipelineJob.model_validate(body)
    dumped = parsed.canonical()
    # THEN the job fields live in a JobRequest, the name defaults to the id, and the wire shape is flat
    assert parsed.spec.vcpus == 2
    assert parsed.spec.memory_mi_b == 4096
    assert parsed.job_name == "extract"
    assert [(d.id, d.condition) for d in parsed.depends_on] == [("setup", "succeeded"), ("probe", "finished")]
    assert "spec" not in dumped
    assert dumped["memoryMiB"] == 4096
    assert PipelineJob.model_validate(dumped) == parsed


def test_pipeline_dependencies_go_beyond_batchs_twenty():
    # GIVEN a fan-in job depending on 25 jobs (Batch allows 20 dependencies per SubmitJob)
    ups = [job(f"u{i}") for i in range(25)]
    # WHEN the pipeline is parsed and validated
    req = request(*ups, job("sink", *(f"u{i}" for i in range(25))))
    dag = validate_dag(req)
    # THEN the 25 edges are kept
    assert len(dag.deps["sink"]) == 25


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"jobs": [job("a b")]}, "jobs.0.id"),
        ({"jobs": [job("-a")]}, "jobs.0.id"),
        ({"jobs": [job("a" * 65)]}, "jobs.0.id"),
        ({"jobs": [job("a", name="bad name")]}, "jobs.0.name"),
        ({"jobs": [job("a", vcpus=0)]}, "jobs.0.vcpus"),
        ({"jobs": [job("a", bogus=1)]}, "jobs.0.bogus"),
        ({"jobs": [job("a", spec={"vcpus": 1})]}, "jobs.0.spec"),
        ({"jobs": [job("a", environment={"AWS_BATCH_X": "1"})]}, "jobs.0.environment"),
        ({"jobs": [job("a", map=[])]}, "jobs.0.map"),
        ({"jobs": [job("a", map=[{"k": str(i)} for i in range(1001)])]}, "jobs.0.map"),
        ({"jobs": [job("a", {"id": "b", "condition": "sometimes"})]}, "jobs.0.dependsOn.0.condition"),
        ({"jobs": [job("a", 7)]}, "jobs.0.dependsOn.0"),
        ({"jobs": []}, "jobs"),
        ({"jobs": [job(f"j{i}") for i in range(2001)]}, "jobs"),
        ({"jobs": [job("a")], "name": "no spaces"}, "name"),
        ({"jobs": [job("a")], "onFailure": "retry"}, "onFailure"),
        ({"jobs": [job("a")], "surprise": True}, "surprise"),
    ],
)
def test_invalid_bodies_name_the_field(body: dict[str, Any], field: str):
    # GIVEN a POST /pipelines body with one thing wrong
    # WHEN it is parsed
    with pytest.raises(ValidationError) as err:
        PipelineRequest.model_validate({"name": "nightly", **body})
    # THEN the problem answer's field is the one the client wrote
    assert field in {e.field for e in field_errors_from_pydantic(err.value.errors())}


def test_pipeline_and_job_errors_are_reported_together():
    # GIVEN a job whose id and whose job fields are both wrong
    # WHEN it is parsed
    with pytest.raises(ValidationError) as err:
        request(job("bad id", vcpus=0, gpus=-1))
    # THEN every wrong field is named, none twice, and the placeholder name never shows
    fields = [e.field for e in field_errors_from_pydantic(err.value.errors())]
    assert sorted(fields) == ["jobs.0.gpus", "jobs.0.id", "jobs.0.vcpus"]


def test_to_job_request_merges_parameters_pipeline_then_job_then_item():
    # GIVEN pipeline, job and map-item parameters that overlap
    req = request(job("a", parameters={"day": "job", "x": "1"}), parameters={"day": "pipe", "env": "prod"})
    # WHEN the job becomes a standalone JobRequest for one map item
    out = req.jobs[0].to_job_request(req.parameters, {"x": "item"})
    # THEN the more specific value wins, and nothing is left of the pipeline-only fields
    assert isinstance(out, JobRequest)
    assert out.parameters == {"day": "job", "env": "prod", "x": "item"}
    assert out.name == "a"
    assert out.depends_on == []


# ------------------------------------------------------------------------------------------------ validate_dag


@pytest.mark.parametrize(
    ("jobs", "field", "words"),
    [
        ([job("a"), job("b"), job("c"), job("a")], "jobs.3.id", "duplicate id 'a'"),
        ([job("a"), job("b"), job("c", "zz")], "jobs.2.dependsOn.0", "no job with id 'zz'"),
        ([job("a"), job("b", "a", "b")], "jobs.1.dependsOn.1", "itself"),
        ([job("a"), job("b", "a", {"id": "a", "condition": "failed"})], "jobs.1.dependsOn.1", "listed twice"),
        ([job("a", parameters={f"p{i}": "v" for i in range(60)}, map=[{f"q{i}": "v" for i in range(41)}])],
         "jobs.0.map.0", "100 parameters"),
        ([job(f"j{i}", map=[{"k": str(k)} for k in range(1000)]) for i in range(11)], "jobs",
         f"at most {MAX_EXPANDED_JOBS}"),
        ([job("wide", map=[{"k": str(k)} for k in range(400)]),
          job("wider", "wide", map=[{"k": str(k)} for k in range(400)])], "jobs", "dependencies once maps"),
    ],
)  # fmt: skip
def test_structural_errors_name_the_field(jobs: list[dict[str, Any]], field: str, words: str):
    # GIVEN a pipeline with one structural error
    # WHEN its DAG is validated
    errors = dag_errors(request(*jobs))
    # THEN the error names the field and says what is wrong
    assert any(e.field == field and words in e.message for e in errors), errors


def test_all_structural_errors_come_at_once():
    # GIVEN a duplicate id and an unknown dependency
    # WHEN validated
    errors = dag_errors(request(job("a"), job("a"), job("b", "nope")))
    # THEN both are reported in one answer
    assert {e.field for e in errors} == {"jobs.1.id", "jobs.2.dependsOn.0"}


@pytest.mark.parametrize(
    ("jobs", "cycle"),
    [
        ([job("a", "c"), job("b", "a"), job("c", "b")], "cycle: a -> b -> c -> a"),
        ([job("a", "b"), job("b", "a")], "cycle: a -> b -> a"),
        ([job("ok"), job("x", "ok", "z"), job("y", "x"), job("z", "y"), job("tail", "z")], "cycle: x -> y -> z -> x"),
    ],
)
def test_cycles_are_named(jobs: list[dict[str, Any]], cycle: str):
    # GIVEN jobs whose dependencies loop
    # WHEN validated
    with pytest.raises(InvalidRequestError) as err:
        validate_dag(request(*jobs))
    # THEN the answer names the loop, in run order, on the field "jobs"
    assert err.value.errors == [FieldError("jobs", cycle)]
    assert cycle in err.value.detail


@settings(max_examples=60)
@given(n=st.integers(2, 8), data=st.data())
def test_property_any_cycle_is_named_as_a_real_cycle(n: int, data: st.DataObject):
    # GIVEN a ring of n jobs (each depends on the previous, the first on the last), listed in a random order
    names = [f"r{i}" for i in range(n)]
    ring = [job(names[i], names[i - 1]) for i in range(n)]
    listed = data.draw(st.permutations(ring))
    # WHEN validated
    with pytest.raises(InvalidRequestError) as err:
        validate_dag(request(*listed))
    # THEN the named cycle is the ring, starting from the first job listed, each step a real dependency
    text = err.value.errors[0].message.removeprefix("cycle: ").split(" -> ")
    assert text[0] == text[-1] == listed[0]["id"]
    assert sorted(text[:-1]) == sorted(names)
    for up, down in itertools.pairwise(text):
        assert up in next(j["dependsOn"] for j in ring if j["id"] == down)


def test_validate_dag_orders_dependencies_first_and_keeps_helpers():
    # GIVEN the diamond, listed backwards
    dag = validate_dag(request(job("d", "b", "c"), job("c", "a"), job("b", "a"), job("a")))
    # WHEN its order and helpers are read
    # THEN a comes first and d last, with children, roots, leaves, ancestors, descendants
    assert dag.order[0] == "a"
    assert dag.order[-1] == "d"
    assert set(dag.children["a"]) == {"b", "c"}
    assert dag.roots == ("a",)
    assert dag.leaves == ("d",)
    assert dag.descendants(["b"]) == {"d"}
    assert dag.ancestors(["d"]) == {"a", "b", "c"}
    assert len(dag) == 4
    assert "c" in dag


@pytest.mark.parametrize(
    ("deps", "words"),
    [({"a": [Edge("zz")]}, "unknown"), ({"a": [Edge("a")]}, "itself"), ({"a": [Edge("b")], "b": [Edge("a")]}, "cycle")],
)
def test_dag_build_refuses_bad_graphs(deps: dict[str, list[Edge]], words: str):
    # GIVEN edges that do not make a DAG
    # WHEN built directly
    # THEN ValueError (trusted input: requests go through validate_dag)
    with pytest.raises(ValueError, match=words):
        Dag.build(deps)


# ------------------------------------------------------------------------------------------------ step


def test_diamond_runs_level_by_level_only_because_its_deps_say_so():
    dag = dag_of(DIAMOND)
    # GIVEN nothing has run / WHEN stepped / THEN only a starts
    assert step(dag, {}).start == ("a",)
    # GIVEN a is running / THEN nothing new starts
    assert step(dag, {"a": "RUNNING"}).start == ()
    # GIVEN a SUCCEEDED / THEN b and c start together
    assert step(dag, {"a": "SUCCEEDED"}).start == ("b", "c")
    # GIVEN only b is done / THEN d still waits for c
    s = step(dag, {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "RUNNING"})
    assert (s.start, s.done) == ((), False)
    # GIVEN b and c are done / THEN d starts
    assert step(dag, {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "SUCCEEDED"}).start == ("d",)
    # GIVEN all SUCCEEDED / THEN the pipeline is done and SUCCEEDED
    s = step(dag, dict.fromkeys("abcd", "SUCCEEDED"))
    assert (s.done, s.outcome) == (True, "SUCCEEDED")


@pytest.mark.parametrize(
    ("spec", "states", "start"),
    [
        # a chain and an independent job start together
        ({"a": [], "b": ["a"], "x": []}, {}, ("a", "x")),
        # a->b, c->d with a slow: d starts as soon as c is done
        ({"a": [], "b": ["a"], "c": [], "d": ["c"]}, {"a": "RUNNING", "c": "SUCCEEDED"}, ("d",)),
        # depth does not matter: deep job with its deps met starts beside a root
        ({"a": [], "b": ["a"], "c": ["b"], "r": []}, {"a": "SUCCEEDED", "b": "SUCCEEDED"}, ("c", "r")),
        # already submitted jobs are not started again
        ({"a": [], "b": []}, {"a": "SUBMITTED"}, ("b",)),
    ],
)
def test_maximal_parallelism(spec: dict[str, list[str]], states: dict[str, JobState], start: tuple[str, ...]):
    # GIVEN a DAG and the states so far
    # WHEN stepped
    s = step(dag_of(spec), states)
    # THEN every job whose own deps are met starts now
    assert s.start == start


def test_fail_fast_skips_waiting_and_cancels_running():
    # GIVEN a fails while x runs on an independent branch and b, y wait
    dag = dag_of({"a": [], "b": ["a"], "x": [], "y": ["x"], "z": []})
    # WHEN stepped with fail-fast
    s = step(dag, {"a": "FAILED", "x": "RUNNING", "z": "SUBMITTED"}, "fail-fast")
    # THEN every waiting job is skipped, every active job is to be cancelled, nothing starts
    assert (s.start, set(s.skip), s.cancel, s.failing) == ((), {"b", "y"}, ("x", "z"), True)
    assert not s.done
    # WHEN Batch reports the cancellations
    s = step(dag, {"a": "FAILED", "b": "SKIPPED", "x": "CANCELLED", "y": "SKIPPED", "z": "CANCELLED"}, "fail-fast")
    # THEN the pipeline is done and FAILED
    assert (s.done, s.outcome, s.cancel) == (True, "FAILED", ())


def test_fail_fast_lets_finally_jobs_wait_for_cancellations_then_run():
    # GIVEN cleanup runs after x whatever happens (finished), and a fails while x runs
    dag = dag_of({"a": [], "x": [], "cleanup": [("x", "finished")], "report": ["cleanup"]})
    # WHEN stepped with fail-fast
    s = step(dag, {"a": "FAILED", "x": "RUNNING"})
    # THEN x is cancelled, cleanup (a guard) waits for it, report (not a guard) is skipped
    assert (s.cancel, s.skip, s.start) == (("x",), ("report",), ())
    # WHEN x is cancelled
    s = step(dag, {"a": "FAILED", "x": "CANCELLED", "report": "SKIPPED"})
    # THEN cleanup starts
    assert s.start == ("cleanup",)
    # WHEN cleanup succeeds THEN the pipeline still FAILED: a finally does not handle a failure
    s = step(dag, {"a": "FAILED", "x": "CANCELLED", "cleanup": "SUCCEEDED", "report": "SKIPPED"})
    assert (s.done, s.outcome) == (True, "FAILED")


def test_continue_lets_independent_branches_finish_and_skips_only_dependents():
    # GIVEN a failed, b depends on a, x->y is independent and x is running
    dag = dag_of({"a": [], "b": ["a"], "c": ["b"], "x": [], "y": ["x"]})
    # WHEN stepped with continue
    s = step(dag, {"a": "FAILED", "x": "RUNNING"}, "continue")
    # THEN b and c (downstream of the failure, skipped in one step) are skipped; x keeps running
    assert (s.skip, s.cancel, s.failing, s.done) == (("b", "c"), (), False, False)
    # WHEN x succeeds THEN y starts
    assert step(dag, {"a": "FAILED", "b": "SKIPPED", "c": "SKIPPED", "x": "SUCCEEDED"}, "continue").start == ("y",)
    # WHEN all is terminal THEN the pipeline FAILED
    end = step(dag, {"a": "FAILED", "b": "SKIPPED", "c": "SKIPPED", "x": "SUCCEEDED", "y": "SUCCEEDED"}, "continue")
    assert (end.done, end.outcome) == (True, "FAILED")


@pytest.mark.parametrize(
    ("condition", "state", "met"),
    [
        ("succeeded", "SUCCEEDED", True),
        ("succeeded", "FAILED", False),
        ("succeeded", "SKIPPED", False),
        ("succeeded", "CANCELLED", False),
        ("failed", "FAILED", True),
        ("failed", "CANCELLED", True),
        ("failed", "SUCCEEDED", False),
        ("failed", "SKIPPED", False),
        ("finished", "SUCCEEDED", True),
        ("finished", "FAILED", True),
        ("finished", "CANCELLED", True),
        ("finished", "SKIPPED", True),
        *[(c, s, None) for c in ("succeeded", "failed", "finished") for s in ("WAITING", "SUBMITTED", "RUNNING")],
    ],
)
def test_conditions(condition: DependencyCondition, state: JobState, met: bool | None):
    # GIVEN an edge's condition and its dependency's state / WHEN checked / THEN met, never, or not yet
    assert edge_met(condition, state) is met


@pytest.mark.parametrize(
    ("a_state", "starts", "skips"),
    [
        ("SUCCEEDED", {"ok", "always"}, {"on_fail"}),
        ("FAILED", {"on_fail", "always"}, {"ok"}),
    ],
)
def test_condition_routing(a_state: JobState, starts: set[str], skips: set[str]):
    # GIVEN a job followed by one job per condition
    dag = dag_of({"a": [], "ok": ["a"], "on_fail": [("a", "failed")], "always": [("a", "finished")]})
    # WHEN a ends
    s = step(dag, {"a": a_state}, "continue")
    # THEN the jobs whose condition it met start, the others are skipped
    assert (set(s.start), set(s.skip)) == (starts, skips)


def test_a_handled_failure_does_not_fail_fast_nor_fail_the_pipeline():
    # GIVEN a's failure has a handler (failed edge) and x runs elsewhere
    dag = dag_of({"a": [], "fix": [("a", "failed")], "x": []})
    # WHEN a fails
    s = step(dag, {"a": "FAILED", "x": "RUNNING"}, "fail-fast")
    # THEN the handler starts and nothing is cancelled (the failure is covered while the handler may succeed)
    assert (s.start, s.cancel, s.failing) == (("fix",), (), False)
    # WHEN the handler succeeds THEN the pipeline SUCCEEDED
    s = step(dag, {"a": "FAILED", "fix": "SUCCEEDED", "x": "SUCCEEDED"})
    assert (s.done, s.outcome) == (True, "SUCCEEDED")
    # WHEN instead the handler fails THEN fail-fast cancels x and the pipeline will fail
    s = step(dag, {"a": "FAILED", "fix": "FAILED", "x": "RUNNING"})
    assert (s.cancel, s.failing) == (("x",), True)


def test_handler_skipped_on_success_is_no_failure():
    # GIVEN a succeeded, so its failure handler can never run
    dag = dag_of({"a": [], "fix": [("a", "failed")]})
    # WHEN stepped
    s = step(dag, {"a": "SUCCEEDED"})
    # THEN the handler is skipped and the pipeline SUCCEEDED in the same step
    assert (s.skip, s.done, s.outcome) == (("fix",), True, "SUCCEEDED")


# ------------------------------------------------------------------------------------------------ resume


@pytest.mark.parametrize(
    ("previous", "changed", "rerun"),
    [
        # a chain a->b->c beside x: c failed -> only c re-runs
        ({"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "FAILED", "x": "SUCCEEDED"}, set(), {"c"}),
        # b failed, c skipped -> b and downstream
        ({"a": "SUCCEEDED", "b": "FAILED", "c": "SKIPPED", "x": "SUCCEEDED"}, set(), {"b", "c"}),
        # all succeeded but a's spec changed -> a and all downstream, x carried over
        (dict.fromkeys("abcx", "SUCCEEDED"), {"a"}, {"a", "b", "c"}),
        # all succeeded, nothing changed -> nothing
        (dict.fromkeys("abcx", "SUCCEEDED"), set(), set()),
        # x never ran (new job) -> x
        ({"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "SUCCEEDED"}, set(), {"x"}),
        # cancelled counts as not succeeded
        ({"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "SUCCEEDED", "x": "CANCELLED"}, set(), {"x"}),
    ],
)
def test_resume_reruns_what_did_not_succeed_or_changed_and_downstream(
    previous: dict[str, JobState], changed: set[str], rerun: set[str]
):
    # GIVEN a previous run's states and the specs' hashes before and now
    dag = dag_of({"a": [], "b": ["a"], "c": ["b"], "x": []})
    before = {j: f"h-{j}" for j in previous}
    now = {j: f"h-{j}" + ("'" if j in changed else "") for j in dag}
    # WHEN planning the resume
    plan = resume_plan(dag, previous, before, now)
    # THEN exactly the expected jobs re-run, the rest start SUCCEEDED
    assert plan == rerun
    assert resume_states(dag, plan) == {j: "WAITING" if j in rerun else "SUCCEEDED" for j in dag}


def test_spec_hash_sees_changes_that_matter():
    # GIVEN a pipeline expanded twice, the second time with a different pipeline parameter
    first = {j.id: spec_hash(j) for j in expand_maps(request(job("a"), job("b", "a"), parameters={"day": "1"}))}
    same = {j.id: spec_hash(j) for j in expand_maps(request(job("a"), job("b", "a"), parameters={"day": "1"}))}
    other = {j.id: spec_hash(j) for j in expand_maps(request(job("a"), job("b", "a"), parameters={"day": "2"}))}
    vcpus = {
        j.id: spec_hash(j) for j in expand_maps(request(job("a", vcpus=4), job("b", "a"), parameters={"day": "1"}))
    }
    # WHEN compared / THEN hashes are stable, and change with what the job would run
    assert first == same
    assert first["a"] != other["a"]
    assert (first["a"] != vcpus["a"], first["b"] == vcpus["b"]) == (True, True)
    assert len(first["a"]) == 64
    assert spec_hash(PipelineJob.model_validate(job("a"))) == spec_hash(PipelineJob.model_validate(job("a")))


# ------------------------------------------------------------------------------------------------ map


def test_map_expands_merges_parameters_and_fans_in():
    # GIVEN setup -> shard (mapped over 3 items) -> merge, and a mapped job on a mapped job
    req = request(
        job("setup"),
        job("shard", "setup", parameters={"mode": "fast"}, map=[{"n": "0"}, {"n": "1"}, {"n": "2"}]),
        job("merge", {"id": "shard", "condition": "finished"}),
        job("check", "shard", map=[{"c": "x"}, {"c": "y"}]),
        parameters={"day": "mon"},
    )
    # WHEN expanded
    jobs = {j.id: j for j in expand_maps(req)}
    # THEN each item is a job <id>[k] with a Batch-valid name and the merged parameters
    assert list(jobs) == ["setup", "shard[0]", "shard[1]", "shard[2]", "merge", "check[0]", "check[1]"]
    assert jobs["shard[1]"].request.name == "shard-1"
    assert jobs["shard[1]"].request.parameters == {"day": "mon", "mode": "fast", "n": "1"}
    assert (jobs["shard[1]"].source, jobs["shard[1]"].index) == ("shard", 1)
    # AND every expansion depends on the whole upstream; dependents fan in on every expansion, same condition
    assert jobs["shard[2]"].depends_on == (Edge("setup"),)
    assert jobs["merge"].depends_on == tuple(Edge(f"shard[{k}]", "finished") for k in range(3))
    assert jobs["check[0]"].depends_on == jobs["check[1]"].depends_on == tuple(Edge(f"shard[{k}]") for k in range(3))
    # AND the expanded DAG drives step: merge waits for all three shards
    dag = expanded_dag(list(jobs.values()))
    states: dict[str, JobState] = {"setup": "SUCCEEDED", "shard[0]": "SUCCEEDED", "shard[1]": "FAILED"}
    assert "merge" not in step(dag, states, "continue").start
    assert "merge" in step(dag, {**states, "shard[2]": "SUCCEEDED"}, "continue").start


def test_map_long_names_stay_within_batch_limits():
    # GIVEN a 128-character job name mapped over 12 items
    req = request(job("a", name="n" * 128, map=[{"k": str(k)} for k in range(12)]))
    # WHEN expanded / THEN every Batch name fits 128 characters and stays unique
    names = [j.request.name for j in expand_maps(req)]
    assert all(len(n) <= 128 for n in names)
    assert len(set(names)) == 12


# ------------------------------------------------------------------------------------------------ drawings


def test_mermaid_and_dot_draw_every_node_and_edge():
    # GIVEN a DAG with a non-default condition and some states
    dag = dag_of({"a": [], "b": ["a"], "c": [("a", "failed")], "d": ["b", ("c", "finished")]})
    states: dict[str, JobState] = {"a": "SUCCEEDED", "b": "RUNNING", "c": "SKIPPED"}
    # WHEN drawn
    mermaid, dot = to_mermaid(dag, states), to_dot(dag, states)
    # THEN mermaid has the header, a classed node per job and an edge per dependency, labelled when not default
    assert mermaid.startswith("flowchart TD\n")
    for i, (j, state) in enumerate([("a", "SUCCEEDED"), ("b", "RUNNING"), ("c", "SKIPPED"), ("d", "WAITING")]):
        assert f'n{i}["{j}<br/>{state}"]:::{state.lower()}' in mermaid
    assert {"n0 --> n1", "n0 -.->|failed| n2", "n1 --> n3", "n2 -.->|finished| n3"} <= {
        line.strip() for line in mermaid.splitlines()
    }
    # AND dot has a filled node per job and an edge per dependency
    assert dot.startswith("digraph pipeline {")
    assert dot.rstrip().endswith("}")
    for j in "abcd":
        assert f'"{j}" [label="{j}\\n' in dot
    for edge in (
        '"a" -> "b";',
        '"a" -> "c" [label="failed", style=dashed];',
        '"b" -> "d";',
        '"c" -> "d" [label="finished"',
    ):
        assert edge in dot
    assert dot.count("->") == mermaid.count("->") == 4


def test_drawings_without_states_show_ids_only():
    # GIVEN the expanded ids with brackets / WHEN drawn without states / THEN labels are the ids, quoted
    dag = dag_of({"m[0]": [], "m[1]": [], "sink": ["m[0]", "m[1]"]})
    assert 'n0["m[0]"]:::waiting' in to_mermaid(dag)
    assert '"m[1]" -> "sink";' in to_dot(dag)


# ------------------------------------------------------------------------------------------------ properties


@st.composite
def dags(draw: st.DrawFn) -> Dag:
    """Random DAGs: acyclic by construction, each job depending only on earlier ones, with random conditions."""
    n = draw(st.integers(1, 10))
    deps: dict[str, list[Edge]] = {}
    for i in range(n):
        ups = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=min(i, 3))) if i else []
        deps[f"j{i}"] = [Edge(f"j{u}", draw(st.sampled_from(CONDITIONS))) for u in ups]
    return Dag.build(deps)


def drive(dag: Dag, outcomes: dict[str, JobState], on_failure: OnFailure, data: st.DataObject) -> dict[str, JobState]:
    """Run the DAG the way the runner does: apply each step, let Batch finish a random subset of active jobs."""
    states: dict[str, JobState] = dict.fromkeys(dag, "WAITING")
    started: set[str] = set()
    for _ in range(3 * len(dag) + 2):
        s = step(dag, states, on_failure)
        assert s == step(dag, states, on_failure), "step is a pure function"
        for j in s.skip:
            assert states[j] == "WAITING"
            states[j] = "SKIPPED"
        for j in s.start:
            assert j not in started, f"{j} started twice"
            assert states[j] == "WAITING"
            assert all(edge_met(e.condition, states[e.id]) is True for e in dag.deps[j]), f"{j} started early"
            assert not s.failing or dag.is_guard(j), "fail-fast starts only guard jobs"
            started.add(j)
            states[j] = "SUBMITTED"
        assert set(s.cancel) <= {j for j in dag if states[j] in ACTIVE_STATES}
        if s.done:
            assert s.outcome is not None
            assert s.start == s.cancel == ()
            return states
        assert s.outcome is None
        active = [j for j in dag if states[j] in ACTIVE_STATES]
        assert active, "not done, yet nothing runs: deadlock"
        for j in data.draw(st.lists(st.sampled_from(active), min_size=1, unique=True)):
            states[j] = "CANCELLED" if j in s.cancel else outcomes[j]
    pytest.fail("the pipeline never finished")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(dag=dags(), on_failure=st.sampled_from(["fail-fast", "continue"]), data=st.data())
def test_property_driving_step_terminates_safely(dag: Dag, on_failure: OnFailure, data: st.DataObject):
    # GIVEN a random DAG and a random terminal outcome for each job
    outcomes = {j: data.draw(st.sampled_from(["SUCCEEDED", "FAILED"])) for j in dag}
    # WHEN the pipeline is driven to its end (drive checks: deps met before start, never twice, no deadlock)
    final = drive(dag, outcomes, on_failure, data)
    end = step(dag, final, on_failure)
    # THEN every job is terminal and the outcome follows the failures
    assert all(final[j] in TERMINAL_STATES for j in dag)
    assert end.done
    if not any(final[j] in FAILURE_STATES for j in dag):
        assert end.outcome == "SUCCEEDED"
    if any(final[j] in FAILURE_STATES and not dag.handlers(j) for j in dag):
        assert end.outcome == "FAILED"
    if on_failure == "continue":
        # AND with continue, a job is skipped exactly when one of its own conditions was not met
        for j in dag:
            unmet = any(edge_met(e.condition, final[e.id]) is False for e in dag.deps[j])
            assert (final[j] == "SKIPPED") == unmet, j


@settings(max_examples=200)
@given(dag=dags(), data=st.data())
def test_property_resume_plan_is_closed_downstream(dag: Dag, data: st.DataObject):
    # GIVEN random previous states and random spec changes
    previous = {j: data.draw(st.sampled_from(STATES)) for j in dag}
    changed = data.draw(st.sets(st.sampled_from(dag.order)))
    before = dict.fromkeys(dag, "h")
    now = {j: "h2" if j in changed else "h" for j in dag}
    # WHEN planning
    plan = resume_plan(dag, previous, before, now)
    # THEN it holds every unsucceeded or changed job and is closed under "downstream of"
    assert {j for j in dag if previous[j] != "SUCCEEDED"} | changed <= plan
    assert dag.descendants(plan) <= plan
    # AND nothing re-runs without a reason upstream or in itself
    for j in plan:
        assert previous[j] != "SUCCEEDED" or j in changed or dag.ancestors([j]) & plan


@settings(max_examples=200)
@given(dag=dags())
def test_property_order_is_topological(dag: Dag):
    # GIVEN a random DAG / WHEN its order is read / THEN every dependency comes before its dependents
    position = {j: i for i, j in enumerate(dag.order)}
    assert all(position[up] < position[down] for up, down, _ in dag.edges())
