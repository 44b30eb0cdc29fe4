"""Queue priority arbitration: a pure function from (job request, queue catalogue) to a Placement.

The catalogue is data (from the template, through configuration); nothing here knows a queue's name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from batchplane.domain.errors import FieldError, UnschedulableError
from batchplane.domain.models import Capacity, CapacityPreference, JobRequest, Platform, Priority

ANY_PRIORITY = "*"


@dataclass(frozen=True, slots=True)
class QueueClass:
    """One Batch job queue as the control plane sees it: where a priority class meets a capacity type."""

    priority: str  # a Priority value, or "*" for queues every class may use (multi-node, GPU)
    capacity: Capacity
    queue_arn: str
    max_vcpus: int
    max_memory_mib: int
    max_gpus: int = 0
    multi_node: bool = False
    platform: Platform = Platform.EC2  # Fargate queues take only Fargate job definitions, and EC2 ones only EC2

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Placement:
    queue: QueueClass
    reason: str

    @property
    def capacity(self) -> Capacity:
        return self.queue.capacity


@dataclass(frozen=True, slots=True)
class Demand:
    """What a job asks of a queue (one attempt): enough to place it without the full request."""

    priority: Priority
    preference: CapacityPreference
    vcpus: int | None = None
    memory_mib: int | None = None
    gpus: int = 0
    multi_node: bool = False
    platform: Platform = Platform.EC2

    @classmethod
    def of(cls, request: JobRequest) -> Demand:
        return cls(
            priority=request.priority,
            preference=request.capacity,
            vcpus=request.vcpus,
            memory_mib=request.memory_mi_b,
            gpus=request.gpus,
            multi_node=request.nodes is not None,
            platform=request.platform,
        )


class QueueCatalogue:
    """The queue classes of one deployment, indexed once so each decision is a few dict lookups."""

    def __init__(self, queues: Iterable[QueueClass]) -> None:
        self.queues: tuple[QueueClass, ...] = tuple(queues)
        self._plain: dict[tuple[str, Capacity, Platform], QueueClass] = {}
        self._gpu: list[QueueClass] = []
        self._multi_node: list[QueueClass] = []
        for q in self.queues:
            if q.multi_node:
                self._multi_node.append(q)
            elif q.max_gpus > 0:
                self._gpu.append(q)
            else:
                self._plain.setdefault((q.priority, q.capacity, q.platform), q)
        self._by_arn = {q.queue_arn: q for q in self.queues}
        self._max_memory = max((q.max_memory_mib for q in self.queues), default=0)

    def by_arn(self, arn: str) -> QueueClass | None:
        return self._by_arn.get(arn) or next((q for q in self.queues if q.queue_name == arn), None)

    def on_demand_peer(self, queue: QueueClass) -> QueueClass | None:
        """The On-Demand queue of the same priority class and platform (for Spot→On-Demand fallback: Fargate Spot
        falls back to Fargate, EC2 Spot to EC2 On-Demand)."""
        if queue.capacity is Capacity.ON_DEMAND:
            return queue
        return self._plain.get((queue.priority, Capacity.ON_DEMAND, queue.platform))

    def place(self, demand: Demand) -> Placement:
        if demand.multi_node:
            return self._place_multi_node(demand)
        if demand.gpus > 0:
            return self._place_gpu(demand)
        capacity = Capacity.ON_DEMAND if demand.preference is CapacityPreference.ON_DEMAND else Capacity.SPOT
        queue = self._plain.get((demand.priority.value, capacity, demand.platform))
        if queue is None:
            kind = (
                f"{demand.platform.value} {capacity.value}" if demand.platform is Platform.FARGATE else capacity.value
            )
            field = "platform" if demand.platform is Platform.FARGATE else "capacity"
            raise UnschedulableError(
                f"no {kind} queue is declared for priority class {demand.priority.value}",
                errors=[FieldError(field, f"no {kind} queue for priority {demand.priority.value}")],
            )
        _check_fits(queue, demand)
        why = {
            CapacityPreference.SPOT: "Spot only (reclaims retry on Spot)",
            CapacityPreference.SPOT_FIRST: "Spot first (falls back to On-Demand on reclaim or capacity shortage)",
            CapacityPreference.ON_DEMAND: "On-Demand as asked",
        }[demand.preference]
        return Placement(queue, f"priority {demand.priority.value}: {why} → {queue.queue_name}")

    def _place_multi_node(self, demand: Demand) -> Placement:
        if demand.preference is CapacityPreference.SPOT:
            raise UnschedulableError(
                "multi-node parallel jobs never run on Spot",
                errors=[FieldError("capacity", "multi-node parallel jobs need on-demand or spot-first")],
            )
        if not self._multi_node:
            raise UnschedulableError(
                "this deployment declares no multi-node queue",
                errors=[FieldError("nodes", "no multi-node parallel queue is declared")],
            )
        queue = self._multi_node[0]
        _check_fits(queue, demand)
        return Placement(
            queue,
            f"multi-node parallel job: On-Demand cluster placement queue {queue.queue_name} "
            f"(multi-node jobs never run on Spot; priority {demand.priority.value})",
        )

    def _place_gpu(self, demand: Demand) -> Placement:
        candidates = [q for q in self._gpu if q.max_gpus >= demand.gpus]
        if not candidates:
            raise UnschedulableError(
                f"no queue of this deployment offers {demand.gpus} GPU(s)",
                errors=[FieldError("gpus", f"no GPU-capable queue offers {demand.gpus} GPU(s)")],
            )
        wanted = Capacity.ON_DEMAND if demand.preference is CapacityPreference.ON_DEMAND else Capacity.SPOT

        def rank(q: QueueClass) -> tuple[int, int]:
            return (q.priority not in (demand.priority.value, ANY_PRIORITY), q.capacity is not wanted)

        queue = min(candidates, key=rank)
        if demand.preference is CapacityPreference.SPOT and queue.capacity is not Capacity.SPOT:
            raise UnschedulableError(
                "no Spot queue offers GPUs",
                errors=[FieldError("capacity", "no Spot GPU queue: use on-demand or spot-first")],
            )
        _check_fits(queue, demand)
        return Placement(queue, f"GPU job ({demand.gpus} GPU): GPU-capable queue {queue.queue_name}")

    @property
    def max_memory_mib(self) -> int:
        return self._max_memory


def _check_fits(queue: QueueClass, demand: Demand) -> None:
    if demand.memory_mib is not None and demand.memory_mib > queue.max_memory_mib:
        raise UnschedulableError(
            f"{demand.memory_mib} MiB is more memory than any instance of queue {queue.queue_name} offers "
            f"({queue.max_memory_mib} MiB)",
            errors=[FieldError("memoryMiB", f"at most {queue.max_memory_mib} MiB on this queue class")],
        )
    if demand.vcpus is not None and demand.vcpus > queue.max_vcpus:
        raise UnschedulableError(
            f"{demand.vcpus} vCPUs is more than any instance of queue {queue.queue_name} offers ({queue.max_vcpus})",
            errors=[FieldError("vcpus", f"at most {queue.max_vcpus} vCPUs on this queue class")],
        )
