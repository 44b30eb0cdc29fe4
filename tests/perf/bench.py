"""batchplane's benchmarks: `make bench` (PYTHONPATH=layers/batchplane:local:. python -m tests.perf.bench).

Measures, in one run, the call budgets (against moto, counted with a botocore before-call hook) and the times (cold
imports in fresh interpreters, the gateway's own time with AWS stubbed out, submissions per second against moto, queue
arbitration); prints a table and writes bench/results.json. Exits 0 when a timing goal is missed (benchmarks are not
tests) and 1 when a call-count budget is broken (those are the design's budgets, also asserted by
tests/perf/test_budgets.py)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.handlers import FakeLambdaContext
from tests.perf import measures
from tests.perf.harness import FAKE_AWS_ENV, environ, moto_plane, stubbed_gateway

OUT = measures.ROOT / "bench" / "results.json"


@dataclass(frozen=True)
class Target:
    """A budget (a count the design promises: breaking it fails the run) or a goal (a time we aim for)."""

    key: str
    op: str  # "<=" or ">="
    limit: float
    budget: bool
    why: str

    def met(self, value: float) -> bool:
        return value <= self.limit if self.op == "<=" else value >= self.limit


TARGETS = {
    t.key: t
    for t in (
        Target("calls_per_submit", "<=", 1, True, "issue #10: a submission is recorded QUEUED with 1 AWS call"),
        Target(
            "calls_per_admission",
            "<=",
            2,
            True,
            "issue #10: SubmitJob + a share of the tick's transaction (+ per tick)",
        ),
        Target("submitjob_max_in_any_second_over_rate", "<=", 1.0, True, "issue #10: never above the rate in any 1 s"),
        Target(
            "model_submitjob_max_in_any_second_over_rate",
            "<=",
            1.0,
            True,
            "issue #10, AWS latencies modelled (tests/perf/admission_model.py): never above the rate in any 1 s",
        ),
        Target(
            "model_submitjob_sustained_share",
            ">=",
            0.9,
            False,
            "issue #10: >= 90% of the default 50/s sustained, AWS latencies modelled (the real dispatcher)",
        ),
        Target(
            "moto_10_submitjob_sustained_share",
            ">=",
            0.9,
            False,
            "issue #10: >= 90% of a 10/s budget sustained on moto (a rate moto in one process can serve)",
        ),
        Target("admission_latency_p99_ms", "<=", 1000, False, "free capacity: accepted -> SubmitJob"),
        Target("model_admission_latency_p99_ms", "<=", 1000, False, "AWS latencies modelled, production tick"),
        Target("writes_per_event", "<=", 1, True, "DESIGN: one guarded write per event (+ the action it triggers)"),
        Target("describe_jobs_calls_normal_run", "<=", 0, True, "DESIGN: nothing polls DescribeJobs in normal running"),
        Target("cold_import_ratio_max", "<=", 1.2, False, "issue #6 goal: worst handler <= 1.2x boto3 + one client"),
        Target("gateway_overhead_ms_p50", "<=", 0.5, False, "issue #6 goal: our code + Powertools, AWS stubbed"),
        Target(
            "sweeper_1m_s_per_sweep",
            "<=",
            60,
            False,
            "issue #12 goal: a sweep at 1,000,000 active jobs inside its minute (modelled, its busiest part: sweeper_model.py)",
        ),
        Target("gateway_jobs_per_s", ">=", 300, False, "issue #6 goal: in-process against moto, one thread"),
        Target("arbitration_decisions_per_s", ">=", 100_000, False, "placing is a few dict lookups (<10 us)"),
        Target("sfn_transitions_per_job", "<=", 3, False, "issue #5 goal: from the pipeline's execution history"),
        Target(
            "control_plane_usd_per_million_jobs",
            "<=",
            10,
            False,
            "issue #15 goal: our own AWS cost per 1,000,000 standalone jobs (tests/perf/costs.py)",
        ),
        Target(
            "spot_drain_100_s",
            "<=",
            30,
            False,
            "100 spot-first jobs, Spot max vCPUs 0: all on On-Demand (dwell 5 s, sweep every 2 s)",
        ),
        Target(
            "local_dag_1000_vs_make",
            "<=",
            10,
            False,
            "DAG goal, work as a map: within 10x of make -j2 (below AWS's floor: see local_dag_1000_submit_floor_s)",
        ),
        Target(
            "local_dag_1000_array_vs_make",
            "<=",
            10,
            False,
            "DAG goal, work as one array job (998 children): the local stack within 10x of make -j2",
        ),
        Target(
            "local_dag_1000_submitjob_throttled",
            "<=",
            0,
            True,
            "SubmitJob calls the local Batch refused as over AWS's 50/s (TooManyRequestsException), all DAG runs",
        ),
        Target("pipeline_10000_join_runs", "<=", 1, True, "a fan-in starts its job once (root -> 9,998 -> join)"),
        Target("fan_5000_join_runs", "<=", 1, True, "a fan-in of 5,000 starts its job once (root -> 5,000 -> join)"),
        Target("local_dag_1000_vs_snakemake", "<=", 1, False, "DAG goal, work as a map: faster than Snakemake"),
        Target(
            "local_dag_1000_array_vs_snakemake", "<=", 1, False, "DAG goal, work as an array: faster than Snakemake"
        ),
    )
}
HANDLERS_MEASURED = ("gateway", "job_events", "sweeper")
DAG_SIZE = 1000  # split -> 998 work -> merge
DAG_REPEATS = 3  # each of the three run this often, interleaved; the medians are compared
WHY = {
    "control_plane_usd_floor_exact_quotas": "the least a design keeping #14's exact quotas writes (cost_floor.py)",
    "control_plane_usd_floor_counted_late": "the same with counts derived late (stream): exact quotas given up",
    "submitjob_max_in_any_second": "most SubmitJob calls in any 1 s window (100 tenants, 4 dispatcher invocations)",
    "submitjob_sustained_share": "share of the default 50/s sustained on moto in one process: moto-bound, see README",
    "moto_10_submitjob_max_in_any_second": "the same at a budget of 10/s, on moto",
    "model_admission_latency_p50_ms": "AWS latencies modelled, production tick (0.5 s when idle)",
    "admission_latency_p50_ms": "free capacity: accepted -> SubmitJob, one dispatcher ticking",
    "cold_import_baseline_ms": "import boto3 + a DynamoDB client",
    "cold_import_cpu_ratio_max": "the same ratio in CPU time of the importing process (less disturbed by load)",
    "first_request_ms": "per handler: import, first request (cold / after SnapStart priming), warm; AWS stubbed",
    "sweeper_1m_items_per_sweep": "items one sweep reads at 1M active jobs, worst modelled load",
    "sweeper_1m_read_units_per_sweep": "DynamoDB read units of that sweep (eventually consistent Queries)",
    "local_dag_100_s": "seconds, 100-job DAG on the local stack",
    "local_dag_100_make_s": "seconds, the same on make -j2",
    "local_dag_1000_s": "seconds, 1,000-job DAG on the local stack (2 vCPUs spot + 2 on-demand), median of 3",
    "local_dag_1000_make_s": "seconds, the same on make -j2 (the floor), median of 3",
    "local_dag_1000_snakemake_s": "seconds, the same on snakemake -j2 (a peer; .venv-bench), median of 3",
    "local_dag_1000_array_s": "seconds, the same DAG with its work stage one array job of 998 children, median of 3",
    "local_dag_1000_submit_floor_s": "the least AWS allows the map form: 1,000 SubmitJob calls at Batch's fixed 50/s",
    "local_dag_1000_submit_floor_vs_make": "that floor over make -j2's median: above 10, the map form cannot meet 10x",
    "local_dag_1000_runs": "each run: (local stack map, local stack array, make, Snakemake) seconds, interleaved",
    "pipeline_10000_s": "seconds, one pipeline of 10,000 trivial jobs (root -> 9,998 -> join), local stack",
    "pipeline_10000_jobs_per_s": "jobs per second of that run (SubmitJob is held to Batch's 50/s)",
    "pipeline_10000_create_s": "seconds for its POST /pipelines (validation, 10,000 items written)",
    "pipeline_10000_transitions_per_job": "Step Functions state transitions per job, from its execution history",
    "pipeline_10000_history_events": "events in its execution history (Step Functions keeps at most 25,000)",
    "fan_5000_s": "seconds, root -> 5,000 -> join (fan-out and fan-in of 5,000), local stack",
}


@dataclass(frozen=True)
class Sizes:
    pipeline_jobs: int = 10_000  # the largest pipeline run (0: skip)
    fan: int = 5000  # the fan-out / fan-in width (0: skip)
    submits: int = 200
    event_jobs: int = 100
    run_jobs: int = 100
    throughput: int = 500
    overhead: int = 3000
    arbitration_queues: int = 50
    arbitration_jobs: int = 1_000_000
    import_runs: int = 7
    first_request_runs: int = 3
    quick: bool = False


QUICK = Sizes(
    submits=20,
    event_jobs=10,
    run_jobs=20,
    throughput=60,
    overhead=300,
    arbitration_jobs=50_000,
    import_runs=5,
    first_request_runs=1,
    quick=True,
)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(sizes: Sizes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every measurement, once. Returns (results, details): results is what bench/results.json holds."""
    results: dict[str, Any] = {}
    details: dict[str, Any] = {}

    _log(f"cold imports: {sizes.import_runs} fresh interpreters per handler + baseline")
    cold = measures.cold_imports(sizes.import_runs)
    results["cold_import_ms"] = {k: round(v, 1) for k, v in cold.wall.items()}
    results["cold_import_baseline_ms"] = round(cold.baseline_wall, 1)
    results["cold_import_ratio_max"] = round(cold.ratio_max, 2)
    results["cold_import_cpu_ratio_max"] = round(cold.cpu_ratio_max, 2)

    scale_measures(sizes, results, details)

    _log(f"calls per submission: {sizes.submits} submissions on moto")
    with moto_plane() as plane:
        submits = measures.calls_per_submit(plane, sizes.submits)
    results["calls_per_submit"] = round(submits.per_unit, 3)
    details["calls_per_submit"] = submits

    admission_measures(sizes, results, details)

    _log(f"writes per event: {sizes.event_jobs} jobs x 7 events (duplicates, late and stale included)")
    with moto_plane() as plane:
        writes = measures.writes_per_event(plane, sizes.event_jobs)
    results["writes_per_event"] = round(writes.per_unit, 3)
    details["writes_per_event"] = writes

    _log(f"normal run: {sizes.run_jobs} jobs to completion, sweeper between the waves")
    with moto_plane() as plane:
        normal = measures.describe_jobs_normal_run(plane, sizes.run_jobs)
    results["describe_jobs_calls_normal_run"] = normal.counted
    details["describe_jobs_calls_normal_run"] = normal

    _log(f"gateway overhead: {sizes.overhead} submissions, AWS stubbed (before-send)")
    with stubbed_gateway() as (gateway, calls):
        times = measures.handler_times_ms(gateway, FakeLambdaContext(), sizes.overhead)
        stubbed_calls = dict(calls.counts)
    results["gateway_overhead_ms_p50"] = round(statistics.median(times), 3)
    details["gateway_overhead"] = {
        "p90_ms": round(statistics.quantiles(times, n=10)[-1], 3),
        "stubbed_calls": stubbed_calls,
    }

    _log(f"gateway throughput: {sizes.throughput} submissions on moto, one thread")
    with moto_plane(count_calls=False) as plane:
        results["gateway_jobs_per_s"] = round(measures.submissions_per_second(plane, sizes.throughput), 1)

    _log(f"arbitration: {sizes.arbitration_queues} queues, {sizes.arbitration_jobs:,} pending jobs")
    rate, refused = measures.arbitration_decisions_per_s(sizes.arbitration_queues, sizes.arbitration_jobs)
    results["arbitration_decisions_per_s"] = round(rate)
    details["arbitration_refused"] = refused

    if getattr(sizes, "quick", False):
        results.update(dict.fromkeys(DAG_KEYS))
        results.update(dict.fromkeys(PIPELINE_KEYS))
        results["spot_drain_100_s"] = None
    else:
        from tests.perf.spot_drain import drain_run_fresh

        _log("Spot drain: 100 spot-first jobs on a Spot environment with max vCPUs 0, until all are on On-Demand")
        results["spot_drain_100_s"] = drain_run_fresh(100)["seconds"]
        results.update(dag_measures())
        results.update(pipeline_measures(sizes.pipeline_jobs, sizes.fan))
    results["control_plane_usd_per_million_jobs"], details["control_plane_cost"] = control_plane_cost(results)
    return results, details


