"""`batchplane local up` as a process: what it prints at start, and what SIGTERM leaves behind (nothing)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.conftest import ENTRY_POINT, ROOT, _free_port

pytestmark = pytest.mark.e2e
PY = sys.executable


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for(check: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen in {timeout}s")
        time.sleep(0.1)


def test_sigterm_stops_the_jobs_and_removes_the_work_directories(tmp_path: Path) -> None:
    # GIVEN `batchplane local up` started as a user starts it (the installed entry point, no PYTHONPATH)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONPATH"}
    out = tmp_path / "stack.log"
    with out.open("w") as log:
        stack = subprocess.Popen(
            [str(ENTRY_POINT), "local", "up", "--port", str(port), "--root", str(ROOT)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert stack.poll() is None, out.read_text()
            try:
                return httpx.get(f"{base}/_local/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(healthy, "the stack's start", timeout=90)
        # AND a job that writes down its pid and working directory, then runs for minutes
        where = tmp_path / "job.txt"
        script = (
            f"import os, time; open({str(where)!r}, 'w').write(f'{{os.getpid()}} {{os.getcwd()}}'); time.sleep(300)"
        )
        answer = httpx.post(f"{base}/jobs", json={"name": "long", "command": [PY, "-c", script]}, timeout=30)
        assert answer.status_code == 202, answer.text
        _wait_for(lambda: where.exists() and " " in where.read_text(), "the job's start")
        pid_text, cwd = where.read_text().split(" ", 1)
        pid, work_dir = int(pid_text), Path(cwd).parent
        assert _alive(pid)
        assert work_dir.is_dir()

        # WHEN the stack gets SIGTERM
        stack.send_signal(signal.SIGTERM)
        code = stack.wait(timeout=30)

        # THEN it stopped cleanly, the job's process is gone and the local Batch's work directory removed
        assert code == 0, out.read_text()[-3000:]
        _wait_for(lambda: not _alive(pid), "the job process's end", timeout=5)
        assert not work_dir.exists()
    finally:
        if stack.poll() is None:
            stack.kill()
            stack.wait()

    # AND at start it had printed its endpoints, the aws command lines to reach them, and that state is in memory
    text = out.read_text()
    assert f"http://127.0.0.1:{port}" in text
    assert f"http://127.0.0.1:{port}/console/" in text  # the web console
    assert "lives in memory: it is lost when the stack stops" in text
    batch_line = re.search(r"aws batch describe-job-queues --endpoint-url (http://127\.0\.0\.1:\d+)", text)
    scan_line = re.search(r"aws dynamodb scan --table-name (\S+) --endpoint-url (http://127\.0\.0\.1:\d+)", text)
    assert batch_line, text
    assert scan_line, text
    assert "export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1" in text


def test_the_printed_aws_command_lines_work(tmp_path: Path) -> None:
    if shutil.which("aws") is None:
        pytest.skip("no aws command line on this machine")
    # GIVEN a running stack and the command lines it printed
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONPATH"}
    out = tmp_path / "stack.log"
    with out.open("w") as log:
        stack = subprocess.Popen(
            [str(ENTRY_POINT), "local", "up", "--port", str(port), "--root", str(ROOT)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    try:

        def printed() -> bool:
            assert stack.poll() is None, out.read_text()
            return "lives in memory" in out.read_text()

        _wait_for(printed, "the stack's banner", timeout=90)
        text = out.read_text()
        commands = [line.strip() for line in text.splitlines() if line.strip().startswith("aws ")]
        creds = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
        # WHEN each is run with the printed credentials
        for command in commands:
            done = subprocess.run(
                command.split(), env={**env, **creds}, capture_output=True, text=True, timeout=120, check=False
            )
            # THEN each answers
            assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:], out.read_text()[-3000:])
        assert any("describe-job-queues" in c for c in commands)
    finally:
        stack.terminate()
        try:
            stack.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stack.kill()
            stack.wait()
