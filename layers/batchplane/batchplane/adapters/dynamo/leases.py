"""Single-flight leases (``LEASE#<name>``) and the sweeper's reads of the gsi2 buckets (ACTIVE, RUNNABLE, RETRY,
HELD), each sharded (domain/sweep_keys.py): what the lifecycle store does besides writing jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batchplane.adapters.dynamo.items import ACTIVE, Item, batch_get, conditional, error_code, job_from_item
from batchplane.domain.records import JobRecord
from batchplane.domain.sweep_keys import SweepIndex

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


HEADS_PK = "SWEEPHEADS"  # one item per sweep part: the blocked queue heads it saw (sk = the part)


class LeasesAndBuckets:
    """Mixed into the lifecycle store, over its client and table."""

    _db: DynamoDBClient
    _table: str
    _sweep: SweepIndex

    def take_lease(self, name: str, owner: str, now_ms: int, until_ms: int) -> bool:
        """Single flight: hold ``LEASE#<name>`` until ``until_ms`` if it is free, expired or already ours (a retry
        after a lost answer). The item expires by TTL a day after the lease."""
        return self._take_lease(name, owner, now_ms, until_ms) is not None

    def _take_lease(self, name: str, owner: str, now_ms: int, until_ms: int) -> Item | None:
        """``take_lease``, answering the lease item as the write left it (what its last holder kept in it as it gave
        it back: ``release_lease``'s ``keep``), or None when another holds it. The answer costs no read."""
        try:
            out = self._db.update_item(
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
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                return None
            raise
        return dict(out.get("Attributes") or {})

    def release_lease(self, name: str, owner: str, keep: Item | None = None) -> None:
        """Give the lease back early (only if still ours), leaving ``keep`` (attributes) in it for its next holder."""
        names = {"#o": "owner", "#u": "leaseUntil"}
        values: Item = {":o": {"S": owner}, ":zero": {"N": "0"}}
        sets = ["#u = :zero"]
        for i, (attr, value) in enumerate((keep or {}).items()):
            names[f"#k{i}"], values[f":k{i}"] = attr, value
            sets.append(f"#k{i} = :k{i}")
        conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"LEASE#{name}"}, "sk": {"S": "LEASE"}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#o = :o",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )

    def part_is_empty(self, part: int, parts: int) -> bool:
        """Sweep part ``part`` of ``parts`` has no key to read (more parts than shards): it has nothing to do."""
        return not self._sweep.keys(ACTIVE, part, parts)

    def publish_heads(self, part: int, heads: dict[str, str], now_ms: int) -> None:
        """Sweep part ``part``'s blocked queue heads (queue ARN -> the head's statusReason), for the other parts:
        ``SWEEPHEADS`` / ``<part>``, rewritten by every sweep of the part (empty too), expiring by TTL after a day."""
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": HEADS_PK}, "sk": {"S": str(part)}},
            UpdateExpression="SET heads = :h, seenAt = :at, expiresAt = :e",
            ExpressionAttributeValues={
                ":h": {"M": {queue: {"S": reason} for queue, reason in heads.items()}},
                ":at": {"N": str(now_ms)},
                ":e": {"N": str(now_ms // 1000 + 86_400)},
            },
        )

    def shared_heads(self, parts: int, since_ms: int) -> dict[str, str]:
        """The blocked queue heads every sweep part published at or after ``since_ms`` (one BatchGetItem of the
        ``parts`` items; a part that has not swept since says nothing)."""
        keys = [{"pk": {"S": HEADS_PK}, "sk": {"S": str(n)}} for n in range(parts)]
        heads: dict[str, str] = {}
        for item in batch_get(self._db, self._table, keys):
            if int(item.get("seenAt", {}).get("N", "0")) >= since_ms:
                heads.update({q: v["S"] for q, v in item.get("heads", {}).get("M", {}).items()})
        return heads

    def bucket(self, name: str, upto: str | None = None, *, part: int = 0, parts: int = 1) -> list[JobRecord]:
        """Every job in a gsi2 bucket (ACTIVE, RUNNABLE, RETRY, HELD) whose sort key is at most ``upto``, oldest
        first: each shard's key and the legacy unsharded one (or sweep part ``part`` of ``parts``'s keys), every
        page of each (no cap: all due work). The legacy ACTIVE key sorted by creation time, so ``upto`` (a due
        time) does not bound it: all of it is read."""
        found: list[tuple[str, Item]] = []
        for key in self._sweep.keys(name, part, parts):
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
