"""Event storms (hypothesis: 100 random histories a run, new ones each run; 500 with --hypothesis-profile=thorough):
every Batch event of a random job history delivered 1-3 times in random order yields the same final record as in-order
delivery, and no attempt is ever submitted twice. The lifecycle service runs on the real store (moto's DynamoDB, the
real conditional writes); SubmitJob goes to a recording fake."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from batchplane.adapters.dynamo.attempts import DynamoLifecycleStore
from batchplane.domain.arbiter import QueueCatalogue, QueueClass
from batchplane.domain.events import BatchEvent
from batchplane.domain.models import Capacity, JobRequest, JobStatus
from batchplane.domain.records import AttemptRecord, JobRecord
from batchplane.services.lifecycle import LifecycleService
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.batchevents import batch_event
from tests.cfn import table_definition

pytestmark = pytest.mark.integration
ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/"
SPOT, ON_DEMAND = f"{ARN}q-normal-spot", f"{ARN}q-normal-on-demand"
OUTCOMES = ["SUCCEEDED", "RECLAIM", "OOM", "FAILED", "TIMEOUT", "IMAGE"]


class RecordingBatch:
    def __init__(self) -> None:
        self.submitted: Counter[str] = Counter()

    def submit(self, request: dict[str, Any], **_: Any) -> str:
        self.submitted[request["jobName"]] += 1
        return f"b-{request['jobName']}"

    def admit(self, tenant: str) -> None: ...
    def refund(self, tenant: str) -> None: ...
    def terminate(self, batch_job_id: str, reason: str) -> None: ...
    def find_job_id(self, queue_arn: str, job_name: str) -> str | None:
        return None

    def describe(self, ids: list[str]) -> list[dict[str, Any]]:
        return []

    def scaling_up(self, queue_arn: str) -> bool:
        return False


@pytest.fixture(scope="module")
def table() -> Iterator[Any]:
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        yield ddb


def new_job(store: DynamoLifecycleStore, job_id: str) -> None:
    request = JobRequest.model_validate(
        {"name": "storm", "memoryMiB": 1024, "retry": {"attempts": 3, "backoff": {"baseSeconds": 0}}}
    )
    now = "2026-11-24T12:00:00.000Z"
    store.create_job(
        JobRecord(
            job_id=job_id,
            tenant="t",
            name="storm",
            status=JobStatus.SUBMITTED,
            created_at=now,
            updated_at=now,
            request=request.canonical(),
            request_hash="h",
            priority="normal",
            preference="spot-first",
            queue_arn=SPOT,
            capacity=Capacity.SPOT,
            placement_reason="test",
            job_definition="sample",
            attempts=[AttemptRecord(1, "initial", SPOT, Capacity.SPOT, f"bp-{job_id}-a1-storm", memory_mib=1024)],
        )
    )


def run(
    service: LifecycleService, store: DynamoLifecycleStore, job_id: str, plan: list[str], rng: random.Random | None
) -> JobRecord:
    new_job(store, job_id)
    for n, outcome in enumerate(plan, start=1):
        job = store.get_job(job_id)
        assert job is not None
        if job.status.terminal or job.current_attempt != n:
            break
        queue = job.current.queue_arn
        events = [
            batch_event(
                kind,
                job_id=job_id,
                attempt=n,
                batch_job_id=f"b{n}",
                queue_arn=queue,
                name="storm",
                seconds=10 * n + i,
                event_id=f"{n}-{i}",
                memory_mib=job.current.memory_mib,
            )
            for i, kind in enumerate(["RUNNABLE", "STARTING", "RUNNING", outcome])
        ]
        if rng is not None:
            events = [e for e in events for _ in range(rng.randint(1, 3))]
            rng.shuffle(events)
        for e in events:
            service.on_event(BatchEvent.model_validate(e))
    final = store.get_job(job_id)
    assert final is not None
    return final


def view(job: JobRecord) -> Any:
    return (
        job.status,
        job.status_reason,
        job.current_attempt,
        job.own_failures,
        job.infrastructure_failures,
        job.spot_reclaims,
        [
            (
                a.attempt,
                a.reason,
                a.status,
                a.status_reason,
                a.exit_code,
                a.memory_mib,
                a.capacity,
                a.failure_class,
                a.rank_key,
            )
            for a in job.attempts
        ],
    )


COUNTER = iter(range(10**9))


# as many examples as the hypothesis profile says (tests/conftest.py): 100 in make test, 500 with
# --hypothesis-profile=thorough; each is about a second of moto's expression parsing
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=5), seed=st.integers(0, 2**32 - 1))
def test_any_delivery_order_gives_the_in_order_record(table: Any, plan: list[str], seed: int) -> None:
    # GIVEN the real store (a fresh table: moto slows down as a table grows) and a recording Batch
    n = next(COUNTER)
    table.create_table(TableName=f"storm{n}", **table_definition())
    store = DynamoLifecycleStore(table, f"storm{n}")
    batch = RecordingBatch()
    catalogue = QueueCatalogue(
        [
            QueueClass("normal", Capacity.SPOT, SPOT, 8, 4096),
            QueueClass("normal", Capacity.ON_DEMAND, ON_DEMAND, 8, 4096),
        ]
    )
    clock = lambda: datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # noqa: E731 - the injected clock
    service = LifecycleService(store=store, batch=batch, catalogue=catalogue, clock=clock, jitter=lambda: 0.5)
    # WHEN one history is delivered in order, and again 1-3 times per event in a random order
    in_order = run(service, store, f"A{n:025d}", plan, None)
    stormed = run(service, store, f"B{n:025d}", plan, random.Random(seed))
    # THEN the final records are the same, and no attempt was submitted twice
    assert view(stormed) == view(in_order)
    assert all(c == 1 for c in batch.submitted.values()), batch.submitted
    table.delete_table(TableName=f"storm{n}")
