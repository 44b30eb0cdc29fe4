"""/jobs and /artifacts: submit, list, read, cancel, lineage and logs of jobs."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BeforeValidator

from batchplane import wiring
from batchplane.domain.errors import BadRequestError, FieldError
from batchplane.domain.models import JobRequest, JobStatus
from batchplane.domain.ports import JobFilter
from batchplane.http.request import CancelBody, JobId, idempotency_key, known_id, tenant
from batchplane.http.routes import new_router
from batchplane.http.views import (
    CancelView,
    CostView,
    JobList,
    JobSummary,
    JobView,
    PriorityRequest,
    PriorityView,
)

router = new_router()
metrics = Metrics()


@router.post("/jobs", responses={202: {"description": "accepted", "content": {"application/json": {"model": JobView}}}})
def submit_job(job: Annotated[JobRequest, Body()]) -> Response[JobView]:
    key = idempotency_key(router.current_event)
    outcome = wiring.job_service().submit(tenant(router.current_event), job, key)
    view = JobView.of(outcome.job)
    if outcome.batch_job_id:
        view.batch_job_id = outcome.batch_job_id
        view.attempts[-1].batch_job_id = outcome.batch_job_id
    if not outcome.replayed:
        metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
    headers = {"Location": f"/jobs/{view.job_id}"}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(status_code=202, content_type="application/json", body=view, headers=headers)


def _upper(value: object) -> object:
    """Status filters match in any case (`failed` is FAILED)."""
    return value.upper() if isinstance(value, str) else value


@router.get("/jobs")
def list_jobs(
    status: Annotated[JobStatus | None, BeforeValidator(_upper), Query()] = None,
    name: Annotated[str | None, Query(max_length=128)] = None,
    tag: Annotated[str | None, Query(max_length=400, pattern=r"^[^=]+=", description="key=value")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=4096)] = None,
) -> JobList:
    tag_filter = None
    if tag is not None:
        k, sep, v = tag.partition("=")
        if not sep or not k:
            raise BadRequestError("tag filter must be key=value", errors=[FieldError("tag", "expected key=value")])
        tag_filter = (k, v)
    page = wiring.job_service().list_jobs(
        tenant(router.current_event),
        JobFilter(status=status.value if status else None, name=name, tag=tag_filter),
        limit,
        next_token,
    )
    return JobList(jobs=[JobSummary.of(j) for j in page.jobs], next_token=page.next_token)


@router.get("/jobs/<jobId>")
def get_job(job_id: JobId) -> JobView:
    job_id = known_id(job_id, "job")
    service = wiring.job_service()
    job = service.get(tenant(router.current_event), job_id)
    if job.status is JobStatus.QUEUED:  # why it waits for admission, as the dispatcher sees it now
        view = JobView.of(job, waiting=wiring.dispatcher().explain(job))
    else:
        view = JobView.of(job, waiting=service.waiting(job))
    view.cost = CostView.of(wiring.cost_service().costing.job(job))  # from the record alone: no AWS call
    return view


@router.post("/jobs/<jobId>/cancel")
def cancel_job(job_id: JobId, body: CancelBody = None) -> CancelView:
    job_id = known_id(job_id, "job")
    outcome = wiring.job_service().cancel(tenant(router.current_event), job_id, body.reason if body else None)
    return CancelView(job_id=job_id, action=outcome.action, status=outcome.job.status.value)


@router.post("/jobs/<jobId>/priority")
def reprioritise_job(job_id: JobId, body: Annotated[PriorityRequest, Body()]) -> PriorityView:
    """Move the job to another priority class: at once if it is not in AWS Batch yet; by a new attempt in the new
    class's queue if it waits in Batch (SUBMITTED, PENDING, RUNNABLE); 409 once it is STARTING or later."""
    job_id = known_id(job_id, "job")
    change = wiring.priority_service().change(tenant(router.current_event), job_id, body.priority)
    if change.action == "replaced":
        metrics.add_metric(name="JobsReprioritised", unit=MetricUnit.Count, value=1)
    job = change.job
    return PriorityView(
        job_id=job.job_id,
        priority=job.priority,
        previous_priority=change.previous,
        action=change.action.value,
        reason=change.reason,
        status=job.status,
        status_reason=job.status_reason,
        queue=job.queue_name,
        attempt=job.current_attempt,
        replaced=change.replaced,
    )


@router.get("/jobs/<jobId>/lineage")
def job_lineage(job_id: JobId) -> dict[str, Any]:
    """The job's attempts and artifacts as a graph (nodes and edges)."""
    job_id = known_id(job_id, "job")
    return wiring.job_service().lineage(tenant(router.current_event), job_id)


@router.get("/jobs/<jobId>/logs")
def job_logs(
    job_id: JobId,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    attempt: Annotated[int | None, Query(ge=1, le=1000)] = None,
    index: Annotated[int | None, Query(ge=0, le=9_999)] = None,
    next_token: Annotated[str | None, Query(alias="nextToken", min_length=1, max_length=8192)] = None,
) -> dict[str, Any]:
    """An attempt's log lines (CloudWatch Logs): the latest attempt unless `attempt`; an array job's child `index`;
    every node of a multi-node job (`streams`). Pass the answer's `nextToken` to get only the lines written since."""
    job_id = known_id(job_id, "job")
    return wiring.job_service().logs(
        tenant(router.current_event), job_id, limit, attempt=attempt, index=index, next_token=next_token
    )


@router.get("/artifacts")
def artifact_lineage(uri: Annotated[str, Query(min_length=3, max_length=2048)]) -> dict[str, Any]:
    """What used or produced an artifact (the caller's jobs)."""
    return {"uri": uri, "jobs": wiring.job_service().artifacts(tenant(router.current_event), uri)}
