"""The local Batch engine's side of its fork server (``forkserver.py``): jobs started as processes of their own,
each with its exit and its peak resident memory reported when it ends.

``ForkServer.spawn`` answers a ``Child``, which the runner watches as it would a ``subprocess.Popen``: its ``pid``
(which is also its process group's), ``stdout``, ``poll()``, ``wait(timeout)``, ``returncode`` (negative: the signal
that killed it), and ``peak`` (bytes, from wait4). A fork server that died (killed from outside) takes its running
jobs with it: they are killed and reported killed (SIGKILL), and the next spawn starts a new server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

_SERVER = Path(__file__).with_name("forkserver.py")
_HEADER = struct.Struct(">I")
START_TIMEOUT_S = 10.0


class Child:
    """A job's process, as far as the engine needs it: like ``subprocess.Popen``'s."""

    def __init__(self, pid: int, server: int = 0) -> None:
        self.pid = pid
        self.server = server  # which fork server started it (ForkServer.starts at the time)
        self.stdout: IO[bytes] | None = None  # the read end of its output pipe
        self.returncode: int | None = None
        self.peak = 0
        self._ended = threading.Event()

    def _end(self, returncode: int, peak: int) -> None:
        self.returncode, self.peak = returncode, peak
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
        assert self.returncode is not None  # noqa: S101 - set before the event
        return self.returncode


class ForkServer:
    """One ``forkserver.py`` process and the thread that reads what it reports; ``close()`` ends both."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one request at a time: a request's answer is the next pid line
        self._answered = threading.Condition()
        self._children: dict[int, Child] = {}  # started and not yet reported ended
        self._answers = 0
        self._last: Child | None = None  # the child of the latest answer
        self._conn: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0  # fork servers started (one for the engine's life, unless one was killed)

    def _start(self) -> socket.socket:
        if self._process is not None:
            self._process.poll()  # a server that died: reaped
        ours, theirs = socket.socketpair()
        with theirs:
            self._process = subprocess.Popen(  # noqa: S603 - our own program, by absolute path
                [sys.executable, "-I", "-S", str(_SERVER), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1
        self._conn = ours
        reader = threading.Thread(target=self._read, args=(ours, self.starts), name="batch-forkserver", daemon=True)
        reader.start()
        return ours

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], cwd: str) -> Child:
        """Start ``argv`` in ``cwd`` with exactly ``env``; raises ValueError (a NUL byte, as Popen does) or OSError."""
        if not argv:
            raise ValueError("no command")
        fields = [cwd, str(len(argv)), *argv, *(f"{name}={value}" for name, value in env.items())]
        if any("\0" in text for text in fields) or any("=" in name or not name for name in env):
            raise ValueError("embedded null byte, or an environment name that is empty or has '='")
        payload = b"\0".join(os.fsencode(text) for text in fields)
        read_end, write_end = os.pipe()
        try:
            child = self._request(payload, write_end)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        child.stdout = os.fdopen(read_end, "rb")
        return child

    def _request(self, payload: bytes, out: int) -> Child:
        """Send one request (``out``, the output pipe's write end, alongside) and wait for its answer."""
        with self._lock:
            for _ in range(2):  # a server that died before it answered: a new one, once
                conn = self._conn or self._start()
                with self._answered:
                    before = self._answers
                try:
                    socket.send_fds(conn, [_HEADER.pack(len(payload))], [out])
                    conn.sendall(payload)
                except OSError:  # it died before its reader noticed
                    self._lost(conn, self.starts)
                    continue
                # it may also die after the request was sent: a job it had just forked still held its end of the
                # socket, so the send went through, and the server is found gone (its reader's end) unanswered
                with self._answered:
                    sent = before, conn
                    self._answered.wait_for(
                        lambda sent=sent: self._answers > sent[0] or self._conn is not sent[1], START_TIMEOUT_S
                    )
                    if self._answers > before and self._last is not None:
                        return self._last
                    if self._conn is conn:
                        break  # alive, and no answer in time: not sent again
        raise OSError("the local Batch fork server did not start the job")

    def _read(self, conn: socket.socket, server: int) -> None:
        try:
            for line in conn.makefile("rb"):
                words = line.split()
                with self._answered:
                    if len(words) == 1:  # a started job's pid
                        pid = int(words[0])
                        self._last = self._children[pid] = Child(pid, server)
                        self._answers += 1
                        self._answered.notify_all()
                        continue
                    child = self._children.pop(int(words[1]), None)
                if child is not None:
                    child._end(os.waitstatus_to_exitcode(int(words[2])), int(words[3]))
        except (OSError, ValueError):
            pass
        finally:
            self._lost(conn, server)

    def _lost(self, conn: socket.socket, server: int) -> None:
        """Server ``server`` is gone (closed, or killed): its jobs cannot be reported any more, so they are killed
        (its own only: a new server's jobs are not its)."""
        with self._answered:
            if self._conn is conn:
                self._conn = None
            orphans = [c for c in self._children.values() if c.server == server]
            for child in orphans:
                del self._children[child.pid]
            self._answered.notify_all()
        for child in orphans:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            child._end(-signal.SIGKILL, 0)

    def close(self) -> None:
        """End the server (its socket closed, it exits) and wait for it."""
        with self._lock:
            conn, process = self._conn, self._process
            self._conn = self._process = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        if process is not None:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
