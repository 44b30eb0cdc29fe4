"""An ended job's admission is given back once, even when the invocation that ended it died before its release and
no event tells again (issue #10, "not repaired"): the end files the job in the sweeper's RELEASE bucket, the release
takes it out in the same transaction, and a sweep a repair window later makes a release that was lost. On moto,
each function under its own enforced role, calls counted."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import boto3
import pytest

from tests.apigw import http_event, response_json
from tests.conftest import REGION, Stack
from tests.integration.conftest import Plane
from tests.integration.test_submit_rejected import _delete_queue, _layout_read

ADMIN = "arn:aws:iam::123456789012:user/admin"
ALICE = "arn:aws:iam::123456789012:user/alice"


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {"AdminPrincipals": ADMIN, "PriceSource": "shipped"}


@pytest.fixture
def no_repair_wait(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweeper's repair window at 0 s: what is due a window after its end is due at once (the functions' clients
    made again, on a session whose calls are counted as before)."""
    from batchplane import wiring
    from batchplane.adapters import aws as aws_clients

    monkeypatch.setenv("REPAIR_AFTER_SECONDS", "0")
    wiring.settings.cache_clear()
    wiring.reset()
    aws_clients.session().events.register("before-call.*.*", stack.calls.hook)
    aws_clients.session().events.register("provide-client-params.*.*", stack.calls.capture)


def _post(plane: Plane, body: dict[str, Any]) -> dict[str, Any]:
    response = plane.gateway.lambda_handler(http_event("POST", "/jobs", body=body, caller=ALICE), plane.ctx)
    assert response["statusCode"] == 202, response["body"]
    return response_json(response)


def _view(plane: Plane, job_id: str) -> dict[str, Any]:
    event = http_event(
        "GET", f"/jobs/{job_id}", caller=ALICE, route="GET /jobs/{jobId}", path_parameters={"jobId": job_id}
    )
    return response_json(plane.gateway.lambda_handler(event, plane.ctx))


def _running_vcpus(plane: Plane) -> int:
    encoded = quote(ALICE, safe="")
    event = http_event(
        "GET", f"/quotas/{encoded}", caller=ADMIN, route="GET /quotas/{tenant}", path_parameters={"tenant": encoded}
    )
    return int(response_json(plane.gateway.lambda_handler(event, plane.ctx))["usage"]["runningVcpus"])


def _index_key(stack: Stack, job_id: str) -> str | None:
    with stack.observing():
        item = boto3.client("dynamodb", region_name=REGION).get_item(
            TableName=stack.table_name, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}}
        )["Item"]
    return item.get("gsi2pk", {}).get("S")


def _admitted(plane: Plane, body: dict[str, Any]) -> dict[str, Any]:
    queued = _post(plane, body)
    plane.dispatch()
    view = _view(plane, queued["jobId"])
    view["attempts"][-1]["batchJobId"] = plane._batch_job_id(view)
    return view


