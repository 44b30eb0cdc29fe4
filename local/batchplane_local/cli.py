"""``batchplane``: the user CLI of the batchplane API (typer + rich).

Global options pick the API (``--api`` / BATCHPLANE_API), the local stack's tenant (``--tenant`` /
BATCHPLANE_TENANT) and SigV4 signing (``--sign/--no-sign``; on by default for any non-loopback URL).

Exit codes: 0 success, 1 API error (the problem is printed to stderr) or a FAILED or CANCELLED job (``watch``), 2 usage
error or ``watch --timeout`` elapsed, 3 the API could not be reached."""

from __future__ import annotations

import ipaddress
import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

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
EXIT_TIMEOUT = 2
EXIT_CONNECTION = 3

app = typer.Typer(help="batchplane: a serverless control plane for AWS Batch.", no_args_is_help=True)

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
            err_console.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(EXIT_API_ERROR) from exc
        ctx.call_on_close(s.client.close)
    return s.client


def _call(ctx: typer.Context, fn_name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """One API call with the CLI's error handling (problem → stderr, exit 1; unreachable → exit 3)."""
    try:
        result: dict[str, Any] = getattr(_client(ctx), fn_name)(*args, **kwargs)
        return result
    except ApiError as exc:
        _print_problem(exc)
        raise typer.Exit(EXIT_API_ERROR) from exc
    except ApiConnectionError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        err_console.print("is the API running? (batchplane local up, or --api / BATCHPLANE_API)")
        raise typer.Exit(EXIT_CONNECTION) from exc


def _print_problem(exc: ApiError) -> None:
    p = exc.problem
    err_console.print(f"[bold red]error {exc.status}: {escape(str(p.get('title') or 'Error'))}[/bold red]")
    if p.get("detail"):
        err_console.print(f"[red]{escape(str(p['detail']))}[/red]")
    for e in p.get("errors") or []:
        if isinstance(e, dict):
            err_console.print(f"  [red]{escape(str(e.get('field', '?')))}[/red]: {escape(str(e.get('message', '')))}")


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
) -> None:
    ctx.obj = Settings(api=api, tenant=tenant, sign=(not is_loopback(api)) if sign is None else sign)


# --- submit -------------------------------------------------------------------------------------------------------


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        out[key] = value
    return out


def _load_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise typer.BadParameter(str(exc), param_hint="--file") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--file") from exc
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path}: expected a JSON/YAML object", param_hint="--file")
    return data


def build_job(
    base: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    command: list[str] | None = None,
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
    if command:
        job["command"] = shlex.split(command[0]) if len(command) == 1 else list(command)
    if attempts is not None:
        job["retry"] = {**(job.get("retry") or {}), "attempts": attempts}
    if tags:
        job["tags"] = {**(job.get("tags") or {}), **tags}
    if env:
        job["environment"] = {**(job.get("environment") or {}), **env}
    return job


@app.command()
def submit(  # typer passes options by keyword
    ctx: typer.Context,
    *,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="job.json or job.yaml (flags override)")] = None,
    name: Annotated[str | None, typer.Option(help="job name")] = None,
    command: Annotated[
        list[str] | None, typer.Option(help="the command: one string (split like a shell) or repeated")
    ] = None,
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
    definition: Annotated[str | None, typer.Option(help="job definition name or ARN")] = None,
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key", help="Idempotency-Key header")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Submit a job."""
    job = build_job(
        _load_file(file) if file else None,
        name=name,
        command=command,
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
        definition=definition,
    )
    if not job.get("name"):
        raise typer.BadParameter("a job needs a name (--name or the file's name)", param_hint="--name")
    answer = _call(ctx, "submit", job, idempotency_key)
    if as_json:
        _print_json(answer)
        return
    console.print(f"[bold]{_s(answer.get('jobId'))}[/bold]  {_status(answer.get('status'))}")
    console.print(f"queue:     {_s(answer.get('queue'))}")
    console.print(f"placement: {_s(answer.get('placementReason'))}")


# --- status / watch -----------------------------------------------------------------------------------------------


def _attempts_table(job: dict[str, Any]) -> Table:
    table = Table(title="attempts", title_justify="left")
    for col in ("attempt", "reason", "capacity", "queue", "status", "exit", "memory", "statusReason"):
        table.add_column(col, overflow="fold")
    for a in job.get("attempts") or []:
        table.add_row(
            _s(a.get("attempt")),
            _s(a.get("reason")) + (f" (replaces a{a['replaces']})" if a.get("replaces") else ""),
            _s(a.get("capacity")),
            _s(a.get("queue")),
            _status(a.get("status")),
            _s(a.get("exitCode")),
            _s(a.get("memoryMiB")),
            _s(a.get("statusReason") or a.get("containerReason")),
        )
    return table


