"""template.yaml as data: the promises the rest of batchplane relies on (queue classes and their priorities, compute
environment strategies, the table's shape, least-privilege IAM, IAM auth on every route, the gateway's configuration).

Pure file reads, no AWS and no SAM CLI: cfn-lint, `sam validate --lint` and `sam build` check the rest."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cfn import (
    ROOT,
    deployed_environment,
    deployed_resources,
    deployed_stack,
    expanded_template,
    resources,
    template,
)

PRIORITIES = ("low", "normal", "high", "urgent")
CAPACITIES = {"spot": "Spot", "on-demand": "OnDemand"}
QUEUE_PRIORITIES = {
    "lowSpotQueue": 100,
    "lowOnDemandQueue": 110,
    "normalSpotQueue": 200,
    "normalOnDemandQueue": 210,
    "highSpotQueue": 300,
    "highOnDemandQueue": 310,
    "urgentSpotQueue": 400,
    "urgentOnDemandQueue": 410,
    "MultiNodeQueue": 250,
    "GpuQueue": 260,
    # EnableFargate: the same ranks per class (Fargate queues share no compute environment with EC2's)
    **{
        f"{c}Fargate{kind}Queue": rank + (10 if kind == "OnDemand" else 0)
        for c, rank in (("low", 100), ("normal", 200), ("high", 300), ("urgent", 400))
        for kind in ("Spot", "OnDemand")
    },
}

# Statements allowed to use "Resource": "*", keyed by (logical id, Sid), each with the reason AWS leaves no choice
# (the action supports no resource-level permissions). Empty today: add an entry only with a reason.
RESOURCE_STAR_ALLOWED: dict[tuple[str, str], str] = {
    ("SubmitJobsPolicy", "FindBatchJobByName"): "batch:ListJobs supports no resource-level permissions",
    ("GatewayFunction", "FindChildLogStreams"): "batch:DescribeJobs supports no resource-level permissions",
    ("JobEventsFunction", "AnswerPipelineTaskTokens"): "states:SendTaskSuccess/Failure: no resource-level permissions",
    (
        "PipelineTasksFunction",
        "AnswerPipelineTaskTokens",
    ): "states:SendTaskSuccess/Failure: no resource-level permissions",
    ("SweeperFunction", "AnswerPipelineTaskTokens"): "states:SendTaskSuccess/Failure: no resource-level permissions",
    ("DispatcherFunction", "AnswerPipelineTaskTokens"): "states:SendTaskSuccess/Failure: no resource-level permissions",
    ("PipelineStateMachine", "DeliverExecutionLogs"): "CloudWatch Logs vended log delivery requires Resource '*'",
    ("GatewayFunction", "FindBatchJobToCancel"): "batch:ListJobs supports no resource-level permissions",
    ("PipelineTasksFunction", "FindBatchJobToCancel"): "batch:ListJobs supports no resource-level permissions",
    ("GatewayFunction", "ExplainWaitingJobs"): (
        "batch:DescribeJobQueues and DescribeComputeEnvironments support no resource-level permissions"
    ),
    ("DispatcherFunction", "ReadPoolCapacity"): (
        "batch:DescribeJobQueues and DescribeComputeEnvironments support no resource-level permissions"
    ),
    ("RegisterJobDefinitionsPolicy", "FindJobDefinitions"): (
        "batch:DescribeJobDefinitions supports no resource-level permissions"
    ),
    ("SweeperFunction", "ReadPrices"): (
        "pricing:GetProducts and ec2:DescribeSpotPriceHistory support no resource-level permissions (Service "
        "Authorization Reference: AWS Price List, Amazon EC2)"
    ),
    ("SweeperFunction", "DescribeBatchState"): (
        "batch:DescribeJobs, DescribeJobQueues and DescribeComputeEnvironments support no resource-level "
        "permissions (AWS Service Authorization Reference for AWS Batch)"
    ),
}

LAMBDA_ENV_LIMIT_BYTES = 4096


def queue_id(priority: str, capacity: str) -> str:
    return f"{priority}{CAPACITIES[capacity]}Queue"


def queue_priority(queue: dict[str, Any]) -> int:
    """A job queue's Priority as CloudFormation evaluates it (a class's comes from the PriorityClassRank mapping)."""
    from batchplane_local.stack.template import Stack

    return int(Stack(expanded_template()).resolve(queue["Properties"]["Priority"]))


def props(logical_id: str) -> dict[str, Any]:
    return resources()[logical_id]["Properties"]


def ref_target(value: Any) -> str:
    """The logical id a {"Ref": ...} names, or the managed-mode branch of a {"Fn::If": [UseManaged, Ref, Ref]}."""
    if isinstance(value, dict) and "Fn::If" in value:
        condition, when_true, _ = value["Fn::If"]
        assert condition == "UseManaged", value
        return ref_target(when_true)
    assert isinstance(value, dict), value
    assert set(value) == {"Ref"}, value
    return value["Ref"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iam_statements() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement written in the template: roles (trust and inline), policies, and SAM function policies."""
    for logical_id, resource in resources().items():
        properties = resource.get("Properties", {})
        documents: list[Any] = []
        if resource["Type"] == "AWS::IAM::Role":
            documents.append(properties["AssumeRolePolicyDocument"])
            documents += [p["PolicyDocument"] for p in properties.get("Policies", [])]
        elif resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            documents.append(properties["PolicyDocument"])
        elif resource["Type"] == "AWS::Serverless::Function":
            documents += [
                p for p in as_list(properties.get("Policies", [])) if isinstance(p, dict) and "Statement" in p
            ]
        for document in documents:
            for statement in as_list(document["Statement"]):
                if "Fn::If" in statement:  # a statement only under a condition: check the statement it adds
                    statement = statement["Fn::If"][1]  # noqa: PLW2901
                yield logical_id, statement


