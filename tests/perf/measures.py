"""The measuring functions, shared by the benchmark (tests/perf/bench.py, large N) and the budget tests
(tests/perf/test_budgets.py, small N). Counts come from the botocore before-call hook of the stack; times from
time.perf_counter_ns. Nothing here asserts a budget: callers compare."""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import py_compile
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.apigw import http_event
from tests.integration.conftest import Plane

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("gateway", "job_events", "sweeper")
DYNAMODB_WRITES = frozenset(
    f"dynamodb.{op}" for op in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
)
PRIORITIES = ("low", "normal", "high", "urgent")
PREFERENCES = ("spot-first", "spot", "on-demand")


@dataclass
class CallCount:
    """AWS calls made while ``units`` submissions/events/runs were handled."""

    units: int
    counted: int  # the calls the budget is about
    calls: dict[str, int] = field(default_factory=dict)  # every call, by service.Operation
    outcomes: dict[str, int] = field(default_factory=dict)  # what the handlers answered (sanity, for the report)

    @property
    def per_unit(self) -> float:
        return self.counted / self.units if self.units else 0.0


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Powertools Metrics prints one EMF document per invocation: send stdout to /dev/null while measuring."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def job_body(i: int, rng: random.Random) -> dict[str, Any]:
    """A valid submission, varied over priority classes, capacity preferences and sizes."""
    return {
        "name": f"bench-{i}",
        "command": ["echo", str(i)],
        "priority": rng.choice(PRIORITIES),
        "capacity": rng.choice(PREFERENCES),
        "vcpus": rng.randint(1, 8),
        "memoryMiB": rng.choice((512, 2048, 4096, 16_384)),
        "tags": {"team": "bench"},
    }


def submission(i: int, rng: random.Random) -> dict[str, Any]:
    """A POST /jobs event; every other one carries an Idempotency-Key."""
    headers = {"Idempotency-Key": f"bench-key-{i}-{rng.random()}"} if i % 2 else None
    return http_event("POST", "/jobs", body=job_body(i, rng), headers=headers)


def _delta(before: Counter[str], after: Counter[str]) -> Counter[str]:
    return Counter({k: after[k] - before[k] for k in after if after[k] - before[k]})


# ---- counts (moto) -------------------------------------------------------------------------------------------------


def calls_per_submit(plane: Plane, n: int, seed: int = 1) -> CallCount:
    """Every AWS call made by ``n`` submissions through the gateway handler."""
    rng = random.Random(seed)
    events = [submission(i, rng) for i in range(n)]
    calls = plane.stack.calls
    before = Counter(calls.counts)
    statuses: Counter[str] = Counter()
    with quiet():
        for event in events:
            statuses[str(plane.gateway.lambda_handler(event, plane.ctx)["statusCode"])] += 1
    made = _delta(before, calls.counts)
    return CallCount(units=n, counted=sum(made.values()), calls=dict(made), outcomes=dict(statuses))


def _soon(offset: float) -> dict[str, datetime]:
    return {"when": datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=offset)}


def writes_per_event(plane: Plane, jobs: int, seed: int = 2) -> CallCount:
    """DynamoDB writes per Batch state-change event through job_events, duplicates and stale events included.

    Each job gets RUNNABLE, RUNNING, then STARTING late (out of order), RUNNING again (duplicate delivery), SUCCEEDED,
    SUCCEEDED again (duplicate), and an older RUNNING with a new event id (stale): 7 events."""
    rng = random.Random(seed)
    with quiet():
        submitted = [plane.submit(job_body(i, rng)) for i in range(jobs)]
    base = -60.0
    deliveries: list[dict[str, Any]] = []
    for job in submitted:
        runnable = plane.event("RUNNABLE", job, **_soon(base))
        starting = plane.event("STARTING", job, **_soon(base + 1))
        running = plane.event("RUNNING", job, **_soon(base + 2))
        succeeded = plane.event("SUCCEEDED", job, **_soon(base + 3))
        late_running = plane.event("RUNNING", job, **_soon(base + 2))
        deliveries += [runnable, running, starting, running, succeeded, succeeded, late_running]
    calls = plane.stack.calls
    before = Counter(calls.counts)
    start = len(calls.requests)
    outcomes: Counter[str] = Counter()
    with quiet():
        for event in deliveries:
            outcomes[plane.deliver(event)] += 1
    made = _delta(before, calls.counts)
    # the guarded write of each event, apart from the actions a job's end triggers: its cost added to the rollup, and
    # its admission given back (one transaction, once per job), both listed in ``calls``, not counted here
    rollup = sum(1 for op, p in calls.requests[start:] if op == "dynamodb.UpdateItem" and is_rollup(p))
    guarded = DYNAMODB_WRITES - {"dynamodb.TransactWriteItems"}
    writes = sum(v for k, v in made.items() if k in guarded) - rollup
    counted = dict(made) | ({ROLLUP: rollup} if rollup else {})
    if rollup:
        counted["dynamodb.UpdateItem"] -= rollup
    return CallCount(units=len(deliveries), counted=writes, calls=counted, outcomes=dict(outcomes))


