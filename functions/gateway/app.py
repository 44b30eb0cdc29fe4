"""Submission gateway: the HTTP API of batchplane (API Gateway HTTP API, payload format 2.0).

Thin by design: each route parses (Powertools validates the pydantic models), calls one service function, and shapes
the answer. Errors become RFC 9457 problem+json in one place (batchplane.http.problems)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchplane import wiring
from batchplane.domain.errors import (
    BadRequestError,
    BatchplaneError,
    FieldError,
    InvalidRequestError,
    NotFoundError,
    UpstreamUnavailableError,
)
from batchplane.domain.ids import is_job_id
from batchplane.domain.models import JobRequest, JobStatus
from batchplane.domain.pipelines import PipelineRequest
from batchplane.domain.ports import JobFilter
from batchplane.domain.schedules import ScheduleRequest
from batchplane.http.guard import reject_oversize
from batchplane.http.identity import tenant_of
from batchplane.http.openapi import with_problems
from batchplane.http.problems import (
    PROBLEM_CONTENT_TYPE,
    aws_transient,
    dumps,
    field_errors_from_pydantic,
    from_error,
    parse_json_body,
    problem_body,
)
from batchplane.http.views import (
    CancelRequest,
    CancelView,
    JobList,
    JobSummary,
    JobView,
    PipelineList,
    PipelineView,
    QueueList,
    QueueView,
    ScheduleList,
    ScheduleView,
)
from batchplane.settings import settings
from batchplane.tracing import traced
from botocore.exceptions import ClientError, HTTPClientError
from pydantic import BeforeValidator

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=parse_json_body)
app.enable_swagger(path="/docs", title="batchplane", version="0.1.0")

MAX_IDEMPOTENCY_KEY = 255


def _tenant() -> str:
    return tenant_of(app.current_event.raw_event, settings().tenant_claim)


def _idempotency_key() -> str | None:
    key = app.current_event.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise InvalidRequestError(
            "invalid Idempotency-Key",
            errors=[FieldError("Idempotency-Key", f"1 to {MAX_IDEMPOTENCY_KEY} printable characters")],
        )
    return key


def _problem(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type=PROBLEM_CONTENT_TYPE, body=dumps(body), headers=headers or {})


@app.post("/jobs", responses={202: {"description": "accepted", "content": {"application/json": {"model": JobView}}}})
def submit_job(job: Annotated[JobRequest, Body()]) -> Response[JobView]:
    key = _idempotency_key()
    outcome = wiring.job_service().submit(_tenant(), job, key)
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


@app.get("/jobs")
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
        _tenant(), JobFilter(status=status.value if status else None, name=name, tag=tag_filter), limit, next_token
    )
    return JobList(jobs=[JobSummary.of(j) for j in page.jobs], next_token=page.next_token)


@app.get("/jobs/<jobId>")
def get_job(job_id: Annotated[str, Path(alias="jobId")]) -> JobView:
    if not is_job_id(job_id):
        raise NotFoundError(f"no job {job_id[:64]}")
    return JobView.of(wiring.job_service().get(_tenant(), job_id))


@app.post("/jobs/<jobId>/cancel")
def cancel_job(
    job_id: Annotated[str, Path(alias="jobId")], body: Annotated[CancelRequest | None, Body()] = None
) -> CancelView:
    if not is_job_id(job_id):
        raise NotFoundError(f"no job {job_id[:64]}")
    outcome = wiring.job_service().cancel(_tenant(), job_id, body.reason if body else None)
    return CancelView(job_id=job_id, action=outcome.action, status=outcome.job.status.value)


@app.get("/jobs/<jobId>/lineage")
def job_lineage(job_id: Annotated[str, Path(alias="jobId")]) -> dict[str, Any]:
    """The job's attempts and artifacts as a graph (nodes and edges)."""
    if not is_job_id(job_id):
        raise NotFoundError(f"no job {job_id[:64]}")
    return wiring.job_service().lineage(_tenant(), job_id)


