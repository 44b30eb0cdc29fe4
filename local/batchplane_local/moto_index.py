"""DynamoDB Query in moto at the cost of the partition asked for, not of the table.

moto's ``Table.query`` starts from every item of the table (``Table.all_items``), for a base-table Query and for a
global secondary index alike, then keeps the partition asked for: in a 10,000-job pipeline the lineage table holds tens
of thousands of items and every Query walked all of them. Here a Query's candidates are only the items that can match:

- a base-table Query: the items of the partition asked for (``table.items[hash_key]``);
- a Query of a global secondary index keyed by one hash attribute: the items whose index hash key has the value asked
  for, from a map kept per table (hash attribute -> value -> items by primary key), built on the first Query of
  that attribute and kept current from the primary keys each write touched (Table.put_item, Table.delete_item, the
  in-place mutations of DynamoDBBackend.update_item, and the rollback of a cancelled transaction in
  moto_glue.cheap_transactions call ``touched``).

moto then answers from those candidates exactly as before (its key conditions, sort, Limit, ExclusiveStartKey,
filters, projection and errors run unchanged over a list that holds every item that can match), so what it answers is
the same; tests/local/test_moto_index.py compares both, answer for answer. Anything else (a local secondary index, an
index with a multi-attribute hash key, a key value that cannot be hashed) takes moto's own walk of the table.

Measured (``python -m tests.perf.moto_query``: 20,000 items, 2,000 partitions of the table and 2,000 of the index,
10 items each; median of one Query through boto3 in process, every local-stack patch on, load ~2.6 on 2 cores):
base-table Query 123.8 ms with moto's own walk, 34.9 ms with moto_glue's unsorted candidates (before this module),
2.8 ms here; index Query 125.0 ms, 35.1 ms, 2.7 ms (most of what is left is the request's own handling).
A 1,000-job DAG on the local stack (``python -m tests.perf.local_dag 1000 --local-only``, one run each, load ~3):
312.4 s before, 250.3 s after; 200 jobs: 44.9 s and 42.3 s (noise at that size).
A Query with a condition on the sort key of the table or of a GSI (=, <, <=, >, >=, BETWEEN, begins_with on S or N
values) gets fewer candidates still: each partition such a Query asks is kept in order of that sort key (_Run, built
on its first such Query, kept current from the same written keys), and the matching items are taken by bisection,
plus the neighbours moto's page loop would look at (_slice_bounds says why the pages, Count, ScannedCount and
LastEvaluatedKey stay the same); a partition holding other types, or a condition it cannot serve, takes the whole
partition as above. An ExclusiveStartKey holding every key moto's paging check compares is placed in that order
too, so the next page starts where the last ended. One index partition of 10,000 items (``python -m
tests.perf.moto_query``, load ~2 on 2 cores, whole partition -> sorted): Limit 30 of ``gsi2sk <= :now`` 38.6 ->
3.6 ms, its next page (ExclusiveStartKey) 40.4 -> 3.9 ms; the last 10 (``gsi2sk > :since``) 114.0 -> 2.2 ms;
BETWEEN 10 items 122.1 -> 2.2 ms; the first query of a table builds the order (10,000 items: 174 ms, once).
What is not tracked: a write that reaches ``table.items`` other than through the calls above (moto's import_table and
restores make new tables, which are indexed on their own first Query)."""

from __future__ import annotations

import bisect
import inspect
import threading
from decimal import Decimal
from typing import Any, NamedTuple

_ATTR = "_batchplane_index"  # where a table keeps its _TableIndex
_QUERY = threading.local()  # .candidates: (table, items) while our Query of that table runs
_LOOSE = object()  # an index value that cannot be hashed: the item is a candidate of every Query of its attribute

PrimaryKey = tuple[Any, Any]  # (hash key, range key or None): the keys of the table's dicts of items


def _snapshot(value: Any) -> Any:
    """What moto's DynamoType equality compares (type and cast value) as a hashable value, or None when it is not
    hashable (lists, maps, sets)."""
    try:
        key = (value.type, value.cast_value)
        hash(key)
    except (AttributeError, TypeError):
        return None
    return key


def _item_at(table: Any, key: PrimaryKey) -> Any:
    """The table's current item under a primary key, or None."""
    rows = table.items.get(key[0])
    if rows is None:
        return None
    if table.range_key_attr is None:
        return rows if not isinstance(rows, dict) else None
    return rows.get(key[1])


