"""RFC 9457 problem+json answers, made in one place from the error taxonomy."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from batchplane.domain.errors import BatchplaneError, FieldError

# AWS error codes that mean "not now" rather than "never": the service throttled or failed on its side, after the
# SDK's own retries. A client retrying with the same Idempotency-Key is the right answer to them (503, Retry-After).
TRANSIENT_AWS_CODES = frozenset(
    {
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServerException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "TransactionConflictException",
    }
)


def aws_transient(code: str, http_status: int | None) -> bool:
    """Whether an AWS error (after the SDK's retries) is the service's own passing failure, not our mistake."""
    return code in TRANSIENT_AWS_CODES or (http_status is not None and http_status >= 500)


PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://batchplane.dev/problems/"


def problem_body(
    *, status: int, slug: str, title: str, detail: str, instance: str | None, errors: Iterable[FieldError] = ()
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    errs = [{"field": e.field, "pointer": "#/" + e.field.replace(".", "/"), "message": e.message} for e in errors]
    if errs:
        body["errors"] = errs
    return body


def from_error(err: BatchplaneError, instance: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = problem_body(
        status=err.status, slug=err.slug, title=err.title, detail=err.detail, instance=instance, errors=err.errors
    )
    return err.status, body, dict(err.headers)


def field_errors_from_pydantic(errors: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic / Powertools validation errors → field names as the client wrote them (``memoryMiB``,
    ``retry.attempts``, ``tags``), without the ``body``/``query`` location prefix."""
    out: list[FieldError] = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header")]
        if e.get("type") == "json_invalid":
            why = (e.get("ctx") or {}).get("error")
            out.append(FieldError("body", "the body is not valid JSON" + (f": {why}" if why else "")))
            continue
        field = ".".join(loc) or "body"
        msg = str(e.get("msg", "invalid"))
        if e.get("type") == "extra_forbidden":
            msg = "unknown field"
        out.append(FieldError(field, msg.removeprefix("Value error, ")))
    return out


def parse_json_body(text: str) -> Any:
    """The request body as JSON, or a JSONDecodeError naming what is wrong: also for what Python's parser cannot take
    (nesting deeper than its recursion limit, an integer past its 4,300-digit limit), which would otherwise be a 500."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # int() over sys.get_int_max_str_digits(): "Exceeds the limit (4300 digits) ..."
        raise json.JSONDecodeError(f"a number is too long ({str(exc).split(';')[0]})", text, 0) from None


def dumps(body: Mapping[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))
