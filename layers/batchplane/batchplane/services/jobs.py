"""The job service: what the gateway's routes do, over the JobStore and Batch ports."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from batchplane.domain.arbiter import Demand, QueueCatalogue
from batchplane.domain.containers import ContainerPolicy, definitions_in_use
from batchplane.domain.errors import (
    ConflictError,
    FieldError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
    NotFoundError,
)
from batchplane.domain.ids import idempotent_job_id, new_job_id
from batchplane.domain.logs import choose_attempt, decode_token, encode_token, log_targets
from batchplane.domain.models import JobRequest, JobStatus
from batchplane.domain.ports import (
    AdmissionStore,
    ArtifactIndex,
    BatchPort,
    DependencyLookup,
    JobDefinitionRegistry,
    JobDescriber,
    JobFilter,
    JobPage,
    JobStore,
    LogLines,
)
from batchplane.domain.priority import PreBatch, pre_batch_state
from batchplane.domain.records import AttemptRecord, JobRecord, lineage_graph
from batchplane.domain.submit_request import JobDefinitions, check_submit_size, submit_job_request
from batchplane.domain.timestamps import epoch_ms, iso
from batchplane.domain.waiting import waiting

FULL_LOG_PAGE_BYTES = 900_000  # GetLogEvents answers at most 1 MB: a page this big may have been cut short


TERMINABLE = {JobStatus.STARTING, JobStatus.RUNNING}


@dataclass(frozen=True, slots=True)
class Submitted:
    job: JobRecord
    batch_job_id: str | None
    replayed: bool


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    job: JobRecord
    action: str  # "cancel" (before STARTING) | "terminate" (STARTING/RUNNING) | "none" (already terminal)


def request_hash(request: JobRequest) -> str:
    body = json.dumps(request.canonical(), separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


class JobService:
    def __init__(
        self,
        *,
        store: JobStore,
        batch: BatchPort,
        catalogue: QueueCatalogue,
        definitions: JobDefinitions,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        entropy: Callable[[int], bytes],
        logs: LogLines | None = None,
        artifacts: ArtifactIndex | None = None,
        dependencies: DependencyLookup | None = None,
        describer: JobDescriber | None = None,
        admission: AdmissionStore | None = None,
        default_max_queued: int | None = None,
        containers: ContainerPolicy | None = None,
        registry: JobDefinitionRegistry | None = None,
    ) -> None:
        self._admission = admission
        self._default_max_queued = default_max_queued
        self._containers = containers or ContainerPolicy(stack="batchplane")
        self._registry = registry
        self._describer = describer
        self._dependencies = dependencies
        self._logs = logs
        self._artifacts = artifacts
        self._store = store
        self._batch = batch
        self._catalogue = catalogue
        self._definitions = definitions
        self._clock = clock
        self._entropy = entropy

    def check_definition(self, request: JobRequest) -> None:
        """422 naming jobDefinition unless the request's job definition is usable here (declared or allowed), or
        naming the container field (image, jobRoleArn, platform, volumes) the operator does not allow."""
        self._definition(request, register=False)

    def _definition(self, request: JobRequest, *, register: bool = True) -> str:
        """The job definition the request runs on: a declared or allowed one, or (with ``image``) the one registered
        for its container, found or registered once per container (no AWS call once known)."""
        self._containers.check(request)
        if request.image is None:
            return self._definitions.resolve(request)
        self._definitions.check_tags(request, None)
        spec = self._containers.definition(request)
        if not register or self._registry is None:
            return f"arn:aws:batch:us-east-1:000000000000:job-definition/{spec.name}:1"  # its size, for checks
        return self._registry.ensure(spec)

    def registered_definitions(self, tenant: str) -> list[dict[str, object]]:
        """The job definitions registered for the caller's own-image jobs (among its latest 100 jobs), each with
        those jobs: read from the caller's job records (one Query), so no tenant learns another's images or roles."""
        return definitions_in_use(self._store.jobs_of_tenant(tenant, JobFilter(), 100, None).jobs)

    def submit(
        self,
        tenant: str,
        request: JobRequest,
        idempotency_key: str | None,
        pipeline: tuple[str, str] | None = None,
        origin: str | None = None,
        claim: Callable[[str], bool] | None = None,
    ) -> Submitted:
        """Validate, place, and enqueue: the job is recorded QUEUED and counted in its tenant's queued jobs with one
        transaction (one AWS call); the dispatcher admits it to Batch (services/dispatcher.py). A job with dependsOn is
        recorded held instead, and the sweeper releases it to the queue when they have succeeded.

        ``claim`` (a pipeline's start): called with the job id once its record is written; the caller's own
        conditional write (its pipeline's job WAITING → SUBMITTED). False: the pipeline no longer runs the job
        (skipped, cancelled), so it ends CANCELLED and never reaches Batch."""
        definition = self._definition(request)
        placement = self._catalogue.place(Demand.of(request))
        now = self._clock()
        job_id = (
            idempotent_job_id(tenant, idempotency_key)
            if idempotency_key
            else new_job_id(epoch_ms(now), self._entropy(10))
        )
        stamp = iso(now)
        attempt = AttemptRecord.new(
            job_id,
            request.name,
            after=None,
            reason="initial",
            queue_arn=placement.queue.queue_arn,
            capacity=placement.capacity,
            now_ms=epoch_ms(now),
            memory_mib=request.memory_mi_b,
            vcpus=request.vcpus,
            explanation=placement.reason,
        )
        held = bool(request.depends_on)
        submit = submit_job_request(
            request=request,
            job_id=job_id,
            attempt=1,
            tenant=tenant,
            queue_arn=placement.queue.queue_arn,
            job_definition=definition,
            memory_mib=request.memory_mi_b,
        )
        check_submit_size(submit, request)  # Batch would refuse it: 422 before anything is written
        if request.depends_on:
            self._check_dependencies(tenant, request)  # one read, only when dependsOn is given
        job = JobRecord(
            job_id=job_id,
            tenant=tenant,
            name=request.name,
            status=JobStatus.PENDING if held else JobStatus.QUEUED,
            status_reason=(
                f"waiting for {len(request.depends_on)} dependenc{'y' if len(request.depends_on) == 1 else 'ies'}"
                if held
                else "waiting for admission"
            ),
            created_at=stamp,
            updated_at=stamp,
            request=request.canonical(),
            request_hash=request_hash(request),
            priority=request.priority.value,
            preference=request.capacity,
            queue_arn=placement.queue.queue_arn,
            capacity=placement.capacity,
            placement_reason=placement.reason,
            job_definition=definition,
            idempotency_key=idempotency_key,
            tags=dict(request.tags),
            attempts=[attempt],
            pipeline_id=pipeline[0] if pipeline else None,
            pipeline_key=pipeline[1] if pipeline else None,
            origin=origin or (f"pipeline:{pipeline[0]}" if pipeline else "api"),
            claim_token=self._entropy(8).hex(),
        )
        if held or self._admission is None:
            existing = self._store.create_job(job)
        else:
            existing = self._admission.enqueue(job, epoch_ms(now), self._default_max_queued)
        if existing is not None:
            if existing.tenant != tenant or existing.request_hash != job.request_hash:
                raise IdempotencyKeyReusedError(
                    "this Idempotency-Key was used for a different request",
                    errors=[],
                )
            return Submitted(existing, None, replayed=True)
        if claim is not None and not held and not claim(job_id):
            # the record stays QUEUED if claim raised: a retry (same key) claims again
            return Submitted(self._never_started(job, "batchplane: its pipeline no longer runs it"), None, False)
        return Submitted(job, None, replayed=False)

    def _never_started(self, job: JobRecord, why: str) -> JobRecord:
        """End a job whose record was written but whose start was refused CANCELLED (two conditional writes)."""
        marked = self._store.request_cancel(job.job_id, job.tenant, why)
        if marked is None:
            return job
        if marked.status is JobStatus.QUEUED and self._admission is not None:
            return self._admission.cancel_queued(marked, why, iso(self._clock())) or marked
        ended = self._store.mark_cancelled(job.job_id, why, iso(self._clock()), unsubmitted=job.current_attempt)
        return ended or job

    def _check_dependencies(self, tenant: str, request: JobRequest) -> None:
        """422 naming each dependency that is not a job of this tenant: one that does not exist and another tenant's
        get the same answer, so nothing is learnt about other tenants' jobs (and nothing waits forever)."""
        if self._dependencies is None:
            return
        ids = [d.job_id for d in request.depends_on]
        found = self._dependencies.statuses(ids)
        errors = [
            FieldError(f"dependsOn.{i}.jobId", f"no job {job_id} of yours")
            for i, job_id in enumerate(ids)
            if found.get(job_id, ("", ""))[1] != tenant
        ]
        if errors:
            raise InvalidRequestError("dependsOn names jobs that are not yours or do not exist", errors=errors)

    def check_size(self, tenant: str, request: JobRequest) -> None:
        """Refuse (422) a request whose SubmitJob would reach Batch's 30 KiB (pipelines check each job up front)."""
        placement = self._catalogue.place(Demand.of(request))
        submit = submit_job_request(
            request=request,
            job_id="0" * 26,
            attempt=1,
            tenant=tenant,
            queue_arn=placement.queue.queue_arn,
            job_definition=self._definition(request, register=False),
            memory_mib=request.memory_mi_b,
        )
        check_submit_size(submit, request)

    def get(self, tenant: str, job_id: str) -> JobRecord:
        job = self._store.get_job(job_id)
        if job is None or job.tenant != tenant:
            raise NotFoundError(f"no job {job_id}")
        return job

    def waiting(self, job: JobRecord) -> dict[str, Any] | None:
        """Why the job waits outside admission (domain/waiting.py), as its view's ``waiting``; None when nothing holds
        it. A job held for its dependencies costs one BatchGetItem more (their states; another tenant's job reads as
        not found); every other answer is computed from the record."""
        states: dict[str, str | None] | None = None
        ids = [str(d["jobId"]) for d in job.request.get("dependsOn") or [] if "jobId" in d]
        if ids and self._dependencies is not None and pre_batch_state(job) is PreBatch.HELD:
            found = self._dependencies.statuses(ids)
            states = {i: st for i, (st, owner) in found.items() if owner == job.tenant}
        wait = waiting(job, now_ms=epoch_ms(self._clock()), catalogue=self._catalogue, dependencies=states)
        return wait.view() if wait is not None else None

    def list_jobs(self, tenant: str, flt: JobFilter, limit: int, next_token: str | None) -> JobPage:
        return self._store.jobs_of_tenant(tenant, flt, limit, next_token)

    def lineage(self, tenant: str, job_id: str) -> dict[str, object]:
        return lineage_graph(self.get(tenant, job_id))

    def logs(
        self,
        tenant: str,
        job_id: str,
        limit: int = 1000,
        *,
        attempt: int | None = None,
        index: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, object]:
        """An attempt's output (the latest attempt unless ``attempt``): an array job's child ``index``, every node of
        a multi-node job. With ``next_token`` (the answer's ``nextToken``) only the lines written since; the answer's
        ``status`` tells a follower when the job is over (every line is in CloudWatch Logs by then), ``more`` that a
        page was full (read on at once with ``nextToken``), ``latestAttempt`` whether a retry has started."""
        job = self.get(tenant, job_id)
        chosen = choose_attempt(job, attempt)
        answer: dict[str, object] = {
            "jobId": job_id,
            "status": job.status.value,
            "attempt": chosen.attempt if chosen else job.current_attempt,
            "attemptStatus": chosen.status.value if chosen else None,
            "latestAttempt": job.attempts[-1].attempt if job.attempts else None,
            "more": False,
            "logStreamName": None,
            "lines": [],
            "streams": [],
        }
        if isinstance(job.request.get("arraySize"), int):
            answer["arraySize"] = job.request["arraySize"]
        if chosen is None or self._logs is None:
            return answer
        targets = log_targets(job, chosen, index)
        positions = decode_token(next_token, chosen.attempt)
        found = self._child_streams([t.batch_job_id for t in targets if t.stream is None and t.batch_job_id])
        streams: list[dict[str, object]] = []
        after: dict[str, str] = {}
        for target in targets:
            stream = target.stream or found.get(target.batch_job_id or "")
            lines: list[str] = []
            position = positions.get(target.key)
            if stream:
                lines, position = self._logs.page(stream, limit, position)
                # a full page (by count, or near GetLogEvents' 1 MB) may have more behind it: read on at once
                if len(lines) >= limit or sum(len(line) + 26 for line in lines) >= FULL_LOG_PAGE_BYTES:
                    answer["more"] = True
            if position:
                after[target.key] = position
            streams.append({**target.label, "logStreamName": stream, "lines": lines})
        answer["streams"] = streams
        if streams:
            answer["logStreamName"], answer["lines"] = streams[0]["logStreamName"], streams[0]["lines"]
        answer["nextToken"] = encode_token(chosen.attempt, after)
        return answer

    def _child_streams(self, batch_job_ids: list[str]) -> dict[str, str]:
        """The log streams of array children or nodes (DescribeJobs, 100 ids a call): Batch alone knows them."""
        if not batch_job_ids or self._describer is None:
            return {}
        found: dict[str, str] = {}
        for start in range(0, len(batch_job_ids), 100):
            for detail in self._describer.describe(batch_job_ids[start : start + 100]):
                stream = (detail.get("container") or {}).get("logStreamName")
                if stream:
                    found[str(detail.get("jobId"))] = str(stream)
        return found

    def artifacts(self, tenant: str, uri: str) -> list[dict[str, str]]:
        """What used or produced ``uri`` (the caller's jobs only)."""
        return self._artifacts.of_uri(uri, tenant) if self._artifacts is not None else []

    def cancel(self, tenant: str, job_id: str, reason: str | None) -> CancelOutcome:
        """Cancel the job: mark it cancel-requested (from then on no path starts work for it: every start is a
        write conditional on no cancel), then end it CANCELLED at once if nothing of it was started (held, or in a
        retry's backoff), else TerminateJob its current attempt (cancelled before STARTING, stopped while
        STARTING/RUNNING; the job ends CANCELLED when Batch reports the attempt FAILED)."""
        job = self.get(tenant, job_id)
        if job.status.terminal:
            raise ConflictError(f"job {job_id} is already {job.status.value}")
        why = f"batchplane: cancelled by {tenant}" + (f": {reason}" if reason else "")
        marked = self._store.request_cancel(job_id, tenant, why[:1024])
        if marked is None:
            raise NotFoundError(f"no job {job_id}")
        if marked.status is JobStatus.QUEUED and self._admission is not None:
            if marked.pipeline_id:
                # its pipeline must hear of its end, and no Batch event will tell it: the dispatcher, which can tell
                # a pipeline, ends it at its next look (it can no longer be admitted: admission is conditional on
                # no cancel)
                return CancelOutcome(marked, "none")
            ended = self._admission.cancel_queued(marked, why[:1024], iso(self._clock()))
            if ended is not None:
                return CancelOutcome(ended, "none")  # never admitted: nothing reached Batch
            marked = self._store.get_job(job_id) or marked  # admitted meanwhile: stop it in Batch
        if marked.unstarted:
            if marked.pipeline_id:
                # its pipeline must hear of its end: the sweeper ends it (due now) and tells the pipeline
                self._store.hasten_cancelled(job_id)
            else:
                ended = self._store.mark_cancelled(job_id, why[:1024], iso(self._clock()))
                if ended is not None:
                    if ended.holds_admission and self._admission is not None:
                        self._admission.release(ended)  # a job in a retry's backoff held its admission: give it back
                    return CancelOutcome(ended, "none")  # nothing reached Batch: nothing to stop
        job = marked  # a start may have been claimed before the cancel landed: go through Batch
        current = job.attempts[-1] if job.attempts else None
        held = job.status is JobStatus.PENDING and bool(job.request.get("dependsOn"))
        if current is None or (held and current.batch_job_id is None):
            return CancelOutcome(marked, "none")  # held for its dependencies: no Batch job exists yet
        batch_id = current.batch_job_id or self._batch.find_job_id(current.queue_arn, current.batch_job_name)
        if batch_id is None:
            return CancelOutcome(marked, "none")
        # Always TerminateJob: it cancels a job that has not reached STARTING and stops one that has. Our record lags
        # Batch (events are asynchronous), so choosing CancelJob from it would, for a job that started meanwhile, be
        # accepted by Batch and do nothing. `action` says what our record knew.
        self._batch.terminate(batch_id, why[:1024])
        return CancelOutcome(marked, "terminate" if job.status in TERMINABLE else "cancel")
