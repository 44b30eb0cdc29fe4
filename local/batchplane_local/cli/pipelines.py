"""`batchplane pipeline ...`: multi-job pipelines (DAGs), followed as they run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from batchplane_local.cli.api import call, invoke
from batchplane_local.cli.inputs import load_file
from batchplane_local.cli.output import (
    EXIT_CODES_HELP,
    EXIT_NOT_SUCCEEDED,
    EXIT_TIMEOUT,
    console,
    cost_text,
    esc,
    print_json,
    styled,
)

app = typer.Typer(help="Run multi-job pipelines (DAGs)", no_args_is_help=True)
PIPELINE_TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def _print_pipeline(p: dict[str, Any]) -> None:
    """The pipeline in a line (not folded to the table's width), every job's state, then what its jobs cost."""
    head = f"{esc(p.get('name'))} ({esc(p.get('pipelineId'))}): {styled(p.get('status'))}, run {esc(p.get('run'))}"
    console.print(head, soft_wrap=True)
    table = Table()
    for col in ("job", "state", "jobId"):
        table.add_column(col)
    for j in p.get("jobs", []):
        table.add_row(esc(j.get("id")), styled(j.get("state")), esc(j.get("jobId") or ""))
    console.print(table)
    if cost := cost_text(p.get("cost")):
        console.print(f"cost: {esc(cost)}", soft_wrap=True)


def _pipeline_counts(p: dict[str, Any]) -> str:
    """Its jobs by state; a pipeline of the list (GET /pipelines carries no job's state): how many jobs it has."""
    counts: dict[str, int] = {}
    for j in p.get("jobs") or []:
        counts[str(j.get("state"))] = counts.get(str(j.get("state")), 0) + 1
    if not counts and p.get("jobCount"):
        return f"{p['jobCount']} jobs"
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


def _follow_pipeline(ctx: typer.Context, p: dict[str, Any], interval: float, timeout: float | None) -> int:
    """Poll the pipeline until it ends, printing each job's state as it changes (as ``watch`` does for a job); the exit
    code: 0 SUCCEEDED, 1 FAILED or CANCELLED, 2 timeout."""
    pid = str(p.get("pipelineId"))
    deadline = None if timeout is None else time.monotonic() + timeout
    seen: dict[str, str] = {}
    with console.status(f"following pipeline {escape(pid)}") as spinner:
        while True:
            for j in p.get("jobs") or []:
                key, state = str(j.get("id")), str(j.get("state"))
                if seen.get(key) != state:
                    seen[key] = state
                    console.print(f"  {esc(key)}  {styled(state)}  {esc(j.get('jobId') or '')}".rstrip())
            spinner.update(f"pipeline {escape(pid)} {esc(p.get('status'))}: {esc(_pipeline_counts(p))}")
            if p.get("status") in PIPELINE_TERMINAL:
                break
            if deadline is not None and time.monotonic() >= deadline:
                typer.echo(f"timed out after {timeout:g}s; pipeline {pid} is {p.get('status')}", err=True)
                return EXIT_TIMEOUT
            time.sleep(interval)
            p = call(ctx, "pipeline", pid)
    _print_pipeline(p)
    if p.get("status") != "SUCCEEDED":
        typer.echo(f"pipeline {pid} {p.get('status')}: {_pipeline_counts(p)}", err=True)
        return EXIT_NOT_SUCCEEDED
    return 0


_TIMEOUT_HELP = "--wait: give up after this many seconds (exit 2)"
_WAIT_HELP = "follow it until it ends, showing each job's progress; exit 0 on SUCCEEDED, 1 otherwise"


@app.command("run", epilog=EXIT_CODES_HELP)
def pipeline_run(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="the pipeline, JSON (.json) or YAML")],
    idempotency_key: Annotated[str | None, typer.Option(help="submit at most once with this key")] = None,
    wait: Annotated[bool, typer.Option("--wait", help=_WAIT_HELP)] = False,
    interval: Annotated[float, typer.Option(min=0, help="seconds between polls")] = 1.0,
    timeout: Annotated[float | None, typer.Option(min=0, help=_TIMEOUT_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Submit a pipeline (POST /pipelines)."""
    p = call(ctx, "create_pipeline", load_file(file, "FILE"), idempotency_key)
    if as_json:
        print_json(p)
    else:
        console.print(f"pipeline [bold]{esc(p.get('pipelineId'))}[/bold] {styled(p.get('status'))}")
    if wait:
        raise typer.Exit(_follow_pipeline(ctx, p, interval, timeout))


@app.command("list")
def pipeline_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=100, help="how many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Your pipelines, newest first (GET /pipelines)."""
    answer = call(ctx, "pipelines", limit)
    if as_json:
        print_json(answer)
        return
    table = Table()
    for col in ("pipelineId", "name", "status", "run", "jobs", "createdAt"):
        table.add_column(col, overflow="fold")
    for p in answer.get("pipelines") or []:
        table.add_row(
            esc(p.get("pipelineId")),
            esc(p.get("name")),
            styled(p.get("status")),
            esc(p.get("run")),
            esc(_pipeline_counts(p)),
            esc(p.get("createdAt")),
        )
    console.print(table)


@app.command("status")
def pipeline_status(
    ctx: typer.Context,
    pipeline_id: Annotated[str, typer.Argument()],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A pipeline and every job's state."""
    p = call(ctx, "pipeline", pipeline_id)
    if as_json:
        print_json(p)
    else:
        _print_pipeline(p)


@app.command("graph")
def pipeline_graph(
    ctx: typer.Context,
    pipeline_id: Annotated[str, typer.Argument()],
    fmt: Annotated[str, typer.Option("--format", help="mermaid or dot")] = "mermaid",
) -> None:
    """The DAG with states, as Mermaid or Graphviz DOT."""
    typer.echo(invoke(ctx, "pipeline_graph", pipeline_id, fmt))


@app.command("cancel")
def pipeline_cancel(
    ctx: typer.Context,
    pipeline_id: Annotated[str, typer.Argument()],
    reason: Annotated[str | None, typer.Option(help="why (recorded on the jobs it cancels)")] = None,
) -> None:
    """Stop the execution, cancel (TerminateJob) its running jobs and skip the waiting ones."""
    _print_pipeline(call(ctx, "pipeline_action", pipeline_id, "cancel", reason))


@app.command("resume", epilog=EXIT_CODES_HELP)
def pipeline_resume(
    ctx: typer.Context,
    pipeline_id: Annotated[str, typer.Argument()],
    wait: Annotated[bool, typer.Option("--wait", help=_WAIT_HELP)] = False,
    interval: Annotated[float, typer.Option(min=0, help="seconds between polls")] = 1.0,
    timeout: Annotated[float | None, typer.Option(min=0, help=_TIMEOUT_HELP)] = None,
) -> None:
    """A new run that re-runs only what did not succeed (and what depends on it)."""
    p = call(ctx, "pipeline_action", pipeline_id, "resume")
    if not wait:
        _print_pipeline(p)
        return
    console.print(f"pipeline [bold]{esc(p.get('pipelineId'))}[/bold] run {esc(p.get('run'))} {styled(p.get('status'))}")
    raise typer.Exit(_follow_pipeline(ctx, p, interval, timeout))
