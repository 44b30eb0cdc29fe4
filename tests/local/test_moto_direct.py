"""moto_direct answers the local stack's DynamoDB data-plane calls as moto's own in-process dispatch does, byte for
byte (status, headers but the date and request id, body), errors included; what it cannot take goes moto's way."""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any

import boto3
import pytest
from batchplane_local import moto_direct, moto_glue
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from tests.tables import key_table

KEY = {"pk": {"S": "JOB#1"}, "sk": {"S": "JOB"}}
KEY2 = {"pk": {"S": "JOB#2"}, "sk": {"S": "JOB"}}


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def _corpus(ddb: Any) -> None:
    """The data-plane calls of the control plane's shapes, and refusals of each kind."""

    def call(name: str, **kwargs: Any) -> None:
        with contextlib.suppress(ClientError):
            getattr(ddb, name)(**kwargs)

    t = "t"
    call("put_item", TableName=t, Item={**KEY, "n": {"N": "1"}, "s": {"S": "é ✓"}, "gsi1pk": {"S": "A"}})
    call("put_item", TableName=t, Item=KEY, ConditionExpression="attribute_not_exists(pk)")  # refused
    call("put_item", TableName=t, Item={**KEY2, "m": {"M": {"a": {"L": [{"N": "1"}, {"NULL": True}]}}}})
    call(
        "get_item",
        TableName=t,
        Key=KEY,
        ConsistentRead=True,
        ProjectionExpression="#n",
        ExpressionAttributeNames={"#n": "n"},
    )
    call("get_item", TableName="no-such-table", Key=KEY)
    call("get_item", TableName=t, Key=KEY, ReturnConsumedCapacity="TOTAL")
    call("get_item", TableName=t, Key=KEY, ReturnConsumedCapacity="SOME")  # a ValidationException
    call(
        "update_item",
        TableName=t,
        Key=KEY,
        UpdateExpression="SET #n = #n + :one, tags = :tags REMOVE s",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames={"#n": "n"},
        ExpressionAttributeValues={":one": {"N": "1"}, ":tags": {"SS": ["a", "b"]}},
        ReturnValues="ALL_NEW",
    )
    call("update_item", TableName=t, Key=KEY, UpdateExpression="SET n = n +")  # a ValidationException
    call(
        "update_item",
        TableName=t,
        Key=KEY,
        UpdateExpression="SET n = :z",
        ConditionExpression="n = :z",
        ExpressionAttributeValues={":z": {"N": "0"}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )  # refused, the item in the error
    call(
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": t, "Item": {"pk": {"S": "JOB#3"}, "sk": {"S": "JOB"}}}},
            {
                "ConditionCheck": {
                    "TableName": t,
                    "Key": KEY,
                    "ConditionExpression": "n = :x",
                    "ExpressionAttributeValues": {":x": {"N": "9"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ],
    )  # cancelled: its reasons in the answer
    call(
        "transact_write_items",
        TransactItems=[
            {
                "Update": {
                    "TableName": t,
                    "Key": KEY2,
                    "UpdateExpression": "ADD c :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": t, "Key": {"pk": {"S": "JOB#3"}, "sk": {"S": "JOB"}}}},
        ],
        ClientRequestToken="token-1",
    )
    call("query", TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "JOB#1"}})
    call(
        "query",
        TableName=t,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": "A"}},
        Limit=1,
    )
    call(
        "query", TableName=t, KeyConditionExpression="pk = :p AND sk > :s", ExpressionAttributeValues={":p": {"S": "x"}}
    )
    call("scan", TableName=t, FilterExpression="attribute_exists(m)")
    call("batch_get_item", RequestItems={t: {"Keys": [KEY, KEY2], "ConsistentRead": True}})
    call(
        "batch_write_item",
        RequestItems={
            t: [{"PutRequest": {"Item": {"pk": {"S": "JOB#4"}, "sk": {"S": "JOB"}}}}, {"DeleteRequest": {"Key": KEY2}}]
        },
    )
    call("transact_get_items", TransactItems=[{"Get": {"TableName": t, "Key": KEY}}])
    call("delete_item", TableName=t, Key=KEY, ReturnValues="ALL_OLD")
    call("put_item", TableName=t, Item={**KEY, "b": {"B": b"\x00\xff"}})  # binary: moto's own way
    call("get_item", TableName=t, Key=KEY)


def _answers(monkeypatch: pytest.MonkeyPatch, *, lean: bool) -> list[tuple[int, dict[str, str], bytes]]:
    if not lean:
        monkeypatch.setattr(moto_direct, "OPERATIONS", frozenset())
    answers: list[tuple[int, dict[str, str], bytes]] = []

    def answer(request: Any, **_: Any) -> AWSResponse | None:
        got = moto_glue.direct_dynamodb(request)
        if got is None:
            return None
        status, headers, body = got
        kept = {k.lower(): v for k, v in headers.items() if k.lower() not in ("date", "x-amzn-requestid")}
        answers.append((status, kept, body))
        out = HeadersDict()
        for name, value in headers.items():
            out[name] = value
        return AWSResponse(request.url, status, out, _Raw(body))

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        key_table(ddb, indexes=[("gsi1", "gsi1pk", None)])
        ddb.meta.events.register_first("before-send.dynamodb.*", answer)
        _corpus(ddb)
    monkeypatch.undo()
    return answers


def test_data_plane_calls_answer_as_moto_dispatches_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the corpus answered by moto's own in-process dispatch
    theirs = _answers(monkeypatch, lean=False)
    # WHEN it is answered again with the direct way
    before = moto_direct.Counts.answered
    ours = _answers(monkeypatch, lean=True)
    # THEN every answer is the same, byte for byte, and all but the binary put took the direct way
    assert len(ours) == len(theirs) == 22
    for mine, moto in zip(ours, theirs, strict=True):
        assert mine == moto
    assert moto_direct.Counts.answered - before == 21


def test_what_the_direct_way_cannot_take_goes_motos_way() -> None:
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    assert moto_direct.answer("CreateTable", "http://x/", headers, b"{}") is None
    assert moto_direct.answer("PutItem", "http://x/", headers, b'{"Item": {"b": {"B": "AA=="}}}') is None
    assert moto_direct.answer("PutItem", "http://x/", headers, b'{"Item": {"b": {"BS" : ["AA=="]}}}') is None
    assert moto_direct.answer("PutItem", "http://x/", {**headers, "Content-Encoding": "gzip"}, b"") is None


def test_request_ids_keep_motos_form() -> None:
    from moto.core import responses

    moto_direct.fast_request_ids()
    headers: dict[str, str] = {}
    first = responses.gen_amzn_requestid_long(headers)
    assert re.fullmatch(r"[A-Za-z0-9]{52}", first)
    assert headers == {"x-amzn-requestid": first}
    assert responses.gen_amzn_requestid_long() != first


class _Handler:
    """What moto_direct._account reads of a handler; counts the lookups it asks moto for."""

    def __init__(self, access_key: str, headers: dict[str, str]) -> None:
        self.access_key, self.headers, self.lookups = access_key, headers, 0

    def get_current_account(self) -> str:
        self.lookups += 1
        return os.environ.get("MOTO_ACCOUNT_ID") or self.headers.get("x-moto-account-id") or DEFAULT_ACCOUNT_ID


def test_an_unknown_keys_account_is_looked_up_once_and_a_chosen_account_still_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    # GIVEN an access key moto's IAM does not know, looked up once
    plain = _Handler("AKIDUNKNOWNTOIAM0001", {})
    assert moto_direct._account(plain) == DEFAULT_ACCOUNT_ID
    # WHEN it is used again THEN the default account is answered without walking IAM's backends again
    assert moto_direct._account(plain) == DEFAULT_ACCOUNT_ID
    assert plain.lookups == 1
    # AND an account chosen by moto's header or environment variable still decides
    with_header = _Handler("AKIDUNKNOWNTOIAM0001", {"x-moto-account-id": "111111111111"})
    assert moto_direct._account(with_header) == "111111111111"
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "222222222222")
    assert moto_direct._account(_Handler("AKIDUNKNOWNTOIAM0001", {})) == "222222222222"
