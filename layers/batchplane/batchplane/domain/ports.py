"""What the services need from the outside world, named for intent. Adapters implement these over boto3; wiring
chooses which."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from batchplane.domain.models import Capacity, JobStatus
from batchplane.domain.records import AttemptRecord, JobRecord

if TYPE_CHECKING:  # names for the signatures only: a handler importing the ports loads no model it does not use
    from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

    from batchplane.domain.containers import DefinitionSpec
    from batchplane.domain.dispatch import PoolState, Reservation, TenantAccount
    from batchplane.domain.job_costs import CostLine, CostRow
    from batchplane.domain.lifecycle import Applied, Observation
    from batchplane.domain.pipeline_records import (
        AdvanceMode,
        JobState,
        PipelineHead,
        PipelineJobState,
        PipelineRecord,
        PipelineStatus,
    )
    from batchplane.domain.quotas import Quota, Resources
    from batchplane.domain.schedules import ScheduleRecord


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[JobRecord]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class JobFilter:
    status: str | None = None
    name: str | None = None
    tag: tuple[str, str] | None = None


class JobStore(Protocol):
    def create_job(self, job: JobRecord) -> JobRecord | None:
        """Create the job with one conditional write; if its id is taken, return the existing job instead."""
        ...

    def release_job(self, job_id: str) -> None:
        """Undo `create_job` when the submission failed before any Batch job existed."""
        ...

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job and all its attempts (one query)."""
        ...

    def jobs_of_tenant(self, tenant: str, flt: JobFilter, limit: int, next_token: str | None) -> JobPage: ...

    def request_cancel(self, job_id: str, tenant: str, reason: str) -> JobRecord | None:
        """Mark the job as cancelled by its owner (so a resulting failure is never retried)."""
        ...

    def mark_cancelled(self, job_id: str, reason: str, now: str, *, unsubmitted: int | None = None) -> JobRecord | None:
        """End a cancel-requested job CANCELLED if nothing of it was started (one conditional write); None if a start
        was claimed first."""
        ...

    def hasten_cancelled(self, job_id: str) -> bool:
        """Make a cancel-requested job in a retry's backoff due now (the sweeper ends it)."""
        ...


class BatchPort(Protocol):
    def admit(self, tenant: str) -> None:
        """Take one SubmitJob token for ``tenant`` (fair rate limit), or raise SubmitRateLimitedError."""
        ...

    def refund(self, tenant: str) -> None:
        """Give back a token taken by ``admit`` that no SubmitJob used."""
        ...

    def submit(
        self,
        request: dict[str, Any],
        *,
        admitted: bool = False,
        maybe_submitted: bool = False,
        pace: Callable[[], None] | None = None,
    ) -> str:
        """SubmitJob (taking a token first unless ``admitted``; looking the job up by name first when an earlier
        SubmitJob of it failed, ``maybe_submitted``; ``pace`` called as the call leaves); returns the Batch job id."""
        ...

    def terminate(self, batch_job_id: str, reason: str) -> None: ...

    def find_job_id(self, queue_arn: str, job_name: str) -> str | None:
        """The Batch job id of a job we named, when no event has told us yet (ListJobs by name; repair path)."""
        ...


# ---- jobs: logs, Batch descriptions, lineage ------------------------------------------------------------------------


class LogLines(Protocol):
    def lines(self, log_stream: str, limit: int = 1000) -> list[str]: ...

    def page(self, log_stream: str, limit: int = 1000, next_token: str | None = None) -> tuple[list[str], str | None]:
        """Lines after ``next_token`` and the token to read on from."""
        ...


class JobDescriber(Protocol):
    def describe(self, batch_job_ids: list[str]) -> list[dict[str, Any]]:
        """DescribeJobs (at most 100 ids)."""
        ...


class ArtifactIndex(Protocol):
    def of_uri(self, uri: str, tenant: str) -> list[dict[str, str]]: ...


class DependencyLookup(Protocol):
    def statuses(self, job_ids: list[str]) -> dict[str, tuple[str, str]]:
        """jobId -> (status, tenant) of the jobs that exist (one read for up to 100 ids)."""
        ...


