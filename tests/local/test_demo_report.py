"""`make demo` names every expectation that was not met and exits non-zero, whichever scenario it was in."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from batchplane_local import demo
from rich.console import Console

pytestmark = pytest.mark.unit


class FakeStack:
    functions: dict[str, Any] = {}
    routes: list[Any] = []
    stopped = False

    def __init__(self, *_: Any, **__: Any) -> None:
        pass

    def start(self) -> None:
        pass

    def serve_api(self, _port: int) -> str:
        return "http://127.0.0.1:1"

    def stop(self) -> None:
        FakeStack.stopped = True


class FakeHttp:
    def put(self, *_: Any, **__: Any) -> None:
        pass

    post = put


class FakeClient:
    def __init__(self, _url: str) -> None:
        self._http = FakeHttp()

    def lineage(self, job_id: str) -> dict[str, Any]:
        return {"jobId": job_id}

    def logs(self, _job_id: str) -> dict[str, Any]:
        return {"lines": []}

    def close(self) -> None:
        pass


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=out, width=200, color_system=None))
    monkeypatch.setattr(demo, "LocalStack", FakeStack)
    monkeypatch.setattr(demo, "BatchplaneClient", FakeClient)
    monkeypatch.setattr(demo, "lineage_tree", str)
    # the admission scenario talks to the API on its own clients; its own expectations are judged in its e2e test
    monkeypatch.setattr(demo.demo_admission, "run", lambda *_: None)
    FakeStack.stopped = False
    return out


def failing(titles: set[str]) -> Any:
    """A `_play` whose scenarios end as if run, the ones in ``titles`` not as expected."""

    def play(_client: Any, scenarios: list[demo.Scenario], _timeout: float, failures: list[str]) -> bool:
        for s in scenarios:
            s.job_id = f"job-{s.title}"
            if s.title in titles:
                failures.append(f"{s.title}: expected SUCCEEDED, got FAILED")
        return not any(s.title in titles for s in scenarios)

    return play


def test_a_failure_in_the_first_scenarios_is_reported_and_the_rest_still_run(
    output: io.StringIO, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a demo whose OOM scenario and stuck-RUNNABLE scenario both end unexpectedly
    monkeypatch.setattr(demo, "_play", failing({"OOM → memory x2", "stuck RUNNABLE → On-Demand"}))
    # WHEN the demo runs
    code = demo.run(tmp_path)
    # THEN it exits 1, naming both, and the stack was stopped
    text = output.getvalue()
    assert code == 1
    assert "expectations not met" in text
    assert "OOM → memory x2: expected SUCCEEDED, got FAILED" in text
    assert "stuck RUNNABLE → On-Demand: expected SUCCEEDED, got FAILED" in text
    assert FakeStack.stopped


def test_an_error_that_stops_the_demo_is_reported_too(
    output: io.StringIO, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a demo whose API stops answering mid-way
    def broken(*_: Any) -> bool:
        raise ConnectionError("the API went away")

    monkeypatch.setattr(demo, "_play", broken)
    # WHEN the demo runs
    code = demo.run(tmp_path)
    # THEN it exits 1 and says why
    assert code == 1
    assert "the demo stopped early" in output.getvalue()
    assert "the API went away" in output.getvalue()


def test_every_expectation_held_exits_zero(
    output: io.StringIO, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a demo where every scenario ends as expected
    monkeypatch.setattr(demo, "_play", failing(set()))
    # WHEN it runs THEN it exits 0 and says so
    assert demo.run(tmp_path) == 0
    assert "every expectation held" in output.getvalue()
    # AND it printed where the web console is
    assert "http://127.0.0.1:1/console/" in output.getvalue()
