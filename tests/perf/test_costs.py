"""The control plane's cost per million jobs: the arithmetic on a fixed call profile, the DynamoDB item-size rules,
and the price file's dates and sources. No timing is asserted."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from tests.perf import costs

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
    assert by["DynamoDB writes (on-demand)"] == Decimal("5.00")  # 8 x $0.625/M
    assert by["DynamoDB reads (on-demand)"] == Decimal("0.25")  # 2 x $0.125/M
    assert by["EventBridge"] == Decimal("1.00")  # AWS service events free, 1 custom x $1/M
    assert by["AWS Batch SubmitJob"] == Decimal("0.00")
    # 7 x 1024 B x 1e6 / 1024^3 = 6.676 GB x $0.50
    assert by["CloudWatch Logs ingestion"] == Decimal("3.34")
    assert breakdown.total == sum(by.values())
    assert breakdown.total == Decimal("18.66")
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
    for words in ("API Gateway", "Lambda duration", "DynamoDB writes", "CloudWatch Logs", "total", "18.66", "OVER"):
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


def test_wru_of_counts_puts_updates_and_transactions() -> None:
    big = {"pk": {"S": "a"}, "sk": {"S": "b"}, "blob": {"S": "x" * 1500}}
    requests = [
        ("dynamodb.PutItem", {"Item": big}),
        ("dynamodb.UpdateItem", {"Key": {"pk": {"S": "a"}, "sk": {"S": "b"}}}),
        ("dynamodb.TransactWriteItems", {"TransactItems": [{"Put": {"Item": {"pk": {"S": "c"}}}}]}),
        ("batch.SubmitJob", {}),
    ]
    wru, writes = costs._wru_of(requests, {("a", "b"): costs.item_size(big)})
    assert (wru, writes) == (2 + 2 + 2, 3)
