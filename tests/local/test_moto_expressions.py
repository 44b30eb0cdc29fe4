"""The local stack's faster validation of update expressions (batchplane_local.moto_expressions) answers every
update, good or bad, with the bytes moto answers without it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from batchplane_local import moto_expressions, moto_glue
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.tables import key_table

KEY = {"pk": {"S": "a"}, "sk": {"S": "x"}}
ITEM = {
    **KEY,
    "gsi1pk": {"S": "T#1"},
    "n": {"N": "5"},
    "s": {"S": "text"},
    "ss": {"SS": ["x", "y"]},
    "ns": {"NS": ["1", "2"]},
    "l": {"L": [{"S": "v0"}, {"N": "1"}, {"M": {"deep": {"S": "d"}}}]},
    "m": {"M": {"inner": {"S": "v"}, "count": {"N": "1"}, "attempts": {"M": {}}}},
    "flag": {"BOOL": True},
}

# (UpdateExpression, names, values, ConditionExpression): in order, on one item; the bad ones are refused as moto
# refuses them (the answer's bytes are compared, errors included)
UPDATES: list[tuple[str, dict[str, str], dict[str, Any], str | None]] = [
    ("SET s = :v", {}, {":v": {"S": "new"}}, None),
    ("SET #s = :v, n = n + :one", {"#s": "status"}, {":v": {"S": "RUNNING"}, ":one": {"N": "1"}}, None),
    ("SET n = n - :one", {}, {":one": {"N": "2"}}, "attribute_exists(pk)"),
    ("SET m.attempts.#a = if_not_exists(m.attempts.#a, :e)", {"#a": "1"}, {":e": {"M": {"t": {"N": "1"}}}}, None),
    ("SET m.attempts.#a = if_not_exists(m.attempts.#a, :e)", {"#a": "1"}, {":e": {"M": {"t": {"N": "2"}}}}, None),
    ("SET l = list_append(l, :more)", {}, {":more": {"L": [{"S": "v3"}]}}, None),
    ("SET l = list_append(:first, l)", {}, {":first": {"L": [{"S": "v-1"}]}}, None),
    ("SET l[1] = :v, m.#in = :w", {"#in": "inner"}, {":v": {"N": "9"}, ":w": {"S": "w"}}, None),
    ("SET l[2].deep = :v", {}, {":v": {"S": "deeper"}}, None),
    ("REMOVE l[0], m.#c", {"#c": "count"}, {}, None),
    ("ADD n :one, ss :more", {}, {":one": {"N": "1"}, ":more": {"SS": ["z"]}}, None),
    ("DELETE ss :gone", {}, {":gone": {"SS": ["x"]}}, None),
    ("ADD fresh :one SET xtra = :v REMOVE flag", {}, {":one": {"N": "1"}, ":v": {"NULL": True}}, None),
    ("SET gsi1pk = :g", {}, {":g": {"S": "T#2"}, ":old": {"S": "T#1"}}, "gsi1pk = :old"),
    ("SET a = :v, b = :v, c = if_not_exists(c, :v)", {}, {":v": {"S": "same"}}, None),
    ("SET n = :n", {}, {":n": {"N": "1.50"}, ":low": {"N": "0"}}, "n > :low"),
    # refused: overlapping paths, a key attribute, an undefined value or name, a missing operand, a type mismatch,
    # a second SET clause, an empty string key, a failed condition
    ("SET m = :v, m.#in = :v", {"#in": "inner"}, {":v": {"S": "v"}}, None),
    ("SET m.#in = :v, m = :v", {"#in": "inner"}, {":v": {"S": "v"}}, None),
    ("SET m.inner = :v", {}, {":v": {"S": "v"}}, None),
    ("SET sk = :v", {}, {":v": {"S": "y"}}, None),
    ("SET s = :undefined", {}, {":v": {"S": "v"}}, None),
    ("SET #undefined = :v", {}, {":v": {"S": "v"}}, None),
    ("SET s = nothing + :one", {}, {":one": {"N": "1"}}, None),
    ("SET s = s + :one", {}, {":one": {"N": "1"}}, None),
    ("ADD s :one", {}, {":one": {"N": "1"}}, None),
    ("SET a = :v SET b = :v", {}, {":v": {"S": "v"}}, None),
    ("ADD a :one ADD b :one", {}, {":one": {"N": "1"}}, None),
    ("REMOVE a REMOVE b", {}, {}, None),
    ("SET gsi1pk = :empty", {}, {":empty": {"S": ""}}, None),
    ("SET s = :v", {}, {":v": {"S": "v"}}, "attribute_not_exists(pk)"),
    ("SET l = list_append(s, :more)", {}, {":more": {"L": []}}, None),
    ("REMOVE nothing.deeper[3]", {}, {}, None),
    ("SET s = :v", {"#unused": "x"}, {":v": {"S": "v"}}, None),
    # the same expression passing, then refused for its names alone (checks kept per expression, names and keys)
    ("SET #a = :v, #b = :v", {"#a": "x1", "#b": "x2"}, {":v": {"S": "v"}}, None),
    ("SET #a = :v, #b = :v", {"#a": "x1", "#b": "x1"}, {":v": {"S": "v"}}, None),
    ("SET #k = :v", {"#k": "s"}, {":v": {"S": "v"}}, None),
    ("SET #k = :v", {"#k": "sk"}, {":v": {"S": "v"}}, None),
    ("SET #k = :v", {"#k": "s"}, {":v": {"S": "w"}}, None),
]


Corpus = list[tuple[str, dict[str, str], dict[str, Any], str | None]]


def _put_beside(_: int, expression: str, __: dict[str, Any]) -> dict[str, Any]:
    """A transaction's second item: one the transaction creates."""
    return {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}, "sk": {"S": expression}}}}


def update_answers(
    corpus: Corpus,
    *,
    item: dict[str, Any] = ITEM,
    indexes: tuple[tuple[str, str, str | None], ...] = (("gsi1", "gsi1pk", None),),
    returns: tuple[str, ...] = ("ALL_NEW", "UPDATED_OLD"),
    beside: Callable[[int, str, dict[str, Any]], dict[str, Any]] = _put_beside,
) -> list[bytes]:
    """Every answer moto gives to ``corpus`` (each update on ``item`` with each of ``returns``, then in a transaction
    with ``beside``'s item), the bodies as sent or the errors as raised, and the table's items at the end."""
    bodies: list[bytes] = []
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        key_table(ddb, indexes=list(indexes))
        ddb.meta.events.register(
            "after-call.dynamodb.*", lambda http_response, **_: bodies.append(http_response.content)
        )
        ddb.put_item(TableName="t", Item=item)
        for i, (expression, names, values, condition) in enumerate(corpus):
            request: dict[str, Any] = {"TableName": "t", "Key": KEY, "UpdateExpression": expression}
            if names:
                request["ExpressionAttributeNames"] = names
            if values:
                request["ExpressionAttributeValues"] = values
            if condition:
                request["ConditionExpression"] = condition
            for returned in returns:
                try:
                    ddb.update_item(**request, ReturnValues=returned)
                except ClientError as error:
                    bodies.append(repr(error.response["Error"]).encode())
                except Exception as error:  # noqa: BLE001 - moto lets a few bad requests escape as Python errors
                    bodies.append(f"{type(error).__name__}: {error}".encode())
            try:
                ddb.transact_write_items(TransactItems=[{"Update": request}, beside(i, expression, request)])
            except ClientError as error:
                bodies.append(repr(error.response.get("CancellationReasons", error.response["Error"])).encode())
            except Exception as error:  # noqa: BLE001
                bodies.append(f"{type(error).__name__}: {error}".encode())
        bodies.append(repr(ddb.scan(TableName="t")["Items"]).encode())
    return bodies


