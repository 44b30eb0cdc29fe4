"""The control plane's own AWS cost per 1,000,000 standalone jobs (issue 15: at most $10).

What is counted comes from the calls the bench counts on moto (the botocore hook of tests/perf/measures.py): one
API Gateway request and one gateway invocation per submission, its DynamoDB writes, and per Batch state-change event
one job_events invocation and its guarded write. DynamoDB write request units are charged by item size (1 WRU per
started KB written, a failed conditional write included), so the measure also reads the size of every item written:
PutItem from the request, UpdateItem from the item as it stands after the run (an upper bound of before and after).
Prices are the published us-east-1 list prices in tests/perf/aws_prices.json, with their date and sources.

What is assumed, not measured (each is a named constant below, and the report prints them):
  * EVENTS_PER_JOB: Batch sends a state-change event per status a standalone job passes through after its
    submission: RUNNABLE, STARTING, RUNNING, SUCCEEDED (4). None for SUBMITTED ("Events aren't created for the
    initial job submission", https://docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html); PENDING
    (a job waiting on a dependency: batchplane never gives Batch one) is dropped by the rule's pattern in
    template.yaml. The bench delivers 7 per job, duplicates and a stale one included, and averages over them.
  * Lambda billed durations (ms) per invocation: moto answers in-process, so AWS round trips are not measured.
  * Bytes of CloudWatch Logs per invocation are measured: what the handlers write (Powertools log lines at the
    template's POWERTOOLS_LOG_LEVEL, EMF metric documents), captured while the bench submits jobs and delivers a
    standalone job's 4 events; plus Lambda's own platform.start and platform.report lines (JSON log format, shaped
    as AWS documents them) when the function's SystemLogLevel (template.yaml LoggingConfig) lets them through.
  * Memory size and architecture come from template.yaml's Globals.
Not included: the sweeper (a fixed cost per month, printed apart), reads for GET /jobs (callers' polling), data
transfer, CloudWatch metrics and alarms, log storage, KMS, the free tiers, and volume discounts (all first tier).
Step Functions transitions apply to pipeline jobs only and are printed apart, per pipeline job.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

PRICES = Path(__file__).with_name("aws_prices.json")
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
MILLION = Decimal(1_000_000)
GB = Decimal(1024**3)  # CloudWatch Logs bills per GB of ingested data; binary GB is the conservative reading

EVENTS_PER_JOB = 4
GATEWAY_MS = 120  # one conditional PutItem + one SubmitJob round trip, plus our code (bench: < 1 ms with AWS stubbed)
JOB_EVENTS_MS = 40  # one guarded UpdateItem round trip, plus our code
# Lambda's system log lines per invocation in the JSON log format (platform.start, platform.report), shaped as
# https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html documents them; both are
# INFO, so SystemLogLevel WARN drops them ("Lambda sends start and report log messages" at the default INFO).
PLATFORM_LINES = (
    '{"time":"2026-12-01T12:00:00.000Z","type":"platform.start","record":{"requestId":'
    '"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","version":"$LATEST"}}',
    '{"time":"2026-12-01T12:00:00.040Z","type":"platform.report","record":{"requestId":'
    '"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","metrics":{"durationMs":38.71,"billedDurationMs":39,'
    '"memorySizeMB":512,"maxMemoryUsedMB":98},"status":"success"}}',
)
SWEEPS_PER_MONTH = 30 * 24 * 60  # rate(1 minute)
SWEEP_MS = 200
TARGET_USD_PER_MILLION = Decimal(10)


@dataclass(frozen=True)
class Prices:
    as_of: str
    usd: dict[str, Decimal]
    sources: dict[str, str]


def load_prices(path: Path = PRICES) -> Prices:
    data = json.loads(path.read_text())
    return Prices(
        as_of=data["asOf"],
        usd={k: Decimal(v["usd"]) for k, v in data["prices"].items()},
        sources={k: v["source"] for k, v in data["prices"].items()},
    )


def system_log_level(function: str, path: Path = TEMPLATE) -> str:
    """The SystemLogLevel of a function's LoggingConfig in template.yaml (Lambda's default: INFO)."""
    text = path.read_text().split(f"\n  {function}:\n", 1)[1].split("\n  # ----", 1)[0]
    found = re.search(r"SystemLogLevel:\s*(\w+)", text.split("\n  [A-Z]", 1)[0])
    return found.group(1) if found else "INFO"


def platform_bytes(function: str) -> int:
    """Bytes of Lambda's own lines per invocation of ``function`` (none at SystemLogLevel WARN)."""
    return 0 if system_log_level(function) == "WARN" else sum(len(line) + 1 for line in PLATFORM_LINES)