ROLLUP = "dynamodb.UpdateItem (cost rollup)"


def is_rollup(params: dict[str, Any]) -> bool:
    return str(params.get("Key", {}).get("pk", {}).get("S", "")).startswith("COST#")


def describe_jobs_normal_run(plane: Plane, jobs: int, seed: int = 3) -> CallCount:
    """DescribeJobs calls while ``jobs`` jobs run to completion with no faults: submit, then each state for every
    job (RUNNABLE, STARTING, RUNNING, SUCCEEDED, as Batch reports them), with the sweeper run between the waves."""
    rng = random.Random(seed)
    calls = plane.stack.calls
    before = Counter(calls.counts)
    outcomes: Counter[str] = Counter()
    with quiet():
        submitted = [plane.submit(job_body(i, rng)) for i in range(jobs)]
        for wave, kind in enumerate(("RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED")):
            plane.sweep()
            for job in submitted:
                outcomes[plane.deliver(plane.event(kind, job, **_soon(wave - 10)))] += 1
        for _ in range(2):
            report = plane.sweep()
            outcomes.update({f"sweep.{k}": len(v) for k, v in report.items() if isinstance(v, list) and v})
    made = _delta(before, calls.counts)
    with quiet():
        finished = Counter(plane.job(job["jobId"])["status"] for job in submitted)
    outcomes.update({f"final.{k}": v for k, v in finished.items()})
    return CallCount(units=1, counted=made.get("batch.DescribeJobs", 0), calls=dict(made), outcomes=dict(outcomes))


# ---- times ---------------------------------------------------------------------------------------------------------


def submissions_per_second(plane: Plane, n: int, seed: int = 4) -> float:
    """Submissions per second through the gateway handler in-process against moto, one thread."""
    rng = random.Random(seed)
    events = [submission(i, rng) for i in range(n)]
    with quiet():
        for event in events[:10]:  # warm: first client use resolves endpoints and loads service models
            plane.gateway.lambda_handler(event, plane.ctx)
        started = time.perf_counter_ns()
        for event in events[10:]:
            plane.gateway.lambda_handler(event, plane.ctx)
        elapsed = time.perf_counter_ns() - started
    return (n - 10) / (elapsed / 1e9)


def handler_times_ms(gateway: Any, ctx: Any, n: int, warmup: int = 200, seed: int = 5) -> list[float]:
    """Per-call wall time (ms) of the gateway handler for ``n`` submissions (AWS stubbed by the caller)."""
    rng = random.Random(seed)
    events = [submission(i, rng) for i in range(n + warmup)]
    times: list[float] = []
    with quiet():
        for i, event in enumerate(events):
            started = time.perf_counter_ns()
            response = gateway.lambda_handler(event, ctx)
            elapsed = time.perf_counter_ns() - started
            if response["statusCode"] != 202:
                msg = f"stubbed submission answered {response['statusCode']}: {response.get('body')}"
                raise AssertionError(msg)
            if i >= warmup:
                times.append(elapsed / 1e6)
    return times


