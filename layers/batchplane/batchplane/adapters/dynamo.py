"""The lineage table (single-table design) behind the JobStore port.

Keys (see README, "Data model"):
  job        pk=JOB#<jobId>            sk=JOB
  attempt    pk=JOB#<jobId>            sk=ATTEMPT#<0001>
  gsi1       gsi1pk=TENANT#<tenant>    gsi1sk=<createdAt>#<jobId>    the tenant's jobs, newest first
  gsi2       gsi2pk=ACTIVE             gsi2sk=<createdAt>#<jobId>    jobs not yet terminal (sparse; for the sweeper)
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batchplane.domain.errors import BadRequestError, FieldError
from batchplane.domain.models import Capacity, JobStatus
from batchplane.domain.ports import JobFilter, JobPage
from batchplane.domain.records import AttemptRecord, JobRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]
ACTIVE = "ACTIVE"


def job_pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def attempt_sk(attempt: int) -> str:
    return f"ATTEMPT#{attempt:04d}"


def _put(item: Item, key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        item[key] = {"BOOL": value}
    elif isinstance(value, int | float):
        item[key] = {"N": str(value)}
    elif isinstance(value, dict):
        item[key] = {"M": {k: {"S": str(v)} for k, v in value.items()}}
    else:
        item[key] = {"S": str(value)}


def _get(item: Item, key: str) -> Any:
    raw = item.get(key)
    if raw is None:
        return None
    if "S" in raw:
        return raw["S"]
    if "N" in raw:
        text = raw["N"]
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if "BOOL" in raw:
        return raw["BOOL"]
    if "M" in raw:
        return {k: v.get("S", "") for k, v in raw["M"].items()}
    if "NULL" in raw:
        return None
    return None


def job_to_item(job: JobRecord) -> Item:
    item: Item = {}
    for key, value in (
        ("pk", job_pk(job.job_id)),
        ("sk", "JOB"),
        ("type", "job"),
        ("jobId", job.job_id),
        ("tenant", job.tenant),
        ("name", job.name),
        ("status", job.status.value),
        ("statusReason", job.status_reason),
        ("createdAt", job.created_at),
        ("updatedAt", job.updated_at),
        ("request", json.dumps(job.request, separators=(",", ":"), sort_keys=True)),
        ("requestHash", job.request_hash),
        ("priority", job.priority),
        ("preference", job.preference),
        ("queueArn", job.queue_arn),
        ("capacity", job.capacity.value),
        ("placementReason", job.placement_reason),
        ("jobDefinition", job.job_definition),
        ("currentAttempt", job.current_attempt),
        ("idempotencyKey", job.idempotency_key),
        ("cancelRequested", job.cancel_requested),
        ("tags", job.tags or None),
        ("version", job.version),
        ("gsi1pk", f"TENANT#{job.tenant}"),
        ("gsi1sk", f"{job.created_at}#{job.job_id}"),
    ):
        _put(item, key, value)
    if not job.status.terminal:
        _put(item, "gsi2pk", ACTIVE)
        _put(item, "gsi2sk", f"{job.created_at}#{job.job_id}")
    if job.attempts:
        first = job.attempts[-1]
        item["plan"] = {"M": attempt_to_item(first)}
    return item


def job_from_item(item: Item, attempts: list[AttemptRecord] | None = None) -> JobRecord:
    plan = item.get("plan", {}).get("M")
    planned = [attempt_from_item(plan)] if plan else []
    return JobRecord(
        job_id=_get(item, "jobId"),
        tenant=_get(item, "tenant"),
        name=_get(item, "name"),
        status=JobStatus(_get(item, "status")),
        status_reason=_get(item, "statusReason"),
        created_at=_get(item, "createdAt"),
        updated_at=_get(item, "updatedAt"),
        request=json.loads(_get(item, "request") or "{}"),
        request_hash=_get(item, "requestHash"),
        priority=_get(item, "priority"),
        preference=_get(item, "preference"),
        queue_arn=_get(item, "queueArn"),
        capacity=Capacity(_get(item, "capacity")),
        placement_reason=_get(item, "placementReason") or "",
        job_definition=_get(item, "jobDefinition") or "",
        current_attempt=_get(item, "currentAttempt") or 1,
        idempotency_key=_get(item, "idempotencyKey"),
        cancel_requested=bool(_get(item, "cancelRequested")),
        tags=_get(item, "tags") or {},
        version=_get(item, "version") or 1,
        attempts=_merge_attempts(planned, attempts or []),
    )


def _merge_attempts(planned: list[AttemptRecord], recorded: list[AttemptRecord]) -> list[AttemptRecord]:
    """Recorded attempts win; a planned attempt no event has recorded yet is shown as SUBMITTED."""
    by_number = {a.attempt: a for a in planned}
    by_number.update({a.attempt: a for a in recorded})
    return [by_number[n] for n in sorted(by_number)]


_ATTEMPT_FIELDS: tuple[tuple[str, str], ...] = (
    ("attempt", "attempt"),
    ("reason", "reason"),
    ("queueArn", "queue_arn"),
    ("batchJobName", "batch_job_name"),
    ("replaces", "replaces"),
    ("batchJobId", "batch_job_id"),
    ("memoryMiB", "memory_mib"),
    ("vcpus", "vcpus"),
    ("statusReason", "status_reason"),
    ("exitCode", "exit_code"),
    ("containerReason", "container_reason"),
    ("logStream", "log_stream"),
    ("failureClass", "failure_class"),
    ("createdAt", "created_at"),
    ("startedAt", "started_at"),
    ("stoppedAt", "stopped_at"),
    ("runnableAt", "runnable_at"),
    ("explanation", "explanation"),
)


def attempt_to_item(attempt: AttemptRecord) -> Item:
    item: Item = {}
    for key, attr in _ATTEMPT_FIELDS:
        _put(item, key, getattr(attempt, attr))
    _put(item, "capacity", attempt.capacity.value)
    _put(item, "status", attempt.status.value)
    return item


def attempt_from_item(item: Item) -> AttemptRecord:
    values = {attr: _get(item, key) for key, attr in _ATTEMPT_FIELDS}
    return AttemptRecord(
        capacity=Capacity(_get(item, "capacity")),
        status=JobStatus(_get(item, "status") or "SUBMITTED"),
        **values,
    )


def encode_token(key: Item) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str, expected_gsi1pk: str) -> Item:
    bad = BadRequestError("nextToken is not a token this API gave out", errors=[FieldError("nextToken", "invalid")])
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if (
        not isinstance(key, dict)
        or set(key) != {"pk", "sk", "gsi1pk", "gsi1sk"}
        or key.get("gsi1pk") != {"S": expected_gsi1pk}
        or not all(isinstance(v, dict) and isinstance(v.get("S"), str) for v in key.values())
    ):
        raise bad
    return key


class DynamoJobStore:
    """JobStore over one DynamoDB table."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def create_job(self, job: JobRecord) -> JobRecord | None:
        try:
            self._db.put_item(
                TableName=self._table,
                Item=job_to_item(job),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: Item | None = err.response.get("Item")  # type: ignore[assignment]
            if old:
                return job_from_item(old)
            found = self.get_job(job.job_id)  # pragma: no cover - DynamoDB always returns ALL_OLD here
            if found is None:  # pragma: no cover
                raise
            return found
        return None

    def release_job(self, job_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key={"pk": {"S": job_pk(job_id)}, "sk": {"S": "JOB"}})

    def get_job(self, job_id: str) -> JobRecord | None:
        items: list[Item] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk <= :job",
            "ExpressionAttributeValues": {":pk": {"S": job_pk(job_id)}, ":job": {"S": "JOB"}},
        }
        while True:
            page = self._db.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        job_item = next((i for i in items if i["sk"]["S"] == "JOB"), None)
        if job_item is None:
            return None
        attempts = [attempt_from_item(i) for i in items if i["sk"]["S"].startswith("ATTEMPT#")]
        return job_from_item(job_item, attempts)

    def jobs_of_tenant(self, tenant: str, flt: JobFilter, limit: int, next_token: str | None) -> JobPage:
        gsi1pk = f"TENANT#{tenant}"
        names: dict[str, str] = {}
        values: dict[str, Any] = {":t": {"S": gsi1pk}}
        filters: list[str] = []
        if flt.status:
            names["#st"] = "status"
            values[":st"] = {"S": flt.status}
            filters.append("#st = :st")
        if flt.name:
            names["#nm"] = "name"
            values[":nm"] = {"S": flt.name}
            filters.append("begins_with(#nm, :nm)")
        if flt.tag:
            names["#tags"] = "tags"
            names["#tk"] = flt.tag[0]
            values[":tv"] = {"S": flt.tag[1]}
            filters.append("#tags.#tk = :tv")
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :t",
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if filters:
            kwargs["FilterExpression"] = " AND ".join(filters)
        if next_token:
            kwargs["ExclusiveStartKey"] = decode_token(next_token, gsi1pk)
        page = self._db.query(**kwargs)
        jobs = [job_from_item(i) for i in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return JobPage(jobs=jobs, next_token=encode_token(last) if last else None)

    def request_cancel(self, job_id: str, tenant: str, reason: str) -> JobRecord | None:
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": job_pk(job_id)}, "sk": {"S": "JOB"}},
                UpdateExpression="SET cancelRequested = :t, cancelReason = :r, version = version + :one",
                ConditionExpression="tenant = :tenant",
                ExpressionAttributeValues={
                    ":t": {"BOOL": True},
                    ":r": {"S": reason},
                    ":tenant": {"S": tenant},
                    ":one": {"N": "1"},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return job_from_item(out["Attributes"])
