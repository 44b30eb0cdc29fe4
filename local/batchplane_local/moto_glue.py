"""Every moto-specific thing the local stack relies on, in one place (moto is pinned in pyproject.toml; the tests in
tests/local/test_moto_glue.py fail loudly when moto changes under us).

What moto gives: DynamoDB, SQS, CloudWatch Logs, IAM, EventBridge pattern matching (and Step Functions' ASL
interpreter), over a real HTTP server, so our handlers reach it through AWS_ENDPOINT_URL like any AWS endpoint.
What it does not (see shared/notes/offline-aws.md) the local stack provides itself: Batch that runs jobs and emits
events (batchplane_local.batch), delivery of events to functions, schedules that fire."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import moto
from botocore.exceptions import ClientError
from moto.events.models import EventPattern
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from batchplane_local import moto_direct
from batchplane_local.moto_expressions import cached_condition_lexing, cached_condition_parsing, fast_update_validation
from batchplane_local.moto_items import (
    fast_sizes,
    linear_item_size,
    no_copy_before_projection,
    projected_attributes_only,
)
from batchplane_local.moto_updates import fast_updates

SUPPORTED = ("5.2",)  # the moto minor versions this glue was written against


def check_version() -> str:
    version = moto.__version__
    if not version.startswith(SUPPORTED):
        msg = f"moto {version} is not a version batchplane's local stack supports ({', '.join(SUPPORTED)}.x)"
        raise RuntimeError(msg)
    return version


@dataclass
class MotoServer:
    server: ThreadedMotoServer | None
    endpoint: str
    process: subprocess.Popen[bytes] | None = None
    channel: str | None = None  # a server in its own process: the Unix socket its requests go over (moto_channel)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # our own child, by its handle
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _speed_up_moto() -> None:
    """moto's server lists its own package directory on every request to route it (os.listdir + isdir per service):
    the list never changes while it runs, so it is read once."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "_batchplane_cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def cached() -> tuple[str, ...]:
        return modules

    cached._batchplane_cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = cached  # type: ignore[assignment]

    # Every request also lists its handler class's methods with inspect.getmembers (to check the action is one):
    # about 2% of the local stack's CPU in a pipeline. A class's methods do not change while it serves.
    from moto.core import responses

    names_of = functools.lru_cache(maxsize=256)(responses.method_names_from_class)
    responses.method_names_from_class = lambda clazz: list(names_of(clazz))


# AWS Step Functions: "In this mode [Inline], the Map state supports up to 40 concurrent iterations"; MaxConcurrency 0
# means "as many as possible", which for an inline Map is still 40. moto's interpreter starts one worker per item.
INLINE_MAP_MAX_CONCURRENCY = 40


