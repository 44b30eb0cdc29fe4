"""The sweeper index's keys (domain/sweep_keys.py): shards spread jobs evenly and stay put; due keys order as time;
a silent job's next look backs off to the cap."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from batchplane.domain.ids import new_job_id
from batchplane.domain.sweep_keys import (
    BUCKETS,
    RECONCILE_CAP_MS,
    SweepIndex,
    bucket_key,
    bucket_keys,
    due_key,
    due_until,
    next_look_ms,
    part_keys,
    part_shards,
    shard_of,
)
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("shards", [4, 16, 64])
def test_shards_spread_job_ids_evenly(shards: int) -> None:
    # GIVEN 64,000 job ids as the gateway makes them, 1,000 in each millisecond (a burst: ids share their time prefix)
    rng = random.Random(7)
    ids = [new_job_id(1_764_590_000_000 + i // 1_000, rng.randbytes(10)) for i in range(64_000)]
    # WHEN each is assigned a shard
    counts = Counter(shard_of(job_id, shards) for job_id in ids)
    # THEN every shard is used and none holds more than 10% over its fair share (a uniform draw is within ~3%)
    fair = len(ids) / shards
    assert sorted(counts) == list(range(shards))
    assert max(counts.values()) <= 1.1 * fair, counts
    assert min(counts.values()) >= 0.9 * fair, counts


def test_the_busiest_shard_takes_a_fraction_of_the_writes() -> None:
    # GIVEN 1,000 events a second over jobs spread over 16 shards
    ids = [f"j-{i:06d}" for i in range(16_000)]
    per_shard = Counter(shard_of(j, 16) for j in ids)
    # WHEN the busiest shard's share is taken
    share = max(per_shard.values()) / len(ids)
    # THEN it is about 1/16 of the writes (at most 1/16 + 1%), not the whole bucket's
    assert share <= 1 / 16 + 0.01


@given(st.text(min_size=1, max_size=64), st.integers(min_value=1, max_value=256))
def test_a_job_stays_in_one_shard(job_id: str, shards: int) -> None:
    # GIVEN a job id and a shard count / WHEN its shard is asked twice (as any process would)
    # THEN it is the same, within range, and every bucket's key names it
    n = shard_of(job_id, shards)
    assert n == shard_of(job_id, shards)
    assert 0 <= n < shards
    assert all(bucket_key(b, job_id, shards) == f"{b}#{n}" for b in BUCKETS)


def test_shard_assignment_is_stable_across_processes() -> None:
    # GIVEN a fixed id / THEN its shard is CRC-32's (Python's hash() is salted per process: it must not be used)
    assert shard_of("j-0123456789abcdef", 16) == 12  # zlib.crc32(b"j-0123456789abcdef") % 16


def test_the_sweeper_reads_every_shard_and_the_legacy_key() -> None:
    # GIVEN 4 shards / WHEN the keys of a bucket are listed
    # THEN they are the 4 shards and the unsharded key items written before sharding carry
    assert bucket_keys("RETRY", 4) == ("RETRY#0", "RETRY#1", "RETRY#2", "RETRY#3", "RETRY")


@given(shards=st.integers(1, 256), parts=st.integers(1, 256))
def test_the_parts_of_a_sweep_read_every_key_once(shards: int, parts: int) -> None:
    # GIVEN any shard count and any number of sweep parts
    # WHEN each part lists the keys of a bucket it reads
    keys = [k for p in range(parts) for k in part_keys("ACTIVE", shards, p, parts)]
    # THEN together they are every key of the bucket (every shard and the legacy key), each read by one part
    assert sorted(keys) == sorted(bucket_keys("ACTIVE", shards))
    assert len(keys) == len(set(keys))
    # AND a part's share is even: no part has more than one shard more than another
    sizes = [len(part_shards(p, parts, shards)) for p in range(parts)]
    assert max(sizes) - min(sizes) <= 1
    assert SweepIndex(shards).keys("ACTIVE", 0, parts) == part_keys("ACTIVE", shards, 0, parts)


@pytest.mark.parametrize(("part", "parts"), [(-1, 4), (4, 4), (0, 0), (0, 257)])
def test_a_sweep_part_out_of_range_is_refused(part: int, parts: int) -> None:
    with pytest.raises(ValueError, match="part"):
        part_shards(part, parts, 16)


@pytest.mark.parametrize("shards", [0, 257])
def test_a_shard_count_out_of_range_is_refused(shards: int) -> None:
    with pytest.raises(ValueError, match="shards"):
        SweepIndex(shards)


@given(st.integers(min_value=0, max_value=10**13 - 1), st.integers(min_value=0, max_value=10**13 - 1))
def test_due_keys_order_as_their_times(a: int, b: int) -> None:
    # GIVEN two due times / THEN their keys (and the bound of "due by b") order as the times do
    assert (due_key(a, "j-z") < due_key(b, "j-a")) == (a < b) or a == b
    assert (due_key(a, "j-any") <= due_until(b)) == (a <= b)


def test_an_active_job_is_due_after_the_repair_window_until_batch_is_heard_from() -> None:
    # GIVEN windows of 120 s and 900 s
    index = SweepIndex(8, repair_seconds=120, reconcile_seconds=900)
    # WHEN a job is written unheard of, or after an event
    # THEN it is due 120 s, or 900 s later rounded up to the minute (a fifteenth of the window)
    assert index.active_sort_key(1_000_000, "j-1", heard=False) == due_key(1_120_000, "j-1")
    assert index.active_sort_key(1_020_000, "j-1", heard=True) == due_key(1_920_000, "j-1")
    assert index.active_sort_key(1_000_000, "j-1", heard=True) == due_key(1_920_000, "j-1")
    assert index.active_sort_key(1_020_001, "j-1", heard=True) == due_key(1_980_000, "j-1")


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=10**7))
def test_events_heard_within_a_step_file_a_job_under_one_key_never_before_its_window(now: int, window: int) -> None:
    # GIVEN any reconcile window; WHEN a job is heard from at two times a step apart at most, and in the same step
    index = SweepIndex(4, reconcile_seconds=window / 1000)
    step = max(1, index.reconcile_ms // 15)
    first = index.active_sort_key(now, "j", heard=True)
    due = int(first.split("#")[0])
    # THEN it is never due before the window, nor more than a step after it
    assert now + index.reconcile_ms <= due < now + index.reconcile_ms + step
    # AND a later event in the same step files it under the same key (no index key moves)
    later = now + (due - index.reconcile_ms - now)
    assert index.active_sort_key(later, "j", heard=True) == first


@pytest.mark.parametrize(
    ("silent_s", "next_in_s"),
    [(0, 900), (900, 900), (1_800, 1_800), (3_000, 3_000), (3_600, 3_600), (86_400, 3_600)],
)
def test_a_silent_job_is_looked_at_again_after_as_long_capped_at_an_hour(silent_s: int, next_in_s: int) -> None:
    # GIVEN a job silent for silent_s, described with nothing new
    # WHEN its next look is set (reconcile window 900 s)
    nxt = next_look_ms(10_000_000, silent_s * 1000, 900_000, RECONCILE_CAP_MS)
    # THEN it is after as long again, between the window and the cap
    assert nxt - 10_000_000 == next_in_s * 1000
