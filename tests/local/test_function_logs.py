"""The local stack runs every function in one process; each must still log under its own Lambda identity."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from batchplane_local.stack.functions import LocalFunction

from tests.local.conftest import local_function

HANDLER = """
from aws_lambda_powertools import Logger

logger = Logger(service="batchplane")
CALL_DURING = []  # a function the test has invoke while this one runs


@logger.inject_lambda_context
def lambda_handler(event, context):
    for call in CALL_DURING:
        call()
    logger.warning("%s done")
    return {}
"""


def _function(tmp_path: Path, name: str) -> LocalFunction:
    code = tmp_path / name
    code.mkdir()
    (code / "app.py").write_text(HANDLER % name)
    return local_function(code, name)


def test_a_function_logs_under_its_own_name_while_another_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two functions of the same service in one process (as the local stack runs them)
    suffix = uuid.uuid4().hex[:8]
    scheduled, events = _function(tmp_path, f"ScheduledSubmit{suffix}"), _function(tmp_path, f"JobEvents{suffix}")
    scheduled.load()
    events.load()
    assert scheduled.module is not None
    # WHEN the second is invoked while the first runs (another thread, in the local stack)
    scheduled.module.CALL_DURING.append(lambda: events.invoke({}))
    scheduled.invoke({})
    # THEN each line carries the function that logged it
    lines: list[dict[str, Any]] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    by_message = {line["message"]: line["function_name"] for line in lines}
    assert by_message == {f"{events.name} done": events.name, f"{scheduled.name} done": scheduled.name}
    assert {line["service"] for line in lines} == {"batchplane"}
