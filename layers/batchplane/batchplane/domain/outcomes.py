"""What applying an event or a sweep did (`Outcome`) and the metrics it counts (`Metric`): one vocabulary for logs,
metrics and tests. Metric names are members, never formatted at the call site, so every name the dashboards and
alarms may use is listed here."""

from __future__ import annotations

from enum import StrEnum

from batchplane.domain.failures import FailureClass
from batchplane.domain.retry import AttemptReason


class Outcome(StrEnum):
    """What happened to one event (the job-events function logs and returns it)."""

    IGNORED = "ignored"  # not about one of our attempts
    RECORDED = "recorded"
    STALE = "stale"  # a duplicate or out-of-order event: one failed conditional write
    STALE_RETOLD = "stale-retold"  # a redelivered last event: the pipeline is told again
    CANCEL_ENFORCED = "cancel-enforced"
    SUCCEEDED = "succeeded"
    CHILD_RECORDED = "child-recorded"
    ORPHAN = "orphan"
    ADOPTED = "adopted"
    WAITING_FOR_CHILDREN = "waiting-for-children"
    RACED = "raced"  # another handler decided first
    CANCELLED = "cancelled"
    GAVE_UP = "gave-up"
    REJECTED = "rejected"  # AWS Batch refused the SubmitJob (ClientException): the job ended FAILED, not retried
    DEAD_LETTERED = "dead-lettered"
    # a new attempt submitted, by why it exists (or what submitted it)
    RETRY = "retry"
    SPOT_FALLBACK = "spot-fallback"
    CAPACITY_FALLBACK = "capacity-fallback"
    MEMORY_ESCALATION = "memory-escalation"
    CHILDREN_RETRY = "children-retry"
    RELEASED = "released"
    REPAIRED = "repaired"
    REPRIORITISED = "reprioritised"
    # ... recorded, to be submitted after its backoff
    RETRY_SCHEDULED = "retry-scheduled"
    SPOT_FALLBACK_SCHEDULED = "spot-fallback-scheduled"
    CAPACITY_FALLBACK_SCHEDULED = "capacity-fallback-scheduled"
    MEMORY_ESCALATION_SCHEDULED = "memory-escalation-scheduled"
    CHILDREN_RETRY_SCHEDULED = "children-retry-scheduled"
    # ... recorded, its SubmitJob failed: the next sweep submits it
    RETRY_DEFERRED = "retry-deferred"
    SPOT_FALLBACK_DEFERRED = "spot-fallback-deferred"
    CAPACITY_FALLBACK_DEFERRED = "capacity-fallback-deferred"
    MEMORY_ESCALATION_DEFERRED = "memory-escalation-deferred"
    CHILDREN_RETRY_DEFERRED = "children-retry-deferred"
    RELEASED_DEFERRED = "released-deferred"
    REPAIRED_DEFERRED = "repaired-deferred"
    REPRIORITISED_DEFERRED = "reprioritised-deferred"
    SUPERSEDED_STOPPED = "superseded-stopped"  # a replaced attempt reported it is on its way: terminated

    @property
    def scheduled(self) -> Outcome:
        return _SCHEDULED[self]

    @property
    def deferred(self) -> Outcome:
        return _DEFERRED[self]


SUBMITTED_AS: dict[AttemptReason, Outcome] = {
    AttemptReason.RETRY: Outcome.RETRY,
    AttemptReason.SPOT_FALLBACK: Outcome.SPOT_FALLBACK,
    AttemptReason.CAPACITY_FALLBACK: Outcome.CAPACITY_FALLBACK,
    AttemptReason.MEMORY_ESCALATION: Outcome.MEMORY_ESCALATION,
}
_SCHEDULED: dict[Outcome, Outcome] = {
    Outcome.RETRY: Outcome.RETRY_SCHEDULED,
    Outcome.SPOT_FALLBACK: Outcome.SPOT_FALLBACK_SCHEDULED,
    Outcome.CAPACITY_FALLBACK: Outcome.CAPACITY_FALLBACK_SCHEDULED,
    Outcome.MEMORY_ESCALATION: Outcome.MEMORY_ESCALATION_SCHEDULED,
    Outcome.CHILDREN_RETRY: Outcome.CHILDREN_RETRY_SCHEDULED,
}
_DEFERRED: dict[Outcome, Outcome] = {
    Outcome.RETRY: Outcome.RETRY_DEFERRED,
    Outcome.SPOT_FALLBACK: Outcome.SPOT_FALLBACK_DEFERRED,
    Outcome.CAPACITY_FALLBACK: Outcome.CAPACITY_FALLBACK_DEFERRED,
    Outcome.MEMORY_ESCALATION: Outcome.MEMORY_ESCALATION_DEFERRED,
    Outcome.CHILDREN_RETRY: Outcome.CHILDREN_RETRY_DEFERRED,
    Outcome.RELEASED: Outcome.RELEASED_DEFERRED,
    Outcome.REPAIRED: Outcome.REPAIRED_DEFERRED,
    Outcome.REPRIORITISED: Outcome.REPRIORITISED_DEFERRED,
}


