"""Requests to the local stack's own endpoints, handed to their WSGI apps in this process instead of over TCP.

Every AWS call a function makes is built, authorised (the enforced-IAM hooks run before it) and signed by botocore as
in AWS; then, at botocore's ``before-send``, where the request would leave the process for moto's or the local
Batch's HTTP server in this same process, this hook hands the same request (method, URL, headers, body) to that
server's WSGI app as the server would, and returns its answer (status, headers, body) to botocore, which parses it
as it parses any answer. What it saves is the loopback TCP connection and the server thread werkzeug's development
server opens for every request (it closes each connection after one answer: no keep-alive), about two thirds of a
small call's time (tests/local/test_loopback.py compares the answers byte for byte).

Registered last on ``before-send``. botocore runs every ``before-send`` hook and takes the first answer, so a hook
that answers before this one (the chaos hook's injected fault) marks the request (``mark_answered``) and this one
leaves it alone: a lost request is not applied. The servers keep
serving everyone else (the real ``aws`` CLI, the Step Functions interpreter calling back, a moto in its own
process, for which this hook is not registered)."""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import botocore
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

_ANSWERED = "_batchplane_answered"


def mark_answered(request: Any) -> None:
    """Tell this hook that an earlier ``before-send`` hook has answered ``request``: it must not reach the app."""
    setattr(request, _ANSWERED, True)


class _Raw(io.BytesIO):
    """An answer's body as botocore reads one: ``stream()`` for whole bodies, ``read()`` for streamed ones."""

    def stream(self, **_: Any) -> Iterable[bytes]:
        while chunk := self.read(65536):
            yield chunk


_NO_APP = object()  # an endpoint only its direct handler answers (a moto in its own process: moto_channel)


class Loopback:
    """A botocore ``before-send`` hook: a request to one of its endpoints (scheme://host:port) is answered in the
    calling thread, by the endpoint's direct handler when it has one and it answers (moto's DynamoDB handler,
    ``moto_glue.direct_dynamodb``; or the socket to a moto in its own process, ``moto_channel.Channel``), else by
    the endpoint's WSGI app; any other request is left to botocore's HTTP session."""

    def __init__(self) -> None:
        self._apps: dict[str, Any] = {}
        self._direct: dict[str, Callable[[Any], tuple[int, Mapping[str, str], bytes] | None]] = {}
        self._lock = threading.Lock()
        self.served = 0  # requests answered in process (for tests and the bench)

    def add(
        self,
        endpoint: str,
        app: Any,
        direct: Callable[[Any], tuple[int, Mapping[str, str], bytes] | None] | None = None,
    ) -> None:
        """Serve ``endpoint`` with the WSGI ``app``; ``direct``, when given, is asked first: it answers a request
        (status, headers, body) without the app, as the service's own in-process mode does, or returns None. With
        no ``app``, ``direct`` alone answers (what it returns None for goes over TCP)."""
        if app is None and direct is None:
            msg = "an endpoint needs an app or a direct handler"
            raise ValueError(msg)
        parts = urlsplit(endpoint)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            self._apps = {**self._apps, origin: _NO_APP if app is None else app}
            if direct is not None:
                self._direct = {**self._direct, origin: direct}

    def register(self, events: Any) -> None:
        events.register_last("before-send.*.*", self)
        # The functions' requests are not signed: SigV4 was 12% of the local stack's own CPU, and nothing here checks
        # a signature (moto checks none; the caller whose role the local stack enforces is the invoking function, not
        # a key). They carry the credential scope alone, which moto reads (which service a request is for, its
        # Region, the access key's account). In AWS the same clients sign every request (the SDK's default).
        events.register_first("choose-signer", _scope_only)
        events.register_first("before-sign", _add_scope)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        url = urlsplit(request.url)
        origin = f"{url.scheme}://{url.netloc}"
        app = self._apps.get(origin)
        if app is None or getattr(request, _ANSWERED, False):
            return None
        direct = self._direct.get(origin)
        quick = direct(request) if direct is not None else None
        if quick is None and app is _NO_APP:
            return None
        if quick is not None:
            status, quick_headers, quick_body = quick
            headers = HTTPHeaders()
            for name, value in quick_headers.items():
                headers[name] = value
            self.served += 1
            return AWSResponse(request.url, status, headers, _Raw(quick_body))
        body = request_body(request.body)
        environ = _environ(request.method, url, request.headers, body)
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer["status"] = int(status.split(" ", 1)[0])
            answer["headers"] = headers
            return lambda _data: None

        chunks = app(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        headers = HTTPHeaders()
        for name, value in answer["headers"]:
            headers[name] = value
        self.served += 1
        return AWSResponse(request.url, answer["status"], headers, _Raw(data))


_SCOPE_ONLY = "batchplane_scope_only"


def _scope_only(context: dict[str, Any] | None = None, **_: Any) -> Any:
    if context is None:
        return None
    context[_SCOPE_ONLY] = True
    return botocore.UNSIGNED


def _add_scope(request: Any, signing_name: str, region_name: str, request_signer: Any, **_: Any) -> None:
    """An unsigned request's Authorization header: SigV4's shape, its credential scope, no signature."""
    if not request.context.get(_SCOPE_ONLY):
        return
    signing = request.context.get("signing") or {}
    credentials = getattr(request_signer, "_credentials", None)
    key = getattr(credentials, "access_key", None) or "AKIAIOSFODNN7EXAMPLE"
    scope = f"{key}/{time.strftime('%Y%m%d', time.gmtime())}/{signing.get('region') or region_name}"
    scope += f"/{signing.get('signing_name') or signing_name}/aws4_request"
    request.headers["Authorization"] = f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=none"


def request_body(body: Any) -> bytes:
    """A request's body as bytes, whatever botocore holds it as (bytes, text, or a file it rewinds itself)."""
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    data = body.read()  # a file-like body (botocore rewinds it itself before a retry)
    return data.encode() if isinstance(data, str) else bytes(data)


def _environ(method: str, url: Any, headers: Any, body: bytes) -> dict[str, Any]:
    """The WSGI environ werkzeug's server builds for this request (PEP 3333: PATH_INFO unquoted, as latin-1)."""
    raw_path = url.path or "/"
    raw_uri = f"{raw_path}?{url.query}" if url.query else raw_path
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": url.query,
        "REQUEST_URI": raw_uri,
        "RAW_URI": raw_uri,
        "SERVER_NAME": url.hostname or "127.0.0.1",
        "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": url.netloc,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = text
        elif key != "CONTENT_LENGTH":
            environ[f"HTTP_{key}"] = text
    return environ
