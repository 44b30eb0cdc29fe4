"""How the lineage table stores a job and its attempts (one item: the attempts in map ``att``), and what every write
of a job shares: its key, the cancel guard, the TTL and the gsi2 buckets."""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from batchplane.domain.ids import batch_job_name
from batchplane.domain.models import Capacity, CapacityPreference, JobRequest, JobStatus
from batchplane.domain.records import AttemptRecord, JobRecord
from batchplane.domain.sweep_keys import RELEASE_BUCKET, SweepIndex
from batchplane.domain.timestamps import iso_to_epoch_seconds, iso_to_ms

Item = dict[str, Any]
ACTIVE = "ACTIVE"
QUEUED = "QUEUED"  # waiting for admission, by "<enqueued ms>#<job id>" (admission.py: its shards)
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


def batch_get(db: Any, table: str, keys: list[Item], **options: Any) -> list[Item]:
    """The items of ``keys`` that exist (BatchGetItem, 100 keys a call, its unprocessed keys asked again; ``options``:
    ConsistentRead, ProjectionExpression, ExpressionAttributeNames), in no particular order."""
    found: list[Item] = []
    for first in range(0, len(keys), 100):
        request: dict[str, Any] = {table: {"Keys": keys[first : first + 100], **options}}
        while request:
            page = db.batch_get_item(RequestItems=request)
            found += page.get("Responses", {}).get(table, [])
            request = dict(page.get("UnprocessedKeys") or {})
    return found


def applied(item: Item, update: dict[str, Any]) -> Item | None:
    """``item`` as an UpdateItem of ``update`` (its UpdateExpression, ExpressionAttributeNames and -Values) leaves it,
    when the expression only sets paths to values and removes paths (``SET a.#b = :v, ... REMOVE c, ...``); None for
    anything else (a function, arithmetic, ADD, a map on the way that is missing): the caller reads the item instead.
    For a write whose answer carries nothing (a transaction's), made on the condition that ``item`` is as read."""
    expression: str = update["UpdateExpression"]
    names: dict[str, str] = update.get("ExpressionAttributeNames", {})
    values: dict[str, Any] = update.get("ExpressionAttributeValues", {})
    head, _, removes = expression.partition(" REMOVE ")
    if not head.startswith("SET ") or "(" in expression or " ADD " in expression or " DELETE " in expression:
        return None
    out: Item = copy.deepcopy(item)
    for clause, is_set in [(c, True) for c in head[4:].split(", ")] + [(c, False) for c in removes.split(", ") if c]:
        path, _, value = clause.partition(" = ")
        steps = [names.get(step, step) for step in path.strip().split(".")]
        parent = out
        for step in steps[:-1]:
            inner = parent.get(step, {}).get("M")
            if inner is None:
                return None if is_set else out
            parent = inner
        if is_set:
            if value.strip() not in values:
                return None
            parent[steps[-1]] = values[value.strip()]
        else:
            parent.pop(steps[-1], None)
    return out


def attr_value(value: Any) -> Item:
    """``value`` as a DynamoDB attribute value (as ``put_attr`` stores it)."""
    item: Item = {}
    put_attr(item, "v", value)
    out: Item = item["v"]
    return out


# what a brief read of the QUEUED listing returns of each entry (admission.DynamoAdmission.queued, with ``known``)
BRIEF = {
    "ProjectionExpression": "pk, gsi2sk, #v, #u, #c",
    "ExpressionAttributeNames": {"#v": "version", "#u": "updatedAt", "#c": "cancelRequested"},
}


def listed_as(job: JobRecord | None, entry: Item) -> bool:
    """Whether a QUEUED listing entry read ``BRIEF`` names ``job`` as it is held: every write to a QUEUED job that
    admission cares about (a cancel, a re-prioritisation, a move) sets its ``updatedAt`` or counts its version."""
    return (
        job is not None
        and (get_attr(entry, "version") or 1) == job.version
        and get_attr(entry, "updatedAt") == job.updated_at
        and bool(get_attr(entry, "cancelRequested")) == job.cancel_requested
    )


