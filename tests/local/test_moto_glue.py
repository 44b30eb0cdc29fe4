"""The moto-specific glue of the local stack fails loudly here, not in a user's demo, when moto changes under it."""

from __future__ import annotations

import boto3
import pytest
from batchplane_local import moto_glue

from tests.eventdata import load_event


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
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}})
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
        sqs = boto3.client("sqs", **kwargs)
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="x")
        assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "x"
    finally:
        server.stop()
