"""Why a job waits outside admission: a pure function of its record, answering in admission's shape."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane.domain.admission import DependencyDetail, Hold, Waiting
from batchplane.domain.models import Capacity, CapacityPreference, JobStatus, Priority
from batchplane.domain.records import AttemptRecord
from batchplane.domain.timestamps import iso_from_ms
from batchplane.domain.waiting import waiting

from tests.unit.test_priority import DEP, catalogue, job, queue

pytestmark = pytest.mark.unit

NOW = 1_800_000_000_000
CAPACITY = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type"
MISCONFIG = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement is not supported."
UNSENT = {"batch_job_id": None, "rank_key": None}


def runnable(reason: str | None, *, since: int = NOW - 60_000, **kw: Any) -> Any:
    attempt = {"status_reason": reason, "runnable_at": since, **kw.pop("attempt", {})}
    return job(status=JobStatus.RUNNABLE, attempt=attempt, request={"retry": {"stuckRunnableSeconds": 300}}, **kw)


def view(record: Any, **kw: Any) -> dict[str, Any] | None:
    found = waiting(record, now_ms=NOW, catalogue=catalogue(), **kw)
    return found.view() if found is not None else None


def test_a_held_job_names_its_unfinished_dependencies_and_their_states() -> None:
    # GIVEN a job held for two dependencies, one running and one done
    other = "01JOTHER000000000000000000"
    record = job(
        status=JobStatus.PENDING,
        attempt={**UNSENT, "status": JobStatus.SUBMITTED},
        request={"dependsOn": [{"jobId": DEP}, {"jobId": other}]},
    )
    # WHEN its wait is explained
    out = view(record, dependencies={DEP: "RUNNING", other: "SUCCEEDED"})
    # THEN it names the one it waits on, with its state
    assert out is not None
    assert out["hold"] == "dependencies"
    assert out["waitingOn"] == [DEP]
    assert out["dependencies"] == [{"jobId": DEP, "status": "RUNNING"}, {"jobId": other, "status": "SUCCEEDED"}]
    assert f"{DEP} (RUNNING)" in out["reason"]
    assert out["ahead"] == 0


def test_a_failed_dependency_says_the_job_will_fail() -> None:
    record = job(
        status=JobStatus.PENDING,
        attempt={**UNSENT, "status": JobStatus.SUBMITTED},
        request={"dependsOn": [{"jobId": DEP}]},
    )
    out = view(record, dependencies={DEP: "FAILED"})
    assert out is not None
    assert "fails this job" in out["reason"]


def test_a_held_job_renders_like_admissions_dependency_hold() -> None:
    # GIVEN the same job held by admission for its dependencies, and held outside admission
    record = job(
        status=JobStatus.PENDING,
        attempt={**UNSENT, "status": JobStatus.SUBMITTED},
        request={"dependsOn": [{"jobId": DEP}]},
    )
    ours = view(record)
    theirs = Waiting(record.job_id, "t", Priority.NORMAL, Hold.DEPENDENCIES, 0, DependencyDetail((DEP,))).view()
    # THEN both answers carry the same keys and values where they overlap
    assert ours is not None
    assert {k: ours[k] for k in theirs} == {**theirs, "reason": ours["reason"]}


def test_a_retry_in_its_backoff_says_when_it_is_due() -> None:
    # GIVEN attempt 2, a retry after an app error, due in 90 s
    first = AttemptRecord(
        1, "initial", queue("normal"), Capacity.SPOT, "bp-J-a1-n", status=JobStatus.FAILED, failure_class="app-error"
    )
    second = AttemptRecord(2, "retry", queue("normal"), Capacity.SPOT, "bp-J-a2-n", replaces=1, not_before=NOW + 90_000)
    record = job(status=JobStatus.PENDING)
    record.attempts, record.current_attempt = [first, second], 2
    # WHEN explained  THEN the hold is the backoff, with its due time (a floor) and what failed
    out = view(record)
    assert out is not None
    assert out["hold"] == "retry-backoff"
    assert out["dueAt"] == iso_from_ms(NOW + 90_000)
    assert out["dueInSeconds"] == 90
    assert out["afterFailure"] == "app-error"
    assert out["attempt"] == 2


def test_a_failed_submission_waits_for_the_sweeper() -> None:
    record = job(
        status=JobStatus.SUBMITTED,
        attempt={**UNSENT, "status": JobStatus.SUBMITTED, "not_before": NOW, "submit_failed_at": NOW},
    )
    out = view(record)
    assert out is not None
    assert out["hold"] == "submit-retry"


def test_runnable_for_capacity_names_aws_reason_since_when_and_the_spot_dwell_left() -> None:
    # GIVEN a spot-first job RUNNABLE on Spot for 60 s with AWS's capacity reason, dwell 300 s
    since = NOW - 60_000
    out = view(runnable(CAPACITY, since=since))
    # THEN the hold is capacity, with AWS's words, since when, and the fallback after the dwell
    assert out is not None
    assert out["hold"] == "capacity"
    assert out["awsReason"] == "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    assert out["statusReason"] == CAPACITY
    assert out["since"] == iso_from_ms(since)
    assert out["fallbackAt"] == iso_from_ms(since + 300_000)
    assert out["fallbackInSeconds"] == 240
    assert "bp-normal-on-demand" in out["reason"]
    assert out["ahead"] is None


def test_past_its_dwell_the_fallback_is_due_now() -> None:
    out = view(runnable(CAPACITY, since=NOW - 400_000))
    assert out is not None
    assert out["fallbackInSeconds"] == 0


@pytest.mark.parametrize(
    ("preference", "capacity", "infra", "why"),
    [
        (CapacityPreference.SPOT, Capacity.SPOT, 0, "waiting for capacity"),
        (CapacityPreference.ON_DEMAND, Capacity.ON_DEMAND, 0, "waiting for capacity"),
        (CapacityPreference.SPOT_FIRST, Capacity.SPOT, 99, "infrastructure budget spent"),
    ],
)
def test_no_fallback_is_promised_when_the_sweeper_would_not_move_it(
    preference: CapacityPreference, capacity: Capacity, infra: int, why: str
) -> None:
    # GIVEN a RUNNABLE job for capacity that the sweeper would leave where it is
    record = runnable(
        CAPACITY,
        attempt={"capacity": capacity, "queue_arn": queue("normal", capacity.value)},
        infrastructure_failures=infra,
    )
    record.preference = preference
    # THEN no fallback time is given, and the reason says why
    out = view(record)
    assert out is not None
    assert out["hold"] == "capacity"
    assert "fallbackAt" not in out
    assert why in out["reason"]


def test_a_misconfiguration_is_unplaceable_and_says_when_it_fails() -> None:
    out = view(runnable(MISCONFIG))
    assert out is not None
    assert out["hold"] == "unplaceable"
    assert "failsAt" in out


def test_runnable_without_a_reason_waits_its_turn_unless_its_queue_head_is_blocked() -> None:
    # GIVEN a RUNNABLE job without a reason of its own
    record = runnable(None)
    out = view(record)
    assert out is not None
    assert out["hold"] == "batch-queue"
    assert "waits its turn" in out["reason"]
    # WHEN its queue's head is blocked for capacity  THEN it is held by capacity too (the head's reason)
    behind = view(record, queue_reason=CAPACITY)
    assert behind is not None
    assert behind["hold"] == "capacity"
    assert "queue blocked at its head" in behind["statusReason"]


def test_submitted_in_batch_waits_for_batch() -> None:
    out = view(job(status=JobStatus.SUBMITTED, attempt={"status": JobStatus.SUBMITTED}))
    assert out is not None
    assert out["hold"] == "batch-queue"
    assert out["status"] == "SUBMITTED"


@pytest.mark.parametrize(
    "record",
    [
        job(status=JobStatus.STARTING),
        job(status=JobStatus.RUNNING),
        job(status=JobStatus.SUCCEEDED),
        job(status=JobStatus.FAILED),
        job(status=JobStatus.CANCELLED),
        job(cancel_requested=True),
        job(awaiting_decision=1),
    ],
    ids=["starting", "running", "succeeded", "failed", "cancelled", "cancel-requested", "deciding"],
)
def test_nothing_waits_once_it_started_ended_or_is_being_decided(record: Any) -> None:
    assert view(record) is None
