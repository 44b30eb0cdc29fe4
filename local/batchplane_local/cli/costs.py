"""``batchplane costs``: estimated costs of the attempts that ended, grouped (GET /costs)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from batchplane_local.cli.api import call
from batchplane_local.cli.output import console, esc, print_json


def costs(
    ctx: typer.Context,
    group_by: Annotated[str, typer.Option("--by", help="tenant, queue, priority or day")] = "day",
    start: Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD (default: 7 days ago)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day, YYYY-MM-DD (default: today, UTC)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Estimated cost of the attempts that ended on these days, and the part wasted (reclaims, host failures, OOM,
    timeouts): yours, or every tenant's for an administrator. Each figure is an estimate: --json shows its basis."""
    answer = call(ctx, "costs", group_by, start, end)
    if as_json:
        print_json(answer)
        return
    currency = str(answer.get("currency") or "")
    table = Table(title=f"costs by {esc(answer.get('groupBy'))}, {esc(answer.get('from'))} to {esc(answer.get('to'))}")
    for col in (str(answer.get("groupBy") or "key"), f"amount {currency}", f"wasted {currency}", "attempts"):
        table.add_column(col, overflow="fold")
    for group in answer.get("groups") or []:
        table.add_row(
            esc(group.get("key")),
            f"{float(group.get('amount') or 0):.6f}",
            f"{float(group.get('wasted') or 0):.6f}",
            esc(group.get("attempts")),
        )
    table.add_row("total", f"{float(answer.get('amount') or 0):.6f}", f"{float(answer.get('wasted') or 0):.6f}", "")
    console.print(table)
    scope = "every tenant" if answer.get("everyTenant") else "your jobs"
    console.print(f"[dim]{scope}; an estimate: {esc(answer.get('basis'))}[/dim]", soft_wrap=True)
