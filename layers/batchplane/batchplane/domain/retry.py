"""Retry policy: what to do after an attempt fails, and with a job stuck RUNNABLE. Pure functions of data.

``decide_retry`` is "a pure function of the compiled policy, the run error, and the job's failure counts" (Armada's
retry/doc.go): it takes the user's `RetrySpec`, a snapshot of the job's `AttemptHistory`, the `FailureClass` of the
attempt that just ended, its exit code and a jitter number the caller draws, and returns a `RetryDecision` for the
adapter to carry out. ``decide_stuck_runnable`` does the same for the sweeper. Nothing here reads a clock, the
environment or a random source.

Two budgets, because a job should not pay for failures that are not its own:
  * ``attempts`` (1..10, like AWS Batch's retryStrategy.attempts, which counts the first run): failures charged to the
    job — APP_ERROR, OOM, TIMEOUT, and any class a perClass "retry" override forces (IMAGE_PULL, MISCONFIGURATION,
    UNKNOWN). A retry is allowed while ``own_failures < attempts``.
  * ``infrastructureAttempts`` (0..20): extra attempts for what the infrastructure did — SPOT_RECLAIM, HOST_FAILURE,
    UNSCHEDULABLE (capacity). A retry is allowed while ``infrastructure_failures <= infrastructureAttempts``.
The counters in `AttemptHistory` include the attempt that just ended (see `budget_for` to know which to bump).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from batchplane.domain.failures import (
    CANNOT_BE_PLACED,
    CapacityType,
    FailureClass,
    is_misconfiguration_fixable_on_demand,
    parse_blocked_reason,
)

CapacityPreferenceType = Literal["spot", "on-demand", "spot-first"]
_PREFERENCE_TYPES: dict[str, CapacityPreferenceType] = {
    "spot": "spot",
    "on-demand": "on-demand",
    "spot-first": "spot-first",
}


def preference_type(preference: str) -> CapacityPreferenceType:
    """The policies' name for a capacity preference (a `CapacityPreference` of a record, or its value)."""
    return _PREFERENCE_TYPES[preference]


"""spot: never leave Spot; spot-first: Spot, falling back to On-Demand; on-demand: On-Demand only."""

ClassAction = Literal["retry", "fail"]
ExitCode = Annotated[int, Field(strict=True, ge=1, le=255, description="a non-zero container exit code")]

MAX_BACKOFF_SECONDS = 86_400.0

# Classes whose default is to retry; every other class gives up unless perClass says "retry".
_RETRY_BY_DEFAULT = frozenset(
    {
        FailureClass.SPOT_RECLAIM,
        FailureClass.HOST_FAILURE,
        FailureClass.OOM,
        FailureClass.TIMEOUT,
        FailureClass.APP_ERROR,
        FailureClass.UNSCHEDULABLE,
    }
)
# Never retried, whatever perClass says (RetrySpec refuses "retry" for them): a cancel is someone's decision, and a
# dependent job fails again at once while its dependency stays failed.
_NEVER_RETRIED = frozenset({FailureClass.CANCELLED, FailureClass.DEPENDENCY})

OWN_FAULT_CLASSES = frozenset({FailureClass.APP_ERROR, FailureClass.OOM, FailureClass.TIMEOUT})
INFRASTRUCTURE_CLASSES = frozenset({FailureClass.SPOT_RECLAIM, FailureClass.HOST_FAILURE, FailureClass.UNSCHEDULABLE})

_GIVE_UP_WHY: dict[FailureClass, str] = {
    FailureClass.IMAGE_PULL: "the image could not be pulled; a retry pulls the same reference",
    FailureClass.MISCONFIGURATION: "the job or its environment is misconfigured; a retry fails the same way",
    FailureClass.DEPENDENCY: "a job it depends on failed",
    FailureClass.CANCELLED: "the attempt was cancelled on purpose",
    # UNKNOWN gives up: a reason we cannot read is more often a stop someone asked for (TerminateJob's free-text
    # reason) than a transient fault, and retrying it blindly could undo that. perClass {"unknown": "retry"} opts in.
    FailureClass.UNKNOWN: "the failure reason is not one batchplane recognises",
}


