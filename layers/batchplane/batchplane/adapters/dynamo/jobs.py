"""The JobStore port over the lineage table: create a job (one conditional write), read it, list a tenant's jobs,
and the cancel writes."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batchplane.adapters.dynamo.items import (
    DEFAULT_RETENTION_DAYS,
    DEFAULT_SWEEP_INDEX,
    HELD,
    IN_BUCKET,
    RELEASE,
    RETRY,
    TENANT_PREFIX,
    Item,
    batch_get,
    conditional,
    error_code,
    expires_at,
    get_attr,
    is_listing_item,
    job_from_item,
    job_key,
    job_pk,
    job_to_item,
)
from batchplane.domain.errors import BadRequestError, FieldError
from batchplane.domain.models import JobStatus
from batchplane.domain.ports import JobFilter, JobPage
from batchplane.domain.records import JobRecord
from batchplane.domain.sweep_keys import SweepIndex, due_key
from batchplane.domain.timestamps import iso_to_ms

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


# GET /jobs with a filter: at most LIST_MAX_READS Query calls per request, each evaluating up to LIST_READ_ITEMS items
# (README: "Listing jobs").
LIST_MAX_READS = 4
LIST_READ_ITEMS = 250
_INDEX_KEY = ("pk", "sk", "gsi1pk", "gsi1sk")  # an item's key in gsi1: what a nextToken carries


def encode_token(key: Item) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str, expected_gsi1pk: str) -> Item:
    bad = BadRequestError("nextToken is not a token this API gave out", errors=[FieldError("nextToken", "invalid")])
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deeply
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

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        sweep: SweepIndex = DEFAULT_SWEEP_INDEX,
    ) -> None:
        self._db = client
        self._table = table_name
        self._retention_days = retention_days  # a finished job expires (TTL) this long after it ended
        self._sweep = sweep  # how jobs are filed in gsi2 (shards, due times)

    def create_job(self, job: JobRecord) -> JobRecord | None:
        try:
            self._db.put_item(
                TableName=self._table,
                Item=job_to_item(job, self._sweep),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: Item | None = err.response.get("Item")  # type: ignore[assignment]
            if old:
                existing = job_from_item(old)
                if job.claim_token and existing.claim_token == job.claim_token:
                    return None  # our own write, whose answer was lost and retried by the SDK
                return existing
            found = self.get_job(job.job_id)  # pragma: no cover - DynamoDB always returns ALL_OLD here
            if found is None:  # pragma: no cover
                raise
            return found
        return None

    def release_job(self, job_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key={"pk": {"S": job_pk(job_id)}, "sk": {"S": "JOB"}})

    def get_job(self, job_id: str) -> JobRecord | None:
        out = self._db.get_item(TableName=self._table, Key=job_key(job_id), ConsistentRead=True)
        item = out.get("Item")
        return job_from_item(item) if item else None

    def jobs_of_tenant(self, tenant: str, flt: JobFilter, limit: int, next_token: str | None) -> JobPage:
        gsi1pk = f"{TENANT_PREFIX}{tenant}"
        names: dict[str, str] = {}
        values: dict[str, Any] = {":t": {"S": gsi1pk}}
        filters: list[str] = []
        if flt.status:  # a listing item has no status: its job's is checked once the job is read (_jobs_of)
            names["#st"] = "status"
            values[":st"] = {"S": flt.status}
            filters.append("(#st = :st OR attribute_not_exists(#st))")
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
            # DynamoDB applies Limit before the filter: a filtered page reads LIST_READ_ITEMS items at a time, until it
            # holds `limit` matches or has read LIST_MAX_READS times (then it is short, and its nextToken goes on)
            kwargs["FilterExpression"] = " AND ".join(filters)
            kwargs["Limit"] = max(limit, LIST_READ_ITEMS)
        start = decode_token(next_token, gsi1pk) if next_token else None
        jobs: list[JobRecord] = []
        for _ in range(LIST_MAX_READS if filters else 1):
            if start is not None:
                kwargs["ExclusiveStartKey"] = start
            page = self._db.query(**kwargs)
            found = self._jobs_of(page.get("Items", []), flt.status)
            start = page.get("LastEvaluatedKey")
            room = limit - len(jobs)
            if len(found) > room:  # more matches than the page holds: the next page starts after its last job
                jobs += [job for _, job in found[:room]]
                return JobPage(jobs=jobs, next_token=encode_token({k: found[room - 1][0][k] for k in _INDEX_KEY}))
            jobs += [job for _, job in found]
            if start is None or len(jobs) == limit:
                break
        return JobPage(jobs=jobs, next_token=encode_token(start) if start else None)

    def _jobs_of(self, entries: list[Item], status: str | None) -> list[tuple[Item, JobRecord]]:
        """The jobs of a page of gsi1 entries, in its order, each with its entry: a job item as it is (written before
        listing items, or by a path that lists the job itself), a listing item by its job's item (BatchGetItem,
        100 keys a call; a listing item whose job is gone is passed over), kept when it has ``status``."""
        wanted = [job_key(get_attr(e, "pk").removeprefix("JOB#")) for e in entries if is_listing_item(e)]
        items = {i["pk"]["S"]: i for i in batch_get(self._db, self._table, wanted)}
        found: list[tuple[Item, JobRecord]] = []
        for entry in entries:
            item = items.get(entry["pk"]["S"]) if is_listing_item(entry) else entry
            if item is not None and (status is None or get_attr(item, "status") == status):
                found.append((entry, job_from_item(item)))
        return found

    def request_cancel(self, job_id: str, tenant: str, reason: str) -> JobRecord | None:
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": job_pk(job_id)}, "sk": {"S": "JOB"}},
                UpdateExpression="SET cancelRequested = :t, cancelReason = :r, version = version + :one",
                # the tenant: a job listed by its own item holds it; one listed itself, as its gsi1 key (and, when
                # written before the compact form, as well)
                ConditionExpression="tenant = :tenant OR gsi1pk = :listed",
                ExpressionAttributeValues={
                    ":t": {"BOOL": True},
                    ":r": {"S": reason},
                    ":tenant": {"S": tenant},
                    ":listed": {"S": f"{TENANT_PREFIX}{tenant}"},
                    ":one": {"N": "1"},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return job_from_item(out["Attributes"])

    def mark_cancelled(self, job_id: str, reason: str, now: str, *, unsubmitted: int | None = None) -> JobRecord | None:
        """End a cancel-requested job CANCELLED when nothing of it was started: held, or waiting out a retry's backoff
        (or, with ``unsubmitted``, whose current attempt is that one and never reached Batch). One conditional write:
        a start claimed first makes it fail (None), and the cancel then goes through Batch. The ended job is filed in
        RELEASE until its admission (if it holds one) is given back."""
        values: dict[str, Any] = {
            ":c": {"S": JobStatus.CANCELLED.value},
            ":r": {"S": reason[:2048]},
            ":now": {"S": now},
            ":t": {"BOOL": True},
            ":held": {"S": HELD},
            ":retry": {"S": RETRY},
            ":exp": {"N": expires_at(now, self._retention_days)},
            ":rel": {"S": self._sweep.key(RELEASE, job_id)},
            ":reldue": {"S": self._sweep.release_sort_key(iso_to_ms(now), job_id)},
        }
        names = {"#st": "status"}
        unstarted = f"({IN_BUCKET.format(':held')} OR {IN_BUCKET.format(':retry')})"
        if unsubmitted is not None:
            names["#n"] = str(unsubmitted)
            values[":n"] = {"N": str(unsubmitted)}
            values[":release"] = {"S": RELEASE}  # an ended job is in RELEASE: not unstarted
            unstarted = (
                f"({unstarted} OR (currentAttempt = :n AND attribute_not_exists(att.#n.rk) "
                f"AND attribute_not_exists(att.#n.batchJobId) AND attribute_exists(gsi2pk) AND "
                f"NOT {IN_BUCKET.format(':release')}))"
            )
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=job_key(job_id),
                UpdateExpression=(
                    "SET #st = :c, statusReason = :r, updatedAt = :now, expiresAt = :exp, "
                    "gsi2pk = :rel, gsi2sk = :reldue REMOVE awaiting"
                ),
                ConditionExpression=f"cancelRequested = :t AND {unstarted}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                return None
            raise
        return job_from_item(out["Attributes"])

    def hasten_cancelled(self, job_id: str) -> bool:
        """A cancel-requested job waiting out a retry's backoff falls due now, so the next sweep ends it (a pipeline's
        job: the sweeper tells its pipeline)."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=job_key(job_id),
                UpdateExpression="SET gsi2sk = :due",
                ConditionExpression=f"cancelRequested = :t AND {IN_BUCKET.format(':retry')}",
                ExpressionAttributeValues={
                    ":due": {"S": due_key(0, job_id)},
                    ":t": {"BOOL": True},
                    ":retry": {"S": RETRY},
                },
            )
        )
