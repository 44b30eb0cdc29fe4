"""Import time and first-request time of each handler, in fresh interpreters, with AWS stubbed (botocore before-send
answers canned responses: no moto, no network), so the figures are the handlers' own.

Per handler: ``import_ms`` (Lambda's init without SnapStart), ``first_ms`` (the first request of a fresh container:
clients made, services built, models and resolver warmed on the request path), ``primed_first_ms`` (the first
request after the SnapStart before-snapshot hook ran, i.e. what a restored environment pays, restore itself aside),
``warm_ms`` (a second request). The child prints one JSON line. The handlers import boto3 on first use, but this
child's own scaffolding (the stubs, the sample events) imports it before the timed request: ``first_ms`` leaves out
what importing boto3 costs a cold container's first request (about ``cold_import_baseline_ms`` less one client). The
layer's package is imported with its bytecode, as the built layer ships it (``measures.compiled_layer``)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

from tests.perf.measures import ROOT, _child_env, compiled_layer

ARN = "arn:aws:batch:us-east-1:123456789012"
SNAPSTARTED = ("gateway", "job_events")  # the functions template.yaml publishes with SnapStart (they have `prime`)
_CHILD = """
import importlib.util, json, sys, time
function, primed = sys.argv[1], sys.argv[2] == "primed"
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", f"functions/{function}/app.py")
app = importlib.util.module_from_spec(spec)
sys.modules["app"] = app
spec.loader.exec_module(app)
import_ms = (time.perf_counter() - t) * 1000

sys.path.insert(0, ".")
from tests.perf.first_request import request_for, stub_all
stub_all()
if primed:
    from batchplane import snapstart
    app.prime()
    snapstart.run_after_restore()
event, context = request_for(function)
times = []
for _ in range(2):
    t = time.perf_counter()
    app.lambda_handler(event(), context)
    times.append((time.perf_counter() - t) * 1000)
print(json.dumps({"import_ms": import_ms, "first_ms": times[0], "warm_ms": times[1]}))
"""


def stub_all() -> None:
    """Answer every AWS call the three handlers make on their first request with a canned response."""
    from batchplane.adapters import aws as aws_clients

    from tests.perf.harness import stub_aws

    ddb = "application/x-amz-json-1.0"
    submitted = {"jobArn": f"{ARN}:job/0b1e7a0e-0000-4000-8000-000000000000", "jobName": "bp", "jobId": "0b1e7a0e"}
    aws_clients.session().events.register_first(
        "before-send",
        stub_aws(
            {
                "dynamodb.PutItem": (200, {}, ddb),
                "dynamodb.UpdateItem": (200, {}, ddb),
                "dynamodb.TransactWriteItems": (200, {}, ddb),  # POST /jobs: the QUEUED job written with its claim
                "dynamodb.Query": (200, {"Items": [], "Count": 0, "ScannedCount": 0}, ddb),
                "batch.SubmitJob": (200, submitted, "application/json"),
            }
        ),
    )


def request_for(function: str) -> tuple[Any, Any]:
    """(a maker of the function's usual request, a Lambda context): POST /jobs, a RUNNING event, a sweep."""
    from tests.apigw import http_event
    from tests.batchevents import batch_event
    from tests.handlers import FakeLambdaContext

    if function == "gateway":
        return (lambda: http_event("POST", "/jobs", body={"name": "first", "command": ["true"]})), FakeLambdaContext()
    if function == "job_events":
        queue = f"{ARN}:job-queue/batchplane-test_normal_spot"
        job_id = "01JCZ3V7W8X9Y0Z1A2B3C4D5E6"

        def event() -> dict[str, Any]:
            return batch_event("RUNNING", job_id=job_id, attempt=1, batch_job_id="b-1", queue_arn=queue, name="first")

        return event, FakeLambdaContext()
    return (lambda: {"source": "aws.events", "detail-type": "Scheduled Event"}), FakeLambdaContext()


def first_requests_ms(functions: tuple[str, ...], runs: int = 3) -> dict[str, dict[str, float]]:
    """Median figures per handler over ``runs`` fresh interpreters each, cold and primed."""
    from tests.perf.harness import functions_env

    definitions = {"sample": f"{ARN}:job-definition/s:1", "mnp-sample": f"{ARN}:job-definition/m:1"}
    out: dict[str, dict[str, float]] = {}
    with compiled_layer() as layer:  # the layer's package with its bytecode, as the built layer ships it
        env = _child_env(layer)
        env["PYTHONPATH"] = f"{layer}:{ROOT}:{ROOT / 'local'}"
        env.update(functions_env(f"{ARN}:job-queue/batchplane-test_", definitions))
        for function in functions:
            samples: dict[str, list[float]] = {"import_ms": [], "first_ms": [], "primed_first_ms": [], "warm_ms": []}
            for _ in range(runs):
                cold = _run(function, "cold", env)
                samples["import_ms"].append(cold["import_ms"])
                samples["first_ms"].append(cold["first_ms"])
                samples["warm_ms"].append(cold["warm_ms"])
                if function in SNAPSTARTED:
                    samples["primed_first_ms"].append(_run(function, "primed", env)["first_ms"])
            out[function] = {k: round(statistics.median(v), 1) for k, v in samples.items() if v}
    return out


def _run(function: str, mode: str, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, function, mode], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":  # pragma: no cover - a quick look: python -m tests.perf.first_request
    print(json.dumps(first_requests_ms(("gateway", "job_events", "sweeper"), runs=1), indent=2))
