"""The design's call budgets, asserted with the benchmark's own measuring functions (small N). Counts only: no
timing is asserted anywhere in the tests (tests/perf/bench.py measures times)."""

from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.integration.conftest import Plane
from tests.perf import admission, measures
from tests.perf.harness import plane_of

pytestmark = pytest.mark.integration


@pytest.fixture
def plane(stack: Stack) -> Plane:
    return plane_of(stack)


def test_a_submission_costs_one_aws_call(plane: Plane) -> None:
    # GIVEN a stack on moto
    # WHEN 20 varied jobs are submitted through the gateway (half with an Idempotency-Key)
    found = measures.calls_per_submit(plane, 20)
    # THEN all were accepted QUEUED, each with one transaction (the job and its tenant's queued count): 1 call
    assert found.outcomes == {"202": 20}
    assert found.calls == {"dynamodb.TransactWriteItems": 20}
    assert found.per_unit == 1


def test_an_admission_costs_its_submitjob_and_a_share_of_the_ticks_writes(plane: Plane) -> None:
    from batchplane.domain.ports import GRANTS_PER_ADMIT

    # GIVEN 30 queued jobs of 10 tenants
    # WHEN one dispatcher tick admits them
    found, per_tick = admission.calls_per_admission(plane, 30)
    # THEN each admission was one SubmitJob, the tick's admissions one transaction per GRANTS_PER_ADMIT jobs (2), and
    # the tick itself a few calls, whatever it admits
    assert found.units == 30
    assert found.calls["dynamodb.TransactWriteItems"] == -(-30 // GRANTS_PER_ADMIT) == 2
    assert found.calls["batch.SubmitJob"] == 30
    from batchplane.adapters.dynamo.admission import QUEUED_KEYS

    # the queue's read (a Query per shard key), the counters, the budget (and its idle retry)
    assert per_tick <= len(QUEUED_KEYS) + 3, found.calls


def test_an_event_costs_at_most_one_write_with_duplicates_and_stale_events(plane: Plane) -> None:
    # GIVEN 5 submitted jobs
    # WHEN each gets its states, one out of order, two duplicates and one stale event (7 events a job)
    found = measures.writes_per_event(plane, 5)
    # THEN every event cost at most one DynamoDB write, and the duplicates and the stale event changed nothing
    assert found.units == 35
    assert found.per_unit <= 1
    assert found.outcomes == {"recorded": 10, "succeeded": 5, "stale": 20}
    # AND the action each job's end triggers: its attempt's cost added to the per-day rollup, once per job
    assert found.calls.pop(measures.ROLLUP) == 5
    assert set(found.calls) <= measures.DYNAMODB_WRITES | {"dynamodb.GetItem", "dynamodb.Query"}


def test_a_normal_run_never_calls_describe_jobs(plane: Plane) -> None:
    # GIVEN 20 jobs submitted
    # WHEN they run to completion with no faults, the sweeper running between the waves of events
    found = measures.describe_jobs_normal_run(plane, 20)
    # THEN all succeeded, the sweeper had nothing to do, and nothing called DescribeJobs
    assert found.outcomes.get("final.SUCCEEDED") == 20
    assert not any(k.startswith("sweep.") for k in found.outcomes)
    assert found.counted == 0
    assert "batch.DescribeJobs" not in found.calls


def test_an_event_on_the_way_reads_nothing_back(plane: Plane) -> None:
    # GIVEN a submitted job
    job = plane.submit({"name": "quiet"})
    plane.stack.calls.requests.clear()
    # WHEN it goes RUNNABLE, STARTING, RUNNING and SUCCEEDED
    for kind in ("RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"):
        plane.deliver(plane.event(kind, job))
    # THEN the writes on its way return nothing, and so does the transaction that records its end and gives back
    # its admission: the job is read before it (for what its admission holds), and the job acted on is that read
    # with the write applied
    calls = [(name, p) for name, p in plane.stack.calls.requests if not measures.is_rollup(p)]
    job_writes = [p for name, p in calls if name == "dynamodb.UpdateItem"]
    assert [p.get("ReturnValues") for p in job_writes] == ["NONE", "NONE", "NONE"]
    assert [name for name, _ in calls].count("dynamodb.TransactWriteItems") == 1
    assert [name for name, _ in calls].count("dynamodb.GetItem") == 1
    assert plane.job(job["jobId"])["status"] == "SUCCEEDED"


FUNCTIONS = ("gateway", "job_events", "sweeper", "pipeline_tasks", "scheduled_submit")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_tracing_off_imports_nothing_of_xray_on_the_cold_path(function: str) -> None:
    # GIVEN a fresh interpreter with the template's default (Tracing Disabled: POWERTOOLS_TRACE_DISABLED=true)
    # WHEN the handler module is imported, as Lambda's cold start does
    loaded = measures.xray_modules_on_import(function, tracing=False)
    # THEN nothing of the X-Ray SDK was imported
    assert loaded == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_handler_imports_boto3_on_the_cold_path(function: str) -> None:
    # GIVEN a fresh interpreter
    # WHEN the handler module is imported, as Lambda's cold start does
    loaded = measures.loaded_on_import(function)["packages"]
    # THEN boto3 (and the s3transfer it pulls in) is not loaded yet: clients are made on first use, or in priming
    assert "boto3" not in loaded
    assert "s3transfer" not in loaded


# What every request of the gateway needs at once (its size limit, its tenant claim): built at import on purpose
BUILT_AT_IMPORT = ["batchplane.settings.QueueEntry", "batchplane.settings.Settings"]


def test_the_gateway_builds_no_route_model_on_import_and_priming_builds_them_all() -> None:
    # GIVEN a fresh interpreter
    # WHEN the gateway is imported
    loaded = measures.loaded_on_import("gateway")
    # THEN no request model or view of a route was built (defer_build): each is built on its route's first request
    assert loaded["built"] == BUILT_AT_IMPORT, "a model of a route built at import: give it defer_build=True"
    assert "batchplane.domain.models.JobRequest" in loaded["deferred"]
    assert "batchplane.http.views.JobView" in loaded["deferred"]
    # AND what SnapStart's priming calls builds every one of them, so the snapshot holds them built
    assert loaded["left_after_priming"] == []


def test_tracing_on_wraps_the_handler_in_powertools_tracer() -> None:
    # GIVEN a fresh interpreter with Tracing on (POWERTOOLS_TRACE_DISABLED=false, inside Lambda)
    # WHEN a handler module is imported
    loaded = measures.xray_modules_on_import("job_events", tracing=True)
    # THEN Powertools Tracer loaded the X-Ray SDK (the contrast that makes the test above mean something)
    assert "aws_xray_sdk" in loaded
