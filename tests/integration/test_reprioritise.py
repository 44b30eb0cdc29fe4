"""Re-prioritising a job on moto, every function under its own enforced IAM role: a job waiting RUNNABLE in Batch
moves to the new class's queue with exactly one new attempt and one TerminateJob (counted), however often the
request is repeated or raced; 409 once it started; the old attempt's later events neither retry nor fail the job."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane.adapters.dynamo.priority import DynamoPriorityStore

from tests.apigw import BOB, content_type, http_event, response_json
from tests.conftest import Stack
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration


def reprioritise(plane: Plane, job_id: str, body: Any, **kw: Any) -> dict[str, Any]:
    event = http_event(
        "POST",
        f"/jobs/{job_id}/priority",
        body=body,
        route="POST /jobs/{jobId}/priority",
        path_parameters={"jobId": job_id},
        **kw,
    )
    return plane.gateway.lambda_handler(event, plane.ctx)


def urgent(plane: Plane, job_id: str) -> dict[str, Any]:
    response = reprioritise(plane, job_id, {"priority": "urgent"})
    assert response["statusCode"] == 200, response["body"]
    return response_json(response)


def calls(stack: Stack, operation: str) -> list[dict[str, Any]]:
    return [p for op, p in stack.calls.requests if op == operation]


def runnable_job(plane: Plane) -> dict[str, Any]:
    """A normal job, submitted, that Batch reported RUNNABLE."""
    submitted = plane.submit({"name": "waits"})
    job = plane.job(submitted["jobId"])
    job["attempts"][0]["batchJobId"] = submitted["batchJobId"]
    plane.deliver(plane.event("RUNNABLE", job, seconds=1))
    return plane.job(submitted["jobId"])


def test_a_runnable_job_moves_queues_with_one_new_attempt_and_one_terminate(plane: Plane, stack: Stack) -> None:
    # GIVEN a normal job RUNNABLE in the normal Spot queue
    job = runnable_job(plane)
    old_batch_id = job["attempts"][0]["batchJobId"]
    assert job["queue"] == stack.queue("normal", "spot").rsplit("/", 1)[-1]
    stack.calls.reset()
    # WHEN it is re-prioritised to urgent
    answer = urgent(plane, job["jobId"])
    # THEN a new attempt replaces it in the urgent Spot queue, and the old Batch job is terminated: each call once
    assert answer["action"] == "replaced"
    assert (answer["priority"], answer["previousPriority"], answer["attempt"], answer["replaced"]) == (
        "urgent",
        "normal",
        2,
        1,
    )
    submits, terminates = calls(stack, "batch.SubmitJob"), calls(stack, "batch.TerminateJob")
    assert [s["jobQueue"] for s in submits] == [stack.queue("urgent", "spot")]
    assert [t["jobId"] for t in terminates] == [old_batch_id]
    assert terminates[0]["reason"].startswith("batchplane: re-prioritised from normal to urgent")
    # the new attempt (one conditional write) and its slot of the account-wide SubmitJob budget
    assert stack.calls.counts["dynamodb.UpdateItem"] == 2
    # AND the job's record says so, the new attempt linked to the one it replaces
    after = plane.job(job["jobId"])
    assert (after["priority"], after["queue"]) == ("urgent", stack.queue("urgent", "spot").rsplit("/", 1)[-1])
    assert [(a["attempt"], a["reason"], a["replaces"]) for a in after["attempts"]] == [
        (1, "initial", None),
        (2, "reprioritised", 1),
    ]
    lineage = response_json(
        plane.gateway.lambda_handler(
            http_event(
                "GET",
                f"/jobs/{job['jobId']}/lineage",
                route="GET /jobs/{jobId}/lineage",
                path_parameters={"jobId": job["jobId"]},
            ),
            plane.ctx,
        )
    )
    assert {"kind": "replaces", "reason": "reprioritised"}.items() <= next(
        e for e in lineage["edges"] if e["kind"] == "replaces"
    ).items()


def test_a_repeated_request_is_a_no_op(plane: Plane, stack: Stack) -> None:
    # GIVEN a RUNNABLE job re-prioritised to urgent
    job = runnable_job(plane)
    urgent(plane, job["jobId"])
    stack.calls.reset()
    # WHEN the same request comes again
    again = urgent(plane, job["jobId"])
    # THEN nothing more is done: no new attempt, no call to Batch, no write
    assert again["action"] == "unchanged"
    assert calls(stack, "batch.SubmitJob") == calls(stack, "batch.TerminateJob") == []
    assert stack.calls.counts["dynamodb.UpdateItem"] == 0
    assert len(plane.job(job["jobId"])["attempts"]) == 2


def test_a_request_racing_another_makes_one_attempt(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a RUNNABLE job, and a second identical request that lands after the first one read the job
    job = runnable_job(plane)
    real = DynamoPriorityStore.get_job
    raced: list[dict[str, Any]] = []
    racing: list[bool] = []

    def read_then_race(self: DynamoPriorityStore, job_id: str) -> Any:
        seen = real(self, job_id)
        if not racing:
            racing.append(True)  # the second request reads and writes undisturbed
            raced.append(urgent(plane, job_id))
        return seen

    monkeypatch.setattr(DynamoPriorityStore, "get_job", read_then_race)
    stack.calls.reset()
    # WHEN the first request goes on with what it read
    answer = urgent(plane, job["jobId"])
    # THEN its write loses, it reads again and finds the job urgent already: one new attempt in all
    assert raced[0]["action"] == "replaced"
    assert answer["action"] == "unchanged"
    assert len(calls(stack, "batch.SubmitJob")) == 1
    assert len(calls(stack, "batch.TerminateJob")) == 1
    assert [a["reason"] for a in plane.job(job["jobId"])["attempts"]] == ["initial", "reprioritised"]


def test_a_request_racing_the_job_starting_is_refused_and_makes_nothing(
    plane: Plane, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a RUNNABLE job that Batch starts right after the request read it
    job = runnable_job(plane)
    real = DynamoPriorityStore.get_job
    started: list[str] = []

    def read_then_start(self: DynamoPriorityStore, job_id: str) -> Any:
        seen = real(self, job_id)
        if not started:
            started.append(plane.deliver(plane.event("STARTING", job, seconds=2)))
        return seen

    monkeypatch.setattr(DynamoPriorityStore, "get_job", read_then_start)
    stack.calls.reset()
    # WHEN the request goes on with what it read
    response = reprioritise(plane, job["jobId"], {"priority": "urgent"})
    # THEN its write loses to the event, and on a fresh read it is refused: no attempt, no Batch call
    assert started == ["recorded"]
    assert response["statusCode"] == 409, response["body"]
    assert calls(stack, "batch.SubmitJob") == calls(stack, "batch.TerminateJob") == []
    assert len(plane.job(job["jobId"])["attempts"]) == 1


def test_409_once_starting(plane: Plane, stack: Stack) -> None:
    # GIVEN a job Batch reported STARTING
    job = runnable_job(plane)
    plane.deliver(plane.event("STARTING", job, seconds=2))
    stack.calls.reset()
    # WHEN it is re-prioritised  THEN 409 problem+json saying it started, and nothing is done
    response = reprioritise(plane, job["jobId"], {"priority": "urgent"})
    assert response["statusCode"] == 409
    assert content_type(response) == "application/problem+json"
    assert "STARTING" in response_json(response)["detail"]
    assert calls(stack, "batch.SubmitJob") == calls(stack, "batch.TerminateJob") == []


def test_the_old_attempts_later_events_neither_retry_nor_fail_the_job(plane: Plane, stack: Stack) -> None:
    # GIVEN a RUNNABLE job re-prioritised (its old Batch job terminated)
    job = runnable_job(plane)
    urgent(plane, job["jobId"])
    stack.calls.reset()
    # WHEN the old attempt's FAILED event (the terminate) arrives
    outcome = plane.deliver(plane.event("CANCELLED", job, attempt=1, seconds=3))
    # THEN it is stale: no retry, no failure, the job waits on its new attempt
    assert outcome == "stale"
    assert calls(stack, "batch.SubmitJob") == []
    after = plane.job(job["jobId"])
    assert after["status"] == "SUBMITTED"
    assert after["attempts"][0]["failureClass"] is None
    # AND a late "on its way" event of the old attempt (its terminate missed) stops it again
    assert plane.deliver(plane.event("STARTING", job, attempt=1, seconds=4)) == "superseded-stopped"
    assert [t["jobId"] for t in calls(stack, "batch.TerminateJob")] == [job["attempts"][0]["batchJobId"]]
    assert plane.job(job["jobId"])["status"] == "SUBMITTED"


def test_a_held_job_moves_at_once_and_is_submitted_to_its_new_queue(plane: Plane, stack: Stack) -> None:
    # GIVEN a job held for a dependency
    dep = plane.submit({"name": "dep"})
    held = plane.submit({"name": "held", "dependsOn": [{"jobId": dep["jobId"]}]})
    stack.calls.reset()
    # WHEN it is re-prioritised to urgent
    answer = urgent(plane, held["jobId"])
    # THEN its record moves at once, with no call to Batch
    assert (answer["action"], answer["attempt"], answer["queue"]) == (
        "moved",
        1,
        stack.queue("urgent", "spot").rsplit("/", 1)[-1],
    )
    assert calls(stack, "batch.SubmitJob") == calls(stack, "batch.TerminateJob") == []
    # AND when its dependency succeeds, the sweeper releases it for admission and the dispatcher submits it to the
    # urgent queue
    dep_job = plane.job(dep["jobId"])
    dep_job["attempts"][0]["batchJobId"] = dep["batchJobId"]
    for i, kind in enumerate(("RUNNABLE", "RUNNING", "SUCCEEDED")):
        plane.deliver(plane.event(kind, dep_job, seconds=i))
    stack.calls.reset()
    assert plane.sweep()["released"] == [held["jobId"]]
    assert plane.job(held["jobId"])["status"] == "QUEUED"
    plane.dispatch()
    assert [s["jobQueue"] for s in calls(stack, "batch.SubmitJob")] == [stack.queue("urgent", "spot")]


def test_a_cancelled_job_is_not_reprioritised(plane: Plane, stack: Stack) -> None:
    # GIVEN a RUNNABLE job whose owner cancelled it
    job = runnable_job(plane)
    event = http_event(
        "POST",
        f"/jobs/{job['jobId']}/cancel",
        body={},
        route="POST /jobs/{jobId}/cancel",
        path_parameters={"jobId": job["jobId"]},
    )
    assert plane.gateway.lambda_handler(event, plane.ctx)["statusCode"] == 200
    stack.calls.reset()
    # WHEN it is re-prioritised  THEN the cancel wins: 409, nothing submitted
    assert reprioritise(plane, job["jobId"], {"priority": "urgent"})["statusCode"] == 409
    assert calls(stack, "batch.SubmitJob") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [({"priority": "asap"}, "priority"), ({}, "priority"), ({"priority": "urgent", "queue": "x"}, "queue")],
)
def test_a_bad_body_is_422_naming_the_field(plane: Plane, body: dict[str, Any], field: str) -> None:
    job = runnable_job(plane)
    response = reprioritise(plane, job["jobId"], body)
    assert response["statusCode"] == 422, response["body"]
    assert content_type(response) == "application/problem+json"
    assert field in [e["field"] for e in response_json(response)["errors"]]


def test_another_tenants_job_is_404(plane: Plane, stack: Stack) -> None:
    # GIVEN alice's RUNNABLE job  WHEN bob re-prioritises it  THEN 404, and nothing is done
    job = runnable_job(plane)
    stack.calls.reset()
    response = reprioritise(plane, job["jobId"], {"priority": "urgent"}, caller=BOB)
    assert response["statusCode"] == 404
    assert content_type(response) == "application/problem+json"
    assert calls(stack, "batch.SubmitJob") == []
    assert plane.job(job["jobId"])["priority"] == "normal"


def test_waiting_names_the_dependency_and_batch_capacity(plane: Plane, stack: Stack) -> None:
    # GIVEN a job held for a running dependency, and a job RUNNABLE with AWS's capacity reason
    dep = plane.submit({"name": "dep"})
    held = plane.submit({"name": "held", "dependsOn": [{"jobId": dep["jobId"]}]})
    dep_job = plane.job(dep["jobId"])
    dep_job["attempts"][0]["batchJobId"] = dep["batchJobId"]
    plane.deliver(plane.event("RUNNING", dep_job, seconds=1))
    stuck = runnable_job(plane)
    plane.deliver(plane.event("CAPACITY", stuck, seconds=5))
    # WHEN each is read (the held one with one BatchGetItem more, for its dependencies' states; the other from its item)
    stack.calls.reset()
    waiting_held = plane.job(held["jobId"])["waiting"]
    assert (stack.calls.counts["dynamodb.GetItem"], stack.calls.counts["dynamodb.BatchGetItem"]) == (1, 1)
    stack.calls.reset()
    waiting_stuck = plane.job(stuck["jobId"])["waiting"]
    assert stack.calls.total == 1
    # THEN the held job names its dependency and its state; the other AWS's reason and the Spot dwell
    assert waiting_held["hold"] == "dependencies"
    assert waiting_held["dependencies"] == [{"jobId": dep["jobId"], "status": "RUNNING"}]
    assert waiting_stuck["hold"] == "capacity"
    assert waiting_stuck["awsReason"].startswith("CAPACITY:")
    assert "fallbackAt" in waiting_stuck
    # AND a running job waits on nothing
    assert plane.job(dep["jobId"]).get("waiting") is None


def test_the_openapi_document_describes_the_route(plane: Plane) -> None:
    # GIVEN the served OpenAPI document
    spec = response_json(plane.gateway.lambda_handler(http_event("GET", "/openapi.json"), plane.ctx))
    # THEN it has the route, its body and answer models, its problems, and the job view's `waiting`
    operation = spec["paths"]["/jobs/{jobId}/priority"]["post"]
    assert "PriorityRequest" in str(operation["requestBody"])
    assert {"200", "404", "409", "422"} <= set(operation["responses"])
    assert "waiting" in spec["components"]["schemas"]["JobView"]["properties"]
    assert spec["components"]["schemas"]["PriorityRequest"]["properties"]["priority"]


def test_a_queued_job_moved_to_urgent_is_admitted_before_earlier_normal_jobs(plane: Plane, stack: Stack) -> None:
    # GIVEN three normal jobs waiting QUEUED for admission, the last submitted last
    queued = [plane.submit({"name": f"q{i}"}, dispatch=False) for i in range(3)]
    assert {q["status"] for q in queued} == {"QUEUED"}
    stack.calls.reset()
    # WHEN the last one is re-prioritised to urgent
    answer = urgent(plane, queued[-1]["jobId"])
    # THEN it moves at once, with no call to Batch
    assert (answer["action"], answer["attempt"]) == ("moved", 1)
    assert calls(stack, "batch.SubmitJob") == calls(stack, "batch.TerminateJob") == []
    assert plane.job(queued[-1]["jobId"])["status"] == "QUEUED"
    # AND the dispatcher admits it first, to the urgent queue, then the normal ones in their order
    plane.dispatch()
    submitted = [(s["jobQueue"], s["jobName"]) for s in calls(stack, "batch.SubmitJob")]
    assert submitted[0][0] == stack.queue("urgent", "spot"), submitted
    assert [q for q, _ in submitted[1:]] == [stack.queue("normal", "spot")] * 2, submitted
    names = {plane.job(q["jobId"])["attempts"][0]["batchJobName"]: i for i, q in enumerate(queued)}
    assert [names[n] for _, n in submitted] == [2, 0, 1]


def test_a_replacement_batch_refuses_answers_the_job_failed_as_stored(plane: Plane, stack: Stack) -> None:
    import boto3

    from tests.conftest import REGION

    # GIVEN a RUNNABLE normal job, and the urgent Spot queue deleted by an operator outside the stack
    job = runnable_job(plane)
    batch = boto3.client("batch", region_name=REGION)
    with stack.observing():
        batch.update_job_queue(jobQueue=stack.queue("urgent", "spot"), state="DISABLED")
        batch.delete_job_queue(jobQueue=stack.queue("urgent", "spot"))
    # WHEN it is re-prioritised to urgent: the new attempt is recorded, then Batch refuses its SubmitJob
    answer = urgent(plane, job["jobId"])
    # THEN the answer says what is stored: the job ended FAILED, naming Batch's refusal
    stored = plane.job(job["jobId"])
    assert stored["status"] == "FAILED"
    assert stored["statusReason"].startswith("batchplane: AWS Batch rejected SubmitJob (ClientException)")
    assert (answer["action"], answer["status"], answer["statusReason"]) == (
        "replaced",
        "FAILED",
        stored["statusReason"],
    )
