"""Prices fetched from AWS made into a price table: GetProducts entries, Spot history, the refresh's age."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from batchplane.domain.costs import PriceTable
from batchplane.domain.price_feed import fetched_table, on_demand_offers, refresh_due, spot_prices

from tests.pricedata import T0, product, spot

pytestmark = pytest.mark.unit


def test_on_demand_offers_read_type_size_and_hourly_price() -> None:
    offers = on_demand_offers(
        [product("m5.xlarge", 4, "16", "0.1920000000"), product("g4dn.xlarge", 4, "16", "0.526", 1)]
    )
    assert offers["m5.xlarge"].on_demand == Decimal("0.1920000000")
    assert (offers["m5.xlarge"].vcpus, offers["m5.xlarge"].memory_gib, offers["m5.xlarge"].gpus) == (4, 16, 0)
    assert offers["g4dn.xlarge"].gpus == 1


def test_a_zero_price_or_a_product_without_size_is_skipped() -> None:
    assert on_demand_offers([product("m5.xlarge", 4, "16", "0.0000000000")]) == {}
    assert on_demand_offers([product("m5.xlarge", 4, "NA", "0.192")]) == {}


def test_spot_is_each_zones_newest_price_then_the_dearest_zone() -> None:
    history = [
        spot("c5.xlarge", "us-east-1a", "0.090", T0 - timedelta(hours=2)),  # superseded in 1a
        spot("c5.xlarge", "us-east-1a", "0.070", T0),
        spot("c5.xlarge", "us-east-1b", "0.080", T0 - timedelta(hours=1)),
    ]
    assert spot_prices(history) == {"c5.xlarge": Decimal("0.080")}


def test_the_fetched_table_prices_attempts_and_caps_spot_at_on_demand() -> None:
    offers = on_demand_offers([product("c5.xlarge", 4, "8", "0.17"), product("m5.xlarge", 4, "16", "0.192")])
    table = PriceTable.from_mapping(
        fetched_table(offers, {"c5.xlarge": Decimal("0.25")}, region="us-east-1", fetched_at=T0)
    )
    assert table.as_of == "2026-12-01T12:00Z"
    c5 = table.instances["c5.xlarge"]
    assert c5.spot_per_hour == Decimal("0.17")  # Spot never exceeds On-Demand
    assert table.instances["m5.xlarge"].spot_per_hour is None  # no figure: costs uses the On-Demand ceiling
    assert "Price List API" in table.on_demand_source


@pytest.mark.parametrize(
    ("last", "now", "due"),
    [(None, 0.0, True), (1000.0, 1000.0 + 86_399, False), (1000.0, 1000.0 + 86_400, True)],
)
def test_prices_are_refreshed_when_missing_or_a_day_old(last: float | None, now: float, due: bool) -> None:
    assert refresh_due(last, now) is due
