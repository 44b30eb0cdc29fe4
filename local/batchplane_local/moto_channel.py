"""Requests to a moto server in its own process, over a Unix socket kept open per calling thread, not over TCP.

moto runs in a child interpreter by default (``moto_glue.start_server(own_process=True)``;
``BATCHPLANE_MOTO_PROCESS=0`` keeps it in the stack's process) so that emulating AWS does not share a GIL with the
functions calling it. Over its werkzeug server each AWS call opened a loopback TCP connection and a server thread
(werkzeug's development server closes every connection after one answer), which cost more than the second core gave
back. Here the request botocore built, authorised and signed (the same ``before-send`` point as
``batchplane_local.loopback``) is sent as its method, URL, headers and body over a connection the calling thread
keeps; the child answers it as the in-process stack does (DynamoDB by moto's handler, ``moto_glue.direct_dynamodb``;
every other service by moto's WSGI app) and sends back status, headers and body. The werkzeug server still serves
everyone else (the real ``aws`` CLI, the Step Functions interpreter calling back). tests/local/test_loopback.py
compares the answers with moto's server over TCP byte for byte.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable, Mapping
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from batchplane_local.loopback import request_body

Answer = tuple[int, Mapping[str, str], bytes]
# what werkzeug's server answers for a request its app raised on (a few bad requests escape moto as Python errors):
# the caller gets a 500, which botocore retries, and its connection stays usable
INTERNAL_ERROR = b"Internal Server Error"
INTERNAL_ERROR_HEADERS = {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(INTERNAL_ERROR))}


class ChannelServer:
    """The child's end: answers each request that arrives on ``path`` with ``answer(method, url, headers, body)``,
    one thread per connected caller (a caller's requests are answered in order)."""

    def __init__(self, path: str, answer: Callable[[str, str, list[tuple[str, str]], bytes], Answer]) -> None:
        self.path = path
        self._answer = answer
        self._listener = Listener(path, family="AF_UNIX")
        threading.Thread(target=self._accept, name="moto-channel", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(conn,), name="moto-channel-conn", daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv_bytes()
                except (EOFError, OSError):
                    return
                method, url, headers, body = pickle.loads(data)  # noqa: S301 - our parent's request
                try:
                    status, answer_headers, answer_body = self._answer(method, url, headers, body)
                except Exception:  # noqa: BLE001 - as moto's server answers a request it failed on: 500
                    status, answer_headers, answer_body = 500, INTERNAL_ERROR_HEADERS, INTERNAL_ERROR
                conn.send_bytes(pickle.dumps((status, list(answer_headers.items()), answer_body)))

    def close(self) -> None:
        self._listener.close()


class Channel:
    """The parent's end: a ``Loopback`` direct handler that sends every request for the child's endpoint over the
    calling thread's connection (made on its first request) and returns the child's answer."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = Client(self.path, family="AF_UNIX")
            self._local.conn = conn
        return conn

    def __call__(self, request: Any) -> Answer:
        headers = [
            (str(k), v.decode("latin-1") if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()
        ]
        conn = self._connection()
        try:
            conn.send_bytes(pickle.dumps((request.method, request.url, headers, request_body(request.body))))
            answer = conn.recv_bytes()
        except (EOFError, OSError):  # the connection broke: this thread's next request opens a new one
            self._local.conn = None
            conn.close()
            raise
        status, answer_headers, answer_body = pickle.loads(answer)  # noqa: S301 - our child's answer
        return int(status), dict(answer_headers), bytes(answer_body)