def http_api_event_routes(api_id: str) -> set[tuple[str, str]]:
    routes = set()
    for function in resources("AWS::Serverless::Function").values():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi" and event["Properties"].get("ApiId") == {"Ref": api_id}:
                routes.add((event["Properties"]["Method"].lower(), event["Properties"]["Path"]))
    return routes


# ---- Batch: queues ----


def test_every_priority_class_has_a_spot_and_an_on_demand_queue_in_priority_order() -> None:
    # GIVEN the job queues of the template
    queues = resources("AWS::Batch::JobQueue")

    # WHEN they are read in the order low, normal, high, urgent with Spot before On-Demand in each class
    ordered = [queue_id(p, c) for p in PRIORITIES for c in CAPACITIES]
    priorities = [queue_priority(queues[q]) for q in ordered]

    # THEN all eight exist with the documented priorities, strictly increasing: a higher class always wins, and
    # On-Demand sits above Spot within a class
    assert {q: QUEUE_PRIORITIES[q] for q in ordered} == dict(zip(ordered, priorities, strict=True))
    assert priorities == sorted(priorities)
    assert len(set(priorities)) == len(priorities)


def test_queue_logical_ids_priorities_and_names_are_the_documented_ones() -> None:
    # GIVEN the job queues of the template
    queues = resources("AWS::Batch::JobQueue")

    # WHEN their priorities and names are read
    found = {q: queue_priority(r) for q, r in queues.items()}
    names = {q: r["Properties"]["JobQueueName"]["Fn::Sub"] for q, r in queues.items()}

    # THEN the logical ids are exactly the ones the code and the local stack rely on, names are deterministic,
    # every queue is ENABLED and the GPU queue exists only when GPU instance types are given
    assert found == QUEUE_PRIORITIES
    for priority in PRIORITIES:
        for capacity in CAPACITIES:
            assert names[queue_id(priority, capacity)] == f"${{AWS::StackName}}_{priority}_{capacity}"
    assert all(r["Properties"]["State"] == "ENABLED" for r in queues.values())
    assert queues["GpuQueue"]["Condition"] == "HasGpu"
    assert all(r["Condition"] == "FargateOn" for q, r in queues.items() if "Fargate" in q)
    assert all("Condition" not in r for q, r in queues.items() if q != "GpuQueue" and "Fargate" not in q)


