"""template.yaml's operations: the alarms and the dashboard watch resources of the stack and metrics the code emits,
notify the AlarmTopicArn topic only when one is given, and X-Ray tracing is a parameter that is off by default.

Pure reads of the template after the SAM transform (as CloudFormation deploys it), resolved with tests.cfn."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batchplane.domain.failures import FailureClass
from batchplane.domain.outcomes import FAILURE_METRICS, RETRY_METRICS, Metric

from tests.cfn import ACCOUNT, REGION, deployed_resources, deployed_stack, deployed_template, stack_of, template

ROOT = Path(__file__).resolve().parent.parent.parent
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:batchplane-ops"

# Metric names looked up from a value (a failure class, a retry reason): the tables the code indexes
_TABLES = {"FAILURE_METRICS": FAILURE_METRICS, "RETRY_METRICS": RETRY_METRICS}


def emitted_metrics() -> set[str]:
    """Every EMF metric name functions/ and the layer emit: add_metric(name=...), the services' _metric(...) with a
    literal, a `Metric` member or a lookup in one of its tables. None is formatted at the call site."""
    names: set[str] = set()
    formatted: set[str] = set()
    sources = [*(ROOT / "functions").glob("*/app.py"), *(ROOT / "layers" / "batchplane").rglob("*.py")]
    for path in sources:
        text = path.read_text()
        names |= set(re.findall(r'add_metric\(\s*name="([^"]+)"', text))
        names |= set(re.findall(r'_metric\(\s*"([^"]+)"', text))
        names |= set(re.findall(r' else "([^"]+)",\s*1\)', text))
        names |= {Metric[member].value for member in re.findall(r"\bMetric\.([A-Z_]+)\b", text)}
        for table in re.findall(r"\b(FAILURE_METRICS|RETRY_METRICS)\[", text):
            names |= {m.value for m in _TABLES[table].values()}
        formatted |= set(re.findall(r'_metric\(\s*f"([^"]+)"', text))
    assert formatted == set(), f"a metric name formatted at the call site: {formatted}"
    return names


def alarms() -> dict[str, dict[str, Any]]:
    return deployed_resources("AWS::CloudWatch::Alarm")


def of_type(kind: str) -> set[str]:
    return set(deployed_resources(kind))


def dead_letter_queues() -> set[str]:
    """Every SQS queue the stack sends what it could not deliver or process to: redrive targets, rule and schedule
    dead-letter configs, and Lambda's asynchronous OnFailure destinations."""
    found: set[str] = set()

    def walk(value: Any, key: str = "") -> Iterator[Any]:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in {"deadLetterTargetArn", "DeadLetterConfig", "OnFailure"}:
                    yield v
                yield from walk(v, k)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v, key)

    queues = of_type("AWS::SQS::Queue")
    for res in deployed_template()["Resources"].values():
        for target in walk(res.get("Properties") or {}):
            text = json.dumps(target)
            found |= {q for q in queues if f'["{q}", "Arn"]' in text}
    return found


def resolved_dimensions(stack: Any, props: dict[str, Any]) -> dict[str, str]:
    return {d["Name"]: stack.resolve(d["Value"]) for d in props.get("Dimensions") or []}


def physical_names(stack: Any, kind: str) -> dict[str, str]:
    """The physical name of each resource of ``kind`` (a function's or a queue's name), by logical id."""
    attribute = "QueueName" if kind == "AWS::SQS::Queue" else "Name"
    return {logical: stack.physical[logical][attribute] for logical in stack.resources(kind)}


# ---- Alarms ----


def test_every_alarm_watches_a_resource_of_the_stack_or_a_metric_the_code_emits() -> None:
    # GIVEN the deployed stack, every function's and queue's physical name, and the metrics the code emits
    stack = deployed_stack({})
    functions = physical_names(stack, "AWS::Lambda::Function")
    queues = physical_names(stack, "AWS::SQS::Queue")
    emitted = emitted_metrics()
    assert alarms()

    for logical, alarm in alarms().items():
        # WHEN the alarm's metric and dimensions are resolved
        props = alarm["Properties"]
        dims = resolved_dimensions(stack, props)
        # THEN each names something that exists
        if props["Namespace"] == "AWS/Lambda":
            assert set(dims) == {"FunctionName"}, logical
            assert props["Dimensions"][0]["Value"]["Ref"] in functions, logical
            assert dims["FunctionName"] in functions.values(), logical
        elif props["Namespace"] == "AWS/SQS":
            assert set(dims) == {"QueueName"}, logical
            assert props["Dimensions"][0]["Value"]["Fn::GetAtt"][0] in queues, logical
            assert dims["QueueName"] in queues.values(), logical
        else:
            assert (
                props["Namespace"]
                == template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
            ), logical
            assert props["MetricName"] in emitted, logical
            assert dims == {"service": "batchplane"}, logical


