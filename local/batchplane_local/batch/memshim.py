"""Run a job's command and report its peak resident memory: ``python -I -S memshim.py PEAK_FILE -- ARGV...``.

The local Batch engine (which is big: moto, every function) cannot learn a job's peak from its own wait4: the kernel
counts the RSS of the parent image a process was forked or vforked from into ru_maxrss. This shim, small and
started fresh, forks the job itself, so the ru_maxrss it reaps is the job's own (with the descendants the job reaped),
writes it (bytes) to PEAK_FILE, and ends as the job ended (its exit code, or the signal that killed it)."""

import os
import signal
import sys

_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux


def main() -> None:
    peak_file, argv = sys.argv[1], sys.argv[3:]
    # SIGTERM (a timeout, a TerminateJob) is sent to the whole process group: it is the job's to handle, not ours.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)  # noqa: S606 - running the job's own argv is the point
        except OSError as exc:
            os.write(2, f"CannotStartContainerError: {exc}\n".encode())
            os._exit(127)
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    with open(peak_file, "w", encoding="ascii") as out:
        out.write(str(usage.ru_maxrss * _UNIT))
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
