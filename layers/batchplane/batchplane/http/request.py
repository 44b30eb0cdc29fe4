"""What routes read from a request besides their parameters: the caller's tenant, the Idempotency-Key header, and
the guard on an id of ours in a path, and the parameters several routes share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from batchplane.domain.errors import FieldError, InvalidRequestError, NotFoundError
from batchplane.domain.ids import is_job_id
from batchplane.http.identity import tenant_of
from batchplane.http.views import CancelRequest
from batchplane.settings import settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

MAX_IDEMPOTENCY_KEY = 255

JobId = Annotated[str, Path(alias="jobId")]
PipelineId = Annotated[str, Path(alias="pipelineId")]
CancelBody = Annotated[CancelRequest | None, Body()]


def tenant(event: BaseProxyEvent) -> str:
    """The caller's tenant (401 when the request carries no verified identity)."""
    return tenant_of(event.raw_event, settings().tenant_claim)


def idempotency_key(event: BaseProxyEvent) -> str | None:
    """The Idempotency-Key header, if any: 1 to 255 printable characters, else 422."""
    key = event.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise InvalidRequestError(
            "invalid Idempotency-Key",
            errors=[FieldError("Idempotency-Key", f"1 to {MAX_IDEMPOTENCY_KEY} printable characters")],
        )
    return key


def known_id(value: str, kind: str) -> str:
    """A job or pipeline id from a path, checked before anything is read: one that is not of our shape names nothing
    (404, as another tenant's would), and only its first 64 characters are echoed."""
    if not is_job_id(value):
        raise NotFoundError(f"no {kind} {value[:64]}")
    return value
