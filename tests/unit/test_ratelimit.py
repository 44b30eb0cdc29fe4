"""SubmitJob admission: the account's rate is never exceeded, and tenants share it max-min fairly."""

from __future__ import annotations

import pytest
from batchplane.domain.ratelimit import FairRateLimiter, water_fill
from hypothesis import given, settings
from hypothesis import strategies as st


def test_water_fill_gives_small_demands_what_they_ask_and_splits_the_rest() -> None:
    assert water_fill({"a": 40, "b": 1}, 50) == {"a": 40, "b": 1}
    assert water_fill({"a": 100, "b": 3}, 50) == {"a": 47, "b": 3}
    assert water_fill({"a": 100, "b": 100}, 50) == {"a": 25, "b": 25}
    assert water_fill({"a": 100, "b": 10, "c": 100}, 50) == {"a": 20, "b": 10, "c": 20}


def _drive(limiter: FairRateLimiter, arrivals: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """Concurrent callers: each asks at its arrival and again when told to wait, all in time order (the clock never
    goes back, as in a container); returns admission times."""
    import heapq

    asks = [(at, seq, tenant) for seq, (at, tenant) in enumerate(sorted(arrivals))]
    heapq.heapify(asks)
    admitted = []
    while asks:
        now, seq, tenant = heapq.heappop(asks)
        wait = limiter.reserve(tenant, now)
        if wait > 0:
            heapq.heappush(asks, (now + wait, seq, tenant))
        else:
            admitted.append((now, tenant))
    return admitted


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=5, allow_nan=False), st.sampled_from("abc")),
        min_size=1,
        max_size=300,
    ),
    st.sampled_from([5.0, 50.0]),
)
def test_no_one_second_window_admits_more_than_the_rate_plus_the_burst(
    arrivals: list[tuple[float, str]], rate: float
) -> None:
    limiter = FairRateLimiter(ceiling=rate)
    times = sorted(t for t, _ in _drive(limiter, arrivals))
    for i, start in enumerate(times):
        inside = sum(1 for t in times[i:] if t < start + 1.0)
        assert inside <= 2 * rate  # a full bucket (one second's worth) plus one second of refill


def test_steady_state_is_the_rate() -> None:
    limiter = FairRateLimiter(ceiling=50)
    admitted = _drive(limiter, [(0.0, "a")] * 550)
    # 50 at once from the full bucket, then 50 per second
    assert admitted[-1][0] == pytest.approx(10.0, abs=0.05)


def test_a_flood_does_not_starve_a_trickle() -> None:
    # GIVEN tenant a asks for 1,000 submissions at once and tenant b for one every 200 ms
    limiter = FairRateLimiter(ceiling=50)
    flood = [(0.0, "a")] * 1000
    trickle = [(0.2 * i + 0.01, "b") for i in range(25)]
    now, pending_a, waits_b = 0.0, len(flood), []
    queue_b = list(trickle)
    # a single caller alternates: b's due requests first (they arrive while a is waiting), then a's
    while pending_a or queue_b:
        if queue_b and queue_b[0][0] <= now:
            at, _ = queue_b.pop(0)
            wait = limiter.reserve("b", now)
            while wait > 0:
                now += wait
                wait = limiter.reserve("b", now)
            waits_b.append(now - at)
            continue
        if pending_a:
            wait = limiter.reserve("a", now)
            if wait == 0:
                pending_a -= 1
            else:
                now += min(wait, queue_b[0][0] - now) if queue_b and queue_b[0][0] > now else wait
        else:
            now = queue_b[0][0]
    # THEN b never waits more than one token's time, while a still gets the rest of the rate
    assert max(waits_b) <= 1 / 50 + 1e-9
    assert now == pytest.approx(1025 / 50 - 1, abs=1.0)


def test_two_floods_split_the_rate_evenly() -> None:
    limiter = FairRateLimiter(ceiling=50)
    now, got = 0.0, {"a": 0, "b": 0}
    for _ in range(2000):
        for tenant in ("a", "b"):
            if limiter.reserve(tenant, now) == 0:
                got[tenant] += 1
        now += 0.005
    assert abs(got["a"] - got["b"]) <= 0.05 * sum(got.values())


def test_throttling_halves_the_rate_and_success_brings_it_back() -> None:
    limiter = FairRateLimiter(ceiling=50)
    limiter.throttled()
    limiter.throttled()
    assert limiter.rate == 12.5
    for _ in range(100):
        limiter.throttled()
    assert limiter.rate == 5.0  # never below a tenth of the ceiling
    for _ in range(100):
        limiter.succeeded()
    assert limiter.rate == 50.0


def test_a_refund_gives_the_token_back() -> None:
    limiter = FairRateLimiter(ceiling=1)
    assert limiter.reserve("a", 0.0) == 0
    assert limiter.reserve("a", 0.0) > 0
    limiter.refund("a")
    assert limiter.reserve("a", 0.0) == 0


def test_a_ceiling_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        FairRateLimiter(ceiling=0)
