"""Lambda SnapStart runtime hooks (python3.12+: the ``snapshot_restore_py`` module the managed runtime carries).

With SnapStart on a published version, Lambda runs the function's init once, runs the before-snapshot hooks, and
snapshots the memory; each new execution environment then resumes from that snapshot and runs the after-restore
hooks (within 10 s) before its first request. So:

- **before the snapshot, prime**: what every container would otherwise do on its first request (AWS clients made,
  services built, pydantic models and Powertools' resolver warmed) is done once and shared by every restore. Priming
  makes no AWS call: nothing of the caller's or the account's is in the snapshot.
- **after a restore, make unique** what the snapshot made the same in every environment: the ``random`` module's
  state (backoff jitter) is reseeded from the OS, and per-container identities (the sweeper lease's holder) are made
  again. ``os.urandom`` (job ids, claim tokens) reads the kernel, which Lambda reseeds on restore. No connection is
  open in the snapshot (priming calls nothing), so none needs renewing; botocore opens its pools on first use.

Outside Lambda (tests, the local stack, a runtime without the module) the import fails and the hooks are kept here
only: :func:`run_before_snapshot` and :func:`run_after_restore` run them in Lambda's order (before-snapshot in the
reverse order of registration, after-restore in the order of registration), so tests can exercise them."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

Hook = Callable[[], Any]
_before: list[Hook] = []
_after: list[Hook] = []

try:  # present only in Lambda's managed Python runtimes (3.12+)
    from snapshot_restore_py import (  # type: ignore[import-not-found, unused-ignore]
        register_after_restore as _lambda_after,
    )
    from snapshot_restore_py import (  # type: ignore[import-not-found, unused-ignore]
        register_before_snapshot as _lambda_before,
    )
except ImportError:  # tests and the local stack: the hooks stay in the lists above
    _lambda_before = None
    _lambda_after = None

IN_LAMBDA_RUNTIME = _lambda_before is not None


def before_snapshot[H: Hook](hook: H) -> H:
    """Register ``hook`` to run before Lambda snapshots the initialised environment (a decorator)."""
    _before.append(hook)
    if _lambda_before is not None:
        _lambda_before(hook)
    return hook


def after_restore[H: Hook](hook: H) -> H:
    """Register ``hook`` to run when an environment resumes from the snapshot (a decorator)."""
    _after.append(hook)
    if _lambda_after is not None:
        _lambda_after(hook)
    return hook


def run_before_snapshot() -> None:
    """What Lambda does before the snapshot: every before-snapshot hook, last registered first."""
    for hook in reversed(_before):
        hook()


def run_after_restore() -> None:
    """What Lambda does after a restore: every after-restore hook, in the order they were registered."""
    for hook in _after:
        hook()


def build_models() -> list[str]:
    """Build now every pydantic model of batchplane's loaded modules that deferred its build (``defer_build``: the
    wire models and views are built on first use, not at import, so a cold start without SnapStart builds only what
    its request needs). Priming calls this, so the snapshot holds every model built, as if they were built at import.
    Returns the names of the models it built."""
    import sys

    from pydantic import BaseModel

    built: list[str] = []
    for name, module in list(sys.modules.items()):
        if not (name == "batchplane" or name.startswith("batchplane.")) or module is None:
            continue
        for value in list(vars(module).values()):
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == name
                and not value.__pydantic_complete__
            ):
                value.model_rebuild()
                built.append(f"{name}.{value.__qualname__}")
    return built


def registered() -> tuple[tuple[Hook, ...], tuple[Hook, ...]]:
    """The hooks registered so far (before-snapshot, after-restore)."""
    return tuple(_before), tuple(_after)


@after_restore
def reseed_random() -> None:
    """Every restored environment would draw the same ``random`` sequence (backoff jitter): reseed from the OS."""
    random.seed()
