"""The local stack's view of the template: SAM's transform run offline, evaluated as CloudFormation evaluates it,
refusing loudly what it cannot evaluate."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane_local.stack.functions import THIS_RUNTIME, require_runtime
from batchplane_local.stack.template import Stack, UnsupportedTemplate, expand_language_extensions

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
        ({"Fn::Length": [1, 2]}, "Fn::Length"),
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
        ("GatewayFunctionAliaslive", "apigateway.amazonaws.com"),  # SnapStart: its sources invoke the alias
        ("JobEventsFunctionAliaslive", "events.amazonaws.com"),
        ("SweeperFunction", "events.amazonaws.com"),
    } <= allowed


# ---- AWS::LanguageExtensions: expanded before the SAM transform, as CloudFormation does -------------------------

EXTENDED = ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]


def extended(**sections: Any) -> dict[str, Any]:
    parameters = {"Classes": {"Type": "CommaDelimitedList", "Default": "low,high"}}
    return {"Transform": list(EXTENDED), "Parameters": parameters, "Resources": {}, **sections}


def test_foreach_over_a_parameter_names_keys_and_values_and_drops_its_transform() -> None:
    # GIVEN a loop over a CommaDelimitedList parameter, the identifier in keys (${} and &{}), strings, Sub and Ref
    body = {
        "&{Class}Queue": {
            "Type": "AWS::Batch::JobQueue",
            "Properties": {
                "JobQueueName": {"Fn::Sub": "${AWS::StackName}_${Class}"},
                "Tags": {"class": {"Ref": "Class"}, "note": "for ${Class}"},
            },
        }
    }
    template = extended(Resources={"Fn::ForEach::Queues": ["Class", {"Ref": "Classes"}, body]})
    # WHEN expanded with the deploy's value of the parameter
    out = expand_language_extensions(template, {"Classes": "low,very-high"})
    # THEN one resource per item, the identifier replaced (&{} without its non-alphanumerics), SAM's transform kept
    assert out["Transform"] == "AWS::Serverless-2016-10-31"
    assert sorted(out["Resources"]) == ["lowQueue", "veryhighQueue"]
    props = out["Resources"]["veryhighQueue"]["Properties"]
    assert props == {
        "JobQueueName": {"Fn::Sub": "${AWS::StackName}_very-high"},
        "Tags": {"class": "very-high", "note": "for very-high"},
    }
    # AND without a deploy value the parameter's Default is the collection
    assert sorted(expand_language_extensions(template)["Resources"]) == ["highQueue", "lowQueue"]


def test_foreach_in_conditions_outputs_properties_and_nested_loops() -> None:
    # GIVEN loops in Conditions and Outputs, one in a resource's Properties, and a loop nested in a loop (literal)
    template = extended(
        Conditions={"Fn::ForEach::Is": ["C", ["a", "b"], {"Is${C}": {"Fn::Equals": [{"Ref": "C"}, "a"]}}]},
        Resources={
            "Fn::ForEach::Outer": [
                "C",
                {"Ref": "Classes"},
                {
                    "Fn::ForEach::Inner": [
                        "Cap",
                        ["Spot", "OnDemand"],
                        {"${C}${Cap}": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "${C}-${Cap}"}}},
                    ]
                },
            ],
            "Plain": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"Fn::ForEach::Props": ["P", ["DelaySeconds"], {"${P}": 5}]},
            },
        },
        Outputs={"Fn::ForEach::Out": ["C", ["low"], {"${C}Arn": {"Value": {"Ref": "${C}Spot"}}}]},
    )
    # WHEN expanded
    out = expand_language_extensions(template)
    # THEN every loop is unrolled where it stood
    assert out["Conditions"] == {"Isa": {"Fn::Equals": ["a", "a"]}, "Isb": {"Fn::Equals": ["b", "a"]}}
    assert sorted(out["Resources"]) == ["Plain", "highOnDemand", "highSpot", "lowOnDemand", "lowSpot"]
    assert out["Resources"]["highOnDemand"]["Properties"] == {"QueueName": "high-OnDemand"}
    assert out["Resources"]["Plain"]["Properties"] == {"DelaySeconds": 5}
    assert out["Outputs"] == {"lowArn": {"Value": {"Ref": "lowSpot"}}}


@pytest.mark.parametrize(
    ("template", "named"),
    [
        # a collection CloudFormation cannot expand before deploying
        (extended(Resources={"Fn::ForEach::X": ["C", {"Fn::GetAtt": ["R", "List"]}, {"${C}": {}}]}), "collection"),
        # two items making the same logical id
        (extended(Resources={"Fn::ForEach::X": ["C", ["a", "b"], {"Same": {"Type": "T"}}]}), "twice"),
        # a loop's expansion colliding with a resource written out
        (
            extended(Resources={"a": {"Type": "T"}, "Fn::ForEach::X": ["C", ["a"], {"${C}": {"Type": "T"}}]}),
            "already exist",
        ),
        # the identifier is a parameter's name
        (extended(Resources={"Fn::ForEach::X": ["Classes", ["a"], {"${Classes}": {"Type": "T"}}]}), "identifier"),
        # a malformed loop
        (extended(Resources={"Fn::ForEach::X": ["C", ["a"]]}), "identifier, collection"),
        # the transform's other functions, not evaluated here
        (extended(Outputs={"N": {"Value": {"Fn::Length": [1, 2]}}}), "Fn::Length"),
        (extended(Outputs={"J": {"Value": {"Fn::ToJsonString": {"a": 1}}}}), "Fn::ToJsonString"),
        (extended(Resources={"R": {"Type": "T", "DeletionPolicy": {"Fn::If": ["C", "Retain", "Delete"]}}}), "Policy"),
        # a loop where CloudFormation takes none
        (extended(Metadata={"Fn::ForEach::X": ["C", ["a"], {"${C}": 1}]}, Mappings={}), "Fn::ForEach"),
        # the transform listed after SAM's
        ({"Transform": list(reversed(EXTENDED)), "Resources": {}}, "first transform"),
    ],
)
def test_language_extensions_it_cannot_expand_fail_loudly(template: dict[str, Any], named: str) -> None:
    with pytest.raises(UnsupportedTemplate, match=named):
        expand_language_extensions(template)


def test_find_in_map_evaluates_with_intrinsic_keys_and_default_value() -> None:
    # GIVEN a mapping
    template = {
        "Parameters": {"Class": {"Type": "String", "Default": "high"}},
        "Mappings": {"Rank": {"low": {"Spot": 100}, "high": {"Spot": 300}}},
        "Resources": {},
    }
    stack = Stack(template)
    # THEN keys may be intrinsics, a missing key takes DefaultValue if given, and fails as the deploy would if not
    assert stack.resolve({"Fn::FindInMap": ["Rank", {"Ref": "Class"}, "Spot"]}) == 300
    assert stack.resolve({"Fn::FindInMap": ["Rank", "critical", "Spot", {"DefaultValue": 1}]}) == 1
    with pytest.raises(KeyError, match="critical"):
        stack.resolve({"Fn::FindInMap": ["Rank", "critical", "Spot"]})


def test_functions_run_on_the_runtime_the_template_gives_them() -> None:
    # GIVEN the deployed functions' runtimes
    runtimes = {k: v["Properties"]["Runtime"] for k, v in deployed_resources("AWS::Lambda::Function").items()}
    # THEN this interpreter is that runtime (the local stack runs their code in it), and the loader accepts them
    assert set(runtimes.values()) == {THIS_RUNTIME}
    for logical, runtime in runtimes.items():
        require_runtime(logical, runtime)


@pytest.mark.parametrize("runtime", ["python3.11", "nodejs22.x", ""])
def test_a_function_on_another_runtime_is_refused_naming_both(runtime: str) -> None:
    # WHEN the local stack is given a function on a runtime other than its interpreter's
    # THEN it refuses it, naming the function, the template's runtime and its own
    with pytest.raises(UnsupportedTemplate, match=rf"GatewayFunction: .*{runtime or 'no runtime'}.*{THIS_RUNTIME}"):
        require_runtime("GatewayFunction", runtime)
