"""items.applied: an item as a SET/REMOVE update leaves it (the job after a transaction, which answers nothing),
or None when the update does anything else, so the caller reads the item instead."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane.adapters.dynamo.items import applied

pytestmark = pytest.mark.unit

ITEM: dict[str, Any] = {
    "pk": {"S": "JOB#j"},
    "status": {"S": "RUNNING"},
    "claimToken": {"S": "c"},
    "adm": {"M": {"pool": {"S": "p"}}},
    "att": {"M": {"1": {"M": {"status": {"S": "RUNNING"}, "runnableAt": {"N": "5"}}}}},
}


def _update(expression: str, **values: Any) -> dict[str, Any]:
    return {
        "UpdateExpression": expression,
        "ExpressionAttributeNames": {"#att": "att", "#n": "1", "#st": "status"},
        "ExpressionAttributeValues": {f":{k}": v for k, v in values.items()},
    }


def test_sets_and_removes_top_level_and_nested_paths_on_a_copy() -> None:
    update = _update(
        "SET #att.#n.#st = :ok, #st = :ok, admReleased = :yes REMOVE claimToken, #att.#n.runnableAt, adm, gone",
        ok={"S": "SUCCEEDED"},
        yes={"BOOL": True},
    )
    out = applied(ITEM, update)
    assert out == {
        "pk": {"S": "JOB#j"},
        "status": {"S": "SUCCEEDED"},
        "admReleased": {"BOOL": True},
        "att": {"M": {"1": {"M": {"status": {"S": "SUCCEEDED"}}}}},
    }
    assert ITEM["status"] == {"S": "RUNNING"}  # the item read is left as it was
    assert "runnableAt" in ITEM["att"]["M"]["1"]["M"]


@pytest.mark.parametrize(
    "expression",
    [
        "SET #att.#n.runnableAt = if_not_exists(#att.#n.runnableAt, :v)",  # a function
        "SET n = n + :v",  # arithmetic
        "SET a = :v ADD c :v",  # ADD
        "REMOVE a",  # no SET
        "SET #att.#x.#st = :v",  # a map on the way that is not there
        "SET a = :missing",  # a value not given
    ],
)
def test_anything_else_is_left_to_a_read(expression: str) -> None:
    update = _update(expression, v={"N": "1"})
    update["ExpressionAttributeNames"]["#x"] = "7"
    assert applied(ITEM, update) is None
