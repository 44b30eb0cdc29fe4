"""dispatcher: admits QUEUED jobs to AWS Batch (services/dispatcher.py). Invoked every minute by a schedule, it ticks
for DISPATCHER_LOOP_SECONDS holding a lease, so one invocation admits at a time; a second one finds the lease held
and returns at once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchplane import wiring
from batchplane.settings import settings
from batchplane.tracing import traced

logger = Logger()
metrics = Metrics()


def _metric(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@traced
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    cfg = settings()
    # never past the function's own timeout: stop ticking 10 s before it
    seconds = min(cfg.dispatcher_loop_seconds, max(0.0, context.get_remaining_time_in_millis() / 1000 - 10))
    report = wiring.dispatcher(_metric).run(seconds, cfg.dispatcher_tick_seconds)
    metrics.add_metric(name="JobsAdmitted", unit=MetricUnit.Count, value=len(report.admitted))
    logger.info(
        "dispatched",
        extra={
            "admitted": len(report.admitted),
            "ticks": report.ticks,
            "lost": report.lost,
            "skipped": report.skipped,
            "queueGone": len(report.gone),
        },
    )
    return {"admitted": len(report.admitted), "ticks": report.ticks, "lost": report.lost, "skipped": report.skipped}