def test_updates_validated_faster_answer_as_moto_answers_them() -> None:
    # GIVEN a corpus of updates, alone and in transactions, that moto accepts or refuses, answered without the patch
    # (each expression text parsed once, as in the local stack: the same tree comes back for the same text)
    moto_glue.cached_update_expressions()
    moto_expressions.unpatch()
    theirs = update_answers(UPDATES)
    # WHEN the same are answered with it
    moto_expressions.fast_update_validation()
    moto_expressions.cached_condition_lexing()
    moto_expressions.cached_condition_parsing()
    try:
        ours = update_answers(UPDATES)
    finally:
        moto_expressions.unpatch()
    # THEN every answer, accepted or refused, and the table they leave are the same bytes
    assert len(ours) == len(theirs)
    for i, (mine, moto) in enumerate(zip(ours, theirs, strict=True)):
        assert mine == moto, (i, UPDATES[min(i // 3, len(UPDATES) - 1)][0])
    # AND the corpus is not vacuous: some updates were refused, for several reasons
    refusals = {body for body in theirs if b"ValidationException" in body or b"ConditionalCheckFailed" in body}
    assert len(refusals) >= 8


def test_the_patch_is_undone_and_done_again() -> None:
    from moto.dynamodb.parsing import ast_nodes, validators

    moto_expressions.fast_update_validation()
    patched = ast_nodes.DepthFirstTraverser.traverse
    moto_expressions.fast_update_validation()  # idempotent
    assert ast_nodes.DepthFirstTraverser.traverse is patched
    moto_expressions.unpatch()
    assert not getattr(ast_nodes.DepthFirstTraverser.traverse, "_batchplane_fast", False)
    assert validators.deepcopy.__module__ == "copy"
    moto_expressions.fast_update_validation()


@pytest.mark.parametrize(
    "expression",
    [
        "SET #s = :s, attempts.#n = if_not_exists(attempts.#n, :empty) ADD v :one REMOVE gone",
        "SET l[2].deep = list_append(l, :x), n = n + :one DELETE ss :x",
    ],
)
def test_a_tree_is_copied_as_deepcopy_copies_it(expression: str) -> None:
    import copy

    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    moto_expressions.fast_update_validation()
    tree = UpdateExpressionParser.make(expression)
    ours, theirs = validators.deepcopy(tree), copy.deepcopy(tree)
    assert _shape(ours) == _shape(theirs) == _shape(tree)
    assert ours is not tree
    assert all(a is not b for a, b in zip(_nodes(ours), _nodes(tree), strict=True))
    # every node's parent is the node that holds it, in the copy, as in moto's copy
    for node in _nodes(ours):
        for child in node.children or []:
            if hasattr(child, "children"):
                assert child.parent is node


def _nodes(node: Any) -> list[Any]:
    out = [node]
    for child in node.children or []:
        if hasattr(child, "children"):
            out.extend(_nodes(child))
    return out


def _shape(node: Any) -> Any:
    if not hasattr(node, "children"):
        return node
    return (type(node).__name__, node.type, [_shape(c) for c in node.children or []])


def test_clauses_are_found_as_moto_finds_them() -> None:
    from moto.dynamodb.parsing import ast_nodes
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    moto_expressions.unpatch()
    real = ast_nodes.Node.find_clauses
    moto_expressions.fast_update_validation()
    kinds = [
        [ast_nodes.UpdateExpressionSetClause],
        [ast_nodes.UpdateExpressionAddClause, ast_nodes.UpdateExpressionRemoveClause],
        [ast_nodes.UpdateExpressionSetAction, ast_nodes.UpdateExpressionAddAction],
        [ast_nodes.UpdateExpressionRemoveAction, ast_nodes.UpdateExpressionDeleteAction],
        [ast_nodes.ExpressionAttributeValue, ast_nodes.UpdateExpressionFunction],
    ]
    found = 0
    for expression, *_ in UPDATES:
        try:
            tree = UpdateExpressionParser.make(expression)
        except Exception:  # noqa: BLE001, S112 - a corpus entry the parser refuses has no tree to search
            continue
        for node in _nodes(tree):
            for clause_types in kinds:
                ours = ast_nodes.Node.find_clauses(node, clause_types)
                assert ours == real(node, clause_types), (expression, node.type, clause_types)
                found += len(ours)
    assert found > 50


CONDITIONS = [
    "attribute_exists(pk)",
    "attribute_not_exists(pk) OR (#s <> :s AND v < :v)",
    "#s IN (:a, :b, :c) AND NOT contains(tags, :a)",
    "size(l) BETWEEN :low AND :high OR begins_with(s, :a)",
    "m.inner.#s = :s AND l[0] <> :a",
    "attribute_type(n, :t)",
    "(v >= :v)",
    "v <= :v AND v > :low",
    "#s = :s AND #s = :s",
    "((#s = :s))",
    "v < ",
    "#s = :undefined",
    "v ! :v",
    "",
]


VALUES = [  # two sets of the same placeholders: a tree kept from the first must answer with the second's values
    {":s": {"S": "s"}, ":v": {"N": "1"}, ":a": {"S": "a"}, ":b": {"S": "b"}, ":c": {"S": "c"}, ":low": {"N": "0"}}
    | {":high": {"N": "9"}, ":t": {"S": "N"}},
    {":s": {"S": "RUNNING"}, ":v": {"N": "7"}, ":a": {"S": "x"}, ":b": {"S": "a"}, ":c": {"N": "3"}}
    | {":low": {"N": "2"}, ":high": {"N": "3"}, ":t": {"S": "S"}},
]


def _parsed(expression: str, values: dict[str, Any] | None = None) -> str:
    """moto's parse of a condition, and what it answers for two items (as moto evaluates it)."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import Item

    names = {"#s": "status"}
    items = [
        Item(
            {"S": "a"},
            None,
            {"pk": {"S": "a"}, "status": {"S": "RUNNING"}, "v": {"N": "7"}, "n": {"N": "1"}, "s": {"S": "xyz"}}
            | {"tags": {"SS": ["a", "x"]}, "l": {"L": [{"S": "a"}, {"S": "b"}]}, "m": {"M": {"inner": {"M": {}}}}},
        ),
        None,
    ]
    try:
        parser = ConditionExpressionParser(expression, names, values if values is not None else VALUES[0])
        op = parser.parse()
        verdicts = []
        for item in items:
            try:
                verdicts.append(op.expr(item))
            except Exception as error:  # noqa: BLE001 - an evaluation moto refuses is an answer too
                verdicts.append(type(error).__name__)
        return f"{op!r} {verdicts} {parser.expr_attr_names_found} {parser.expr_attr_values_found}"
    except Exception as error:  # noqa: BLE001 - a refusal is an answer too
        return f"{type(error).__name__}: {error}"


def test_conditions_lexed_once_parse_as_lexed_each_time() -> None:
    # GIVEN conditions good and bad, parsed by moto lexing each time
    moto_expressions.unpatch()
    theirs = [_parsed(c) for c in CONDITIONS]
    # WHEN they are parsed twice with tokens kept per text
    moto_expressions.cached_condition_lexing()
    try:
        ours = [_parsed(c) for c in CONDITIONS]
        again = [_parsed(c) for c in CONDITIONS]
    finally:
        moto_expressions.unpatch()
    # THEN every parse and every refusal is the same, the second time too
    assert ours == theirs
    assert again == theirs
    assert sum("Error" in answer or "Exception" in answer for answer in theirs) >= 2


def test_conditions_parsed_once_parse_as_parsed_each_time_with_each_call_s_values() -> None:
    # GIVEN conditions good and bad, parsed and evaluated by moto with one set of values, then another
    moto_expressions.unpatch()
    theirs = [_parsed(c, values) for values in VALUES for c in CONDITIONS]
    # WHEN the same are parsed with the tree kept per text, names and placeholders (and tokens per text), twice
    moto_expressions.cached_condition_lexing()
    moto_expressions.cached_condition_parsing()
    try:
        ours = [_parsed(c, values) for values in VALUES for c in CONDITIONS]
        again = [_parsed(c, values) for values in reversed(VALUES) for c in CONDITIONS]
    finally:
        moto_expressions.unpatch()
    # THEN every parse, verdict and refusal is the same: the second values are not answered with the first's
    assert ours == theirs
    assert again == theirs[len(CONDITIONS) :] + theirs[: len(CONDITIONS)]
    assert ours[: len(CONDITIONS)] != ours[len(CONDITIONS) :]  # the values change what the conditions say
    assert sum("Error" in answer or "Exception" in answer for answer in theirs) >= 4


def test_a_walk_that_would_change_nothing_is_not_made() -> None:
    from moto.dynamodb.parsing import validators

    walked: list[str] = []
    checkers = (validators.NoneExistingPathChecker, validators.UpdateExpressionFunctionEvaluator)
    moto_glue.cached_update_expressions()
    moto_expressions.fast_update_validation()
    real = validators.DepthFirstTraverser.traverse

    def counted(self: Any, node: Any) -> Any:
        if isinstance(self, checkers):
            walked.append(type(self).__name__)
        return real(self, node)

    validators.DepthFirstTraverser.traverse = counted  # type: ignore[method-assign]
    try:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            key_table(ddb)
            ddb.put_item(TableName="t", Item=ITEM)
            # GIVEN an update with no function and no path that does not exist
            ddb.update_item(
                TableName="t",
                Key=KEY,
                UpdateExpression="SET s = :v, n = n + :one",
                ExpressionAttributeValues={":v": {"S": "w"}, ":one": {"N": "1"}},
            )
            # THEN neither the function evaluator nor the missing-path checker walked its tree
            assert walked == []
            # WHEN an update calls a function, THEN the evaluator walks it (the checker still has nothing to find)
            ddb.update_item(
                TableName="t",
                Key=KEY,
                UpdateExpression="SET c = if_not_exists(s, :v)",
                ExpressionAttributeValues={":v": {"S": "w"}},
            )
            assert walked == ["UpdateExpressionFunctionEvaluator"]
            # AND an update whose operand does not exist is walked by the checker, which refuses it as moto does
            with pytest.raises(ClientError, match="attribute that does not exist"):
                ddb.update_item(
                    TableName="t",
                    Key=KEY,
                    UpdateExpression="SET s = nothing + :one",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
            assert walked[1:] == ["NoneExistingPathChecker"]
    finally:
        validators.DepthFirstTraverser.traverse = real  # type: ignore[method-assign]
        moto_expressions.unpatch()
