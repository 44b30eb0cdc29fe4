"""Build API Gateway HTTP API (v2) events from the samples in events/, as API Gateway would send them."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import urlencode

from tests.eventdata import load_event

ALICE = "arn:aws:sts::123456789012:assumed-role/genomics-team/alice"
BOB = "arn:aws:iam::123456789012:user/bob"


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    caller: str | None = ALICE,
    route: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    event = copy.deepcopy(load_event("http-api-post-jobs"))
    event["routeKey"] = event["requestContext"]["routeKey"] = route or f"{method} {path}"
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["headers"] = {k: v for k, v in event["headers"].items() if k not in ("idempotency-key", "content-length")}
    event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
    event["rawQueryString"] = urlencode(query or {})
    if query:
        event["queryStringParameters"] = dict(query)
    if path_parameters:
        event["pathParameters"] = path_parameters
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
    else:
        event.pop("body", None)
    if caller is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"]["iam"]["userArn"] = caller
    return event


def response_json(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None


def content_type(response: dict[str, Any]) -> str:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    multi = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    return headers.get("content-type") or (multi.get("content-type") or [""])[0]
