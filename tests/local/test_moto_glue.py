"""The moto-specific glue of the local stack fails loudly here, not in a user's demo, when moto changes under it."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from batchplane_local import moto_glue, moto_items

from tests.eventdata import load_event
from tests.tables import key_table


def test_the_pinned_moto_is_a_supported_version() -> None:
    assert moto_glue.check_version().startswith(moto_glue.SUPPORTED)


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ({"source": ["aws.batch"], "detail-type": ["Batch Job State Change"]}, True),
        ({"source": ["aws.batch"], "detail": {"status": ["FAILED"]}}, True),
        ({"source": ["aws.batch"], "detail": {"status": ["RUNNING"]}}, False),
        ({"detail": {"jobQueue": [{"prefix": "arn:aws:batch:us-east-1:123456789012:job-queue/"}]}}, True),
        ({"detail": {"status": [{"anything-but": "FAILED"}]}}, False),
        ({"source": ["aws.ec2"]}, False),
    ],
)
def test_event_patterns_match_as_eventbridge_does(pattern: dict, matches: bool) -> None:
    event = load_event("batch-job-state-change-failed-spot-reclaim")
    assert moto_glue.Pattern(pattern).matches(event) is matches


def test_the_moto_server_serves_dynamodb_and_sqs_over_http() -> None:
    server = moto_glue.start_server()
    try:
        kwargs = {
            "endpoint_url": server.endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        ddb = boto3.client("dynamodb", **kwargs)
        key_table(ddb, sort=False)
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}})
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
        sqs = boto3.client("sqs", **kwargs)
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="x")
        assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "x"
    finally:
        server.stop()


def _map_machine(queue_url: str) -> str:
    return json.dumps(
        {
            "StartAt": "Jobs",
            "States": {
                "Jobs": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 0,
                    "ResultPath": None,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Wait",
                        "States": {
                            "Wait": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                                "Parameters": {
                                    "QueueUrl": queue_url,
                                    "MessageBody": {"item.$": "$", "token.$": "$$.Task.Token"},
                                },
                                "OutputPath": None,
                                "End": True,
                            }
                        },
                    },
                    "End": True,
                }
            },
        }
    )


def _received(sqs: Any, url: str, want: int, seconds: float = 10) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        got += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return got


@contextlib.contextmanager
def _map_world(*, own_process: bool = False) -> Iterator[tuple[Any, Any, str, str]]:
    """A moto server with a Map state machine whose iterations wait on task tokens sent to an SQS queue."""
    server = moto_glue.start_server(own_process=own_process)
    try:
        kwargs = {
            "endpoint_url": server.endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        sqs, sfn = boto3.client("sqs", **kwargs), boto3.client("stepfunctions", **kwargs)
        url = sqs.create_queue(QueueName="tokens")["QueueUrl"]
        arn = sfn.create_state_machine(
            name="map", definition=_map_machine(url), roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        yield sqs, sfn, url, arn
    finally:
        server.stop()


@pytest.mark.parametrize("own_process", [False, True], ids=["in-process", "own-process"])
def test_an_inline_map_runs_at_most_40_iterations_at_once(own_process: bool) -> None:
    """AWS Step Functions: an inline Map "supports up to 40 concurrent iterations" (MaxConcurrency 0 included);
    moto's interpreter would start all of them. The same glue holds when moto runs in its own process."""
    with _map_world(own_process=own_process) as (sqs, sfn, url, arn):
        # GIVEN a Map of 60 items, each waiting on a task token, MaxConcurrency 0
        execution = sfn.start_execution(stateMachineArn=arn, name="wide", input=json.dumps({"items": list(range(60))}))
        # WHEN its iterations start THEN 40 wait at once, and no 41st until one of them is answered
        first = _received(sqs, url, 41, seconds=10 if own_process else 3)  # a child interpreter starts slower
        assert len(first) == 40
        sfn.send_task_success(taskToken=json.loads(first[0]["Body"])["token"], output="{}")
        second = _received(sqs, url, 1)
        assert len(second) == 1
        # AND a Map smaller than the cap still runs every item and ends
        small = sfn.start_execution(stateMachineArn=arn, name="small", input=json.dumps({"items": [1, 2, 3]}))
        for m in first[1:] + second:
            sfn.send_task_success(taskToken=json.loads(m["Body"])["token"], output="{}")
        rest = _received(sqs, url, 18 + 3)
        for m in rest:
            sfn.send_task_success(taskToken=json.loads(m["Body"])["token"], output="{}")
        deadline = time.monotonic() + 10
        statuses = {}
        while time.monotonic() < deadline:
            statuses = {
                e: sfn.describe_execution(executionArn=e)["status"]
                for e in (execution["executionArn"], small["executionArn"])
            }
            if set(statuses.values()) == {"SUCCEEDED"}:
                break
            time.sleep(0.1)
        assert set(statuses.values()) == {"SUCCEEDED"}, statuses