def _losing_releases(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every admission release dies (the container is gone) until the returned list is emptied."""
    from batchplane.adapters.dynamo.admission import DynamoAdmission

    real = DynamoAdmission.release
    dying = ["on"]

    def release(self: Any, job: Any) -> bool:
        if dying:
            raise RuntimeError("the container died before the release")
        return bool(real(self, job))

    monkeypatch.setattr(DynamoAdmission, "release", release)
    return dying


def test_an_ended_job_leaves_the_index_with_its_release(plane: Plane, stack: Stack) -> None:
    # GIVEN alice's admitted job; WHEN it succeeds (its release made as it ends)
    job = _admitted(plane, {"name": "ok", "command": ["true"], "vcpus": 2})
    assert _running_vcpus(plane) == 2
    stack.calls.reset()
    assert plane.deliver(plane.event("SUCCEEDED", job, seconds=5)) == "succeeded"
    # THEN the end and the release are one transaction, the job's only write, and it is in no sweeper bucket
    assert stack.calls.counts["dynamodb.TransactWriteItems"] == 1
    assert stack.calls.counts["dynamodb.UpdateItem"] == 1  # the cost rollup's
    assert _running_vcpus(plane) == 0
    assert _index_key(stack, job["jobId"]) is None


def test_a_release_lost_when_a_job_succeeded_is_made_by_the_sweeper_once(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch, no_repair_wait: None
) -> None:
    # GIVEN alice's admitted job whose SUCCEEDED event was recorded without its release (its transaction refused:
    # the plain write decided), and the handler died before the release that follows, and the event is not
    # delivered again
    from batchplane.adapters.dynamo.attempts import DynamoLifecycleStore

    job = _admitted(plane, {"name": "ok", "command": ["true"], "vcpus": 2})
    monkeypatch.setattr(DynamoLifecycleStore, "_succeed_and_release", lambda *_a, **_k: None)
    dying = _losing_releases(monkeypatch)
    with pytest.raises(RuntimeError):
        plane.deliver(plane.event("SUCCEEDED", job, seconds=5))
    dying.clear()
    assert _view(plane, job["jobId"])["status"] == "SUCCEEDED"
    assert _running_vcpus(plane) == 2  # held by a job that ended
    assert (_index_key(stack, job["jobId"]) or "").startswith("RELEASE#")
    stack.calls.reset()
    # WHEN the sweeper runs a repair window later
    report = plane.sweep()
    # THEN it gives the usage back with one transaction, and the job leaves the index
    assert report["usage_released"] == [job["jobId"]]
    assert stack.calls.counts["dynamodb.TransactWriteItems"] == 1
    assert _running_vcpus(plane) == 0
    assert _index_key(stack, job["jobId"]) is None
    # AND a second sweep and the event delivered late release nothing more
    stack.calls.reset()
    assert plane.sweep()["usage_released"] == []
    plane.deliver(plane.event("SUCCEEDED", job, seconds=5))
    assert stack.calls.counts["dynamodb.TransactWriteItems"] == 0
    assert _running_vcpus(plane) == 0


def test_a_release_lost_when_batch_rejected_the_submission_is_made_by_the_sweeper(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch, no_repair_wait: None
) -> None:
    # GIVEN alice's job that Batch refused at admission (its queue deleted), whose release died with the dispatcher
    queued = _post(plane, {"name": "gone", "command": ["true"], "vcpus": 2, "priority": "high"})
    _layout_read(stack)
    _delete_queue(stack, plane.stack.queues_by_name[queued["attempts"][0]["queue"]])
    dying = _losing_releases(monkeypatch)
    with pytest.raises(RuntimeError):
        plane.dispatch()
    dying.clear()
    assert _view(plane, queued["jobId"])["status"] == "FAILED"
    assert _running_vcpus(plane) == 2
    # WHEN the sweeper runs
    report = plane.sweep()
    # THEN the usage is given back, once, and nothing is submitted again
    assert report["usage_released"] == [queued["jobId"]]
    assert _running_vcpus(plane) == 0
    stack.calls.reset()
    assert plane.sweep()["usage_released"] == []
    assert stack.calls.counts["batch.SubmitJob"] == 0
    assert _running_vcpus(plane) == 0


def test_an_ended_job_that_holds_no_admission_leaves_the_index_at_the_next_sweep(
    plane: Plane, stack: Stack, no_repair_wait: None
) -> None:
    # GIVEN a job Batch ran that batchplane never admitted (adopted from its event: it has no admission)
    job = _admitted(plane, {"name": "ok", "command": ["true"]})
    adopted = dict(job, jobId="01JCDEFGHJKMNPQRSTVWXYZ012")
    adopted["attempts"] = [dict(job["attempts"][0], batchJobId="batch-adopted")]
    assert plane.deliver(plane.event("RUNNING", adopted, seconds=1)) == "adopted"
    assert plane.deliver(plane.event("SUCCEEDED", adopted, seconds=5)) == "succeeded"
    assert (_index_key(stack, adopted["jobId"]) or "").startswith("RELEASE#")
    # WHEN the sweeper runs THEN it takes the job out of the index with one write, releasing nothing for it
    stack.calls.reset()
    assert plane.sweep()["usage_released"] == []
    releases = [p for op, p in stack.calls.requests if op == "dynamodb.TransactWriteItems"]
    assert adopted["jobId"] not in repr(releases)
    assert _index_key(stack, adopted["jobId"]) is None
