"""moto's Query from the partition asked for (batchplane_local.moto_index) answers as moto's own walk of the table."""

from __future__ import annotations

import contextlib
import random
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from batchplane_local import moto_index
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.tables import key_table

ACCOUNT, REGION = "123456789012", "us-east-1"


@contextlib.contextmanager
def _moto_own_query() -> Iterator[None]:
    """moto's Table.query as moto wrote it: every item of the table, sorted, then the partition kept, sorted again by
    its keys as DynamoTypes."""
    from moto.dynamodb.models.table import Table

    ours, our_sort = Table.query, Table.sorted_items
    Table.query = ours._batchplane_real  # type: ignore[attr-defined,method-assign]
    Table.sorted_items = our_sort._batchplane_real  # type: ignore[attr-defined,method-assign]
    try:
        yield
    finally:
        Table.query, Table.sorted_items = ours, our_sort  # type: ignore[method-assign]


def _create_tables(ddb: Any) -> None:
    key_table(
        ddb,
        indexes=[
            ("gsi1", "g1pk", "g1sk"),
            ("gsi3", "g1pk", "v"),  # a number sort key
            ("gsi2", "g2pk", None),  # no range key: moto sorts by the table's keys; KEYS_ONLY: projected
        ],
        keys_only=["gsi2"],
        numbers=["v"],
        local=("lsi", "pk", "lsk"),
    )
    # a table without a range key, with an index whose hash key is a number
    key_table(ddb, "h", sort=False, indexes=[("byn", "n", None)], numbers=["n"])


def _item(rng: random.Random) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": f"P{rng.randrange(6)}"}, "sk": {"S": f"{rng.randrange(40):02d}"}}
    if rng.random() < 0.8:
        item["g1pk"] = {"S": f"A{rng.randrange(4)}"}
    if rng.random() < 0.8:
        item["g1sk"] = {"S": f"{rng.randrange(5)}"}  # often equal: moto breaks ties by the table's keys
    if rng.random() < 0.7:
        item["g2pk"] = {"S": f"B{rng.randrange(3)}"}
    if rng.random() < 0.5:
        item["lsk"] = {"S": f"{rng.randrange(9)}"}
    item["v"] = {"N": str(rng.randrange(10))}
    return item


