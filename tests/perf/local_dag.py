"""The same DAG of trivial commands (fan-out then fan-in: split, n-2 work jobs, merge) on the local stack, on
`make -j2` (the floor) and on Snakemake (a peer, from the bench's own virtualenv), and the Step Functions state
transitions per pipeline job counted from the execution history. Run by tests.perf.bench."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from batchplane.domain.ratelimit import ACCOUNT_SUBMIT_JOBS_PER_SECOND

ROOT = Path(__file__).resolve().parents[2]


def dag(n: int, *, array: bool = False) -> dict[str, Any]:
    """split -> n-2 work jobs -> merge. The work stage as a ``map`` (n-2 jobs, one SubmitJob each), or with ``array``
    as one array job of n-2 children (one SubmitJob; Batch runs, and reports, each child as a job of its own)."""
    work: dict[str, Any] = {"id": "work", "command": ["true"], "dependsOn": ["split"]}
    if array:
        work["arraySize"] = n - 2
    else:
        work["map"] = [{"i": str(i)} for i in range(n - 2)]
    return {
        "name": f"dag{n}",
        "onFailure": "fail-fast",
        "jobs": [
            {"id": "split", "command": ["true"]},
            work,
            {"id": "merge", "command": ["true"], "dependsOn": ["work"]},
        ],
    }


def submit_floor_s(n: int) -> float:
    """The least time AWS allows an n-job DAG submitted one SubmitJob per job: Batch's fixed quota of 50 SubmitJob
    calls a second per account (AWS Batch User Guide, "Service quotas"), the split and merge one each."""
    return round(n / ACCOUNT_SUBMIT_JOBS_PER_SECOND, 2)


def local_stack_run(n: int, timeout: float = 900.0, *, array: bool = False) -> dict[str, float | None]:
    """Wall seconds for an n-job DAG on the local stack, state transitions per job of its execution, and how many
    SubmitJob calls Batch's account rate refused (the dispatcher keeps under it: 0)."""
    from batchplane_local.stack.runtime import LocalStack

    # The sweeper at the template's own rate (it is a safety net: a pipeline never waits on it).
    stack = LocalStack(ROOT, sweep_interval=None, vcpus={"spot": 2, "on-demand": 2})
    stack.start()
    try:
        base = stack.serve_api(0)
        client = httpx.Client(base_url=base, timeout=60)
        started = time.perf_counter()
        pid = client.post("/pipelines", json=dag(n, array=array)).json()["pipelineId"]
        status = "RUNNING"
        while status == "RUNNING" and time.perf_counter() - started < timeout:
            time.sleep(0.5)
            # The list reads pipeline items only; GET /pipelines/{id} reads every job of it (n items per poll).
            listed = client.get("/pipelines", params={"limit": 10}).json()["pipelines"]
            status = next((p["status"] for p in listed if p["pipelineId"] == pid), "RUNNING")
        elapsed = time.perf_counter() - started
        if status != "SUCCEEDED":
            return {"seconds": None, "transitions_per_job": None, "throttled": None}
        history = stack.execution_history(pid) or {"runs": []}
        entered = sum(r["stateEntered"] for r in history["runs"])
        # SubmitJob calls the local Batch refused as over the account's 50 a second (AWS's TooManyRequestsException)
        throttled = stack.batch.submit_rate.refused if stack.batch.submit_rate is not None else None
        return {"seconds": round(elapsed, 2), "transitions_per_job": round(entered / n, 3), "throttled": throttled}
    finally:
        stack.stop()


def make_run(n: int) -> float:
    """The floor: the same DAG as a Makefile, `make -j2`."""
    with tempfile.TemporaryDirectory() as tmp:
        lines = ["all: merge", "split:\n\t@true\n\ttouch split"]
        works = [f"w{i}" for i in range(n - 2)]
        lines += [f"{w}: split\n\t@true\n\ttouch {w}" for w in works]
        lines.append(f"merge: {' '.join(works)}\n\t@true\n\ttouch merge")
        (Path(tmp) / "Makefile").write_text("\n".join(lines) + "\n")
        started = time.perf_counter()
        subprocess.run(["make", "-s", "-j2"], cwd=tmp, check=True, capture_output=True)
        return round(time.perf_counter() - started, 3)


