"""The control plane's prices: fetched from AWS once a day (by the sweeper) into one item, read by whoever prices
attempts. Nothing fetches prices per job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from batchplane.domain.costs import PriceTable
from batchplane.domain.ports import PriceFeed, PriceStore
from batchplane.domain.price_feed import fetched_table, on_demand_offers, refresh_due, spot_prices


class PriceService:
    def __init__(
        self,
        *,
        feed: PriceFeed,
        store: PriceStore,
        instance_types: list[str],
        region: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._feed = feed
        self._store = store
        self._types = instance_types
        self._region = region
        self._clock = clock

    def refresh(self) -> str:
        """Fetch and store the prices of the fleet's instance types when the stored ones are missing or a day old:
        "fresh" (nothing to do), "refreshed", or "empty" (AWS answered no price: the stored table is kept)."""
        now = self._clock()
        stored = self._store.load()
        if not refresh_due(stored[1] if stored else None, now.timestamp()):
            return "fresh"
        products, history = self._feed.fetch(self._types)
        offers = on_demand_offers(products)
        if not offers:
            return "empty"
        table = fetched_table(offers, spot_prices(history), region=self._region, fetched_at=now)
        PriceTable.from_mapping(table)  # refuse to store what could not be priced with
        self._store.save(table, now.timestamp())
        return "refreshed"

    def stored(self) -> dict[str, Any] | None:
        found = self._store.load()
        return found[0] if found else None
