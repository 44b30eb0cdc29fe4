"""``batchplane``: the user CLI of the batchplane API (typer + rich).

Global options pick the API (``--api`` / BATCHPLANE_API), the local stack's tenant (``--tenant`` /
BATCHPLANE_TENANT) and SigV4 signing (``--sign/--no-sign``; on by default for any non-loopback URL).

Exit codes: 0 success; 1 an API error (its problem on one line of stderr) or a job / pipeline that ended other than
SUCCEEDED (``watch``, ``submit --wait``, ``pipeline run|resume --wait``); 2 a usage error (a bad flag or file) or a
``--timeout`` that elapsed; 3 the API could not be reached. Every error is one line on stderr, never a traceback."""

from __future__ import annotations

import importlib.metadata
import ipaddress
import json
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from batchplane_local.client import ApiConnectionError, ApiError, BatchplaneClient

DEFAULT_API = "http://127.0.0.1:8080"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
EXIT_API_ERROR = 1
EXIT_NOT_SUCCEEDED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 2
EXIT_CONNECTION = 3
EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 API error, or the job / pipeline ended other than SUCCEEDED; 2 usage error or --timeout "
    "elapsed; 3 API unreachable."
)

app = typer.Typer(
    help=f"batchplane: a serverless control plane for AWS Batch.\n\n{EXIT_CODES_HELP}", no_args_is_help=True
)

# --- placeholder: the local stack's commands (`batchplane local up`, ...) are added by the lead -------------------
local_app = typer.Typer(help="Run the local stack")
app.add_typer(local_app, name="local")
# ------------------------------------------------------------------------------------------------------------------

console = Console()
err_console = Console(stderr=True)


@dataclass
class Settings:
    api: str
    tenant: str | None
    sign: bool
    client: BatchplaneClient | None = None


def is_loopback(url: str) -> bool:
    host = httpx.URL(url).host
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_client(api: str, tenant: str | None, sign: bool) -> BatchplaneClient:
    """The client factory the commands use (tests replace it to inject a mock transport)."""
    return BatchplaneClient(api, tenant=tenant, sign=sign)


def _client(ctx: typer.Context) -> BatchplaneClient:
    """The command's client, made on first use and closed with the command."""
    s: Settings = ctx.obj
    if s.client is None:
        try:
            s.client = make_client(s.api, s.tenant, s.sign)
        except RuntimeError as exc:  # no credentials / region for signing
            fail(str(exc), EXIT_API_ERROR)
        ctx.call_on_close(s.client.close)
    return s.client


def _call(ctx: typer.Context, fn_name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """One API call answering JSON, with the CLI's error handling."""
    result: dict[str, Any] = _invoke(ctx, fn_name, *args, **kwargs)
    return result


def _invoke(ctx: typer.Context, fn_name: str, *args: Any, **kwargs: Any) -> Any:
    """One API call with the CLI's error handling (problem → one line on stderr, exit 1; unreachable → exit 3)."""
    try:
        return getattr(_client(ctx), fn_name)(*args, **kwargs)
    except ApiError as exc:
        fail(problem_line(exc), EXIT_API_ERROR)
    except ApiConnectionError as exc:
        fail(f"{exc} (is the API running? batchplane local up, or --api / BATCHPLANE_API)", EXIT_CONNECTION)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def fail(message: str, code: int) -> NoReturn:
    """Every error the CLI reports: one line on stderr, then exit ``code``."""
    typer.echo(f"error: {_one_line(message)}", err=True)
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
    return _one_line(": ".join(parts))


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


def _s(value: Any) -> str:
    return "" if value is None else escape(str(value))


_STATUS_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "CANCELLED": "magenta",
    "RUNNING": "cyan",
    "STARTING": "cyan",
    "RUNNABLE": "yellow",
}


def _status(value: Any) -> str:
    text = _s(value)
    style = _STATUS_STYLE.get(str(value))
    return f"[{style}]{text}[/{style}]" if style and text else text


def _version(value: bool) -> None:
    if value:
        typer.echo(f"batchplane {importlib.metadata.version('batchplane')}")
        raise typer.Exit


