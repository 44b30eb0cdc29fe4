"""The dispatcher's send window: an invocation's SubmitJobs pass it as they leave (the Batch adapter's pace), so no
second holds more than the account-wide rate, whatever the lateness of a thread (tests/unit/test_send_window.py)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class SendWindow:
    """The invocation's SubmitJobs pass a sliding window: at most ``rate`` (rounded down) calls in any ``1 s`` plus a
    margin of half a slot. The budget's slots already space the calls; this holds when a call is made late (its
    thread stalled) and would otherwise crowd a second with the punctual calls after it."""

    def __init__(self, rate_per_second: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._size = max(1, int(rate_per_second))
        self._span = 1.0 + 0.5 / max(rate_per_second, 1e-9)
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def seed(self, sent_epoch_ms: list[int], epoch_now: float) -> None:
        """Start from the calls the last invocation made (epoch ms, as it saved them): a window spans invocations,
        so one that starts as the last ends does not add its calls to the last one's second."""
        now = self._clock()
        with self._lock:
            for sent in sorted(sent_epoch_ms)[-self._size :]:
                age = epoch_now - sent / 1000
                if 0 <= age < self._span:
                    self._sent.append(now - age)

    def sent(self, epoch_now: float) -> list[int]:
        """The calls still inside the window, as epoch ms (for the next invocation's ``seed``)."""
        now = self._clock()
        with self._lock:
            return [round((epoch_now - (now - t)) * 1000) for t in self._sent if now - t < self._span]

    def enter(self) -> None:
        with self._lock:  # one caller at a time: the calls leave in the order they were let through
            while len(self._sent) >= self._size:
                wait = self._sent[0] + self._span - self._clock()
                if wait <= 0:
                    self._sent.popleft()
                    continue
                self._sleep(wait)
            self._sent.append(self._clock())