def cap_inline_map_concurrency(limit: int = INLINE_MAP_MAX_CONCURRENCY) -> None:
    """Run at most ``limit`` iterations of an inline Map at once, as AWS does (moto: one thread per item when
    MaxConcurrency is 0). Distributed Maps are left alone. Idempotent."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import inline_iteration_component
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )

    component = inline_iteration_component.InlineIterationComponent
    real = component._eval_body
    if getattr(real, "_batchplane_capped", False):
        return

    def capped(self: Any, env: Any) -> None:
        if not isinstance(self, DistributedIterationComponent):
            eval_input = env.stack[-1]
            wanted = eval_input.max_concurrency
            eval_input.max_concurrency = limit if wanted == 0 else min(wanted, limit)
        real(self, env)

    capped._batchplane_capped = True  # type: ignore[attr-defined]
    component._eval_body = capped  # type: ignore[method-assign]


def keep_stopped_executions_aborted() -> None:
    """StopExecution makes an execution ABORTED, whatever its states do afterwards (AWS). moto's interpreter lets a
    later error overwrite the stop: a stopped Map iteration's error string is read as an ExecutionFailedEventDetails
    mapping, fails with ``AttributeError('str' object has no attribute 'get')``, and the stopped execution ends
    FAILED States.Runtime. Here an error after a stop leaves the program stopped. Idempotent."""
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    real = Environment.set_error
    if getattr(real, "_batchplane_keeps_stop", False):
        return

    def set_error(self: Any, error: Any) -> None:
        if isinstance(self._program_state, ProgramStopped):
            return
        real(self, error=error)

    set_error._batchplane_keeps_stop = True  # type: ignore[attr-defined]
    Environment.set_error = set_error  # type: ignore[method-assign]


def abort_at_once_on_stop() -> None:
    """AWS: StopExecution "stops an execution", which is ABORTED from then on (DescribeExecution says so at once, with
    its stopDate). moto's interpreter said RUNNING until the state in progress ended (a task waiting on its token:
    until it was answered, which an ABORTED execution's token no longer can be). The stop now marks it ABORTED and
    releases its waiting tasks, so its interpreter ends it (ExecutionAborted) instead of waiting forever. Idempotent."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeFailure
    from moto.stepfunctions.parser.backend.execution import Execution

    real = Execution.stop
    if getattr(real, "_batchplane_at_once", False):
        return

    def stop(self: Any, stop_date: Any, error: Any, cause: Any) -> None:
        real(self, stop_date=stop_date, error=error, cause=cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date
        pool = getattr(getattr(self.exec_worker, "env", None), "callback_pool_manager", None)
        for callback_id in list(getattr(pool, "_pool", {})):
            outcome = CallbackOutcomeFailure(callback_id=callback_id, error="States.Runtime", cause="execution stopped")
            with contextlib.suppress(Exception):  # a task already answered or timed out: nothing to release
                pool.notify(callback_id=callback_id, outcome=outcome)  # type: ignore[union-attr]

    stop._batchplane_at_once = True  # type: ignore[attr-defined]
    Execution.stop = stop  # type: ignore[method-assign]


_DYNAMODB = threading.RLock()


def serialised_dynamodb() -> None:
    """DynamoDB answers one request at a time, as one serialisable database (DynamoDB's transactions are isolated
    from every other write: "Isolation levels for DynamoDB transactions", serializable between a transaction and
    single-item writes). moto's server answers requests in threads with no lock: a TransactWriteItems applies its
    items one by one and puts them back one by one when one of its conditions fails, so a write to the same item by
    another thread in between was lost (a tenant's running-vCPU counter ended at -1 on a loaded run; a test
    reproduces it). The requests are still CPU in one interpreter, so nothing runs slower in parallel. Idempotent."""
    from moto.dynamodb.responses import DynamoHandler

    real = DynamoHandler.call_action
    if getattr(real, "_batchplane_serialised", False):
        return

    def call_action(self: Any) -> Any:
        with _DYNAMODB:
            return real(self)

    call_action._batchplane_serialised = True  # type: ignore[attr-defined]
    call_action._batchplane_real = real  # type: ignore[attr-defined] # the tests run both
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def cheap_transactions() -> None:
    """moto backs up every table a TransactWriteItems touches with a deep copy before applying it (so that it can
    roll a cancelled one back): O(table) per call, hundreds of milliseconds once a few hundred jobs are stored, where
    DynamoDB takes milliseconds. Only the items the transaction names can change, so only those are backed up and
    put back; what moto answers is unchanged."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import Table

    from batchplane_local import moto_index

    if getattr(models.DynamoDBBackend.transact_write_items, "_batchplane", False):
        return
    original = models.DynamoDBBackend.transact_write_items

    streams: list[bool] = []  # a table has had a stream enabled (never unset: copying is always right)
    real_stream = Table.set_stream_specification

    def set_stream_specification(self: Any, streams_given: Any) -> None:
        real_stream(self, streams_given)
        if self.stream_shard is not None:
            streams.append(True)

    class _TablesAsThey:
        """moto's module's ``copy``, except that a table is not deep-copied (its touched items are, below), nor an
        item while no table has a stream: UpdateItem copies the item it updates only to hand the old image to the
        table's stream (DynamoDBBackend.update_item's ``orig_item``), a tenth of its time."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if isinstance(value, Table) or (not streams and isinstance(value, Item)):
                return value
            return copy.deepcopy(value, memo)

    Table.set_stream_specification = set_stream_specification  # type: ignore[method-assign]
    models.copy = _TablesAsThey()  # type: ignore[assignment]

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Any, Any, Any, Any]] = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or {k: op["Item"][k] for k in (table.hash_key_attr, table.range_key_attr) if k}
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            rows = table.items.get(hash_key)
            current = (rows or {}).get(range_key) if range_key is not None else rows
            saved.append((table, hash_key, range_key, copy.deepcopy(current)))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                if range_key is None:
                    if item is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = item
                elif item is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = item
                moto_index.touched(table, hash_key, range_key)  # written behind Table's back: index it again
            raise

    transact._batchplane = True  # type: ignore[attr-defined]
    models.DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]


