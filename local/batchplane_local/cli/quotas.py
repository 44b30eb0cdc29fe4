"""`batchplane quotas ...`: tenant quotas and fair-share weights (admins only: the stack's AdminPrincipals)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from batchplane_local.cli.api import call
from batchplane_local.cli.output import console, esc, print_json

app = typer.Typer(help="Tenant quotas and fair-share weights (admins only)", no_args_is_help=True)

_LIMITS = ("maxRunningVcpus", "maxRunningMemoryMiB", "maxRunningGpus", "maxQueuedJobs")


def _limit(value: Any) -> str:
    return "-" if value is None else str(value)


def _rows(tenants: list[dict[str, Any]]) -> Table:
    table = Table()
    for col in ("tenant", "weight", "vCPUs", "memory MiB", "GPUs", "queued"):
        table.add_column(col, overflow="fold")
    for t in tenants:
        q, u = t.get("quota") or {}, t.get("usage") or {}
        table.add_row(
            esc(t.get("tenant")),
            esc(t.get("weight")),
            f"{u.get('runningVcpus', 0)}/{_limit(q.get('maxRunningVcpus'))}",
            f"{u.get('runningMemoryMiB', 0)}/{_limit(q.get('maxRunningMemoryMiB'))}",
            f"{u.get('runningGpus', 0)}/{_limit(q.get('maxRunningGpus'))}",
            f"{u.get('queuedJobs', 0)}/{_limit(q.get('maxQueuedJobs'))}",
        )
    return table


@app.command("list")
def list_quotas(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False
) -> None:
    """Every tenant's quota, weight and usage (used/limit; - is no limit)."""
    answer = call(ctx, "quotas")
    if as_json:
        print_json(answer)
        return
    default = answer.get("default") or {}
    console.print("default: " + ", ".join(f"{k} {_limit(default.get(k))}" for k in _LIMITS))
    console.print(_rows(answer.get("tenants") or []))


@app.command("get")
def get_quota(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="the tenant (its identity, e.g. an IAM principal ARN)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """One tenant's quota, weight and current usage."""
    answer = call(ctx, "quota", tenant)
    if as_json:
        print_json(answer)
        return
    console.print(_rows([answer]))


@app.command("set")
def set_quota(  # typer passes options by keyword
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="the tenant (its identity, e.g. an IAM principal ARN)")],
    max_running_vcpus: Annotated[int | None, typer.Option(help="running vCPUs at most")] = None,
    max_running_memory_mib: Annotated[int | None, typer.Option(help="running memory (MiB) at most")] = None,
    max_running_gpus: Annotated[int | None, typer.Option(help="running GPUs at most")] = None,
    max_queued_jobs: Annotated[int | None, typer.Option(help="QUEUED jobs at most (over it: 429)")] = None,
    weight: Annotated[float | None, typer.Option(help="fair-share weight (default 1)")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="drop every override first")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Change a tenant's quota and weight: only the options given change."""
    given = {
        "maxRunningVcpus": max_running_vcpus,
        "maxRunningMemoryMiB": max_running_memory_mib,
        "maxRunningGpus": max_running_gpus,
        "maxQueuedJobs": max_queued_jobs,
        "weight": weight,
    }
    change: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if reset:
        change["reset"] = True
    answer = call(ctx, "set_quota", tenant, change)
    if as_json:
        print_json(answer)
        return
    console.print(_rows([answer]))
