"""Every error the API answers, as RFC 9457 problem+json: the resolver's exception handlers, in one place (the
bodies are made by batchplane.http.problems).

They log through the function's own Logger, passed in, so that a log line carries the invocation's keys (the local
stack gives each function's Logger its own identity; a Logger made here would be another's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as NoRouteError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from botocore.exceptions import ClientError, HTTPClientError

from batchplane.domain.errors import BatchplaneError, InvalidRequestError, UpstreamUnavailableError
from batchplane.http.problems import (
    PROBLEM_CONTENT_TYPE,
    aws_transient,
    dumps,
    field_errors_from_pydantic,
    from_error,
    problem_body,
)
from batchplane.http.routes import new_router

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger


Handler = TypeVar("Handler", bound=Callable[..., Response[Any]])


def _handles(router: Router, error: type[Exception]) -> Callable[[Handler], Handler]:
    """``router.exception_handler(error)`` as a typed decorator (Powertools leaves its result unannotated)."""
    register: Callable[[Handler], Handler] = router.exception_handler(error)
    return register


def _problem(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type=PROBLEM_CONTENT_TYPE, body=dumps(body), headers=headers or {})


def problem_handlers(logger: Logger) -> Router:
    """A router holding only exception handlers: batchplane's error taxonomy, request validation, no route, AWS
    failures and anything unforeseen, each answered as problem+json."""
    router = new_router()

    @_handles(router, BatchplaneError)
    def on_batchplane_error(err: BatchplaneError) -> Response[Any]:
        status, body, headers = from_error(err, router.current_event.path)
        if status >= 500:
            logger.warning("upstream failure", extra={"problem": body["type"]})
        return _problem(status, body, headers)

    @_handles(router, RequestValidationError)
    def on_validation_error(err: RequestValidationError) -> Response[Any]:
        errors = field_errors_from_pydantic(err.errors())
        malformed = any(e.field == "body" and "JSON" in e.message for e in errors)
        status, slug, title = (
            (400, "bad-request", "Bad request")
            if malformed
            else (InvalidRequestError.status, InvalidRequestError.slug, InvalidRequestError.title)
        )
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5]) or "invalid request"
        return _problem(
            status,
            problem_body(
                status=status, slug=slug, title=title, detail=detail, instance=router.current_event.path, errors=errors
            ),
        )

    @_handles(router, NoRouteError)
    def on_not_found(_: Exception) -> Response[Any]:
        event = router.current_event
        return _problem(
            404,
            problem_body(
                status=404,
                slug="not-found",
                title="Not found",
                detail=f"no route {event.http_method} {event.path[:256]}",
                instance=event.path[:256],
            ),
        )

    @_handles(router, ClientError)
    def on_aws_error(err: ClientError) -> Response[Any]:
        """AWS failed or throttled on its side after the SDK's retries: 503, the client retries with the same
        Idempotency-Key. Any other AWS error is ours (permissions, a bug): 500, logged."""
        code = str(err.response.get("Error", {}).get("Code", ""))
        if not aws_transient(code, err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")):
            return on_unexpected(err)
        return _upstream_unavailable(f"{err.operation_name}: {code}")

    @_handles(router, HTTPClientError)
    def on_aws_unreachable(err: HTTPClientError) -> Response[Any]:
        """AWS could not be reached (connection refused, reset or timed out) after the SDK's retries."""
        return _upstream_unavailable(type(err).__name__)

    def _upstream_unavailable(what: str) -> Response[Any]:
        logger.warning("AWS unavailable", extra={"aws": what})  # the answer names no AWS detail
        return on_batchplane_error(
            UpstreamUnavailableError(
                "an AWS service batchplane relies on failed or throttled; retry with the same Idempotency-Key",
                headers={"Retry-After": "2"},
            )
        )

    @_handles(router, Exception)
    def on_unexpected(err: Exception) -> Response[Any]:
        logger.exception("unhandled error")
        return _problem(
            500,
            problem_body(
                status=500,
                slug="internal",
                title="Internal error",
                detail="an internal error occurred; it has been logged",
                instance=router.current_event.path,
            ),
        )

    return router