def test_queues_point_at_the_compute_environment_of_their_capacity() -> None:
    # GIVEN the job queues of the template
    queues = resources("AWS::Batch::JobQueue")
    expected = {queue_id(p, "spot"): "SpotComputeEnvironment" for p in PRIORITIES}
    expected |= {queue_id(p, "on-demand"): "OnDemandComputeEnvironment" for p in PRIORITIES}
    expected |= {"MultiNodeQueue": "MultiNodeComputeEnvironment", "GpuQueue": "GpuComputeEnvironment"}

    for logical_id, environment in expected.items():
        # WHEN the first compute environment of each queue is read
        first = queues[logical_id]["Properties"]["ComputeEnvironmentOrder"][0]
        when_unmanaged = first["ComputeEnvironment"]["Fn::If"][2]

        # THEN it is the capacity's managed environment, or the single unmanaged one in unmanaged mode
        assert first["Order"] == 1
        assert ref_target(first["ComputeEnvironment"]) == environment
        assert when_unmanaged == {"Ref": "UnmanagedComputeEnvironment"}


def test_spot_queues_overflow_to_on_demand_only_when_asked() -> None:
    for priority in PRIORITIES:
        # GIVEN a Spot queue and an On-Demand queue of one class
        spot = props(queue_id(priority, "spot"))["ComputeEnvironmentOrder"]
        on_demand = props(queue_id(priority, "on-demand"))["ComputeEnvironmentOrder"]

        # WHEN the second compute environment of the Spot queue is read
        condition, second, otherwise = spot[1]["Fn::If"]

        # THEN it is the On-Demand environment under SpotOverflowToOnDemand and nothing otherwise; On-Demand queues
        # never fall to Spot
        assert condition == "SpotOverflowToOnDemand"
        assert second == {"Order": 2, "ComputeEnvironment": {"Ref": "OnDemandComputeEnvironment"}}
        assert otherwise == {"Ref": "AWS::NoValue"}
        assert len(spot) == 2
        assert len(on_demand) == 1
    assert template()["Parameters"]["SpotQueueOverflowToOnDemand"]["Default"] == "false"


# ---- Batch: compute environments ----


def test_spot_compute_environment_uses_price_capacity_optimized_and_the_bid_parameter() -> None:
    # GIVEN the Spot compute environment
    resource = resources()["SpotComputeEnvironment"]

    # WHEN its compute resources are read
    compute = resource["Properties"]["ComputeResources"]

    # THEN it is a managed SPOT environment that bids the parameter's percentage, with the service-linked role
    assert resource["Condition"] == "UseManaged"
    assert resource["Properties"]["Type"] == "MANAGED"
    assert "ServiceRole" not in resource["Properties"]
    assert compute["Type"] == "SPOT"
    assert compute["AllocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    assert compute["BidPercentage"] == {"Ref": "SpotBidPercentage"}
    assert compute["InstanceTypes"] == {"Ref": "InstanceTypes"}
    assert compute["InstanceRole"] == {"Fn::GetAtt": ["EcsInstanceProfile", "Arn"]}


@pytest.mark.parametrize("logical_id", ["OnDemandComputeEnvironment", "MultiNodeComputeEnvironment"])
def test_on_demand_compute_environments_use_best_fit_progressive(logical_id: str) -> None:
    # GIVEN an On-Demand compute environment
    compute = props(logical_id)["ComputeResources"]

    # WHEN its type and strategy are read
    kind, strategy = compute["Type"], compute["AllocationStrategy"]

    # THEN it is EC2 with BEST_FIT_PROGRESSIVE
    assert (kind, strategy) == ("EC2", "BEST_FIT_PROGRESSIVE")


def test_multi_node_compute_environment_runs_in_a_cluster_placement_group() -> None:
    # GIVEN the multi-node compute environment
    compute = props("MultiNodeComputeEnvironment")["ComputeResources"]

    # WHEN its placement group is followed to its resource
    group = resources()[ref_target(compute["PlacementGroup"])]

    # THEN it is a cluster placement group, and the environment uses the multi-node instance types
    assert group["Type"] == "AWS::EC2::PlacementGroup"
    assert group["Properties"]["Strategy"] == "cluster"
    assert compute["InstanceTypes"] == {"Ref": "MultiNodeInstanceTypes"}


def test_gpu_and_unmanaged_environments_exist_only_in_their_mode() -> None:
    # GIVEN the template's conditions and compute environments
    conditions = template()["Conditions"]
    environments = resources("AWS::Batch::ComputeEnvironment")

    # WHEN the conditional environments are read
    gpu, unmanaged = environments["GpuComputeEnvironment"], environments["UnmanagedComputeEnvironment"]

    # THEN GPU needs GPU instance types (and managed mode), unmanaged mode has one UNMANAGED environment
    assert conditions["HasGpu"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "GpuInstanceTypes"}, ""]}]}
    assert gpu["Condition"] == "HasManagedGpu"
    assert unmanaged["Condition"] == "UseUnmanaged"
    assert unmanaged["Properties"]["Type"] == "UNMANAGED"
    assert template()["Parameters"]["ComputeEnvironmentMode"]["AllowedValues"] == ["managed", "unmanaged"]


