"""How the lineage table stores a job and its attempts (one item: the attempts in map ``att``), and what every write
of a job shares: its key, the cancel guard, the TTL and the gsi2 buckets."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from batchplane.domain.models import Capacity, CapacityPreference, JobRequest, JobStatus
from batchplane.domain.records import AttemptRecord, JobRecord
from batchplane.domain.sweep_keys import RELEASE_BUCKET, SweepIndex
from batchplane.domain.timestamps import iso_to_epoch_seconds, iso_to_ms

Item = dict[str, Any]
ACTIVE = "ACTIVE"
HELD = "HELD"  # waiting for its dependencies (batchplane holds the job; Batch never sees it until they succeed)
RETRY = "RETRY"  # a recorded attempt due at its notBefore (a retry's backoff, a submission to try again)
RUNNABLE_BUCKET = "RUNNABLE"  # a RUNNABLE attempt, by when it became RUNNABLE (the sweeper's stuck-RUNNABLE watch)
# an ended job until its admission is given back (the release takes it out; the sweeper does if that was lost)
RELEASE = RELEASE_BUCKET
# Each bucket is sharded (gsi2pk "<BUCKET>#<n>", domain/sweep_keys.py); conditions match a bucket by prefix, so an item
# written before sharding (gsi2pk "<BUCKET>") still matches. No bucket's name begins another's.
IN_BUCKET = "begins_with(gsi2pk, {})"
DEFAULT_SWEEP_INDEX = SweepIndex()


def conditional(call: Callable[[], object]) -> bool:
    """Run one conditional write: True when it was applied, False when its condition did not hold."""
    try:
        call()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


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


def put_attr(item: Item, key: str, value: Any) -> None:
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


def get_attr(item: Item, key: str) -> Any:
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


def job_key(job_id: str) -> Item:
    return {"pk": {"S": job_pk(job_id)}, "sk": {"S": "JOB"}}


def attr_value(value: Any) -> Item:
    """``value`` as a DynamoDB attribute value (as ``put_attr`` stores it)."""
    item: Item = {}
    put_attr(item, "v", value)
    out: Item = item["v"]
    return out


def job_to_item(job: JobRecord, sweep: SweepIndex = DEFAULT_SWEEP_INDEX) -> Item:
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
        *stored_request(job.request),
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
        put_attr(item, key, value)
    if not job.status.terminal:
        held = (
            job.status is JobStatus.PENDING and bool(job.request.get("dependsOn")) and not job.attempts[-1].batch_job_id
        )
        put_attr(item, "gsi2pk", sweep.key(HELD if held else ACTIVE, job.job_id))
        # held: by creation (the held pass reads them all); active: due for a look if nothing is heard of it
        due = sweep.active_sort_key(iso_to_ms(job.created_at), job.job_id, heard=False)
        put_attr(item, "gsi2sk", job.created_at if held else due)
    atts = {str(a.attempt): {"M": attempt_to_item(a)} for a in job.attempts}
    first = atts.get("1", {}).get("M", {})
    if first.get("reason") == {"S": "initial"} and first.get("explanation") == {"S": job.placement_reason}:
        del first["explanation"]  # the first attempt's explanation is the placement reason: stored once (read back)
    item["att"] = {"M": atts}
    return item


def stored_request(request: dict[str, Any]) -> list[tuple[str, str]]:
    """The request as the item keeps it: compact (``rq``: what differs from JobRequest's defaults; a third of the
    canonical form, and every write of the job is billed by the item's size), re-expanded by ``read_request``; a
    request that is no valid JobRequest (an adopted job's) as it is (``request``)."""
    try:
        compact = JobRequest.model_validate(request).model_dump(mode="json", by_alias=True, exclude_defaults=True)
    except ValidationError:
        return [("request", json.dumps(request, separators=(",", ":"), sort_keys=True))]
    return [("rq", json.dumps(compact, separators=(",", ":"), sort_keys=True))]


def read_request(item: Item) -> dict[str, Any]:
    """The canonical request (defaults included) of a job item, compact or not."""
    compact = get_attr(item, "rq")
    if compact is not None:
        return JobRequest.model_validate(json.loads(compact)).canonical()
    loaded: dict[str, Any] = json.loads(get_attr(item, "request") or "{}")
    return loaded


def job_from_item(item: Item) -> JobRecord:
    attempts = sorted(
        (attempt_from_item(v["M"]) for v in item.get("att", {}).get("M", {}).values()), key=lambda a: a.attempt
    )
    if attempts and attempts[0].attempt == 1 and attempts[0].reason == "initial" and attempts[0].explanation is None:
        attempts[0].explanation = get_attr(item, "placementReason")
    return JobRecord(
        job_id=get_attr(item, "jobId"),
        tenant=get_attr(item, "tenant"),
        name=get_attr(item, "name"),
        status=JobStatus(get_attr(item, "status")),
        status_reason=get_attr(item, "statusReason"),
        created_at=get_attr(item, "createdAt"),
        updated_at=get_attr(item, "updatedAt"),
        request=read_request(item),
        request_hash=get_attr(item, "requestHash"),
        priority=get_attr(item, "priority"),
        preference=CapacityPreference(get_attr(item, "preference")),
        queue_arn=get_attr(item, "queueArn"),
        capacity=Capacity(get_attr(item, "capacity")),
        placement_reason=get_attr(item, "placementReason") or "",
        job_definition=get_attr(item, "jobDefinition") or "",
        current_attempt=get_attr(item, "currentAttempt") or 1,
        idempotency_key=get_attr(item, "idempotencyKey"),
        cancel_requested=bool(get_attr(item, "cancelRequested")),
        tags=get_attr(item, "tags") or {},
        version=get_attr(item, "version") or 1,
        own_failures=get_attr(item, "ownFailures") or 0,
        infrastructure_failures=get_attr(item, "infraFailures") or 0,
        spot_reclaims=get_attr(item, "spotReclaims") or 0,
        awaiting_decision=get_attr(item, "awaiting"),
        pipeline_id=get_attr(item, "pipelineId"),
        pipeline_key=get_attr(item, "pipelineKey"),
        origin=get_attr(item, "origin"),
        claim_token=get_attr(item, "claimToken"),
        admission=get_attr(item, "adm"),
        admission_released=bool(get_attr(item, "admReleased")),
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
        put_attr(item, key, getattr(attempt, attr))
    put_attr(item, "capacity", attempt.capacity.value)
    put_attr(item, "status", attempt.status.value)
    return item


def attempt_from_item(item: Item) -> AttemptRecord:
    values = {attr: get_attr(item, key) for key, attr in _ATTEMPT_FIELDS}
    failed = tuple(sorted(int(n) for n in item.get("failedChildren", {}).get("NS", [])))
    return AttemptRecord(
        failed_children=failed,
        capacity=Capacity(get_attr(item, "capacity")),
        status=JobStatus(get_attr(item, "status") or "SUBMITTED"),
        **values,
    )
