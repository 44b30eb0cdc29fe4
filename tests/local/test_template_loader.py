"""The local stack's view of the template: SAM's transform run offline, evaluated as CloudFormation evaluates it,
refusing loudly what it cannot evaluate."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane_local.stack.template import Stack, UnsupportedTemplate

from tests.cfn import deployed_resources

pytestmark = pytest.mark.unit


def evaluate(value: Any, **parameters: Any) -> Any:
    template = {"Parameters": {"Names": {"Type": "String", "Default": "a,b"}}, "Resources": {}}
    return Stack(template, parameters=parameters).resolve(value)


def test_supported_intrinsics_evaluate_as_cloudformation_does() -> None:
    value = {
        "Fn::Split": [
            ",",
            {"Fn::Sub": ["x/${N}", {"N": {"Fn::Join": [",x/", {"Fn::Split": [",", {"Ref": "Names"}]}]}}]},
        ]
    }
    assert evaluate(value) == ["x/a", "x/b"]
    assert evaluate({"Fn::Sub": "${AWS::Region}:${AWS::AccountId}"}) == "us-east-1:123456789012"


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"Fn::ImportValue": "shared-vpc"}, "Fn::ImportValue"),
        ({"Fn::FindInMap": ["M", "k", "v"]}, "Fn::FindInMap"),
        # CloudFormation takes no function as Fn::Join's delimiter (a template once deployed that way here only)
        ({"Fn::Join": [{"Fn::Sub": ",${AWS::Region}"}, ["a", "b"]]}, "literal delimiter"),
    ],
)
def test_what_it_cannot_evaluate_fails_loudly_naming_it(value: Any, named: str) -> None:
    with pytest.raises(UnsupportedTemplate, match=named):
        evaluate(value)


def test_the_transform_yields_what_sam_generates() -> None:
    # GIVEN template.yaml after the SAM transform
    resources = deployed_resources()
    kinds = {r["Type"] for r in resources.values()}
    # THEN no SAM type is left, and SAM's generated resources are there to be provisioned
    assert not any(k.startswith("AWS::Serverless::") for k in kinds)
    assert resources["JobEventsFunctionBatchJobEvents"]["Type"] == "AWS::Events::Rule"
    assert resources["GatewayFunctionRole"]["Type"] == "AWS::IAM::Role"
    assert resources["PipelineTasksFunctionStageTokens"]["Type"] == "AWS::Lambda::EventSourceMapping"
    allowed = {
        (r["Properties"]["FunctionName"]["Ref"], r["Properties"]["Principal"])
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
    }
    assert {
        ("GatewayFunction", "apigateway.amazonaws.com"),
        ("JobEventsFunction", "events.amazonaws.com"),
        ("SweeperFunction", "events.amazonaws.com"),
    } <= allowed
