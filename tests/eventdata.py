"""One loader for the sample events in events/: the tests read the same files `sam local invoke` users pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """The sample event ``events/<name>.json`` (``name`` without the ``.json``), freshly parsed, so a test may
    change its copy."""
    path = EVENTS_DIR / f"{name.removesuffix('.json')}.json"
    with path.open(encoding="utf-8") as handle:
        event: dict[str, Any] = json.load(handle)
    return event
