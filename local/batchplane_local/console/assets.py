"""The console's static assets (package data under ``static/``) as HTTP responses, for both the local stack's
``/console`` and ``batchplane console``'s loopback server.

The page learns where the API is from ``/console/config.json``: the local stack serves its routes on the same origin
(``apiBase`` ""), ``batchplane console`` under ``/api`` (its forwarding proxy)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from werkzeug.wrappers import Response

PREFIX = "/console"
CONSOLE_HEADER = "X-Batchplane-Console"  # the page sends it on every API call; the proxy forwards nothing without it
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".md": "text/markdown; charset=utf-8",
}
# The page loads nothing from elsewhere and may not be framed; inline style attributes are Cytoscape's.
_SECURITY = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class ConsoleConfig:
    api_base: str  # "" (same origin) or "/api"
    mode: str  # "local" or "proxy"
    api_url: str  # what the console talks to, shown in its header
    tenant_header: bool = False  # the local stack: the page may pick a tenant (X-Batchplane-Tenant)

    def as_json(self) -> dict[str, object]:
        return {
            "apiBase": self.api_base,
            "mode": self.mode,
            "apiUrl": self.api_url,
            "tenantHeader": self.tenant_header,
            "consoleHeader": CONSOLE_HEADER,
        }


def static_root() -> Traversable:
    return files("batchplane_local.console").joinpath("static")


def is_console_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def console_response(path: str, config: ConsoleConfig) -> Response:
    """The answer to a GET under ``/console``: the page, its config, or one asset; 404 for anything else (no
    directory listing, no ``..``)."""
    rest = path[len(PREFIX) :].lstrip("/")
    if path == PREFIX:
        return _secure(Response(status=308, headers={"Location": PREFIX + "/"}))
    if rest in ("", "index.html"):
        rest = "index.html"
    if rest == "config.json":
        return _secure(Response(json.dumps(config.as_json()), content_type="application/json"))
    parts = rest.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p for p in parts):
        return _not_found()
    node = static_root()
    for part in parts:
        node = node.joinpath(part)
    suffix = "." + parts[-1].rsplit(".", 1)[-1] if "." in parts[-1] else ""
    if suffix not in _TYPES or not node.is_file():
        return _not_found()
    response = Response(node.read_bytes(), content_type=_TYPES[suffix])
    response.headers["Cache-Control"] = "no-cache"
    return _secure(response)


def _not_found() -> Response:
    body = {"type": "about:blank", "title": "Not found", "status": 404, "detail": "no such console asset"}
    return _secure(Response(json.dumps(body), status=404, content_type="application/problem+json"))


def _secure(response: Response) -> Response:
    for key, value in _SECURITY.items():
        response.headers[key] = value
    return response
