"""Identifiers and the deterministic names that map a Batch job back to our job and attempt without a lookup."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
JOB_ID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
_JOB_ID_RE = re.compile(JOB_ID_PATTERN)
BATCH_JOB_NAME_MAX = 128  # AWS Batch jobName: up to 128 letters, numbers, hyphens and underscores
_BATCH_NAME_RE = re.compile(r"^bp-(?P<job>[0-9A-HJKMNP-TV-Z]{26})-a(?P<attempt>\d{1,4})(?:-.*)?$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

TAG_JOB_ID = "batchplane:jobId"
TAG_ATTEMPT = "batchplane:attempt"
TAG_TENANT = "batchplane:tenant"
TAG_STACK = "batchplane:stack"  # IAM lets the functions stop and tag only jobs with their own stack's tag
# Every tag batchplane itself puts on a Batch job (attempt_tags, plus the stack's tag added at SubmitJob).
BATCHPLANE_JOB_TAG_KEYS = (TAG_JOB_ID, TAG_ATTEMPT, TAG_TENANT, TAG_STACK)
RESERVED_TAG_PREFIXES = ("aws:", "batchplane:")


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_job_id(now_ms: int, entropy: bytes) -> str:
    """A ULID: 48-bit millisecond time then 80 bits of entropy, Crockford base32, so ids sort by creation time."""
    if len(entropy) != 10:
        msg = "entropy must be 10 bytes"
        raise ValueError(msg)
    return _encode(now_ms & ((1 << 48) - 1), 10) + _encode(int.from_bytes(entropy, "big"), 16)


def idempotent_job_id(tenant: str, idempotency_key: str) -> str:
    """The job id an Idempotency-Key stands for: the same (tenant, key) always names the same job, so claiming the
    key and creating the job are one conditional write."""
    digest = hashlib.sha256(f"{tenant}\x00{idempotency_key}".encode()).digest()
    return _encode(int.from_bytes(digest[:17], "big") >> 6, 26)


def is_job_id(value: str) -> bool:
    return bool(_JOB_ID_RE.match(value))


def batch_job_name(job_id: str, attempt: int, name: str) -> str:
    """``bp-<jobId>-a<attempt>-<user name>``, cut to Batch's 128 characters; the prefix alone identifies the attempt."""
    prefix = f"bp-{job_id}-a{attempt}"
    rest = _UNSAFE.sub("-", name)
    return f"{prefix}-{rest}"[:BATCH_JOB_NAME_MAX] if rest else prefix


@dataclass(frozen=True, slots=True)
class AttemptRef:
    job_id: str
    attempt: int


def parse_batch_job_name(job_name: str) -> AttemptRef | None:
    match = _BATCH_NAME_RE.match(job_name)
    if match is None:
        return None
    return AttemptRef(job_id=match["job"], attempt=int(match["attempt"]))


TAG_PUNCTUATION = frozenset("_.:/=+-@")  # with letters, numbers and spaces: what ECS allows in a tag (propagated)


def tag_char_ok(ch: str) -> bool:
    """ECS's tag pattern ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$, one character at a time."""
    return ch in TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LNZ"


def tag_safe(value: str) -> str:
    """A value of batchplane's own as a valid tag value: each character ECS refuses becomes "_" (a JWT ``sub`` such
    as ``auth0|123`` must not fail the job when its tags propagate to the ECS task), at most 256 characters."""
    return "".join(ch if tag_char_ok(ch) else "_" for ch in value)[:256]


def attempt_tags(job_id: str, attempt: int, tenant: str) -> dict[str, str]:
    return {TAG_JOB_ID: job_id, TAG_ATTEMPT: str(attempt), TAG_TENANT: tag_safe(tenant)}
