"""Lambda, as the local stack runs it: a function's code loaded from its artifact (as one warm container), invoked
synchronously with Lambda's context object, stopped at its Timeout, under its own IAM role; and the async
invocation's retries and on-failure destination."""

from __future__ import annotations

import contextlib
import heapq
import importlib.util
import itertools
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
def _own_powertools_loggers(function: str, container: int = 0) -> Any:
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
            # no dot: not a child of the shared logger; each environment its own (the keys an invocation appends)
            return logging.getLogger(f"{self.service}[{function}]" + (f"#{container}" if container else ""))

        Logger._get_logger = own  # type: ignore[method-assign]
        try:
            yield
        finally:
            Logger._get_logger = real  # type: ignore[method-assign]


# How many execution environments (containers) of one function the local stack runs at once. Lambda runs an
# asynchronous invocation (a Batch event, a schedule) or an API request in any free environment of the function and
# starts another when none is free, so the events of one job may be handled at once and out of order.
CONTAINERS = 4


@dataclass
class _Container:
    """One execution environment: the function's module loaded on its own (its globals, its Powertools Logger),
    running one invocation at a time. The layer's modules are shared by the process, as every function's are."""

    index: int
    module: ModuleType


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
    containers: int = CONTAINERS  # at most this many invocations at once, each in its own environment
    inbox: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    invocations: int = 0
    errors: int = 0
    _idle: queue.LifoQueue[_Container] = field(default_factory=queue.LifoQueue, repr=False)
    _first: _Container | None = field(default=None, repr=False)
    _started: int = field(default=0, repr=False)  # environments started or starting
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def module(self) -> ModuleType | None:
        """The first environment's module (loaded by ``load``)."""
        return self._first.module if self._first is not None else None

    def load(self) -> None:
        """Start the first environment (its init: the module's import), if none is started yet."""
        with self._lock:
            if self._first is not None:
                return
            self._first = self._load(0)
            self._started = 1
        self._idle.put(self._first)

    def _load(self, index: int) -> _Container:
        module_name, _, _ = self.handler.rpartition(".")
        path = self.code_dir / f"{module_name.replace('.', '/')}.py"
        spec_name = f"batchplane_fn_{self.code_dir.name}" + (f"_{index}" if index else "")
        spec = importlib.util.spec_from_file_location(spec_name, path)
        if spec is None or spec.loader is None:
            msg = f"cannot load {path}"
            raise RuntimeError(msg)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        with _own_powertools_loggers(self.name, index):
            spec.loader.exec_module(module)
        return _Container(index, module)

    def _take(self) -> _Container:
        """A free environment: a warm one (the last used first), a new one while fewer than ``containers`` run,
        else the first to be freed."""
        self.load()
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            grow = self._started < self.containers
            if grow:
                index = self._started
                self._started += 1  # counted before it loads: no other thread starts one past the limit
        if not grow:
            return self._idle.get()
        try:
            return self._load(index)
        except BaseException:
            with self._lock:
                self._started -= 1
            raise

    def invoke(self, event: dict[str, Any]) -> Any:
        """Synchronous invoke (RequestResponse), in a free environment of the function (one invocation at a time
        in each). An invocation still running at the function's Timeout is stopped, as Lambda stops it, and fails
        with LambdaTimeout: the caller (async invoke, event source mapping, API) then does what Lambda does for
        that source."""
        container = self._take()
        try:
            fn = getattr(container.module, self.handler.rpartition(".")[2])
            with iam.acting_as(self.principal):
                with self._lock:
                    self.invocations += 1
                context = LambdaContext(self.name, self.timeout, self.memory)
                with _deadline(self.timeout, self.name, context.aws_request_id):
                    return fn(event, context)
        finally:
            self._idle.put(container)


class LambdaTimeout(Exception):  # noqa: N818 - Lambda's own words for it
    """``Task timed out after N seconds``: the invocation ran past its function's Timeout and was stopped."""


class _Armed:
    """One invocation's deadline: fired (LambdaTimeout raised in its thread) unless finished first."""

    __slots__ = ("finished", "fired", "lock", "thread_id")

    def __init__(self, thread_id: int) -> None:
        self.thread_id = thread_id
        self.lock = threading.Lock()
        self.finished = False
        self.fired = False

    def fire(self) -> None:
        import ctypes

        with self.lock:
            if not self.finished:
                self.fired = True
                stop = ctypes.py_object(LambdaTimeout)
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), stop)

    def disarm(self) -> None:
        import ctypes

        with self.lock:
            self.finished = True
            if self.fired:  # the exception may not have been delivered yet: take it back before leaving
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), None)


class _Watchdog:
    """One thread that fires every invocation's deadline when it comes. A ``threading.Timer`` per invocation was a
    thread started and ended per invocation (thousands in a pipeline's run), each start waiting for the GIL."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, _Armed]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> _Armed:
        armed = _Armed(threading.get_ident())
        with self._cond:
            heapq.heappush(self._due, (time.monotonic() + seconds, next(self._order), armed))
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="lambda-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()
        return armed

    def _watch(self) -> None:
        with self._cond:
            while True:
                while self._due and self._due[0][2].finished:  # ended in time: forgotten
                    heapq.heappop(self._due)
                if not self._due:
                    self._cond.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._due)[2].fire()


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def _deadline(seconds: float, name: str, request_id: str) -> Any:
    """Stop the calling thread's invocation at ``seconds``: a Python thread cannot be killed, so LambdaTimeout is
    raised in it (asynchronously, at its next bytecode; a call blocked in C, such as a socket read, is stopped when it
    returns, and the SDK's read timeout bounds that)."""
    armed = _WATCHDOG.arm(seconds)
    try:
        yield
    except LambdaTimeout:
        msg = f"{request_id} Task timed out after {seconds:.2f} seconds ({name})"
        raise LambdaTimeout(msg) from None
    finally:
        armed.disarm()


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
