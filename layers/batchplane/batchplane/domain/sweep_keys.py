"""Where the sweeper's index (gsi2) files a job, and when it next looks at it: pure functions of data.

No hot keys: each bucket (ACTIVE, RUNNABLE, RETRY, HELD, RELEASE) is split into ``shards`` partition-key values
``<BUCKET>#<n>``, ``n`` a stable hash of the job id modulo ``shards`` (CRC-32: the same in every process, Python's
``hash`` is salted per process). A job stays in one shard for its life, so each shard takes about 1/``shards`` of
the index's writes. Items written before sharding carry the bare bucket name (``ACTIVE``): the sweeper reads that
legacy key too, and every write that files a job again moves it to its shard.

Due work only: the ACTIVE bucket sorts by when the sweeper should next look at a job (``<due ms>#<job id>``), not
by creation, so a sweep reads the jobs that are due and never the quiet rest. A job is due ``repair`` after a write
that leaves it unheard of (created, released, a new attempt, a failure awaiting its decision) and ``reconcile``
after an event; one that stays silent is looked at again after as long as it has been silent, at least
``reconcile`` and at most ``cap`` (15 min, 30 min, 1 h, then every hour), so a million quiet jobs cost a look each
per hour, not per sweep.
"""

from __future__ import annotations

import zlib

RELEASE_BUCKET = "RELEASE"  # an ended job until its admission is given back (the sweeper repairs a lost release)
BUCKETS = ("ACTIVE", "RUNNABLE", "RETRY", "HELD", RELEASE_BUCKET)
DEFAULT_SHARDS = 16
MAX_SHARDS = 256
DUE_DIGITS = 13  # epoch milliseconds, zero-padded, so the sort key orders as the time does
HEARD_STEPS = 15  # a job heard from is due after the reconcile window, rounded up to a fifteenth of it


def shard_of(job_id: str, shards: int) -> int:
    """The shard (0..shards-1) a job is filed under in every bucket: CRC-32 of its id, modulo ``shards``."""
    if not 1 <= shards <= MAX_SHARDS:
        msg = f"shards must be 1..{MAX_SHARDS}, not {shards}"
        raise ValueError(msg)
    return zlib.crc32(job_id.encode()) % shards


def bucket_key(bucket: str, job_id: str, shards: int) -> str:
    """The gsi2 partition key of a job in ``bucket``: ``RUNNABLE#7``."""
    return f"{bucket}#{shard_of(job_id, shards)}"


def bucket_keys(bucket: str, shards: int) -> tuple[str, ...]:
    """Every partition key the sweeper reads for ``bucket``: its shards, then the legacy unsharded key (items
    written before sharding, until their next write moves them)."""
    return (*(f"{bucket}#{n}" for n in range(shards)), bucket)


def part_shards(part: int, parts: int, shards: int) -> tuple[int, ...]:
    """The shards one sweep part reads: every ``parts``-th shard from ``part`` (``n % parts == part``), so the parts
    of a sweep cover every shard once whatever the shard count (16 parts of 16 shards: one each; of 32: two each)."""
    if not 0 <= part < parts <= MAX_SHARDS:
        msg = f"part must be 0..parts-1 and parts 1..{MAX_SHARDS}, not {part} of {parts}"
        raise ValueError(msg)
    return tuple(n for n in range(shards) if n % parts == part)


def part_keys(bucket: str, shards: int, part: int, parts: int) -> tuple[str, ...]:
    """The partition keys of ``bucket`` that sweep part ``part`` of ``parts`` reads: its shards, and the legacy
    unsharded key for part 0 (one part, so legacy items are read once)."""
    keys = tuple(f"{bucket}#{n}" for n in part_shards(part, parts, shards))
    return (*keys, bucket) if part == 0 else keys


def due_key(due_ms: int, job_id: str) -> str:
    """A sort key that orders by a time in epoch milliseconds: ``0001764590000000#<job id>``."""
    return f"{max(due_ms, 0):0{DUE_DIGITS}d}#{job_id}"


def due_until(now_ms: int) -> str:
    """The upper bound of a range read for everything due at ``now_ms`` (``~`` sorts after every job id)."""
    return f"{max(now_ms, 0):0{DUE_DIGITS}d}~"


def next_look_ms(now_ms: int, silent_ms: int, reconcile_ms: int, cap_ms: int) -> int:
    """When the sweeper looks again at an active job it found with nothing new after ``silent_ms`` of silence: after
    as long again, at least ``reconcile_ms`` and at most ``cap_ms`` (a back-off: 15 min, 30 min, 1 h, 1 h, ...)."""
    return now_ms + max(reconcile_ms, min(max(silent_ms, 0), cap_ms))


RECONCILE_CAP_MS = 3_600_000  # a silent job is looked at again at least once an hour


class SweepIndex:
    """How one deployment files jobs in gsi2: its shard count and the sweeper's windows (from the settings)."""

    __slots__ = ("reconcile_ms", "repair_ms", "shards")

    def __init__(
        self, shards: int = DEFAULT_SHARDS, *, repair_seconds: float = 120.0, reconcile_seconds: float = 900.0
    ) -> None:
        shard_of("", shards)  # validates the count
        self.shards = shards
        self.repair_ms = int(repair_seconds * 1000)
        self.reconcile_ms = int(reconcile_seconds * 1000)

    def key(self, bucket: str, job_id: str) -> str:
        return bucket_key(bucket, job_id, self.shards)

    def keys(self, bucket: str, part: int = 0, parts: int = 1) -> tuple[str, ...]:
        """The keys of ``bucket`` (all of them, or one sweep part's)."""
        return bucket_keys(bucket, self.shards) if parts == 1 else part_keys(bucket, self.shards, part, parts)

    def release_sort_key(self, ended_ms: int, job_id: str) -> str:
        """An ended job's sort key in RELEASE: due ``repair`` after its end, when the sweeper gives back an admission
        that the invocation which ended it did not (it died first); the release itself takes it out at once."""
        return due_key(ended_ms + self.repair_ms, job_id)

    def active_sort_key(self, now_ms: int, job_id: str, *, heard: bool) -> str:
        """An ACTIVE job's sort key after a write at ``now_ms``: due ``repair`` later when nothing may have reached
        Batch or a decision is pending; when Batch was just heard from (an event), ``reconcile`` later, rounded up to
        a step of a fifteenth of it (a minute of the default 15): a job's STARTING and RUNNING, seconds apart, file it
        under one key, so the second event's write moves nothing in gsi2 (an index key changed is billed twice, a
        delete and a put). The sweeper looks at most a step later than it would."""
        if not heard:
            return due_key(now_ms + self.repair_ms, job_id)
        step = max(1, self.reconcile_ms // HEARD_STEPS)
        return due_key(-(-(now_ms + self.reconcile_ms) // step) * step, job_id)