def _update(rng: random.Random) -> dict[str, Any]:
    """An UpdateItem that moves the item to another index partition, takes it out of one, or leaves its keys."""
    choice = rng.randrange(4)
    if choice == 0:
        return {"UpdateExpression": "SET g1pk = :a", "ExpressionAttributeValues": {":a": {"S": f"A{rng.randrange(4)}"}}}
    if choice == 1:
        return {"UpdateExpression": "REMOVE g1pk, g2pk"}
    if choice == 2:
        return {
            "UpdateExpression": "SET g2pk = :b, g1sk = :s",
            "ExpressionAttributeValues": {":b": {"S": f"B{rng.randrange(3)}"}, ":s": {"S": str(rng.randrange(5))}},
        }
    return {"UpdateExpression": "ADD v :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}


def _key(item: dict[str, Any]) -> dict[str, Any]:
    return {"pk": item["pk"], "sk": item["sk"]}


def _write(ddb: Any, rng: random.Random) -> None:
    kind = rng.choice(["put", "put", "update", "update", "delete", "transact", "cancelled", "batch", "h"])
    with contextlib.suppress(ClientError):
        if kind == "put":
            ddb.put_item(TableName="t", Item=_item(rng))
        elif kind == "update":
            ddb.update_item(TableName="t", Key=_key(_item(rng)), **_update(rng))
        elif kind == "delete":
            ddb.delete_item(TableName="t", Key=_key(_item(rng)))
        elif kind in ("transact", "cancelled"):
            keys = {str(_key(i)): i for i in (_item(rng) for _ in range(4))}  # one operation per item
            ops: list[dict[str, Any]] = []
            for n, item in enumerate(keys.values()):
                if n % 3 == 0:
                    ops.append({"Put": {"TableName": "t", "Item": item}})
                elif n % 3 == 1:
                    ops.append({"Update": {"TableName": "t", "Key": _key(item), **_update(rng)}})
                else:
                    ops.append({"Delete": {"TableName": "t", "Key": _key(item)}})
            if kind == "cancelled":  # a condition that fails: the whole transaction is rolled back
                missing = {"pk": {"S": "nowhere"}, "sk": {"S": "0"}}
                check = {"TableName": "t", "Key": missing, "ConditionExpression": "attribute_exists(pk)"}
                ops.append({"ConditionCheck": check})
            ddb.transact_write_items(TransactItems=ops)
        elif kind == "batch":
            requests = {str(_key(i)): i for i in (_item(rng) for _ in range(5))}
            ddb.batch_write_item(
                RequestItems={
                    "t": [
                        {"PutRequest": {"Item": i}} if n % 2 else {"DeleteRequest": {"Key": _key(i)}}
                        for n, i in enumerate(requests.values())
                    ]
                }
            )
        elif rng.random() < 0.7:
            n = {"N": str(rng.choice(["1", "2", "2.0", "3"]))}  # 2 and 2.0 are the same number
            ddb.put_item(TableName="h", Item={"pk": {"S": f"H{rng.randrange(20)}"}, "n": n})
        else:
            ddb.update_item(TableName="h", Key={"pk": {"S": f"H{rng.randrange(20)}"}}, UpdateExpression="REMOVE n")


def _sort_value(rng: random.Random) -> str:
    """A sort-key value to compare with: one the items hold ("07", "3"), between or beyond them, or a prefix."""
    return rng.choice([f"{rng.randrange(40):02d}", str(rng.randrange(9)), f"{rng.randrange(45)}", "", "0", "9", "~"])


def _range_condition(rng: random.Random, values: dict[str, Any]) -> str:
    """A condition on the sort key #r of every operator a key condition has."""
    op = rng.choice(["=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"])
    lo, hi = sorted([_sort_value(rng), _sort_value(rng)])
    values[":lo"] = {"S": lo}
    if op == "BETWEEN":
        values[":hi"] = {"S": hi}
        return "#r BETWEEN :lo AND :hi"
    if op == "begins_with":
        values[":lo"] = {"S": lo[:1] or "0"}
        return "begins_with(#r, :lo)"
    return f"#r {op} :lo"


def _queries(rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(6):
        index = rng.choice([None, "gsi1", "gsi2", "gsi3", "lsi"])
        attr, value = {
            None: ("pk", f"P{rng.randrange(7)}"),
            "lsi": ("pk", f"P{rng.randrange(6)}"),
            "gsi1": ("g1pk", f"A{rng.randrange(5)}"),
            "gsi3": ("g1pk", f"A{rng.randrange(5)}"),
            "gsi2": ("g2pk", f"B{rng.randrange(3)}"),
        }[index]
        q: dict[str, Any] = {
            "TableName": "t",
            "KeyConditionExpression": "#k = :k",
            "ExpressionAttributeNames": {"#k": attr},
            "ExpressionAttributeValues": {":k": {"S": value}},
            "ScanIndexForward": rng.random() < 0.5,
        }
        if index:
            q["IndexName"] = index
        range_attr = {None: "sk", "gsi1": "g1sk", "lsi": "lsk", "gsi2": None, "gsi3": "v"}[index]
        if index == "gsi3" and rng.random() < 0.7:  # numbers: "2" and "2.0" are one value, "10" is more than "9"
            q["ExpressionAttributeNames"]["#r"] = range_attr
            op = rng.choice(["=", "<", "<=", ">", ">=", "BETWEEN"])
            lo, hi = sorted([rng.randrange(-1, 13), rng.randrange(-1, 13)])
            q["ExpressionAttributeValues"].update({":lo": {"N": f"{lo}.0"}, ":hi": {"N": str(hi)}})
            q["KeyConditionExpression"] += " AND #r BETWEEN :lo AND :hi" if op == "BETWEEN" else f" AND #r {op} :lo"
            if op != "BETWEEN":
                del q["ExpressionAttributeValues"][":hi"]
        elif range_attr and index != "gsi3" and rng.random() < 0.7:
            q["ExpressionAttributeNames"]["#r"] = range_attr
            q["KeyConditionExpression"] += " AND " + _range_condition(rng, q["ExpressionAttributeValues"])
        if rng.random() < 0.5:
            q["Limit"] = rng.choice([1, 2, 5])
        if rng.random() < 0.3 and index != "gsi2":
            q["FilterExpression"] = "v > :v"
            q["ExpressionAttributeValues"][":v"] = {"N": "4"}
        out.append(q)
    out.append({**out[0], "TableName": "t", "IndexName": "nope"})  # an unknown index: moto's error
    gsi = {"TableName": "t", "IndexName": "gsi1", "KeyConditionExpression": "g1pk = :k"}
    out.append({**gsi, "ExpressionAttributeValues": {":k": {"S": "A1"}}, "ConsistentRead": True})  # refused on a GSI
    for n in ("2", "2.00", "1"):  # an index of numbers: equal numbers, written differently, are one partition
        hq = {"TableName": "h", "IndexName": "byn", "KeyConditionExpression": "n = :n"}
        out.append({**hq, "ExpressionAttributeValues": {":n": {"N": n}}})
    out.append(
        {"TableName": "h", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "H3"}}}
    )
    return out


