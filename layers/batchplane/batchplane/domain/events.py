"""The EventBridge events batchplane consumes, parsed at the edge into the models the decisions read.

The fields we rely on (jobArn, jobName, jobId, jobQueue, status; statusReason, attempts and createdAt when given) are
checked, so a malformed event is rejected before anything is written. The other fields the classifier and the
observation read (the container's exit code and reason, array properties, tags, times) are optional and lenient: an
ill-typed one reads as absent, never invents a value. Unknown fields are allowed (AWS adds
fields). DescribeJobs answers the same JobDetail shape ([DescribeJobs] API_JobDetail.html), so the sweeper's
reconciliation parses into the same model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from batchplane.domain.models import JobStatus


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _list_or_empty(value: Any) -> list[Any]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _tags(value: Any) -> dict[str, str]:
    return (
        {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(value, dict) else {}
    )


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


Int = Annotated[int | None, BeforeValidator(_int_or_none)]
Text = Annotated[str | None, BeforeValidator(_text_or_none)]
Tags = Annotated[dict[str, str], BeforeValidator(_tags)]
Strings = Annotated[list[str], BeforeValidator(_strings)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class ResourceRequirement(_Lenient):
    type: Text = None
    value: Text = None


class ContainerDetail(_Lenient):
    """A job's or an attempt's ``container``: what the classifier and the observation read of it."""

    exit_code: Int = Field(default=None, alias="exitCode")
    reason: Text = None
    log_stream_name: Text = Field(default=None, alias="logStreamName")
    memory: Int = None
    resource_requirements: Annotated[list[ResourceRequirement], BeforeValidator(_list_or_empty)] = Field(
        default_factory=list, alias="resourceRequirements"
    )

    @property
    def memory_mib(self) -> int | None:
        """MEMORY of resourceRequirements (a string, as Batch reports it), else the legacy ``memory``."""
        for req in self.resource_requirements:
            if req.type == "MEMORY":
                try:
                    return int(req.value or "")
                except ValueError:
                    return None
        return self.memory


_Container = Annotated[ContainerDetail | None, BeforeValidator(_dict_or_none)]


class AttemptDetail(_Lenient):
    container: _Container = None
    status_reason: Text = Field(default=None, alias="statusReason")
    started_at: Int = Field(default=None, alias="startedAt")
    stopped_at: Int = Field(default=None, alias="stoppedAt")


class ArrayProperties(_Lenient):
    index: Int = None
    size: Int = None
    status_summary: Annotated[dict[str, Any] | None, BeforeValidator(_dict_or_none)] = Field(
        default=None, alias="statusSummary"
    )


class JobDetail(_Lenient):
    """A Batch job as an event's ``detail`` (and DescribeJobs) reports it."""

    job_arn: str = Field(alias="jobArn", min_length=1)
    job_name: str = Field(alias="jobName", min_length=1, max_length=128)
    job_id: str = Field(alias="jobId", min_length=1)
    job_queue: str = Field(alias="jobQueue", min_length=1)
    status: JobStatus
    status_reason: str | None = Field(default=None, alias="statusReason")
    attempts: list[AttemptDetail] = Field(default_factory=list)
    container: _Container = None
    array_properties: Annotated[ArrayProperties | None, BeforeValidator(_dict_or_none)] = Field(
        default=None, alias="arrayProperties"
    )
    tags: Tags = Field(default_factory=dict)
    platform_capabilities: Strings = Field(default_factory=list, alias="platformCapabilities")
    job_definition: Text = Field(default=None, alias="jobDefinition")
    created_at: int | None = Field(default=None, alias="createdAt")
    started_at: Int = Field(default=None, alias="startedAt")
    stopped_at: Int = Field(default=None, alias="stoppedAt")

    @property
    def last_attempt(self) -> AttemptDetail | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def is_child(self) -> bool:
        """An array child ("<parent>:<index>") or a multi-node node ("<job>#<node>"): the parent's event decides."""
        return ":" in self.job_id or "#" in self.job_id


class BatchEvent(BaseModel):
    """An EventBridge event from AWS Batch ("Batch Job State Change" or "Batch Job Queue Blocked")."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    id: str = Field(min_length=1)
    detail_type: Literal["Batch Job State Change", "Batch Job Queue Blocked"] = Field(alias="detail-type")
    source: Literal["aws.batch"]
    time: str = Field(min_length=1)
    region: str | None = None
    account: str | None = None
    detail: JobDetail
