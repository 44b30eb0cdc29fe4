"""The domain and the services are typed through: records carry the enums and literals that exist, so nothing there
needs a `type: ignore` to reach a policy."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "batchplane" / "batchplane"
IGNORE = "type: " + "ignore"  # split, so this file is no match for a search of the tree


@pytest.mark.parametrize("layer", ["domain", "services"])
def test_no_type_ignore_is_left(layer: str) -> None:
    # GIVEN every module of the layer
    modules = sorted((PACKAGE / layer).rglob("*.py"))
    assert modules
    # WHEN each line is read
    found = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in modules
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if IGNORE in line
    ]
    # THEN none silences the type checker
    assert found == []
