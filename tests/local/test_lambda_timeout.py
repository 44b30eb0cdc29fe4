"""A local invocation that runs past its function's Timeout is stopped and fails, as Lambda stops it; the async
invoke then retries it as Lambda retries that source and sends it to the on-failure destination."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from batchplane_local import iam
from batchplane_local.stack.functions import LambdaTimeout, LocalFunction
from batchplane_local.stack.runtime import LocalStack

pytestmark = pytest.mark.unit

HANDLER = """
import time

calls = []


def lambda_handler(event, context):
    calls.append(context.get_remaining_time_in_millis())
    deadline = time.monotonic() + event["seconds"]
    while time.monotonic() < deadline:  # busy in Python, as a handler stuck in a slow loop is
        time.sleep(0.01)
    return {"done": event["seconds"]}
"""


def function(tmp_path: Path, timeout: float) -> LocalFunction:
    (tmp_path / "app.py").write_text(HANDLER)
    return LocalFunction(
        logical_id="SlowFunction",
        name="stack-SlowFunction",
        code_dir=tmp_path,
        handler="app.lambda_handler",
        timeout=timeout,
        memory=128,
        environment={},
        principal=iam.Principal("SlowFunction", "role", ()),
    )


def test_an_invocation_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    fn = function(tmp_path, timeout=0.3)
    # WHEN the handler would run for 5 s under a 0.3 s timeout
    started = time.monotonic()
    with pytest.raises(LambdaTimeout, match=r"Task timed out after 0\.30 seconds"):
        fn.invoke({"seconds": 5})
    # THEN it is stopped at its timeout, and the same container serves the next invocation normally
    assert time.monotonic() - started < 2
    assert fn.invoke({"seconds": 0.05}) == {"done": 0.05}
    time.sleep(0.5)  # past the first deadline: nothing fires late into this thread
    assert fn.module is not None
    assert fn.module.calls[0] <= 300


def test_an_invocation_within_its_timeout_is_left_alone(tmp_path: Path) -> None:
    fn = function(tmp_path, timeout=2)
    assert fn.invoke({"seconds": 0.1}) == {"done": 0.1}


class RecordingSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    def send_message(self, **kwargs: str) -> None:
        self.sent.append(kwargs)


def test_an_async_invocation_that_times_out_is_retried_then_sent_to_its_destination(tmp_path: Path) -> None:
    # GIVEN an async (event) invocation of a function that always runs past its timeout, retried twice
    fn = function(tmp_path, timeout=0.2)
    fn.max_retries = 2
    fn.on_failure_queue = "https://sqs.example/dlq"
    stack = LocalStack(tmp_path)
    sqs = RecordingSqs()
    stack._client = lambda _service: sqs  # type: ignore[method-assign]
    fn.inbox.put({"seconds": 5})
    fn.inbox.put(None)
    # WHEN Lambda's async invoke runs it
    stack._async_worker(fn)
    # THEN it ran 1 + 2 times, each stopped at its timeout, then went to the on-failure destination
    assert fn.invocations == 3
    assert len(sqs.sent) == 1
    assert '"condition": "RetriesExhausted"' in sqs.sent[0]["MessageBody"]


def test_invocations_start_no_thread_of_their_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a warm function (its deadlines' watcher started by the first invocation)
    fn = function(tmp_path, timeout=2)
    assert fn.invoke({"seconds": 0}) == {"done": 0}
    started: list[str] = []
    real = threading.Thread.start
    invoking = threading.current_thread()

    def counted(self: threading.Thread) -> None:
        if threading.current_thread() is invoking:  # what the invocations start, not any other test's leftovers
            started.append(self.name)
        real(self)

    monkeypatch.setattr(threading.Thread, "start", counted)
    # WHEN it is invoked 20 times
    for _ in range(20):
        assert fn.invoke({"seconds": 0}) == {"done": 0}
    # THEN no thread was started for them (a timer each was a thread started and ended per invocation)
    assert started == []