@app.callback()
def _global(
    ctx: typer.Context,
    api: Annotated[str, typer.Option("--api", envvar="BATCHPLANE_API", help="the API's base URL")] = DEFAULT_API,
    tenant: Annotated[
        str | None, typer.Option("--tenant", envvar="BATCHPLANE_TENANT", help="tenant (local stack only)")
    ] = None,
    sign: Annotated[
        bool | None,
        typer.Option("--sign/--no-sign", help="SigV4-sign requests (default: when the API URL is not loopback)"),
    ] = None,
    version: Annotated[  # handled by its eager callback
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    ctx.obj = Settings(api=api, tenant=tenant, sign=(not is_loopback(api)) if sign is None else sign)


# --- submit -------------------------------------------------------------------------------------------------------


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{option}: expected KEY=VALUE, got {item!r}", EXIT_USAGE)
        out[key] = value
    return out


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1} column {mark.column + 1}: {problem}"
    return str(exc)


def _load_file(path: Path, option: str = "--file") -> dict[str, Any]:
    """A JSON (``.json``) or YAML file holding an object; any problem is a one-line usage error."""
    try:
        text = path.read_text()
    except OSError as exc:
        fail(f"{option}: cannot read {path}: {exc.strerror or exc}", EXIT_USAGE)
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        fail(f"{option}: {path} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}", EXIT_USAGE)
    except yaml.YAMLError as exc:
        fail(f"{option}: {path} is not valid YAML: {_yaml_error(exc)}", EXIT_USAGE)
    if not isinstance(data, dict):
        fail(f"{option}: {path} must hold a JSON/YAML object, not {type(data).__name__}", EXIT_USAGE)
    return data


def _dependencies(values: list[str] | None) -> list[dict[str, str]]:
    """``JOB_ID`` or ``JOB_ID:N_TO_N`` / ``JOB_ID:SEQUENTIAL`` (array dependencies, as Batch)."""
    out = []
    for item in values or []:
        job_id, _, kind = item.partition(":")
        dep = {"jobId": job_id}
        if kind:
            if kind.upper() not in ("N_TO_N", "SEQUENTIAL"):
                fail(f"--depends-on: {item!r}: the type after ':' is N_TO_N or SEQUENTIAL", EXIT_USAGE)
            dep["type"] = kind.upper()
        out.append(dep)
    return out


def build_job(
    base: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    command: list[str] | None = None,
    shell: bool = False,
    priority: str | None = None,
    capacity: str | None = None,
    memory: int | None = None,
    vcpus: int | None = None,
    gpus: int | None = None,
    timeout: int | None = None,
    attempts: int | None = None,
    array_size: int | None = None,
    tags: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    parameters: dict[str, str] | None = None,
    depends_on: list[dict[str, str]] | None = None,
    definition: str | None = None,
) -> dict[str, Any]:
    """The POST /jobs body: the file's fields, overridden by the flags given."""
    job = dict(base or {})
    scalars = {
        "name": name,
        "jobDefinition": definition,
        "priority": priority,
        "capacity": capacity,
        "memoryMiB": memory,
        "vcpus": vcpus,
        "gpus": gpus,
        "timeoutSeconds": timeout,
        "arraySize": array_size,
    }
    job.update({k: v for k, v in scalars.items() if v is not None})
    if shell:
        if not command or len(command) != 1:
            fail("--shell takes exactly one --command string (run as: sh -c STRING)", EXIT_USAGE)
        job["command"] = ["sh", "-c", command[0]]
    elif command:
        try:
            job["command"] = shlex.split(command[0]) if len(command) == 1 else list(command)
        except ValueError as exc:  # an unclosed quote
            fail(f"--command: {exc}", EXIT_USAGE)
    if attempts is not None:
        job["retry"] = {**(job.get("retry") or {}), "attempts": attempts}
    if tags:
        job["tags"] = {**(job.get("tags") or {}), **tags}
    if env:
        job["environment"] = {**(job.get("environment") or {}), **env}
    if parameters:
        job["parameters"] = {**(job.get("parameters") or {}), **parameters}
    if depends_on:
        job["dependsOn"] = [*(job.get("dependsOn") or []), *depends_on]
    return job


_COMMAND_HELP = (
    "the command, run directly, not by a shell: one string is split into arguments like a shell would (quotes "
    "respected) but pipes, redirections, globs and $VARIABLES are not interpreted; repeat the option for one argument "
    "each. With --shell it runs as: sh -c STRING"
)


@app.command(epilog=EXIT_CODES_HELP)
def submit(  # typer passes options by keyword
    ctx: typer.Context,
    *,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="job.json or job.yaml (flags override)")] = None,
    name: Annotated[str | None, typer.Option(help="job name")] = None,
    command: Annotated[list[str] | None, typer.Option(help=_COMMAND_HELP)] = None,
    shell: Annotated[
        bool, typer.Option("--shell", help="run the --command string through sh -c (pipes, $VARS, globs work)")
    ] = False,
    priority: Annotated[str | None, typer.Option(help="low, normal, high, urgent")] = None,
    capacity: Annotated[str | None, typer.Option(help="spot-first, spot, on-demand")] = None,
    memory: Annotated[int | None, typer.Option(help="memory, MiB")] = None,
    vcpus: Annotated[int | None, typer.Option()] = None,
    gpus: Annotated[int | None, typer.Option()] = None,
    timeout: Annotated[int | None, typer.Option(help="timeout, seconds (>= 60)")] = None,
    attempts: Annotated[int | None, typer.Option(help="retry.attempts (1-10)")] = None,
    array_size: Annotated[int | None, typer.Option("--array-size", help="array job size (2-10000)")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="k=v, repeatable")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="K=V, repeatable")] = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option("--parameter", "-p", help="K=V, repeatable: a job-definition parameter (Ref::K in its command)"),
    ] = None,
    depends_on: Annotated[
        list[str] | None,
        typer.Option(
            "--depends-on",
            help="JOB_ID, repeatable (up to 20): start only after it SUCCEEDED; JOB_ID:N_TO_N or JOB_ID:SEQUENTIAL for "
            "array dependencies",
        ),
    ] = None,
    definition: Annotated[str | None, typer.Option(help="job definition name or ARN")] = None,
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key", help="Idempotency-Key header")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="follow the job as `watch` does; exit 0 on SUCCEEDED, 1 otherwise")
    ] = False,
    interval: Annotated[float, typer.Option(min=0, help="--wait: seconds between polls")] = 1.0,
    wait_timeout: Annotated[
        float | None, typer.Option("--wait-timeout", min=0, help="--wait: give up after this many seconds (exit 2)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Submit a job (POST /jobs)."""
    job = build_job(
        _load_file(file) if file else None,
        name=name,
        command=command,
        shell=shell,
        priority=priority,
        capacity=capacity,
        memory=memory,
        vcpus=vcpus,
        gpus=gpus,
        timeout=timeout,
        attempts=attempts,
        array_size=array_size,
        tags=_pairs(tag, "--tag"),
        env=_pairs(env, "--env"),
        parameters=_pairs(parameter, "--parameter"),
        depends_on=_dependencies(depends_on),
        definition=definition,
    )
    if not job.get("name"):
        fail("--name: a job needs a name (--name or the file's name)", EXIT_USAGE)
    answer = _call(ctx, "submit", job, idempotency_key)
    if as_json:
        _print_json(answer)
    else:
        console.print(f"[bold]{_s(answer.get('jobId'))}[/bold]  {_status(answer.get('status'))}")
        console.print(f"queue:     {_s(answer.get('queue'))}")
        console.print(f"placement: {_s(answer.get('placementReason'))}")
    if wait:
        raise typer.Exit(_follow(ctx, str(answer.get("jobId")), interval, wait_timeout))


# --- status / watch -----------------------------------------------------------------------------------------------


def _attempts_table(job: dict[str, Any]) -> Table:
    table = Table(title="attempts", title_justify="left")
    columns = ("attempt", "reason", "capacity", "queue", "status", "exit", "failure", "memory", "statusReason")
    for col in (*columns, "containerReason"):
        table.add_column(col, overflow="fold")
    for a in job.get("attempts") or []:
        table.add_row(
            _s(a.get("attempt")),
            _s(a.get("reason")) + (f" (replaces a{a['replaces']})" if a.get("replaces") else ""),
            _s(a.get("capacity")),
            _s(a.get("queue")),
            _status(a.get("status")),
            _s(a.get("exitCode")),
            _s(a.get("failureClass")),
            _s(a.get("memoryMiB")),
            _s(a.get("statusReason")),
            _s(a.get("containerReason")),
        )
    return table


def failure_summary(job: dict[str, Any]) -> str | None:
    """Why the job's latest attempt failed, in AWS's words and ours: failure class, exit code, container.reason and
    statusReason (``Essential container in task exited`` alone says nothing)."""
    attempts = job.get("attempts") or []
    last = attempts[-1] if attempts else {}
    if job.get("status") != "FAILED" and last.get("status") != "FAILED":
        return None
    parts = []
    if last.get("failureClass"):
        parts.append(str(last["failureClass"]))
    if last.get("exitCode") is not None:
        parts.append(f"exit code {last['exitCode']}")
    if last.get("containerReason"):
        parts.append(f"container: {last['containerReason']}")
    if last.get("statusReason"):
        parts.append(f"Batch: {last['statusReason']}")
    return "; ".join(parts) or None


@app.command()
def status(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Show a job and its attempts: for a failure, its class, exit code and AWS's reasons."""
    job = _call(ctx, "get", job_id)
    if as_json:
        _print_json(job)
        return
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    rows = [
        ("job", _s(job.get("jobId"))),
        ("name", _s(job.get("name"))),
        ("status", _status(job.get("status")) + (f"  {_s(job['statusReason'])}" if job.get("statusReason") else "")),
    ]
    failure = failure_summary(job)
    if failure:
        rows.append(("failure", _s(failure)))
    explanation = ((job.get("attempts") or [{}])[-1]).get("explanation")
    if explanation:
        rows.append(("why", _s(explanation)))
    rows += [
        ("priority", _s(job.get("priority"))),
        ("capacity", _s(job.get("capacity"))),
        ("queue", _s(job.get("queue"))),
        ("placement", _s(job.get("placementReason"))),
        ("created", _s(job.get("createdAt"))),
        ("updated", _s(job.get("updatedAt"))),
    ]
    if job.get("dependsOn"):
        rows.append(("depends on", _s(", ".join(str(d.get("jobId")) for d in job["dependsOn"]))))
    if job.get("cancelRequested"):
        rows.append(("cancel", "requested"))
    for label, value in rows:
        head.add_row(label, value)
    console.print(head)
    console.print(_attempts_table(job))


def _progress_line(job: dict[str, Any]) -> str:
    attempts = job.get("attempts") or []
    last = attempts[-1] if attempts else {}
    where = f"a{last.get('attempt')} {last.get('reason', '')} {last.get('capacity', '')}".strip() if last else ""
    return f"{_s(job.get('jobId'))}  {_status(job.get('status'))}  {_s(where)}  {_s(job.get('queue'))}"


def _follow(ctx: typer.Context, job_id: str, interval: float, timeout: float | None) -> int:
    """Poll the job until it ends, a line at each change; the exit code: 0 SUCCEEDED, 1 otherwise, 2 timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    seen: tuple[Any, ...] | None = None
    with console.status(f"watching {escape(job_id)}") as spinner:
        while True:
            job = _call(ctx, "get", job_id)
            attempts = job.get("attempts") or []
            state = (job.get("status"), len(attempts), attempts[-1].get("status") if attempts else None)
            if state != seen:
                console.print(_progress_line(job))
                seen = state
            spinner.update(_progress_line(job))
            if job.get("status") in TERMINAL:
                break
            if deadline is not None and time.monotonic() >= deadline:
                typer.echo(f"timed out after {timeout:g}s; job {job_id} is {job.get('status')}", err=True)
                return EXIT_TIMEOUT
            time.sleep(interval)
    if job.get("status") != "SUCCEEDED":
        why = failure_summary(job) or job.get("statusReason") or ""
        typer.echo(_one_line(f"{job.get('status')}: {why}".rstrip(": ")), err=True)
        return EXIT_NOT_SUCCEEDED
    console.print("[green]SUCCEEDED[/green]")
    return 0


@app.command(epilog=EXIT_CODES_HELP)
def watch(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    interval: Annotated[float, typer.Option(min=0, help="seconds between polls")] = 1.0,
    timeout: Annotated[float | None, typer.Option(min=0, help="give up after this many seconds (exit 2)")] = None,
) -> None:
    """Follow a job until it ends: exit 0 if it SUCCEEDED, 1 if it FAILED (or was cancelled)."""
    raise typer.Exit(_follow(ctx, job_id, interval, timeout))


# --- logs / lineage -----------------------------------------------------------------------------------------------


@app.command()
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
    answer = _call(ctx, "logs", job_id, attempt=attempt, index=index)
    if as_json:
        _print_json(answer)
        return
    number = answer.get("attempt")
    _print_log_header(answer)
    while True:
        _print_log_lines(answer)
        token = answer.get("nextToken")
        if answer.get("more"):  # a full page: the rest is already there
            answer = _call(ctx, "logs", job_id, attempt=number, index=index, next_token=token)
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
            answer = _call(ctx, "logs", job_id, attempt=number, index=index)
            _print_log_header(answer)
            continue
        if ended or (attempt is not None and over):
            break
        time.sleep(interval)
        answer = _call(ctx, "logs", job_id, attempt=number, index=index, next_token=token)
    if follow:
        err_console.print(f"[dim]job {_s(answer.get('status'))}[/dim]")


def _print_log_header(answer: dict[str, Any]) -> None:
    streams = [s for s in answer.get("streams") or [] if isinstance(s, dict)]
    names = ", ".join(_s(s.get("logStreamName")) for s in streams if s.get("logStreamName")) or "(none yet)"
    err_console.print(f"[dim]attempt {_s(answer.get('attempt'))}  stream {escape(names)}[/dim]")
    if answer.get("arraySize") is not None and not streams:
        err_console.print(
            f"[yellow]an array job of {_s(answer.get('arraySize'))} children, each with its own log: "
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


_INPUT_KINDS = ("input", "read", "consume", "used")
_OUTPUT_KINDS = ("output", "write", "produce", "generat")


def _attempt_text(node: dict[str, Any], replaces: str | None) -> str:
    if "attempt" in node:
        parts = [f"a{node['attempt']}", node.get("reason"), node.get("capacity"), node.get("status")]
        text = " ".join(_s(p) for p in parts if p)
    else:
        text = " ".join(_s(p) for p in (node.get("label") or node.get("id"), node.get("status")) if p)
    rep = node.get("replaces")
    if rep is not None and rep != "":
        text += f" (replaces a{_s(rep)})" if isinstance(rep, int) else f" (replaces {_s(rep)})"
    elif replaces:
        text += f" (replaces {_s(replaces)})"
    return text


def _artifact_direction(node: dict[str, Any], edge: dict[str, Any]) -> str:
    role = str(node.get("role") or node.get("direction") or edge.get("kind") or "").lower()
    if any(k in role for k in _INPUT_KINDS):
        return "inputs"
    if any(k in role for k in _OUTPUT_KINDS):
        return "outputs"
    return "inputs" if edge.get("from") == node.get("id") else "outputs"


def lineage_tree(data: dict[str, Any]) -> Tree:
    """job → attempts (reason, capacity, status, what each replaces) → artifacts (inputs / outputs)."""
    nodes: dict[str, dict[str, Any]] = {str(n.get("id")): n for n in data.get("nodes") or []}
    edges: list[dict[str, Any]] = list(data.get("edges") or [])
    job_nodes = [i for i, n in nodes.items() if n.get("kind") == "job"]
    wanted = str(data.get("jobId") or "")
    root_id = next((i for i in job_nodes if i in (wanted, f"job:{wanted}")), job_nodes[0] if job_nodes else wanted)
    root = nodes.get(root_id, {"id": root_id, "label": root_id})
    tree = Tree(f"[bold]{_s(root.get('label') or root_id)}[/bold]  {_status(root.get('status'))}")

    def neighbours(node_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        out = []
        for e in edges:
            other = e.get("to") if e.get("from") == node_id else e.get("from") if e.get("to") == node_id else None
            if other is not None and str(other) in nodes:
                out.append((nodes[str(other)], e))
        return out

    # what each attempt replaces, from "replaces" edges (new → old) when the node does not say
    label_of = {i: str(n.get("label") or i) for i, n in nodes.items()}
    replaces: dict[str, str] = {}
    for e in edges:
        if "replace" in str(e.get("kind", "")).lower():
            replaces[str(e.get("from"))] = label_of.get(str(e.get("to")), str(e.get("to")))

    def add_artifacts(branch: Tree, node_id: str) -> None:
        groups: dict[str, list[str]] = {"inputs": [], "outputs": []}
        for other, edge in neighbours(node_id):
            if other.get("kind") == "artifact":
                groups[_artifact_direction(other, edge)].append(_s(other.get("label") or other.get("id")))
        for group, items in groups.items():
            if items:
                sub = branch.add(f"[dim]{group}[/dim]")
                for item in sorted(set(items)):
                    sub.add(item)

    attempts = [n for n in (o for o, _ in neighbours(root_id)) if n.get("kind") == "attempt"]
    attempts += [n for n in nodes.values() if n.get("kind") == "attempt" and n not in attempts]
    attempts.sort(key=lambda n: (n.get("attempt") is None, n.get("attempt") or 0, str(n.get("id"))))
    for a in attempts:
        branch = tree.add(_attempt_text(a, replaces.get(str(a.get("id")))))
        add_artifacts(branch, str(a.get("id")))
    add_artifacts(tree, root_id)
    for other, edge in neighbours(root_id):  # related jobs (dependencies, pipeline neighbours)
        if other.get("kind") == "job" and str(other.get("id")) != root_id:
            tree.add(f"[dim]{_s(edge.get('kind'))}[/dim] {_s(other.get('label'))} {_status(other.get('status'))}")
    return tree


@app.command()
def lineage(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Show the job's lineage: attempts and the artifacts they read and wrote."""
    data = _call(ctx, "lineage", job_id)
    if as_json:
        _print_json(data)
        return
    console.print(lineage_tree(data))


# --- cancel / list / queues ---------------------------------------------------------------------------------------


@app.command()
def cancel(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    reason: Annotated[str | None, typer.Option(help="why (recorded on the job)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Cancel a job: AWS Batch's TerminateJob, which cancels it before STARTING and stops it after.

    POST /jobs/{id}/cancel. batchplane always calls TerminateJob (its record may lag Batch, and CancelJob does nothing
    to a job that has started); the job then ends with your reason recorded. The answer's action says what batchplane's
    record knew: cancel (not started), terminate (STARTING/RUNNING) or none (no Batch job yet: a job held for its
    dependencies is simply never submitted). A job that already ended is a 409."""
    answer = _call(ctx, "cancel", job_id, reason)
    if as_json:
        _print_json(answer)
        return
    console.print(f"{_s(answer.get('jobId'))}: {_s(answer.get('action'))} (status {_status(answer.get('status'))})")


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    *,
    status: Annotated[str | None, typer.Option(help="only jobs in this status")] = None,
    name: Annotated[str | None, typer.Option(help="name prefix")] = None,
    tag: Annotated[str | None, typer.Option(help="k=v")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="page size")] = 50,
    next_token: Annotated[
        str | None, typer.Option("--next-token", help="start at this page (the nextToken a previous list printed)")
    ] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="follow nextToken to the end")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw jobs")] = False,
) -> None:
    """List your jobs, newest first (GET /jobs), a page at a time."""
    if tag is not None:
        _pairs([tag], "--tag")
    jobs: list[dict[str, Any]] = []
    token: str | None = next_token
    while True:
        page = _call(ctx, "list", status=status, name=name, tag=tag, limit=limit, next_token=token)
        jobs.extend(page.get("jobs") or [])
        token = page.get("nextToken")
        if not (all_pages and token):
            break
    if as_json:
        _print_json({"jobs": jobs, "nextToken": token})
        return
    table = Table()
    for col in ("jobId", "name", "status", "priority", "queue", "createdAt"):
        table.add_column(col, overflow="fold")
    for j in jobs:
        table.add_row(
            _s(j.get("jobId")),
            _s(j.get("name")),
            _status(j.get("status")),
            _s(j.get("priority")),
            _s(j.get("queue")),
            _s(j.get("createdAt")),
        )
    console.print(table)
    if token:
        console.print(f"[dim]more: --next-token {escape(token)}  (or --all)[/dim]", soft_wrap=True)


@app.command()
def queues(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """The queue classes: priority, capacity, Batch queue and the largest job each accepts."""
    answer = _call(ctx, "queues")
    if as_json:
        _print_json(answer)
        return
    table = Table()
    for col in ("priority", "capacity", "queue", "max vCPUs", "max memory MiB", "max GPUs", "multi-node"):
        table.add_column(col, overflow="fold")
    for q in answer.get("queues") or []:
        table.add_row(
            _s(q.get("priority")),
            _s(q.get("capacity")),
            _s(q.get("queue")),
            _s(q.get("maxVcpus")),
            _s(q.get("maxMemoryMiB")),
            _s(q.get("maxGpus")),
            "yes" if q.get("multiNode") else "",
        )
    console.print(table)


# --- artifacts ----------------------------------------------------------------------------------------------------


@app.command()
def artifacts(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="an artifact URI, e.g. s3://bucket/key")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """What used or produced an artifact: your jobs that named URI as an input or an output (GET /artifacts?uri=)."""
    answer = _call(ctx, "artifacts", uri)
    if as_json:
        _print_json(answer)
        return
    rows = answer.get("jobs") or []
    if not rows:
        console.print(f"no job of yours used or produced {_s(uri)}")
        return
    table = Table(title=_s(uri), title_justify="left")
    keys = ("role", "jobId", "name")  # role: input (the job used it) or output (it produced it)
    for key in keys:
        table.add_column(key, overflow="fold")
    for r in rows:
        table.add_row(*(_s(r.get(k)) for k in keys))
    console.print(table)


# --- schedules ----------------------------------------------------------------------------------------------------

schedule_app = typer.Typer(help="Submit jobs or pipelines on a rate, cron or at expression", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")


def _schedule_rows(schedules: list[dict[str, Any]]) -> Table:
    table = Table()
    for col in ("name", "expression", "timezone", "enabled", "submits", "createdAt"):
        table.add_column(col, overflow="fold")
    for s in schedules:
        target = s.get("target") or {}
        kind = "pipeline" if "pipeline" in target else "job" if "job" in target else ""
        what = (target.get(kind) or {}).get("name") if kind else None
        table.add_row(
            _s(s.get("name")),
            _s(s.get("expression")),
            _s(s.get("timezone")),
            "yes" if s.get("enabled") else "no",
            _s(f"{kind} {what}".strip() if kind else json.dumps(target)[:80]),
            _s(s.get("createdAt")),
        )
    return table


@schedule_app.command("create")
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
    body = _load_file(file) if file else {}
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
        body["job"] = _load_file(job_file, "--job")
    elif pipeline_file:
        body.pop("job", None)
        body["pipeline"] = _load_file(pipeline_file, "--pipeline")
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
    answer = _call(ctx, "create_schedule", body)
    if as_json:
        _print_json(answer)
        return
    console.print(_schedule_rows([answer]))


@schedule_app.command("list")
def schedule_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False
) -> None:
    """Your schedules (GET /schedules)."""
    answer = _call(ctx, "schedules")
    if as_json:
        _print_json(answer)
        return
    console.print(_schedule_rows(answer.get("schedules") or []))


@schedule_app.command("get")
def schedule_get(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the schedule's name")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """One schedule, with what it submits (GET /schedules/{name})."""
    answer = _call(ctx, "schedule", name)
    if as_json:
        _print_json(answer)
        return
    console.print(_schedule_rows([answer]))
    console.print(f"scheduler: {_s(answer.get('schedulerName'))}")
    console.print_json(json.dumps(answer.get("target") or {}))


@schedule_app.command("delete")
def schedule_delete(ctx: typer.Context, name: Annotated[str, typer.Argument(help="the schedule's name")]) -> None:
    """Delete a schedule (DELETE /schedules/{name}); it fires no more (jobs it submitted are not touched)."""
    _call(ctx, "delete_schedule", name)
    console.print(f"deleted schedule {_s(name)}")


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
        typer.echo(f"error: {_one_line(exc.format_message())}{where}", err=True)
        return int(exc.exit_code)
    if os.environ.get("BATCHPLANE_DEBUG"):
        raise exc
    typer.echo(f"error: {_one_line(f'{type(exc).__name__}: {exc}')}", err=True)
    return EXIT_API_ERROR


if __name__ == "__main__":
    main()


def _find_root(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / "template.yaml").exists() and (folder / "functions").is_dir():
            return folder
    raise typer.BadParameter("no template.yaml here or above: run from a batchplane checkout, or pass --root")


@local_app.command("up")
def local_up(
    port: Annotated[int, typer.Option(help="port of the HTTP API on 127.0.0.1")] = 8080,
    root: Annotated[Path | None, typer.Option(help="the checkout holding template.yaml")] = None,
    sweep_interval: Annotated[
        float, typer.Option(help="seconds between sweeper runs (AWS: the template's rate(1 minute))")
    ] = 2.0,
    spot_vcpus: Annotated[int | None, typer.Option(help="vCPU slots of each local Spot environment")] = None,
    on_demand_vcpus: Annotated[int | None, typer.Option(help="vCPU slots of each On-Demand environment")] = None,
    verbose: Annotated[bool, typer.Option(help="show the functions' INFO logs")] = False,
    schedule_scale: Annotated[
        float, typer.Option(help="divide schedules' rate() periods by this (1 = on time; 60 = a minute per second)")
    ] = 1.0,
    faults: Annotated[
        float,
        typer.Option(help="chaos: this share (0-0.5) of the functions' AWS calls fail with a throttle or a 5xx"),
    ] = 0.0,
    fault_seed: Annotated[int, typer.Option(help="seed of --faults, to replay a run")] = 0,
) -> None:
    """Run the whole control plane on this machine: the template's functions, routes, rules and schedules, AWS
    emulated by moto, and AWS Batch emulated by local compute environments that really run jobs."""
    from batchplane_local.stack.runtime import LocalStack

    vcpus: dict[str, int] = {}
    if spot_vcpus is not None:
        vcpus["spot"] = spot_vcpus
    if on_demand_vcpus is not None:
        vcpus["on-demand"] = on_demand_vcpus
    stack = LocalStack(
        (root or _find_root(Path.cwd())).resolve(),
        sweep_interval=sweep_interval,
        vcpus=vcpus,
        log=lambda line: err_console.print(line, markup=False, highlight=False),
        function_log_level="INFO" if verbose else "WARNING",
        schedule_scale=schedule_scale,
        fault_rate=min(max(faults, 0.0), 0.5),
        fault_seed=fault_seed,
    )
    # SIGTERM (kill, a service manager, a CI runner) stops the stack as Ctrl-C does: its jobs' processes are killed
    # and its work directories removed, rather than left running under init.
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        stack.start()
        url = stack.serve_api(port)
        console.print(f"[bold green]batchplane local stack[/] serving {url}  (Ctrl-C or SIGTERM to stop)")
        for line in banner(url, stack.moto.endpoint, stack.batch_endpoint, stack.table_name()):
            console.print(line, markup=False, highlight=False, soft_wrap=True)  # command lines: never wrapped
        if faults > 0:
            console.print(f"  chaos: {min(faults, 0.5):.0%} of the functions' AWS calls fail (seed {fault_seed})")
        for ce in stack.capacity():
            console.print(f"  compute environment {ce['name']}: {ce['capacity']}, {ce['maxVcpus']} vCPUs")
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, _StopRequested):
        console.print("stopping")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        try:
            stack.stop()
        finally:
            signal.signal(signal.SIGTERM, previous)


class _StopRequested(Exception):  # noqa: N818 - a request, not an error
    """SIGTERM arrived: stop as Ctrl-C stops."""


def _raise_stop(_signum: int, _frame: object) -> None:
    raise _StopRequested


def banner(api: str, aws: str, batch: str, table: str | None) -> list[str]:
    """What `local up` tells a user at start: where each endpoint is, how to reach it with the AWS CLI, and that its
    state does not outlive it."""
    creds = "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1"
    lines = [
        f"  API (this CLI: export BATCHPLANE_API={api})",
        f"    {api}",
        "  emulated AWS (DynamoDB, SQS, Step Functions, EventBridge, CloudWatch Logs, ...)",
        f"    {aws}",
        "  local AWS Batch",
        f"    {batch}",
        "  with the aws command line (any credentials; these are the stack's):",
        f"    export {creds}",
        f"    aws batch describe-job-queues --endpoint-url {batch}",
    ]
    if table:
        lines.append(f"    aws dynamodb scan --table-name {table} --endpoint-url {aws}")
    lines += [
        f"    aws logs describe-log-streams --log-group-name /aws/batch/job --endpoint-url {aws}",
        "  state (jobs, pipelines, schedules, logs) lives in memory: it is lost when the stack stops",
    ]
    return lines


@local_app.command("demo")
def local_demo(
    root: Annotated[Path | None, typer.Option(help="the checkout holding template.yaml")] = None,
) -> None:
    """Start the local stack and show the control plane at work (make demo)."""
    from batchplane_local.demo import run

    raise typer.Exit(run((root or _find_root(Path.cwd())).resolve()))


# --- pipelines ----------------------------------------------------------------------------------------------------

pipeline_app = typer.Typer(help="Run multi-job pipelines (DAGs)", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")
PIPELINE_TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def _pipeline_table(p: dict[str, Any]) -> Table:
    table = Table(title=f"{p.get('name')} ({p.get('pipelineId')}): {p.get('status')}, run {p.get('run')}")
    for col in ("job", "state", "jobId"):
        table.add_column(col)
    for j in p.get("jobs", []):
        table.add_row(_s(j.get("id")), _status(j.get("state")), _s(j.get("jobId") or ""))
    return table


def _pipeline_counts(p: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for j in p.get("jobs") or []:
        counts[str(j.get("state"))] = counts.get(str(j.get("state")), 0) + 1
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
                    console.print(f"  {_s(key)}  {_status(state)}  {_s(j.get('jobId') or '')}".rstrip())
            spinner.update(f"pipeline {escape(pid)} {_s(p.get('status'))}: {_s(_pipeline_counts(p))}")
            if p.get("status") in PIPELINE_TERMINAL:
                break
            if deadline is not None and time.monotonic() >= deadline:
                typer.echo(f"timed out after {timeout:g}s; pipeline {pid} is {p.get('status')}", err=True)
                return EXIT_TIMEOUT
            time.sleep(interval)
            p = _call(ctx, "pipeline", pid)
    console.print(_pipeline_table(p))
    if p.get("status") != "SUCCEEDED":
        typer.echo(f"pipeline {pid} {p.get('status')}: {_pipeline_counts(p)}", err=True)
        return EXIT_NOT_SUCCEEDED
    return 0


_TIMEOUT_HELP = "--wait: give up after this many seconds (exit 2)"
_WAIT_HELP = "follow it until it ends, showing each job's progress; exit 0 on SUCCEEDED, 1 otherwise"


@pipeline_app.command("run", epilog=EXIT_CODES_HELP)
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
    p = _call(ctx, "create_pipeline", _load_file(file, "FILE"), idempotency_key)
    if as_json:
        _print_json(p)
    else:
        console.print(f"pipeline [bold]{_s(p.get('pipelineId'))}[/bold] {_status(p.get('status'))}")
    if wait:
        raise typer.Exit(_follow_pipeline(ctx, p, interval, timeout))


@pipeline_app.command("list")
def pipeline_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=100, help="how many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Your pipelines, newest first (GET /pipelines)."""
    answer = _call(ctx, "pipelines", limit)
    if as_json:
        _print_json(answer)
        return
    table = Table()
    for col in ("pipelineId", "name", "status", "run", "jobs", "createdAt"):
        table.add_column(col, overflow="fold")
    for p in answer.get("pipelines") or []:
        table.add_row(
            _s(p.get("pipelineId")),
            _s(p.get("name")),
            _status(p.get("status")),
            _s(p.get("run")),
            _s(_pipeline_counts(p)),
            _s(p.get("createdAt")),
        )
    console.print(table)


@pipeline_app.command("status")
def pipeline_status(
    ctx: typer.Context,
    pipeline_id: Annotated[str, typer.Argument()],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A pipeline and every job's state."""
    p = _call(ctx, "pipeline", pipeline_id)
    if as_json:
        _print_json(p)
    else:
        console.print(_pipeline_table(p))


@pipeline_app.command("graph")
def pipeline_graph(
    ctx: typer.Context,
    pipeline_id: Annotated[str, typer.Argument()],
    fmt: Annotated[str, typer.Option("--format", help="mermaid or dot")] = "mermaid",
) -> None:
    """The DAG with states, as Mermaid or Graphviz DOT."""
    typer.echo(_invoke(ctx, "pipeline_graph", pipeline_id, fmt))


@pipeline_app.command("cancel")
def pipeline_cancel(
    ctx: typer.Context,
    pipeline_id: Annotated[str, typer.Argument()],
    reason: Annotated[str | None, typer.Option(help="why (recorded on the jobs it cancels)")] = None,
) -> None:
    """Stop the execution, cancel (TerminateJob) its running jobs and skip the waiting ones."""
    console.print(_pipeline_table(_call(ctx, "pipeline_action", pipeline_id, "cancel", reason)))


@pipeline_app.command("resume", epilog=EXIT_CODES_HELP)
def pipeline_resume(
    ctx: typer.Context,
    pipeline_id: Annotated[str, typer.Argument()],
    wait: Annotated[bool, typer.Option("--wait", help=_WAIT_HELP)] = False,
    interval: Annotated[float, typer.Option(min=0, help="seconds between polls")] = 1.0,
    timeout: Annotated[float | None, typer.Option(min=0, help=_TIMEOUT_HELP)] = None,
) -> None:
    """A new run that re-runs only what did not succeed (and what depends on it)."""
    p = _call(ctx, "pipeline_action", pipeline_id, "resume")
    if not wait:
        console.print(_pipeline_table(p))
        return
    console.print(f"pipeline [bold]{_s(p.get('pipelineId'))}[/bold] run {_s(p.get('run'))} {_status(p.get('status'))}")
    raise typer.Exit(_follow_pipeline(ctx, p, interval, timeout))
