"""`batchplane logs`: a job's output, followed as it is written."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.markup import escape

from batchplane_local.cli.api import TERMINAL, call
from batchplane_local.cli.output import err_console, esc, print_json


def logs(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="print lines as the job writes them, until it ends")
    ] = False,
    attempt: Annotated[int | None, typer.Option(min=1, help="this attempt's output (default: the latest)")] = None,
    index: Annotated[
        int | None, typer.Option(min=0, help="an array job's child (its AWS_BATCH_JOB_ARRAY_INDEX)")
    ] = None,
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between looks with --follow")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer (not with --follow)")] = False,
) -> None:
    """Print a job's output: the latest attempt's (or --attempt N's); an array child's with --index; every node's of a
    multi-node job, each line prefixed by its node. --follow prints lines as they are written until the job ends."""
    if as_json and follow:
        raise typer.BadParameter("--json prints one answer: leave out --follow", param_hint="--json")
    answer = call(ctx, "logs", job_id, attempt=attempt, index=index)
    if as_json:
        print_json(answer)
        return
    number = answer.get("attempt")
    _print_log_header(answer)
    while True:
        _print_log_lines(answer)
        token = answer.get("nextToken")
        if answer.get("more"):  # a full page: the rest is already there
            answer = call(ctx, "logs", job_id, attempt=number, index=index, next_token=token)
            continue
        if not follow:
            break
        # The API reads the job before the logs, and every line is in CloudWatch Logs before an attempt's or a job's
        # end is recorded: an answer that says "over" holds the last lines.
        ended = answer.get("status") in TERMINAL
        over = ended or answer.get("attemptStatus") in TERMINAL
        latest = answer.get("latestAttempt")
        if attempt is None and over and isinstance(number, int) and isinstance(latest, int) and latest > number:
            # this attempt is over and read to its end: follow the retry that replaced it, from its head
            number += 1
            answer = call(ctx, "logs", job_id, attempt=number, index=index)
            _print_log_header(answer)
            continue
        if ended or (attempt is not None and over):
            break
        time.sleep(interval)
        answer = call(ctx, "logs", job_id, attempt=number, index=index, next_token=token)
    if follow:
        err_console.print(f"[dim]job {esc(answer.get('status'))}[/dim]")


def _print_log_header(answer: dict[str, Any]) -> None:
    streams = [s for s in answer.get("streams") or [] if isinstance(s, dict)]
    names = ", ".join(esc(s.get("logStreamName")) for s in streams if s.get("logStreamName")) or "(none yet)"
    err_console.print(f"[dim]attempt {esc(answer.get('attempt'))}  stream {escape(names)}[/dim]")
    if answer.get("arraySize") is not None and not streams:
        err_console.print(
            f"[yellow]an array job of {esc(answer.get('arraySize'))} children, each with its own log: "
            "pass --index[/yellow]"
        )


def _print_log_lines(answer: dict[str, Any]) -> None:
    streams = [s for s in answer.get("streams") or [] if isinstance(s, dict)]
    if not streams:  # an API without streams: the attempt's lines
        streams = [{"lines": answer.get("lines") or []}]
    for stream in streams:
        prefix = f"[node {stream['node']}] " if "node" in stream else ""
        for line in stream.get("lines") or []:
            typer.echo(prefix + (line.get("message", "") if isinstance(line, dict) else str(line)))
