"""The control plane's own AWS cost per 1,000,000 standalone jobs (issue 15: at most $10).

What is counted comes from the calls the bench counts on moto (the botocore hook of tests/perf/measures.py): one
API Gateway request and one gateway invocation per submission, its DynamoDB writes, the dispatcher's admission of
the job (its transaction, its share of the tick's reads and SubmitJob budget write), and per Batch state-change event
one job_events invocation and its guarded write. DynamoDB write request units are charged by item size, for the table
and for every global secondary index the write changes (the rules are below, with their sources), so the measure
reads every written item before and after each write (ImageRecorder) and bills the table and each index from the two
images, with the indexes' key schemas and projections as template.yaml declares them.
Prices are the published us-east-1 list prices in tests/perf/aws_prices.json, with their date and sources.

What is assumed, not measured (each is a named constant below, and the report prints them):
  * EVENTS_PER_JOB: Batch sends a state-change event per status a standalone job passes through after its
    submission: RUNNABLE, STARTING, RUNNING, SUCCEEDED (4). None for SUBMITTED ("Events aren't created for the
    initial job submission", https://docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html); PENDING
    (a job waiting on a dependency: batchplane never gives Batch one) is dropped by the rule's pattern in
    template.yaml. The measure delivers them in order, once each; a duplicate delivery is billed apart (at-least-once
    delivery makes some, how many is not known), so are the once-a-job writes (the release, the cost rollup).
  * Lambda billed durations (ms) per invocation: moto answers in-process, so AWS round trips are not measured.
  * Bytes of CloudWatch Logs per invocation are measured: what the handlers write (Powertools log lines at the
    template's POWERTOOLS_LOG_LEVEL, EMF metric documents), captured while the bench submits jobs and delivers a
    standalone job's 4 events; plus Lambda's own platform.start and platform.report lines (JSON log format, shaped
    as AWS documents them) when the function's SystemLogLevel (template.yaml LoggingConfig) lets them through.
  * Memory size and architecture come from template.yaml's Globals.
Not included: the sweeper and the dispatcher's own running time (fixed costs per month, printed apart), reads for GET /jobs (callers' polling), data
transfer, CloudWatch metrics and alarms, log storage, KMS, the free tiers, and volume discounts (all first tier).
Step Functions transitions apply to pipeline jobs only and are printed apart, per pipeline job.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from tests.perf import cost_floor

PRICES = Path(__file__).with_name("aws_prices.json")
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
MILLION = Decimal(1_000_000)
GB = Decimal(1024**3)  # CloudWatch Logs bills per GB of ingested data; binary GB is the conservative reading

EVENTS_PER_JOB = 4
EVENT_KINDS = ("RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED")  # a standalone job's events (EVENTS_PER_JOB)
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
DISPATCHER_TICK_SECONDS = Decimal("0.5")  # settings.py's default pause between idle ticks
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


def template_dispatcher_loop_seconds(path: Path = TEMPLATE) -> int:
    """The default of template.yaml's DispatcherLoopSeconds parameter (how long each invocation ticks)."""
    text = path.read_text().split("\n  DispatcherLoopSeconds:\n", 1)[1]
    found = re.search(r"Default:\s*(\d+)", text)
    return int(found.group(1)) if found else 0


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
    wru: Decimal  # the table's own write units
    rru: Decimal
    aws_service_events: Decimal
    custom_events: Decimal
    log_bytes_per_invocation: int
    sfn_transitions_per_pipeline_job: Decimal | None = None
    index_wru: dict[str, Decimal] = field(default_factory=dict)  # write units billed by each global secondary index
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
    dispatcher_per_month: Decimal = Decimal(0)

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
    index_wru = sum(profile.index_wru.values(), Decimal(0))
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
        Line("DynamoDB writes: table", f"{profile.wru} WRU/job", profile.wru * p["dynamodb_per_million_wru"]),
        Line(
            "DynamoDB writes: indexes",
            f"{index_wru} WRU/job ({', '.join(f'{k} {v}' for k, v in sorted(profile.index_wru.items())) or 'none'})",
            index_wru * p["dynamodb_per_million_wru"],
        ),
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
    # the dispatcher: invoked every minute, it ticks DispatcherLoopSeconds whatever the load, and reads the QUEUED
    # bucket every DISPATCHER_TICK_SECONDS while nothing is admissible: a Query per shard (0.5 RRU each, the least a
    # read is billed), and the unsharded key too in the whole read every FULL_READ_SECONDS
    from batchplane.adapters.dynamo.admission import SHARD_KEYS
    from batchplane.services.dispatcher import FULL_READ_SECONDS

    loop = Decimal(template_dispatcher_loop_seconds())
    queries = loop / DISPATCHER_TICK_SECONDS * len(SHARD_KEYS) + loop / Decimal(str(FULL_READ_SECONDS))
    dispatcher = SWEEPS_PER_MONTH * (
        p["lambda_per_million_requests"] / MILLION
        + loop * memory_gb * gb_s_price
        + queries * Decimal("0.5") * p["dynamodb_per_million_rru"] / MILLION
    )
    return Breakdown(lines, total, pipeline, _usd(sweep), _usd(dispatcher))


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


