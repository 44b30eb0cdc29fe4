"""The account-wide SubmitJob budget (domain/dispatch.py explains the GCRA) over one table item, ``RATE``/``SUBMITJOB``,
whose ``tat`` is the next free slot in epoch microseconds. A reservation is one conditional UpdateItem (two when the
budget was idle and another caller got there first), never a read-then-write."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from batchplane.adapters.dynamo.items import conditional, get_attr
from batchplane.domain.dispatch import RESERVED_BUDGET_HORIZON_MS, Reservation, budget_interval_ms
from batchplane.domain.errors import SubmitRateLimitedError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_KEY = {"pk": {"S": "RATE"}, "sk": {"S": "SUBMITJOB"}}


class DynamoRateBudget:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        rate_per_second: float,
        *,
        horizon_ms: int = RESERVED_BUDGET_HORIZON_MS,
    ) -> None:
        self._db = client
        self._table = table_name
        self.rate = rate_per_second
        self._interval_us = round(budget_interval_ms(rate_per_second) * 1000)
        self._horizon_us = horizon_ms * 1000

    def reserve(self, count: int, now_ms: int) -> Reservation | None:
        if count <= 0:
            return None
        now_us = now_ms * 1000
        span = count * self._interval_us
        # idle budget: the slots start now
        if conditional(
            lambda: self._db.update_item(
                TableName=self._table,
                Key=_KEY,
                UpdateExpression="SET tat = :end",
                ConditionExpression="attribute_not_exists(tat) OR tat <= :now",
                ExpressionAttributeValues={":end": {"N": str(now_us + span)}, ":now": {"N": str(now_us)}},
            )
        ):
            return Reservation(now_ms, count, self._interval_us / 1000)
        # busy: the slots follow the last reserved one, if they end within the horizon
        out: dict[str, Any] = {}

        def busy() -> None:
            out.update(
                self._db.update_item(
                    TableName=self._table,
                    Key=_KEY,
                    UpdateExpression="SET tat = tat + :span",
                    ConditionExpression="tat > :now AND tat <= :latest",
                    ExpressionAttributeValues={
                        ":span": {"N": str(span)},
                        ":now": {"N": str(now_us)},
                        ":latest": {"N": str(now_us + self._horizon_us - span)},
                    },
                    ReturnValues="UPDATED_NEW",
                )
            )

        if not conditional(busy):
            return None
        end_us = int(get_attr(out["Attributes"], "tat"))
        return Reservation(math.ceil((end_us - span) / 1000), count, self._interval_us / 1000)


class BudgetGate:
    """One SubmitJob at a time from the account budget, for the paths that submit one job at once (retries,
    fallbacks, escalations, the sweeper's releases and repairs): reserve one slot, wait for it; 429 when none is to
    be had within ``max_wait`` seconds (the caller leaves the attempt due for the next sweep)."""

    def __init__(
        self,
        budget: DynamoRateBudget,
        *,
        max_wait: float = 2.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._budget = budget
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.ceiling = budget.rate

    def acquire(self, tenant: str) -> None:
        waited = 0.0
        while True:
            now = self._clock()
            got = self._budget.reserve(1, int(now * 1000))
            if got is not None:
                delay = got.slot(0) / 1000 - self._clock()
                if delay > 0:
                    self._sleep(delay)
                return
            if waited >= self._max_wait:
                raise SubmitRateLimitedError(
                    f"the account's SubmitJob budget ({self.ceiling:g} per second) is taken",
                    headers={"Retry-After": "1"},
                )
            self._sleep(0.1)
            waited += 0.1

    def refund(self, tenant: str) -> None:
        """A reserved slot that is not used is simply lost: the budget never hands out more than its rate."""

    def throttled(self) -> None:
        """Batch throttled anyway (other tools in the account submit too): the SDK's backoff handles the retry."""

    def succeeded(self) -> None:
        return None
