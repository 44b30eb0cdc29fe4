"""template.yaml after the SAM transform, offline (aws-sam-translator, no AWS call): what CloudFormation deploys.

aws-sam-translator lives in .venv-sam (with aws-sam-cli); when it is not importable here the transform runs there."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from functools import cache
from typing import Any

from tests.cfn import ROOT, TEMPLATE

SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}

# Runs in whichever interpreter has samtranslator: argv = template path, JSON parameter values; prints JSON.
_SCRIPT = r"""
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self, *args, **kwargs):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():
    properties = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri", "DefinitionUri"):
        if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
            properties[key] = "s3://offline-placeholder/" + properties[key].strip("/")
json.dump(transform(template, json.loads(sys.argv[2]), NoManagedPolicies()), sys.stdout, default=str)
"""


@cache
def _transform(parameters_json: str) -> str:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    if importlib.util.find_spec("samtranslator") is not None:
        python = sys.executable
    else:
        assert SAM_PYTHON.exists(), "run `make install` first: aws-sam-translator lives in .venv-sam"
        python = str(SAM_PYTHON)
    out = subprocess.run(
        [python, "-c", _SCRIPT, str(TEMPLATE), parameters_json],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out.stdout


def transformed(**parameters: str) -> dict[str, Any]:
    """The transformed template (a fresh copy) for these parameter values, pseudo parameters included."""
    return json.loads(_transform(json.dumps({**PSEUDO, "AWS::StackName": "batchplane", **parameters}, sort_keys=True)))
