"""SnapStart's runtime hooks (batchplane.snapstart): importable where Lambda's ``snapshot_restore_py`` is absent,
handed to it where it is present, run in Lambda's order, and the after-restore hooks make each environment unique."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from batchplane import snapstart

pytestmark = pytest.mark.unit
LAYER = Path(__file__).resolve().parents[2] / "layers" / "batchplane"


def test_the_hooks_import_where_lambdas_module_is_absent() -> None:
    # GIVEN this interpreter (no snapshot_restore_py: it ships only in Lambda's managed runtimes)
    # THEN batchplane.snapstart imported anyway and keeps its hooks itself
    assert snapstart.IN_LAMBDA_RUNTIME is False
    _, after = snapstart.registered()
    assert snapstart.reseed_random in after


def test_where_the_module_exists_every_hook_is_registered_with_it() -> None:
    # GIVEN a fresh interpreter with a stand-in snapshot_restore_py (the runtime's module, same two functions)
    script = textwrap.dedent(
        """
        import sys, types
        seen = []
        fake = types.ModuleType("snapshot_restore_py")
        fake.register_before_snapshot = lambda f, *a, **k: seen.append(("before", f.__name__))
        fake.register_after_restore = lambda f, *a, **k: seen.append(("after", f.__name__))
        sys.modules["snapshot_restore_py"] = fake
        from batchplane import snapstart, wiring
        @snapstart.before_snapshot
        def prime(): pass
        assert snapstart.IN_LAMBDA_RUNTIME
        print(sorted(seen))
        """
    )
    # WHEN batchplane's hooks are defined
    env = {**os.environ, "PYTHONPATH": str(LAYER)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env).stdout
    # THEN Lambda's module received them: the reseed, the container identity, and the handler's priming
    assert out.strip() == str(
        sorted([("after", "reseed_random"), ("after", "renew_container_identity"), ("before", "prime")])
    )


def test_hooks_run_in_lambdas_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN three hooks of each kind registered in order
    monkeypatch.setattr(snapstart, "_before", [])
    monkeypatch.setattr(snapstart, "_after", [])
    ran: list[str] = []
    for n in ("1", "2", "3"):
        snapstart.before_snapshot(lambda n=n: ran.append(f"before{n}"))
        snapstart.after_restore(lambda n=n: ran.append(f"after{n}"))
    # WHEN Lambda snapshots, then restores
    snapstart.run_before_snapshot()
    snapstart.run_after_restore()
    # THEN before-snapshot hooks ran last registered first, after-restore ones in their order (AWS's documented order)
    assert ran == ["before3", "before2", "before1", "after1", "after2", "after3"]


def test_after_a_restore_random_draws_differ_from_the_snapshots() -> None:
    # GIVEN the random state a snapshot would hold (every restored environment starts from it)
    random.seed(12345)
    state = random.getstate()
    in_snapshot = [random.random() for _ in range(4)]
    # WHEN two environments are restored from it and run the after-restore hooks
    draws = []
    for _ in range(2):
        random.setstate(state)
        snapstart.run_after_restore()
        draws.append([random.random() for _ in range(4)])
    # THEN neither repeats the snapshot's sequence, nor each other's (backoff jitter is not shared)
    assert in_snapshot not in draws
    assert draws[0] != draws[1]
