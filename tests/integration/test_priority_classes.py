"""The priority classes are listed once in template.yaml: the PriorityClasses parameter, each class's Batch
priorities on its line of the PriorityClassRank mapping beside it. Adding a fifth class there (and nowhere else in the
template) gives it its queues, the control plane's catalogue entries, SubmitJob permission, its Batch events and its
outputs, in the template as CloudFormation deploys it (AWS::LanguageExtensions, then SAM)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from batchplane.domain.models import Priority
from batchplane.settings import KNOWN_PRIORITY_CLASSES, Settings, derive_queues
from batchplane_local import iam, moto_glue
from batchplane_local.stack.template import transformed

from tests.cfn import ACCOUNT, REGION, deployed_environment, function_principals, stack_of, template
from tests.eventdata import load_event

pytestmark = pytest.mark.integration

STACK = "bp"
# the functions that call SubmitJob (pipeline stages and schedules record their jobs QUEUED; the dispatcher submits)
SUBMITTERS = ("gateway", "job_events", "sweeper", "dispatcher")
NEW = "critical"


def with_a_fifth_class(*, as_deploy_parameter: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """template.yaml with "critical" added in its one place, and the deploy's parameter values: the class goes in the
    PriorityClasses default (or the deploy's value of it) and its line in PriorityClassRank. Nothing else changes."""
    edited = copy.deepcopy(template())
    classes = f"{edited['Parameters']['PriorityClasses']['Default']},{NEW}"
    parameters: dict[str, Any] = {}
    if as_deploy_parameter:
        parameters["PriorityClasses"] = classes
    else:
        edited["Parameters"]["PriorityClasses"]["Default"] = classes
    edited["Mappings"]["PriorityClassRank"][NEW] = {"Spot": 500, "OnDemand": 510}
    # the edit touches the one block: the PriorityClasses parameter and the PriorityClassRank mapping, nothing else
    original = template()
    assert {k for k in edited if edited[k] != original[k]} <= {"Parameters", "Mappings"}
    changed = {(k, kk) for k in ("Parameters", "Mappings") for kk in edited[k] if edited[k][kk] != original[k][kk]}
    assert changed <= {("Parameters", "PriorityClasses"), ("Mappings", "PriorityClassRank")}
    return edited, parameters


def deploy(edited: dict[str, Any], parameters: dict[str, Any]) -> Any:
    cfn = transformed(edited, parameters=parameters, region=REGION, account=ACCOUNT, stack_name=STACK)
    return stack_of(cfn, {}, STACK, parameters)


@pytest.mark.parametrize("as_deploy_parameter", [False, True], ids=["template-default", "deploy-parameter"])
def test_a_fifth_priority_class_is_one_edit_of_the_template(as_deploy_parameter: bool) -> None:
    # GIVEN template.yaml with a fifth class "critical" in its one place, deployed as stack "bp"
    stack = deploy(*with_a_fifth_class(as_deploy_parameter=as_deploy_parameter))
    queues = stack.resources("AWS::Batch::JobQueue")
    arn = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue"

    # THEN it has a Spot and an On-Demand queue, named for the stack, above urgent, on its capacity's environment
    spot, on_demand = queues[f"{NEW}SpotQueue"], queues[f"{NEW}OnDemandQueue"]
    assert stack.physical[f"{NEW}SpotQueue"]["Ref"] == f"{arn}/{STACK}_{NEW}_spot"
    assert stack.physical[f"{NEW}OnDemandQueue"]["Ref"] == f"{arn}/{STACK}_{NEW}_on-demand"
    assert stack.resolve(spot["Properties"]["Priority"]) == 500
    assert stack.resolve(on_demand["Properties"]["Priority"]) == 510
    assert stack.resolve(queues["urgentOnDemandQueue"]["Properties"]["Priority"]) < 500
    environments = {
        logical: [o["ComputeEnvironment"] for o in stack.resolve(q["Properties"]["ComputeEnvironmentOrder"])]
        for logical, q in queues.items()
    }
    assert environments[f"{NEW}SpotQueue"] == [stack.physical["SpotComputeEnvironment"]["Ref"]]
    assert environments[f"{NEW}OnDemandQueue"] == [stack.physical["OnDemandComputeEnvironment"]["Ref"]]
    assert len(queues) == 2 * 5 + 1  # five classes x two capacities, and the multi-node queue (no GPU types given)

    # AND the control plane's settings, from the functions' environment as CloudFormation resolves it, name its queues
    # once the domain knows the class (one line in batchplane.domain.models.Priority), and refuse to start before
    env = deployed_environment(stack)
    assert env["PRIORITY_CLASSES"].split(",")[-1] == NEW
    with pytest.raises(ValueError, match=f"{NEW}.*batchplane.domain.models.Priority"):
        Settings.from_environ(env)
    settings = Settings.from_environ(env, known_classes={*KNOWN_PRIORITY_CLASSES, NEW})
    catalogue = {(q.priority, q.capacity.value): q.queue_arn for q in settings.catalogue().queues}
    assert catalogue[(NEW, "spot")] == stack.physical[f"{NEW}SpotQueue"]["Ref"]
    assert catalogue[(NEW, "on-demand")] == stack.physical[f"{NEW}OnDemandQueue"]["Ref"]
    assert set(catalogue.values()) == {stack.physical[q]["Ref"] for q in queues}

    # AND every submitting function's role lets SubmitJob reach both (the local IAM evaluator, on the deployed roles)
    principals = function_principals(stack)
    for function in SUBMITTERS:
        for queue in (f"{NEW}SpotQueue", f"{NEW}OnDemandQueue"):
            request = iam.Request("batch:SubmitJob", stack.physical[queue]["Ref"])
            assert iam.decide(principals[function].statements, request) == "Allow", (function, queue)

    # AND the Batch events rule takes their events, and not another stack's
    (rule,) = [r for r in stack.resources("AWS::Events::Rule").values() if "EventPattern" in r["Properties"]]
    pattern = moto_glue.Pattern(stack.resolve(rule["Properties"]["EventPattern"]))

    def event_on(queue_arn: str) -> dict[str, Any]:
        event = load_event("batch-job-state-change-running")
        event["detail"]["jobQueue"] = queue_arn
        return event

    assert pattern.matches(event_on(stack.physical[f"{NEW}SpotQueue"]["Ref"]))
    assert pattern.matches(event_on(stack.physical[f"{NEW}OnDemandQueue"]["Ref"]))
    assert not pattern.matches(event_on(f"{arn}/{STACK}-prod_{NEW}_spot"))

    # AND the outputs list them
    outputs = stack.template["Outputs"]
    assert stack.resolve(outputs[f"{NEW}SpotQueueArn"]["Value"]) == stack.physical[f"{NEW}SpotQueue"]["Ref"]
    assert stack.resolve(outputs[f"{NEW}OnDemandQueueArn"]["Value"]) == stack.physical[f"{NEW}OnDemandQueue"]["Ref"]


def test_a_class_without_its_priorities_fails_the_deploy_naming_it() -> None:
    # GIVEN a fifth class in PriorityClasses but no line for it in PriorityClassRank
    edited, parameters = with_a_fifth_class(as_deploy_parameter=True)
    del edited["Mappings"]["PriorityClassRank"][NEW]
    stack = deploy(edited, parameters)
    # WHEN its queue's priority is evaluated THEN it fails as CloudFormation's Fn::FindInMap would, naming the class
    with pytest.raises(KeyError, match=NEW):
        stack.resolve(stack.resources("AWS::Batch::JobQueue")[f"{NEW}SpotQueue"]["Properties"]["Priority"])


def test_the_template_s_classes_are_the_domain_s() -> None:
    # GIVEN the one list of the template and the classes the API accepts
    classes = template()["Parameters"]["PriorityClasses"]["Default"].split(",")
    # THEN they are the same, each class has its priorities, and the classes rank in the listed order
    assert set(classes) == {p.value for p in Priority} == KNOWN_PRIORITY_CLASSES
    ranks = template()["Mappings"]["PriorityClassRank"]
    assert set(ranks) == set(classes)
    order = [ranks[c][capacity] for c in classes for capacity in ("Spot", "OnDemand")]
    assert order == sorted(order)
    assert len(set(order)) == len(order)


PREFIX = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/bp_"


@pytest.mark.parametrize(
    ("prefix", "classes", "named"),
    [
        (f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/bp-", ("low",), "QUEUE_ARN_PREFIX"),  # not "<stack>_"
        ("", ("low",), "QUEUE_ARN_PREFIX"),
        (PREFIX, (), "names no priority class"),
        (PREFIX, ("low", "low"), "twice"),
        (PREFIX, ("low", "asap"), "asap"),
    ],
)
def test_settings_refuse_a_queue_configuration_they_cannot_trust(
    prefix: str, classes: tuple[str, ...], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        derive_queues(prefix, classes, max_vcpus=8, max_memory_mib=1024, gpu_max_memory_mib=1024, gpus=0)


def test_settings_derive_the_gpu_queue_only_when_the_stack_has_one() -> None:
    def derived(gpus: int) -> list[str]:
        queues = derive_queues(PREFIX, ("low",), max_vcpus=8, max_memory_mib=1, gpu_max_memory_mib=2, gpus=gpus)
        return [json.dumps([q.q.removeprefix(PREFIX), q.g, q.m, q.mnp]) for q in queues]

    assert derived(0) == [
        json.dumps(["low_spot", 0, 1, False]),
        json.dumps(["low_on-demand", 0, 1, False]),
        json.dumps(["multinode", 0, 1, True]),
    ]
    assert derived(8)[-1] == json.dumps(["gpu", 8, 2, False])
