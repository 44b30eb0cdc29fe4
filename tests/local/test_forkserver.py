"""The local Batch engine starts jobs through one small fork server: each job's exit and its own peak memory come
back as a Popen would give them, and jobs get the signal dispositions a container's process has."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time

import psutil
import pytest
from batchplane_local.batch.spawn import Child, ForkServer

from tests.local.conftest import Env, alive

MIB = 1024 * 1024


@pytest.fixture
def forks() -> ForkServer:
    server = ForkServer()
    yield server
    server.close()


def _run(forks: ForkServer, argv: list[str], **env: str) -> tuple[Child, bytes]:
    child = forks.spawn(argv, {**os.environ, **env}, os.getcwd())
    assert child.wait(20) == child.returncode
    assert child.stdout is not None
    with child.stdout:
        return child, child.stdout.read()


def test_a_job_gets_its_exit_code_output_environment_and_own_process_group(forks: ForkServer) -> None:
    # GIVEN a job that prints its variable, its process group and session, and exits 3
    script = 'echo "$V"; ps -o pgid= -o sid= -p $$; echo err >&2; exit 3'
    # WHEN the fork server runs it
    child, out = _run(forks, ["sh", "-c", script], V="a=é")
    # THEN its exit code, both output streams and its variable came back, and it leads its own group and session
    lines = out.decode().split("\n")
    assert child.returncode == 3
    assert lines[0] == "a=é"
    assert lines[1].split() == [str(child.pid), str(child.pid)]
    assert lines[2] == "err"


def test_a_job_killed_by_a_signal_reports_it_as_popen_does(forks: ForkServer) -> None:
    child, _ = _run(forks, ["sh", "-c", "kill -TERM $$"])
    assert child.returncode == -signal.SIGTERM


def test_a_job_has_sigpipe_at_its_default_as_a_containers_process_has(forks: ForkServer) -> None:
    # GIVEN a pipeline whose writer outlives its reader (Python ignores SIGPIPE; a job must not inherit that)
    # WHEN it runs THEN the writer is ended by SIGPIPE, silently, instead of failing on EPIPE with a message
    child, out = _run(forks, ["sh", "-c", "yes | head -n 1"])
    assert (child.returncode, out) == (0, b"y\n")


def test_the_peak_is_the_jobs_own_not_the_engines(forks: ForkServer) -> None:
    # GIVEN this (large) test process, and a job that allocates 60 MiB
    grow = "b = b'x' * (60 * 1024 * 1024)"
    # WHEN each runs
    small, _ = _run(forks, ["true"])
    big, _ = _run(forks, [sys.executable, "-c", grow])
    # THEN a trivial job's peak is the fork server's small image, not this process's; the big one's has its 60 MiB
    assert small.peak < 16 * MIB < psutil.Process().memory_info().rss
    assert 60 * MIB < big.peak < 100 * MIB


def test_a_command_that_cannot_be_run_says_why_and_exits_127(forks: ForkServer) -> None:
    child, out = _run(forks, ["/no/such/program"])
    assert child.returncode == 127
    assert out.startswith(b"CannotStartContainerError: ")


@pytest.mark.parametrize(
    ("argv", "env"), [(["echo", "a\x00b"], {}), (["true"], {"V": "a\x00b"}), (["true"], {"A=B": "c"}), ([], {})]
)
def test_what_the_os_cannot_take_is_refused_before_anything_starts(
    forks: ForkServer, argv: list[str], env: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match=r"null byte|environment name|no command"):
        forks.spawn(argv, env, os.getcwd())
    assert forks.starts == 0 or _run(forks, ["true"])[0].returncode == 0  # and the server still serves


def test_a_killed_fork_server_takes_its_jobs_with_it_and_the_next_job_starts_a_new_one(forks: ForkServer) -> None:
    # GIVEN a running job
    child = forks.spawn(["sleep", "30"], dict(os.environ), os.getcwd())
    assert forks.starts == 1
    assert child.poll() is None
    server = psutil.Process(child.pid).parent()
    assert server is not None
    # WHEN its fork server is killed from outside
    server.kill()
    # THEN the job is reported killed, and is gone
    assert child.wait(10) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while alive(child.pid):
        assert time.monotonic() < deadline, "the job outlived its fork server"
        time.sleep(0.01)
    # AND the next job starts a new server and runs
    assert _run(forks, ["true"])[0].returncode == 0
    assert forks.starts == 2


def test_a_job_sent_to_a_fork_server_that_just_died_starts_on_a_new_one(forks: ForkServer) -> None:
    # GIVEN a fork server killed from outside
    first = forks.spawn(["sleep", "30"], dict(os.environ), os.getcwd())
    server = psutil.Process(first.pid).parent()
    assert server is not None
    server.kill()
    server.wait(5)
    # WHEN jobs are sent at once (before or after the stack noticed), one of them long-running
    runner = forks.spawn(["sleep", "30"], dict(os.environ), os.getcwd())
    # THEN they run on a new server, and the old server's end does not take the new server's job with it
    assert first.wait(10) == -signal.SIGKILL
    assert _run(forks, ["true"])[0].returncode == 0
    assert forks.starts == 2
    time.sleep(0.2)
    assert runner.poll() is None
    os.killpg(runner.pid, signal.SIGKILL)
    assert runner.wait(10) == -signal.SIGKILL


def test_a_job_sent_to_a_server_that_dies_before_answering_starts_on_a_new_one(forks: ForkServer) -> None:
    # GIVEN a server whose end of the socket is still open (a job it had just forked held it) as it dies: the
    # request goes through, and the server is found gone with no answer
    ours, theirs = socket.socketpair()
    forks._conn = ours
    forks.starts += 1
    threading.Thread(target=forks._read, args=(ours, forks.starts), daemon=True).start()
    threading.Timer(0.2, theirs.close).start()
    # WHEN a job is sent to it
    child = forks.spawn(["true"], dict(os.environ), os.getcwd())
    # THEN it is sent again to a new server, once, and runs
    assert child.wait(10) == 0
    assert forks.starts == 2


def test_the_engine_starts_every_job_from_one_fork_server(env: Env) -> None:
    # GIVEN ten jobs WHEN they run
    jobs = [env.submit(["true"], jobName=f"j{i}") for i in range(10)]
    # THEN all succeeded, and one process (the fork server) was started to start them: no interpreter per job
    assert [env.batch.wait_for(j)["status"] for j in jobs] == ["SUCCEEDED"] * 10
    assert env.batch.fork_servers_started == 1
