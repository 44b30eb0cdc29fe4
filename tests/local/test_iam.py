"""The local IAM evaluator against known allow / deny cases (IAM's policy evaluation logic for identity policies), and
the authorisations it asks for each API call the functions make."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane_local import iam

pytestmark = pytest.mark.unit

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/t"
JOB = "arn:aws:batch:us-east-1:123456789012:job/j-1"


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.mark.parametrize(
    ("statements", "request_", "expected"),
    [
        # the resource ARN must match: moto's own enforcement denied this Allow (see shared notes)
        ([allow("dynamodb:PutItem", TABLE)], iam.Request("dynamodb:PutItem", TABLE), "Allow"),
        ([allow("dynamodb:PutItem", TABLE)], iam.Request("dynamodb:PutItem", TABLE + "2"), "ImplicitDeny"),
        ([allow("dynamodb:PutItem", TABLE)], iam.Request("dynamodb:Query", TABLE + "/index/gsi1"), "ImplicitDeny"),
        ([allow("dynamodb:Query", TABLE + "/index/*")], iam.Request("dynamodb:Query", TABLE + "/index/g"), "Allow"),
        # actions are case-insensitive and take wildcards
        ([allow("DynamoDB:put*", TABLE)], iam.Request("dynamodb:PutItem", TABLE), "Allow"),
        ([allow("dynamodb:?etItem", TABLE)], iam.Request("dynamodb:GetItem", TABLE), "Allow"),
        # an action with no resource-level permissions is authorised on "*": only Resource "*" allows it
        (
            [allow("batch:ListJobs", "arn:aws:batch:*:*:job-queue/*")],
            iam.Request("batch:ListJobs", "*"),
            "ImplicitDeny",
        ),
        ([allow("batch:ListJobs", "*")], iam.Request("batch:ListJobs", "*"), "Allow"),
        # an explicit deny wins over any allow
        (
            [allow("*", "*"), {"Effect": "Deny", "Action": "batch:TerminateJob", "Resource": JOB}],
            iam.Request("batch:TerminateJob", JOB),
            "Deny",
        ),
        (
            [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
            iam.Request("iam:PassRole", "r"),
            "ImplicitDeny",
        ),
        ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], iam.Request("sqs:SendMessage", "q"), "Allow"),
        (
            [{"Effect": "Allow", "Action": "*", "NotResource": JOB}],
            iam.Request("batch:TerminateJob", JOB),
            "ImplicitDeny",
        ),
    ],
)
def test_policy_evaluation(statements: list[dict[str, Any]], request_: iam.Request, expected: str) -> None:
    assert iam.decide(statements, request_) == expected


STACK_TAG = {"StringEquals": {"aws:ResourceTag/batchplane:stack": "s1"}}


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        (STACK_TAG, {"aws:ResourceTag/batchplane:stack": "s1"}, "Allow"),
        (STACK_TAG, {"aws:ResourceTag/batchplane:stack": "s2"}, "ImplicitDeny"),
        (STACK_TAG, {}, "ImplicitDeny"),  # a job without the tag (another stack's, or not ours) is not allowed
        ({"StringEqualsIfExists": {"aws:ResourceTag/batchplane:stack": "s1"}}, {}, "Allow"),
        ({"StringLike": {"aws:RequestTag/tenant": "a*"}}, {"aws:RequestTag/tenant": "alice"}, "Allow"),
        ({"StringNotEquals": {"aws:RequestTag/tenant": "bob"}}, {"aws:RequestTag/tenant": "alice"}, "Allow"),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a"]}, "Allow"),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a", "c"]}, "ImplicitDeny"),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["c"]}}, {"aws:TagKeys": ["a", "c"]}, "Allow"),
        ({"Null": {"aws:RequestTag/x": "true"}}, {}, "Allow"),
        ({"Null": {"aws:RequestTag/x": "false"}}, {}, "ImplicitDeny"),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/r"}},
            {"aws:SourceArn": "arn:aws:events:u:1:rule/r"},
            "Allow",
        ),
        # condition keys are case-insensitive
        (STACK_TAG, {"AWS:RESOURCETAG/batchplane:stack": "s1"}, "Allow"),
    ],
)
def test_conditions(condition: dict[str, Any], context: dict[str, Any], expected: str) -> None:
    statement = allow("batch:TerminateJob", "*", Condition=condition)
    assert iam.decide([statement], iam.Request("batch:TerminateJob", JOB, context)) == expected


def test_an_operator_or_element_it_does_not_model_fails_loudly() -> None:
    with pytest.raises(iam.UnsupportedPolicy, match="DateGreaterThan"):
        iam.decide([allow("*", "*", Condition={"DateGreaterThan": {"aws:CurrentTime": "x"}})], iam.Request("a:b", "r"))
    with pytest.raises(iam.UnsupportedPolicy, match="Principal"):
        iam.decide([allow("*", "*", Principal="*")], iam.Request("a:b", "r"))


class Facts(iam.Resolver):
    def job_tags(self, job_id: str) -> dict[str, str]:
        return {"batchplane:stack": "s1"} if job_id == "j-1" else {}


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        (
            "batch",
            "SubmitJob",
            {
                "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/q",
                "jobDefinition": "d:3",
                "tags": {"k": "v"},
            },
            [
                ("batch:SubmitJob", "arn:aws:batch:us-east-1:123456789012:job-queue/q", {}),
                ("batch:SubmitJob", "arn:aws:batch:us-east-1:123456789012:job-definition/d:3", {}),
                (
                    "batch:TagResource",
                    "arn:aws:batch:us-east-1:123456789012:job/*",
                    {"aws:RequestTag/k": "v", "aws:TagKeys": ["k"]},
                ),
            ],
        ),
        (
            "batch",
            "TerminateJob",
            {"jobId": "j-1", "reason": "r"},
            [("batch:TerminateJob", JOB, {"aws:ResourceTag/batchplane:stack": "s1"})],
        ),
        ("dynamodb", "Query", {"TableName": "t", "IndexName": "gsi2"}, [("dynamodb:Query", TABLE + "/index/gsi2", {})]),
        (
            "dynamodb",
            "TransactWriteItems",
            {"TransactItems": [{"Put": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}}]},
            [("dynamodb:PutItem", TABLE, {}), ("dynamodb:ConditionCheckItem", TABLE, {})],
        ),
        (
            "scheduler",
            "CreateSchedule",
            {"Name": "n", "GroupName": "g", "Target": {"RoleArn": "arn:aws:iam::123456789012:role/r"}},
            [
                ("scheduler:CreateSchedule", "arn:aws:scheduler:us-east-1:123456789012:schedule/g/n", {}),
                (
                    "iam:PassRole",
                    "arn:aws:iam::123456789012:role/r",
                    {"iam:PassedToService": "scheduler.amazonaws.com"},
                ),
            ],
        ),
        (
            "sqs",
            "SendMessage",
            {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q1", "MessageBody": "x"},
            [("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q1", {})],
        ),
        (
            "logs",
            "GetLogEvents",
            {"logGroupName": "/aws/batch/job", "logStreamName": "a/b/c"},
            [
                (
                    "logs:GetLogEvents",
                    "arn:aws:logs:us-east-1:123456789012:log-group:/aws/batch/job:log-stream:a/b/c",
                    {},
                )
            ],
        ),
        ("stepfunctions", "SendTaskSuccess", {"taskToken": "t", "output": "{}"}, [("states:SendTaskSuccess", "*", {})]),
    ],
)
def test_what_each_call_asks_iam_for(service: str, operation: str, params: dict[str, Any], expected: list[Any]) -> None:
    asked = iam.requests_of(service, operation, params, Facts())
    assert [(r.action, r.resource, dict(r.context)) for r in asked] == expected


def test_a_call_with_no_model_is_refused_loudly() -> None:
    with pytest.raises(iam.UnsupportedPolicy, match=r"batch\.CreateJobQueue"):
        iam.requests_of("batch", "CreateJobQueue", {}, Facts())


def test_a_denied_call_fails_as_aws_fails_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        # GIVEN a table, a client whose calls the enforcer gates, and a role that may only read the table
        admin = boto3.client("dynamodb", region_name="us-east-1")
        admin.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        session = boto3.Session(region_name="us-east-1")
        enforcer = iam.Enforcer()
        enforcer.register(session.events)
        ddb = session.client("dynamodb")
        role = iam.Principal("GatewayFunction", "gw-role", (allow("dynamodb:GetItem", TABLE),))
        with iam.acting_as(role):
            # WHEN it reads, THEN the call goes through
            ddb.get_item(TableName="t", Key={"p": {"S": "x"}})
            # WHEN it writes, THEN AWS's AccessDeniedException, with AWS's message, and nothing was written
            with pytest.raises(ddb.exceptions.ClientError) as denied:
                ddb.put_item(TableName="t", Item={"p": {"S": "x"}})
        assert admin.scan(TableName="t")["Count"] == 0
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/gw-role/GatewayFunction is not authorized to perform: "
        f"dynamodb:PutItem on resource: {TABLE} because no identity-based policy allows the dynamodb:PutItem action"
    )
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert enforcer.seen == {("GatewayFunction", "dynamodb:GetItem", TABLE)}


def test_a_call_made_outside_any_function_is_refused() -> None:
    with pytest.raises(iam.AccessDenied, match="unidentified caller"):
        iam.Enforcer().authorise("dynamodb", "GetItem", {"TableName": "t"})


def test_a_role_attaching_the_stacks_managed_policy_gets_its_statements() -> None:
    # GIVEN a role with an inline statement, an AWS managed policy and the stack's own managed policy
    mine = "arn:aws:iam::123456789012:policy/stack-SubmitJobsPolicy"
    shared = [{"Effect": "Allow", "Action": "batch:SubmitJob", "Resource": "arn:aws:batch:*:*:job-queue/s_*"}]
    role = {
        "Policies": [
            {"PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}}
        ],
        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", mine],
    }
    # WHEN its principal is made with the stack's policies
    principal = iam.principal_of("Fn", "role", role, customer_policies={mine: shared})
    # THEN every statement counts, and a managed policy it knows nothing of fails loudly
    queue = "arn:aws:batch:us-east-1:123456789012:job-queue/s_low_spot"
    assert iam.decide(principal.statements, iam.Request("batch:SubmitJob", queue)) == "Allow"
    assert iam.decide(principal.statements, iam.Request("logs:PutLogEvents", "x")) == "Allow"
    with pytest.raises(iam.UnsupportedPolicy, match="SubmitJobsPolicy"):
        iam.principal_of("Fn", "role", role)
