"""Submission gateway: the HTTP API of batchplane (API Gateway HTTP API, payload format 2.0).

Thin by design: the routes live in the layer (batchplane.http.routes), one Router per resource; each parses (Powertools
validates the pydantic models), calls one service function and shapes the answer. Errors become RFC 9457
problem+json in one place (batchplane.http.routes.problems). With SnapStart (template.yaml), `prime` runs once before
the snapshot, so restored environments start with clients made and the resolver warmed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchplane import wiring
from batchplane.http.guard import reject_oversize
from batchplane.http.priming import priming_request
from batchplane.http.problems import parse_json_body
from batchplane.http.routes import costs, definitions, docs, jobs, pipelines, queues, quotas, schedules
from batchplane.http.routes.problems import problem_handlers
from batchplane.settings import settings
from batchplane.snapstart import before_snapshot
from batchplane.tracing import traced

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=parse_json_body)
for routes in (jobs, pipelines, schedules, queues, quotas, definitions, costs, docs):
    app.include_router(routes.router)
app.include_router(problem_handlers(logger))


@before_snapshot
def prime() -> dict[str, Any]:
    """SnapStart: clients made and services built, then one request resolved that validation refuses (422, no AWS
    call), which builds Powertools' validation of the routes and warms the problem+json path."""
    wiring.prime_gateway()
    return app.resolve(priming_request(), None)  # type: ignore[arg-type]


@traced
@reject_oversize(lambda: settings().max_body_bytes)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