class _Wire(BaseModel):
    """Built on first use, not at import (``defer_build``, as ``batchplane.domain.models._Wire``)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, defer_build=True
    )


class BackoffSpec(_Wire):
    """Exponential backoff between retries of the same attempt kind: base * multiplier^(n-1), capped at maxSeconds,
    with "equal jitter" (half fixed, half random) so delays keep growing yet spread out."""

    base_seconds: float = Field(strict=True, default=30.0, ge=0, le=MAX_BACKOFF_SECONDS, allow_inf_nan=False)
    max_seconds: float = Field(strict=True, default=3600.0, ge=0, le=MAX_BACKOFF_SECONDS, allow_inf_nan=False)
    multiplier: float = Field(strict=True, default=2.0, ge=1, le=10, allow_inf_nan=False)

    @field_validator("max_seconds")
    @classmethod
    def _max_not_below_base(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("base_seconds")
        if isinstance(base, float | int) and value < base:
            msg = f"maxSeconds ({value:g}) must not be lower than baseSeconds ({base:g})"
            raise ValueError(msg)
        return value


class RetrySpec(_Wire):
    """A job's ``retry`` block as users send it in POST /jobs (camelCase on the wire)."""

    attempts: int = Field(
        strict=True,
        default=1,
        ge=1,
        le=10,
        description="attempts for failures that are the job's own (APP_ERROR, OOM, TIMEOUT)",
    )
    infrastructure_attempts: int = Field(
        strict=True,
        default=5,
        ge=0,
        le=20,
        description="extra attempts for Spot reclaims, host failures and capacity fallbacks",
    )
    spot_reclaims_before_on_demand: int = Field(
        strict=True,
        default=1,
        ge=0,
        le=10,
        description="after this many Spot reclaims the next attempt goes to On-Demand (spot-first only)",
    )
    memory_factor: float = Field(
        strict=True, default=2.0, gt=1, le=8, allow_inf_nan=False, description="OOM memory multiplier"
    )
    retry_exit_codes: tuple[ExitCode, ...] = Field(
        default=(), max_length=255, description="when set, only these exit codes are retried"
    )
    never_retry_exit_codes: tuple[ExitCode, ...] = Field(
        default=(), max_length=255, description="exit codes that are never retried"
    )
    backoff: BackoffSpec = Field(default_factory=BackoffSpec)
    stuck_runnable_seconds: int = Field(
        strict=True,
        default=300,
        ge=5,
        le=86_400,
        description="dwell before a Spot attempt stuck RUNNABLE moves to On-Demand",
    )
    per_class: dict[FailureClass, ClassAction] = Field(default_factory=dict, description="per failure class override")
    array_retry: Literal["whole", "failed-children"] = Field(
        default="whole",
        description=(
            "array jobs: retry the whole array, or only the children that failed (a new array over those indexes; "
            "each child finds its original index in BATCHPLANE_ARRAY_INDEXES[AWS_BATCH_JOB_ARRAY_INDEX])"
        ),
    )

    @field_validator("never_retry_exit_codes")
    @classmethod
    def _disjoint_exit_codes(cls, value: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        retry = info.data.get("retry_exit_codes") or ()
        both = sorted(set(value) & set(retry))
        if both:
            codes = ", ".join(str(c) for c in both)
            msg = f"exit code(s) {codes} cannot be in both retryExitCodes and neverRetryExitCodes"
            raise ValueError(msg)
        return value

    @field_validator("per_class")
    @classmethod
    def _no_forced_retry_of_final_classes(
        cls, value: dict[FailureClass, ClassAction]
    ) -> dict[FailureClass, ClassAction]:
        forced = sorted(c.value for c, action in value.items() if action == "retry" and c in _NEVER_RETRIED)
        if forced:
            msg = f"perClass cannot set {', '.join(forced)} to retry: cancelled and dependency failures are final"
            raise ValueError(msg)
        return dict(value)


class Budget(StrEnum):
    ATTEMPTS = "attempts"
    INFRASTRUCTURE = "infrastructure"


def budget_for(failure: FailureClass) -> Budget:
    """Which counter of `AttemptHistory` a failure of this class is charged to."""
    return Budget.INFRASTRUCTURE if failure in INFRASTRUCTURE_CLASSES else Budget.ATTEMPTS


@dataclass(frozen=True, slots=True)
class AttemptHistory:
    """A snapshot of the job when an attempt has just ended. Every counter INCLUDES that attempt when it applies:

    * ``own_failures``: failed attempts charged to ``attempts`` (``budget_for(c) is Budget.ATTEMPTS``);
    * ``infrastructure_failures``: failed attempts charged to ``infrastructureAttempts``, Spot→On-Demand moves of a
      job stuck RUNNABLE included;
    * ``spot_reclaims``: SPOT_RECLAIM failures (also counted in ``infrastructure_failures``).
    """

    attempt_number: int  # the attempt that just ended, 1-based
    own_failures: int
    infrastructure_failures: int
    spot_reclaims: int
    capacity: CapacityType  # the ended attempt's
    preference: CapacityPreferenceType
    memory_mib: int  # the ended attempt's
    max_memory_mib: int  # the largest memory the queue class's compute environments can supply
    on_demand_available: bool  # the job's priority class has an On-Demand queue to fall back to

    def __post_init__(self) -> None:
        if self.attempt_number < 1 or min(self.own_failures, self.infrastructure_failures, self.spot_reclaims) < 0:
            msg = "attempt_number must be >= 1 and failure counters >= 0"
            raise ValueError(msg)
        if self.memory_mib < 1 or self.max_memory_mib < 1:
            msg = "memory_mib and max_memory_mib must be positive"
            raise ValueError(msg)


class AttemptReason(StrEnum):
    """Why an attempt exists (recorded on the attempt)."""

    INITIAL = "initial"
    RETRY = "retry"
    SPOT_FALLBACK = "spot-fallback"
    CAPACITY_FALLBACK = "capacity-fallback"
    MEMORY_ESCALATION = "memory-escalation"


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    reason: AttemptReason | None  # why the next attempt exists; None when giving up
    failure_class: FailureClass
    capacity: CapacityType  # the next attempt's (the ended one's when giving up)
    memory_mib: int  # the next attempt's (the ended one's when giving up)
    delay_seconds: float  # 0 = submit now
    explanation: str


def backoff_delay(backoff: BackoffSpec, failures: int, jitter: float) -> float:
    """Equal-jitter exponential backoff: with ``cap = min(maxSeconds, base * multiplier^(failures-1))`` the delay is
    ``cap/2 + jitter * cap/2``, so it lies in [cap/2, cap] ⊆ [0, maxSeconds] and its floor still doubles.
    (Full jitter, ``jitter * cap``, spreads more but may retry at once after many failures; equal jitter never does.)"""
    if not 0.0 <= jitter < 1.0:
        msg = f"jitter must be in [0, 1), got {jitter!r}"
        raise ValueError(msg)
    cap = backoff.base_seconds
    for _ in range(max(failures, 1) - 1):
        if cap >= backoff.max_seconds:
            break
        cap *= backoff.multiplier
    cap = min(cap, backoff.max_seconds)
    return cap / 2 + jitter * cap / 2


def infrastructure_budget_left(spec: RetrySpec, infrastructure_failures: int) -> int:
    """How many more infrastructure retries (reclaims, host failures, capacity moves) the job may still take."""
    return max(0, spec.infrastructure_attempts - infrastructure_failures)


def _give_up(failure: FailureClass, history: AttemptHistory, why: str) -> RetryDecision:
    return RetryDecision(
        retry=False,
        reason=None,
        failure_class=failure,
        capacity=history.capacity,
        memory_mib=history.memory_mib,
        delay_seconds=0.0,
        explanation=f"gave up: {why}",
    )


def _go(
    failure: FailureClass,
    reason: AttemptReason,
    *,
    capacity: CapacityType,
    memory_mib: int,
    delay: float,
    explanation: str,
) -> RetryDecision:
    return RetryDecision(
        retry=True,
        reason=reason,
        failure_class=failure,
        capacity=capacity,
        memory_mib=memory_mib,
        delay_seconds=delay,
        explanation=explanation,
    )


def decide_retry(
    spec: RetrySpec,
    history: AttemptHistory,
    failure: FailureClass,
    exit_code: int | None,
    jitter: float,
) -> RetryDecision:
    """What to do after an attempt failed with ``failure``. ``jitter`` is a number in [0, 1) the caller draws.

    Order: (1) CANCELLED and DEPENDENCY give up; (2) perClass "fail" gives up; (3) classes that do not retry by
    default (IMAGE_PULL, MISCONFIGURATION, UNKNOWN) give up unless perClass says "retry"; (4) the class's budget must
    have room — an override never bypasses a budget; (5) the class's own rule:

    * SPOT_RECLAIM: now (no delay). With preference spot-first, once ``spot_reclaims >= spotReclaimsBeforeOnDemand``
      the next attempt goes On-Demand (SPOT_FALLBACK) — with the default 1, the first reclaim already moves it; 0 and 1
      therefore act alike here (0 exists for "tolerate no reclaim", the arbiter's choice of the first queue is its
      own). Preference spot never leaves Spot; with no On-Demand queue the job stays on Spot.
    * HOST_FAILURE: backoff, same capacity and memory.
    * UNSCHEDULABLE (Batch's jobStateTimeLimitActions gave up placing it): spot-first on Spot moves to On-Demand now
      (CAPACITY_FALLBACK); otherwise backoff on the same capacity, within the infrastructure budget.
    * OOM: memory * memoryFactor (rounded up, at least +1 MiB), capped at the queue class's largest memory, now
      (MEMORY_ESCALATION); already at that cap → give up.
    * TIMEOUT: backoff, same capacity and memory.
    * APP_ERROR: backoff, unless the exit code is in neverRetryExitCodes, or retryExitCodes is set and does not hold
      it (an unknown exit code then counts as not held). The exit-code lists are more specific than perClass, so they
      apply even under {"app-error": "retry"}.
    * Forced classes (perClass "retry" on IMAGE_PULL, MISCONFIGURATION, UNKNOWN): backoff, charged to ``attempts``.
    """
    if not 0.0 <= jitter < 1.0:
        msg = f"jitter must be in [0, 1), got {jitter!r}"
        raise ValueError(msg)
    override = spec.per_class.get(failure)

    # (1)-(3) classes that stop here
    if failure in _NEVER_RETRIED:
        return _give_up(failure, history, _GIVE_UP_WHY[failure])
    if override == "fail":
        return _give_up(failure, history, f'perClass sets {failure.value} to "fail"')
    if failure not in _RETRY_BY_DEFAULT and override != "retry":
        return _give_up(failure, history, _GIVE_UP_WHY.get(failure, f"{failure.value} is not retried"))

    # (4) budgets
    if budget_for(failure) is Budget.INFRASTRUCTURE:
        if history.infrastructure_failures > spec.infrastructure_attempts:
            return _give_up(
                failure,
                history,
                f"{failure.value}: the infrastructure budget is spent "
                f"({history.infrastructure_failures} infrastructure failures, infrastructureAttempts is "
                f"{spec.infrastructure_attempts})",
            )
        failures_so_far = history.infrastructure_failures
    else:
        if history.own_failures >= spec.attempts:
            return _give_up(
                failure,
                history,
                f"{failure.value}: all {spec.attempts} attempt(s) are used ({history.own_failures} failed)",
            )
        failures_so_far = history.own_failures

    # (5) the class's rule
    capacity, memory = history.capacity, history.memory_mib
    if failure is FailureClass.SPOT_RECLAIM:
        return _after_reclaim(spec, history)
    if failure is FailureClass.UNSCHEDULABLE:
        if capacity == "spot" and history.preference == "spot-first" and history.on_demand_available:
            return _go(
                failure,
                AttemptReason.CAPACITY_FALLBACK,
                capacity="on-demand",
                memory_mib=memory,
                delay=0.0,
                explanation="no Spot capacity could be found; next attempt on On-Demand",
            )
        delay = backoff_delay(spec.backoff, failures_so_far, jitter)
        return _go(
            failure,
            AttemptReason.RETRY,
            capacity=capacity,
            memory_mib=memory,
            delay=delay,
            explanation=f"no {capacity} capacity could be found; retrying on {capacity} in {delay:.0f}s",
        )
    if failure is FailureClass.OOM:
        return _after_oom(spec, history)
    if failure is FailureClass.APP_ERROR:
        if exit_code is not None and exit_code in spec.never_retry_exit_codes:
            return _give_up(failure, history, f"exit code {exit_code} is in neverRetryExitCodes")
        if spec.retry_exit_codes and exit_code not in spec.retry_exit_codes:
            shown = "no exit code" if exit_code is None else f"exit code {exit_code}"
            return _give_up(failure, history, f"{shown} is not in retryExitCodes")

    delay = backoff_delay(spec.backoff, failures_so_far, jitter)
    what = {
        FailureClass.HOST_FAILURE: "host failure",
        FailureClass.TIMEOUT: "attempt timed out",
        FailureClass.APP_ERROR: "exited" if exit_code is None else f"exited with code {exit_code}",
    }.get(failure, f"{failure.value} (perClass: retry)")
    if budget_for(failure) is Budget.ATTEMPTS:
        left = f"attempt {history.own_failures + 1} of {spec.attempts}"
    else:
        left = f"infrastructure retry {history.infrastructure_failures} of {spec.infrastructure_attempts}"
    return _go(
        failure,
        AttemptReason.RETRY,
        capacity=capacity,
        memory_mib=memory,
        delay=delay,
        explanation=f"{what}; retrying in {delay:.0f}s ({left})",
    )


def _after_reclaim(spec: RetrySpec, history: AttemptHistory) -> RetryDecision:
    failure = FailureClass.SPOT_RECLAIM
    memory = history.memory_mib
    reclaims = history.spot_reclaims
    threshold = spec.spot_reclaims_before_on_demand
    if history.capacity == "spot" and history.preference == "spot-first" and reclaims >= threshold:
        if history.on_demand_available:
            return _go(
                failure,
                AttemptReason.SPOT_FALLBACK,
                capacity="on-demand",
                memory_mib=memory,
                delay=0.0,
                explanation=(
                    f"Spot reclaimed the host ({reclaims} reclaim(s), spotReclaimsBeforeOnDemand is {threshold}); "
                    "next attempt on On-Demand"
                ),
            )
        return _go(
            failure,
            AttemptReason.RETRY,
            capacity=history.capacity,
            memory_mib=memory,
            delay=0.0,
            explanation=(
                f"Spot reclaimed the host ({reclaims} reclaim(s)); no On-Demand queue for this class, retrying on Spot"
            ),
        )
    if history.capacity == "spot" and history.preference == "spot":
        why = "preference spot never leaves Spot"
    elif history.capacity == "spot":
        why = f"{reclaims} of {threshold} reclaim(s) before On-Demand"
    else:
        why = f"retrying on {history.capacity}"
    return _go(
        failure,
        AttemptReason.RETRY,
        capacity=history.capacity,
        memory_mib=memory,
        delay=0.0,
        explanation=f"Spot reclaimed the host; {why}",
    )


def _after_oom(spec: RetrySpec, history: AttemptHistory) -> RetryDecision:
    failure = FailureClass.OOM
    current, ceiling = history.memory_mib, history.max_memory_mib
    if current >= ceiling:
        return _give_up(failure, history, f"OutOfMemory at the largest memory the queue class offers ({ceiling} MiB)")
    wanted = max(math.ceil(current * spec.memory_factor), current + 1)
    memory = min(wanted, ceiling)
    capped = ", capped at the queue class's largest memory" if memory < wanted else ""
    return _go(
        failure,
        AttemptReason.MEMORY_ESCALATION,
        capacity=history.capacity,
        memory_mib=memory,
        delay=0.0,
        explanation=f"OOM at {current} MiB; retrying with {memory} MiB (x{spec.memory_factor:g}{capped})",
    )


# --- stuck RUNNABLE -------------------------------------------------------------------------------------------------


class CapacityAction(StrEnum):
    WAIT = "wait"
    MOVE_TO_ON_DEMAND = "move-to-on-demand"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class CapacityDecision:
    action: CapacityAction
    reason_text: str


def scaling_out(environments: Iterable[Mapping[str, Any]], seen: Mapping[str, int]) -> tuple[bool, dict[str, int]]:
    """Whether a managed compute environment is scaling out, from DescribeComputeEnvironments as AWS reports it: a
    scale-out leaves ``status`` VALID (UPDATING is an UpdateComputeEnvironment in progress, not a scale-out) and
    raises ``computeResources.desiredvCpus`` (Batch "modifies this value between the minimum and maximum values based
    on job queue demand"), while the launched instances catch up. So: an ENABLED, VALID, MANAGED environment whose
    desiredvCpus rose since ``seen`` (the last look: environment ARN -> desiredvCpus). Returns the answer and what to
    remember for the next look. A first look proves nothing (no false waits: a starved Spot environment's
    desiredvCpus stays put)."""
    now: dict[str, int] = dict(seen)
    rising = False
    for ce in environments:
        arn = str(ce.get("computeEnvironmentArn") or ce.get("computeEnvironmentName") or "")
        resources = ce.get("computeResources") or {}
        if ce.get("type") != "MANAGED" or ce.get("state") != "ENABLED" or ce.get("status") != "VALID":
            now.pop(arn, None)
            continue
        desired = int(resources.get("desiredvCpus") or 0)
        before = seen.get(arn)
        rising = rising or (before is not None and desired > before)
        now[arn] = desired
    return rising, now


_QUEUE_WIDE = ("CAPACITY", "UNDETERMINED")  # blocked reasons that hold for every job of the queue, not just its head


def blocked_queues(attempts: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Which queues are blocked for capacity, from the (queue ARN, statusReason) of RUNNABLE attempts: AWS puts the
    reason only on the job at the head of a queue ("a RUNNABLE job at the head and blocking the queue"), so one
    attempt carrying a CAPACITY / UNDETERMINED reason says its whole queue is blocked."""
    out: dict[str, str] = {}
    for queue_arn, reason in attempts:
        parsed = parse_blocked_reason(reason)
        if parsed is not None and parsed.kind in _QUEUE_WIDE and reason is not None:
            out.setdefault(queue_arn, reason)
    return out


def decide_stuck_runnable(
    *,
    status_reason: str | None,
    runnable_for_seconds: float,
    dwell_seconds: float,
    capacity: CapacityType,
    preference: CapacityPreferenceType,
    scaling_up: bool,
    on_demand_available: bool,
    infra_budget_left: int,
    queue_reason: str | None = None,
) -> CapacityDecision:
    """What the sweeper does with an attempt that has been RUNNABLE for ``runnable_for_seconds``. No false kills:

    1. No blocked-queue reason (AWS only sets one on the job at the head of the queue): WAIT, it is queued; unless
       its queue is blocked for capacity (``queue_reason``: the CAPACITY / UNDETERMINED reason its head carries, see
       `blocked_queues`): the jobs behind a head that Spot cannot place cannot be placed either, so they are judged
       by the head's reason (a MISCONFIGURATION is about the head job itself and never extends to the others).
    2. Below the dwell (the job's stuckRunnableSeconds): WAIT, whatever the reason.
    3. MISCONFIGURATION that On-Demand cannot fix (JOB_RESOURCE_REQUIREMENT, SERVICE_ROLE_PERMISSIONS,
       EC2_INSTANCE_CONFIGURATION_UNSUPPORTED, …): FAIL with AWS's reason. COMPUTE_ENVIRONMENT_MAX_RESOURCE (maxvCpus is
       per CE): MOVE when the job may go On-Demand, else FAIL. Scaling is irrelevant: AWS decided the job cannot fit.
    4. CAPACITY / UNDETERMINED (AWS users report Spot shortages surfacing as UNDETERMINED, apache/airflow#38298):
       WAIT while the compute environment is scaling up (desired vCPUs rising: capacity is on its way); MOVE for Spot
       with preference spot-first, an On-Demand queue and infrastructure budget left; otherwise WAIT (Spot-only and
       On-Demand jobs wait for capacity to return; queue-level jobStateTimeLimitActions may end the wait).
    5. ACTION_REQUIRED (the queue's compute environments are INVALID): WAIT; that is an operator's alarm, not the
       job's fault, and it is fixed without resubmitting.
    """
    blocked = parse_blocked_reason(status_reason)
    behind_head = False
    if blocked is None:
        head = parse_blocked_reason(queue_reason)
        if head is None or head.kind not in _QUEUE_WIDE:
            return CapacityDecision(CapacityAction.WAIT, "RUNNABLE without a blocked reason: waiting its turn")
        blocked, behind_head = head, True
    if runnable_for_seconds < dwell_seconds:
        return CapacityDecision(
            CapacityAction.WAIT,
            f"{blocked.label} for {runnable_for_seconds:.0f}s, below the {dwell_seconds:.0f}s dwell",
        )
    may_move = capacity == "spot" and preference == "spot-first" and on_demand_available and infra_budget_left > 0
    aws_says = f"queue blocked at its head: {queue_reason}" if behind_head else status_reason or blocked.label

    if blocked.kind == "MISCONFIGURATION":
        if is_misconfiguration_fixable_on_demand(status_reason) and may_move:
            return CapacityDecision(CapacityAction.MOVE_TO_ON_DEMAND, f"Spot queue cannot fit the job: {aws_says}")
        return CapacityDecision(CapacityAction.FAIL, f"{CANNOT_BE_PLACED}{aws_says}")

    if blocked.kind in ("CAPACITY", "UNDETERMINED"):
        if scaling_up:
            return CapacityDecision(CapacityAction.WAIT, f"{blocked.label}, but the compute environment is scaling up")
        if may_move:
            return CapacityDecision(
                CapacityAction.MOVE_TO_ON_DEMAND,
                f"stuck RUNNABLE on Spot for {runnable_for_seconds:.0f}s: {aws_says}",
            )
        if capacity == "spot" and preference == "spot-first":
            missing = "no On-Demand queue for this class" if not on_demand_available else "infrastructure budget spent"
            return CapacityDecision(CapacityAction.WAIT, f"{blocked.label}; cannot move to On-Demand ({missing})")
        return CapacityDecision(
            CapacityAction.WAIT, f"{blocked.label}; preference {preference} on {capacity}: waiting for capacity"
        )

    return CapacityDecision(CapacityAction.WAIT, f"{aws_says}: the queue's compute environments need an operator")
