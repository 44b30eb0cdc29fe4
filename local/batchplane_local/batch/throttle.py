"""AWS Batch's account-wide SubmitJob rate, as the local Batch enforces it.

AWS Batch allows at most 50 SubmitJob calls a second per account and Region, a fixed quota ("Service quotas", AWS
Batch User Guide), and answers a call over it with HTTP 429 ``TooManyRequestsException`` ("Too Many Requests").
How AWS counts is not documented; this is a token bucket, the usual model of an AWS API rate: ``rate`` tokens a
second, at most ``rate`` saved up (a full second's burst). A caller that spaces its calls at the rate, as the
dispatcher's send window does, is never refused; one that sends more than a second's worth at once is."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from batchplane_local.batch.model import BatchClientError

# AWS's number, written here again on purpose: the emulator must not take it from the code it checks
# (batchplane.domain.ratelimit), or a wrong rate there would be a wrong rate here too, and go unnoticed
ACCOUNT_SUBMIT_JOBS_PER_SECOND = 50.0


class TooManyRequestsError(BatchClientError):
    """The call is over the account's rate: HTTP 429, which botocore's standard retry mode retries as a throttle."""

    code = "TooManyRequestsException"
    status = 429


class SubmitRate:
    """``take()`` spends a token or raises TooManyRequestsError; ``refused`` counts the calls refused so far."""

    def __init__(
        self, rate: float = ACCOUNT_SUBMIT_JOBS_PER_SECOND, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = rate
        self._at = clock()
        self._lock = threading.Lock()
        self.refused = 0

    def take(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens < 1:
                self.refused += 1
                raise TooManyRequestsError("Too Many Requests")
            self._tokens -= 1
