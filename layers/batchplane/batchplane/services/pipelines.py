"""Pipelines: a DAG of managed jobs, run by one Step Functions execution per run.

The execution is one Task, Finish, that hands its task token to the control plane (SQS) and waits for the pipeline's
outcome; it iterates over no job. The control plane starts the run's jobs that wait on nothing when the Finish token
arrives, submits every other job as soon as its own dependencies are satisfied (a managed job: same arbitration,
classified retries, fallback, escalation and lineage as a standalone job), and answers Finish when the run's last job
has ended. So a stage's retries live in one place, never in ASL, and a run of 10,000 jobs costs Step Functions what a
run of one does. (Runs started by the earlier definition, a Map with one waiting Task per job, hand over a token per
job: those are still answered when their job ends.)

Two ways to advance, both idempotent (every change is a conditional write):
- counted (while every job succeeds): an event touches only the job it is about and the jobs that depend on it. A job
  that succeeds lowers the ``left`` counter of each dependent once, and starts those that reach 0; a sink (a job no
  job depends on) lowers the run's count of sinks once, and the last one reads the whole pipeline and finishes it.
  O(degree) per event, one full read per run.
- full (a job failed, was cancelled or skipped, an edge can never be met, the pipeline was cancelled): the whole
  pipeline is read and the pure `step` of domain.pipeline_runs decides. Once a run needs it, it stays."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from batchplane.domain.errors import (
    ConflictError,
    FieldError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
    NotFoundError,
    UnschedulableError,
)
from batchplane.domain.ids import idempotent_job_id, new_job_id
from batchplane.domain.pipeline_records import (
    MAX_PREVIOUS_RUNS,
    MAX_STORED_REQUEST,
    JobState,
    PipelineHead,
    PipelineJobState,
    PipelineRecord,
)
from batchplane.domain.pipeline_runs import Outcome, edge_met, resume_plan, step, to_dot, to_mermaid
from batchplane.domain.pipelines import MAX_EXPANDED_JOBS, PipelineRequest, spec_hash
from batchplane.domain.ports import Executions, PipelineStore, Releases
from batchplane.domain.timestamps import epoch_ms, iso
from batchplane.services.jobs import JobService
from batchplane.services.pipeline_plans import (
    FINISH,
    TERMINAL,
    Plan,
    cached_plan,
    counted,
    initial_left,
    job_state_of,
    plan_of,
    plan_of_record,
    run_input_of,
    sinks_waited,
    spec_hash_of,
    unanswered,
)

# A run's execution is one Task (the Finish token) whatever the pipeline's size: it holds no Map iteration per job, so
# Step Functions' 25,000 history events, 256 KiB payloads and an inline Map's 40 concurrent iterations bound nothing
# here. What bounds a run is the plan: MAX_EXPANDED_JOBS (10,000) jobs after map expansion.
MAX_JOBS_PER_RUN = MAX_EXPANDED_JOBS
# Starting more pipeline jobs than this from one invocation is handed to the stage queue as durable release work (one
# message per job), so an invocation never does unbounded work: 1,000 dependants cannot be submitted in one Lambda's
# 29 s at Batch's 50 SubmitJob/s, and work left undone when an invocation ends must not be lost.
INLINE_STARTS = 10


def start_key(pid: str, run: int, key: str) -> str:
    """The Idempotency-Key a run's start of one pipeline job submits with: one job (and one Batch job) per key."""
    return f"pipeline:{pid}:r{run}:{key}"


