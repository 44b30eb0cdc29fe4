"""The house rules that hold for the code as a whole, checked on its source (ast, nothing imported): services and
handlers reach adapters only through wiring, the domain depends on nothing outside itself, and no production module
grows past 600 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "batchplane" / "batchplane"
MAX_LINES = 600
# Production code whose size is checked: the layer, the handlers, and what runs on a user's machine (CLI, local stack).
SIZED = (PACKAGE, ROOT / "functions", ROOT / "local")
# Modules still over the limit while another step of the same restructuring splits them: reported, not failed.
BEING_SPLIT: set[str] = set()  # services/lifecycle.py was split (services/sweeper.py): checked like the rest


def _modules(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, anywhere in it (functions and TYPE_CHECKING blocks included); ``from a import b``
    yields both ``a`` and ``a.b`` (``b`` may be a module)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("path", _modules(PACKAGE / "services", ROOT / "functions"), ids=_rel)
def test_services_and_handlers_reach_adapters_only_through_wiring(path: Path) -> None:
    # GIVEN a service or a handler module
    # WHEN its imports are read
    adapters = sorted({name for name in imported(path) if _within(name, "batchplane.adapters")})
    # THEN none is an adapter: the composition root (batchplane.wiring) chooses them
    assert adapters == [], f"{_rel(path)} imports {adapters}; go through batchplane.wiring and domain.ports"


OUTSIDE_THE_DOMAIN = (
    "batchplane.adapters",
    "batchplane.services",
    "batchplane.http",
    "batchplane.wiring",
    "batchplane.settings",
    "boto3",
    "botocore",
    "os",
)


@pytest.mark.parametrize("path", _modules(PACKAGE / "domain"), ids=_rel)
def test_the_domain_depends_on_nothing_outside_it(path: Path) -> None:
    # GIVEN a domain module
    # WHEN its imports are read
    outside = sorted({n for n in imported(path) for pkg in OUTSIDE_THE_DOMAIN if _within(n, pkg)})
    # THEN none reaches an adapter, a service, the HTTP layer, the settings, boto3 or the environment
    assert outside == [], f"{_rel(path)} imports {outside}"


def _sized() -> list[object]:
    being_split = pytest.mark.xfail(reason="split by another step of issue 13", strict=False)
    return [
        pytest.param(path, marks=[being_split] if _rel(path) in BEING_SPLIT else [], id=_rel(path))
        for path in _modules(*SIZED)
    ]


@pytest.mark.parametrize("path", _sized())
def test_no_production_module_is_over_600_lines(path: Path) -> None:
    # GIVEN a production module
    # WHEN its lines are counted
    lines = len(path.read_text().splitlines())
    # THEN it stays readable in one sitting
    assert lines <= MAX_LINES, f"{_rel(path)} has {lines} lines; split it by concern"


def test_the_checks_see_the_code() -> None:
    # GIVEN the trees the checks walk
    # THEN they hold the modules they are about (a moved tree must not make the checks vacuous)
    assert PACKAGE / "wiring.py" in _modules(*SIZED)
    assert any(p.name == "app.py" for p in _modules(ROOT / "functions"))
    assert "batchplane.domain.ports" in set(imported(PACKAGE / "services" / "jobs.py"))
    assert "batchplane.wiring" in set(imported(ROOT / "functions" / "sweeper" / "app.py"))


def _protocols(path: Path) -> list[str]:
    """The classes ``path`` defines that derive from ``Protocol`` (directly or as ``typing.Protocol``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(ast.unparse(base) in ("Protocol", "typing.Protocol") for base in node.bases)
    ]


@pytest.mark.parametrize("path", _modules(PACKAGE / "services"), ids=_rel)
def test_every_port_the_services_need_lives_in_the_domain(path: Path) -> None:
    # GIVEN a service module  WHEN its classes are read  THEN it declares no Protocol: ports are domain/ports.py's
    assert _protocols(path) == [], f"{_rel(path)} declares ports; they belong in domain/ports.py"


def test_the_ports_module_holds_the_lifecycle_ports() -> None:
    # GIVEN domain/ports.py  THEN the lifecycle's ports are there (so the check above cannot pass on an empty tree)
    assert {"LifecycleStore", "DependencyStore", "ArtifactRecorder", "BatchOps"} <= set(
        _protocols(PACKAGE / "domain" / "ports.py")
    )