def test_a_stopped_execution_waiting_in_a_map_ends_aborted() -> None:
    """AWS: StopExecution makes an execution ABORTED. moto's interpreter ended one stopped inside a Map iteration
    FAILED States.Runtime ``AttributeError('str' object has no attribute 'get')`` once its task was answered."""
    with _map_world() as (sqs, sfn, url, arn):
        # GIVEN an execution whose Map iteration waits on a task token
        execution = sfn.start_execution(stateMachineArn=arn, name="stopme", input=json.dumps({"items": [1]}))[
            "executionArn"
        ]
        (message,) = _received(sqs, url, 1)
        # WHEN it is stopped (as a pipeline cancel does)
        sfn.stop_execution(executionArn=execution, error="batchplane.Cancelled", cause="cancelled by its owner")
        # THEN it is ABORTED at once, as in AWS
        assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
        # AND stays ABORTED when the interpreter ends it (its waiting task released), the token answered in vain
        with contextlib.suppress(sfn.exceptions.ClientError):
            sfn.send_task_success(taskToken=json.loads(message["Body"])["token"], output="{}")
        deadline = time.monotonic() + 10
        ended: list[str] = []
        while not ended and time.monotonic() < deadline:
            events = sfn.get_execution_history(executionArn=execution)["events"]
            ended = [e["type"] for e in events if e["type"].startswith("Execution") and e["type"] != "ExecutionStarted"]
            time.sleep(0.1)
        described = sfn.describe_execution(executionArn=execution)
        assert (ended, described["status"]) == (["ExecutionAborted"], "ABORTED"), described


def test_a_moto_server_in_its_own_process_is_ended_by_stop() -> None:
    # GIVEN moto's server in a child interpreter
    server = moto_glue.start_server(own_process=True)
    assert server.process is not None
    try:
        sqs = boto3.client(
            "sqs",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
        )
        # THEN it answers AWS's API
        assert sqs.create_queue(QueueName="q")["QueueUrl"].endswith("/q")
    finally:
        server.stop()
    # AND stop ends the child: nothing is left running, nor its channel's socket and folder
    assert server.process.poll() is not None
    assert server.channel is not None
    assert not os.path.exists(os.path.dirname(server.channel))


def test_a_cancelled_transaction_leaves_the_items_it_named_as_they_were() -> None:
    import boto3
    import pytest
    from batchplane_local.moto_glue import cheap_transactions
    from botocore.exceptions import ClientError
    from moto import mock_aws

    cheap_transactions()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        key_table(ddb)
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "x"}, "n": {"N": "1"}})
        # WHEN a transaction adds to one item and creates another, but a third item's condition fails
        with pytest.raises(ClientError) as err:
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "a"}, "sk": {"S": "x"}},
                            "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                    {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}, "sk": {"S": "x"}}}},
                    {
                        "Update": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "c"}, "sk": {"S": "x"}},
                            "UpdateExpression": "SET v = :v",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":v": {"S": "v"}},
                        }
                    },
                ]
            )
        # THEN it is cancelled as DynamoDB cancels it, and nothing it named changed
        assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
        items = ddb.scan(TableName="t")["Items"]
        assert items == [{"pk": {"S": "a"}, "sk": {"S": "x"}, "n": {"N": "1"}}]