def _answer(ddb: Any, query: dict[str, Any]) -> list[Any]:
    """Every page of a query, or its error."""
    pages: list[Any] = []
    kwargs = dict(query)
    try:
        while True:
            page = ddb.query(**kwargs)
            pages.append({k: v for k, v in page.items() if k != "ResponseMetadata"})
            if "LastEvaluatedKey" not in page:
                return pages
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as error:
        return [*pages, (error.response["Error"]["Code"], error.response["Error"]["Message"])]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_queries_from_the_partition_answer_as_moto_walking_the_table(seed: int) -> None:
    from batchplane_local import moto_glue

    moto_glue.cheap_transactions()  # as the local stack: a cancelled transaction is rolled back behind Table's back
    moto_index.index_queries()
    rng = random.Random(seed)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _create_tables(ddb)
        answers: list[list[Any]] = []
        for step in range(300):
            # GIVEN a random mix of puts, updates that move items between index partitions or out of them,
            # deletes, transactions (some cancelled and rolled back) and batch writes
            _write(ddb, rng)
            if step % 10:
                continue
            # WHEN the same queries are answered from the partition and by moto's walk of the whole table
            for query in _queries(rng):
                ours = _answer(ddb, query)
                with _moto_own_query():
                    theirs = _answer(ddb, query)
                # THEN every page (items, order, Count, ScannedCount, LastEvaluatedKey) and every error is the same
                assert ours == theirs, query
                answers.append(ours)
        # AND the workload asked what it meant to: paged answers, index answers with items, both errors
        assert len(answers) == 30 * 12
        assert sum(len(a) > 2 for a in answers) > 20
        assert sum(bool(page.get("Items")) for a in answers for page in a if isinstance(page, dict)) > 100
        assert {e[0] for a in answers for e in a if isinstance(e, tuple)} == {
            "ValidationException",
            "ResourceNotFoundException",
        }


def _table(name: str = "t") -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT][REGION].get_table(name)


@contextlib.contextmanager
def _counting_candidates() -> Iterator[list[int]]:
    """How many items each Query of the block looked at (what it was given to filter, sort and page)."""
    from moto.dynamodb.models.table import Table

    seen: list[int] = []
    inner = Table.all_items

    def all_items(self: Any) -> Any:
        items = inner(self)
        seen.append(len(items))
        return items

    Table.all_items = all_items  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Table.all_items = inner  # type: ignore[method-assign]


def test_a_query_looks_at_the_items_of_its_partition_only() -> None:
    moto_index.index_queries()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _create_tables(ddb)
        # GIVEN 5,000 items in 500 partitions of the table and 500 of its index, 10 in each
        table = _table()
        for i in range(5000):
            item = {"pk": {"S": f"P{i // 10}"}, "sk": {"S": f"{i}"}, "g1pk": {"S": f"A{i % 500}"}, "g1sk": {"S": "x"}}
            table.put_item(item)
        gsi = {"TableName": "t", "IndexName": "gsi1", "KeyConditionExpression": "g1pk = :k"}
        base = {"TableName": "t", "KeyConditionExpression": "pk = :k"}
        with _counting_candidates() as seen:
            # WHEN the index and the table are queried for one partition
            by_index = ddb.query(**gsi, ExpressionAttributeValues={":k": {"S": "A7"}})
            by_table = ddb.query(**base, ExpressionAttributeValues={":k": {"S": "P7"}})
            # AND an item moves into the index partition, another leaves it, and one is deleted
            ddb.update_item(
                TableName="t",
                Key={"pk": {"S": "P0"}, "sk": {"S": "0"}},
                UpdateExpression="SET g1pk = :k",
                ExpressionAttributeValues={":k": {"S": "A7"}},
            )
            ddb.update_item(TableName="t", Key={"pk": {"S": "P0"}, "sk": {"S": "7"}}, UpdateExpression="REMOVE g1pk")
            ddb.delete_item(TableName="t", Key={"pk": {"S": "P50"}, "sk": {"S": "507"}})
            moved = ddb.query(**gsi, ExpressionAttributeValues={":k": {"S": "A7"}})
        # THEN each looked at its 10 items, not 5,000, and still answered every one of them
        assert (by_index["Count"], by_table["Count"]) == (10, 10)
        assert seen == [10, 10, 9]
        assert {i["sk"]["S"] for i in moved["Items"]} == {str(i) for i in range(1007, 5000, 500)} | {"0"}