def scale_measures(sizes: Sizes, results: dict[str, Any], details: dict[str, Any]) -> None:
    """Issue #12: each handler's first request (cold, and after SnapStart's priming) and the sweeper modelled at
    1,000,000 active jobs."""
    from tests.perf import first_request, sweeper_model

    _log("first requests: import, first request cold and after SnapStart priming, warm (fresh interpreters)")
    results["first_request_ms"] = first_request.first_requests_ms(HANDLERS_MEASURED, runs=sizes.first_request_runs)

    _log("sweeper model at 1,000,000 active jobs (a part's sweep measured with AWS stubbed, AWS latencies assumed)")
    modelled = sweeper_model.run()
    details["sweeper_model"] = modelled
    for name, cost in modelled.items():
        _log(f"  {name}: {cost}")
    worst = max((v for v in modelled.values() if isinstance(v, dict)), key=lambda v: v["seconds"])
    results["sweeper_1m_items_per_sweep"] = worst["items_read"]
    results["sweeper_1m_read_units_per_sweep"] = worst["read_units"]
    results["sweeper_1m_s_per_sweep"] = worst["seconds"]


def admission_measures(sizes: Sizes, results: dict[str, Any], details: dict[str, Any]) -> None:
    """Issue #10: calls per admission; the SubmitJob rate with 100 tenants and 4 dispatcher invocations; latency."""
    from tests.perf import admission

    _log("admission: calls per admission; SubmitJob rate with 100 tenants and 4 dispatcher invocations; latency")
    with moto_plane() as plane:
        admitted, per_tick = admission.calls_per_admission(plane, 50)
    results["calls_per_admission"] = round((admitted.counted - per_tick) / admitted.units, 3)
    details["calls_per_admission"] = replace(admitted, outcomes={"per_tick_calls": per_tick})
    with moto_plane(count_calls=False) as plane:
        rate = admission.rate_run(plane, jobs=200 if sizes.quick else 400)
    results["submitjob_max_in_any_second"] = rate.max_in_any_second
    results["submitjob_max_in_any_second_over_rate"] = round(rate.max_in_any_second / rate.rate, 3)
    results["submitjob_sustained_share"] = rate.sustained_share
    details["submitjob_rate"] = rate
    with moto_plane(count_calls=False) as plane:
        slow = admission.rate_run(plane, jobs=100, rate_per_second=10.0)
    results["moto_10_submitjob_max_in_any_second"] = slow.max_in_any_second
    results["moto_10_submitjob_sustained_share"] = slow.sustained_share
    details["moto_10_submitjob_rate"] = slow
    with moto_plane(count_calls=False) as plane:
        p50, p99 = admission.latency_run(plane, jobs=40 if sizes.quick else 100)
    results["admission_latency_p50_ms"] = p50
    results["admission_latency_p99_ms"] = p99
    from tests.perf import admission_model

    _log("admission at AWS-like latencies (modelled: the real dispatcher, its ports' latencies assumed)")
    model = admission_model.rate_run(admission_model.build(300 if sizes.quick else 600))
    results["model_submitjob_max_in_any_second_over_rate"] = round(model.max_in_any_second / model.rate, 3)
    results["model_submitjob_sustained_share"] = model.sustained_share
    details["model_submitjob_rate"] = model
    p50, p99 = admission_model.latency_run(admission_model.build(40 if sizes.quick else 100))
    results["model_admission_latency_p50_ms"] = p50
    results["model_admission_latency_p99_ms"] = p99