class _NotPlain(Exception):  # noqa: N818 - a signal, not an error: "let moto's serializer do this one"
    """An AttributeValue that `_plain_attribute_value` leaves to moto's own serializer."""


# AttributeValue members that are already in their wire form in moto's results: strings, numbers (as strings) and
# their sets, booleans and NULL, nested maps and lists of those. Binary values (B, BS) are base64-encoded by the
# serializer, so they, and anything unexpected, take moto's own path.
_SCALARS = frozenset(("S", "N"))
_FLAGS = frozenset(("BOOL", "NULL"))
_SETS = frozenset(("SS", "NS"))


def _plain_attribute_value(value: Any) -> dict[str, Any]:
    """What moto's JSON serializer makes of one DynamoDB AttributeValue (members in wire form, None members left
    out), without walking the AttributeValue shape member by member; _NotPlain when it holds anything else."""
    if not isinstance(value, dict):
        raise _NotPlain
    out: dict[str, Any] = {}
    for member, inner in value.items():
        if inner is None:
            continue
        if member in _SCALARS:
            out[member] = inner if type(inner) is str else str(inner)
        elif member in _FLAGS:
            out[member] = inner
        elif member in _SETS:
            out[member] = [x if type(x) is str else str(x) for x in inner]
        elif member == "M":
            out[member] = {k: _plain_attribute_value(v) for k, v in inner.items() if v is not None}
        elif member == "L":
            out[member] = [None if v is None else _plain_attribute_value(v) for v in inner]
        else:
            raise _NotPlain
    return out


def fast_attribute_values() -> None:
    """moto serialises every DynamoDB answer by walking the service model: each AttributeValue of each item is a
    structure of 10 members, each looked up under several aliases. A Query of a few hundred items cost more than
    everything else the local stack did while a pipeline ran (a third of its CPU, profiled). Its results already hold
    AttributeValues in wire form, so those are copied as they are (`_plain_attribute_value`); the bytes answered are
    the same (tests/local/test_moto_glue.py compares both paths). Idempotent."""
    from moto.core.serialize import BaseJSONSerializer

    real = BaseJSONSerializer._serialize_type_structure
    if getattr(real, "_batchplane_plain", False):
        return

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and self.service_model.service_name == "dynamodb":
            try:
                plain = _plain_attribute_value(value)
            except _NotPlain:
                pass
            else:
                serialized[self.get_serialized_name(shape, key)] = plain
                return
        real(self, serialized, value, shape, key)

    serialize_structure._batchplane_plain = True  # type: ignore[attr-defined]
    serialize_structure._batchplane_real = real  # type: ignore[attr-defined] # the tests compare both paths
    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]


_IN_QUERY = threading.local()


def unsorted_query_candidates() -> None:
    """moto's Query starts from every item of the table sorted by primary key (``Table.all_items``), then keeps the
    partition asked for and sorts that again by the key it queries (the index's keys then the table's, or the range
    key): the first sort, of the whole table, was a tenth of the local stack's CPU in a 1,000-job pipeline and decides
    nothing. Within a Query the items come unsorted; a Scan (whose order is the table's) is unchanged. Idempotent."""
    from moto.dynamodb.models.table import Table

    real_all_items, real_query = Table.all_items, Table.query
    if getattr(real_query, "_batchplane_unsorted", False):
        return

    def all_items(self: Any) -> Any:
        if not getattr(_IN_QUERY, "active", False):
            return real_all_items(self)
        # each list() is taken in one step under the GIL: another request's write to the table (moto's server runs
        # requests in threads) cannot change a dict while it is walked ("dictionary changed size during iteration")
        if self.range_key_attr:
            return [item for rows in list(self.items.values()) for item in list(rows.values())]
        return list(self.items.values())

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        _IN_QUERY.active = True
        try:
            return real_query(self, *args, **kwargs)
        finally:
            _IN_QUERY.active = False

    query._batchplane_unsorted = True  # type: ignore[attr-defined]
    query._batchplane_real = real_query  # type: ignore[attr-defined] # the tests compare both
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def cached_update_expressions(size: int = 4096) -> None:
    """moto parses an update expression twice per UpdateItem (its handler, to find the placeholders used, then its
    backend), tokenising and building the syntax tree each time: most of a tenth of the local stack's CPU, for a few
    dozen distinct expression strings (the values are placeholders). One parse per distinct string is kept: the tree
    is only read by the handler, and the backend's validator deep-copies it before resolving it against an item.
    An expression that does not parse raises as before (exceptions are not cached). Idempotent."""
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    real = UpdateExpressionParser.__dict__["make"].__func__
    if getattr(real, "_batchplane_cached", False):
        return

    @functools.lru_cache(maxsize=size)
    def parse(expression: str) -> Any:
        return real(UpdateExpressionParser, expression)

    def make(cls: Any, expression_str: str) -> Any:
        return parse(expression_str) if cls is UpdateExpressionParser else real(cls, expression_str)

    make._batchplane_cached = True  # type: ignore[attr-defined]
    make._batchplane_real = real  # type: ignore[attr-defined] # the tests compare both
    UpdateExpressionParser.make = classmethod(make)  # type: ignore[method-assign,assignment]


