"""job_events and sweeper handlers, invoked as Lambda invokes them, with real-shaped Batch events, against moto."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.apigw import http_event, response_json
from tests.batchevents import batch_event
from tests.conftest import REGION, Stack
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration


def submit_calls(stack: Stack) -> list[dict[str, Any]]:
    return [p for op, p in stack.calls.requests if op == "batch.SubmitJob"]


def test_a_successful_run_is_recorded_with_one_write_per_event(plane: Plane, stack: Stack) -> None:
    # GIVEN a submitted job
    job = plane.submit({"name": "ok", "memoryMiB": 2048})
    stack.calls.reset()
    # WHEN Batch reports RUNNABLE, STARTING, RUNNING, SUCCEEDED
    for i, kind in enumerate(["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]):
        assert plane.deliver(plane.event(kind, job, seconds=i)) in {"recorded", "succeeded"}
    # THEN each event cost exactly one guarded write, and nothing polled Batch: the last one is a transaction that
    # also gives back the job's admission (the job read before it, for what it holds; the job after it is that read
    # with the write applied), plus the ended attempt's cost added to the per-day rollup (the action it triggers)
    assert dict(stack.calls.counts) == {
        "dynamodb.UpdateItem": 4,
        "dynamodb.TransactWriteItems": 1,
        "dynamodb.GetItem": 1,
    }
    # AND the job and its attempt show the outcome
    shown = plane.job(job["jobId"])
    assert shown["status"] == "SUCCEEDED"
    attempt = shown["attempts"][0]
    assert attempt["status"] == "SUCCEEDED"
    assert attempt["exitCode"] == 0
    assert attempt["startedAt"]
    assert attempt["stoppedAt"]
    assert attempt["logStreamName"]


def test_duplicate_and_stale_events_cost_one_failed_write_and_change_nothing(plane: Plane, stack: Stack) -> None:
    job = plane.submit({"name": "dup"})
    done = plane.event("SUCCEEDED", job, seconds=10)
    plane.deliver(done)
    before = plane.job(job["jobId"])
    stack.calls.reset()
    # WHEN the same event comes again, and an older RUNNING arrives late
    assert plane.deliver(done) == "stale"
    assert plane.deliver(plane.event("RUNNING", job, seconds=5)) == "stale"
    # THEN each was one (failed) conditional write, and the record did not move; the SUCCEEDED one read the job
    # first (whether it still holds an admission to give back with its end: it does not)
    assert dict(stack.calls.counts) == {"dynamodb.UpdateItem": 2, "dynamodb.GetItem": 1}
    after = plane.job(job["jobId"])
    assert after == before
    assert after["status"] == "SUCCEEDED"


def test_spot_reclaim_falls_back_to_on_demand_exactly_once(plane: Plane, stack: Stack) -> None:
    # GIVEN a spot-first job running on Spot
    job = plane.submit({"name": "reclaimed", "priority": "high"})
    plane.deliver(plane.event("RUNNING", job, seconds=1))
    stack.calls.reset()
    # WHEN its instance is reclaimed, and the event is delivered twice
    reclaim = plane.event("RECLAIM", job, seconds=2)
    assert plane.deliver(reclaim) == "spot-fallback"
    assert plane.deliver(reclaim) == "stale"
    # THEN exactly one new Batch job was submitted, to the On-Demand queue of the same class, as attempt 2
    subs = submit_calls(stack)
    assert len(subs) == 1
    assert subs[0]["jobQueue"] == stack.queue("high", "on-demand")
    assert subs[0]["jobName"].startswith(f"bp-{job['jobId']}-a2")
    assert subs[0]["tags"]["batchplane:attempt"] == "2"
    assert subs[0]["tags"]["batchplane:stack"] == "batchplane-test"  # retries are this stack's jobs too
    shown = plane.job(job["jobId"])
    assert [a["reason"] for a in shown["attempts"]] == ["initial", "spot-fallback"]
    assert shown["attempts"][0]["failureClass"] == "spot-reclaim"
    assert shown["attempts"][1]["replaces"] == 1
    assert shown["attempts"][1]["capacity"] == "on-demand"
    assert shown["status"] == "SUBMITTED"


def test_oom_is_retried_once_with_doubled_memory(plane: Plane, stack: Stack) -> None:
    job = plane.submit({"name": "hungry", "memoryMiB": 2048, "retry": {"attempts": 3}})
    stack.calls.reset()
    assert plane.deliver(plane.event("OOM", job, seconds=3, memory_mib=2048)) == "memory-escalation"
    subs = submit_calls(stack)
    assert len(subs) == 1
    memory = {r["type"]: r["value"] for r in subs[0]["containerOverrides"]["resourceRequirements"]}["MEMORY"]
    assert memory == "4096"
    assert plane.job(job["jobId"])["attempts"][1]["memoryMiB"] == 4096


def test_app_error_backs_off_then_the_sweeper_releases_it(plane: Plane, stack: Stack) -> None:
    # GIVEN a job allowed 3 attempts with a short backoff
    job = plane.submit({"name": "flaky", "retry": {"attempts": 3, "backoff": {"baseSeconds": 0.2, "maxSeconds": 0.4}}})
    stack.calls.reset()
    # WHEN it exits 3
    assert plane.deliver(plane.event("FAILED", job, seconds=3)) == "retry-scheduled"
    # THEN nothing is submitted yet: the retry waits (PENDING) for its time
    assert submit_calls(stack) == []
    waiting = plane.job(job["jobId"])
    assert waiting["status"] == "PENDING"
    # WHEN the sweeper runs after the delay
    import time

    time.sleep(0.45)
    report = plane.sweep()
    # THEN the retry is released exactly once
    assert report["released"] == [job["jobId"]]
    assert len(submit_calls(stack)) == 1
    assert plane.sweep()["released"] == []
    assert len(submit_calls(stack)) == 1


def test_attempt_budget_then_give_up_with_the_last_reason(plane: Plane, stack: Stack) -> None:
    job = plane.submit({"name": "bad", "retry": {"attempts": 2, "backoff": {"baseSeconds": 0}}})
    assert plane.deliver(plane.event("FAILED", job, seconds=1)) == "retry"
    job = plane.job(job["jobId"])
    assert plane.deliver(plane.event("FAILED", job, attempt=2, seconds=2)) == "gave-up"
    shown = plane.job(job["jobId"])
    assert shown["status"] == "FAILED"
    assert "Essential container in task exited" in shown["statusReason"]
    assert len(shown["attempts"]) == 2


def test_never_retry_exit_codes_give_up_at_once(plane: Plane, stack: Stack) -> None:
    job = plane.submit({"name": "fatal", "retry": {"attempts": 5, "neverRetryExitCodes": [3]}})
    stack.calls.reset()
    assert plane.deliver(plane.event("FAILED", job, seconds=1)) == "gave-up"
    assert submit_calls(stack) == []
    assert plane.job(job["jobId"])["status"] == "FAILED"


def test_cancelled_job_is_never_retried(plane: Plane, stack: Stack) -> None:
    job = plane.submit({"name": "stopme", "retry": {"attempts": 5}})
    cancel = http_event(
        "POST",
        f"/jobs/{job['jobId']}/cancel",
        route="POST /jobs/{jobId}/cancel",
        path_parameters={"jobId": job["jobId"]},
    )
    plane.gateway.lambda_handler(cancel, plane.ctx)
    stack.calls.reset()
    assert plane.deliver(plane.event("CANCELLED", job, seconds=1)) == "cancelled"
    assert submit_calls(stack) == []
    shown = plane.job(job["jobId"])
    assert (shown["status"], shown["attempts"][0]["status"]) == ("CANCELLED", "FAILED")  # Batch's status stays


def test_crash_between_write_and_submit_is_repaired_once(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a job whose record was written but whose SubmitJob never happened (the gateway died in between)
    from batchplane import wiring

    # (a repair window of 0 s for the whole stack: the job is due for the sweeper's look as soon as it is written)
    monkeypatch.setenv("REPAIR_AFTER_SECONDS", "0")
    wiring.settings.cache_clear()
    wiring.job_service.cache_clear()
    svc = wiring.job_service()

    class Died(BaseException):
        pass

    def die(_request: dict[str, Any], **_: Any) -> str:
        raise Died

    real_submit = svc._batch.submit
    svc._batch.submit = die  # type: ignore[method-assign]
    try:
        with pytest.raises(Died):
            plane.submit({"name": "orphan"})
    finally:
        svc._batch.submit = real_submit  # type: ignore[method-assign]
    wiring.lifecycle_service.cache_clear()
    stack.calls.reset()
    # WHEN the sweeper runs (twice)
    first = plane.sweep()
    second = plane.sweep()
    # THEN the attempt was submitted exactly once, under its deterministic name
    assert len(first["repaired"]) == 1
    assert second["repaired"] == []
    subs = submit_calls(stack)
    assert len(subs) == 1
    assert subs[0]["jobName"].startswith("bp-")
    assert subs[0]["jobName"].endswith("-a1-orphan")


def emf_metrics(out: str) -> Counter[str]:
    """The EMF metrics (name -> summed value) in what a handler printed, as CloudWatch would read them."""
    seen: Counter[str] = Counter()
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        doc = json.loads(line)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "batchplane"
            for metric in directive["Metrics"]:
                values = doc[metric["Name"]]
                seen[metric["Name"]] += sum(values) if isinstance(values, list) else values
    return seen


def test_stuck_runnable_on_spot_moves_to_on_demand_but_a_waiting_job_is_left_alone(
    plane: Plane, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    # GIVEN one spot-first job blocked for capacity for 10 minutes, and one merely RUNNABLE (no blocked reason) on a
    # queue that is not blocked
    stuck = plane.submit({"name": "stuck", "retry": {"stuckRunnableSeconds": 60}})
    waiting = plane.submit({"name": "waiting", "priority": "high", "retry": {"stuckRunnableSeconds": 60}})
    plane.deliver(plane.event("CAPACITY", stuck, when=long_ago))
    plane.deliver(plane.event("RUNNABLE", waiting, when=long_ago))
    stack.calls.reset()
    capsys.readouterr()
    # WHEN the sweeper runs
    report = plane.sweep()
    # THEN only the blocked job moves: its Spot attempt is cancelled and an On-Demand attempt submitted
    assert report["moved_to_on_demand"] == [stuck["jobId"]]
    # AND the job left RUNNABLE past its dwell is counted once (JobsStuckRunnableAlarm), the moved one is not
    assert emf_metrics(capsys.readouterr().out)["JobsStuckRunnable"] == 1
    subs = submit_calls(stack)
    assert len(subs) == 1
    assert subs[0]["jobQueue"] == stack.queue("normal", "on-demand")
    assert stack.calls.counts["batch.TerminateJob"] == 1  # stops it even if it started since the record was written
    assert stack.calls.counts["batch.CancelJob"] == 0
    shown = plane.job(stuck["jobId"])
    assert [a["reason"] for a in shown["attempts"]] == ["initial", "capacity-fallback"]
    assert shown["attempts"][0]["status"] == "FAILED"
    # AND the cancelled Spot attempt's own FAILED event changes nothing later
    assert plane.deliver(plane.event("CANCELLED", stuck, seconds=900)) == "stale"
    assert plane.job(waiting["jobId"])["attempts"][0]["status"] == "RUNNABLE"


def test_a_queue_blocked_at_its_head_moves_every_job_behind_it_past_the_dwell(plane: Plane, stack: Stack) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    # GIVEN a Spot queue whose head carries AWS's capacity reason (AWS gives it to the head only), three jobs behind
    # it RUNNABLE for 10 minutes with no reason, and one that became RUNNABLE just now
    spec = {"retry": {"stuckRunnableSeconds": 60}}
    head = plane.submit({"name": "head", **spec})
    behind = [plane.submit({"name": f"behind{i}", **spec}) for i in range(3)]
    recent = plane.submit({"name": "recent", **spec})
    plane.deliver(plane.event("BLOCKED", head, when=long_ago))
    for job in behind:
        plane.deliver(plane.event("RUNNABLE", job, when=long_ago))
    plane.deliver(plane.event("RUNNABLE", recent, when=datetime.now(UTC)))
    stack.calls.reset()
    # WHEN the sweeper runs once
    report = plane.sweep()
    # THEN the head and every job behind it past the dwell move to On-Demand in that one sweep; the recent one waits
    assert sorted(report["moved_to_on_demand"]) == sorted(j["jobId"] for j in [head, *behind])
    assert {s["jobQueue"] for s in submit_calls(stack)} == {stack.queue("normal", "on-demand")}
    assert plane.job(recent["jobId"])["attempts"][-1]["reason"] == "initial"
    moved = plane.job(behind[0]["jobId"])["attempts"][-1]
    assert moved["reason"] == "capacity-fallback"
    assert "queue blocked at its head: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY" in moved["explanation"]
    # AND the queue's compute environments were asked about scaling once, not once per job
    assert stack.calls.counts["batch.DescribeJobQueues"] == 1


def test_a_misconfigured_head_does_not_move_the_jobs_behind_it(plane: Plane, stack: Stack) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    # GIVEN a head too big for the Spot environment (a reason about that job alone) and a job behind it
    spec = {"retry": {"stuckRunnableSeconds": 60}}
    head, behind = (plane.submit({"name": n, **spec}) for n in ("head", "behind"))
    event = plane.event("BLOCKED", head, when=long_ago)
    event["detail"]["statusReason"] = (
        "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the CPU "
        "requirement of the job."
    )
    plane.deliver(event)
    plane.deliver(plane.event("RUNNABLE", behind, when=long_ago))
    # WHEN the sweeper runs THEN only the head moves (On-Demand may fit it); the job behind waits its turn
    assert plane.sweep()["moved_to_on_demand"] == [head["jobId"]]


def test_malformed_event_goes_to_the_dead_letter_queue(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = stack.sqs_queues["JobEventsDeadLetterQueue"]  # the queue the template gives job_events (and its role)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", url)
    from batchplane import wiring

    wiring.reset()
    outcome = plane.events.lambda_handler({"detail-type": "Batch Job State Change", "detail": {}}, plane.ctx)
    assert outcome == {"outcome": "dead-lettered"}
    messages = sqs.receive_message(QueueUrl=url)["Messages"]
    assert "malformed event" in json.loads(messages[0]["Body"])["reason"]


def test_events_of_jobs_not_ours_are_ignored(plane: Plane, stack: Stack) -> None:
    event = batch_event(
        "SUCCEEDED", job_id="X", attempt=1, batch_job_id="b", queue_arn=stack.queue("low", "spot"), name="n"
    )
    event["detail"]["jobName"] = "someone-elses-job"
    event["detail"]["tags"] = {}
    stack.calls.reset()
    assert plane.deliver(event) == "ignored"
    assert stack.calls.total == 0


def test_lineage_graph_links_attempts_and_artifacts(plane: Plane, stack: Stack) -> None:
    # GIVEN a job with artifacts whose Spot attempt was reclaimed and whose On-Demand attempt succeeded
    job = plane.submit({"name": "lin", "inputs": ["s3://b/in.fq"], "outputs": ["s3://b/out.bam"]})
    plane.deliver(plane.event("RECLAIM", job, seconds=1))
    job = plane.job(job["jobId"])
    plane.deliver(plane.event("SUCCEEDED", job, attempt=2, seconds=2))
    # WHEN its lineage is asked
    route = "GET /jobs/{jobId}/lineage"
    event = http_event("GET", f"/jobs/{job['jobId']}/lineage", route=route, path_parameters={"jobId": job["jobId"]})
    graph = response_json(plane.gateway.lambda_handler(event, plane.ctx))
    # THEN attempts are linked with why, and the artifacts hang off the job
    kinds = Counter(n["kind"] for n in graph["nodes"])
    assert kinds == {"job": 1, "attempt": 2, "artifact": 2}
    replaces = [e for e in graph["edges"] if e["kind"] == "replaces"]
    assert replaces == [
        {
            "from": f"attempt:{job['jobId']}:2",
            "to": f"attempt:{job['jobId']}:1",
            "kind": "replaces",
            "reason": "spot-fallback",
        }
    ]
    # AND "what produced s3://b/out.bam?" is answered (for the owner only)
    asked = http_event("GET", "/artifacts", query={"uri": "s3://b/out.bam"})
    produced = response_json(plane.gateway.lambda_handler(asked, plane.ctx))
    assert produced["jobs"] == [{"uri": "s3://b/out.bam", "role": "output", "jobId": job["jobId"], "name": "lin"}]
    other = http_event(
        "GET", "/artifacts", query={"uri": "s3://b/out.bam"}, caller="arn:aws:iam::123456789012:user/eve"
    )
    assert response_json(plane.gateway.lambda_handler(other, plane.ctx))["jobs"] == []


def test_logs_route_reads_the_attempts_log_stream(plane: Plane, stack: Stack) -> None:
    # GIVEN a finished job whose container wrote to CloudWatch Logs
    job = plane.submit({"name": "logged"})
    done = plane.event("SUCCEEDED", job, seconds=1)
    stream = done["detail"]["attempts"][-1]["container"]["logStreamName"]
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/aws/batch/job")
    logs.create_log_stream(logGroupName="/aws/batch/job", logStreamName=stream)
    logs.put_log_events(
        logGroupName="/aws/batch/job",
        logStreamName=stream,
        logEvents=[{"timestamp": 1795435200000, "message": "hello"}, {"timestamp": 1795435200001, "message": "bye"}],
    )
    plane.deliver(done)
    # WHEN its logs are asked
    event = http_event(
        "GET", f"/jobs/{job['jobId']}/logs", route="GET /jobs/{jobId}/logs", path_parameters={"jobId": job["jobId"]}
    )
    got = response_json(plane.gateway.lambda_handler(event, plane.ctx))
    # THEN the lines come back
    assert got["lines"] == ["hello", "bye"]
    assert got["logStreamName"] == stream


def _get_logs(plane: Plane, job_id: str, **query: str) -> dict[str, Any]:
    route, params = "GET /jobs/{jobId}/logs", {"jobId": job_id}
    event = http_event("GET", f"/jobs/{job_id}/logs", route=route, path_parameters=params, query=query or None)
    return plane.gateway.lambda_handler(event, plane.ctx)


def test_logs_read_on_from_a_token_and_describe_only_array_children(plane: Plane, stack: Stack) -> None:
    # GIVEN a running plain job with two lines written, and a running array job of 3
    job = plane.submit({"name": "logged"})
    running = plane.event("RUNNING", job, seconds=1)
    plane.deliver(running)
    stream = running["detail"]["container"]["logStreamName"]
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/aws/batch/job")
    logs.create_log_stream(logGroupName="/aws/batch/job", logStreamName=stream)
    now = int(time.time() * 1000)
    put = {"logGroupName": "/aws/batch/job", "logStreamName": stream}
    logs.put_log_events(**put, logEvents=[{"timestamp": now, "message": "one"}, {"timestamp": now, "message": "two"}])
    array = plane.submit({"name": "arr", "arraySize": 3})
    plane.deliver(plane.event("RUNNABLE", array))
    stack.calls.reset()

    # WHEN the plain job's logs are read, a line is written, and they are read again with the answer's token
    first = response_json(_get_logs(plane, job["jobId"]))
    logs.put_log_events(**put, logEvents=[{"timestamp": now + 1, "message": "three"}])
    second = response_json(_get_logs(plane, job["jobId"], nextToken=first["nextToken"]))

    # THEN the second answer holds only the new line; the status says the job runs; no DescribeJobs was needed
    assert (first["lines"], first["status"], first["attemptStatus"]) == (["one", "two"], "RUNNING", "RUNNING")
    assert second["lines"] == ["three"]
    assert (first["more"], first["latestAttempt"]) == (False, 1)
    page = response_json(_get_logs(plane, job["jobId"], limit="2"))
    assert (page["lines"], page["more"]) == (["one", "two"], True)  # a full page: read on at once
    assert second["streams"] == [{"logStreamName": stream, "lines": ["three"]}]
    assert stack.calls.counts["batch.DescribeJobs"] == 0
    assert stack.calls.counts["logs.GetLogEvents"] == 3

    # WHEN an array child's logs are read THEN one DescribeJobs, of <batch job id>:<index>, under the gateway's role
    child = _get_logs(plane, array["jobId"], index="2")
    assert child["statusCode"] == 200, child["body"]
    assert stack.calls.counts["batch.DescribeJobs"] == 1
    assert stack.calls.last("batch.DescribeJobs")["jobs"][0].endswith(":2")
    (shown,) = response_json(child)["streams"]
    assert (shown["index"], shown["lines"]) == (2, [])  # the child's own stream (moto's name for it), nothing written
    assert shown["logStreamName"].startswith(f"{stack.job_definitions['sample'].split('/')[-1].split(':')[0]}/")

    # AND what cannot be answered is an error naming the field, never a 5xx
    for job_id, query, status, field in (
        (job["jobId"], {"index": "1"}, 422, "index"),  # not an array job
        (array["jobId"], {"index": "3"}, 422, "index"),  # outside the array
        (job["jobId"], {"attempt": "4"}, 404, "attempt"),
        (job["jobId"], {"nextToken": "garbage!"}, 400, "nextToken"),
    ):
        answer = _get_logs(plane, job_id, **query)
        assert answer["statusCode"] == status, (query, answer["body"])
        assert response_json(answer)["errors"][0]["field"] == field


def test_a_batch_job_with_our_tags_but_no_record_is_adopted(plane: Plane, stack: Stack) -> None:
    # GIVEN a Batch job named and tagged by batchplane whose record does not exist
    event = batch_event(
        "RUNNING",
        job_id="01JDEM00000000000000000000",
        attempt=1,
        batch_job_id="b-lost",
        queue_arn=stack.queue("high", "spot"),
        name="lost",
    )
    event["detail"]["tags"]["batchplane:tenant"] = "arn:aws:sts::123456789012:assumed-role/genomics-team"
    # WHEN its event arrives
    assert plane.deliver(event) == "adopted"
    # THEN the job is tracked like any other, for its tenant
    shown = plane.job("01JDEM00000000000000000000")
    assert shown["status"] == "RUNNING"
    assert shown["attempts"][0]["reason"] == "adopted"
    assert shown["queue"] == "batchplane-test_high_spot"


def test_crash_between_recording_a_retry_and_submitting_it_is_repaired_once(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a reclaim whose handler dies after recording attempt 2 and before its SubmitJob
    from batchplane import wiring

    # (a repair window of 0 s for the whole stack, set before anything is written: each write files the job due for
    # the sweeper's look after the window in force then)
    monkeypatch.setenv("REPAIR_AFTER_SECONDS", "0")
    wiring.settings.cache_clear()
    wiring.job_service.cache_clear()
    wiring.lifecycle_service.cache_clear()
    job = plane.submit({"name": "crashy"})
    svc = wiring.lifecycle_service(plane.events._metric)

    class Died(BaseException):
        pass

    def die(_request: dict[str, Any], **_: Any) -> str:
        raise Died

    real = svc._batch.submit
    svc._batch.submit = die  # type: ignore[method-assign]
    try:
        with pytest.raises(Died):
            plane.deliver(plane.event("RECLAIM", job, seconds=1))
    finally:
        svc._batch.submit = real  # type: ignore[method-assign]
    recorded = plane.job(job["jobId"])
    assert [a["reason"] for a in recorded["attempts"]] == ["initial", "spot-fallback"]
    # WHEN Lambda retries the event, and the sweeper runs twice
    monkeypatch.setenv("REPAIR_AFTER_SECONDS", "0")
    wiring.lifecycle_service.cache_clear()
    wiring.settings.cache_clear()
    stack.calls.reset()
    assert plane.deliver(plane.event("RECLAIM", job, seconds=1)) == "stale"
    plane.sweep()
    plane.sweep()
    # THEN attempt 2 was submitted exactly once, to On-Demand
    subs = submit_calls(stack)
    assert len(subs) == 1
    assert subs[0]["jobName"].startswith(f"bp-{job['jobId']}-a2")
    assert subs[0]["jobQueue"] == stack.queue("normal", "on-demand")


@pytest.mark.parametrize("parent_first", [True, False], ids=["parent-event-first", "children-events-first"])
def test_an_array_retries_only_its_failed_children(plane: Plane, stack: Stack, parent_first: bool) -> None:
    # GIVEN an array of 5 that retries only failed children
    job = plane.submit(
        {
            "name": "arr",
            "arraySize": 5,
            "retry": {"attempts": 2, "arrayRetry": "failed-children", "backoff": {"baseSeconds": 0}},
        }
    )
    parent = plane.event("FAILED", job, seconds=5)
    parent["detail"]["arrayProperties"] = {"statusSummary": {"SUCCEEDED": 3, "FAILED": 2}, "size": 5}
    children = []
    for index in (1, 3):
        child = plane.event("FAILED", job, seconds=4)
        child["detail"]["jobId"] = f"{parent['detail']['jobId']}:{index}"
        child["detail"]["arrayProperties"] = {"index": index}
        children.append(child)
    stack.calls.reset()
    # WHEN the parent's and the children's FAILED events arrive, in either order, and again
    order = [parent, *children] if parent_first else [*children, parent]
    outcomes = [plane.deliver(e) for e in [*order, *order]]
    # THEN one new attempt runs only indexes 1 and 3: an array of 2 that knows their original indexes
    assert "children-retry" in outcomes
    subs = submit_calls(stack)
    assert len(subs) == 1
    assert subs[0]["arrayProperties"] == {"size": 2}
    env = {e["name"]: e["value"] for e in subs[0]["containerOverrides"]["environment"]}
    assert env["BATCHPLANE_ARRAY_INDEXES"] == "1,3"
    shown = plane.job(job["jobId"])
    assert shown["attempts"][0]["failedChildren"] == [1, 3]
    assert (shown["attempts"][1]["reason"], shown["attempts"][1]["arrayIndexes"]) == ("retry", "1,3")
    # AND when child 0 of the retry (original index 3) fails again, its original index is what is retried or reported
    job2 = plane.job(job["jobId"])
    parent2 = plane.event("FAILED", job2, attempt=2, seconds=20)
    parent2["detail"]["arrayProperties"] = {"statusSummary": {"SUCCEEDED": 1, "FAILED": 1}, "size": 2}
    child2 = plane.event("FAILED", job2, attempt=2, seconds=19)
    child2["detail"]["jobId"] = f"{parent2['detail']['jobId']}:1"
    child2["detail"]["arrayProperties"] = {"index": 1}
    plane.deliver(child2)
    assert plane.deliver(parent2) == "gave-up"
    final = plane.job(job["jobId"])
    assert final["status"] == "FAILED"
    assert "indexes 3" in final["statusReason"]


def test_a_held_job_fails_when_its_dependency_fails(plane: Plane, stack: Stack) -> None:
    # GIVEN a job held for a dependency that will fail for good
    first = plane.submit({"name": "upstream", "retry": {"neverRetryExitCodes": [3]}})
    second = plane.submit({"name": "downstream", "dependsOn": [{"jobId": first["jobId"]}]})
    assert second["status"] == "PENDING"
    stack.calls.reset()
    plane.sweep()
    # THEN while the dependency runs, nothing is submitted for the held job
    assert submit_calls(stack) == []
    # WHEN the dependency fails and the sweeper runs
    assert plane.deliver(plane.event("FAILED", first, seconds=1)) == "gave-up"
    report = plane.sweep()
    # THEN the held job fails as Batch fails a dependent, and never reaches Batch
    assert report["failed_fast"] == [second["jobId"]]
    shown = plane.job(second["jobId"])
    assert shown["status"] == "FAILED"
    assert shown["statusReason"].startswith("Dependent Job failed")
    assert submit_calls(stack) == []


def test_scaling_up_reads_a_scale_out_as_aws_reports_it() -> None:
    from batchplane.adapters.batch import BatchAdapter

    queue = "arn:aws:batch:us-east-1:123456789012:job-queue/q"

    class Batch:
        """DescribeJobQueues / DescribeComputeEnvironments as AWS answers them (botocore's shapes)."""

        def __init__(self) -> None:
            from botocore.hooks import HierarchicalEmitter

            self.meta = type("Meta", (), {"events": HierarchicalEmitter()})()  # where the adapter hooks its pacing
            self.ce: dict[str, Any] = {
                "computeEnvironmentName": "spot",
                "computeEnvironmentArn": "arn:aws:batch:us-east-1:123456789012:compute-environment/spot",
                "type": "MANAGED",
                "state": "ENABLED",
                "status": "UPDATING",
                "computeResources": {"type": "SPOT", "minvCpus": 0, "maxvCpus": 64, "desiredvCpus": 0},
            }

        def describe_job_queues(self, jobQueues: list[str]) -> dict[str, Any]:  # noqa: N803 - boto3's name
            return {
                "jobQueues": [
                    {
                        "jobQueueArn": queue,
                        "computeEnvironmentOrder": [
                            {"order": 1, "computeEnvironment": self.ce["computeEnvironmentArn"]}
                        ],
                    }
                ]
            }

        def describe_compute_environments(self, computeEnvironments: list[str]) -> dict[str, Any]:  # noqa: N803
            return {"computeEnvironments": [self.ce]}

    batch = Batch()
    adapter = BatchAdapter(batch)  # type: ignore[arg-type]
    # GIVEN an environment being updated (UpdateComputeEnvironment: status UPDATING), its desiredvCpus unchanged
    # THEN it is not scaling out: a job blocked for capacity behind it is not kept waiting for that
    assert adapter.scaling_up(queue) is False
    assert adapter.scaling_up(queue) is False
    # WHEN it is VALID again and Batch raises desiredvCpus for the queue's demand THEN it is scaling out
    batch.ce["status"] = "VALID"
    assert adapter.scaling_up(queue) is False  # the first look at a VALID environment proves nothing
    batch.ce["computeResources"]["desiredvCpus"] = 16
    assert adapter.scaling_up(queue) is True
    # AND once desiredvCpus holds steady (a starved Spot environment) it is no longer
    assert adapter.scaling_up(queue) is False


def test_a_job_the_sweeper_fails_fast_is_recorded_as_a_misconfiguration(plane: Plane, stack: Stack) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    # GIVEN an on-demand job RUNNABLE for 10 minutes with a MISCONFIGURATION that no other queue can fix, even with
    # perClass asking to retry misconfigurations
    job = plane.submit(
        {
            "name": "toobig",
            "capacity": "on-demand",
            "retry": {"stuckRunnableSeconds": 60, "perClass": {"misconfiguration": "retry"}},
        }
    )
    runnable = plane.event("CAPACITY", job, when=long_ago)
    runnable["detail"]["statusReason"] = (
        "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than "
        "that can be met by the CE(s) attached to the job queue."
    )
    plane.deliver(runnable)
    # WHEN the sweeper fails it fast and Batch reports the termination (its reason becomes the statusReason)
    report = plane.sweep()
    assert report["failed_fast"] == [job["jobId"]]
    (terminate,) = [p for op, p in stack.calls.requests if op == "batch.TerminateJob"]
    failed = plane.event("CANCELLED", plane.job(job["jobId"]), seconds=900)
    failed["detail"]["statusReason"] = terminate["reason"]
    stack.calls.reset()
    assert plane.deliver(failed) == "gave-up"
    # THEN its failure class is its own (misconfiguration), not a cancel, and it is not retried
    shown = plane.job(job["jobId"])
    assert shown["status"] == "FAILED"
    assert [a["failureClass"] for a in shown["attempts"]] == ["misconfiguration"]
    assert submit_calls(stack) == []


def _attempt_env(submit: dict[str, Any]) -> dict[str, str]:
    env = {e["name"]: e["value"] for e in submit["containerOverrides"]["environment"]}
    return {k: v for k, v in env.items() if k.startswith("BATCHPLANE_ATTEMPT")}


def test_each_submitted_job_knows_its_attempt_and_why(plane: Plane, stack: Stack) -> None:
    # GIVEN a job with a variable of its own, retried at once on failure, and a Spot job
    stack.calls.reset()
    job = plane.submit(
        {"name": "flaky", "environment": {"MODE": "x"}, "retry": {"attempts": 2, "backoff": {"baseSeconds": 0}}}
    )
    spot = plane.submit({"name": "spotty"})
    # THEN the first SubmitJob tells the job it is attempt 1, the initial one (Batch's AWS_BATCH_JOB_ATTEMPT is
    # always 1: every batchplane attempt is a new Batch job)
    first = submit_calls(stack)[0]
    assert _attempt_env(first) == {"BATCHPLANE_ATTEMPT": "1", "BATCHPLANE_ATTEMPT_REASON": "initial"}
    assert {"name": "MODE", "value": "x"} in first["containerOverrides"]["environment"]
    # WHEN the first fails and is retried, and the Spot one is reclaimed
    stack.calls.reset()
    assert plane.deliver(plane.event("FAILED", job, seconds=1)) == "retry"
    plane.deliver(plane.event("RECLAIM", spot, seconds=1))
    # THEN each new Batch job carries its attempt number and the reason for it
    retry, fallback = submit_calls(stack)
    assert _attempt_env(retry) == {"BATCHPLANE_ATTEMPT": "2", "BATCHPLANE_ATTEMPT_REASON": "retry"}
    assert {"name": "MODE", "value": "x"} in retry["containerOverrides"]["environment"]
    assert _attempt_env(fallback) == {"BATCHPLANE_ATTEMPT": "2", "BATCHPLANE_ATTEMPT_REASON": "spot-fallback"}


@pytest.mark.parametrize(("failure_class", "told"), [("misconfiguration", False), ("cancelled", True)])
def test_a_pipeline_hears_a_failed_fast_stage_failed_and_a_cancelled_one_cancelled(
    monkeypatch: pytest.MonkeyPatch, failure_class: str, told: bool
) -> None:
    from batchplane import wiring
    from batchplane.domain.models import Capacity, JobStatus
    from batchplane.domain.records import AttemptRecord, JobRecord

    heard: list[tuple[Any, ...]] = []

    class Pipelines:
        def on_job_terminal(self, *args: Any) -> None:
            heard.append(args)

    monkeypatch.setattr(wiring, "pipeline_service", Pipelines)
    # GIVEN a pipeline stage whose end was asked for (a cancel, or the sweeper failing it fast), recorded FAILED
    attempt = AttemptRecord(1, "initial", "q", Capacity.ON_DEMAND, "bp-j-a1-s", failure_class=failure_class)
    job = JobRecord(
        job_id="j", tenant="t", name="s", status=JobStatus.FAILED, created_at="", updated_at="", request={},
        request_hash="", priority="normal", preference="on-demand", queue_arn="q", capacity=Capacity.ON_DEMAND,
        placement_reason="", job_definition="d", cancel_requested=True, attempts=[attempt], pipeline_id="p",
        pipeline_key="k",
    )  # fmt: skip
    # WHEN its pipeline is told THEN only a cancel counts as cancelled
    wiring._pipeline_hook(job, "FAILED")
    assert heard == [("p", "k", "j", "FAILED", told)]
