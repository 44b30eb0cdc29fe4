"""/schedules: create, list, read and delete schedules."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from batchplane import wiring
from batchplane.domain.schedules import ScheduleRequest
from batchplane.http.request import tenant
from batchplane.http.routes import new_router
from batchplane.http.views import ScheduleList, ScheduleView

router = new_router()


@router.post("/schedules", responses={201: {"description": "created"}})
def create_schedule(schedule: Annotated[ScheduleRequest, Body()]) -> Response[ScheduleView]:
    record = wiring.schedule_service().create(tenant(router.current_event), schedule)
    return Response(
        status_code=201,
        content_type="application/json",
        body=ScheduleView.of(record),
        headers={"Location": f"/schedules/{record.name}"},
    )


@router.get("/schedules")
def list_schedules() -> ScheduleList:
    return ScheduleList(
        schedules=[ScheduleView.of(s) for s in wiring.schedule_service().list(tenant(router.current_event))]
    )


@router.get("/schedules/<name>")
def get_schedule(name: Annotated[str, Path(max_length=64)]) -> ScheduleView:
    return ScheduleView.of(wiring.schedule_service().get(tenant(router.current_event), name))


@router.delete("/schedules/<name>", responses={204: {"description": "deleted"}})
def delete_schedule(name: Annotated[str, Path(max_length=64)]) -> Response[str]:
    wiring.schedule_service().delete(tenant(router.current_event), name)
    return Response(status_code=204, content_type="application/json", body="")
