"""sweeper: runs every minute, in parts (one schedule each, all at once: each part sweeps its share of the shards).
Releases due retries, moves jobs stuck RUNNABLE on Spot to On-Demand (or fails them fast when On-Demand cannot help),
and reconciles what events did not tell (crashes, lost events)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchplane import wiring
from batchplane.domain.sweep_keys import MAX_SHARDS
from batchplane.tracing import traced

logger = Logger()
metrics = Metrics()


def sweep_part(event: dict[str, Any]) -> tuple[int, int]:
    """Which part of the sweep this invocation is: its schedule's constant input ``{"part": p, "parts": n}`` (each
    part sweeps its share of the shards, all at once); a plain Scheduled Event sweeps every shard."""
    part, parts = event.get("part", 0), event.get("parts", 1)
    if not (type(part) is int and type(parts) is int and 0 <= part < parts <= MAX_SHARDS):  # not bools either
        msg = f"a sweep part is 0 <= part < parts <= {MAX_SHARDS}: got part {part!r} of {parts!r}"
        raise ValueError(msg)
    return part, parts


def _metric(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@traced
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    part, parts = sweep_part(event)
    service = wiring.lifecycle_service(_metric)
    report = asdict(service.sweep(context.get_remaining_time_in_millis, part=part, parts=parts))
    prices = wiring.refresh_prices(_metric) if part == 0 else None  # daily, with PriceSource "aws"; one part looks
    if prices is not None:
        report["prices"] = prices
    logger.info("swept", extra={k: len(v) if isinstance(v, list) else v for k, v in report.items()})
    return report
