"""API Gateway HTTP API, as the local stack models it: the routes of the template's OpenAPI body, the route a
request takes, and the payload-format-2.0 event a route's function receives."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from batchplane_local.stack.account import ACCOUNT

DEFAULT_ROUTE = "$default"  # an HTTP API's catch-all route: requests no other route matches


@dataclass
class Route:
    method: str
    path: str  # template path, e.g. /jobs/{jobId}
    function: str
    regex: re.Pattern[str]
    params: list[str]

    @property
    def key(self) -> str:
        """API Gateway's routeKey: ``GET /jobs/{jobId}``, or ``$default``."""
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"


def make_route(method: str, path: str, function: str) -> Route:
    params = re.findall(r"\{([^}+]+)\+?\}", path)
    pattern = re.sub(r"\\\{[^}]+\\\+\\\}", "(.+)", re.escape(path))
    pattern = re.sub(r"\\\{[^}]+\\\}", "([^/]+)", pattern)
    return Route(method.upper(), path, function, re.compile(f"^{pattern}$"), params)


def match(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route a request takes, as API Gateway picks it: a matching route, else the ``$default`` route if any."""
    for route in routes:
        if route.path != DEFAULT_ROUTE and route.method in (method.upper(), "ANY"):
            m = route.regex.match(path)
            if m:
                return route, dict(zip(route.params, m.groups(), strict=False))
    return next(((r, {}) for r in routes if r.path == DEFAULT_ROUTE), None)


def http_event(
    route: Route,
    path_params: dict[str, str],
    *,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    tenant: str,
    source_ip: str,
) -> dict[str, Any]:
    now = time.time()
    text = body.decode("utf-8", errors="replace") if body else None
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "authorizer": {
                "iam": {
                    "accessKey": "LOCALACCESSKEY",
                    "accountId": ACCOUNT,
                    "callerId": tenant,
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": f"arn:aws:iam::{ACCOUNT}:user/{tenant}",
                    "userId": tenant,
                }
            },
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route.key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        from urllib.parse import parse_qsl

        pairs = parse_qsl(query, keep_blank_values=True)
        event["queryStringParameters"] = {k: ",".join(v for kk, v in pairs if kk == k) for k, _ in pairs}
    if path_params:
        event["pathParameters"] = path_params
    if text is not None:
        event["body"] = text
    return event
