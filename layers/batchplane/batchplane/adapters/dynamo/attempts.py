"""The lifecycle store: the writes of the lifecycle engine, each one conditional UpdateItem on the job's single item
(an event applied to its attempt, a failed array child, the attempt that follows, giving up, a due retry, a repair)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from batchplane.adapters.dynamo.items import (
    ACTIVE,
    IN_BUCKET,
    NOT_CANCELLED,
    NOT_CANCELLED_VALUES,
    RELEASE,
    RETRY,
    RUNNABLE_BUCKET,
    Item,
    applied,
    attempt_to_item,
    attr_value,
    conditional,
    error_code,
    expires_at,
    job_from_item,
    job_key,
)
from batchplane.adapters.dynamo.jobs import DynamoJobStore
from batchplane.adapters.dynamo.leases import LeasesAndBuckets
from batchplane.domain.lifecycle import Applied, Observation
from batchplane.domain.models import JobStatus
from batchplane.domain.records import SUPERSEDED_RANK, AttemptRecord, JobRecord
from batchplane.domain.sweep_keys import due_key
from batchplane.domain.timestamps import iso_to_ms

KEPT_ARRAY_ENTRIES = 100  # a replaced attempt keeps its array lists up to this many entries (DynamoDB's 400 KB item)

_OBS_FIELDS: tuple[tuple[str, str], ...] = (
    ("statusReason", "status_reason"),
    ("exitCode", "exit_code"),
    ("containerReason", "container_reason"),
    ("logStream", "log_stream"),
    ("startedAt", "started_at"),
    ("stoppedAt", "stopped_at"),
    ("arraySummary", "array_summary"),
)


RANK_ID_CHARS = 8  # of an event id kept in a stored rank key


def stored_rank_key(rank_key: str) -> str:
    """The rank key as the item keeps it (``<status rank>#<event time>#<has reason>#<event id>``): the event id cut to
    its first RANK_ID_CHARS characters (an EventBridge id is a random UUID: 8 hex digits still order two different
    events of one state and second the same way in any order; the other 28 characters were written on every event).
    A key stored whole by an earlier version compares as before: the same event cut short sorts before it (a
    duplicate, not applied), a different one by its first characters."""
    head, _, event_id = rank_key.rpartition("#")
    return f"{head}#{event_id[:RANK_ID_CHARS]}" if head else rank_key


class DynamoLifecycleStore(DynamoJobStore, LeasesAndBuckets):
    """The writes of the lifecycle engine. Each is one conditional UpdateItem on the job's single item; leases and the
    bucket reads come from `LeasesAndBuckets`."""

    def apply_observation(self, obs: Observation, now_iso: str, event_time_ms: int) -> Applied:
        """One event applied to its attempt: one conditional write. A SUCCEEDED event of a job that holds an
        admission also gives the admission back in the same write (``_succeed_and_release``)."""
        if obs.status is JobStatus.SUCCEEDED:
            released = self._succeed_and_release(obs, now_iso, event_time_ms)
            if released is not None:
                return released
        update = self._observation_update(obs, now_iso, event_time_ms, releasing=False)
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=job_key(obs.ref.job_id),
                **update,
                # the job after the write is acted on only when it ended; on the way there, nothing is sent back
                ReturnValues="ALL_NEW" if obs.status.terminal else "NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise
            old: Item | None = err.response.get("Item")  # type: ignore[assignment]
            return Applied(False, job_from_item(old) if old else None)
        return Applied(True, job_from_item(out["Attributes"]) if obs.status.terminal else None)

    def _succeed_and_release(self, obs: Observation, now_iso: str, event_time_ms: int) -> Applied | None:
        """A job's SUCCEEDED event and the release of its admission in one transaction: the job recorded SUCCEEDED,
        given back (``admReleased``) and out of the sweeper's index at once; its tenant's and pool's counters lowered.
        Before, the event filed the job in RELEASE and a second transaction released it: the job item written twice
        at its end (2 WRU on the table and 3 on gsi2, then 4 and 2). The job is read first (what its admission holds),
        strongly consistent, and the job after the write is that read with the write applied (``items.applied``: a
        transaction returns nothing, and a second read cost a call and a read unit a job).
        None (nothing written) when the job holds no admission to give back, or when the transaction is refused: the
        plain conditional write then decides (a stale or duplicate event, a job changed since the read), and the
        release follows as before."""
        key = job_key(obs.ref.job_id)
        found = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        if found is None:
            return None
        job = job_from_item(found)
        if not job.holds_admission:
            return None
        from batchplane.adapters.dynamo.counters import release_counter_updates

        record: dict[str, Any] = {"TableName": self._table, "Key": key}
        record.update(self._observation_update(obs, now_iso, event_time_ms, releasing=True))
        actions: list[Any] = [{"Update": record}, *release_counter_updates(self._table, job)]
        # a retry of this very call (its answer lost) is answered as the call was, not applied twice
        token = f"ok{obs.ref.attempt}-{obs.ref.job_id}-{stored_rank_key(obs.rank_key)[-RANK_ID_CHARS:]}"
        try:
            self._db.transact_write_items(TransactItems=actions, ClientRequestToken=token[:36])
        except ClientError as err:
            if error_code(err) in ("TransactionCanceledException", "IdempotentParameterMismatchException"):
                return None
            raise
        # the job as the write left it: the item read, with what the write set and removed (its condition held; a
        # write by another between the two, a cancel asked for, changes nothing an ended job's actions read)
        after = applied(found, record) or self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True)["Item"]
        return Applied(True, job_from_item(after))

    def _observation_update(
        self, obs: Observation, now_iso: str, event_time_ms: int, *, releasing: bool
    ) -> dict[str, Any]:
        """The conditional update that applies ``obs`` to its attempt (expression, condition, names, values);
        ``releasing``: it also gives back the job's admission (with ``release_counter_updates`` in one transaction)."""
        n = str(obs.ref.attempt)
        names = {"#att": "att", "#n": n, "#st": "status"}
        values: dict[str, Any] = {
            ":n": {"N": n},
            ":st": {"S": obs.status.value},
            ":rk": {"S": stored_rank_key(obs.rank_key)},
            ":bid": {"S": obs.batch_job_id},
            ":now": {"S": now_iso},
        }
        sets = ["#att.#n.#st = :st", "#att.#n.rk = :rk", "#att.#n.batchJobId = :bid", "updatedAt = :now"]
        # the claim token tells the request that created the job its own retried write: Batch has the job now, so
        # that request is long answered and the token is bytes every later write would pay for
        removes: list[str] = ["claimToken"]
        for i, (key, attr) in enumerate(_OBS_FIELDS):
            value = getattr(obs, attr)
            names[f"#f{i}"] = key
            if value is None:
                removes.append(f"#att.#n.#f{i}")
            else:
                values[f":f{i}"] = attr_value(value)
                sets.append(f"#att.#n.#f{i} = :f{i}")
        if obs.memory_mib is not None:
            values[":mem"] = {"N": str(obs.memory_mib)}
            sets.append("#att.#n.memoryMiB = :mem")
        self._file_observation(obs, now_iso, event_time_ms, sets, removes, values, releasing=releasing)
        if obs.status is JobStatus.FAILED:
            sets.append("awaiting = :n")  # the job's outcome waits for the decision (LifecycleService.act)
        else:
            sets.append("#st = :st")
            if obs.status_reason:
                values[":sr"] = {"S": obs.status_reason}
                sets.append("statusReason = :sr")
            else:
                removes.append("statusReason")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        # A job that ended CANCELLED takes no event (its status is its own); a cancel-requested job takes only its
        # attempt's end: an attempt that reports it is on its way was started as the cancel landed, and the caller,
        # given the job back, stops it.
        values[":cancelled"] = {"S": JobStatus.CANCELLED.value}
        # An ended attempt stays as it ended: a second, later terminal event of it (another SUCCEEDED, a FAILED after
        # a SUCCEEDED) would otherwise rank above the first and act again (retry, cost rollup, pipeline, release)
        values[":ok"] = {"S": JobStatus.SUCCEEDED.value}
        values[":ko"] = {"S": JobStatus.FAILED.value}
        condition = (
            "attribute_exists(pk) AND currentAttempt = :n AND #st <> :cancelled AND "
            "(attribute_not_exists(#att.#n.rk) OR #att.#n.rk < :rk) AND NOT (#att.#n.#st IN (:ok, :ko))"
        )
        if not obs.status.terminal:
            values.update(NOT_CANCELLED_VALUES)
            condition += f" AND {NOT_CANCELLED}"
        if releasing:
            condition += " AND attribute_exists(adm) AND attribute_not_exists(admReleased)"
        return {
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _file_observation(
        self,
        obs: Observation,
        now_iso: str,
        event_time_ms: int,
        sets: list[str],
        removes: list[str],
        values: Item,
        *,
        releasing: bool = False,
    ) -> None:
        """Where an observation files the job in the sweeper's index (gsi2, the job's shard): RUNNABLE by when it
        became so; SUCCEEDED in RELEASE until its admission is given back (and expiring after the retention); else
        ACTIVE, due for a look after the repair window (a failure awaiting its decision) or the reconcile window
        (Batch was heard from)."""
        if obs.status is JobStatus.RUNNABLE:
            values[":rt"] = {"N": str(event_time_ms)}
            values[":rb"] = {"S": self._sweep.key(RUNNABLE_BUCKET, obs.ref.job_id)}
            values[":rs"] = {"S": f"{event_time_ms:013d}"}
            sets += ["#att.#n.runnableAt = if_not_exists(#att.#n.runnableAt, :rt)", "gsi2pk = :rb", "gsi2sk = :rs"]
            return
        removes.append("#att.#n.runnableAt")
        if obs.status is JobStatus.SUCCEEDED:
            values[":exp"] = {"N": expires_at(now_iso, self._retention_days)}
            sets.append("expiresAt = :exp")  # the job ended: it expires after the retention (table TTL)
            if releasing:  # given back in the same write: nothing left for the sweeper to watch
                values[":yes"] = {"BOOL": True}
                sets.append("admReleased = :yes")
                # what it held goes too (its 70 B took the ended item over 1 KB: 2 write units a write, not 1); the
                # flag keeps the release once, and `attribute_exists(adm)` fails for a released job all the same
                removes += ["gsi2pk", "gsi2sk", "adm"]
                return
            values[":rel"] = {"S": self._sweep.key(RELEASE, obs.ref.job_id)}
            values[":reldue"] = {"S": self._sweep.release_sort_key(iso_to_ms(now_iso), obs.ref.job_id)}
            sets += ["gsi2pk = :rel", "gsi2sk = :reldue"]  # until its admission is given back
            return
        values[":ab"] = {"S": self._sweep.key(ACTIVE, obs.ref.job_id)}
        heard = obs.status is not JobStatus.FAILED
        values[":due"] = {"S": self._sweep.active_sort_key(iso_to_ms(now_iso), obs.ref.job_id, heard=heard)}
        sets += ["gsi2pk = :ab", "gsi2sk = :due"]

    def record_failed_child(self, job_id: str, attempt: int, index: int) -> Applied:
        """An array child of the attempt failed: add its index to a set (idempotent, order-free: one write)."""
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=job_key(job_id),
                UpdateExpression="ADD #att.#n.failedChildren :i",
                ConditionExpression="currentAttempt = :n AND attribute_exists(#att.#n)",
                ExpressionAttributeNames={"#att": "att", "#n": str(attempt)},
                ExpressionAttributeValues={":i": {"NS": [str(index)]}, ":n": {"N": str(attempt)}},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
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
                Key=job_key(job.job_id),
                UpdateExpression=(
                    "SET #st = :failed, statusReason = :r, updatedAt = :now, att.#n.failureClass = :fc, "
                    "att.#n.explanation = :r, ownFailures = :o, infraFailures = :i, spotReclaims = :s, "
                    "expiresAt = :exp, gsi2pk = :rel, gsi2sk = :reldue REMOVE awaiting"
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
                    ":rel": {"S": self._sweep.key(RELEASE, job.job_id)},
                    ":reldue": {"S": self._sweep.release_sort_key(iso_to_ms(now), job.job_id)},
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
        supersede_from: tuple[JobStatus, ...] = (JobStatus.RUNNABLE,),
        priority: str | None = None,
    ) -> bool:
        """Record the next attempt (before SubmitJob, so a crash in between is repairable and a retry never
        duplicates). From a failed attempt it is conditional on the pending decision; with ``supersede_reason`` (an
        attempt in Batch replaced: a stuck RUNNABLE one moved elsewhere, a waiting one re-prioritised) on the previous
        attempt being still in one of ``supersede_from``. ``priority``: the job's new priority class."""
        delayed = new.not_before is not None
        names = {"#st": "status", "#p": str(previous), "#m": str(new.attempt), "#cap": "capacity"}
        values: dict[str, Any] = {
            ":prev": {"N": str(previous)},
            ":m": {"N": str(new.attempt)},
            ":att": {"M": attempt_to_item(new, job)},
            ":st": {"S": (JobStatus.PENDING if delayed else JobStatus.SUBMITTED).value},
            ":now": {"S": now},
            ":q": {"S": new.queue_arn},
            ":cap": {"S": new.capacity.value},
            ":o": {"N": str(counters[0])},
            ":i": {"N": str(counters[1])},
            ":s": {"N": str(counters[2])},
            ":why": {"S": (new.explanation or new.reason)[:2048]},
            ":bucket": {"S": self._sweep.key(RETRY if delayed else ACTIVE, job.job_id)},
            ":bsk": {
                "S": due_key(new.not_before, job.job_id)
                if new.not_before is not None
                else self._sweep.active_sort_key(iso_to_ms(now), job.job_id, heard=False)
            },
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
        if priority is not None:
            values[":pr"] = {"S": priority}
            sets.append("priority = :pr")
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
            values.update({f":from{i}": {"S": st.value} for i, st in enumerate(supersede_from)})
            values[":rk"] = {"S": f"{SUPERSEDED_RANK}#{now}"}
            values[":sr"] = {"S": supersede_reason[:2048]}
            sets += ["att.#p.#st = :failed", "att.#p.rk = :rk", "att.#p.statusReason = :sr"]
            was = ", ".join(f":from{i}" for i in range(len(supersede_from)))
            condition = f"currentAttempt = :prev AND att.#p.#st IN ({was}) AND attribute_not_exists(awaiting) AND "
            condition += NOT_CANCELLED
            remove = " REMOVE " + drop.removeprefix(", ") if drop else ""
        else:
            condition = f"currentAttempt = :prev AND awaiting = :prev AND {NOT_CANCELLED}"
            remove = " REMOVE awaiting" + drop
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=job_key(job.job_id),
                UpdateExpression="SET " + ", ".join(sets) + remove,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )

    def release_due(self, job: JobRecord, attempt: int, now: str) -> bool:
        """A delayed retry is due: move it from the RETRY bucket to SUBMITTED (once, never after a cancel, and only to
        the queue the caller read: a re-prioritised job is released on the next sweep, to its new queue), before
        SubmitJob."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=job_key(job.job_id),
                UpdateExpression="SET #st = :sub, gsi2pk = :ab, gsi2sk = :sk, updatedAt = :now, att.#n.notBefore = :z",
                ConditionExpression=(
                    f"currentAttempt = :n AND {IN_BUCKET.format(':retry')} AND queueArn = :q AND {NOT_CANCELLED}"
                ),
                ExpressionAttributeNames={"#st": "status", "#n": str(attempt)},
                ExpressionAttributeValues={
                    **NOT_CANCELLED_VALUES,
                    ":sub": {"S": JobStatus.SUBMITTED.value},
                    ":ab": {"S": self._sweep.key(ACTIVE, job.job_id)},
                    ":sk": {"S": self._sweep.active_sort_key(iso_to_ms(now), job.job_id, heard=False)},
                    ":now": {"S": now},
                    ":z": {"N": "0"},
                    ":n": {"N": str(attempt)},
                    ":retry": {"S": RETRY},
                    ":q": {"S": job.queue_arn},
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
                Key=job_key(job.job_id),
                UpdateExpression=(
                    "SET gsi2pk = :retry, gsi2sk = :due, att.#n.notBefore = :nb, att.#n.submitFailedAt = :nb, "
                    "updatedAt = :now"
                ),
                ConditionExpression=(
                    f"currentAttempt = :n AND attribute_not_exists(att.#n.rk) AND {IN_BUCKET.format(':active')}"
                ),
                ExpressionAttributeNames={"#n": str(attempt)},
                ExpressionAttributeValues={
                    ":retry": {"S": self._sweep.key(RETRY, job.job_id)},
                    ":due": {"S": due_key(due_ms, job.job_id)},
                    ":nb": {"N": str(due_ms)},
                    ":now": {"S": now},
                    ":n": {"N": str(attempt)},
                    ":active": {"S": ACTIVE},
                },
            )
        )

    def reject_submission(
        self, job: JobRecord, attempt: int, *, failure_class: str, reason: str, now: str
    ) -> JobRecord | None:
        """AWS Batch refused the attempt's SubmitJob for a reason in the request (ClientException): the attempt is
        recorded FAILED with that reason and the job ends FAILED, once. Conditional on the attempt being current and
        never having reached Batch (no event, no Batch job id) and the job not ended (still filed in the sweeper's
        index, not in RELEASE: ended). The job after the write (None: the condition failed), so its end is acted on as
        written; it is filed in RELEASE until its admission is given back."""
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=job_key(job.job_id),
                UpdateExpression=(
                    "SET #st = :failed, statusReason = :r, updatedAt = :now, expiresAt = :exp, "
                    "att.#n.#st = :failed, att.#n.statusReason = :r, att.#n.failureClass = :fc, "
                    "gsi2pk = :rel, gsi2sk = :reldue REMOVE awaiting"
                ),
                ConditionExpression=(
                    "currentAttempt = :n AND attribute_not_exists(att.#n.rk) AND "
                    "attribute_not_exists(att.#n.batchJobId) AND attribute_exists(gsi2pk) AND "
                    f"NOT {IN_BUCKET.format(':release')}"
                ),
                ExpressionAttributeNames={"#st": "status", "#n": str(attempt)},
                ExpressionAttributeValues={
                    ":failed": {"S": JobStatus.FAILED.value},
                    ":r": {"S": reason[:2048]},
                    ":now": {"S": now},
                    ":fc": {"S": failure_class},
                    ":n": {"N": str(attempt)},
                    ":exp": {"N": expires_at(now, self._retention_days)},
                    ":release": {"S": RELEASE},
                    ":rel": {"S": self._sweep.key(RELEASE, job.job_id)},
                    ":reldue": {"S": self._sweep.release_sort_key(iso_to_ms(now), job.job_id)},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                return None
            raise
        return job_from_item(out["Attributes"])

    def mark_repaired(self, job: JobRecord, attempt: int, now: str, reason: str) -> bool:
        """Claim the repair of an attempt that never reached Batch (one sweeper wins)."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=job_key(job.job_id),
                UpdateExpression=(
                    "SET att.#n.repairedAt = :now, att.#n.explanation = :why, updatedAt = :now, "
                    "gsi2pk = :ab, gsi2sk = :due"
                ),
                ConditionExpression=(
                    "currentAttempt = :n AND attribute_not_exists(att.#n.rk) AND updatedAt = :seen AND "
                    f"{NOT_CANCELLED} AND {IN_BUCKET.format(':active')}"
                ),
                ExpressionAttributeNames={"#n": str(attempt)},
                ExpressionAttributeValues={
                    **NOT_CANCELLED_VALUES,
                    ":now": {"S": now},
                    ":why": {"S": reason},
                    ":n": {"N": str(attempt)},
                    ":seen": {"S": job.updated_at},
                    ":active": {"S": ACTIVE},
                    ":ab": {"S": self._sweep.key(ACTIVE, job.job_id)},
                    ":due": {"S": self._sweep.active_sort_key(iso_to_ms(now), job.job_id, heard=False)},
                },
            )
        )

    def look_later(self, job: JobRecord, due_ms: int) -> bool:
        """The sweeper looked at an active job and found nothing to do: file it (in its shard, a legacy item too) to
        be looked at again at ``due_ms``. Conditional on the job being unchanged since it was read and still active,
        so a write that landed meanwhile (an event, its end) keeps what it set."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=job_key(job.job_id),
                UpdateExpression="SET gsi2pk = :ab, gsi2sk = :due",
                ConditionExpression=f"updatedAt = :seen AND {IN_BUCKET.format(':active')}",
                ExpressionAttributeValues={
                    ":seen": {"S": job.updated_at},
                    ":active": {"S": ACTIVE},
                    ":ab": {"S": self._sweep.key(ACTIVE, job.job_id)},
                    ":due": {"S": due_key(due_ms, job.job_id)},
                },
            )
        )

    def unfile_released(self, job: JobRecord) -> bool:
        """An ended job in RELEASE that holds no admission (never admitted, or given back already) leaves the
        sweeper's index. Conditional on both, so a job whose admission is still held stays for its release."""
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=job_key(job.job_id),
                UpdateExpression="REMOVE gsi2pk, gsi2sk",
                ConditionExpression=(
                    f"{IN_BUCKET.format(':release')} AND (attribute_not_exists(adm) OR attribute_exists(admReleased))"
                ),
                ExpressionAttributeValues={":release": {"S": RELEASE}},
            )
        )
