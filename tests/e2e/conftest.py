"""The local stack, started as users start it (`batchplane local up`), driven over HTTP only."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINT = Path(sys.executable).parent / "batchplane"  # what `make install` puts in .venv/bin


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30)

    def submit(self, body: dict[str, Any], **headers: str) -> dict[str, Any]:
        r = self.http.post("/jobs", json=body, headers=headers)
        assert r.status_code == 202, r.text
        return r.json()

    def job(self, job_id: str) -> dict[str, Any]:
        r = self.http.get(f"/jobs/{job_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait(self, job_id: str, statuses: set[str], timeout: float = 60, attempts: int | None = None) -> dict[str, Any]:
        """Poll until the job is in one of ``statuses`` (and has ``attempts`` attempts, if given)."""
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] in statuses and (attempts is None or len(job["attempts"]) >= attempts):
                return job
            time.sleep(0.2)
        msg = f"job {job_id} did not reach {statuses} in {timeout}s: {job}"
        raise AssertionError(msg)

    def wait_until(self, job_id: str, check: Any, what: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if check(job):
                return job
            time.sleep(0.2)
        msg = f"job {job_id}: {what} did not happen in {timeout}s: {job}"
        raise AssertionError(msg)

    def wait_attempt(self, job_id: str, attempt: int, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if len(job["attempts"]) >= attempt and job["attempts"][attempt - 1]["status"] in statuses:
                return job
            time.sleep(0.2)
        msg = f"attempt {attempt} of {job_id} did not reach {statuses} in {timeout}s: {job}"
        raise AssertionError(msg)


def _started(proc: subprocess.Popen[bytes], base: str, log: Path, *, retry: bool) -> bool:
    """True once the stack answers its health check; False when it could not bind its port and ``retry``."""
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/_local/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            if retry and "Address already in use" in log.read_text():
                return False
            pytest.fail(f"the local stack did not start:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


@contextlib.contextmanager
def local_stack(
    tmp: Path, *extra: str, allow_access_denied: bool = False, env: dict[str, str] | None = None
) -> Iterator[Api]:
    """`batchplane local up` in a subprocess, on a free port, until the block ends. Every function runs under its own
    enforced IAM role: a call its role refused anywhere in the block fails the test (unless the test expects it).
    ``env``: variables the stack's process (and so its functions) runs with besides the test's own."""
    log = tmp / "stack.log"
    # exactly as a user starts it: the installed entry point, no PYTHONPATH (the local stack mounts the layer itself)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONPATH"} | (env or {})
    for tries_left in (2, 1, 0):  # a free port can be taken by another process before the stack binds it
        port = _free_port()
        args = [str(ENTRY_POINT), "local", "up", "--port", str(port), "--root", str(ROOT), *extra]
        with log.open("w") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        if _started(proc, base, log, retry=tries_left > 0):
            break
    try:
        api = Api(base)
        yield api
        report = api.http.get("/_local/iam").json()
        assert report["enforced"], "the local stack ran without IAM enforcement"
        if not allow_access_denied:
            refused = sorted({(d["function"], d["action"], d["resource"]) for d in report["denied"]})
            assert refused == [], f"calls the functions' roles refused (function, action, resource): {refused}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


# The e2e stack: a fast sweeper, 4 vCPUs per capacity type, schedules 30x faster than their expressions say.
E2E_STACK_ARGS = ("--sweep-interval", "0.5", "--spot-vcpus", "4", "--on-demand-vcpus", "4", "--schedule-scale", "30")


# Package-scoped: the stack stops when the e2e tests are done, not at the end of the session (an idle local stack
# still runs its sweeper and dispatcher schedules, and would slow every later test).
@pytest.fixture(scope="package")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with local_stack(tmp_path_factory.mktemp("local-stack"), *E2E_STACK_ARGS) as api:
        yield api
