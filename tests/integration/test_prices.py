"""The daily price refresh (PriceSource aws) on moto under enforced IAM: the sweeper fetches the fleet's prices
(GetProducts answered in AWS's shape: moto has no Price List API; Spot history from moto's EC2), stores one item,
and attempts are then priced with them, the basis saying so. Nothing is fetched per job."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import REGION, Stack
from tests.integration.conftest import Plane
from tests.pricedata import product

pytestmark = pytest.mark.integration

PRODUCTS = {
    "m5.xlarge": product("m5.xlarge", 4, "16", "0.2000000000"),
    "c5.xlarge": product("c5.xlarge", 4, "8", "0.1800000000"),
    "r5.2xlarge": product("r5.2xlarge", 8, "64", "0.5100000000"),
}


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {"PriceSource": "aws"}


@pytest.fixture
def price_list(stack: Stack) -> list[str]:
    """AWS's GetProducts answers, for the instance type each call filters on; the asked types, in order."""
    from batchplane.adapters import aws as aws_clients
    from botocore.awsrequest import AWSResponse

    asked: list[str] = []

    def answer(params: dict[str, Any], **_: Any) -> Any:
        body = json.loads(params["body"])  # the serialised request (the Price List API speaks JSON)
        wanted = next(f["Value"] for f in body["Filters"] if f["Field"] == "instanceType")
        asked.append(wanted)
        found = [PRODUCTS[wanted]] if wanted in PRODUCTS else []
        return AWSResponse("https://api.pricing.us-east-1.amazonaws.com", 200, {}, None), {
            "FormatVersion": "aws_v1",
            "PriceList": found,
        }

    # after the IAM check (registered at the session's creation), as AWS would answer
    aws_clients.session().events.register("before-call.pricing.GetProducts", answer)
    return asked


def test_the_sweeper_fetches_the_fleets_prices_once_and_jobs_are_priced_with_them(
    plane: Plane, stack: Stack, price_list: list[str]
) -> None:
    # GIVEN a stack whose prices come from AWS, none fetched yet
    # WHEN the sweeper runs
    report = plane.sweep()
    # THEN it fetched the fleet's On-Demand prices (one GetProducts per type) and Spot history once, and stored them
    assert report["prices"] == "refreshed"
    assert {"c5.xlarge", "m5.xlarge", "r5.2xlarge"} <= set(price_list)
    counts = stack.calls.counts
    assert counts["pricing.GetProducts"] == len(price_list)
    assert counts["ec2.DescribeSpotPriceHistory"] >= 1
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=stack.table_name, Key={"pk": {"S": "PRICES"}, "sk": {"S": "TABLE"}}
    )
    assert "Item" in item
    # AND the next sweeps do not fetch again (a look at most hourly, a fetch daily)
    stack.calls.reset()
    assert "prices" not in plane.sweep()
    assert not any(op.startswith(("pricing.", "ec2.")) for op in stack.calls.counts)
    # AND a job is priced with the fetched prices, its basis naming them
    job = plane.submit({"name": "priced", "vcpus": 2, "memoryMiB": 4096, "capacity": "on-demand"})
    plane.deliver(plane.event("RUNNING", job, seconds=1))
    plane.deliver(plane.event("SUCCEEDED", job, seconds=2))
    stack.calls.reset()
    cost = plane.job(job["jobId"])["cost"]
    assert "fetched by batchplane" in cost["basis"]
    assert "c5.xlarge" in cost["basis"]
    assert "On-Demand at USD 0.1800000000/h" in cost["basis"]  # AWS's figure, not the shipped 0.17
    assert cost["amount"] == pytest.approx(0.18 * 0.5 * 1200 / 3600, abs=1e-6)
    assert not any(op.startswith(("pricing.", "ec2.")) for op in stack.calls.counts)  # nothing fetched per job


def test_a_failed_refresh_is_counted_and_prices_stay_the_shipped_ones(
    plane: Plane, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    from batchplane.adapters import aws as aws_clients
    from botocore.awsrequest import AWSResponse

    def refuse(**_: Any) -> Any:
        error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
        return AWSResponse("https://api.pricing.us-east-1.amazonaws.com", 400, {}, None), error

    aws_clients.session().events.register("before-call.pricing.GetProducts", refuse)
    report = plane.sweep()
    assert report["prices"] == "failed"
    assert "PriceRefreshFailed" in capsys.readouterr().out
    job = plane.submit({"name": "shipped-prices"})
    assert "karpenter" in plane.job(job["jobId"])["cost"]["basis"]  # the shipped table's source
