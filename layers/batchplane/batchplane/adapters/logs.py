"""An attempt's log lines, from CloudWatch Logs (where AWS Batch sends a container's output)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batchplane.domain.errors import BadRequestError, FieldError, UpstreamUnavailableError

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

    def page(self, log_stream: str, limit: int = 1000, next_token: str | None = None) -> tuple[list[str], str | None]:
        """Lines after ``next_token`` (from the head without one) and the token to read on from: GetLogEvents'
        forward token, which stays put at the end of a stream until more lines arrive."""
        kwargs: dict[str, Any] = {
            "logGroupName": self._group,
            "logStreamName": log_stream,
            "startFromHead": True,
            "limit": limit,
        }
        if next_token:
            kwargs["nextToken"] = next_token
        try:
            out = self._logs.get_log_events(**kwargs)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":  # no line written yet: the stream is made with the first batch
                return [], next_token
            if code == "InvalidParameterException" and next_token:
                msg = "nextToken is not a token this API gave"
                raise BadRequestError(msg, errors=[FieldError("nextToken", "invalid token")]) from err
            raise UpstreamUnavailableError("CloudWatch Logs is unavailable") from err
        except BotoCoreError as err:
            raise UpstreamUnavailableError("CloudWatch Logs is unavailable") from err
        lines = [str(e.get("message", "")) for e in out.get("events", [])]
        return lines, out.get("nextForwardToken") or next_token
