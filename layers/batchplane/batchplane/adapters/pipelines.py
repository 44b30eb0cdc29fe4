"""Pipelines in the lineage table, and the Step Functions execution that waits on them.

pipeline      pk=PIPELINE#<id>  sk=PIPELINE        gsi1pk=PIPELINES#<tenant>  gsi1sk=<createdAt>#<id>
pipeline job  pk=PIPELINE#<id>  sk=PJOB#<key>      its state, managed jobId, spec hash, task token
run's sinks   pk=PIPELINE#<id>  sk=SINKS#<run>     the sinks a counted run still waits for (``left``, markers ``m<i>``)
fan-in bucket pk=PIPELINE#<id>  sk=LEFT#<run>#<key>#<bucket>  a wide fan-in's dependencies pending in one bucket

Advancing a pipeline costs O(degree) per event while every job succeeds (``mode<run>`` = ``counted``): each pipeline
job holds ``left``, the number of its dependencies not yet met in this run, lowered once per dependency (a marker
attribute ``m<i>`` per met dependency makes the decrement idempotent), and starts when it reaches 0. The first job
that ends otherwise switches the run to ``full`` mode: the whole pipeline is read and the pure `step` decides.
"""

from __future__ import annotations

import json
import random
import time
import zlib
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batchplane.adapters.dynamo.items import DEFAULT_RETENTION_DAYS, conditional, expires_at
from batchplane.domain.errors import UpstreamUnavailableError
from batchplane.domain.pipeline_records import (
    TERMINAL_PIPELINE_STATUSES,
    AdvanceMode,
    JobState,
    PipelineHead,
    PipelineJobState,
    PipelineRecord,
    PipelineStatus,
    advance_mode,
    job_state,
    on_failure,
    pipeline_status,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]
FINISH = "__finish__"


# DynamoDB's item limit is 400 KB (names and values, UTF-8). A pipeline's request is its largest attribute: stored as
# compact JSON (defaults left out), compressed beyond COMPRESS_OVER; the pipeline service refuses a request whose
# stored form (`stored_request_bytes`) is over the domain's MAX_STORED_REQUEST before anything is written.
ITEM_LIMIT_BYTES = 400 * 1024
UNPROCESSED_TRIES = 10  # BatchWriteItem calls per chunk of 25 items while DynamoDB leaves some unprocessed
COMPRESS_OVER = 32 * 1024


def encode_request(request: dict[str, Any]) -> tuple[str, Item]:
    """The attribute (name, value) a pipeline's request is stored as: ``request`` (JSON) or ``requestZ`` (zlib)."""
    text = json.dumps(request, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) <= COMPRESS_OVER:
        return "request", {"S": text}
    return "requestZ", {"B": zlib.compress(text.encode(), 6)}


def stored_request_bytes(request: dict[str, Any]) -> int:
    name, value = encode_request(request)
    return len(name) + (len(value["S"].encode()) if "S" in value else len(value["B"]))


def _decode_request(item: Item) -> dict[str, Any] | None:
    if "requestZ" in item:
        return json.loads(zlib.decompress(item["requestZ"]["B"]))  # type: ignore[no-any-return]
    text = item.get("request", {}).get("S")
    return json.loads(text) if text else None


def _s(value: str) -> Item:
    return {"S": value}


def _key(pid: str, sk: str) -> Item:
    return {"pk": _s(f"PIPELINE#{pid}"), "sk": _s(sk)}


def _pipeline_item(p: PipelineRecord) -> Item:
    item: Item = {
        **_key(p.pipeline_id, "PIPELINE"),
        "type": _s("pipeline"),
        "pipelineId": _s(p.pipeline_id),
        "tenant": _s(p.tenant),
        "name": _s(p.name),
        "status": _s(p.status),
        "onFailure": _s(p.on_failure),
        encode_request(p.request)[0]: encode_request(p.request)[1],
        "requestHash": _s(p.request_hash),
        "createdAt": _s(p.created_at),
        "updatedAt": _s(p.updated_at),
        "run": {"N": str(p.run)},
        "previousRuns": _s(json.dumps(p.previous_runs)),
        "gsi1pk": _s(f"PIPELINES#{p.tenant}"),
        "gsi1sk": _s(f"{p.created_at}#{p.pipeline_id}"),
    }
    if p.execution_arn:
        item["executionArn"] = _s(p.execution_arn)
    item[f"mode{p.run}"] = _s(p.mode)
    return item