def test_an_update_copies_its_old_image_only_for_a_table_with_a_stream(monkeypatch: Any) -> None:
    import boto3
    from batchplane_local.moto_glue import cheap_transactions
    from moto import mock_aws
    from moto.dynamodb.models.dynamo_type import Item

    cheap_transactions()
    copies: list[int] = []
    real = Item.__deepcopy__

    def counted(self: Any, memo: Any) -> Any:
        copies.append(1)
        return real(self, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counted)
    update = {
        "Key": {"pk": {"S": "a"}, "sk": {"S": "x"}},
        "UpdateExpression": "SET n = :n",
        "ExpressionAttributeValues": {":n": {"N": "2"}},
    }
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        key_table(ddb)
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "x"}, "n": {"N": "1"}})
        # GIVEN no table with a stream: an update copies its item once (moto's handler, for the old values)
        copies.clear()
        ddb.update_item(TableName="t", **update)
        assert len(copies) == 1
        # WHEN a table has a stream THEN its updates copy the old image for it too, and the stream carries it
        key_table(ddb, "s")
        ddb.update_table(
            TableName="s", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        )
        ddb.put_item(TableName="s", Item={"pk": {"S": "a"}, "sk": {"S": "x"}, "n": {"N": "1"}})
        copies.clear()
        ddb.update_item(TableName="s", **update)
        assert len(copies) == 2
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends["123456789012"]["us-east-1"].tables["s"]  # the streams API is not installed
        modified = [r.record["dynamodb"] for r in table.stream_shard.items if r.record["eventName"] == "MODIFY"]
        assert modified[-1]["OldImage"]["n"] == {"N": "1"}
        assert modified[-1]["NewImage"]["n"] == {"N": "2"}


EVERY_TYPE = {
    "pk": {"S": "a"},
    "sk": {"S": "x"},
    "s": {"S": 'text ✓ "quoted"'},
    "empty": {"S": ""},
    "n": {"N": "-12.50"},
    "b": {"B": b"\x00\x01bytes"},
    "ss": {"SS": ["x", "y"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x02", b"\x03"]},
    "m": {"M": {"inner": {"S": "v"}, "deeper": {"M": {"l": {"L": [{"N": "1"}, {"NULL": True}, {"B": b"\x04"}]}}}}},
    "l": {"L": [{"S": "v"}, {"BOOL": False}, {"M": {}}, {"L": []}]},
    "null": {"NULL": True},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
}


def _dynamodb_bodies() -> list[bytes]:
    """The raw answers moto gives to reads and writes that return items of every attribute type."""
    from botocore.exceptions import ClientError
    from moto import mock_aws

    bodies: list[bytes] = []
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        key_table(ddb)
        ddb.meta.events.register(
            "after-call.dynamodb.*", lambda http_response, **_: bodies.append(http_response.content)
        )
        ddb.put_item(TableName="t", Item=EVERY_TYPE)
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "y"}, "n": {"N": "1"}})
        key = {"pk": {"S": "a"}, "sk": {"S": "x"}}
        ddb.get_item(TableName="t", Key=key)
        ddb.query(TableName="t", KeyConditionExpression="pk = :a", ExpressionAttributeValues={":a": {"S": "a"}})
        ddb.scan(TableName="t")
        ddb.batch_get_item(RequestItems={"t": {"Keys": [key]}})
        for returned in ("ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD"):
            ddb.update_item(
                TableName="t",
                Key=key,
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues=returned,
            )
        with pytest.raises(ClientError):
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": "t",
                            "Key": key,
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    }
                ]
            )
    return bodies


def test_dynamodb_answers_are_the_same_bytes_with_attribute_values_copied_as_they_are() -> None:
    from moto.core.serialize import BaseJSONSerializer

    moto_glue.fast_attribute_values()
    fast = BaseJSONSerializer._serialize_type_structure
    # GIVEN moto's answers to reads and writes of items holding every attribute type, with the shortcut
    with_shortcut = _dynamodb_bodies()
    # WHEN moto serialises the same calls its own way
    BaseJSONSerializer._serialize_type_structure = fast._batchplane_real  # type: ignore[attr-defined,method-assign]
    try:
        moto_own = _dynamodb_bodies()
    finally:
        BaseJSONSerializer._serialize_type_structure = fast  # type: ignore[method-assign]
    # THEN every answer is the same, byte for byte (binary values included: those still take moto's own path)
    assert len(with_shortcut) == len(moto_own) == 11
    for ours, theirs in zip(with_shortcut, moto_own, strict=True):
        assert ours == theirs
    # AND the items read back are the items written
    assert json.loads(with_shortcut[2])["Item"]["m"] == json.loads(moto_own[2])["Item"]["m"]
    assert json.loads(with_shortcut[2])["Item"]["s"] == {"S": EVERY_TYPE["s"]["S"]}


