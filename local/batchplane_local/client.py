"""A small HTTP client of the batchplane API (httpx underneath).

Against the deployed API (IAM authorization) requests are SigV4-signed for the service ``execute-api`` with the
caller's AWS credentials (botocore's usual chain: environment, profile, SSO, instance role...). Against the local
stack the tenant is chosen with the ``X-Batchplane-Tenant`` header instead."""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Mapping
from typing import Any
from urllib.parse import quote

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.session import Session

TENANT_HEADER = "X-Batchplane-Tenant"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SERVICE = "execute-api"
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
# Headers that are part of the signature; anything a proxy may rewrite (user-agent, connection...) stays out.
_SIGNED = ("host", "content-type", "idempotency-key", TENANT_HEADER.lower())


class ApiError(Exception):
    """A 4xx/5xx answer; ``problem`` is the RFC 9457 body (or one made up from a non-problem answer)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        title = self.problem.get("title") or "Error"
        out = f"{self.status} {title}"
        detail = self.problem.get("detail")
        if detail:
            out += f": {detail}"
        for err in self.problem.get("errors") or []:
            if isinstance(err, Mapping):
                out += f"\n  {err.get('field', '?')}: {err.get('message', '')}"
        return out


class ApiConnectionError(Exception):
    """The API could not be reached (refused, DNS, TLS, timeout)."""

    def __init__(self, base_url: str, cause: Exception) -> None:
        self.base_url = base_url
        self.cause = cause
        super().__init__(f"cannot reach the batchplane API at {base_url}: {cause or type(cause).__name__}")


class SigV4(httpx.Auth):
    """httpx auth flow signing each request with SigV4 (botocore's signer)."""

    requires_request_body = True

    def __init__(self, region: str, session: Session | None = None, service: str = SERVICE) -> None:
        self.region = region
        self.service = service
        creds = (session or Session()).get_credentials()
        if creds is None:
            msg = "no AWS credentials found for SigV4 signing (set a profile or AWS_ACCESS_KEY_ID...)"
            raise RuntimeError(msg)
        self._credentials = creds

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        headers = {k: v for k, v in request.headers.items() if k.lower() in _SIGNED}
        aws = AWSRequest(method=request.method, url=str(request.url), data=request.content or None, headers=headers)
        SigV4Auth(self._credentials.get_frozen_credentials(), self.service, self.region).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws.headers:
                request.headers[name] = aws.headers[name]
        yield request


def region_for(base_url: str, session: Session | None = None) -> str:
    """The signing region: the one in an execute-api host name, else the AWS configuration's."""
    host = httpx.URL(base_url).host
    match = _EXECUTE_API_HOST.search(host)
    if match:
        return match.group(1)
    region = (session or Session()).get_config_variable("region")
    if not region:
        msg = "no AWS region for SigV4 signing (set AWS_REGION or a profile region)"
        raise RuntimeError(msg)
    return str(region)


def _query(params: Mapping[str, Any]) -> str:
    """RFC 3986 encoding (``%20``, not ``+``), as SigV4's canonical query string expects."""
    pairs = [f"{quote(k, safe='-_.~')}={quote(str(v), safe='-_.~')}" for k, v in params.items() if v is not None]
    return "&".join(pairs)


class BatchplaneClient:
    """The batchplane HTTP API. Every method answers the decoded JSON, or raises ApiError / ApiConnectionError."""

    def __init__(
        self,
        base_url: str,
        *,
        tenant: str | None = None,
        sign: bool = False,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        session: Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tenant = tenant
        self.sign = sign
        headers = {"Accept": "application/json, application/problem+json", "User-Agent": "batchplane-cli"}
        if tenant:
            headers[TENANT_HEADER] = tenant
        auth = SigV4(region_for(self.base_url, session), session) if sign else None
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport, auth=auth
        )

    # -- plumbing ----------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BatchplaneClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        query = _query(params or {})
        url = f"{path}?{query}" if query else path
        hdrs = dict(headers or {})
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        try:
            response = self._http.request(method, url, content=content, headers=hdrs)
        except httpx.TransportError as exc:
            raise ApiConnectionError(self.base_url, exc) from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem_of(response))
        if not response.content:
            return {}
        data = response.json()
        return data if isinstance(data, dict) else {"items": data}

    # -- the API -----------------------------------------------------------------------------------------------

    def submit(self, job: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else None
        return self._request("POST", "/jobs", body=job, headers=headers)

    def get(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/jobs/{quote(job_id, safe='')}")

    def list(
        self,
        status: str | None = None,
        name: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        params = {"status": status, "name": name, "tag": tag, "limit": limit, "nextToken": next_token}
        return self._request("GET", "/jobs", params=params)

    def cancel(self, job_id: str, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if reason else {}
        return self._request("POST", f"/jobs/{quote(job_id, safe='')}/cancel", body=body)

    def priority(self, job_id: str, priority: str) -> dict[str, Any]:
        return self._request("POST", f"/jobs/{quote(job_id, safe='')}/priority", body={"priority": priority})

    def logs(
        self,
        job_id: str,
        *,
        attempt: int | None = None,
        index: int | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        params = {"attempt": attempt, "index": index, "nextToken": next_token, "limit": limit}
        return self._request("GET", f"/jobs/{quote(job_id, safe='')}/logs", params=params)

    def lineage(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/jobs/{quote(job_id, safe='')}/lineage")

    def artifacts(self, uri: str) -> dict[str, Any]:
        return self._request("GET", "/artifacts", params={"uri": uri})

    # -- pipelines -------------------------------------------------------------------------------------------------

    def create_pipeline(self, pipeline: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else None
        return self._request("POST", "/pipelines", body=pipeline, headers=headers)

    def pipeline(self, pipeline_id: str) -> dict[str, Any]:
        return self._request("GET", f"/pipelines/{quote(pipeline_id, safe='')}")

    def pipelines(self, limit: int = 50) -> dict[str, Any]:
        return self._request("GET", "/pipelines", params={"limit": limit})

    def pipeline_action(self, pipeline_id: str, action: str, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if reason else {}
        return self._request("POST", f"/pipelines/{quote(pipeline_id, safe='')}/{action}", body=body)

    def pipeline_graph(self, pipeline_id: str, fmt: str = "mermaid") -> str:
        try:
            response = self._http.get(f"/pipelines/{quote(pipeline_id, safe='')}/graph?format={fmt}")
        except httpx.TransportError as exc:
            raise ApiConnectionError(self.base_url, exc) from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem_of(response))
        return response.text

    # -- schedules -------------------------------------------------------------------------------------------------

    def create_schedule(self, schedule: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "/schedules", body=schedule)

    def schedules(self) -> dict[str, Any]:
        return self._request("GET", "/schedules")

    def schedule(self, name: str) -> dict[str, Any]:
        return self._request("GET", f"/schedules/{quote(name, safe='')}")

    def delete_schedule(self, name: str) -> dict[str, Any]:
        return self._request("DELETE", f"/schedules/{quote(name, safe='')}")

    def queues(self) -> dict[str, Any]:
        return self._request("GET", "/queues")

    def costs(self, group_by: str = "day", start: str | None = None, end: str | None = None) -> dict[str, Any]:
        params = {"groupBy": group_by} | ({"from": start} if start else {}) | ({"to": end} if end else {})
        return self._request("GET", "/costs", params=params)

    def definitions(self) -> dict[str, Any]:
        return self._request("GET", "/definitions")

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/_local/health")

    def quotas(self) -> dict[str, Any]:
        return self._request("GET", "/quotas")

    def quota(self, tenant: str) -> dict[str, Any]:
        return self._request("GET", f"/quotas/{tenant_path(tenant)}")

    def set_quota(self, tenant: str, change: dict[str, Any]) -> dict[str, Any]:
        return self._request("PUT", f"/quotas/{tenant_path(tenant)}", body=change)


def tenant_path(tenant: str) -> str:
    """A tenant in a path: URL-encoded twice, because API Gateway HTTP APIs decode the path once before routing (an
    IAM principal ARN's "/" would otherwise split the route)."""
    return quote(quote(tenant, safe=""), safe="")


def _problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and ("title" in data or "detail" in data or "type" in data):
        return data
    # Not problem+json (e.g. API Gateway's own {"message": "Forbidden"}): make one up.
    detail = data.get("message") if isinstance(data, dict) else None
    if detail is None:
        detail = response.text[:500] or None
    return {"status": response.status_code, "title": response.reason_phrase or "Error", "detail": detail}
