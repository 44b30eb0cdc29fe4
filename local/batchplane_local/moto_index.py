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
What is not tracked: a write that reaches ``table.items`` other than through the calls above (moto's import_table and
restores make new tables, which are indexed on their own first Query)."""

from __future__ import annotations

import inspect
import threading
from decimal import Decimal
from typing import Any

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


class _Postings:
    """For one hash attribute of a table's global secondary indexes: value -> the items holding it, by primary key.
    An item is the table's own (moto's updates change it in place; a put or a rollback replaces it, and says so)."""

    def __init__(self, attr: str) -> None:
        self.attr = attr
        self.by_value: dict[Any, dict[PrimaryKey, Any]] = {}
        self.value_of: dict[PrimaryKey, Any] = {}
        self.loose: dict[PrimaryKey, Any] = {}

    def put(self, key: PrimaryKey, item: Any) -> None:
        """Index ``key`` as its item now is (None: gone)."""
        old = self.value_of.pop(key, None)
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

    def candidates(self, table: Any, attr: str, snapshot: Any) -> list[Any]:
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


def _candidates(table: Any, arguments: dict[str, Any]) -> list[Any] | None:
    """Every item of the table that the Query can answer, or None: moto walks the whole table."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import GlobalSecondaryIndex

    index_name = arguments.get("index_name")
    if not index_name:
        hash_key = arguments.get("hash_key")
        if not isinstance(hash_key, DynamoType) or _snapshot(hash_key) is None:
            return None
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
    return _index_of(table).candidates(table, hash_attrs[0], snapshot)


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
