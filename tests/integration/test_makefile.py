"""The Makefile gives fake AWS credentials and a fixed region only to targets that never reach AWS: `make build` and
`make deploy` run with the user's own profile, SSO session or environment. `make template` runs checkov offline.

Each target runs for real with its tools replaced by a script that records the AWS_* environment it was given."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.cfn import ROOT, template

pytestmark = pytest.mark.integration

# Each call records its environment's AWS_* variables and whether python3.13 (the Lambda runtime) runs from its PATH.
FAKE_TOOL = (
    '#!/bin/sh\n{ echo "$0 $1"; env | grep "^AWS_" | sort; '
    "echo \"FINDS_PYTHON=$(python3.13 -c 'import sys; print(sys.version_info[:2] == (3, 13))' 2>/dev/null)\"; "
    'echo --; } >> "$RECORD"\n'
)
OFFLINE_ONLY = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


def run_make(target: str, tmp_path: Path) -> list[dict[str, str]]:
    """`make <target>` with sam, cfn-lint and checkov replaced by recorders, in a shell without AWS_* credentials but with a
    profile (as a user with SSO has); answers the environment each tool invocation saw."""
    tools = tmp_path / "tools"
    bin_dir = tools / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("sam", "cfn-lint", "checkov"):
        path = bin_dir / name
        path.write_text(FAKE_TOOL)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    for marker in (tools / ".python-3.13", tools / ".installed", bin_dir / ".installed-local", bin_dir / ".installed"):
        marker.touch()  # the virtualenvs count as made and installed (in dependency order): nothing is pip-installed
    record = tmp_path / "record.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("MAKE")}
    env.update({"AWS_PROFILE": "my-sso-profile", "RECORD": str(record)})
    make = shutil.which("make")
    assert make is not None
    subprocess.run(
        [
            make,
            "--no-print-directory",
            target,
            f"VENV={tools}",
            f"SAM_VENV={tools}",
            f"SAM={bin_dir / 'sam'}",
            f"BIN={bin_dir}",
            f"CHECKOV_VENV={tools}",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    calls = []
    for block in record.read_text().split("--\n"):
        lines = block.strip().splitlines()
        if lines:
            calls.append(dict(line.split("=", 1) for line in lines[1:]) | {"_call": lines[0]})
    return calls


def test_deploy_and_build_use_the_callers_own_credentials(tmp_path: Path) -> None:
    # GIVEN a user whose credentials come from a profile (no AWS_* keys in the environment)
    # WHEN `make deploy` runs (sam build, then sam deploy)
    calls = run_make("deploy", tmp_path)
    # THEN both sam calls see the user's profile and no fake key, secret or fixed region
    assert [c["_call"].rsplit("/", 1)[-1] for c in calls] == ["sam build", "sam deploy"]
    for call in calls:
        assert call.get("AWS_PROFILE") == "my-sso-profile", call
        assert not set(OFFLINE_ONLY) & set(call), call
    # AND sam finds python3.13 (what it builds the functions and the layer with) on its PATH
    assert all(call["FINDS_PYTHON"] == "True" for call in calls), calls


def test_offline_targets_get_fake_credentials_and_a_region(tmp_path: Path) -> None:
    # GIVEN the same user
    # WHEN `make template` runs (cfn-lint, sam validate and checkov, offline)
    calls = run_make("template", tmp_path)
    # THEN the offline tools get fake credentials and a region, so they never reach the user's account
    assert [c["_call"].rsplit("/", 1)[-1].split()[0] for c in calls] == ["cfn-lint", "sam", "checkov"]
    for call in calls:
        assert call["AWS_ACCESS_KEY_ID"] == call["AWS_SECRET_ACCESS_KEY"] == "testing", call
        assert call["AWS_DEFAULT_REGION"] == "us-east-1", call


def test_checkov_runs_offline_on_the_template_with_every_skip_justified() -> None:
    # GIVEN checkov's configuration
    config_path = ROOT / ".checkov.yaml"
    config = yaml.safe_load(config_path.read_text())
    # THEN it scans template.yaml as CloudFormation without downloading anything
    assert config["framework"] == ["cloudformation"]
    assert config["file"] == ["template.yaml"]
    assert config["skip-download"] is True
    # AND every skipped check is named on its own line with its reason
    lines = {
        m["check"]: m["why"].strip()
        for m in re.finditer(r"^\s*-\s*(?P<check>CKV\w+)\s*#(?P<why>.*)$", config_path.read_text(), re.MULTILINE)
    }
    assert set(lines) == set(config["skip-check"])
    assert all(len(why) > 20 for why in lines.values()), lines
    # AND `make template` (so `make test`) runs it with that file
    assert "$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml" in (ROOT / "Makefile").read_text()


def planned(target: str, tmp_path: Path) -> str:
    """What `make <target>` would run on a fresh machine (no virtualenv yet), without running it."""
    make = shutil.which("make")
    assert make is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    fresh = tmp_path / "venv"
    out = subprocess.run(
        [make, "--no-print-directory", "--dry-run", target, f"VENV={fresh}", f"BIN={fresh}/bin"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout


def test_the_demo_installs_only_the_runtime_and_the_local_stack(tmp_path: Path) -> None:
    # GIVEN a fresh machine
    # WHEN `make demo` is planned
    steps = planned("demo", tmp_path)
    # THEN it installs the runtime and the local stack's extras, not the development toolchain, then runs the demo
    assert "pip install --quiet -e '.[local]'" in steps
    assert ".[dev]" not in steps
    assert "batchplane_local local demo" in steps


def test_make_test_installs_the_development_toolchain_itself(tmp_path: Path) -> None:
    # GIVEN a fresh machine (CI: .ci/run calls `make test` on a clean checkout)
    # WHEN `make test` is planned
    steps = planned("test", tmp_path)
    # THEN it installs the local extras and then the development ones, before linting and testing
    local, dev = steps.index("-e '.[local]'"), steps.index("-e '.[dev]'")
    assert local < dev < steps.index("/bin/ruff check") < steps.index("/bin/pytest\n")


def test_make_test_installs_debians_chromium_for_the_browser_tests_when_missing(tmp_path: Path) -> None:
    # GIVEN a fresh machine (no /usr/bin/chromium) WHEN `make test` is planned
    steps = planned("test", tmp_path)
    # THEN Debian's chromium is installed (only if missing) before the tests that drive it run
    install = steps.index("apt-get install -y -qq chromium")
    assert steps.index("test -x /usr/bin/chromium ||") < install < steps.index("/bin/pytest\n")


def test_python_version_is_the_lambda_runtime_everywhere() -> None:
    # GIVEN the Makefile's Python version, the template's runtime and pyproject.toml's Python settings
    makefile = (ROOT / "Makefile").read_text()
    (version,) = re.findall(r"^PYTHON_VERSION := (\S+)$", makefile, re.MULTILINE)
    runtime = template()["Globals"]["Function"]["Runtime"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # THEN the virtualenvs, the linters and the type checker target the Python that Lambda runs
    assert runtime == f"python{version}"
    assert pyproject["project"]["requires-python"].startswith(f">={version},")
    assert pyproject["tool"]["ruff"]["target-version"] == f"py{version.replace('.', '')}"
    assert pyproject["tool"]["mypy"]["python_version"] == version


def test_a_virtualenv_made_by_another_python_is_made_again(tmp_path: Path) -> None:
    # GIVEN a virtualenv installed by an older Python (no stamp naming Python 3.13), as on a dev machine before 3.13
    old = tmp_path / "venv"
    (old / "bin").mkdir(parents=True)
    (old / ".python-3.11").touch()
    (old / "bin" / ".installed-local").touch()
    (old / "bin" / ".installed").touch()
    # WHEN `make test` is planned
    steps = planned("test", tmp_path)
    # THEN the virtualenv is removed, made again by Python 3.13 and everything is reinstalled into it
    remake, make = steps.index(f"rm -rf {old}\n"), steps.index(f"-m venv {old}\n")
    assert "python3.13 -m venv" in steps
    assert remake < make < steps.index("-e '.[local]'") < steps.index("-e '.[dev]'")


def test_the_virtualenvs_fail_clearly_without_python_3_13(tmp_path: Path) -> None:
    # GIVEN a machine where no Python 3.13 is found
    make = shutil.which("make")
    assert make is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    # WHEN a virtualenv is to be made
    out = subprocess.run(
        [make, "--no-print-directory", f"{tmp_path}/venv/.python-3.13", "PY="],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # THEN make stops, saying what to install, and makes nothing
    assert out.returncode != 0
    assert "no Python 3.13 found" in out.stderr
    assert not (tmp_path / "venv").exists()