# ---- Batch: job definitions ----


def test_sample_job_definition_retries_host_failures_only() -> None:
    # GIVEN the sample job definition
    definition = props("SampleJobDefinition")

    # WHEN its retry strategy is read
    retry = definition["RetryStrategy"]

    # THEN Batch retries an EC2 host failure (Spot reclaim) and exits on anything else, which the control plane
    # classifies itself
    assert retry["Attempts"] == 2
    assert retry["EvaluateOnExit"] == [
        {"OnStatusReason": "Host EC2*", "Action": "RETRY"},
        {"OnReason": "*", "Action": "EXIT"},
    ]
    assert definition["Timeout"]["AttemptDurationSeconds"] == 3600
    assert definition["PlatformCapabilities"] == ["EC2"]


def test_multi_node_job_definition_is_multinode() -> None:
    # GIVEN the multi-node sample job definition
    definition = props("MultiNodeJobDefinition")

    # WHEN its node properties are read
    nodes = definition["NodeProperties"]

    # THEN it is a two-node multinode definition whose range covers every node
    assert definition["Type"] == "multinode"
    assert (nodes["NumNodes"], nodes["MainNode"]) == (2, 0)
    assert [r["TargetNodes"] for r in nodes["NodeRangeProperties"]] == ["0:"]


# ---- Table ----


def test_table_has_keys_indexes_recovery_encryption_and_ttl() -> None:
    # GIVEN the table resource
    table = resources()["BatchplaneTable"]
    properties = table["Properties"]

    # WHEN its key schema and indexes are read
    keys = {k["AttributeName"]: k["KeyType"] for k in properties["KeySchema"]}
    indexes = {
        i["IndexName"]: ({k["AttributeName"]: k["KeyType"] for k in i["KeySchema"]}, i["Projection"]["ProjectionType"])
        for i in properties["GlobalSecondaryIndexes"]
    }

    # THEN it is the documented single-table design, on demand, recoverable, encrypted, expiring, and retained
    assert keys == {"pk": "HASH", "sk": "RANGE"}
    assert indexes == {
        "gsi1": ({"gsi1pk": "HASH", "gsi1sk": "RANGE"}, "ALL"),
        "gsi2": ({"gsi2pk": "HASH", "gsi2sk": "RANGE"}, "ALL"),
    }
    assert all(a["AttributeType"] == "S" for a in properties["AttributeDefinitions"])
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


# ---- IAM ----


def test_no_iam_statement_uses_a_wildcard_action() -> None:
    # GIVEN every IAM statement in the template
    statements = list(iam_statements())

    # WHEN their actions are collected
    wildcards = [(lid, a) for lid, s in statements for a in as_list(s.get("Action", [])) if "*" in str(a)]

    # THEN none has a "*" in an action (statements were found at all)
    assert statements
    assert wildcards == []


def test_resource_star_only_where_allow_listed() -> None:
    # GIVEN every IAM statement in the template
    statements = list(iam_statements())

    # WHEN the statements granting on Resource "*" are collected
    star = {(lid, s.get("Sid", "")) for lid, s in statements if "*" in as_list(s.get("Resource", []))}

    # THEN each one is allow-listed with its reason
    assert star <= set(RESOURCE_STAR_ALLOWED)


