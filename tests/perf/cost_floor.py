"""The least a standalone job's control plane can cost at the listed prices, for two designs: a floor, not a plan.

Issue #15 asks for at most $10 per million standalone jobs. `costs.py` measures what the built design costs; this
module asks what any design that keeps the requirements could cost at best, write by write, so the gap is known to
be the design's or the requirements'. Every write below is billed at its least: an item of at most 1 KB (1 write
request unit, WRU; 2 in a TransactWriteItems: "Transactional write requests require 2 WRUs per 1 KB"), indexes
holding keys only, so a write that moves no index key bills no index ("Write capacity unit consumption for global
secondary indexes", DynamoDB Developer Guide, GSI.html: one write when an item enters an index, two when its index
key changes, one when it leaves), and per-tick writes (the dispatcher's counters, its rate budget) shared by so many
jobs that they cost nothing a job. Reads are left out (a few RRU a job at $0.125 a million), and so are Lambda's
duration and logs: the floor is the writes and the requests, and `with today's durations` adds what the measure
assumes for those.

Not a theorem: the least of the ways known to the team (a counter released through the sweeper's bucket, or counted
in the job's own item, costs more, not less: see docs/costs.md). The two designs:

* exact quotas: what issue #14 requires ("usage counts stay exact under duplicated and reordered events", a 429 over
  `maxQueuedJobs` at submission). A job's creation and its tenant's queued count change together, and so do its end
  and the release of what it held: two items in one transaction each time.
* counted late: no counter in any job's write; counts derived afterwards from the jobs' own writes (a DynamoDB
  stream read by a function, free for Lambda, batched per tenant), so a 429 and a running quota act on counts that
  lag by the stream's delay. This is also the floor of a design with no quotas at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

API_REQUESTS = 1  # the submission: one HTTP API request
INVOCATIONS = 1 + 4  # the gateway's, and one per Batch event (RUNNABLE, STARTING, RUNNING, SUCCEEDED: costs.py)


@dataclass(frozen=True)
class Write:
    step: str  # submission, admission, events, end, rollup
    what: str
    table: int  # WRU billed on the table
    index: int  # WRU billed on the indexes


@dataclass(frozen=True)
class Design:
    name: str
    gives_up: str
    writes: tuple[Write, ...]

    @property
    def wru(self) -> int:
        return sum(w.table + w.index for w in self.writes)


_EVENTS = Write("events", "RUNNABLE, STARTING, RUNNING: the job's record, 1 each, no index key moved", 3, 0)
_ROLLUP = Write("rollup", "the attempt's cost added to its day's rollup (GET /costs without a scan)", 1, 0)
EXACT = Design(
    "exact quotas",
    "nothing (issue #14's exactness kept)",
    (
        Write(
            "submission", "the job and its tenant's queued count, one transaction; enters the queue and listing", 4, 2
        ),
        Write(
            "admission", "the job, one transaction (counters per tick); leaves the queue, enters the sweeper's", 2, 2
        ),
        _EVENTS,
        Write("end", "the job and the release of what it held, one transaction; leaves the sweeper's index", 4, 1),
        _ROLLUP,
    ),
)
LATE = Design(
    "counted late",
    "exact quotas: the 429 and running quotas act on counts that lag",
    (
        Write("submission", "the job; enters the queue and its tenant's listing", 1, 2),
        Write("admission", "the job; leaves the queue, enters the sweeper's index", 1, 2),
        _EVENTS,
        Write("end", "the job; leaves the sweeper's index", 1, 1),
        _ROLLUP,
    ),
)
DESIGNS = (EXACT, LATE)


def floor_usd(design: Design, usd: dict[str, Decimal]) -> Decimal:
    """Per 1,000,000 jobs: the design's writes, the HTTP API request and the Lambda requests; nothing else."""
    return (
        design.wru * usd["dynamodb_per_million_wru"]
        + API_REQUESTS * usd["apigateway_http_per_million_requests"]
        + INVOCATIONS * usd["lambda_per_million_requests"]
    )


def render(usd: dict[str, Decimal], durations_and_logs: Decimal, target: Decimal) -> list[str]:
    """The floor of each design, then with the measure's assumed Lambda durations and measured log bytes added."""
    lines = ["  the floor of a design (tests/perf/cost_floor.py: every write at its least, no reads, no durations):"]
    for design in DESIGNS:
        floor = floor_usd(design, usd).quantize(Decimal("0.01"))
        verdict = "over" if floor > target else "under"
        lines.append(
            f"    {design.name:<13} {design.wru:>2} WRU/job  ${floor:>6} ({verdict} ${target}); with today's "
            f"durations and logs ${floor + durations_and_logs:>6}; gives up {design.gives_up}"
        )
    return lines