def test_an_index_query_reads_writes_made_behind_tables_back_by_a_cancelled_transaction() -> None:
    from batchplane_local import moto_glue
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType

    moto_index.index_queries()
    moto_glue.cheap_transactions()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _create_tables(ddb)
        ddb.put_item(TableName="t", Item={"pk": {"S": "P"}, "sk": {"S": "1"}, "g1pk": {"S": "A"}, "g1sk": {"S": "1"}})
        gsi = {"TableName": "t", "IndexName": "gsi1", "KeyConditionExpression": "g1pk = :k"}
        assert ddb.query(**gsi, ExpressionAttributeValues={":k": {"S": "A"}})["Count"] == 1  # the index is built
        # WHEN a transaction moves the item to another index partition, is queried (as by another request) while
        # it runs, then is cancelled by a failed condition and rolled back
        real_get_item = DynamoDBBackend.get_item

        def get_item(self: Any, table_name: str, keys: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            if keys["pk"] == {"S": "Q"}:
                during.append(_table().query(None, None, [], None, None, True, None, "gsi1", hash_key_conditions=b)[0])
            return real_get_item(self, table_name, keys, *args, **kwargs)

        during: list[Any] = []
        b = [("g1pk", DynamoType({"S": "B"}))]
        DynamoDBBackend.get_item = get_item  # type: ignore[method-assign]
        try:
            with pytest.raises(ClientError, match="TransactionCanceled"):
                ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": "t",
                                "Key": {"pk": {"S": "P"}, "sk": {"S": "1"}},
                                "UpdateExpression": "SET g1pk = :b",
                                "ExpressionAttributeValues": {":b": {"S": "B"}},
                            }
                        },
                        {
                            "ConditionCheck": {
                                "TableName": "t",
                                "Key": {"pk": {"S": "Q"}, "sk": {"S": "1"}},
                                "ConditionExpression": "attribute_exists(pk)",
                            }
                        },
                    ]
                )
        finally:
            DynamoDBBackend.get_item = real_get_item  # type: ignore[method-assign]
        assert [len(items) for items in during] == [1]  # the query saw the transaction's write
        # THEN the item is found where it was, and not where the cancelled transaction had put it
        assert ddb.query(**gsi, ExpressionAttributeValues={":k": {"S": "A"}})["Count"] == 1
        assert ddb.query(**gsi, ExpressionAttributeValues={":k": {"S": "B"}})["Count"] == 0


def _in_threads(writer: Callable[[threading.Event], None], reader: Callable[[], None], rounds: int) -> list[Exception]:
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    failures: list[Exception] = []
    done = threading.Event()
    thread = threading.Thread(target=writer, args=(done,))
    thread.start()
    try:
        for _ in range(rounds):
            try:
                reader()
            except Exception as error:  # noqa: BLE001 - collected, asserted empty below
                failures.append(error)
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(switch)
    return failures