# ---- what a write bills: the table and each global secondary index ------------------------------------------------
# Table (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html): 1 WRU per
# started KB of the item, a PutItem or UpdateItem by the larger of the item before and after, a DeleteItem by the item
# deleted; a write whose condition fails still bills (the item as it stands, at least 1 WRU); an action of a
# TransactWriteItems bills twice (prepare and commit).
# Indexes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html, "Write capacity units" under
# "Provisioned throughput considerations for Global Secondary Indexes"): a write bills each index it affects, by the
# size of the index entry (the table's key, the index's key and the projected attributes: with ALL, the whole item):
# one write when the item enters the index (it defines the index's key attributes) or, staying in it with the same
# index key, changes an attribute the index projects; two (a delete of the old entry, a put of the new) when an index
# key attribute changes value; one when it leaves the index; none when the item is in the index neither before nor
# after, or when nothing the index holds changes. Assumed, not documented: an index write from a transaction bills
# once (a transaction's changes reach its indexes after the commit, as ordinary writes), and an entry updated in
# place bills by the larger of its sizes before and after, as the table's UpdateItem does.

Item = dict[str, dict[str, Any]]
TABLE_KEY = ("pk", "sk")


@dataclass(frozen=True)
class IndexSpec:
    """One global secondary index as the table declares it: its key attributes and its projection."""

    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    include: frozenset[str] = frozenset()

    @classmethod
    def of(cls, declared: dict[str, Any]) -> IndexSpec:
        """From a GlobalSecondaryIndexes entry of the table's CloudFormation properties."""
        projection = declared.get("Projection", {})
        return cls(
            name=declared["IndexName"],
            keys=tuple(k["AttributeName"] for k in declared["KeySchema"]),
            projection=projection.get("ProjectionType", "ALL"),
            include=frozenset(projection.get("NonKeyAttributes", ())),
        )


def template_indexes() -> tuple[IndexSpec, ...]:
    """The table's global secondary indexes as template.yaml deploys them."""
    from tests.cfn import table_definition

    return tuple(IndexSpec.of(gsi) for gsi in table_definition().get("GlobalSecondaryIndexes", ()))


def index_entry(item: Item | None, index: IndexSpec, table_key: tuple[str, ...] = TABLE_KEY) -> Item | None:
    """What ``index`` holds for ``item``: None when the item lacks one of the index's key attributes (not in it)."""
    if item is None or any(k not in item for k in index.keys):
        return None
    if index.projection == "ALL":
        return dict(item)
    kept = {*table_key, *index.keys, *(index.include if index.projection == "INCLUDE" else ())}
    return {k: v for k, v in item.items() if k in kept}


