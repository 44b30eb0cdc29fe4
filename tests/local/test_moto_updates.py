"""The local stack's direct application of update expressions moto has validated once (batchplane_local.moto_updates)
answers every update, good or bad, alone or in a transaction, with the bytes moto answers without it, and leaves the
same items."""

from __future__ import annotations

from typing import Any

from batchplane_local import moto_expressions, moto_glue, moto_updates

from tests.local.test_moto_expressions import ITEM, UPDATES, Corpus, update_answers

V = {":v": {"S": "v"}}
# The shapes the control plane sends (nested attempt maps behind placeholders, if_not_exists, counters, index keys
# set and removed), each sent more than once so the second is applied directly; then updates the direct path must
# leave to moto (it could refuse them), on items where moto refuses them and where it does not.
OURS: list[tuple[str, dict[str, str], dict[str, Any], str | None]] = [
    ("SET #att.#n = if_not_exists(#att.#n, :e)", {"#att": "att", "#n": "1"}, {":e": {"M": {}}}, None),
    (
        "SET #att.#n.#st = :st, #att.#n.rk = :rk, updatedAt = :now, gsi2pk = :pk, gsi2sk = :sk REMOVE claimToken, "
        "#att.#n.runnableAt",
        {"#att": "att", "#n": "1", "#st": "status"},
        {":st": {"S": "RUNNING"}, ":rk": {"S": "2026#a"}, ":now": {"S": "t1"}, ":pk": {"S": "A#1"}, ":sk": {"S": "1"}},
        "attribute_exists(pk)",
    ),
    (
        "SET #att.#n.#st = :st, #att.#n.rk = :rk, updatedAt = :now, gsi2pk = :pk, gsi2sk = :sk REMOVE claimToken, "
        "#att.#n.runnableAt",
        {"#att": "att", "#n": "1", "#st": "status"},
        {
            ":st": {"S": "SUCCEEDED"},
            ":rk": {"S": "2026#b"},
            ":now": {"S": "t2"},
            ":pk": {"S": "R#1"},
            ":sk": {"S": "2"},
        },
        None,
    ),
    ("SET version = version + :one, n = :one - n ADD hits :one", {}, {":one": {"N": "1"}}, None),
    ("SET version = version + :one, n = :one - n ADD hits :one", {}, {":one": {"N": "2.5"}}, None),
    ("SET c = if_not_exists(s, :v), d = s ADD tags :t", {}, {**V, ":t": {"SS": ["a"]}}, None),
    ("SET c = if_not_exists(s, :v), d = s ADD tags :t", {}, {**V, ":t": {"SS": ["a", "b"]}}, None),
    ("SET m.#in = :v, m.fresh = :v REMOVE m.#c, gone", {"#in": "inner", "#c": "count"}, V, None),
    ("SET m.#in = :v, m.fresh = :v REMOVE m.#c, gone", {"#in": "inner", "#c": "count"}, V, None),
    # accepted once, then each refused for this item or these values: moto's own path decides
    ("SET x = y + :one", {}, {":one": {"N": "1"}}, None),  # y does not exist: refused every time
    ("SET w = n + :one", {}, {":one": {"N": "1"}}, None),
    ("SET w = n + :one", {}, {":one": {"S": "1"}}, None),  # operands of two types
    ("SET w = s + :one", {}, {":one": {"N": "1"}}, None),  # s is a string
    ("SET deep.er = :v", {}, V, None),  # its parent does not exist
    ("SET s.er = :v", {}, V, None),  # its parent is not a map (moto ignores it)
    ("SET gsi1pk = :v", {}, V, None),
    ("SET gsi1pk = :v", {}, {":v": {"S": ""}}, None),  # an empty index key
    ("SET gsi1pk = :v", {}, {":v": {"N": "1"}}, None),  # an index key of the wrong type
    ("ADD hits :one", {}, {":one": {"N": "1"}}, None),
    ("ADD hits :one", {}, {":one": {"SS": ["x"]}}, None),  # a set onto a number
    ("ADD tags :t", {}, {":t": {"NS": ["1"]}}, None),  # a number set onto a string set
    ("ADD tags :t", {}, {":t": {"S": "x"}}, None),  # neither a set nor a number
    ("REMOVE nothing.deeper", {}, {}, None),  # its parent does not exist
    ("REMOVE m.inner", {}, {}, None),
    ("REMOVE s.inner", {}, {}, None),  # its parent is not a map
    ("SET e = if_not_exists(m.inner, :v)", {}, V, None),
    ("SET e = if_not_exists(m.inner, :v)", {}, {":w": {"S": "w"}}, None),  # its fallback value is not given
    # a list index, list_append and DELETE are never applied directly
    ("SET l[0] = :v", {}, V, None),
    ("SET l[0] = :v", {}, V, None),
    ("SET l = list_append(l, :x)", {}, {":x": {"L": [{"S": "z"}]}}, None),
    ("SET l = list_append(l, :x)", {}, {":x": {"L": [{"S": "z"}]}}, None),
    ("DELETE tags :t", {}, {":t": {"SS": ["a"]}}, None),
    ("DELETE tags :t", {}, {":t": {"SS": ["b"]}}, None),
]