def test_the_attribute_value_shortcut_leaves_binary_values_to_moto() -> None:
    with pytest.raises(moto_glue._NotPlain):
        moto_glue._plain_attribute_value({"M": {"b": {"B": b"\x00"}}})
    assert moto_glue._plain_attribute_value({"L": [{"N": "1"}, None], "S": None}) == {"L": [{"N": "1"}, None]}


def _query_answers() -> list[dict[str, Any]]:
    """Queries of a table and of its index over items written in no particular order, paged and reversed."""
    from moto import mock_aws

    answers: list[dict[str, Any]] = []
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        key_table(ddb, indexes=[("gsi2", "gsi2pk", "gsi2sk")])
        for i in (7, 3, 9, 1, 4, 8, 2, 6, 5, 0):
            for j in (2, 0, 1):
                item = {"pk": {"S": f"JOB#{i % 3}"}, "sk": {"S": f"{i}-{j}"}, "gsi2pk": {"S": f"B{j % 2}"}}
                ddb.put_item(TableName="t", Item={**item, "gsi2sk": {"S": f"{(i * 7) % 10}#{i}-{j}"}})
        for forward in (True, False):
            for index, key in ((None, ("pk", "JOB#1")), ("gsi2", ("gsi2pk", "B0"))):
                kwargs: dict[str, Any] = {
                    "TableName": "t",
                    "KeyConditionExpression": f"{key[0]} = :k",
                    "ExpressionAttributeValues": {":k": {"S": key[1]}},
                    "ScanIndexForward": forward,
                    "Limit": 4,
                }
                if index:
                    kwargs["IndexName"] = index
                while True:
                    page = ddb.query(**kwargs)
                    answers.append({k: v for k, v in page.items() if k != "ResponseMetadata"})
                    if "LastEvaluatedKey" not in page:
                        break
                    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        answers.append({"scan": ddb.scan(TableName="t")["Items"]})
    return answers


def test_queries_answer_the_same_without_sorting_the_whole_table_first() -> None:
    from moto.dynamodb.models.table import Table

    moto_glue.unsorted_query_candidates()
    fast = Table.query
    # GIVEN the answers of paged queries, forwards and backwards, on the table and on an index
    ours = _query_answers()
    # WHEN moto answers them its own way (the whole table sorted first)
    Table.query = fast._batchplane_real  # type: ignore[attr-defined,method-assign]
    try:
        theirs = _query_answers()
    finally:
        Table.query = fast  # type: ignore[method-assign]
    # THEN every page is the same, and so is a scan
    assert len(ours) > 10
    assert ours == theirs


def _tree(node: Any) -> Any:
    """A syntax tree as plain values: each node's class and type, its children, or its leaf value."""
    children = getattr(node, "children", None)
    if not isinstance(children, list | tuple):
        return node if isinstance(node, str | int | float | type(None)) else type(node).__name__
    return (type(node).__name__, getattr(node, "type", None), [_tree(child) for child in children])


def test_update_expressions_parsed_once_answer_as_parsed_each_time() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    moto_glue.cached_update_expressions()
    cached = UpdateExpressionParser.__dict__["make"].__func__
    # GIVEN the same expression parsed twice: one tree, kept
    expression = "SET #s = :s, attempts.#n = if_not_exists(attempts.#n, :empty) ADD v :one REMOVE gone"
    assert UpdateExpressionParser.make(expression) is UpdateExpressionParser.make(expression)
    # WHEN moto answers reads and writes with the kept trees, then parsing each time
    ours = _dynamodb_bodies()
    UpdateExpressionParser.make = classmethod(cached._batchplane_real)  # type: ignore[method-assign,assignment]
    try:
        theirs = _dynamodb_bodies()
        fresh = UpdateExpressionParser.make(expression)
        assert fresh is not UpdateExpressionParser.make(expression)
    finally:
        UpdateExpressionParser.make = classmethod(cached)  # type: ignore[method-assign,assignment]
    # THEN every answer is the same, byte for byte, and the kept tree is the one parsing gives
    assert ours == theirs
    assert _tree(UpdateExpressionParser.make(expression)) == _tree(fresh)
    # AND an expression that does not parse is refused every time, as before
    for _ in range(2):
        with pytest.raises(Exception, match=r"Invalid UpdateExpression|Syntax error"):
            UpdateExpressionParser.make("SET = broken")


