"""/queues: the queue classes and the largest job each accepts."""

from __future__ import annotations

from batchplane import wiring
from batchplane.http.request import tenant
from batchplane.http.routes import new_router
from batchplane.http.views import QueueList, QueueView

router = new_router()


@router.get("/queues")
def list_queues() -> QueueList:
    tenant(router.current_event)  # the catalogue is the same for every tenant, but only for a known caller
    return QueueList(queues=[QueueView.of(q) for q in wiring.catalogue().queues])
