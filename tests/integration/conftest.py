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

    def submit(self, body: dict[str, Any], *, dispatch: bool = True) -> dict[str, Any]:
        """POST /jobs (the job is QUEUED), then, unless ``dispatch`` is False, one dispatcher tick admits it: the
        job's view as it is then."""
        response = self.gateway.lambda_handler(http_event("POST", "/jobs", body=body), self.ctx)
        assert response["statusCode"] == 202, response["body"]
        queued = response_json(response)
        if not dispatch or queued["status"] != "QUEUED":
            return queued
        self.dispatch()
        view = self.job(queued["jobId"])
        found = self._batch_job_id(view)
        if found and not view["batchJobId"]:  # as POST /jobs answered when it submitted itself: the Batch job id
            view["batchJobId"] = view["attempts"][-1]["batchJobId"] = found
        return view

    def _batch_job_id(self, view: dict[str, Any]) -> str | None:
        """The Batch job the dispatcher made for the view's current attempt (found by its deterministic name)."""
        import boto3

        current = view["attempts"][-1]
        queue = self.stack.queues_by_name.get(current["queue"])
        if queue is None:
            return None
        with self.stack.observing():
            page = boto3.client("batch", region_name="us-east-1").list_jobs(
                jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [current["batchJobName"]]}]
            )
        return next((j["jobId"] for j in page.get("jobSummaryList", [])), None)

    def dispatch(self) -> Any:
        """One dispatcher tick, as the deployed dispatcher function (its role); its admissions one after another
        (moto in one process is not safe for concurrent transactions)."""
        from batchplane import wiring
        from batchplane.services.dispatcher import DispatchReport

        report = DispatchReport()
        with self.stack.acting_as("dispatcher"):
            wiring.dispatcher().tick(report)
        return report

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