def test_a_query_is_not_broken_by_writes_to_the_table_at_the_same_time() -> None:
    import sys

    from moto.dynamodb.models.table import Table

    moto_glue.unsorted_query_candidates()
    # GIVEN a table with many partitions, and threads switching as often as the interpreter allows
    table = Table(
        "race",
        account_id="123456789012",
        region="us-east-1",
        schema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        attr=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
    )
    for i in range(2000):
        table.put_item({"pk": {"S": f"P{i}"}, "sk": {"S": "0"}})
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    failures: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:  # new partitions, one after another: the table's dict of partitions grows
        i = 0
        while not done.is_set():
            table.put_item({"pk": {"S": f"N{i}"}, "sk": {"S": "0"}})
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        # WHEN the query's candidates are listed while the writer writes
        for _ in range(200):
            try:
                moto_glue._IN_QUERY.active = True
                table.all_items()
            except RuntimeError as error:
                failures.append(error)
            finally:
                moto_glue._IN_QUERY.active = False
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(switch)
    # THEN no listing failed ("dictionary changed size during iteration")
    assert failures == []


def _a_write_during_a_cancelled_transaction() -> str | None:
    """A transaction adds to a counter, then waits in its failing condition check while another thread adds to the
    same counter; the transaction is cancelled. What the counter holds after both."""
    from moto import mock_aws
    from moto.dynamodb.models import DynamoDBBackend

    real_get = DynamoDBBackend.get_item
    inside, written = threading.Event(), threading.Event()

    def slow_get(self: Any, table_name: str, keys: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if keys.get("pk", {}).get("S") == "missing":  # the transaction's check: let the other write go first
            inside.set()
            written.wait(timeout=2)
        return real_get(self, table_name, keys, *args, **kwargs)

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        key_table(ddb, sort=False)
        add = {"Key": {"pk": {"S": "counter"}}, "UpdateExpression": "ADD n :one"}
        add["ExpressionAttributeValues"] = {":one": {"N": "1"}}

        def transaction() -> None:
            with contextlib.suppress(ddb.exceptions.TransactionCanceledException):
                ddb.transact_write_items(
                    TransactItems=[
                        {"Update": {"TableName": "t", **add}},
                        {
                            "ConditionCheck": {
                                "TableName": "t",
                                "Key": {"pk": {"S": "missing"}},
                                "ConditionExpression": "attribute_exists(pk)",
                            }
                        },
                    ]
                )

        DynamoDBBackend.get_item = slow_get  # type: ignore[method-assign]
        try:
            other = threading.Thread(target=transaction)
            other.start()
            assert inside.wait(timeout=10)
            writer = threading.Thread(target=lambda: ddb.update_item(TableName="t", **add))
            writer.start()
            writer.join(timeout=0.5)  # serialised: it waits for the transaction (which waits up to 2 s for it)
            written.set()
            other.join()
            writer.join()
        finally:
            DynamoDBBackend.get_item = real_get  # type: ignore[method-assign]
        item = ddb.get_item(TableName="t", Key={"pk": {"S": "counter"}}).get("Item")
        return None if item is None else str(item["n"]["N"])


def test_a_write_is_not_lost_to_a_cancelled_transaction_in_another_thread() -> None:
    from moto.dynamodb.responses import DynamoHandler

    moto_glue.cheap_transactions()
    moto_glue.serialised_dynamodb()
    serialised = DynamoHandler.call_action
    # GIVEN moto as it is (requests in threads, no lock): the cancelled transaction puts back the counter it had
    # changed, over the other thread's write, which is lost
    DynamoHandler.call_action = serialised._batchplane_real  # type: ignore[attr-defined,method-assign]
    try:
        assert _a_write_during_a_cancelled_transaction() is None
    finally:
        DynamoHandler.call_action = serialised  # type: ignore[method-assign]
    # WHEN DynamoDB answers one request at a time, THEN the other write counts, as DynamoDB's isolation has it
    assert _a_write_during_a_cancelled_transaction() == "1"


def test_a_handlers_methods_are_listed_once_and_as_moto_lists_them() -> None:
    from moto.core import responses, utils
    from moto.dynamodb.responses import DynamoHandler

    moto_glue._speed_up_moto()
    # the names moto routes an action by are the ones it would list, each time
    assert responses.method_names_from_class(DynamoHandler) == utils.method_names_from_class(DynamoHandler)
    first = responses.method_names_from_class(DynamoHandler)
    first.clear()  # a caller changing its list changes nothing for the next
    assert responses.method_names_from_class(DynamoHandler) == utils.method_names_from_class(DynamoHandler)
    assert "update_item" in responses.method_names_from_class(DynamoHandler)


def _projected_answers() -> list[Any]:
    """Reads that project items: GetItem, Query and Scan with projection expressions (top-level names, nested paths,
    list elements, names that are not there, placeholders), and Queries of an index that projects KEYS_ONLY."""
    from botocore.exceptions import ClientError
    from moto import mock_aws

    answers: list[Any] = []
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        key_table(ddb, indexes=[("gsi1", "gsi1pk", "sk")], keys_only=["gsi1"])
        big = {"B": bytes(range(256)) * 40}
        ddb.put_item(TableName="t", Item={**EVERY_TYPE, "gsi1pk": {"S": "G"}, "requestZ": big})
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "y"}, "gsi1pk": {"S": "G"}, "n": {"N": "1"}})
        key = {"pk": {"S": "a"}, "sk": {"S": "x"}}
        projections = [
            ("s, n, b", {}),
            ("#m.inner, #m.deeper.l[2], l[0], l[3], nothere, nothere.deeper", {"#m": "m"}),
            ("l[1], l[9], m.deeper, yes, #no", {"#no": "no"}),
            ("pk, sk, requestZ", {}),
            ("bs, ss, ns, #e, #null", {"#e": "empty", "#null": "null"}),
        ]
        for expression, names in projections:
            extra: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
            answers.append(ddb.get_item(TableName="t", Key=key, ProjectionExpression=expression, **extra)["Item"])
            answers.append(
                ddb.query(
                    TableName="t",
                    KeyConditionExpression="pk = :a",
                    ExpressionAttributeValues={":a": {"S": "a"}},
                    ProjectionExpression=expression,
                    **extra,
                )["Items"]
            )
            answers.append(ddb.scan(TableName="t", ProjectionExpression=expression, **extra)["Items"])
        answers.append(
            ddb.query(
                TableName="t",
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :g",
                ExpressionAttributeValues={":g": {"S": "G"}},
            )["Items"]
        )
        # an item at DynamoDB's size limit, and one a byte over (moto's limit: 405,000 bytes)
        filler = 405_000 - len("pk") - 1 - len("sk") - 1 - len("f")
        for size in (filler, filler + 1):
            try:
                ddb.put_item(TableName="t", Item={"pk": {"S": "c"}, "sk": {"S": "z"}, "f": {"S": "x" * size}})
                answers.append(("stored", size))
            except ClientError as err:
                answers.append((err.response["Error"]["Code"], err.response["Error"]["Message"], size))
    return answers