def test_function_policy_statements_are_named_and_scoped_to_batchplane() -> None:
    # GIVEN the statements every submitting function shares, and the gateway's own
    shared = [s for lid, s in iam_statements() if lid == "SubmitJobsPolicy"]
    statements = shared + [s for lid, s in iam_statements() if lid == "GatewayFunction"]
    by_sid = {s["Sid"]: s for s in statements}

    # WHEN the SubmitJob statement's resources are read
    submit = as_list(by_sid["SubmitToBatchplaneQueues"]["Resource"])
    definition_refs = {r["Ref"] for r in submit if "Ref" in r}
    queue_patterns = [r["Fn::Sub"] for r in submit if "Fn::Sub" in r]

    # THEN every statement has a Sid, SubmitJob reaches the template's job definitions (never job-definition/*) and
    # the queues named "<stack>_..." (every JobQueueName starts so, and no other stack's can: no "_" in stack names)
    assert all(s.get("Sid") for s in statements)
    assert len(by_sid) == len(statements)
    assert definition_refs == set(resources("AWS::Batch::JobDefinition"))
    prefix = "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job-queue/${AWS::StackName}_"
    registered = "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job-definition/${AWS::StackName}_img_*"
    assert queue_patterns == [f"{prefix}*", registered]  # and the definitions registered for jobs' own images
    for queue in resources("AWS::Batch::JobQueue").values():
        assert queue["Properties"]["JobQueueName"]["Fn::Sub"].startswith("${AWS::StackName}_")


def test_the_submitting_functions_share_one_policy_and_repeat_none_of_it() -> None:
    # GIVEN the functions that submit Batch jobs
    submitting = ("DispatcherFunction", "JobEventsFunction", "SweeperFunction")
    submitting += ("GatewayFunction",)  # the gateway: re-prioritising a RUNNABLE job only
    shared = {s["Sid"] for lid, s in iam_statements() if lid == "SubmitJobsPolicy"}
    for function in submitting:
        # WHEN its policies are read
        policies = as_list(props(function)["Policies"])
        own = {s["Sid"] for lid, s in iam_statements() if lid == function}
        # THEN it attaches the shared policy and writes none of its statements again
        assert {"Ref": "SubmitJobsPolicy"} in policies, function
        assert not own & shared, function


# ---- HTTP API ----


def test_http_api_defaults_to_aws_iam_on_every_route() -> None:
    # GIVEN the HTTP API, its deploy-time AuthMode and the routes the functions declare as events
    api = props("BatchplaneApi")
    body = api["DefinitionBody"]
    auth_mode = template()["Parameters"]["AuthMode"]
    events = http_api_event_routes("BatchplaneApi")

    # WHEN the one security scheme and every route's security are read
    condition, jwt_scheme, iam_scheme = body["components"]["securitySchemes"]["batchplaneAuth"]["Fn::If"]
    any_method = {"x-amazon-apigateway-any-method": "any"}
    documented = {
        (any_method.get(m, m), p): d.get("security") for p, item in body["paths"].items() for m, d in item.items()
    }

    # THEN by default (AuthMode IAM) the scheme is API Gateway's AWS_IAM (SigV4); JWT only when chosen; every event
    # route is in the definition with that scheme (a route missing from the definition would have no auth at all)
    assert (auth_mode["Default"], auth_mode["AllowedValues"]) == ("IAM", ["IAM", "JWT"])
    assert condition == "UseJwt"
    assert template()["Conditions"]["UseJwt"] == {"Fn::Equals": [{"Ref": "AuthMode"}, "JWT"]}
    assert iam_scheme == {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "x-amazon-apigateway-authtype": "awsSigv4",
    }
    assert jwt_scheme["x-amazon-apigateway-authorizer"]["type"] == "jwt"
    assert set(documented) == events
    assert all(security == [{"batchplaneAuth": []}] for security in documented.values())
    assert "Auth" not in api


