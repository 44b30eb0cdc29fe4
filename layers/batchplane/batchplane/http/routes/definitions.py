"""/definitions: the job definitions batchplane registered for jobs with their own image, and the caller's jobs on
each."""

from __future__ import annotations

from batchplane import wiring
from batchplane.http.request import tenant
from batchplane.http.routes import new_router
from batchplane.http.views import DefinitionList, DefinitionView

router = new_router()


@router.get("/definitions")
def list_definitions() -> DefinitionList:
    found = wiring.job_service().registered_definitions(tenant(router.current_event))
    return DefinitionList(definitions=[DefinitionView.model_validate(d) for d in found])
