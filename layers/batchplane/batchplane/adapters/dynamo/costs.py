"""The per-day cost rollup in the lineage table: item ``pk=COST#<day>``, ``sk=<tenant>#<priority>#<queue>``, with
the sums ``amount``, ``wasted`` and ``attempts`` (DynamoDB numbers, exact decimals). An ended attempt adds to its
item with one UpdateItem (ADD); `GET /costs` reads one partition per day with a Query, never a Scan."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from batchplane.domain.job_costs import CostLine, CostRow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def cost_pk(day: str) -> str:
    return f"COST#{day}"


class DynamoCostLedger:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._ddb = client
        self._table = table

    def add(self, line: CostLine) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": cost_pk(line.day)}, "sk": {"S": f"{line.tenant}#{line.priority}#{line.queue}"}},
            UpdateExpression="ADD amount :a, wasted :w, attempts :one SET tenant = :t, priority = :p, #q = :q, "
            "#d = :d, currency = :c, asOf = :asof",
            ExpressionAttributeNames={"#q": "queue", "#d": "day"},
            ExpressionAttributeValues={
                ":a": {"N": str(line.amount)},
                ":w": {"N": str(line.wasted)},
                ":one": {"N": "1"},
                ":t": {"S": line.tenant},
                ":p": {"S": line.priority},
                ":q": {"S": line.queue},
                ":d": {"S": line.day},
                ":c": {"S": line.currency},
                ":asof": {"S": line.as_of},
            },
        )

    def add_to_pipeline(self, pipeline_id: str, line: CostLine) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"COST#PIPELINE#{pipeline_id}"}, "sk": {"S": "TOTAL"}},
            UpdateExpression="ADD amount :a, wasted :w, attempts :one SET currency = :c",
            ExpressionAttributeValues={
                ":a": {"N": str(line.amount)},
                ":w": {"N": str(line.wasted)},
                ":one": {"N": "1"},
                ":c": {"S": line.currency},
            },
        )

    def pipeline_total(self, pipeline_id: str) -> CostRow | None:
        item = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": f"COST#PIPELINE#{pipeline_id}"}, "sk": {"S": "TOTAL"}}
        ).get("Item")
        if item is None:
            return None
        return CostRow(
            day="",
            tenant="",
            priority="",
            queue="",
            amount=Decimal(item.get("amount", {}).get("N", "0")),
            wasted=Decimal(item.get("wasted", {}).get("N", "0")),
            attempts=int(item.get("attempts", {}).get("N", "0")),
            currency=item.get("currency", {}).get("S", "USD"),
        )

    def rows(self, days: list[str], tenant: str | None) -> list[CostRow]:
        rows: list[CostRow] = []
        for day in days:
            query: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": cost_pk(day)}},
            }
            if tenant is not None:
                # the prefix narrows what is read; the filter makes it exact (a tenant "a" is no prefix of "a#b")
                query["KeyConditionExpression"] = "pk = :pk AND begins_with(sk, :prefix)"
                query["FilterExpression"] = "tenant = :t"
                query["ExpressionAttributeValues"] |= {":prefix": {"S": f"{tenant}#"}, ":t": {"S": tenant}}
            for page in self._ddb.get_paginator("query").paginate(**query):
                rows.extend(_row(item) for item in page.get("Items", []))
        return rows


def _row(item: dict[str, Any]) -> CostRow:
    return CostRow(
        day=item["day"]["S"],
        tenant=item["tenant"]["S"],
        priority=item["priority"]["S"],
        queue=item["queue"]["S"],
        amount=Decimal(item.get("amount", {}).get("N", "0")),
        wasted=Decimal(item.get("wasted", {}).get("N", "0")),
        attempts=int(item.get("attempts", {}).get("N", "0")),
        currency=item.get("currency", {}).get("S", "USD"),
    )
