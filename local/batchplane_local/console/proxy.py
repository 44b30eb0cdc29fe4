"""``batchplane console``: the console against a deployed stack, with nothing new exposed in the account.

A WSGI app on loopback: ``/console/`` serves the same static assets as the local stack, and ``/api/<path>`` forwards
to the API, SigV4-signed for ``execute-api`` with the user's own AWS credentials (IAM auth) or with their bearer
token (JWT auth). The credentials never reach the browser.

A server on loopback that signs what it forwards could be made to sign for any page the browser opens, so it answers
only requests that (1) name it by its loopback host and port (no DNS rebinding) and (2) carry the console's own
``X-Batchplane-Console`` header, which a page of another origin cannot send without a CORS preflight that this server
never grants. Only the methods and headers the API uses are forwarded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
from botocore.session import Session
from werkzeug.wrappers import Request, Response

from batchplane_local.client import IDEMPOTENCY_HEADER, TENANT_HEADER, SigV4, region_for
from batchplane_local.console.assets import CONSOLE_HEADER, PREFIX, ConsoleConfig, console_response, is_console_path

API_PREFIX = "/api"
_METHODS = ("GET", "POST", "PUT", "DELETE")
_FORWARDED = ("content-type", "accept", IDEMPOTENCY_HEADER.lower())
_RETURNED = ("content-type", "location", "idempotent-replayed", "retry-after")


def canonical_query(raw: str) -> str:
    """The query as SigV4's canonical form wants it on the wire: RFC 3986 (``%20``, never ``+``), in order."""
    pairs = parse_qsl(raw, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


class ConsoleProxy:
    """The loopback server's WSGI app. ``allow_hosts`` are the Host headers it answers (set once the port is known)."""

    def __init__(
        self,
        api_url: str,
        *,
        sign: bool,
        token: str | None = None,
        tenant: str | None = None,
        transport: httpx.BaseTransport | None = None,
        session: Session | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.tenant = tenant
        self.allow_hosts: set[str] = set()
        auth = SigV4(region_for(self.api_url, session), session) if sign and not token else None
        self._http = httpx.Client(
            base_url=self.api_url,
            auth=auth,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": "batchplane-console"},
        )
        self.config = ConsoleConfig(api_base=API_PREFIX, mode="proxy", api_url=self.api_url)

    def bind(self, port: int) -> None:
        self.allow_hosts = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}

    def close(self) -> None:
        self._http.close()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = self.dispatch(Request(environ))
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        if request.host not in self.allow_hosts:
            return problem(421, "Misdirected request", "this server answers only on its own loopback address")
        path = request.path
        if path == "/":
            return Response(status=302, headers={"Location": PREFIX + "/"})
        if is_console_path(path):
            if request.method not in ("GET", "HEAD"):
                return problem(405, "Method not allowed", "the console's assets are read-only")
            return console_response(path, self.config)
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            if request.headers.get(CONSOLE_HEADER) != "1":
                return problem(403, "Forbidden", f"API calls through the console need the {CONSOLE_HEADER} header")
            if request.method not in _METHODS:
                return problem(405, "Method not allowed", f"the console forwards only {', '.join(_METHODS)}")
            return self.forward(request, path[len(API_PREFIX) :] or "/")
        return problem(404, "Not found", "the console is at /console/ and the API at /api/")

    def forward(self, request: Request, path: str) -> Response:
        url = quote(path, safe="/-_.~")
        query = canonical_query(request.query_string.decode("latin-1"))
        if query:
            url += "?" + query
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.tenant:
            headers[TENANT_HEADER] = self.tenant
        body = request.get_data() or None
        try:
            answer = self._http.request(request.method, url, content=body, headers=headers)
        except httpx.TransportError as exc:
            return problem(502, "Bad gateway", f"cannot reach the batchplane API at {self.api_url}: {exc}")
        response = Response(answer.content, status=answer.status_code)
        for key in _RETURNED:
            if key in answer.headers:
                response.headers[key] = answer.headers[key]
        return response


def problem(status: int, title: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(json.dumps(body), status=status, content_type="application/problem+json")
