"""AWS Batch behind the BatchPort. AWS errors become batchplane errors here, by error code, never by message text."""

from __future__ import annotations

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


class BatchAdapter:
    def __init__(self, client: BatchClient) -> None:
        self._batch = client

    def submit(self, request: dict[str, Any]) -> str:
        try:
            out = self._batch.submit_job(**request)
        except (ClientError, BotoCoreError) as err:
            raise _translate(err, "SubmitJob") from err
        return out["jobId"]

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