def test_projections_answer_the_same_from_the_attributes_they_name() -> None:
    from moto.dynamodb.models.dynamo_type import Item

    moto_items.linear_item_size()
    moto_items.projected_attributes_only()
    init, project = Item.__init__, Item.project
    # GIVEN projected reads of every attribute type, nested paths and list elements, and items at the size limit
    ours = _projected_answers()
    # WHEN moto answers them its own way (every attribute made plain first; the size summed as each one goes in)
    Item.__init__ = init._batchplane_real  # type: ignore[attr-defined,method-assign]
    Item.project = project._batchplane_real  # type: ignore[attr-defined,method-assign]
    try:
        theirs = _projected_answers()
    finally:
        Item.__init__ = init  # type: ignore[method-assign]
        Item.project = project  # type: ignore[method-assign]
    # THEN every answer is the same: what was asked for, and the same refusal of the item over the limit
    assert ours == theirs
    assert ours[0] == {"s": EVERY_TYPE["s"], "n": EVERY_TYPE["n"], "b": EVERY_TYPE["b"]}
    assert ours[3]["m"] == {"M": {"inner": {"S": "v"}, "deeper": {"M": {"l": {"L": [{"B": b"\x04"}]}}}}}
    assert ours[-2] == ("stored", 405_000 - 7)
    assert ours[-1][0] == "ValidationException"


