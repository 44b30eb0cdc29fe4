"""`make demo`'s admission scenario: two tenants share the capacity while one of them is held to a 1-vCPU quota.

Tenant "capped" may run 1 vCPU at a time (set by the local user, the admin, with PUT /quotas); tenant "shared" has
no quota. Each submits three 1-vCPU jobs at once. Expected: capped's jobs run one at a time (the others wait QUEUED,
their ``waiting`` naming the quota), shared's start at once, and all six succeed."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

from batchplane_local.client import BatchplaneClient

ACCOUNT = "123456789012"
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
STARTED = {"STARTING", "RUNNING", "SUCCEEDED"}


def run(url: str, console: Console, timeout: float, failures: list[str]) -> None:
    console.rule("[bold]admission: a 1-vCPU quota holds one tenant while another shares the rest")
    admin = BatchplaneClient(url)
    capped, shared = BatchplaneClient(url, tenant="capped"), BatchplaneClient(url, tenant="shared")
    try:
        admin.set_quota(f"arn:aws:iam::{ACCOUNT}:user/capped", {"maxRunningVcpus": 1})
        body = {"vcpus": 1, "command": ["sh", "-c", "sleep 1; echo done"]}
        jobs: dict[str, list[str]] = {
            "capped": [capped.submit({**body, "name": f"capped-{i}"})["jobId"] for i in range(3)],
            "shared": [shared.submit({**body, "name": f"shared-{i}"})["jobId"] for i in range(3)],
        }
        _watch(console, {"capped": capped, "shared": shared}, jobs, timeout, failures)
    finally:
        for client in (admin, capped, shared):
            client.close()


def _watch(
    console: Console,
    clients: dict[str, BatchplaneClient],
    jobs: dict[str, list[str]],
    timeout: float,
    failures: list[str],
) -> None:
    most_capped, shown, shared_started_while_capped_waits = 0, False, False
    views: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for tenant, ids in jobs.items():
            for job_id in ids:
                views[job_id] = clients[tenant].get(job_id)
        capped = [views[j] for j in jobs["capped"]]
        running = sum(1 for v in capped if v["status"] in {"STARTING", "RUNNING"})
        most_capped = max(most_capped, running)
        waiting = [v for v in capped if v["status"] == "QUEUED" and v.get("waiting")]
        if waiting and not shown:
            console.print(f"capped's job {waiting[-1]['jobId'][-8:]} waits: {waiting[-1]['waiting']['reason']}")
            shown = True
        if waiting and all(views[j]["status"] in STARTED for j in jobs["shared"]):
            shared_started_while_capped_waits = True
        if all(v["status"] in TERMINAL for v in views.values()):
            break
        time.sleep(0.2)
    line = ", ".join(f"{t}: " + " ".join(views[j]["status"] for j in ids) for t, ids in jobs.items())
    console.print(line)
    if most_capped > 1:
        failures.append(f"admission: the 1-vCPU tenant ran {most_capped} jobs at once")
    if not shared_started_while_capped_waits:
        failures.append("admission: the other tenant's jobs did not all start while the capped tenant waited")
    if not all(v["status"] == "SUCCEEDED" for v in views.values()):
        failures.append(f"admission: not every job succeeded ({line})")
