"""The API session of one command: the global options, the client (made on first use, closed with the command) and
one API call with the CLI's error handling."""

from __future__ import annotations

import importlib.metadata
import ipaddress
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer

from batchplane_local.cli.output import EXIT_API_ERROR, EXIT_CONNECTION, fail, problem_line
from batchplane_local.client import ApiConnectionError, ApiError, BatchplaneClient

DEFAULT_API = "http://127.0.0.1:8080"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


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


def api_client(ctx: typer.Context) -> BatchplaneClient:
    """The command's client, made on first use and closed with the command."""
    s: Settings = ctx.obj
    if s.client is None:
        try:
            s.client = make_client(s.api, s.tenant, s.sign)
        except RuntimeError as exc:  # no credentials / region for signing
            fail(str(exc), EXIT_API_ERROR)
        ctx.call_on_close(s.client.close)
    return s.client


def call(ctx: typer.Context, fn_name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """One API call answering JSON, with the CLI's error handling."""
    result: dict[str, Any] = invoke(ctx, fn_name, *args, **kwargs)
    return result


def invoke(ctx: typer.Context, fn_name: str, *args: Any, **kwargs: Any) -> Any:
    """One API call with the CLI's error handling (problem → one line on stderr, exit 1; unreachable → exit 3)."""
    try:
        return getattr(api_client(ctx), fn_name)(*args, **kwargs)
    except ApiError as exc:
        fail(problem_line(exc), EXIT_API_ERROR)
    except ApiConnectionError as exc:
        fail(f"{exc} (is the API running? batchplane local up, or --api / BATCHPLANE_API)", EXIT_CONNECTION)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"batchplane {importlib.metadata.version('batchplane')}")
        raise typer.Exit


def global_options(
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
