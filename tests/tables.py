"""DynamoDB tables as the moto-level tests make them: a string hash key ``pk`` (and range key ``sk``), on-demand,
with global secondary indexes named by their keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Index = tuple[str, str, str | None]  # (name, hash key, range key or None)


def key_table(
    ddb: Any,
    name: str = "t",
    *,
    sort: bool = True,
    indexes: Sequence[Index] = (),
    keys_only: Sequence[str] = (),
    numbers: Sequence[str] = (),
    local: Index | None = None,
) -> None:
    """CreateTable: ``pk`` (and ``sk`` when ``sort``), ``indexes`` projecting ALL (KEYS_ONLY those in ``keys_only``),
    an optional local secondary index; every key attribute a string but those in ``numbers``."""

    def schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
        keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        return keys + ([{"AttributeName": range_key, "KeyType": "RANGE"}] if range_key else [])

    attributes = ["pk", "sk"] if sort else ["pk"]
    for _, hash_key, range_key in [*indexes, *([local] if local else [])]:
        attributes += [a for a in (hash_key, range_key) if a and a not in attributes]
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": schema("pk", "sk" if sort else None),
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "N" if a in numbers else "S"} for a in attributes
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index,
                "KeySchema": schema(hash_key, range_key),
                "Projection": {"ProjectionType": "KEYS_ONLY" if index in keys_only else "ALL"},
            }
            for index, hash_key, range_key in indexes
        ]
    if local:
        request["LocalSecondaryIndexes"] = [
            {"IndexName": local[0], "KeySchema": schema(*local[1:]), "Projection": {"ProjectionType": "ALL"}}
        ]
    ddb.create_table(**request)
