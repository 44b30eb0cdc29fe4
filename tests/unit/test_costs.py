"""Attempt and job costs: table-driven cases, the wasted rule, the price table and its override, and properties."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from batchplane.adapters.prices import load_price_table
from batchplane.domain.costs import (
    DEFAULT_INSTANCE_TYPES,
    QUANTUM,
    WASTED_CLASSES,
    AttemptUsage,
    PriceTable,
    PriceTableError,
    attempt_cost,
    is_wasted,
    job_cost,
    running_ms,
    share_of,
)
from batchplane.domain.failures import FailureClass
from batchplane.domain.prices import SHIPPED
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

TABLE = PriceTable.from_mapping(SHIPPED)
HOUR = 3_600_000
ROOT = Path(__file__).resolve().parents[2]


def usage(**fields: Any) -> AttemptUsage:
    base: dict[str, Any] = {
        "vcpus": 1,
        "memory_mib": 2048,
        "capacity": "on-demand",
        "started_at_ms": 1_700_000_000_000,
        "stopped_at_ms": 1_700_000_000_000 + HOUR,
        "instance_type": "m5.xlarge",
    }
    base.update(fields)
    return AttemptUsage(**base)


# --- attempt costs --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "fields", "expected"),
    [
        # m5.xlarge: 4 vCPU, 16 GiB, $0.192/h On-Demand
        ("quarter by vCPU, one hour", {}, "0.048000"),
        ("ten minutes", {"stopped_at_ms": 1_700_000_000_000 + 600_000}, "0.008000"),
        ("memory dominates", {"vcpus": 1, "memory_mib": 12_288}, "0.144000"),  # 12/16 > 1/4
        ("vCPU dominates", {"vcpus": 2, "memory_mib": 512}, "0.096000"),
        ("whole instance", {"vcpus": 4, "memory_mib": 16_384}, "0.192000"),
        ("more than the instance is capped at 1", {"vcpus": 8, "memory_mib": 65_536}, "0.192000"),
        ("fractional vCPU", {"vcpus": Decimal("0.5"), "memory_mib": 1024}, "0.024000"),
        # c5.large: 2 vCPU, 4 GiB, $0.085/h
        ("c5.large half", {"instance_type": "c5.large", "vcpus": 1, "memory_mib": 1024}, "0.042500"),
        # r5.2xlarge: 8 vCPU, 64 GiB, $0.504/h
        (
            "r5.2xlarge 90 s",
            {"instance_type": "r5.2xlarge", "vcpus": 8, "stopped_at_ms": 1_700_000_090_000},
            "0.012600",
        ),
        # m6g.large (Graviton): 2 vCPU, 8 GiB, $0.077/h: half (1 vCPU) for 2 hours
        (
            "m6g.large two hours",
            {"instance_type": "m6g.large", "stopped_at_ms": 1_700_000_000_000 + 2 * HOUR},
            "0.077000",
        ),
        # g4dn.xlarge: 4 vCPU, 16 GiB, 1 GPU, $0.526/h: one GPU is the whole instance
        ("GPU dominates", {"instance_type": "g4dn.xlarge", "gpus": 1, "environment": "gpu"}, "0.526000"),
        # Spot with a Spot figure (c5.2xlarge $0.191) vs On-Demand ($0.34)
        ("Spot with a figure", {"instance_type": "c5.2xlarge", "capacity": "spot", "vcpus": 8}, "0.191000"),
        ("On-Demand same type", {"instance_type": "c5.2xlarge", "capacity": "on-demand", "vcpus": 8}, "0.340000"),
        # Spot without a figure: the On-Demand ceiling
        ("Spot at the ceiling", {"capacity": "spot"}, "0.048000"),
        # MNP: 4 nodes, each the whole c5n.18xlarge ($3.888/h), 30 minutes
        (
            "multi-node 4 x c5n.18xlarge",
            {
                "instance_type": "c5n.18xlarge",
                "environment": "multi-node",
                "vcpus": 72,
                "memory_mib": 190_000,
                "nodes": 4,
                "stopped_at_ms": 1_700_000_000_000 + HOUR // 2,
            },
            "7.776000",
        ),
    ],
)
def test_attempt_cost(case: str, fields: dict[str, Any], expected: str) -> None:
    # GIVEN an attempt  WHEN it is priced
    cost = attempt_cost(usage(**fields), TABLE)
    # THEN the amount is price x dominant share x hours x nodes, in USD, rounded to a millionth
    assert cost.amount == Decimal(expected), case
    assert cost.currency == "USD"
    assert cost.amount.as_tuple().exponent == QUANTUM.as_tuple().exponent


@pytest.mark.parametrize(
    ("case", "start", "stop"),
    [
        ("zero duration", 1_000, 1_000),
        ("stopped before started", 5_000, 1_000),
        ("never started", None, 1_000),
        ("still running", 1_000, None),
    ],
)
def test_no_running_time_costs_nothing_and_says_so(case: str, start: int | None, stop: int | None) -> None:
    cost = attempt_cost(usage(started_at_ms=start, stopped_at_ms=stop), TABLE)
    assert cost.amount == 0, case
    assert "no running time" in cost.basis


def test_basis_names_type_price_source_share_rule_time_and_capacity() -> None:
    cost = attempt_cost(usage(vcpus=1, memory_mib=12_288, capacity="spot"), TABLE)
    for words in (
        "m5.xlarge",
        "0.192/h",
        "Spot, priced at its On-Demand ceiling",
        "share 0.75",
        "the larger of vCPU 1/4, memory 12288/16384 MiB",
        "3600 s running (startedAt to stoppedAt)",
        "as of 2026-01-19",
        "us-east-1",
        "https://aws.amazon.com/ec2/pricing/on-demand/",
        "Excludes EBS, data transfer",
    ):
        assert words in cost.basis


def test_share_rule_is_the_dominant_share_not_the_vcpu_share() -> None:
    # GIVEN 1 vCPU and 14 GiB of a 4 vCPU / 16 GiB instance: 3 idle vCPUs with 2 GiB are of no use to other jobs
    instance = TABLE.instances["m5.xlarge"]
    share = share_of(usage(vcpus=1, memory_mib=14_336), instance)
    # THEN the job pays for its memory share (0.875), not its vCPU share (0.25)
    assert share == Decimal("0.875")


# --- unknown instance types: the environment's default --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "chosen", "expected"),
    [
        # local: no instance. 1 vCPU / 2 GiB: c5.xlarge (1/4 x 0.17 = 0.0425) beats m5.xlarge (0.048), r5.2xlarge
        ({"instance_type": None}, "c5.xlarge", "0.042500"),
        # memory-heavy: 2 vCPU / 30 GiB fits m5.xlarge? no (16 GiB); r5.2xlarge (64 GiB): 30/64 x 0.504
        ({"instance_type": None, "vcpus": 2, "memory_mib": 30_720}, "r5.2xlarge", "0.236250"),
        # a type the table lacks is treated like an unknown one
        ({"instance_type": "x2gd.large"}, "c5.xlarge", "0.042500"),
        # too big for every default: the largest default, whole
        ({"instance_type": None, "vcpus": 32, "memory_mib": 200_000}, "r5.2xlarge", "0.504000"),
        ({"instance_type": None, "environment": "multi-node", "vcpus": 36, "nodes": 2}, "c5n.18xlarge", "3.888000"),
        ({"instance_type": None, "environment": "gpu", "gpus": 1}, "g4dn.xlarge", "0.526000"),
    ],
)
def test_unknown_instance_type_uses_the_environment_default(fields: dict[str, Any], chosen: str, expected: str) -> None:
    cost = attempt_cost(usage(**fields), TABLE)
    assert cost.amount == Decimal(expected)
    assert cost.basis.startswith(chosen)
    assert "default for the" in cost.basis


def test_defaults_come_from_the_template_parameters() -> None:
    # THEN the ec2 and multi-node defaults are the template's own InstanceTypes / MultiNodeInstanceTypes defaults
    text = (ROOT / "template.yaml").read_text()
    assert f'Default: "{",".join(DEFAULT_INSTANCE_TYPES["ec2"])}"' in text
    assert f'Default: "{",".join(DEFAULT_INSTANCE_TYPES["multi-node"])}"' in text
    assert all(t in TABLE.instances for types in DEFAULT_INSTANCE_TYPES.values() for t in types)


def test_no_default_in_the_table_is_not_priced_and_says_so() -> None:
    table = replace(TABLE, instances={"c5.large": TABLE.instances["c5.large"]})
    cost = attempt_cost(usage(instance_type=None), table)
    assert cost.amount == 0
    assert "not priced" in cost.basis


# --- wasted and jobs ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "wasted"),
    [
        (None, False),
        (FailureClass.SPOT_RECLAIM, True),
        (FailureClass.HOST_FAILURE, True),
        (FailureClass.OOM, True),
        (FailureClass.TIMEOUT, True),
        (FailureClass.APP_ERROR, False),
        (FailureClass.CANCELLED, False),
        (FailureClass.DEPENDENCY, False),
        (FailureClass.IMAGE_PULL, False),
        (FailureClass.MISCONFIGURATION, False),
        (FailureClass.UNSCHEDULABLE, False),
        (FailureClass.UNKNOWN, False),
    ],
)
def test_wasted_classification(failure: FailureClass | None, wasted: bool) -> None:
    assert is_wasted(failure) is wasted
    cost = attempt_cost(usage(failure=failure), TABLE)
    assert cost.wasted == (cost.amount if wasted else 0)


def test_job_cost_sums_retries_and_reports_waste() -> None:
    # GIVEN a Spot attempt reclaimed after 30 min, an OOM on On-Demand after 10 min, then a success after an hour
    attempts = [
        usage(capacity="spot", stopped_at_ms=1_700_000_000_000 + HOUR // 2, failure=FailureClass.SPOT_RECLAIM),
        usage(stopped_at_ms=1_700_000_000_000 + 600_000, failure=FailureClass.OOM, label="attempt 2"),
        usage(memory_mib=8192, label="attempt 3"),  # escalated memory: share 0.5
    ]
    cost = job_cost(attempts, TABLE)
    # THEN 0.024 + 0.008 + 0.096, of which the first two are wasted
    assert cost.amount == Decimal("0.128000")
    assert cost.wasted == Decimal("0.032000")
    assert "3 attempt(s)" in cost.basis
    assert "attempt 2:" in cost.basis


def test_array_children_are_summed_and_rounded_once() -> None:
    # GIVEN 1,000 array children of 10 s each on a quarter of an m5.xlarge: 0.000133333... each
    children = [usage(stopped_at_ms=1_700_000_010_000, label=f"child {i}") for i in range(1000)]
    each = attempt_cost(children[0], TABLE).amount
    cost = job_cost(children, TABLE)
    # THEN the job's figure is the exact sum rounded once (0.133333), not 1,000 rounded parts (0.133000)
    assert each == Decimal("0.000133")
    assert cost.amount == Decimal("0.133333")


def test_a_job_with_no_attempts_costs_nothing() -> None:
    cost = job_cost([], TABLE)
    assert cost.amount == 0
    assert cost.wasted == 0


# --- the price table ------------------------------------------------------------------------------------------------


def test_shipped_table_has_date_sources_and_sane_prices() -> None:
    assert TABLE.region == "us-east-1"
    assert TABLE.as_of == "2026-01-19"
    assert "https://" in TABLE.on_demand_source
    assert "https://" in TABLE.spot_source
    for name, price in TABLE.instances.items():
        assert price.on_demand_per_hour > 0, name
        assert price.spot_per_hour is None or price.spot_per_hour < price.on_demand_per_hour, name


def test_override_file_replaces_the_table(tmp_path: Path) -> None:
    # GIVEN an override file with one type
    path = tmp_path / "prices.json"
    override = {
        "region": "eu-west-1",
        "currency": "USD",
        "asOf": "2026-11-30",
        "onDemandSource": "my contract",
        "instanceTypes": {"m5.xlarge": {"vcpus": 4, "memoryGiB": 16, "onDemand": "0.214", "spot": "0.08"}},
    }
    path.write_text(json.dumps(override))
    # WHEN loaded
    table = load_price_table(path)
    # THEN it is used whole
    assert set(table.instances) == {"m5.xlarge"}
    cost = attempt_cost(usage(capacity="spot"), table)
    assert cost.amount == Decimal("0.020000")
    assert "eu-west-1" in cost.basis
    assert "my contract" in cost.basis


def test_no_override_is_the_shipped_table() -> None:
    assert load_price_table(None) == TABLE
    assert load_price_table("") == TABLE


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        json.dumps({"region": "us-east-1"}),
        json.dumps({**SHIPPED, "instanceTypes": {}}),
        json.dumps({**SHIPPED, "instanceTypes": {"m5.xlarge": {"vcpus": 0, "memoryGiB": 16, "onDemand": "0.1"}}}),
        json.dumps({**SHIPPED, "instanceTypes": {"m5.xlarge": {"vcpus": 4, "memoryGiB": 16, "onDemand": "-1"}}}),
        json.dumps({**SHIPPED, "instanceTypes": {"m5.xlarge": {"vcpus": 4, "memoryGiB": 16, "onDemand": "abc"}}}),
    ],
)
def test_bad_override_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(PriceTableError):
        load_price_table(path)


def test_missing_override_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PriceTableError):
        load_price_table(tmp_path / "nope.json")


# --- properties -----------------------------------------------------------------------------------------------------

types = st.sampled_from(sorted(TABLE.instances))
vcpus = st.integers(min_value=0, max_value=96)
memory = st.integers(min_value=0, max_value=400_000)
seconds = st.integers(min_value=0, max_value=7 * 86_400)


@settings(max_examples=200, deadline=None)
@given(types, vcpus, memory, seconds, seconds, st.sampled_from(["spot", "on-demand"]))
def test_cost_is_monotone_in_time(kind: str, cpu: int, mem: int, a: int, b: int, capacity: str) -> None:
    short, long = sorted((a, b))
    one = attempt_cost(
        usage(
            instance_type=kind,
            vcpus=cpu,
            memory_mib=mem,
            capacity=capacity,
            started_at_ms=0,
            stopped_at_ms=short * 1000,
        ),
        TABLE,
    )
    two = attempt_cost(
        usage(
            instance_type=kind, vcpus=cpu, memory_mib=mem, capacity=capacity, started_at_ms=0, stopped_at_ms=long * 1000
        ),
        TABLE,
    )
    assert 0 <= one.amount <= two.amount


@settings(max_examples=200, deadline=None)
@given(types, vcpus, vcpus, memory, memory, seconds)
def test_cost_is_monotone_in_share(kind: str, c1: int, c2: int, m1: int, m2: int, secs: int) -> None:
    small = usage(
        instance_type=kind, vcpus=min(c1, c2), memory_mib=min(m1, m2), started_at_ms=0, stopped_at_ms=secs * 1000
    )
    big = replace(small, vcpus=max(c1, c2), memory_mib=max(m1, m2))
    instance = TABLE.instances[kind]
    assert share_of(small, instance) <= share_of(big, instance) <= 1
    assert attempt_cost(small, TABLE).amount <= attempt_cost(big, TABLE).amount
    # and never more than the whole instance for that time
    assert attempt_cost(big, TABLE).amount <= (instance.on_demand_per_hour * secs / 3600).quantize(QUANTUM) + QUANTUM


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(seconds, st.sampled_from(sorted(WASTED_CLASSES | {FailureClass.APP_ERROR}))), max_size=8))
def test_wasted_never_exceeds_amount_and_job_is_the_sum(parts: list[tuple[int, FailureClass]]) -> None:
    attempts = [usage(started_at_ms=0, stopped_at_ms=s * 1000, failure=f) for s, f in parts]
    cost = job_cost(attempts, TABLE)
    assert 0 <= cost.wasted <= cost.amount
    singles = sum((attempt_cost(a, TABLE).amount for a in attempts), Decimal(0))
    assert abs(cost.amount - singles) <= QUANTUM * len(attempts)


def test_running_ms() -> None:
    assert running_ms(usage(started_at_ms=10, stopped_at_ms=25)) == 15
