"""Loads the price table that `batchplane.domain.costs` prices attempts with: the one shipped with the package, or an
override file (JSON, the shape of `batchplane.domain.prices.SHIPPED`) that replaces it whole."""

from __future__ import annotations

import json
from pathlib import Path

from batchplane.domain.costs import PriceTable, PriceTableError
from batchplane.domain.prices import SHIPPED


def load_price_table(override: str | Path | None = None) -> PriceTable:
    """The shipped table, or the table in ``override`` when given. A missing or malformed file is a PriceTableError
    (a configuration mistake to report, never silently replaced by the shipped prices)."""
    if override is None or str(override) == "":
        return PriceTable.from_mapping(SHIPPED)
    path = Path(override)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        msg = f"cannot read price table {path}: {error}"
        raise PriceTableError(msg) from error
    if not isinstance(data, dict):
        msg = f"price table {path} must be a JSON object"
        raise PriceTableError(msg)
    return PriceTable.from_mapping(data)
