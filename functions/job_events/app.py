"""job_events: AWS Batch "Batch Job State Change" / "Batch Job Queue Blocked" events from EventBridge.

Each event is parsed at the edge, applied to its attempt with one guarded write, then acted on (finish, retry, fall
back to On-Demand, escalate memory, give up). A malformed event goes to the dead-letter queue at once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchplane import wiring
from batchplane.domain.events import BatchEvent
from batchplane.domain.lifecycle import attempt_ref
from batchplane.domain.models import JobStatus
from batchplane.domain.outcomes import Metric, Outcome
from batchplane.domain.timestamps import iso_to_ms
from batchplane.settings import settings
from batchplane.tracing import traced
from batchplane.wiring import dead_letter
from pydantic import ValidationError

logger = Logger()
metrics = Metrics()


_ROUTINE = frozenset({Outcome.RECORDED, Outcome.STALE, Outcome.IGNORED})


def _metric(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@traced
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        parsed = BatchEvent.model_validate(event)
    except ValidationError as err:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in err.errors()})
        logger.warning("malformed event dead-lettered", extra={"fields": fields})
        dead_letter(settings().dead_letter_queue_url, event, f"malformed event: {', '.join(fields)}")
        _metric(Metric.EVENTS_DEAD_LETTERED, 1)
        return {"outcome": Outcome.DEAD_LETTERED}
    ref = attempt_ref(parsed.detail)
    logger.append_keys(
        batch_job_id=parsed.detail.job_id,
        job_id=ref.job_id if ref else None,
        attempt=ref.attempt if ref else None,
    )
    outcome = wiring.lifecycle_service(_metric).on_event(parsed)
    created_at = parsed.detail.created_at
    if parsed.detail.status is JobStatus.STARTING and created_at and outcome is Outcome.RECORDED:
        # time a job waited in the queue (created -> starting), the signal for capacity and priority tuning
        waited = max(0.0, (iso_to_ms(parsed.time) - created_at) / 1000)
        metrics.add_metric(name=Metric.TIME_IN_QUEUE_SECONDS, unit=MetricUnit.Seconds, value=waited)
    # a routine state recorded (or a duplicate) is DEBUG: INFO is for what decides (an end, a retry, a fallback, ...)
    log = logger.debug if outcome in _ROUTINE else logger.info
    log("event applied", extra={"outcome": outcome, "status": parsed.detail.status.value})
    return {"outcome": outcome}
