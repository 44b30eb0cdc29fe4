"""Why an attempt did not succeed: a pure classifier from AWS Batch's own strings to a `FailureClass`.

Every string matched here is AWS's, quoted from the page named beside it; a class is chosen by ordered rules
(`classify`), the first match wins. The inputs are the fields AWS Batch reports on a job (statusReason, the last
attempt's container reason and exit code) plus two facts only batchplane knows: the capacity type of the queue the
attempt ran on, and whether a cancel was asked for through our API.

Sources (AWS documentation unless marked otherwise):
  [EVENTS]   https://docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html
  [STUCK]    https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable.html
  [CAPACITY] https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_capacity.html
  [MISCONF]  https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_misconfiguration.html
  [INVALID]  https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_invalid_ce.html
  [RETRIES]  https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html
  [TIMEOUTS] https://docs.aws.amazon.com/batch/latest/userguide/job_timeouts.html
  [DEPS]     https://docs.aws.amazon.com/batch/latest/userguide/job_dependencies.html
  [ARRAY]    https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html (children "<parentId>:<index>")
  [LISTJOBS] https://docs.aws.amazon.com/batch/latest/APIReference/API_ListJobs.html (arrayJobId, jobStatus) and
             API_JobSummary.html (statusReason, container.exitCode/reason, arrayProperties.index)
  [TERMINATE] https://docs.aws.amazon.com/batch/latest/APIReference/API_TerminateJob.html (and API_CancelJob.html)
  [CDK]      https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_batch.Reason.html
             (Reason.SPOT_INSTANCE_RECLAIMED = onStatusReason "Host EC2*")
  [ECS-STOP] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html
  [ECS-OOM]  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/out-of-memory.html
  [ECS-PULL] https://repost.aws/knowledge-center/ecs-fargate-pull-container-error ("cannotpullcontainererror"); the
             agent's full text, e.g. "CannotPullContainerError: pull image manifest has been retried 5 time(s): …",
             is quoted in user reports (ActionIQ/terraform-aws-retool-ecs-fargate#20)
  [ECS-START] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cannot-start-container.html
  [ECS-INSPECT] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cannot-inspect-container.html
  [ECS-FSPOT] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html
             ("Handling Fargate Spot termination notices": "stoppedReason": "Your Spot Task was interrupted.",
             "stopCode": "TerminationNotice")
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from batchplane.domain.events import JobDetail

CapacityType = Literal["spot", "on-demand"]
_CAPACITY_TYPES: dict[str, CapacityType] = {"spot": "spot", "on-demand": "on-demand"}
Platform = Literal["EC2", "FARGATE"]
BlockedKind = Literal["CAPACITY", "MISCONFIGURATION", "ACTION_REQUIRED", "UNDETERMINED"]
_BLOCKED_KINDS: dict[str, BlockedKind] = {
    "CAPACITY": "CAPACITY",
    "MISCONFIGURATION": "MISCONFIGURATION",
    "ACTION_REQUIRED": "ACTION_REQUIRED",
    "UNDETERMINED": "UNDETERMINED",
}


def capacity_type(capacity: str) -> CapacityType:
    """The policies' name for a capacity (a `Capacity` of a record, or its value); KeyError for anything else."""
    return _CAPACITY_TYPES[capacity]


# --- AWS strings ------------------------------------------------------------------------------------------------
# [CDK] Reason.SPOT_INSTANCE_RECLAIMED matches onStatusReason "Host EC2*"; the full statusReason reads
# "Host EC2 (instance i-0123456789abcdef0) terminated." ([RETRIES] blog "Introducing retry strategies for AWS Batch",
# https://aws.amazon.com/blogs/compute/introducing-retry-strategies-for-aws-batch/). ECS also reports
# "Host EC2 (instance i-…) stopped." for a stopped host. Which of the two it is tells nothing about Spot: only the
# capacity type of the queue does, so the same text is a Spot reclaim on Spot and a host failure on On-Demand.
HOST_EC2_PREFIX = "Host EC2"
# [ECS-FSPOT] Fargate Spot interruption.
FARGATE_SPOT_INTERRUPTED = "Your Spot Task was interrupted."
# [ECS-OOM] "OutOfMemoryError: Container killed due to memory usage" (container reason, exit code 137).
OUT_OF_MEMORY = "OutOfMemoryError"
# [EVENTS]/[ECS-STOP] the reason for an essential container that exited by itself.
ESSENTIAL_CONTAINER_EXITED = "Essential container in task exited"
# [TIMEOUTS] Batch terminates the attempt (SIGTERM, then SIGKILL after 30 s, so exit 137 is common); the job's
# statusReason is "Job attempt duration exceeded timeout".
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
# [ECS-PULL] "CannotPullContainerError: pull image manifest has been retried 5 time(s): …" and other pull errors.
CANNOT_PULL = "CannotPullContainerError"
# [ECS-STOP] task resources (ENI, secrets, registry auth, log driver) could not be set up: a configuration problem.
RESOURCE_INITIALIZATION = "ResourceInitializationError"
# [ECS-START] the container could not be started (entrypoint, mounts, user, …).
CANNOT_START = "CannotStartContainerError"
# [ECS-STOP] host-side container runtime trouble; [ECS-INSPECT] "CannotInspectContainerError: Could not transition to
# inspecting"; DockerTimeoutError / CannotCreateContainerError come from the Docker daemon of the host.
HOST_RUNTIME_ERRORS = ("CannotInspectContainerError", "DockerTimeoutError", "CannotCreateContainerError")
# [RETRIES] AWS's own evaluateOnExit example retries onStatusReason "Task failed to start".
TASK_FAILED_TO_START = "Task failed to start"
# [DEPS] "If any of the job dependencies fail, the dependent job automatically transitions from PENDING to FAILED."
# The statusReason Batch sets then is "Dependent Job failed" (observed in AWS users' code; the page does not quote
# it), so it is matched case-insensitively on its start.
DEPENDENT_JOB_FAILED = "dependent job failed"
# [ARRAY] an array parent "can enter a SUBMITTED, PENDING, FAILED, or SUCCEEDED status" and has no container of its
# own: when a child failed, the parent's FAILED event carries no exit code, only statusReason "Array Child Job failed"
# (observed in AWS users' handlers of Batch events, which skip it as the parent's echo of a child's failure; the page
# does not quote it). Why the array failed is its children's: see `classify_array`.
ARRAY_CHILD_FAILED = "Array Child Job failed"
# [CAPACITY]/[MISCONF]: "statusReason message after the job is canceled by jobStateTimeLimitActions".
JOB_STATE_TIME_LIMIT = "Canceled by JobStateTimeLimit action due to reason: "
# batchplane's own CancelJob/TerminateJob calls pass reasons starting with this; [TERMINATE] says the reason "is
# returned by future DescribeJobs operations on the job", i.e. it becomes the statusReason.
BATCHPLANE_REASON_PREFIX = "batchplane:"
# The sweeper fails fast a job that cannot be placed (decide_stuck_runnable): TerminateJob with this reason, then AWS's.
CANNOT_BE_PLACED = "cannot be placed: "
FAILED_FAST_PREFIX = f"{BATCHPLANE_REASON_PREFIX} {CANNOT_BE_PLACED}"

# [STUCK] blocked-queue reasons: "<KIND>:<CODE> - <message>" or "<KIND> - <message>".
#   CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type […]
#   MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the CPU
#       requirement of the job.
#   MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that
#       can be met by the CE(s) attached to the job queue.
#   MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED - Your compute environment associated with this job queue
#       has an unsupported instance type configuration.
#   MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS - Batch service role has a permission issue.  (AWS writes an en dash)
#   ACTION_REQUIRED - CE(s) associated with the job queue are invalid.                    ([INVALID])
#   UNDETERMINED - Batch job is blocked, root cause is undetermined.
_BLOCKED_RE = re.compile(
    r"^\s*(?P<kind>CAPACITY|MISCONFIGURATION|ACTION_REQUIRED|UNDETERMINED)"
    r"(?::(?P<code>[A-Z0-9_]+))?\s*(?:[-\u2013\u2014]\s*(?P<message>.*))?$",
    re.DOTALL,
)

# The maxvCpus of a compute environment is its own: an On-Demand queue whose CE is sized differently may hold a job
# that the Spot CE's maxvCpus cannot ([MISCONF] "Compute environment maximum resource too small").
_FIXABLE_ON_DEMAND = frozenset({"COMPUTE_ENVIRONMENT_MAX_RESOURCE"})


class FailureClass(StrEnum):
    """Why an attempt did not succeed, in the terms that decide what to do next."""

    SPOT_RECLAIM = "spot-reclaim"  # EC2 reclaimed the Spot host / Fargate Spot interrupted the task
    HOST_FAILURE = "host-failure"  # the host or its container runtime failed (not the job's fault)
    OOM = "oom"  # the container was killed for exceeding its memory
    IMAGE_PULL = "image-pull"  # the image could not be pulled
    MISCONFIGURATION = "misconfiguration"  # the job or the environment cannot work as configured
    TIMEOUT = "timeout"  # Batch stopped the attempt at its attemptDurationSeconds
    APP_ERROR = "app-error"  # the container exited non-zero by itself
    UNSCHEDULABLE = "unschedulable"  # the job cannot be placed (capacity or configuration), see decide_stuck_runnable
    CANCELLED = "cancelled"  # stopped on purpose (our API, or a cancel the caller knows about)
    DEPENDENCY = "dependency"  # a job it depends on failed
    UNKNOWN = "unknown"  # none of the above; the reason is kept for a human


@dataclass(frozen=True, slots=True)
class FailureSignal:
    """What AWS Batch reported about the attempt, plus the two facts only batchplane knows."""

    status: str  # Batch job status (FAILED, RUNNABLE, …)
    status_reason: str | None  # the job's statusReason
    container_reason: str | None  # the last attempt's container.reason
    exit_code: int | None  # the last attempt's container.exitCode
    capacity: CapacityType  # capacity type of the queue the attempt ran on
    platform: Platform = "EC2"
    cancelled_by_user: bool = False  # a cancel was asked for through batchplane's API


@dataclass(frozen=True, slots=True)
class BlockedReason:
    """A RUNNABLE job's blocked-queue reason, parsed ([STUCK])."""

    kind: BlockedKind
    code: str | None  # e.g. INSUFFICIENT_INSTANCE_CAPACITY, JOB_RESOURCE_REQUIREMENT
    message: str | None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.code}" if self.code else self.kind


def parse_blocked_reason(status_reason: str | None) -> BlockedReason | None:
    """The blocked-queue reason in ``status_reason``, or None when it is not one of AWS's blocked reasons."""
    if not status_reason:
        return None
    match = _BLOCKED_RE.match(status_reason)
    if match is None:
        return None
    kind = _BLOCKED_KINDS[match["kind"]]
    code: str | None = match["code"]
    if kind in ("CAPACITY", "MISCONFIGURATION") and code is None:
        return None  # AWS always names the code for these two kinds
    message = (match["message"] or "").strip() or None
    return BlockedReason(kind=kind, code=code, message=message)


def is_misconfiguration_fixable_on_demand(status_reason: str | None) -> bool:
    """True when the reason is a MISCONFIGURATION that a different (On-Demand) queue's compute environments may not
    have: only COMPUTE_ENVIRONMENT_MAX_RESOURCE (maxvCpus is per CE). JOB_RESOURCE_REQUIREMENT, SERVICE_ROLE_PERMISSIONS
    and EC2_INSTANCE_CONFIGURATION_UNSUPPORTED are the job's or the account's, and moving the job does not fix them."""
    blocked = parse_blocked_reason(status_reason)
    return blocked is not None and blocked.kind == "MISCONFIGURATION" and blocked.code in _FIXABLE_ON_DEMAND


def _has(text: str, needle: str) -> bool:
    return needle.casefold() in text.casefold()


def classify(signal: FailureSignal) -> FailureClass:
    """The class of an attempt's failure (or of a RUNNABLE job's blocked reason). Rules, first match wins:

    0. MISCONFIGURATION: a statusReason starting "batchplane: cannot be placed: " (the sweeper failed it fast, AWS
       having said it cannot be placed as configured: a misconfiguration, not a cancel).
    1. CANCELLED: ``cancelled_by_user``, or a statusReason starting "batchplane:" (our own CancelJob/TerminateJob).
    2. "Canceled by JobStateTimeLimit action due to reason: X" (Batch gave up placing it): MISCONFIGURATION when X is a
       MISCONFIGURATION reason, else UNSCHEDULABLE.
    3. A blocked-queue reason (CAPACITY:/MISCONFIGURATION:/ACTION_REQUIRED/UNDETERMINED): UNSCHEDULABLE.
    4. DEPENDENCY: "Dependent Job failed".
    5. TIMEOUT: "Job attempt duration exceeded timeout" — before OOM, because the timeout's SIGKILL exits 137.
    6. "Host EC2 (instance …) …": SPOT_RECLAIM on Spot capacity, HOST_FAILURE on On-Demand.
       "Your Spot Task was interrupted." (Fargate Spot): SPOT_RECLAIM — the text itself says Spot. Both come before
       the exit-code rules, since reclaimed tasks may report 137/143.
    7. OOM: "OutOfMemoryError" in the container reason or the statusReason, whatever the exit code.
    8. IMAGE_PULL: "CannotPullContainerError".
    9. MISCONFIGURATION: "ResourceInitializationError", "CannotStartContainerError".
    10. HOST_FAILURE: "CannotInspectContainerError", "DockerTimeoutError", "CannotCreateContainerError", then
        "Task failed to start" (after 7-9, since a pull or init error often carries that generic statusReason).
    11. APP_ERROR: a non-zero exit code, with no statusReason or "Essential container in task exited".
        A bare exit 137 (SIGKILL) without "OutOfMemoryError" is an APP_ERROR, not OOM: memory is escalated only on
        AWS's evidence of OOM, because escalation doubles what every later attempt costs; a timeout's SIGKILL was
        caught by rule 5. Users who know better can list 137 in retryExitCodes / neverRetryExitCodes.
    12. UNKNOWN: anything else — including a non-zero exit under a statusReason AWS does not use for an app exit,
        which is what a TerminateJob/CancelJob by someone else looks like ([TERMINATE]: the caller's free text becomes
        the statusReason); such an attempt is not retried blindly.
    """
    status_reason = signal.status_reason or ""
    container_reason = signal.container_reason or ""
    both = f"{status_reason}\n{container_reason}"

    # 0. the sweeper failed it fast: AWS said it cannot be placed as configured
    if status_reason.startswith(FAILED_FAST_PREFIX):
        return FailureClass.MISCONFIGURATION
    # 1. our own cancel / terminate, or one the caller knows about
    if signal.cancelled_by_user or status_reason.startswith(BATCHPLANE_REASON_PREFIX):
        return FailureClass.CANCELLED
    # 2. Batch's jobStateTimeLimitActions cancelled a job it could not place
    if status_reason.startswith(JOB_STATE_TIME_LIMIT):
        limited = parse_blocked_reason(status_reason[len(JOB_STATE_TIME_LIMIT) :])
        if limited is not None and limited.kind == "MISCONFIGURATION":
            return FailureClass.MISCONFIGURATION
        return FailureClass.UNSCHEDULABLE
    # 3. blocked in RUNNABLE
    if parse_blocked_reason(status_reason) is not None:
        return FailureClass.UNSCHEDULABLE
    # 4. an upstream job failed
    if status_reason.casefold().startswith(DEPENDENT_JOB_FAILED):
        return FailureClass.DEPENDENCY
    # 5. our timeout (before OOM: the SIGKILL exits 137)
    if _has(status_reason, TIMEOUT_REASON):
        return FailureClass.TIMEOUT
    # 6. the host went away
    if status_reason.startswith(HOST_EC2_PREFIX) or container_reason.startswith(HOST_EC2_PREFIX):
        return FailureClass.SPOT_RECLAIM if signal.capacity == "spot" else FailureClass.HOST_FAILURE
    if _has(both, FARGATE_SPOT_INTERRUPTED.rstrip(".")):
        return FailureClass.SPOT_RECLAIM
    # 7. out of memory
    if OUT_OF_MEMORY in both:
        return FailureClass.OOM
    # 8. image
    if CANNOT_PULL in both:
        return FailureClass.IMAGE_PULL
    # 9. task or container configuration
    if RESOURCE_INITIALIZATION in both or CANNOT_START in both:
        return FailureClass.MISCONFIGURATION
    # 10. host-side runtime trouble
    if any(err in both for err in HOST_RUNTIME_ERRORS) or _has(status_reason, TASK_FAILED_TO_START):
        return FailureClass.HOST_FAILURE
    # 11. the container exited non-zero by itself
    if signal.exit_code not in (None, 0) and (
        not status_reason or status_reason.startswith(ESSENTIAL_CONTAINER_EXITED)
    ):
        return FailureClass.APP_ERROR
    # 12.
    return FailureClass.UNKNOWN


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def signal_from_detail(
    detail: JobDetail,
    capacity: CapacityType,
    *,
    cancelled_by_user: bool = False,
) -> FailureSignal:
    """A `FailureSignal` from the parsed ``detail`` of a "Batch Job State Change" (or "Batch Job Queue Blocked")
    event, or of DescribeJobs.

    statusReason is the job's, falling back to the last attempt's; container reason and exit code are the last
    attempt's ``container``, falling back to the job's ``container`` (a job that never produced an attempt).
    The platform is FARGATE when ``platformCapabilities`` says so. Ill-typed fields were dropped by the parse."""
    last = detail.last_attempt
    attempt_container = last.container if last is not None else None
    job_container = detail.container
    status_reason = _text(detail.status_reason) or (last.status_reason if last is not None else None)
    container_reason = (attempt_container.reason if attempt_container else None) or (
        job_container.reason if job_container else None
    )
    exit_code = attempt_container.exit_code if attempt_container else None
    if exit_code is None and job_container is not None:
        exit_code = job_container.exit_code
    platform: Platform = "FARGATE" if "FARGATE" in detail.platform_capabilities else "EC2"
    return FailureSignal(
        status=detail.status.value,
        status_reason=status_reason,
        container_reason=container_reason,
        exit_code=exit_code,
        capacity=capacity,
        platform=platform,
        cancelled_by_user=cancelled_by_user,
    )


# --- array jobs -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChildFailure:
    """One failed child of an array attempt, as ListJobs reports it ([LISTJOBS] JobSummary), classified."""

    index: int
    failure_class: FailureClass
    exit_code: int | None
    reason: str | None  # the child's container reason, else its statusReason

    @property
    def why(self) -> str:
        what = f"exited {self.exit_code}" if self.exit_code not in (None, 0) else f"failed ({self.failure_class.value})"
        return what + (f": {self.reason}" if self.reason else "")


def _describe(children: list[ChildFailure], size: int | None) -> str:
    """Children that failed the same way, in one phrase: "children 0, 2 of 3 exited 1: <reason>"."""
    of = f" of {size}" if size else ""
    shown = ", ".join(str(c.index) for c in children[:_INDEXES_SHOWN])
    if len(children) > _INDEXES_SHOWN:
        shown += f" and {len(children) - _INDEXES_SHOWN} more"
    noun = "child" if len(children) == 1 else "children"
    return f"{noun} {shown}{of} {children[0].why}"


@dataclass(frozen=True, slots=True)
class ArrayFailure:
    """Why an array attempt failed, from its children: the class that decides, the exit codes of the children of
    that class (for retryExitCodes / neverRetryExitCodes), and a sentence naming which children failed and why."""

    failure_class: FailureClass
    exit_codes: tuple[int, ...]
    description: str


# Which child's class speaks for the array (`classify_array` rule 3), first wins. A retry re-runs the whole array, so
# the question is what the next run will meet: a cause that will not go away by itself (cancel, misconfiguration,
# image, a reason nobody recognises) outranks the job's own failures, which outrank the infrastructure's (a reclaimed
# Spot host says nothing about the child whose code failed). Among the job's own, OOM comes first: more memory is the
# one change that helps it, and memory is the whole array's. DEPENDENCY comes last: in a SEQUENTIAL array the children
# after a failed one fail "Dependent Job failed" [DEPS] as its consequence, not as a cause of their own.
ARRAY_PRECEDENCE: tuple[FailureClass, ...] = (
    FailureClass.CANCELLED,
    FailureClass.MISCONFIGURATION,
    FailureClass.IMAGE_PULL,
    FailureClass.UNKNOWN,
    FailureClass.OOM,
    FailureClass.TIMEOUT,
    FailureClass.APP_ERROR,
    FailureClass.UNSCHEDULABLE,
    FailureClass.HOST_FAILURE,
    FailureClass.SPOT_RECLAIM,
    FailureClass.DEPENDENCY,
)
_DESCRIBED = 3  # ways of failing named in the description; the rest are counted
_INDEXES_SHOWN = 5  # indexes named per way of failing


