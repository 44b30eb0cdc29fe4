"""Accept, then admit (issue #10): POST /jobs records the job QUEUED with one AWS call; the dispatcher admits it
exactly once under concurrent invocations and duplicated triggers; tenant quotas (running: the job waits; queued:
429) and the admin-only quotas API; usage released once per job end under duplicated events. On moto, every
function under its own enforced IAM role."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any
from urllib.parse import quote

import pytest

from tests.apigw import ALICE, http_event, response_json
from tests.conftest import Stack
from tests.integration.conftest import Plane

ADMIN = "arn:aws:iam::123456789012:user/admin"
BOB = "arn:aws:iam::123456789012:user/bob"


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {"AdminPrincipals": ADMIN}


def _post(plane: Plane, body: dict[str, Any], caller: str | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"body": body}
    if caller is not None:
        kwargs["caller"] = caller
    return plane.gateway.lambda_handler(http_event("POST", "/jobs", **kwargs), plane.ctx)


def _quota(plane: Plane, method: str, tenant: str, caller: str, body: Any = None) -> dict[str, Any]:
    path = f"/quotas/{quote(tenant, safe='')}"
    event = http_event(
        method,
        path,
        body=body,
        caller=caller,
        route=f"{method} /quotas/{{tenant}}",
        path_parameters={"tenant": quote(tenant, safe="")},
    )
    return plane.gateway.lambda_handler(event, plane.ctx)


def test_submission_is_one_call_and_queued(plane: Plane, stack: Stack) -> None:
    # GIVEN a stack; WHEN a job is submitted
    stack.calls.reset()
    response = _post(plane, {"name": "q", "command": ["true"]})
    # THEN it is accepted QUEUED with one AWS call (a transaction: the job and its tenant's queued count)
    assert response["statusCode"] == 202, response["body"]
    job = response_json(response)
    assert job["status"] == "QUEUED"
    assert dict(stack.calls.counts) == {"dynamodb.TransactWriteItems": 1}
    # AND its view says why it waits until the dispatcher runs
    view = plane.job(job["jobId"])
    assert view["status"] == "QUEUED"
    assert view["waiting"]["hold"] == "dispatch"
    assert "reason" in view["waiting"]


def test_dispatch_is_exactly_once_under_concurrent_dispatchers_and_duplicate_triggers(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 30 queued jobs of three tenants, and two dispatchers (two containers) that took the same snapshot
    ids = []
    for i in range(30):
        caller = f"arn:aws:iam::123456789012:user/t{i % 3}"
        response = _post(plane, {"name": f"j{i}", "command": ["true"]}, caller)
        ids.append(response_json(response)["jobId"])
    from batchplane import wiring

    first = wiring.dispatcher()
    second = copy.copy(first)
    second._owner = "another-container"
    with stack.acting_as("dispatcher"):
        stale = wiring.admission_store().queued(100)
    stack.calls.reset()
    # WHEN both admit from it, one after the other (the second's snapshot is stale by then)
    with stack.acting_as("dispatcher"):
        first.tick(_report())
        monkeypatch.setattr(second, "_store", _Stale(wiring.admission_store(), stale))
        late = _report()
        second.tick(late)
    # AND the schedule's triggers come again (twice), and an invocation finds the lease held
    plane.dispatch()
    plane.dispatch()
    with stack.acting_as("dispatcher"):
        now = int(time.time() * 1000)
        assert wiring.admission_store().take_lease("dispatcher", "someone-else", now, now + 60_000)
        assert wiring.dispatcher().run(0).skipped
    # THEN every job was submitted to Batch exactly once: the second dispatcher's admissions all lost their race
    assert late.lost == 30
    assert late.admitted == []
    assert stack.calls.counts["batch.SubmitJob"] == 30
    names = [p["jobName"] for op, p in stack.calls.requests if op == "batch.SubmitJob"]
    assert len(set(names)) == 30
    with stack.observing():
        statuses = {wiring.job_service()._store.get_job(job_id).status.value for job_id in ids}  # type: ignore[union-attr]
    assert statuses == {"SUBMITTED"}


def test_an_invocations_submit_times_reach_the_next_one_in_the_dispatchers_lease(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane import wiring
    from batchplane.services import dispatcher

    # GIVEN 4 queued jobs
    for i in range(4):
        assert _post(plane, {"name": f"w{i}", "command": ["true"]})["statusCode"] == 202
    seeded: list[list[int]] = []
    real_seed = dispatcher.SendWindow.seed
    monkeypatch.setattr(
        dispatcher.SendWindow, "seed", lambda self, sent, now: (seeded.append(list(sent)), real_seed(self, sent, now))
    )
    stack.calls.reset()
    # WHEN one invocation of the dispatcher (its role) admits them, and a second one follows at once
    with stack.acting_as("dispatcher"):
        assert len(wiring.dispatcher().run(0).admitted) == 4
    with stack.acting_as("dispatcher"):
        assert wiring.dispatcher().run(0).admitted == []
    # THEN the first took and gave back the lease in two writes, its send window in them (no item of its own)
    lease_writes = [
        p for op, p in stack.calls.requests if op == "dynamodb.UpdateItem" and p["Key"]["pk"]["S"] == "LEASE#dispatcher"
    ]
    assert len(lease_writes) == 4  # two invocations, a take and a give-back each
    sent_items = [
        p
        for op, p in stack.calls.requests
        if op.startswith("dynamodb.") and (p.get("Key") or p.get("Item") or {}).get("sk", {}).get("S") == "SENT"
    ]
    assert sent_items == []
    # AND the second started its window from the first's 4 SubmitJob times, within the last second
    submits = [p for op, p in stack.calls.requests if op == "batch.SubmitJob"]
    assert len(submits) == 4
    assert seeded[0] == []
    assert len(seeded[1]) == 4
    assert max(seeded[1]) - min(seeded[1]) < 1_000
    assert abs(max(seeded[1]) - time.time() * 1000) < 10_000


def test_a_warm_dispatchers_invocations_keep_their_threads(plane: Plane, stack: Stack) -> None:
    from batchplane import wiring

    def workers() -> set[int | None]:
        return {t.ident for t in threading.enumerate() if t.name.startswith(("admit", "submit"))}

    # GIVEN a dispatcher whose invocation admitted and submitted 2 jobs
    for i in range(2):
        assert _post(plane, {"name": f"a{i}", "command": ["true"]})["statusCode"] == 202
    with stack.acting_as("dispatcher"):
        assert len(wiring.dispatcher().run(0).admitted) == 2
    first = workers()
    # WHEN its next invocation admits 2 more
    for i in range(2):
        assert _post(plane, {"name": f"b{i}", "command": ["true"]})["statusCode"] == 202
    with stack.acting_as("dispatcher"):
        assert len(wiring.dispatcher().run(0).admitted) == 2
    # THEN the threads the first invocation wrote and submitted with are still there (the container's, not joined
    # at each invocation's end: starting and joining them was a quarter of a one-tick invocation's time)
    assert first
    assert first <= workers()


class _Stale:
    """An admission store whose queue read returns an earlier snapshot (a dispatcher that read before another
    admitted)."""

    def __init__(self, store: Any, stale: list[Any]) -> None:
        self._store = store
        self._stale = stale

    def queued(self, limit: int, *, since_ms: int | None = None, known: Any = None) -> list[Any]:
        return list(self._stale)[:limit]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _report() -> Any:
    from batchplane.services.dispatcher import DispatchReport

    return DispatchReport()


def test_admission_costs_counted(plane: Plane, stack: Stack) -> None:
    # GIVEN 20 queued jobs
    for i in range(20):
        _post(plane, {"name": f"c{i}", "command": ["true"]})
    plane.dispatch()  # the first tick also reads the pools from Batch; count a steady one
    for i in range(20):
        _post(plane, {"name": f"d{i}", "command": ["true"]})
    stack.calls.reset()
    # WHEN one tick admits them
    plane.dispatch()
    # THEN each admission is one SubmitJob, the tick's admissions one transaction, plus a few calls for the tick
    counts = dict(stack.calls.counts)
    assert counts["batch.SubmitJob"] == 20
    assert counts["dynamodb.TransactWriteItems"] == 1
    per_tick = stack.calls.total - 21
    assert per_tick <= 8, counts  # lease, queue read, counters, budget, lease back


def test_running_quota_holds_the_job_queued_and_names_the_quota(plane: Plane, stack: Stack) -> None:
    # GIVEN bob may run 1 vCPU
    assert _quota(plane, "PUT", BOB, ADMIN, {"maxRunningVcpus": 1})["statusCode"] == 200
    # WHEN bob submits two 1-vCPU jobs and the dispatcher runs twice
    first = response_json(_post(plane, {"name": "b1", "command": ["true"], "vcpus": 1}, BOB))
    second = response_json(_post(plane, {"name": "b2", "command": ["true"], "vcpus": 1}, BOB))
    plane.dispatch()
    plane.dispatch()
    # THEN one runs, the other waits QUEUED, naming the quota with used/limit
    bob_view = http_event(
        "GET",
        f"/jobs/{second['jobId']}",
        caller=BOB,
        route="GET /jobs/{jobId}",
        path_parameters={"jobId": second["jobId"]},
    )
    view = response_json(plane.gateway.lambda_handler(bob_view, plane.ctx))
    assert view["status"] == "QUEUED"
    assert view["waiting"]["hold"] == "quota-vcpus"
    assert view["waiting"]["quota"] == "maxRunningVcpus"
    assert (view["waiting"]["used"], view["waiting"]["limit"]) == (1, 1)
    # AND when the first ends (its final event delivered twice), the second is admitted, and usage is exact
    first_view = response_json(
        plane.gateway.lambda_handler(
            http_event(
                "GET",
                f"/jobs/{first['jobId']}",
                caller=BOB,
                route="GET /jobs/{jobId}",
                path_parameters={"jobId": first["jobId"]},
            ),
            plane.ctx,
        )
    )
    done = plane.event("SUCCEEDED", first_view)
    plane.deliver(done)
    plane.deliver(done)
    plane.dispatch()
    usage = response_json(_quota(plane, "GET", BOB, ADMIN))["usage"]
    assert usage["runningVcpus"] == 1
    assert usage["queuedJobs"] == 0


def test_queued_quota_answers_429_naming_it(plane: Plane, stack: Stack) -> None:
    # GIVEN bob may queue 2 jobs
    assert _quota(plane, "PUT", BOB, ADMIN, {"maxQueuedJobs": 2})["statusCode"] == 200
    for i in range(2):
        assert _post(plane, {"name": f"q{i}", "command": ["true"]}, BOB)["statusCode"] == 202
    stack.calls.reset()
    # WHEN he submits a third
    refused = _post(plane, {"name": "q3", "command": ["true"]}, BOB)
    # THEN 429 problem+json naming the quota, and nothing was written
    assert refused["statusCode"] == 429
    assert refused["headers"]["Content-Type"] == "application/problem+json"
    problem = response_json(refused)
    assert problem["errors"][0]["field"] == "maxQueuedJobs"
    assert dict(stack.calls.counts) == {"dynamodb.TransactWriteItems": 1}


def test_quotas_api_is_admin_only(plane: Plane, stack: Stack) -> None:
    # WHEN a non-admin reads or sets quotas: 403
    assert _quota(plane, "PUT", BOB, BOB, {"maxRunningVcpus": 100})["statusCode"] == 403
    assert _quota(plane, "GET", BOB, BOB)["statusCode"] == 403
    listing = http_event("GET", "/quotas", caller=BOB)
    assert plane.gateway.lambda_handler(listing, plane.ctx)["statusCode"] == 403
    # AND an admin may, with a partial change merged, and bad input is a 422 naming the field
    put = _quota(plane, "PUT", BOB, ADMIN, {"maxRunningVcpus": 4, "weight": 2})
    assert put["statusCode"] == 200, put["body"]
    body = response_json(_quota(plane, "PUT", BOB, ADMIN, {"maxQueuedJobs": 10}))
    assert body["quota"]["maxRunningVcpus"] == 4
    assert body["quota"]["maxQueuedJobs"] == 10
    assert body["weight"] == 2
    bad = _quota(plane, "PUT", BOB, ADMIN, {"maxRunningVcpus": -1})
    assert bad["statusCode"] == 422
    assert "maxRunningVcpus" in bad["body"]
    listed = response_json(plane.gateway.lambda_handler(http_event("GET", "/quotas", caller=ADMIN), plane.ctx))
    assert [t["tenant"] for t in listed["tenants"]] == [BOB]


def test_cancel_of_a_queued_job_never_reaches_batch(plane: Plane, stack: Stack) -> None:
    job = response_json(_post(plane, {"name": "c", "command": ["true"]}))
    cancel = http_event(
        "POST",
        f"/jobs/{job['jobId']}/cancel",
        route="POST /jobs/{jobId}/cancel",
        path_parameters={"jobId": job["jobId"]},
    )
    answer = response_json(plane.gateway.lambda_handler(cancel, plane.ctx))
    assert answer["status"] == "CANCELLED"
    stack.calls.reset()
    plane.dispatch()
    assert stack.calls.counts["batch.SubmitJob"] == 0


def test_usage_is_given_back_when_a_job_in_its_retry_backoff_is_cancelled(plane: Plane, stack: Stack) -> None:
    # GIVEN bob's admitted job that failed and waits out a retry's backoff (it keeps its admission meanwhile)
    job = response_json(
        _post(plane, {"name": "flaky", "command": ["false"], "vcpus": 2, "retry": {"attempts": 3}}, BOB)
    )
    plane.dispatch()
    mine = http_event(
        "GET", f"/jobs/{job['jobId']}", caller=BOB, route="GET /jobs/{jobId}", path_parameters={"jobId": job["jobId"]}
    )
    view = response_json(plane.gateway.lambda_handler(mine, plane.ctx))
    plane.deliver(plane.event("FAILED", view, exit_code=1))
    assert response_json(_quota(plane, "GET", BOB, ADMIN))["usage"]["runningVcpus"] == 2
    # WHEN bob cancels it
    cancel = http_event(
        "POST",
        f"/jobs/{job['jobId']}/cancel",
        caller=BOB,
        route="POST /jobs/{jobId}/cancel",
        path_parameters={"jobId": job["jobId"]},
    )
    assert response_json(plane.gateway.lambda_handler(cancel, plane.ctx))["status"] == "CANCELLED"
    # THEN its usage is given back
    assert response_json(_quota(plane, "GET", BOB, ADMIN))["usage"]["runningVcpus"] == 0


def test_submitjob_never_passes_the_rate_in_any_second_under_concurrent_invocations(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from batchplane import wiring
    from batchplane.adapters import aws as aws_clients

    from tests.perf.admission import max_in_window, serialised_moto

    # GIVEN a budget of 10 SubmitJobs a second (each call stamped as it leaves) and 45 queued jobs of 15 tenants
    monkeypatch.setenv("SUBMIT_JOBS_PER_SECOND", "10")
    wiring.reset()
    stamps: list[float] = []
    names: list[str] = []
    session = aws_clients.session()
    who: list[tuple[float, str]] = []  # each call's time and thread, to explain a failure

    def stamp(**_: Any) -> None:
        stamps.append(time.monotonic())
        who.append((stamps[-1], threading.current_thread().name))

    session.events.register("before-call.batch.SubmitJob", stamp)
    session.events.register(
        "provide-client-params.batch.SubmitJob", lambda params, **_: names.append(params["jobName"])
    )
    for i in range(45):
        _post(plane, {"name": f"r{i}", "command": ["true"]}, f"arn:aws:iam::123456789012:user/t{i % 15}")
    base = wiring.dispatcher()

    def invocation(n: int) -> Any:
        mine = copy.copy(base)  # each invocation its own container: its own lease owner
        mine._owner = f"container-{n}"
        with stack.acting_as("dispatcher"):
            return mine.run(2.5, 0.05)

    reports: list[Any] = []
    # WHEN three invocations start at once, and a fourth as they end
    with serialised_moto():  # moto in one process is not safe for concurrent transactions
        threads = [threading.Thread(target=lambda n=n: reports.append(invocation(n))) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        reports.append(invocation(3))
    # THEN no one-second window holds more than 10 SubmitJob calls
    stamps.sort()
    assert max_in_window(stamps) <= 10, ([(round(t - stamps[0], 3), n) for t, n in sorted(who)], reports)
    # AND every job admitted was submitted once, under its own name (how many in the time depends on the machine)
    assert 0 < len(names) == len(set(names)) == sum(len(r.admitted) for r in reports) == len(stamps)
    assert sum(1 for r in reports if not r.skipped) >= 1


def test_tenants_are_listed_by_registry_items_under_sharded_keys_and_old_counters_too(
    plane: Plane, stack: Stack
) -> None:
    import boto3
    from batchplane.adapters.dynamo.counters import QUOTAS_SHARDS, quotas_index_key, tenant_key

    # GIVEN 11 tenants with a job each, and a 12th whose counter item was written by an earlier version: listed by
    # itself in gsi1, under the bare key of before sharding, and no registry item
    tenants = [f"arn:aws:iam::123456789012:user/t{i}" for i in range(12)]
    for tenant in tenants[1:]:
        assert _post(plane, {"name": "j", "command": ["true"]}, tenant)["statusCode"] == 202
    old = tenants[0]
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    registry = {t: {"pk": {"S": f"QUOTA#{t}"}, "sk": {"S": "LISTED"}} for t in tenants}
    with stack.observing():
        ddb.put_item(
            TableName=stack.table_name,
            Item={**tenant_key(old), "tenant": {"S": old}, "queued": {"N": "1"}, "gsi1pk": {"S": "QUOTAS"}}
            | {"gsi1sk": {"S": old}},
        )
        listed = {t: ddb.get_item(TableName=stack.table_name, Key=registry[t]).get("Item") for t in tenants}
        counters = {t: ddb.get_item(TableName=stack.table_name, Key=tenant_key(t))["Item"] for t in tenants}
    # THEN each new tenant is listed by its registry item under its shard key, more than one key among them, and
    # its counter item, rewritten at every submission, admission and release, is in no index
    assert listed[old] is None
    keys = {t: item["gsi1pk"]["S"] for t, item in listed.items() if item}
    assert keys == {t: quotas_index_key(t) for t in tenants[1:]}
    assert all(0 <= int(k.split("#")[1]) < QUOTAS_SHARDS for k in keys.values())
    assert len(set(keys.values())) > 1
    assert all("gsi1pk" not in counters[t] for t in tenants[1:])
    # AND GET /quotas lists every tenant once, the old one too, reading every key and the counters it lists
    stack.calls.reset()
    shown = response_json(plane.gateway.lambda_handler(http_event("GET", "/quotas", caller=ADMIN), plane.ctx))
    assert sorted(t["tenant"] for t in shown["tenants"]) == sorted(tenants)
    assert {t["usage"]["queuedJobs"] for t in shown["tenants"]} == {1}
    assert stack.calls.counts["dynamodb.Query"] == QUOTAS_SHARDS + 1
    assert stack.calls.counts["dynamodb.BatchGetItem"] == 1
    # AND the old tenant's next submission lists it by a registry item and takes its counter item out of gsi1,
    # where it is still listed once
    assert _post(plane, {"name": "k", "command": ["true"]}, old)["statusCode"] == 202
    with stack.observing():
        moved = ddb.get_item(TableName=stack.table_name, Key=tenant_key(old))["Item"]
        entry = ddb.get_item(TableName=stack.table_name, Key=registry[old])["Item"]
    assert "gsi1pk" not in moved
    assert moved["queued"]["N"] == "2"
    assert entry["gsi1pk"]["S"] == quotas_index_key(old)
    shown = response_json(plane.gateway.lambda_handler(http_event("GET", "/quotas", caller=ADMIN), plane.ctx))
    assert sorted(t["tenant"] for t in shown["tenants"]) == sorted(tenants)


def test_a_tenant_is_listed_by_its_containers_first_write_and_by_a_held_jobs_release(
    plane: Plane, stack: Stack
) -> None:
    import boto3

    # GIVEN a tenant's first and second submissions to one container
    stack.calls.reset()
    dep = plane.submit({"name": "dep", "command": ["true"]})
    plane.submit({"name": "second", "command": ["true"]}, dispatch=False)
    writes = [p["TransactItems"] for op, p in stack.calls.requests if op == "dynamodb.TransactWriteItems"]
    # THEN each is one transaction; only the first lists the tenant (its registry item)
    enqueues = [w for w in writes if any("Put" in i for i in w)]
    assert [len(w) for w in enqueues] == [4, 3]
    assert enqueues[0][3]["Put"]["Item"]["sk"] == {"S": "LISTED"}
    # GIVEN a job of theirs held on the first, and their registry item gone (as before the registry existed)
    held = plane.submit({"name": "held", "dependsOn": [{"jobId": dep["jobId"]}]}, dispatch=False)["jobId"]
    tenant = enqueues[0][3]["Put"]["Item"]["tenant"]["S"]
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    registry = {"pk": {"S": f"QUOTA#{tenant}"}, "sk": {"S": "LISTED"}}
    with stack.observing():
        ddb.delete_item(TableName=stack.table_name, Key=registry)
    # WHEN the first succeeds and the sweeper releases the held job
    dep_job = plane.job(dep["jobId"])
    dep_job["attempts"][0]["batchJobId"] = dep["batchJobId"]
    for i, kind in enumerate(("RUNNABLE", "RUNNING", "SUCCEEDED")):
        plane.deliver(plane.event(kind, dep_job, seconds=i))
    stack.calls.reset()
    assert plane.sweep()["released"] == [held]
    # THEN the release's transaction (the sweeper container's first for the tenant) lists the tenant again
    with stack.observing():
        assert ddb.get_item(TableName=stack.table_name, Key=registry)["Item"]["tenant"] == {"S": tenant}
    shown = response_json(plane.gateway.lambda_handler(http_event("GET", "/quotas", caller=ADMIN), plane.ctx))
    assert tenant in {t["tenant"] for t in shown["tenants"]}


def test_a_success_and_its_release_answer_the_job_as_stored_without_a_second_read(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from batchplane.adapters.dynamo import attempts

    made: list[Any] = []
    real = attempts.applied
    monkeypatch.setattr(attempts, "applied", lambda item, update: made.append(real(item, update)) or made[-1])
    # GIVEN an admitted job, running
    job = plane.submit({"name": "s", "command": ["true"]})
    for i, kind in enumerate(("RUNNABLE", "STARTING", "RUNNING")):
        plane.deliver(plane.event(kind, job, seconds=i))
    stack.calls.reset()
    # WHEN it succeeds (its end and its release in one transaction)
    assert plane.deliver(plane.event("SUCCEEDED", job, seconds=3)) == "succeeded"
    # THEN the job was read once, before the transaction, and the job acted on is the job as stored
    key = {"pk": {"S": f"JOB#{job['jobId']}"}, "sk": {"S": "JOB"}}
    reads = [p for op, p in stack.calls.requests if op == "dynamodb.GetItem" and p["Key"] == key]
    assert len(reads) == 1
    with stack.observing():
        stored = boto3.client("dynamodb", region_name="us-east-1").get_item(TableName=stack.table_name, Key=key)
    assert made == [stored["Item"]]


@pytest.mark.parametrize("end", ["SUCCEEDED", "FAILED"])
def test_a_released_job_keeps_nothing_of_what_it_held(plane: Plane, stack: Stack, end: str) -> None:
    import boto3

    # GIVEN an admitted job
    job = plane.submit({"name": "r", "command": ["true"], "retry": {"attempts": 1}})
    key = {"pk": {"S": f"JOB#{job['jobId']}"}, "sk": {"S": "JOB"}}
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    with stack.observing():
        assert "adm" in ddb.get_item(TableName=stack.table_name, Key=key)["Item"]
    # WHEN it ends (SUCCEEDED: released by its event's transaction; FAILED: by the end's release), twice
    for i, kind in enumerate(("RUNNABLE", "RUNNING", end, end)):
        plane.deliver(plane.event(kind, job, seconds=i))
    plane.sweep()
    # THEN its admission is given back once (the flag), and what it held is gone from the item
    with stack.observing():
        item = ddb.get_item(TableName=stack.table_name, Key=key)["Item"]
    assert plane.job(job["jobId"])["status"] == end
    assert item.get("admReleased") == {"BOOL": True}
    assert "adm" not in item


def test_a_queued_job_left_with_its_cancel_asked_for_is_ended_by_the_dispatcher(plane: Plane, stack: Stack) -> None:
    from batchplane import wiring

    # GIVEN a queued job whose cancel was marked, and whose gateway invocation died before it ended the job
    job = response_json(_post(plane, {"name": "c", "command": ["true"]}))["jobId"]
    with stack.acting_as("gateway"):
        tenant = ALICE.rsplit("/", 1)[0]  # an assumed role's tenant: the role, without its session name
        marked = wiring.job_service()._store.request_cancel(job, tenant, "batchplane: cancelled by alice")
    assert marked is not None
    assert (marked.status.value, marked.cancel_requested) == ("QUEUED", True)
    # WHEN the dispatcher looks at the queue
    report = plane.dispatch()
    # THEN it ends the job CANCELLED instead of admitting it, once
    assert report.admitted == []
    assert report.cancelled == [job]
    view = plane.job(job)
    assert (view["status"], view["statusReason"]) == ("CANCELLED", "batchplane: cancelled by alice")
    assert plane.dispatch().cancelled == []


def test_looks_at_queued_jobs_share_one_read_of_the_queue_for_a_while(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchplane.adapters.dynamo.admission import QUEUED_KEYS
    from batchplane.services import dispatcher as module

    # GIVEN bob may run no vCPU and has two jobs queued
    assert _quota(plane, "PUT", BOB, ADMIN, {"maxRunningVcpus": 0})["statusCode"] == 200
    ids = [
        response_json(_post(plane, {"name": f"b{i}", "command": ["true"], "vcpus": 1}, BOB))["jobId"] for i in (1, 2)
    ]

    def look(job_id: str) -> dict[str, Any]:
        event = http_event(
            "GET", f"/jobs/{job_id}", caller=BOB, route="GET /jobs/{jobId}", path_parameters={"jobId": job_id}
        )
        return response_json(plane.gateway.lambda_handler(event, plane.ctx))

    monkeypatch.setattr(module, "EXPLAIN_READ_SECONDS", 600.0)
    look(ids[0])  # the gateway container's first look reads the queue
    # WHEN bob looks at both jobs, twice
    stack.calls.reset()
    views = [look(i) for i in ids + ids]
    # THEN each says why it waits (bob's quota: with none allowed, each is over it on its own, so neither waits
    # behind the other), and the queue was not read again (one GetItem of the job, one BatchGetItem of the counters
    # a look)
    assert [v["waiting"]["hold"] for v in views] == ["quota-vcpus"] * 4
    assert stack.calls.counts.get("dynamodb.Query", 0) == 0
    # AND once the read is EXPLAIN_READ_SECONDS old, the next look reads it again (a Query a shard key)
    monkeypatch.setattr(module, "EXPLAIN_READ_SECONDS", 0.0)
    stack.calls.reset()
    assert look(ids[1])["waiting"]["hold"] == "quota-vcpus"
    assert stack.calls.counts["dynamodb.Query"] == len(QUEUED_KEYS)