@app.get("/jobs/<jobId>/logs")
def job_logs(
    job_id: Annotated[str, Path(alias="jobId")],
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    attempt: Annotated[int | None, Query(ge=1, le=1000)] = None,
    index: Annotated[int | None, Query(ge=0, le=9_999)] = None,
    next_token: Annotated[str | None, Query(alias="nextToken", min_length=1, max_length=8192)] = None,
) -> dict[str, Any]:
    """An attempt's log lines (CloudWatch Logs): the latest attempt unless `attempt`; an array job's child `index`;
    every node of a multi-node job (`streams`). Pass the answer's `nextToken` to get only the lines written since."""
    if not is_job_id(job_id):
        raise NotFoundError(f"no job {job_id[:64]}")
    return wiring.job_service().logs(_tenant(), job_id, limit, attempt=attempt, index=index, next_token=next_token)


@app.get("/artifacts")
def artifact_lineage(uri: Annotated[str, Query(min_length=3, max_length=2048)]) -> dict[str, Any]:
    """What used or produced an artifact (the caller's jobs)."""
    return {"uri": uri, "jobs": wiring.job_service().artifacts(_tenant(), uri)}


@app.post(
    "/pipelines", responses={202: {"description": "accepted", "content": {"application/json": {"model": PipelineView}}}}
)
def create_pipeline(pipeline: Annotated[PipelineRequest, Body()]) -> Response[PipelineView]:
    key = _idempotency_key()
    record, replayed = wiring.pipeline_service().create(_tenant(), pipeline, key)
    headers = {"Location": f"/pipelines/{record.pipeline_id}"} | ({"Idempotent-Replayed": "true"} if replayed else {})
    return Response(status_code=202, content_type="application/json", body=PipelineView.of(record), headers=headers)


@app.get("/pipelines")
def list_pipelines(limit: Annotated[int, Query(ge=1, le=100)] = 50) -> PipelineList:
    return PipelineList(pipelines=[PipelineView.of(p) for p in wiring.pipeline_service().list(_tenant(), limit)])


@app.get("/pipelines/<pipelineId>")
def get_pipeline(pipeline_id: Annotated[str, Path(alias="pipelineId")]) -> PipelineView:
    if not is_job_id(pipeline_id):
        raise NotFoundError(f"no pipeline {pipeline_id[:64]}")
    return PipelineView.of(wiring.pipeline_service().get(_tenant(), pipeline_id))


@app.post("/pipelines/<pipelineId>/cancel")
def cancel_pipeline(
    pipeline_id: Annotated[str, Path(alias="pipelineId")], body: Annotated[CancelRequest | None, Body()] = None
) -> PipelineView:
    if not is_job_id(pipeline_id):
        raise NotFoundError(f"no pipeline {pipeline_id[:64]}")
    return PipelineView.of(wiring.pipeline_service().cancel(_tenant(), pipeline_id, body.reason if body else None))


@app.post("/pipelines/<pipelineId>/resume")
def resume_pipeline(pipeline_id: Annotated[str, Path(alias="pipelineId")]) -> PipelineView:
    if not is_job_id(pipeline_id):
        raise NotFoundError(f"no pipeline {pipeline_id[:64]}")
    return PipelineView.of(wiring.pipeline_service().resume(_tenant(), pipeline_id))


