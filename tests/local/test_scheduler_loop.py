"""The local EventBridge Scheduler keeps firing every good schedule whatever one bad schedule holds."""

from __future__ import annotations

import queue
import threading
from types import SimpleNamespace
from typing import Any

from batchplane_local.stack.runtime import LocalStack

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:scheduled-submit"


class _Scheduler:
    """Scheduler as moto stores it: whatever was put, with no check that it can ever fire."""

    def __init__(self, expressions: dict[str, str]) -> None:
        self.expressions = expressions

    def list_schedules(self) -> dict[str, Any]:
        return {"Schedules": [{"Name": n, "GroupName": "g"} for n in self.expressions]}

    def get_schedule(self, Name: str, GroupName: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        return {
            "Name": Name,
            "State": "ENABLED",
            "ScheduleExpression": self.expressions[Name],
            "Target": {"Arn": TARGET, "RoleArn": "r", "Input": '{"name": "' + Name + '"}'},
        }


def test_a_schedule_that_can_never_fire_does_not_stop_the_others() -> None:
    # GIVEN schedules AWS would refuse (February 31, a period past any date) beside a good one
    fn = SimpleNamespace(inbox=queue.Queue())
    lines: list[str] = []
    scheduler = _Scheduler(
        {"feb31": "cron(0 0 31 2 ? *)", "forever": "rate(2147483647 days)", "good": "rate(1 minute)"}
    )
    fake = SimpleNamespace(
        _client=lambda _service: scheduler,
        stack=SimpleNamespace(physical={"Fn": {"Arn": TARGET}}),
        functions={"Fn": fn},
        _stopping=threading.Event(),
        schedule_scale=600.0,  # rate(1 minute) every 0.1 s
        _role_allows=lambda *_: True,
        log=lines.append,
    )
    loop = threading.Thread(target=LocalStack._scheduler_loop, args=(fake,), daemon=True)
    # WHEN the scheduler runs
    loop.start()
    try:
        fired = [fn.inbox.get(timeout=5) for _ in range(2)]
    finally:
        fake._stopping.set()
        loop.join(5)
    # THEN the good one fires, again and again, and each bad one is reported once
    assert fired == [{"name": "good"}, {"name": "good"}]
    assert sum("feb31" in line for line in lines) == 1, lines
    assert sum("forever" in line for line in lines) == 1, lines


def test_a_schedule_role_may_invoke_through_the_stacks_own_managed_policy() -> None:
    # GIVEN a schedule role whose lambda:InvokeFunction comes only from a managed policy of the stack itself
    policy_arn = "arn:aws:iam::123456789012:policy/bp-InvokePolicy"
    role = {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
        "ManagedPolicyArns": [policy_arn],
    }
    statements = [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": TARGET}]
    lines: list[str] = []
    fake = SimpleNamespace(
        roles={"SchedulerRole": ("bp-scheduler", role)},
        customer_policies={policy_arn: statements},
        stack=SimpleNamespace(physical={"Fn": {"Arn": TARGET}}, resolve=lambda value: value),
        log=lines.append,
    )
    fn = SimpleNamespace(logical_id="Fn", name="scheduled-submit")
    # WHEN the local Scheduler asks whether the role may invoke its target
    allowed = LocalStack._role_allows(fake, "arn:aws:iam::123456789012:role/bp-scheduler", "lambda:InvokeFunction", fn)
    # THEN the stack's policy counts, as it does for the functions' own roles
    assert allowed, lines
