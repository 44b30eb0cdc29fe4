"""What a recorded job cost, from its record alone (no AWS call): each attempt's request, capacity, queue and
startedAt/stoppedAt become an `AttemptUsage` priced by `batchplane.domain.costs`; and the line an ended attempt adds
to the per-day cost rollup (`CostLine`), which `GET /costs` sums without scanning the table.

What the record does not know is said in the basis: the instance type (Batch's events carry a container instance
ARN, not a type; looking it up would cost ECS and EC2 calls per attempt), so an attempt is priced on a type of its
compute environment's fleet (`costs.Fleet`, from the template's parameters); an array's children run and stop at
their own times, but the record keeps the parent's span, so each child is priced over the whole span (an upper
bound)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final, Literal

from batchplane.domain.arbiter import QueueCatalogue
from batchplane.domain.costs import AttemptUsage, Cost, Environment, Fleet, PriceTable, attempt_cost, job_cost
from batchplane.domain.failures import FailureClass, capacity_type
from batchplane.domain.records import AttemptRecord, JobRecord
from batchplane.domain.timestamps import iso_from_ms

DEFAULT_VCPUS: Final = 1  # the template's sample job definition asks 1 vCPU

_FAILURES: Final = {c.value: c for c in FailureClass}


def environment_of(queue_arn: str, catalogue: QueueCatalogue) -> Environment:
    queue = catalogue.by_arn(queue_arn)
    if queue is not None and queue.multi_node:
        return "multi-node"
    if queue is not None and queue.max_gpus > 0:
        return "gpu"
    return "ec2"


def usage_of(
    job: JobRecord, attempt: AttemptRecord, catalogue: QueueCatalogue, default_memory_mib: int
) -> AttemptUsage:
    """One attempt as the cost model sees it (vCPUs and memory the attempt asked, else the request's, else the
    defaults; the label says which were assumed)."""
    req = job.request
    vcpus = attempt.vcpus or req.get("vcpus")
    memory = attempt.memory_mib or req.get("memoryMiB")
    assumed = []
    if not vcpus:
        assumed.append(f"{DEFAULT_VCPUS} vCPU assumed")
    if not memory:
        assumed.append(f"{default_memory_mib} MiB assumed")
    nodes = int((req.get("nodes") or {}).get("count") or 1)
    copies = "nodes"
    if req.get("arraySize"):
        nodes = len(attempt.array_indexes.split(",")) if attempt.array_indexes else int(req["arraySize"])
        copies = "array children, each over the parent's span (an upper bound)"
    label = f"attempt {attempt.attempt}" + (f" ({', '.join(assumed)})" if assumed else "")
    return AttemptUsage(
        vcpus=int(vcpus or DEFAULT_VCPUS),
        memory_mib=int(memory or default_memory_mib),
        capacity=capacity_type(attempt.capacity.value),
        started_at_ms=attempt.started_at,
        stopped_at_ms=attempt.stopped_at,
        environment=environment_of(attempt.queue_arn, catalogue),
        gpus=int(req.get("gpus") or 0),
        nodes=nodes,
        copies=copies,
        failure=_FAILURES.get(attempt.failure_class or ""),
        label=label,
    )


@dataclass(frozen=True, slots=True)
class Costing:
    """What pricing a record needs: the price table, the stack's fleet, its queues and the default memory."""

    table: PriceTable
    fleet: Fleet
    catalogue: QueueCatalogue
    default_memory_mib: int = 2048

    def job(self, job: JobRecord) -> Cost:
        """The job's estimated cost so far: every attempt that ran (one still running is not yet priced)."""
        usages = [usage_of(job, a, self.catalogue, self.default_memory_mib) for a in job.attempts]
        return job_cost(usages, self.table, self.fleet)

    def attempt(self, job: JobRecord, attempt: AttemptRecord) -> Cost:
        return attempt_cost(usage_of(job, attempt, self.catalogue, self.default_memory_mib), self.table, self.fleet)

    def line(self, job: JobRecord, attempt: AttemptRecord, failure_class: str | None) -> CostLine | None:
        """What an ended attempt adds to the rollup (None: it never ran, nothing to add). ``failure_class`` as the
        decision recorded it (None: it succeeded)."""
        if attempt.stopped_at is None or attempt.started_at is None:
            return None
        ended = replace(attempt, failure_class=failure_class)
        cost = self.attempt(job, ended)
        queue = attempt.queue_arn.rsplit("/", 1)[-1]
        return CostLine(
            day=iso_from_ms(attempt.stopped_at)[:10],
            tenant=job.tenant,
            priority=job.priority,
            queue=queue,
            amount=cost.amount,
            wasted=cost.wasted,
            currency=cost.currency,
            as_of=self.table.as_of,
        )


@dataclass(frozen=True, slots=True)
class CostLine:
    """One ended attempt's share of the rollup: added to the item of its day, tenant, priority and queue."""

    day: str  # YYYY-MM-DD (UTC) of stoppedAt
    tenant: str
    priority: str
    queue: str
    amount: Decimal
    wasted: Decimal
    currency: str
    as_of: str  # the price table's date


GroupBy = Literal["tenant", "queue", "priority", "day"]
MAX_DAYS: Final = 92  # GET /costs reads one rollup partition per day: a quarter at most


@dataclass(frozen=True, slots=True)
class CostRow:
    """One rollup item as stored: the sum of the ended attempts of one day, tenant, priority and queue."""

    day: str
    tenant: str
    priority: str
    queue: str
    amount: Decimal
    wasted: Decimal
    attempts: int
    currency: str


@dataclass(frozen=True, slots=True)
class CostGroup:
    key: str
    amount: Decimal
    wasted: Decimal
    attempts: int


def group_costs(rows: Iterable[CostRow], by: GroupBy) -> list[CostGroup]:
    """The rows summed by ``by``, in key order."""
    sums: dict[str, tuple[Decimal, Decimal, int]] = {}
    for row in rows:
        key = getattr(row, by)
        amount, wasted, attempts = sums.get(key, (Decimal(0), Decimal(0), 0))
        sums[key] = (amount + row.amount, wasted + row.wasted, attempts + row.attempts)
    return [CostGroup(key, a, w, n) for key, (a, w, n) in sorted(sums.items())]
