"""SubmitJob admission: AWS Batch allows 50 SubmitJob calls per second per account. Pure: the clock is a number passed
in, nothing here sleeps or locks (the adapter does).

A token bucket holds the rate; within it, tenants share max-min fairly over a sliding window: a tenant that has used
less than an equal share leaves the rest to the others (work-conserving), and a tenant that has used its water-filled
share waits while others are active, so one tenant's flood cannot starve another's trickle. When Batch still answers
TooManyRequestsException (other containers share the account's limit), the rate halves and then creeps back up
(additive increase, multiplicative decrease: the same idea as botocore's adaptive retry mode, per call site)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

ACCOUNT_SUBMIT_JOBS_PER_SECOND = 50.0  # AWS Batch service quota (SubmitJob, per account per Region)
_EPSILON = 1e-6  # float slack: a bucket refilled to 0.9999999 holds a token


def water_fill(demands: dict[str, float], capacity: float) -> dict[str, float]:
    """Max-min fair shares of ``capacity``: a tenant asking less than an equal share gets what it asks, and what it
    leaves is split equally among the others."""
    shares: dict[str, float] = {}
    remaining = capacity
    ordered = sorted(demands.items(), key=lambda kv: kv[1])
    for index, (tenant, demand) in enumerate(ordered):
        shares[tenant] = min(demand, remaining / (len(ordered) - index))
        remaining -= shares[tenant]
    return shares


@dataclass
class FairRateLimiter:
    """Admission for SubmitJob in one container: ``reserve(tenant, now)`` answers 0.0 (go, a token is taken) or how
    many seconds to wait before asking again."""

    ceiling: float = ACCOUNT_SUBMIT_JOBS_PER_SECOND  # calls per second this container may make at most
    burst: float | None = None  # bucket size (default: one second's worth)
    window: float = 1.0  # seconds of history that fairness looks at
    rate: float = field(init=False)
    tokens: float = field(init=False)
    _stamp: float | None = field(init=False, default=None)
    _recent: dict[str, deque[float]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.ceiling <= 0:
            msg = "ceiling must be positive"
            raise ValueError(msg)
        self.rate = self.ceiling
        self.tokens = self.capacity

    @property
    def capacity(self) -> float:
        return max(1.0, self.burst if self.burst is not None else self.ceiling)

    def _advance(self, now: float) -> None:
        if self._stamp is not None and now > self._stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        if self._stamp is None or now > self._stamp:
            self._stamp = now
        horizon = now - self.window
        for tenant in list(self._recent):
            stamps = self._recent[tenant]
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
            if not stamps:
                del self._recent[tenant]

    def reserve(self, tenant: str, now: float) -> float:
        """Take a token for ``tenant`` at ``now`` (0.0), or say how long to wait (> 0, nothing taken)."""
        self._advance(now)
        mine = self._recent.get(tenant)
        if mine and len(self._recent) > 1:
            # one more call for this tenant: does it fit in its max-min fair share of the window's calls?
            demands: dict[str, float] = {t: float(len(s)) for t, s in self._recent.items()}
            demands[tenant] = len(mine) + 1.0
            if water_fill(demands, max(1.0, self.rate * self.window))[tenant] < demands[tenant]:
                # over its share while others are active: wait until its oldest call leaves the window
                return max(mine[0] + self.window - now, 1e-3)
        if self.tokens < 1.0 - _EPSILON:
            return max((1.0 - self.tokens) / self.rate, _EPSILON)
        self.tokens = max(0.0, self.tokens - 1.0)
        self._recent.setdefault(tenant, deque()).append(now)
        return 0.0

    def refund(self, tenant: str) -> None:
        """A reserved call was not made (nothing to submit after all)."""
        self.tokens = min(self.capacity, self.tokens + 1.0)
        stamps = self._recent.get(tenant)
        if stamps:
            stamps.pop()

    def throttled(self) -> None:
        """Batch answered TooManyRequestsException: halve the rate (not below a tenth of the ceiling)."""
        self.rate = max(self.ceiling / 10, self.rate / 2)
        self.tokens = min(self.tokens, 0.0)

    def succeeded(self) -> None:
        """A call went through: creep back toward the ceiling."""
        if self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + self.ceiling / 20)