def index_write_units(
    before: Item | None, after: Item | None, index: IndexSpec, table_key: tuple[str, ...] = TABLE_KEY
) -> int:
    """WRU one table write bills ``index``, from the item's images before and after it (None: no item)."""
    old, new = index_entry(before, index, table_key), index_entry(after, index, table_key)
    if old is None and new is None:
        return 0
    if old is None:
        return write_units(item_size(new or {}))
    if new is None:
        return write_units(item_size(old))
    if any(old[k] != new[k] for k in index.keys):
        return write_units(item_size(old)) + write_units(item_size(new))
    if old == new:
        return 0
    return write_units(max(item_size(old), item_size(new)))


@dataclass(frozen=True)
class Write:
    """One item written by one request (a PutItem, an action of a TransactWriteItems...): its images."""

    op: str  # Put | Update | Delete | ConditionCheck
    before: Item | None
    after: Item | None
    transactional: bool = False


def table_write_units(write: Write) -> int:
    if write.op == "Delete":
        size = item_size(write.before or {})
    else:
        size = max(item_size(write.before or {}), item_size(write.after or {}))
    return write_units(size) * (2 if write.transactional else 1)


@dataclass
class WriteBill:
    table: int = 0
    index: dict[str, int] = field(default_factory=dict)
    writes: int = 0  # requests

    @property
    def total(self) -> int:
        return self.table + sum(self.index.values())

    def add(self, write: Write, indexes: tuple[IndexSpec, ...]) -> None:
        self.table += table_write_units(write)
        for index in indexes:
            self.index[index.name] = self.index.get(index.name, 0) + index_write_units(write.before, write.after, index)


def bill(requests: list[list[Write]], indexes: tuple[IndexSpec, ...]) -> WriteBill:
    """The WRU of writes recorded per request (``ImageRecorder.requests``)."""
    out = WriteBill(index={i.name: 0 for i in indexes})
    for request in requests:
        out.writes += 1
        for write in request:
            out.add(write, indexes)
    return out


# ---- the measure (moto) --------------------------------------------------------------------------------------------


def _written(op: str, params: dict[str, Any]) -> list[tuple[str, Item, bool]]:
    """(action, key, transactional) of each item a DynamoDB write request names."""

    def key_of(item: Item) -> Item:
        return {k: item[k] for k in TABLE_KEY}

    if op == "PutItem":
        return [("Put", key_of(params["Item"]), False)]
    if op in ("UpdateItem", "DeleteItem"):
        return [(op.removesuffix("Item"), key_of(params["Key"]), False)]
    if op == "TransactWriteItems":
        out = []
        for entry in params["TransactItems"]:
            (kind, body), *_ = entry.items()
            item = body.get("Item")
            out.append((kind, key_of(item if item is not None else body["Key"]), True))
        return out
    if op == "BatchWriteItem":
        out = []
        for requests in params["RequestItems"].values():
            for r in requests:
                if "PutRequest" in r:
                    out.append(("Put", key_of(r["PutRequest"]["Item"]), False))
                else:
                    out.append(("Delete", key_of(r["DeleteRequest"]["Key"]), False))
        return out
    return []