# ---- pipelines -----------------------------------------------------------------------------------------------------


class PipelineStore(Protocol):
    def stored_request_bytes(self, request: dict[str, Any]) -> int:
        """The bytes a pipeline's request would take in its record (checked against MAX_STORED_REQUEST)."""
        ...

    def create(self, p: PipelineRecord) -> PipelineRecord | None: ...
    def get(self, pid: str) -> PipelineRecord | None: ...
    def of_tenant(self, tenant: str, limit: int) -> list[PipelineRecord]: ...
    def transition(
        self, pid: str, key: str, to: JobState, *, allowed_from: tuple[JobState, ...], job_id: str | None = None
    ) -> bool: ...
    def save_token(self, pid: str, run: int, key: str, token: str) -> PipelineJobState | None: ...
    def head(self, pid: str, run: int) -> PipelineHead | None: ...
    def request_of(self, pid: str) -> dict[str, Any] | None: ...
    def settle(
        self,
        pid: str,
        key: str,
        to: JobState,
        *,
        allowed_from: tuple[JobState, ...],
        job_id: str | None = None,
        run: int | None = None,
    ) -> tuple[bool, PipelineJobState | None]: ...
    def meet(self, pid: str, run: int, key: str, dependency: int, *, bucket: bool = False) -> int | None:
        """One dependency (or, ``bucket``, one bucket of dependencies) of a WAITING job is met: lower its count once;
        what is left (also for a retry), None when the job is no longer WAITING in this run."""
        ...

    def meet_in_bucket(self, pid: str, run: int, key: str, bucket: int, dependency: int) -> int | None:
        """One dependency of a wide fan-in is met: lower its bucket's count once; what is left in the bucket."""
        ...

    def sink_done(self, pid: str, run: int, sink: int) -> int | None:
        """A bucket of a counted run's sinks has all succeeded: lower the run's count of sink buckets, once per bucket;
        what is left (also for a retry), None when the run counts no sinks."""
        ...

    def sinks_left(self, pid: str, run: int) -> int | None: ...
    def mark_done(self, pid: str, run: int, key: str, *, propagated: bool, reported: bool) -> None: ...
    def set_mode(self, pid: str, run: int, mode: AdvanceMode) -> None: ...
    def mark_finish_reported(self, pid: str, run: int) -> None: ...
    def mark_ready_released(self, pid: str, run: int) -> None: ...
    def state_of(self, pid: str, key: str) -> JobState | None: ...
    def add_jobs(
        self,
        pid: str,
        run: int,
        jobs: list[PipelineJobState],
        sinks: int | None = None,
        buckets: dict[str, dict[int, int]] | None = None,
    ) -> None: ...
    def set_status(
        self, pid: str, status: PipelineStatus, now: str, *, only_if: PipelineStatus | None = "RUNNING"
    ) -> bool: ...
    def new_run(self, p: PipelineRecord, now: str) -> None: ...
    def set_execution(self, pid: str, arn: str) -> None: ...


class Releases(Protocol):
    def send(self, pid: str, run: int, keys: list[str], after: str | None) -> None:
        """Durably hand over jobs to start (``after``: the dependency of theirs that was met, or None: they wait on
        nothing); at-least-once."""
        ...


class Executions(Protocol):
    def start(self, name: str, payload: dict[str, Any]) -> str: ...
    def stop(self, execution_arn: str, cause: str) -> None: ...
    def execution_arn(self, name: str) -> str: ...
    def succeed(self, token: str, output: dict[str, Any]) -> None: ...
    def fail(self, token: str, error: str, cause: str) -> None: ...


# ---- schedules -----------------------------------------------------------------------------------------------------


class ScheduleStore(Protocol):
    def create(self, s: ScheduleRecord) -> None:
        """Claim the schedule's name (one conditional write); ConflictError when another schedule holds it."""
        ...

    def get(self, sched_name: str) -> ScheduleRecord | None: ...
    def of_tenant(self, tenant: str) -> list[ScheduleRecord]: ...
    def delete(self, sched_name: str) -> None: ...


