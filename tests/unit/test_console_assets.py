"""The console's static assets: shipped as package data, pinned, and loading nothing from the network."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path, PurePosixPath

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "local" / "batchplane_local" / "console" / "static"


def test_every_asset_is_package_data() -> None:
    # GIVEN pyproject.toml's package-data patterns for the console package
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["batchplane_local.console"]
    # THEN every file under static/ is matched, so a wheel (not only an editable install) carries the whole console
    files = [PurePosixPath(p.relative_to(STATIC.parent).as_posix()) for p in STATIC.rglob("*") if p.is_file()]
    assert files
    unmatched = [f for f in files if not any(f.full_match(pat) for pat in patterns)]  # glob: "*" stops at "/"
    assert unmatched == []


def test_vendored_files_are_the_pinned_ones() -> None:
    # GIVEN the table of vendored files with their versions, licences and SHA-256
    table = (STATIC / "vendor" / "VENDORED.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| (\S+) \| (\S+) \| (.+?) \| .+? \| `([0-9a-f]{64})` \|$", table, re.MULTILINE)
    assert rows
    vendored = {p.name for p in (STATIC / "vendor").iterdir() if p.suffix == ".js"}
    # THEN each vendored script is listed, with its licence file beside it, and is byte for byte the pinned one
    assert vendored == {name for name, *_ in rows}
    for name, package, _version, _licence, digest in rows:
        assert hashlib.sha256((STATIC / "vendor" / name).read_bytes()).hexdigest() == digest, name
        assert (STATIC / "vendor" / f"{package}.LICENSE").is_file()


def test_the_page_loads_nothing_from_elsewhere() -> None:
    # the console must work with no network at run time: no CDN, no web font, no absolute URL in what it loads
    for name in ("index.html", "app.js", "app.css"):
        text = (STATIC / name).read_text()
        assert re.findall(r"""(?:src|href)=["'](?:https?:)?//""", text) == [], name
        assert re.findall(r"""(?:fetch|import)\(\s*["'`](?:https?:)?//""", text) == [], name
        assert "@import" not in text, name
    html = (STATIC / "index.html").read_text()
    assert '<script src="vendor/cytoscape.min.js" defer></script>' in html
