"""scheduled_submit: one firing of a schedule (EventBridge Scheduler, or a schedule declared in template.yaml) submits
its job or pipeline at most once: the fire time is part of the Idempotency-Key."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchplane import wiring
from batchplane.tracing import traced

logger = Logger()


@traced
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = wiring.schedule_service().fire(event)
    logger.info("schedule fired", extra={"scheduled_time": event.get("scheduledTime"), **result})
    return result
