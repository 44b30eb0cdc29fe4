"""Admission's measures (issue #10), on moto in-process: AWS calls per admission, counted; the account-wide SubmitJob
rate under several dispatcher invocations (100 tenants): the most SubmitJob calls in any one-second window, and what
share of the rate is sustained; admission latency (accepted → SubmitJob) with free capacity, p50/p99.

moto in one process is not safe for concurrent DynamoDB transactions, so its request handling is serialised with a
lock here (AWS needs no such thing: its conditional writes decide)."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.apigw import http_event
from tests.integration.conftest import Plane
from tests.perf.measures import CallCount, quiet


@contextmanager
def serialised_moto() -> Iterator[None]:
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.Lock()
    original = BotocoreStubber.__call__

    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    BotocoreStubber.__call__ = locked  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.__call__ = original  # type: ignore[method-assign]


def _as_dispatcher(plane: Plane) -> Any:
    """Run as the dispatcher's role where the stack enforces IAM (the tests), else as is (the bench)."""
    import contextlib

    return plane.stack.acting_as("dispatcher") if "dispatcher" in plane.stack.principals else contextlib.nullcontext()


def _submit(plane: Plane, i: int, tenants: int) -> str:
    event = http_event(
        "POST",
        "/jobs",
        body={"name": f"a{i}", "command": ["true"]},
        caller=f"arn:aws:iam::123456789012:user/t{i % tenants}",
    )
    response = plane.gateway.lambda_handler(event, plane.ctx)
    assert response["statusCode"] == 202, response["body"]
    return str(response["body"])


def calls_per_admission(plane: Plane, n: int) -> tuple[CallCount, int]:
    """Submit ``n`` jobs, then one dispatcher tick admits them: (its calls, how many of them were per tick)."""
    from batchplane import wiring
    from batchplane.services.dispatcher import DispatchReport

    with quiet():
        _submit(plane, 0, 1)
        with _as_dispatcher(plane):
            wiring.dispatcher().tick(DispatchReport())  # reads the pools from Batch once
        for i in range(n):
            _submit(plane, i + 1, 10)
    calls = plane.stack.calls
    before = Counter(calls.counts)
    report = DispatchReport()
    with quiet(), _as_dispatcher(plane):
        wiring.dispatcher().tick(report)
    made = Counter(calls.counts)
    made.subtract(before)
    made = +made
    per_job = made.get("batch.SubmitJob", 0) + made.get("dynamodb.TransactWriteItems", 0)
    counted = sum(made.values())
    return CallCount(units=len(report.admitted), counted=counted, calls=dict(made), outcomes={}), counted - per_job


@dataclass(frozen=True)
class RateRun:
    rate: float
    submitted: int
    seconds: float
    max_in_any_second: int
    sustained_share: float  # SubmitJob calls per second over the busy span / rate (busy_span's)
    invocations: int
    skipped: int
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    errors: tuple[str, ...] = ()


def max_in_window(stamps: list[float], window: float = 1.0) -> int:
    best, start = 0, 0
    for end, t in enumerate(stamps):
        while t - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def rate_run(
    plane: Plane,
    *,
    jobs: int,
    tenants: int = 100,
    invocations: int = 4,
    seconds: float = 6.0,
    rate_per_second: float = 50.0,
) -> RateRun:
    """``jobs`` queued across ``tenants``, then ``invocations`` dispatcher invocations started at once (each its own
    container: its own lease owner), each ticking for ``seconds``: when was each SubmitJob made?"""
    from batchplane import wiring

    from tests.perf.harness import environ

    with quiet():
        for i in range(jobs):
            _submit(plane, i, tenants)
    with environ({"SUBMIT_JOBS_PER_SECOND": str(rate_per_second)}):
        wiring.reset()
        return _rate_run(plane, jobs, invocations, seconds)


def busy_span(stamps: list[float], ended: float, queued: int) -> float:
    """The span the dispatcher had work to send: from its first SubmitJob to its invocations' end while jobs were
    still queued (so a burst early in the run does not pass for a sustained rate), else to its last SubmitJob."""
    if len(stamps) < 2:
        return 0.0
    return (ended if len(stamps) < queued else stamps[-1]) - stamps[0]


def _rate_run(plane: Plane, jobs: int, invocations: int, seconds: float) -> RateRun:
    from batchplane import wiring
    from batchplane.services.dispatcher import DispatchReport

    stamps: list[float] = []
    session = __import__("batchplane.adapters.aws", fromlist=["session"]).session()

    def on_call(model: Any, **_: Any) -> None:
        if model.name == "SubmitJob":
            stamps.append(time.monotonic())

    session.events.register("before-call.batch.SubmitJob", on_call)
    reports: list[DispatchReport] = []
    errors: list[str] = []
    base = wiring.dispatcher()

    def invoke(n: int) -> None:
        import copy

        mine = copy.copy(base)
        mine._owner = f"container-{n}"
        with _as_dispatcher(plane):
            try:
                reports.append(mine.run(seconds, 0.05))
            except Exception as err:  # noqa: BLE001 - reported, the run goes on
                errors.append(repr(err))

    with quiet(), serialised_moto():
        threads = [threading.Thread(target=invoke, args=(n,)) for n in range(invocations)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ended = time.monotonic()
    session.events.unregister("before-call.batch.SubmitJob", on_call)
    stamps.sort()
    rate = base._rate
    busy = busy_span(stamps, ended, jobs)
    return RateRun(
        rate=rate,
        submitted=len(stamps),
        seconds=round(busy, 2),
        max_in_any_second=max_in_window(stamps),
        sustained_share=round((len(stamps) - 1) / busy / rate, 3) if busy else 0.0,
        invocations=invocations,
        skipped=sum(1 for r in reports if r.skipped),
        errors=tuple(errors),
    )


def latency_run(plane: Plane, *, jobs: int = 100, tenants: int = 100) -> tuple[float, float]:
    """Admission latency with free capacity: one dispatcher invocation ticking in the background while jobs arrive
    one by one; from the gateway's answer to the job's SubmitJob. (p50 ms, p99 ms)"""
    from batchplane import wiring

    accepted: dict[str, float] = {}
    submitted: dict[str, float] = {}
    session = __import__("batchplane.adapters.aws", fromlist=["session"]).session()

    def on_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "SubmitJob":
            job_id = str(params.get("tags", {}).get("batchplane:jobId", ""))
            submitted.setdefault(job_id, time.monotonic())

    session.events.register("provide-client-params.batch.SubmitJob", on_call)
    done = threading.Event()

    def dispatch() -> None:
        with _as_dispatcher(plane):
            while not done.is_set():
                wiring.dispatcher().run(0.5, 0.02)

    import json

    with quiet(), serialised_moto():
        worker = threading.Thread(target=dispatch)
        worker.start()
        for i in range(jobs):
            body = json.loads(_submit(plane, i, tenants))
            accepted[body["jobId"]] = time.monotonic()
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while len(submitted) < jobs and time.monotonic() < deadline:
            time.sleep(0.05)
        done.set()
        worker.join()
    session.events.unregister("provide-client-params.batch.SubmitJob", on_call)
    waits = sorted((submitted[j] - t) * 1000 for j, t in accepted.items() if j in submitted)
    p99 = statistics.quantiles(waits, n=100)[-1] if len(waits) >= 2 else waits[-1]
    return round(statistics.median(waits), 1), round(p99, 1)