def test_every_dead_letter_queue_alarms_on_its_first_message() -> None:
    # GIVEN every queue the stack dead-letters to
    queues = dead_letter_queues()
    assert queues == {"JobEventsDeadLetterQueue", "StageDeadLetterQueue", "ScheduleDeadLetterQueue"}

    # WHEN the alarms on SQS queue depth are read
    watched = {
        p["Dimensions"][0]["Value"]["Fn::GetAtt"][0]: p
        for p in (a["Properties"] for a in alarms().values())
        if p["Namespace"] == "AWS/SQS"
    }

    # THEN each dead-letter queue has one, firing on one visible message
    assert set(watched) == queues
    for props in watched.values():
        assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == (
            "Maximum",
            0,
            "GreaterThanThreshold",
        )


def _alarm_on(namespace: str, metric: str, dimension: str | None = None) -> dict[str, Any]:
    found = [
        a["Properties"]
        for a in alarms().values()
        if (a["Properties"]["Namespace"], a["Properties"]["MetricName"]) == (namespace, metric)
        and (dimension is None or a["Properties"]["Dimensions"][0]["Value"] == {"Ref": dimension})
    ]
    assert len(found) == 1, (namespace, metric, dimension)
    return found[0]


def test_the_operational_alarms_watch_what_they_say() -> None:
    # GIVEN the alarms
    # WHEN the ones for job_events errors, the sweeper, SubmitJob and stuck jobs are found
    errors = _alarm_on("AWS/Lambda", "Errors", "JobEventsFunction")
    sweeper = _alarm_on("AWS/Lambda", "Invocations", "SweeperFunction")
    submit = _alarm_on("batchplane", "SubmitDeferred")
    throttled = _alarm_on("batchplane", "SubmitJobThrottled")
    stuck = _alarm_on("batchplane", "JobsStuckRunnable")

    # THEN job_events errors fire at once; a sweeper that is not invoked publishes nothing, so missing data breaches
    assert (errors["Threshold"], errors["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert (sweeper["Threshold"], sweeper["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert sweeper["TreatMissingData"] == "breaching"
    # AND SubmitJob failing after the SDK's retries must be sustained (every minute of 5), stuck jobs for the
    # parameter's minutes in a row
    assert (submit["Period"], submit["EvaluationPeriods"], submit["DatapointsToAlarm"]) == (60, 5, 5)
    # AND Batch throttling SubmitJob (TooManyRequestsException, counted by the adapter) in every minute of 10
    assert (throttled["Period"], throttled["EvaluationPeriods"], throttled["DatapointsToAlarm"]) == (60, 10, 10)
    assert (stuck["Period"], stuck["EvaluationPeriods"]) == (60, {"Ref": "StuckRunnableAlarmMinutes"})


@pytest.mark.parametrize("topic", ["", TOPIC])
def test_alarms_notify_the_topic_only_when_one_is_given(topic: str) -> None:
    # GIVEN the stack deployed with or without AlarmTopicArn
    stack = deployed_stack({}, parameters={"AlarmTopicArn": topic})
    pattern = template()["Parameters"]["AlarmTopicArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, topic)

    for logical, alarm in alarms().items():
        # WHEN each alarm is resolved
        props = stack.resolve(alarm["Properties"])
        # THEN it notifies the topic on ALARM and on OK when there is one, and has no actions otherwise
        if topic:
            assert (props.get("AlarmActions"), props.get("OKActions")) == ([topic], [topic]), logical
        else:
            assert "AlarmActions" not in props, logical
            assert "OKActions" not in props, logical


def test_the_topic_parameter_refuses_what_is_not_an_sns_topic_arn() -> None:
    # GIVEN the parameter's pattern
    pattern = template()["Parameters"]["AlarmTopicArn"]["AllowedPattern"]
    # WHEN values that are not SNS topic ARNs are checked
    bad = ["batchplane-ops", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q", f"arn:aws:sns:{REGION}:{ACCOUNT}:a b"]
    # THEN none matches
    assert not [v for v in bad if re.fullmatch(pattern, v)]


# ---- Dashboard ----


def dashboard(parameters: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    (props,) = (r["Properties"] for r in deployed_resources("AWS::CloudWatch::Dashboard").values())
    stack = deployed_stack({}, parameters=parameters)
    return stack, json.loads(stack.resolve(props["DashboardBody"]))


def metric_rows(body: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    for widget in body["widgets"]:
        for row in widget["properties"]["metrics"]:
            yield widget["properties"]["title"], [v for v in row if not isinstance(v, dict)]


def test_the_dashboard_body_is_json_in_the_stacks_region() -> None:
    # GIVEN the dashboard body after substitution
    _, body = dashboard()
    # WHEN its widgets are read
    widgets = body["widgets"]
    # THEN every widget is a metric widget of this Region, laid out on the 24-column grid
    assert widgets
    for widget in widgets:
        assert widget["type"] == "metric"
        assert widget["properties"]["region"] == REGION
        assert widget["x"] + widget["width"] <= 24


def test_every_dashboard_metric_is_emitted_by_the_code_or_a_resource_of_the_stack() -> None:
    # GIVEN the dashboard, the stack's functions and queues, and the metrics the code emits
    stack, body = dashboard()
    functions = set(physical_names(stack, "AWS::Lambda::Function").values())
    queues = set(physical_names(stack, "AWS::SQS::Queue").values())
    emitted = emitted_metrics()

    for title, row in metric_rows(body):
        # WHEN each metric row is read
        namespace, name, *dims = row
        # THEN it is one the code emits (with the service dimension) or an AWS metric of a resource that exists
        if namespace == "batchplane":
            assert name in emitted, (title, name)
            assert dims == ["service", "batchplane"], (title, name)
        elif namespace == "AWS/Lambda":
            assert dims[0] == "FunctionName", (title, row)
            assert dims[1] in functions, (title, row)
        elif namespace == "AWS/SQS":
            assert dims[0] == "QueueName", (title, row)
            assert dims[1] in queues, (title, row)
        else:
            pytest.fail(f"{title}: unexpected namespace {namespace}")


def test_the_dashboard_shows_every_function_every_dead_letter_queue_and_the_issues_signals() -> None:
    # GIVEN the dashboard
    stack, body = dashboard()
    rows = [row for _, row in metric_rows(body)]

    # WHEN its metrics are gathered
    lambda_metrics = {(r[1], r[3]) for r in rows if r[0] == "AWS/Lambda"}
    queue_depths = {r[3] for r in rows if r[0] == "AWS/SQS" and r[1] == "ApproximateNumberOfMessagesVisible"}
    ours = {r[1] for r in rows if r[0] == "batchplane"}

    # THEN every function's errors and throttles and every dead-letter queue's depth are there
    functions = physical_names(stack, "AWS::Lambda::Function").values()
    assert lambda_metrics == {(m, f) for m in ("Errors", "Throttles") for f in functions}
    assert queue_depths == {stack.physical[q]["QueueName"] for q in dead_letter_queues()}
    # AND submissions, admissions (the dispatcher's), retries, fallbacks, escalations, every failure class, time in queue, SubmitJob deferrals
    assert {
        "JobsSubmitted",
        "JobsAdmitted",
        "Retries.retry",
        "Retries.spot-fallback",
        "Retries.memory-escalation",
    } <= ours
    assert {f"Failures.{c.value}" for c in FailureClass} <= ours
    assert {"TimeInQueueSeconds", "SubmitDeferred", "JobsStuckRunnable"} <= ours
    # AND SubmitJob throttling as AWS Batch answers it, and the estimated cost per hour (and its wasted part)
    assert {"SubmitJobThrottled", "CostEstimated", "CostWasted"} <= ours
    cost = next(w["properties"] for w in body["widgets"] if "CostEstimated" in json.dumps(w))
    assert (cost["stat"], cost["period"]) == ("Sum", 3600)


# ---- Tracing ----


def test_tracing_is_a_parameter_and_off_by_default() -> None:
    # GIVEN the template and the stack deployed with the defaults
    parameter = template()["Parameters"]["Tracing"]
    function_globals = template()["Globals"]["Function"]
    stack = deployed_stack({})

    # WHEN the functions and their roles are read
    functions = deployed_resources("AWS::Lambda::Function")
    roles = deployed_resources("AWS::IAM::Role")
    variables = function_globals["Environment"]["Variables"]

    # THEN tracing is off: no tracing config, no X-Ray policy, and Powertools Tracer told it is disabled
    assert parameter["Default"] == "Disabled"
    assert function_globals["Tracing"] == {"Ref": "Tracing"}
    assert functions
    assert not [k for k, f in functions.items() if "TracingConfig" in f["Properties"]]
    assert "xray" not in json.dumps(roles).lower()
    assert stack.resolve(variables["POWERTOOLS_TRACE_DISABLED"]) == "true"


def test_tracing_active_traces_every_function_with_the_xray_policy() -> None:
    # GIVEN the stack transformed with Tracing=Active
    from batchplane_local.stack.template import transformed

    parameters = {"Tracing": "Active"}
    cfn = transformed(template(), parameters=parameters, region=REGION, account=ACCOUNT, stack_name="batchplane-traced")
    stack = stack_of(cfn, {}, "batchplane-traced", parameters)
    resources = cfn["Resources"]

    # WHEN the functions and their roles are read
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    roles = {k: r for k, r in resources.items() if r["Type"] == "AWS::IAM::Role"}

    # THEN every function traces actively, its role may write to X-Ray, and Powertools Tracer is told it is on
    assert functions
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert stack.resolve(variables["POWERTOOLS_TRACE_DISABLED"]) == "false"
    for logical, function in functions.items():
        assert stack.resolve(function["Properties"]["TracingConfig"]) == {"Mode": "Active"}, logical
        role = roles[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        assert "xray" in json.dumps(role["Properties"].get("ManagedPolicyArns")).lower(), logical
