"""Admission is a pure policy over a snapshot: a table test per rule of `batchplane.domain.admission`, hypothesis
properties for its guarantees, and tick-by-tick simulations (fair shares under weights, no starvation)."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import replace
from fractions import Fraction

import pytest
from batchplane.domain.admission import (
    PRIORITY_ORDER,
    AdmissionPlan,
    BehindDetail,
    DependencyDetail,
    FairShareDetail,
    Hold,
    Pool,
    QueuedJob,
    QueueRoom,
    QuotaDetail,
    RateDetail,
    RoomDetail,
    Snapshot,
    admit,
    spot_fallbacks,
)
from batchplane.domain.failures import BlockedReason, parse_blocked_reason
from batchplane.domain.models import Priority
from batchplane.domain.quotas import (
    RESOURCES,
    Quota,
    QuotaName,
    Resources,
    TenantPolicies,
    TenantUsage,
    check_enqueue,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

NORMAL, HIGH, URGENT, LOW = Priority.NORMAL, Priority.HIGH, Priority.URGENT, Priority.LOW
_seq = iter(range(1, 10**9))


def job(
    job_id: str,
    tenant: str,
    *,
    vcpus: int = 1,
    memory: int = 1024,
    gpus: int = 0,
    priority: Priority = NORMAL,
    queue: str = "q",
    at: int | None = None,
    deps: tuple[str, ...] = (),
) -> QueuedJob:
    return QueuedJob(
        job_id=job_id,
        tenant=tenant,
        priority=priority,
        queue_class=queue,
        need=Resources(vcpus, memory, gpus),
        enqueued=next(_seq) if at is None else at,
        waiting_on=deps,
    )


def room(
    name: str = "q",
    vcpus: int = 16,
    memory: int = 64_000,
    gpus: int = 0,
    *,
    running: Resources | None = None,
    runnable: Resources | None = None,
    margin: Resources | None = None,
    blocked: BlockedReason | None = None,
    blocked_since: str | None = None,
) -> tuple[Pool, QueueRoom]:
    """A queue class filling a pool of its own (named after it)."""
    pool = Pool(name, Resources(vcpus, memory, gpus), running or Resources(), margin or Resources())
    return pool, QueueRoom(name, name, runnable or Resources(), blocked, blocked_since)


def snap(
    *jobs: QueuedJob,
    queues: tuple[tuple[Pool, QueueRoom], ...] = (),
    usage: dict[str, TenantUsage] | None = None,
    policies: TenantPolicies | None = None,
    tokens: int = 50,
) -> Snapshot:
    queues = queues or (room(),)
    return Snapshot(
        jobs=jobs,
        pools={p.name: p for p, _ in queues},
        queues={q.queue_class: q for _, q in queues},
        usage=usage or {},
        policies=policies or TenantPolicies(),
        rate_tokens=tokens,
    )


def running(tenant: str, vcpus: int = 0, memory: int = 0, gpus: int = 0, priority: Priority = NORMAL) -> TenantUsage:
    return TenantUsage(tenant, {priority: Resources(vcpus, memory, gpus)})


# ---------------------------------------------------------------------------------------------- rule tables


def test_everything_fits_everything_is_admitted_in_line_order() -> None:
    # GIVEN room for all / WHEN admitted / THEN all go, each tenant's jobs in the order they were enqueued
    plan = admit(snap(job("a1", "a"), job("b1", "b"), job("a2", "a"), job("b2", "b")))
    assert set(plan.job_ids) == {"a1", "a2", "b1", "b2"}
    assert plan.job_ids.index("a1") < plan.job_ids.index("a2")
    assert plan.job_ids.index("b1") < plan.job_ids.index("b2")
    assert plan.waiting == ()
    assert plan.tokens_left == 46


def test_rule_1_dependencies_hold_a_job_out_of_line_without_blocking_its_tenant() -> None:
    plan = admit(snap(job("a1", "a", deps=("x", "y")), job("a2", "a")))
    assert plan.job_ids == ("a2",)
    w = plan.waiting_for("a1")
    assert w is not None
    assert w.hold is Hold.DEPENDENCIES
    assert w.detail == DependencyDetail(("x", "y"))
    assert w.ahead == 0
    assert "2 dependencies" in w.message


def test_rule_1_a_held_jobs_place_counts_the_waiting_jobs_ahead_of_it() -> None:
    policies = TenantPolicies(quotas={"a": Quota(max_running_vcpus=2)})
    jobs = (job("a1", "a", vcpus=2), job("a2", "a"), job("a3", "a", deps=("x",)), job("a4", "a"))
    plan = admit(snap(*jobs, policies=policies, usage={"a": running("a", 1)}))  # a1 waits for its quota, a2 behind
    w = plan.waiting_for("a3")
    assert w is not None
    assert (w.hold, w.ahead) == (Hold.DEPENDENCIES, 2)


def test_rule_2_higher_classes_first_and_the_lower_class_is_told_so() -> None:
    # GIVEN room for 4 vCPUs, a normal job enqueued before an urgent one, both asking 4
    plan = admit(
        snap(job("n", "a", vcpus=4, priority=NORMAL), job("u", "b", vcpus=4, priority=URGENT), queues=(room(vcpus=4),))
    )
    # THEN the urgent one goes, the normal one waits because a higher class took the room
    assert plan.job_ids == ("u",)
    w = plan.waiting_for("n")
    assert w is not None
    assert w.hold is Hold.PRIORITY


def test_plan_order_is_class_order() -> None:
    jobs = [job(f"{p.value}{i}", t, priority=p) for i in range(2) for p in Priority for t in "ab"]
    plan = admit(snap(*jobs))
    ranks = [PRIORITY_ORDER.index(a.job.priority) for a in plan.admitted]
    assert ranks == sorted(ranks)


def test_rule_3_fifo_a_later_smaller_job_does_not_pass_its_own_blocked_head() -> None:
    # GIVEN tenant a runs 2 of its 4-vCPU quota and its head asks 4, its next job asks 1; tenant b asks 1
    policies = TenantPolicies(quotas={"a": Quota(max_running_vcpus=4)})
    jobs = (job("a-big", "a", vcpus=4), job("a-small", "a"), job("b1", "b"))
    plan = admit(snap(*jobs, policies=policies, usage={"a": running("a", 2)}))
    # THEN a's small job waits behind a's head, and a's blocked head does not hold b back
    assert plan.job_ids == ("b1",)
    behind = plan.waiting_for("a-small")
    assert behind is not None
    assert behind.hold is Hold.BEHIND
    assert behind.ahead == 1
    assert behind.detail == BehindDetail("a-big", Hold.QUOTA_VCPUS)


def test_rules_3_and_4_a_job_over_its_quota_on_its_own_holds_none_of_its_tenants_later_jobs() -> None:
    # GIVEN tenant a's quota is 4 vCPUs, its oldest job asks 8 (nothing of a runs), its next one asks 1
    policies = TenantPolicies(quotas={"a": Quota(max_running_vcpus=4)})
    plan = admit(snap(job("a-big", "a", vcpus=8), job("a-small", "a"), policies=policies))
    # THEN the small one is admitted: the big one cannot be until the quota is raised, so it is out of line
    assert plan.job_ids == ("a-small",)
    w = plan.waiting_for("a-big")
    assert w is not None
    assert (w.hold, w.ahead) == (Hold.QUOTA_VCPUS, 0)
    assert w.detail == QuotaDetail("vcpus", 1, 4, 8)  # a-small, admitted this tick, counts as running


def test_spot_fallbacks_are_the_jobs_their_spot_pool_never_holds_and_the_on_demand_one_does() -> None:
    # GIVEN a Spot pool of 2 vCPUs (3 with its margin), an On-Demand one of 8 (10), and jobs of 2, 4 and 16 vCPUs
    queues = (room("spot", vcpus=2, margin=Resources(1, 1024)), room("od", vcpus=8, margin=Resources(2, 2048)))
    jobs = (job("fits", "a", vcpus=2, queue="spot"), job("od-only", "a", vcpus=4, queue="spot"),
            job("too-big", "a", vcpus=16, queue="spot"), job("no-peer", "a", vcpus=4, queue="spot"))  # fmt: skip
    gone = job("gone", "a", vcpus=4, queue="deleted")  # its Spot queue is in no pool: maybe gone, not too small
    peers = {"fits": "od", "od-only": "od", "too-big": "od", "gone": "od"}
    # THEN only the job Spot never holds and On-Demand does falls back (one with no peer is not a candidate)
    assert spot_fallbacks(snap(*jobs, gone, queues=queues), peers) == ("od-only",)
    # AND a busy On-Demand pool does not matter: it is the empty pool that must hold it (it then waits for room)
    busy = (queues[0], room("od", vcpus=8, running=Resources(8, 0), margin=Resources(2, 2048)))
    assert spot_fallbacks(snap(*jobs, queues=busy), peers) == ("od-only",)


def test_rule_3_the_line_spans_queue_classes_of_one_priority_class() -> None:
    # GIVEN a's head waits for room in the full spot pool (2 vCPUs running, 1 of margin left), its next job is for od
    queues = (room("spot", vcpus=2, running=Resources(2, 0), margin=Resources(1, 1024)), room("od", vcpus=16))
    plan = admit(snap(job("a1", "a", vcpus=2, queue="spot"), job("a2", "a", queue="od"), queues=queues))
    # THEN the od job, behind it in a's line, waits too
    assert plan.job_ids == ()
    assert [w.hold for w in plan.waiting] == [Hold.BACKLOG_FULL, Hold.BEHIND]


def test_rules_3_and_6_a_job_that_never_fits_holds_none_of_its_tenants_later_jobs() -> None:
    # GIVEN a's oldest job asks more than its pool could ever hold (4 vCPUs of 2 and 1 of margin), then two that fit
    queues = (room("spot", vcpus=2, margin=Resources(1, 1024)), room("od", vcpus=16))
    jobs = (job("a-big", "a", vcpus=4, queue="spot"), job("a1", "a", queue="spot"), job("a2", "a", queue="od"))
    plan = admit(snap(*jobs, queues=queues))
    # THEN the two that fit are admitted, in order: a job that cannot run is out of line, not its head for ever
    assert plan.job_ids == ("a1", "a2")
    w = plan.waiting_for("a-big")
    assert w is not None
    assert (w.hold, w.ahead) == (Hold.NEVER_FITS, 0)
    assert w.message.startswith("asks 4 vCPU")
    # AND behind a job of its line that waits for room, it counts that job as ahead of it
    full = (room("spot", vcpus=2, running=Resources(2, 0), margin=Resources(1, 1024)),)
    older = job("a0", "a", vcpus=2, queue="spot", at=0)
    plan = admit(snap(older, job("a-big", "a", vcpus=4, queue="spot", at=1), queues=full))
    w = plan.waiting_for("a-big")
    assert w is not None
    assert (w.hold, w.ahead) == (Hold.NEVER_FITS, 1)


def test_rule_3_a_tenants_lines_are_per_class() -> None:
    policies = TenantPolicies(quotas={"a": Quota(max_running_vcpus=2)})
    plan = admit(snap(job("a-high", "a", vcpus=4, priority=HIGH), job("a-low", "a", priority=LOW), policies=policies))
    assert plan.job_ids == ("a-low",)


@pytest.mark.parametrize(
    ("quota", "need", "hold", "detail"),
    [
        (Quota(max_running_vcpus=8), Resources(4, 1024), Hold.QUOTA_VCPUS, QuotaDetail("vcpus", 6, 8, 4)),
        (
            Quota(max_running_memory_mib=4096),
            Resources(1, 2048),
            Hold.QUOTA_MEMORY,
            QuotaDetail("memory_mib", 3000, 4096, 2048),
        ),
        (Quota(max_running_gpus=1), Resources(1, 1024, 1), Hold.QUOTA_GPUS, QuotaDetail("gpus", 1, 1, 1)),
    ],
)
def test_rule_4_over_a_running_quota_the_job_waits_with_used_and_limit(
    quota: Quota, need: Resources, hold: Hold, detail: QuotaDetail
) -> None:
    # GIVEN tenant a runs 6 vCPUs, 3000 MiB and 1 GPU
    usage = {"a": running("a", 6, 3000, 1)}
    queued = QueuedJob("a1", "a", NORMAL, "q", need, 1)
    plan = admit(snap(queued, usage=usage, policies=TenantPolicies(quotas={"a": quota}), queues=(room(gpus=4),)))
    w = plan.waiting_for("a1")
    assert w is not None
    assert (w.hold, w.detail) == (hold, detail)
    assert "limit" in w.message


def test_rule_4_a_quota_on_a_resource_the_job_does_not_ask_for_does_not_hold_it() -> None:
    usage = {"a": running("a", gpus=2)}
    plan = admit(snap(job("a1", "a"), usage=usage, policies=TenantPolicies(Quota(max_running_gpus=1))))
    assert plan.job_ids == ("a1",)


def test_rule_4_the_default_quota_applies_unless_an_admin_overrode_it() -> None:
    policies = TenantPolicies(Quota(max_running_vcpus=1), quotas={"vip": Quota(max_running_vcpus=10)})
    plan = admit(snap(job("a1", "a", vcpus=2), job("v1", "vip", vcpus=2), policies=policies))
    assert plan.job_ids == ("v1",)


def test_rule_5_the_tenant_with_the_lower_dominant_share_goes_first() -> None:
    # GIVEN capacity 16 vCPU / 64,000 MiB; a uses 4 vCPUs (25%), b uses 32,000 MiB (50%); room for one more job
    usage = {"a": running("a", 4, 0), "b": running("b", 0, 32_000)}
    queues = (room(vcpus=16, memory=64_000, running=Resources(15, 32_000)),)
    plan = admit(snap(job("b1", "b", at=1), job("a1", "a", at=2), usage=usage, queues=queues))
    # THEN a (dominant 25%) goes before b (dominant 50%, memory), though b enqueued first
    assert plan.job_ids == ("a1",)
    w = plan.waiting_for("b1")
    assert w is not None
    assert w.hold is Hold.FAIR_SHARE
    # b is entitled to half (two tenants, equal weights) and uses 50%; its head keeps the room until it fits
    assert w.detail == FairShareDetail(share=0.5, usage=0.5, weight=1.0, reserved_for="b1")


def test_rule_5_weights_divide_the_share() -> None:
    # GIVEN a uses 4 of 16 vCPUs with weight 2 (12.5% weighted), b uses 3 (18.75%)
    usage = {"a": running("a", 4), "b": running("b", 3)}
    queues = (room(vcpus=16, running=Resources(15, 0)),)
    policies = TenantPolicies(weights={"a": 2.0})
    plan = admit(snap(job("b1", "b", at=1), job("a1", "a", at=2), usage=usage, queues=queues, policies=policies))
    assert plan.job_ids == ("a1",)
    w = plan.waiting_for("b1")
    assert w is not None
    assert isinstance(w.detail, FairShareDetail)
    assert w.detail.share == pytest.approx(1 / 3)  # weight 1 of 1 + 2


def test_rule_5_equal_shares_go_to_the_earlier_head() -> None:
    plan = admit(snap(job("b1", "b", at=1), job("a1", "a", at=2), tokens=1))
    assert plan.job_ids == ("b1",)


def test_rule_5_usage_in_another_class_does_not_count() -> None:
    usage = {"a": running("a", 8, priority=LOW)}
    plan = admit(snap(job("b1", "b", at=1), job("a1", "a", at=2), usage={"a": usage["a"]}, tokens=1))
    assert plan.admitted[0].share == 0.0
    assert plan.job_ids == ("b1",)  # a's low-class usage does not count in normal: a tie, b's head is earlier


def test_rule_5_admissions_interleave_by_share() -> None:
    # GIVEN two tenants with four 2-vCPU jobs each and room for 6 vCPUs
    jobs = [job(f"{t}{i}", t, vcpus=2, at=i * 10 + ord(t)) for i in range(4) for t in "ab"]
    plan = admit(snap(*jobs, queues=(room(vcpus=6),)))
    assert plan.job_ids == ("a0", "b0", "a1")


def test_rule_6_the_backlog_is_bounded_by_capacity_plus_margin() -> None:
    # GIVEN 16 vCPUs of capacity, 10 running and 8 RUNNABLE, a margin of 4: room for 2
    q = room(vcpus=16, running=Resources(10, 0), runnable=Resources(8, 0), margin=Resources(4, 0))
    plan = admit(snap(job("a1", "a", vcpus=2, memory=0), job("a2", "a", vcpus=1, memory=0), queues=(q,)))
    assert plan.job_ids == ("a1",)
    w = plan.waiting_for("a2")
    assert w is not None
    assert w.hold is Hold.BACKLOG_FULL
    assert isinstance(w.detail, RoomDetail)
    assert w.detail.room == Resources(0, 64_000)
    assert w.detail.reserved


def test_rule_6_capacity_hold_carries_awss_reason_and_since_when() -> None:
    reason = parse_blocked_reason(
        "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type"
    )
    q = room(vcpus=4, runnable=Resources(4, 0), blocked=reason, blocked_since="2026-12-01T10:00:00Z")
    plan = admit(snap(job("a1", "a"), queues=(q,)))
    w = plan.waiting_for("a1")
    assert w is not None
    assert w.hold is Hold.CAPACITY
    assert isinstance(w.detail, RoomDetail)
    assert (w.detail.aws_reason, w.detail.since) == ("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", "2026-12-01T10:00:00Z")
    assert "INSUFFICIENT_INSTANCE_CAPACITY since 2026-12-01T10:00:00Z" in w.message


def test_rule_6_queue_classes_filling_one_pool_share_its_room() -> None:
    # GIVEN high-spot and normal-spot both fill the Spot pool (8 vCPUs), and high-spot already has 2 RUNNABLE
    spot = Pool("spot", Resources(8, 64_000))
    queues = {
        "high-spot": QueueRoom("high-spot", "spot", runnable=Resources(2, 0)),
        "normal-spot": QueueRoom("normal-spot", "spot"),
    }
    jobs = (job("h", "a", vcpus=4, priority=HIGH, queue="high-spot"), job("n", "b", vcpus=4, queue="normal-spot"))
    # WHEN admitted
    plan = admit(Snapshot(jobs, {"spot": spot}, queues))
    # THEN the pool's room (8 - 2 RUNNABLE) takes the high job only, and the normal one is told a higher class took it
    assert plan.job_ids == ("h",)
    w = plan.waiting_for("n")
    assert w is not None
    assert w.hold is Hold.PRIORITY
    assert isinstance(w.detail, RoomDetail)
    assert (w.detail.pool, w.detail.room, w.detail.runnable) == ("spot", Resources(2, 64_000 - 1024), Resources(2, 0))
    assert "RUNNABLE 2 vCPU" in w.message


@pytest.mark.parametrize("queue", ["q", "gone"])
def test_rule_6_a_job_no_empty_queue_could_hold_never_fits_and_reserves_nothing(queue: str) -> None:
    plan = admit(snap(job("a1", "a", vcpus=32, queue=queue), job("b1", "b")))
    assert plan.job_ids == ("b1",)
    w = plan.waiting_for("a1")
    assert w is not None
    assert w.hold is Hold.NEVER_FITS
    assert plan.reservations == {}
    if queue == "gone":  # a queue class the layout does not know: said so, not as a size that never fits
        assert w.message.startswith("queue class gone is not in the pools' layout read from Batch")
    else:
        assert w.message.startswith("asks 32 vCPU")


def test_rule_7_the_fairest_tenants_big_head_keeps_the_room() -> None:
    # GIVEN 4 of 16 vCPUs free; a (no usage) asks 8; b (using 4) asks 1; another queue class has room
    queues = (room("q", vcpus=16, running=Resources(12, 0)), room("other", vcpus=4))
    usage = {"b": running("b", 4)}
    jobs = (job("a-big", "a", vcpus=8), job("b-small", "b"), job("c1", "c", queue="other"))
    plan = admit(snap(*jobs, usage=usage, queues=queues))
    # THEN q admits nothing: its room is kept for a's job, and b is told so; the other queue class goes on
    assert plan.job_ids == ("c1",)
    assert plan.reservations == {"q": "a-big"}
    held = plan.waiting_for("b-small")
    assert held is not None
    assert held.hold is Hold.FAIR_SHARE
    assert isinstance(held.detail, FairShareDetail)
    assert held.detail.reserved_for == "a-big"
    big = plan.waiting_for("a-big")
    assert big is not None
    assert big.hold is Hold.BACKLOG_FULL
    assert isinstance(big.detail, RoomDetail)
    assert big.detail.reserved


def test_rule_7_a_reservation_also_holds_lower_classes_back() -> None:
    queues = (room(vcpus=4, running=Resources(2, 0)),)
    plan = admit(snap(job("h", "a", vcpus=4, priority=HIGH), job("l", "b", priority=LOW), queues=queues))
    assert plan.job_ids == ()
    assert plan.reservations == {"q": "h"}


def test_rule_7_a_quota_held_head_reserves_nothing() -> None:
    policies = TenantPolicies(quotas={"a": Quota(max_running_vcpus=1)})
    queues = (room(vcpus=4, running=Resources(2, 0)),)
    plan = admit(snap(job("a1", "a", vcpus=4, at=1), job("b1", "b", at=2), queues=queues, policies=policies))
    assert plan.job_ids == ("b1",)
    assert plan.reservations == {}


def test_rule_8_the_rate_tokens_bound_the_tick() -> None:
    plan = admit(snap(*(job(f"a{i}", "a") for i in range(5)), tokens=3))
    assert plan.job_ids == ("a0", "a1", "a2")
    assert plan.tokens_left == 0
    w = plan.waiting_for("a3")
    assert w is not None
    assert (w.hold, w.detail, w.ahead) == (Hold.ACCOUNT_RATE, RateDetail(3), 0)
    assert plan.waiting_for("a4") == replace(
        w, job_id="a4", hold=Hold.BEHIND, ahead=1, detail=BehindDetail("a3", Hold.ACCOUNT_RATE)
    )


def test_no_tokens_no_admission() -> None:
    plan = admit(snap(job("a1", "a"), tokens=0))
    assert plan.job_ids == ()
    assert plan.waiting[0].hold is Hold.ACCOUNT_RATE


def test_every_waiting_job_has_a_message() -> None:
    reason = parse_blocked_reason("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - no")
    queues = (room("q", vcpus=4, running=Resources(3, 0)), room("b", vcpus=1, runnable=Resources(1, 0), blocked=reason))
    policies = TenantPolicies(quotas={"z": Quota(max_running_vcpus=0)})
    jobs = (
        job("1", "a", vcpus=4),
        job("2", "a"),
        job("3", "b", deps=("x",)),
        job("4", "c", queue="b"),
        job("5", "z"),
        job("6", "d", vcpus=9),
        job("7", "e"),
    )
    plan = admit(snap(*jobs, queues=queues, policies=policies, tokens=1))
    assert len(plan.waiting) == 7
    assert all(w.message and w.message != w.hold.value for w in plan.waiting)
    assert {w.hold for w in plan.waiting} >= {Hold.BEHIND, Hold.DEPENDENCIES, Hold.CAPACITY, Hold.QUOTA_VCPUS}
    assert all(json.loads(json.dumps(w.view()))["hold"] == w.hold.value for w in plan.waiting)


def test_the_view_of_a_quota_hold_names_the_quota() -> None:
    usage = {"a": running("a", 6)}
    plan = admit(snap(job("a1", "a", vcpus=4), usage=usage, policies=TenantPolicies(Quota(max_running_vcpus=8))))
    assert plan.waiting[0].view() == {
        "hold": "quota-vcpus",
        "reason": "tenant quota: vcpus 6 running + 4 asked > limit 8",
        "ahead": 0,
        "quota": "maxRunningVcpus",
        "used": 6,
        "limit": 8,
        "need": 4,
    }


def test_the_view_of_a_room_hold_carries_the_numbers_in_api_units() -> None:
    plan = admit(snap(job("a1", "a", vcpus=2, memory=4096), queues=(room(vcpus=1),)))
    view = plan.waiting[0].view()
    assert view["hold"] == "never-fits"
    assert view["need"] == {"vcpus": 2, "memoryMiB": 4096, "gpus": 0}
    assert (view["pool"], view["queueClass"], view["reserved"]) == ("q", "q", False)


# ---------------------------------------------------------------------------------------------- enqueue


def test_check_enqueue_refuses_at_the_queued_limit_naming_the_quota() -> None:
    quota = Quota(max_queued_jobs=3)
    assert check_enqueue(TenantUsage("a", queued=2), quota) is None
    refused = check_enqueue(TenantUsage("a", queued=3), quota)
    assert refused is not None
    assert (refused.quota, refused.limit, refused.used, refused.status) == (QuotaName.MAX_QUEUED_JOBS, 3, 3, 429)
    assert "maxQueuedJobs" in refused.detail


def test_check_enqueue_refuses_a_job_that_could_never_be_admitted() -> None:
    refused = check_enqueue(TenantUsage("a"), Quota(max_running_gpus=2), Resources(1, 1024, 4))
    assert refused is not None
    assert (refused.quota, refused.status, refused.requested) == (QuotaName.MAX_RUNNING_GPUS, 422, 4)
    assert check_enqueue(TenantUsage("a"), Quota(), Resources(4096, 10**7, 64)) is None


def test_weights_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TenantPolicies(weights={"a": 0.0})
    with pytest.raises(ValueError, match="0 or more"):
        Quota(max_queued_jobs=-1)


# ---------------------------------------------------------------------------------------------- properties

TENANTS = "abcd"
QUEUES = ("q1", "q2", "q3")
POOLS = ("spot", "on-demand")


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    pools = {
        name: Pool(
            name,
            Resources(draw(st.integers(0, 16)), draw(st.integers(0, 16)) * 1024, draw(st.integers(0, 2))),
            running=Resources(draw(st.integers(0, 16)), draw(st.integers(0, 16)) * 1024, 0),
            margin=Resources(draw(st.integers(0, 4)), 1024 * draw(st.integers(0, 4)), 0),
        )
        for name in POOLS
    }
    queues = {
        name: QueueRoom(name, draw(st.sampled_from(POOLS)), runnable=Resources(draw(st.integers(0, 4)), 0, 0))
        for name in QUEUES
    }
    n = draw(st.integers(0, 30))
    jobs = tuple(
        QueuedJob(
            job_id=f"j{i:03d}",
            tenant=draw(st.sampled_from(TENANTS)),
            priority=draw(st.sampled_from(list(Priority))),
            queue_class=draw(st.sampled_from((*QUEUES, "unknown"))),
            need=Resources(
                draw(st.integers(1, 8)), draw(st.integers(0, 8)) * 1024, draw(st.sampled_from([0, 0, 0, 1]))
            ),
            enqueued=draw(st.integers(0, 20)),
            waiting_on=draw(st.sampled_from([(), (), (), ("dep",)])),
        )
        for i in range(n)
    )
    usage = {
        t: TenantUsage(
            t,
            {
                p: Resources(draw(st.integers(0, 8)), draw(st.integers(0, 8)) * 1024, draw(st.integers(0, 1)))
                for p in draw(st.sets(st.sampled_from(list(Priority)), max_size=2))
            },
        )
        for t in draw(st.sets(st.sampled_from(TENANTS)))
    }
    limits = st.one_of(st.none(), st.integers(0, 16))
    quotas = {
        t: Quota(draw(limits), draw(st.one_of(st.none(), st.integers(0, 16).map(lambda m: m * 1024))), draw(limits))
        for t in draw(st.sets(st.sampled_from(TENANTS)))
    }
    weights = {t: draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])) for t in draw(st.sets(st.sampled_from(TENANTS)))}
    policies = TenantPolicies(Quota(max_running_vcpus=draw(limits)), quotas=quotas, weights=weights)
    return Snapshot(jobs, pools, queues, usage, policies, draw(st.integers(0, 20)))


def _line(s: Snapshot, tenant: str, priority: Priority) -> list[QueuedJob]:
    """A tenant's line in a class: its jobs that wait on nothing (rule 1), are within their tenant's quota on their
    own (rule 4) and could fit their empty pool (rule 6)."""
    return sorted(
        (
            j
            for j in s.jobs
            if j.tenant == tenant
            and j.priority is priority
            and not j.waiting_on
            and not _never_fits(s, j)
            and s.policies.quota(j.tenant).first_exceeded(Resources(), j.need) is None
        ),
        key=lambda j: (j.enqueued, j.job_id),
    )


def _never_fits(s: Snapshot, j: QueuedJob) -> bool:
    queue = s.queues.get(j.queue_class)
    return queue is None or queue.pool not in s.pools or not j.need.fits_in(s.pools[queue.pool].limit)


def _replay(s: Snapshot, plan: AdmissionPlan) -> tuple[dict[str, Resources], dict[str, Resources]]:
    """The tenants' running totals and the queue classes' room after the plan, checking quotas and room as it goes."""
    used = {t: u.running_total for t, u in s.usage.items()}
    rooms = {name: p.limit - p.running for name, p in s.pools.items()}
    for q in s.queues.values():
        rooms[q.pool] -= q.runnable
    for a in plan.admitted:
        j = a.job
        quota = s.policies.quota(j.tenant)
        before = used.get(j.tenant, Resources())
        for r in RESOURCES:
            limit = quota.running_limit(r)
            if j.need.get(r) > 0 and limit is not None:
                assert before.get(r) + j.need.get(r) <= limit, f"quota {r} exceeded by {j.job_id}"
            if j.need.get(r) > 0:
                assert j.need.get(r) <= rooms[s.queues[j.queue_class].pool].get(r), f"room {r} exceeded by {j.job_id}"
        used[j.tenant] = before + j.need
        rooms[s.queues[j.queue_class].pool] -= j.need
    return used, rooms


@settings(max_examples=250, deadline=None)
@given(snapshots())
def test_every_job_is_admitted_or_waits_and_never_past_quota_room_or_rate(s: Snapshot) -> None:
    plan = admit(s)
    ids = [a.job.job_id for a in plan.admitted] + [w.job_id for w in plan.waiting]
    assert sorted(ids) == sorted(j.job_id for j in s.jobs)
    assert len(plan.admitted) == s.rate_tokens - plan.tokens_left <= s.rate_tokens
    _replay(s, plan)  # quotas and room hold after every admission


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_fifo_within_tenant_and_class_and_classes_in_order(s: Snapshot) -> None:
    plan = admit(s)
    ranks = [PRIORITY_ORDER.index(a.job.priority) for a in plan.admitted]
    assert ranks == sorted(ranks)
    for t in TENANTS:
        for p in Priority:
            line = _line(s, t, p)
            admitted = [a.job for a in plan.admitted if a.job.tenant == t and a.job.priority is p]
            assert admitted == line[: len(admitted)]  # a prefix of the line, in line order
            for ahead, j in enumerate(line[len(admitted) :]):
                w = plan.waiting_for(j.job_id)
                assert w is not None
                assert w.ahead == ahead
                assert (w.hold is Hold.BEHIND) == (ahead > 0)


def _share(s: Snapshot, in_class: Resources, tenant: str) -> Fraction:
    pool = Resources.sum(p.capacity for p in s.pools.values())
    dominant = max((Fraction(in_class.get(r), pool.get(r)) for r in RESOURCES if pool.get(r)), default=Fraction(0))
    return dominant / Fraction(s.policies.weight(tenant))


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_a_tenant_below_its_weighted_share_is_admitted_before_one_above_it(s: Snapshot) -> None:
    # At each admission, every other tenant admitted later in the same tick and class had a share no lower (with
    # equal shares, the earlier head went first).
    plan = admit(s)
    in_class: dict[tuple[str, Priority], Resources] = defaultdict(Resources)
    for t, u in s.usage.items():
        for p, r in u.running.items():
            in_class[t, p] = r
    for i, a in enumerate(plan.admitted):
        j = a.job
        mine = _share(s, in_class[j.tenant, j.priority], j.tenant)
        assert a.share == float(mine)
        seen: set[str] = set()
        for later in plan.admitted[i + 1 :]:
            k = later.job
            if k.priority is not j.priority or k.tenant == j.tenant or k.tenant in seen:
                continue
            seen.add(k.tenant)  # k is that tenant's head at the time of a's admission
            theirs = _share(s, in_class[k.tenant, k.priority], k.tenant)
            assert (theirs, k.enqueued, k.job_id) > (mine, j.enqueued, j.job_id)
        in_class[j.tenant, j.priority] += j.need


@settings(max_examples=250, deadline=None)
@given(snapshots())
def test_nothing_admissible_waits_while_its_queue_class_has_room_and_tokens_remain(s: Snapshot) -> None:
    plan = admit(s)
    used, rooms = _replay(s, plan)
    if plan.tokens_left == 0:
        return
    assert all(w.hold is not Hold.ACCOUNT_RATE for w in plan.waiting)
    by_id = {j.job_id: j for j in s.jobs}
    for pool, reserved_id in plan.reservations.items():
        # the idle room a reservation leaves is smaller than the job it is kept for
        assert not by_id[reserved_id].need.fits_in(rooms[pool])
    for w in plan.waiting:
        j = by_id[w.job_id]
        if w.ahead or j.waiting_on or j.queue_class not in s.queues:
            continue
        pool = s.queues[j.queue_class].pool
        fits_quota = s.policies.quota(j.tenant).first_exceeded(used.get(j.tenant, Resources()), j.need) is None
        if fits_quota and j.need.fits_in(rooms[pool]):
            assert pool in plan.reservations, f"{j.job_id} is admissible and waits ({w.hold})"
            assert w.hold is Hold.FAIR_SHARE


@settings(max_examples=250, deadline=None)
@given(snapshots())
def test_every_holds_numbers_are_true_when_the_tick_ends(s: Snapshot) -> None:
    plan = admit(s)
    used, rooms = _replay(s, plan)
    by_id = {j.job_id: j for j in s.jobs}
    for w in plan.waiting:
        j = by_id[w.job_id]
        d = w.detail
        assert w.message
        match d:
            case QuotaDetail():
                limit = s.policies.quota(j.tenant).running_limit(d.resource)
                assert (d.used, d.limit, d.need) == (
                    used.get(j.tenant, Resources()).get(d.resource),
                    limit,
                    j.need.get(d.resource),
                )
                assert d.used + d.need > d.limit
            case RoomDetail() if w.hold is Hold.NEVER_FITS:
                assert j.queue_class not in s.queues or not j.need.fits_in(s.pools[d.pool].limit)
            case RoomDetail():
                assert d.room == rooms[d.pool]
                assert not j.need.fits_in(d.room)
                assert d.reserved == (plan.reservations.get(d.pool) == j.job_id)
            case FairShareDetail():
                assert 0 < d.share <= 1
                assert d.weight == s.policies.weight(j.tenant)
            case BehindDetail():
                assert w.ahead > 0
                assert by_id[d.head].tenant == j.tenant
            case RateDetail():
                assert plan.tokens_left == 0
            case DependencyDetail():
                assert d.waiting_on == j.waiting_on


@settings(max_examples=300)
@given(
    queued=st.integers(0, 20),
    quota=st.builds(
        Quota,
        st.one_of(st.none(), st.integers(0, 8)),
        st.one_of(st.none(), st.integers(0, 8)),
        st.one_of(st.none(), st.integers(0, 8)),
        st.one_of(st.none(), st.integers(0, 20)),
    ),
    need=st.builds(Resources, st.integers(0, 10), st.integers(0, 10), st.integers(0, 10)),
)
def test_check_enqueue_refuses_exactly_what_the_quota_forbids(queued: int, quota: Quota, need: Resources) -> None:
    refused = check_enqueue(TenantUsage("a", queued=queued), quota, need)
    too_big = any((limit := quota.running_limit(r)) is not None and need.get(r) > limit for r in RESOURCES)
    too_many = quota.max_queued_jobs is not None and queued >= quota.max_queued_jobs
    assert (refused is None) == (not too_big and not too_many)
    if refused is not None:
        assert refused.status == (422 if too_big else 429)
        assert refused.quota.value in refused.detail


@settings(max_examples=200, deadline=None)
@given(snapshots(), st.randoms(use_true_random=False))
def test_the_plan_depends_on_the_snapshot_not_on_its_order(s: Snapshot, rnd: random.Random) -> None:
    jobs = list(s.jobs)
    rnd.shuffle(jobs)
    shuffled = replace(
        s,
        jobs=tuple(jobs),
        pools=dict(reversed(list(s.pools.items()))),
        queues=dict(reversed(list(s.queues.items()))),
        usage=dict(reversed(list(s.usage.items()))),
    )
    assert admit(shuffled) == admit(s)


# ---------------------------------------------------------------------------------------------- simulations


class Sim:
    """Ticks of a dispatcher over one queue class: jobs finish, then `admit` runs on the snapshot of that moment."""

    def __init__(self, capacity: Resources, policies: TenantPolicies, tokens: int, margin: Resources | None = None):
        self.capacity, self.policies, self.tokens = capacity, policies, tokens
        self.margin = margin or Resources()
        self.queued: dict[str, QueuedJob] = {}
        self.running: dict[str, tuple[QueuedJob, int]] = {}  # job id -> (job, tick it finishes)
        self.durations: dict[str, int] = {}
        self.admitted_at: dict[str, int] = {}
        self.tick = 0

    def submit(self, j: QueuedJob, duration: int) -> None:
        self.queued[j.job_id] = j
        self.durations[j.job_id] = duration

    def usage(self) -> dict[str, TenantUsage]:
        by_tenant: dict[str, Resources] = defaultdict(Resources)
        for j, _ in self.running.values():
            by_tenant[j.tenant] += j.need
        return {t: TenantUsage(t, {NORMAL: r}) for t, r in by_tenant.items()}

    def step(self) -> AdmissionPlan:
        self.running = {k: v for k, v in self.running.items() if v[1] > self.tick}
        in_use = Resources.sum(j.need for j, _ in self.running.values())
        pool = Pool("q", self.capacity, running=in_use, margin=self.margin)
        queues = {"q": QueueRoom("q", "q")}
        plan = admit(
            Snapshot(tuple(self.queued.values()), {"q": pool}, queues, self.usage(), self.policies, self.tokens)
        )
        for a in plan.admitted:
            del self.queued[a.job.job_id]
            self.running[a.job.job_id] = (a.job, self.tick + self.durations[a.job.job_id])
            self.admitted_at[a.job.job_id] = self.tick
        self.tick += 1
        return plan


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_weights_1_2_1_get_shares_within_10_percent_at_every_backlogged_tick(seed: int) -> None:
    # GIVEN three tenants with weights 1:2:1 each submitting 100 jobs of 1-4 vCPUs onto 200 vCPUs
    rnd = random.Random(seed)
    weights = {"a": 1.0, "b": 2.0, "c": 1.0}
    sim = Sim(Resources(200, 10**7), TenantPolicies(weights=weights), tokens=50)
    for i in range(100):
        for t in "abc":
            v = rnd.randint(1, 4)
            sim.submit(job(f"{t}{i:03d}", t, vcpus=v, memory=v * 2048, at=i * 3 + "abc".index(t)), rnd.randint(2, 6))
    backlogged_ticks = 0
    while sim.queued or sim.running:
        sim.step()
        if {j.tenant for j in sim.queued.values()} != set("abc"):
            continue
        # WHEN all three are backlogged THEN each tenant's share of what runs is within 10% of its weight's
        backlogged_ticks += 1
        use = {t: u.running_total.vcpus for t, u in sim.usage().items()}
        total = sum(use.values())
        for t, w in weights.items():
            assert abs(use[t] / total - w / 4) <= 0.1 * w / 4, (sim.tick, use)
    assert backlogged_ticks >= 5


@settings(max_examples=150, deadline=None)
@given(
    capacity=st.integers(4, 16),
    margin=st.integers(0, 4),
    target=st.integers(1, 16),
    others=st.lists(st.tuples(st.sampled_from("bcd"), st.integers(1, 4), st.integers(1, 5)), min_size=1, max_size=8),
    max_duration=st.integers(1, 5),
    tokens=st.integers(1, 4),
    warmup=st.integers(0, 6),
    weights=st.tuples(*(st.sampled_from([0.5, 1.0, 2.0]) for _ in range(4))),
)
def test_no_starvation_a_job_that_fits_is_admitted_within_a_bound_while_others_keep_arriving(
    capacity: int,
    margin: int,
    target: int,
    others: list[tuple[str, int, int]],
    max_duration: int,
    tokens: int,
    warmup: int,
    weights: tuple[float, ...],
) -> None:
    # GIVEN tenants b, c, d submit small jobs every tick, forever, onto a constrained queue class
    assume(target <= capacity + margin)
    policies = TenantPolicies(weights=dict(zip("abcd", weights, strict=True)))
    sim = Sim(Resources(capacity, 10**7), policies, tokens, margin=Resources(margin, 0))
    n = 0

    def arrivals() -> None:
        nonlocal n
        for tenant, vcpus, duration in others:
            n += 1
            sim.submit(job(f"{tenant}{n:05d}", tenant, vcpus=vcpus, at=n), min(duration, max_duration))

    for _ in range(warmup):
        arrivals()
        sim.step()
    # WHEN tenant a's one big job arrives
    arrivals()
    n += 1
    sim.submit(job("X", "a", vcpus=target, at=n), max_duration)
    older = sum(1 for j in sim.queued.values() if j.enqueued < n)
    bound = (older + 1) * (max_duration + 1) + 1
    # THEN it is admitted within (jobs ahead of it + 1) x (longest run + 1) ticks
    for _ in range(bound):
        sim.step()
        if "X" in sim.admitted_at:
            break
        arrivals()
    assert "X" in sim.admitted_at, f"X still waits after {bound} ticks"