def job_to_item(job: JobRecord, sweep: SweepIndex = DEFAULT_SWEEP_INDEX, *, listed: bool = True) -> Item:
    """The job's item, compact: every write of a job is billed by the item's size in started KB, for the table and
    for each index that projects it, so what can be read back from elsewhere is not written again (``job_from_item``
    reads both this form and the fuller one of items written before it): the job id (in ``pk``), the tenant and the
    creation time (in ``gsi1pk``/``gsi1sk``), a capacity preference the request states, default values (no cancel,
    no failures), the request hash as base64 (``rh``), the job definition without its ARN prefix when it is the
    queue's (``jd``), the placement reason without the first attempt's queue that ends it (``pr``), and in each
    attempt its number (the map key), a first attempt's reason, its Batch job name when it is the one batchplane
    gives, and its queue without the ARN prefix (``q``). (The lifecycle's writes keep 8 characters of an event id in
    a stored rank key, and drop the claim token at the first event: attempts.py.)

    Not ``listed``: the job is listed by an entry of its own (``listing_item``, written with it), so the item stays
    out of gsi1 (whose entries project the whole item and would be written again at every write of the job): it
    holds its tenant and creation time itself, and not the name and tags its request states."""
    item: Item = {}
    compact_hash = _compact_hash(job.request_hash)
    definition = _relative_arn(job.job_definition, job.queue_arn)
    stored = stored_request(job.request)
    request = job.request if stored[0][0] == "rq" else {}
    own_listing = not listed and bool(request)
    for key, value in (
        ("pk", job_pk(job.job_id)),
        ("sk", "JOB"),
        ("tenant", None if listed else job.tenant),
        ("createdAt", None if listed else job.created_at),
        ("name", None if own_listing and request.get("name") == job.name else job.name),
        ("status", job.status.value),
        ("statusReason", job.status_reason),
        ("updatedAt", job.updated_at),
        *stored,
        ("requestHash", None if compact_hash else job.request_hash),
        ("rh", compact_hash),
        ("priority", job.priority),
        ("preference", None if request.get("capacity") == str(job.preference) else job.preference),
        ("queueArn", job.queue_arn),
        ("capacity", job.capacity.value),
        *_stored_placement(job),
        ("jobDefinition", None if definition else job.job_definition),
        ("jd", definition),
        ("currentAttempt", job.current_attempt),
        ("idempotencyKey", job.idempotency_key),
        ("cancelRequested", job.cancel_requested or None),
        ("cancelReason", job.cancel_reason),
        ("tags", None if own_listing and request.get("tags", {}) == job.tags else job.tags or None),
        ("version", job.version),
        ("ownFailures", job.own_failures or None),
        ("infraFailures", job.infrastructure_failures or None),
        ("spotReclaims", job.spot_reclaims or None),
        ("awaiting", job.awaiting_decision),
        ("pipelineId", job.pipeline_id),
        ("pipelineKey", job.pipeline_key),
        ("origin", job.origin),
        ("claimToken", job.claim_token),
    ):
        put_attr(item, key, value)
    if listed:
        item.update(_listing_key(job))
    if not job.status.terminal:
        held = (
            job.status is JobStatus.PENDING and bool(job.request.get("dependsOn")) and not job.attempts[-1].batch_job_id
        )
        put_attr(item, "gsi2pk", sweep.key(HELD if held else ACTIVE, job.job_id))
        # held: by creation (the held pass reads them all); active: due for a look if nothing is heard of it
        due = sweep.active_sort_key(iso_to_ms(job.created_at), job.job_id, heard=False)
        put_attr(item, "gsi2sk", job.created_at if held else due)
    atts = {str(a.attempt): {"M": attempt_to_item(a, job)} for a in job.attempts}
    first = atts.get("1", {}).get("M", {})
    initial = bool(job.attempts) and job.attempts[0].attempt == 1 and job.attempts[0].reason == "initial"
    if initial and first.get("explanation") == {"S": job.placement_reason}:
        del first["explanation"]  # the first attempt's explanation is the placement reason: stored once (read back)
    item["att"] = {"M": atts}
    return item


def _placed_in(attempts: list[AttemptRecord]) -> str | None:
    """The name of the first attempt's queue (which the placement reason names last), if there is a first."""
    first = next((a for a in attempts if a.attempt == 1), None)
    return first.queue_arn.rsplit("/", 1)[-1] if first is not None and first.queue_arn else None