def template_log_level(path: Path = TEMPLATE) -> str:
    globals_ = path.read_text().split("\nGlobals:", 1)[1].split("\nResources:", 1)[0]
    found = re.search(r"POWERTOOLS_LOG_LEVEL:\s*(\w+)", globals_)
    return found.group(1) if found else "INFO"


def template_lambda_settings(path: Path = TEMPLATE) -> tuple[int, str]:
    """(MemorySize, architecture) from template.yaml's Globals.Function."""
    globals_ = path.read_text().split("\nGlobals:", 1)[1].split("\nResources:", 1)[0]
    memory = re.search(r"MemorySize:\s*(\d+)", globals_)
    arch = re.search(r"Architectures:\s*\[\s*(\w+)\s*\]", globals_)
    return (int(memory.group(1)) if memory else 128, arch.group(1) if arch else "x86_64")


@dataclass(frozen=True)
class CallProfile:
    """AWS usage per standalone job."""

    api_requests: Decimal
    gateway_invocations: Decimal
    event_invocations: Decimal
    gateway_ms: Decimal
    event_ms: Decimal
    memory_mb: int
    architecture: str
    wru: Decimal
    rru: Decimal
    aws_service_events: Decimal
    custom_events: Decimal
    log_bytes_per_invocation: int
    sfn_transitions_per_pipeline_job: Decimal | None = None
    measured: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Line:
    service: str
    usage: str
    usd: Decimal  # per 1,000,000 jobs


@dataclass(frozen=True)
class Breakdown:
    lines: tuple[Line, ...]
    total: Decimal
    pipeline_extra_per_million: Decimal | None
    sweeper_per_month: Decimal

    @property
    def met(self) -> bool:
        return self.total <= TARGET_USD_PER_MILLION


