"""Re-prioritising is a pure decision over the job's record and the queue catalogue: a table of states."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from batchplane.domain.arbiter import QueueCatalogue, QueueClass
from batchplane.domain.errors import UnschedulableError
from batchplane.domain.models import Capacity, CapacityPreference, JobStatus, Priority
from batchplane.domain.priority import PreBatch, PriorityAction, decide_reprioritise, pre_batch_state
from batchplane.domain.records import AttemptRecord, JobRecord

pytestmark = pytest.mark.unit

ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/"
DEP = "01JDEPENDENCY0000000000000"


def catalogue(*, urgent: bool = True) -> QueueCatalogue:
    classes = [p for p in Priority if urgent or p is not Priority.URGENT]
    queues = [
        QueueClass(p.value, c, f"{ARN}bp-{p.value}-{c.value}", max_vcpus=8, max_memory_mib=62_000)
        for p in classes
        for c in Capacity
    ]
    queues.append(QueueClass("*", Capacity.ON_DEMAND, f"{ARN}bp-mnp", 72, 180_000, multi_node=True))
    return QueueCatalogue(queues)


def queue(priority: str, capacity: str = "spot") -> str:
    return f"{ARN}bp-{priority}-{capacity}"


def job(
    *,
    status: JobStatus = JobStatus.RUNNABLE,
    attempt: dict[str, Any] | None = None,
    request: dict[str, Any] | None = None,
    **kw: Any,
) -> JobRecord:
    """A normal spot-first job whose one attempt is RUNNABLE in Batch, unless told otherwise."""
    fields: dict[str, Any] = {
        "attempt": 1,
        "reason": "initial",
        "queue_arn": queue("normal"),
        "capacity": Capacity.SPOT,
        "batch_job_name": "bp-J-a1-n",
        "status": status,
        "batch_job_id": "b-1",
        "rank_key": "02#t#0#e",
    }
    fields.update(attempt or {})
    return JobRecord(
        job_id="01JJOB0000000000000000000A",
        tenant="t",
        name="n",
        status=status,
        created_at="2026-12-01T00:00:00.000Z",
        updated_at="2026-12-01T00:00:00.000Z",
        request={"name": "n", **(request or {})},
        request_hash="h",
        priority="normal",
        preference=CapacityPreference.SPOT_FIRST,
        queue_arn=fields["queue_arn"],
        capacity=fields["capacity"],
        placement_reason="",
        job_definition="d",
        attempts=[AttemptRecord(**fields)],
        **kw,
    )


UNSENT = {"batch_job_id": None, "rank_key": None}
HELD = job(
    status=JobStatus.PENDING, attempt={**UNSENT, "status": JobStatus.SUBMITTED}, request={"dependsOn": [{"jobId": DEP}]}
)
BACKOFF = job(status=JobStatus.PENDING, attempt={**UNSENT, "status": JobStatus.SUBMITTED, "not_before": 10_000})


@pytest.mark.parametrize(
    ("record", "action", "pre_batch"),
    [
        pytest.param(HELD, PriorityAction.MOVED, PreBatch.HELD, id="held-for-dependencies"),
        pytest.param(BACKOFF, PriorityAction.MOVED, PreBatch.RETRY, id="retry-backoff"),
        pytest.param(
            job(status=JobStatus.SUBMITTED, attempt=UNSENT), PriorityAction.REPLACED, None, id="just-submitted"
        ),
        pytest.param(job(status=JobStatus.SUBMITTED), PriorityAction.REPLACED, None, id="submitted"),
        pytest.param(job(status=JobStatus.PENDING), PriorityAction.REPLACED, None, id="pending"),
        pytest.param(job(status=JobStatus.RUNNABLE), PriorityAction.REPLACED, None, id="runnable"),
        pytest.param(
            job(status=JobStatus.PENDING, attempt={**UNSENT, "not_before": 10_000, "submit_failed_at": 9_000}),
            PriorityAction.REPLACED,
            None,
            id="submit-failed-maybe-in-batch",
        ),
        pytest.param(job(status=JobStatus.STARTING), PriorityAction.REFUSED, None, id="starting"),
        pytest.param(job(status=JobStatus.RUNNING), PriorityAction.REFUSED, None, id="running"),
        pytest.param(job(status=JobStatus.SUCCEEDED), PriorityAction.REFUSED, None, id="succeeded"),
        pytest.param(job(status=JobStatus.FAILED), PriorityAction.REFUSED, None, id="failed"),
        pytest.param(job(status=JobStatus.CANCELLED), PriorityAction.REFUSED, None, id="cancelled"),
        pytest.param(job(cancel_requested=True), PriorityAction.REFUSED, None, id="cancel-requested"),
        pytest.param(job(awaiting_decision=1), PriorityAction.REFUSED, None, id="failure-being-decided"),
    ],
)
def test_where_the_job_is_decides_what_reprioritising_does(
    record: JobRecord, action: PriorityAction, pre_batch: PreBatch | None
) -> None:
    # GIVEN a normal job in some state  WHEN it is asked to become urgent
    decision = decide_reprioritise(record, Priority.URGENT, catalogue())
    # THEN the action follows from its state, and a move or replacement goes to the urgent class's Spot queue
    assert decision.action is action, decision.reason
    assert pre_batch_state(record) is pre_batch
    if action in (PriorityAction.MOVED, PriorityAction.REPLACED):
        assert decision.queue is not None
        assert decision.queue.queue_arn == queue("urgent")
    else:
        assert decision.queue is None


@pytest.mark.parametrize("status", list(JobStatus))
def test_the_same_priority_is_a_no_op_in_every_state(status: JobStatus) -> None:
    # GIVEN a normal job in any state  WHEN it is asked to be normal  THEN nothing is done (a retried request is safe)
    assert decide_reprioritise(job(status=status), Priority.NORMAL, catalogue()).action is PriorityAction.UNCHANGED


def test_a_job_fallen_back_to_on_demand_stays_on_demand_in_its_new_class() -> None:
    # GIVEN a spot-first job whose current attempt waits On-Demand (after a capacity fallback)
    record = job(attempt={"queue_arn": queue("normal", "on-demand"), "capacity": Capacity.ON_DEMAND})
    # WHEN it is re-prioritised  THEN its new attempt goes to the new class's On-Demand queue, not back to Spot
    decision = decide_reprioritise(record, Priority.HIGH, catalogue())
    assert decision.action is PriorityAction.REPLACED
    assert decision.queue is not None
    assert decision.queue.queue_arn == queue("high", "on-demand")


def test_a_job_in_a_queue_every_class_shares_changes_only_its_record() -> None:
    # GIVEN a multi-node job RUNNABLE in the multi-node queue (which serves every class)
    record = job(
        request={"nodes": {"count": 2, "mainNode": 0}},
        attempt={"queue_arn": f"{ARN}bp-mnp", "capacity": Capacity.ON_DEMAND},
    )
    # WHEN it is re-prioritised  THEN no new attempt is made: the record changes
    decision = decide_reprioritise(record, Priority.URGENT, catalogue())
    assert decision.action is PriorityAction.RECORDED


def test_a_class_without_a_queue_is_unschedulable_naming_priority() -> None:
    # GIVEN a deployment without an urgent class  WHEN a job is asked to become urgent  THEN 422 naming priority
    with pytest.raises(UnschedulableError) as caught:
        decide_reprioritise(job(), Priority.URGENT, catalogue(urgent=False))
    assert [e.field for e in caught.value.errors] == ["priority"]


def test_an_escalated_memory_must_fit_the_new_class() -> None:
    # GIVEN a job whose attempt was escalated to more memory than the urgent queues allow
    small = QueueCatalogue(
        [
            QueueClass("normal", Capacity.SPOT, queue("normal"), 8, 62_000),
            QueueClass("urgent", Capacity.SPOT, queue("urgent"), 8, 4_000),
        ]
    )
    record = job(attempt={"memory_mib": 8_000})
    # WHEN it is asked to become urgent  THEN 422 naming priority
    with pytest.raises(UnschedulableError) as caught:
        decide_reprioritise(record, Priority.URGENT, small)
    assert caught.value.errors[0].field == "priority"


def test_the_refusal_says_why() -> None:
    # GIVEN a running job  WHEN re-prioritised  THEN the 409's sentence names its state
    decision = decide_reprioritise(replace(job(status=JobStatus.RUNNING)), Priority.HIGH, catalogue())
    assert "RUNNING" in decision.reason
    assert "started" in decision.reason