def _answers(corpus: Corpus) -> list[bytes]:
    """The shared corpus runner, with what these updates need: the job item's own maps, both indexes, UPDATED_NEW,
    and a transaction's second update creating its item."""

    def creating(i: int, _: str, request: dict[str, Any]) -> dict[str, Any]:
        return {"Update": {**request, "Key": {"pk": {"S": "new"}, "sk": {"S": str(i)}}}}

    return update_answers(
        corpus,
        item={**ITEM, "version": {"N": "1"}, "att": {"M": {}}, "claimToken": {"S": "c"}},
        indexes=(("gsi1", "gsi1pk", None), ("gsi2", "gsi2pk", "gsi2sk")),
        returns=("ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"),
        beside=creating,
    )


def test_updates_applied_directly_answer_as_moto_answers_them() -> None:
    moto_glue.cached_update_expressions()  # one tree per text, as in the local stack
    moto_updates.unpatch()
    moto_expressions.unpatch()
    corpus = OURS + UPDATES
    # GIVEN the corpus answered by moto alone
    theirs = _answers(corpus)
    # WHEN it is answered with validation sped up and validated updates applied directly
    from batchplane_local.moto_updates import _Resolved

    applied: list[int] = []
    real_apply = _Resolved.apply

    def counted(self: Any, item: Any) -> None:
        applied.append(1)
        real_apply(self, item)

    moto_expressions.fast_update_validation()
    moto_updates.fast_updates()
    _Resolved.apply = counted  # type: ignore[method-assign]
    try:
        ours = _answers(corpus)
    finally:
        _Resolved.apply = real_apply  # type: ignore[method-assign]
        moto_updates.unpatch()
        moto_expressions.unpatch()
    # THEN every answer, accepted or refused, and the items they leave are the same bytes
    assert len(ours) == len(theirs)
    for i, (mine, moto) in enumerate(zip(ours, theirs, strict=True)):
        assert mine == moto, (i, corpus[min(i // 4, len(corpus) - 1)][0])
    # AND most updates were applied directly, and moto refused many of the rest, for many reasons
    assert len(applied) >= 40
    refusals = {body for body in theirs if b"ValidationException" in body or b"Error" in body}
    assert len(refusals) >= 15


def test_only_the_control_plane_s_shapes_are_compiled() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    def plan(expression: str, names: dict[str, str] | None = None) -> Any:
        return moto_updates.compile_update(UpdateExpressionParser.make(expression), names or {})

    assert plan("SET #a.#b = if_not_exists(#a.#b, :e), v = v + :one ADD n :one REMOVE x", {"#a": "a", "#b": "b"})
    for refused in (
        "SET l[0] = :v",
        "SET l = list_append(l, :v)",
        "DELETE s :v",
        "SET #missing = :v",
        "SET size = :v",  # a reserved word
        "SET a = if_not_exists(b, c)",
        "ADD n :one, l[1] :one",
    ):
        assert plan(refused) is None, refused


def test_the_patch_is_undone_and_done_again() -> None:
    from moto.dynamodb import models

    moto_updates.unpatch()
    real = models.UpdateExpressionValidator
    moto_updates.fast_updates()
    patched = models.UpdateExpressionValidator
    moto_updates.fast_updates()  # idempotent
    assert models.UpdateExpressionValidator is patched is not real
    moto_updates.unpatch()
    assert models.UpdateExpressionValidator is real
