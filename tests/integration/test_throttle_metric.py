"""SubmitJobThrottled: counted where the Batch adapter sees TooManyRequestsException, flushed with the handler's
metrics (the dashboard's SubmitJob widget and SubmitJobThrottledAlarm watch it)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Stack
from tests.integration.conftest import Plane

pytestmark = pytest.mark.integration


def emitted(out: str) -> dict[str, float]:
    """The EMF metrics printed, summed by name."""
    sums: dict[str, float] = {}
    for line in out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        doc = json.loads(line)
        for metric in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            values = doc[metric["Name"]]
            sums[metric["Name"]] = sums.get(metric["Name"], 0) + sum(values if isinstance(values, list) else [values])
    return sums


def test_a_throttled_submitjob_is_counted(plane: Plane, stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    from batchplane.adapters import aws as aws_clients
    from botocore.awsrequest import AWSResponse

    # GIVEN AWS Batch answers the first two SubmitJob calls TooManyRequestsException
    refused: list[int] = []

    def throttle(**_: Any) -> Any:
        if len(refused) < 2:
            refused.append(1)
            error = {"Error": {"Code": "TooManyRequestsException", "Message": "Too Many Requests"}}
            return AWSResponse("https://batch", 429, {}, None), error
        return None

    aws_clients.session().events.register_first("before-call.batch.SubmitJob", throttle)
    capsys.readouterr()
    # WHEN a job is submitted (the adapter looks the job up by name, then submits again)
    job = plane.submit({"name": "throttled"})
    # THEN it was accepted, and each throttle was counted once
    assert job["attempts"][0]["batchJobId"]
    assert emitted(capsys.readouterr().out).get("SubmitJobThrottled") == 2
