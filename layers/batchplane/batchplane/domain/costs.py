"""What an attempt cost: a pure estimate from the attempt's request, its running time and a price table.

    cost = price per hour of the instance (Spot or On-Demand) x share of the instance x running hours x nodes

* **Share** is the *dominant* share: max(vCPUs asked / instance vCPUs, memory asked / instance memory, GPUs asked /
  instance GPUs), capped at 1. Not the vCPU share alone: a job that asks 2 vCPUs and 30 GiB of a 4-vCPU, 32-GiB
  instance leaves the other 2 vCPUs with 2 GiB, which no other job of normal shape can use, so it holds (and should
  pay for) nearly the whole instance. The dominant share is what the job denies everybody else (the resource of
  Dominant Resource Fairness); max rather than a sum or a mean keeps the share at most 1 and makes a job that fills
  any one resource pay for the whole instance. Capped at 1: a job cannot hold more than the instance it runs on.
* **Running time** is startedAt → stoppedAt of the attempt (AWS Batch's epoch milliseconds). A missing end, a
  missing start or a stop before the start counts as no running time (cost 0) and the basis says so: nothing here
  guesses a clock.
* **Price**: On-Demand from the table; Spot from the table, or, where the table has no Spot figure, the On-Demand
  price as its ceiling (a Spot price never exceeds On-Demand) — an upper bound, and the basis says so.
* **Instance type unknown** (the local stack has no instances; AWS may report a type the table lacks): the attempt
  is priced on a default type of its compute environment, from the template's parameters (`DEFAULT_INSTANCE_TYPES`):
  the cheapest for this attempt of the types the request fits, else the largest. The basis names the type chosen and
  says it is a default.
* **Multi-node parallel**: one node per instance, each node priced like a single job of the node's size, x nodes.
  **Array jobs**: each child is an attempt; `job_cost` sums them.
* **Wasted** spend is the cost of attempts that could not produce the result and that batchplane's own policies
  exist to avoid (`WASTED_CLASSES`): SPOT_RECLAIM and HOST_FAILURE (the infrastructure took the work away), OOM
  (killed for memory; the next attempt is escalated) and TIMEOUT (stopped at attemptDurationSeconds). An APP_ERROR is
  not counted as wasted: the job's own code ran to its own end, and that failure is the job's result. CANCELLED,
  DEPENDENCY, IMAGE_PULL, MISCONFIGURATION, UNSCHEDULABLE and UNKNOWN attempts rarely run at all; what they did run
  is in the amount but not in wasted, because nothing about capacity choice would have saved it.
* **Money** is Decimal throughout and rounded once, at the end, to a millionth of the currency unit (half-even):
  a 10-second job on a quarter of an m5.xlarge costs about $0.000133, which cents would round to nothing.

Limits of the model (say them with the figure): no EBS volumes, no data transfer, no NAT or load balancer, no
per-instance 60-second billing minimum and no idle capacity between jobs (the share assumes the instance is
otherwise full); the instance's nominal memory, not what ECS leaves for containers; Spot prices vary by Availability
Zone and over time and the table holds one figure; one region's prices; no Savings Plans, Reserved Instances or
credits; Fargate's per-vCPU/GB pricing is not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final, Literal

from batchplane.domain.failures import CapacityType, FailureClass

Environment = Literal["ec2", "multi-node", "gpu"]

QUANTUM: Final = Decimal("0.000001")
_HOUR_MS: Final = Decimal(3_600_000)
_MIB_PER_GIB: Final = 1024

WASTED_CLASSES: Final = frozenset(
    {FailureClass.SPOT_RECLAIM, FailureClass.HOST_FAILURE, FailureClass.OOM, FailureClass.TIMEOUT}
)

# The template's defaults, per compute environment (template.yaml Parameters): InstanceTypes
# "m5.xlarge,c5.xlarge,r5.2xlarge" for the Spot and On-Demand environments, MultiNodeInstanceTypes "c5n.18xlarge".
# GpuInstanceTypes has no default (no GPU environment unless set): the smallest NVIDIA types of the price table.
DEFAULT_INSTANCE_TYPES: Final[Mapping[Environment, tuple[str, ...]]] = {
    "ec2": ("m5.xlarge", "c5.xlarge", "r5.2xlarge"),
    "multi-node": ("c5n.18xlarge",),
    "gpu": ("g4dn.xlarge", "g4dn.2xlarge"),
}
_DEFAULT_WHY: Final[Mapping[Environment, str]] = {
    "ec2": "the template's InstanceTypes default",
    "multi-node": "the template's MultiNodeInstanceTypes default",
    "gpu": "GpuInstanceTypes has no default; the price table's smallest NVIDIA types",
}


@dataclass(frozen=True, slots=True)
class Fleet:
    """The instance types each kind of compute environment may launch, and where that list came from (for the basis).
    In a deployment: the template's InstanceTypes, MultiNodeInstanceTypes and GpuInstanceTypes parameters, passed to
    the functions (`fleet_of`), so pricing an attempt needs no call to ECS or EC2."""

    types: Mapping[Environment, tuple[str, ...]]
    why: Mapping[Environment, str]


def fleet_of(ec2: str, multi_node: str, gpu: str) -> Fleet:
    """The stack's fleet from its parameters (comma-joined); an environment whose parameter names no instance type
    (empty, "optimal", families such as "m5") keeps the default list, and the basis says so."""
    types = dict(DEFAULT_INSTANCE_TYPES)
    why = dict(_DEFAULT_WHY)
    parameters: tuple[tuple[Environment, str, str], ...] = (
        ("ec2", ec2, "InstanceTypes"),
        ("multi-node", multi_node, "MultiNodeInstanceTypes"),
        ("gpu", gpu, "GpuInstanceTypes"),
    )
    for env, text, parameter in parameters:
        names = tuple(n.strip() for n in text.split(",") if "." in n.strip())
        if names:
            types[env] = names
            why[env] = f"the stack's {parameter} parameter"
    return Fleet(types=types, why=why)


DEFAULT_FLEET: Final = Fleet(types=DEFAULT_INSTANCE_TYPES, why=_DEFAULT_WHY)


class PriceTableError(ValueError):
    """A price table (shipped or override) that cannot be used."""


@dataclass(frozen=True, slots=True)
class InstancePrice:
    instance_type: str
    vcpus: int
    memory_mib: int
    gpus: int
    on_demand_per_hour: Decimal
    spot_per_hour: Decimal | None  # None: no Spot figure; On-Demand is used as the ceiling


@dataclass(frozen=True, slots=True)
class PriceTable:
    region: str
    currency: str
    as_of: str  # the date the prices were taken
    on_demand_source: str
    spot_source: str
    instances: Mapping[str, InstancePrice]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PriceTable:
        """Validate a table of the shape of `batchplane.domain.prices.SHIPPED` (also the override file's shape)."""
        try:
            types = data["instanceTypes"]
            instances = {name: _instance(name, spec) for name, spec in types.items()}
            table = cls(
                region=str(data["region"]),
                currency=str(data["currency"]),
                as_of=str(data["asOf"]),
                on_demand_source=str(data["onDemandSource"]),
                spot_source=str(data.get("spotSource", "")),
                instances=instances,
            )
        except (KeyError, TypeError, AttributeError, ArithmeticError) as error:
            msg = f"price table is malformed: {error!r}"
            raise PriceTableError(msg) from error
        if not instances:
            msg = "price table has no instance types"
            raise PriceTableError(msg)
        return table

    def get(self, instance_type: str | None) -> InstancePrice | None:
        return self.instances.get(instance_type) if instance_type else None


def _instance(name: str, spec: Mapping[str, Any]) -> InstancePrice:
    on_demand = Decimal(str(spec["onDemand"]))
    spot = spec.get("spot")
    price = InstancePrice(
        instance_type=name,
        vcpus=int(spec["vcpus"]),
        memory_mib=int(spec["memoryGiB"]) * _MIB_PER_GIB,
        gpus=int(spec.get("gpus", 0)),
        on_demand_per_hour=on_demand,
        spot_per_hour=None if spot is None else Decimal(str(spot)),
    )
    if price.vcpus <= 0 or price.memory_mib <= 0 or price.gpus < 0 or not on_demand.is_finite() or on_demand < 0:
        msg = f"{name}: vcpus and memoryGiB must be positive and onDemand a non-negative price"
        raise PriceTableError(msg)
    if price.spot_per_hour is not None and (not price.spot_per_hour.is_finite() or price.spot_per_hour < 0):
        msg = f"{name}: spot must be a non-negative price"
        raise PriceTableError(msg)
    return price


@dataclass(frozen=True, slots=True)
class AttemptUsage:
    """What one attempt (one AWS Batch job, or one array child) asked for and how long it ran."""

    vcpus: Decimal | int
    memory_mib: int
    capacity: CapacityType
    started_at_ms: int | None  # AWS Batch startedAt (epoch ms)
    stopped_at_ms: int | None  # AWS Batch stoppedAt (epoch ms)
    instance_type: str | None = None  # from the container instance, when known
    environment: Environment = "ec2"
    gpus: int = 0
    nodes: int = 1  # multi-node parallel: instances (one node each); an array: its children
    copies: str = "nodes"  # what ``nodes`` counts, for the basis: "nodes" or "array children"
    failure: FailureClass | None = None  # None: the attempt succeeded (or is still running)
    label: str = ""  # e.g. the attempt id or the array index, echoed in the basis


@dataclass(frozen=True, slots=True)
class Cost:
    amount: Decimal
    currency: str
    wasted: Decimal  # the part of amount spent on attempts in WASTED_CLASSES
    basis: str  # how the figure was reached, in sentences


def is_wasted(failure: FailureClass | None) -> bool:
    return failure in WASTED_CLASSES


def running_ms(usage: AttemptUsage) -> int:
    """startedAt → stoppedAt in milliseconds; 0 when either is missing or the stop is not after the start."""
    if usage.started_at_ms is None or usage.stopped_at_ms is None:
        return 0
    return max(0, usage.stopped_at_ms - usage.started_at_ms)


def share_of(usage: AttemptUsage, instance: InstancePrice) -> Decimal:
    """The dominant share of one node's request on ``instance``, capped at 1."""
    shares = [Decimal(str(usage.vcpus)) / instance.vcpus, Decimal(usage.memory_mib) / instance.memory_mib]
    if usage.gpus and instance.gpus:
        shares.append(Decimal(usage.gpus) / instance.gpus)
    elif usage.gpus:
        shares.append(Decimal(1))  # GPUs asked of a type without GPUs: it cannot run there but on the whole of one
    return min(Decimal(1), max(Decimal(0), *shares))


def _fits(usage: AttemptUsage, instance: InstancePrice) -> bool:
    return (
        Decimal(str(usage.vcpus)) <= instance.vcpus
        and usage.memory_mib <= instance.memory_mib
        and usage.gpus <= instance.gpus
    )


def hourly_price(instance: InstancePrice, capacity: CapacityType) -> tuple[Decimal, str]:
    """(price per hour, how it was chosen)."""
    if capacity == "on-demand":
        return instance.on_demand_per_hour, "On-Demand"
    if instance.spot_per_hour is not None:
        return instance.spot_per_hour, "Spot"
    return instance.on_demand_per_hour, "Spot, priced at its On-Demand ceiling (no Spot figure in the table)"


def _default_instance(usage: AttemptUsage, table: PriceTable, fleet: Fleet) -> InstancePrice | None:
    candidates = [p for name in fleet.types[usage.environment] if (p := table.get(name)) is not None]
    if not candidates:
        return None
    fitting = [p for p in candidates if _fits(usage, p)]
    if fitting:
        return min(fitting, key=lambda p: (hourly_price(p, usage.capacity)[0] * share_of(usage, p), p.instance_type))
    return max(candidates, key=lambda p: (p.vcpus, p.memory_mib, p.instance_type))


def _money(value: Decimal) -> str:
    return f"{value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)}"


def _fraction(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.0001'), rounding=ROUND_HALF_EVEN).normalize():f}"


@dataclass(frozen=True, slots=True)
class _Raw:
    amount: Decimal
    wasted: Decimal
    basis: str


def _attempt(usage: AttemptUsage, table: PriceTable, fleet: Fleet) -> _Raw:
    who = f"{usage.label}: " if usage.label else ""
    known = table.get(usage.instance_type)
    if known is not None:
        instance, where = known, f"{known.instance_type}"
    else:
        chosen = _default_instance(usage, table, fleet)
        if chosen is None:
            return _Raw(
                Decimal(0),
                Decimal(0),
                f"{who}not priced: no price for {usage.instance_type or 'an unknown instance type'} and none of the "
                f"{usage.environment} environment's defaults is in the price table.",
            )
        instance = chosen
        unknown = (
            f"instance type {usage.instance_type} is not in the price table"
            if usage.instance_type
            else ("instance type unknown")
        )
        where = f"{instance.instance_type} ({unknown}; default for the {usage.environment} environment: "
        where += f"{fleet.why[usage.environment]})"
    price, how = hourly_price(instance, usage.capacity)
    share = share_of(usage, instance)
    elapsed = running_ms(usage)
    nodes = max(1, usage.nodes)
    amount = price * share * Decimal(elapsed) / _HOUR_MS * nodes
    shares = f"vCPU {usage.vcpus}/{instance.vcpus}, memory {usage.memory_mib}/{instance.memory_mib} MiB" + (
        f", GPU {usage.gpus}/{instance.gpus}" if usage.gpus else ""
    )
    time = (
        f"{Decimal(elapsed) / 1000:f} s running (startedAt to stoppedAt)"
        if elapsed
        else "no running time (startedAt or stoppedAt missing, or stop not after start)"
    )
    node_text = f" x {nodes} {usage.copies}" if nodes > 1 else ""
    wasted = amount if is_wasted(usage.failure) else Decimal(0)
    verdict = ""
    if usage.failure is not None:
        verdict = (
            f"; wasted ({usage.failure.value})"
            if is_wasted(usage.failure)
            else f"; failed ({usage.failure.value}), not counted as wasted"
        )
    basis = (
        f"{who}{where}, {how} at {table.currency} {price}/h x share {_fraction(share)} (the larger of {shares}) x "
        f"{time}{node_text} = {_money(amount)}{verdict}."
    )
    return _Raw(amount, wasted, basis)


def _sources(table: PriceTable) -> str:
    return (
        f"Prices: {table.region}, {table.currency}, as of {table.as_of}; On-Demand from {table.on_demand_source}; "
        f"Spot from {table.spot_source or 'nowhere (On-Demand ceiling)'}. Excludes EBS, data transfer and idle "
        "capacity; Spot prices vary by Availability Zone and over time."
    )


def attempt_cost(usage: AttemptUsage, table: PriceTable, fleet: Fleet | None = None) -> Cost:
    """The estimated cost of one attempt, with its basis."""
    raw = _attempt(usage, table, fleet or DEFAULT_FLEET)
    return Cost(
        amount=raw.amount.quantize(QUANTUM, rounding=ROUND_HALF_EVEN),
        currency=table.currency,
        wasted=raw.wasted.quantize(QUANTUM, rounding=ROUND_HALF_EVEN),
        basis=f"{raw.basis} {_sources(table)}",
    )


def job_cost(attempts: Iterable[AttemptUsage], table: PriceTable, fleet: Fleet | None = None) -> Cost:
    """The estimated cost of a job: the sum over its attempts (array children and retries included), rounded once."""
    raws = [_attempt(usage, table, fleet or DEFAULT_FLEET) for usage in attempts]
    amount = sum((r.amount for r in raws), Decimal(0))
    wasted = sum((r.wasted for r in raws), Decimal(0))
    lines = " ".join(r.basis for r in raws) if raws else "No attempts ran."
    total = (
        f"Total {_money(amount)} over {len(raws)} attempt(s), of which {_money(wasted)} wasted "
        f"({', '.join(sorted(c.value for c in WASTED_CLASSES))})."
    )
    return Cost(
        amount=amount.quantize(QUANTUM, rounding=ROUND_HALF_EVEN),
        currency=table.currency,
        wasted=wasted.quantize(QUANTUM, rounding=ROUND_HALF_EVEN),
        basis=f"{total} {lines} {_sources(table)}",
    )
