"""The dispatcher's pure parts (domain/dispatch.py): what a job holds, the snapshot it builds, the pools' room, and the
SubmitJob budget's arithmetic; and the admission plan it feeds (domain/admission.py) over such a snapshot."""

from __future__ import annotations

from batchplane.domain.admission import Hold, QueuedJob, admit
from batchplane.domain.dispatch import (
    DEFAULT_VCPUS,
    PoolState,
    Reservation,
    TenantAccount,
    budget_interval_ms,
    gone_queues,
    job_need,
    policies_of,
    pool_capacity,
    pool_margin,
    queue_gone_reason,
    reservable,
    snapshot_of,
    unplaced_queues,
)
from batchplane.domain.models import Priority
from batchplane.domain.quotas import Quota, Resources
from hypothesis import given, settings
from hypothesis import strategies as st


def test_a_job_that_names_no_size_holds_the_sample_definitions() -> None:
    assert job_need({}, 2048) == Resources(DEFAULT_VCPUS, 2048, 0)
    assert job_need({"vcpus": 4, "memoryMiB": 8192, "gpus": 1, "arraySize": 100}, 2048) == Resources(4, 8192, 1)


def test_the_pool_margin_is_a_quarter_and_at_least_one_vcpu() -> None:
    assert pool_margin(PoolState("spot", 20, ("q",))).vcpus == 5
    assert pool_margin(PoolState("tiny", 1, ("q",))).vcpus == 1
    assert pool_capacity(PoolState("gpu", 8, ("g",), gpus=8)).gpus == 8


def test_policies_take_overrides_and_weights_only_where_set() -> None:
    default = Quota(max_running_vcpus=10)
    policies = policies_of(
        [TenantAccount("a", quota=Quota(max_running_vcpus=1), weight=3.0), TenantAccount("b")], default
    )
    assert policies.quota("a").max_running_vcpus == 1
    assert policies.quota("b") is default
    assert (policies.weight("a"), policies.weight("b")) == (3.0, 1.0)


def _job(n: int, tenant: str, vcpus: int = 1) -> QueuedJob:
    return QueuedJob(f"j{n:04d}", tenant, Priority.NORMAL, "q", Resources(vcpus, 1024), enqueued=n)


def test_a_full_pool_admits_nothing_and_says_the_backlog_is_full() -> None:
    # GIVEN a 4-vCPU pool (margin 1) that already holds 5 admitted vCPUs
    pool = PoolState("spot", 4, ("q",), admitted=Resources(5, 5 * 1024))
    snapshot = snapshot_of([_job(1, "a")], [], [pool], default_quota=Quota(), rate_tokens=50)
    # WHEN admission runs THEN the job waits, held by the pool's room
    plan = admit(snapshot)
    assert plan.admitted == ()
    assert plan.waiting[0].hold is Hold.BACKLOG_FULL


def test_a_running_quota_holds_only_its_own_tenant() -> None:
    # GIVEN tenant a runs 1 vCPU with a quota of 1; tenant b has no quota
    accounts = [TenantAccount("a", running={Priority.NORMAL: Resources(1, 1024)}, quota=Quota(max_running_vcpus=1))]
    jobs = [_job(1, "a"), _job(2, "b")]
    plan = admit(snapshot_of(jobs, accounts, [PoolState("spot", 8, ("q",))], default_quota=Quota(), rate_tokens=50))
    # THEN b's job is admitted and a's waits on its quota, with used/limit
    assert [a.job.tenant for a in plan.admitted] == ["b"]
    waiting = plan.waiting_for("j0001")
    assert waiting is not None
    assert waiting.hold is Hold.QUOTA_VCPUS
    view = waiting.view()
    assert (view["quota"], view["used"], view["limit"]) == ("maxRunningVcpus", 1, 1)


