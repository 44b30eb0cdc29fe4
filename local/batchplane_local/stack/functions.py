"""Lambda, as the local stack runs it: a function's code loaded from its artifact (as one warm container), invoked
synchronously with Lambda's context object, stopped at its Timeout, under its own IAM role; and the async
invocation's retries and on-failure destination."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import queue
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from batchplane_local import iam
from batchplane_local.stack.account import ACCOUNT, REGION
from batchplane_local.stack.template import UnsupportedTemplate

# The Lambda runtime this interpreter is: the only one whose functions the local stack runs.
THIS_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def require_runtime(logical_id: str, runtime: str) -> None:
    """The local stack runs a function's code in this interpreter: refuse a function the template gives another
    runtime, so that nothing passes here on a Python that Lambda does not run it on."""
    if runtime != THIS_RUNTIME:
        msg = (
            f"{logical_id}: the template runs it on {runtime or 'no runtime'}, the local stack on {THIS_RUNTIME}: "
            f"run the local stack from a virtualenv of {runtime or 'its runtime'} (`make install` makes one)"
        )
        raise UnsupportedTemplate(msg)


class LambdaContext:
    """What Lambda passes as context."""

    def __init__(self, name: str, timeout_s: float, memory: int) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = f"local/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_LOAD_LOCK = threading.Lock()


@contextlib.contextmanager
def _own_powertools_loggers(function: str) -> Any:
    """Lambda runs each function in its own container. In this one process every Powertools ``Logger()`` of a service
    is the same ``logging.Logger`` (named after the service) with one formatter, whose keys ``inject_lambda_context``
    appends: one function's invocation would log under another's ``function_name``. While a function's code loads,
    its Loggers get a logging.Logger (handler, formatter, keys) of their own; the ``service`` key is unchanged."""
    from aws_lambda_powertools.logging.logger import Logger

    with _LOAD_LOCK:
        real = Logger._get_logger

        def own(self: Logger) -> logging.Logger:
            if self.child:
                return real(self)
            return logging.getLogger(f"{self.service}[{function}]")  # no dot: not a child of the shared logger

        Logger._get_logger = own  # type: ignore[method-assign]
        try:
            yield
        finally:
            Logger._get_logger = real  # type: ignore[method-assign]


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    timeout: float
    memory: int
    environment: dict[str, str]
    principal: iam.Principal
    max_retries: int = 2
    on_failure_queue: str | None = None
    module: ModuleType | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    inbox: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    invocations: int = 0
    errors: int = 0

    def load(self) -> None:
        module_name, _, _ = self.handler.rpartition(".")
        path = self.code_dir / f"{module_name.replace('.', '/')}.py"
        spec = importlib.util.spec_from_file_location(f"batchplane_fn_{self.code_dir.name}", path)
        if spec is None or spec.loader is None:
            msg = f"cannot load {path}"
            raise RuntimeError(msg)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        with _own_powertools_loggers(self.name):
            spec.loader.exec_module(module)
        self.module = module

    def invoke(self, event: dict[str, Any]) -> Any:
        """Synchronous invoke (RequestResponse): one at a time per function, as one warm container. An invocation
        still running at the function's Timeout is stopped, as Lambda stops it, and fails with LambdaTimeout: the
        caller (async invoke, event source mapping, API) then does what Lambda does for that source."""
        if self.module is None:
            self.load()
        fn = getattr(self.module, self.handler.rpartition(".")[2])
        with self.lock, iam.acting_as(self.principal):
            self.invocations += 1
            context = LambdaContext(self.name, self.timeout, self.memory)
            with _deadline(self.timeout, self.name, context.aws_request_id):
                return fn(event, context)


class LambdaTimeout(Exception):  # noqa: N818 - Lambda's own words for it
    """``Task timed out after N seconds``: the invocation ran past its function's Timeout and was stopped."""


@contextlib.contextmanager
def _deadline(seconds: float, name: str, request_id: str) -> Any:
    """Stop the calling thread's invocation at ``seconds``: a Python thread cannot be killed, so LambdaTimeout is
    raised in it (asynchronously, at its next bytecode; a call blocked in C, such as a socket read, is stopped when it
    returns, and the SDK's read timeout bounds that)."""
    import ctypes

    thread_id = threading.get_ident()
    lock = threading.Lock()
    finished = threading.Event()
    fired = threading.Event()

    def stop() -> None:
        with lock:
            if not finished.is_set():
                fired.set()
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(LambdaTimeout))

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    try:
        yield
    except LambdaTimeout:
        msg = f"{request_id} Task timed out after {seconds:.2f} seconds ({name})"
        raise LambdaTimeout(msg) from None
    finally:
        with lock:
            finished.set()
            timer.cancel()
            if fired.is_set():  # the exception may not have been delivered yet: take it back before leaving
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)


def async_worker(fn: LocalFunction, sqs: Callable[[], Any], log: Callable[[str], None]) -> None:
    """Lambda's async invocation of each event put in ``fn.inbox`` (`invoke_async`), until None."""
    while True:
        event = fn.inbox.get()
        if event is None:
            return
        invoke_async(fn, event, sqs, log)


def invoke_async(fn: LocalFunction, event: dict[str, Any], sqs: Callable[[], Any], log: Callable[[str], None]) -> Any:
    """One asynchronous invocation (Event): retries (MaximumRetryAttempts), then the on-failure destination (an SQS
    queue, reached through the client ``sqs()`` gives). Returns what the handler returned, None when it failed (the
    caller of an async invocation never sees it: the local stack's own scheduling may)."""
    for attempt in range(fn.max_retries + 1):
        try:
            return fn.invoke(event)
        except Exception:  # noqa: BLE001 - Lambda catches everything a handler raises
            fn.errors += 1
            log(f"{fn.logical_id} failed (attempt {attempt + 1}):\n{traceback.format_exc()}")
            time.sleep(min(0.2 * (attempt + 1), 1.0))
    if fn.on_failure_queue:
        body = {"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": event}
        sqs().send_message(QueueUrl=fn.on_failure_queue, MessageBody=json.dumps(body))
    return None
