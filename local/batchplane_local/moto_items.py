"""moto's DynamoDB items, built and projected with less work: the same items, the same answers and errors.

Profiled under a 300-job DAG on the local stack (py-spy ``--gil``, the emulator's process), building moto's ``Item``
objects and projecting them were a tenth of the emulator's CPU, for work that decides nothing: an item's size summed
again as each attribute goes in, and every attribute of an item made plain to pick the few a projection names.
tests/local/test_moto_glue.py answers projected reads and items at the size limit both ways and compares them."""

from __future__ import annotations

import copy
import inspect
import re
import threading
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType

ITEM_SIZE_LIMIT = 405_000  # moto's LimitedSizeDict: "the actual limit is between 409 and 410KB"


def linear_item_size(limit: int = ITEM_SIZE_LIMIT) -> None:
    """moto checks an item's size as each attribute goes in: ``LimitedSizeDict.__setitem__`` sums the size of every
    attribute already there (nested maps walked again), so building an item of n attributes walks it n times. Every
    Item moto builds pays it (each write, each projection, each index entry a Query answers): a job's item of 40
    attributes was most of a tenth of the emulator's CPU. ``Item.__init__`` now puts the attributes in and checks the
    total once: the same sum against the same limit, the same ``ItemSizeTooLarge`` (the running sum only grows, so it
    passes the limit at some attribute exactly when the total does). Later sets of one attribute (an update) keep
    moto's own check. Idempotent."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    real = Item.__init__
    if getattr(real, "_batchplane_linear", False):
        return

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        values = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.__init__(values)
        total = 0
        for key, value in attrs.items():
            typed = DynamoType(value)
            total += bytesize(key) + typed.size()
            dict.__setitem__(values, key, typed)
        if total > limit:
            raise ItemSizeTooLarge
        self.attrs = values

    init._batchplane_linear = True  # type: ignore[attr-defined]
    init._batchplane_real = real  # type: ignore[attr-defined] # the tests compare both
    Item.__init__ = init  # type: ignore[method-assign]


_LIST_ELEMENT = re.compile(r"(.+)\[(\d+)\]$")  # moto's find_nested_key: a path's first name may index a list


def projected_attributes_only() -> None:
    """moto projects an item (a ProjectionExpression, an index's INCLUDE or KEYS_ONLY) by turning the whole item
    into plain values first (deep copies, binaries decoded), then picking the paths asked for: reading 7 small
    attributes of a pipeline's item cost as much as its 12 KB request. Each path starts at one top-level attribute
    (its first name, or the list it indexes), so only those are turned into plain values; moto then picks the paths
    as before (``find_nested_key`` looks at nothing else), and the Item answered is the same. Idempotent."""
    from botocore.utils import merge_dicts
    from moto.dynamodb.models.dynamo_type import Item, deserializer, serializer
    from moto.dynamodb.models.utilities import find_nested_key

    real = Item.project
    if getattr(real, "_batchplane_projected", False):
        return

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        names: set[str] = set()
        for expr in projection_expressions:
            names.add(expr[0])
            if listed := _LIST_ELEMENT.match(expr[0]):
                names.add(listed.group(1))
        plain = {
            key: deserializer.deserialize(attribute.to_regular_json())
            for key, attribute in self.attrs.items()
            if key in names
        }
        result: dict[str, Any] = {}
        for expr in projection_expressions:
            merge_dicts(result, find_nested_key(expr, plain))
        return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=serializer.serialize(result)["M"])

    project._batchplane_projected = True  # type: ignore[attr-defined]
    project._batchplane_real = real  # type: ignore[attr-defined] # the tests compare both
    Item.project = project  # type: ignore[method-assign]


_SETS = frozenset(("SS", "NS", "BS"))


def _bytes(value: Any) -> int:
    return len(value if isinstance(value, bytes) else value.encode("utf-8"))  # moto's utilities.bytesize


def value_size(attribute: Any) -> int:
    """``DynamoType(attribute).size()``, the same number: an attribute value (a DynamoType, or its dict form) in
    bytes as moto counts it, without building a DynamoType for every value of a set or a map on the way."""
    if type(attribute) is DynamoType:
        kind, value = attribute.type, attribute.value
    else:
        kind, value = next(iter(attribute.items()))
    if kind == "N":
        return len(str(value))
    if kind in _SETS:  # each member as DynamoType({"S"|"N"|"B": member}) would count it
        if kind == "NS":
            return sum(len(str(member)) for member in value)
        return sum(1 if isinstance(member, bool) else _bytes(member) for member in value)
    if kind == "L":
        return sum(value_size(member) for member in value)
    if kind == "M":
        return sum(_bytes(key) + value_size(member) for key, member in value.items())
    if isinstance(value, bool):  # BOOL, and NULL (its value is True)
        return 1
    return _bytes(value)


def fast_sizes(limit: int = ITEM_SIZE_LIMIT) -> None:
    """moto sizes items often: each attribute an update sets (``LimitedSizeDict.__setitem__`` sums the whole item),
    each Query result twice and each candidate it looks at once (against the 1 MB page limit). ``DynamoType.size``
    builds a new DynamoType for every member of a map or a set it walks and asks five type questions of each: about a
    tenth of the emulator's CPU in a 1,000-job DAG. ``value_size`` counts the same bytes by the type's name;
    ``Item.size`` and the per-attribute check use it, with the same limit and the same ``ItemSizeTooLarge``.
    tests/local/test_moto_glue.py compares both on every attribute type. Idempotent."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    if getattr(DynamoType.size, "_batchplane_real", None):
        return
    real = (DynamoType.size, Item.size, LimitedSizeDict.__setitem__)

    def item_size(self: Any) -> int:
        # within a Query (no_copy_before_projection's wrapper keeps its sizes), each item is sized once
        sizes: dict[int, tuple[Any, int]] | None = getattr(_IN_QUERY, "sizes", None)
        if sizes is not None and (known := sizes.get(id(self))) is not None:
            return known[1]
        size = sum(_bytes(key) + value_size(value) for key, value in self.attrs.items())
        if sizes is not None:  # within one Query, which no write interleaves (moto_glue.serialised_dynamodb)
            sizes[id(self)] = (self, size)  # the item held: its id is not reused while the Query runs
        return size

    def setitem(self: Any, key: str, value: Any) -> None:
        held = sum(_bytes(str(k)) for k in self) + sum(
            value_size(v) if type(v) is DynamoType else _bytes(str(v)) for v in self.values()
        )
        added = _bytes(key) + (value_size(value) if type(value) is DynamoType else _bytes(str(value)))
        if held + added > limit:
            raise ItemSizeTooLarge
        dict.__setitem__(self, key, value)

    size = value_size
    size._batchplane_real = real  # type: ignore[attr-defined] # the tests put moto's own back
    DynamoType.size = size  # type: ignore[assignment,method-assign]
    Item.size = item_size  # type: ignore[method-assign]
    LimitedSizeDict.__setitem__ = setitem  # type: ignore[method-assign,assignment]


_IN_QUERY = threading.local()  # the Query being answered, in this thread: copy its results? the sizes of its items


class _CopyUnlessProjected:
    """``copy`` as moto's table module sees it: the one deep copy a Query makes of its results is skipped (a list of
    the same items) when the Query projects them, since projecting builds new items from them anyway."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if getattr(_IN_QUERY, "query", False) and type(value) is list:
            _IN_QUERY.query = False  # once: the copy of the results
            return list(value)
        return copy.deepcopy(value, memo)


def no_copy_before_projection() -> None:
    """moto's Query deep-copies every item it answers, then, with a ProjectionExpression, builds new items of the
    attributes named (``Item.project``): the copy of a whole job item, to keep three attributes of it, was most of
    what a brief read of the dispatcher's QUEUED listing cost the emulator. With a projection the copy is skipped;
    without one it is made as before. The answers are the same (tests/local/test_moto_glue.py). The wrapper also
    keeps the sizes of the items a Query looks at, for ``fast_sizes`` (a Query sized each up to three times).
    Idempotent."""
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.table import Table

    if not isinstance(table_module.copy, _CopyUnlessProjected):
        table_module.copy = _CopyUnlessProjected()  # type: ignore[assignment]
    real = Table.query
    if hasattr(real, "_batchplane_uncopied"):
        return
    signature = inspect.signature(getattr(real, "_batchplane_real", real))

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            projected = bool(signature.bind(self, *args, **kwargs).arguments.get("projection_expressions"))
        except TypeError:
            projected = False
        _IN_QUERY.query, _IN_QUERY.sizes = projected, {}
        try:
            return real(self, *args, **kwargs)
        finally:
            _IN_QUERY.query, _IN_QUERY.sizes = False, None

    for attr in ("_batchplane_real", "_batchplane_unsorted", "_batchplane_indexed", "_batchplane_next"):
        if hasattr(real, attr):
            setattr(query, attr, getattr(real, attr))
    query._batchplane_uncopied = real  # type: ignore[attr-defined] # the tests put it back
    Table.query = query  # type: ignore[method-assign]
