"""The dispatcher keeps the QUEUED jobs between the ticks of one invocation and reads only the listing's recent end
each tick (the whole listing every FULL_READ_SECONDS): whatever enters the queue (a submission, a job released by
its dependencies, a QUEUED job re-prioritised) is listed from that moment, so the next tick sees it. On moto, each
function under its own enforced IAM role."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import pytest

from tests.apigw import http_event, response_json
from tests.conftest import Stack
from tests.integration.conftest import Plane
from tests.integration.test_admission import ADMIN, BOB, _post, _quota
from tests.integration.test_reprioritise import urgent

ALICE = "arn:aws:iam::123456789012:user/alice"


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {"AdminPrincipals": ADMIN}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _recent(stack: Stack, since_ms: int) -> dict[str, Any]:
    from batchplane import wiring

    with stack.acting_as("dispatcher"):
        return {j.job_id: j for j in wiring.admission_store().queued(100, since_ms=since_ms)}


def test_the_recent_end_lists_what_entered_the_queue_since(plane: Plane, stack: Stack) -> None:
    # GIVEN a job held for a dependency (in Batch), an old QUEUED job and one re-prioritised later
    dep = plane.submit({"name": "dep"})
    held = plane.submit({"name": "held", "dependsOn": [{"jobId": dep["jobId"]}]}, dispatch=False)["jobId"]
    old = response_json(_post(plane, {"name": "old", "command": ["true"]}))["jobId"]
    moved = response_json(_post(plane, {"name": "moved", "command": ["true"]}))["jobId"]
    time.sleep(0.01)
    mark = _now_ms()
    time.sleep(0.01)
    # WHEN, after the mark, one job is submitted, one QUEUED job re-prioritised and the held one released
    new = response_json(_post(plane, {"name": "new", "command": ["true"]}))["jobId"]
    assert urgent(plane, moved)["action"] == "moved"
    dep_job = plane.job(dep["jobId"])
    dep_job["attempts"][0]["batchJobId"] = dep["batchJobId"]
    for i, kind in enumerate(("RUNNABLE", "RUNNING", "SUCCEEDED")):
        plane.deliver(plane.event(kind, dep_job, seconds=i))
    assert plane.sweep()["released"] == [held]
    # THEN the listing's end since the mark holds exactly those three, the moved one in its new class
    recent = _recent(stack, mark)
    assert set(recent) == {new, moved, held}
    assert recent[moved].priority == "urgent"
    assert old not in recent
    # AND the whole listing still holds all four
    assert {old, new, moved, held} <= set(_recent(stack, 0))


def test_a_read_given_the_jobs_held_lists_brief_and_reads_whole_only_the_new_and_the_changed(
    plane: Plane, stack: Stack
) -> None:
    from batchplane import wiring
    from batchplane.adapters.dynamo.admission import QUEUED_SHARDS

    # GIVEN three QUEUED jobs as a dispatcher read them
    same, moved, gone = (response_json(_post(plane, {"name": n, "command": ["true"]}))["jobId"] for n in "abc")
    store = wiring.admission_store()
    with stack.acting_as("dispatcher"):
        held = {j.job_id: j for j in store.queued(10)}
    assert set(held) == {same, moved, gone}
    # WHEN one is re-prioritised, one cancelled (it leaves the queue), and a fourth submitted
    assert urgent(plane, moved)["action"] == "moved"
    cancel = http_event(
        "POST", f"/jobs/{gone}/cancel", route="POST /jobs/{jobId}/cancel", path_parameters={"jobId": gone}
    )
    assert response_json(plane.gateway.lambda_handler(cancel, plane.ctx))["status"] == "CANCELLED"
    new = response_json(_post(plane, {"name": "d", "command": ["true"]}))["jobId"]
    stack.calls.reset()
    with stack.acting_as("dispatcher"):
        again = {j.job_id: j for j in store.queued(10, known=held)}
    # THEN the listing was read brief, and only the moved and the new jobs were read whole, in one consistent read
    queries = [p for op, p in stack.calls.requests if op == "dynamodb.Query"]
    assert len(queries) == QUEUED_SHARDS + 1
    assert all(q["ProjectionExpression"] == "pk, gsi2sk, #v, #u, #c" for q in queries)
    (read,) = [p for op, p in stack.calls.requests if op == "dynamodb.BatchGetItem"]
    (table,) = read["RequestItems"].values()
    assert table["ConsistentRead"] is True
    assert {k["pk"]["S"] for k in table["Keys"]} == {f"JOB#{moved}", f"JOB#{new}"}
    # AND the answer is the queue as it is: the unchanged job is the record held, the moved one as it is now
    assert set(again) == {same, moved, new}
    assert again[same] is held[same]
    assert again[moved].priority == "urgent"
    assert again[moved].version > held[moved].version
    # AND a job whose cancel was asked for while it stays QUEUED (a pipeline's) is read again, not answered as held
    with stack.acting_as("dispatcher"):
        store.queued(10)  # whole: the records as they are
    stale = {**again, same: copy.replace(again[same], cancel_requested=True)}
    stack.calls.reset()
    with stack.acting_as("dispatcher"):
        fresh = {j.job_id: j for j in store.queued(10, known=stale)}
    (read,) = [p for op, p in stack.calls.requests if op == "dynamodb.BatchGetItem"]
    assert [k["pk"]["S"] for k in next(iter(read["RequestItems"].values()))["Keys"]] == [f"JOB#{same}"]
    assert fresh[same].cancel_requested is False
    assert fresh[moved] is stale[moved]


class _Recording:
    """The admission store, each QUEUED read recorded: (since_ms, how many jobs it returned)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.reads: list[tuple[int | None, int]] = []
        self.pages = 0  # reads past a cut read
        self.tenant_reads = 0

    def queued_page(self, after: dict[str, str | None], limit: int) -> Any:
        self.pages += 1
        return self._store.queued_page(after, limit)

    def accounts(self) -> list[Any]:
        self.tenant_reads += 1
        return self._store.accounts()

    def queued(self, limit: int, *, since_ms: int | None = None, known: Any = None) -> list[Any]:
        found = self._store.queued(limit, since_ms=since_ms, known=known)
        self.reads.append((since_ms, len(found)))
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _recorded(limit: int | None = None) -> tuple[Any, _Recording]:
    """A dispatcher of a container of its own (no backlog carried over from other tests' dispatchers), reading at
    most ``limit`` queued jobs at a time, whose QUEUED reads are recorded."""
    from batchplane import wiring

    dispatcher = copy.copy(wiring.dispatcher())
    dispatcher._backlog = None
    if limit is not None:
        dispatcher._queued_limit = limit
    recording = _Recording(wiring.admission_store())
    dispatcher._store = recording
    return dispatcher, recording