def _patch_moto() -> None:
    check_version()
    _speed_up_moto()
    serialised_dynamodb()
    cheap_transactions()
    cached_update_expressions()
    fast_update_validation()
    fast_updates()
    cached_condition_lexing()
    cached_condition_parsing()
    fast_attribute_values()
    unsorted_query_candidates()
    linear_item_size()
    projected_attributes_only()
    moto_direct.fast_request_ids()
    from batchplane_local.moto_index import index_queries  # it imports this module

    index_queries()
    fast_sizes()
    no_copy_before_projection()  # around every other Query patch
    cap_inline_map_concurrency()
    keep_stopped_executions_aborted()
    abort_at_once_on_stop()


def start_server(host: str = "127.0.0.1", port: int = 0, *, own_process: bool = False) -> MotoServer:
    """moto's server, with Step Functions executing state machines (its ASL interpreter). Its service integrations
    (sqs:sendMessage.waitForTaskToken...) call back into this server: moto finds it through MOTO_PORT.

    ``own_process``: run it in a child interpreter (`python -m batchplane_local.moto_glue`), so that emulating AWS
    does not share a GIL with the functions calling it (the local stack's own process runs every handler)."""
    if own_process:
        process = subprocess.Popen(  # noqa: S603 - our own module, this interpreter
            [sys.executable, "-m", "batchplane_local.moto_glue", host, str(port)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert process.stdout is not None  # noqa: S101 - asked for above
        line = process.stdout.readline().decode().strip()
        if not line.startswith("MOTO "):
            process.kill()
            process.wait()
            raise RuntimeError(f"moto's server did not start: {line!r}")
        endpoint, _, channel = line.removeprefix("MOTO ").partition(" ")
        os.environ["MOTO_PORT"] = endpoint.rsplit(":", 1)[1]
        return MotoServer(None, endpoint, process, channel or None)
    _patch_moto()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    real_host, real_port = server.get_host_and_port()
    endpoint = f"http://{real_host}:{real_port}"
    os.environ["MOTO_PORT"] = str(real_port)
    _configure(endpoint)
    return MotoServer(server, endpoint)


def wsgi_app(server: ThreadedMotoServer) -> Any:
    """The WSGI app a started in-process moto server serves (moto keeps its werkzeug server private)."""
    inner = getattr(server, "_server", None)
    app = getattr(inner, "app", None)
    if app is None:
        msg = "moto's ThreadedMotoServer no longer keeps its werkzeug server as _server (see moto_glue.wsgi_app)"
        raise RuntimeError(msg)
    return app


DYNAMODB_TARGET = "DynamoDB_20120810."  # the X-Amz-Target prefix of every DynamoDB operation (JSON 1.0 protocol)


def direct_dynamodb(request: Any) -> tuple[int, dict[str, str], bytes] | None:
    """A DynamoDB request (a botocore ``AWSPreparedRequest``, signed) answered by moto's DynamoDB handler as moto's
    own in-process mode answers one (``moto.core.botocore_stubber``: the request normalised, the service's
    ``dispatch`` called), not through moto's Flask app: the same handler, the same patches on it (``call_action``'s
    lock, the index, the expression work), the same status and body; what it skips is Flask's request and app
    contexts, its URL routing and its response object, about a fifth of a DynamoDB call's CPU (2.1-2.4 -> 1.75-1.85 ms).
    None for any other request (the WSGI app answers it). tests/local/test_loopback.py compares the answers, errors
    included, with moto's server over TCP byte for byte."""
    target = request.headers.get("X-Amz-Target")
    if isinstance(target, bytes):
        target = target.decode("latin-1")
    if not target or not target.startswith(DYNAMODB_TARGET):
        return None
    from moto.core.exceptions import HTTPException
    from moto.core.request import normalize_request
    from moto.dynamodb.responses import DynamoHandler

    try:
        from batchplane_local.loopback import request_body

        operation = target[len(DYNAMODB_TARGET) :]
        quick = moto_direct.answer(operation, request.url, request.headers, request_body(request.body))
        if quick is not None:
            status, headers, body = quick
        else:
            normalized = normalize_request(request)
            status, headers, body = DynamoHandler.dispatch(normalized, normalized.raw_url, normalized.headers)
    except HTTPException as error:  # as moto's stubber answers one
        status, headers, body = error.code or 500, dict(error.get_headers()), error.get_body()
    except ClientError as error:  # as moto's Flask view answers one (convert_to_flask_response)
        status, headers, body = 400, {}, error.response["Error"]["Message"]
    data = body.encode() if isinstance(body, str) else bytes(body or b"")
    out = {str(k): str(v) for k, v in dict(headers).items()}
    out.setdefault("Content-Length", str(len(data)))
    return int(status), out, data


def _configure(endpoint: str) -> None:
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    request = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST")  # noqa: S310 - loopback
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        answer.read()
    logging.getLogger("moto").setLevel(logging.CRITICAL)  # the interpreter logs failed executions as stack traces


def _answer_here(endpoint: str, app: Any) -> Any:
    """How the child answers a request from its channel (``moto_channel``): as the in-process stack's loopback
    does (DynamoDB by moto's handler, the rest by moto's WSGI app)."""
    from botocore.awsrequest import AWSPreparedRequest
    from botocore.compat import HTTPHeaders

    from batchplane_local.loopback import Loopback

    loopback = Loopback()
    loopback.add(endpoint, app, direct_dynamodb)

    def answer(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        request_headers = HTTPHeaders()
        for name, value in headers:
            request_headers[name] = value
        request = AWSPreparedRequest(method, url, request_headers, body, stream_output=False)
        response = loopback(request)
        assert response is not None  # noqa: S101 - the loopback serves this endpoint
        return response.status_code, dict(response.headers.items()), response.content

    return answer


def _serve_here(host: str, port: int) -> None:
    """The child process of ``start_server(own_process=True)``: serve until terminated, print ``MOTO <endpoint>
    <channel>`` (its HTTP endpoint, and the Unix socket of its channel)."""
    import signal
    import tempfile
    import threading

    from batchplane_local.moto_channel import ChannelServer

    _patch_moto()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    real_host, real_port = server.get_host_and_port()
    endpoint = f"http://{real_host}:{real_port}"
    os.environ["MOTO_PORT"] = str(real_port)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _configure(endpoint)
    folder = tempfile.mkdtemp(prefix="batchplane-moto-")
    channel = ChannelServer(os.path.join(folder, "moto.sock"), _answer_here(endpoint, wsgi_app(server)))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"MOTO {endpoint} {channel.path}", flush=True)
    parent = os.getppid()
    while not done.wait(1.0):
        if os.getppid() != parent:  # the stack's process died without stopping us: end with it
            break
    channel.close()
    server.stop()
    with contextlib.suppress(OSError):  # closing the listener removed it already, unless it could not
        os.unlink(channel.path)
    with contextlib.suppress(OSError):
        os.rmdir(folder)


class Pattern:
    """An EventBridge event pattern, matched as EventBridge matches (moto's implementation)."""

    def __init__(self, pattern: dict[str, Any]) -> None:
        self._pattern = EventPattern.load(json.dumps(pattern))

    def matches(self, event: dict[str, Any]) -> bool:
        return bool(self._pattern.matches_event(event))


if __name__ == "__main__":
    _serve_here(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0)
