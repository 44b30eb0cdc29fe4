"""Load a function's handler module by path, as Lambda does (each functions/<name>/app.py is its own module)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# Set by the integration `stack` fixture: each function's IAM principal, by its code folder
PRINCIPALS: dict[str, Any] = {}


def load_handler(function: str) -> ModuleType:
    """The function's module; its lambda_handler runs as the function's IAM principal when a stack enforces IAM."""
    name = f"batchplane_fn_{function}"
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    principal = PRINCIPALS.get(function)
    if principal is not None:
        from batchplane_local import iam

        handler = module.lambda_handler

        @functools.wraps(handler)
        def as_function(event: Any, context: Any) -> Any:
            with iam.acting_as(principal):
                return handler(event, context)

        module.lambda_handler = as_function
    return module


class FakeLambdaContext:
    """What Lambda passes as context (the attributes Powertools reads)."""

    function_name = "batchplane-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:batchplane-test"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/batchplane-test"
    log_stream_name = "2026/11/24/[$LATEST]0"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000
