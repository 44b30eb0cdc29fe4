"""The local HTTP API: requests in API Gateway HTTP API (v2) format to the template's routes, plus `/_local` chaos
and health routes that exist only locally."""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Protocol

from werkzeug.wrappers import Request, Response

from batchplane_local.batch.engine import LocalBatch
from batchplane_local.console.assets import ConsoleConfig, console_response, is_console_path
from batchplane_local.stack.functions import LocalFunction
from batchplane_local.stack.http_api import Route, http_event, match

DEFAULT_TENANT = "local-user"
TENANT_HEADER = "X-Batchplane-Tenant"
_TENANT_RE = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")  # an IAM user name's characters


class RunningStack(Protocol):
    """What the local API needs of the running stack (`runtime.LocalStack` is one)."""

    routes: list[Route]
    functions: dict[str, LocalFunction]
    ready: threading.Event
    batch: LocalBatch
    faults: Any
    fault_rate: float

    def capacity(self) -> list[dict[str, Any]]: ...
    def set_capacity(self, capacity: str, max_vcpus: int) -> list[dict[str, Any]]: ...
    def interrupt(self, job_id: str) -> str | None: ...
    def execution_history(self, pipeline_id: str) -> dict[str, Any] | None: ...
    def iam_report(self) -> dict[str, Any]: ...
    def sweep_now(self) -> dict[str, Any]: ...


def _json(status: int, body: Any, content_type: str = "application/json") -> Response:
    return Response(json.dumps(body), status=status, content_type=content_type)


def _problem(status: int, title: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return _json(status, body, "application/problem+json")


class LocalApi:
    """A WSGI app. Locally the caller is authenticated as IAM user ``local-user`` unless the request names another
    tenant in the ``X-Batchplane-Tenant`` header (what API Gateway's IAM authorizer would have verified)."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self._console = ConsoleConfig(api_base="", mode="local", api_url="this local stack", tenant_header=True)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_local/"):
            return self.local_route(request)
        if is_console_path(path) and request.method in ("GET", "HEAD"):  # the web console (local only: no route)
            return console_response(path, self._console)
        matched = match(self.stack.routes, request.method, path)
        if matched is None:
            return _json(404, {"message": "Not Found"})  # what API Gateway answers for no route
        route, params = matched
        tenant = request.headers.get(TENANT_HEADER, DEFAULT_TENANT)
        if not _TENANT_RE.match(tenant):
            return _json(403, {"message": "Forbidden"})
        headers = {k: v for k, v in request.headers.items() if k.lower() != TENANT_HEADER.lower()}
        event = http_event(
            route,
            params,
            method=request.method,
            path=path,
            query=request.query_string.decode(),
            headers=headers,
            body=request.get_data(),
            tenant=tenant,
            source_ip=request.remote_addr or "127.0.0.1",
        )
        try:
            result = self.stack.functions[route.function].invoke(event)
        except Exception:  # noqa: BLE001 - API Gateway answers 500 when the integration fails
            return _json(500, {"message": "Internal Server Error"})
        return _from_lambda(result)

    def local_route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/_local/health" and method == "GET":
            ok = self.stack.ready.is_set()
            return _json(200 if ok else 503, {"status": "ok" if ok else "starting"})
        if path == "/_local/capacity" and method == "GET":
            return _json(200, {"computeEnvironments": self.stack.capacity()})
        if path == "/_local/capacity" and method == "PUT":
            body = request.get_json(silent=True) or {}
            capacity, max_vcpus = body.get("capacity"), body.get("maxVcpus")
            if capacity not in ("spot", "on-demand") or not isinstance(max_vcpus, int) or max_vcpus < 0:
                return _problem(422, "Invalid request", 'expected {"capacity": "spot|on-demand", "maxVcpus": n>=0}')
            return _json(200, {"computeEnvironments": self.stack.set_capacity(capacity, max_vcpus)})
        if path == "/_local/interrupt" and method == "POST":
            body = request.get_json(silent=True) or {}
            job_id = body.get("jobId")
            if not isinstance(job_id, str):
                return _problem(422, "Invalid request", 'expected {"jobId": "..."}')
            found = self.stack.interrupt(job_id)
            if found is None:
                return _problem(409, "Conflict", f"job {job_id} has no running attempt to interrupt")
            return _json(200, {"jobId": job_id, "interrupted": found})
        if path.startswith("/_local/pipelines/") and path.endswith("/history") and method == "GET":
            pid = path.split("/")[3]
            found = self.stack.execution_history(pid)
            if found is None:
                return _problem(404, "Not found", f"no execution for pipeline {pid}")
            return _json(200, found)
        if path == "/_local/batch/jobs" and method == "GET":
            rate = self.stack.batch.submit_rate
            refused = rate.refused if rate is not None else 0
            return _json(200, {"jobs": self.stack.batch.submitted(), "submitJobThrottled": refused})
        if path == "/_local/faults" and method == "GET":
            faults = self.stack.faults
            injected = dict(faults.injected) if faults is not None else {}
            return _json(200, {"rate": self.stack.fault_rate, "injected": injected})
        if path == "/_local/iam" and method == "GET":
            return _json(200, self.stack.iam_report())
        if path == "/_local/sweep" and method == "POST":
            return _json(200, self.stack.sweep_now())
        return _problem(404, "Not found", "no such local route")


def _from_lambda(result: Any) -> Response:
    """API Gateway's mapping of a payload-2.0 Lambda answer to an HTTP response."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return _json(200, result)
    headers = dict(result.get("headers") or {})
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[key] = ",".join(values)
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        import base64

        data = base64.b64decode(body)
    else:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    response = Response(data, status=int(result["statusCode"]))
    for key, value in headers.items():
        response.headers[key] = value
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response
