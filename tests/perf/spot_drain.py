"""A Spot-starved backlog drained to On-Demand on the local stack: ``n`` spot-first jobs queued on a Spot environment
with no capacity (max vCPUs 0), timed from the first submission until every job has an On-Demand attempt submitted.

AWS Batch puts the capacity reason on the job at the head of the queue only (the local Batch does the same), so the
sweeper judges the queue, not each job: once the head is known blocked, every job behind it past its dwell moves in
the same sweep. The bound is dwell + one sweep interval + the submissions at Batch's 50 SubmitJob/s. Run by
tests.perf.bench (``python -m tests.perf.spot_drain N`` alone)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
DWELL_SECONDS = 5  # the jobs' stuckRunnableSeconds (the minimum; AWS default 300)
SWEEP_SECONDS = 2.0  # the local stack's sweeper interval (AWS: rate(1 minute))


def _submit(client: httpx.Client, i: int) -> None:
    body = {"name": f"starved-{i}", "command": ["true"], "retry": {"stuckRunnableSeconds": DWELL_SECONDS}}
    while True:
        r = client.post("/jobs", json=body, headers={"Idempotency-Key": f"drain-{i}"})
        if r.status_code != 429:  # the SubmitJob rate: wait as told, same key
            r.raise_for_status()
            return
        time.sleep(float(r.headers.get("Retry-After", "1")))


def drain_run(n: int, timeout: float = 300.0) -> dict[str, float | None]:
    """Seconds from the first submission until all ``n`` jobs have an On-Demand attempt (None: not within timeout)."""
    from batchplane_local.stack.runtime import LocalStack

    stack = LocalStack(ROOT, sweep_interval=SWEEP_SECONDS, vcpus={"spot": 0, "on-demand": 2})
    stack.start()
    try:
        client = httpx.Client(base_url=stack.serve_api(0), timeout=60)
        started = time.perf_counter()
        for i in range(n):
            _submit(client, i)
        submitted = time.perf_counter() - started
        moved = 0
        while time.perf_counter() - started < timeout:
            jobs = client.get("/_local/batch/jobs").json()["jobs"]
            moved = len({j["jobName"] for j in jobs if "-a2-starved-" in j["jobName"]})
            if moved >= n:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        return {"seconds": round(elapsed, 2) if moved >= n else None, "submit_seconds": round(submitted, 2)}
    finally:
        stack.stop()


def drain_run_fresh(n: int, timeout: float = 300.0) -> dict[str, float | None]:
    """`drain_run` in a fresh interpreter (one local stack per process)."""
    from tests.perf.local_dag import run_fresh

    return run_fresh("tests.perf.spot_drain", [str(n)], timeout)


if __name__ == "__main__":
    print("RESULT " + json.dumps(drain_run(int(sys.argv[1]) if len(sys.argv) > 1 else 100)), flush=True)
