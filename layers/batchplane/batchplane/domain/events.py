"""The EventBridge events batchplane consumes, parsed at the edge. Unknown fields are allowed (AWS adds fields);
the ones we rely on are required, so a malformed event is rejected before anything is written."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from batchplane.domain.models import JobStatus


class JobDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_arn: str = Field(alias="jobArn", min_length=1)
    job_name: str = Field(alias="jobName", min_length=1, max_length=128)
    job_id: str = Field(alias="jobId", min_length=1)
    job_queue: str = Field(alias="jobQueue", min_length=1)
    status: JobStatus
    status_reason: str | None = Field(default=None, alias="statusReason")
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    created_at: int | None = Field(default=None, alias="createdAt")


class BatchEvent(BaseModel):
    """An EventBridge event from AWS Batch ("Batch Job State Change" or "Batch Job Queue Blocked")."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(min_length=1)
    detail_type: Literal["Batch Job State Change", "Batch Job Queue Blocked"] = Field(alias="detail-type")
    source: Literal["aws.batch"]
    time: str = Field(min_length=1)
    region: str | None = None
    account: str | None = None
    detail: JobDetail
