"""Single-flight leases (``LEASE#<name>``) and the sweeper's reads of the gsi2 buckets (ACTIVE, RUNNABLE, RETRY,
HELD), each sharded (domain/sweep_keys.py): what the lifecycle store does besides writing jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batchplane.adapters.dynamo.items import ACTIVE, Item, conditional, job_from_item
from batchplane.domain.records import JobRecord
from batchplane.domain.sweep_keys import SweepIndex

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class LeasesAndBuckets:
    """Mixed into the lifecycle store, over its client and table."""

    _db: DynamoDBClient
    _table: str
    _sweep: SweepIndex

    def take_lease(self, name: str, owner: str, now_ms: int, until_ms: int) -> bool:
        """Single flight: hold ``LEASE#<name>`` until ``until_ms`` if it is free, expired or already ours (a retry
        after a lost answer). The item expires by TTL a day after the lease."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"LEASE#{name}"}, "sk": {"S": "LEASE"}},
                UpdateExpression="SET #o = :o, #u = :u, expiresAt = :e",
                ConditionExpression="attribute_not_exists(pk) OR #u < :now OR #o = :o",
                ExpressionAttributeNames={"#o": "owner", "#u": "leaseUntil"},
                ExpressionAttributeValues={
                    ":o": {"S": owner},
                    ":u": {"N": str(until_ms)},
                    ":now": {"N": str(now_ms)},
                    ":e": {"N": str(until_ms // 1000 + 86_400)},
                },
            )
        )

    def release_lease(self, name: str, owner: str) -> None:
        """Give the lease back early (only if still ours)."""
        conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"LEASE#{name}"}, "sk": {"S": "LEASE"}},
                UpdateExpression="SET #u = :zero",
                ConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner", "#u": "leaseUntil"},
                ExpressionAttributeValues={":o": {"S": owner}, ":zero": {"N": "0"}},
            )
        )

    def bucket(self, name: str, upto: str | None = None) -> list[JobRecord]:
        """Every job in a gsi2 bucket (ACTIVE, RUNNABLE, RETRY, HELD) whose sort key is at most ``upto``, oldest
        first: each shard's key and the legacy unsharded one, every page of each (no cap: all due work). The legacy
        ACTIVE key sorted by creation time, so ``upto`` (a due time) does not bound it: all of it is read."""
        found: list[tuple[str, Item]] = []
        for key in self._sweep.keys(name):
            bound = None if key == ACTIVE else upto
            values: dict[str, Any] = {":b": {"S": key}}
            condition = "gsi2pk = :b"
            if bound is not None:
                values[":u"] = {"S": bound}
                condition += " AND gsi2sk <= :u"
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": "gsi2",
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
            while True:
                page = self._db.query(**kwargs)
                found += [(i.get("gsi2sk", {}).get("S", ""), i) for i in page.get("Items", [])]
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        found.sort(key=lambda pair: pair[0])
        return [job_from_item(item) for _, item in found]
