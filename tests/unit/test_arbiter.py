"""Queue arbitration is a pure function: table tests and properties."""

from __future__ import annotations

import pytest
from batchplane.domain.arbiter import Demand, QueueCatalogue, QueueClass
from batchplane.domain.errors import UnschedulableError
from batchplane.domain.models import Capacity, CapacityPreference, Priority
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/"


def catalogue(*, gpu: bool = False, mnp: bool = True) -> QueueCatalogue:
    queues = [
        QueueClass(p.value, c, f"{ARN}bp-{p.value}-{c.value}", max_vcpus=8, max_memory_mib=62_000)
        for p in Priority
        for c in Capacity
    ]
    if mnp:
        queues.append(QueueClass("*", Capacity.ON_DEMAND, f"{ARN}bp-mnp", 72, 180_000, multi_node=True))
    if gpu:
        queues.append(QueueClass("*", Capacity.ON_DEMAND, f"{ARN}bp-gpu", 8, 120_000, max_gpus=4))
    return QueueCatalogue(queues)


@pytest.mark.parametrize(
    ("priority", "preference", "queue"),
    [
        (Priority.LOW, CapacityPreference.SPOT_FIRST, "bp-low-spot"),
        (Priority.NORMAL, CapacityPreference.SPOT, "bp-normal-spot"),
        (Priority.HIGH, CapacityPreference.ON_DEMAND, "bp-high-on-demand"),
        (Priority.URGENT, CapacityPreference.SPOT_FIRST, "bp-urgent-spot"),
        (Priority.URGENT, CapacityPreference.ON_DEMAND, "bp-urgent-on-demand"),
    ],
)
def test_priority_class_times_capacity(priority: Priority, preference: CapacityPreference, queue: str) -> None:
    # GIVEN a plain job / WHEN placed / THEN it lands in its class's queue, with a reason
    placement = catalogue().place(Demand(priority=priority, preference=preference))
    assert placement.queue.queue_name == queue
    assert priority.value in placement.reason


def test_multi_node_never_on_spot() -> None:
    cat = catalogue()
    placed = cat.place(Demand(Priority.NORMAL, CapacityPreference.SPOT_FIRST, multi_node=True))
    assert placed.queue.multi_node
    assert placed.capacity is Capacity.ON_DEMAND
    with pytest.raises(UnschedulableError) as err:
        cat.place(Demand(Priority.NORMAL, CapacityPreference.SPOT, multi_node=True))
    assert err.value.errors[0].field == "capacity"


def test_multi_node_without_a_multinode_queue_is_unschedulable() -> None:
    with pytest.raises(UnschedulableError) as err:
        catalogue(mnp=False).place(Demand(Priority.NORMAL, CapacityPreference.ON_DEMAND, multi_node=True))
    assert err.value.errors[0].field == "nodes"


def test_gpu_jobs_go_to_gpu_queues_when_declared() -> None:
    placed = catalogue(gpu=True).place(Demand(Priority.HIGH, CapacityPreference.SPOT_FIRST, gpus=2))
    assert placed.queue.queue_name == "bp-gpu"
    with pytest.raises(UnschedulableError) as err:
        catalogue(gpu=True).place(Demand(Priority.HIGH, CapacityPreference.SPOT_FIRST, gpus=8))
    assert err.value.errors[0].field == "gpus"
    with pytest.raises(UnschedulableError):
        catalogue(gpu=False).place(Demand(Priority.HIGH, CapacityPreference.ON_DEMAND, gpus=1))


@pytest.mark.parametrize(("memory", "vcpus", "field"), [(62_001, None, "memoryMiB"), (None, 9, "vcpus")])
def test_more_than_any_instance_offers_is_unschedulable(memory: int | None, vcpus: int | None, field: str) -> None:
    with pytest.raises(UnschedulableError) as err:
        catalogue().place(Demand(Priority.LOW, CapacityPreference.SPOT_FIRST, vcpus=vcpus, memory_mib=memory))
    assert err.value.errors[0].field == field
    assert err.value.status == 422


def test_on_demand_peer_is_the_same_priority_class() -> None:
    cat = catalogue()
    spot = cat.place(Demand(Priority.HIGH, CapacityPreference.SPOT_FIRST)).queue
    peer = cat.on_demand_peer(spot)
    assert peer is not None
    assert peer.queue_name == "bp-high-on-demand"
    assert cat.by_arn(spot.queue_arn) is spot


@given(
    priority=st.sampled_from(list(Priority)),
    preference=st.sampled_from(list(CapacityPreference)),
    memory=st.one_of(st.none(), st.integers(4, 200_000)),
    vcpus=st.one_of(st.none(), st.integers(1, 100)),
    multi_node=st.booleans(),
)
def test_placement_always_fits_or_says_why(
    priority: Priority, preference: CapacityPreference, memory: int | None, vcpus: int | None, multi_node: bool
) -> None:
    demand = Demand(priority, preference, vcpus=vcpus, memory_mib=memory, multi_node=multi_node)
    try:
        placed = catalogue().place(demand)
    except UnschedulableError as err:
        assert err.errors, "an unschedulable answer names a field"
        return
    q = placed.queue
    assert memory is None or memory <= q.max_memory_mib
    assert vcpus is None or vcpus <= q.max_vcpus
    if multi_node:
        assert q.capacity is Capacity.ON_DEMAND
    elif preference is CapacityPreference.ON_DEMAND:
        assert q.capacity is Capacity.ON_DEMAND
        assert q.priority == priority.value
    else:
        assert q.capacity is Capacity.SPOT
        assert q.priority == priority.value