class ImageRecorder:
    """Records, for every DynamoDB write the functions' clients make, each written item as it was before the
    request and after it (read from moto with a client of its own, which the functions' hooks do not see)."""

    def __init__(self, table_name: str) -> None:
        import threading

        import boto3

        self._table = table_name
        self._db = boto3.client("dynamodb", region_name="us-east-1")
        self._pending = threading.local()
        self.requests: list[list[Write]] = []

    def attach(self, events: Any) -> None:
        events.register("provide-client-params.dynamodb.*", self._before)
        events.register("after-call.dynamodb.*", self._after)

    def _image(self, key: Item) -> Item | None:
        found: Item | None = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return found

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        named = _written(model.name, params)
        self._pending.writes = [(op, key, tx, self._image(key)) for op, key, tx in named]

    def _after(self, model: Any, **_: Any) -> None:
        pending = getattr(self._pending, "writes", None)
        self._pending.writes = None
        if not pending:
            return
        self.requests.append([Write(op, before, self._image(key), transactional=tx) for op, key, tx, before in pending])

    def take(self) -> list[list[Write]]:
        out, self.requests = self.requests, []
        return out


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
                for i, kind in enumerate(EVENT_KINDS):
                    plane.deliver(plane.event(kind, job, seconds=i))
    gateway = Decimal(len(buffers["gateway"].getvalue().encode())) / jobs + platform_bytes("GatewayFunction")
    events = Decimal(len(buffers["events"].getvalue().encode())) / (jobs * EVENTS_PER_JOB)
    return gateway, events + platform_bytes("JobEventsFunction")


def _job_lives(
    plane: Any, recorder: ImageRecorder, indexes: tuple[IndexSpec, ...], jobs: int, seed: int
) -> tuple[WriteBill, WriteBill, list[tuple[str, dict[str, Any]]], Counter[str]]:
    """A job's life in Batch's events, in order, once each (on ``jobs`` jobs of their own, submitted and admitted
    first), then each job's last event delivered again: (the lives' bill, the duplicates' bill, the lives' calls,
    what the handler answered)."""
    from tests.perf import measures

    rng = random.Random(seed)
    with measures.quiet():
        lives = [plane.submit(measures.job_body(i, rng)) for i in range(jobs)]
    recorder.take()
    calls = plane.stack.calls
    start = len(calls.requests)
    outcomes: Counter[str] = Counter()
    last: list[dict[str, Any]] = []
    with measures.quiet():
        for job in lives:
            for i, kind in enumerate(EVENT_KINDS):
                event = plane.event(kind, job, seconds=i)
                outcomes[str(plane.deliver(event))] += 1
            last.append(event)
    event_requests = list(calls.requests[start:])
    event_bill = bill(recorder.take(), indexes)
    with measures.quiet():
        for event in last:  # the same event delivered again (EventBridge delivers at least once)
            outcomes[f"duplicate {plane.deliver(event)}"] += 1
    return event_bill, bill(recorder.take(), indexes), event_requests, outcomes