def _job_item(pid: str, run: int, j: PipelineJobState) -> Item:
    item: Item = {
        **_key(pid, f"PJOB#{j.key}"),
        "type": _s("pipeline-job"),
        "key": _s(j.key),
        "state": _s(j.state),
        "specHash": _s(j.spec_hash),
        "run": {"N": str(run)},
    }
    if j.job_id:
        item["jobId"] = _s(j.job_id)
    if j.left is not None:
        item["left"] = {"N": str(j.left)}
    return item


def _sinks_item(pid: str, run: int, sinks: int) -> Item:
    return {**_key(pid, f"SINKS#{run}"), "type": _s("pipeline-sinks"), "left": {"N": str(sinks)}}


def _bucket_items(pid: str, run: int, buckets: dict[str, dict[int, int]]) -> list[Item]:
    return [
        {**_key(pid, f"LEFT#{run}#{key}#{b}"), "type": _s("pipeline-fan-in"), "left": {"N": str(n)}}
        for key, counts in buckets.items()
        for b, n in counts.items()
    ]


def _str(item: Item, key: str) -> str | None:
    raw = item.get(key)
    return raw.get("S") if raw else None


def _record(items: list[Item]) -> PipelineRecord | None:
    head = next((i for i in items if i["sk"]["S"] == "PIPELINE"), None)
    if head is None:
        return None
    run = int(head["run"]["N"])
    rec = PipelineRecord(
        pipeline_id=_str(head, "pipelineId") or "",
        tenant=_str(head, "tenant") or "",
        name=_str(head, "name") or "",
        status=pipeline_status(_str(head, "status") or "RUNNING"),
        on_failure=on_failure(_str(head, "onFailure") or "fail-fast"),
        request=_decode_request(head) or {},
        created_at=_str(head, "createdAt") or "",
        updated_at=_str(head, "updatedAt") or "",
        run=run,
        execution_arn=_str(head, "executionArn"),
        finish_token=_str(head, f"finishToken{run}"),
        finished_reported=bool(head.get(f"finishReported{run}", {}).get("BOOL")),
        previous_runs=json.loads(_str(head, "previousRuns") or "[]"),
        request_hash=_str(head, "requestHash") or "",
        mode=advance_mode(_str(head, f"mode{run}") or "full"),
    )
    for i in items:
        if i["sk"]["S"].startswith("PJOB#"):
            job = _job_state(i)
            rec.jobs[job.key] = job
    return rec


def _job_state(i: Item) -> PipelineJobState:
    run = int(i.get("run", {}).get("N", "0"))
    left = i.get("left", {}).get("N")
    return PipelineJobState(
        key=_str(i, "key") or "",
        state=job_state(_str(i, "state") or "WAITING"),
        job_id=_str(i, "jobId"),
        spec_hash=_str(i, "specHash") or "",
        token=_str(i, f"token{run}"),
        reported=bool(i.get(f"reported{run}", {}).get("BOOL")),
        left=int(left) if left is not None else None,
        propagated=bool(i.get(f"propagated{run}", {}).get("BOOL")),
        run=run,
    )


