"""The lineage table (single-table design) behind the JobStore port.

Keys (see README, "Data model"):
  job        pk=JOB#<jobId>            sk=JOB       the job and, in map ``att``, every attempt ("1", "2", ...):
                                                    one item, so an event is one guarded write and a read one get
  gsi1       gsi1pk=TENANT#<tenant>    gsi1sk=<createdAt>#<jobId>    the tenant's jobs, newest first
  gsi2       gsi2pk=ACTIVE|RUNNABLE|RETRY  gsi2sk=<createdAt>|<runnable since ms>|<due ms>#<jobId>
             jobs not yet terminal, by what the sweeper watches them for (sparse: terminal jobs leave the index)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batchplane.domain.errors import BadRequestError, FieldError
from batchplane.domain.lifecycle import Applied, Observation
from batchplane.domain.models import Capacity, CapacityPreference, JobStatus
from batchplane.domain.ports import JobFilter, JobPage
from batchplane.domain.records import AttemptRecord, JobRecord
from batchplane.domain.timestamps import iso_to_epoch_seconds

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]
ACTIVE = "ACTIVE"
HELD = "HELD"  # waiting for its dependencies (batchplane holds the job; Batch never sees it until they succeed)
RETRY = "RETRY"  # a recorded attempt due at its notBefore (a retry's backoff, a submission to try again)


def conditional(call: Callable[[], object]) -> bool:
    """Run one conditional write: True when it was applied, False when its condition did not hold."""
    try:
        call()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


DEFAULT_RETENTION_DAYS = 90
# Part of every write that starts work (a release, a retry, a move, a resubmit): a cancel that landed first wins, even
# one that landed after the writer read the job (the write decides, not the read).
NOT_CANCELLED = "(attribute_not_exists(cancelRequested) OR cancelRequested = :notcancelled)"
NOT_CANCELLED_VALUES: dict[str, Any] = {":notcancelled": {"BOOL": False}}


def expires_at(now_iso: str, retention_days: int) -> str:
    """The table's TTL attribute (expiresAt, epoch seconds) for a record that ends at ``now_iso``."""
    return str(iso_to_epoch_seconds(now_iso) + retention_days * 86_400)


def job_pk(job_id: str) -> str:
    return f"JOB#{job_id}"


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


def _key(job_id: str) -> Item:
    return {"pk": {"S": job_pk(job_id)}, "sk": {"S": "JOB"}}


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
        ("ownFailures", job.own_failures),
        ("infraFailures", job.infrastructure_failures),
        ("spotReclaims", job.spot_reclaims),
        ("awaiting", job.awaiting_decision),
        ("pipelineId", job.pipeline_id),
        ("pipelineKey", job.pipeline_key),
        ("origin", job.origin),
        ("claimToken", job.claim_token),
        ("gsi1pk", f"TENANT#{job.tenant}"),
        ("gsi1sk", f"{job.created_at}#{job.job_id}"),
    ):
        _put(item, key, value)
    if not job.status.terminal:
        held = (
            job.status is JobStatus.PENDING and bool(job.request.get("dependsOn")) and not job.attempts[-1].batch_job_id
        )
        _put(item, "gsi2pk", HELD if held else ACTIVE)
        _put(item, "gsi2sk", job.created_at)
    item["att"] = {"M": {str(a.attempt): {"M": attempt_to_item(a)} for a in job.attempts}}
    return item


