"""`batchplane definitions`: the job definitions batchplane registered for jobs with their own image."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from batchplane_local.cli.api import call
from batchplane_local.cli.output import console, esc, print_json


def definitions(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """The job definitions registered for jobs' own images (one per image and shape), and your jobs on each."""
    answer = call(ctx, "definitions")
    if as_json:
        print_json(answer)
        return
    table = Table()
    for col in ("definition", "revision", "image", "platform", "job role", "volumes", "your jobs"):
        table.add_column(col, overflow="fold")
    for d in answer.get("definitions") or []:
        table.add_row(
            esc(d.get("name")),
            esc(d.get("revision")),
            esc(d.get("image")),
            esc(d.get("platform")),
            esc(d.get("jobRoleArn") or ""),
            esc(", ".join(d.get("volumes") or [])),
            esc(", ".join(d.get("jobs") or [])),
        )
    console.print(table)