def _invocation_while_alice_submits(plane: Plane, stack: Stack, dispatcher: Any) -> tuple[Any, str]:
    """One invocation of ``dispatcher`` ticking every 0.05 s for 2 s, while alice submits a job 0.8 s into it: its
    report, and alice's job id."""
    from tests.perf.admission import serialised_moto

    reports: list[Any] = []

    def invocation() -> None:
        with stack.acting_as("dispatcher"):
            reports.append(dispatcher.run(2.0, 0.05))

    with serialised_moto():
        thread = threading.Thread(target=invocation)
        thread.start()
        time.sleep(0.8)
        alices = response_json(_post(plane, {"name": "a", "command": ["true"]}, ALICE))["jobId"]
        thread.join()
    (report,) = reports
    return report, alices


def test_an_invocation_reads_the_whole_listing_once_then_its_recent_end(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane import wiring
    from batchplane.services import dispatcher as module

    # GIVEN bob may run 1 vCPU and has 4 jobs queued (one can go; three wait for his quota, tick after tick)
    assert _quota(plane, "PUT", BOB, ADMIN, {"maxRunningVcpus": 1})["statusCode"] == 200
    bobs = [response_json(_post(plane, {"name": f"b{i}", "command": ["true"], "vcpus": 1}, BOB)) for i in range(4)]
    monkeypatch.setattr(module, "RECENT_MS", 300)  # what was enqueued more than 0.3 s before a read is not re-read
    time.sleep(0.4)
    dispatcher = copy.copy(wiring.dispatcher())
    recording = _Recording(wiring.admission_store())
    dispatcher._store = recording  # type: ignore[assignment]
    # WHEN an invocation ticks for 2 s, and alice submits a job 0.8 s into it
    report, alices = _invocation_while_alice_submits(plane, stack, dispatcher)
    # THEN it read the whole listing once (bob's 4), then only its recent end, which held alice's job when it came
    assert report.full_reads == 1
    assert recording.reads[0] == (None, 4)
    later = recording.reads[1:]
    assert len(later) >= 5
    assert all(since is not None for since, _ in later)
    assert max(n for _, n in later) == 1  # alice's job, read while it was recent; bob's three never again
    # AND it admitted bob's first job and alice's, in that one invocation; bob's others still wait
    assert set(report.admitted) == {bobs[0]["jobId"], alices}
    with stack.observing():
        statuses = [wiring.job_service()._store.get_job(b["jobId"]).status.value for b in bobs]  # type: ignore[union-attr]
    assert statuses == ["SUBMITTED", "QUEUED", "QUEUED", "QUEUED"]


def test_ticks_reach_back_over_the_recent_end_at_most_once_a_recent_read_period(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.services import dispatcher as module

    # GIVEN reads reach back 0.3 s (the index's lag) at most every 0.5 s, else 0.05 s (a write just after a read),
    # and a dispatcher whose reads are timed
    monkeypatch.setattr(module, "RECENT_MS", 300)
    monkeypatch.setattr(module, "RECENT_READ_SECONDS", 0.5)
    monkeypatch.setattr(module, "RECENT_SHORT_MS", 50)
    dispatcher, recording = _recorded()
    times: list[int] = []
    real = recording.queued

    def timed(limit: int, *, since_ms: int | None = None, known: Any = None) -> list[Any]:
        times.append(int(time.time() * 1000))
        return real(limit, since_ms=since_ms, known=known)

    recording.queued = timed  # type: ignore[method-assign]
    # WHEN an invocation ticks every 0.05 s for 2 s, and alice submits a job 0.8 s into it
    report, alices = _invocation_while_alice_submits(plane, stack, dispatcher)
    # THEN after its whole read, most ticks read only what came since just before the last read; a few reached
    # 0.3 s back, about one every 0.5 s
    assert recording.reads[0][0] is None
    later = list(zip(recording.reads[1:], times[:-1], times[1:], strict=True))  # each read, the one before's time
    back = [since for (since, _), before, _at in later if since is not None and since < before - 150]
    plain = [since for (since, _), before, _at in later if since is not None and since >= before - 150]
    assert 2 <= len(back) <= 6
    assert len(plain) >= 2 * len(back)
    # AND alice's job, enqueued meanwhile, was read and admitted in that invocation
    assert alices in report.admitted


def test_a_lost_admission_is_read_again_and_admitted_as_the_job_now_is(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane import wiring

    # GIVEN a QUEUED job, and an invocation whose snapshot read it before it was re-prioritised
    job = response_json(_post(plane, {"name": "j", "command": ["true"]}))["jobId"]
    with stack.acting_as("dispatcher"):
        stale = wiring.admission_store().queued(10)
    assert urgent(plane, job)["action"] == "moved"
    store = wiring.admission_store()
    served = {"stale": False}

    class StaleOnce(_Recording):
        def queued(self, limit: int, *, since_ms: int | None = None, known: Any = None) -> list[Any]:
            if not served["stale"]:
                served["stale"] = True
                return list(stale)
            # the recent end answers nothing: the job comes back through the lost admission's own read
            return [] if since_ms is not None else store.queued(limit)

    dispatcher = copy.copy(wiring.dispatcher())
    dispatcher._store = StaleOnce(store)  # type: ignore[assignment]
    stack.calls.reset()
    # WHEN it runs
    with stack.acting_as("dispatcher"):
        report = dispatcher.run(1.0, 0.05)
    # THEN its first admission lost (the queue changed), the job was read again, and admitted to the urgent queue
    assert report.lost == 1
    assert report.admitted == [job]
    submits = [p for op, p in stack.calls.requests if op == "batch.SubmitJob"]
    assert [s["jobQueue"] for s in submits] == [stack.queue("urgent", "spot")]


def test_queued_jobs_are_spread_over_shard_keys_and_unsharded_ones_still_admitted(plane: Plane, stack: Stack) -> None:
    import boto3
    from batchplane.adapters.dynamo.admission import QUEUED_SHARDS

    # GIVEN 12 queued jobs, one of them filed under the bare QUEUED key (written before the bucket was sharded)
    ids = [response_json(_post(plane, {"name": f"s{i}", "command": ["true"]}))["jobId"] for i in range(12)]
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    with stack.observing():
        keys = {
            i: ddb.get_item(TableName=stack.table_name, Key={"pk": {"S": f"JOB#{i}"}, "sk": {"S": "JOB"}})["Item"][
                "gsi2pk"
            ]["S"]
            for i in ids
        }
        ddb.update_item(
            TableName=stack.table_name,
            Key={"pk": {"S": f"JOB#{ids[0]}"}, "sk": {"S": "JOB"}},
            UpdateExpression="SET gsi2pk = :bare",
            ExpressionAttributeValues={":bare": {"S": "QUEUED"}},
        )
    # THEN each was filed under a shard key of the QUEUED bucket, more than one of them
    assert all(k.startswith("QUEUED#") and 0 <= int(k.split("#")[1]) < QUEUED_SHARDS for k in keys.values())
    assert len(set(keys.values())) > 1
    # AND the dispatcher reads every shard and the bare key: all twelve are admitted
    report = stack.dispatch()
    assert sorted(report.admitted) == sorted(ids)


def test_only_whole_reads_look_at_the_unsharded_key_and_a_reprioritised_job_leaves_it(
    plane: Plane, stack: Stack
) -> None:
    import boto3
    from batchplane import wiring
    from batchplane.adapters.dynamo.admission import QUEUED_SHARDS

    # GIVEN two QUEUED jobs filed under the bare QUEUED key (queued before the bucket was sharded)
    ids = [response_json(_post(plane, {"name": f"u{i}", "command": ["true"]}))["jobId"] for i in range(2)]
    ddb = boto3.client("dynamodb", region_name="us-east-1")

    def filed(job_id: str) -> str:
        with stack.observing():
            key = {"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}
            return str(ddb.get_item(TableName=stack.table_name, Key=key)["Item"]["gsi2pk"]["S"])

    with stack.observing():
        for job_id in ids:
            ddb.update_item(
                TableName=stack.table_name,
                Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}},
                UpdateExpression="SET gsi2pk = :bare",
                ExpressionAttributeValues={":bare": {"S": "QUEUED"}},
            )
    mark = _now_ms()
    # WHEN one of them is re-prioritised (listed again from now)
    assert urgent(plane, ids[1])["action"] == "moved"
    # THEN it left the bare key for its shard
    assert filed(ids[0]) == "QUEUED"
    assert filed(ids[1]).startswith("QUEUED#")
    # AND a read of the recent end queries the shards only, and finds it
    stack.calls.reset()
    recent = _recent(stack, mark - 1)
    keys = [p["ExpressionAttributeValues"][":q"]["S"] for op, p in stack.calls.requests if op == "dynamodb.Query"]
    assert sorted(keys) == sorted(f"QUEUED#{n}" for n in range(QUEUED_SHARDS))
    assert set(recent) == {ids[1]}
    # AND a whole read queries the bare key too: both are listed, and admitted
    stack.calls.reset()
    with stack.acting_as("dispatcher"):
        whole = {j.job_id for j in wiring.admission_store().queued(100)}
    assert stack.calls.counts["dynamodb.Query"] == QUEUED_SHARDS + 1
    assert whole == set(ids)
    assert sorted(stack.dispatch().admitted) == sorted(ids)


def test_a_lagging_index_that_still_lists_an_admitted_job_costs_nothing(plane: Plane, stack: Stack) -> None:
    from batchplane import wiring

    # GIVEN a QUEUED job, and an index that keeps listing it, as QUEUED, for a while after its admission
    job = response_json(_post(plane, {"name": "j", "command": ["true"]}))["jobId"]
    store = wiring.admission_store()
    with stack.acting_as("dispatcher"):
        (stale,) = store.queued(10)

    class Lagging(_Recording):
        def queued(self, limit: int, *, since_ms: int | None = None, known: Any = None) -> list[Any]:
            found = store.queued(limit, since_ms=since_ms, known=known)
            return found if any(j.job_id == job for j in found) else [*found, stale]

    dispatcher = copy.copy(wiring.dispatcher())
    dispatcher._store = Lagging(store)  # type: ignore[assignment]
    stack.calls.reset()
    # WHEN an invocation ticks for a second
    with stack.acting_as("dispatcher"):
        report = dispatcher.run(1.0, 0.05)
    # THEN the job was admitted once and never tried again: no lost admission, no second transaction
    assert report.admitted == [job]
    assert report.lost == 0
    assert stack.calls.counts["dynamodb.TransactWriteItems"] == 1


def test_a_warm_containers_next_invocation_goes_on_from_the_last_ones_backlog(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.services import dispatcher as module

    # GIVEN bob may run 1 vCPU and has 3 jobs queued: one goes, two wait for his quota
    assert _quota(plane, "PUT", BOB, ADMIN, {"maxRunningVcpus": 1})["statusCode"] == 200
    bobs = [
        response_json(_post(plane, {"name": f"b{i}", "command": ["true"], "vcpus": 1}, BOB))["jobId"] for i in range(3)
    ]
    monkeypatch.setattr(module, "RECENT_MS", 300)
    time.sleep(0.4)  # bob's jobs are older than a recent-end read reaches back
    dispatcher, recording = _recorded()
    with stack.acting_as("dispatcher"):
        first = dispatcher.run(0.0)
    assert first.full_reads == 1
    assert first.admitted == [bobs[0]]
    # WHEN alice submits between two invocations, and the same container is invoked again within FULL_READ_SECONDS
    time.sleep(0.4)
    alices = response_json(_post(plane, {"name": "a", "command": ["true"]}, ALICE))["jobId"]
    del recording.reads[:]
    with stack.acting_as("dispatcher"):
        second = dispatcher.run(0.0)
    # THEN it read only the listing's end since the first one's read (alice's job, not bob's two), and admitted it
    assert second.full_reads == 0
    assert [n for _, n in recording.reads] == [1]
    assert recording.reads[0][0] is not None
    assert second.admitted == [alices]
    # AND once FULL_READ_SECONDS have passed, the next invocation reads the whole listing again (bob's two)
    monkeypatch.setattr(module, "FULL_READ_SECONDS", 0.0)
    del recording.reads[:]
    with stack.acting_as("dispatcher"):
        third = dispatcher.run(0.0)
    assert third.full_reads == 1
    assert recording.reads == [(None, 2)]
    assert third.admitted == []


def test_an_invocation_that_overlaps_a_running_one_starts_from_nothing(plane: Plane, stack: Stack) -> None:
    from batchplane import wiring

    # GIVEN a container whose backlog is in use (an invocation still running past its lease)
    job = response_json(_post(plane, {"name": "j", "command": ["true"]}))["jobId"]
    dispatcher = copy.copy(wiring.dispatcher())
    dispatcher._backlog = None
    dispatcher._backlog_lock = threading.Lock()
    assert dispatcher._backlog_lock.acquire(blocking=False)
    # WHEN another invocation runs in it
    with stack.acting_as("dispatcher"):
        report = dispatcher.run(0.0)
    # THEN it read the whole listing itself, admitted the job, and left the backlog to the invocation that holds it
    assert report.full_reads == 1
    assert report.admitted == [job]
    assert dispatcher._backlog is None
    dispatcher._backlog_lock.release()


def test_a_backlog_cut_at_the_limit_is_not_read_again_every_tick(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.services import dispatcher as module

    from tests.perf.admission import serialised_moto

    # GIVEN bob may run 1 vCPU and has 12 jobs queued, and a dispatcher that reads at most 4 at a time (each shard's
    # oldest 2: with 12 jobs over 4 shards, all but surely 4 of them)
    assert _quota(plane, "PUT", BOB, ADMIN, {"maxRunningVcpus": 1})["statusCode"] == 200
    bobs = [
        response_json(_post(plane, {"name": f"b{i}", "command": ["true"], "vcpus": 1}, BOB))["jobId"] for i in range(12)
    ]
    monkeypatch.setattr(module, "FULL_READ_SECONDS", 0.0)  # a listing not cut would be read whole every tick
    monkeypatch.setattr(module, "CUT_READ_SECONDS", 0.5)
    dispatcher, recording = _recorded(limit=4)
    # WHEN an invocation ticks every 0.05 s for 2 s (bob's first job goes; the 3 left of the 4 read wait, tick after
    # tick, for his quota)
    with serialised_moto(), stack.acting_as("dispatcher"):
        report = dispatcher.run(2.0, 0.05)
    # THEN it read only whole listings (the oldest 4: newer jobs wait for the next), and one every CUT_READ_SECONDS,
    # not one a tick: the 3 left are more than half of the 4
    assert report.ticks >= 10
    assert all(since is None for since, _ in recording.reads)
    assert report.full_reads == len(recording.reads)
    assert 2 <= len(recording.reads) <= 2.0 / 0.5 + 2
    assert recording.reads[0] == (None, 4)
    assert report.admitted == [bobs[0]]
    # AND, bob being the only tenant with jobs queued, it never read past the cut
    assert recording.tenant_reads >= 1
    assert recording.pages == 0


def test_a_tenant_whose_jobs_are_queued_behind_a_cut_read_is_still_admitted(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.services import dispatcher as module

    from tests.perf.admission import serialised_moto

    # GIVEN bob may run 1 vCPU and has 12 jobs queued, then alice queues 3, and a dispatcher that reads at most 4
    # at a time: its whole read lists bob's oldest 4 only, and is read again only after 600 s
    assert _quota(plane, "PUT", BOB, ADMIN, {"maxRunningVcpus": 1})["statusCode"] == 200
    bobs = [
        response_json(_post(plane, {"name": f"b{i}", "command": ["true"], "vcpus": 1}, BOB))["jobId"] for i in range(12)
    ]
    time.sleep(0.01)
    alices = [response_json(_post(plane, {"name": f"a{i}", "command": ["true"]}, ALICE))["jobId"] for i in range(3)]
    monkeypatch.setattr(module, "CUT_READ_SECONDS", 600.0)
    monkeypatch.setattr(module, "TENANTS_READ_SECONDS", 0.0)
    monkeypatch.setattr(module, "DEEP_READ_SECONDS", 0.0)
    dispatcher, recording = _recorded(limit=4)
    # WHEN one invocation ticks every 0.05 s for 3 s
    with serialised_moto(), stack.acting_as("dispatcher"):
        report = dispatcher.run(3.0, 0.05)
    # THEN alice's jobs were found past the cut (a share of one job at a time: 4 // 20, at least 1) and all admitted,
    # beside bob's first; bob's others still wait for his quota
    assert report.full_reads == 1
    assert recording.pages >= 3
    assert set(report.admitted) == {bobs[0], *alices}


def test_a_backlog_cut_at_the_limit_is_read_again_once_half_of_it_is_admitted(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.services import dispatcher as module

    # GIVEN 10 queued jobs, room for all of them, and a dispatcher that reads at most 4 at a time
    ids = [response_json(_post(plane, {"name": f"j{i}", "command": ["true"]}))["jobId"] for i in range(10)]
    monkeypatch.setattr(module, "CUT_READ_SECONDS", 600.0)  # no whole read comes from the clock
    dispatcher, recording = _recorded(limit=4)
    # WHEN one invocation ticks for 3 s
    with stack.acting_as("dispatcher"):
        report = dispatcher.run(3.0, 0.05)
    # THEN every job was admitted, each whole read taking the next (about oldest: a shard's share) 4 once the last
    # ones were admitted, and no more whole reads than that took
    assert sorted(report.admitted) == sorted(ids)
    whole = [n for since, n in recording.reads if since is None]
    assert whole[0] == 4
    assert len(whole) <= 6  # at least 2 admitted between two of them


def test_a_snapshot_converts_a_job_record_once_while_it_is_the_same_record(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane import wiring
    from batchplane.services import dispatcher as module

    # GIVEN 3 queued jobs, read once, and a count of conversions to admission's view
    for i in range(3):
        _post(plane, {"name": f"c{i}", "command": ["true"]})
    calls: list[str] = []
    convert = module.queued_job

    def counting(job: Any, memory: int) -> Any:
        calls.append(job.job_id)
        return convert(job, memory)

    monkeypatch.setattr(module, "queued_job", counting)
    dispatcher = copy.copy(wiring.dispatcher())
    dispatcher._converted = {}
    with stack.acting_as("dispatcher"):
        jobs = wiring.admission_store().queued(10)
        first = dispatcher.snapshot(jobs, rate_tokens=50)
        # WHEN the same records make the next tick's snapshot, and then records read again
        second = dispatcher.snapshot(jobs, rate_tokens=50)
        assert len(calls) == 3
        again = wiring.admission_store().queued(10)
        third = dispatcher.snapshot(again, rate_tokens=50)
    # THEN the same records were converted once, records read again once more, and every snapshot is the same
    assert sorted(calls) == sorted(2 * [j.job_id for j in jobs])
    assert first == second == third


def test_pages_past_the_cut_list_every_queued_job_once_round_the_listing(plane: Plane, stack: Stack) -> None:
    from batchplane import wiring

    # GIVEN 10 queued jobs
    ids = [response_json(_post(plane, {"name": f"j{i}", "command": ["true"]}))["jobId"] for i in range(10)]
    store = wiring.admission_store()
    # WHEN the dispatcher reads pages of about 4 (a job a shard) until every shard is read to its end
    seen: list[str] = []
    after: dict[str, str | None] = {}
    with stack.acting_as("dispatcher"):
        for _ in range(20):
            page = store.queued_page(after, 4)
            assert len(page.jobs) <= 4
            for shard, place, job in page.jobs:
                assert place.endswith(job.job_id)  # its place in its shard: "<enqueued ms>#<job id>"
                assert shard.startswith("QUEUED")
            seen += [job.job_id for _, _, job in page.jobs]
            if all(end is None for end in page.ends.values()):
                break
            after = page.ends
    # THEN each job was listed once, and the last page said every shard was read to its end
    assert sorted(seen) == sorted(ids)
    assert all(end is None for end in page.ends.values())
