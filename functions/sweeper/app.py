"""sweeper: runs every minute. Releases due retries, moves jobs stuck RUNNABLE on Spot to On-Demand (or fails them
fast when On-Demand cannot help), and reconciles what events did not tell (crashes, lost events)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchplane import wiring
from batchplane.tracing import traced

logger = Logger()
metrics = Metrics()


def _metric(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@traced
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = asdict(wiring.lifecycle_service(_metric).sweep())
    prices = wiring.refresh_prices(_metric)  # daily, with PriceSource "aws"; a failure is counted, not raised
    if prices is not None:
        report["prices"] = prices
    logger.info("swept", extra={k: len(v) if isinstance(v, list) else v for k, v in report.items()})
    return report