def _every_item(table: Any) -> list[tuple[PrimaryKey, Any]]:
    # each list() is taken in one step under the GIL: a write to the table in another of moto's request threads
    # cannot change a dict while it is walked
    if table.range_key_attr is None:
        return [((h, None), item) for h, item in list(table.items.items()) if not isinstance(item, dict)]
    return [((h, r), item) for h, rows in list(table.items.items()) for r, item in list(rows.items())]


_ORDERED = frozenset(("S", "N"))  # sort-key types kept in order: moto compares their cast values as Python does
_MAX_ITEM = 450_000  # more than the largest item moto stores (405,000: dynamo_type.LimitedSizeDict)
_RESULT_SIZE_LIMIT = 1_000_000  # where moto ends a page by size (models.table.RESULT_SIZE_LIMIT)
_RANGE_OPS = frozenset(("=", "EQ", "<", "LT", "<=", "LE", ">", "GT", ">=", "GE", "BETWEEN", "BEGINS_WITH"))


def _order_key(key: PrimaryKey) -> tuple[Any, Any]:
    """A primary key as an orderable value, unique within a table: it breaks ties between equal sort-key values."""
    return (_snapshot(key[0]), ("", "") if key[1] is None else _snapshot(key[1]))


def _sort_value(value: Any) -> tuple[str, Any] | None:
    """(type, cast value) of an S or N value that orders as moto compares it, or None."""
    if value is None or getattr(value, "type", None) not in _ORDERED or not isinstance(value.value, str):
        return None
    if value.type == "S":
        return ("S", value.value)
    try:
        number = Decimal(value.value)
    except ArithmeticError:
        return None
    return ("N", number) if number.is_finite() else None


class _Run:
    """One partition's items in the order of one sort-key attribute: per type (S, N) a sorted list of
    (cast value, primary key order) and the items by primary key order; ``odd`` holds the items whose value is of
    another type (a Query of such a partition gets the whole partition). An item without the attribute is left out,
    as moto leaves it out of the answer. Kept current by _Postings.put, under the table index's lock."""

    def __init__(self, attr: str) -> None:
        self.attr = attr
        self.ordered: dict[str, list[tuple[Any, Any]]] = {}
        self.items: dict[Any, Any] = {}
        self.entry: dict[PrimaryKey, tuple[str, tuple[Any, Any]] | None] = {}
        self.odd: dict[PrimaryKey, Any] = {}

    def add(self, key: PrimaryKey, item: Any, *, keep_order: bool = True) -> None:
        """Hold ``key``'s item as it is now (appended unsorted when ``keep_order`` is False: the caller sorts)."""
        self.discard(key)
        held = item.attrs.get(self.attr)
        if held is None:  # moto leaves out of the answer an item without the sort key
            self.entry[key] = None
            return
        sort_value = _sort_value(held)
        if sort_value is None:
            self.odd[key] = item
            self.entry[key] = None
            return
        kind, value = sort_value
        entry = (value, _order_key(key))
        column = self.ordered.setdefault(kind, [])
        if keep_order:
            bisect.insort(column, entry)
        else:
            column.append(entry)
        self.items[entry[1]] = item
        self.entry[key] = (kind, entry)

    def discard(self, key: PrimaryKey) -> None:
        if key not in self.entry:
            return
        held = self.entry.pop(key)
        if held is None:
            self.odd.pop(key, None)
            return
        kind, entry = held
        column = self.ordered[kind]
        del column[bisect.bisect_left(column, entry)]
        del self.items[entry[1]]
        if not column:
            del self.ordered[kind]

    def matching(
        self, op: str, objs: list[Any], forward: bool, limit: Any, after: bool, start: tuple[str, Any] | None = None
    ) -> list[Any] | None:
        """The items whose sort-key value can meet ``op objs``, plus the neighbours moto's page loop may look at,
        or None (take the whole partition). See ``_slice_bounds`` for why the answer is the same. ``after``: an
        ExclusiveStartKey was given; ``start``: its (type, entry) in this order, when it has every key moto's
        check compares, of the partition's types (then the items it skips are left out as well)."""
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            return None
        values = [_sort_value(o) for o in objs]
        if self.odd or not values or any(v is None for v in values):
            return None
        kinds = {v[0] for v in values if v is not None}
        if len(kinds) != 1 or not set(self.ordered) <= kinds:
            return None  # a partition or a query of mixed types: moto compares (or fails) as it does
        (kind,) = kinds
        column = self.ordered.get(kind, [])
        bounds = _slice_bounds(column, op, [v[1] for v in values if v is not None], kind)
        if bounds is None:
            return None
        lo, hi = bounds
        if after and start is not None and column and start[0] == kind and _same_key_types(start[1], column[0]):
            # moto skips the items up to and including the start key in its order (Table._item_comes_before_dct
            # compares the index hash key, equal here, the sort key, then the table's keys: this order)
            if forward:
                lo = max(lo, bisect.bisect_right(column, start[1]))
            else:
                hi = min(hi, bisect.bisect_left(column, start[1]))
            if lo >= hi:
                return []  # moto walks on past matches it skipped and non-matches: an empty page, no key
            after = False
        if limit is not None and not after and hi - lo > limit:
            # every item of the run matches: moto's loop ends its page at the item after the Limit-th (or before, by
            # size), having looked at nothing else; its FilterExpression applies to the page after the loop
            lo, hi = (lo, lo + limit + 1) if forward else (hi - limit - 1, hi)
            return [self.items[entry[1]] for entry in column[lo:hi]]
        run = [self.items[entry[1]] for entry in column[lo:hi]]
        if limit is None or after or hi - lo <= limit:
            # moto's loop may go past the run: the next item in its order ends the page when Limit is reached;
            # a page ended by size could need any later one, so only a run too small for that is cut
            size = 0
            for item in run:
                size += item.size()
                if size + _MAX_ITEM >= _RESULT_SIZE_LIMIT:
                    return None
            nxt = hi if forward else lo - 1
            if 0 <= nxt < len(column):
                run.append(self.items[column[nxt][1]])
        if after:  # ExclusiveStartKey: the item before the run too, so its check meets what moto's walk meets first
            prev = lo - 1 if forward else hi
            if 0 <= prev < len(column):
                run.append(self.items[column[prev][1]])
        return run