class Scheduler(Protocol):
    def put(self, s: ScheduleRecord) -> None:
        """Make the timer that fires the schedule (idempotent)."""
        ...

    def delete(self, sched_name: str) -> None: ...


# ---- the lifecycle (job_events and the sweeper) ----


class LifecycleStore(Protocol):
    def create_job(self, job: JobRecord) -> JobRecord | None: ...

    def take_lease(self, name: str, owner: str, now_ms: int, until_ms: int) -> bool: ...

    def release_lease(self, name: str, owner: str) -> None: ...

    def apply_observation(self, obs: Observation, now_iso: str, event_time_ms: int) -> Applied:
        """One guarded write. Applied: the job after it when ``obs`` is terminal (None otherwise: nothing acts on a
        job on its way). Not applied: the job as it was, None when there is no such job."""
        ...

    def record_failed_child(self, job_id: str, attempt: int, index: int) -> Applied: ...

    def give_up(
        self,
        job: JobRecord,
        *,
        attempt: int,
        failure_class: str,
        reason: str,
        counters: tuple[int, int, int],
        now: str,
        status: JobStatus = JobStatus.FAILED,
    ) -> bool: ...

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def mark_cancelled(
        self, job_id: str, reason: str, now: str, *, unsubmitted: int | None = None
    ) -> JobRecord | None: ...

    def claim_next_attempt(
        self,
        job: JobRecord,
        *,
        previous: int,
        failure_class: str | None,
        new: AttemptRecord,
        counters: tuple[int, int, int],
        now: str,
        supersede_reason: str | None = None,
        supersede_from: tuple[JobStatus, ...] = (JobStatus.RUNNABLE,),
        priority: str | None = None,
    ) -> bool: ...

    def release_due(self, job: JobRecord, attempt: int, now: str) -> bool: ...

    def mark_repaired(self, job: JobRecord, attempt: int, now: str, reason: str) -> bool: ...

    def defer_submit(self, job: JobRecord, attempt: int, now: str, due_ms: int) -> bool: ...

    def reject_submission(
        self, job: JobRecord, attempt: int, *, failure_class: str, reason: str, now: str
    ) -> JobRecord | None:
        """Batch refused the attempt's SubmitJob (ClientException): the attempt and the job end FAILED, once; the job
        after the write, None when the attempt is no longer current and unsubmitted or the job already ended."""
        ...

    def request_cancel(self, job_id: str, tenant: str, reason: str) -> JobRecord | None: ...

    def bucket(self, name: str, upto: str | None = None, *, part: int = 0, parts: int = 1) -> list[JobRecord]:
        """Every job of a sweeper bucket (all its shards, or sweep part ``part`` of ``parts``'s) whose sort key is at
        most ``upto``, oldest first."""
        ...

    def part_is_empty(self, part: int, parts: int) -> bool:
        """Sweep part ``part`` of ``parts`` reads no key (more parts than shards)."""
        ...

    def publish_heads(self, part: int, heads: dict[str, str], now_ms: int) -> None:
        """The blocked queue heads (queue ARN -> statusReason) sweep part ``part`` saw, for the other parts."""
        ...

    def shared_heads(self, parts: int, since_ms: int) -> dict[str, str]:
        """The blocked queue heads every sweep part published at or after ``since_ms``."""
        ...

    def look_later(self, job: JobRecord, due_ms: int) -> bool:
        """An active job the sweeper found nothing to do for is looked at again at ``due_ms`` (unless it changed)."""
        ...

    def unfile_released(self, job: JobRecord) -> bool:
        """An ended job that holds no admission leaves the sweeper's RELEASE bucket (conditional on both)."""
        ...


