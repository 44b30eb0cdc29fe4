"""The SubmitJob request for one attempt: a pure function of the job's request and the attempt's placement."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from batchplane.domain.errors import FieldError, InvalidRequestError
from batchplane.domain.ids import attempt_tags, batch_job_name
from batchplane.domain.models import ARRAY_SIZE_MIN, MAX_TAGS, RESERVED_TAG_COUNT, JobRequest
from batchplane.domain.retry import AttemptReason

ARRAY_INDEXES_ENV = "BATCHPLANE_ARRAY_INDEXES"  # the original array indexes of a retry over some children
# Every batchplane attempt is a new Batch job (AWS_BATCH_JOB_ATTEMPT is always 1): the job's own attempt number and
# why that attempt exists (initial, retry, spot-fallback, capacity-fallback, memory-escalation).
ATTEMPT_ENV = "BATCHPLANE_ATTEMPT"
ATTEMPT_REASON_ENV = "BATCHPLANE_ATTEMPT_REASON"
_OURS = frozenset({ARRAY_INDEXES_ENV, ATTEMPT_ENV, ATTEMPT_REASON_ENV})


def _arn_parts(arn: str) -> tuple[str, str]:
    """A job-definition ARN's (prefix up to "job-definition/", definition name without revision)."""
    prefix, _, rest = arn.partition("job-definition/")
    return prefix, rest.split(":", 1)[0]


@dataclass(frozen=True, slots=True)
class JobDefinitions:
    """The job definitions a caller may use: those declared in the template (name → ARN, and which are multi-node),
    plus the names an operator lists in AllowedJobDefinitions. Nothing else runs, whatever ARN a caller sends."""

    by_name: dict[str, str]
    multi_node: frozenset[str]
    default: str
    allowed: frozenset[str] = frozenset()
    tag_counts: dict[str, int] = field(default_factory=dict)  # declared name -> tags it propagates to the job

    def _refuse(self, given: str) -> InvalidRequestError:
        usable = ", ".join(sorted({*self.by_name, *self.allowed})) or "none"
        return InvalidRequestError(
            f"job definition {given!r} is not usable in this deployment",
            errors=[FieldError("jobDefinition", f"not declared nor allowed in this deployment (usable: {usable})")],
        )

    def _usable(self, given: str) -> tuple[str, str | None]:
        """(what SubmitJob is given, the declared name it is, if declared), or 422 naming jobDefinition."""
        if not given.startswith("arn:"):
            if given in self.by_name:
                return self.by_name[given], given
            if given in self.allowed:
                return given, None  # Batch runs its latest ACTIVE revision
            raise self._refuse(given)
        for name, arn in self.by_name.items():
            if given == arn:
                return given, name
        prefix, name = _arn_parts(given)
        home = {_arn_parts(arn)[0] for arn in self.by_name.values()}
        if name in self.allowed and prefix in home:  # an operator-listed definition, any revision, this account
            return given, None
        raise self._refuse(given)

    def user_tag_limit(self, declared: str | None) -> int:
        """How many tags a request may carry with this definition: 50 on the job, batchplane's own and the
        definition's propagated tags included. An operator's definition's tags are not known here (that would be
        a DescribeJobDefinitions call per submission): keep them few, Batch fails a job over 50."""
        return MAX_TAGS - RESERVED_TAG_COUNT - self.tag_counts.get(declared or "", 0)

    def resolve(self, request: JobRequest) -> str:
        given = request.job_definition or self.default
        arn, declared = self._usable(given)
        self.check_tags(request, declared)
        if declared is None:
            return arn  # an operator's definition: Batch checks its type against nodes
        is_mnp = declared in self.multi_node
        if request.nodes is not None and not is_mnp:
            raise InvalidRequestError(
                "multi-node parallel jobs need a multinode job definition",
                errors=[FieldError("jobDefinition", f"{declared!r} is not a multinode job definition")],
            )
        if request.nodes is None and is_mnp:
            raise InvalidRequestError(
                "a multinode job definition needs `nodes`",
                errors=[FieldError("nodes", f"required with the multinode job definition {declared!r}")],
            )
        return arn

    def check_tags(self, request: JobRequest, declared: str | None) -> None:
        """422 naming tags when the request carries more than the definition leaves room for."""
        limit = self.user_tag_limit(declared)
        if len(request.tags) > limit:
            raise InvalidRequestError(
                f"too many tags: {len(request.tags)}",
                errors=[
                    FieldError(
                        "tags",
                        f"at most {limit} with this job definition (AWS Batch allows {MAX_TAGS} on a job, including "
                        f"batchplane's {RESERVED_TAG_COUNT} and the definition's propagated tags)",
                    )
                ],
            )


# AWS Batch refuses a SubmitJob whose request is 30 KiB or more: "Job size must be less than 30 KiB, got 47 KiB"
# (ClientException). Checked before anything is written, so the job item (its request plus bounded attempts) also
# stays far under DynamoDB's 400 KB.
MAX_SUBMIT_JOB_BYTES = 30 * 1024
# The size is checked on the first attempt; a later one's number (up to 4 digits) and reason may be longer.
ATTEMPT_ENV_RESERVE = 3 + max(len(r.value) for r in AttemptReason) - len(AttemptReason.INITIAL.value)
_SIZED_FIELDS = {"command": "command", "environment": "environment", "parameters": "parameters", "tags": "tags"}


def check_submit_size(submit: dict[str, Any], request: JobRequest) -> None:
    """422 naming the request's largest field when the SubmitJob request would reach Batch's 30 KiB."""
    size = len(json.dumps(submit, separators=(",", ":")).encode()) + ATTEMPT_ENV_RESERVE
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
    reason: str = AttemptReason.INITIAL.value,
) -> dict[str, Any]:
    """Keyword arguments for batch.submit_job. batchplane owns retries, so Batch's own retryStrategy is pinned to one
    attempt (README: "Who retries what"); the name and tags carry our ids so any Batch job maps back to its attempt,
    and the environment tells the job which attempt it is and why (BATCHPLANE_ATTEMPT, BATCHPLANE_ATTEMPT_REASON)."""
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
    ours = [{"name": ATTEMPT_ENV, "value": str(attempt)}, {"name": ATTEMPT_REASON_ENV, "value": reason}]
    if array_indexes:  # a retry of some children only: an array over them (or one job), with their original indexes
        count = len(array_indexes.split(","))
        if count >= ARRAY_SIZE_MIN:
            out["arrayProperties"] = {"size": count}
        ours.append({"name": ARRAY_INDEXES_ENV, "value": array_indexes})
    elif request.array_size is not None:
        out["arrayProperties"] = {"size": request.array_size}
    overrides["environment"] = [*(e for e in overrides.get("environment", []) if e["name"] not in _OURS), *ours]
    if request.nodes is not None:
        node_overrides: dict[str, Any] = {"numNodes": request.nodes.count}
        if overrides:
            node_overrides["nodePropertyOverrides"] = [{"targetNodes": "0:", "containerOverrides": overrides}]
        out["nodeOverrides"] = node_overrides
    elif overrides:
        out["containerOverrides"] = overrides
    return out