def _same_key_types(entry: tuple[Any, Any], other: tuple[Any, Any]) -> bool:
    """Whether two entries' primary keys have the same types (moto's check compares DynamoTypes of one type)."""
    return entry[1][0][0] == other[1][0][0] and entry[1][1][0] == other[1][1][0]


def _start_entry(table: Any, hash_attr: str, snapshot: Any, range_attr: str, start: Any) -> tuple[str, Any] | None:
    """An ExclusiveStartKey as (type, entry) of the partition ``hash_attr`` = ``snapshot`` ordered by ``range_attr``,
    or None when it lacks a key moto's check compares or holds another partition."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = [hash_attr, range_attr, table.hash_key_attr, *([table.range_key_attr] if table.range_key_attr else [])]
    if not isinstance(start, dict) or not all(isinstance(start.get(a), dict) and len(start[a]) == 1 for a in attrs):
        return None
    try:
        values = {a: DynamoType(start[a]) for a in attrs}
    except (TypeError, ValueError, KeyError, IndexError):
        return None
    if _snapshot(values[hash_attr]) != snapshot:
        return None
    sort_value = _sort_value(values[range_attr])
    key_types = {values[table.hash_key_attr].type, values[table.range_key_attr].type if table.range_key_attr else "S"}
    if sort_value is None or not key_types <= {"S", "N", "B"}:
        return None
    kind, value = sort_value
    rng = values[table.range_key_attr] if table.range_key_attr else None
    return kind, (value, _order_key((values[table.hash_key_attr], rng)))


def _slice_bounds(column: list[tuple[Any, Any]], op: str, values: list[Any], kind: str) -> tuple[int, int] | None:
    """[lo, hi) of the entries of ``column`` (sorted by cast value) whose value meets ``op values``, or None.

    moto compares the cast values with Python's operators (comparisons.COMPARISON_FUNCS), so these bounds are the
    matches exactly, and they are contiguous. moto's page loop (Table.query) appends only matches; an item that does
    not match changes nothing before the first match (it is smaller than a page, and Limit is at least 1), and the
    ExclusiveStartKey check is monotone along the sorted order; after the last match, the next item is where moto
    notices a full Limit, and any later one could end a page by size (moto checks the size of every item it walks):
    ``_Run.matching`` hands moto the next one, or the whole partition when the run is big enough (with the largest
    item moto stores) to fill a page; with Limit and more matches than it, moto stops at the Limit + 1st match, so
    the first Limit + 1 in its order are all it would look at."""

    def value(entry: tuple[Any, Any]) -> Any:
        return entry[0]

    n = len(column)
    if op in ("=", "EQ") and len(values) == 1:
        return bisect.bisect_left(column, values[0], key=value), bisect.bisect_right(column, values[0], key=value)
    if op in ("<", "LT") and len(values) == 1:
        return 0, bisect.bisect_left(column, values[0], key=value)
    if op in ("<=", "LE") and len(values) == 1:
        return 0, bisect.bisect_right(column, values[0], key=value)
    if op in (">", "GT") and len(values) == 1:
        return bisect.bisect_right(column, values[0], key=value), n
    if op in (">=", "GE") and len(values) == 1:
        return bisect.bisect_left(column, values[0], key=value), n
    if op == "BETWEEN" and len(values) == 2:
        lo = bisect.bisect_left(column, values[0], key=value)
        return lo, max(lo, bisect.bisect_right(column, values[1], key=value))
    if op == "BEGINS_WITH" and len(values) == 1 and kind == "S":
        lo = hi = bisect.bisect_left(column, values[0], key=value)
        while hi < n and column[hi][0].startswith(values[0]):
            hi += 1
        return lo, hi
    return None


class _Postings:
    """For one hash attribute of a table's global secondary indexes: value -> the items holding it, by primary key.
    An item is the table's own (moto's updates change it in place; a put or a rollback replaces it, and says so)."""

    def __init__(self, attr: str) -> None:
        self.attr = attr
        self.by_value: dict[Any, dict[PrimaryKey, Any]] = {}
        self.value_of: dict[PrimaryKey, Any] = {}
        self.loose: dict[PrimaryKey, Any] = {}
        self.runs: dict[Any, dict[str, _Run]] = {}  # value -> sort attribute -> that partition in sort-key order

    def run(self, snapshot: Any, range_attr: str) -> _Run:
        """The partition ``snapshot`` ordered by ``range_attr``, built on first use, then kept current by ``put``."""
        runs = self.runs.setdefault(snapshot, {})
        run = runs.get(range_attr)
        if run is None:
            run = runs[range_attr] = _Run(range_attr)
            for key, item in self.by_value.get(snapshot, {}).items():
                run.add(key, item, keep_order=False)
            for column in run.ordered.values():
                column.sort()
        return run

    def put(self, key: PrimaryKey, item: Any) -> None:
        """Index ``key`` as its item now is (None: gone)."""
        old = self.value_of.pop(key, None)
        for run in self.runs.get(old, {}).values():
            run.discard(key)
        if old is _LOOSE:
            del self.loose[key]
        elif old is not None:
            items = self.by_value[old]
            del items[key]
            if not items:
                del self.by_value[old]
        value = None if item is None else item.attrs.get(self.attr)
        if value is None:
            return
        snapshot = _snapshot(value)
        if snapshot is None:
            self.loose[key] = item
            self.value_of[key] = _LOOSE
        else:
            self.by_value.setdefault(snapshot, {})[key] = item
            self.value_of[key] = snapshot
            for run in self.runs.get(snapshot, {}).values():
                run.add(key, item)


class _TableIndex:
    """A table's postings, the primary keys written since they were last brought up to date, and the lock that
    guards both (moto's server runs requests in threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.postings: dict[str, _Postings] = {}
        self.dirty: set[PrimaryKey] = set()

    def __deepcopy__(self, memo: dict[int, Any]) -> _TableIndex:
        # moto deep-copies a whole table for a backup (and, without cheap_transactions, before a transaction): the
        # copy's index is built again on its own first Query
        return _TableIndex()

    def candidates(self, table: Any, attr: str, snapshot: Any, sort: _SortQuery | None = None) -> list[Any]:
        """The items of the partition ``attr`` = ``snapshot`` (and the loose ones); with ``sort``, only those whose
        sort-key value can meet its condition, when the partition's order answers that."""
        with self.lock:
            if self.dirty:
                now = {key: _item_at(table, key) for key in self.dirty}
                self.dirty = set()
                for postings in self.postings.values():
                    for key, item in now.items():
                        postings.put(key, item)
            postings = self.postings.get(attr)
            if postings is None:
                postings = self.postings[attr] = _Postings(attr)
                for key, item in _every_item(table):
                    postings.put(key, item)
            if sort is not None:
                run = postings.run(snapshot, sort.attr)
                start = _start_entry(table, attr, snapshot, sort.attr, sort.start) if sort.start is not None else None
                items = run.matching(sort.op, sort.objs, sort.forward, sort.limit, sort.start is not None, start)
                if items is not None:
                    return [*items, *postings.loose.values()]
            return [*postings.by_value.get(snapshot, {}).values(), *postings.loose.values()]


def _index_of(table: Any) -> _TableIndex:
    index = table.__dict__.get(_ATTR)
    if index is None:
        index = table.__dict__.setdefault(_ATTR, _TableIndex())  # one step: two first Queries share one index
    return index  # type: ignore[no-any-return]


def touched(table: Any, hash_key: Any, range_key: Any) -> None:
    """A write changed (or may have changed) the item under this primary key: index it again before the next Query
    of an index. Call it after the write. Nothing to do for a table no index Query has read yet."""
    index = table.__dict__.get(_ATTR)
    if index is None:
        return
    with index.lock:  # the lock, not a check before it: a first Query building the postings now must see this write
        if index.postings:
            index.dirty.add((hash_key, None if table.range_key_attr is None else range_key))


def _forget(table: Any) -> None:
    """A write whose key could not be read: every posting of the table is built again on its next index Query."""
    index = table.__dict__.get(_ATTR)
    if index is not None:
        with index.lock:
            index.postings.clear()
            index.dirty.clear()


class _SortQuery(NamedTuple):
    """A Query's condition on its sort key, and what of moto's page loop depends on the items around it."""

    attr: str
    op: str
    objs: list[Any]
    forward: bool
    limit: Any
    start: Any  # the ExclusiveStartKey, or None


def _sort_query(arguments: dict[str, Any], range_attr: str | None) -> _SortQuery | None:
    """The Query's sort-key condition when the partition's order can serve it, or None."""
    op = arguments.get("range_comparison")
    conditions = arguments.get("range_key_conditions") or []
    if (
        range_attr is None
        or op not in _RANGE_OPS
        or len(conditions) != 1
        or conditions[0][0] != range_attr
        or conditions[0][1] != op
        or arguments.get("filter_kwargs")  # the legacy QueryFilter is checked inside moto's page loop
    ):
        return None
    return _SortQuery(
        attr=range_attr,
        op=op,
        objs=list(arguments.get("range_objs") or []),
        forward=arguments.get("scan_index_forward") is not False,
        limit=arguments.get("limit"),
        start=arguments.get("exclusive_start_key"),
    )


def _candidates(table: Any, arguments: dict[str, Any]) -> list[Any] | None:
    """Every item of the table that the Query can answer, or None: moto walks the whole table."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import GlobalSecondaryIndex

    index_name = arguments.get("index_name")
    if not index_name:
        hash_key = arguments.get("hash_key")
        if not isinstance(hash_key, DynamoType) or _snapshot(hash_key) is None:
            return None
        sort = _sort_query(arguments, table.range_key_attr)
        if sort is not None:  # the partition in sort-key order, from the postings of the table's own hash key
            return _index_of(table).candidates(table, table.hash_key_attr, _snapshot(hash_key), sort)
        rows = table.items.get(hash_key)
        if rows is None:
            return []
        return list(rows.values()) if table.range_key_attr is not None else [rows]
    index = {i.name: i for i in table.all_indexes()}.get(index_name)  # as moto resolves it
    if not isinstance(index, GlobalSecondaryIndex):
        return None  # a local secondary index, or none (moto answers the error)
    hash_attrs = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    conditions = arguments.get("hash_key_conditions") or []
    if len(hash_attrs) != 1 or len(conditions) != 1 or conditions[0][0] != hash_attrs[0]:
        return None
    snapshot = _snapshot(conditions[0][1])
    if snapshot is None:
        return None
    range_attrs = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    sort = _sort_query(arguments, range_attrs[0]) if len(range_attrs) == 1 else None
    return _index_of(table).candidates(table, hash_attrs[0], snapshot, sort)


def index_queries() -> None:
    """Give moto's Table.query only the items of the partition it asks for (module docstring). Installs moto_glue's
    unsorted candidates first, so that this is always the outer of the two. Idempotent."""
    from moto.dynamodb.models.table import Table

    from batchplane_local import moto_glue

    if getattr(Table.query, "_batchplane_indexed", False):
        return
    moto_glue.unsorted_query_candidates()
    inner_query, inner_all_items = Table.query, Table.all_items
    real = inner_query
    while hasattr(real, "_batchplane_real"):
        real = real._batchplane_real
    signature = inspect.signature(real)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            arguments = signature.bind(self, *args, **kwargs).arguments
        except TypeError:  # moto's own Query says what is wrong
            return inner_query(self, *args, **kwargs)
        items = _candidates(self, arguments)
        if items is None:
            return inner_query(self, *args, **kwargs)
        _QUERY.candidates = (self, items)
        try:
            return inner_query(self, *args, **kwargs)
        finally:
            _QUERY.candidates = None

    def all_items(self: Any) -> Any:
        given = getattr(_QUERY, "candidates", None)
        if given is not None and given[0] is self:
            _QUERY.candidates = None  # once: the Query's one listing of its candidates
            return given[1]
        return inner_all_items(self)

    query._batchplane_indexed = True  # type: ignore[attr-defined]
    query._batchplane_unsorted = getattr(inner_query, "_batchplane_unsorted", False)  # type: ignore[attr-defined]
    query._batchplane_real = real  # type: ignore[attr-defined] # moto's own Query: the tests compare both
    query._batchplane_next = inner_query  # type: ignore[attr-defined] # what it wraps (tests/perf/moto_query.py)
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    _track_writes()
    _sort_by_values()


_SCALARS = frozenset(("S", "N", "B"))


def _cast(value: Any) -> Any:
    """DynamoType.cast_value of a scalar, without its walk through every other type."""
    return Decimal(value.value) if value.type == "N" else value.value


def _sort_by_values() -> None:
    """moto sorts an index Query's partition by its keys as DynamoTypes, each comparison working out both values
    again (``cast_value``): a Limit 30 Query of a 2,500-item partition (the size of the dispatcher's QUEUED shards in
    a 10,000-job pipeline) took 119 ms with moto's own Query, 145 ms from the partition with moto's sort, and 24 ms
    with this one, when the partition's items came in no particular order (22 ms against 29 ms in key order). Here
    each item's key values are worked out once and compared as they are. When every value of each key attribute is
    one scalar type (S, N or B), DynamoType's ``==`` and ``<`` are the values' own, so the order is the same (the
    keys include the table's, so no two items tie); otherwise moto sorts."""
    from moto.dynamodb.models.table import Table

    real = Table.sorted_items
    if hasattr(real, "_batchplane_real"):
        return

    def sorted_items(self: Any, hash_key_attrs: Any, range_key_attrs: Any, items: list[Any]) -> list[Any]:
        attrs = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        try:
            columns = [[item.attrs[attr] for item in items] for attr in attrs]
        except KeyError:  # an item without a key attribute: moto says what happens
            return real(self, hash_key_attrs, range_key_attrs, items)  # type: ignore[no-any-return]
        for column in columns:
            types = {value.type for value in column}
            if len(types) > 1 or not types <= _SCALARS:
                return real(self, hash_key_attrs, range_key_attrs, items)  # type: ignore[no-any-return]
        values = [[_cast(value) for value in column] for column in columns]
        order = sorted(range(len(items)), key=lambda i: tuple(column[i] for column in values))
        items[:] = [items[i] for i in order]  # in place, as moto's
        return items

    sorted_items._batchplane_real = real  # type: ignore[attr-defined] # moto's own: the tests compare both
    Table.sorted_items = sorted_items  # type: ignore[method-assign]


def _track_writes() -> None:
    """Tell ``touched`` of every write: Table.put_item, Table.delete_item, DynamoDBBackend.update_item (which mutates
    the item in place). Transactions, batch writes and PartiQL statements write through these."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    real_put, real_delete, real_update = Table.put_item, Table.delete_item, DynamoDBBackend.update_item

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = real_put(self, *args, **kwargs)
        touched(self, item.hash_key, item.range_key)
        return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return real_delete(self, hash_key, range_key)
        finally:
            touched(self, hash_key, range_key)

    def update_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return real_update(self, *args, **kwargs)
        finally:  # an update mutates the item in place, and may have begun to when it fails
            table_name = kwargs.get("table_name", args[0] if args else None)
            key = kwargs.get("key", args[1] if len(args) > 1 else None)
            table = self.tables.get(table_name) if isinstance(table_name, str) else None
            if table is not None:
                try:
                    hash_key = DynamoType(key[table.hash_key_attr])  # type: ignore[index]
                    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None  # type: ignore[index]
                except (KeyError, TypeError, IndexError, AttributeError):
                    _forget(table)
                else:
                    touched(table, hash_key, range_key)

    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
