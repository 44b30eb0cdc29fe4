"""Lineage edges between artifacts and jobs: what a job used and made, queryable from the artifact's URI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchplane.adapters.dynamo.items import Item, get_attr, put_attr
from batchplane.domain.records import JobRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def artifact_items(job: JobRecord) -> list[Item]:
    items: list[Item] = []
    for role, uris in (("input", job.request.get("inputs") or []), ("output", job.request.get("outputs") or [])):
        for uri in uris:
            item: Item = {}
            for key, value in (
                ("pk", f"ARTIFACT#{uri}"),
                ("sk", f"JOB#{job.job_id}#{role}"),
                ("type", "artifact"),
                ("uri", uri),
                ("role", role),
                ("jobId", job.job_id),
                ("tenant", job.tenant),
                ("name", job.name),
                ("updatedAt", job.updated_at),
            ):
                put_attr(item, key, value)
            items.append(item)
    return items


class DynamoArtifacts:
    """Lineage edges between artifacts and jobs: ``pk=ARTIFACT#<uri>``, ``sk=JOB#<jobId>#<input|output>``."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def record(self, job: JobRecord) -> None:
        items = artifact_items(job)
        for i in range(0, len(items), 25):
            self._db.batch_write_item(
                RequestItems={self._table: [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]}
            )

    def of_uri(self, uri: str, tenant: str) -> list[dict[str, str]]:
        out = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            FilterExpression="tenant = :t",
            ExpressionAttributeValues={":pk": {"S": f"ARTIFACT#{uri}"}, ":t": {"S": tenant}},
        )
        return [{k: str(get_attr(i, k)) for k in ("uri", "role", "jobId", "name")} for i in out.get("Items", [])]
