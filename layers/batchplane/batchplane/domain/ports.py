"""What the services need from the outside world, named for intent. Adapters implement these over boto3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from batchplane.domain.records import JobRecord


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[JobRecord]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class JobFilter:
    status: str | None = None
    name: str | None = None
    tag: tuple[str, str] | None = None


class JobStore(Protocol):
    def create_job(self, job: JobRecord) -> JobRecord | None:
        """Create the job with one conditional write; if its id is taken, return the existing job instead."""
        ...

    def release_job(self, job_id: str) -> None:
        """Undo `create_job` when the submission failed before any Batch job existed."""
        ...

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job and all its attempts (one query)."""
        ...

    def jobs_of_tenant(self, tenant: str, flt: JobFilter, limit: int, next_token: str | None) -> JobPage: ...

    def request_cancel(self, job_id: str, tenant: str, reason: str) -> JobRecord | None:
        """Mark the job as cancelled by its owner (so a resulting failure is never retried)."""
        ...

    def mark_cancelled(self, job_id: str, reason: str, now: str, *, unsubmitted: int | None = None) -> JobRecord | None:
        """End a cancel-requested job CANCELLED if nothing of it was started (one conditional write); None if a start
        was claimed first."""
        ...

    def hasten_cancelled(self, job_id: str) -> bool:
        """Make a cancel-requested job in a retry's backoff due now (the sweeper ends it)."""
        ...


class BatchPort(Protocol):
    def admit(self, tenant: str) -> None:
        """Take one SubmitJob token for ``tenant`` (fair rate limit), or raise SubmitRateLimitedError."""
        ...

    def refund(self, tenant: str) -> None:
        """Give back a token taken by ``admit`` that no SubmitJob used."""
        ...

    def submit(self, request: dict[str, Any], *, admitted: bool = False, maybe_submitted: bool = False) -> str:
        """SubmitJob (taking a token first unless ``admitted``; looking the job up by name first when an earlier
        SubmitJob of it failed, ``maybe_submitted``); returns the Batch job id."""
        ...

    def terminate(self, batch_job_id: str, reason: str) -> None: ...

    def find_job_id(self, queue_arn: str, job_name: str) -> str | None:
        """The Batch job id of a job we named, when no event has told us yet (ListJobs by name; repair path)."""
        ...
