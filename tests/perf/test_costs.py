"""The control plane's cost per million jobs: the arithmetic on a fixed call profile, the DynamoDB item-size rules,
and the price file's dates and sources. No timing is asserted."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from tests.perf import cost_floor, costs

pytestmark = pytest.mark.unit

PROFILE = costs.CallProfile(
    api_requests=Decimal(1),
    gateway_invocations=Decimal(1),
    event_invocations=Decimal(6),
    gateway_ms=Decimal(100),
    event_ms=Decimal(50),
    memory_mb=1024,
    architecture="x86_64",
    wru=Decimal(8),
    index_wru={"gsi1": Decimal(1), "gsi2": Decimal(3)},
    rru=Decimal(2),
    aws_service_events=Decimal(6),
    custom_events=Decimal(1),
    log_bytes_per_invocation=1024,
    sfn_transitions_per_pipeline_job=Decimal(3),
)


def test_arithmetic_on_a_fixed_profile() -> None:
    # GIVEN a fixed call profile and the published prices
    prices = costs.load_prices()
    # WHEN priced per million jobs
    breakdown = costs.per_million(PROFILE, prices)
    by = {line.service: line.usd for line in breakdown.lines}
    # THEN each line is usage x 1,000,000 x unit price
    assert by["API Gateway (HTTP API)"] == Decimal("1.00")  # 1 x $1.00/M
    assert by["Lambda requests"] == Decimal("1.40")  # 7 x $0.20/M
    # (0.1 + 6 x 0.05) s x 1 GB x 1e6 x $0.0000166667 = 0.4e6 x 0.0000166667 = $6.67
    assert by["Lambda duration"] == Decimal("6.67")
    assert by["DynamoDB writes: table"] == Decimal("5.00")  # 8 x $0.625/M
    assert by["DynamoDB writes: indexes"] == Decimal("2.50")  # (1 + 3) x $0.625/M
    assert by["DynamoDB reads (on-demand)"] == Decimal("0.25")  # 2 x $0.125/M
    assert by["EventBridge"] == Decimal("1.00")  # AWS service events free, 1 custom x $1/M
    assert by["AWS Batch SubmitJob"] == Decimal("0.00")
    # 7 x 1024 B x 1e6 / 1024^3 = 6.676 GB x $0.50
    assert by["CloudWatch Logs ingestion"] == Decimal("3.34")
    assert breakdown.total == sum(by.values())
    assert breakdown.total == Decimal("21.16")
    assert not breakdown.met
    # pipeline jobs: 3 transitions x 1e6 / 1000 x $0.025
    assert breakdown.pipeline_extra_per_million == Decimal("75.00")


def test_arm64_is_cheaper_per_gb_second() -> None:
    prices = costs.load_prices()
    x86 = costs.per_million(PROFILE, prices)
    arm = costs.per_million(replace(PROFILE, architecture="arm64"), prices)
    assert arm.total < x86.total


def test_render_prints_every_line_and_the_total() -> None:
    prices = costs.load_prices()
    text = "\n".join(costs.render(costs.per_million(PROFILE, prices), PROFILE, prices))
    for words in ("API Gateway", "Lambda duration", "DynamoDB writes", "CloudWatch Logs", "total", "21.16", "OVER"):
        assert words in text


def test_price_file_has_a_date_and_a_source_for_every_price() -> None:
    prices = costs.load_prices()
    assert prices.as_of
    assert set(prices.usd) == set(prices.sources)
    for key, source in prices.sources.items():
        assert "https://aws.amazon.com/" in source, key
    assert "2024-11-01" in prices.sources["dynamodb_per_million_wru"]
    assert prices.usd["eventbridge_aws_service_events_per_million"] == 0


def test_lambda_settings_come_from_the_template() -> None:
    memory, arch = costs.template_lambda_settings()
    assert memory >= 128
    assert arch in ("x86_64", "arm64")


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({"pk": {"S": "JOB#1"}}, 2 + 5),
        ({"n": {"N": "12345"}}, 1 + 4),  # 5 digits: 3 bytes + 1
        ({"ok": {"BOOL": True}, "z": {"NULL": True}}, 3 + 2),
        ({"m": {"M": {"a": {"S": "xy"}}}}, 1 + 3 + 1 + 1 + 2),
        ({"l": {"L": [{"S": "a"}, {"S": "bc"}]}}, 1 + 3 + (1 + 1) + (1 + 2)),
        ({"s": {"S": "é"}}, 1 + 2),  # UTF-8 bytes
    ],
)
def test_item_size(item: dict[str, dict[str, object]], size: int) -> None:
    assert costs.item_size(item) == size


@pytest.mark.parametrize(("size", "units"), [(0, 1), (1, 1), (1024, 1), (1025, 2), (2180, 3)])
def test_write_units_per_started_kb(size: int, units: int) -> None:
    assert costs.write_units(size) == units


# ---- index write units (GSI.html, "Write capacity units"): one table write, its item before and after ---------

ALL = costs.IndexSpec("gsi", ("gk", "gs"), "ALL")
KEYS = costs.IndexSpec("gsi", ("gk", "gs"), "KEYS_ONLY")
INCLUDE = costs.IndexSpec("gsi", ("gk", "gs"), "INCLUDE", frozenset({"status"}))
BASE = {"pk": {"S": "J#1"}, "sk": {"S": "JOB"}}
IN = {**BASE, "gk": {"S": "T#a"}, "gs": {"S": "1"}, "status": {"S": "QUEUED"}, "blob": {"S": "x" * 1500}}


def changed(item: dict[str, dict[str, str]], **values: str) -> dict[str, dict[str, str]]:
    return {**item, **{k: {"S": v} for k, v in values.items()}}


def without(item: dict[str, dict[str, str]], *names: str) -> dict[str, dict[str, str]]:
    return {k: v for k, v in item.items() if k not in names}


@pytest.mark.parametrize(
    ("before", "after", "index", "units"),
    [
        # a new item that defines the index's keys: one put of its entry (ALL: the whole 1.5 KB item, 2 WRU)
        (None, IN, ALL, 2),
        (None, IN, KEYS, 1),
        # an item without the index's keys is in the index neither before nor after: nothing
        (None, without(IN, "gs"), ALL, 0),
        (without(IN, "gk"), changed(without(IN, "gk"), status="RUNNING"), ALL, 0),
        # same index key, a projected attribute changes: one write of the entry
        (IN, changed(IN, status="RUNNING"), ALL, 2),
        (IN, changed(IN, status="RUNNING"), INCLUDE, 1),
        # same index key, only attributes the index does not project change: nothing
        (IN, changed(IN, status="RUNNING"), KEYS, 0),
        (IN, changed(IN, blob="y" * 1500), INCLUDE, 0),
        (IN, dict(IN), ALL, 0),  # a write that changed nothing (a failed condition)
        # an index key attribute changes value: a delete of the old entry and a put of the new
        (IN, changed(IN, gs="2"), ALL, 2 + 2),
        (IN, changed(IN, gs="2"), KEYS, 1 + 1),
        # the item leaves the index (an index key removed, or the item deleted): one delete of the old entry
        (IN, without(IN, "gk", "gs"), ALL, 2),
        (IN, None, KEYS, 1),
        # the item enters the index by an update that defines its keys
        (without(IN, "gs"), IN, INCLUDE, 1),
    ],
)
def test_index_write_units(
    before: dict[str, dict[str, str]] | None,
    after: dict[str, dict[str, str]] | None,
    index: costs.IndexSpec,
    units: int,
) -> None:
    assert costs.index_write_units(before, after, index) == units


def test_index_entry_projects_the_table_key_the_index_key_and_included_attributes() -> None:
    assert set(costs.index_entry(IN, KEYS) or {}) == {"pk", "sk", "gk", "gs"}
    assert set(costs.index_entry(IN, INCLUDE) or {}) == {"pk", "sk", "gk", "gs", "status"}
    assert costs.index_entry(IN, ALL) == IN
    assert costs.index_entry(without(IN, "gk"), ALL) is None


def test_index_spec_from_the_template() -> None:
    # GIVEN the table's indexes as template.yaml declares them
    indexes = {i.name: i for i in costs.template_indexes()}
    # THEN each is read with its key schema and projection
    assert indexes
    for index in indexes.values():
        assert len(index.keys) in (1, 2)
        assert index.projection in ("ALL", "KEYS_ONLY", "INCLUDE")


def test_table_write_units_take_the_larger_image_and_double_in_a_transaction() -> None:
    small, big = BASE, IN
    assert costs.table_write_units(costs.Write("Put", None, big)) == 2
    assert costs.table_write_units(costs.Write("Update", big, small)) == 2  # the larger of before and after
    assert costs.table_write_units(costs.Write("Update", small, small, transactional=True)) == 2
    assert costs.table_write_units(costs.Write("Delete", big, None)) == 2  # the item deleted
    assert costs.table_write_units(costs.Write("Update", None, None)) == 1  # a failed condition on no item


def test_bill_sums_the_table_and_each_index_apart() -> None:
    # GIVEN a transaction that puts a job item into both indexes, then an update that moves it in one of them
    gsi1 = costs.IndexSpec("gsi1", ("gk", "gs"), "KEYS_ONLY")
    gsi2 = costs.IndexSpec("gsi2", ("bk", "bs"), "ALL")
    job = {**IN, "bk": {"S": "QUEUED"}, "bs": {"S": "1"}}
    moved = changed(job, bk="ACTIVE", status="SUBMITTED")
    requests = [[costs.Write("Put", None, job, transactional=True)], [costs.Write("Update", job, moved)]]
    # WHEN billed
    out = costs.bill(requests, (gsi1, gsi2))
    # THEN the table bills 2 x 2 + 2, gsi1 (keys only, keys unchanged) 1 then 0, gsi2 (ALL, key moved) 2 then 2 + 2
    assert (out.table, out.index, out.writes) == (6, {"gsi1": 1, "gsi2": 6}, 2)
    assert out.total == 13


# ---- the floor of a design (cost_floor.py): its writes billed by the same rules as the measure ---------------

LISTING = costs.IndexSpec("listing", ("tk", "ts"), "KEYS_ONLY")  # a tenant's jobs
WATCH = costs.IndexSpec("watch", ("wk", "ws"), "KEYS_ONLY")  # the dispatcher's queue, then the sweeper's buckets


def _job(**keys: str) -> dict[str, dict[str, str]]:
    return changed({**BASE, "status": {"S": "QUEUED"}, "request": {"S": "x" * 700}}, tk="T#a", ts="1", **keys)


COUNTER = {"pk": {"S": "QUOTA#T#a"}, "sk": {"S": "QUOTA"}, "queued": {"S": "1"}}


def _floor_writes(exact: bool) -> dict[str, list[list[costs.Write]]]:
    """A design's writes of one job, on items under 1 KB and keys-only indexes: with exact quotas, the submission
    and the end are transactions with the tenant's counter; counted late, the job's writes alone."""
    queued, active = _job(wk="QUEUED#3", ws="1"), _job(wk="ACTIVE#3", ws="2", status="SUBMITTED")
    running, ended = changed(active, status="RUNNING"), without(changed(active, status="SUCCEEDED"), "wk", "ws")
    counted = [costs.Write("Update", None, COUNTER, True)] if exact else []
    released = [costs.Write("Update", COUNTER, changed(COUNTER, queued="0"), True)] if exact else []
    return {
        "submission": [[costs.Write("Put", None, queued, transactional=exact), *counted]],
        "admission": [[costs.Write("Update", queued, active, transactional=exact)]],
        "events": [[costs.Write("Update", active, running)] for _ in range(3)],
        "end": [[costs.Write("Update", running, ended, transactional=exact), *released]],
        "rollup": [[costs.Write("Update", None, {"pk": {"S": "COST#2026-12-01"}, "sk": {"S": "T#a"}})]],
    }


@pytest.mark.parametrize(("design", "wru"), [(cost_floor.EXACT, 19), (cost_floor.LATE, 12)])
def test_a_floor_is_what_the_billing_rules_bill_for_its_writes(design: cost_floor.Design, wru: int) -> None:
    # GIVEN a design's writes of one job as real items (all under 1 KB) and keys-only indexes
    writes = _floor_writes(exact=design is cost_floor.EXACT)
    billed = {step: costs.bill(requests, (LISTING, WATCH)) for step, requests in writes.items()}
    # THEN each step bills what cost_floor.py says it does, and the whole is the design's WRU
    floor = {w.step: w for w in design.writes}
    for step, bill in billed.items():
        assert (bill.table, sum(bill.index.values())) == (floor[step].table, floor[step].index), step
    assert sum(b.total for b in billed.values()) == design.wru == wru


def test_the_floors_at_the_listed_prices() -> None:
    usd = costs.load_prices().usd
    # 19 WRU at $0.625, one HTTP API request at $1.00, five Lambda requests at $0.20
    assert cost_floor.floor_usd(cost_floor.EXACT, usd) == Decimal("13.875")
    assert cost_floor.floor_usd(cost_floor.LATE, usd) == Decimal("9.500")
    text = "\n".join(cost_floor.render(usd, Decimal("2.45"), costs.TARGET_USD_PER_MILLION))
    assert "exact quotas  19 WRU/job  $ 13.88 (over $10)" in text
    assert "counted late  12 WRU/job  $  9.50 (under $10); with today's durations and logs $ 11.95" in text
