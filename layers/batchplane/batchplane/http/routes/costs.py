"""/costs: the estimated cost of ended attempts, grouped, from the per-day rollup (the caller's; an admin's: all)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query

from batchplane import wiring
from batchplane.http.admin import is_admin
from batchplane.http.request import tenant
from batchplane.http.routes import new_router
from batchplane.http.views import CostGroupView, CostsView

router = new_router()
_DAY = r"^\d{4}-\d{2}-\d{2}$"


@router.get("/costs")
def costs(
    group_by: Annotated[Literal["tenant", "queue", "priority", "day"], Query(alias="groupBy")] = "day",
    start: Annotated[str | None, Query(alias="from", pattern=_DAY, description="first day, YYYY-MM-DD (UTC)")] = None,
    end: Annotated[str | None, Query(alias="to", pattern=_DAY, description="last day, YYYY-MM-DD (UTC)")] = None,
) -> CostsView:
    """Estimated costs of the attempts that ended from `from` to `to` (default: the last 7 days; 92 days at most),
    grouped by tenant, queue, priority class or day. The caller's own; an administrator (AdminPrincipals) sees every
    tenant's."""
    caller = tenant(router.current_event)
    report = wiring.cost_service().report(
        caller,
        admin=is_admin(caller),
        group_by=group_by,
        start=start,
        end=end,
        today=datetime.now(UTC).date(),
    )
    return CostsView(
        group_by=report.group_by,
        from_=report.start,
        to=report.end,
        every_tenant=report.every_tenant,
        currency=report.currency,
        amount=report.amount,
        wasted=report.wasted,
        groups=[CostGroupView(key=g.key, amount=g.amount, wasted=g.wasted, attempts=g.attempts) for g in report.groups],
        basis=report.basis,
    )
