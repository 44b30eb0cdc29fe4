"""Single-flight leases (``LEASE#<name>``) and the sweeper's reads of the gsi2 buckets (ACTIVE, RUNNABLE, RETRY,
HELD): what the lifecycle store does besides writing jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batchplane.adapters.dynamo.items import conditional, job_from_item
from batchplane.domain.records import JobRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class LeasesAndBuckets:
    """Mixed into the lifecycle store, over its client and table."""

    _db: DynamoDBClient
    _table: str

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

    def bucket(self, name: str, upto: str | None = None, limit: int = 500) -> list[JobRecord]:
        """Jobs in a gsi2 bucket (ACTIVE, RUNNABLE, RETRY), oldest first; ``upto`` bounds the sort key."""
        values: dict[str, Any] = {":b": {"S": name}}
        condition = "gsi2pk = :b"
        if upto is not None:
            values[":u"] = {"S": upto}
            condition += " AND gsi2sk <= :u"
        jobs: list[JobRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi2",
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        while len(jobs) < limit:
            page = self._db.query(**kwargs)
            jobs += [job_from_item(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return jobs[:limit]