def test_index_queries_are_not_broken_by_writes_to_the_table_at_the_same_time() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    moto_index.index_queries()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _create_tables(ddb)
        # GIVEN a table with many index partitions, and threads switching as often as the interpreter allows
        table = _table()
        for i in range(2000):
            table.put_item({"pk": {"S": f"P{i}"}, "sk": {"S": "0"}, "g1pk": {"S": f"A{i % 50}"}, "g1sk": {"S": "0"}})

        def writer(done: threading.Event) -> None:  # new items, items moved between partitions, items deleted
            i = 0
            while not done.is_set():
                table.put_item({"pk": {"S": f"N{i}"}, "sk": {"S": "0"}, "g1pk": {"S": f"A{i % 7}"}, "g1sk": {"S": "0"}})
                table.put_item({"pk": {"S": f"P{i % 2000}"}, "sk": {"S": "0"}, "g1pk": {"S": f"A{i % 3}"}})
                table.delete_item(DynamoType({"S": f"N{i - 5}"}), DynamoType({"S": "0"}))
                i += 1

        def reader() -> None:
            for value in ("A1", "A2", "A40"):
                items, _, _ = table.query(
                    None, None, [], None, None, True, None, "gsi1",
                    hash_key_conditions=[("g1pk", DynamoType({"S": value}))],
                )  # fmt: skip
                assert all(item.attrs["g1pk"].value == value for item in items)

        # WHEN the index is queried while the writer writes
        failures = _in_threads(writer, reader, 100)
        # THEN no query failed, and once the writes stop the index answers as moto's walk of the table
        assert failures == []
        gsi = {"TableName": "t", "IndexName": "gsi1", "KeyConditionExpression": "g1pk = :k"}
        for value in ("A0", "A1", "A2", "A6", "A40"):
            ours = _answer(ddb, {**gsi, "ExpressionAttributeValues": {":k": {"S": value}}})
            with _moto_own_query():
                theirs = _answer(ddb, {**gsi, "ExpressionAttributeValues": {":k": {"S": value}}})
            assert ours == theirs


def test_a_table_made_again_under_the_same_name_is_indexed_afresh() -> None:
    moto_index.index_queries()
    gsi = {"TableName": "t", "IndexName": "gsi1", "KeyConditionExpression": "g1pk = :k"}
    for _ in range(2):  # a reset of moto's backend between two tests, then a table deleted and created again
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name=REGION)
            _create_tables(ddb)
            ddb.put_item(
                TableName="t", Item={"pk": {"S": "P"}, "sk": {"S": "1"}, "g1pk": {"S": "A"}, "g1sk": {"S": "1"}}
            )
            assert ddb.query(**gsi, ExpressionAttributeValues={":k": {"S": "A"}})["Count"] == 1
            ddb.delete_table(TableName="t")
            ddb.delete_table(TableName="h")
            _create_tables(ddb)
            assert ddb.query(**gsi, ExpressionAttributeValues={":k": {"S": "A"}})["Count"] == 0


