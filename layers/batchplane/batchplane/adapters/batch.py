"""AWS Batch behind the BatchPort. AWS errors become batchplane errors here, by error code, never by message text."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from batchplane.domain.errors import FieldError, SubmissionRejectedError, UpstreamUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient

# Codes that mean "the request is wrong" rather than "AWS is unwell" (Batch's ClientException is both: it covers
# bad job definitions and queues, so we name the likely field).
_CLIENT_CODES = {"ClientException", "ValidationException", "InvalidParameterValueException"}


def _translate(err: ClientError | BotoCoreError, op: str) -> Exception:
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        message = err.response.get("Error", {}).get("Message", "")
        if code in _CLIENT_CODES:
            field = "jobDefinition" if "definition" in message.lower() else "body"
            return SubmissionRejectedError(
                f"AWS Batch {op} rejected the request ({code})", errors=[FieldError(field, message[:300])]
            )
    return UpstreamUnavailableError(
        f"AWS Batch {op} is unavailable; retry with the same Idempotency-Key", headers={"Retry-After": "2"}
    )


SUBMIT_ATTEMPTS = 4


class BatchAdapter:
    def __init__(self, client: BatchClient, submit_client: BatchClient | None = None) -> None:
        self._batch = client
        self._submit = submit_client or client

    def submit(self, request: dict[str, Any]) -> str:
        """SubmitJob, retried safely. SubmitJob has no idempotency token, so the SDK must not retry it blindly (an
        answer lost after Batch applied the call would make a second job): after a throttle, 5xx or lost answer we
        look the job up by its deterministic name first, and submit again only if Batch does not have it."""
        last: ClientError | BotoCoreError | None = None
        for attempt in range(SUBMIT_ATTEMPTS):
            if attempt:
                found = self.find_job_id(request["jobQueue"], request["jobName"])
                if found is not None:
                    return found
                time.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random() / 2))  # noqa: S311 - jitter
            try:
                out = self._submit.submit_job(**request)
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code", "")
                if code in _CLIENT_CODES:
                    raise _translate(err, "SubmitJob") from err
                last = err
                continue
            except BotoCoreError as err:
                last = err
                continue
            return out["jobId"]
        assert last is not None  # noqa: S101 - the loop ran at least once
        raise _translate(last, "SubmitJob") from last

    def cancel(self, batch_job_id: str, reason: str) -> None:
        try:
            self._batch.cancel_job(jobId=batch_job_id, reason=reason)
        except (ClientError, BotoCoreError) as err:
            raise _translate(err, "CancelJob") from err

    def terminate(self, batch_job_id: str, reason: str) -> None:
        try:
            self._batch.terminate_job(jobId=batch_job_id, reason=reason)
        except (ClientError, BotoCoreError) as err:
            raise _translate(err, "TerminateJob") from err

    def find_job_id(self, queue_arn: str, job_name: str) -> str | None:
        try:
            pages = self._batch.get_paginator("list_jobs").paginate(
                jobQueue=queue_arn, filters=[{"name": "JOB_NAME", "values": [job_name]}]
            )
            for page in pages:
                for summary in page.get("jobSummaryList", []):
                    if summary.get("jobName") == job_name:
                        return summary["jobId"]
        except (ClientError, BotoCoreError) as err:
            raise _translate(err, "ListJobs") from err
        return None

    def describe(self, batch_job_ids: list[str]) -> list[dict[str, Any]]:
        """DescribeJobs: only the sweeper's reconciliation calls this, never normal running."""
        if not batch_job_ids:
            return []
        try:
            out = self._batch.describe_jobs(jobs=batch_job_ids[:100])
        except (ClientError, BotoCoreError) as err:
            raise _translate(err, "DescribeJobs") from err
        return [dict(j) for j in out.get("jobs", [])]

    def scaling_up(self, queue_arn: str) -> bool:
        try:
            queues = self._batch.describe_job_queues(jobQueues=[queue_arn]).get("jobQueues", [])
            envs = [e["computeEnvironment"] for q in queues for e in q.get("computeEnvironmentOrder", [])]
            if not envs:
                return False
            described = self._batch.describe_compute_environments(computeEnvironments=envs)
        except (ClientError, BotoCoreError):
            return True  # unknown: assume it may be scaling (no false kills)
        return any(ce.get("status") == "UPDATING" for ce in described.get("computeEnvironments", []))
