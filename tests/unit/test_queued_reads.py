"""The dispatcher's read of the QUEUED listing sends its Queries at once, one per partition key, each under the
caller's context, and merges the answers in enqueue order."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

from batchplane.adapters.dynamo import admission
from batchplane.adapters.dynamo.admission import QUEUED_KEYS, DynamoAdmission

ASKER: contextvars.ContextVar[str] = contextvars.ContextVar("asker", default="nobody")


class _AllAtOnce:
    """A DynamoDB client whose Query answers only once every key's Query is in flight (a barrier): Queries sent one
    after another would time out at the first."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(len(QUEUED_KEYS), timeout=5)
        self.askers: list[str] = []
        self.lock = threading.Lock()

    def query(self, **kwargs: Any) -> dict[str, Any]:
        key = kwargs["ExpressionAttributeValues"][":q"]["S"]
        with self.lock:
            self.askers.append(ASKER.get())
        self.barrier.wait()
        n = QUEUED_KEYS.index(key)
        # one job per key, enqueued in the reverse order of the keys: the merge must sort them
        return {"Items": [{"pk": {"S": f"JOB#j{n}"}, "gsi2sk": {"S": f"{1000 - n:013d}#j{n}"}}]}


def test_the_queued_keys_are_read_at_once_under_the_callers_context(monkeypatch: Any) -> None:
    monkeypatch.setattr(admission, "job_from_item", lambda item: item["pk"]["S"])
    db = _AllAtOnce()
    store = DynamoAdmission(db, "table")  # type: ignore[arg-type]
    ASKER.set("dispatcher")
    listed = store.queued(100)
    assert listed == [f"JOB#j{n}" for n in reversed(range(len(QUEUED_KEYS)))]
    assert db.askers == ["dispatcher"] * len(QUEUED_KEYS)