def control_plane_cost(results: dict[str, Any]) -> tuple[float, list[str]]:
    """Issue #15: the control plane's own AWS cost per million standalone jobs, from the calls the bench counts (on
    moto, with DynamoDB items sized) x the us-east-1 list prices of tests/perf/aws_prices.json. (total, report lines)
    Adds to ``results`` the floor of each design (cost_floor.py)."""
    from tests.perf import cost_floor, costs

    _log("control-plane cost: call profile with DynamoDB items sized, x us-east-1 list prices (aws_prices.json)")
    profile = costs.measure()
    transitions = results.get("sfn_transitions_per_job")
    if transitions is not None:
        profile = replace(profile, sfn_transitions_per_pipeline_job=Decimal(str(transitions)))
    prices = costs.load_prices()
    breakdown = costs.per_million(profile, prices)
    for design in cost_floor.DESIGNS:  # what the goal is measured against: the least each design could cost
        key = "control_plane_usd_floor_" + design.name.replace(" ", "_")
        results[key] = float(cost_floor.floor_usd(design, prices.usd).quantize(Decimal("0.01")))
    return float(breakdown.total), costs.render(breakdown, profile, prices)


DAG_KEYS = (
    "sfn_transitions_per_job",
    "local_dag_100_s",
    "local_dag_100_make_s",
    "local_dag_1000_s",
    "local_dag_1000_array_s",
    "local_dag_1000_make_s",
    "local_dag_1000_snakemake_s",
    "local_dag_1000_runs",
    "local_dag_1000_vs_make",
    "local_dag_1000_vs_snakemake",
    "local_dag_1000_array_vs_make",
    "local_dag_1000_array_vs_snakemake",
    "local_dag_1000_submit_floor_s",
    "local_dag_1000_submit_floor_vs_make",
    "local_dag_1000_submitjob_throttled",
)


