"""Lambda runs as many invocations of a function at once as it has free execution environments, each environment
one invocation at a time with globals of its own; the local stack does the same (``LocalFunction.containers``)."""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from batchplane_local.stack.functions import LocalFunction

from tests.local.conftest import local_function

HANDLER = """
import sys
import threading
import time
import types

shared = sys.modules.setdefault("%(shared)s", types.ModuleType("%(shared)s"))  # one per process, as a test's tally
if not hasattr(shared, "lock"):
    shared.lock, shared.now, shared.most = threading.Lock(), 0, 0
ENVIRONMENT = object()  # this environment's own global
CALLS = []


def lambda_handler(event, context):
    with shared.lock:
        shared.now += 1
        shared.most = max(shared.most, shared.now)
    CALLS.append(event["n"])
    time.sleep(event.get("sleep", 0))
    with shared.lock:
        shared.now -= 1
    return {"environment": id(ENVIRONMENT), "calls": list(CALLS)}
"""


def _function(tmp_path: Path, containers: int) -> tuple[LocalFunction, str]:
    name = f"Fn{uuid.uuid4().hex[:8]}"
    shared = f"_batchplane_test_{name}"
    code = tmp_path / name
    code.mkdir()
    (code / "app.py").write_text(HANDLER % {"shared": shared})
    fn = local_function(code, name, containers=containers)
    return fn, shared


def test_invocations_run_at_once_up_to_the_functions_environments(tmp_path: Path) -> None:
    # GIVEN a function the local stack may run in two environments
    fn, shared = _function(tmp_path, containers=2)
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def call(n: int) -> None:
        answer = fn.invoke({"n": n, "sleep": 0.3})
        with lock:
            answers.append(answer)

    # WHEN four invocations come at once
    threads = [threading.Thread(target=call, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # THEN two ran at a time, never more, each environment with its own globals, one invocation at a time in each
    assert sys.modules[shared].most == 2
    environments = {a["environment"] for a in answers}
    assert len(environments) == 2
    last = {a["environment"]: a["calls"] for a in answers if len(a["calls"]) == 2}
    assert sorted(n for calls in last.values() for n in calls) == [0, 1, 2, 3]
    assert fn.invocations == 4


def test_one_invocation_after_another_reuses_the_warm_environment(tmp_path: Path) -> None:
    # GIVEN a function with room for four environments
    fn, _ = _function(tmp_path, containers=4)
    # WHEN it is invoked three times, one after another
    answers = [fn.invoke({"n": n}) for n in range(3)]
    # THEN one environment served them all: a new one starts only when every started one is busy
    assert {a["environment"] for a in answers} == {answers[0]["environment"]}
    assert answers[-1]["calls"] == [0, 1, 2]
