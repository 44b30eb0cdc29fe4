"""What the benchmarks run on, outside pytest: the tests' fake AWS environment, a moto stack built exactly as the
`stack` fixture builds it (table from template.yaml, Batch queues and definitions, the functions' environment), and a
stubbed AWS (botocore before-send answers canned responses) for timing the gateway's own code."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from tests.cfn import table_definition
from tests.conftest import MAX_JOB_MEMORY_MIB, MAX_JOB_VCPUS, PRIORITIES, REGION, STACK, AwsCalls, Stack, _make_batch
from tests.integration.conftest import Plane

# The environment tests/conftest.py's autouse fixture sets: fake credentials, never real AWS, no endpoint override.
FAKE_AWS_ENV: dict[str, str | None] = {
    "AWS_PROFILE": None,
    "AWS_ENDPOINT_URL": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_SECURITY_TOKEN": None,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_SERVICE_NAME": "batchplane",
    "POWERTOOLS_METRICS_NAMESPACE": "batchplane",
    "POWERTOOLS_DEV": "false",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


@contextmanager
def environ(values: dict[str, str | None]) -> Iterator[None]:
    """Set (or, for None, remove) environment variables; restore them afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def functions_env(queue_arn_prefix: str, definitions: dict[str, str]) -> dict[str, str]:
    """The functions' environment as template.yaml sets it (mirrors tests/conftest.py's `stack` fixture): the queues
    are "<prefix><class>_<capacity>" and "<prefix>multinode", as the template names them."""
    return {
        "TABLE_NAME": f"{STACK}-table",
        "PRIORITY_CLASSES": ",".join(PRIORITIES),
        "QUEUE_ARN_PREFIX": queue_arn_prefix,
        "MAX_JOB_VCPUS": str(MAX_JOB_VCPUS),
        "MAX_JOB_MEMORY_MIB": str(MAX_JOB_MEMORY_MIB),
        "JOB_DEFINITIONS": json.dumps(definitions),
        "DEFAULT_JOB_DEFINITION": "sample",
        "MULTINODE_JOB_DEFINITIONS": "mnp-sample",
        "TENANT_CLAIM": "sub",
        # the gateway's own capacity is what is measured, not Batch's 50/s quota (the limiter is still on the path)
        "SUBMIT_JOBS_PER_SECOND": "1000000",
    }


def plane_of(stack: Stack) -> Plane:
    """The deployed functions of a stack (as tests/integration/conftest.py's `plane` fixture makes them)."""
    stack.queues_by_name = {  # type: ignore[attr-defined]
        arn.rsplit("/", 1)[-1]: arn for arn in [*stack.queues.values(), stack.multi_node_queue]
    }
    return Plane(stack)


@contextmanager
def moto_plane(*, count_calls: bool = True) -> Iterator[Plane]:
    """A provisioned stack on moto (in-process), its functions loaded; AWS calls counted unless ``count_calls`` is
    False (the throughput run, so the counting hooks are not timed)."""
    from batchplane import wiring
    from batchplane.adapters import aws as aws_clients
    from batchplane_local.moto_glue import cheap_transactions
    from moto import mock_aws

    cheap_transactions()

    with (
        environ(FAKE_AWS_ENV),
        mock_aws(config={"batch": {"use_docker": False}, "core": {"reset_boto3_session": True}}),
    ):
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(TableName=f"{STACK}-table", **table_definition())
        queues, mnp, definitions = _make_batch(
            boto3.client("batch", region_name=REGION), boto3.client("iam", region_name=REGION)
        )
        env = functions_env(mnp.removesuffix("multinode"), definitions)
        with environ(dict(env)):
            wiring.reset()
            calls = AwsCalls()
            if count_calls:
                aws_clients.session().events.register("before-call.*.*", calls.hook)
                aws_clients.session().events.register("provide-client-params.*.*", calls.capture)
            try:
                yield plane_of(Stack(f"{STACK}-table", queues, mnp, definitions, env, calls))
            finally:
                wiring.reset()


# ---- stubbed AWS: no moto, no network ------------------------------------------------------------------------------


class _Raw:
    """The raw body botocore reads an AWSResponse's content from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def stub_aws(answers: dict[str, tuple[int, dict[str, Any], str]]) -> Callable[..., Any]:
    """A before-send handler answering each operation ("dynamodb.PutItem") with its canned (status, body, content
    type); any other call is an error (the stubbed run must make no call it does not expect)."""
    from botocore.awsrequest import AWSResponse

    encoded = {
        f"before-send.{op}": (status, json.dumps(body).encode(), ct) for op, (status, body, ct) in answers.items()
    }

    def handler(request: Any, event_name: str = "", **_: Any) -> AWSResponse:
        if event_name not in encoded:
            msg = f"the stubbed run made an unexpected AWS call: {event_name} {request.url}"
            raise AssertionError(msg)
        status, payload, content_type = encoded[event_name]
        headers = {"x-amzn-requestid": "bench", "content-type": content_type, "content-length": str(len(payload))}
        return AWSResponse(request.url, status, headers, _Raw(payload))

    return handler


@contextmanager
def stubbed_gateway() -> Iterator[tuple[Any, AwsCalls]]:
    """The gateway handler with every AWS call answered by a canned response (PutItem and TransactWriteItems → {},
    SubmitJob → its ids). Yields the handler module and the call counter (before-call, as in the moto runs)."""
    from batchplane import wiring
    from batchplane.adapters import aws as aws_clients

    from tests.handlers import load_handler

    arn = "arn:aws:batch:us-east-1:123456789012"
    definitions = {
        "sample": f"{arn}:job-definition/{STACK}-sample:1",
        "mnp-sample": f"{arn}:job-definition/{STACK}-mnp-sample:1",
    }
    env = functions_env(f"{arn}:job-queue/{STACK}_", definitions)
    with environ({**FAKE_AWS_ENV, **env}):
        wiring.reset()
        events = aws_clients.session().events
        calls = AwsCalls()
        events.register("before-call.*.*", calls.hook)
        submitted = {"jobArn": f"{arn}:job/0b1e7a0e-0000-4000-8000-000000000000", "jobName": "bp", "jobId": "0b1e7a0e"}
        stub = stub_aws(
            {
                "dynamodb.PutItem": (200, {}, "application/x-amz-json-1.0"),
                # POST /jobs since admission: the QUEUED job and its tenant's queued count, one transaction
                "dynamodb.TransactWriteItems": (200, {}, "application/x-amz-json-1.0"),
                "batch.SubmitJob": (200, submitted, "application/json"),
            }
        )
        events.register_first("before-send", stub)
        try:
            yield load_handler("gateway"), calls
        finally:
            wiring.reset()
