"""IAM, enforced: every AWS call a function makes is authorised against its own role, as AWS would.

moto can deny actions, but it matches resources coarsely (an Allow on a table's ARN does not allow that table), so the
local stack and the tests evaluate each call here instead, in a botocore hook on the session the functions' clients
come from (``batchplane.adapters.aws.session()``), before the request leaves the process:

- :func:`requests_of` turns one API call into what IAM authorises: one or more (action, resource ARN, condition keys)
  — a SubmitJob is authorised on its job queue AND its job definition, with tags also on ``batch:TagResource``
  (Batch's tag-on-create); a CreateSchedule also needs ``iam:PassRole`` on the role it hands to Scheduler; an action
  with no resource-level permissions is authorised on ``*``. An operation not in the table is refused loudly, so a
  new call cannot slip through unmodelled.
- :func:`decide` is IAM's policy evaluation for identity-based policies: an explicit Deny wins, then any Allow,
  otherwise the implicit deny. Action and resource patterns with ``*``/``?``, NotAction/NotResource, and the
  condition operators in ``_OPERATORS`` (with ``…IfExists``, ``ForAnyValue:``/``ForAllValues:``). An operator or
  element it does not know fails loudly, naming it.
- A denied call answers as AWS answers it: HTTP 400/403 with the service's own error code (``AccessDeniedException``,
  or ``AccessDenied`` for SQS and IAM) and AWS's message, parsed by botocore into the modelled exception.

Which function is calling comes from :data:`caller`, a context variable the runtime (or a test) sets around each
invocation: calls made on the functions' session with no caller are refused too.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Principal:
    """A function's execution role: what it may do (its role's statements, managed policies expanded)."""

    function: str  # the function's logical id in the template
    role_name: str
    statements: tuple[dict[str, Any], ...]
    session_name: str = ""

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role_name}/{self.session_name or self.function}"


@dataclass(frozen=True)
class Request:
    """One authorisation IAM makes for an API call."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


caller: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("batchplane_iam_caller", default=None)


@contextlib.contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    token = caller.set(principal)
    try:
        yield
    finally:
        caller.reset(token)


# ---- policy evaluation ----------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


_pattern_cache: dict[tuple[str, bool], re.Pattern[str]] = {}


def glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one character."""
    key = (pattern, ignore_case)
    compiled = _pattern_cache.get(key)
    if compiled is None:
        body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        compiled = re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))
        _pattern_cache[key] = compiled
    return compiled.fullmatch(value) is not None


def _action_matches(patterns: list[str], action: str) -> bool:
    return any(glob(p, action, ignore_case=True) for p in patterns)


def _resource_matches(patterns: list[str], resource: str) -> bool:
    return any(glob(p, resource) for p in patterns)


def _string_equals(policy: str, value: Any) -> bool:
    return str(policy) == str(value)


def _string_like(policy: str, value: Any) -> bool:
    return glob(str(policy), str(value))


def _string_equals_ignore_case(policy: str, value: Any) -> bool:
    return str(policy).lower() == str(value).lower()


def _bool(policy: Any, value: Any) -> bool:
    return str(policy).lower() == str(value).lower()


def _numeric(op: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    return lambda policy, value: op(float(value), float(policy))


# operator -> (compare(policy value, request value), negated)
_OPERATORS: dict[str, tuple[Callable[[Any, Any], bool], bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_string_like, False),
    "ArnLike": (_string_like, False),
    "ArnNotEquals": (_string_like, True),
    "ArnNotLike": (_string_like, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda a, b: a == b), False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False),
}


class UnsupportedPolicy(Exception):  # noqa: N818 - a policy this evaluator refuses to guess about
    """A policy element or condition operator the local evaluator does not model: fail loudly, never allow."""


def _lookup(context: Mapping[str, Any], key: str) -> Any:
    for k, v in context.items():  # condition keys are case-insensitive
        if k.lower() == key.lower():
            return v
    return None


def _condition_holds(operator: str, key: str, policy_values: list[Any], context: Mapping[str, Any]) -> bool:
    qualifier = ""
    if ":" in operator and operator.split(":", 1)[0] in ("ForAnyValue", "ForAllValues"):
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    present = _lookup(context, key)
    if base == "Null":
        wants_null = str(policy_values[0]).lower() == "true"
        return (present is None) == wants_null
    if base not in _OPERATORS:
        msg = f"condition operator {operator!r} is not modelled by the local IAM evaluator"
        raise UnsupportedPolicy(msg)
    compare, negated = _OPERATORS[base]
    if present is None:
        if qualifier == "ForAllValues":
            return True
        return if_exists or (negated and not qualifier)
    values = _as_list(present)
    if qualifier == "ForAllValues":
        return all(any(compare(p, v) for p in policy_values) != negated for v in values)
    if qualifier == "ForAnyValue":
        return any(any(compare(p, v) for p in policy_values) != negated for v in values)
    if len(values) != 1:
        return False  # a single-valued operator on a multivalued key does not match
    matched = any(compare(p, values[0]) for p in policy_values)
    return matched != negated


def _statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    known = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
    unknown = set(statement) - known
    if unknown:
        msg = f"policy element(s) {sorted(unknown)} are not modelled by the local IAM evaluator"
        raise UnsupportedPolicy(msg)
    if "Action" in statement:
        if not _action_matches(_as_list(statement["Action"]), request.action):
            return False
    elif "NotAction" in statement:
        if _action_matches(_as_list(statement["NotAction"]), request.action):
            return False
    else:
        return False
    if "Resource" in statement:
        if not _resource_matches(_as_list(statement["Resource"]), request.resource):
            return False
    elif "NotResource" in statement:
        if _resource_matches(_as_list(statement["NotResource"]), request.resource):
            return False
    else:
        return False
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, values in keys.items():
            if not _condition_holds(operator, key, _as_list(values), request.context):
                return False
    return True


def decide(statements: tuple[dict[str, Any], ...] | list[dict[str, Any]], request: Request) -> str:
    """ "Deny" (explicit), "Allow", or "ImplicitDeny": IAM's evaluation of identity-based policies."""
    allowed = False
    for statement in statements:
        if not _statement_applies(statement, request):
            continue
        if statement.get("Effect") == "Deny":
            return "Deny"
        if statement.get("Effect") == "Allow":
            allowed = True
    return "Allow" if allowed else "ImplicitDeny"


# ---- what an API call asks IAM for --------------------------------------------------------------------------------


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _table(name: str) -> str:
    return name if name.startswith("arn:") else _arn("dynamodb", f"table/{name}")


def _queue_arn(url: str) -> str:
    return _arn("sqs", url.rstrip("/").rsplit("/", 1)[-1])