def dag_measures() -> dict[str, Any]:
    """The same DAG on the local stack, make -j2 and Snakemake; the local stack's ratios to both."""
    from tests.perf.local_dag import compare, local_stack_run_fresh, make_run, medians, submit_floor_s

    results: dict[str, Any] = dict.fromkeys(DAG_KEYS)
    _log("local DAG: 100 trivial jobs (fan-out, fan-in) on the local stack, and on make -j2")
    results["local_dag_100_s"] = local_stack_run_fresh(100)["seconds"]
    results["local_dag_100_make_s"] = make_run(100)
    # the three interleaved, DAG_REPEATS times (a run varies by a third between runs on a shared 2-core machine:
    # 37.6-57.7 s for the same code on 2026-12-03, and Snakemake's too): their medians are compared, every run kept
    runs, results["sfn_transitions_per_job"], results["local_dag_1000_submitjob_throttled"] = compare(
        DAG_SIZE, DAG_REPEATS, _log
    )
    results["local_dag_1000_runs"] = runs
    keys = ("local_dag_1000_s", "local_dag_1000_array_s", "local_dag_1000_make_s", "local_dag_1000_snakemake_s")
    results.update(zip(keys, medians(runs), strict=True))
    make, snake = results["local_dag_1000_make_s"], results["local_dag_1000_snakemake_s"]
    for form in ("", "_array"):
        local = results[f"local_dag_1000{form}_s"]
        if local is not None and make:
            results[f"local_dag_1000{form}_vs_make"] = round(local / make, 2)
        if local is not None and snake:
            results[f"local_dag_1000{form}_vs_snakemake"] = round(local / snake, 2)
    results["local_dag_1000_submit_floor_s"] = floor = submit_floor_s(DAG_SIZE)
    if make:
        results["local_dag_1000_submit_floor_vs_make"] = round(floor / make, 1)
    return results