def arbitration_decisions_per_s(queues: int = 50, jobs: int = 1_000_000, seed: int = 6) -> tuple[float, int]:
    """Place each of ``jobs`` pre-generated pending jobs once on a catalogue of ``queues`` queues; (decisions per
    second, refusals). The catalogue: the 8 priority x capacity queues, a multi-node queue, and GPU queues for the
    rest (the GPU path scans them); the demands: random priority, capacity preference, vCPUs and memory (1 % too
    large: refused), 2 % GPU jobs, 1 % multi-node."""
    from batchplane.domain.arbiter import ANY_PRIORITY, Demand, QueueCatalogue, QueueClass
    from batchplane.domain.errors import UnschedulableError
    from batchplane.domain.models import Capacity, CapacityPreference, Priority

    rng = random.Random(seed)
    arn = "arn:aws:batch:us-east-1:123456789012:job-queue/bench"
    made = [
        QueueClass(p.value, c, f"{arn}-{p.value}-{c.value}", max_vcpus=8, max_memory_mib=62_000)
        for p in Priority
        for c in Capacity
    ]
    made.append(QueueClass(ANY_PRIORITY, Capacity.ON_DEMAND, f"{arn}-mnp", 72, 180_000, multi_node=True))
    gpu_priorities = [*(p.value for p in Priority), ANY_PRIORITY]
    while len(made) < queues:
        i = len(made)
        made.append(
            QueueClass(
                gpu_priorities[i % len(gpu_priorities)],
                (Capacity.SPOT, Capacity.ON_DEMAND)[i % 2],
                f"{arn}-gpu-{i}",
                max_vcpus=32,
                max_memory_mib=240_000,
                max_gpus=1 + i % 8,
            )
        )
    catalogue = QueueCatalogue(made)
    priorities = list(Priority)
    preferences = list(CapacityPreference)
    demands: list[Demand] = []

    def memory() -> int:  # 1 % ask more than any plain queue offers: refused with a 422 (also a decision)
        return rng.randint(128, 62_000) if rng.random() >= 0.01 else rng.randint(62_001, 250_000)

    for _ in range(jobs):
        kind = rng.random()
        gpus = rng.randint(1, 4) if kind < 0.02 else 0
        multi_node = 0.02 <= kind < 0.03
        preference = rng.choice(preferences)
        if (gpus or multi_node) and preference is CapacityPreference.SPOT:
            preference = CapacityPreference.SPOT_FIRST
        demands.append(
            Demand(
                priority=rng.choice(priorities),
                preference=preference,
                vcpus=rng.randint(1, 8),
                memory_mib=memory(),
                gpus=gpus,
                multi_node=multi_node,
            )
        )
    place = catalogue.place
    refused = 0
    started = time.perf_counter_ns()
    for demand in demands:
        try:
            place(demand)
        except UnschedulableError:
            refused += 1
    elapsed = time.perf_counter_ns() - started
    return jobs / (elapsed / 1e9), refused


# ---- cold imports (fresh interpreters) -----------------------------------------------------------------------------

_IMPORT_HANDLER = """
import importlib.util, sys, time
t, c = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)
"""
_IMPORT_BASELINE = """
import importlib.util, sys, time
t, c = time.perf_counter(), time.process_time()
import boto3
boto3.client("dynamodb", region_name="us-east-1")
print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)
"""
LAYER_SOURCE = ROOT / "layers" / "batchplane"


def _child_env(layer: Path = LAYER_SOURCE) -> dict[str, str]:
    from tests.perf.harness import FAKE_AWS_ENV

    env = {k: v for k, v in os.environ.items() if k not in FAKE_AWS_ENV and k != "PYTHONPATH"}
    env.update({k: v for k, v in FAKE_AWS_ENV.items() if v is not None})
    env["PYTHONPATH"] = str(layer)
    return env


