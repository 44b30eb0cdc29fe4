"""What commands read besides the API: job and pipeline files (JSON or YAML), KEY=VALUE pairs, dependencies, and the
POST /jobs body built from a file and flags. Any problem is a one-line usage error."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml

from batchplane_local.cli.output import EXIT_USAGE, fail


def pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{option}: expected KEY=VALUE, got {item!r}", EXIT_USAGE)
        out[key] = value
    return out


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1} column {mark.column + 1}: {problem}"
    return str(exc)


def load_file(path: Path, option: str = "--file") -> dict[str, Any]:
    """A JSON (``.json``) or YAML file holding an object; any problem is a one-line usage error."""
    try:
        text = path.read_text()
    except OSError as exc:
        fail(f"{option}: cannot read {path}: {exc.strerror or exc}", EXIT_USAGE)
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        fail(f"{option}: {path} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}", EXIT_USAGE)
    except yaml.YAMLError as exc:
        fail(f"{option}: {path} is not valid YAML: {_yaml_error(exc)}", EXIT_USAGE)
    if not isinstance(data, dict):
        fail(f"{option}: {path} must hold a JSON/YAML object, not {type(data).__name__}", EXIT_USAGE)
    return data


def dependencies(values: list[str] | None) -> list[dict[str, str]]:
    """``JOB_ID`` or ``JOB_ID:N_TO_N`` / ``JOB_ID:SEQUENTIAL`` (array dependencies, as Batch)."""
    out = []
    for item in values or []:
        job_id, _, kind = item.partition(":")
        dep = {"jobId": job_id}
        if kind:
            if kind.upper() not in ("N_TO_N", "SEQUENTIAL"):
                fail(f"--depends-on: {item!r}: the type after ':' is N_TO_N or SEQUENTIAL", EXIT_USAGE)
            dep["type"] = kind.upper()
        out.append(dep)
    return out


def build_job(
    base: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    command: list[str] | None = None,
    shell: bool = False,
    priority: str | None = None,
    capacity: str | None = None,
    memory: int | None = None,
    vcpus: int | None = None,
    gpus: int | None = None,
    timeout: int | None = None,
    attempts: int | None = None,
    array_size: int | None = None,
    tags: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    parameters: dict[str, str] | None = None,
    depends_on: list[dict[str, str]] | None = None,
    definition: str | None = None,
    container: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The POST /jobs body: the file's fields, overridden by the flags given (``container``: image, platform,
    jobRoleArn, volumes)."""
    job = dict(base or {})
    job.update({k: v for k, v in (container or {}).items() if v is not None})
    scalars = {
        "name": name,
        "jobDefinition": definition,
        "priority": priority,
        "capacity": capacity,
        "memoryMiB": memory,
        "vcpus": vcpus,
        "gpus": gpus,
        "timeoutSeconds": timeout,
        "arraySize": array_size,
    }
    job.update({k: v for k, v in scalars.items() if v is not None})
    if shell:
        if not command or len(command) != 1:
            fail("--shell takes exactly one --command string (run as: sh -c STRING)", EXIT_USAGE)
        job["command"] = ["sh", "-c", command[0]]
    elif command:
        try:
            job["command"] = shlex.split(command[0]) if len(command) == 1 else list(command)
        except ValueError as exc:  # an unclosed quote
            fail(f"--command: {exc}", EXIT_USAGE)
    if attempts is not None:
        job["retry"] = {**(job.get("retry") or {}), "attempts": attempts}
    if tags:
        job["tags"] = {**(job.get("tags") or {}), **tags}
    if env:
        job["environment"] = {**(job.get("environment") or {}), **env}
    if parameters:
        job["parameters"] = {**(job.get("parameters") or {}), **parameters}
    if depends_on:
        job["dependsOn"] = [*(job.get("dependsOn") or []), *depends_on]
    return job


COMMAND_HELP = (
    "the command, run directly, not by a shell: one string is split into arguments like a shell would (quotes "
    "respected) but pipes, redirections, globs and $VARIABLES are not interpreted; repeat the option for one argument "
    "each. With --shell it runs as: sh -c STRING"
)
