"""`batchplane local ...`: the local stack (up) and its demo."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from batchplane_local.cli.output import console, err_console

app = typer.Typer(help="Run the local stack")


def _find_root(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / "template.yaml").exists() and (folder / "functions").is_dir():
            return folder
    raise typer.BadParameter("no template.yaml here or above: run from a batchplane checkout, or pass --root")


@app.command("up")
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
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            help="a template parameter, KEY=VALUE (repeatable), e.g. EnableFargate=true or "
            "AllowedImageRegistries=public.ecr.aws/"
        ),
    ] = None,
) -> None:
    """Run the whole control plane on this machine: the template's functions, routes, rules and schedules, AWS
    emulated by moto, and AWS Batch emulated by local compute environments that really run jobs."""
    from batchplane_local.stack.runtime import LocalStack

    vcpus: dict[str, int] = {}
    if spot_vcpus is not None:
        vcpus["spot"] = spot_vcpus
    if on_demand_vcpus is not None:
        vcpus["on-demand"] = on_demand_vcpus
    parameters: dict[str, str] = {}
    for pair in parameter or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: expected KEY=VALUE", param_hint="--parameter")
        parameters[key] = value
    stack = LocalStack(
        (root or _find_root(Path.cwd())).resolve(),
        parameters=parameters,
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
        "  web console",
        f"    {api}/console/",
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


@app.command("demo")
def local_demo(
    root: Annotated[Path | None, typer.Option(help="the checkout holding template.yaml")] = None,
) -> None:
    """Start the local stack and show the control plane at work (make demo)."""
    from batchplane_local.demo import run

    raise typer.Exit(run((root or _find_root(Path.cwd())).resolve()))
