"""Schedules, as the local stack fires them: EventBridge Scheduler's schedules (which moto only stores) and the
rate/cron/at expressions they and EventBridge rules are written in."""

from __future__ import annotations

import json
import re
import threading
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def run_scheduler(
    scheduler: Any,
    targets: Mapping[str, Any],
    *,
    stopping: threading.Event,
    scale: float,
    allowed: Callable[[str, str, Any], bool],
    log: Callable[[str], None],
) -> None:
    """EventBridge Scheduler, which moto only stores: fire each ENABLED schedule on time (rate(...) periods are
    divided by ``scale`` locally), invoking its target function (``targets``: function ARN -> function)
    asynchronously with its Input, the ``<aws.scheduler.scheduled-time>`` context attribute filled in, if the
    schedule's role is ``allowed`` to invoke it."""
    seen: dict[str, dict[str, Any]] = {}
    last: dict[str, datetime] = {}
    while not stopping.wait(0.25):
        try:
            listed = scheduler.list_schedules().get("Schedules", [])
            names = [f"{s.get('GroupName') or 'default'}/{s['Name']}" for s in listed]
            for s, name in zip(listed, names, strict=True):
                if name not in seen:
                    seen[name] = scheduler.get_schedule(Name=s["Name"], GroupName=s.get("GroupName") or "default")
                    last[name] = datetime.now(UTC)
            for gone in set(seen) - set(names):
                seen.pop(gone)
            now = datetime.now(UTC)
            for name, sched in seen.items():
                if sched.get("State") != "ENABLED":
                    continue
                try:  # one schedule that can never fire (AWS would have refused it) must not stop the others
                    due = next_fire(
                        sched["ScheduleExpression"],
                        sched.get("ScheduleExpressionTimezone") or "UTC",
                        last[name],
                        scale,
                    )
                except (ValueError, OverflowError) as exc:
                    sched["State"] = "DISABLED"  # our copy: said once, then skipped
                    log(f"scheduler: {name} {sched['ScheduleExpression']!r} can never fire: {exc}")
                    continue
                if due is None or due > now:
                    continue
                last[name] = due
                target = sched["Target"]
                fn = targets.get(target["Arn"])
                if fn is None or not allowed(target.get("RoleArn", ""), "lambda:InvokeFunction", fn):
                    continue
                stamp = due.strftime("%Y-%m-%dT%H:%M:%SZ")
                text = str(target.get("Input") or "{}").replace("<aws.scheduler.scheduled-time>", stamp)
                fn.inbox.put(json.loads(text))
        except Exception:  # noqa: BLE001 - keep the clock ticking; the stack may be stopping
            if stopping.is_set():
                return
            log(f"scheduler: {traceback.format_exc()}")


def next_fire(expression: str, timezone: str, after: datetime, scale: float = 1.0) -> datetime | None:
    """The first fire time of an EventBridge Scheduler expression strictly after ``after`` (None: never again)."""
    rate = re.match(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$", expression)
    if rate:
        return after + timedelta(seconds=rate_seconds(expression) / max(scale, 1e-6))
    at = re.match(r"^at\((.+)\)$", expression)
    if at:
        when = datetime.fromisoformat(at.group(1)).replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)
        return when if when > after else None
    cron = re.match(r"^cron\((.+)\)$", expression)
    if cron:
        from croniter import croniter

        fields = cron.group(1).split()
        five = " ".join(f.replace("?", "*") for f in fields[:5])
        base = after.astimezone(ZoneInfo(timezone))
        nxt: datetime = croniter(five, base).get_next(datetime)
        return nxt.astimezone(UTC)
    return None


def rate_seconds(expression: str) -> float:
    m = re.match(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression)
    if not m:
        return 60.0
    unit = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}[m.group(2)]
    return float(int(m.group(1)) * unit)
