"""One DynamoDB Query of the local stack's moto, on a table of 20,000 items, three ways: moto's own Query (every item
of the table, sorted, then the partition kept), moto_glue's unsorted candidates (every item, unsorted), and
moto_index's (the items of the partition asked for). Then Queries with a sort-key condition of one index partition
of 10,000 items (the dispatcher's and the sweeper's shape), two ways: the whole partition (moto_index without its
sorted partitions) and the matching slice of the sorted partition. Prints one JSON line of median milliseconds per
Query, through boto3 in process (mock_aws) with every patch of the local stack, so a request's own cost
(serialising, parsing) is in each figure.

    PYTHONPATH=layers/batchplane:local:. .venv/bin/python -m tests.perf.moto_query [items]"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import boto3
from batchplane_local import moto_glue, moto_index
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

from tests.tables import key_table

PER_PARTITION = 10
BIG_PARTITION = 10_000


def _table(ddb: Any, items: int) -> None:
    key_table(ddb, indexes=[("gsi1", "gsi1pk", "gsi1sk")])
    table = dynamodb_backends["123456789012"]["us-east-1"].get_table("t")
    partitions = items // PER_PARTITION
    for i in range(items):
        table.put_item(
            {
                "pk": {"S": f"JOB#{i // PER_PARTITION:06d}"},
                "sk": {"S": f"ATTEMPT#{i:06d}"},
                "gsi1pk": {"S": f"TENANT#{i % partitions:06d}"},
                "gsi1sk": {"S": f"2026-12-02T00:00:{i % 60:02d}#{i}"},
                "status": {"S": "SUCCEEDED"},
                "attempts": {"N": "1"},
            }
        )


def _big_partition(ddb: Any) -> None:
    """Table q: one gsi2 partition of BIG_PARTITION queued jobs, gsi2sk = <enqueued ms, 13 digits>#<job id>."""
    ddb.create_table(
        TableName="q",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gsi2pk", "gsi2sk")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi2",
                "KeySchema": [
                    {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    table = dynamodb_backends["123456789012"]["us-east-1"].get_table("q")
    for i in range(BIG_PARTITION):
        table.put_item(
            {
                "pk": {"S": f"JOB#{i:06d}"},
                "sk": {"S": "JOB"},
                "gsi2pk": {"S": "QUEUED#0"},
                "gsi2sk": {"S": f"{1_800_000_000_000 + i * 1000:013d}#{i:06d}"},
                "status": {"S": "QUEUED"},
                "tenant": {"S": f"t{i % 7}"},
            }
        )


def _range_queries() -> dict[str, tuple[dict[str, Any], int]]:
    """name -> (Query, its Count)."""

    def gsi2(condition: str, values: dict[str, str], **kwargs: Any) -> dict[str, Any]:
        return {
            "TableName": "q",
            "IndexName": "gsi2",
            "KeyConditionExpression": f"gsi2pk = :q AND {condition}",
            "ExpressionAttributeValues": {":q": {"S": "QUEUED#0"}, **{k: {"S": v} for k, v in values.items()}},
            **kwargs,
        }

    since = f"{1_800_000_000_000 + (BIG_PARTITION - 11) * 1000 + 1:013d}"
    return {
        "oldest_limit30": (gsi2("gsi2sk <= :now", {":now": "9999999999999"}, Limit=30), 30),  # the dispatcher
        "since_tail": (gsi2("gsi2sk > :since", {":since": since}), 10),  # the dispatcher's 'listed since'
        "between_10": (gsi2("gsi2sk BETWEEN :a AND :b", {":a": "1800000005000", ":b": "1800000014999"}), 10),
        "page2_limit30": (  # the dispatcher's next page of a shard
            gsi2(
                "gsi2sk <= :now",
                {":now": "9999999999999"},
                Limit=30,
                ExclusiveStartKey={
                    "pk": {"S": "JOB#000029"},
                    "sk": {"S": "JOB"},
                    "gsi2pk": {"S": "QUEUED#0"},
                    "gsi2sk": {"S": f"{1_800_000_000_000 + 29 * 1000:013d}#000029"},
                },
            ),
            30,
        ),
        "newest_limit10": (gsi2("gsi2sk >= :a", {":a": "0"}, Limit=10, ScanIndexForward=False), 10),
    }


def _median_ms(ddb: Any, kwargs: dict[str, Any], runs: int, count: int = PER_PARTITION) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = ddb.query(**kwargs)
        times.append((time.perf_counter() - start) * 1000)
        assert answer["Count"] == count, answer["Count"]
    return round(statistics.median(times), 2)


def main(items: int = 20_000, runs: int = 15) -> dict[str, Any]:
    moto_glue._patch_moto()  # as the local stack runs moto (its serialiser shortcut too)
    indexed = Table.query
    ways = {
        "moto": indexed._batchplane_real,  # type: ignore[attr-defined]
        "unsorted": indexed._batchplane_next,  # type: ignore[attr-defined]
        "indexed": indexed,
    }
    partition = f"{(items // PER_PARTITION) // 2:06d}"
    base = {
        "TableName": "t",
        "KeyConditionExpression": "pk = :k",
        "ExpressionAttributeValues": {":k": {"S": f"JOB#{partition}"}},
    }
    gsi = {
        "TableName": "t",
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :k",
        "ExpressionAttributeValues": {":k": {"S": f"TENANT#{partition}"}},
    }
    result: dict[str, Any] = {"items": items, "per_partition": PER_PARTITION, "big_partition": BIG_PARTITION}
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _table(ddb, items)
        try:
            for name, query in ways.items():
                Table.query = query  # type: ignore[method-assign]
                result[f"base_ms_{name}"] = _median_ms(ddb, base, runs)
                result[f"gsi_ms_{name}"] = _median_ms(ddb, gsi, runs)
        finally:
            Table.query = indexed  # type: ignore[method-assign]
        _big_partition(ddb)
        sorted_query = moto_index._sort_query
        for name, (query, count) in _range_queries().items():
            try:  # the partition, unsorted: what moto_index handed moto before its sorted partitions
                moto_index._sort_query = lambda *_: None  # type: ignore[assignment]
                result[f"big_{name}_ms_partition"] = _median_ms(ddb, query, runs, count)
            finally:
                moto_index._sort_query = sorted_query
            result[f"big_{name}_ms_sorted"] = _median_ms(ddb, query, runs, count)
    return result


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)))
