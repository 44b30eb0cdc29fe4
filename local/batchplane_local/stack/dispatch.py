"""When the local stack invokes the dispatcher. In AWS its schedule invokes it once a minute and each invocation ticks
for DispatcherLoopSeconds: again at once after a tick that admitted, else after an idle tick's sleep. Locally each
invocation ticks once (DispatcherLoopSeconds 0) and is invoked when admission has something new to decide, as a
trigger would invoke it: after another function's write to what admission reads (a tenant's or a pool's counters,
which every enqueue, release from dependencies, quota change and end of an admitted job writes in the same
transaction), again after an invocation that used its tick's whole SubmitJob budget (as the AWS loop ticks again
after admitting; one held back by capacity or quotas waits for the write that frees them), and at least every
FALLBACK_SECONDS (what no write announces: the SubmitJob budget refilling, Batch's capacity changing); never sooner
than GAP_SECONDS after the previous invocation. An idle local stack no longer queries the QUEUED bucket three times a
second, and a busy one reads it at most ten times a second, whatever the number of writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from batchplane_local import iam

FALLBACK_SECONDS = 2.0  # the longest an admissible job waits for a dispatcher invocation locally
# the shortest time between two invocations (AWS's idle tick, DispatcherTickSeconds' default, is 0.5 s). News that
# come within it are decided by one tick, not one tick each. Locally Batch starts a job in milliseconds, not the
# seconds to minutes of EC2, so a pool of short jobs idled for most of a 0.5 s gap (3 one-vCPU jobs per 0.5 s on 2
# vCPUs); a tick's reads are the listing's end since the last (the backlog is kept). A 300-job DAG on 2 vCPUs:
# 54.0 s at 0.5 s; with moto in its own process, 31.5-32.3 s at 0.25 s, 28.3-28.7 s at 0.15, 26.1-27.4 s at 0.1,
# 25.3-28.4 s at 0.05 (README Performance: "The local stack on two cores").
GAP_SECONDS = 0.1
_WRITES = frozenset(("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"))
_SEEN = "batchplane_admission_input"


class AdmissionTrigger:
    """Wakes the dispatcher (``wake``) after a successful DynamoDB write, by any function but ``dispatcher`` (a
    logical id), to an item whose partition key starts with one of ``prefixes`` (the counter items admission reads).
    Registered on the functions' botocore session: the write is seen in its parameters, counted once it succeeded."""

    def __init__(self, prefixes: tuple[str, ...], dispatcher: str) -> None:
        self.prefixes = prefixes
        self.dispatcher = dispatcher
        self.wake = threading.Event()
        self.woken = 0  # writes that woke the dispatcher (for tests and the bench)

    def register(self, events: Any) -> None:
        events.register("before-parameter-build.dynamodb.*", self._before)
        events.register("after-call.dynamodb.*", self._after)

    def _before(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name not in _WRITES:
            return
        principal = iam.caller.get()
        if principal is not None and principal.function == self.dispatcher:
            return
        if any(self._counted(key) for key in written_keys(model.name, params)):
            context[_SEEN] = True

    def _after(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if context.get(_SEEN) and http_response is not None and http_response.status_code < 300:
            self.woken += 1
            self.wake.set()

    def _counted(self, key: Mapping[str, Any]) -> bool:
        pk = key.get("pk")
        return isinstance(pk, Mapping) and str(pk.get("S", "")).startswith(self.prefixes)


def written_keys(operation: str, params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The items (or keys) a DynamoDB write names, from its request parameters."""
    if operation in ("PutItem",):
        return [params.get("Item") or {}]
    if operation in ("UpdateItem", "DeleteItem"):
        return [params.get("Key") or {}]
    out: list[Mapping[str, Any]] = []
    if operation == "TransactWriteItems":
        for entry in params.get("TransactItems") or []:
            for kind, op in entry.items():
                if kind != "ConditionCheck":
                    out.append(op.get("Item") or op.get("Key") or {})
    elif operation == "BatchWriteItem":
        for requests in (params.get("RequestItems") or {}).values():
            for request in requests:
                put, delete = request.get("PutRequest"), request.get("DeleteRequest")
                out.append((put or {}).get("Item") or (delete or {}).get("Key") or {})
    return out


def run_dispatcher(
    invoke: Callable[[], Any],
    trigger: AdmissionTrigger,
    stopping: threading.Event,
    fallback: float = FALLBACK_SECONDS,
    gap: float = GAP_SECONDS,
    full: int = 1,
) -> None:
    """Invoke the dispatcher (``invoke``: one asynchronous invocation, its answer or None when it failed) when
    ``trigger`` wakes it, again after an invocation that admitted ``full`` jobs (a tick's whole SubmitJob budget: it
    may have left admissible ones; a tick held back by capacity or quotas has nothing more to admit until a write
    says so) or lost a race, and at least every ``fallback`` seconds; never
    sooner than ``gap`` seconds after the previous invocation began (the writes of that gap are one tick's news)."""
    started = -gap
    while not stopping.is_set():
        trigger.wake.wait(fallback)
        if stopping.wait(max(0.0, started + gap - time.monotonic())):
            return
        trigger.wake.clear()
        started = time.monotonic()
        answer = invoke()
        if isinstance(answer, Mapping) and (int(answer.get("admitted") or 0) >= full or answer.get("lost")):
            trigger.wake.set()