PIPELINE_KEYS = (
    "pipeline_10000_s",
    "pipeline_10000_create_s",
    "pipeline_10000_jobs_per_s",
    "pipeline_10000_transitions_per_job",
    "pipeline_10000_history_events",
    "pipeline_10000_join_runs",
    "fan_5000_s",
    "fan_5000_join_runs",
)


def pipeline_measures(jobs: int, fan: int) -> dict[str, Any]:
    """The largest pipeline and the widest fan-out / fan-in on the local stack (tests/perf/pipeline_scale.py)."""
    from tests.perf.pipeline_scale import local_stack_run_fresh

    results: dict[str, Any] = dict.fromkeys(PIPELINE_KEYS)
    if jobs:
        _log(f"pipeline at scale: {jobs:,} trivial jobs (root -> {jobs - 2:,} -> join) on the local stack")
        run = local_stack_run_fresh(jobs)
        _log(f"pipeline at scale: {run}")
        if run["status"] == "SUCCEEDED":
            results["pipeline_10000_s"] = run["seconds"]
            results["pipeline_10000_jobs_per_s"] = run["jobs_per_s"]
        results["pipeline_10000_create_s"] = run["create_seconds"]
        results["pipeline_10000_transitions_per_job"] = run["transitions_per_job"]
        results["pipeline_10000_history_events"] = run["history_events"]
        results["pipeline_10000_join_runs"] = run["join_runs"]
    if fan:
        _log(f"fan-out / fan-in: root -> {fan:,} -> join on the local stack")
        run = local_stack_run_fresh(fan + 2)
        _log(f"fan-out / fan-in: {run}")
        results["fan_5000_s"] = run["seconds"] if run["status"] == "SUCCEEDED" else None
        results["fan_5000_join_runs"] = run["join_runs"]
    return results


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return "; ".join(
            " / ".join(_fmt(v) for v in item) if isinstance(item, tuple | list) else _fmt(item) for item in value
        )
    return str(value)


