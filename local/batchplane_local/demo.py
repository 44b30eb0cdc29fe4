"""`make demo`: the control plane at work on this machine, with live progress.

Starts the local stack (the same handlers as in AWS; moto for AWS; local compute environments that really run jobs),
then, over the HTTP API only: jobs across the four priority classes, a Spot reclaim falling back to On-Demand, an
out-of-memory job escalated and succeeding, an application failure retried with backoff, a job stuck RUNNABLE for
Spot capacity moved to On-Demand; then each job's lineage as a tree; then two tenants sharing the capacity while one
is held to a 1-vCPU quota (demo_admission.py). Exits 0 when every expectation held."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from batchplane_local import demo_admission
from batchplane_local.cli.lineage import lineage_tree
from batchplane_local.client import BatchplaneClient
from batchplane_local.stack.runtime import LocalStack

console = Console()
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
RECLAIMED = 'if [ "$BATCHPLANE_ATTEMPT" = 1 ]; then sleep 120; fi; echo finished'


@dataclass
class Scenario:
    title: str
    body: dict[str, Any]
    expect: Callable[[dict[str, Any]], str | None]  # None when the job ended as expected, else what went wrong
    during: Callable[[BatchplaneClient, dict[str, Any]], None] | None = None
    job_id: str = ""
    job: dict[str, Any] = field(default_factory=dict)
    acted: bool = False


def _attempts(job: dict[str, Any]) -> str:
    return " → ".join(
        f"a{a['attempt']}:{a['reason']}/{a['capacity']}/{a['status']}"
        + (f"(exit {a['exitCode']})" if a.get("exitCode") not in (None, 0) else "")
        for a in job.get("attempts", [])
    )


def _table(scenarios: list[Scenario]) -> Table:
    table = Table(title="batchplane local demo", expand=True)
    for col in ("scenario", "job", "queue", "status", "attempts"):
        table.add_column(col, overflow="fold")
    for s in scenarios:
        job = s.job
        status = job.get("status", "…")
        style = {"SUCCEEDED": "green", "FAILED": "red"}.get(status, "yellow")
        table.add_row(s.title, s.job_id[-8:], job.get("queue", ""), f"[{style}]{status}[/]", _attempts(job))
    return table


def _expect(status: str, reasons: list[str], **last: Any) -> Callable[[dict[str, Any]], str | None]:
    def check(job: dict[str, Any]) -> str | None:
        got = [a["reason"] for a in job["attempts"]]
        if job["status"] != status or got != reasons:
            return f"expected {status} with attempts {reasons}, got {job['status']} with {got}"
        for key, value in last.items():
            if job["attempts"][-1].get(key) != value:
                return f"expected the last attempt's {key} to be {value!r}, got {job['attempts'][-1].get(key)!r}"
        return None

    return check


def _interrupt_when_running(client: BatchplaneClient, job: dict[str, Any]) -> None:
    if job["attempts"] and job["attempts"][0]["status"] == "RUNNING" and len(job["attempts"]) == 1:
        client._http.post("/_local/interrupt", json={"jobId": job["jobId"]})


def run(stack_root: Path, timeout: float = 150.0) -> int:
    marker = Path(tempfile.mkdtemp(prefix="batchplane-demo-")) / "flaky-once"
    console.rule("[bold]batchplane local demo")
    console.print("starting the local stack from template.yaml …")
    stack = LocalStack(stack_root, sweep_interval=0.5, vcpus={"spot": 4, "on-demand": 4})
    stack.start()
    url = stack.serve_api(0)
    console.print(f"local stack ready at {url}: {len(stack.functions)} functions, {len(stack.routes)} routes")
    console.print(f"web console (while the demo runs): [bold]{url}/console/[/]", soft_wrap=True)
    client = BatchplaneClient(url)
    failures: list[str] = []
    try:
        _scenarios(client, marker, timeout, failures)
        demo_admission.run(url, console, timeout, failures)
    except Exception as exc:  # noqa: BLE001 - whatever stopped the demo is one more expectation not met, reported
        failures.append(f"the demo stopped early: {exc!r}")
    finally:
        client.close()
        stack.stop()
    return report(failures)


def report(failures: list[str]) -> int:
    """Print every expectation that was not met (or that all held); the exit code: 1 if any was not met."""
    if failures:
        console.print("[bold red]expectations not met:[/]")
        for f in failures:
            console.print(f"  • {f}")
        return 1
    console.print("[bold green]every expectation held[/]")
    return 0


def _scenarios(client: BatchplaneClient, marker: Path, timeout: float, failures: list[str]) -> None:
    """Every scenario, each judged on its own: a failed one is recorded in ``failures`` and the others still run."""
    # Real jobs hold what they allocate while they work. The local engine enforces memory by sampling the process
    # tree's RSS (the kernel would kill at once), so a job that allocated and exited between two samples could slip
    # through on a loaded machine: the first attempt holds its 150 MiB until it is killed, the second (200 MiB) exits.
    hog = (
        "import os, time; x = bytearray(150 * 1024 * 1024); print('allocated 150 MiB'); "
        "time.sleep(120 if os.environ.get('BATCHPLANE_ATTEMPT') == '1' else 0)"
    )
    flaky = f"if [ -e {marker} ]; then echo second time lucky; else touch {marker}; exit 3; fi"
    scenarios = [
        Scenario(
            f"{p} priority",
            {"name": f"hello-{p}", "priority": p, "command": ["sh", "-c", f"echo hello from the {p} class"]},
            _expect("SUCCEEDED", ["initial"]),
        )
        for p in ("low", "normal", "high", "urgent")
    ]
    scenarios += [
        Scenario(
            "Spot reclaim → On-Demand",
            # the first attempt runs until it is reclaimed (whenever the demo sees it RUNNING, however loaded the
            # machine), the On-Demand one finishes at once: no race between a fixed sleep and the reclaim
            {"name": "reclaimed", "command": ["sh", "-c", RECLAIMED]},
            _expect("SUCCEEDED", ["initial", "spot-fallback"], capacity="on-demand"),
            during=_interrupt_when_running,
        ),
        Scenario(
            "OOM → memory x2",
            {"name": "hungry", "memoryMiB": 100, "command": [sys.executable, "-c", hog], "retry": {"attempts": 2}},
            _expect("SUCCEEDED", ["initial", "memory-escalation"], memoryMiB=200),
        ),
        Scenario(
            "app error → retry with backoff",
            {
                "name": "flaky",
                "command": ["sh", "-c", flaky],
                "retry": {"attempts": 3, "backoff": {"baseSeconds": 1, "maxSeconds": 2}},
            },
            _expect("SUCCEEDED", ["initial", "retry"]),
        ),
    ]
    _play(client, scenarios, timeout, failures)
    console.print("\n[bold]Spot capacity drops to 0:[/] a spot-first job waits RUNNABLE, then moves On-Demand")
    client._http.put("/_local/capacity", json={"capacity": "spot", "maxVcpus": 0})
    stuck = [
        Scenario(
            "stuck RUNNABLE → On-Demand",
            {"name": "stuck", "command": ["sh", "-c", "echo ran on demand"], "retry": {"stuckRunnableSeconds": 5}},
            _expect("SUCCEEDED", ["initial", "capacity-fallback"], capacity="on-demand"),
        )
    ]
    try:
        _play(client, stuck, timeout, failures)
    finally:
        client._http.put("/_local/capacity", json={"capacity": "spot", "maxVcpus": 4})
    console.rule("lineage")
    for s in scenarios[4:] + stuck:
        console.print(lineage_tree(client.lineage(s.job_id)))
    logs = client.logs(scenarios[0].job_id)
    console.print(f"\nlogs of {scenarios[0].title}: {logs['lines']}")


def _play(client: BatchplaneClient, scenarios: list[Scenario], timeout: float, failures: list[str]) -> bool:
    for s in scenarios:
        s.job = client.submit(s.body, idempotency_key=None)
        s.job_id = s.job["jobId"]
    deadline = time.monotonic() + timeout
    with Live(_table(scenarios), console=console, refresh_per_second=4) as live:
        while time.monotonic() < deadline:
            for s in scenarios:
                if s.job.get("status") not in TERMINAL or len(s.job.get("attempts", [])) == 0:
                    s.job = client.get(s.job_id)
                if s.during is not None and s.job.get("status") not in TERMINAL:
                    s.during(client, s.job)
            live.update(_table(scenarios))
            if all(s.job.get("status") in TERMINAL for s in scenarios):
                break
            time.sleep(0.3)
    ok = True
    for s in scenarios:
        problem = s.expect(s.job) if s.job.get("status") in TERMINAL else f"did not finish in {timeout:.0f}s"
        if problem:
            failures.append(f"{s.title}: {problem}")
            ok = False
    return ok