SNAKEFILE = """\
N = {works}
rule all:
    input: "merge"
rule split:
    output: "split"
    shell: "true; touch {{output}}"
rule work:
    input: "split"
    output: "w/{{i}}"
    shell: "true; touch {{output}}"
rule merge:
    input: expand("w/{{i}}", i=range(N))
    output: "merge"
    shell: "true; touch {{output}}"
"""


def snakemake_bin() -> str | None:
    """Snakemake from the bench's virtualenv (`make bench` installs it there), or SNAKEMAKE, or None."""
    for candidate in (os.environ.get("SNAKEMAKE"), str(ROOT / ".venv-bench" / "bin" / "snakemake")):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("snakemake")


def snakemake_run(n: int) -> float | None:
    """A peer: the same DAG as a Snakefile, `snakemake -j2 --quiet` (None when Snakemake is not installed)."""
    exe = snakemake_bin()
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "Snakefile").write_text(SNAKEFILE.format(works=n - 2))
        started = time.perf_counter()
        # the run happens in a temporary directory: a relative path to the executable must not depend on it
        command = [str(Path(exe).resolve()), "all", "-j2", "--quiet"]
        subprocess.run(command, cwd=tmp, check=True, capture_output=True)
        return round(time.perf_counter() - started, 3)


def local_stack_run_fresh(n: int, timeout: float = 900.0, *, array: bool = False) -> dict[str, float | None]:
    """`local_stack_run` in a fresh interpreter: a local stack is one per process (moto's state and the functions'
    warm clients live in it), as one deployment is one per account."""
    return run_fresh("tests.perf.local_dag", [str(n), "--local-only", *(["--array"] if array else [])], timeout)


def run_fresh(module: str, args: list[str], timeout: float) -> dict[str, float | None]:
    """Run ``python -m module args`` in a fresh interpreter and return the JSON it prints after ``RESULT ``."""
    import json
    import sys

    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout + 60,
    )
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith("RESULT "))
    result: dict[str, float | None] = json.loads(line.removeprefix("RESULT "))
    return result


Run = tuple[float | None, float | None, float, float | None]  # local stack (map), local stack (array), make, Snakemake
Compared = tuple[list[Run], Any, int | None]  # every run, the last map run's transitions per job, SubmitJob throttled


def compare(n: int, repeats: int, log: Any = print) -> Compared:
    """The local stack (a fresh interpreter each time) with the work stage as a map and as an array, make -j2 and
    Snakemake, one after another, ``repeats`` times: a run varies by a third between runs on a shared 2-core machine,
    so the four are interleaved and compared by their medians. (every run's seconds; the transitions per job of the
    last map run; SubmitJob calls refused as over Batch's rate, over all local runs)"""
    runs: list[Run] = []
    transitions = None
    throttled: int | None = 0
    for repeat in range(repeats):
        log(
            f"local DAG {repeat + 1}/{repeats}: {n:,} jobs on the local stack (map, array), make -j2, {snakemake_bin()}"
        )
        local = local_stack_run_fresh(n)
        transitions = local["transitions_per_job"]
        array = local_stack_run_fresh(n, array=True)
        for run in (local, array):
            refused = run.get("throttled")
            throttled = None if throttled is None or refused is None else throttled + int(refused)
        runs.append((local["seconds"], array["seconds"], make_run(n), snakemake_run(n)))
    return runs, transitions, throttled


def medians(runs: list[Run]) -> list[float | None]:
    """The median of each column; None for a column with a run missing."""
    import statistics

    columns = [[r[i] for r in runs] for i in range(len(runs[0]) if runs else 0)]
    return [round(statistics.median(c), 3) if c and None not in c else None for c in columns]  # type: ignore[type-var]


if __name__ == "__main__":
    import json
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    if "--local-only" in sys.argv:
        print("RESULT " + json.dumps(local_stack_run(size, array="--array" in sys.argv)), flush=True)
    else:
        # --repeat N: the three interleaved N times, each run and the medians printed
        repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
        all_runs, _, refused = compare(size, repeat)
        for run in all_runs:
            print(size, *run)
        local_s, array_s, make_s, snake_s = medians(all_runs)
        print("medians: map", local_s, "array", array_s, "make", make_s, "snakemake", snake_s)
        for form, seconds in (("map", local_s), ("array", array_s)):
            ratios = [round(seconds / other, 2) if seconds and other else None for other in (make_s, snake_s)]
            print(form, "local/make", ratios[0], "local/snakemake", ratios[1])
        print("SubmitJob floor of the map form", submit_floor_s(size), "s; SubmitJob throttled", refused)