def job_from_item(item: Item) -> JobRecord:
    attempts = sorted(
        (attempt_from_item(v["M"]) for v in item.get("att", {}).get("M", {}).values()), key=lambda a: a.attempt
    )
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
        preference=CapacityPreference(_get(item, "preference")),
        queue_arn=_get(item, "queueArn"),
        capacity=Capacity(_get(item, "capacity")),
        placement_reason=_get(item, "placementReason") or "",
        job_definition=_get(item, "jobDefinition") or "",
        current_attempt=_get(item, "currentAttempt") or 1,
        idempotency_key=_get(item, "idempotencyKey"),
        cancel_requested=bool(_get(item, "cancelRequested")),
        tags=_get(item, "tags") or {},
        version=_get(item, "version") or 1,
        own_failures=_get(item, "ownFailures") or 0,
        infrastructure_failures=_get(item, "infraFailures") or 0,
        spot_reclaims=_get(item, "spotReclaims") or 0,
        awaiting_decision=_get(item, "awaiting"),
        pipeline_id=_get(item, "pipelineId"),
        pipeline_key=_get(item, "pipelineKey"),
        origin=_get(item, "origin"),
        claim_token=_get(item, "claimToken"),
        attempts=attempts,
    )


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
    ("arraySummary", "array_summary"),
    ("arrayIndexes", "array_indexes"),
    ("rk", "rank_key"),
    ("notBefore", "not_before"),
    ("submitFailedAt", "submit_failed_at"),
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
    failed = tuple(sorted(int(n) for n in item.get("failedChildren", {}).get("NS", [])))
    return AttemptRecord(
        failed_children=failed,
        capacity=Capacity(_get(item, "capacity")),
        status=JobStatus(_get(item, "status") or "SUBMITTED"),
        **values,
    )


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
        self, client: DynamoDBClient, table_name: str, *, retention_days: int = DEFAULT_RETENTION_DAYS
    ) -> None:
        self._db = client
        self._table = table_name
        self._retention_days = retention_days  # a finished job expires (TTL) this long after it ended

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
        out = self._db.get_item(TableName=self._table, Key=_key(job_id), ConsistentRead=True)
        item = out.get("Item")
        return job_from_item(item) if item else None

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
            items = page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            room = limit - len(jobs)
            if len(items) > room:  # more matches than the page holds: the next page starts after its last job
                jobs += [job_from_item(i) for i in items[:room]]
                return JobPage(jobs=jobs, next_token=encode_token({k: items[room - 1][k] for k in _INDEX_KEY}))
            jobs += [job_from_item(i) for i in items]
            if start is None or len(jobs) == limit:
                break
        return JobPage(jobs=jobs, next_token=encode_token(start) if start else None)

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

    def mark_cancelled(self, job_id: str, reason: str, now: str, *, unsubmitted: int | None = None) -> JobRecord | None:
        """End a cancel-requested job CANCELLED when nothing of it was started: held, or waiting out a retry's backoff
        (or, with ``unsubmitted``, whose current attempt is that one and never reached Batch). One conditional write:
        a start claimed first makes it fail (None), and the cancel then goes through Batch."""
        values: dict[str, Any] = {
            ":c": {"S": JobStatus.CANCELLED.value},
            ":r": {"S": reason[:2048]},
            ":now": {"S": now},
            ":t": {"BOOL": True},
            ":held": {"S": HELD},
            ":retry": {"S": RETRY},
            ":exp": {"N": expires_at(now, self._retention_days)},
        }
        names = {"#st": "status"}
        unstarted = "gsi2pk IN (:held, :retry)"
        if unsubmitted is not None:
            names["#n"] = str(unsubmitted)
            values[":n"] = {"N": str(unsubmitted)}
            unstarted = (
                f"({unstarted} OR (currentAttempt = :n AND attribute_not_exists(att.#n.rk) "
                "AND attribute_not_exists(att.#n.batchJobId) AND attribute_exists(gsi2pk)))"
            )
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=_key(job_id),
                UpdateExpression=(
                    "SET #st = :c, statusReason = :r, updatedAt = :now, expiresAt = :exp "
                    "REMOVE gsi2pk, gsi2sk, awaiting"
                ),
                ConditionExpression=f"cancelRequested = :t AND {unstarted}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if _code(err) == "ConditionalCheckFailedException":
                return None
            raise
        return job_from_item(out["Attributes"])

    def hasten_cancelled(self, job_id: str) -> bool:
        """A cancel-requested job waiting out a retry's backoff falls due now, so the next sweep ends it (a pipeline's
        job: the sweeper tells its pipeline)."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=_key(job_id),
                UpdateExpression="SET gsi2sk = :due",
                ConditionExpression="cancelRequested = :t AND gsi2pk = :retry",
                ExpressionAttributeValues={
                    ":due": {"S": f"{0:013d}#{job_id}"},
                    ":t": {"BOOL": True},
                    ":retry": {"S": RETRY},
                },
            )
        )


# ---- lifecycle: applying events and acting on them --------------------------------------------------------------

RUNNABLE_BUCKET = "RUNNABLE"
KEPT_ARRAY_ENTRIES = 100  # a replaced attempt keeps its array lists up to this many entries (DynamoDB's 400 KB item)
SUPERSEDED_RANK = "99"  # above every Batch status rank: events of a superseded attempt can never overwrite it

_OBS_FIELDS: tuple[tuple[str, str], ...] = (
    ("statusReason", "status_reason"),
    ("exitCode", "exit_code"),
    ("containerReason", "container_reason"),
    ("logStream", "log_stream"),
    ("startedAt", "started_at"),
    ("stoppedAt", "stopped_at"),
    ("arraySummary", "array_summary"),
)


def _value(value: Any) -> Item:
    item: Item = {}
    _put(item, "v", value)
    out: Item = item["v"]
    return out


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class DynamoLifecycleStore(DynamoJobStore):
    """The writes of the lifecycle engine. Each is one conditional UpdateItem on the job's single item."""

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

    def apply_observation(self, obs: Observation, now_iso: str, event_time_ms: int) -> Applied:
        n = str(obs.ref.attempt)
        names = {"#att": "att", "#n": n, "#st": "status"}
        values: dict[str, Any] = {
            ":n": {"N": n},
            ":st": {"S": obs.status.value},
            ":rk": {"S": obs.rank_key},
            ":bid": {"S": obs.batch_job_id},
            ":now": {"S": now_iso},
        }
        sets = ["#att.#n.#st = :st", "#att.#n.rk = :rk", "#att.#n.batchJobId = :bid", "updatedAt = :now"]
        removes: list[str] = []
        for i, (key, attr) in enumerate(_OBS_FIELDS):
            value = getattr(obs, attr)
            names[f"#f{i}"] = key
            if value is None:
                removes.append(f"#att.#n.#f{i}")
            else:
                values[f":f{i}"] = _value(value)
                sets.append(f"#att.#n.#f{i} = :f{i}")
        if obs.memory_mib is not None:
            values[":mem"] = {"N": str(obs.memory_mib)}
            sets.append("#att.#n.memoryMiB = :mem")
        if obs.status is JobStatus.RUNNABLE:
            values[":rt"] = {"N": str(event_time_ms)}
            values[":rb"] = {"S": RUNNABLE_BUCKET}
            values[":rs"] = {"S": f"{event_time_ms:013d}"}
            sets += ["#att.#n.runnableAt = if_not_exists(#att.#n.runnableAt, :rt)", "gsi2pk = :rb", "gsi2sk = :rs"]
        else:
            removes.append("#att.#n.runnableAt")
        if obs.status is JobStatus.FAILED:
            sets.append("awaiting = :n")  # the job's outcome waits for the decision (LifecycleService.act)
        else:
            sets.append("#st = :st")
            if obs.status_reason:
                values[":sr"] = {"S": obs.status_reason}
                sets.append("statusReason = :sr")
            else:
                removes.append("statusReason")
        if obs.status is JobStatus.SUCCEEDED:
            removes += ["gsi2pk", "gsi2sk"]
            values[":exp"] = {"N": expires_at(now_iso, self._retention_days)}
            sets.append("expiresAt = :exp")  # the job ended: it expires after the retention (table TTL)
        elif obs.status is not JobStatus.RUNNABLE:
            values[":ab"] = {"S": ACTIVE}
            sets += ["gsi2pk = :ab", "gsi2sk = createdAt"]
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        # A job that ended CANCELLED takes no event (its status is its own); a cancel-requested job takes only its
        # attempt's end: an attempt that reports it is on its way was started as the cancel landed, and the caller,
        # given the job back, stops it.
        values[":cancelled"] = {"S": JobStatus.CANCELLED.value}
        condition = (
            "attribute_exists(pk) AND currentAttempt = :n AND #st <> :cancelled AND "
            "(attribute_not_exists(#att.#n.rk) OR #att.#n.rk < :rk)"
        )
        if not obs.status.terminal:
            values.update(NOT_CANCELLED_VALUES)
            condition += f" AND {NOT_CANCELLED}"
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=_key(obs.ref.job_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                # the job after the write is acted on only when it ended; on the way there, nothing is sent back
                ReturnValues="ALL_NEW" if obs.status.terminal else "NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if _code(err) != "ConditionalCheckFailedException":
                raise
            old: Item | None = err.response.get("Item")  # type: ignore[assignment]
            return Applied(False, job_from_item(old) if old else None)
        return Applied(True, job_from_item(out["Attributes"]) if obs.status.terminal else None)

    def record_failed_child(self, job_id: str, attempt: int, index: int) -> Applied:
        """An array child of the attempt failed: add its index to a set (idempotent, order-free: one write)."""
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=_key(job_id),
                UpdateExpression="ADD #att.#n.failedChildren :i",
                ConditionExpression="currentAttempt = :n AND attribute_exists(#att.#n)",
                ExpressionAttributeNames={"#att": "att", "#n": str(attempt)},
                ExpressionAttributeValues={":i": {"NS": [str(index)]}, ":n": {"N": str(attempt)}},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if _code(err) != "ConditionalCheckFailedException":
                raise
            old: Item | None = err.response.get("Item")  # type: ignore[assignment]
            return Applied(False, job_from_item(old) if old else None)
        return Applied(True, job_from_item(out["Attributes"]))

    def give_up(
        self,
        job: JobRecord,
        *,
        attempt: int,
        failure_class: str,
        reason: str,
        counters: tuple[int, int, int],
        now: str,
        status: JobStatus = JobStatus.FAILED,
    ) -> bool:
        """The job ends ``status`` (FAILED, or CANCELLED when its owner cancelled it) with the reason of its last
        attempt (only once: conditional on the pending decision)."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=_key(job.job_id),
                UpdateExpression=(
                    "SET #st = :failed, statusReason = :r, updatedAt = :now, att.#n.failureClass = :fc, "
                    "att.#n.explanation = :r, ownFailures = :o, infraFailures = :i, spotReclaims = :s, "
                    "expiresAt = :exp REMOVE awaiting, gsi2pk, gsi2sk"
                ),
                ConditionExpression="awaiting = :an AND currentAttempt = :an",
                ExpressionAttributeNames={"#st": "status", "#n": str(attempt)},
                ExpressionAttributeValues={
                    ":failed": {"S": status.value},
                    ":r": {"S": reason[:2048]},
                    ":now": {"S": now},
                    ":fc": {"S": failure_class},
                    ":o": {"N": str(counters[0])},
                    ":i": {"N": str(counters[1])},
                    ":s": {"N": str(counters[2])},
                    ":an": {"N": str(attempt)},
                    ":exp": {"N": expires_at(now, self._retention_days)},
                },
            )
        )

    def claim_next_attempt(
        self,
        job: JobRecord,
        *,
        previous: int,
        failure_class: str | None,
        new: AttemptRecord,
        counters: tuple[int, int, int],
        now: str,
        supersede_reason: str | None = None,
    ) -> bool:
        """Record the next attempt (before SubmitJob, so a crash in between is repairable and a retry never
        duplicates). From a failed attempt it is conditional on the pending decision; with ``supersede_reason`` (a
        stuck RUNNABLE attempt moved elsewhere) on the previous attempt being still RUNNABLE."""
        delayed = new.not_before is not None
        names = {"#st": "status", "#p": str(previous), "#m": str(new.attempt), "#cap": "capacity"}
        values: dict[str, Any] = {
            ":prev": {"N": str(previous)},
            ":m": {"N": str(new.attempt)},
            ":att": {"M": attempt_to_item(new)},
            ":st": {"S": (JobStatus.PENDING if delayed else JobStatus.SUBMITTED).value},
            ":now": {"S": now},
            ":q": {"S": new.queue_arn},
            ":cap": {"S": new.capacity.value},
            ":o": {"N": str(counters[0])},
            ":i": {"N": str(counters[1])},
            ":s": {"N": str(counters[2])},
            ":why": {"S": (new.explanation or new.reason)[:2048]},
            ":bucket": {"S": RETRY if delayed else ACTIVE},
            ":bsk": {"S": f"{new.not_before:013d}#{job.job_id}" if delayed else job.created_at},
            **NOT_CANCELLED_VALUES,
        }
        sets = [
            "att.#m = :att",
            "currentAttempt = :m",
            "#st = :st",
            "statusReason = :why",
            "updatedAt = :now",
            "queueArn = :q",
            "#cap = :cap",
            "ownFailures = :o",
            "infraFailures = :i",
            "spotReclaims = :s",
            "gsi2pk = :bucket",
            "gsi2sk = :bsk",
        ]
        if failure_class:
            values[":fc"] = {"S": failure_class}
            sets.append("att.#p.failureClass = :fc")
        # The attempt being replaced drops its array lists when they are long (failed children, the indexes it stood
        # for: up to 10,000 numbers each, already carried into ``new``), so a job's item stays under DynamoDB's 400 KB
        # however many attempts it takes: only the current attempt may hold long ones (short ones stay, for lineage).
        old = next((a for a in job.attempts if a.attempt == previous), None)
        long_lists = old is not None and (
            len(old.failed_children) > KEPT_ARRAY_ENTRIES or (old.array_indexes or "").count(",") >= KEPT_ARRAY_ENTRIES
        )
        drop = ", att.#p.failedChildren, att.#p.arrayIndexes" if long_lists else ""
        if supersede_reason is not None:
            values[":failed"] = {"S": JobStatus.FAILED.value}
            values[":runnable"] = {"S": JobStatus.RUNNABLE.value}
            values[":rk"] = {"S": f"{SUPERSEDED_RANK}#{now}"}
            values[":sr"] = {"S": supersede_reason[:2048]}
            sets += ["att.#p.#st = :failed", "att.#p.rk = :rk", "att.#p.statusReason = :sr"]
            condition = "currentAttempt = :prev AND att.#p.#st = :runnable AND attribute_not_exists(awaiting) AND "
            condition += NOT_CANCELLED
            remove = " REMOVE " + drop.removeprefix(", ") if drop else ""
        else:
            condition = f"currentAttempt = :prev AND awaiting = :prev AND {NOT_CANCELLED}"
            remove = " REMOVE awaiting" + drop
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=_key(job.job_id),
                UpdateExpression="SET " + ", ".join(sets) + remove,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )

    def release_due(self, job: JobRecord, attempt: int, now: str) -> bool:
        """A delayed retry is due: move it from the RETRY bucket to SUBMITTED (once, and never after a cancel), before
        SubmitJob."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=_key(job.job_id),
                UpdateExpression="SET #st = :sub, gsi2pk = :ab, gsi2sk = :sk, updatedAt = :now, att.#n.notBefore = :z",
                ConditionExpression=f"currentAttempt = :n AND gsi2pk = :retry AND {NOT_CANCELLED}",
                ExpressionAttributeNames={"#st": "status", "#n": str(attempt)},
                ExpressionAttributeValues={
                    **NOT_CANCELLED_VALUES,
                    ":sub": {"S": JobStatus.SUBMITTED.value},
                    ":ab": {"S": ACTIVE},
                    ":sk": {"S": job.created_at},
                    ":now": {"S": now},
                    ":z": {"N": "0"},
                    ":n": {"N": str(attempt)},
                    ":retry": {"S": RETRY},
                },
            )
        )

    def defer_submit(self, job: JobRecord, attempt: int, now: str, due_ms: int) -> bool:
        """The attempt's SubmitJob failed after its bounded tries: make it due again at ``due_ms`` (the RETRY bucket,
        which the next sweep releases), not after the repair window, which is for invocations that died. Its status
        stays SUBMITTED; ``submitFailedAt`` tells the next submission to look the job up by name first (a lost answer
        may have made it). Conditional on the attempt being current and unheard of (no event yet)."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=_key(job.job_id),
                UpdateExpression=(
                    "SET gsi2pk = :retry, gsi2sk = :due, att.#n.notBefore = :nb, att.#n.submitFailedAt = :nb, "
                    "updatedAt = :now"
                ),
                ConditionExpression="currentAttempt = :n AND attribute_not_exists(att.#n.rk) AND gsi2pk = :active",
                ExpressionAttributeNames={"#n": str(attempt)},
                ExpressionAttributeValues={
                    ":retry": {"S": RETRY},
                    ":due": {"S": f"{due_ms:013d}#{job.job_id}"},
                    ":nb": {"N": str(due_ms)},
                    ":now": {"S": now},
                    ":n": {"N": str(attempt)},
                    ":active": {"S": ACTIVE},
                },
            )
        )

    def mark_repaired(self, job: JobRecord, attempt: int, now: str, reason: str) -> bool:
        """Claim the repair of an attempt that never reached Batch (one sweeper wins)."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=_key(job.job_id),
                UpdateExpression="SET att.#n.repairedAt = :now, att.#n.explanation = :why, updatedAt = :now",
                ConditionExpression=(
                    f"currentAttempt = :n AND attribute_not_exists(att.#n.rk) AND updatedAt = :seen AND {NOT_CANCELLED}"
                ),
                ExpressionAttributeNames={"#n": str(attempt)},
                ExpressionAttributeValues={
                    **NOT_CANCELLED_VALUES,
                    ":now": {"S": now},
                    ":why": {"S": reason},
                    ":n": {"N": str(attempt)},
                    ":seen": {"S": job.updated_at},
                },
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
                _put(item, key, value)
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
        return [{k: str(_get(i, k)) for k in ("uri", "role", "jobId", "name")} for i in out.get("Items", [])]