@contextlib.contextmanager
def compiled_layer() -> Iterator[Path]:
    """A temporary copy of the layer's package with the bytecode the built layer ships (layers/batchplane/Makefile):
    no __pycache__ of this checkout's, every module compiled by this Python in unchecked-hash mode. Yields the folder
    to put on PYTHONPATH: what an import loads from it does not depend on PYTHONDONTWRITEBYTECODE."""
    with tempfile.TemporaryDirectory(prefix="batchplane-layer-") as folder:
        shutil.copytree(
            LAYER_SOURCE / "batchplane", Path(folder) / "batchplane", ignore=shutil.ignore_patterns("__pycache__")
        )
        compiled = compileall.compile_dir(
            folder, quiet=1, force=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
        if not compiled:
            raise RuntimeError(f"the layer's package does not compile: {folder}")
        yield Path(folder)


def _import_ms(script: str, *args: str, env: dict[str, str]) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


@dataclass
class ColdImports:
    """Median ms to import each handler (``wall``, ``cpu``: elapsed and CPU time of the importing process) and the
    baseline's, from the same interleaved runs."""

    wall: dict[str, float]
    cpu: dict[str, float]
    baseline_wall: float
    baseline_cpu: float

    @property
    def ratio_max(self) -> float:
        return max(self.wall.values()) / self.baseline_wall

    @property
    def cpu_ratio_max(self) -> float:
        return max(self.cpu.values()) / self.baseline_cpu


def cold_imports(runs: int = 7, *, compiled: bool = True) -> ColdImports:
    """Import each functions/<name>/app.py in ``runs`` fresh interpreters, and the baseline (import boto3 + one
    DynamoDB client) the same way, runs interleaved. The layer's package is imported as the built layer ships it,
    with its bytecode (``compiled_layer``); ``compiled=False`` imports it from the checkout's sources instead (compiled
    in every run when PYTHONDONTWRITEBYTECODE is set, as it was measured before the layer shipped bytecode). The
    dependencies and boto3 come from this virtualenv, with their bytecode (boto3 has its bytecode in Lambda's runtime
    too). One unmeasured run of each first (the file cache)."""
    with contextlib.ExitStack() as stack:
        env = _child_env(stack.enter_context(compiled_layer()) if compiled else LAYER_SOURCE)
        targets: dict[str, tuple[str, ...]] = {
            name: (_IMPORT_HANDLER, str(ROOT / "functions" / name / "app.py")) for name in HANDLERS
        }
        targets["baseline"] = (_IMPORT_BASELINE,)
        for script_and_args in targets.values():
            _import_ms(*script_and_args, env=env)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
        for _ in range(runs):
            for name, script_and_args in targets.items():
                samples[name].append(_import_ms(*script_and_args, env=env))
    wall = {name: statistics.median(w for w, _ in values) for name, values in samples.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in samples.items()}
    return ColdImports(wall, cpu, wall.pop("baseline"), cpu.pop("baseline"))


def cold_imports_ms(runs: int = 7, *, compiled: bool = True) -> tuple[dict[str, float], float]:
    """Median ms to import each handler in a fresh interpreter, and the baseline's (``cold_imports``: elapsed time)."""
    measured = cold_imports(runs, compiled=compiled)
    return measured.wall, measured.baseline_wall


# ---- what a handler imports with tracing off and on (fresh interpreters) -------------------------------------------

_XRAY_ON_IMPORT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("aws_xray_sdk", "wrapt")})))
"""


_LOADED_ON_IMPORT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
from pydantic import BaseModel
def models(complete):
    return sorted(
        f"{name}.{value.__qualname__}"
        for name, mod in list(sys.modules.items())
        if name.startswith("batchplane.") and mod is not None
        for value in list(vars(mod).values())
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == name
        and value.__pydantic_complete__ is complete
    )
loaded = sorted({m.split(".")[0] for m in sys.modules})
built, deferred = models(True), models(False)
from batchplane import snapstart
snapstart.build_models()
print(json.dumps({"packages": loaded, "built": built, "deferred": deferred, "left_after_priming": models(False)}))
"""


def loaded_on_import(function: str) -> dict[str, list[str]]:
    """What importing functions/<function>/app.py in a fresh interpreter (tracing off) loads: ``packages``, the
    top-level packages in sys.modules; ``built`` and ``deferred``, batchplane's pydantic models whose validator was
    built at import or deferred to first use; ``left_after_priming``, the models still unbuilt after
    ``snapstart.build_models()`` (what SnapStart's priming calls)."""
    env = _child_env()
    env["POWERTOOLS_TRACE_DISABLED"] = "true"
    out = subprocess.run(
        [sys.executable, "-c", _LOADED_ON_IMPORT, str(ROOT / "functions" / function / "app.py")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    loaded: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def xray_modules_on_import(function: str, *, tracing: bool) -> list[str]:
    """The X-Ray SDK's top-level modules loaded by importing functions/<function>/app.py in a fresh interpreter,
    with Tracing off (POWERTOOLS_TRACE_DISABLED=true, as the template's default sets it) or on (false, in Lambda)."""
    env = _child_env()
    env["POWERTOOLS_TRACE_DISABLED"] = "false" if tracing else "true"
    env["AWS_LAMBDA_FUNCTION_NAME"] = f"batchplane-{function}"  # Powertools traces only inside Lambda
    out = subprocess.run(
        [sys.executable, "-c", _XRAY_ON_IMPORT, str(ROOT / "functions" / function / "app.py")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded
