"""What batchplane records of a pipeline: the pipeline, each of its jobs' state in the current run, and the small head
an event reads. Plain data with typed states (no boto3, no pydantic): the lineage table's adapter stores and reads
them, the pipeline service changes them, the views show them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

JobState = Literal["WAITING", "SUBMITTED", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"]
OnFailure = Literal["fail-fast", "continue"]
PipelineStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]
# How a run advances: "counted" (by each job's counter of dependencies not yet met) or "full" (read everything, the
# pure `step` decides). A run that needs "full" once keeps it.
AdvanceMode = Literal["counted", "full"]

TERMINAL_PIPELINE_STATUSES: frozenset[PipelineStatus] = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

# A pipeline's record must fit one DynamoDB item (400 KB). Its request is its largest part: a request whose stored form
# is over MAX_STORED_REQUEST is refused before anything is written (the store measures the stored form); the rest stays
# under a few KB, since the record keeps the executions of its latest MAX_PREVIOUS_RUNS runs only.
MAX_STORED_REQUEST = 300 * 1024
MAX_PREVIOUS_RUNS = 20

_JOB_STATES: frozenset[str] = frozenset(get_args(JobState))
_ON_FAILURE: frozenset[str] = frozenset(get_args(OnFailure))
_STATUSES: frozenset[str] = frozenset(get_args(PipelineStatus))
_MODES: frozenset[str] = frozenset(get_args(AdvanceMode))


def job_state(value: str) -> JobState:
    """A stored pipeline job state, checked."""
    if value not in _JOB_STATES:
        raise ValueError(f"not a pipeline job state: {value!r}")
    return cast("JobState", value)


def pipeline_status(value: str) -> PipelineStatus:
    """A stored pipeline status, checked."""
    if value not in _STATUSES:
        raise ValueError(f"not a pipeline status: {value!r}")
    return cast("PipelineStatus", value)


def on_failure(value: str) -> OnFailure:
    """A stored failure policy, checked."""
    if value not in _ON_FAILURE:
        raise ValueError(f"not a failure policy: {value!r}")
    return cast("OnFailure", value)


def advance_mode(value: str) -> AdvanceMode:
    """A stored run mode, checked."""
    if value not in _MODES:
        raise ValueError(f"not a pipeline run mode: {value!r}")
    return cast("AdvanceMode", value)


@dataclass
class PipelineJobState:
    key: str
    state: JobState = "WAITING"
    job_id: str | None = None
    spec_hash: str = ""
    token: str | None = None
    reported: bool = False  # the task token has been answered
    left: int | None = None  # dependencies not yet met in this run (None: not counted)
    propagated: bool = False  # its success has been passed on to the jobs that depend on it
    run: int = 0


@dataclass(frozen=True)
class PipelineHead:
    """What an event needs of the pipeline item: small, read with one GetItem."""

    pipeline_id: str
    tenant: str
    status: PipelineStatus
    run: int
    mode: AdvanceMode
    request_hash: str
    ready_released: bool = False  # this run's ready jobs (roots) were started without waiting for their tokens


@dataclass
class PipelineRecord:
    pipeline_id: str
    tenant: str
    name: str
    status: PipelineStatus
    on_failure: OnFailure
    request: dict[str, Any]
    created_at: str
    updated_at: str
    run: int = 1
    execution_arn: str | None = None
    finish_token: str | None = None
    finished_reported: bool = False
    previous_runs: list[str] = field(default_factory=list)
    request_hash: str = ""
    mode: AdvanceMode = "full"
    sinks: int | None = None  # sinks this run waits for (counted runs: see services.pipeline_plans.sinks_waited)
    # a wide fan-in's buckets (services.pipeline_plans.FAN_IN_BUCKET): job key -> bucket -> dependencies pending
    buckets: dict[str, dict[int, int]] = field(default_factory=dict)
    jobs: dict[str, PipelineJobState] = field(default_factory=dict)
