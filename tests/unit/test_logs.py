"""Which log streams hold an attempt's output, and the opaque token a follower reads on with (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane.domain.errors import BadRequestError, InvalidRequestError, NotFoundError
from batchplane.domain.logs import LogTarget, choose_attempt, decode_token, encode_token, log_targets
from batchplane.domain.models import Capacity, JobStatus
from batchplane.domain.records import AttemptRecord, JobRecord

pytestmark = pytest.mark.unit


def _attempt(n: int, **kw: Any) -> AttemptRecord:
    kw.setdefault("batch_job_id", f"b{n}")
    return AttemptRecord(
        attempt=n, reason="initial", queue_arn="arn:q", capacity=Capacity.SPOT, batch_job_name=f"bp-j-a{n}", **kw
    )


def _job(request: dict[str, Any], *attempts: AttemptRecord) -> JobRecord:
    return JobRecord(
        job_id="J",
        tenant="t",
        name="n",
        status=JobStatus.RUNNING,
        created_at="",
        updated_at="",
        request=request,
        request_hash="",
        priority="normal",
        preference="spot-first",
        queue_arn="arn:q",
        capacity=Capacity.SPOT,
        placement_reason="",
        job_definition="d",
        attempts=list(attempts),
    )


def test_a_plain_job_reads_the_stream_on_its_attempt() -> None:
    job = _job({}, _attempt(1, log_stream="d/default/1"), _attempt(2, log_stream="d/default/2"))
    assert choose_attempt(job, None) is job.attempts[1]
    assert log_targets(job, job.attempts[0], None) == [LogTarget({}, "d/default/1", None)]


def test_an_attempt_that_does_not_exist_is_404_naming_the_field() -> None:
    with pytest.raises(NotFoundError) as err:
        choose_attempt(_job({}, _attempt(1)), 3)
    assert err.value.errors[0].field == "attempt"


def test_an_array_child_is_described_by_its_batch_child_id() -> None:
    job = _job({"arraySize": 4}, _attempt(1))
    assert log_targets(job, job.attempts[0], 2) == [LogTarget({"index": 2}, None, "b1:2")]
    assert log_targets(job, job.attempts[0], None) == []  # each child has its own stream: the caller picks one


def test_a_retry_of_some_children_maps_original_indexes_to_its_own() -> None:
    # GIVEN attempt 2 reran the children that were indexes 1 and 3
    job = _job({"arraySize": 4}, _attempt(1), _attempt(2, array_indexes="1,3"))
    a2 = job.attempts[1]
    # THEN original index 3 is its child 1; index 0 it did not run; index 9 is outside the array
    assert log_targets(job, a2, 3) == [LogTarget({"index": 3}, None, "b2:1")]
    with pytest.raises(NotFoundError):
        log_targets(job, a2, 0)
    with pytest.raises(InvalidRequestError) as err:
        log_targets(job, a2, 9)
    assert err.value.errors[0].field == "index"


def test_a_retry_of_one_child_is_a_plain_job_with_its_own_stream() -> None:
    job = _job({"arraySize": 4}, _attempt(1), _attempt(2, array_indexes="2", log_stream="d/default/x"))
    assert log_targets(job, job.attempts[1], 2) == [LogTarget({"index": 2}, "d/default/x", None)]


def test_a_multi_node_job_reads_every_node() -> None:
    job = _job({"nodes": {"count": 3, "mainNode": 0}}, _attempt(1, log_stream="main"))
    assert log_targets(job, job.attempts[0], None) == [
        LogTarget({"node": 0}, None, "b1#0"),
        LogTarget({"node": 1}, None, "b1#1"),
        LogTarget({"node": 2}, None, "b1#2"),
    ]


def test_index_on_a_job_that_is_not_an_array_is_422() -> None:
    job = _job({}, _attempt(1))
    with pytest.raises(InvalidRequestError) as err:
        log_targets(job, job.attempts[0], 0)
    assert err.value.errors[0].field == "index"


def test_tokens_round_trip_per_attempt_and_reject_what_is_not_ours() -> None:
    token = encode_token(2, {"": "f/1", "node=1": "f/7"})
    assert decode_token(token, 2) == {"": "f/1", "node=1": "f/7"}
    assert decode_token(token, 3) == {}  # the job moved on to attempt 3: read it from the head
    assert decode_token(None, 2) == {}
    for bad in ("not base64 json!", encode_token(2, {})[:-3] + "%%%", "x" * 9000):
        with pytest.raises(BadRequestError) as err:
            decode_token(bad, 2)
        assert err.value.errors[0].field == "nextToken"
