"""X-Ray tracing of the handlers, only when the stack turns it on (template.yaml's Tracing parameter).

Off (the default), ``traced`` hands the handler back untouched: no Tracer is made and nothing of the X-Ray SDK is
imported, so the cold path pays nothing. On, Powertools Tracer captures the handler (and patches boto3, so every AWS
call is a subsegment)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from batchplane.settings import tracing_enabled

Handler = TypeVar("Handler", bound=Callable[..., Any])


def traced(handler: Handler) -> Handler:
    """``handler`` captured by Powertools Tracer when tracing is on; ``handler`` itself when it is off."""
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    return cast("Handler", Tracer().capture_lambda_handler(handler))
