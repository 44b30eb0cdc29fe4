"""The failure classifier against AWS's own strings (sources are cited in batchplane.domain.failures)."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane.domain.events import JobDetail
from batchplane.domain.failures import (
    ARRAY_CHILD_FAILED,
    CapacityType,
    FailureClass,
    FailureSignal,
    child_failures,
    classify,
    classify_array,
    is_misconfiguration_fixable_on_demand,
    parse_blocked_reason,
    signal_from_detail,
)

from tests.eventdata import load_event

pytestmark = pytest.mark.unit


def parsed(detail: dict[str, Any]) -> JobDetail:
    """A detail as the edge parses it (the fields that name the job filled in when a test leaves them out)."""
    named = {"jobArn": "arn:aws:batch:::job/x", "jobName": "x", "jobId": "x", "jobQueue": "q", "status": "FAILED"}
    return JobDetail.model_validate(named | detail)


ESSENTIAL = "Essential container in task exited"
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
HOST_TERMINATED = "Host EC2 (instance i-0123456789abcdef0) terminated."
CAPACITY = (
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type m5.large"
)
JOB_RESOURCE = (
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that "
    "can be met by the CE(s) attached to the job queue."
)
CE_MAX = (
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the CPU "
    "requirement of the job."
)
SERVICE_ROLE = "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS \u2013 Batch service role has a permission issue."
UNSUPPORTED = (
    "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED - Your compute environment associated with this job "
    "queue has an unsupported instance type configuration."
)
INVALID_CE = "ACTION_REQUIRED - CE(s) associated with the job queue are invalid."
UNDETERMINED = "UNDETERMINED - Batch job is blocked, root cause is undetermined."
PULL = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/batchplane/worker:1.4.2: not found"
)


def signal(
    status: str = "FAILED",
    status_reason: str | None = None,
    container_reason: str | None = None,
    exit_code: int | None = None,
    capacity: CapacityType = "spot",
    *,
    cancelled_by_user: bool = False,
) -> FailureSignal:
    return FailureSignal(
        status=status,
        status_reason=status_reason,
        container_reason=container_reason,
        exit_code=exit_code,
        capacity=capacity,
        cancelled_by_user=cancelled_by_user,
    )


CASES = [
    # (id, signal, expected)
    ("spot-host-terminated", signal(status_reason=HOST_TERMINATED), FailureClass.SPOT_RECLAIM),
    (
        "spot-host-terminated-exit-143",
        signal(status_reason=HOST_TERMINATED, exit_code=143),
        FailureClass.SPOT_RECLAIM,
    ),
    (
        "on-demand-host-terminated",
        signal(status_reason=HOST_TERMINATED, capacity="on-demand"),
        FailureClass.HOST_FAILURE,
    ),
    (
        "on-demand-host-stopped",
        signal(status_reason="Host EC2 (instance i-06aab15feb4568492) stopped.", capacity="on-demand"),
        FailureClass.HOST_FAILURE,
    ),
    (
        "fargate-spot-interrupted-exit-137",
        signal(status_reason="Your Spot Task was interrupted.", exit_code=137),
        FailureClass.SPOT_RECLAIM,
    ),
    ("oom-exit-137", signal(status_reason=ESSENTIAL, container_reason=OOM_REASON, exit_code=137), FailureClass.OOM),
    ("oom-in-status-reason", signal(status_reason=OOM_REASON, exit_code=137), FailureClass.OOM),
    ("bare-exit-137-is-app-error", signal(status_reason=ESSENTIAL, exit_code=137), FailureClass.APP_ERROR),
    (
        "timeout-sigkill-137",
        signal(status_reason="Job attempt duration exceeded timeout", exit_code=137),
        FailureClass.TIMEOUT,
    ),
    ("timeout-no-exit-code", signal(status_reason="Job attempt duration exceeded timeout"), FailureClass.TIMEOUT),
    ("app-exit-3", signal(status_reason=ESSENTIAL, exit_code=3), FailureClass.APP_ERROR),
    ("app-exit-1-no-reason", signal(exit_code=1), FailureClass.APP_ERROR),
    (
        "image-pull-task-failed-to-start",
        signal(status_reason="Task failed to start", container_reason=PULL),
        FailureClass.IMAGE_PULL,
    ),
    ("image-pull-status-reason", signal(status_reason=PULL), FailureClass.IMAGE_PULL),
    (
        "resource-initialization",
        signal(
            status_reason="Task failed to start",
            container_reason="ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
            "retrieval failed",
        ),
        FailureClass.MISCONFIGURATION,
    ),
    (
        "cannot-start-container",
        signal(container_reason='CannotStartContainerError: Error response from daemon: exec: "run.sh": not found'),
        FailureClass.MISCONFIGURATION,
    ),
    (
        "cannot-inspect-container",
        signal(container_reason="CannotInspectContainerError: Could not transition to inspecting; timed out"),
        FailureClass.HOST_FAILURE,
    ),
    (
        "docker-timeout",
        signal(container_reason="DockerTimeoutError: Could not transition to created"),
        FailureClass.HOST_FAILURE,
    ),
    (
        "cannot-create-container",
        signal(container_reason="CannotCreateContainerError: Error response from daemon: no space left on device"),
        FailureClass.HOST_FAILURE,
    ),
    ("task-failed-to-start-alone", signal(status_reason="Task failed to start"), FailureClass.HOST_FAILURE),
    ("dependent-job-failed", signal(status="FAILED", status_reason="Dependent Job failed"), FailureClass.DEPENDENCY),
    ("runnable-capacity", signal(status="RUNNABLE", status_reason=CAPACITY), FailureClass.UNSCHEDULABLE),
    ("runnable-job-resource", signal(status="RUNNABLE", status_reason=JOB_RESOURCE), FailureClass.UNSCHEDULABLE),
    ("runnable-ce-max", signal(status="RUNNABLE", status_reason=CE_MAX), FailureClass.UNSCHEDULABLE),
    ("runnable-service-role", signal(status="RUNNABLE", status_reason=SERVICE_ROLE), FailureClass.UNSCHEDULABLE),
    ("runnable-invalid-ce", signal(status="RUNNABLE", status_reason=INVALID_CE), FailureClass.UNSCHEDULABLE),
    ("runnable-undetermined", signal(status="RUNNABLE", status_reason=UNDETERMINED), FailureClass.UNSCHEDULABLE),
    (
        "state-time-limit-capacity",
        signal(
            status_reason="Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
        ),
        FailureClass.UNSCHEDULABLE,
    ),
    (
        "state-time-limit-misconfiguration",
        signal(
            status_reason=(
                "Canceled by JobStateTimeLimit action due to reason: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"
            )
        ),
        FailureClass.MISCONFIGURATION,
    ),
    (
        "batchplane-cancel",
        signal(status_reason="batchplane: cancelled by tenant-a (DELETE /jobs/01JDEM00000000000000000000)"),
        FailureClass.CANCELLED,
    ),
    (
        "batchplane-terminate-while-running",
        signal(status_reason="batchplane: terminated by tenant-a", exit_code=143),
        FailureClass.CANCELLED,
    ),
    (
        "cancelled-by-user-flag-wins",
        signal(status_reason=ESSENTIAL, exit_code=143, cancelled_by_user=True),
        FailureClass.CANCELLED,
    ),
    (
        "foreign-terminate-reason",
        signal(status_reason="Terminated by ops: bad input", exit_code=143),
        FailureClass.UNKNOWN,
    ),
    ("exit-0-failed", signal(status_reason=ESSENTIAL, exit_code=0), FailureClass.UNKNOWN),
    ("nothing-at-all", signal(), FailureClass.UNKNOWN),
    ("runnable-without-reason", signal(status="RUNNABLE"), FailureClass.UNKNOWN),
]


@pytest.mark.parametrize(("sig", "expected"), [pytest.param(s, e, id=i) for i, s, e in CASES])
def test_classify_aws_strings(sig: FailureSignal, expected: FailureClass) -> None:
    # GIVEN what AWS Batch reported about an attempt
    # WHEN it is classified
    got = classify(sig)
    # THEN the class is the one its documented meaning calls for
    assert got is expected


EVENT_CASES = [
    ("batch-job-state-change-failed-app-error", "spot", FailureClass.APP_ERROR),
    ("batch-job-state-change-failed-oom", "spot", FailureClass.OOM),
    ("batch-job-state-change-failed-spot-reclaim", "spot", FailureClass.SPOT_RECLAIM),
    ("batch-job-state-change-failed-spot-reclaim", "on-demand", FailureClass.HOST_FAILURE),
    ("batch-job-state-change-failed-timeout", "spot", FailureClass.TIMEOUT),
    ("batch-job-state-change-failed-image-pull", "spot", FailureClass.IMAGE_PULL),
    ("batch-job-state-change-cancelled", "spot", FailureClass.CANCELLED),
    ("batch-job-state-change-runnable-capacity", "spot", FailureClass.UNSCHEDULABLE),
    ("batch-job-queue-blocked", "spot", FailureClass.UNSCHEDULABLE),
]


@pytest.mark.parametrize(
    ("name", "capacity", "expected"), [pytest.param(n, c, e, id=f"{n}-{c}") for n, c, e in EVENT_CASES]
)
def test_classify_sample_events(name: str, capacity: CapacityType, expected: FailureClass) -> None:
    # GIVEN a sample EventBridge event and the capacity of the queue it ran on
    detail = load_event(name)["detail"]
    # WHEN its detail becomes a signal and is classified
    got = classify(signal_from_detail(parsed(detail), capacity))
    # THEN the class matches the scenario the file stands for
    assert got is expected


def test_signal_from_detail_reads_the_last_attempt() -> None:
    # GIVEN the OOM sample event
    detail = load_event("batch-job-state-change-failed-oom")["detail"]
    # WHEN it is read
    sig = signal_from_detail(parsed(detail), "spot")
    # THEN the fields come from the last attempt's container
    assert sig.status == "FAILED"
    assert sig.status_reason == ESSENTIAL
    assert sig.container_reason == OOM_REASON
    assert sig.exit_code == 137
    assert sig.platform == "EC2"


def test_signal_from_detail_falls_back_to_job_level_fields() -> None:
    # GIVEN a detail with no attempts and no job statusReason but a job container reason and exit code
    detail = {
        "status": "FAILED",
        "attempts": [],
        "container": {"reason": PULL, "exitCode": 1},
        "platformCapabilities": ["FARGATE"],
    }
    # WHEN it is read
    sig = signal_from_detail(parsed(detail), "on-demand", cancelled_by_user=True)
    # THEN the job-level container fields are used, and platform and cancel flag are carried
    assert (sig.container_reason, sig.exit_code, sig.platform, sig.cancelled_by_user) == (PULL, 1, "FARGATE", True)


def test_signal_from_detail_uses_the_attempt_status_reason_when_the_job_has_none() -> None:
    # GIVEN a detail whose job statusReason is missing but whose last attempt has one
    detail = {"status": "FAILED", "attempts": [{"statusReason": "first"}, {"statusReason": HOST_TERMINATED}]}
    # WHEN it is read
    sig = signal_from_detail(parsed(detail), "spot")
    # THEN the last attempt's statusReason is taken
    assert sig.status_reason == HOST_TERMINATED


def test_signal_from_detail_ignores_ill_typed_fields() -> None:
    # GIVEN a detail with the wrong types where strings and ints are expected (in fields the edge does not check)
    detail = {"attempts": [{"container": "x", "statusReason": 7}], "container": {"exitCode": True, "reason": 5}}
    # WHEN it is read
    sig = signal_from_detail(parsed(detail), "spot")
    # THEN nothing is invented
    assert (sig.status, sig.status_reason, sig.container_reason, sig.exit_code) == ("FAILED", None, None, None)


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        pytest.param(CAPACITY, "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", id="capacity"),
        pytest.param(JOB_RESOURCE, "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT", id="job-resource"),
        pytest.param(SERVICE_ROLE, "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS", id="service-role-en-dash"),
        pytest.param(INVALID_CE, "ACTION_REQUIRED", id="invalid-ce"),
        pytest.param(UNDETERMINED, "UNDETERMINED", id="undetermined"),
        pytest.param("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", id="bare"),
        pytest.param(None, None, id="none"),
        pytest.param("", None, id="empty"),
        pytest.param("CAPACITY - no code", None, id="capacity-without-code"),
        pytest.param(ESSENTIAL, None, id="not-blocked"),
    ],
)
def test_parse_blocked_reason(reason: str | None, label: str | None) -> None:
    # GIVEN a statusReason  WHEN it is parsed  THEN AWS's blocked kind and code are recognised, nothing else
    blocked = parse_blocked_reason(reason)
    assert (blocked.label if blocked else None) == label


@pytest.mark.parametrize(
    ("reason", "fixable"),
    [
        pytest.param(CE_MAX, True, id="ce-max-resource"),
        pytest.param(JOB_RESOURCE, False, id="job-resource"),
        pytest.param(SERVICE_ROLE, False, id="service-role"),
        pytest.param(UNSUPPORTED, False, id="unsupported-instance-config"),
        pytest.param(CAPACITY, False, id="capacity-is-not-misconfiguration"),
        pytest.param(None, False, id="none"),
    ],
)
def test_is_misconfiguration_fixable_on_demand(reason: str | None, fixable: bool) -> None:
    # GIVEN a blocked reason  WHEN asked whether an On-Demand queue could fix it  THEN only per-CE limits qualify
    assert is_misconfiguration_fixable_on_demand(reason) is fixable


# --- arrays: the parent says only "Array Child Job failed"; the children say why ------------------------------------


def child(
    index: int, exit_code: int | None = 1, reason: str | None = ESSENTIAL, container_reason: str | None = None
) -> dict[str, object]:
    """A ListJobs JobSummary of a failed child, as AWS returns it."""
    summary: dict[str, object] = {
        "jobId": f"parent-id:{index}",
        "status": "FAILED",
        "arrayProperties": {"index": index},
    }
    if reason is not None:
        summary["statusReason"] = reason
    container: dict[str, object] = {}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if container_reason is not None:
        container["reason"] = container_reason
    if container:
        summary["container"] = container
    return summary


ARRAY_CASES = [
    # (id, parent's own class, children summaries, size, FAILED count, class, exit codes, description contains)
    ("one app error", FailureClass.UNKNOWN, [child(1)], 3, 1, FailureClass.APP_ERROR, (1,),
     "child 1 of 3 exited 1: Essential container in task exited"),
    ("no children listed", FailureClass.UNKNOWN, [], 3, 1, FailureClass.UNKNOWN, (),
     "its failed children could not be listed"),
    ("the parent's own cancel", FailureClass.CANCELLED, [child(0)], 3, 1, FailureClass.CANCELLED, (), ""),
    ("the parent's own dependency", FailureClass.DEPENDENCY, [], 3, 0, FailureClass.DEPENDENCY, (), ""),
    ("OOM outranks an app error", FailureClass.UNKNOWN,
     [child(0, 3), child(2, 137, ESSENTIAL, OOM_REASON)], 4, 2, FailureClass.OOM, (137,),
     "2 of 4 children failed: child 2 of 4 exited 137: OutOfMemoryError"),
    ("an app error outranks a Spot reclaim", FailureClass.UNKNOWN,
     [child(0, None, HOST_TERMINATED), child(1, 2)], 2, 2, FailureClass.APP_ERROR, (2,),
     "child 1 of 2 exited 2"),
    ("an image pull outranks an app error", FailureClass.UNKNOWN,
     [child(0, 1), child(1, None, "Task failed to start", PULL)], 2, 2, FailureClass.IMAGE_PULL, (),
     "child 1 of 2 failed (image-pull): CannotPullContainerError"),
    ("SEQUENTIAL: the dependants are the consequence", FailureClass.UNKNOWN,
     [child(1, 4), child(2, None, "Dependent Job failed")], 3, 2, FailureClass.APP_ERROR, (4,),
     "2 of 3 children failed: child 1 of 3 exited 4"),
    ("all failed for a dependency", FailureClass.UNKNOWN,
     [child(0, None, "Dependent Job failed"), child(1, None, "Dependent Job failed")], 2, 2, FailureClass.DEPENDENCY,
     (), "2 of 2 children failed: children 0, 1 of 2 failed (dependency): Dependent Job failed"),
    ("several exit codes, alike named together, counted beyond the page", FailureClass.UNKNOWN,
     [child(i, 3 + i % 2) for i in range(14)] + [child(14, None, HOST_TERMINATED)], 1000, 250,
     FailureClass.APP_ERROR, (3, 4),
     "250 of 1000 children failed: children 0, 2, 4, 6, 8 and 2 more of 1000 exited 3: Essential container in task "
     "exited; children 1, 3, 5, 7, 9 and 2 more of 1000 exited 4: Essential container in task exited; child 14 of "
     "1000 failed (spot-reclaim): Host EC2 (instance i-0123456789abcdef0) terminated.; 235 more failed otherwise"),
    ("a terminate by someone else is not retried blindly", FailureClass.UNKNOWN,
     [child(0, 143, "stopped by the operator"), child(1, 1)], 2, 2, FailureClass.UNKNOWN, (143,),
     "child 0 of 2 exited 143: stopped by the operator"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("parent", "children", "size", "failed", "expected", "codes", "described"),
    [case[1:] for case in ARRAY_CASES],
    ids=[case[0] for case in ARRAY_CASES],
)
def test_an_array_is_classified_from_its_children(
    parent: FailureClass,
    children: list[dict[str, object]],
    size: int,
    failed: int,
    expected: FailureClass,
    codes: tuple[int, ...],
    described: str,
) -> None:
    # GIVEN the parent's own class and the ListJobs summaries of its failed children
    # WHEN the array is classified
    verdict = classify_array(parent, child_failures(children, "spot"), size=size, failed=failed)
    # THEN the deciding class, its exit codes and a sentence naming the children
    assert verdict.failure_class is expected
    assert verdict.exit_codes == codes
    assert described in verdict.description
    if parent is not FailureClass.UNKNOWN:  # rule 1: the parent's own reason says it all
        assert verdict.description == ""


def test_a_child_without_an_index_takes_it_from_its_id_and_others_are_skipped() -> None:
    # GIVEN summaries as ListJobs may return them: one without arrayProperties, one not FAILED
    summaries = [
        {"jobId": "p:7", "status": "FAILED", "statusReason": ESSENTIAL, "container": {"exitCode": 9}},
        {"jobId": "p:8", "status": "SUCCEEDED"},
        {"jobId": "p", "status": "FAILED"},
    ]
    # THEN the first is child 7, and the others are not children that failed
    assert [(c.index, c.exit_code, c.failure_class) for c in child_failures(summaries, "on-demand")] == [
        (7, 9, FailureClass.APP_ERROR)
    ]


def test_the_parent_event_alone_is_unknown() -> None:
    # GIVEN the parent's FAILED event as AWS sends it (no container, statusReason "Array Child Job failed")
    detail = load_event("batch-job-state-change-failed-array")["detail"]
    # THEN on its own it says nothing batchplane recognises: its children must be read
    assert detail["statusReason"] == ARRAY_CHILD_FAILED
    assert classify(signal_from_detail(parsed(detail), "spot")) is FailureClass.UNKNOWN
