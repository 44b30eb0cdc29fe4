"""How events reach functions locally, beside EventBridge rules (routed by the stack): a job's output shipped to
CloudWatch Logs as the awslogs driver ships it, SQS event source mappings polled as Lambda polls them, and
EventBridge rules' schedules."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from batchplane_local.stack.account import ACCOUNT, REGION
from batchplane_local.stack.functions import LocalFunction
from batchplane_local.stack.provision import BATCH_LOG_GROUP, SqsSource

LOG_FLUSH_SECONDS = 0.2  # how often job output is shipped to CloudWatch Logs while the job runs (awslogs: 5 s)
MAX_LOG_EVENT_BYTES = 256 * 1024 - 26  # PutLogEvents: an event is at most 256 KiB, counting 26 bytes of overhead
MAX_LOG_BATCH_BYTES = 1_048_576  # PutLogEvents: a batch is at most 1 MiB (messages + 26 bytes each) ...
MAX_LOG_BATCH_EVENTS = 10_000  # ... and 10,000 events


class JobLogs:
    """What the awslogs driver does in AWS: a container's output goes to CloudWatch Logs (/aws/batch/job) while it
    runs, in batches (PutLogEvents)."""

    def __init__(self, logs: Callable[[], Any], log: Callable[[str], None]) -> None:
        self._logs = logs
        self.log = log
        self._lines: queue.Queue[tuple[str, int, str]] = queue.Queue()
        self._lock = threading.Lock()
        self._streams: set[str] = set()

    def add(self, stream: str, timestamp: int, line: str) -> None:
        """A line a container wrote (the local Batch's ``on_log``)."""
        self._lines.put((stream, timestamp, line))

    def ship(self, stopping: threading.Event) -> None:
        """Flush every LOG_FLUSH_SECONDS until ``stopping``."""
        while not stopping.wait(LOG_FLUSH_SECONDS):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a failed batch must not stop the shipping of the next ones
                self.log(f"shipping job logs failed:\n{traceback.format_exc()}")

    def flush(self) -> None:
        """Put every line written so far to its stream of /aws/batch/job, in order, within PutLogEvents' limits."""
        with self._lock:
            by_stream: dict[str, list[dict[str, Any]]] = {}
            while True:
                try:
                    stream, timestamp, line = self._lines.get_nowait()
                except queue.Empty:
                    break
                message = line.encode()[:MAX_LOG_EVENT_BYTES].decode(errors="ignore") or " "  # no empty events
                by_stream.setdefault(stream, []).append({"timestamp": timestamp, "message": message})
            logs = self._logs()
            for stream, events in by_stream.items():
                if stream not in self._streams:
                    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                        logs.create_log_stream(logGroupName=BATCH_LOG_GROUP, logStreamName=stream)
                    self._streams.add(stream)
                for batch in _log_batches(events):
                    logs.put_log_events(logGroupName=BATCH_LOG_GROUP, logStreamName=stream, logEvents=batch)


def poll_sqs(
    source: SqsSource, fn: LocalFunction, sqs: Any, *, stopping: threading.Event, log: Callable[[str], None]
) -> None:
    """Lambda's SQS event source mapping: batches of up to BatchSize, the queue's own visibility timeout, partial
    batch failures (ReportBatchItemFailures) left on the queue to be retried once the message is visible again."""
    while not stopping.is_set():
        try:
            messages = sqs.receive_message(
                QueueUrl=source.url,
                MaxNumberOfMessages=min(source.batch_size, 10),
                WaitTimeSeconds=1,
                AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            ).get("Messages", [])
        except Exception:  # noqa: BLE001 - the server is stopping
            if stopping.is_set():
                return
            time.sleep(0.5)
            continue
        if not messages:
            continue
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": (m.get("Attributes") or {}).get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": (m.get("Attributes") or {}).get("SentTimestamp", str(int(time.time() * 1000))),
                },
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": source.arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
        try:
            result = fn.invoke({"Records": records}) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])} if source.partial else set()
        except Exception:  # noqa: BLE001 - the whole batch returns to the queue
            log(f"{fn.logical_id} failed:\n{traceback.format_exc()}")
            continue
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=source.url, ReceiptHandle=m["ReceiptHandle"])


def fire_rule(
    period: float,
    fn: LocalFunction,
    rule_arn: str,
    stopping: threading.Event,
    *,
    constant: dict[str, Any] | None = None,
) -> None:
    """An EventBridge rule's schedule: a "Scheduled Event" to its target function every ``period`` seconds, or the
    target's constant input instead when it has one (EventBridge sends a target's Input in place of the event)."""
    while not stopping.wait(period):
        fn.inbox.put(dict(constant) if constant is not None else scheduled_event(rule_arn))


def scheduled_event(rule_arn: str) -> dict[str, Any]:
    """The "Scheduled Event" an EventBridge rule's schedule sends its targets."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    }


def _log_batches(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Events cut into PutLogEvents calls that each respect its size and count limits."""
    batch: list[dict[str, Any]] = []
    size = 0
    for event in events:
        cost = len(event["message"].encode()) + 26
        if batch and (size + cost > MAX_LOG_BATCH_BYTES or len(batch) >= MAX_LOG_BATCH_EVENTS):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += cost
    if batch:
        yield batch