class Metric(StrEnum):
    """Every metric the lifecycle engine and the sweeper count."""

    JOBS_SUCCEEDED = "JobsSucceeded"
    JOBS_FAILED = "JobsFailed"
    JOBS_CANCELLED = "JobsCancelled"
    JOBS_ADOPTED = "JobsAdopted"
    SUBMIT_DEFERRED = "SubmitDeferred"
    SUBMIT_DEFERRAL_LOST = "SubmitDeferralLost"
    CANCEL_FAILED = "CancelFailed"
    JOBS_STUCK_RUNNABLE = "JobsStuckRunnable"  # per sweep: RUNNABLE past their dwell and left where they are
    EVENTS_DEAD_LETTERED = "EventsDeadLettered"
    TIME_IN_QUEUE_SECONDS = "TimeInQueueSeconds"
    FALLBACKS_CAPACITY = "Fallbacks.capacity"
    RETRIES_RETRY = "Retries.retry"
    RETRIES_SPOT_FALLBACK = "Retries.spot-fallback"
    RETRIES_CAPACITY_FALLBACK = "Retries.capacity-fallback"
    RETRIES_MEMORY_ESCALATION = "Retries.memory-escalation"
    RETRIES_FAILED_CHILDREN = "Retries.failed-children"
    FAILURES_SPOT_RECLAIM = "Failures.spot-reclaim"
    FAILURES_HOST_FAILURE = "Failures.host-failure"
    FAILURES_OOM = "Failures.oom"
    FAILURES_IMAGE_PULL = "Failures.image-pull"
    FAILURES_MISCONFIGURATION = "Failures.misconfiguration"
    FAILURES_TIMEOUT = "Failures.timeout"
    FAILURES_APP_ERROR = "Failures.app-error"
    FAILURES_UNSCHEDULABLE = "Failures.unschedulable"
    FAILURES_CANCELLED = "Failures.cancelled"
    FAILURES_DEPENDENCY = "Failures.dependency"
    FAILURES_UNKNOWN = "Failures.unknown"
    COST_ESTIMATED = "CostEstimated"  # per ended attempt: its estimated cost (the price table's currency)
    COST_WASTED = "CostWasted"  # ... of which wasted (reclaimed, host failure, OOM, timeout)
    COST_ROLLUP_LOST = "CostRollupLost"  # the rollup write failed: GET /costs misses that attempt
    PRICES_REFRESHED = "PricesRefreshed"  # the sweeper stored a day's prices fetched from AWS
    PRICE_REFRESH_FAILED = "PriceRefreshFailed"  # ... could not: attempts are priced on the last table
    SUBMIT_JOB_THROTTLED = "SubmitJobThrottled"  # AWS Batch answered SubmitJob TooManyRequestsException


FAILURE_METRICS: dict[FailureClass, Metric] = {
    FailureClass.SPOT_RECLAIM: Metric.FAILURES_SPOT_RECLAIM,
    FailureClass.HOST_FAILURE: Metric.FAILURES_HOST_FAILURE,
    FailureClass.OOM: Metric.FAILURES_OOM,
    FailureClass.IMAGE_PULL: Metric.FAILURES_IMAGE_PULL,
    FailureClass.MISCONFIGURATION: Metric.FAILURES_MISCONFIGURATION,
    FailureClass.TIMEOUT: Metric.FAILURES_TIMEOUT,
    FailureClass.APP_ERROR: Metric.FAILURES_APP_ERROR,
    FailureClass.UNSCHEDULABLE: Metric.FAILURES_UNSCHEDULABLE,
    FailureClass.CANCELLED: Metric.FAILURES_CANCELLED,
    FailureClass.DEPENDENCY: Metric.FAILURES_DEPENDENCY,
    FailureClass.UNKNOWN: Metric.FAILURES_UNKNOWN,
}
RETRY_METRICS: dict[AttemptReason, Metric] = {
    AttemptReason.RETRY: Metric.RETRIES_RETRY,
    AttemptReason.SPOT_FALLBACK: Metric.RETRIES_SPOT_FALLBACK,
    AttemptReason.CAPACITY_FALLBACK: Metric.RETRIES_CAPACITY_FALLBACK,
    AttemptReason.MEMORY_ESCALATION: Metric.RETRIES_MEMORY_ESCALATION,
}