@app.command()
def status(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Show a job and its attempts."""
    job = _call(ctx, "get", job_id)
    if as_json:
        _print_json(job)
        return
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    rows = [
        ("job", _s(job.get("jobId"))),
        ("name", _s(job.get("name"))),
        ("status", _status(job.get("status")) + (f"  {_s(job['statusReason'])}" if job.get("statusReason") else "")),
        ("priority", _s(job.get("priority"))),
        ("capacity", _s(job.get("capacity"))),
        ("queue", _s(job.get("queue"))),
        ("placement", _s(job.get("placementReason"))),
        ("created", _s(job.get("createdAt"))),
        ("updated", _s(job.get("updatedAt"))),
    ]
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


@app.command()
def watch(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    interval: Annotated[float, typer.Option(min=0, help="seconds between polls")] = 1.0,
    timeout: Annotated[float | None, typer.Option(min=0, help="give up after this many seconds (exit 2)")] = None,
) -> None:
    """Follow a job until it SUCCEEDED (exit 0), FAILED or was CANCELLED (exit 1)."""
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
                err_console.print(f"[yellow]timed out after {timeout:g}s; job is {_s(job.get('status'))}[/yellow]")
                raise typer.Exit(EXIT_TIMEOUT)
            time.sleep(interval)
    if job.get("status") == "FAILED":
        err_console.print(f"[red]FAILED[/red] {_s(job.get('statusReason'))}")
        raise typer.Exit(1)
    if job.get("status") == "CANCELLED":
        err_console.print(f"[magenta]CANCELLED[/magenta] {_s(job.get('statusReason'))}")
        raise typer.Exit(1)
    console.print("[green]SUCCEEDED[/green]")


# --- logs / lineage -----------------------------------------------------------------------------------------------


@app.command()
def logs(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Print the latest attempt's log lines."""
    answer = _call(ctx, "logs", job_id)
    if as_json:
        _print_json(answer)
        return
    err_console.print(
        f"[dim]attempt {_s(answer.get('attempt'))}  stream {_s(answer.get('logStreamName')) or '(none yet)'}[/dim]"
    )
    for line in answer.get("lines") or []:
        typer.echo(line.get("message", "") if isinstance(line, dict) else line)


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
    """Cancel a job (CancelJob before STARTING, TerminateJob once STARTING/RUNNING)."""
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
    all_pages: Annotated[bool, typer.Option("--all", help="follow nextToken to the end")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw jobs")] = False,
) -> None:
    """List your jobs, newest first."""
    if tag is not None:
        _pairs([tag], "--tag")
    jobs: list[dict[str, Any]] = []
    token: str | None = None
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
        console.print(f"[dim]more: --all, or nextToken {escape(token)}[/dim]")


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


def main() -> None:
    app()


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
    stack.start()
    url = stack.serve_api(port)
    console.print(f"[bold green]batchplane local stack[/] serving {url}  (Ctrl-C to stop)")
    if faults > 0:
        console.print(f"  chaos: {min(faults, 0.5):.0%} of the functions' AWS calls fail (seed {fault_seed})")
    for ce in stack.capacity():
        console.print(f"  compute environment {ce['name']}: {ce['capacity']}, {ce['maxVcpus']} vCPUs")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        stack.stop()


@local_app.command("demo")
def local_demo(
    root: Annotated[Path | None, typer.Option(help="the checkout holding template.yaml")] = None,
) -> None:
    """Start the local stack and show the control plane at work (make demo)."""
    from batchplane_local.demo import run

    raise typer.Exit(run((root or _find_root(Path.cwd())).resolve()))


# --- pipelines ----------------------------------------------------------------------------------------------------

pipeline_app = typer.Typer(help="Run multi-job pipelines (DAGs)")
app.add_typer(pipeline_app, name="pipeline")


def _pipeline_table(p: dict[str, Any]) -> Table:
    table = Table(title=f"{p.get('name')} ({p.get('pipelineId')}): {p.get('status')}, run {p.get('run')}")
    for col in ("job", "state", "jobId"):
        table.add_column(col)
    for j in p.get("jobs", []):
        table.add_row(_s(j.get("id")), _status(j.get("state")), _s(j.get("jobId") or ""))
    return table


@pipeline_app.command("run")
def pipeline_run(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="the pipeline, JSON or YAML", exists=True, dir_okay=False)],
    idempotency_key: Annotated[str | None, typer.Option(help="submit at most once with this key")] = None,
    wait: Annotated[bool, typer.Option(help="follow it until it ends (exit 0 on SUCCEEDED)")] = False,
    interval: Annotated[float, typer.Option(help="seconds between polls")] = 1.0,
) -> None:
    """Submit a pipeline (POST /pipelines)."""
    text = file.read_text()
    body = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    p = _call(ctx, "create_pipeline", body, idempotency_key)
    console.print(f"pipeline [bold]{p['pipelineId']}[/bold] {p['status']}")
    if not wait:
        return
    while p.get("status") == "RUNNING":
        time.sleep(interval)
        p = _call(ctx, "pipeline", p["pipelineId"])
    console.print(_pipeline_table(p))
    raise typer.Exit(0 if p.get("status") == "SUCCEEDED" else 1)


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
    try:
        typer.echo(_client(ctx).pipeline_graph(pipeline_id, fmt))
    except ApiError as exc:
        _print_problem(exc)
        raise typer.Exit(EXIT_API_ERROR) from exc


@pipeline_app.command("cancel")
def pipeline_cancel(ctx: typer.Context, pipeline_id: Annotated[str, typer.Argument()]) -> None:
    """Stop the execution and cancel / terminate its running jobs."""
    console.print(_pipeline_table(_call(ctx, "pipeline_action", pipeline_id, "cancel")))


@pipeline_app.command("resume")
def pipeline_resume(ctx: typer.Context, pipeline_id: Annotated[str, typer.Argument()]) -> None:
    """A new run that re-runs only what did not succeed (and what depends on it)."""
    console.print(_pipeline_table(_call(ctx, "pipeline_action", pipeline_id, "resume")))