@settings(deadline=None)  # a pure policy: no time is asserted, and a loaded machine must not fail it
@given(
    backlog=st.lists(st.sampled_from("abc"), min_size=30, max_size=90),
    weights=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
)
def test_weighted_shares_of_a_full_pool_are_within_one_job(backlog: list[str], weights: tuple[int, int, int]) -> None:
    # GIVEN three tenants each with more queued jobs than the pool holds, and their weights
    counts = {t: backlog.count(t) for t in "abc"}
    jobs = [_job(i, t) for i, t in enumerate(backlog)]
    accounts = [TenantAccount(t, weight=float(w)) for t, w in zip("abc", weights, strict=True)]
    pool = PoolState("spot", 24, ("q",))  # 24 vCPUs + a margin of 6: 30 slots
    # WHEN one tick admits into the empty pool
    plan = admit(snapshot_of(jobs, accounts, [pool], default_quota=Quota(), rate_tokens=50))
    got = {t: sum(1 for a in plan.admitted if a.job.tenant == t) for t in "abc"}
    # THEN every tenant still backlogged got its weighted share of the 30 slots, within one job
    assert sum(got.values()) == min(30, len(jobs))
    backlogged = [t for t in "abc" if got[t] < counts[t]]
    total = sum(w for t, w in zip("abc", weights, strict=True) if t in backlogged)
    left = 30 - sum(got[t] for t in "abc" if t not in backlogged)
    for tenant, weight in zip("abc", weights, strict=True):
        if tenant in backlogged and total:
            assert abs(got[tenant] - left * weight / total) <= 1.0, (got, weights, counts)


def test_slots_are_one_interval_apart() -> None:
    reservation = Reservation(first_ms=1_000, count=3, interval_ms=budget_interval_ms(50))
    assert [reservation.slot(i) for i in range(3)] == [1_000, 1_020, 1_040]


@settings(deadline=None)
@given(
    tat=st.integers(0, 10_000),
    now=st.integers(0, 10_000),
    rate=st.sampled_from([1.0, 10.0, 47.0, 50.0]),
)
def test_what_may_be_reserved_never_passes_the_horizon(tat: int, now: int, rate: float) -> None:
    interval = budget_interval_ms(rate)
    count = reservable(tat, now, interval, horizon_ms=2_000)
    start = max(tat, now)
    assert count >= 0
    if count:
        assert start + count * interval <= now + 2_000 + 1e-6


# ---- queues that are gone ------------------------------------------------------------------------------------------

ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/"


def test_only_the_queues_the_layout_does_not_know_are_looked_at() -> None:
    layout = [PoolState("spot", 16, ("s_high-spot", "s_normal-spot")), PoolState("od", 16, ("s_normal-on-demand",))]
    asked = {ARN + "s_high-spot", ARN + "s_normal-on-demand", ARN + "s_gone", ARN + "s_new-class"}
    assert unplaced_queues(asked, layout) == {ARN + "s_gone", ARN + "s_new-class"}


def test_a_queue_is_gone_when_batch_does_not_list_it_or_lists_it_deleting() -> None:
    asked = [ARN + q for q in ("missing", "deleting", "deleted", "disabled", "invalid", "creating", "valid")]
    listed = {
        ARN + "deleting": "DELETING",
        ARN + "deleted": "DELETED",
        ARN + "disabled": "VALID",  # a DISABLED queue's status is VALID: its state says DISABLED
        ARN + "invalid": "INVALID",
        ARN + "creating": "CREATING",
        ARN + "valid": "VALID",
    }
    assert gone_queues(asked, listed) == {
        ARN + "deleted": "DELETED",
        ARN + "deleting": "DELETING",
        ARN + "missing": None,
    }


def test_the_reason_names_the_queue_and_aws_refusal() -> None:
    assert queue_gone_reason(ARN + "s_high-spot", None) == (
        "batchplane: job queue s_high-spot no longer exists in AWS Batch (DescribeJobQueues does not list it); "
        f"a SubmitJob to it would be refused: JobQueue {ARN}s_high-spot not found."
    )
    assert "(DescribeJobQueues lists it DELETING)" in queue_gone_reason(ARN + "q", "DELETING")
