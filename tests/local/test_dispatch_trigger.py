"""The local stack invokes the dispatcher when admission has news: after another function's write to a tenant's or a
pool's counters, again at once after an invocation that admitted, and at least every fallback period."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from batchplane_local import iam
from batchplane_local.stack.dispatch import AdmissionTrigger, run_dispatcher, written_keys
from moto import mock_aws

DISPATCHER = "DispatcherFunction"


def principal(function: str) -> iam.Principal:
    return iam.Principal(function=function, role_name=f"{function}Role", statements=())


@pytest.fixture
def table() -> Iterator[tuple[Any, AdmissionTrigger]]:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        trigger = AdmissionTrigger(("QUOTA#", "POOL#"), DISPATCHER)
        trigger.register(session.events)
        ddb = session.client("dynamodb")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ddb, trigger


def key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "x"}}


def add_one(pk: str) -> dict[str, Any]:
    return {
        "TableName": "t",
        "Key": key(pk),
        "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }


def test_a_write_to_the_counters_by_another_function_wakes_the_dispatcher(table: tuple[Any, AdmissionTrigger]) -> None:
    ddb, trigger = table
    # WHEN the job events function gives back what a job held (one transaction: the job, its tenant, its pool)
    with iam.acting_as(principal("JobEventsFunction")):
        ddb.transact_write_items(TransactItems=[{"Update": add_one("JOB#j")}, {"Update": add_one("POOL#spot")}])
    # THEN the dispatcher is woken
    assert trigger.wake.is_set()
    assert trigger.woken == 1


def test_writes_that_change_nothing_admission_reads_wake_nothing(table: tuple[Any, AdmissionTrigger]) -> None:
    ddb, trigger = table
    with iam.acting_as(principal("JobEventsFunction")):
        # a job's own state, and reads of the counters
        ddb.update_item(**add_one("JOB#j"))
        ddb.get_item(TableName="t", Key=key("QUOTA#t"))
        # a write to the counters that DynamoDB refuses (its condition fails)
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
            ddb.update_item(**add_one("QUOTA#t"), ConditionExpression="attribute_exists(pk)")
    # and the dispatcher's own admissions (it ticks again by its own answer, not by its writes)
    with iam.acting_as(principal(DISPATCHER)):
        ddb.update_item(**add_one("QUOTA#t"))
    assert not trigger.wake.is_set()
    assert trigger.woken == 0


def test_an_enqueue_and_a_quota_change_wake_the_dispatcher(table: tuple[Any, AdmissionTrigger]) -> None:
    ddb, trigger = table
    with iam.acting_as(principal("GatewayFunction")):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {**key("JOB#k"), "gsi2pk": {"S": "QUEUED"}}}},
                {"Update": add_one("QUOTA#tenant")},
            ]
        )
        ddb.put_item(TableName="t", Item=key("QUOTA#other"))
    assert trigger.woken == 2


def test_written_keys_are_read_from_every_kind_of_write() -> None:
    assert written_keys("PutItem", {"Item": key("a")}) == [key("a")]
    assert written_keys("DeleteItem", {"Key": key("b")}) == [key("b")]
    transaction = {
        "TransactItems": [
            {"Put": {"Item": key("c")}},
            {"Update": {"Key": key("d")}},
            {"Delete": {"Key": key("e")}},
            {"ConditionCheck": {"Key": key("f")}},
        ]
    }
    assert written_keys("TransactWriteItems", transaction) == [key("c"), key("d"), key("e")]
    batch = {"RequestItems": {"t": [{"PutRequest": {"Item": key("g")}}, {"DeleteRequest": {"Key": key("h")}}]}}
    assert written_keys("BatchWriteItem", batch) == [key("g"), key("h")]


def test_the_dispatcher_runs_when_woken_again_after_admitting_and_on_its_fallback() -> None:
    trigger = AdmissionTrigger(("QUOTA#",), DISPATCHER)
    stopping = threading.Event()
    answers = iter([{"admitted": 3}, {"admitted": 0}, None, {"admitted": 0}])
    calls: list[float] = []

    def invoke() -> Any:
        calls.append(time.monotonic())
        answer = next(answers, {"admitted": 0})
        if len(calls) == 4:
            stopping.set()
            trigger.wake.set()
        return answer

    thread = threading.Thread(target=run_dispatcher, args=(invoke, trigger, stopping, 0.5, 0.1), daemon=True)
    started = time.monotonic()
    thread.start()
    # WHEN it is woken: one invocation that admitted, then one more a gap later (as the AWS loop ticks again)
    trigger.wake.set()
    thread.join(5)
    assert not thread.is_alive()
    assert len(calls) == 4
    assert 0.09 <= calls[1] - calls[0] < 0.3
    # THEN with nothing new, the next ones come on the fallback period (a failed invocation answers None)
    assert calls[2] - calls[1] >= 0.45
    assert calls[3] - calls[2] >= 0.45
    assert calls[0] - started < 0.25


def test_news_within_the_gap_are_decided_by_one_invocation() -> None:
    trigger = AdmissionTrigger(("QUOTA#",), DISPATCHER)
    stopping = threading.Event()
    calls: list[float] = []

    def invoke() -> Any:
        calls.append(time.monotonic())
        return {"admitted": 0}

    thread = threading.Thread(target=run_dispatcher, args=(invoke, trigger, stopping, 60, 0.4), daemon=True)
    thread.start()
    trigger.wake.set()
    time.sleep(0.1)
    # WHEN twenty writes wake it within the gap after an invocation
    for _ in range(20):
        trigger.wake.set()
        time.sleep(0.01)
    time.sleep(0.6)
    stopping.set()
    trigger.wake.set()
    thread.join(5)
    # THEN one more invocation decides them all, a gap after the first
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.39


def test_a_tick_held_back_by_capacity_waits_for_news_and_a_full_one_ticks_again() -> None:
    trigger = AdmissionTrigger(("QUOTA#",), DISPATCHER)
    stopping = threading.Event()
    answers = iter([{"admitted": 2}, {"admitted": 50}, {"admitted": 0, "lost": 1}, {"admitted": 0}])
    calls: list[float] = []

    def invoke() -> Any:
        calls.append(time.monotonic())
        return next(answers, {"admitted": 0})

    args = (invoke, trigger, stopping, 0.6, 0.05, 50)
    thread = threading.Thread(target=run_dispatcher, args=args, daemon=True)
    thread.start()
    trigger.wake.set()
    time.sleep(0.3)
    # WHEN a tick admitted 2 of a budget of 50 (capacity was the limit): nothing more until news or the fallback
    assert len(calls) == 1
    time.sleep(0.5)
    # THEN the fallback's tick admitted a whole budget: again at once; then one that lost a race: again at once
    stopping.set()
    trigger.wake.set()
    thread.join(5)
    assert len(calls) == 4
    assert calls[2] - calls[1] < 0.3
    assert calls[3] - calls[2] < 0.3