class Resolver:
    """Facts about existing resources that a request's authorisation depends on: a job's tags (for
    ``aws:ResourceTag``) and a job definition name's latest revision. The local stack answers from its Batch."""

    def job_tags(self, job_id: str) -> dict[str, str]:
        return {}

    def job_definition_arn(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        name, _, revision = name_or_arn.partition(":")
        return _arn("batch", f"job-definition/{name}:{revision or '1'}")


def _request_tags(tags: Mapping[str, str] | None) -> dict[str, Any]:
    if not tags:
        return {}
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    context["aws:TagKeys"] = list(tags)
    return context


def _resource_tags(tags: Mapping[str, str]) -> dict[str, Any]:
    return {f"aws:ResourceTag/{k}": v for k, v in tags.items()}


def _batch_submit(p: Mapping[str, Any], r: Resolver) -> list[Request]:
    out = [
        Request("batch:SubmitJob", _arn("batch", f"job-queue/{str(p['jobQueue']).rsplit('/', 1)[-1]}")),
        Request("batch:SubmitJob", r.job_definition_arn(str(p["jobDefinition"]))),
    ]
    if p.get("tags"):
        # Batch's tag-on-create: tags in a creating call are authorised again on batch:TagResource for the new job
        # (no aws:ResourceTag yet: the job does not exist; aws:RequestTag carries the tags)
        out.append(Request("batch:TagResource", _arn("batch", "job/*"), _request_tags(p["tags"])))
    return out


def _batch_register(p: Mapping[str, Any], _r: Resolver) -> list[Request]:
    """RegisterJobDefinition: on job-definition/<name> with Batch's container condition keys (batch:Image,
    batch:Privileged), and iam:PassRole on every role it hands to ECS tasks (job role, execution role)."""
    container = p.get("containerProperties") or {}
    context: dict[str, Any] = {}
    if container.get("image") is not None:
        context["batch:Image"] = str(container["image"])
    if container.get("privileged") is not None:
        context["batch:Privileged"] = "true" if container["privileged"] else "false"
    out = [Request("batch:RegisterJobDefinition", _arn("batch", f"job-definition/{p['jobDefinitionName']}"), context)]
    passed = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    out += [
        Request("iam:PassRole", str(container[k]), passed)
        for k in ("jobRoleArn", "executionRoleArn")
        if container.get(k)
    ]
    if p.get("tags"):
        out.append(Request("batch:TagResource", _arn("batch", "job-definition/*"), _request_tags(p["tags"])))
    return out


def _batch_job(action: str) -> Callable[[Mapping[str, Any], Resolver], list[Request]]:
    def one(p: Mapping[str, Any], r: Resolver) -> list[Request]:
        job_id = str(p["jobId"])
        return [Request(action, _arn("batch", f"job/{job_id}"), _resource_tags(r.job_tags(job_id)))]

    return one


def _star(action: str) -> Callable[[Mapping[str, Any], Resolver], list[Request]]:
    """An action with no resource-level permissions: IAM authorises it on "*"."""
    return lambda _p, _r: [Request(action, "*")]


def _ddb(action: str) -> Callable[[Mapping[str, Any], Resolver], list[Request]]:
    def one(p: Mapping[str, Any], _r: Resolver) -> list[Request]:
        table = _table(str(p["TableName"]))
        if p.get("IndexName"):
            table = f"{table}/index/{p['IndexName']}"
        return [Request(action, table)]

    return one


def _ddb_batch(action: str) -> Callable[[Mapping[str, Any], Resolver], list[Request]]:
    return lambda p, _r: [Request(action, _table(t)) for t in p.get("RequestItems") or {}]


_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def _ddb_transact_write(p: Mapping[str, Any], _r: Resolver) -> list[Request]:
    """TransactWriteItems has no IAM action of its own: each item is authorised as its own write."""
    out = []
    for item in p.get("TransactItems") or []:
        for kind, body in item.items():
            out.append(Request(_TRANSACT_ACTIONS[kind], _table(str(body["TableName"]))))
    return out


def _ddb_transact_get(p: Mapping[str, Any], _r: Resolver) -> list[Request]:
    return [Request("dynamodb:GetItem", _table(str(i["Get"]["TableName"]))) for i in p.get("TransactItems") or []]


def _sqs(action: str) -> Callable[[Mapping[str, Any], Resolver], list[Request]]:
    return lambda p, _r: [Request(action, _queue_arn(str(p["QueueUrl"])))]


def _sqs_by_name(p: Mapping[str, Any], _r: Resolver) -> list[Request]:
    return [Request("sqs:GetQueueUrl", _arn("sqs", str(p["QueueName"])))]


def _states(action: str, key: str) -> Callable[[Mapping[str, Any], Resolver], list[Request]]:
    return lambda p, _r: [Request(action, str(p[key]))]


def _schedule_arn(p: Mapping[str, Any]) -> str:
    return _arn("scheduler", f"schedule/{p.get('GroupName') or 'default'}/{p['Name']}")


def _scheduler(action: str) -> Callable[[Mapping[str, Any], Resolver], list[Request]]:
    def one(p: Mapping[str, Any], _r: Resolver) -> list[Request]:
        out = [Request(action, _schedule_arn(p))]
        role = (p.get("Target") or {}).get("RoleArn")
        if role:  # handing a role to Scheduler is iam:PassRole on that role
            out.append(Request("iam:PassRole", str(role), {"iam:PassedToService": "scheduler.amazonaws.com"}))
        return out

    return one


def _logs_stream(action: str) -> Callable[[Mapping[str, Any], Resolver], list[Request]]:
    def one(p: Mapping[str, Any], _r: Resolver) -> list[Request]:
        group = p.get("logGroupName") or str(p.get("logGroupIdentifier", "")).rsplit(":log-group:", 1)[-1]
        return [Request(action, _arn("logs", f"log-group:{group}:log-stream:{p['logStreamName']}"))]

    return one


def _events_put(p: Mapping[str, Any], _r: Resolver) -> list[Request]:
    buses = {str(e.get("EventBusName") or "default") for e in p.get("Entries") or []}
    return [Request("events:PutEvents", b if b.startswith("arn:") else _arn("events", f"event-bus/{b}")) for b in buses]


Rule = Callable[[Mapping[str, Any], Resolver], list[Request]]

# (botocore service name, operation) -> the authorisations AWS makes for it (Service Authorization Reference)
REQUESTS: dict[tuple[str, str], Rule] = {
    ("dynamodb", "GetItem"): _ddb("dynamodb:GetItem"),
    ("dynamodb", "PutItem"): _ddb("dynamodb:PutItem"),
    ("dynamodb", "UpdateItem"): _ddb("dynamodb:UpdateItem"),
    ("dynamodb", "DeleteItem"): _ddb("dynamodb:DeleteItem"),
    ("dynamodb", "Query"): _ddb("dynamodb:Query"),
    ("dynamodb", "Scan"): _ddb("dynamodb:Scan"),
    ("dynamodb", "BatchWriteItem"): _ddb_batch("dynamodb:BatchWriteItem"),
    ("dynamodb", "BatchGetItem"): _ddb_batch("dynamodb:BatchGetItem"),
    ("dynamodb", "TransactWriteItems"): _ddb_transact_write,
    ("dynamodb", "TransactGetItems"): _ddb_transact_get,
    ("batch", "SubmitJob"): _batch_submit,
    ("batch", "RegisterJobDefinition"): _batch_register,
    ("batch", "TerminateJob"): _batch_job("batch:TerminateJob"),
    ("batch", "CancelJob"): _batch_job("batch:CancelJob"),
    ("batch", "ListJobs"): _star("batch:ListJobs"),
    ("batch", "DescribeJobs"): _star("batch:DescribeJobs"),
    ("batch", "DescribeJobQueues"): _star("batch:DescribeJobQueues"),
    ("batch", "DescribeComputeEnvironments"): _star("batch:DescribeComputeEnvironments"),
    ("batch", "DescribeJobDefinitions"): _star("batch:DescribeJobDefinitions"),
    ("sqs", "SendMessage"): _sqs("sqs:SendMessage"),
    ("sqs", "SendMessageBatch"): _sqs("sqs:SendMessage"),
    ("sqs", "ReceiveMessage"): _sqs("sqs:ReceiveMessage"),
    ("sqs", "DeleteMessage"): _sqs("sqs:DeleteMessage"),
    ("sqs", "DeleteMessageBatch"): _sqs("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _sqs("sqs:ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _sqs("sqs:GetQueueAttributes"),
    ("sqs", "GetQueueUrl"): _sqs_by_name,
    ("stepfunctions", "StartExecution"): _states("states:StartExecution", "stateMachineArn"),
    ("stepfunctions", "StopExecution"): _states("states:StopExecution", "executionArn"),
    ("stepfunctions", "DescribeExecution"): _states("states:DescribeExecution", "executionArn"),
    ("stepfunctions", "SendTaskSuccess"): _star("states:SendTaskSuccess"),
    ("stepfunctions", "SendTaskFailure"): _star("states:SendTaskFailure"),
    ("stepfunctions", "SendTaskHeartbeat"): _star("states:SendTaskHeartbeat"),
    ("scheduler", "CreateSchedule"): _scheduler("scheduler:CreateSchedule"),
    ("scheduler", "UpdateSchedule"): _scheduler("scheduler:UpdateSchedule"),
    ("scheduler", "GetSchedule"): _scheduler("scheduler:GetSchedule"),
    ("scheduler", "DeleteSchedule"): _scheduler("scheduler:DeleteSchedule"),
    ("scheduler", "ListSchedules"): _star("scheduler:ListSchedules"),
    ("logs", "GetLogEvents"): _logs_stream("logs:GetLogEvents"),
    ("logs", "PutLogEvents"): _logs_stream("logs:PutLogEvents"),
    ("events", "PutEvents"): _events_put,
    ("pricing", "GetProducts"): _star("pricing:GetProducts"),
    ("ec2", "DescribeSpotPriceHistory"): _star("ec2:DescribeSpotPriceHistory"),
}

# The code AWS answers a denied call with, by botocore service name (AccessDeniedException unless listed)
_ERROR_CODES = {"sqs": ("AccessDenied", 403), "iam": ("AccessDenied", 403), "sts": ("AccessDenied", 403)}
_STATUS = {"dynamodb": 400, "stepfunctions": 400, "logs": 400, "events": 400}


def requests_of(service: str, operation: str, params: Mapping[str, Any], resolver: Resolver) -> list[Request]:
    rule = REQUESTS.get((service, operation))
    if rule is None:
        msg = (
            f"{service}.{operation}: no IAM model for this call in batchplane_local.iam.REQUESTS "
            "(add the authorisations AWS makes for it, from the Service Authorization Reference)"
        )
        raise UnsupportedPolicy(msg)
    return rule(params, resolver)


class AccessDenied(Exception):  # noqa: N818 - mirrors AWS's error name
    def __init__(self, principal: Principal | None, request: Request, decision: str) -> None:
        who = principal.arn if principal else "an unidentified caller (no function is running)"
        why = (
            "with an explicit deny in an identity-based policy"
            if decision == "Deny"
            else f"because no identity-based policy allows the {request.action} action"
        )
        super().__init__(
            f"User: {who} is not authorized to perform: {request.action} on resource: {request.resource} {why}"
        )
        self.principal = principal
        self.request = request


@dataclass
class Enforcer:
    """The botocore hook. ``seen`` records every (function, action, resource) it authorised, for the test that lists
    what each function was seen calling; ``denied`` every refusal."""

    resolver: Resolver = field(default_factory=Resolver)
    seen: set[tuple[str, str, str]] = field(default_factory=set)
    denied: list[AccessDenied] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, events: Any) -> None:
        events.register_first("before-parameter-build.*.*", self._authorise)
        events.register_first("before-call.*.*", self._answer)

    def authorise(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        principal = caller.get()
        for request in requests_of(service, operation, params, self.resolver):
            decision = decide(principal.statements, request) if principal else "ImplicitDeny"
            if decision != "Allow":
                error = AccessDenied(principal, request, decision)
                with self._lock:
                    self.denied.append(error)
                raise error
            with self._lock:
                self.seen.add((principal.function if principal else "?", request.action, request.resource))

    def _authorise(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        try:
            self.authorise(model.service_model.service_name, model.name, params)
        except AccessDenied as denied:
            context["batchplane_access_denied"] = denied

    def _answer(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        denied = context.get("batchplane_access_denied")
        if denied is None:
            return None
        service = model.service_model.service_name
        code, status = _ERROR_CODES.get(service, ("AccessDeniedException", _STATUS.get(service, 403)))
        body = {
            "Error": {"Code": code, "Message": str(denied)},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
        }
        return _Response(status), body


@dataclass
class _Response:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


# ---- principals from the transformed template ---------------------------------------------------------------------

# Managed policies the template's roles use, as AWS publishes them (a static map: nothing here calls IAM)
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        }
    ],
}


def principal_of(
    function: str,
    role_name: str,
    role_properties: Mapping[str, Any],
    session_name: str = "",
    customer_policies: Mapping[str, list[dict[str, Any]]] | None = None,
) -> Principal:
    """A function's principal from its resolved ``AWS::IAM::Role`` properties (inline policies and managed policy
    ARNs). ``customer_policies`` are the stack's own ``AWS::IAM::ManagedPolicy`` statements by ARN; an AWS managed
    policy this module does not carry fails loudly rather than allowing or denying by guess."""
    statements: list[dict[str, Any]] = []
    for policy in role_properties.get("Policies") or []:
        statements.extend(_as_list((policy.get("PolicyDocument") or {}).get("Statement")))
    for arn in role_properties.get("ManagedPolicyArns") or []:
        known = (customer_policies or {}).get(arn, MANAGED_POLICIES.get(arn))
        if known is None:
            msg = f"{function}: managed policy {arn} is not the stack's nor in batchplane_local.iam.MANAGED_POLICIES"
            raise UnsupportedPolicy(msg)
        statements.extend(known)
    return Principal(function, role_name, tuple(statements), session_name)
