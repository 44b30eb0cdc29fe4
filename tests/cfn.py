"""Read template.yaml as data: a YAML loader that keeps CloudFormation's short-form tags (!Ref, !Sub, ...) as their
long form ({"Ref": ...}, {"Fn::Sub": ...}), so tests build resources from the template's own properties."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from batchplane_local.stack import template as _stack_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


CfnLoader = _stack_template.CfnLoader


@cache
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    out = template()["Resources"]
    return {k: v for k, v in out.items() if kind is None or v["Type"] == kind}


def table_definition(resource_id: str = "BatchplaneTable") -> dict[str, Any]:
    """create_table kwargs from the table's template properties (so tests cannot drift from the template)."""
    props = resources()[resource_id]["Properties"]
    kwargs: dict[str, Any] = {
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return kwargs
