"""One DynamoDB Query of the local stack's moto, on a table of 20,000 items, three ways: moto's own Query (every item
of the table, sorted, then the partition kept), moto_glue's unsorted candidates (every item, unsorted), and
moto_index's (the items of the partition asked for). Prints one JSON line of median milliseconds per Query, through
boto3 in process (mock_aws) with every patch of the local stack, so a request's own cost (serialising, parsing)
is in each figure.

    PYTHONPATH=layers/batchplane:local:. .venv/bin/python -m tests.perf.moto_query [items]"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import boto3
from batchplane_local import moto_glue
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

PER_PARTITION = 10


def _table(ddb: Any, items: int) -> None:
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gsi1pk", "gsi1sk")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
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


def _median_ms(ddb: Any, kwargs: dict[str, Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = ddb.query(**kwargs)
        times.append((time.perf_counter() - start) * 1000)
        assert answer["Count"] == PER_PARTITION, answer["Count"]
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
    result: dict[str, Any] = {"items": items, "per_partition": PER_PARTITION}
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
    return result


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)))
