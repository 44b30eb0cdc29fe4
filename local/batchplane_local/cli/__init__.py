"""``batchplane``: the user CLI of the batchplane API (typer + rich).

Global options pick the API (``--api`` / BATCHPLANE_API), the local stack's tenant (``--tenant`` /
BATCHPLANE_TENANT) and SigV4 signing (``--sign/--no-sign``; on by default for any non-loopback URL).

Exit codes: 0 success; 1 an API error (its problem on one line of stderr) or a job / pipeline that ended other than
SUCCEEDED (``watch``, ``submit --wait``, ``pipeline run|resume --wait``); 2 a usage error (a bad flag or file) or a
``--timeout`` that elapsed; 3 the API could not be reached. Every error is one line on stderr, never a traceback.

The commands live in one module per group (jobs, logs, lineage, schedules, pipelines, local); this module is the
table of contents: it registers them, in the order `batchplane --help` lists them, and is the entry point."""

from __future__ import annotations

import os
import sys

import typer

from batchplane_local.cli import costs, definitions, jobs, lineage, local, logs, pipelines, quotas, schedules
from batchplane_local.cli.api import global_options
from batchplane_local.cli.console import console_command
from batchplane_local.cli.output import EXIT_API_ERROR, EXIT_CODES_HELP, EXIT_USAGE, one_line

app = typer.Typer(
    help=f"batchplane: a serverless control plane for AWS Batch.\n\n{EXIT_CODES_HELP}", no_args_is_help=True
)
app.callback()(global_options)
app.command(epilog=EXIT_CODES_HELP)(jobs.submit)
app.command()(jobs.status)
app.command(epilog=EXIT_CODES_HELP)(jobs.watch)
app.command()(logs.logs)
app.command()(lineage.lineage)
app.command()(jobs.cancel)
app.command()(jobs.priority)
app.command("list")(jobs.list_jobs)
app.command()(jobs.queues)
app.command()(definitions.definitions)
app.command()(lineage.artifacts)
app.command()(costs.costs)
app.command("console")(console_command)
app.add_typer(local.app, name="local")
app.add_typer(schedules.app, name="schedule")
app.add_typer(pipelines.app, name="pipeline")
app.add_typer(quotas.app, name="quotas")


def main() -> None:
    """The entry point. Every error is one line on stderr with its exit code, never a traceback or a box: a usage
    error (2), an API problem (1), an unreachable API (3), anything unforeseen (1; BATCHPLANE_DEBUG=1 re-raises)."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        code = EXIT_API_ERROR
    except Exception as exc:  # noqa: BLE001 (the last word: one line, never a traceback)
        code = _last_word(exc)
    sys.exit(code if isinstance(code, int) else 0)


def _last_word(exc: Exception) -> int:
    """One line for an error nothing below handled; its exit code."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # the help is already printed
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # a usage error of the command-line parser
        ctx = getattr(exc, "ctx", None)
        where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"error: {one_line(exc.format_message())}{where}", err=True)
        return int(exc.exit_code)
    if os.environ.get("BATCHPLANE_DEBUG"):
        raise exc
    typer.echo(f"error: {one_line(f'{type(exc).__name__}: {exc}')}", err=True)
    return EXIT_API_ERROR
