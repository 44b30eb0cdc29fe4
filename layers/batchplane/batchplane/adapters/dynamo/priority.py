"""The writes of re-prioritising a job: move one that is not in Batch yet, or record a class change that needs no new
attempt (a new attempt is the lifecycle store's `claim_next_attempt`). Each is one conditional UpdateItem."""

from __future__ import annotations

from typing import Any

from batchplane.adapters.dynamo.admission import queued_key, queued_sort_key
from batchplane.adapters.dynamo.attempts import DynamoLifecycleStore
from batchplane.adapters.dynamo.items import IN_BUCKET, NOT_CANCELLED, NOT_CANCELLED_VALUES, conditional, job_key
from batchplane.domain.models import Capacity, JobStatus
from batchplane.domain.records import JobRecord
from batchplane.domain.timestamps import iso_to_ms


class DynamoPriorityStore(DynamoLifecycleStore):
    """PriorityStore over the lineage table."""

    def move_unsubmitted(
        self,
        job: JobRecord,
        priority: str,
        *,
        queue_arn: str,
        capacity: Capacity,
        why: str,
        now: str,
        buckets: tuple[str, ...],
    ) -> bool:
        """The job and its current attempt go to ``queue_arn`` in class ``priority``, if the attempt still waits in one
        of ``buckets`` with nothing of it handed to Batch (no event, no Batch job id, no SubmitJob tried) and no
        cancel: the sweeper's release of it is conditional on the queue it read, so it never submits the old one."""
        n = str(job.current_attempt)
        values: dict[str, Any] = {
            ":n": {"N": n},
            ":p": {"S": priority},
            ":q": {"S": queue_arn},
            ":cap": {"S": capacity.value},
            ":why": {"S": why[:2048]},
            ":now": {"S": now},
            ":one": {"N": "1"},
            **{f":b{i}": {"S": b} for i, b in enumerate(buckets)},
            **NOT_CANCELLED_VALUES,
        }
        # each bucket by prefix: its shards (<BUCKET>#<n>) and the unsharded key of items written before sharding
        waiting = " OR ".join(IN_BUCKET.format(f":b{i}") for i in range(len(buckets)))
        requeue = ""
        if job.status is JobStatus.QUEUED:
            # listed again from now in the dispatcher's QUEUED order, so that a dispatcher reading only the recent
            # end of the listing sees the move at once (its admission order is still the job's creation time); in
            # its shard (one queued before sharding leaves the bare key, which only whole reads look at)
            requeue = ", gsi2pk = :qkey, gsi2sk = :qsk"
            values[":qkey"] = {"S": queued_key(job.job_id)}
            values[":qsk"] = {"S": queued_sort_key(iso_to_ms(now), job.job_id)}
        return self._update(
            job,
            "SET priority = :p, queueArn = :q, #cap = :cap, placementReason = :why, att.#n.queueArn = :q, "
            "att.#n.#cap = :cap, att.#n.explanation = :why, updatedAt = :now, version = version + :one"
            + requeue
            +
            # the compact forms of the queue and the reason (items.job_to_item) give way
            " REMOVE att.#n.q, pr",
            f"currentAttempt = :n AND ({waiting}) AND attribute_not_exists(att.#n.rk) "
            "AND attribute_not_exists(att.#n.batchJobId) AND attribute_not_exists(att.#n.submitFailedAt) "
            f"AND {NOT_CANCELLED}",
            {"#n": n, "#cap": "capacity"},
            values,
        )

    def record_priority(self, job: JobRecord, priority: str, *, now: str, not_started: tuple[JobStatus, ...]) -> bool:
        n = str(job.current_attempt)
        values: dict[str, Any] = {
            ":n": {"N": n},
            ":p": {"S": priority},
            ":now": {"S": now},
            ":one": {"N": "1"},
            **{f":s{i}": {"S": st.value} for i, st in enumerate(not_started)},
            **NOT_CANCELLED_VALUES,
        }
        states = ", ".join(f":s{i}" for i in range(len(not_started)))
        return self._update(
            job,
            "SET priority = :p, updatedAt = :now, version = version + :one",
            f"currentAttempt = :n AND att.#n.#st IN ({states}) AND attribute_not_exists(awaiting) AND {NOT_CANCELLED}",
            {"#n": n, "#st": "status"},
            values,
        )

    def _update(
        self, job: JobRecord, update: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> bool:
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=job_key(job.job_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )
