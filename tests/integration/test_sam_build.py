"""The layer imports the same way in `sam build` output as in tests: build it, then import the handler from the build
alone (no repository paths), as Lambda would with the layer at /opt/python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cfn import ROOT

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
    # THEN a clean interpreter with only the function and the layer on its path imports the handler
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import app; "
        "assert callable(app.lambda_handler); import batchplane, pydantic; "
        "assert batchplane.__file__.startswith(sys.argv[2]), batchplane.__file__; print('ok')"
    )
    clean_env = {k: v for k, v in env.items() if k not in ("PYTHONPATH",)}
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(function), str(layer)],
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
