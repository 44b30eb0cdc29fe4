"""One error taxonomy. Every error a client can cause is a `BatchplaneError` with an HTTP status and a problem type;
`batchplane.http.problems` maps them to RFC 9457 answers in one place. Names end in ``Error`` so Step Functions
``ErrorEquals`` can match them by class name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending field: ``field`` is the request field's name as the client sent it (dotted for nested)."""

    field: str
    message: str


class BatchplaneError(Exception):
    status: int = 500
    slug: str = "internal"
    title: str = "Internal error"

    def __init__(
        self, detail: str, *, errors: list[FieldError] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors: list[FieldError] = errors or []
        self.headers: dict[str, str] = headers or {}


class BadRequestError(BatchplaneError):
    status, slug, title = 400, "bad-request", "Bad request"


class UnauthenticatedError(BatchplaneError):
    status, slug, title = 401, "unauthenticated", "No caller identity"


class ForbiddenError(BatchplaneError):
    """The caller is known but may not do this (an admin-only route)."""

    status, slug, title = 403, "forbidden", "Not allowed"


class NotFoundError(BatchplaneError):
    status, slug, title = 404, "not-found", "Not found"


class ConflictError(BatchplaneError):
    status, slug, title = 409, "conflict", "Conflict with the resource's state"


class PayloadTooLargeError(BatchplaneError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class InvalidRequestError(BatchplaneError):
    status, slug, title = 422, "validation", "Invalid request"  # the title of every validation problem


class IdempotencyKeyReusedError(BatchplaneError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency-Key reused with a different request"


class UnschedulableError(BatchplaneError):
    """No queue class of this deployment can ever run the job as asked."""

    status, slug, title = 422, "unschedulable", "No queue can run this job"


class SubmissionRejectedError(BatchplaneError):
    """AWS Batch refused the submission for a reason in the request (ClientException): retrying it cannot succeed.
    ``code`` and ``aws_message`` are Batch's own error code and message, kept for the job's statusReason."""

    status, slug, title = 422, "submission-rejected", "AWS Batch rejected the job"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        code: str = "",
        aws_message: str = "",
    ) -> None:
        super().__init__(detail, errors=errors, headers=headers)
        self.code = code
        self.aws_message = aws_message


class SubmitRateLimitedError(BatchplaneError):
    """Over the SubmitJob rate this deployment keeps to (AWS Batch: 50 per second per account), or over the caller's
    fair share of it while other tenants are submitting. Nothing was written: retry with the same Idempotency-Key."""

    status, slug, title = 429, "rate-limited", "Too many submissions"


class QuotaExceededError(BatchplaneError):
    """Over a tenant quota (maxQueuedJobs): nothing was written; retry when some of the tenant's jobs have started.
    The problem's ``errors`` name the quota as its field."""

    status, slug, title = 429, "quota-exceeded", "Tenant quota exceeded"

    def __init__(self, detail: str, *, quota: str, limit: int, used: int, status: int = 429) -> None:
        super().__init__(
            detail, errors=[FieldError(quota, f"limit {limit}, used {used}")], headers={"Retry-After": "5"}
        )
        self.quota, self.limit, self.used = quota, limit, used
        self.status = status


class UpstreamUnavailableError(BatchplaneError):
    """AWS throttled or failed after the SDK's own retries: the client may retry with the same Idempotency-Key."""

    status, slug, title = 503, "upstream-unavailable", "AWS is not available right now"