def _stored_placement(job: JobRecord) -> list[tuple[str, str]]:
    """The placement reason as the item keeps it: one that ends with the first attempt's queue (``… → <queue>``, as
    the arbiter words a placement) without it, as ``pr``; else as it is (``placementReason``)."""
    queue = _placed_in(job.attempts)
    suffix = f"{PLACED_IN}{queue}"
    if queue and job.placement_reason.endswith(suffix):
        return [("pr", job.placement_reason.removesuffix(suffix))]
    return [("placementReason", job.placement_reason)]


PLACED_IN = " → "  # the arbiter's arrow, before the queue it chose
TENANT_PREFIX = "TENANT#"  # gsi1pk of a job: its tenant's jobs
LISTING_SK = "LISTED"  # a job's own entry in its tenant's listing (gsi1), beside its item
LISTING_KEPT_DAYS = 365  # a listing entry outlives its job's retention by this much (see listing_item)


def _listing_key(job: JobRecord) -> Item:
    return {"gsi1pk": {"S": f"{TENANT_PREFIX}{job.tenant}"}, "gsi1sk": {"S": f"{job.created_at}#{job.job_id}"}}


def listing_item(job: JobRecord, retention_days: int) -> Item:
    """The job's entry in its tenant's listing (gsi1), written once with the job (``job_to_item(listed=False)``):
    its key, and the name and tags that GET /jobs filters on; the listing reads the job's item for the rest. It never
    changes, so no later write of the job writes gsi1 again. It expires (TTL) LISTING_KEPT_DAYS after the job's
    retention would end had the job ended the day it was created: the job's own expiry is known only when it ends,
    and a listing entry whose job is gone is passed over."""
    item: Item = {"pk": {"S": job_pk(job.job_id)}, "sk": {"S": LISTING_SK}, **_listing_key(job)}
    put_attr(item, "name", job.name)
    put_attr(item, "tags", job.tags or None)
    put_attr(item, "expiresAt", int(expires_at(job.created_at, retention_days + LISTING_KEPT_DAYS)))
    return item


def is_listing_item(item: Item) -> bool:
    return item.get("sk") == {"S": LISTING_SK}


_ARN_PREFIX = re.compile(r"^(arn:[^:]+:batch:[^:]*:[^:]*:)job-queue/")


def _compact_hash(hex_hash: str) -> str | None:
    """A SHA-256 hex digest as base64url (43 characters, not 64); None when ``hex_hash`` is no such digest."""
    if len(hex_hash) != 64:  # a SHA-256 in hex
        return None
    try:
        raw = bytes.fromhex(hex_hash)
    except ValueError:
        return None
    if raw.hex() != hex_hash:  # upper-case hex would not read back the same
        return None
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _hex_hash(compact: str) -> str:
    try:
        return base64.urlsafe_b64decode(compact + "=").hex()
    except (ValueError, binascii.Error):  # pragma: no cover - only this module writes rh
        return compact


def _relative_arn(arn: str | None, queue_arn: str | None) -> str | None:
    """``arn`` without the ``arn:<partition>:batch:<region>:<account>:`` that ``queue_arn`` begins with (so
    ``job-definition/name:1``, ``job-queue/name``); None when it has another prefix (or none)."""
    found = _ARN_PREFIX.match(queue_arn or "")
    if arn is None or found is None or not arn.startswith(found.group(1)):
        return None
    return arn[len(found.group(1)) :]


