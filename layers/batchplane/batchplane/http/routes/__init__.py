"""The HTTP API's routes, one Powertools Router per resource (jobs, pipelines, schedules, queues, docs), and the
problem handlers; the gateway function includes them all."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router


def new_router() -> Router:
    """A Powertools Router (its constructor has no annotations, which strict typing would refuse at every call)."""
    return Router()  # type: ignore[no-untyped-call]
