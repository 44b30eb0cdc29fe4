"""`batchplane schedule ...`: jobs or pipelines submitted on a rate, cron or at expression."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from batchplane_local.cli.api import call
from batchplane_local.cli.inputs import build_job, load_file
from batchplane_local.cli.output import EXIT_USAGE, console, esc, fail, print_json

app = typer.Typer(help="Submit jobs or pipelines on a rate, cron or at expression", no_args_is_help=True)


def _schedule_rows(schedules: list[dict[str, Any]]) -> Table:
    table = Table()
    for col in ("name", "expression", "timezone", "enabled", "submits", "createdAt"):
        table.add_column(col, overflow="fold")
    for s in schedules:
        target = s.get("target") or {}
        kind = "pipeline" if "pipeline" in target else "job" if "job" in target else ""
        what = (target.get(kind) or {}).get("name") if kind else None
        table.add_row(
            esc(s.get("name")),
            esc(s.get("expression")),
            esc(s.get("timezone")),
            "yes" if s.get("enabled") else "no",
            esc(f"{kind} {what}".strip() if kind else json.dumps(target)[:80]),
            esc(s.get("createdAt")),
        )
    return table


@app.command("create")
def schedule_create(
    ctx: typer.Context,
    *,
    name: Annotated[str | None, typer.Argument(help="the schedule's name (or the --file's name)")] = None,
    expression: Annotated[
        str | None,
        typer.Option("--expression", "-e", help="rate(5 minutes), cron(0 3 * * ? *) or at(2027-01-01T03:00:00)"),
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone of cron/at (default UTC)")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="create it paused")] = False,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="a whole POST /schedules body, JSON or YAML (flags override)")
    ] = None,
    job_file: Annotated[Path | None, typer.Option("--job", help="submit this job (a POST /jobs body file)")] = None,
    pipeline_file: Annotated[
        Path | None, typer.Option("--pipeline", help="run this pipeline (a POST /pipelines body file)")
    ] = None,
    command: Annotated[
        list[str] | None, typer.Option(help="submit a job running this command (named after the schedule)")
    ] = None,
    shell: Annotated[bool, typer.Option("--shell", help="run the --command string through sh -c")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Create a schedule (POST /schedules) that submits a job (--job FILE or --command) or a pipeline (--pipeline)."""
    body = load_file(file) if file else {}
    if name:
        body["name"] = name
    if expression:
        body["expression"] = expression
    if timezone:
        body["timezone"] = timezone
    if disabled:
        body["enabled"] = False
    targets = [t for t in (job_file, pipeline_file, command) if t]
    if len(targets) > 1:
        fail("give one of --job, --pipeline or --command", EXIT_USAGE)
    if job_file:
        body.pop("pipeline", None)
        body["job"] = load_file(job_file, "--job")
    elif pipeline_file:
        body.pop("job", None)
        body["pipeline"] = load_file(pipeline_file, "--pipeline")
    elif command:
        body.pop("pipeline", None)
        body["job"] = build_job(body.get("job"), command=command, shell=shell)
        body["job"].setdefault("name", body.get("name"))
    if not body.get("name"):
        fail("NAME: a schedule needs a name (the argument or the file's name)", EXIT_USAGE)
    if not body.get("expression"):
        fail("--expression: a schedule needs rate(...), cron(...) or at(...)", EXIT_USAGE)
    if "job" not in body and "pipeline" not in body:
        fail("a schedule submits a job or a pipeline: give --job FILE, --command CMD or --pipeline FILE", EXIT_USAGE)
    answer = call(ctx, "create_schedule", body)
    if as_json:
        print_json(answer)
        return
    console.print(_schedule_rows([answer]))


@app.command("list")
def schedule_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False
) -> None:
    """Your schedules (GET /schedules)."""
    answer = call(ctx, "schedules")
    if as_json:
        print_json(answer)
        return
    console.print(_schedule_rows(answer.get("schedules") or []))


@app.command("get")
def schedule_get(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the schedule's name")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """One schedule, with what it submits (GET /schedules/{name})."""
    answer = call(ctx, "schedule", name)
    if as_json:
        print_json(answer)
        return
    console.print(_schedule_rows([answer]))
    console.print(f"scheduler: {esc(answer.get('schedulerName'))}")
    console.print_json(json.dumps(answer.get("target") or {}))


@app.command("delete")
def schedule_delete(ctx: typer.Context, name: Annotated[str, typer.Argument(help="the schedule's name")]) -> None:
    """Delete a schedule (DELETE /schedules/{name}); it fires no more (jobs it submitted are not touched)."""
    call(ctx, "delete_schedule", name)
    console.print(f"deleted schedule {esc(name)}")
