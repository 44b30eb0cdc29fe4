"""Checks that run before the resolver parses anything."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from batchplane.domain.errors import PayloadTooLargeError
from batchplane.http.problems import PROBLEM_CONTENT_TYPE, dumps, from_error

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def reject_oversize(limit: Callable[[], int]) -> Callable[[Handler], Handler]:
    """Answer 413 problem+json for a body over the limit, before it is parsed or validated."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def guarded(event: dict[str, Any], context: Any) -> dict[str, Any]:
            body = event.get("body") or ""
            max_bytes = limit()
            size = _body_bytes(body, base64=bool(event.get("isBase64Encoded")))
            if size > max_bytes:
                err = PayloadTooLargeError(f"the body has {size} bytes; the limit is {max_bytes}")
                status, problem, extra = from_error(err, event.get("rawPath"))
                return {
                    "statusCode": status,
                    "headers": {"Content-Type": PROBLEM_CONTENT_TYPE, **extra},
                    "body": dumps(problem),
                    "isBase64Encoded": False,
                }
            headers = event.get("headers")
            if body and isinstance(headers, dict):
                # The API speaks JSON only: a body sent without (or with another) content type is read as JSON,
                # so `curl -d '{...}'` works and the answer names fields, not form keys.
                kind = str(headers.get("content-type", "")).split(";")[0].strip().lower()
                if kind != "application/json" and not kind.endswith("+json"):
                    event = {**event, "headers": {**headers, "content-type": "application/json"}}
            return handler(event, context)

        return guarded

    return wrap


def _body_bytes(body: Any, *, base64: bool) -> int:
    """The body's size in bytes as the client sent it (API Gateway's limits are in bytes): a character of text can be
    up to 4 bytes of UTF-8, so 256 Ki characters can be a 1 MiB body."""
    if not isinstance(body, str):
        return 0
    if base64:
        return len(body) * 3 // 4 - body[-2:].count("=")
    return len(body) if body.isascii() else len(body.encode("utf-8", "surrogatepass"))
