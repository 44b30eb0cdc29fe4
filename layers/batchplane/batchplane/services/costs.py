"""Costs: what an ended attempt adds to the per-day rollup, and `GET /costs` over that rollup (no Scan)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from batchplane.domain.costs import Cost
from batchplane.domain.errors import FieldError, InvalidRequestError
from batchplane.domain.job_costs import MAX_DAYS, CostGroup, Costing, CostLine, GroupBy, group_costs
from batchplane.domain.ports import CostLedger


@dataclass(frozen=True, slots=True)
class CostReport:
    group_by: GroupBy
    start: str
    end: str
    every_tenant: bool
    groups: list[CostGroup]
    amount: Decimal
    wasted: Decimal
    currency: str
    basis: str


def days_between(start: str | None, end: str | None, today: date) -> list[str]:
    """The days from ``start`` to ``end`` (YYYY-MM-DD, both included; default: the last 7 days to ``today``);
    a bad date, an end before the start or more than MAX_DAYS days is a 422 naming the field."""

    def parse(value: str, name: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise InvalidRequestError(
                f"{name} must be a date, YYYY-MM-DD", errors=[FieldError(name, f"not a date: {value[:40]}")]
            ) from None

    last = parse(end, "to") if end else today
    first = parse(start, "from") if start else last - timedelta(days=6)
    if first > last:
        raise InvalidRequestError("from is after to", errors=[FieldError("from", "must be on or before to")])
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise InvalidRequestError(
            f"at most {MAX_DAYS} days at a time", errors=[FieldError("from", f"{count} days asked, {MAX_DAYS} at most")]
        )
    return [(first + timedelta(days=i)).isoformat() for i in range(count)]


class CostService:
    def __init__(self, *, ledger: CostLedger, costing: Costing) -> None:
        self._ledger = ledger
        self._costing = costing

    @property
    def costing(self) -> Costing:
        return self._costing

    def add(self, line: CostLine, pipeline_id: str | None = None) -> None:
        """One ended attempt into the day's rollup, and its pipeline's total when it is a pipeline's job."""
        self._ledger.add(line)
        if pipeline_id:
            self._ledger.add_to_pipeline(pipeline_id, line)

    def pipeline(self, pipeline_id: str) -> Cost:
        """A pipeline's cost: the sum of its jobs' ended attempts (one read)."""
        row = self._ledger.pipeline_total(pipeline_id)
        table = self._costing.table
        if row is None:
            return Cost(Decimal(0), table.currency, Decimal(0), "No attempt of this pipeline's jobs has ended yet.")
        basis = (
            f"The sum of the estimated costs of the {row.attempts} ended attempt(s) of this pipeline's jobs, each "
            "priced when it ended (each job's GET /jobs/{id} gives the basis per attempt); attempts still running "
            f"are not included. Prices: {table.region}, {table.currency}, as of {table.as_of}."
        )
        return Cost(row.amount, row.currency, row.wasted, basis)

    def report(
        self, tenant: str, *, admin: bool, group_by: GroupBy, start: str | None, end: str | None, today: date
    ) -> CostReport:
        days = days_between(start, end, today)
        rows = self._ledger.rows(days, None if admin else tenant)
        groups = group_costs(rows, group_by)
        table = self._costing.table
        basis = (
            "The sum of the estimated costs of the attempts that ended (stoppedAt, UTC) on these days, each priced "
            "when it ended (GET /jobs/{id} gives each attempt's basis: instance type, Spot or On-Demand, share, "
            f"running time). Prices now: {table.region}, {table.currency}, as of {table.as_of}. Wasted: attempts "
            "reclaimed (Spot), lost to a host failure, out of memory or timed out. Excludes EBS, data transfer "
            "and idle capacity."
        )
        return CostReport(
            group_by=group_by,
            start=days[0],
            end=days[-1],
            every_tenant=admin,
            groups=groups,
            amount=sum((g.amount for g in groups), Decimal(0)),
            wasted=sum((g.wasted for g in groups), Decimal(0)),
            currency=table.currency,
            basis=basis,
        )