def test_a_sort_key_condition_looks_at_the_matching_items_of_a_big_partition_only() -> None:
    moto_index.index_queries()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _create_tables(ddb)
        # GIVEN one index partition and one table partition of 5,000 items each, in no particular order
        table = _table()
        order = list(range(5000))
        random.Random(7).shuffle(order)
        for i in order:
            table.put_item({"pk": {"S": "P"}, "sk": {"S": f"{i:05d}"}, "g1pk": {"S": "A"}, "g1sk": {"S": f"{i:05d}"}})
        gsi = {"TableName": "t", "IndexName": "gsi1", "ExpressionAttributeValues": {":k": {"S": "A"}}}
        base = {"TableName": "t", "ExpressionAttributeValues": {":k": {"S": "P"}}}
        with _counting_candidates() as seen:
            # WHEN narrow ranges are asked for, the way the dispatcher and the sweeper ask
            between = ddb.query(
                **{**gsi, "ExpressionAttributeValues": {":k": {"S": "A"}, ":a": {"S": "02000"}, ":b": {"S": "02009"}}},
                KeyConditionExpression="g1pk = :k AND g1sk BETWEEN :a AND :b",
            )
            oldest = ddb.query(
                **{**gsi, "ExpressionAttributeValues": {":k": {"S": "A"}, ":now": {"S": "99999"}}},
                KeyConditionExpression="g1pk = :k AND g1sk <= :now",
                Limit=30,
            )
            newest = ddb.query(
                **{**base, "ExpressionAttributeValues": {":k": {"S": "P"}, ":x": {"S": "04990"}}},
                KeyConditionExpression="pk = :k AND sk > :x",
                ScanIndexForward=False,
            )
            prefix = ddb.query(
                **{**base, "ExpressionAttributeValues": {":k": {"S": "P"}, ":p": {"S": "0312"}}},
                KeyConditionExpression="pk = :k AND begins_with(sk, :p)",
                Limit=10,
            )
            page_two = ddb.query(
                **{**gsi, "ExpressionAttributeValues": {":k": {"S": "A"}, ":now": {"S": "99999"}}},
                KeyConditionExpression="g1pk = :k AND g1sk <= :now",
                Limit=30,
                ExclusiveStartKey=oldest["LastEvaluatedKey"],
            )
            # AND an item moves into the range and another changes its sort key out of it
            ddb.update_item(
                TableName="t",
                Key={"pk": {"S": "P"}, "sk": {"S": "00001"}},
                UpdateExpression="SET g1sk = :s",
                ExpressionAttributeValues={":s": {"S": "02005x"}},
            )
            ddb.update_item(
                TableName="t",
                Key={"pk": {"S": "P"}, "sk": {"S": "02003"}},
                UpdateExpression="SET g1sk = :s",
                ExpressionAttributeValues={":s": {"S": "09999"}},
            )
            moved = ddb.query(
                **{**gsi, "ExpressionAttributeValues": {":k": {"S": "A"}, ":a": {"S": "02000"}, ":b": {"S": "02009"}}},
                KeyConditionExpression="g1pk = :k AND g1sk BETWEEN :a AND :b",
            )
        # THEN each was answered from the matching items and the one after them (or the first Limit + 1), not 5,000
        assert [i["g1sk"]["S"] for i in between["Items"]] == [f"{i:05d}" for i in range(2000, 2010)]
        assert [i["g1sk"]["S"] for i in oldest["Items"]] == [f"{i:05d}" for i in range(30)]
        assert [i["sk"]["S"] for i in newest["Items"]] == [f"{i:05d}" for i in range(4999, 4990, -1)]
        assert [i["sk"]["S"] for i in prefix["Items"]] == [f"{i:05d}" for i in range(3120, 3130)]
        assert "LastEvaluatedKey" in oldest
        assert [i["g1sk"]["S"] for i in page_two["Items"]] == [f"{i:05d}" for i in range(30, 60)]
        # (Limit n of more matches: the first n + 1, where moto's page ends; from the start key on, when given)
        assert seen == [11, 31, 10, 11, 31, 11]
        assert [i["sk"]["S"] for i in moved["Items"]] == [f"{i:05d}" for i in (2000, 2001, 2002, 2004, 2005)] + [
            "00001",
            *(f"{i:05d}" for i in range(2006, 2010)),
        ]


def test_a_page_ended_by_size_is_the_same_from_a_sorted_partition() -> None:
    moto_index.index_queries()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _create_tables(ddb)
        # GIVEN a partition of 100 KB items, a run of which is large enough that moto ends its page by size
        for i in range(30):
            ddb.put_item(
                TableName="t",
                Item={"pk": {"S": "P"}, "sk": {"S": f"{i:02d}"}, "g1pk": {"S": "A"}, "g1sk": {"S": f"{i:02d}"},
                      "blob": {"S": "x" * (100_000 + 1_000 * (i % 7))}},
            )  # fmt: skip
        for lo, hi, limit in [
            ("05", "12", None),
            ("05", "14", None),
            ("03", "09", 6),
            ("00", "29", 5),
            ("10", "10", 1),
        ]:
            for forward in (True, False):
                for index in ("gsi1", None):
                    q: dict[str, Any] = {
                        "TableName": "t",
                        "KeyConditionExpression": "#h = :k AND #r BETWEEN :lo AND :hi",
                        "ExpressionAttributeNames": {"#h": "g1pk" if index else "pk", "#r": "g1sk" if index else "sk"},
                        "ExpressionAttributeValues": {":k": {"S": "A" if index else "P"}, ":lo": {"S": lo}, ":hi": {"S": hi}},
                        "ScanIndexForward": forward,
                    }  # fmt: skip
                    if index:
                        q["IndexName"] = index
                    if limit:
                        q["Limit"] = limit
                    # WHEN it is paged through from the sorted partition and by moto's walk of the table
                    ours = _answer(ddb, q)
                    with _moto_own_query():
                        theirs = _answer(ddb, q)
                    # THEN every page is the same, LastEvaluatedKey included
                    assert ours == theirs, q
