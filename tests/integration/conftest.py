"""Integration fixtures: the deployed functions of a stack on moto, driven as Lambda drives them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apigw import http_event, response_json
from tests.batchevents import batch_event
from tests.conftest import Stack
from tests.handlers import FakeLambdaContext, load_handler


class Plane:
    """The deployed functions of one stack, driven as Lambda drives them."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.gateway = load_handler("gateway")
        self.events = load_handler("job_events")
        self.sweeper = load_handler("sweeper")
        self.ctx = FakeLambdaContext()

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.gateway.lambda_handler(http_event("POST", "/jobs", body=body), self.ctx)
        assert response["statusCode"] == 202, response["body"]
        return response_json(response)

    def job(self, job_id: str) -> dict[str, Any]:
        event = http_event("GET", f"/jobs/{job_id}", route="GET /jobs/{jobId}", path_parameters={"jobId": job_id})
        return response_json(self.gateway.lambda_handler(event, self.ctx))

    def deliver(self, event: dict[str, Any]) -> str:
        return self.events.lambda_handler(event, self.ctx)["outcome"]

    def sweep(self) -> dict[str, Any]:
        return self.sweeper.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, self.ctx)

    def event(self, kind: str, job: dict[str, Any], attempt: int = 1, **kw: Any) -> dict[str, Any]:
        current = job["attempts"][attempt - 1]
        queue = self.stack.queues_by_name[current["queue"]]
        return batch_event(
            kind,
            job_id=job["jobId"],
            attempt=attempt,
            batch_job_id=current["batchJobId"] or f"batch-{job['jobId']}-{attempt}",
            queue_arn=queue,
            name=job["name"],
            **kw,
        )


@pytest.fixture
def plane(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Plane:
    stack.queues_by_name = {arn.rsplit("/", 1)[-1]: arn for arn in [*stack.queues.values(), stack.multi_node_queue]}
    return Plane(stack)