def child_failures(summaries: Sequence[Mapping[str, Any]], capacity: CapacityType) -> list[ChildFailure]:
    """The failed children among ListJobs summaries ([LISTJOBS]: ``arrayProperties.index``, ``statusReason``,
    ``container.exitCode`` / ``container.reason``), each classified by `classify` as if it were a job of its own,
    in index order. A summary without an index (its id "<parent>:<index>" gives it) or not FAILED is skipped."""
    out: list[ChildFailure] = []
    for summary in summaries:
        if summary.get("status") not in (None, "FAILED"):
            continue
        index = _int(_mapping(summary.get("arrayProperties")).get("index"))
        tail = str(summary.get("jobId") or "").rpartition(":")[2]
        if index is None and tail.isdigit():
            index = int(tail)
        if index is None:
            continue
        container = _mapping(summary.get("container"))
        signal = FailureSignal(
            status="FAILED",
            status_reason=_text(summary.get("statusReason")),
            container_reason=_text(container.get("reason")),
            exit_code=_int(container.get("exitCode")),
            capacity=capacity,
        )
        out.append(
            ChildFailure(index, classify(signal), signal.exit_code, signal.container_reason or signal.status_reason)
        )
    return sorted(out, key=lambda c: c.index)


def classify_array(
    parent: FailureClass, children: list[ChildFailure], *, size: int | None, failed: int | None = None
) -> ArrayFailure:
    """Why an array attempt failed. ``parent`` is `classify` of the parent's own event, ``children`` its failed
    children (`child_failures`), ``size`` the array's size and ``failed`` how many children the parent's
    statusSummary counts FAILED (may exceed ``len(children)``: one ListJobs page). Rules, first match wins:

    1. The parent's own reason, when `classify` recognises it (anything but UNKNOWN: our cancel or fail-fast,
       "Dependent Job failed", a jobStateTimeLimitActions cancel): it is about the whole array (no description:
       the parent's reason says it all).
    2. No failed child is known (the parent said only "Array Child Job failed" [ARRAY] and ListJobs returned none of
       them): UNKNOWN, as for any reason batchplane cannot read; it is not retried blindly.
    3. The failed children's classes, by `ARRAY_PRECEDENCE`: the first class present decides; its children's exit
       codes go with it. The description names how many failed and up to three ways they failed (that class's
       first; children that failed alike are named together): "child 1 of 3 exited 1: Essential container in task
       exited", "2 of 4 children failed: children 0, 3 of 4 exited 1: …"
    """
    count = max(failed or 0, len(children))
    if parent is not FailureClass.UNKNOWN:
        return ArrayFailure(parent, (), "")  # the parent's own reason says it all
    if not children:
        return ArrayFailure(FailureClass.UNKNOWN, (), "its failed children could not be listed")
    present = {c.failure_class for c in children}
    deciding = next(cls for cls in ARRAY_PRECEDENCE if cls in present)
    groups: dict[tuple[FailureClass, int | None, str | None], list[ChildFailure]] = {}
    for c in sorted(children, key=lambda c: (c.failure_class is not deciding, c.index)):
        groups.setdefault((c.failure_class, c.exit_code, c.reason), []).append(c)
    named = list(groups.values())[:_DESCRIBED]
    text = "; ".join(_describe(group, size) for group in named)
    more = count - sum(len(group) for group in named)
    total = f"{count} of {size} children failed" if size else f"{count} children failed"
    description = text if count == 1 else f"{total}: {text}" + (f"; {more} more failed otherwise" if more > 0 else "")
    codes = tuple(sorted({c.exit_code for c in children if c.failure_class is deciding and c.exit_code is not None}))
    return ArrayFailure(deciding, codes, description)