def report(
    results: dict[str, Any], details: dict[str, Any], info: dict[str, Any], elapsed: float, out: Path
) -> list[str]:
    """Print the table; return the broken budgets."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if console.width < 140:  # not a terminal (make, CI): wide enough for one line per row
        console = Console(width=140)
    table = Table(
        title=f"batchplane benchmarks: {info['cores']} cores, Python {info['python']}, {info['cpu']}",
        caption=f"{elapsed:.0f} s; written to {out}",
    )
    for column in ("key", "value", "budget / goal", "verdict", "why"):
        table.add_column(column, overflow="fold")
    broken: list[str] = []
    order = [
        "calls_per_submit",
        "calls_per_admission",
        "submitjob_max_in_any_second",
        "submitjob_max_in_any_second_over_rate",
        "submitjob_sustained_share",
        "moto_10_submitjob_max_in_any_second",
        "moto_10_submitjob_sustained_share",
        "model_submitjob_max_in_any_second_over_rate",
        "model_submitjob_sustained_share",
        "admission_latency_p50_ms",
        "admission_latency_p99_ms",
        "model_admission_latency_p50_ms",
        "model_admission_latency_p99_ms",
        "writes_per_event",
        "describe_jobs_calls_normal_run",
        "cold_import_ms",
        "cold_import_baseline_ms",
        "cold_import_ratio_max",
        "cold_import_cpu_ratio_max",
        "gateway_overhead_ms_p50",
        "gateway_jobs_per_s",
        "arbitration_decisions_per_s",
        "spot_drain_100_s",
        *DAG_KEYS,
        *PIPELINE_KEYS,
        "control_plane_usd_per_million_jobs",
        "control_plane_usd_floor_exact_quotas",
        "control_plane_usd_floor_counted_late",
    ]
    for key in order:
        value = results[key]
        if key == "cold_import_ms":
            for name, ms in value.items():
                table.add_row(
                    f"cold_import_ms.{name}", _fmt(ms), "", "", "median, fresh interpreter, layer with bytecode"
                )
            continue
        target = TARGETS.get(key)
        if value is None:
            table.add_row(key, "—", "", "[dim]not measured[/]", "--quick, or Snakemake not installed (make bench)")
        elif target is None:
            table.add_row(key, _fmt(value), "", "", WHY.get(key, ""))
        else:
            ok = target.met(value)
            kind = "budget" if target.budget else "goal"
            verdict = "[green]PASS[/]" if ok else ("[red bold]BROKEN[/]" if target.budget else "[yellow]MISS[/]")
            table.add_row(key, _fmt(value), f"{kind} {target.op} {_fmt(target.limit)}", verdict, target.why)
            if target.budget and not ok:
                broken.append(key)
    console.print(table)
    for key in ("calls_per_submit", "calls_per_admission", "writes_per_event", "describe_jobs_calls_normal_run"):
        found = details[key]
        console.print(f"[dim]{key}: units={found.units} calls={found.calls} outcomes={found.outcomes}[/]")
    console.print(f"[dim]gateway overhead: {details['gateway_overhead']}[/]")
    console.print(
        f"[dim]arbitration: {details['arbitration_refused']:,} refusals (unschedulable) among the decisions[/]"
    )
    for line in details.get("control_plane_cost", ()):
        console.print(line, markup=False, highlight=False)
    return broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run, numbers not comparable)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"results file (default {OUT})")
    parser.add_argument("--pipeline-jobs", type=int, default=Sizes.pipeline_jobs, help="largest pipeline (0: skip)")
    parser.add_argument("--fan", type=int, default=Sizes.fan, help="fan-out / fan-in width (0: skip)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    started = time.monotonic()
    with environ(FAKE_AWS_ENV):
        sizes = QUICK if args.quick else Sizes(pipeline_jobs=args.pipeline_jobs, fan=args.fan)
        results, details = run(sizes)
    info = machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**results, "machine": info}, indent=2) + "\n")
    broken = report(results, details, info, time.monotonic() - started, args.out)
    if broken:
        print(f"call budget broken: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
