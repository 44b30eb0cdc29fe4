"""Retry, fallback, escalation and stuck-RUNNABLE policies: table-driven cases and hypothesis properties."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from batchplane.domain.failures import CapacityType, FailureClass
from batchplane.domain.retry import (
    OWN_FAULT_CLASSES,
    AttemptHistory,
    AttemptReason,
    BackoffSpec,
    Budget,
    CapacityAction,
    CapacityPreferenceType,
    RetrySpec,
    backoff_delay,
    budget_for,
    decide_retry,
    decide_stuck_runnable,
    infrastructure_budget_left,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

pytestmark = pytest.mark.unit

CAPACITY = (
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type m5.large"
)
JOB_RESOURCE = (
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that "
    "can be met by the CE(s) attached to the job queue."
)
SERVICE_ROLE = "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS \u2013 Batch service role has a permission issue."
CE_MAX = (
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the CPU "
    "requirement of the job."
)
INVALID_CE = "ACTION_REQUIRED - CE(s) associated with the job queue are invalid."
UNDETERMINED = "UNDETERMINED - Batch job is blocked, root cause is undetermined."

NO_JITTER = 0.0


def spec(**fields: Any) -> RetrySpec:
    return RetrySpec.model_validate(fields)


def history(
    *,
    attempt: int = 1,
    own: int = 0,
    infra: int = 0,
    reclaims: int = 0,
    capacity: CapacityType = "spot",
    preference: CapacityPreferenceType = "spot-first",
    memory: int = 2048,
    max_memory: int = 16384,
    on_demand: bool = True,
) -> AttemptHistory:
    return AttemptHistory(
        attempt_number=attempt,
        own_failures=own,
        infrastructure_failures=infra,
        spot_reclaims=reclaims,
        capacity=capacity,
        preference=preference,
        memory_mib=memory,
        max_memory_mib=max_memory,
        on_demand_available=on_demand,
    )


# --- RetrySpec --------------------------------------------------------------------------------------------------------


def test_retry_spec_defaults() -> None:
    # GIVEN an empty retry block  WHEN it is parsed  THEN the documented defaults apply
    s = RetrySpec.model_validate({})
    assert (s.attempts, s.infrastructure_attempts, s.spot_reclaims_before_on_demand) == (1, 5, 1)
    assert (s.memory_factor, s.retry_exit_codes, s.never_retry_exit_codes) == (2.0, (), ())
    assert (s.backoff.base_seconds, s.backoff.max_seconds, s.backoff.multiplier) == (30.0, 3600.0, 2.0)
    assert (s.stuck_runnable_seconds, s.per_class) == (300, {})


def test_retry_spec_round_trips_camel_case() -> None:
    # GIVEN a retry block in camelCase, as POST /jobs sends it
    wire = {
        "attempts": 3,
        "infrastructureAttempts": 7,
        "spotReclaimsBeforeOnDemand": 2,
        "memoryFactor": 1.5,
        "retryExitCodes": [1, 2],
        "neverRetryExitCodes": [3],
        "backoff": {"baseSeconds": 5, "maxSeconds": 60, "multiplier": 3},
        "stuckRunnableSeconds": 600,
        "perClass": {"oom": "fail", "image-pull": "retry"},
    }
    # WHEN it is parsed and dumped by alias
    s = RetrySpec.model_validate(wire)
    dumped = s.model_dump(mode="json", by_alias=True)
    # THEN the values survive, field names and class names on the wire included
    assert dumped["perClass"] == {"oom": "fail", "image-pull": "retry"}
    assert dumped["retryExitCodes"] == [1, 2]
    assert RetrySpec.model_validate(dumped) == s
    # AND snake_case names are accepted too
    assert RetrySpec(attempts=3, memory_factor=1.5).memory_factor == 1.5


@pytest.mark.parametrize(
    ("wire", "loc", "fragment"),
    [
        pytest.param(
            {"retryExitCodes": [3, 4], "neverRetryExitCodes": [4, 3]},
            ("neverRetryExitCodes",),
            "exit code(s) 3, 4 cannot be in both retryExitCodes and neverRetryExitCodes",
            id="exit-code-in-both-lists",
        ),
        pytest.param({"attempts": 0}, ("attempts",), "greater than or equal to 1", id="attempts-zero"),
        pytest.param({"attempts": 11}, ("attempts",), "less than or equal to 10", id="attempts-eleven"),
        pytest.param({"attempts": True}, ("attempts",), "valid integer", id="attempts-bool"),
        pytest.param({"infrastructureAttempts": 21}, ("infrastructureAttempts",), "less than", id="infra-21"),
        pytest.param({"spotReclaimsBeforeOnDemand": -1}, ("spotReclaimsBeforeOnDemand",), "greater", id="reclaims-neg"),
        pytest.param({"memoryFactor": 1}, ("memoryFactor",), "greater than 1", id="memory-factor-one"),
        pytest.param({"memoryFactor": 8.5}, ("memoryFactor",), "less than or equal to 8", id="memory-factor-big"),
        pytest.param({"retryExitCodes": [0]}, ("retryExitCodes", 0), "greater than or equal to 1", id="exit-zero"),
        pytest.param({"neverRetryExitCodes": [256]}, ("neverRetryExitCodes", 0), "less than", id="exit-256"),
        pytest.param({"stuckRunnableSeconds": 4}, ("stuckRunnableSeconds",), "greater", id="dwell-too-short"),
        pytest.param({"backoff": {"multiplier": 0.5}}, ("backoff", "multiplier"), "greater", id="multiplier-below-1"),
        pytest.param({"backoff": {"baseSeconds": -1}}, ("backoff", "baseSeconds"), "greater", id="base-negative"),
        pytest.param(
            {"backoff": {"baseSeconds": 100, "maxSeconds": 10}},
            ("backoff", "maxSeconds"),
            "must not be lower than baseSeconds",
            id="max-below-base",
        ),
        pytest.param({"perClass": {"oom": "maybe"}}, ("perClass", "oom"), "'retry' or 'fail'", id="bad-action"),
        pytest.param(
            {"perClass": {"gremlins": "fail"}}, ("perClass", "gremlins", "[key]"), "Input should be", id="bad-class"
        ),
        pytest.param({"perClass": {"cancelled": "retry"}}, ("perClass",), "cancelled", id="retry-cancelled"),
        pytest.param({"perClass": {"dependency": "retry"}}, ("perClass",), "dependency", id="retry-dependency"),
        pytest.param({"retries": 3}, ("retries",), "Extra inputs are not permitted", id="unknown-field"),
    ],
)
def test_retry_spec_validation_errors(wire: dict[str, Any], loc: tuple[Any, ...], fragment: str) -> None:
    # GIVEN an invalid retry block
    # WHEN it is parsed
    with pytest.raises(ValidationError) as caught:
        RetrySpec.model_validate(wire)
    # THEN the error names the offending field and says why
    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [loc]
    assert fragment in errors[0]["msg"]


def test_retry_spec_is_frozen() -> None:
    # GIVEN a parsed spec  WHEN a field is assigned  THEN it refuses
    s = RetrySpec()
    with pytest.raises(ValidationError):
        s.attempts = 3  # type: ignore[misc]


# --- backoff ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "jitter", "expected"),
    [
        pytest.param(1, 0.0, 15.0, id="first-low"),
        pytest.param(1, 0.999999, 30.0, id="first-high"),
        pytest.param(2, 0.0, 30.0, id="second-low"),
        pytest.param(3, 0.5, 90.0, id="third-mid"),
        pytest.param(8, 0.0, 1800.0, id="capped-low"),
        pytest.param(50, 0.999999, 3600.0, id="capped-high"),
        pytest.param(0, 0.0, 15.0, id="zero-failures-counts-as-first"),
    ],
)
def test_backoff_grows_and_is_capped(failures: int, jitter: float, expected: float) -> None:
    # GIVEN the default backoff (30 s, x2, cap 3600 s) and equal jitter
    # WHEN the delay after n failures is computed
    delay = backoff_delay(BackoffSpec(), failures, jitter)
    # THEN it is cap/2 + jitter*cap/2 with cap = min(3600, 30 * 2^(n-1))
    assert delay == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("jitter", [pytest.param(-0.1, id="negative"), pytest.param(1.0, id="one")])
def test_jitter_outside_unit_interval_is_refused(jitter: float) -> None:
    # GIVEN a jitter outside [0, 1)  WHEN used  THEN it is refused rather than silently skewing the delay
    with pytest.raises(ValueError, match="jitter"):
        backoff_delay(BackoffSpec(), 1, jitter)
    with pytest.raises(ValueError, match="jitter"):
        decide_retry(spec(), history(), FailureClass.APP_ERROR, 1, jitter)


def test_retry_delays_grow_with_failures_on_the_same_budget() -> None:
    # GIVEN a job that keeps failing with an app error and has attempts to spare
    s = spec(attempts=10)
    # WHEN each failure is decided with the same jitter
    delays = [decide_retry(s, history(own=n), FailureClass.APP_ERROR, 1, NO_JITTER).delay_seconds for n in range(1, 10)]
    # THEN delays never shrink and stop at maxSeconds
    assert delays == sorted(delays)
    assert delays[-1] == pytest.approx(1800.0)  # cap/2 with no jitter
    assert delays[0] == pytest.approx(15.0)


# --- per class --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reclaims_before_od", "reclaims", "capacity_next", "reason"),
    [
        pytest.param(0, 1, "on-demand", AttemptReason.SPOT_FALLBACK, id="N0-first-reclaim-falls-back"),
        pytest.param(1, 1, "on-demand", AttemptReason.SPOT_FALLBACK, id="N1-first-reclaim-falls-back"),
        pytest.param(2, 1, "spot", AttemptReason.RETRY, id="N2-first-reclaim-stays-on-spot"),
        pytest.param(2, 2, "on-demand", AttemptReason.SPOT_FALLBACK, id="N2-second-reclaim-falls-back"),
        pytest.param(3, 2, "spot", AttemptReason.RETRY, id="N3-second-reclaim-stays-on-spot"),
    ],
)
def test_spot_reclaim_falls_back_after_n_reclaims(
    reclaims_before_od: int, reclaims: int, capacity_next: str, reason: AttemptReason
) -> None:
    # GIVEN a spot-first job on Spot, reclaimed for the `reclaims`-th time
    s = spec(spotReclaimsBeforeOnDemand=reclaims_before_od)
    h = history(infra=reclaims, reclaims=reclaims)
    # WHEN the reclaim is decided
    d = decide_retry(s, h, FailureClass.SPOT_RECLAIM, None, 0.7)
    # THEN after N reclaims the next attempt goes On-Demand, before that it stays on Spot; either way at once
    assert (d.retry, d.capacity, d.reason, d.delay_seconds) == (True, capacity_next, reason, 0.0)
    assert d.memory_mib == h.memory_mib


@pytest.mark.parametrize("reclaims", [1, 2, 5])
def test_spot_preference_never_falls_back(reclaims: int) -> None:
    # GIVEN a Spot-only job reclaimed again and again (budget permitting)
    h = history(infra=reclaims, reclaims=reclaims, preference="spot")
    # WHEN the reclaim is decided
    d = decide_retry(spec(), h, FailureClass.SPOT_RECLAIM, None, NO_JITTER)
    # THEN it retries on Spot, now
    assert (d.retry, d.capacity, d.reason, d.delay_seconds) == (True, "spot", AttemptReason.RETRY, 0.0)
    assert "never leaves Spot" in d.explanation


def test_spot_reclaim_without_on_demand_queue_stays_on_spot() -> None:
    # GIVEN a spot-first job whose priority class has no On-Demand queue
    h = history(infra=1, reclaims=1, on_demand=False)
    # WHEN reclaimed
    d = decide_retry(spec(), h, FailureClass.SPOT_RECLAIM, None, NO_JITTER)
    # THEN it retries on Spot and says why
    assert (d.retry, d.capacity, d.reason) == (True, "spot", AttemptReason.RETRY)
    assert "no On-Demand queue" in d.explanation


@pytest.mark.parametrize(
    ("failure", "infra", "budget", "retry"),
    [
        pytest.param(FailureClass.SPOT_RECLAIM, 5, 5, True, id="reclaim-last-infra-retry"),
        pytest.param(FailureClass.SPOT_RECLAIM, 6, 5, False, id="reclaim-budget-spent"),
        pytest.param(FailureClass.HOST_FAILURE, 1, 0, False, id="host-failure-zero-budget"),
        pytest.param(FailureClass.HOST_FAILURE, 3, 3, True, id="host-failure-last"),
        pytest.param(FailureClass.UNSCHEDULABLE, 21, 20, False, id="unschedulable-spent"),
    ],
)
def test_infrastructure_budget(failure: FailureClass, infra: int, budget: int, retry: bool) -> None:
    # GIVEN infrastructure failures (this one included) against infrastructureAttempts
    h = history(infra=infra, reclaims=infra if failure is FailureClass.SPOT_RECLAIM else 0, preference="spot")
    # WHEN decided
    d = decide_retry(spec(infrastructureAttempts=budget), h, failure, None, NO_JITTER)
    # THEN retries stop once the infrastructure budget is spent, whatever `attempts` says
    assert d.retry is retry
    if not retry:
        assert "infrastructure budget is spent" in d.explanation


def test_infrastructure_failures_do_not_use_attempts() -> None:
    # GIVEN a job with attempts=1 whose own budget is untouched, reclaimed on Spot
    h = history(own=0, infra=1, reclaims=1, preference="spot")
    # WHEN decided  THEN it retries: reclaims are not the job's fault
    assert decide_retry(spec(attempts=1), h, FailureClass.SPOT_RECLAIM, None, NO_JITTER).retry


def test_host_failure_retries_with_backoff_on_same_capacity() -> None:
    # GIVEN an On-Demand attempt whose host failed for the second time
    h = history(infra=2, capacity="on-demand")
    # WHEN decided
    d = decide_retry(spec(), h, FailureClass.HOST_FAILURE, None, NO_JITTER)
    # THEN a plain retry on On-Demand after the second backoff step
    assert (d.retry, d.reason, d.capacity, d.delay_seconds) == (True, AttemptReason.RETRY, "on-demand", 30.0)


@pytest.mark.parametrize(
    ("memory", "max_memory", "factor", "expected"),
    [
        pytest.param(2048, 16384, 2.0, 4096, id="doubles"),
        pytest.param(4096, 16384, 2.0, 8192, id="doubles-again"),
        pytest.param(12000, 16384, 2.0, 16384, id="capped-at-max"),
        pytest.param(1000, 16384, 1.5, 1500, id="factor-1.5"),
        pytest.param(1001, 16384, 1.5, 1502, id="rounds-up"),
        pytest.param(3, 16384, 1.01, 4, id="always-at-least-one-more-mib"),
    ],
)
def test_oom_escalates_memory(memory: int, max_memory: int, factor: float, expected: int) -> None:
    # GIVEN an attempt killed for memory, with attempts to spare
    h = history(own=1, memory=memory, max_memory=max_memory)
    # WHEN decided
    d = decide_retry(spec(attempts=3, memoryFactor=factor), h, FailureClass.OOM, 137, 0.9)
    # THEN the next attempt gets memory * factor (rounded up, capped), now
    assert (d.retry, d.reason, d.memory_mib, d.delay_seconds) == (True, AttemptReason.MEMORY_ESCALATION, expected, 0.0)
    assert d.explanation.startswith(f"OOM at {memory} MiB; retrying with {expected} MiB")


def test_oom_doubling_then_gives_up_at_the_cap() -> None:
    # GIVEN a job that runs out of memory on every attempt, 2 GiB up to a 8 GiB queue class
    s = spec(attempts=10)
    memory, seen = 2048, []
    # WHEN each OOM is decided in turn
    for own in range(1, 10):
        d = decide_retry(s, history(own=own, memory=memory, max_memory=8192), FailureClass.OOM, 137, NO_JITTER)
        if not d.retry:
            break
        seen.append(d.memory_mib)
        memory = d.memory_mib
    # THEN memory doubles to the cap, and the OOM at the cap gives up with a clear reason
    assert seen == [4096, 8192]
    assert d.explanation == "gave up: OutOfMemory at the largest memory the queue class offers (8192 MiB)"
    assert d.memory_mib == 8192


def test_oom_counts_against_attempts() -> None:
    # GIVEN attempts=2 and a second OOM  WHEN decided  THEN it gives up although memory could grow
    d = decide_retry(spec(attempts=2), history(own=2), FailureClass.OOM, 137, NO_JITTER)
    assert not d.retry
    assert "all 2 attempt(s) are used" in d.explanation


def test_timeout_retries_with_backoff() -> None:
    # GIVEN a first timeout with attempts=2
    d = decide_retry(spec(attempts=2), history(own=1), FailureClass.TIMEOUT, 137, 0.5)
    # THEN a retry after the first backoff step (15..30 s), same capacity and memory
    assert (d.retry, d.reason, d.capacity, d.memory_mib) == (True, AttemptReason.RETRY, "spot", 2048)
    assert d.delay_seconds == pytest.approx(22.5)


@pytest.mark.parametrize(
    ("fields", "exit_code", "retry", "explanation"),
    [
        pytest.param({}, 3, True, "exited with code 3; retrying in 15s (attempt 2 of 3)", id="any-code-retried"),
        pytest.param(
            {"neverRetryExitCodes": [3]}, 3, False, "gave up: exit code 3 is in neverRetryExitCodes", id="never-retry"
        ),
        pytest.param({"neverRetryExitCodes": [4]}, 3, True, None, id="never-retry-other-code"),
        pytest.param({"retryExitCodes": [75]}, 75, True, None, id="whitelisted"),
        pytest.param(
            {"retryExitCodes": [75]}, 3, False, "gave up: exit code 3 is not in retryExitCodes", id="not-whitelisted"
        ),
        pytest.param(
            {"retryExitCodes": [75]}, None, False, "gave up: no exit code is not in retryExitCodes", id="no-code"
        ),
        pytest.param(
            {"neverRetryExitCodes": [3], "perClass": {"app-error": "retry"}},
            3,
            False,
            "gave up: exit code 3 is in neverRetryExitCodes",
            id="exit-codes-beat-per-class",
        ),
    ],
)
def test_app_error_exit_codes(
    fields: dict[str, Any], exit_code: int | None, retry: bool, explanation: str | None
) -> None:
    # GIVEN attempts=3 and the first app error
    d = decide_retry(spec(attempts=3, **fields), history(own=1), FailureClass.APP_ERROR, exit_code, NO_JITTER)
    # THEN the exit-code lists decide
    assert d.retry is retry
    if explanation is not None:
        assert d.explanation == explanation


@pytest.mark.parametrize("failure", sorted(OWN_FAULT_CLASSES))
def test_attempts_budget_gives_up(failure: FailureClass) -> None:
    # GIVEN the job's own failures reach `attempts` (this one included)
    h = history(own=3)
    # WHEN decided
    d = decide_retry(spec(attempts=3), h, failure, 1, NO_JITTER)
    # THEN it gives up, keeping the ended attempt's capacity and memory
    assert (d.retry, d.reason, d.capacity, d.memory_mib) == (False, None, "spot", 2048)
    assert d.explanation.startswith("gave up:")
    assert d.failure_class is failure


@pytest.mark.parametrize(
    "failure",
    [
        FailureClass.IMAGE_PULL,
        FailureClass.MISCONFIGURATION,
        FailureClass.DEPENDENCY,
        FailureClass.CANCELLED,
        FailureClass.UNKNOWN,
    ],
)
def test_non_retryable_classes_give_up_at_once(failure: FailureClass) -> None:
    # GIVEN a generous budget and a class that a retry cannot fix
    d = decide_retry(spec(attempts=10), history(own=1), failure, None, NO_JITTER)
    # THEN it gives up at once
    assert not d.retry
    assert d.reason is None


@pytest.mark.parametrize(
    ("per_class", "failure", "own", "retry"),
    [
        pytest.param({"app-error": "fail"}, FailureClass.APP_ERROR, 1, False, id="fail-app-error"),
        pytest.param({"oom": "fail"}, FailureClass.OOM, 1, False, id="fail-oom"),
        pytest.param({"spot-reclaim": "fail"}, FailureClass.SPOT_RECLAIM, 0, False, id="fail-reclaim"),
        pytest.param({"image-pull": "retry"}, FailureClass.IMAGE_PULL, 1, True, id="retry-image-pull"),
        pytest.param({"unknown": "retry"}, FailureClass.UNKNOWN, 1, True, id="retry-unknown"),
        pytest.param({"image-pull": "retry"}, FailureClass.IMAGE_PULL, 3, False, id="retry-still-bounded-by-attempts"),
        pytest.param({"misconfiguration": "retry"}, FailureClass.MISCONFIGURATION, 2, True, id="retry-misconfig"),
    ],
)
def test_per_class_overrides(per_class: dict[str, str], failure: FailureClass, own: int, retry: bool) -> None:
    # GIVEN a perClass override and attempts=3
    h = history(own=own, infra=1, reclaims=1 if failure is FailureClass.SPOT_RECLAIM else 0)
    # WHEN decided
    d = decide_retry(spec(attempts=3, perClass=per_class), h, failure, 1, NO_JITTER)
    # THEN "fail" gives up, "retry" retries, but never past the budget
    assert d.retry is retry
    if retry:
        assert d.reason is AttemptReason.RETRY
        assert d.delay_seconds > 0
    elif own < 3:
        assert "perClass" in d.explanation


@pytest.mark.parametrize(
    ("capacity", "preference", "on_demand", "next_capacity", "reason"),
    [
        pytest.param("spot", "spot-first", True, "on-demand", AttemptReason.CAPACITY_FALLBACK, id="spot-first-moves"),
        pytest.param("spot", "spot", True, "spot", AttemptReason.RETRY, id="spot-only-waits-on-spot"),
        pytest.param("spot", "spot-first", False, "spot", AttemptReason.RETRY, id="no-on-demand-queue"),
        pytest.param("on-demand", "on-demand", True, "on-demand", AttemptReason.RETRY, id="on-demand-retries"),
    ],
)
def test_unschedulable_after_batch_gave_up_placing(
    capacity: CapacityType,
    preference: CapacityPreferenceType,
    on_demand: bool,
    next_capacity: str,
    reason: AttemptReason,
) -> None:
    # GIVEN Batch's jobStateTimeLimitActions cancelled an attempt it could not place
    h = history(infra=1, capacity=capacity, preference=preference, on_demand=on_demand)
    # WHEN decided
    d = decide_retry(spec(), h, FailureClass.UNSCHEDULABLE, None, NO_JITTER)
    # THEN spot-first moves to On-Demand now; others retry on their capacity after a backoff
    assert (d.retry, d.capacity, d.reason) == (True, next_capacity, reason)
    assert (d.delay_seconds == 0.0) is (reason is AttemptReason.CAPACITY_FALLBACK)


@pytest.mark.parametrize(
    ("failure", "budget"),
    [
        (FailureClass.SPOT_RECLAIM, Budget.INFRASTRUCTURE),
        (FailureClass.HOST_FAILURE, Budget.INFRASTRUCTURE),
        (FailureClass.UNSCHEDULABLE, Budget.INFRASTRUCTURE),
        (FailureClass.APP_ERROR, Budget.ATTEMPTS),
        (FailureClass.OOM, Budget.ATTEMPTS),
        (FailureClass.TIMEOUT, Budget.ATTEMPTS),
        (FailureClass.IMAGE_PULL, Budget.ATTEMPTS),
    ],
)
def test_budget_for(failure: FailureClass, budget: Budget) -> None:
    # GIVEN a class  WHEN asked which counter it is charged to  THEN infrastructure classes have their own
    assert budget_for(failure) is budget


def test_infrastructure_budget_left() -> None:
    # GIVEN infrastructureAttempts=5  WHEN 2 and 9 were used  THEN 3 and 0 are left
    assert infrastructure_budget_left(spec(), 2) == 3
    assert infrastructure_budget_left(spec(), 9) == 0


def test_attempt_history_refuses_nonsense() -> None:
    # GIVEN a snapshot with a negative counter or zero memory  WHEN built  THEN refused
    with pytest.raises(ValueError, match="counters"):
        history(own=-1)
    with pytest.raises(ValueError, match="memory"):
        history(memory=0)
    with pytest.raises(ValueError, match="attempt_number"):
        replace(history(), attempt_number=0)


# --- stuck RUNNABLE ---------------------------------------------------------------------------------------------------


def stuck(
    status_reason: str | None = CAPACITY,
    *,
    runnable_for: float = 600,
    dwell: float = 300,
    capacity: CapacityType = "spot",
    preference: CapacityPreferenceType = "spot-first",
    scaling_up: bool = False,
    on_demand: bool = True,
    budget: int = 5,
) -> CapacityAction:
    return decide_stuck_runnable(
        status_reason=status_reason,
        runnable_for_seconds=runnable_for,
        dwell_seconds=dwell,
        capacity=capacity,
        preference=preference,
        scaling_up=scaling_up,
        on_demand_available=on_demand,
        infra_budget_left=budget,
    ).action


WAIT, MOVE, FAIL = CapacityAction.WAIT, CapacityAction.MOVE_TO_ON_DEMAND, CapacityAction.FAIL


@pytest.mark.parametrize(
    ("kwargs", "action"),
    [
        pytest.param({}, MOVE, id="capacity-on-spot-first-past-dwell-moves"),
        pytest.param({"scaling_up": True}, WAIT, id="capacity-while-scaling-up-waits"),
        pytest.param({"runnable_for": 299}, WAIT, id="below-dwell-waits"),
        pytest.param({"runnable_for": 300}, MOVE, id="at-dwell-moves"),
        pytest.param({"status_reason": None}, WAIT, id="no-reason-is-just-queued"),
        pytest.param({"status_reason": "Some text AWS may add"}, WAIT, id="unknown-reason-waits"),
        pytest.param({"preference": "spot"}, WAIT, id="spot-only-waits"),
        pytest.param({"capacity": "on-demand", "preference": "spot-first"}, WAIT, id="already-on-demand-waits"),
        pytest.param({"capacity": "on-demand", "preference": "on-demand"}, WAIT, id="on-demand-waits"),
        pytest.param({"on_demand": False}, WAIT, id="no-on-demand-queue-waits"),
        pytest.param({"budget": 0}, WAIT, id="no-infra-budget-waits"),
        pytest.param({"status_reason": JOB_RESOURCE}, FAIL, id="job-resource-fails-fast"),
        pytest.param(
            {"status_reason": JOB_RESOURCE, "scaling_up": True}, FAIL, id="job-resource-fails-despite-scaling"
        ),
        pytest.param({"status_reason": JOB_RESOURCE, "runnable_for": 10}, WAIT, id="job-resource-below-dwell-waits"),
        pytest.param({"status_reason": SERVICE_ROLE}, FAIL, id="service-role-fails-fast"),
        pytest.param({"status_reason": CE_MAX}, MOVE, id="ce-max-moves-to-on-demand"),
        pytest.param({"status_reason": CE_MAX, "preference": "spot"}, FAIL, id="ce-max-spot-only-fails"),
        pytest.param({"status_reason": CE_MAX, "capacity": "on-demand"}, FAIL, id="ce-max-on-demand-fails"),
        pytest.param({"status_reason": UNDETERMINED}, MOVE, id="undetermined-on-spot-first-moves"),
        pytest.param({"status_reason": UNDETERMINED, "scaling_up": True}, WAIT, id="undetermined-scaling-waits"),
        pytest.param({"status_reason": INVALID_CE}, WAIT, id="invalid-ce-waits-for-operator"),
    ],
)
def test_stuck_runnable(kwargs: dict[str, Any], action: CapacityAction) -> None:
    # GIVEN an attempt RUNNABLE with a blocked reason (capacity on Spot, 600 s, dwell 300 s unless said otherwise)
    # WHEN the sweeper decides
    got = stuck(**kwargs)
    # THEN it waits unless moving or failing is certainly right
    assert got is action


def test_stuck_runnable_fail_carries_aws_reason() -> None:
    # GIVEN a job AWS says no CE can hold  WHEN decided  THEN the decision quotes AWS's reason
    d = decide_stuck_runnable(
        status_reason=JOB_RESOURCE,
        runnable_for_seconds=900,
        dwell_seconds=300,
        capacity="spot",
        preference="spot-first",
        scaling_up=False,
        on_demand_available=True,
        infra_budget_left=5,
    )
    assert d.action is CapacityAction.FAIL
    assert JOB_RESOURCE in d.reason_text


# --- properties -------------------------------------------------------------------------------------------------------

classes = st.sampled_from(list(FailureClass))
jitters = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
specs = st.builds(
    RetrySpec,
    attempts=st.integers(1, 10),
    infrastructure_attempts=st.integers(0, 20),
    spot_reclaims_before_on_demand=st.integers(0, 10),
    memory_factor=st.floats(min_value=1.0, max_value=8.0, exclude_min=True),
    backoff=st.builds(
        BackoffSpec,
        base_seconds=st.floats(0, 600),
        max_seconds=st.floats(600, 86_400),
        multiplier=st.floats(1, 10),
    ),
    per_class=st.dictionaries(
        st.sampled_from([c for c in FailureClass if c not in (FailureClass.CANCELLED, FailureClass.DEPENDENCY)]),
        st.sampled_from(["retry", "fail"]),
        max_size=3,
    ),
)


@st.composite
def histories(draw: st.DrawFn) -> AttemptHistory:
    max_memory = draw(st.integers(1, 1_000_000))
    reclaims = draw(st.integers(0, 30))
    return AttemptHistory(
        attempt_number=draw(st.integers(1, 60)),
        own_failures=draw(st.integers(0, 15)),
        infrastructure_failures=reclaims + draw(st.integers(0, 10)),
        spot_reclaims=reclaims,
        capacity=draw(st.sampled_from(["spot", "on-demand"])),
        preference=draw(st.sampled_from(["spot", "on-demand", "spot-first"])),
        memory_mib=draw(st.integers(1, max_memory)),
        max_memory_mib=max_memory,
        on_demand_available=draw(st.booleans()),
    )


@settings(max_examples=300)
@given(s=specs, h=histories(), failure=classes, exit_code=st.one_of(st.none(), st.integers(0, 255)), jitter=jitters)
def test_property_memory_never_exceeds_max_nor_decreases(
    s: RetrySpec, h: AttemptHistory, failure: FailureClass, exit_code: int | None, jitter: float
) -> None:
    # GIVEN any policy, job snapshot and failure  WHEN decided
    d = decide_retry(s, h, failure, exit_code, jitter)
    # THEN the next attempt's memory is within [current, max]
    assert h.memory_mib <= d.memory_mib <= h.max_memory_mib


@settings(max_examples=300)
@given(s=specs, h=histories(), failure=classes, exit_code=st.one_of(st.none(), st.integers(0, 255)), jitter=jitters)
def test_property_delay_within_zero_and_max(
    s: RetrySpec, h: AttemptHistory, failure: FailureClass, exit_code: int | None, jitter: float
) -> None:
    # GIVEN any policy, job snapshot and failure  WHEN decided  THEN the delay is in [0, maxSeconds]
    d = decide_retry(s, h, failure, exit_code, jitter)
    assert 0.0 <= d.delay_seconds <= s.backoff.max_seconds
    # AND a decision to give up names no next-attempt reason, a decision to retry always does
    assert (d.reason is None) is (not d.retry)


@settings(max_examples=300)
@given(
    s=specs,
    h=histories(),
    failure=st.sampled_from(sorted(OWN_FAULT_CLASSES)),
    exit_code=st.one_of(st.none(), st.integers(1, 255)),
    jitter=jitters,
)
def test_property_no_retry_once_attempts_are_used(
    s: RetrySpec, h: AttemptHistory, failure: FailureClass, exit_code: int | None, jitter: float
) -> None:
    # GIVEN the job's own failures have reached `attempts`
    h = replace(h, own_failures=max(h.own_failures, s.attempts))
    # WHEN an own-fault failure is decided  THEN it never retries, whatever perClass says
    assert not decide_retry(s, h, failure, exit_code, jitter).retry


@settings(max_examples=200)
@given(failures=st.integers(0, 100), jitter=jitters, backoff=specs.map(lambda s: s.backoff))
def test_property_backoff_bounds(failures: int, jitter: float, backoff: BackoffSpec) -> None:
    # GIVEN any backoff and failure count  WHEN the delay is computed  THEN it lies in [0, maxSeconds]
    delay = backoff_delay(backoff, failures, jitter)
    assert 0.0 <= delay <= backoff.max_seconds
    # AND one more failure never shortens it (same jitter)
    assert backoff_delay(backoff, failures + 1, jitter) >= delay


# --- scaling out (what DescribeComputeEnvironments shows while a managed environment scales out) ---------------------


def _ce(desired: int, *, status: str = "VALID", state: str = "ENABLED", kind: str = "MANAGED") -> dict[str, Any]:
    return {
        "computeEnvironmentArn": "arn:aws:batch:us-east-1:123456789012:compute-environment/spot",
        "type": kind,
        "state": state,
        "status": status,
        "computeResources": {"minvCpus": 0, "maxvCpus": 64, "desiredvCpus": desired},
    }


@pytest.mark.parametrize(
    ("before", "now", "scaling"),
    [
        pytest.param(None, _ce(16), False, id="first-look-proves-nothing"),
        pytest.param(4, _ce(16), True, id="desired-rising-while-valid-is-scaling-out"),
        pytest.param(16, _ce(16), False, id="desired-steady-is-not"),
        pytest.param(16, _ce(8), False, id="scaling-in-is-not"),
        pytest.param(16, _ce(16, status="UPDATING"), False, id="updating-is-an-update-not-a-scale-out"),
        pytest.param(4, _ce(16, status="UPDATING"), False, id="nothing-while-updating"),
        pytest.param(4, _ce(16, state="DISABLED"), False, id="disabled-does-not-scale-out"),
        pytest.param(4, _ce(16, kind="UNMANAGED"), False, id="unmanaged-never-scales"),
    ],
)
def test_scaling_out_is_desired_vcpus_rising_on_a_valid_managed_environment(
    before: int | None, now: dict[str, Any], scaling: bool
) -> None:
    from batchplane.domain.retry import scaling_out

    seen = {} if before is None else {now["computeEnvironmentArn"]: before}
    rising, remembered = scaling_out([now], seen)
    assert rising is scaling
    if now["status"] == "VALID" and now["state"] == "ENABLED" and now["type"] == "MANAGED":
        assert remembered == {now["computeEnvironmentArn"]: now["computeResources"]["desiredvCpus"]}
