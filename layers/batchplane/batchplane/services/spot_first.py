"""Spot first, decided at admission: a QUEUED Spot-first job that its Spot queue's compute environments could never
hold, but its class's On-Demand queue's could, goes to the On-Demand queue before the dispatcher plans. Spot first
means On-Demand on a capacity shortage; this one no end of another job relieves, and the sweeper's fallback moves
only jobs already RUNNABLE in Batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchplane.domain.admission import Snapshot, spot_fallbacks
from batchplane.domain.dispatch import job_need
from batchplane.domain.models import Capacity, CapacityPreference

if TYPE_CHECKING:
    from batchplane.domain.arbiter import QueueCatalogue, QueueClass
    from batchplane.domain.ports import AdmissionStore
    from batchplane.domain.records import JobRecord


def spot_first_to_on_demand(
    jobs: list[JobRecord],
    snapshot: Snapshot,
    catalogue: QueueCatalogue,
    store: AdmissionStore,
    default_memory_mib: int,
    now: str,
) -> dict[str, JobRecord]:
    """Move the jobs ``spot_fallbacks`` names (each with one conditional write, the one re-prioritising a job not in
    Batch makes: a cancel or another move that lands first wins) and return their records as moved, by job id. A job
    whose write lost is left as it is: the next read brings it back as it now is."""
    targets: dict[str, QueueClass] = {}
    for job in jobs:
        if job.preference is not CapacityPreference.SPOT_FIRST or job.capacity is not Capacity.SPOT:
            continue
        queue = catalogue.by_arn(job.queue_arn)
        peer = catalogue.on_demand_peer(queue) if queue is not None else None
        if peer is not None and peer.queue_arn != job.queue_arn:
            targets[job.job_id] = peer
    moving = spot_fallbacks(snapshot, {job_id: q.queue_name for job_id, q in targets.items()}) if targets else ()
    by_id = {j.job_id: j for j in jobs}
    moved: dict[str, JobRecord] = {}
    for job_id in moving:
        job, peer = by_id[job_id], targets[job_id]
        need = job_need(job.request, default_memory_mib)
        why = (
            f"priority {job.priority}: Spot first, but {job.queue_name}'s compute environments can never hold it "
            f"({need.vcpus} vCPU, {need.memory_mib} MiB): On-Demand → {peer.queue_name}"
        )
        if store.fall_back(job, queue_arn=peer.queue_arn, why=why, now=now):
            moved[job_id] = job.moved(queue_arn=peer.queue_arn, capacity=Capacity.ON_DEMAND, why=why)
    return moved
