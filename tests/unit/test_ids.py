"""Deterministic names map every Batch job back to its job and attempt with no lookup."""

from __future__ import annotations

import pytest
from batchplane.domain.ids import (
    AttemptRef,
    batch_job_name,
    idempotent_job_id,
    is_job_id,
    new_job_id,
    parse_batch_job_name,
)
from batchplane.domain.models import JOB_NAME_PATTERN
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.unit


def test_ulids_sort_by_time() -> None:
    a = new_job_id(1_000, b"\xff" * 10)
    b = new_job_id(1_001, b"\x00" * 10)
    assert a < b
    assert is_job_id(a)
    assert is_job_id(b)


def test_idempotent_id_is_stable_and_tenant_scoped() -> None:
    assert idempotent_job_id("t1", "k") == idempotent_job_id("t1", "k")
    assert idempotent_job_id("t1", "k") != idempotent_job_id("t2", "k")
    assert is_job_id(idempotent_job_id("t1", "k"))


@given(
    entropy=st.binary(min_size=10, max_size=10),
    attempt=st.integers(1, 9999),
    name=st.from_regex(JOB_NAME_PATTERN, fullmatch=True),
)
def test_batch_job_name_round_trips_and_respects_batch_rules(entropy: bytes, attempt: int, name: str) -> None:
    job_id = new_job_id(1_795_000_000_000, entropy)
    made = batch_job_name(job_id, attempt, name)
    assert len(made) <= 128
    import re

    assert re.fullmatch(JOB_NAME_PATTERN, made)
    assert parse_batch_job_name(made) == AttemptRef(job_id, attempt)


@pytest.mark.parametrize("name", ["", "hello", "bp-short-a1", "bp-01JDEM00000000000000000000-ax"])
def test_foreign_names_do_not_parse(name: str) -> None:
    assert parse_batch_job_name(name) is None