@app.get(
    "/pipelines/<pipelineId>/graph",
    responses={200: {"description": "Mermaid or DOT text", "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def pipeline_graph(
    pipeline_id: Annotated[str, Path(alias="pipelineId")],
    format: Annotated[Literal["mermaid", "dot"], Query()] = "mermaid",
) -> Response[str]:
    """The DAG with each job's state, as Mermaid (default) or Graphviz DOT."""
    if not is_job_id(pipeline_id):
        raise NotFoundError(f"no pipeline {pipeline_id[:64]}")
    text = wiring.pipeline_service().graph(_tenant(), pipeline_id, format)
    return Response(status_code=200, content_type="text/plain; charset=utf-8", body=text)


@app.post("/schedules", responses={201: {"description": "created"}})
def create_schedule(schedule: Annotated[ScheduleRequest, Body()]) -> Response[ScheduleView]:
    record = wiring.schedule_service().create(_tenant(), schedule)
    return Response(
        status_code=201,
        content_type="application/json",
        body=_schedule_view(record),
        headers={"Location": f"/schedules/{record.name}"},
    )


@app.get("/schedules")
def list_schedules() -> ScheduleList:
    return ScheduleList(schedules=[_schedule_view(s) for s in wiring.schedule_service().list(_tenant())])


@app.get("/schedules/<name>")
def get_schedule(name: Annotated[str, Path(max_length=64)]) -> ScheduleView:
    return _schedule_view(wiring.schedule_service().get(_tenant(), name))


@app.delete("/schedules/<name>", responses={204: {"description": "deleted"}})
def delete_schedule(name: Annotated[str, Path(max_length=64)]) -> Response[str]:
    wiring.schedule_service().delete(_tenant(), name)
    return Response(status_code=204, content_type="application/json", body="")


def _schedule_view(record: Any) -> ScheduleView:
    return ScheduleView(
        name=record.name,
        expression=record.expression,
        timezone=record.timezone,
        enabled=record.enabled,
        target=record.target,
        created_at=record.created_at,
        scheduler_name=record.scheduler_name,
    )


@app.get("/queues")
def list_queues() -> QueueList:
    _tenant()
    return QueueList(
        queues=[
            QueueView(
                priority=q.priority,
                capacity=q.capacity.value,
                queue=q.queue_name,
                queue_arn=q.queue_arn,
                max_vcpus=q.max_vcpus,
                max_memory_mi_b=q.max_memory_mib,
                max_gpus=q.max_gpus,
                multi_node=q.multi_node,
            )
            for q in wiring.catalogue().queues
        ]
    )


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    schema = json.loads(app.get_openapi_json_schema(title="batchplane", version="0.1.0"))
    return Response(status_code=200, content_type="application/json", body=json.dumps(with_problems(schema)))


@app.exception_handler(BatchplaneError)
def on_batchplane_error(err: BatchplaneError) -> Response[Any]:
    status, body, headers = from_error(err, app.current_event.path)
    if status >= 500:
        logger.warning("upstream failure", extra={"problem": body["type"]})
    return _problem(status, body, headers)


@app.exception_handler(RequestValidationError)
def on_validation_error(err: RequestValidationError) -> Response[Any]:
    errors = field_errors_from_pydantic(err.errors())
    malformed = any(e.field == "body" and "JSON" in e.message for e in errors)
    status, slug, title = (400, "bad-request", "Bad request") if malformed else (422, "validation", "Invalid request")
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5]) or "invalid request"
    return _problem(
        status,
        problem_body(
            status=status, slug=slug, title=title, detail=detail, instance=app.current_event.path, errors=errors
        ),
    )


@app.not_found
def on_not_found(_: Exception) -> Response[Any]:
    return _problem(
        404,
        problem_body(
            status=404,
            slug="not-found",
            title="Not found",
            detail=f"no route {app.current_event.http_method} {app.current_event.path[:256]}",
            instance=app.current_event.path[:256],
        ),
    )


@app.exception_handler(ClientError)
def on_aws_error(err: ClientError) -> Response[Any]:
    """AWS failed or throttled on its side after the SDK's retries: 503, the client retries with the same
    Idempotency-Key. Any other AWS error is ours (permissions, a bug): 500, logged."""
    code = str(err.response.get("Error", {}).get("Code", ""))
    if not aws_transient(code, err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")):
        return on_unexpected(err)
    return _upstream_unavailable(f"{err.operation_name}: {code}")


@app.exception_handler(HTTPClientError)
def on_aws_unreachable(err: HTTPClientError) -> Response[Any]:
    """AWS could not be reached (connection refused, reset or timed out) after the SDK's retries."""
    return _upstream_unavailable(type(err).__name__)


def _upstream_unavailable(what: str) -> Response[Any]:
    logger.warning("AWS unavailable", extra={"aws": what})  # the answer names no AWS detail
    return on_batchplane_error(
        UpstreamUnavailableError(
            "an AWS service batchplane relies on failed or throttled; retry with the same Idempotency-Key",
            headers={"Retry-After": "2"},
        )
    )


@app.exception_handler(Exception)
def on_unexpected(err: Exception) -> Response[Any]:
    logger.exception("unhandled error")
    return _problem(
        500,
        problem_body(
            status=500,
            slug="internal",
            title="Internal error",
            detail="an internal error occurred; it has been logged",
            instance=app.current_event.path,
        ),
    )


@traced
@reject_oversize(lambda: settings().max_body_bytes)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
