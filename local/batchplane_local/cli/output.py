"""What the CLI prints: the exit codes, the consoles, rich markup for API values, and every error as one line."""

from __future__ import annotations

import datetime
import json
import os
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from batchplane_local.client import ApiError

EXIT_API_ERROR = 1
EXIT_NOT_SUCCEEDED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 2
EXIT_CONNECTION = 3
EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 API error, or the job / pipeline ended other than SUCCEEDED; 2 usage error or --timeout "
    "elapsed; 3 API unreachable."
)


def _console(*, stderr: bool = False) -> Console:
    """A terminal's width when the stream is one (or COLUMNS when set); piped or redirected, each line as long as its
    content: folded at rich's default of 80 columns, a table's job ids and ARNs (and a log stream's name on stderr)
    came out cut in two, which `batchplane list | grep FAILED` or a script could not use."""
    terminal = Console(stderr=stderr)
    if terminal.is_terminal or os.environ.get("COLUMNS"):
        return terminal
    return Console(stderr=stderr, width=PIPED_WIDTH)


PIPED_WIDTH = 10_000
console = _console()
err_console = _console(stderr=True)


def one_line(text: str) -> str:
    return " ".join(text.split())


def fail(message: str, code: int) -> NoReturn:
    """Every error the CLI reports: one line on stderr, then exit ``code``."""
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def problem_line(exc: ApiError) -> str:
    """An RFC 9457 problem on one line: status, title, detail, and each field error the detail does not name."""
    p = exc.problem
    parts = [f"{exc.status} {p.get('title') or 'Error'}"]
    detail = str(p.get("detail") or "")
    if detail:
        parts.append(detail)
    fields = [f"{e.get('field', '?')}: {e.get('message', '')}" for e in p.get("errors") or [] if isinstance(e, dict)]
    extra = [f for f in fields if f not in detail]
    if extra:
        parts.append("; ".join(extra))
    return one_line(": ".join(parts))


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


def esc(value: Any) -> str:
    return "" if value is None else escape(str(value))


def cost_text(cost: Any) -> str | None:
    """A job's or pipeline's ``cost`` in one line: ``USD 0.000042, of which 0.000000 wasted (an estimate)``; None
    when the answer carries none. Its basis (instance type, Spot or On-Demand, share, running time) is long: --json."""
    if not isinstance(cost, dict) or cost.get("amount") is None:
        return None
    amount, wasted = float(cost.get("amount") or 0), float(cost.get("wasted") or 0)
    currency = cost.get("currency") or "USD"
    return f"{currency} {amount:.6f}, of which {wasted:.6f} wasted (an estimate; --json: its basis)"


def duration_text(started: Any, stopped: Any) -> str:
    """How long an attempt ran, from its ISO-8601 ``startedAt`` to ``stoppedAt`` (``3.2 s``, ``4 min 12 s``,
    ``2 h 05 min``); empty when it has not started or either time cannot be read."""
    if not started or not stopped:
        return ""
    try:
        seconds = (_instant(str(stopped)) - _instant(str(started))).total_seconds()
    except ValueError:
        return ""
    if seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _instant(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


_STATUS_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "CANCELLED": "magenta",
    "RUNNING": "cyan",
    "STARTING": "cyan",
    "RUNNABLE": "yellow",
}


def styled(value: Any) -> str:
    text = esc(value)
    style = _STATUS_STYLE.get(str(value))
    return f"[{style}]{text}[/{style}]" if style and text else text