class PipelineService:
    def __init__(
        self,
        *,
        store: PipelineStore,
        executions: Executions,
        jobs: JobService,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        entropy: Callable[[int], bytes],
        releases: Releases | None = None,
    ) -> None:
        self._releases = releases
        self._store = store
        self._sfn = executions
        self._jobs = jobs
        self._clock = clock
        self._entropy = entropy

    # ---- API ---------------------------------------------------------------------------------------------------

    def create(self, tenant: str, request: PipelineRequest, idempotency_key: str | None) -> tuple[PipelineRecord, bool]:
        plan = plan_of(request)  # validates: 4xx naming the field before anything runs
        position = {j.id: i for i, j in enumerate(request.jobs)}
        for job in plan.jobs.values():
            try:  # only declared or allowed job definitions: refused before anything runs
                self._jobs.check_definition(job.request)
            except (InvalidRequestError, UnschedulableError) as err:
                err.errors = [FieldError(f"jobs.{position[job.source]}.{e.field}", e.message) for e in err.errors]
                raise
        if len(plan.jobs) > MAX_JOBS_PER_RUN:
            raise InvalidRequestError(
                f"{len(plan.jobs)} jobs after map expansion; one run takes at most {MAX_JOBS_PER_RUN}",
                errors=[FieldError("jobs", f"at most {MAX_JOBS_PER_RUN} jobs after map expansion")],
            )
        written = {j.id: i for i, j in enumerate(request.jobs)}
        for job in plan.jobs.values():  # each job fits a queue and its SubmitJob Batch's 30 KiB: known up front
            try:
                self._jobs.check_size(tenant, job.request)
            except (InvalidRequestError, UnschedulableError) as err:
                where = f"jobs.{written.get(job.source, 0)}"
                raise type(err)(
                    f"job {job.id}: {err.detail}",
                    errors=[FieldError(f"{where}.{e.field}", e.message) for e in err.errors],
                ) from err
        counts = initial_left(plan, {})
        now = self._clock()
        pid = (
            idempotent_job_id(tenant, f"pipeline:{idempotency_key}")
            if idempotency_key
            else new_job_id(epoch_ms(now), self._entropy(10))
        )
        body = request.model_dump(mode="json", by_alias=True, exclude_defaults=True)  # compact: it is stored
        stored = self._store.stored_request_bytes(body)
        if stored > MAX_STORED_REQUEST:
            raise InvalidRequestError(
                f"the pipeline's stored form is {stored:,} bytes; a DynamoDB item holds at most 400 KB",
                errors=[FieldError("jobs", f"at most {MAX_STORED_REQUEST:,} bytes stored (DynamoDB's 400 KB item)")],
            )
        record = PipelineRecord(
            pipeline_id=pid,
            tenant=tenant,
            name=request.name,
            status="RUNNING",
            on_failure=request.on_failure,
            request=body,
            created_at=iso(now),
            updated_at=iso(now),
            request_hash=spec_hash_of(body),
            mode="counted",
            sinks=len(sinks_waited(plan, {})),
            buckets={**counts.buckets, FINISH: sinks_waited(plan, {})},
            jobs={
                k: PipelineJobState(key=k, spec_hash=spec_hash(j), left=counts.left[k]) for k, j in plan.jobs.items()
            },
        )
        existing = self._store.create(record)
        if existing is not None:
            if existing.tenant != tenant or existing.request_hash != record.request_hash:
                raise IdempotencyKeyReusedError("this Idempotency-Key was used for a different pipeline")
            if existing.execution_arn is None and existing.run == 1:
                # the first try died between claiming the id and starting its execution (the client retries with
                # the same Idempotency-Key): finish the creation; the missing job items, then the start (by name)
                missing = [j for k, j in record.jobs.items() if k not in existing.jobs]
                self._store.add_jobs(pid, 1, missing, record.sinks, record.buckets)
                self._start_run(existing)
                return self._store.get(pid) or existing, True
            return existing, True
        try:
            self._start_run(record)
        except Exception:
            if idempotency_key is None:
                self._abandon(record)  # no retry can find it: do not leave it RUNNING with nothing running it
            raise
        return record, False

    def _abandon(self, record: PipelineRecord) -> None:
        """A creation without an Idempotency-Key failed after its id was claimed; the client got an error and no id,
        so no retry will finish it. Best effort: stop an execution that may have started (its answer lost), and end
        the pipeline FAILED. If these fail too, the pipeline stays RUNNING (listed, cancellable by its owner)."""
        with contextlib.suppress(Exception):
            self._sfn.stop(self._sfn.execution_arn(f"{record.pipeline_id}-r{record.run}"), "creation interrupted")
        with contextlib.suppress(Exception):
            self._store.set_status(record.pipeline_id, "FAILED", iso(self._clock()))

    def _start_run(self, record: PipelineRecord) -> None:
        name = f"{record.pipeline_id}-r{record.run}"  # the execution name makes the start idempotent
        arn = self._sfn.start(name, run_input_of(record.pipeline_id, record.run))
        record.execution_arn = arn
        self._store.set_execution(record.pipeline_id, arn)

    def get(self, tenant: str, pid: str) -> PipelineRecord:
        record = self._store.get(pid)
        if record is None or record.tenant != tenant:
            raise NotFoundError(f"no pipeline {pid}")
        return record

    def list(self, tenant: str, limit: int) -> list[PipelineRecord]:
        return self._store.of_tenant(tenant, limit)

    def graph(self, tenant: str, pid: str, fmt: str) -> str:
        record = self.get(tenant, pid)
        plan = plan_of_record(record)
        states: dict[str, JobState] = {k: j.state for k, j in record.jobs.items()}
        return to_dot(plan.dag, states) if fmt == "dot" else to_mermaid(plan.dag, states)

    def cancel(self, tenant: str, pid: str, reason: str | None = None) -> PipelineRecord:
        """Stop the run; ``reason`` goes to the execution's StopExecution cause and to each job it cancels."""
        record = self.get(tenant, pid)
        if record.status != "RUNNING":
            raise ConflictError(f"pipeline {pid} is already {record.status}")
        now = iso(self._clock())
        self._store.set_status(pid, "CANCELLED", now)
        because = f": {reason}" if reason else ""
        if record.execution_arn:
            self._sfn.stop(record.execution_arn, f"cancelled by its owner{because}")
        why = f"pipeline cancelled{because}"
        for j in record.jobs.values():
            if j.state in ("SUBMITTED", "RUNNING") and j.job_id:
                with contextlib.suppress(ConflictError, NotFoundError):
                    self._jobs.cancel(tenant, j.job_id, why)
            elif j.state == "WAITING":
                self._store.transition(pid, j.key, "SKIPPED", allowed_from=("WAITING",))
        return self.get(tenant, pid)

    def resume(self, tenant: str, pid: str) -> PipelineRecord:
        """A new run that re-runs only what did not succeed (and what depends on it)."""
        record = self.get(tenant, pid)
        if record.status == "RUNNING":
            raise ConflictError(f"pipeline {pid} is still RUNNING")
        if record.status == "SUCCEEDED":
            raise ConflictError(f"pipeline {pid} SUCCEEDED: there is nothing to resume")
        plan = plan_of_record(record)
        prev: dict[str, JobState] = {k: j.state for k, j in record.jobs.items()}
        hashes = {k: j.spec_hash for k, j in record.jobs.items()}
        redo = resume_plan(plan.dag, prev, hashes, {k: spec_hash(j) for k, j in plan.jobs.items()})
        if not redo:  # a run of nothing would only make an execution that ends at once
            raise ConflictError(f"pipeline {pid} has no job left to run: there is nothing to resume")
        # the latest runs only: the pipeline item must stay under DynamoDB's 400 KB however often it is resumed
        record.previous_runs = [*record.previous_runs, record.execution_arn or f"run {record.run}"][-MAX_PREVIOUS_RUNS:]
        record.run += 1
        states: dict[str, JobState] = {k: "WAITING" if k in redo else "SUCCEEDED" for k in plan.jobs}
        counts = initial_left(plan, states)
        left = counts.left
        record.mode = "counted" if counts.counted else "full"
        sinks = sinks_waited(plan, states)
        record.sinks = len(sinks) if counts.counted else None
        record.buckets = {**counts.buckets, FINISH: sinks} if counts.counted else counts.buckets
        record.jobs = {
            k: PipelineJobState(
                key=k,
                state=states[k],
                job_id=None if k in redo else record.jobs[k].job_id,
                spec_hash=record.jobs[k].spec_hash,
                left=left.get(k),
            )
            for k in plan.jobs
        }
        self._store.new_run(record, iso(self._clock()))
        self._start_run(record)
        return self.get(tenant, pid)

    # ---- the control plane's side of the execution ---------------------------------------------------------------

    def on_token(self, pid: str, run: int, key: str, token: str) -> str:
        """An execution's task is waiting on us (from the stage queue)."""
        head = self._store.head(pid, run)
        if head is None or head.run != run:
            return "stale"
        if counted(head) and not head.ready_released:
            self._release_ready(head)
        job = self._store.save_token(pid, run, key, token)
        if job is None and counted(head):
            # the Finish token: it arrives as the run starts; the run ends when its last sink does (read after the
            # token was saved: either this sees the last sink's count, or that sink's advance sees this token)
            sinks = self._store.sinks_left(pid, run)
            if sinks is not None and sinks > 0:
                return head.status
            return self.advance(pid)
        if job is None or job.left is None or not counted(head):
            return self.advance(pid)  # a run that needs the full read (or one started before sinks were counted)
        if job.state in TERMINAL:
            self._answer(pid, job)
        elif job.state == "WAITING" and job.left == 0:  # nothing to wait for: a root, or a job resumed after its deps
            plan = self._plan(head)
            if plan is None:
                return "missing"
            self._start_job(head, plan, key)
        return head.status

    def _release_ready(self, head: PipelineHead) -> None:
        """Start every job of the run that waits on nothing (the roots; after a resume, what its dependencies no longer
        hold back), at the run's first token, without waiting for each job's own token: an inline Map runs at most
        40 iterations at once (MaxConcurrency 0 does not lift it), so a job's token may come only after 40 others have
        ended, and a pipeline's jobs must never queue behind the Map. One read of the pipeline per run; started, then
        remembered (a retry starts again: idempotent)."""
        record = self._store.get(head.pipeline_id)
        if record is None:
            return
        ready = [k for k, j in record.jobs.items() if j.state == "WAITING" and j.left == 0]
        plan = plan_of_record(record)
        order = {k: i for i, k in enumerate(plan.dag.order)}
        self._start_many(head, plan, sorted(ready, key=lambda k: order.get(k, 0)))
        self._store.mark_ready_released(head.pipeline_id, head.run)

    def _start_many(self, head: PipelineHead, plan: Plan, keys: Sequence[str]) -> None:
        """Start jobs that wait on nothing: inline when few, as durable release work when many."""
        if self._releases is not None and len(keys) > INLINE_STARTS:
            self._releases.send(head.pipeline_id, head.run, list(keys), None)
        else:
            for key in keys:
                self._start_job(head, plan, key)

    def on_job_terminal(self, pid: str, key: str, job_id: str, status: str, cancel_requested: bool) -> str:
        """A managed job of the pipeline ended (from job_events)."""
        state = job_state_of(status, cancel_requested)
        moved, job = self._store.settle(pid, key, state, allowed_from=("SUBMITTED", "RUNNING"), job_id=job_id)
        if not moved and job is not None and job.state == "WAITING":
            job = self._ended_before_claim(pid, key, job, job_id, state)
        if job is None or job.left is None:
            return self.advance(pid)
        head = self._store.head(pid, job.run)
        if head is None or head.run != job.run:
            return "stale"
        if not counted(head) or job.state not in TERMINAL:
            return self.advance(pid)
        plan = self._plan(head)
        if plan is None:
            return "missing"
        if job.state != "SUCCEEDED" or not all(
            edge_met(e.condition, "SUCCEEDED")
            for child in plan.dag.children[key]
            for e in plan.dag.deps[child]
            if e.id == key
        ):
            self._store.set_mode(pid, head.run, "full")  # from now on this run reads everything, `step` decides
            return self.advance(pid)
        propagate = bool(plan.dag.children[key]) and not job.propagated
        sent = False
        if propagate:
            children = plan.dag.children[key]
            if self._releases is not None and len(children) > INLINE_STARTS:
                # a wide fan-out: durable release work (the stage queue's consumer meets and starts each), sent
                # before `propagated` is remembered, so an invocation that ends midway is retried and re-sends
                self._releases.send(pid, head.run, list(children), key)
                sent = True
            else:
                for child in children:
                    self._meet_and_start(head, plan, child, key)
        answer = unanswered(job)
        if answer:
            self._send(job)
        # remembered in one write, each only after it was done, where a repeat would cost: release work sent (a
        # message per INLINE_STARTS dependants), a token answered. Telling a few dependants inline is idempotent (a
        # count lowered once per marker, a start once per key): a duplicate event tells them again, two calls or
        # so, rather than every job's end paying a write to remember it
        if sent or answer:
            self._store.mark_done(pid, head.run, key, propagated=propagate, reported=answer)
        if plan.is_sink(key) and self._sink_done(head, plan, key) == 0:
            return self.advance(pid)  # the run's last sink: one full read decides the outcome, answers Finish
        return head.status

    def _ended_before_claim(
        self, pid: str, key: str, job: PipelineJobState, job_id: str, state: JobState
    ) -> PipelineJobState:
        """A job's end told while its pipeline still has it WAITING: its start wrote the job's record (so the
        dispatcher could admit it and Batch run it) and its claim, WAITING → SUBMITTED, had not landed yet (slowed,
        retried, or the start failed after the record and is retried later). When the job is the one this run starts
        for the key (its id comes from the run's idempotency key) the end is settled from WAITING: a claim or replayed
        start landing afterwards finds it ended and changes nothing (left WAITING, the next start would mark it
        SUBMITTED, and nothing would ever end it)."""
        head = self._store.head(pid, job.run)
        if head is None or job_id != idempotent_job_id(head.tenant, start_key(pid, job.run, key)):
            return job
        _, now = self._store.settle(pid, key, state, allowed_from=("WAITING",), job_id=job_id, run=job.run)
        return now or job

    def _sink_done(self, head: PipelineHead, plan: Plan, key: str) -> int | None:
        """Count a sink of a counted run that succeeded (in its bucket, then the bucket in the run's count): what the
        run still waits for (0: it has ended; None: the run counts no sinks, its Finish token decides)."""
        bucket = plan.sink_buckets[key]
        in_bucket = self._store.meet_in_bucket(head.pipeline_id, head.run, FINISH, bucket, plan.index[key])
        if in_bucket != 0:
            return in_bucket
        return self._store.sink_done(head.pipeline_id, head.run, bucket)

    def _meet_and_start(self, head: PipelineHead, plan: Plan, child: str, met: str) -> str:
        if plan.dependencies(child) == 1:
            self._start_job(head, plan, child)  # its only dependency: no counter to lower
            return "started"
        bucket = plan.bucket_of(child, met)
        if bucket is None:
            left = self._store.meet(head.pipeline_id, head.run, child, plan.index[met])
        else:  # a wide fan-in: the dependency lowers its bucket; the bucket's last one lowers the job
            in_bucket = self._store.meet_in_bucket(head.pipeline_id, head.run, child, bucket, plan.index[met])
            if in_bucket != 0:
                return "waiting" if in_bucket is not None else "not-waiting"
            left = self._store.meet(head.pipeline_id, head.run, child, bucket, bucket=True)
        if left == 0:
            self._start_job(head, plan, child)
            return "started"
        return "waiting" if left is not None else "not-waiting"

    def on_release(self, pid: str, run: int, keys: Sequence[str], after: str | None) -> str:
        """Release work from the stage queue (at-least-once): ``after`` (a dependency of each of ``keys``) succeeded,
        so lower each one's count and start it at 0; or (``after`` None) they wait on nothing: start them. Idempotent:
        a count is lowered once per dependency, a submission is idempotent by key (one Batch job per pipeline job), so
        a message retried after some of its jobs were started only starts the rest."""
        head = self._store.head(pid, run)
        if head is None or head.run != run or head.status != "RUNNING":
            return "stale"
        plan = self._plan(head)
        if plan is None:
            return "missing"
        outcomes = Counter(self._release_one(head, plan, key, after) for key in keys if key in plan.jobs)
        return ",".join(f"{k}={n}" for k, n in sorted(outcomes.items())) or "missing"

    def _release_one(self, head: PipelineHead, plan: Plan, key: str, after: str | None) -> str:
        pid = head.pipeline_id
        if after is None:
            if self._store.state_of(pid, key) != "WAITING":  # skipped (fail-fast) or started since: submit nothing
                return "not-waiting"
            return "started" if self._start_job(head, plan, key) is not None else "not-waiting"
        if not counted(head):
            # the run switched to the full path after this was sent: the advance that switched it read the
            # dependency's end (recorded before this was sent) and `step` decides this job (fail-fast may skip it)
            return "full"
        return self._meet_and_start(head, plan, key, after)

    def _answer(self, pid: str, job: PipelineJobState) -> None:
        """Answer an ended job's task token (if it has not been): send, then remember it was sent. At least once: if
        the process dies in between, the next event sends again and Step Functions answers TaskTimedOut for a closed
        task (ignored); remembering first would lose the answer for good."""
        if unanswered(job):
            self._send(job)
            self._store.mark_done(pid, job.run, job.key, propagated=False, reported=True)

    def _send(self, job: PipelineJobState) -> None:
        self._sfn.succeed(str(job.token), {"key": job.key, "jobId": job.job_id, "status": job.state})

    def _plan(self, head: PipelineHead) -> Plan | None:
        return cached_plan(head.pipeline_id, head.request_hash, lambda: self._store.request_of(head.pipeline_id))

    def advance(self, pid: str) -> str:
        """Carry out the next `step`: submit what is ready, skip what never will run, cancel on fail-fast, answer the
        tokens of finished jobs, finish the execution. Idempotent: every change is a conditional write."""
        record = self._store.get(pid)
        if record is None:
            return "missing"
        plan = plan_of_record(record)
        states: dict[str, JobState] = {k: j.state for k, j in record.jobs.items()}
        if record.status == "RUNNING":
            decided = step(plan.dag, states, record.on_failure)
            cancel = list(decided.cancel)
            for key in decided.skip:
                skipped, now_job = self._store.settle(pid, key, "SKIPPED", allowed_from=("WAITING",))
                if skipped:
                    record.jobs[key].state = "SKIPPED"
                elif now_job is not None and now_job.state in ("SUBMITTED", "RUNNING") and now_job.job_id:
                    # started by a token handled at the same moment: it must not run either
                    record.jobs[key] = now_job
                    if record.on_failure == "fail-fast":
                        cancel.append(key)
            if self._releases is not None and len(decided.start) > INLINE_STARTS:
                self._releases.send(pid, record.run, list(decided.start), None)  # durable, bounded
            else:
                for key in decided.start:
                    job_id = self._start_job(record, plan, key)
                    if job_id is not None:
                        record.jobs[key].state = "SUBMITTED"
                        record.jobs[key].job_id = job_id
            for key in cancel:
                job_id = record.jobs[key].job_id
                if job_id:
                    with contextlib.suppress(ConflictError, NotFoundError):
                        self._jobs.cancel(record.tenant, job_id, "pipeline failing fast")
            if decided.done and decided.outcome and self._settled_as(pid, record.run, decided.outcome):
                record.status = decided.outcome
        for j in record.jobs.values():
            self._answer(pid, j)
        finish = record.finish_token
        if record.status != "RUNNING" and finish and not record.finished_reported:
            if record.status == "SUCCEEDED":
                self._sfn.succeed(finish, {"pipelineId": pid, "status": record.status})
            else:
                self._sfn.fail(finish, "batchplane.PipelineFailed", f"pipeline {pid} {record.status}")
            self._store.mark_finish_reported(pid, record.run)
        return record.status

    def _settled_as(self, pid: str, run: int, outcome: Outcome) -> bool:
        """Set the pipeline's final status; also true when it already is that (a concurrent advance, or our own
        earlier write whose answer was lost and whose retry then failed its condition), so the Finish token is
        still answered."""
        if self._store.set_status(pid, outcome, iso(self._clock())):
            return True
        head = self._store.head(pid, run)
        return head is not None and head.status == outcome

    def _start_job(self, pipeline: PipelineRecord | PipelineHead, plan: Plan, key: str) -> str | None:
        """Submit one pipeline job (idempotent: its Idempotency-Key is the pipeline's, the run's and the job's); its
        job id if this call moved it from WAITING."""
        job = plan.jobs[key]
        pid = pipeline.pipeline_id
        ikey = start_key(pid, pipeline.run, key)
        claimed: list[bool] = []

        def claim(job_id: str) -> bool:
            """WAITING → SUBMITTED before SubmitJob (a conditional write): a skip or cancel that landed first wins,
            and the job never reaches Batch. Our own earlier claim (a retried start) holds, and so does the end of
            this very job, told before the claim landed (`_ended_before_claim`): nothing is left to start or cancel."""
            moved, now = self._store.settle(pid, key, "SUBMITTED", allowed_from=("WAITING",), job_id=job_id)
            claimed.append(moved)
            return moved or (now is not None and now.job_id == job_id)

        submitted = self._jobs.submit(pipeline.tenant, job.request, ikey, pipeline=(pid, key), claim=claim)
        job_id = submitted.job.job_id
        if claimed:  # a new record: the claim decided
            return job_id if claimed[0] else None
        # a replay: the record (and its Batch job) existed before this start; settle as it was then
        moved, now = self._store.settle(pid, key, "SUBMITTED", allowed_from=("WAITING",), job_id=job_id)
        if moved:
            return job_id
        if now is not None and now.state in ("SKIPPED", "CANCELLED"):
            # skipped (fail-fast, a cancel) while we submitted: the job must not run
            with contextlib.suppress(ConflictError, NotFoundError):
                self._jobs.cancel(pipeline.tenant, job_id, "pipeline no longer runs this job")
        return None
