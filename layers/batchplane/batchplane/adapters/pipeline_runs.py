"""A pipeline run's messengers: the Step Functions execution that waits on the run (start, stop, answer its task
token) and the stage queue that carries durable release work (pipeline jobs to start)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batchplane.domain.errors import UpstreamUnavailableError


class StepFunctionsAdapter:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._sfn = client
        self._arn = state_machine_arn

    def start(self, name: str, payload: dict[str, Any]) -> str:
        try:
            out = self._sfn.start_execution(stateMachineArn=self._arn, name=name, input=json.dumps(payload))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return self.execution_arn(name)  # idempotent start
            raise UpstreamUnavailableError("Step Functions is unavailable") from err
        except BotoCoreError as err:
            raise UpstreamUnavailableError("Step Functions is unavailable") from err
        return str(out["executionArn"])

    def execution_arn(self, name: str) -> str:
        """The ARN of this state machine's execution of that name (AWS derives it; no call)."""
        return self._arn.replace(":stateMachine:", ":execution:") + f":{name}"

    def stop(self, execution_arn: str, cause: str) -> None:
        try:
            self._sfn.stop_execution(executionArn=execution_arn, error="batchplane.Cancelled", cause=cause[:32768])
        except ClientError:
            return  # already finished

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        try:
            self._sfn.send_task_success(taskToken=token, output=json.dumps(output))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
                raise

    def fail(self, token: str, error: str, cause: str) -> None:
        try:
            self._sfn.send_task_failure(taskToken=token, error=error, cause=cause[:32768])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
                raise


SQS_BATCH = 10  # SendMessageBatch takes at most 10 entries
KEYS_PER_MESSAGE = 10  # jobs one release message starts: a message costs its consumer about 4 calls per job


class SqsReleases:
    """Durable release work: SQS messages of up to 10 pipeline jobs to start (after the named dependency was met),
    sent 10 messages per SendMessageBatch call and consumed by the stage queue's consumer. Delivery is at-least-once:
    a duplicate costs idempotent dependency counts and idempotent submissions."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send(self, pid: str, run: int, keys: list[str], after: str | None) -> None:
        entries = [
            {
                "Id": str(i),
                "MessageBody": json.dumps(
                    {"pipelineId": pid, "run": run, "start": keys[k : k + KEYS_PER_MESSAGE], "after": after},
                    separators=(",", ":"),
                ),
            }
            for i, k in enumerate(range(0, len(keys), KEYS_PER_MESSAGE))
        ]
        for i in range(0, len(entries), SQS_BATCH):
            chunk = entries[i : i + SQS_BATCH]
            for _ in range(3):
                out = self._sqs.send_message_batch(QueueUrl=self._url, Entries=chunk)
                failed = {f["Id"] for f in out.get("Failed") or []}
                chunk = [e for e in chunk if e["Id"] in failed]
                if not chunk:
                    break
            if chunk:  # still refused: fail the invocation, so the event is retried (duplicates are harmless)
                raise UpstreamUnavailableError(f"SQS refused {len(chunk)} release messages")
