"""The job as users submit it and as batchplane records it.

Field names are camelCase on the wire, like AWS Batch's own API."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel

from batchplane.domain.ids import BATCHPLANE_JOB_TAG_KEYS, RESERVED_TAG_PREFIXES, tag_char_ok
from batchplane.domain.retry import RetrySpec

# AWS Batch limits (SubmitJob API reference and service quotas).
MAX_DEPENDENCIES = 20
ARRAY_SIZE_MIN, ARRAY_SIZE_MAX = 2, 10_000
# SubmitJob: at most 50 tags on the job, and with propagateTags the job's and its definition's together (or the job
# FAILS), so a request's own tags may be 50 minus batchplane's minus the definition's (checked per definition in
# JobDefinitions.resolve; this is the bound before any definition's).
MAX_TAGS = 50
RESERVED_TAG_COUNT = len(BATCHPLANE_JOB_TAG_KEYS)
MAX_USER_TAGS = MAX_TAGS - RESERVED_TAG_COUNT
MIN_TIMEOUT_SECONDS = 60  # Batch's minimum attemptDurationSeconds
MAX_NODES = 1000
MAX_ENV_VARS = 200
MAX_COMMAND_ITEMS = 1000
MAX_ARTIFACTS = 100

JOB_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"  # Batch jobName: starts alphanumeric, then [A-Za-z0-9_-]
JOB_DEFINITION_ARN_PATTERN = r"^arn:aws[a-z-]*:batch:[a-z0-9-]+:\d{12}:job-definition/[A-Za-z0-9_-]{1,128}(:\d+)?$"
_JOB_DEFINITION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_JOB_DEFINITION_ARN_RE = re.compile(JOB_DEFINITION_ARN_PATTERN)
_ARTIFACT_RE = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class CapacityPreference(StrEnum):
    SPOT = "spot"  # Spot only: reclaims retry on Spot
    ON_DEMAND = "on-demand"
    SPOT_FIRST = "spot-first"  # Spot, falling back to On-Demand (after reclaims, or when stuck for capacity)


class Platform(StrEnum):
    """Where a job with its own ``image`` runs: EC2 instances (the stack's compute environments) or Fargate."""

    EC2 = "ec2"
    FARGATE = "fargate"


# AWS Batch containerProperties.image: up to 255 letters, numbers, hyphens, underscores, colons, periods, forward
# slashes and number signs (and "@" for a digest).
IMAGE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:@#-]{0,254}$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
MAX_VOLUMES = 10
_CONTAINER_DEFAULTS: dict[str, object] = {"image": None, "jobRoleArn": None, "platform": "ec2", "volumes": []}


class Capacity(StrEnum):
    SPOT = "spot"
    ON_DEMAND = "on-demand"


class JobStatus(StrEnum):
    """AWS Batch's job states; batchplane's job status is its current attempt's, or the job's final outcome.
    CANCELLED is batchplane's own: a job whose owner cancelled it (a Batch job of it, if any, ended FAILED as Batch
    reports a cancel, and its attempt record keeps that)."""

    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # never a Batch job's status: an observation of one never carries it
    # batchplane's own, before any Batch job exists: accepted, waiting for the dispatcher to admit it (last in this
    # list so that the ranks of Batch's states, recorded in the table, keep their numbers)
    QUEUED = "QUEUED"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


STATUS_RANK: dict[JobStatus, int] = {s: i for i, s in enumerate(JobStatus)}


class _Wire(BaseModel):
    """The wire models' base. ``defer_build``: a model's validator is built on its first use (or in SnapStart's
    priming, ``batchplane.deferred.build_models``), not at import: a cold start builds only what its request needs."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, defer_build=True
    )


TagKey = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TagValue = Annotated[str, StringConstraints(max_length=256)]
EnvName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ArtifactUri = Annotated[str, StringConstraints(min_length=3, max_length=2048)]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        msg = "must not contain a NUL character (AWS Batch cannot pass it to a container)"
        raise ValueError(msg)
    return value


# What reaches a container's argv or environment: the OS cannot carry a NUL byte there, and ECS refuses it.
CommandArg = Annotated[str, StringConstraints(max_length=65536), AfterValidator(_no_nul)]
EnvValue = Annotated[str, StringConstraints(max_length=32768), AfterValidator(_no_nul)]
ParameterValue = Annotated[str, AfterValidator(_no_nul)]


class NodesSpec(_Wire):
    """Multi-node parallel job: ``count`` nodes, ``mainNode`` is the index whose exit decides the job (as in Batch)."""

    count: int = Field(strict=True, ge=2, le=MAX_NODES, description="numNodes")
    main_node: int = Field(strict=True, default=0, ge=0, description="index of the main node")

    @model_validator(mode="after")
    def _main_in_range(self) -> NodesSpec:
        if self.main_node >= self.count:
            msg = "mainNode must be lower than count"
            raise ValueError(msg)
        return self


class Dependency(_Wire):
    job_id: str = Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$", description="a batchplane jobId of the same tenant")
    type: Literal["SEQUENTIAL", "N_TO_N"] | None = Field(default=None, description="array dependency type, as Batch")


class JobRequest(_Wire):
    """POST /jobs body."""

    name: str = Field(pattern=JOB_NAME_PATTERN, max_length=128, description="Batch jobName rules")
    job_definition: str | None = Field(
        default=None, max_length=2048, description="a job definition declared in the template, or its ARN"
    )
    command: list[CommandArg] | None = Field(default=None, max_length=MAX_COMMAND_ITEMS)
    environment: dict[EnvName, EnvValue] = Field(default_factory=dict, max_length=MAX_ENV_VARS)
    vcpus: int | None = Field(strict=True, default=None, ge=1, le=4096)
    memory_mi_b: int | None = Field(strict=True, default=None, alias="memoryMiB", ge=4, le=24_576_000)
    gpus: int = Field(strict=True, default=0, ge=0, le=64)
    priority: Priority = Priority.NORMAL
    capacity: CapacityPreference = CapacityPreference.SPOT_FIRST
    timeout_seconds: int | None = Field(strict=True, default=None, ge=MIN_TIMEOUT_SECONDS, le=14 * 24 * 3600)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=MAX_USER_TAGS)
    parameters: dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], ParameterValue] = Field(
        default_factory=dict, max_length=100
    )
    array_size: int | None = Field(strict=True, default=None, ge=ARRAY_SIZE_MIN, le=ARRAY_SIZE_MAX)
    nodes: NodesSpec | None = None
    depends_on: list[Dependency] = Field(default_factory=list, max_length=MAX_DEPENDENCIES)
    inputs: list[ArtifactUri] = Field(default_factory=list, max_length=MAX_ARTIFACTS)
    outputs: list[ArtifactUri] = Field(default_factory=list, max_length=MAX_ARTIFACTS)
    image: str | None = Field(
        default=None, pattern=IMAGE_PATTERN, description="your container image (from a registry the operator allows)"
    )
    job_role_arn: str | None = Field(
        default=None, pattern=ROLE_ARN_PATTERN, description="the IAM role the container runs as (operator-listed)"
    )
    platform: Platform = Field(default=Platform.EC2, description="ec2 or fargate (with image)")
    volumes: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]] = Field(
        default_factory=list, max_length=MAX_VOLUMES, description="declared volumes to mount (e.g. shared)"
    )

    @field_validator("job_definition")
    @classmethod
    def _definition_form(cls, value: str | None) -> str | None:
        if value is None or _JOB_DEFINITION_NAME_RE.match(value) or _JOB_DEFINITION_ARN_RE.match(value):
            return value
        msg = "must be a declared job definition name or a job-definition ARN"
        raise ValueError(msg)

    @field_validator("environment")
    @classmethod
    def _no_reserved_env(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(k for k in value if k.startswith("AWS_BATCH"))
        if reserved:
            msg = f"names starting with AWS_BATCH are reserved by AWS Batch: {', '.join(reserved)}"
            raise ValueError(msg)
        return value

    @field_validator("tags")
    @classmethod
    def _no_reserved_tags(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(k for k in value if k.lower().startswith(RESERVED_TAG_PREFIXES))
        if reserved:
            msg = f"tag keys starting with aws: or batchplane: are reserved: {', '.join(reserved)}"
            raise ValueError(msg)
        bad = sorted(k for k, v in value.items() if not all(tag_char_ok(ch) for ch in k + v))
        if bad:
            msg = (
                "tag keys and values may hold only letters, numbers, spaces and + - = . _ : / @ "
                f"(they propagate to ECS): {', '.join(bad)}"
            )
            raise ValueError(msg)
        aws_values = sorted(k for k, v in value.items() if v.lower().startswith("aws:"))
        if aws_values:
            msg = f"tag values starting with aws: are reserved: {', '.join(aws_values)}"
            raise ValueError(msg)
        return value

    @field_validator("inputs", "outputs")
    @classmethod
    def _uris(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _ARTIFACT_RE.match(v)]
        if bad:
            msg = f"artifact URIs must look like scheme://path (e.g. s3://bucket/key): {bad[0]!r}"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _shape(self) -> JobRequest:
        if self.nodes is not None and self.array_size is not None:
            msg = "a job is either an array job (arraySize) or a multi-node parallel job (nodes), not both"
            raise ValueError(msg)
        return self

    def canonical(self) -> dict[str, Any]:
        """The request as a JSON-able dict, defaults included: what the idempotency hash and the record keep. The
        container fields appear only when given, so a request without them hashes as it always did."""
        out = self.model_dump(mode="json", by_alias=True)
        for key, default in _CONTAINER_DEFAULTS.items():
            if out.get(key) == default:
                del out[key]
        return out
