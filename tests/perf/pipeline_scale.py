"""Pipelines at scale on the local stack: one pipeline of N trivial jobs, root -> N-2 leaves -> join, so one job fans
out to N-2 children (released as durable work on the stage queue) and N-2 jobs fan in to one. Measures the run's
end-to-end seconds, the Step Functions state transitions per job (from the execution history), and how many times
the local Batch ran the root and the join (each must be once). Run by tests.perf.bench; alone:
`PYTHONPATH=layers/batchplane:local:. python -m tests.perf.pipeline_scale 10000`."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.perf.local_dag import ROOT, run_fresh

MAP_LIMIT = 1000  # a pipeline job's map takes at most 1,000 items


def fan(n: int) -> dict[str, Any]:
    """root -> n-2 leaves (mapped jobs of up to 1,000 items each) -> join: n jobs after map expansion."""
    width = n - 2
    leaves = [
        {
            "id": f"leaf{k}",
            "command": ["true"],
            "dependsOn": ["root"],
            "map": [{"i": str(i)} for i in range(k * MAP_LIMIT, min(width, (k + 1) * MAP_LIMIT))],
        }
        for k in range((width + MAP_LIMIT - 1) // MAP_LIMIT)
    ]
    return {
        "name": f"fan{n}",
        "onFailure": "fail-fast",
        "jobs": [
            {"id": "root", "command": ["true"]},
            *leaves,
            {"id": "join", "command": ["true"], "dependsOn": [leaf["id"] for leaf in leaves]},
        ],
    }


def local_stack_run(n: int, timeout: float = 3600.0) -> dict[str, Any]:
    from batchplane_local.stack.runtime import LocalStack

    stack = LocalStack(ROOT, sweep_interval=None, vcpus={"spot": 2, "on-demand": 2})
    stack.start()
    try:
        client = httpx.Client(base_url=stack.serve_api(0), timeout=120)
        started = time.perf_counter()
        created = client.post("/pipelines", json=fan(n))
        created.raise_for_status()
        accepted = time.perf_counter() - started
        pid = created.json()["pipelineId"]
        status = "RUNNING"
        while status == "RUNNING" and time.perf_counter() - started < timeout:
            time.sleep(1.0)
            answer = client.get("/pipelines", params={"limit": 10})
            if answer.status_code != 200:  # a poll the loaded local stack did not answer in time: poll again
                continue
            status = next((p["status"] for p in answer.json()["pipelines"] if p["pipelineId"] == pid), "RUNNING")
        elapsed = time.perf_counter() - started
        history = stack.execution_history(pid) or {"runs": []}
        entered = sum(r["stateEntered"] for r in history["runs"])
        events = sum(sum(r["events"].values()) for r in history["runs"])
        batch = client.get("/_local/batch/jobs").json()
        names = [str(j["jobName"]) for j in batch["jobs"]]  # bp-<jobId>-a<attempt>-<pipeline job id>
        return {
            "jobs": n,
            "status": status,
            "seconds": round(elapsed, 1),
            "create_seconds": round(accepted, 2),
            "jobs_per_s": round(n / elapsed, 1),
            "transitions_per_job": round(entered / n, 5),
            "history_events": events,
            "root_runs": sum(1 for x in names if x.endswith("-root")),
            "join_runs": sum(1 for x in names if x.endswith("-join")),
            "batch_jobs": len(names),
        }
    finally:
        stack.stop()


def local_stack_run_fresh(n: int, timeout: float = 3600.0) -> dict[str, Any]:
    """`local_stack_run` in a fresh interpreter (one local stack per process)."""
    return run_fresh("tests.perf.pipeline_scale", [str(n)], timeout)


if __name__ == "__main__":
    import json
    import sys

    print("RESULT " + json.dumps(local_stack_run(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)), flush=True)
