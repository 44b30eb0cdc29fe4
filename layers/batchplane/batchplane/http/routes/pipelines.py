"""/pipelines: create, list, read, cancel, resume and draw pipelines."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from batchplane import wiring
from batchplane.domain.pipelines import PipelineRequest
from batchplane.http.request import CancelBody, PipelineId, idempotency_key, known_id, tenant
from batchplane.http.routes import new_router
from batchplane.http.views import CostView, PipelineList, PipelineView

router = new_router()


@router.post(
    "/pipelines", responses={202: {"description": "accepted", "content": {"application/json": {"model": PipelineView}}}}
)
def create_pipeline(pipeline: Annotated[PipelineRequest, Body()]) -> Response[PipelineView]:
    key = idempotency_key(router.current_event)
    record, replayed = wiring.pipeline_service().create(tenant(router.current_event), pipeline, key)
    headers = {"Location": f"/pipelines/{record.pipeline_id}"} | ({"Idempotent-Replayed": "true"} if replayed else {})
    return Response(status_code=202, content_type="application/json", body=PipelineView.of(record), headers=headers)


@router.get("/pipelines")
def list_pipelines(limit: Annotated[int, Query(ge=1, le=100)] = 50) -> PipelineList:
    records = wiring.pipeline_service().list(tenant(router.current_event), limit)
    return PipelineList(pipelines=[PipelineView.of(p) for p in records])


@router.get("/pipelines/<pipelineId>")
def get_pipeline(pipeline_id: PipelineId) -> PipelineView:
    pipeline_id = known_id(pipeline_id, "pipeline")
    view = PipelineView.of(wiring.pipeline_service().get(tenant(router.current_event), pipeline_id))
    view.cost = CostView.of(wiring.cost_service().pipeline(pipeline_id))  # the pipeline's rollup: one read
    return view


@router.post("/pipelines/<pipelineId>/cancel")
def cancel_pipeline(pipeline_id: PipelineId, body: CancelBody = None) -> PipelineView:
    pipeline_id = known_id(pipeline_id, "pipeline")
    reason = body.reason if body else None
    return PipelineView.of(wiring.pipeline_service().cancel(tenant(router.current_event), pipeline_id, reason))


@router.post("/pipelines/<pipelineId>/resume")
def resume_pipeline(pipeline_id: PipelineId) -> PipelineView:
    pipeline_id = known_id(pipeline_id, "pipeline")
    return PipelineView.of(wiring.pipeline_service().resume(tenant(router.current_event), pipeline_id))


@router.get(
    "/pipelines/<pipelineId>/graph",
    responses={200: {"description": "Mermaid or DOT text", "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def pipeline_graph(
    pipeline_id: PipelineId,
    format: Annotated[Literal["mermaid", "dot"], Query()] = "mermaid",
) -> Response[str]:
    """The DAG with each job's state, as Mermaid (default) or Graphviz DOT."""
    pipeline_id = known_id(pipeline_id, "pipeline")
    text = wiring.pipeline_service().graph(tenant(router.current_event), pipeline_id, format)
    return Response(status_code=200, content_type="text/plain; charset=utf-8", body=text)