class PriorityStore(LifecycleStore, Protocol):
    """The writes of re-prioritising (services/priority.py); a new attempt is `claim_next_attempt`'s."""

    def move_unsubmitted(
        self,
        job: JobRecord,
        priority: str,
        *,
        queue_arn: str,
        capacity: Capacity,
        why: str,
        now: str,
        buckets: tuple[str, ...],
    ) -> bool:
        """Move a job none of whose work reached Batch (its current attempt waits in one of ``buckets``, the
        `PreBatch` states) to another class and queue: one conditional write (no cancel, nothing submitted)."""
        ...

    def record_priority(self, job: JobRecord, priority: str, *, now: str, not_started: tuple[JobStatus, ...]) -> bool:
        """Change only the job's priority class (its queue serves every class): one write, conditional on its current
        attempt being still in one of ``not_started``."""
        ...


class DependencyStore(Protocol):
    def statuses(self, job_ids: list[str]) -> dict[str, tuple[str, str]]: ...

    def release(self, job: JobRecord, now: str) -> bool: ...

    def fail_held(self, job: JobRecord, reason: str, now: str) -> bool: ...


class ArtifactRecorder(Protocol):
    def record(self, job: JobRecord) -> None: ...


class BatchOps(BatchPort, Protocol):
    def describe(self, batch_job_ids: list[str]) -> list[dict[str, Any]]:
        """DescribeJobs (at most 100 ids a call)."""
        ...

    def scaling_up(self, queue_arn: str) -> bool:
        """Whether a compute environment behind the queue is scaling (so a RUNNABLE job is merely waiting)."""
        ...

    def failed_children(self, array_job_id: str) -> list[dict[str, Any]]:
        """ListJobs(arrayJobId, jobStatus FAILED): one call, one page (up to 100 failed children's summaries)."""
        ...


@dataclass(frozen=True, slots=True)
class QueuedPage:
    """One page of the QUEUED listing, read on from where the last page stopped: each job with its shard (a
    partition key of the listing) and its place in that shard (its sort key), in each shard's order; and where each
    shard's next page starts (the last place this page read in it; None when this page read it to its end)."""

    jobs: list[tuple[str, str, JobRecord]]
    ends: dict[str, str | None]


GRANTS_PER_ADMIT = 25  # one admission write: its jobs, and at most as many tenants and pools (75 of 100 items)


@dataclass(frozen=True, slots=True)
class Grant:
    """One planned admission: the job (as the snapshot read it), the pool it fills, what it holds while it runs, and
    its tenant's quota (the same for every grant of a tenant in one write)."""

    job: JobRecord
    pool: str
    need: Resources
    quota: Quota