def _absolute_arn(relative: str, queue_arn: str | None) -> str:
    found = _ARN_PREFIX.match(queue_arn or "")
    return f"{found.group(1)}{relative}" if found else relative


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
    """A job from its item, compact (``job_to_item``) or as items were written before it."""
    pk = str(get_attr(item, "pk") or "")
    job_id = get_attr(item, "jobId") or pk.removeprefix("JOB#")
    index_pk, index_sk = str(get_attr(item, "gsi1pk") or ""), str(get_attr(item, "gsi1sk") or "")
    tenant = get_attr(item, "tenant") or index_pk.removeprefix(TENANT_PREFIX)
    queue_arn = get_attr(item, "queueArn")
    request = read_request(item)
    own_listing = "gsi1pk" not in item and "rq" in item  # listed by a listing item: name and tags as requested
    name: Any = get_attr(item, "name") or (request.get("name") if own_listing else None)
    compact_hash = get_attr(item, "rh")
    definition = get_attr(item, "jd")
    attempts = sorted(
        (
            attempt_from_item(v["M"], int(n), job_id=job_id, name=name, queue_arn=queue_arn)
            for n, v in item.get("att", {}).get("M", {}).items()
        ),
        key=lambda a: a.attempt,
    )
    placed, placed_in = get_attr(item, "pr"), _placed_in(attempts)
    placement = get_attr(item, "placementReason") or (
        f"{placed}{PLACED_IN}{placed_in}" if placed is not None and placed_in else None
    )
    if attempts and attempts[0].attempt == 1 and attempts[0].reason == "initial" and attempts[0].explanation is None:
        attempts[0].explanation = placement
    return JobRecord(
        job_id=job_id,
        tenant=tenant,
        name=name,
        status=JobStatus(get_attr(item, "status")),
        status_reason=get_attr(item, "statusReason"),
        created_at=get_attr(item, "createdAt") or index_sk.rsplit("#", 1)[0],
        updated_at=get_attr(item, "updatedAt"),
        request=request,
        request_hash=_hex_hash(compact_hash) if compact_hash else get_attr(item, "requestHash"),
        priority=get_attr(item, "priority"),
        preference=CapacityPreference(get_attr(item, "preference") or str(request.get("capacity"))),
        queue_arn=queue_arn,
        capacity=Capacity(get_attr(item, "capacity")),
        placement_reason=placement or "",
        job_definition=(_absolute_arn(definition, queue_arn) if definition else get_attr(item, "jobDefinition")) or "",
        current_attempt=get_attr(item, "currentAttempt") or 1,
        idempotency_key=get_attr(item, "idempotencyKey"),
        cancel_requested=bool(get_attr(item, "cancelRequested")),
        cancel_reason=get_attr(item, "cancelReason"),
        tags=get_attr(item, "tags") or (dict(request.get("tags") or {}) if own_listing else {}),
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


def attempt_to_item(attempt: AttemptRecord, job: JobRecord) -> Item:
    """An attempt of ``job`` in the job's ``att`` map, under its number, compact (``attempt_from_item`` reads back
    what is left out): no number (the map key), no reason for a first attempt that is the initial one, no Batch job
    name when it is the one batchplane gives the attempt, the queue relative to the job's queue ARN (``q``)."""
    item: Item = {}
    queue = _relative_arn(attempt.queue_arn, job.queue_arn)
    for key, attr in _ATTEMPT_FIELDS:
        value = getattr(attempt, attr)
        if key == "attempt" or (key == "reason" and attempt.attempt == 1 and value == "initial"):
            continue
        if key == "batchJobName" and value == batch_job_name(job.job_id, attempt.attempt, job.name):
            continue
        if key == "queueArn" and queue is not None and queue.startswith("job-queue/"):
            put_attr(item, "q", queue.removeprefix("job-queue/"))
            continue
        put_attr(item, key, value)
    put_attr(item, "capacity", attempt.capacity.value)
    put_attr(item, "status", attempt.status.value)
    return item


def attempt_from_item(item: Item, number: int, *, job_id: str, name: str, queue_arn: str | None) -> AttemptRecord:
    """Attempt ``number`` of a job from its entry in the job's ``att`` map, compact or not."""
    values = {attr: get_attr(item, key) for key, attr in _ATTEMPT_FIELDS}
    values["attempt"] = values["attempt"] or number
    values["reason"] = values["reason"] or "initial"
    values["batch_job_name"] = values["batch_job_name"] or batch_job_name(job_id, values["attempt"], name)
    relative = get_attr(item, "q")
    if values["queue_arn"] is None and relative is not None:
        values["queue_arn"] = _absolute_arn(f"job-queue/{relative}", queue_arn)
    failed = tuple(sorted(int(n) for n in item.get("failedChildren", {}).get("NS", [])))
    return AttemptRecord(
        failed_children=failed,
        capacity=Capacity(get_attr(item, "capacity")),
        status=JobStatus(get_attr(item, "status") or "SUBMITTED"),
        **values,
    )
