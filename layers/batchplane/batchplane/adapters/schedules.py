"""Schedules: the definition in the lineage table, the timer in EventBridge Scheduler.

schedule  pk=SCHEDULE#<scheduler name>  sk=SCHEDULE  gsi1pk=SCHEDULES#<tenant>  gsi1sk=<name>
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from batchplane.domain.errors import ConflictError, UpstreamUnavailableError
from batchplane.domain.schedules import ScheduleRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _item(s: ScheduleRecord) -> dict[str, Any]:
    return {
        "pk": {"S": f"SCHEDULE#{s.scheduler_name}"},
        "sk": {"S": "SCHEDULE"},
        "type": {"S": "schedule"},
        "tenant": {"S": s.tenant},
        "name": {"S": s.name},
        "expression": {"S": s.expression},
        "timezone": {"S": s.timezone},
        "enabled": {"BOOL": s.enabled},
        "target": {"S": json.dumps(s.target, separators=(",", ":"))},
        "createdAt": {"S": s.created_at},
        "gsi1pk": {"S": f"SCHEDULES#{s.tenant}"},
        "gsi1sk": {"S": s.name},
    }


def _record(i: dict[str, Any]) -> ScheduleRecord:
    return ScheduleRecord(
        tenant=i["tenant"]["S"],
        name=i["name"]["S"],
        expression=i["expression"]["S"],
        timezone=i["timezone"]["S"],
        enabled=i["enabled"]["BOOL"],
        target=json.loads(i["target"]["S"]),
        created_at=i["createdAt"]["S"],
    )


class DynamoScheduleStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def create(self, s: ScheduleRecord) -> None:
        """Claim the name (conditional put). A retry after a lost answer finds its own record and is not a conflict."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=_item(s),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                old: dict[str, Any] | None = err.response.get("Item")  # type: ignore[assignment]
                if old and replace(_record(old), created_at=s.created_at) == s:  # the same schedule asked again
                    return
                raise ConflictError(f"a schedule named {s.name!r} exists; delete it first") from None
            raise

    def get(self, sched_name: str) -> ScheduleRecord | None:
        out = self._db.get_item(
            TableName=self._table, Key={"pk": {"S": f"SCHEDULE#{sched_name}"}, "sk": {"S": "SCHEDULE"}}
        )
        return _record(out["Item"]) if "Item" in out else None

    def of_tenant(self, tenant: str) -> list[ScheduleRecord]:
        out = self._db.query(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :t",
            ExpressionAttributeValues={":t": {"S": f"SCHEDULES#{tenant}"}},
        )
        return [_record(i) for i in out.get("Items", [])]

    def delete(self, sched_name: str) -> None:
        self._db.delete_item(
            TableName=self._table, Key={"pk": {"S": f"SCHEDULE#{sched_name}"}, "sk": {"S": "SCHEDULE"}}
        )


class SchedulerAdapter:
    """EventBridge Scheduler: one schedule per batchplane schedule, targeting the scheduled_submit function, in the
    stack's own schedule group (names are unique per group: two stacks in one account never collide)."""

    def __init__(
        self,
        client: Any,
        *,
        target_arn: str,
        role_arn: str,
        dead_letter_arn: str | None,
        group_name: str = "default",
    ) -> None:
        self._scheduler = client
        self._target = target_arn
        self._role = role_arn
        self._dlq = dead_letter_arn
        self._group = group_name

    def put(self, s: ScheduleRecord) -> None:
        target: dict[str, Any] = {
            "Arn": self._target,
            "RoleArn": self._role,
            # the fire time comes from Scheduler's context attribute: it makes each firing's Idempotency-Key
            "Input": json.dumps({"scheduleName": s.scheduler_name, "scheduledTime": "<aws.scheduler.scheduled-time>"}),
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
        }
        if self._dlq:
            target["DeadLetterConfig"] = {"Arn": self._dlq}
        spec: dict[str, Any] = {
            "Name": s.scheduler_name,
            "GroupName": self._group,
            "ScheduleExpression": s.expression,
            "ScheduleExpressionTimezone": s.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED" if s.enabled else "DISABLED",
            "Target": target,
            "Description": f"batchplane schedule {s.name}",
        }
        try:
            try:
                self._scheduler.create_schedule(**spec)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ConflictException":
                    raise
                # The name is ours (the record's conditional write claimed it): an earlier try of this very call
                # created the schedule and its answer was lost. Make it exactly what we asked for.
                self._scheduler.update_schedule(**{k: v for k, v in spec.items() if k != "Description"})
        except (ClientError, BotoCoreError) as err:
            raise UpstreamUnavailableError("EventBridge Scheduler is unavailable") from err

    def delete(self, sched_name: str) -> None:
        try:
            self._scheduler.delete_schedule(Name=sched_name, GroupName=self._group)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise UpstreamUnavailableError("EventBridge Scheduler is unavailable") from err