def test_http_api_routes_are_the_gateway_routes() -> None:
    # GIVEN the gateway function's HttpApi events
    routes = http_api_event_routes("BatchplaneApi")

    # WHEN compared with the routes the gateway serves
    expected = {
        ("post", "/jobs"),
        ("get", "/jobs"),
        ("get", "/jobs/{jobId}"),
        ("post", "/jobs/{jobId}/cancel"),
        ("post", "/jobs/{jobId}/priority"),
        ("get", "/jobs/{jobId}/lineage"),
        ("get", "/jobs/{jobId}/logs"),
        ("get", "/artifacts"),
        ("post", "/pipelines"),
        ("get", "/pipelines"),
        ("get", "/pipelines/{pipelineId}"),
        ("post", "/pipelines/{pipelineId}/cancel"),
        ("post", "/pipelines/{pipelineId}/resume"),
        ("get", "/pipelines/{pipelineId}/graph"),
        ("post", "/schedules"),
        ("get", "/schedules"),
        ("get", "/schedules/{name}"),
        ("delete", "/schedules/{name}"),
        ("get", "/queues"),
        ("get", "/quotas"),
        ("get", "/quotas/{tenant}"),
        ("put", "/quotas/{tenant}"),
        ("get", "/costs"),
        ("get", "/definitions"),
        ("get", "/openapi.json"),
        ("get", "/docs"),
        ("any", "$default"),  # what no route matches: the gateway's problem+json 404
    }

    # THEN they are the same
    assert routes == expected


def test_http_api_logs_throttles_and_fails_on_warnings() -> None:
    # GIVEN the HTTP API
    api = props("BatchplaneApi")

    # WHEN its settings are read
    throttle = api["DefaultRouteSettings"]

    # THEN access logs go to a retained-for-N-days group, routes are throttled, import warnings fail the deploy
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert props("ApiAccessLogs")["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert (throttle["ThrottlingBurstLimit"], throttle["ThrottlingRateLimit"]) == (100, 50)
    assert api["FailOnWarnings"] is True
    assert api["StageName"] == {"Ref": "Stage"}


# ---- Functions ----


def test_tracing_is_the_parameters_alone() -> None:
    # GIVEN the function globals and every function
    function_globals = template()["Globals"]["Function"]
    functions = resources("AWS::Serverless::Function")

    # WHEN their tracing settings are read
    own = {k: f["Properties"]["Tracing"] for k, f in functions.items() if "Tracing" in f["Properties"]}

    # THEN the Tracing parameter decides for every function (off by default: test_template_operations.py)
    assert functions
    assert function_globals["Tracing"] == {"Ref": "Tracing"}
    assert own == {}


def test_function_globals_and_layer() -> None:
    # GIVEN the function globals and the layer
    function_globals = template()["Globals"]["Function"]
    layer = resources()["BatchplaneLayer"]

    # WHEN they are read
    variables = function_globals["Environment"]["Variables"]

    # THEN every function runs python3.13 on arm64 with the layer and the Powertools settings
    assert (function_globals["Runtime"], function_globals["Architectures"]) == ("python3.13", ["arm64"])
    assert function_globals["Layers"] == [{"Ref": "BatchplaneLayer"}]
    assert variables["TABLE_NAME"] == {"Ref": "BatchplaneTable"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "batchplane"
    assert layer["Properties"]["ContentUri"] == "layers/batchplane/"
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}


def test_every_function_and_the_layer_agree_on_runtime_and_architecture() -> None:
    # GIVEN the template after the SAM transform (Globals applied, the layer a published AWS::Lambda::LayerVersion)
    deployed = deployed_resources()
    functions = {k: v["Properties"] for k, v in deployed.items() if v["Type"] == "AWS::Lambda::Function"}
    (layer_id,) = [k for k, v in deployed.items() if v["Type"] == "AWS::Lambda::LayerVersion"]
    layer = deployed[layer_id]["Properties"]
    source_layer = resources()["BatchplaneLayer"]["Metadata"]

    # WHEN each function's runtime and architecture are read
    runtimes = {name: (f["Runtime"], f.get("Architectures", ["x86_64"])) for name, f in functions.items()}

    # THEN all run one runtime on one architecture, which the layer is declared for and built for (sam build uses
    # the layer's Metadata and its Makefile's Python version and wheel platform), and all use the layer
    assert len(functions) >= 5
    ((runtime, architecture),) = {(runtime, tuple(arch)) for runtime, arch in runtimes.values()}
    assert (runtime, architecture) == ("python3.13", ("arm64",)), runtimes
    assert layer["CompatibleRuntimes"] == [runtime]
    assert layer["CompatibleArchitectures"] == list(architecture)
    assert [source_layer["BuildMethod"], source_layer["BuildArchitecture"]] == ["makefile", *architecture]
    makefile = (ROOT / "layers" / "batchplane" / "Makefile").read_text()
    (python_version,) = re.findall(r"^PYTHON_VERSION := (\S+)$", makefile, re.MULTILINE)
    (wheel_platform,) = re.findall(r"^PLATFORM := (\S+)$", makefile, re.MULTILINE)
    assert f"python{python_version}" == runtime
    assert wheel_platform.endswith({"arm64": "_aarch64", "x86_64": "_x86_64"}[architecture[0]]), wheel_platform
    assert all(f["Layers"] == [{"Ref": layer_id}] for f in functions.values()), functions


@pytest.mark.parametrize("with_gpu", [True, False])
def test_queue_catalogue_names_every_queue_and_fits_lambda_environment(with_gpu: bool) -> None:
    # GIVEN the functions' environment as CloudFormation resolves it for a 64-character stack name (the documented
    # limit), with and without GPU instance types, and worst-case limits
    from batchplane.settings import Settings

    parameters = {"MaxJobVcpus": 9999, "MaxJobMemoryMiB": 9999999, "GpuMaxJobMemoryMiB": 9999999}
    if with_gpu:
        parameters["GpuInstanceTypes"] = "g5.xlarge"
    stack = deployed_stack({}, "s" * 64, parameters)
    env = deployed_environment(stack)
    queues = {logical: stack.physical[logical]["Ref"] for logical in stack.resources("AWS::Batch::JobQueue")}

    # WHEN the control plane reads its settings from it
    catalogue = Settings.from_environ(env).queues
    size = sum(len(k) + len(v) for k, v in env.items())

    # THEN every priority x capacity class has its queue: exactly the template's job queues, by ARN; the multi-node
    # (and GPU) queues are marked, the limits are the parameters', and the whole environment stays under 4 KB
    classes = {(e.p, e.c.value): e for e in catalogue if e.p != "*"}
    assert set(classes) == {(p, c) for p in PRIORITIES for c in CAPACITIES}
    assert {e.q for e in catalogue} == set(queues.values())
    for (priority, capacity), entry in classes.items():
        assert entry.q == queues[queue_id(priority, capacity)]
        assert (entry.v, entry.m, entry.g) == (9999, 9999999, 0)
    assert [e.q for e in catalogue if e.mnp] == [queues["MultiNodeQueue"]]
    assert [e.q for e in catalogue if e.g > 0] == ([queues["GpuQueue"]] if with_gpu else [])
    assert set(json.loads(env["JOB_DEFINITIONS"])) == {"sample", "mnp-sample"}
    assert env["MULTINODE_JOB_DEFINITIONS"] == "mnp-sample"
    assert env["DEFAULT_JOB_DEFINITION"] in json.loads(env["JOB_DEFINITIONS"])
    assert size < LAMBDA_ENV_LIMIT_BYTES


def test_gateway_logs_json_to_its_own_retained_group() -> None:
    # GIVEN the gateway function
    function = props("GatewayFunction")

    # WHEN its logging configuration is read
    logging = function["LoggingConfig"]

    # THEN it logs JSON to a log group with the configured retention, without Lambda's START/REPORT lines
    assert logging == {"LogFormat": "JSON", "LogGroup": {"Ref": "GatewayLogGroup"}, "SystemLogLevel": "WARN"}
    assert props("GatewayLogGroup")["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# ---- Outputs ----


def test_outputs_name_the_api_table_queues_and_definitions() -> None:
    # GIVEN the template's outputs (its loops unrolled)
    outputs = expanded_template()["Outputs"]

    # WHEN the output names are collected
    names = set(outputs)

    # THEN a user or a test finds every URL and ARN it needs
    expected = {f"{q}Arn" for q in QUEUE_PRIORITIES} | {
        "ApiUrl",
        "TableName",
        "GatewayFunctionName",
        "LayerArn",
        "SampleJobDefinitionArn",
        "MultiNodeJobDefinitionArn",
    }
    assert expected <= names
    assert outputs["GpuQueueArn"]["Condition"] == "HasGpu"
    assert all(o["Condition"] == "FargateOn" for name, o in outputs.items() if "Fargate" in name)
    assert outputs["ApiUrl"]["Value"]["Fn::Sub"].endswith("/${Stage}")


def test_batch_events_reach_job_events_with_dead_letters_on_every_async_path() -> None:
    # GIVEN the template
    resources = expanded_template()["Resources"]
    fn = resources["JobEventsFunction"]["Properties"]
    rule = fn["Events"]["BatchJobEvents"]["Properties"]
    # THEN the rule takes AWS Batch's two event types, narrowed to this stack's queues
    assert rule["Pattern"]["source"] == ["aws.batch"]
    assert set(rule["Pattern"]["detail-type"]) == {"Batch Job State Change", "Batch Job Queue Blocked"}
    prefix = "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job-queue/${AWS::StackName}_"
    assert rule["Pattern"]["detail"]["jobQueue"] == [{"prefix": {"Fn::Sub": prefix}}]
    # AND undeliverable events, failed invocations and poison events all reach the dead-letter queue
    assert rule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["JobEventsDeadLetterQueue", "Arn"]}}
    assert rule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert fn["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    assert "DEAD_LETTER_QUEUE_URL" in fn["Environment"]["Variables"]
    # AND the sweeper runs every minute
    sweeper = resources["SweeperFunction"]["Properties"]
    assert sweeper["Events"]["EveryMinute"]["Properties"]["Schedule"] == "rate(1 minute)"


def test_data_at_rest_is_encrypted_and_async_paths_have_dead_letters() -> None:
    # GIVEN the template
    res = expanded_template()["Resources"]
    # THEN every queue is encrypted, and every work queue redrives to a dead-letter queue
    for name, r in res.items():
        if r["Type"] == "AWS::SQS::Queue":
            props = r.get("Properties") or {}
            assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name
    assert "RedrivePolicy" in res["StageQueue"]["Properties"]
    # AND every function invoked asynchronously (events, schedules) has an on-failure destination or a DLQ
    for name, r in res.items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        events = (r["Properties"].get("Events") or {}).values()
        kinds = {e["Type"] for e in events}
        if kinds & {"EventBridgeRule", "ScheduleV2"}:
            on_failure = ((r["Properties"].get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get(
                "OnFailure"
            )
            assert on_failure, name
        for e in events:
            if e["Type"] in ("EventBridgeRule", "ScheduleV2"):
                assert "DeadLetterConfig" in e["Properties"], name
    # AND the table keeps point-in-time recovery and encryption
    table = res["BatchplaneTable"]["Properties"]
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True


def test_every_sqs_event_source_queue_outlasts_six_times_its_consumer() -> None:
    """AWS Lambda: "set the source queue's visibility timeout to at least six times the configuration timeout on
    your function" (a throttled or retried batch must not become visible to a second consumer meanwhile)."""
    # GIVEN the template's functions and their SQS event sources
    res = expanded_template()["Resources"]
    default_timeout = (template().get("Globals") or {}).get("Function", {}).get("Timeout", 3)
    sources = 0
    for name, r in res.items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        timeout = r["Properties"].get("Timeout", default_timeout)
        for event_id, event in (r["Properties"].get("Events") or {}).items():
            if event["Type"] != "SQS":
                continue
            sources += 1
            queue_id = event["Properties"]["Queue"]["Fn::GetAtt"][0]
            queue = res[queue_id]["Properties"]
            # THEN the queue hides a message for at least 6x the consumer's timeout (SQS's default is 30 s)
            assert queue.get("VisibilityTimeout", 30) >= 6 * timeout, f"{name}.{event_id}: {queue_id}"
            # AND failed records are retried alone, then dead-lettered
            assert "ReportBatchItemFailures" in event["Properties"].get("FunctionResponseTypes", []), name
            assert "RedrivePolicy" in queue, queue_id
    assert sources >= 1