def test_sizes_are_counted_as_moto_counts_them() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    moto_items.fast_sizes()
    own_size, own_item_size, own_setitem = DynamoType.size._batchplane_real  # type: ignore[attr-defined]
    # GIVEN every attribute type, nested maps and lists, sets, numbers written long, text beyond ASCII
    values = [
        *EVERY_TYPE.values(),
        {"S": "ünïcødé ✓ 𝄞"},
        {"N": "123456789012345678901234567890.5"},
        {"SS": ["ü", "", "long" * 50]},
        {"BS": [b"", bytes(range(256))]},
        {"M": {"ключ": {"SS": ["a"]}, "l": {"L": [{"M": {"x": {"NS": ["1", "-0.25"]}}}, {"NULL": True}]}}},
    ]
    for value in values:
        typed = DynamoType(value)
        # THEN each is as many bytes as moto's own count, typed or in its dict form
        assert moto_items.value_size(typed) == own_size(typed) == moto_items.value_size(value), value
    item = Item(DynamoType({"S": "a"}), DynamoType({"S": "x"}), {**EVERY_TYPE, "ü": {"S": "✓"}})
    assert Item.size(item) == own_item_size(item) > 0
    # AND an attribute set on an item at the limit is refused exactly where moto refuses it
    for setitem in (own_setitem, LimitedSizeDict.__setitem__):
        attrs = LimitedSizeDict({"pk": DynamoType({"S": "p"})})
        setitem(attrs, "f", DynamoType({"S": "x" * (405_000 - 4)}))
        with pytest.raises(ItemSizeTooLarge):
            setitem(attrs, "g", DynamoType({"BOOL": True}))
        assert set(attrs) == {"pk", "f"}


def _projected_query_answers() -> list[Any]:
    """Queries of a table and of an index, with and without projections, a filter, a limit and its next page."""
    from moto import mock_aws

    answers: list[Any] = []
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        key_table(ddb, indexes=[("gsi1", "gsi1pk", "gsi1sk")])
        for i in range(6):
            ddb.put_item(
                TableName="t",
                Item={**EVERY_TYPE, "sk": {"S": f"x{i}"}, "gsi1pk": {"S": "G"}, "gsi1sk": {"S": f"{i:03d}"}},
            )
        asks: list[dict[str, Any]] = [
            {"KeyConditionExpression": "pk = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}},
            {"IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :g AND gsi1sk > :s", "Limit": 2},
            {"IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :g", "FilterExpression": "n < :z"},
        ]
        for ask in asks:
            ask.setdefault("ExpressionAttributeValues", {":g": {"S": "G"}, ":s": {"S": "001"}, ":z": {"N": "0"}})
            for projection in ({}, {"ProjectionExpression": "pk, sk, m.deeper, l[0], ns"}):
                page = ddb.query(TableName="t", **ask, **projection)
                answers.append(page)
                if "LastEvaluatedKey" in page:
                    answers.append(
                        ddb.query(TableName="t", **ask, **projection, ExclusiveStartKey=page["LastEvaluatedKey"])
                    )
        # an answer is the item as it was: a write after a projected read changes nothing already answered
        first = ddb.query(TableName="t", **asks[0], ProjectionExpression="m")["Items"][0]
        ddb.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}, "sk": {"S": "x0"}},
            UpdateExpression="SET m.#i = :w",
            ExpressionAttributeNames={"#i": "inner"},
            ExpressionAttributeValues={":w": {"S": "changed"}},
        )
        answers.append(first)
        answers.append(ddb.query(TableName="t", **asks[0], ProjectionExpression="m")["Items"][0])
    for page in answers:
        if isinstance(page, dict):
            page.pop("ResponseMetadata", None)
    return answers


def test_projected_queries_answer_the_same_without_copying_their_items(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    moto_glue._patch_moto()
    copies = {"items": 0}
    real_deepcopy = Item.__deepcopy__

    def counting(self: Any, memo: Any) -> Any:
        copies["items"] += 1
        return real_deepcopy(self, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counting)
    # GIVEN queries with and without projections
    ours = _projected_query_answers()
    ours_copied, copies["items"] = copies["items"], 0
    # WHEN moto answers them its own way (every answer copied whole first)
    monkeypatch.setattr(Table, "query", Table.query._batchplane_uncopied)  # type: ignore[attr-defined]
    monkeypatch.setattr(table_module, "copy", moto_items.copy)
    theirs = _projected_query_answers()
    # THEN every answer is the same, and a projected answer is as it was when it was read
    assert ours == theirs
    assert ours[-2]["m"]["M"]["inner"] == {"S": "v"}
    assert ours[-1]["m"]["M"]["inner"] == {"S": "changed"}
    # AND the six projected queries no longer copied the items they answer (6 + 2 + 2 + 6 + 6 + 6), the others did
    assert copies["items"] - ours_copied == 28
    assert ours_copied >= 6 + 2 + 2 + 6
