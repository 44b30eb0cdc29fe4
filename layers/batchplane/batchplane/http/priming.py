"""A request for priming the gateway before a SnapStart snapshot: it goes through Powertools' resolver, the request
model's validation and the problem+json handlers, and is refused (422: ``memoryMiB`` below its minimum) before any
route runs, so it reaches no AWS service and no caller's identity is involved (no authorizer context)."""

from __future__ import annotations

import json
from typing import Any

PRIMING_BODY = {"name": "snapstart-priming", "memoryMiB": -1}


def priming_request() -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) ``POST /jobs`` whose body fails validation."""
    return {
        "version": "2.0",
        "routeKey": "POST /jobs",
        "rawPath": "/jobs",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "priming",
            "domainName": "priming.invalid",
            "domainPrefix": "priming",
            "http": {
                "method": "POST",
                "path": "/jobs",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "batchplane-snapstart-priming",
            },
            "requestId": "snapstart-priming",
            "routeKey": "POST /jobs",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000,
        },
        "body": json.dumps(PRIMING_BODY),
        "isBase64Encoded": False,
    }
