"""The dispatcher's send window (services/send_window.py): whatever the lateness of the calls let through,
no span of one second (plus its margin) holds more than the rate's calls; punctual calls are never held back."""

from __future__ import annotations

from batchplane.services.send_window import SendWindow
from hypothesis import given, settings
from hypothesis import strategies as st


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


def _most_in_any_second(stamps: list[float]) -> int:
    best, start = 0, 0
    for end, t in enumerate(stamps):
        while t - stamps[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([1.0, 2.5, 10.0, 50.0]),
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.3), min_size=1, max_size=200),
)
def test_no_second_holds_more_than_the_rate(rate: float, gaps: list[float]) -> None:
    # GIVEN calls arriving at any spacing: bunched (a stalled thread catching up) or spread
    t = FakeTime()
    window = SendWindow(rate, t.clock, t.sleep)
    stamps = []
    for gap in gaps:
        t.now += gap
        # WHEN each passes the window before its call
        window.enter()
        stamps.append(t.now)
    # THEN no one-second window holds more calls than the rate allows
    assert _most_in_any_second(stamps) <= max(1, int(rate))


def test_punctual_calls_at_the_rate_are_not_held_back() -> None:
    # GIVEN calls exactly at the budget's slots (1/rate apart)
    t = FakeTime()
    window = SendWindow(50.0, t.clock, t.sleep)
    for _ in range(500):
        window.enter()
        t.now += 1 / 50
    # THEN they waited at most the margin once a second (half a slot): the rate is sustained above 97%
    assert t.slept <= 0.12
    assert 499 / (t.now - 1000.0) >= 0.97 * 50


def test_a_window_seeded_with_the_last_invocations_calls_continues_it() -> None:
    # GIVEN the last invocation made 10 calls in its last 0.5 s, at 10 a second (saved as epoch ms as it ended)
    t = FakeTime()
    epoch_now = 1_800_000_000.0
    last = [round((epoch_now - 0.5 + i * 0.05) * 1000) for i in range(10)]
    window = SendWindow(10.0, t.clock, t.sleep)
    # WHEN the next invocation's window starts from them and lets a call through
    window.seed(last, epoch_now)
    window.enter()
    # THEN that call waited until the first of them was a second (and its margin) old
    assert abs(t.slept - (1.0 + 0.05 - 0.5)) < 1e-6
    # AND the window hands on what is still inside it, as epoch ms
    assert len(window.sent(epoch_now + t.slept)) == 10


def test_calls_older_than_the_window_are_not_carried_over() -> None:
    t = FakeTime()
    window = SendWindow(10.0, t.clock, t.sleep)
    window.seed([1_000, 2_000], 1_800_000_000.0)  # long ago
    for _ in range(10):
        window.enter()
    assert t.slept == 0
