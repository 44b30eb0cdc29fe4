"""Start jobs' commands and report how each ended with its peak resident memory: ``python -I -S forkserver.py FD``.

One of these runs beside the local Batch engine for its life (``spawn.ForkServer`` starts it). The engine (which is
big: moto, every function) cannot learn a job's peak from its own wait4: the kernel counts the RSS of the image a
process was forked or vforked from into ru_maxrss. This process is small (the standard library only), so a job it
forks starts from its few MiB, as a job started by a fresh small shim did; and it is started once, not per job (a
Python interpreter's start was 22 ms of CPU a job, a fifth of a 1,000-job pipeline's whole run on two cores).

FD is one end of a Unix stream socket. Requests: a 4-byte big-endian length, then NUL-separated fields (the working
directory, the argument count, the arguments, then the environment's ``NAME=value`` entries), with the write end of
the job's output pipe passed alongside (SCM_RIGHTS, one descriptor a request, in order). Answers, one line each:
``P`` (the pid) for each request in order (the job is forked: its own session and process group, stdin /dev/null,
stdout and stderr the pipe), then ``X P S B`` when it is reaped (S as wait4 gives it; B its ru_maxrss in bytes, which
covers the descendants it reaped). A job whose command cannot be run writes ``CannotStartContainerError: <why>`` to
its output and exits 127. When the socket closes, this ends. No JSON: the fewer modules this imports, the smaller
the image every job is forked from (its RSS is in each job's peak: about 8 MiB).
"""

import _socket  # socket's C half: socket.py would add enum, selectors and more to every job's image
import array
import os
import select
import signal
import struct
import sys

_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
_HEADER = struct.Struct(">I")
# Descriptors above stdio are closed in the job (this process's own are few, and non-inheritable anyway): Linux closes
# a range in one call, elsewhere closerange closes one by one, so a limit of millions is not walked there.
_FD_CEILING = os.sysconf("SC_OPEN_MAX") if sys.platform.startswith("linux") else 4096
# Signals Python sets to ignored at its start: an ignored signal stays ignored across exec, so the job gets them back
# at their defaults, as a container's process has them (as subprocess's restore_signals does).
_RESTORE = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name))


def _parse(payload: bytes) -> tuple[bytes, list[bytes], dict[bytes, bytes]]:
    fields = payload.split(b"\0")
    cwd, argc = fields[0], int(fields[1])
    argv = fields[2 : 2 + argc]
    env = dict(entry.split(b"=", 1) for entry in fields[2 + argc :])
    return cwd, argv, env


def _recv_fds(conn: _socket.socket, size: int, most: int) -> tuple[bytes, list[int]]:
    """``socket.recv_fds`` without socket.py: bytes, and the descriptors passed with them."""
    fds = array.array("i")
    data, ancillary, _, _ = conn.recvmsg(size, _socket.CMSG_LEN(most * fds.itemsize))
    for level, kind, blob in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(blob[: len(blob) - len(blob) % fds.itemsize])
    return data, list(fds)


def _child(payload: bytes, out: int, conn: _socket.socket, wake: int) -> None:
    """In the forked child: become the job (never returns)."""
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, *_RESTORE):
            signal.signal(sig, signal.SIG_DFL)
        conn.close()
        os.close(wake)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, _FD_CEILING)
        cwd, argv, env = _parse(payload)
        os.chdir(cwd)
        os.execvpe(argv[0], argv, env)  # noqa: S606 - running the job's own argv is the point
    except BaseException as exc:  # noqa: BLE001 - whatever stops the exec, the job failed to start and says why
        try:
            os.write(2, f"CannotStartContainerError: {exc}\n".encode(errors="replace"))
        finally:
            os._exit(127)


def _reap(conn: _socket.socket) -> None:
    """Report every child that has ended."""
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn.sendall(b"X %d %d %d\n" % (pid, status, usage.ru_maxrss * _UNIT))


def serve(conn: _socket.socket) -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a Python handler, so that the wakeup fd is written
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a job's group is signalled, never this process
    buffer, fds = b"", []
    while True:
        ready, _, _ = select.select([conn, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 512)
            _reap(conn)
        if conn not in ready:
            continue
        data, new_fds = _recv_fds(conn, 1 << 16, 16)
        if not data:
            return
        buffer += data
        fds.extend(new_fds)
        while len(buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer)
            if len(buffer) < _HEADER.size + size:
                break
            request = buffer[_HEADER.size : _HEADER.size + size]
            buffer = buffer[_HEADER.size + size :]
            out = fds.pop(0)
            pid = os.fork()
            if pid == 0:
                _child(request, out, conn, wake_r)
            os.close(out)
            conn.sendall(b"%d\n" % pid)
        _reap(conn)  # a job that ended while this was forking others


if __name__ == "__main__":
    serve(_socket.socket(fileno=int(sys.argv[1])))
