"""An attempt's log lines, from CloudWatch Logs (where AWS Batch sends a container's output)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batchplane.domain.errors import UpstreamUnavailableError

BATCH_LOG_GROUP = "/aws/batch/job"  # AWS Batch's default log group for the awslogs driver


class LogsAdapter:
    def __init__(self, client: Any, log_group: str = BATCH_LOG_GROUP) -> None:
        self._logs = client
        self._group = log_group

    def lines(self, log_stream: str, limit: int = 1000) -> list[str]:
        try:
            out = self._logs.get_log_events(
                logGroupName=self._group, logStreamName=log_stream, startFromHead=True, limit=limit
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return []
            raise UpstreamUnavailableError("CloudWatch Logs is unavailable") from err
        except BotoCoreError as err:
            raise UpstreamUnavailableError("CloudWatch Logs is unavailable") from err
        return [str(e.get("message", "")) for e in out.get("events", [])]
