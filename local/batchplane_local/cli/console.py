"""`batchplane console`: the web console against a deployed API, served on loopback by a forwarding proxy."""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer

from batchplane_local.cli.api import Settings, is_loopback
from batchplane_local.cli.output import EXIT_API_ERROR, EXIT_USAGE, console, fail


def console_command(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1 (0: any free port)")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(envvar="BATCHPLANE_TOKEN", help="a JWT for an API deployed with AuthMode JWT (instead of SigV4)"),
    ] = None,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="open the console in a browser")] = False,
) -> None:
    """Serve the web console on 127.0.0.1 and forward its API calls to --api, SigV4-signed with your AWS
    credentials (or with --token): nothing new is exposed in the account. Against the local stack, open its
    /console instead."""
    from werkzeug.serving import make_server

    from batchplane_local.console.proxy import ConsoleProxy

    s: Settings = ctx.obj
    if is_loopback(s.api) and not s.sign and token is None:
        console.print(f"note: the local stack serves the console itself at {s.api.rstrip('/')}/console/")
    try:
        proxy = ConsoleProxy(s.api, sign=s.sign, token=token, tenant=s.tenant)
    except RuntimeError as exc:  # no credentials / region for signing
        fail(str(exc), EXIT_API_ERROR)
    try:
        server = make_server("127.0.0.1", port, proxy, threaded=True)
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port}: {exc}", EXIT_USAGE)
    proxy.bind(server.server_port)
    url = f"http://127.0.0.1:{server.server_port}/console/"
    auth = "a bearer token" if token else ("SigV4 (execute-api)" if s.sign else "no signing")
    console.print(f"[bold green]batchplane console[/] {url}  → {s.api} with {auth}  (Ctrl-C to stop)", soft_wrap=True)
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.server_close()
        proxy.close()
