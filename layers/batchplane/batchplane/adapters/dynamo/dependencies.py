"""Held jobs: a job submitted with dependencies waits in the HELD bucket (Batch never sees it) until they succeed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from batchplane.adapters.dynamo.admission import queued_key, queued_sort_key
from batchplane.adapters.dynamo.counters import registered, tenant_key
from batchplane.adapters.dynamo.items import (
    DEFAULT_RETENTION_DAYS,
    DEFAULT_SWEEP_INDEX,
    HELD,
    IN_BUCKET,
    NOT_CANCELLED,
    NOT_CANCELLED_VALUES,
    QUEUED,
    TENANT_PREFIX,
    batch_get,
    conditional,
    error_code,
    expires_at,
    get_attr,
    job_key,
)
from batchplane.domain.models import JobStatus
from batchplane.domain.records import JobRecord
from batchplane.domain.sweep_keys import SweepIndex
from batchplane.domain.timestamps import iso_to_ms

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoDependencies:
    """The held-job half of the lifecycle store: release a job whose dependencies are done."""

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
        self._retention_days = retention_days
        self._sweep = sweep
        self._registered: set[str] = set()  # tenants this container has listed (counters.registry_item)

    def statuses(self, job_ids: list[str]) -> dict[str, tuple[str, str]]:
        """jobId -> (status, tenant), one BatchGetItem per 100 ids."""
        out: dict[str, tuple[str, str]] = {}
        keys = [job_key(j) for j in dict.fromkeys(job_ids)]
        # compact items (items.job_to_item) hold the id in pk and the tenant in gsi1pk only
        names = {"#st": "status"}
        for item in batch_get(
            self._db,
            self._table,
            keys,
            ProjectionExpression="pk, jobId, #st, tenant, gsi1pk",
            ExpressionAttributeNames=names,
        ):
            job_id = get_attr(item, "jobId") or str(get_attr(item, "pk")).removeprefix("JOB#")
            tenant = get_attr(item, "tenant") or str(get_attr(item, "gsi1pk")).removeprefix(TENANT_PREFIX)
            out[job_id] = (get_attr(item, "status"), tenant)
        return out

    def release(self, job: JobRecord, now: str) -> bool:
        """Held → QUEUED, once (conditional on still being held, on no cancel, and on the queue the caller read: a job
        re-prioritised meanwhile is released by the next sweep, to its new queue), counted in its tenant's queued jobs
        in the same transaction: from there the dispatcher admits it like any other job."""
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": job_key(job.job_id),
                            "UpdateExpression": (
                                "SET #st = :queued, gsi2pk = :shard, gsi2sk = :sk, updatedAt = :now, "
                                "statusReason = :why"
                            ),
                            "ConditionExpression": f"{IN_BUCKET.format(':held')} AND queueArn = :q AND {NOT_CANCELLED}",
                            "ExpressionAttributeNames": {"#st": "status"},
                            "ExpressionAttributeValues": {
                                **NOT_CANCELLED_VALUES,
                                ":queued": {"S": QUEUED},
                                ":shard": {"S": queued_key(job.job_id)},
                                ":q": {"S": job.queue_arn},
                                # listed from its release on (a dispatcher reading the recent end of the listing
                                # sees it at once); its admission order is still its creation time
                                ":sk": {"S": queued_sort_key(iso_to_ms(now), job.job_id)},
                                ":now": {"S": now},
                                ":held": {"S": HELD},
                                ":why": {"S": "dependencies succeeded; waiting for admission"},
                            },
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": tenant_key(job.tenant),
                            "UpdateExpression": "SET tenant = :t ADD queued :one REMOVE gsi1pk, gsi1sk",
                            "ExpressionAttributeValues": {":t": {"S": job.tenant}, ":one": {"N": "1"}},
                        }
                    },
                    *registered(self._registered, self._table, job.tenant),  # listed by its registry item
                ]
            )
        except ClientError as err:
            if error_code(err) == "TransactionCanceledException":
                return False
            raise
        self._registered.add(job.tenant)
        return True

    def fail_held(self, job: JobRecord, reason: str, now: str) -> bool:
        return conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=job_key(job.job_id),
                UpdateExpression=(
                    "SET #st = :failed, statusReason = :why, updatedAt = :now, expiresAt = :exp REMOVE gsi2pk, gsi2sk"
                ),
                ConditionExpression=IN_BUCKET.format(":held"),
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
