"""Job commands: submit, status, watch, cancel, priority, list, and the queue classes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from batchplane_local.cli.api import TERMINAL, call
from batchplane_local.cli.inputs import COMMAND_HELP, build_job, dependencies, load_file, pairs
from batchplane_local.cli.output import (
    EXIT_NOT_SUCCEEDED,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    console,
    cost_text,
    duration_text,
    esc,
    fail,
    one_line,
    print_json,
    styled,
)


def submit(  # typer passes options by keyword
    ctx: typer.Context,
    *,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="job.json or job.yaml (flags override)")] = None,
    name: Annotated[str | None, typer.Option(help="job name")] = None,
    command: Annotated[list[str] | None, typer.Option(help=COMMAND_HELP)] = None,
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
    image: Annotated[
        str | None, typer.Option(help="your container image (a registry the operator allows; instead of --definition)")
    ] = None,
    platform: Annotated[str | None, typer.Option(help="with --image: ec2 (default) or fargate")] = None,
    job_role: Annotated[
        str | None, typer.Option("--job-role", help="with --image: the IAM role ARN it runs as (operator-listed)")
    ] = None,
    volume: Annotated[
        list[str] | None, typer.Option("--volume", help="with --image: a declared volume to mount, e.g. shared")
    ] = None,
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
        load_file(file) if file else None,
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
        tags=pairs(tag, "--tag"),
        env=pairs(env, "--env"),
        parameters=pairs(parameter, "--parameter"),
        depends_on=dependencies(depends_on),
        definition=definition,
        container={"image": image, "platform": platform, "jobRoleArn": job_role, "volumes": volume or None},
    )
    if not job.get("name"):
        fail("--name: a job needs a name (--name or the file's name)", EXIT_USAGE)
    answer = call(ctx, "submit", job, idempotency_key)
    if as_json:
        print_json(answer)
    else:
        console.print(f"[bold]{esc(answer.get('jobId'))}[/bold]  {styled(answer.get('status'))}")
        console.print(f"queue:     {esc(answer.get('queue'))}")
        console.print(f"placement: {esc(answer.get('placementReason'))}")
        if answer.get("image"):
            console.print(f"image:     {esc(answer.get('image'))} ({esc(answer.get('platform'))})")
    if wait:
        raise typer.Exit(_follow(ctx, str(answer.get("jobId")), interval, wait_timeout))


def _attempts_table(job: dict[str, Any]) -> Table:
    table = Table(title="attempts", title_justify="left")
    columns = ("attempt", "reason", "capacity", "queue", "status", "ran", "exit", "failure", "memory", "statusReason")
    for col in (*columns, "containerReason"):
        table.add_column(col, overflow="fold")
    for a in job.get("attempts") or []:
        table.add_row(
            esc(a.get("attempt")),
            esc(a.get("reason")) + (f" (replaces a{a['replaces']})" if a.get("replaces") else ""),
            esc(a.get("capacity")),
            esc(a.get("queue")),
            styled(a.get("status")),
            duration_text(a.get("startedAt"), a.get("stoppedAt")),
            esc(a.get("exitCode")),
            esc(a.get("failureClass")),
            esc(a.get("memoryMiB")),
            esc(a.get("statusReason")),
            esc(a.get("containerReason")),
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


def status(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Show a job and its attempts: for a failure, its class, exit code and AWS's reasons."""
    job = call(ctx, "get", job_id)
    if as_json:
        print_json(job)
        return
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    rows = [
        ("job", esc(job.get("jobId"))),
        ("name", esc(job.get("name"))),
        ("status", styled(job.get("status")) + (f"  {esc(job['statusReason'])}" if job.get("statusReason") else "")),
    ]
    failure = failure_summary(job)
    if failure:
        rows.append(("failure", esc(failure)))
    explanation = ((job.get("attempts") or [{}])[-1]).get("explanation")
    if explanation:
        rows.append(("why", esc(explanation)))
    rows += [
        ("priority", esc(job.get("priority"))),
        ("capacity", esc(job.get("capacity"))),
        ("queue", esc(job.get("queue"))),
        ("placement", esc(job.get("placementReason"))),
        ("definition", esc(job.get("jobDefinition"))),
        ("created", esc(job.get("createdAt"))),
        ("updated", esc(job.get("updatedAt"))),
    ]
    if job.get("image"):  # the local stack runs the command as a process: this is the image AWS would run
        rows.append(("image", esc(f"{job['image']} ({job.get('platform') or 'ec2'})")))
    if job.get("dependsOn"):
        rows.append(("depends on", esc(", ".join(str(d.get("jobId")) for d in job["dependsOn"]))))
    if children := children_line((job.get("attempts") or [{}])[-1]):
        rows.append(("children", esc(children)))
    if job.get("cancelRequested"):
        rows.append(("cancel", "requested"))
    if job.get("waiting"):
        rows.append(("waiting", esc(waiting_line(job["waiting"]))))
    if cost := cost_text(job.get("cost")):
        rows.append(("cost", esc(cost)))
    for label, value in rows:
        head.add_row(label, value)
    console.print(head)
    console.print(_attempts_table(job))


def children_line(attempt: dict[str, Any]) -> str:
    """An array attempt's children by status (the ones with any), then which failed: "3 RUNNING, 2 SUCCEEDED"."""
    summary = attempt.get("arraySummary") or {}
    counts = [f"{n} {status}" for status, n in sorted(summary.items()) if isinstance(n, int) and n > 0]
    failed = attempt.get("failedChildren") or []
    if failed:
        counts.append("failed indexes " + ", ".join(str(i) for i in failed))
    return ", ".join(counts)


def waiting_line(waiting: dict[str, Any]) -> str:
    """A job's ``waiting`` in one line: the hold, then its sentence (and its place in line when it has one)."""
    ahead = waiting.get("ahead")
    place = f" ({ahead} ahead)" if isinstance(ahead, int) and ahead > 0 else ""
    return one_line(f"{waiting.get('hold', '?')}{place}: {waiting.get('reason', '')}")


def _progress_line(job: dict[str, Any]) -> str:
    attempts = job.get("attempts") or []
    last = attempts[-1] if attempts else {}
    where = f"a{last.get('attempt')} {last.get('reason', '')} {last.get('capacity', '')}".strip() if last else ""
    line = f"{esc(job.get('jobId'))}  {styled(job.get('status'))}  {esc(where)}  {esc(job.get('queue'))}"
    if job.get("waiting"):
        line += f"  [dim]waiting: {esc(waiting_line(job['waiting']))}[/dim]"
    return line


def _follow(ctx: typer.Context, job_id: str, interval: float, timeout: float | None) -> int:
    """Poll the job until it ends, a line at each change; the exit code: 0 SUCCEEDED, 1 otherwise, 2 timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    seen: tuple[Any, ...] | None = None
    with console.status(f"watching {escape(job_id)}") as spinner:
        while True:
            job = call(ctx, "get", job_id)
            attempts = job.get("attempts") or []
            held = (job.get("waiting") or {}).get("hold")
            state = (job.get("status"), len(attempts), attempts[-1].get("status") if attempts else None, held)
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
        typer.echo(one_line(f"{job.get('status')}: {why}".rstrip(": ")), err=True)
        return EXIT_NOT_SUCCEEDED
    console.print("[green]SUCCEEDED[/green]")
    return 0


def watch(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    interval: Annotated[float, typer.Option(min=0, help="seconds between polls")] = 1.0,
    timeout: Annotated[float | None, typer.Option(min=0, help="give up after this many seconds (exit 2)")] = None,
) -> None:
    """Follow a job until it ends: exit 0 if it SUCCEEDED, 1 if it FAILED (or was cancelled)."""
    raise typer.Exit(_follow(ctx, job_id, interval, timeout))


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
    dependencies is simply never submitted; a pipeline's job still queued ends at the dispatcher's next look). A job
    that already ended is a 409."""
    answer = call(ctx, "cancel", job_id, reason)
    if as_json:
        print_json(answer)
        return
    if answer.get("action") == "none" and answer.get("status") == "CANCELLED":
        stopped = "no Batch job had been started: none to stop"
        console.print(f"{esc(answer.get('jobId'))}: {styled('CANCELLED')} ({stopped})")
        return
    console.print(f"{esc(answer.get('jobId'))}: {esc(answer.get('action'))} (status {styled(answer.get('status'))})")
    if answer.get("action") == "none" and answer.get("status") == "QUEUED":
        console.print("cancel requested: a pipeline's job still queued ends CANCELLED at the dispatcher's next look")


def priority(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    priority_class: Annotated[str, typer.Argument(metavar="PRIORITY", help="low, normal, high, urgent")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Move a job to another priority class (POST /jobs/{id}/priority).

    A job not in AWS Batch yet (held for its dependencies, in a retry's backoff) moves at once; one waiting in Batch
    (SUBMITTED, PENDING, RUNNABLE) is replaced by a new attempt in the new class's queue and the old Batch job is
    terminated; one that has started or ended cannot move (409). The same class again does nothing."""
    answer = call(ctx, "priority", job_id, priority_class)
    if as_json:
        print_json(answer)
        return
    console.print(
        f"{esc(answer.get('jobId'))}: {esc(answer.get('action'))} "
        f"{esc(answer.get('previousPriority'))} -> {esc(answer.get('priority'))}  "
        f"a{esc(answer.get('attempt'))} {styled(answer.get('status'))} {esc(answer.get('queue'))}"
    )
    console.print(f"[dim]{esc(answer.get('reason'))}[/dim]")


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
        pairs([tag], "--tag")
    jobs: list[dict[str, Any]] = []
    token: str | None = next_token
    while True:
        page = call(ctx, "list", status=status, name=name, tag=tag, limit=limit, next_token=token)
        jobs.extend(page.get("jobs") or [])
        token = page.get("nextToken")
        if not (all_pages and token):
            break
    if as_json:
        print_json({"jobs": jobs, "nextToken": token})
        return
    table = Table()
    for col in ("jobId", "name", "status", "priority", "queue", "createdAt"):
        table.add_column(col, overflow="fold")
    for j in jobs:
        table.add_row(
            esc(j.get("jobId")),
            esc(j.get("name")),
            styled(j.get("status")),
            esc(j.get("priority")),
            esc(j.get("queue")),
            esc(j.get("createdAt")),
        )
    console.print(table)
    if token:
        console.print(f"[dim]more: --next-token {escape(token)}  (or --all)[/dim]", soft_wrap=True)


def queues(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """The queue classes: priority, capacity, Batch queue and the largest job each accepts."""
    answer = call(ctx, "queues")
    if as_json:
        print_json(answer)
        return
    table = Table()  # sizes are what one job may ask (MaxJobVcpus...), not what the queue can run at once
    columns = ("largest job vCPUs", "largest job MiB", "largest job GPUs")
    for col in ("priority", "capacity", "platform", "queue", *columns, "multi-node"):
        table.add_column(col, overflow="fold")
    for q in answer.get("queues") or []:
        table.add_row(
            esc(q.get("priority")),
            esc(q.get("capacity")),
            esc(q.get("platform") or "ec2"),
            esc(q.get("queue")),
            esc(q.get("maxVcpus")),
            esc(q.get("maxMemoryMiB")),
            esc(q.get("maxGpus")),
            "yes" if q.get("multiNode") else "",
        )
    console.print(table)
