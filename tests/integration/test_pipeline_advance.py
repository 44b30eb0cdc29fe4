"""Advancing a pipeline on moto: while every job succeeds an event touches only its job and the jobs that depend on it
(no read of the whole pipeline until the run's last sink ends); duplicates change nothing; the first failure hands the run to
the full read and the pure `step`. Step Functions is stubbed (moto in-process does not execute it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import REGION, Stack

pytestmark = pytest.mark.integration

DIAMOND = {
    "name": "diamond",
    "jobs": [
        {"id": "a", "command": ["true"]},
        {"id": "b", "command": ["true"], "dependsOn": ["a"]},
        {"id": "c", "command": ["true"], "dependsOn": ["a"]},
        {"id": "d", "command": ["true"], "dependsOn": ["b", "c"]},
    ],
}


class FakeExecutions:
    def __init__(self) -> None:
        self.answers: list[tuple[str, str]] = []  # (token, outcome)
        self.stopped: list[str] = []
        self.causes: list[str] = []

    def start(self, name: str, payload: dict[str, Any]) -> str:
        return self.execution_arn(name)

    def execution_arn(self, name: str) -> str:
        return f"arn:aws:states:us-east-1:123456789012:execution:p:{name}"

    def stop(self, execution_arn: str, cause: str) -> None:
        self.stopped.append(execution_arn)
        self.causes.append(cause)

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self.answers.append((token, str(output.get("status"))))

    def fail(self, token: str, error: str, cause: str) -> None:
        self.answers.append((token, error))


@pytest.fixture
def service(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, FakeExecutions, list[str]]]:
    from batchplane import wiring

    svc = wiring.pipeline_service()
    stack.run_as_functions(svc, monkeypatch)  # each entry point under its function's role; the test body observes
    fake = FakeExecutions()
    monkeypatch.setattr(svc, "_sfn", fake)
    full_reads: list[str] = []  # the full path: read the whole pipeline, let `step` decide
    real_advance = svc.advance

    def counted_advance(pid: str) -> str:
        full_reads.append(pid)
        return str(real_advance(pid))

    monkeypatch.setattr(svc, "advance", counted_advance)
    with stack.observing():
        yield svc, fake, full_reads


def _states(svc: Any, pid: str) -> dict[str, str]:
    return {k: j.state for k, j in svc._store.get(pid).jobs.items()}


def _create(svc: Any) -> str:
    from batchplane.domain.pipelines import PipelineRequest

    record, _ = svc.create("alice", PipelineRequest.model_validate(DIAMOND), None)
    return str(record.pipeline_id)


def _started(svc: Any) -> str:
    """A diamond whose every task token has arrived (so its root is submitted)."""
    pid = _create(svc)
    for key in "abcd":
        svc.on_token(pid, 1, key, f"t-{key}")
    return pid


def test_a_diamond_that_succeeds_never_reads_the_whole_pipeline_before_finish(service: Any) -> None:
    svc, sfn, full_reads = service
    # GIVEN a diamond whose tokens have all arrived
    pid = _started(svc)
    record = svc._store.get(pid)
    assert record.jobs["a"].state == "SUBMITTED"  # the root starts when its token arrives
    assert {record.jobs[k].state for k in "bcd"} == {"WAITING"}
    # WHEN a succeeds (twice: events are at-least-once)
    for _ in range(2):
        svc.on_job_terminal(pid, "a", record.jobs["a"].job_id, "SUCCEEDED", False)
    # THEN b and c are submitted, d waits on both, a's token is answered once
    assert _states(svc, pid) == {"a": "SUCCEEDED", "b": "SUBMITTED", "c": "SUBMITTED", "d": "WAITING"}
    # WHEN b succeeds, then c (twice)
    jobs = svc._store.get(pid).jobs
    svc.on_job_terminal(pid, "b", jobs["b"].job_id, "SUCCEEDED", False)
    assert svc._store.get(pid).jobs["d"].state == "WAITING"
    for _ in range(2):
        svc.on_job_terminal(pid, "c", jobs["c"].job_id, "SUCCEEDED", False)
    # THEN d starts once both met; none of it read the whole pipeline
    jobs = svc._store.get(pid).jobs
    assert jobs["d"].state == "SUBMITTED"
    assert full_reads == []
    # WHEN d, the only sink, succeeds THEN that one event reads the whole pipeline once and decides the outcome
    svc.on_job_terminal(pid, "d", jobs["d"].job_id, "SUCCEEDED", False)
    assert full_reads == [pid]
    assert sorted(sfn.answers) == [(f"t-{k}", "SUCCEEDED") for k in "abcd"]
    assert svc._store.head(pid, 1).status == "SUCCEEDED"
    # WHEN the Finish token arrives (this run's tokens came from a Map execution of the earlier definition, whose
    # Finish comes last) THEN it is answered with the outcome
    assert svc.on_token(pid, 1, "__finish__", "t-finish") == "SUCCEEDED"
    assert sfn.answers[-1] == ("t-finish", "SUCCEEDED")


def test_a_token_after_its_job_ended_is_answered_at_once(service: Any) -> None:
    svc, sfn, _ = service
    # GIVEN a diamond where only a's token has arrived, and a succeeded
    pid = _create(svc)
    svc.on_token(pid, 1, "a", "t-a")
    svc.on_job_terminal(pid, "a", svc._store.get(pid).jobs["a"].job_id, "SUCCEEDED", False)
    jobs = svc._store.get(pid).jobs
    svc.on_job_terminal(pid, "b", jobs["b"].job_id, "SUCCEEDED", False)
    # WHEN b's token arrives late THEN it is answered then, once
    svc.on_token(pid, 1, "b", "t-b")
    svc.on_token(pid, 1, "b", "t-b")
    assert sorted(sfn.answers) == [("t-a", "SUCCEEDED"), ("t-b", "SUCCEEDED")]


def test_a_failure_hands_the_run_to_step(service: Any) -> None:
    svc, sfn, full_reads = service
    # GIVEN a diamond (fail-fast) whose tokens have all arrived, a running
    pid = _started(svc)
    job_id = svc._store.get(pid).jobs["a"].job_id
    assert full_reads == []
    # WHEN a fails
    status = svc.on_job_terminal(pid, "a", job_id, "FAILED", False)
    # THEN the run reads everything from now on: what can never run is skipped, the pipeline fails, every token is
    # answered
    assert full_reads
    assert status == "FAILED"
    assert _states(svc, pid) == {"a": "FAILED", "b": "SKIPPED", "c": "SKIPPED", "d": "SKIPPED"}
    assert sorted(sfn.answers) == [("t-a", "FAILED"), ("t-b", "SKIPPED"), ("t-c", "SKIPPED"), ("t-d", "SKIPPED")]
    assert svc._store.head(pid, 1).mode == "full"


def test_a_redelivered_last_event_tells_a_pipeline_that_missed_it(
    service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane import wiring

    from tests.batchevents import batch_event
    from tests.handlers import FakeLambdaContext, load_handler

    svc, _sfn, _ = service
    events = load_handler("job_events")
    pid = _started(svc)
    job = wiring.job_service()._store.get_job(svc._store.get(pid).jobs["a"].job_id)
    succeeded = batch_event(
        "SUCCEEDED",
        job_id=job.job_id,
        attempt=1,
        batch_job_id=f"batch-{job.job_id}",
        queue_arn=job.attempts[0].queue_arn,
        name=job.name,
    )
    # GIVEN the job's SUCCEEDED event was recorded but the handler died before its pipeline heard
    real = svc.on_job_terminal

    def died(*_: Any) -> str:
        raise RuntimeError("the container died")

    monkeypatch.setattr(svc, "on_job_terminal", died)
    with pytest.raises(RuntimeError):
        events.lambda_handler(succeeded, FakeLambdaContext())
    monkeypatch.setattr(svc, "on_job_terminal", real)
    assert _states(svc, pid)["a"] == "SUBMITTED"
    # WHEN Lambda delivers the event again (a duplicate for the job's record)
    outcome = events.lambda_handler(succeeded, FakeLambdaContext())
    # THEN the pipeline hears it: a succeeded, b and c start
    assert outcome["outcome"] == "stale-retold"
    assert _states(svc, pid) == {"a": "SUCCEEDED", "b": "SUBMITTED", "c": "SUBMITTED", "d": "WAITING"}


def test_a_job_that_ends_before_its_start_is_claimed_still_settles_and_starts_its_dependents(
    service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane import wiring

    svc, _sfn, _ = service
    pid = _create(svc)
    real_submit = svc._jobs.submit
    told: list[str] = []

    def submit(*args: Any, claim: Any = None, pipeline: Any = None, **kw: Any) -> Any:
        if claim is None or pipeline != (pid, "a") or told:
            return real_submit(*args, claim=claim, pipeline=pipeline, **kw)

        def late_claim(job_id: str) -> bool:
            # the record is written (QUEUED): the dispatcher admitted it and Batch ran it before the claim landed
            told.append(job_id)
            svc.on_job_terminal(pid, "a", job_id, "SUCCEEDED", False)
            return bool(claim(job_id))

        return real_submit(*args, claim=late_claim, pipeline=pipeline, **kw)

    monkeypatch.setattr(svc._jobs, "submit", submit)
    # GIVEN a's start wrote its job's record, and the job ended and was told to the pipeline before its start's
    # claim (WAITING -> SUBMITTED) landed
    svc.on_token(pid, 1, "a", "t-a")
    assert told
    # THEN the pipeline has it SUCCEEDED (not SUBMITTED, waiting for an end already told), b and c started
    assert _states(svc, pid) == {"a": "SUCCEEDED", "b": "SUBMITTED", "c": "SUBMITTED", "d": "WAITING"}
    a = wiring.job_service()._store.get_job(told[0])
    assert svc._store.get(pid).jobs["a"].job_id == a.job_id
    assert not a.cancel_requested  # the late claim found its own job's end: nothing to cancel
    # AND the end of a job that is not the one this run starts for a WAITING key changes nothing
    svc.on_job_terminal(pid, "d", "0" * 26, "SUCCEEDED", False)
    assert _states(svc, pid)["d"] == "WAITING"


def test_a_creation_interrupted_before_its_execution_is_finished_by_the_retry(service: Any) -> None:
    from batchplane.domain.errors import UpstreamUnavailableError
    from batchplane.domain.pipelines import PipelineRequest

    svc, sfn, _ = service
    started: list[str] = []
    real_start = sfn.start

    def start_once_failing(name: str, payload: dict[str, Any]) -> str:
        started.append(name)
        if len(started) == 1:
            raise UpstreamUnavailableError("Step Functions is unavailable")
        return real_start(name, payload)

    sfn.start = start_once_failing
    request = PipelineRequest.model_validate(DIAMOND)
    # GIVEN a creation whose StartExecution failed after the pipeline id was claimed
    with pytest.raises(UpstreamUnavailableError):
        svc.create("alice", request, "k1")
    # WHEN the client retries with the same Idempotency-Key
    record, replayed = svc.create("alice", request, "k1")
    # THEN the creation is finished: every job recorded, the execution started (by the same name), not a new pipeline
    assert replayed
    assert record.execution_arn is not None
    assert started == [started[0], started[0]]
    assert _states(svc, record.pipeline_id) == dict.fromkeys("abcd", "WAITING")
    # AND a third try changes nothing
    again, _ = svc.create("alice", request, "k1")
    assert len(started) == 2
    assert again.execution_arn == record.execution_arn


def test_a_job_started_while_fail_fast_skipped_it_never_reaches_batch(service: Any, stack: Stack) -> None:
    from batchplane import wiring
    from batchplane.domain.pipelines import PipelineRequest
    from batchplane.domain.ports import JobFilter
    from batchplane.services.pipelines import plan_of

    svc, _sfn, _ = service
    body = {
        "name": "ff",
        "jobs": [{"id": "bad", "command": ["false"]}, {"id": "slow", "command": ["sleep", "20"]}],
    }
    request = PipelineRequest.model_validate(body)
    record, _ = svc.create("alice", request, None)
    pid = record.pipeline_id
    svc._store.mark_ready_released(pid, 1)  # each root starts at its own token here (the run's release already done)
    svc.on_token(pid, 1, "bad", "t-bad")
    bad = svc._store.get(pid).jobs["bad"]
    # GIVEN bad failed and fail-fast skipped slow, whose token was being handled at the same moment
    svc.on_job_terminal(pid, "bad", bad.job_id, "FAILED", False)
    assert _states(svc, pid)["slow"] == "SKIPPED"
    # WHEN that token's handler starts slow anyway (it read the pipeline before the skip)
    stack.calls.reset()
    started = svc._start_job(svc._store.get(pid), plan_of(request), "slow")
    # THEN the skip wins (the start's claim is a conditional write before SubmitJob): the pipeline keeps it skipped,
    # and its job never reaches Batch: it ends CANCELLED
    assert started is None
    assert _states(svc, pid)["slow"] == "SKIPPED"
    assert stack.calls.counts["batch.SubmitJob"] == 0
    jobs = wiring.job_service().list_jobs("alice", JobFilter(), 10, None).jobs
    slow = next(j for j in jobs if j.name == "slow")
    assert slow.cancel_requested
    assert slow.status.value == "CANCELLED"


def test_an_answer_that_failed_to_send_is_sent_by_the_next_try(service: Any) -> None:
    svc, sfn, _ = service
    pid = _started(svc)
    a = svc._store.get(pid).jobs["a"]
    real_succeed = sfn.succeed
    calls: list[str] = []

    def lost_once(token: str, output: dict[str, Any]) -> None:
        calls.append(token)
        if len(calls) == 1:
            raise RuntimeError("SendTaskSuccess failed after the SDK's retries")
        real_succeed(token, output)

    sfn.succeed = lost_once
    # GIVEN a's end reached its pipeline but answering its task token failed (the handler raised)
    with pytest.raises(RuntimeError):
        svc.on_job_terminal(pid, "a", a.job_id, "SUCCEEDED", False)
    # WHEN the event is delivered again
    svc.on_job_terminal(pid, "a", a.job_id, "SUCCEEDED", False)
    # THEN the token is answered (it was not marked answered before it was sent), and only once after that
    assert sfn.answers == [("t-a", "SUCCEEDED")]
    svc.on_job_terminal(pid, "a", a.job_id, "SUCCEEDED", False)
    assert sfn.answers == [("t-a", "SUCCEEDED")]


def test_a_join_whose_start_failed_is_started_when_its_last_dependency_is_told_again(
    service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.domain.errors import UpstreamUnavailableError

    svc, _sfn, _ = service
    pid = _started(svc)
    svc.on_job_terminal(pid, "a", svc._store.get(pid).jobs["a"].job_id, "SUCCEEDED", False)
    jobs = svc._store.get(pid).jobs
    svc.on_job_terminal(pid, "b", jobs["b"].job_id, "SUCCEEDED", False)
    real_submit = svc._jobs.submit
    # GIVEN c's end lowered d's counter to 0, then submitting d failed (the handler raised; Lambda retries the event)
    monkeypatch.setattr(svc._jobs, "submit", lambda *a, **k: (_ for _ in ()).throw(UpstreamUnavailableError("x")))
    with pytest.raises(UpstreamUnavailableError):
        svc.on_job_terminal(pid, "c", jobs["c"].job_id, "SUCCEEDED", False)
    assert _states(svc, pid)["d"] == "WAITING"
    monkeypatch.setattr(svc._jobs, "submit", real_submit)
    # WHEN the event is delivered again (c's dependency is already counted)
    svc.on_job_terminal(pid, "c", jobs["c"].job_id, "SUCCEEDED", False)
    # THEN d starts: a retried count is not taken for "someone else already started it"
    assert _states(svc, pid)["d"] == "SUBMITTED"


def test_a_count_whose_answer_was_lost_tells_the_retry_what_is_left(service: Any) -> None:
    svc, _sfn, _ = service
    pid = _create(svc)
    # GIVEN d's first dependency counted (and the SDK retries the call because the answer was lost)
    assert svc._store.meet(pid, 1, "d", 1) == 1
    # THEN the retry learns what is left instead of nothing; the count is lowered once
    assert svc._store.meet(pid, 1, "d", 1) == 1
    assert svc._store.meet(pid, 1, "d", 2) == 0
    assert svc._store.meet(pid, 1, "d", 2) == 0
    # AND a job that is no longer waiting is not counted (None)
    assert svc._store.meet(pid, 2, "d", 1) is None


def test_a_final_status_whose_answer_was_lost_still_answers_the_finish_token(
    service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, sfn, _ = service
    pid = _started(svc)
    for key in "abcd":
        job = svc._store.get(pid).jobs[key]
        svc.on_job_terminal(pid, key, job.job_id, "SUCCEEDED", False)
    real_set = svc._store.set_status

    def applied_but_lost(*args: Any, **kwargs: Any) -> bool:
        real_set(*args, **kwargs)  # the write lands, its answer is lost, the SDK's retry fails the condition
        return bool(real_set(*args, **kwargs))

    monkeypatch.setattr(svc._store, "set_status", applied_but_lost)
    # WHEN the Finish token arrives and the final status write is retried that way
    assert svc.on_token(pid, 1, "__finish__", "t-finish") == "SUCCEEDED"
    # THEN the Finish token is answered all the same
    assert sfn.answers[-1] == ("t-finish", "SUCCEEDED")


def test_an_ended_job_costs_its_own_item_two_writes(service: Any, stack: Stack) -> None:
    svc, sfn, _ = service
    pid = _started(svc)
    a = svc._store.get(pid).jobs["a"]
    stack.calls.requests.clear()
    # WHEN a succeeds
    svc.on_job_terminal(pid, "a", a.job_id, "SUCCEEDED", False)
    # THEN its own item is written twice: its state, then (in one write) "dependants told" and "token answered"
    own = [p for name, p in stack.calls.requests if name == "dynamodb.UpdateItem" and p["Key"]["sk"]["S"] == "PJOB#a"]
    assert len(own) == 2
    assert set(own[1]["ExpressionAttributeNames"].values()) == {"propagated1", "reported1"}
    assert ("t-a", "SUCCEEDED") in sfn.answers
    # AND a duplicate of the event only tries its state write (which fails its condition) and answers nothing again
    answered = len(sfn.answers)
    stack.calls.requests.clear()
    svc.on_job_terminal(pid, "a", a.job_id, "SUCCEEDED", False)
    again = [n for n, p in stack.calls.requests if n == "dynamodb.UpdateItem" and p["Key"]["sk"]["S"] == "PJOB#a"]
    assert len(again) == 1
    assert len(sfn.answers) == answered


def test_an_end_told_inline_to_its_dependants_costs_its_own_item_one_write(service: Any, stack: Stack) -> None:
    from batchplane import wiring

    svc, sfn, _ = service
    # GIVEN a diamond run by its Finish token alone (no job has a token of its own to answer)
    pid = _create(svc)
    assert svc.on_token(pid, 1, "__finish__", "t-finish") == "RUNNING"
    a = svc._store.get(pid).jobs["a"]
    stack.calls.requests.clear()
    # WHEN a succeeds
    svc.on_job_terminal(pid, "a", a.job_id, "SUCCEEDED", False)
    # THEN its own item is written once, its state: telling b and c is not remembered by a second write
    own = [p for name, p in stack.calls.requests if name == "dynamodb.UpdateItem" and p["Key"]["sk"]["S"] == "PJOB#a"]
    assert len(own) == 1
    assert _states(svc, pid) == {"a": "SUCCEEDED", "b": "SUBMITTED", "c": "SUBMITTED", "d": "WAITING"}
    started = {k: j.job_id for k, j in svc._store.get(pid).jobs.items()}
    with stack.acting_as("dispatcher"):
        queued = wiring.admission_store().account("alice").queued
    assert queued == 3  # a (never admitted here: its end is told directly), b and c
    # WHEN the event comes again (at-least-once): b and c are told again
    svc.on_job_terminal(pid, "a", a.job_id, "SUCCEEDED", False)
    # THEN nothing changes: the same jobs, none started or queued twice, nothing answered
    assert _states(svc, pid) == {"a": "SUCCEEDED", "b": "SUBMITTED", "c": "SUBMITTED", "d": "WAITING"}
    assert {k: j.job_id for k, j in svc._store.get(pid).jobs.items()} == started
    with stack.acting_as("dispatcher"):
        assert wiring.admission_store().account("alice").queued == queued
    assert sfn.answers == []


def test_a_creation_without_a_key_that_fails_midway_does_not_stay_running(service: Any) -> None:
    from batchplane.domain.errors import UpstreamUnavailableError
    from batchplane.domain.pipelines import PipelineRequest

    svc, sfn, _ = service

    def start_lost(name: str, payload: dict[str, Any]) -> str:
        raise UpstreamUnavailableError("Step Functions is unavailable")  # it may have started: its answer was lost

    sfn.start = start_lost
    # GIVEN a creation without an Idempotency-Key whose StartExecution failed after the pipeline id was claimed
    with pytest.raises(UpstreamUnavailableError):
        svc.create("alice", PipelineRequest.model_validate(DIAMOND), None)
    # THEN no retry can ever find it, so it is not left RUNNING: it ended FAILED and its execution, if any, is stopped
    [record] = svc.list("alice", 10)
    assert record.status == "FAILED"
    assert sfn.stopped == [sfn.execution_arn(f"{record.pipeline_id}-r1")]


def test_resuming_a_succeeded_pipeline_is_a_conflict(service: Any) -> None:
    from batchplane.domain.errors import ConflictError

    svc, _, _ = service
    # GIVEN a diamond that SUCCEEDED
    pid = _started(svc)
    for key in "abcd":
        job = svc._store.get(pid).jobs[key]
        svc.on_job_terminal(pid, key, job.job_id, "SUCCEEDED", False)
    assert svc.on_token(pid, 1, "__finish__", "t-finish") == "SUCCEEDED"
    # WHEN its owner asks to resume it THEN it is a conflict (409), not a new run of nothing
    with pytest.raises(ConflictError, match="nothing to resume"):
        svc.resume("alice", pid)
    assert svc._store.get(pid).run == 1


def test_a_cancel_reason_reaches_the_execution_and_the_jobs_it_cancels(service: Any, stack: Stack) -> None:
    import boto3

    svc, sfn, _ = service
    # GIVEN a diamond whose root a was submitted
    pid = _started(svc)
    a_job = svc._store.get(pid).jobs["a"].job_id
    # WHEN its owner cancels it with a reason
    record = svc.cancel("alice", pid, "wrong reference genome")
    # THEN the execution is stopped with the reason as its cause, and the running job is cancelled with it
    assert record.status == "CANCELLED"
    assert sfn.causes == ["cancelled by its owner: wrong reference genome"]
    ddb = boto3.client("dynamodb", region_name=REGION)
    item = ddb.get_item(TableName=stack.table_name, Key={"pk": {"S": f"JOB#{a_job}"}, "sk": {"S": "JOB"}})["Item"]
    assert item["cancelRequested"] == {"BOOL": True}
    assert item["cancelReason"]["S"].endswith("pipeline cancelled: wrong reference genome")


def test_a_run_whose_only_token_is_finish_starts_its_roots_and_ends_at_its_last_sink(
    service: Any, stack: Stack
) -> None:
    svc, sfn, full_reads = service
    # GIVEN a diamond whose execution (one Finish task, no task per job) hands over its Finish token as it starts
    pid = _create(svc)
    assert svc.on_token(pid, 1, "__finish__", "t-finish") == "RUNNING"
    # THEN the root is submitted at once, nothing is answered, nothing read the whole pipeline
    assert _states(svc, pid) == {"a": "SUBMITTED", "b": "WAITING", "c": "WAITING", "d": "WAITING"}
    assert sfn.answers == []
    assert full_reads == []
    # WHEN every job succeeds, each event delivered twice (at-least-once)
    for wave in ("a", "bc", "d"):
        jobs = svc._store.get(pid).jobs
        for key in wave:
            for _ in range(2):
                svc.on_job_terminal(pid, key, jobs[key].job_id, "SUCCEEDED", False)
    # THEN the Finish token is answered once, SUCCEEDED, after one full read, and nothing else was answered
    assert sfn.answers == [("t-finish", "SUCCEEDED")]
    assert svc._store.head(pid, 1).status == "SUCCEEDED"
    assert len(full_reads) == 2  # d's event and its duplicate (which finds the token already answered)
    # AND a Finish token delivered again by SQS is not answered twice
    svc.on_token(pid, 1, "__finish__", "t-finish")
    assert sfn.answers == [("t-finish", "SUCCEEDED")]


def test_a_finish_token_that_arrives_after_the_last_sink_is_answered_then(service: Any) -> None:
    svc, sfn, _ = service
    # GIVEN a diamond run to its end before its Finish token arrives (the token's SQS message was late)
    pid = _create(svc)
    svc._release_ready(svc._store.head(pid, 1))
    for wave in ("a", "bc", "d"):
        jobs = svc._store.get(pid).jobs
        for key in wave:
            svc.on_job_terminal(pid, key, jobs[key].job_id, "SUCCEEDED", False)
    assert svc._store.sinks_left(pid, 1) == 0
    assert sfn.answers == []
    # WHEN the token arrives THEN it is answered with the outcome at once
    assert svc.on_token(pid, 1, "__finish__", "t-finish") == "SUCCEEDED"
    assert sfn.answers == [("t-finish", "SUCCEEDED")]


def test_a_sink_is_counted_once_however_often_it_is_told(service: Any) -> None:
    svc, _sfn, _ = service
    pid = _create(svc)
    # GIVEN a diamond: one sink (d, the last in the pipeline's order), so one bucket of sinks
    assert svc._store.sinks_left(pid, 1) == 1
    # WHEN d is counted in its bucket, then the bucket in the run, each call retried after its answer was lost
    # THEN each count is lowered once
    assert svc._store.meet_in_bucket(pid, 1, "__finish__", 0, 3) == 0
    assert svc._store.meet_in_bucket(pid, 1, "__finish__", 0, 3) == 0
    assert svc._store.sink_done(pid, 1, 0) == 0
    assert svc._store.sink_done(pid, 1, 0) == 0
    # AND a run that counts no sinks (started by the earlier definition, or resumed in full mode) answers None
    assert svc._store.meet_in_bucket(pid, 2, "__finish__", 0, 3) is None
    assert svc._store.sink_done(pid, 2, 0) is None
    assert svc._store.sinks_left(pid, 2) is None


def test_fail_fast_cancelling_a_job_still_queued_for_admission_ends_the_pipeline(service: Any, stack: Stack) -> None:
    from batchplane import wiring
    from batchplane.domain.pipelines import PipelineRequest

    svc, sfn, _ = service
    body = {"name": "ffq", "jobs": [{"id": "bad", "command": ["false"]}, {"id": "slow", "command": ["sleep", "20"]}]}
    record, _ = svc.create("alice", PipelineRequest.model_validate(body), None)
    pid = record.pipeline_id
    for key in ("bad", "slow"):
        svc.on_token(pid, 1, key, f"t-{key}")
    jobs = svc._store.get(pid).jobs
    slow = jobs["slow"].job_id
    # GIVEN both roots submitted, and slow still QUEUED for admission (no dispatcher has run: nothing is in Batch)
    assert {k: j.state for k, j in jobs.items()} == {"bad": "SUBMITTED", "slow": "SUBMITTED"}
    assert wiring.job_service().get("alice", slow).status.value == "QUEUED"
    # WHEN bad fails: fail-fast cancels slow, whose end no Batch event will ever tell
    svc.on_job_terminal(pid, "bad", jobs["bad"].job_id, "FAILED", False)
    queued = wiring.job_service().get("alice", slow)
    assert (queued.status.value, queued.cancel_requested) == ("QUEUED", True)
    # AND the dispatcher looks at the queue
    report = stack.dispatch()
    # THEN it ended slow CANCELLED without admitting it, and told the pipeline: it ends FAILED, every token answered
    assert report.cancelled == [slow]
    assert slow not in report.admitted  # (bad, whose failure this test made up, is still QUEUED: it may be admitted)
    ended = wiring.job_service().get("alice", slow)
    assert ended.status.value == "CANCELLED"
    assert ended.status_reason == "batchplane: cancelled by alice: pipeline failing fast"
    assert _states(svc, pid) == {"bad": "FAILED", "slow": "CANCELLED"}
    assert svc._store.head(pid, 1).status == "FAILED"
    assert sorted(sfn.answers) == [("t-bad", "FAILED"), ("t-slow", "CANCELLED")]
    # AND a second look changes nothing
    assert stack.dispatch().cancelled == []
