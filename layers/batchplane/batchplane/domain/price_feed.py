"""Prices fetched from AWS, made into a price table (`costs.PriceTable.from_mapping`'s shape): pure parsing of the
Price List API's GetProducts answers (On-Demand) and DescribeSpotPriceHistory's (Spot). The control plane fetches
them once a day (the sweeper, on its daily schedule) and stores the table; attempts are priced from it, never with a
call per job.

* On-Demand: each GetProducts ``PriceList`` entry is a JSON document of one product (``product.attributes``:
  ``instanceType``, ``vcpu``, ``memory`` such as "16 GiB", ``gpu``) and its terms (``terms.OnDemand.<offer>.
  priceDimensions.<rate>.pricePerUnit.USD``, per hour). The caller filters Linux, shared tenancy, no pre-installed
  software, capacity status "Used" and the Region.
* Spot: the newest price of each (instance type, Availability Zone) in the history, then the highest across the
  Zones: the price an attempt in the dearest Zone would pay now (an upper bound; the basis says so).
A type without a Spot figure is priced at its On-Demand ceiling by `costs`; a type the answers miss is not in the
table (its attempts fall back to the fleet's defaults, said in the basis)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

ON_DEMAND_SOURCE: Final = "AWS Price List API (GetProducts: AmazonEC2, Linux, shared tenancy), fetched by batchplane"
SPOT_SOURCE: Final = (
    "EC2 DescribeSpotPriceHistory (Linux/UNIX), the newest price of each Availability Zone, the highest Zone's, "
    "fetched by batchplane"
)
REFRESH_AFTER_SECONDS: Final = 86_400


@dataclass(frozen=True, slots=True)
class Offer:
    vcpus: int
    memory_gib: Decimal
    gpus: int
    on_demand: Decimal


def _number(text: object) -> Decimal | None:
    try:
        value = Decimal(str(text).split()[0].replace(",", ""))
    except (InvalidOperation, IndexError):
        return None
    return value if value.is_finite() else None


def on_demand_offers(price_list: Iterable[str]) -> dict[str, Offer]:
    """The On-Demand hourly USD price of each instance type in GetProducts' ``PriceList`` entries; entries without
    an instance type, a size or a positive price are skipped (a price of 0 marks a product not offered)."""
    offers: dict[str, Offer] = {}
    for entry in price_list:
        doc = json.loads(entry)
        attributes = (doc.get("product") or {}).get("attributes") or {}
        name = attributes.get("instanceType")
        vcpus = _number(attributes.get("vcpu"))
        memory = _number(attributes.get("memory"))
        if not name or vcpus is None or memory is None:
            continue
        for term in ((doc.get("terms") or {}).get("OnDemand") or {}).values():
            for dimension in (term.get("priceDimensions") or {}).values():
                price = _number((dimension.get("pricePerUnit") or {}).get("USD"))
                if price is not None and price > 0 and str(dimension.get("unit", "Hrs")).startswith("Hr"):
                    gpus = _number(attributes.get("gpu")) or Decimal(0)
                    offers[name] = Offer(int(vcpus), memory, int(gpus), price)
    return offers


def spot_prices(history: Iterable[Mapping[str, Any]]) -> dict[str, Decimal]:
    """The highest, across Availability Zones, of each zone's newest Spot price per instance type."""
    newest: dict[tuple[str, str], tuple[datetime, Decimal]] = {}
    for entry in history:
        price = _number(entry.get("SpotPrice"))
        stamp = entry.get("Timestamp")
        if price is None or not isinstance(stamp, datetime):
            continue
        key = (str(entry.get("InstanceType")), str(entry.get("AvailabilityZone")))
        if key not in newest or stamp > newest[key][0]:
            newest[key] = (stamp, price)
    highest: dict[str, Decimal] = {}
    for (name, _zone), (_stamp, price) in newest.items():
        highest[name] = max(price, highest.get(name, Decimal(0)))
    return highest


def fetched_table(
    offers: Mapping[str, Offer], spot: Mapping[str, Decimal], *, region: str, fetched_at: datetime
) -> dict[str, Any]:
    """A price table (the shape of `batchplane.domain.prices.SHIPPED`) from what was fetched."""
    return {
        "region": region,
        "currency": "USD",
        "asOf": fetched_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "onDemandSource": ON_DEMAND_SOURCE,
        "spotSource": SPOT_SOURCE,
        "instanceTypes": {
            name: {
                "vcpus": offer.vcpus,
                "memoryGiB": int(offer.memory_gib.to_integral_value()) or 1,
                "gpus": offer.gpus,
                "onDemand": str(offer.on_demand),
                # a Spot price above On-Demand cannot be paid (Spot never exceeds it): keep the ceiling
                "spot": None if name not in spot else str(min(spot[name], offer.on_demand)),
            }
            for name, offer in sorted(offers.items())
        },
    }


def refresh_due(last_fetched_epoch: float | None, now_epoch: float) -> bool:
    """True when the stored table is missing or a day old."""
    return last_fetched_epoch is None or now_epoch - last_fetched_epoch >= REFRESH_AFTER_SECONDS