class DynamoDependencies:
    """The held-job half of the lifecycle store: release a job whose dependencies are done."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, *, retention_days: int = DEFAULT_RETENTION_DAYS
    ) -> None:
        self._db = client
        self._table = table_name
        self._retention_days = retention_days

    def statuses(self, job_ids: list[str]) -> dict[str, tuple[str, str]]:
        """jobId -> (status, tenant), one BatchGetItem per 100 ids."""
        out: dict[str, tuple[str, str]] = {}
        for i in range(0, len(job_ids), 100):
            keys = [_key(j) for j in dict.fromkeys(job_ids[i : i + 100])]
            request: dict[str, Any] = {
                self._table: {
                    "Keys": keys,
                    "ProjectionExpression": "jobId, #st, tenant",
                    "ExpressionAttributeNames": {"#st": "status"},
                }
            }
            while request:
                page = self._db.batch_get_item(RequestItems=request)
                for item in page.get("Responses", {}).get(self._table, []):
                    out[_get(item, "jobId")] = (_get(item, "status"), _get(item, "tenant"))
                request = page.get("UnprocessedKeys") or {}
        return out

    def release(self, job: JobRecord, now: str) -> bool:
        """Held → SUBMITTED, once (conditional on still being held and on no cancel), before SubmitJob."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=_key(job.job_id),
                UpdateExpression="SET #st = :sub, gsi2pk = :ab, updatedAt = :now, statusReason = :why",
                ConditionExpression=f"gsi2pk = :held AND {NOT_CANCELLED}",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={
                    **NOT_CANCELLED_VALUES,
                    ":sub": {"S": JobStatus.SUBMITTED.value},
                    ":ab": {"S": ACTIVE},
                    ":now": {"S": now},
                    ":held": {"S": HELD},
                    ":why": {"S": "dependencies succeeded"},
                },
            )
        )

    def fail_held(self, job: JobRecord, reason: str, now: str) -> bool:
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=_key(job.job_id),
                UpdateExpression=(
                    "SET #st = :failed, statusReason = :why, updatedAt = :now, expiresAt = :exp REMOVE gsi2pk, gsi2sk"
                ),
                ConditionExpression="gsi2pk = :held",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={
                    ":failed": {"S": JobStatus.FAILED.value},
                    ":now": {"S": now},
                    ":exp": {"N": expires_at(now, self._retention_days)},
                    ":held": {"S": HELD},
                    ":why": {"S": reason},
                },
            )
        )