class DynamoPipelineStore:
    def __init__(
        self, client: DynamoDBClient, table_name: str, *, retention_days: int = DEFAULT_RETENTION_DAYS
    ) -> None:
        self._db = client
        self._table = table_name
        self._retention_days = retention_days  # an ended pipeline expires (TTL) this long after it ended

    def stored_request_bytes(self, request: dict[str, Any]) -> int:
        """The bytes a pipeline's request takes in its item (compact JSON, compressed when large)."""
        return stored_request_bytes(request)

    def create(self, p: PipelineRecord) -> PipelineRecord | None:
        """Claim the pipeline id (one conditional write), then write its jobs. Returns the existing one if taken."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=_pipeline_item(p),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return self.get(p.pipeline_id)
            raise
        self._write_jobs(p.pipeline_id, p.run, list(p.jobs.values()), p.sinks, p.buckets)
        return None

    def add_jobs(
        self,
        pid: str,
        run: int,
        jobs: list[PipelineJobState],
        sinks: int | None = None,
        buckets: dict[str, dict[int, int]] | None = None,
    ) -> None:
        """Write job items (and the run's sink count) that do not exist yet (finishing an interrupted creation). Each
        put is conditional: an item written meanwhile by the first try may already hold progress (a token, a sink
        counted) that must not be overwritten."""
        items = [_job_item(pid, run, job) for job in jobs] + _bucket_items(pid, run, buckets or {})
        if sinks is not None:
            items.append(_sinks_item(pid, run, sinks))
        for item in items:
            conditional(
                lambda item=item: self._db.put_item(  # type: ignore[misc]
                    TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
            )

    def _write_jobs(
        self, pid: str, run: int, jobs: list[PipelineJobState], sinks: int | None, buckets: dict[str, dict[int, int]]
    ) -> None:
        items = [{"PutRequest": {"Item": _job_item(pid, run, j)}} for j in jobs]
        items += [{"PutRequest": {"Item": item}} for item in _bucket_items(pid, run, buckets)]
        if sinks is not None:
            items.append({"PutRequest": {"Item": _sinks_item(pid, run, sinks)}})
        for i in range(0, len(items), 25):
            request: Any = {self._table: items[i : i + 25]}
            for attempt in range(UNPROCESSED_TRIES):
                out = self._db.batch_write_item(RequestItems=request)
                request = out.get("UnprocessedItems") or None
                if not request:
                    break
                # throttled (all the items share one partition key): back off as AWS advises, with jitter
                time.sleep(min(0.05 * 2**attempt, 2.0) * (0.5 + random.random() / 2))  # noqa: S311 - jitter
            if request:
                raise UpstreamUnavailableError("DynamoDB left pipeline job items unwritten")

    def get(self, pid: str) -> PipelineRecord | None:
        items: list[Item] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(f"PIPELINE#{pid}")},
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return _record(items)

    def of_tenant(self, tenant: str, limit: int) -> list[PipelineRecord]:
        out = self._db.query(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :t",
            ExpressionAttributeValues={":t": _s(f"PIPELINES#{tenant}")},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [r for r in (_record([i]) for i in out.get("Items", [])) if r is not None]

    def transition(
        self, pid: str, key: str, to: JobState, *, allowed_from: tuple[JobState, ...], job_id: str | None = None
    ) -> bool:
        """Move a pipeline job's state, once (conditional on its current state)."""
        return self.settle(pid, key, to, allowed_from=allowed_from, job_id=job_id)[0]

    def save_token(self, pid: str, run: int, key: str, token: str) -> PipelineJobState | None:
        """Record a task token; returns the pipeline job as it is now (None for the pipeline's own Finish token)."""
        if key == FINISH:
            self._db.update_item(
                TableName=self._table,
                Key=_key(pid, "PIPELINE"),
                UpdateExpression="SET #t = :t",
                ExpressionAttributeNames={"#t": f"finishToken{run}"},
                ExpressionAttributeValues={":t": _s(token)},
            )
            return None
        out = self._db.update_item(
            TableName=self._table,
            Key=_key(pid, f"PJOB#{key}"),
            UpdateExpression="SET #t = :t",
            ExpressionAttributeNames={"#t": f"token{run}"},
            ExpressionAttributeValues={":t": _s(token)},
            ReturnValues="ALL_NEW",
        )
        return _job_state(out["Attributes"]) if "key" in out.get("Attributes", {}) else None

    def head(self, pid: str, run: int) -> PipelineHead | None:
        """The pipeline item without its request and history (``run``: whose mode to read)."""
        out = self._db.get_item(
            TableName=self._table,
            Key=_key(pid, "PIPELINE"),
            ConsistentRead=True,
            ProjectionExpression="#pid, #tenant, #st, #run, #mode, #hash, #ready",
            ExpressionAttributeNames={
                "#pid": "pipelineId",
                "#tenant": "tenant",
                "#st": "status",
                "#run": "run",
                "#mode": f"mode{run}",
                "#hash": "requestHash",
                "#ready": f"readyReleased{run}",
            },
        )
        item = out.get("Item")
        if not item:
            return None
        return PipelineHead(
            pipeline_id=_str(item, "pipelineId") or pid,
            tenant=_str(item, "tenant") or "",
            status=pipeline_status(_str(item, "status") or "RUNNING"),
            run=int(item["run"]["N"]),
            mode=advance_mode(_str(item, f"mode{run}") or "full"),
            request_hash=_str(item, "requestHash") or "",
            ready_released=bool(item.get(f"readyReleased{run}", {}).get("BOOL")),
        )

    def state_of(self, pid: str, key: str) -> JobState | None:
        """A pipeline job's state (one small read), None when there is no such job."""
        out = self._db.get_item(
            TableName=self._table,
            Key=_key(pid, f"PJOB#{key}"),
            ConsistentRead=True,
            ProjectionExpression="#st",
            ExpressionAttributeNames={"#st": "state"},
        )
        state = _str(out.get("Item") or {}, "state")
        return job_state(state) if state is not None else None

    def mark_ready_released(self, pid: str, run: int) -> None:
        """Remember that run ``run``'s ready jobs were started (after they were)."""
        self._db.update_item(
            TableName=self._table,
            Key=_key(pid, "PIPELINE"),
            UpdateExpression="SET #r = :t",
            ExpressionAttributeNames={"#r": f"readyReleased{run}"},
            ExpressionAttributeValues={":t": {"BOOL": True}},
        )

    def request_of(self, pid: str) -> dict[str, Any] | None:
        out = self._db.get_item(
            TableName=self._table,
            Key=_key(pid, "PIPELINE"),
            ProjectionExpression="#rq, #rz",
            ExpressionAttributeNames={"#rq": "request", "#rz": "requestZ"},
        )
        return _decode_request(out.get("Item") or {})

    def settle(
        self,
        pid: str,
        key: str,
        to: JobState,
        *,
        allowed_from: tuple[JobState, ...],
        job_id: str | None = None,
        run: int | None = None,
    ) -> tuple[bool, PipelineJobState | None]:
        """`transition`, returning whether it applied and the pipeline job as it is now (None: no such job); with
        ``run``, only while the job is in that run."""
        values: dict[str, Any] = {":to": _s(to)}
        names = {"#st": "state"}
        conds = []
        for i, state in enumerate(allowed_from):
            values[f":f{i}"] = _s(state)
            conds.append(f":f{i}")
        condition = f"#st IN ({', '.join(conds)})"
        if run is not None:
            values[":run"] = {"N": str(run)}
            names["#run"] = "run"
            condition += " AND #run = :run"
        expr = "SET #st = :to"
        if job_id:
            values[":jid"] = _s(job_id)
            expr += ", jobId = :jid"
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=_key(pid, f"PJOB#{key}"),
                UpdateExpression=expr,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: Item | None = err.response.get("Item")  # type: ignore[assignment]
            return False, _job_state(old) if old else None
        return True, _job_state(out["Attributes"])

    def meet(self, pid: str, run: int, key: str, dependency: int, *, bucket: bool = False) -> int | None:
        """One dependency (its index in the pipeline's order; with ``bucket``, one bucket of a wide fan-in) of a
        WAITING job is met: lower the job's ``left``, once per dependency (marker ``m<i>``) or bucket (``b<i>``).
        Returns what is left, also when it was already counted (a retried event, or a retried call whose first answer
        was lost: the job must still start when it reaches 0); None when the job is no longer WAITING or not counted
        in this run."""
        marker = f"b{dependency}" if bucket else f"m{dependency}"
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=_key(pid, f"PJOB#{key}"),
                UpdateExpression="SET #m = :t, #left = #left - :one",
                ConditionExpression="attribute_not_exists(#m) AND #st = :w AND #run = :run",
                ExpressionAttributeNames={"#m": marker, "#left": "left", "#st": "state", "#run": "run"},
                ExpressionAttributeValues={
                    ":t": {"BOOL": True},
                    ":one": {"N": "1"},
                    ":w": _s("WAITING"),
                    ":run": {"N": str(run)},
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: Item | None = err.response.get("Item")  # type: ignore[assignment]
            if (
                old is None
                or marker not in old
                or old.get("state", {}).get("S") != "WAITING"
                or old.get("run", {}).get("N") != str(run)
                or "left" not in old
            ):
                return None
            return int(old["left"]["N"])  # counted before: what is left now
        return int(out["Attributes"]["left"]["N"])

    def meet_in_bucket(self, pid: str, run: int, key: str, bucket: int, dependency: int) -> int | None:
        """One dependency of a wide fan-in is met: lower its bucket's count once (marker ``m<dependency>``); what is
        left in the bucket, also for a retry (None: no such bucket in this run)."""
        return self._count_down(_key(pid, f"LEFT#{run}#{key}#{bucket}"), f"m{dependency}")

    def sink_done(self, pid: str, run: int, sink: int) -> int | None:
        """A bucket of run ``run``'s sinks has all succeeded: lower the run's count once per bucket (marker
        ``b<bucket>``). Returns what is left, also for a bucket counted before (a retried event); None when the run
        has no count (a run started before sinks were counted, or a resumed run in full mode): its Finish token then
        decides."""
        return self._count_down(_key(pid, f"SINKS#{run}"), f"b{sink}")

    def _count_down(self, key: Item, marker: str) -> int | None:
        """Lower an existing counter item's ``left`` once per marker; what is left (also when the marker was there)."""
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET #m = :t, #left = #left - :one",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#m)",
                ExpressionAttributeNames={"#m": marker, "#left": "left"},
                ExpressionAttributeValues={":t": {"BOOL": True}, ":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: Item | None = err.response.get("Item")  # type: ignore[assignment]
            return int(old["left"]["N"]) if old and "left" in old else None
        return int(out["Attributes"]["left"]["N"])

    def sinks_left(self, pid: str, run: int) -> int | None:
        """The sinks run ``run`` still waits for (None: the run counts none)."""
        out = self._db.get_item(
            TableName=self._table,
            Key=_key(pid, f"SINKS#{run}"),
            ConsistentRead=True,
            ProjectionExpression="#left",
            ExpressionAttributeNames={"#left": "left"},
        )
        left = (out.get("Item") or {}).get("left", {}).get("N")
        return int(left) if left is not None else None

    def mark_done(self, pid: str, run: int, key: str, *, propagated: bool, reported: bool) -> None:
        """Remember, in one write, that an ended job's dependants were told and/or its task token answered."""
        names = {}
        if propagated:
            names["#p"] = f"propagated{run}"
        if reported:
            names["#r"] = f"reported{run}"
        if not names:
            return
        self._db.update_item(
            TableName=self._table,
            Key=_key(pid, f"PJOB#{key}"),
            UpdateExpression="SET " + ", ".join(f"{n} = :t" for n in names),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":t": {"BOOL": True}},
        )

    def set_mode(self, pid: str, run: int, mode: AdvanceMode) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=_key(pid, "PIPELINE"),
            UpdateExpression="SET #m = :m",
            ExpressionAttributeNames={"#m": f"mode{run}"},
            ExpressionAttributeValues={":m": _s(mode)},
        )

    def mark_finish_reported(self, pid: str, run: int) -> None:
        """Remember that the run's Finish token was answered (after it was sent; a job's answer: ``mark_done``)."""
        self._db.update_item(
            TableName=self._table,
            Key=_key(pid, "PIPELINE"),
            UpdateExpression="SET #r = :t",
            ExpressionAttributeNames={"#r": f"finishReported{run}"},
            ExpressionAttributeValues={":t": {"BOOL": True}},
        )

    def set_status(
        self, pid: str, status: PipelineStatus, now: str, *, only_if: PipelineStatus | None = "RUNNING"
    ) -> bool:
        values: dict[str, Any] = {":s": _s(status), ":now": _s(now)}
        cond = None
        if only_if:
            values[":if"] = _s(only_if)
            cond = "#st = :if"
        update = "SET #st = :s, updatedAt = :now"
        if status in TERMINAL_PIPELINE_STATUSES:  # the pipeline ended: it expires after the retention (table TTL)
            values[":exp"] = {"N": expires_at(now, self._retention_days)}
            update += ", expiresAt = :exp"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(pid, "PIPELINE"),
            "UpdateExpression": update,
            "ExpressionAttributeNames": {"#st": "status"},
            "ExpressionAttributeValues": values,
        }
        if cond:
            kwargs["ConditionExpression"] = cond
        return conditional(lambda: self._db.update_item(**kwargs))

    def new_run(self, p: PipelineRecord, now: str) -> None:
        """Start run ``p.run`` (resume): the pipeline's run and status, and every job's state for this run."""
        self._db.update_item(
            TableName=self._table,
            Key=_key(p.pipeline_id, "PIPELINE"),
            UpdateExpression="SET #st = :r, #run = :n, updatedAt = :now, previousRuns = :prev, #mode = :mode",
            ExpressionAttributeNames={"#st": "status", "#run": "run", "#mode": f"mode{p.run}"},
            ExpressionAttributeValues={
                ":mode": _s(p.mode),
                ":r": _s("RUNNING"),
                ":n": {"N": str(p.run)},
                ":now": _s(now),
                ":prev": _s(json.dumps(p.previous_runs)),
            },
        )
        self._write_jobs(p.pipeline_id, p.run, list(p.jobs.values()), p.sinks, p.buckets)

    def set_execution(self, pid: str, arn: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=_key(pid, "PIPELINE"),
            UpdateExpression="SET executionArn = :a",
            ExpressionAttributeValues={":a": _s(arn)},
        )
