"""The SubmitJob request for one attempt: a pure function of the job's request and the attempt's placement."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from batchplane.domain.errors import FieldError, InvalidRequestError
from batchplane.domain.ids import attempt_tags, batch_job_name
from batchplane.domain.models import ARRAY_SIZE_MIN, JobRequest

ARRAY_INDEXES_ENV = "BATCHPLANE_ARRAY_INDEXES"  # the original array indexes of a retry over some children


@dataclass(frozen=True, slots=True)
class JobDefinitions:
    """The job definitions declared in the template: name → ARN, and which of them are multi-node."""

    by_name: dict[str, str]
    multi_node: frozenset[str]
    default: str

    def resolve(self, request: JobRequest) -> str:
        name = request.job_definition or self.default
        if name.startswith("arn:"):
            return name
        arn = self.by_name.get(name)
        if arn is None:
            known = ", ".join(sorted(self.by_name)) or "none"
            raise InvalidRequestError(
                f"unknown job definition {name!r}",
                errors=[FieldError("jobDefinition", f"not declared in this deployment (declared: {known})")],
            )
        is_mnp = name in self.multi_node
        if request.nodes is not None and not is_mnp:
            raise InvalidRequestError(
                "multi-node parallel jobs need a multinode job definition",
                errors=[FieldError("jobDefinition", f"{name!r} is not a multinode job definition")],
            )
        if request.nodes is None and is_mnp:
            raise InvalidRequestError(
                "a multinode job definition needs `nodes`",
                errors=[FieldError("nodes", f"required with the multinode job definition {name!r}")],
            )
        return arn


# AWS Batch refuses a SubmitJob whose request is 30 KiB or more: "Job size must be less than 30 KiB, got 47 KiB"
# (ClientException). Checked before anything is written, so the job item (its request plus bounded attempts) also
# stays far under DynamoDB's 400 KB.
MAX_SUBMIT_JOB_BYTES = 30 * 1024
_SIZED_FIELDS = {"command": "command", "environment": "environment", "parameters": "parameters", "tags": "tags"}


def check_submit_size(submit: dict[str, Any], request: JobRequest) -> None:
    """422 naming the request's largest field when the SubmitJob request would reach Batch's 30 KiB."""
    size = len(json.dumps(submit, separators=(",", ":")).encode())
    if size < MAX_SUBMIT_JOB_BYTES:
        return
    wire = request.model_dump(mode="json", by_alias=True)
    field = max(_SIZED_FIELDS, key=lambda k: len(json.dumps(wire.get(k) or "")))
    raise InvalidRequestError(
        f"the SubmitJob request would be {size:,} bytes; AWS Batch takes less than 30 KiB",
        errors=[FieldError(_SIZED_FIELDS[field], "too large: AWS Batch's SubmitJob takes less than 30 KiB in all")],
    )


def container_overrides(request: JobRequest, memory_mib: int | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if request.command is not None:
        overrides["command"] = list(request.command)
    if request.environment:
        overrides["environment"] = [{"name": k, "value": v} for k, v in sorted(request.environment.items())]
    resources = []
    if request.vcpus is not None:
        resources.append({"type": "VCPU", "value": str(request.vcpus)})
    if memory_mib is not None:
        resources.append({"type": "MEMORY", "value": str(memory_mib)})
    if request.gpus:
        resources.append({"type": "GPU", "value": str(request.gpus)})
    if resources:
        overrides["resourceRequirements"] = resources
    return overrides


def submit_job_request(
    *,
    request: JobRequest,
    job_id: str,
    attempt: int,
    tenant: str,
    queue_arn: str,
    job_definition: str,
    memory_mib: int | None,
    array_indexes: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for batch.submit_job. batchplane owns retries, so Batch's own retryStrategy is pinned to one
    attempt (README: "Who retries what"); the name and tags carry our ids so any Batch job maps back to its attempt."""
    out: dict[str, Any] = {
        "jobName": batch_job_name(job_id, attempt, request.name),
        "jobQueue": queue_arn,
        "jobDefinition": job_definition,
        "retryStrategy": {"attempts": 1},
        "tags": {**request.tags, **attempt_tags(job_id, attempt, tenant)},
        "propagateTags": True,
    }
    if request.parameters:
        out["parameters"] = dict(request.parameters)
    if request.timeout_seconds is not None:
        out["timeout"] = {"attemptDurationSeconds": request.timeout_seconds}
    overrides = container_overrides(request, memory_mib)
    if array_indexes:  # a retry of some children only: an array over them (or one job), with their original indexes
        count = len(array_indexes.split(","))
        if count >= ARRAY_SIZE_MIN:
            out["arrayProperties"] = {"size": count}
        env = [e for e in overrides.get("environment", []) if e["name"] != ARRAY_INDEXES_ENV]
        overrides["environment"] = [*env, {"name": ARRAY_INDEXES_ENV, "value": array_indexes}]
    elif request.array_size is not None:
        out["arrayProperties"] = {"size": request.array_size}
    if request.nodes is not None:
        node_overrides: dict[str, Any] = {"numNodes": request.nodes.count}
        if overrides:
            node_overrides["nodePropertyOverrides"] = [{"targetNodes": "0:", "containerOverrides": overrides}]
        out["nodeOverrides"] = node_overrides
    elif overrides:
        out["containerOverrides"] = overrides
    return out
