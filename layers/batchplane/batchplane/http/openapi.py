"""The OpenAPI document as the API really answers: every error is RFC 9457 problem+json (Powertools documents its own
validation-error shape, which batchplane replaces in one place)."""

from __future__ import annotations

from typing import Any

TITLE = "batchplane"
VERSION = "0.1.0"
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "pointer": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
_ERRORS = {
    "400": "malformed request",
    "401": "no caller identity",
    "404": "not found (another tenant's resources included)",
    "409": "conflict with the resource's state",
    "413": "body too large",
    "422": "invalid or unschedulable request",
    "429": "too many submissions (SubmitJob rate, fair share between tenants): retry with the same Idempotency-Key",
    "503": "AWS unavailable: retry with the same Idempotency-Key",
}


def with_problems(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        components.pop(name, None)
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, description in _ERRORS.items():
                responses[code] = {"description": description, "content": problem}
    return schema
