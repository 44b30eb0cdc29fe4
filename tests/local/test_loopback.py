"""The local stack answers its own endpoints in process (batchplane_local.loopback): the same requests, the same
answers as over TCP, byte for byte; other endpoints and injected faults are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from batchplane_local import moto_glue
from batchplane_local.batch.api import BatchApi
from batchplane_local.faults import Faults
from batchplane_local.loopback import Loopback
from batchplane_local.moto_channel import Channel
from botocore.exceptions import ClientError
from werkzeug.serving import make_server

from tests.local.conftest import JOB_DEF, Env, alive

TABLE = "loopback-test"  # moto's state is the process's: a name no other test uses
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class _Bodies:
    """Every answer's status and raw body a client received (botocore's after-call)."""

    def __init__(self, client: Any) -> None:
        self.seen: list[tuple[str, int, bytes]] = []
        client.meta.events.register("after-call.*.*", self._after)

    def _after(self, http_response: Any, model: Any, **_: Any) -> None:
        self.seen.append((model.name, http_response.status_code, http_response.content))


@pytest.fixture(scope="module")
def moto_server() -> Iterator[moto_glue.MotoServer]:
    server = moto_glue.start_server()
    try:
        yield server
    finally:
        server.stop()


def _pair(service: str, endpoint: str, app: Any, direct: Any = None) -> tuple[Any, Any, Loopback]:
    over_tcp = boto3.client(service, endpoint_url=endpoint, **CREDENTIALS)
    in_process = boto3.client(service, endpoint_url=endpoint, **CREDENTIALS)
    loopback = Loopback()
    loopback.add(endpoint, app, direct)
    loopback.register(in_process.meta.events)
    return over_tcp, in_process, loopback


def _dynamodb_calls(ddb: Any, table: str) -> list[Any]:
    """A table's life, errors included; each call's outcome (a parsed answer less its metadata, or the error)."""
    out: list[Any] = []

    def call(name: str, **kwargs: Any) -> None:
        try:
            answer = getattr(ddb, name)(**kwargs)
            answer.pop("ResponseMetadata", None)
            answer.pop("TableDescription", None)  # creation time differs
            out.append(answer)
        except ClientError as error:
            out.append((error.response["Error"], error.response.get("CancellationReasons"), error.response.get("Item")))

    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": {"S": "JOB#1"}, "sk": {"S": "JOB"}}
    call("put_item", TableName=table, Item={**key, "n": {"N": "1"}, "s": {"S": "é ✓ \u0000"}, "b": {"B": b"\x00\xff"}})
    call("get_item", TableName=table, Key=key, ConsistentRead=True)
    call(
        "update_item",
        TableName=table,
        Key=key,
        UpdateExpression="SET #n = #n + :one",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames={"#n": "n"},
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    call("put_item", TableName=table, Item=key, ConditionExpression="attribute_not_exists(pk)")  # fails
    call(
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "JOB#2"}, "sk": {"S": "JOB"}}}},
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": key,
                    "ConditionExpression": "n = :x",
                    "ExpressionAttributeValues": {":x": {"N": "9"}},
                }
            },
        ],
    )  # cancelled: its reasons in the answer
    call("query", TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "JOB#1"}})
    call("get_item", TableName="no-such-table", Key=key)
    call("update_item", TableName=table, Key=key, UpdateExpression="SET n = n +")  # a ValidationException
    call(
        "update_item",
        TableName=table,
        Key=key,
        UpdateExpression="SET n = :z",
        ConditionExpression="n = :z",
        ExpressionAttributeValues={":z": {"N": "0"}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )  # refused, the item in the error
    call("batch_get_item", RequestItems={table: {"Keys": [key, {"pk": {"S": "JOB#2"}, "sk": {"S": "JOB"}}]}})
    return out


class _Direct:
    """``moto_glue.direct_dynamodb``, counting the requests it answered."""

    def __init__(self) -> None:
        self.answered = 0

    def __call__(self, request: Any) -> Any:
        answer = moto_glue.direct_dynamodb(request)
        self.answered += answer is not None
        return answer


@pytest.fixture(scope="module")
def moto_child() -> Iterator[moto_glue.MotoServer]:
    server = moto_glue.start_server(own_process=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("direct", [False, True], ids=["wsgi-app", "moto-handler"])
def test_dynamodb_answers_in_process_as_over_tcp(moto_server: moto_glue.MotoServer, direct: bool) -> None:
    assert moto_server.server is not None
    handler = _Direct() if direct else None
    over_tcp, in_process, loopback = _pair(
        "dynamodb", moto_server.endpoint, moto_glue.wsgi_app(moto_server.server), handler
    )
    _same_answers(over_tcp, in_process, loopback)
    # (with the direct path, every DynamoDB call skipped moto's Flask app)
    assert handler is None or handler.answered == 11


def test_a_moto_in_its_own_process_answers_over_its_channel_as_over_tcp(moto_child: moto_glue.MotoServer) -> None:
    # GIVEN moto in a child interpreter, its requests sent over its Unix socket (no app in this process)
    assert moto_child.server is None
    assert moto_child.channel is not None
    over_tcp, in_process, loopback = _pair("dynamodb", moto_child.endpoint, None, Channel(moto_child.channel))
    # THEN the answers are those of its server over TCP, byte for byte
    _same_answers(over_tcp, in_process, loopback)
    # AND another service's call (answered by moto's WSGI app in the child) too, from another thread (its own
    # connection)
    sqs_tcp, sqs_channel, _ = _pair("sqs", moto_child.endpoint, None, Channel(moto_child.channel))
    url = sqs_tcp.create_queue(QueueName="channel-test")["QueueUrl"]
    sent: list[Any] = []
    worker = threading.Thread(target=lambda: sent.append(sqs_channel.send_message(QueueUrl=url, MessageBody="hi")))
    worker.start()
    worker.join(10)
    (message,) = sqs_tcp.receive_message(QueueUrl=url)["Messages"]
    assert message["Body"] == "hi"
    assert message["MessageId"] == sent[0]["MessageId"]


def test_a_moto_child_ends_when_the_stack_process_dies() -> None:
    # GIVEN a process that starts moto in its own process and is then killed (no stop, as a kill -9 leaves it)
    script = (
        "import sys; from batchplane_local import moto_glue; s = moto_glue.start_server(own_process=True); "
        "print(s.process.pid, flush=True); import time; time.sleep(60)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    # THEN the child notices and ends within a few seconds
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and alive(child):
        time.sleep(0.2)
    assert not alive(child)


def _same_answers(over_tcp: Any, in_process: Any, loopback: Loopback) -> None:
    tcp_bodies, loop_bodies = _Bodies(over_tcp), _Bodies(in_process)
    # WHEN the same calls are made over TCP, then in process on the table made again
    tcp = _dynamodb_calls(over_tcp, TABLE)
    over_tcp.delete_table(TableName=TABLE)
    loop = _dynamodb_calls(in_process, TABLE)
    # THEN botocore parsed the same answers, errors included, and every in-process answer came from the app
    assert loop == tcp
    assert loopback.served == len(loop_bodies.seen) == 11
    # AND the raw answers were the same bytes (but the table's description: its creation time)
    tcp_seen = [seen for seen in tcp_bodies.seen if seen[0] not in ("CreateTable", "DeleteTable")]
    assert tcp_seen == loop_bodies.seen[1:]
    # AND what the in-process client wrote is in the server everyone else reads over TCP
    item = over_tcp.get_item(TableName=TABLE, Key={"pk": {"S": "JOB#1"}, "sk": {"S": "JOB"}})["Item"]
    assert item["n"] == {"N": "2"}
    over_tcp.delete_table(TableName=TABLE)


@pytest.fixture
def batch_endpoint(env: Env) -> Iterator[tuple[str, Any]]:
    app = BatchApi(env.batch)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join(5)


def test_batch_rest_calls_answer_in_process_as_over_tcp(env: Env, batch_endpoint: tuple[str, Any]) -> None:
    endpoint, app = batch_endpoint
    over_tcp, in_process, loopback = _pair("batch", endpoint, app)
    queue = "arn:aws:batch:us-east-1:123456789012:job-queue/normal-spot"
    # WHEN a job is submitted in process, with tags
    job = in_process.submit_job(jobName="j", jobQueue=queue, jobDefinition=f"{JOB_DEF}:1", tags={"k": "v w/x"})
    arn = job["jobArn"]
    # THEN both clients see it; a path parameter (the ARN, percent-encoded by botocore) reaches the app unquoted
    assert in_process.list_tags_for_resource(resourceArn=arn)["tags"] == {"k": "v w/x"}
    assert over_tcp.list_tags_for_resource(resourceArn=arn)["tags"] == {"k": "v w/x"}
    env.batch.wait_for(job["jobId"], timeout=10)  # ended: described the same by both
    (mine,) = in_process.describe_jobs(jobs=[job["jobId"]])["jobs"]
    (theirs,) = over_tcp.describe_jobs(jobs=[job["jobId"]])["jobs"]
    assert mine == theirs
    # AND an error answers as AWS's does
    with pytest.raises(ClientError) as refused:
        in_process.submit_job(jobName="j", jobQueue="no-such-queue", jobDefinition=f"{JOB_DEF}:1")
    with pytest.raises(ClientError) as refused_tcp:
        over_tcp.submit_job(jobName="j", jobQueue="no-such-queue", jobDefinition=f"{JOB_DEF}:1")
    assert refused.value.response["Error"] == refused_tcp.value.response["Error"]
    assert loopback.served == 4


def test_other_endpoints_and_injected_faults_are_left_alone(moto_server: moto_glue.MotoServer) -> None:
    assert moto_server.server is not None
    loopback = Loopback()
    loopback.add("http://127.0.0.1:1", moto_glue.wsgi_app(moto_server.server))  # not the server's endpoint
    ddb = boto3.client("dynamodb", endpoint_url=moto_server.endpoint, **CREDENTIALS)
    loopback.register(ddb.meta.events)
    # WHEN a client calls an endpoint the hook does not serve: it goes over TCP
    ddb.list_tables()
    assert loopback.served == 0
    # WHEN every call draws a fault (registered first, as the chaos stack does) on a served endpoint
    loopback.add(moto_server.endpoint, moto_glue.wsgi_app(moto_server.server))
    faults = Faults(1.0, seed=1, send_lost_answers=False)
    ddb.meta.events.register_first("before-send.*.*", faults)
    ddb.meta.config.retries = {"max_attempts": 1}
    with pytest.raises(ClientError):
        ddb.list_tables()
    # THEN the fault answered: the app never saw the call
    assert loopback.served == 0
    assert sum(faults.injected.values()) >= 1


def test_a_request_the_child_fails_on_is_a_500_and_the_connection_stays(tmp_path: Any) -> None:
    from types import SimpleNamespace

    from batchplane_local.moto_channel import ChannelServer

    # GIVEN a channel whose answering side raises on its first request (a few bad requests escape moto as errors)
    calls: list[str] = []

    def answer(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        calls.append(url)
        if len(calls) == 1:
            raise KeyError("moto failed")
        return 200, {"X-Seen": dict(headers)["X-Amz-Target"]}, body[::-1]

    server = ChannelServer(str(tmp_path / "moto.sock"), answer)
    channel = Channel(server.path)
    request = SimpleNamespace(method="POST", url="http://x/", headers={"X-Amz-Target": b"T.Op"}, body=b"abc")
    try:
        # WHEN the same thread sends twice
        first = channel(request)
        second = channel(request)
    finally:
        server.close()
    # THEN the first is answered 500, as moto's server answers it, and the second on the same connection as asked
    assert first[0] == 500
    assert second == (200, {"X-Seen": "T.Op"}, b"cba")
    assert len(calls) == 2


def test_the_functions_requests_carry_their_credential_scope_and_no_signature() -> None:
    # GIVEN an endpoint served in process, its app recording each request's Authorization header
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ.get("HTTP_AUTHORIZATION", ""))
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
        return [b"{}"]

    endpoint = "http://127.0.0.1:9"
    loopback = Loopback()
    loopback.add(endpoint, app)
    # WHEN a client whose signing name differs from its service's (Step Functions: "states") calls it
    sfn = boto3.client("stepfunctions", endpoint_url=endpoint, **CREDENTIALS)
    loopback.register(sfn.meta.events)
    sfn.list_state_machines()
    # THEN the request names its scope as SigV4 does (moto routes and picks the Region by it), and is not signed:
    # no HMAC was computed (SigV4 was 12% of the local stack's CPU)
    day = time.strftime("%Y%m%d", time.gmtime())
    assert seen == [
        f"AWS4-HMAC-SHA256 Credential=testing/{day}/us-east-1/states/aws4_request, SignedHeaders=host, Signature=none"
    ]


def test_a_moto_server_routes_a_scoped_unsigned_request_by_its_scope(moto_server: moto_glue.MotoServer) -> None:
    # GIVEN moto's server over TCP, which picks a request's service from its credential scope (S3 without one)
    sqs = boto3.client("sqs", endpoint_url=moto_server.endpoint, **CREDENTIALS)
    Loopback().register(sqs.meta.events)  # registered, serving nothing: the request goes over TCP, unsigned
    # WHEN an SQS call is made unsigned, with its scope only
    url = sqs.create_queue(QueueName="loopback-scope-only")["QueueUrl"]
    # THEN moto answered it as SQS, in the local stack's account and Region
    assert url.endswith("/123456789012/loopback-scope-only")
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"] == (
        "arn:aws:sqs:us-east-1:123456789012:loopback-scope-only"
    )
