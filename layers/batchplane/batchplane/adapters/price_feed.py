"""AWS prices behind `PriceFeed` (the Price List API and EC2's Spot price history) and the fetched table behind
`PriceStore` (one item of the lineage table, ``pk=PRICES``, ``sk=TABLE``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

# The Price List API answers in a few Regions only; us-east-1 serves every Region's prices.
PRICING_REGION = "us-east-1"
_KEY = {"pk": {"S": "PRICES"}, "sk": {"S": "TABLE"}}


class AwsPriceFeed:
    def __init__(self, pricing: Any, ec2: Any, region: str) -> None:
        self._pricing = pricing
        self._ec2 = ec2
        self._region = region

    def fetch(self, instance_types: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
        """One GetProducts (paged) per instance type: Linux, shared tenancy, no pre-installed software, capacity
        "Used", this Region; one DescribeSpotPriceHistory (paged) for all of them, prices in effect now."""
        products: list[str] = []
        for name in instance_types:
            filters = [
                {"Type": "TERM_MATCH", "Field": field, "Value": value}
                for field, value in (
                    ("instanceType", name),
                    ("regionCode", self._region),
                    ("operatingSystem", "Linux"),
                    ("tenancy", "Shared"),
                    ("preInstalledSw", "NA"),
                    ("capacitystatus", "Used"),
                )
            ]
            for page in self._pricing.get_paginator("get_products").paginate(
                ServiceCode="AmazonEC2", Filters=filters, FormatVersion="aws_v1"
            ):
                products.extend(page.get("PriceList", []))
        history: list[dict[str, Any]] = []
        for page in self._ec2.get_paginator("describe_spot_price_history").paginate(
            InstanceTypes=instance_types, ProductDescriptions=["Linux/UNIX"], StartTime=datetime.now(UTC)
        ):
            history.extend(page.get("SpotPriceHistory", []))
        return products, history


class DynamoPriceStore:
    def __init__(self, client: Any, table: str) -> None:
        self._ddb = client
        self._table = table

    def load(self) -> tuple[dict[str, Any], float] | None:
        item = self._ddb.get_item(TableName=self._table, Key=_KEY).get("Item")
        if item is None:
            return None
        return json.loads(item["table"]["S"]), float(item["fetchedAt"]["N"])

    def save(self, table: dict[str, Any], fetched_epoch: float) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **_KEY,
                "type": {"S": "prices"},
                "table": {"S": json.dumps(table, separators=(",", ":"), sort_keys=True)},
                "fetchedAt": {"N": str(int(fetched_epoch))},
            },
        )
