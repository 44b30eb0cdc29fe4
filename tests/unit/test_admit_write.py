"""One admission write for a tick's jobs (adapters/dynamo/admit.py): each tenant's and pool's counters changed once by
the sum of its jobs, a tenant's running quota a condition on that sum; the write's idempotency token. Pure: the
actions are built, not sent."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane.adapters.dynamo.admit import Admitter, counter_actions, job_action, request_token
from batchplane.domain.models import Capacity, CapacityPreference, JobStatus
from batchplane.domain.ports import GRANTS_PER_ADMIT, Grant
from batchplane.domain.quotas import Quota, Resources
from batchplane.domain.records import JobRecord
from batchplane.domain.sweep_keys import SweepIndex

pytestmark = pytest.mark.unit

QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/normal-spot"


def _job(job_id: str, tenant: str, priority: str = "normal") -> JobRecord:
    return JobRecord(
        job_id=job_id,
        tenant=tenant,
        name=job_id,
        status=JobStatus.QUEUED,
        created_at="2026-12-03T10:00:00Z",
        updated_at="2026-12-03T10:00:00Z",
        request={"name": job_id, "command": ["true"]},
        request_hash="h",
        priority=priority,
        preference=CapacityPreference.SPOT_FIRST,
        queue_arn=QUEUE,
        capacity=Capacity.SPOT,
        placement_reason="test",
        job_definition="bp-default",
    )


def _updates(actions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["Update"]["Key"]["pk"]["S"]: a["Update"] for a in actions}


def test_counters_change_once_per_item_by_the_sum_of_its_jobs() -> None:
    # GIVEN three of alice's jobs (two classes) and one of bob's, in two pools; alice may run 8 vCPUs
    alice = Quota(max_running_vcpus=8)
    grants = [
        Grant(_job("a1", "alice"), "spot", Resources(2, 1024), alice),
        Grant(_job("a2", "alice", "high"), "spot", Resources(1, 512), alice),
        Grant(_job("a3", "alice"), "od", Resources(4, 2048, 1), alice),
        Grant(_job("b1", "bob"), "spot", Resources(1, 256), Quota()),
    ]
    # WHEN the counters' actions are built
    updates = _updates(counter_actions("t", grants))
    # THEN one update per tenant and per pool
    assert sorted(updates) == ["POOL#od", "POOL#spot", "QUOTA#alice", "QUOTA#bob"]
    a = updates["QUOTA#alice"]
    values = {k: int(v["N"]) for k, v in a["ExpressionAttributeValues"].items()}
    # AND alice's queued count falls by 3, her running usage rises by the sums, in all and per class
    assert values[":queued"] == -3
    assert (values[":rv"], values[":rm"], values[":rg"]) == (7, 3584, 1)
    assert (values[":rv_normal"], values[":rv_high"], values[":rm_normal"], values[":rg_normal"]) == (6, 1, 3072, 1)
    assert "rg_high" not in a["UpdateExpression"]
    # AND her vCPU quota is a condition on the sum: 8 - 7 = 1 at most running before
    assert a["ConditionExpression"] == "(attribute_not_exists(rv) OR rv <= :max_rv)"
    assert values[":max_rv"] == 1
    # AND bob, with no quota, has no condition; each pool takes its own jobs' sums
    assert "ConditionExpression" not in updates["QUOTA#bob"]
    spot = {k: int(v["N"]) for k, v in updates["POOL#spot"]["ExpressionAttributeValues"].items()}
    assert spot == {":rv": 4, ":rm": 1792}
    od = {k: int(v["N"]) for k, v in updates["POOL#od"]["ExpressionAttributeValues"].items()}
    assert od == {":rv": 4, ":rm": 2048, ":rg": 1}


def test_one_job_writes_what_it_wrote_alone() -> None:
    # GIVEN one grant; THEN its counters are the job's own need, its token the job's, as before batching
    grant = Grant(_job("j1", "alice"), "spot", Resources(2, 1024), Quota(max_running_vcpus=2))
    updates = _updates(counter_actions("t", [grant]))
    values = {k: int(v["N"]) for k, v in updates["QUOTA#alice"]["ExpressionAttributeValues"].items()}
    assert values == {":queued": -1, ":rv": 2, ":rv_normal": 2, ":rm": 1024, ":rm_normal": 1024, ":max_rv": 0}
    assert request_token([grant], "2026-12-03T10:00:01Z").startswith("admit-")
    action = job_action("t", SweepIndex(), grant, "2026-12-03T10:00:01Z")["Update"]
    assert action["Key"]["pk"]["S"] == "JOB#j1"
    assert "queueArn = :qa" in action["ConditionExpression"]


def test_a_writes_token_is_short_and_names_its_jobs_and_its_time() -> None:
    grants = [Grant(_job(f"job-{i:032d}", "alice"), "spot", Resources(1), Quota()) for i in range(GRANTS_PER_ADMIT)]
    now = "2026-12-03T10:00:01Z"
    token = request_token(grants, now)
    assert len(token) <= 36  # TransactWriteItems' ClientRequestToken
    assert token == request_token(list(grants), now)  # an SDK retry of the same write
    assert token != request_token(grants[:-1], now)
    # a later tick's write of the same jobs (with another time in its values) has a token of its own
    assert token != request_token(grants, "2026-12-03T10:00:02Z")
    assert request_token(grants[:1], now) != request_token(grants[:1], "2026-12-03T10:00:02Z")


class _NoCalls:
    def transact_write_items(self, **_: object) -> None:
        raise AssertionError("nothing may be written")


@pytest.mark.parametrize("count", [GRANTS_PER_ADMIT + 1])
def test_a_write_refuses_more_grants_than_it_may_hold_or_a_job_twice(count: int) -> None:
    admitter = Admitter(_NoCalls(), "t", SweepIndex())  # type: ignore[arg-type]
    many = [Grant(_job(f"j{i}", "alice"), "spot", Resources(1), Quota()) for i in range(count)]
    with pytest.raises(ValueError, match="distinct jobs"):
        admitter.admit(many, "2026-12-03T10:00:01Z")
    twice = [many[0], many[0]]
    with pytest.raises(ValueError, match="distinct jobs"):
        admitter.admit(twice, "2026-12-03T10:00:01Z")
    assert admitter.admit([], "2026-12-03T10:00:01Z") == []
