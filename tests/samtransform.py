"""template.yaml after the SAM transform, offline, for given parameter values: what CloudFormation deploys (the same
transform the local stack provisions from: batchplane_local.stack.template.transformed)."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from batchplane_local.stack.template import transformed as _transformed

from tests.cfn import ACCOUNT, REGION, template


@cache
def _transform(parameters_json: str) -> dict[str, Any]:
    parameters = json.loads(parameters_json)
    return _transformed(template(), parameters=parameters, region=REGION, account=ACCOUNT, stack_name="batchplane")


def transformed(**parameters: str) -> dict[str, Any]:
    """The transformed template (a fresh copy) for these parameter values."""
    return copy.deepcopy(_transform(json.dumps(parameters, sort_keys=True)))
