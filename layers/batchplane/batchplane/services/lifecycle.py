"""The lifecycle engine: apply a Batch event to its attempt with one guarded write, then act (finish, retry, fall
back, escalate, give up). The sweeper's passes (due retries, stuck RUNNABLE, reconciliation) are services/sweeper.py;
they act on jobs through this engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from batchplane.domain.arbiter import QueueCatalogue
from batchplane.domain.errors import SubmissionRejectedError
from batchplane.domain.events import BatchEvent, JobDetail
from batchplane.domain.failures import FailureClass, FailureSignal, capacity_type, classify
from batchplane.domain.ids import TAG_TENANT, AttemptRef
from batchplane.domain.lifecycle import (
    Observation,
    failed_child,
    failure_signal,
    final_status,
    is_array,
    judge_failure,
    observe,
)
from batchplane.domain.models import CapacityPreference, JobRequest, JobStatus
from batchplane.domain.outcomes import FAILURE_METRICS, RETRY_METRICS, SUBMITTED_AS, Metric, Outcome
from batchplane.domain.ports import ArtifactRecorder, BatchOps, DependencyStore, LifecycleStore
from batchplane.domain.records import AttemptRecord, JobRecord
from batchplane.domain.retry import (
    AttemptHistory,
    RetrySpec,
    decide_retry,
    preference_type,
)
from batchplane.domain.submit_request import submit_job_request
from batchplane.domain.timestamps import epoch_ms, iso, iso_to_ms

if TYPE_CHECKING:
    from batchplane.services.sweeper import SweepReport


def event_time_ms(value: str, fallback: int) -> int:
    try:
        return iso_to_ms(value)
    except ValueError:
        return fallback


class LifecycleService:
    def __init__(
        self,
        *,
        store: LifecycleStore,
        batch: BatchOps,
        catalogue: QueueCatalogue,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter: Callable[[], float],
        default_memory_mib: int = 2048,
        repair_after_seconds: float = 120.0,
        reconcile_after_seconds: float = 900.0,
        on_metric: Callable[[str, float], None] = lambda _name, _value: None,
        artifacts: ArtifactRecorder | None = None,
        dependencies: DependencyStore | None = None,
        on_terminal: Callable[[JobRecord, str], None] | None = None,
        lease_owner: str = "",
        sweep_lease_seconds: float = 90.0,
        on_attempt_end: Callable[[JobRecord, AttemptRecord, str | None], None] | None = None,
    ) -> None:
        self._on_attempt_end = on_attempt_end
        self._lease_owner = lease_owner
        self._lease_seconds = sweep_lease_seconds
        self._on_terminal = on_terminal
        self._artifacts = artifacts
        self._deps = dependencies
        self._store = store
        self._batch = batch
        self._catalogue = catalogue
        self._clock = clock
        self._jitter = jitter
        self._default_memory = default_memory_mib
        self._repair_after = repair_after_seconds
        self._reconcile_after = reconcile_after_seconds
        self._metric = on_metric

    # ---- events ----------------------------------------------------------------------------------------------

    def on_event(self, event: BatchEvent) -> Outcome:
        """Apply one parsed event; returns what happened (for logs, metrics and tests)."""
        return self.on_detail(event.detail, event_time=event.time, event_id=event.id)

    def on_detail(self, detail: JobDetail, *, event_time: str, event_id: str) -> Outcome:
        """Apply what a job's detail reports (an event's, or DescribeJobs' as the sweeper reads it at
        ``event_time``), ranked by ``event_time`` and ``event_id``; returns what happened."""
        child = failed_child(detail)
        if child is not None:
            return self._on_failed_child(*child)
        obs = observe(detail, event_time, event_id)
        if obs is None:
            return Outcome.IGNORED
        now = self._clock()
        when = event_time_ms(event_time, epoch_ms(now))
        result = self._store.apply_observation(obs, iso(now), when)
        job = result.job
        if result.applied and not obs.status.terminal:
            return Outcome.RECORDED
        if job is None:
            return self._adopt(obs, detail, now)
        if not result.applied:
            if job.cancel_requested and not obs.status.terminal and job.current_attempt == obs.ref.attempt:
                # an attempt started as its cancel landed (the cancel could not find it in Batch yet): stop it now
                self._batch.terminate(obs.batch_job_id, "batchplane: cancelled before it started")
                return Outcome.CANCEL_ENFORCED
            if not obs.status.terminal and _superseded(job, obs.ref.attempt):
                # a replaced attempt (re-prioritised, moved to On-Demand) reports it is on its way: its TerminateJob
                # was missed (no Batch job id known yet, or the call failed): stop it, so only the new attempt runs
                self._batch.terminate(obs.batch_job_id, "batchplane: superseded by a later attempt of the job")
                return Outcome.SUPERSEDED_STOPPED
            # A duplicate or stale event: one failed conditional write, nothing else; unless it is the redelivery of
            # a failure whose decision was never carried out (the handler died after the write): finish it now.
            if obs.status is JobStatus.FAILED and job.awaiting_decision == obs.ref.attempt:
                return self.act_on_failure(job, detail)
            retell = job.pipeline_id or job.holds_admission
            if obs.status.terminal and job.status.terminal and retell and self._on_terminal is not None:
                # the redelivery of a pipeline job's last event: its pipeline may not have heard (the handler died
                # after the write), so tell it again, and give back its admission if that was not done; idempotent,
                # every pipeline change and the admission's release are conditional
                self._on_terminal(job, job.status.value)
                return Outcome.STALE_RETOLD
            return Outcome.STALE
        if obs.status is JobStatus.FAILED:
            return self.act_on_failure(job, detail)
        if obs.status is JobStatus.SUCCEEDED:
            self._metric(Metric.JOBS_SUCCEEDED, 1)
            self._attempt_ended(job, obs.ref.attempt, None)
            if self._artifacts is not None and (job.request.get("inputs") or job.request.get("outputs")):
                self._artifacts.record(job)  # lineage: what this job used and made
            if self._on_terminal is not None:
                self._on_terminal(job, "SUCCEEDED")
            return Outcome.SUCCEEDED
        return Outcome.RECORDED

    def _on_failed_child(self, ref: AttemptRef, index: int) -> Outcome:
        applied = self._store.record_failed_child(ref.job_id, ref.attempt, index)
        job = applied.job
        if job is None or not applied.applied:
            return Outcome.STALE
        if job.awaiting_decision == ref.attempt and children_known(job):
            return self.act_on_failure(job, None)  # the parent's failure was waiting for us
        return Outcome.CHILD_RECORDED

    def _adopt(self, obs: Observation, detail: JobDetail, now: datetime) -> Outcome:
        """A Batch job that carries our name and tags but has no record (its record was lost, or it was submitted
        around the gateway): adopt it, so it is tracked like any job (one conditional write)."""
        tenant = detail.tags.get(TAG_TENANT)
        queue = self._catalogue.by_arn(obs.queue_arn)
        if not tenant or queue is None or obs.ref.attempt != 1:
            return Outcome.ORPHAN
        name = detail.job_name.partition(f"-a{obs.ref.attempt}-")[2] or obs.ref.job_id
        stamp = iso(now)
        attempt = replace(
            AttemptRecord.new(
                obs.ref.job_id,
                name,
                after=None,
                reason="adopted",
                queue_arn=queue.queue_arn,
                capacity=queue.capacity,
                now_ms=epoch_ms(now),
                memory_mib=obs.memory_mib,
                vcpus=None,
                explanation="adopted: a Batch job with batchplane's name and tags but no record",
            ),
            batch_job_name=detail.job_name,  # as Batch has it (ours would be the same, unless cut to 128)
            status=obs.status,
            batch_job_id=obs.batch_job_id,
            status_reason=obs.status_reason,
            exit_code=obs.exit_code,
            container_reason=obs.container_reason,
            log_stream=obs.log_stream,
            started_at=obs.started_at,
            stopped_at=obs.stopped_at,
            rank_key=obs.rank_key,
        )
        job = JobRecord(
            job_id=obs.ref.job_id,
            tenant=str(tenant),
            name=name[:128] or "adopted",
            status=obs.status,
            status_reason=obs.status_reason,
            created_at=stamp,
            updated_at=stamp,
            request={"name": name[:128] or "adopted", "retry": {"attempts": 1}},
            request_hash="adopted",
            priority=queue.priority,
            preference=CapacityPreference(queue.capacity.value),
            queue_arn=queue.queue_arn,
            capacity=queue.capacity,
            placement_reason="adopted from AWS Batch",
            job_definition=detail.job_definition or "",
            attempts=[attempt],
        )
        if self._store.create_job(job) is not None:
            return Outcome.STALE  # someone created it meanwhile: the event will be applied on redelivery or reconcile
        self._metric(Metric.JOBS_ADOPTED, 1)
        return Outcome.ADOPTED

    def act_on_failure(self, job: JobRecord, detail: JobDetail | None, *, whole: bool = False) -> Outcome:
        """Decide and carry out what follows the failure of the job's current attempt: ``detail`` is what its event
        (or DescribeJobs) reported, None to read the attempt as recorded."""
        now = self._clock()
        if _retries_failed_children(job) and not whole and not job.cancel_requested:
            if not children_known(job):
                return (
                    Outcome.WAITING_FOR_CHILDREN
                )  # children's FAILED events still on their way (the sweeper backs this)
            return self._retry_failed_children(job, now)
        signal = failure_signal(job, detail)
        verdict = judge_failure(
            job,
            signal,
            self._catalogue,
            self._jitter(),
            self._default_memory,
            self._array_children(job, signal, detail),
        )
        counters = (verdict.own_failures, verdict.infrastructure_failures, verdict.spot_reclaims)
        current = job.current
        self._metric(FAILURE_METRICS[verdict.failure_class], 1)
        if verdict.next_attempt is None:
            last_reason = current.status_reason or current.container_reason or "failed"
            if verdict.array is not None and verdict.array.description:
                last_reason = f"{last_reason}: {verdict.array.description}"
            reason = f"{last_reason} ({verdict.decision.explanation})"
            return self._give_up(job, verdict.failure_class.value, reason, counters, now)
        nxt = verdict.next_attempt
        delayed = nxt.delay_seconds > 0
        new = AttemptRecord.new(
            job.job_id,
            job.name,
            after=current,
            reason=nxt.reason,
            queue_arn=nxt.queue.queue_arn,
            capacity=nxt.queue.capacity,
            now_ms=epoch_ms(now),
            memory_mib=nxt.memory_mib,
            vcpus=current.vcpus,
            explanation=nxt.explanation,
            delay_seconds=nxt.delay_seconds,
        )
        if not self._store.claim_next_attempt(
            job,
            previous=current.attempt,
            failure_class=verdict.failure_class.value,
            new=new,
            counters=counters,
            now=iso(now),
        ):
            return self._after_lost_claim(job, detail)
        self._attempt_ended(job, current.attempt, verdict.failure_class.value)
        self._metric(RETRY_METRICS[nxt.reason], 1)
        submitted = SUBMITTED_AS[nxt.reason]
        return submitted.scheduled if delayed else self.submit(job, new, submitted)

    def _array_children(
        self, job: JobRecord, signal: FailureSignal, detail: JobDetail | None
    ) -> list[dict[str, Any]] | None:
        """The failed children of a failed array attempt, for `judge_failure` (None: not an array). One ListJobs,
        and only when the parent's own reason says nothing (AWS's "Array Child Job failed"): a cancel or a failed
        dependency is the whole array's and needs no look at the children. A ListJobs error propagates: the event is
        retried (and the sweeper acts on a decision left pending), rather than the array judged blind."""
        if not is_array(job):
            return None
        batch_job_id = job.current.batch_job_id or (detail.job_id if detail is not None else "")
        if classify(signal) is not FailureClass.UNKNOWN or not batch_job_id:
            return []
        return self._batch.failed_children(batch_job_id)

    def _after_lost_claim(self, job: JobRecord, detail: JobDetail | None) -> Outcome:
        """The next attempt's claim failed: another handler decided (raced), or a cancel landed after this one read the
        job. Then the failure still waits for a decision: read the job again and decide (it gives up, CANCELLED)."""
        fresh = self._store.get_job(job.job_id)
        if fresh is None or not fresh.cancel_requested or fresh.awaiting_decision != job.current.attempt:
            return Outcome.RACED
        return self.act_on_failure(fresh, detail, whole=True)

    def _give_up(
        self, job: JobRecord, failure_class: str, reason: str, counters: tuple[int, int, int], now: datetime
    ) -> Outcome:
        """The job ends FAILED, or CANCELLED when its owner cancelled it (once: a raced duplicate neither counts it nor
        tells its pipeline again)."""
        status = final_status(failure_class)
        if not self._store.give_up(
            job,
            attempt=job.current.attempt,
            failure_class=failure_class,
            reason=reason,
            counters=counters,
            now=iso(now),
            status=status,
        ):
            return Outcome.RACED
        job.current.failure_class = failure_class  # as recorded: the pipeline tells a cancel from a failure by it
        self._attempt_ended(job, job.current.attempt, failure_class)
        self._metric(Metric.JOBS_CANCELLED if status is JobStatus.CANCELLED else Metric.JOBS_FAILED, 1)
        if self._on_terminal is not None:
            self._on_terminal(job, status.value)
        return Outcome.CANCELLED if status is JobStatus.CANCELLED else Outcome.GAVE_UP

    def _retry_failed_children(self, job: JobRecord, now: datetime) -> Outcome:
        """An array whose children partly failed: a new attempt over the failed indexes only, in the same queue."""
        current = job.current
        spec = RetrySpec.model_validate(job.request.get("retry") or {})
        history = AttemptHistory(
            attempt_number=current.attempt,
            own_failures=job.own_failures + 1,
            infrastructure_failures=job.infrastructure_failures,
            spot_reclaims=job.spot_reclaims,
            capacity=capacity_type(current.capacity),
            preference=preference_type(job.preference),
            memory_mib=current.memory_mib or self._default_memory,
            max_memory_mib=max(current.memory_mib or self._default_memory, self._catalogue.max_memory_mib),
            on_demand_available=False,
        )
        decision = decide_retry(spec, history, FailureClass.APP_ERROR, None, self._jitter())
        counters = (job.own_failures + 1, job.infrastructure_failures, job.spot_reclaims)
        before = [int(i) for i in current.array_indexes.split(",")] if current.array_indexes else None
        original = [before[i] if before else i for i in current.failed_children]
        if not decision.retry:
            reason = f"{len(original)} array children failed (indexes {_short(original)}): {decision.explanation}"
            return self._give_up(job, FailureClass.APP_ERROR.value, reason, counters, now)
        delayed = decision.delay_seconds > 0
        new = AttemptRecord.new(
            job.job_id,
            job.name,
            after=current,
            reason="retry",
            queue_arn=current.queue_arn,
            capacity=current.capacity,
            now_ms=epoch_ms(now),
            memory_mib=current.memory_mib,
            vcpus=current.vcpus,
            explanation=f"retrying only the {len(original)} failed array children (indexes {_short(original)})",
            delay_seconds=decision.delay_seconds,
            array_indexes=",".join(str(i) for i in original),
        )
        if not self._store.claim_next_attempt(
            job, previous=current.attempt, failure_class="app-error", new=new, counters=counters, now=iso(now)
        ):
            return self._after_lost_claim(job, None)
        self._attempt_ended(job, current.attempt, FailureClass.APP_ERROR.value)
        self._metric(Metric.RETRIES_FAILED_CHILDREN, 1)
        return Outcome.CHILDREN_RETRY_SCHEDULED if delayed else self.submit(job, new, Outcome.CHILDREN_RETRY)

    def _attempt_ended(self, job: JobRecord, number: int, failure_class: str | None) -> None:
        """An attempt's end is recorded and decided (once: after a write that only one handler wins): add its cost
        to the rollup. A failed rollup write is counted, never retried (the event is done; the job's own record
        still prices the attempt)."""
        if self._on_attempt_end is None:
            return
        attempt = next((a for a in job.attempts if a.attempt == number), None)
        if attempt is None:
            return
        try:
            self._on_attempt_end(job, attempt, failure_class)
        except Exception:  # noqa: BLE001 - the rollup is an estimate: losing one write must not redo the event
            self._metric(Metric.COST_ROLLUP_LOST, 1)

    def submit(
        self,
        job: JobRecord,
        attempt: AttemptRecord,
        outcome: Outcome,
        *,
        admitted: bool = False,
        pace: Callable[[], None] | None = None,
    ) -> Outcome:
        """SubmitJob for a recorded attempt. One that Batch refuses for a reason in the request (ClientException)
        ends the job FAILED (``_rejected``); any other failure (throttled, 5xx, no answer: the adapter's bounded
        tries used up) leaves the attempt due at the next sweep. ``admitted``: the caller (the dispatcher) already
        holds this call's slot of the account's SubmitJob budget; ``pace``, its send window (the adapter's)."""
        request = JobRequest.model_validate(job.request)
        try:
            self._batch.submit(
                submit_job_request(
                    request=request,
                    job_id=job.job_id,
                    attempt=attempt.attempt,
                    tenant=job.tenant,
                    queue_arn=attempt.queue_arn,
                    job_definition=job.job_definition,
                    memory_mib=attempt.memory_mib,
                    array_indexes=attempt.array_indexes,
                    reason=attempt.reason,
                ),
                maybe_submitted=attempt.submit_failed_at is not None,
                admitted=admitted,
                pace=pace,
            )
        except SubmissionRejectedError as err:
            return self._rejected(job, attempt, err)
        except Exception:  # noqa: BLE001 - the attempt is recorded; it is submitted again (no duplicate: by name)
            self._metric(Metric.SUBMIT_DEFERRED, 1)
            now = self._clock()
            try:
                # due again now: the next sweep submits it (looking it up by name first), not the repair window
                self._store.defer_submit(job, attempt.attempt, iso(now), epoch_ms(now))
            except Exception:  # noqa: BLE001 - then it is repaired as if this invocation had died
                self._metric(Metric.SUBMIT_DEFERRAL_LOST, 1)
            return outcome.deferred
        return outcome

    def _rejected(self, job: JobRecord, attempt: AttemptRecord, err: SubmissionRejectedError) -> Outcome:
        """AWS Batch refused the attempt's SubmitJob for a reason in the request (ClientException: the job definition
        was deregistered, the queue is DISABLED or gone, a parameter it refuses): submitting it again cannot
        succeed. The attempt and the job end FAILED naming Batch's message (one conditional write: once, and only
        for an attempt that never reached Batch), a misconfiguration, not counted against the job's retries; then
        its end is acted on as any job's (its admission given back, its pipeline told) from the job as written."""
        now = self._clock()
        code = err.code or "ClientException"
        reason = f"batchplane: AWS Batch rejected SubmitJob ({code}): {err.aws_message or err.detail}"
        ended = self._store.reject_submission(
            job, attempt.attempt, failure_class=FailureClass.MISCONFIGURATION.value, reason=reason, now=iso(now)
        )
        if ended is None:
            return Outcome.RACED  # the attempt was heard of, replaced or ended meanwhile: that write decides
        self.failed_before_batch(ended)
        return Outcome.REJECTED

    def cancelled_before_batch(self, ended: JobRecord) -> None:
        """A QUEUED job just ended CANCELLED before it was admitted, by the write that ended it: counted, and its end
        acted on (its pipeline told)."""
        self._metric(Metric.JOBS_CANCELLED, 1)
        if self._on_terminal is not None:
            self._on_terminal(ended, JobStatus.CANCELLED.value)

    def failed_before_batch(self, ended: JobRecord) -> None:
        """A job just ended FAILED, a misconfiguration, before any attempt reached Batch (Batch refused its SubmitJob,
        or its job queue is gone), by the write that ended it: counted as every failed job is (JobsFailed and its
        failure class), and its end acted on (its admission given back, its pipeline told)."""
        self._metric(FAILURE_METRICS[FailureClass.MISCONFIGURATION], 1)
        self._metric(Metric.JOBS_FAILED, 1)
        if self._on_terminal is not None:
            self._on_terminal(ended, JobStatus.FAILED.value)

    # ---- the sweeper -----------------------------------------------------------------------------------------

    def sweep(self, time_left_ms: Callable[[], int] | None = None, *, part: int = 0, parts: int = 1) -> SweepReport:
        """One sweep (services/sweeper.py), over this engine's store, Batch and policies; ``time_left_ms`` (the
        invocation's remaining time) lets it stop in time and give its lease back; ``part`` of ``parts`` is the
        share of the shards it sweeps (all of them by default)."""
        from batchplane.services.sweeper import Sweeper  # the job-events function never imports the sweeper

        return Sweeper(
            engine=self,
            store=self._store,
            batch=self._batch,
            catalogue=self._catalogue,
            clock=self._clock,
            on_metric=self._metric,
            dependencies=self._deps,
            on_terminal=self._on_terminal,
            repair_after_seconds=self._repair_after,
            reconcile_after_seconds=self._reconcile_after,
            lease_owner=self._lease_owner,
            lease_seconds=self._lease_seconds,
            part=part,
            parts=parts,
        ).sweep(time_left_ms)


def _retries_failed_children(job: JobRecord) -> bool:
    retry = job.request.get("retry") or {}
    return bool(job.request.get("arraySize")) and retry.get("arrayRetry") == "failed-children"


def _superseded(job: JobRecord, attempt: int) -> bool:
    return any(a.attempt == attempt and a.superseded for a in job.attempts)


def children_known(job: JobRecord) -> bool:
    """Every failed child the parent's summary counts has been recorded (events arrive in any order)."""
    summary = json.loads(job.current.array_summary) if job.current.array_summary else {}
    return len(job.current.failed_children) >= int(summary.get("FAILED", 0)) > 0


def _short(indexes: list[int]) -> str:
    text = ",".join(str(i) for i in indexes[:20])
    return text + (f",… ({len(indexes)})" if len(indexes) > 20 else "")
