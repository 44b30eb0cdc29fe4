"""Where an attempt's output is: which CloudWatch Logs streams to read, and the caller's place in them.

AWS Batch's awslogs driver writes each container to its own stream of /aws/batch/job
(``<job definition name>/default/<ECS task id>``): a plain job's attempt has one, each array child has its own (the
parent has none), and each node of a multi-node parallel job has its own. The stream of a plain job is on the attempt
(from its state-change events); a child's or a node's is known only to Batch (DescribeJobs of ``<id>:<index>`` or
``<id>#<node>``), as batchplane records no event of children or nodes."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

from batchplane.domain.errors import BadRequestError, FieldError, InvalidRequestError, NotFoundError
from batchplane.domain.records import AttemptRecord, JobRecord

MAX_TOKEN_CHARS = 8192


@dataclass(frozen=True, slots=True)
class LogTarget:
    """One stream to read: its label in the answer ({"index": i}, {"node": n} or {}), and either the stream itself
    (known from the attempt) or the Batch job to describe to find it."""

    label: dict[str, int] = field(default_factory=dict)
    stream: str | None = None
    batch_job_id: str | None = None

    @property
    def key(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.label.items()))


def choose_attempt(job: JobRecord, attempt: int | None) -> AttemptRecord | None:
    """The attempt asked for, or the latest one (None: the job has no attempt yet)."""
    if attempt is None:
        return job.attempts[-1] if job.attempts else None
    for a in job.attempts:
        if a.attempt == attempt:
            return a
    raise NotFoundError(f"job {job.job_id} has no attempt {attempt}", errors=[FieldError("attempt", "no such attempt")])


def _array_indexes(job: JobRecord, attempt: AttemptRecord) -> list[int] | None:
    """The original array indexes the attempt ran, in the order of its children (None: not an array job)."""
    if attempt.array_indexes:
        return [int(i) for i in attempt.array_indexes.split(",") if i.strip()]
    size = job.request.get("arraySize")
    return list(range(int(size))) if isinstance(size, int) else None


def log_targets(job: JobRecord, attempt: AttemptRecord, index: int | None) -> list[LogTarget]:
    """The streams holding ``attempt``'s output (for an array job: of child ``index``; for a multi-node job: every
    node's, in node order). An array job without ``index`` has none to show: each child has its own."""
    nodes = job.request.get("nodes")
    indexes = _array_indexes(job, attempt)
    if index is not None and indexes is None:
        raise InvalidRequestError(
            f"job {job.job_id} is not an array job", errors=[FieldError("index", "only array jobs have indexes")]
        )
    bid = attempt.batch_job_id
    if isinstance(nodes, dict):
        count = int(nodes.get("count") or 0)
        return [LogTarget({"node": n}, None, f"{bid}#{n}" if bid else None) for n in range(count)]
    if indexes is None:
        return [LogTarget({}, attempt.log_stream, None)]
    if index is None:
        return []
    if index not in indexes:
        size = job.request.get("arraySize")
        if isinstance(size, int) and not 0 <= index < size:
            raise InvalidRequestError(
                f"index {index} is outside the array (size {size})",
                errors=[FieldError("index", f"must be between 0 and {size - 1}")],
            )
        raise NotFoundError(f"attempt {attempt.attempt} did not run index {index} (it ran {attempt.array_indexes})")
    if len(indexes) == 1:  # a retry of one child is one plain job, not an array
        return [LogTarget({"index": index}, attempt.log_stream, None)]
    return [LogTarget({"index": index}, None, f"{bid}:{indexes.index(index)}" if bid else None)]


def encode_token(attempt: int, positions: dict[str, str]) -> str:
    """The caller's place in each stream (CloudWatch Logs' forward tokens) as one opaque token."""
    raw = json.dumps({"a": attempt, "p": positions}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None, attempt: int) -> dict[str, str]:
    """Positions from a token made by ``encode_token`` for the same attempt; a token of another attempt (the job
    moved on to a retry) starts over from each stream's head. A token that is not ours is a 400 naming it."""
    if not token:
        return {}
    bad = BadRequestError("nextToken is not a token this API gave", errors=[FieldError("nextToken", "invalid token")])
    if len(token) > MAX_TOKEN_CHARS:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as err:
        raise bad from err
    positions = data.get("p") if isinstance(data, dict) else None
    if not isinstance(positions, dict) or not all(isinstance(v, str) for v in positions.values()):
        raise bad
    return {str(k): v for k, v in positions.items()} if data.get("a") == attempt else {}