def _usd(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def per_million(profile: CallProfile, prices: Prices) -> Breakdown:
    """Pure arithmetic: the profile x 1,000,000 jobs x unit prices."""
    p = prices.usd
    gb_s_price = p[f"lambda_per_gb_second_{profile.architecture}"]
    memory_gb = Decimal(profile.memory_mb) / 1024
    invocations = profile.gateway_invocations + profile.event_invocations
    gb_seconds = (
        (profile.gateway_invocations * profile.gateway_ms + profile.event_invocations * profile.event_ms)
        / 1000
        * memory_gb
    )
    log_gb = invocations * profile.log_bytes_per_invocation * MILLION / GB
    lines = (
        Line(
            "API Gateway (HTTP API)",
            f"{profile.api_requests} request/job",
            profile.api_requests * p["apigateway_http_per_million_requests"],
        ),
        Line("Lambda requests", f"{invocations} invocations/job", invocations * p["lambda_per_million_requests"]),
        Line(
            "Lambda duration",
            f"{gb_seconds:f} GB-s/job ({profile.memory_mb} MB {profile.architecture}; "
            f"{profile.gateway_ms} ms gateway, {profile.event_ms} ms job_events)",
            gb_seconds * MILLION * gb_s_price,
        ),
        Line("DynamoDB writes (on-demand)", f"{profile.wru} WRU/job", profile.wru * p["dynamodb_per_million_wru"]),
        Line("DynamoDB reads (on-demand)", f"{profile.rru} RRU/job", profile.rru * p["dynamodb_per_million_rru"]),
        Line(
            "EventBridge",
            f"{profile.aws_service_events} AWS service events/job (free), {profile.custom_events} custom",
            profile.aws_service_events * p["eventbridge_aws_service_events_per_million"]
            + profile.custom_events * p["eventbridge_custom_events_per_million"],
        ),
        Line("AWS Batch SubmitJob", "1 call/job", p["batch_per_submitjob"]),
        Line(
            "CloudWatch Logs ingestion",
            f"{profile.log_bytes_per_invocation} B/invocation",
            log_gb * p["cloudwatch_logs_ingestion_per_gb"],
        ),
    )
    lines = tuple(Line(x.service, x.usage, _usd(x.usd)) for x in lines)
    total = sum((x.usd for x in lines), Decimal(0))
    pipeline = None
    if profile.sfn_transitions_per_pipeline_job is not None:
        pipeline = _usd(
            profile.sfn_transitions_per_pipeline_job
            * MILLION
            / 1000
            * p["stepfunctions_standard_per_thousand_transitions"]
        )
    sweep = SWEEPS_PER_MONTH * (
        p["lambda_per_million_requests"] / MILLION + Decimal(SWEEP_MS) / 1000 * memory_gb * gb_s_price
    )
    return Breakdown(lines, total, pipeline, _usd(sweep))


# ---- DynamoDB item sizes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one typed attribute value: strings and binary by length, numbers ~ 1 byte per 2 significant digits
    + 1, booleans and null 1 byte, lists and maps 3 bytes + 1 byte per element + their elements (and map keys)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(str(inner).lstrip("-").replace(".", "").strip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    if kind in ("SS", "BS"):
        return sum(len(x.encode() if isinstance(x, str) else x) for x in inner)
    if kind == "NS":
        return sum(value_size({"N": x}) for x in inner)
    msg = f"unknown DynamoDB type {kind}"
    raise ValueError(msg)


def item_size(item: dict[str, dict[str, Any]]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


# ---- the measure (moto) --------------------------------------------------------------------------------------------


def _wru_of(requests: list[tuple[str, dict[str, Any]]], items_now: dict[tuple[str, str], int]) -> tuple[int, int]:
    """(WRU, writes) for the DynamoDB writes among ``requests``."""
    wru = writes = 0
    for op, params in requests:
        if op == "dynamodb.PutItem":
            wru += write_units(item_size(params["Item"]))
        elif op in ("dynamodb.UpdateItem", "dynamodb.DeleteItem"):
            key = params["Key"]
            wru += write_units(items_now.get((key["pk"]["S"], key["sk"]["S"]), 1))
        elif op == "dynamodb.TransactWriteItems":
            for entry in params["TransactItems"]:
                (kind, body), *_ = entry.items()
                if kind == "Put":
                    wru += 2 * write_units(item_size(body["Item"]))
                elif kind in ("Update", "Delete", "ConditionCheck"):
                    k = body["Key"]
                    wru += 2 * write_units(items_now.get((k["pk"]["S"], k["sk"]["S"]), 1))
        else:
            continue
        writes += 1
    return wru, writes


def _items_now(plane: Any) -> dict[tuple[str, str], int]:
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
    sizes: dict[tuple[str, str], int] = {}
    for page in client.get_paginator("scan").paginate(TableName=plane.stack.table_name):
        for item in page["Items"]:
            sizes[(item["pk"]["S"], item["sk"]["S"])] = item_size(item)
    return sizes


def measure_log_bytes(jobs: int = 10, seed: int = 9) -> tuple[Decimal, Decimal]:
    """(bytes per gateway invocation, bytes per job_events invocation) written to CloudWatch Logs: what the handlers
    print (log lines at the template's level, EMF documents), captured, plus Lambda's platform lines."""
    import contextlib
    import io
    import random

    from tests.perf import measures
    from tests.perf.harness import moto_plane

    level = template_log_level()
    rng = random.Random(seed)
    with moto_plane() as plane:
        buffers = {"gateway": io.StringIO(), "events": io.StringIO()}
        for name, buffer in buffers.items():
            module = getattr(plane, name)
            module.logger.setLevel(level)
            module.logger.registered_handler.setStream(buffer)
        with contextlib.redirect_stdout(buffers["gateway"]):
            submitted = [plane.submit(measures.job_body(i, rng)) for i in range(jobs)]
        with contextlib.redirect_stdout(buffers["events"]):
            for job in submitted:
                for i, kind in enumerate(("RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED")):
                    plane.deliver(plane.event(kind, job, seconds=i))
    gateway = Decimal(len(buffers["gateway"].getvalue().encode())) / jobs + platform_bytes("GatewayFunction")
    events = Decimal(len(buffers["events"].getvalue().encode())) / (jobs * EVENTS_PER_JOB)
    return gateway, events + platform_bytes("JobEventsFunction")


def measure(submits: int = 20, jobs: int = 10, seed: int = 7) -> CallProfile:
    """Submissions and a job's events on moto, with their writes sized; the rest from the constants above."""
    from tests.perf import measures
    from tests.perf.harness import moto_plane

    reads = ("dynamodb.GetItem", "dynamodb.Query", "dynamodb.BatchGetItem", "dynamodb.Scan")
    with moto_plane() as plane:
        calls = plane.stack.calls
        start = len(calls.requests)
        submit = measures.calls_per_submit(plane, submits, seed=seed)
        submit_requests = list(calls.requests[start:])
        sizes = _items_now(plane)
    submit_wru, _ = _wru_of(submit_requests, sizes)
    with moto_plane() as plane:
        calls = plane.stack.calls
        start = len(calls.requests)
        events = measures.writes_per_event(plane, jobs, seed=seed + 1)
        event_requests = list(calls.requests[start:])
        sizes = _items_now(plane)
    deliveries = events.units
    event_wru, _ = _wru_of([r for r in event_requests if r[0] != "dynamodb.PutItem"], sizes)
    submit_reads = sum(1 for op, _ in submit_requests if op in reads)
    event_reads = sum(1 for op, _ in event_requests if op in reads)
    wru_per_submit = Decimal(submit_wru) / submits
    wru_per_event = Decimal(event_wru) / deliveries
    # reads: eventually consistent GetItem of an item under 4 KB = 0.5 RRU; counted at 1 RRU each (conservative)
    rru = Decimal(submit_reads) / submits + Decimal(event_reads) / deliveries * EVENTS_PER_JOB
    memory_mb, architecture = template_lambda_settings()
    gateway_log, event_log = measure_log_bytes()
    log_bytes = int((gateway_log + event_log * EVENTS_PER_JOB) / (1 + EVENTS_PER_JOB))
    return CallProfile(
        api_requests=Decimal(1),
        gateway_invocations=Decimal(1),
        event_invocations=Decimal(EVENTS_PER_JOB),
        gateway_ms=Decimal(GATEWAY_MS),
        event_ms=Decimal(JOB_EVENTS_MS),
        memory_mb=memory_mb,
        architecture=architecture,
        wru=(wru_per_submit + wru_per_event * EVENTS_PER_JOB).quantize(Decimal("0.01")),
        rru=rru.quantize(Decimal("0.01")),
        aws_service_events=Decimal(EVENTS_PER_JOB),
        custom_events=Decimal(0),
        log_bytes_per_invocation=log_bytes,
        measured={
            "submit_calls": submit.calls,
            "event_calls": events.calls,
            "wru_per_submission": str(wru_per_submit),
            "wru_per_event": str(wru_per_event.quantize(Decimal("0.01"))),
            "largest_item_bytes": max(sizes.values(), default=0),
            "log_bytes_per_gateway_invocation": int(gateway_log),
            "log_bytes_per_job_events_invocation": int(event_log),
        },
    )


def render(breakdown: Breakdown, profile: CallProfile, prices: Prices) -> list[str]:
    lines = [f"control-plane AWS cost per 1,000,000 standalone jobs (us-east-1 list prices of {prices.as_of}):"]
    lines += [f"  {x.service:<30} {x.usage:<70} ${x.usd:>8}" for x in breakdown.lines]
    verdict = "within" if breakdown.met else "OVER"
    lines.append(f"  {'total':<30} {'':<70} ${breakdown.total:>8}  ({verdict} the ${TARGET_USD_PER_MILLION} goal)")
    if breakdown.pipeline_extra_per_million is not None:
        lines.append(
            f"  pipeline jobs add Step Functions: {profile.sfn_transitions_per_pipeline_job} transitions/job = "
            f"${breakdown.pipeline_extra_per_million} per million"
        )
    lines.append(f"  fixed: the sweeper, {SWEEPS_PER_MONTH:,} invocations/month = ${breakdown.sweeper_per_month}/month")
    lines.append(f"  measured on moto: {profile.measured}")
    lines.append(
        f"  assumed: {EVENTS_PER_JOB} Batch events/job, {GATEWAY_MS} ms gateway and {JOB_EVENTS_MS} ms job_events "
        f"billed; log bytes measured (mean over a job's invocations); prices: {PRICES.name}"
    )
    return lines
