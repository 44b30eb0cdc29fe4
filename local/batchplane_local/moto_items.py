"""moto's DynamoDB items, built and projected with less work: the same items, the same answers and errors.

Profiled under a 300-job DAG on the local stack (py-spy ``--gil``, the emulator's process), building moto's ``Item``
objects and projecting them were a tenth of the emulator's CPU, for work that decides nothing: an item's size summed
again as each attribute goes in, and every attribute of an item made plain to pick the few a projection names.
tests/local/test_moto_glue.py answers projected reads and items at the size limit both ways and compares them."""

from __future__ import annotations

import re
from typing import Any

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
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
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
