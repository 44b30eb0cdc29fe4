"""The layer imports the same way in `sam build` output as in tests: build it, then import the handler from the build
alone (no repository paths), as Lambda would with the layer at /opt/python. The build targets Lambda's python3.13 on
arm64: its native extensions are aarch64 builds, so on another machine the import swaps in this machine's build of the
same versions of those packages (and only those). The layer ships CPython 3.13 bytecode for every module (Lambda's /opt
is read-only: without it every cold start compiles the layer from source), and the import uses it."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from importlib.metadata import PathDistribution
from pathlib import Path

import pytest
import yaml

from tests.cfn import ROOT, CfnLoader

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAM = ROOT / ".venv-sam" / "bin" / "sam"


def test_sam_build_output_imports_the_gateway(tmp_path: Path) -> None:
    # GIVEN the SAM CLI (installed by `make install` in its own virtualenv)
    assert SAM.exists(), "run `make install` first: aws-sam-cli lives in .venv-sam"
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # sam finds the build's Python (python3.13) by name: this interpreter's own installation first
        "PATH": os.pathsep.join([str(Path(sys.base_prefix) / "bin"), os.environ.get("PATH", "")]),
    }
    build = tmp_path / "build"
    # WHEN the application is built
    subprocess.run(
        [str(SAM), "build", "--template", str(ROOT / "template.yaml"), "--build-dir", str(build)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    layer = build / "BatchplaneLayer" / "python"
    function = build / "GatewayFunction"
    assert (layer / "batchplane" / "__init__.py").exists()
    assert (function / "app.py").exists()
    # THEN the built template runs every function on python3.13 / arm64 with a layer built for them
    built = yaml.load((build / "template.yaml").read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    function_globals = built["Globals"]["Function"]
    functions = {
        k: v
        for k, v in built["Resources"].items()
        if isinstance(v, dict) and v["Type"] == "AWS::Serverless::Function"  # not Fn::ForEach loops
    }
    assert (function_globals["Runtime"], function_globals["Architectures"]) == ("python3.13", ["arm64"])
    assert all(
        (f["Properties"].get("Runtime", "python3.13"), f["Properties"].get("Architectures", ["arm64"]))
        == ("python3.13", ["arm64"])
        for f in functions.values()
    ), functions
    layer_props = built["Resources"]["BatchplaneLayer"]["Properties"]
    assert (layer_props["CompatibleRuntimes"], layer_props["CompatibleArchitectures"]) == (["python3.13"], ["arm64"])
    # AND every native extension in the layer is CPython 3.13's for aarch64 Linux, from an aarch64 wheel
    natives = sorted(p.name for p in layer.rglob("*.so"))
    assert natives, "pydantic-core ships a native extension: expected at least one"
    assert all(n.endswith(".cpython-313-aarch64-linux-gnu.so") or n.endswith(".abi3.so") for n in natives), natives
    native_dists = [d for d in layer.glob("*.dist-info") if "-none-any" not in (d / "WHEEL").read_text()]
    assert native_dists
    assert all("aarch64" in (d / "WHEEL").read_text() for d in native_dists), native_dists
    overlay = host_builds_of(native_dists, tmp_path / "host")
    # AND every module in the layer has its CPython 3.13 bytecode, unchecked-hash (valid whatever the mtimes after zip
    # and unzip), compiled from the source beside it
    assert sys.implementation.cache_tag == "cpython-313"
    sources = sorted(layer.rglob("*.py"))
    assert len(sources) > 100
    assert {p.parts[len(layer.parts)] for p in sources} >= {"batchplane", "pydantic", "aws_lambda_powertools"}
    stale = [str(p.relative_to(layer)) for p in sources if not compiled_unchecked_from(p)]
    assert not stale, stale
    # AND a clean interpreter with only the function and the layer on its path imports the handler, loading every
    # module of the layer from that bytecode: none is compiled from source
    probe = (
        "import sys, importlib.machinery as m; compiled = []; to_code = m.SourceFileLoader.source_to_code\n"
        "def source_to_code(self, data, path, **kw):\n"
        "    compiled.append(str(path)); return to_code(self, data, path, **kw)\n"
        "m.SourceFileLoader.source_to_code = source_to_code\n"
        "sys.path[:0] = [sys.argv[1], *sys.argv[3:], sys.argv[2]]; import app\n"
        "assert callable(app.lambda_handler); import batchplane, pydantic\n"
        "assert batchplane.__file__.startswith(sys.argv[2]), batchplane.__file__\n"
        "assert pydantic.__file__.startswith(sys.argv[2]), pydantic.__file__\n"
        "loaded = [n for n, mod in sys.modules.items() if (getattr(mod, '__file__', None) or '').startswith(sys.argv[2])]\n"
        "assert len(loaded) > 50, loaded\n"
        "assert compiled == [app.__file__], compiled; print('ok')"
    )
    clean_env = {k: v for k, v in env.items() if k not in ("PYTHONPATH",)}
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(function), str(layer), *overlay],
        env=clean_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    shutil.rmtree(build, ignore_errors=True)


def compiled_unchecked_from(source: Path) -> bool:
    """Whether source has this interpreter's bytecode beside it (its __pycache__), hash-based with check_source off,
    from source's bytes as they are."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    if not cached.exists():
        return False
    header = cached.read_bytes()[:16]
    flags = int.from_bytes(header[4:8], "little")
    return (
        header[:4] == importlib.util.MAGIC_NUMBER
        and flags == 0b01  # hash-based, source not checked
        and header[8:16] == importlib.util.source_hash(source.read_bytes())
    )


def host_builds_of(native_dists: list[Path], into: Path) -> list[str]:
    """On an aarch64 machine, nothing (the build's own native code runs). Elsewhere, a folder with this machine's build of
    exactly the versions of the layer's native packages, to put before the layer on the path: everything else imported
    is the build's own."""
    if platform.machine() in ("aarch64", "arm64"):
        return []
    pins = [f"{dist.metadata['Name']}=={dist.version}" for dist in map(PathDistribution, native_dists)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--target",
            str(into),
            *pins,
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return [str(into)]