def measure(submits: int = 20, jobs: int = 10, seed: int = 7) -> CallProfile:
    """Submissions, their admission by the dispatcher, and a job's events on moto, in one stack, each written item
    read before and after each write to bill the table and its indexes; the rest from the constants above."""
    from batchplane.adapters import aws as aws_clients

    from tests.perf import measures
    from tests.perf.harness import moto_plane

    reads = ("dynamodb.GetItem", "dynamodb.Query", "dynamodb.BatchGetItem", "dynamodb.Scan")
    indexes = template_indexes()
    with moto_plane() as plane:
        recorder = ImageRecorder(plane.stack.table_name)
        recorder.attach(aws_clients.session().events)
        calls = plane.stack.calls
        # POST /jobs: each job recorded QUEUED
        start = len(calls.requests)
        submit = measures.calls_per_submit(plane, submits, seed=seed)
        submit_requests = list(calls.requests[start:])
        submit_bill = bill(recorder.take(), indexes)
        # the dispatcher's ticks until nothing more is admitted: each job admitted and submitted to Batch
        start = len(calls.requests)
        admitted, ticks = 0, 0
        with measures.quiet():
            while ticks < 10 and (made := len(plane.dispatch().admitted)):
                admitted, ticks = admitted + made, ticks + 1
        dispatch_requests = list(calls.requests[start:])
        dispatch_bill = bill(recorder.take(), indexes)
        event_bill, duplicate_bill, event_requests, outcomes = _job_lives(plane, recorder, indexes, jobs, seed + 1)
        sizes = _items_now(plane)
    if admitted != submits:
        msg = f"the dispatcher admitted {admitted} of {submits} submitted jobs: the per-job measure would be wrong"
        raise AssertionError(msg)
    per_job = (
        (submit_bill, Decimal(submits)),
        (dispatch_bill, Decimal(admitted)),
        (event_bill, Decimal(jobs)),
    )
    table_wru = sum((Decimal(b.table) / n for b, n in per_job), Decimal(0))
    index_wru = {i.name: sum((Decimal(b.index[i.name]) / n for b, n in per_job), Decimal(0)) for i in indexes}
    event_reads = sum(1 for op, _ in event_requests if op in reads)
    # reads: eventually consistent GetItem of an item under 4 KB = 0.5 RRU; counted at 1 RRU each (conservative)
    rru = (
        Decimal(sum(1 for op, _ in submit_requests if op in reads)) / submits
        + Decimal(sum(1 for op, _ in dispatch_requests if op in reads)) / admitted
        + Decimal(event_reads) / jobs
    )
    memory_mb, architecture = template_lambda_settings()
    gateway_log, event_log = measure_log_bytes()
    log_bytes = int((gateway_log + event_log * EVENTS_PER_JOB) / (1 + EVENTS_PER_JOB))

    def split(b: WriteBill, n: Decimal) -> str:
        parts = ", ".join(f"{k} {Decimal(v) / n:.2f}" for k, v in sorted(b.index.items()))
        return f"table {Decimal(b.table) / n:.2f} + {parts}"

    return CallProfile(
        api_requests=Decimal(1),
        gateway_invocations=Decimal(1),
        event_invocations=Decimal(EVENTS_PER_JOB),
        gateway_ms=Decimal(GATEWAY_MS),
        event_ms=Decimal(JOB_EVENTS_MS),
        memory_mb=memory_mb,
        architecture=architecture,
        wru=table_wru.quantize(Decimal("0.01")),
        index_wru={k: v.quantize(Decimal("0.01")) for k, v in index_wru.items()},
        rru=rru.quantize(Decimal("0.01")),
        aws_service_events=Decimal(EVENTS_PER_JOB),
        custom_events=Decimal(0),
        log_bytes_per_invocation=log_bytes,
        measured={
            "submit_calls": submit.calls,
            "dispatch_calls": dict(Counter(op for op, _ in dispatch_requests)),
            "dispatch_ticks": ticks,
            "event_calls": dict(Counter(op for op, _ in event_requests)),
            "event_outcomes": dict(outcomes),
            "wru_per_submission": split(submit_bill, Decimal(submits)),
            "wru_per_admission": split(dispatch_bill, Decimal(admitted)),
            "wru_per_job_events": split(event_bill, Decimal(jobs)),
            "wru_per_duplicate_delivery": split(duplicate_bill, Decimal(jobs)),
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
    lambda_and_logs = sum(
        (x.usd for x in breakdown.lines if x.service in ("Lambda duration", "CloudWatch Logs ingestion")), Decimal(0)
    )
    lines += cost_floor.render(prices.usd, lambda_and_logs, TARGET_USD_PER_MILLION)
    if breakdown.pipeline_extra_per_million is not None:
        lines.append(
            f"  pipeline jobs add Step Functions: {profile.sfn_transitions_per_pipeline_job} transitions/job = "
            f"${breakdown.pipeline_extra_per_million} per million"
        )
    lines.append(f"  fixed: the sweeper, {SWEEPS_PER_MONTH:,} invocations/month = ${breakdown.sweeper_per_month}/month")
    lines.append(
        f"  fixed: the dispatcher, {SWEEPS_PER_MONTH:,} invocations/month of {template_dispatcher_loop_seconds()} s "
        f"each, idle ticks' Queries (one per QUEUED shard) every {DISPATCHER_TICK_SECONDS} s = "
        f"${breakdown.dispatcher_per_month}/month"
    )
    lines.append(f"  measured on moto: {profile.measured}")
    lines.append(
        f"  assumed: {EVENTS_PER_JOB} Batch events/job, {GATEWAY_MS} ms gateway and {JOB_EVENTS_MS} ms job_events "
        f"billed (the dispatcher's per-job time inside its fixed loop); an index write from a transaction billed "
        f"once; log bytes measured (mean over a job's invocations); prices: {PRICES.name}"
    )
    return lines


# ---- the ledger: one job's writes, one by one ------------------------------------------------------------------


class _PathRecorder(ImageRecorder):
    """An ImageRecorder that also notes which of the layer's functions made each write."""

    def __init__(self, table_name: str) -> None:
        super().__init__(table_name)
        self.paths: list[tuple[str, str]] = []

    def _before(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        import traceback

        super()._before(params, model, **kwargs)
        frames = [f for f in traceback.extract_stack() if "/batchplane/" in f.filename and "<" not in f.name]
        where = " < ".join(f"{f.filename.rsplit('/batchplane/', 1)[-1]}:{f.name}" for f in frames[::-1][:2])
        self._pending.path = (model.name, where)

    def _after(self, model: Any, **kwargs: Any) -> None:
        before = len(self.requests)
        super()._after(model, **kwargs)
        if len(self.requests) > before:
            self.paths.append(self._pending.path)


def ledger(seed: int = 7) -> list[str]:
    """Every write of one standalone job's life (submission, admission, its 4 events, the release, a duplicate of the
    last event): the request, the item (by key prefix), its size before and after, the WRU it bills the table and
    each index, and the code that made it."""
    from batchplane.adapters import aws as aws_clients

    from tests.perf import measures
    from tests.perf.harness import moto_plane

    indexes = template_indexes()
    lines: list[str] = []
    with moto_plane() as plane:
        recorder = _PathRecorder(plane.stack.table_name)
        recorder.attach(aws_clients.session().events)

        def step(title: str) -> None:
            total = WriteBill(index={i.name: 0 for i in indexes})
            lines.append(title)
            for request, (op, where) in zip(recorder.take(), recorder.paths, strict=True):
                for write in request:
                    one = WriteBill(index={i.name: 0 for i in indexes})
                    one.add(write, indexes)
                    total.add(write, indexes)
                    key = str((write.after or write.before or {}).get("pk", {}).get("S", "?")).split("#", 1)[0]
                    sizes = f"{item_size(write.before or {}):>5} -> {item_size(write.after or {}):>5} B"
                    bills = " ".join(f"{k} {v}" for k, v in one.index.items())
                    lines.append(f"  {op:<18} {write.op:<6} {key:<9} {sizes}  table {one.table} {bills}  {where}")
            recorder.paths = []
            lines.append(f"  = table {total.table} " + " ".join(f"{k} {v}" for k, v in total.index.items()))

        with measures.quiet():
            job = plane.submit(measures.job_body(0, random.Random(seed)))
        step("POST /jobs (the harness has the dispatcher admit it at once)")
        with measures.quiet():
            plane.dispatch()
        step("the dispatcher's tick")
        event: dict[str, Any] = {}
        for i, kind in enumerate(EVENT_KINDS):
            with measures.quiet():
                event = plane.event(kind, job, seconds=i)
                plane.deliver(event)
            step(f"Batch event {kind}")
        with measures.quiet():
            plane.deliver(event)
        step("the last event again (a duplicate delivery)")
    return lines


if __name__ == "__main__":  # python -m tests.perf.costs: the cost report, then one job's writes
    import warnings

    from tests.perf.harness import FAKE_AWS_ENV, environ

    warnings.filterwarnings("ignore")
    with environ(FAKE_AWS_ENV):
        measured = measure()
        print("\n".join(render(per_million(measured, load_prices()), measured, load_prices())))
        print("one job's writes (WRU as billed: table, then each index):")
        print("\n".join(ledger()))