class AdmissionStore(Protocol):
    """Where QUEUED jobs, tenants' counters and quotas, and pools' counters live (the dispatcher's state)."""

    def enqueue(self, job: JobRecord, enqueued_ms: int, default_max_queued: int | None) -> JobRecord | None:
        """Create the job QUEUED and count it in its tenant's queued jobs (one transaction); the existing job if its
        id is taken; QuotaExceededError when the tenant's queue is full."""
        ...

    def cancel_queued(self, job: JobRecord, reason: str, now: str) -> JobRecord | None: ...

    def fail_queued(self, job: JobRecord, *, failure_class: str, reason: str, now: str) -> JobRecord | None:
        """End a QUEUED job FAILED before it reached Batch, its tenant's queued count given back (one transaction,
        conditional on it still QUEUED on the same queue, not cancelled); None when that no longer holds."""
        ...

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job as it is now (a strongly consistent read)."""
        ...

    def take_lease_with_window(self, name: str, owner: str, now_ms: int, until_ms: int) -> list[int] | None:
        """Take the dispatcher's lease; the SubmitJob times (epoch ms) of its last holder's last second, or None
        when another invocation holds it."""
        ...

    def release_lease_with_window(self, name: str, owner: str, sent_ms: list[int]) -> None: ...

    def queued(
        self, limit: int, *, since_ms: int | None = None, known: Mapping[str, JobRecord] | None = None
    ) -> list[JobRecord]:
        """About the oldest ``limit`` QUEUED jobs (those listed after ``since_ms``), in enqueue order; a job listed
        as it is in ``known`` is answered with that record (only the others are read whole)."""
        ...

    def queued_page(self, after: dict[str, str | None], limit: int) -> QueuedPage:
        """About ``limit`` QUEUED jobs past ``after`` (a shard's last place read; a shard not named is read from its
        start, one at None is not read), each shard's next share."""
        ...

    def counters(
        self, tenants: Collection[str], pools: Collection[str]
    ) -> tuple[dict[str, TenantAccount], dict[str, Resources]]: ...

    def accounts(self) -> list[TenantAccount]: ...

    def account(self, tenant: str) -> TenantAccount: ...

    def put_quota(self, tenant: str, quota: Quota, weight: float | None) -> TenantAccount: ...

    def admit(self, grants: Sequence[Grant], now: str) -> list[bool]:
        """Each job QUEUED → SUBMITTED once, its tenant's and pool's counters up, the tenants' running quotas as
        conditions: one transaction for all (at most GRANTS_PER_ADMIT), else one each. Whether each was admitted."""
        ...

    def fall_back(self, job: JobRecord, *, queue_arn: str, why: str, now: str) -> bool:
        """A QUEUED Spot-first job goes to the On-Demand queue ``queue_arn`` before it is admitted (its current
        attempt too): one write, conditional on it still QUEUED, nothing of it in Batch, and no cancel."""
        ...

    def release(self, job: JobRecord) -> bool:
        """Give back an ended job's admission, once (one transaction)."""
        ...

    def pool_layout(self) -> tuple[list[PoolState], int] | None: ...

    def save_pool_layout(self, pools: Iterable[PoolState], seen_ms: int) -> None: ...


class RateBudget(Protocol):
    """The account-wide SubmitJob budget (one table item), shared by every function that submits."""

    def reserve(self, count: int, now_ms: int) -> Reservation | None:
        """Up to ``count`` SubmitJob slots from now on, or None when the budget is reserved too far ahead."""
        ...


class PoolSource(Protocol):
    def pools(self, queue_arns: list[str], gpu_queues: Collection[str]) -> list[PoolState]:
        """The pools the queues fill first (their order-1 compute environments) and each pool's maxvCpus."""
        ...

    def queue_statuses(self, queue_arns: list[str]) -> dict[str, str]:
        """A fresh look at job queues: ARN -> status of each that Batch lists (a missing queue is not listed)."""
        ...


class CostLedger(Protocol):
    """The per-day cost rollup: one small item per day, tenant, priority and queue."""

    def add(self, line: CostLine) -> None:
        """Add one ended attempt's cost to its rollup item (one UpdateItem, ADD)."""
        ...

    def add_to_pipeline(self, pipeline_id: str, line: CostLine) -> None:
        """Add an ended attempt of a pipeline's job to the pipeline's total (one UpdateItem, ADD)."""
        ...

    def pipeline_total(self, pipeline_id: str) -> CostRow | None:
        """The pipeline's total so far (one GetItem); None when no attempt of it has ended."""
        ...

    def rows(self, days: list[str], tenant: str | None) -> list[CostRow]:
        """The rollup items of ``days`` (one Query per day), of ``tenant`` only unless None (every tenant)."""
        ...


class PriceFeed(Protocol):
    """AWS's prices for some instance types: GetProducts ``PriceList`` entries and Spot price history entries."""

    def fetch(self, instance_types: list[str]) -> tuple[list[str], list[dict[str, Any]]]: ...


class PriceStore(Protocol):
    """The price table the control plane fetched last (one item), and when."""

    def load(self) -> tuple[dict[str, Any], float] | None: ...

    def save(self, table: dict[str, Any], fetched_epoch: float) -> None: ...


class JobDefinitionRegistry(Protocol):
    """The job definitions batchplane registers for jobs with their own image (domain/containers.py)."""

    def ensure(self, spec: DefinitionSpec) -> str:
        """The ARN of ``spec``'s definition: from this container's memory (no AWS call), else found by name
        (ACTIVE), else registered; two racing registrations converge on the lowest ACTIVE revision."""
        ...
