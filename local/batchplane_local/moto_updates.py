"""moto's UpdateItem, applied without its validators' walks once an update expression has passed them.

moto validates an update by deep-copying the expression's syntax tree and walking it once per validator (ten
processors: resolve the values and the names, evaluate the functions and the arithmetic, look for paths that do not
exist, check the key attributes' types ...), then executes the resolved tree. For the few dozen expressions the
control plane sends, again and again with new values, that was about a third of the emulator's CPU in a pipeline
(profiled under the 1,000-job DAG), most of it the walks and the copy, while the update itself is a few dict writes.

So an expression is compiled, per (tree, names, table keys), into its actions, once moto's own validation has
accepted it for some item (so every check that depends on the expression alone has passed), and later updates with
it resolve their operands against the item and apply the actions directly. Only the shapes the control plane uses
are compiled: ``SET`` of a map path to a value, a path, ``if_not_exists`` or ``+`` / ``-`` of two of those; ``REMOVE``
of a map path; ``ADD`` of a value. Anything else (a list index, ``list_append``, ``DELETE``, a reserved word, a name
or value placeholder that is not given) is never compiled, and an update for which any of moto's checks could fail
on this item or these values (an operand that does not exist, a path whose parent does not, a parent that is not a
map, operands that are not numbers, a type moto's ADD refuses, an empty or mistyped key attribute) goes through
moto's own validation instead, so moto raises what it raises. The writes are moto's own (the same containers, the
same ``LimitedSizeDict`` size check, in the order moto's ``normalize`` executes them): the answers and the items
are the same bytes (tests/local/test_moto_updates.py answers a corpus both ways)."""

from __future__ import annotations

from typing import Any

_MISSING = object()


class _NotCompiled(Exception):  # noqa: N818 - a signal: "this expression takes moto's path"
    """An expression shape outside what this module applies itself."""


class _Plan:
    """One update expression's actions, its placeholders resolved to names: each ``(kind, path, operand)`` with
    ``kind`` one of SET, REMOVE, ADD and ``path`` a tuple of attribute names (map keys below the first)."""

    def __init__(self, actions: list[tuple[str, tuple[str, ...], str, Any]]) -> None:
        self.actions = actions  # (kind, path, the path's first element as written, operand)

    def resolve(self, item: Any, values: dict[str, Any], table: Any, dynamo_type: Any) -> _Resolved | None:
        """The actions with their operands' values, read from ``item`` before any is applied (as moto's validation
        reads them); None when one of moto's checks could refuse the update (moto's own path then decides)."""
        attrs = item.attrs
        keys: list[str] | None = None  # the table's and its indexes' key attributes, read once
        resolved: list[tuple[str, tuple[str, ...], Any]] = []
        for kind, path, written, operand in self.actions:
            parent = _walk(attrs, path[:-1])
            if parent is _MISSING:  # a target whose parent does not exist, or is not a map: moto refuses it
                return None
            if kind == "SET":
                value = _operand(operand, attrs, values, dynamo_type)
                if value is _MISSING:
                    return None
                keys = table.attribute_keys if keys is None else keys
                if not _key_attribute_ok(written, value, keys, table.attr):
                    return None
            elif kind == "ADD":
                value = _operand(operand, attrs, values, dynamo_type)
                if value is _MISSING or not _addable(_child(parent, path[-1]), value):
                    return None
            else:
                value = None
            resolved.append((kind, path, value))
        return _Resolved(resolved, dynamo_type)


class _Resolved:
    """A validated update, as moto's validator returns one: ``normalize`` (nothing to flatten), then executed."""

    def __init__(self, actions: list[tuple[str, tuple[str, ...], Any]], dynamo_type: Any) -> None:
        self.actions = actions
        self._dynamo_type = dynamo_type

    def normalize(self) -> None:
        """moto's normalize puts the actions in the order they are written (a run of REMOVEs sorted among itself,
        which only matters for list indices, never compiled)."""

    def apply(self, item: Any) -> None:
        """moto's SetExecutor, RemoveExecutor and AddExecutor, on the same containers."""
        for kind, path, value in self.actions:
            parent = _walk(item.attrs, path[:-1])
            name = path[-1]
            if kind == "SET":
                parent[name] = value
            elif kind == "REMOVE":
                parent.pop(name, None)
            elif value.is_set():
                current = _child(parent, name)
                if current is _MISSING:
                    current = self._dynamo_type({value.type: []})
                    parent[name] = current
                for member in value.value:
                    if member not in current.value:
                        current.value.append(member)
            else:  # a number
                current = _child(parent, name)
                if current is _MISSING:
                    current = self._dynamo_type({"N": "0"})
                parent[name] = current + value


def _child(container: Any, name: str) -> Any:
    """``container[name]`` of an item's attributes (a dict) or of a map, or _MISSING (also below anything else)."""
    if isinstance(container, dict):
        return container.get(name, _MISSING)
    if getattr(container, "type", None) == "M":
        return container.value.get(name, _MISSING)
    return _MISSING


def _walk(attrs: dict[str, Any], names: tuple[str, ...]) -> Any:
    """The map at ``names`` (the item's attributes for none), or _MISSING when a step is missing or not a map."""
    container: Any = attrs
    for name in names:
        container = _child(container, name)
        if container is _MISSING or getattr(container, "type", None) != "M":
            return _MISSING
    return container


def _operand(operand: tuple[Any, ...], attrs: dict[str, Any], values: dict[str, Any], dynamo_type: Any) -> Any:
    """What moto's validation makes of an operand, or _MISSING where it could refuse it (moto decides)."""
    kind = operand[0]
    if kind == "value":
        given = values.get(operand[1])
        return _MISSING if given is None else dynamo_type(given)
    if kind == "path":
        return _child(_walk(attrs, operand[1][:-1]), operand[1][-1])  # the item's own value (moto shares it too)
    if kind == "if_not_exists":
        found = _child(_walk(attrs, operand[1][:-1]), operand[1][-1])
        fallback = _operand(operand[2], attrs, values, dynamo_type)  # moto resolves both arguments
        if operand[2][0] == "value" and fallback is _MISSING:
            return _MISSING  # an undefined value placeholder: refused even when unused
        return fallback if found is _MISSING else found
    left = _operand(operand[2], attrs, values, dynamo_type)
    right = _operand(operand[3], attrs, values, dynamo_type)
    if left is _MISSING or right is _MISSING or left.type != "N" or right.type != "N":
        return _MISSING
    return left + right if operand[1] == "+" else left - right


def _key_attribute_ok(written: str, value: Any, keys: list[str], definitions: list[dict[str, str]]) -> bool:
    """moto's EmptyStringKeyValueValidator and TypeMismatchValidator, which look at a SET's first path element as
    written (a placeholder never matches)."""
    if written in keys and value.type in ("S", "B") and not value.value:
        return False
    return all(d["AttributeName"] != written or d["AttributeType"] == value.type for d in definitions)


def _addable(current: Any, value: Any) -> bool:
    """ADD as moto's AddExecutor takes it without raising: a non-empty set onto nothing or a set of its type, a
    number onto nothing or a number."""
    if value.is_set():
        return bool(value.value) and (current is _MISSING or current.type == value.type)
    if value.type == "N":
        return current is _MISSING or current.type == "N"
    return False


def compile_update(tree: Any, names: dict[str, str]) -> _Plan | None:
    """The plan of an update expression's tree with these names, or None for a shape left to moto."""
    from moto.dynamodb.parsing import ast_nodes as n

    actions = tree.find_clauses(
        [n.UpdateExpressionAddAction, n.UpdateExpressionDeleteAction, n.UpdateExpressionRemoveAction,
         n.UpdateExpressionSetAction]
    )  # fmt: skip
    try:
        plan = [_action(action, names) for action in actions]
    except _NotCompiled:
        return None
    return _Plan(plan) if plan else None


def _action(action: Any, names: dict[str, str]) -> tuple[str, tuple[str, ...], str, Any]:
    from moto.dynamodb.parsing import ast_nodes as n

    path, written = _path(action.children[0], names)
    if isinstance(action, n.UpdateExpressionSetAction):
        return ("SET", path, written, _value(action.children[1], names))
    if isinstance(action, n.UpdateExpressionRemoveAction):
        return ("REMOVE", path, written, None)
    if isinstance(action, n.UpdateExpressionAddAction) and isinstance(action.children[1], n.ExpressionAttributeValue):
        return ("ADD", path, written, ("value", action.children[1].get_value_name()))
    raise _NotCompiled  # DELETE


def _path(node: Any, names: dict[str, str]) -> tuple[tuple[str, ...], str]:
    """A path of attribute names (placeholders resolved) and its first element as written."""
    from moto.dynamodb.parsing import ast_nodes as n
    from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

    if not isinstance(node, n.UpdateExpressionPath):
        raise _NotCompiled
    path: list[str] = []
    written: list[str] = []
    for child in node.children:
        if isinstance(child, n.ExpressionPathDescender):
            continue
        if isinstance(child, n.ExpressionAttributeName):
            placeholder = child.get_attribute_name_placeholder()
            if placeholder not in names:
                raise _NotCompiled
            path.append(names[placeholder])
            written.append(placeholder)
        elif isinstance(child, n.ExpressionAttribute):
            name = child.get_attribute_name()
            if name.upper() in _reserved(ReservedKeywords):
                raise _NotCompiled
            path.append(name)
            written.append(name)
        else:  # a list index
            raise _NotCompiled
    if not path:
        raise _NotCompiled
    return tuple(path), written[0]


def _value(node: Any, names: dict[str, str]) -> tuple[Any, ...]:
    from moto.dynamodb.parsing import ast_nodes as n

    if not isinstance(node, n.UpdateExpressionValue):
        raise _NotCompiled
    if len(node.children) == 1:
        return _operand_of(node.children[0], names)
    if len(node.children) == 3 and isinstance(node.children[1], n.ExpressionValueOperator):
        operator = node.children[1].get_operator()
        if operator in ("+", "-"):
            return ("op", operator, _operand_of(node.children[0], names), _operand_of(node.children[2], names))
    raise _NotCompiled


def _operand_of(node: Any, names: dict[str, str]) -> tuple[Any, ...]:
    from moto.dynamodb.parsing import ast_nodes as n

    if isinstance(node, n.ExpressionAttributeValue):
        return ("value", node.get_value_name())
    if isinstance(node, n.UpdateExpressionPath):
        return ("path", _path(node, names)[0])
    if isinstance(node, n.UpdateExpressionFunction) and node.get_function_name() == "if_not_exists":
        first, second = node.get_nth_argument(1), node.get_nth_argument(2)
        if isinstance(first, n.UpdateExpressionPath) and isinstance(second, n.ExpressionAttributeValue):
            return ("if_not_exists", _path(first, names)[0], _operand_of(second, names))
    raise _NotCompiled


_RESERVED: frozenset[str] | None = None


def _reserved(keywords: Any) -> frozenset[str]:
    global _RESERVED  # noqa: PLW0603 - moto's list, read once
    if _RESERVED is None:
        _RESERVED = frozenset(keywords.get_reserved_keywords())
    return _RESERVED


def fast_updates(size: int = 8192) -> None:
    """Patch the validator and executor moto's DynamoDB backend uses for UpdateItem (alone or in a transaction).
    Idempotent; `unpatch` undoes it."""
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType

    if getattr(models.UpdateExpressionValidator, "_batchplane_fast", False):
        return
    real_validator = models.UpdateExpressionValidator
    real_executor = models.UpdateExpressionExecutor
    plans: dict[tuple[int, tuple[tuple[str, str], ...], tuple[str, ...]], tuple[Any, _Plan | None]] = {}

    class Validator:
        _batchplane_fast = True
        _batchplane_real = (real_validator, real_executor)
        compiled = plans  # the tests look

        def __init__(
            self,
            expression: Any,
            expression_attribute_names: dict[str, str] | None,
            expression_attribute_values: dict[str, Any] | None,
            item: Any,
            table: Any,
        ) -> None:
            self._args = (expression, expression_attribute_names, expression_attribute_values, item, table)

        def validate(self) -> Any:
            tree, names, values, item, table = self._args
            key = (id(tree), tuple(sorted((names or {}).items())), tuple(table.table_key_attrs))
            entry = plans.get(key)
            if entry is not None and entry[0] is tree and entry[1] is not None:
                resolved = entry[1].resolve(item, values or {}, table, DynamoType)
                if resolved is not None:
                    return resolved
            node = real_validator(
                tree,
                expression_attribute_names=names,
                expression_attribute_values=values,
                item=item,
                table=table,
            ).validate()
            if entry is None or entry[0] is not tree:  # accepted once: the expression-only checks pass
                if len(plans) >= size:
                    plans.clear()
                plans[key] = (tree, compile_update(tree, names or {}))
            return node

    class Executor:
        def __init__(self, update_ast: Any, item: Any, expression_attribute_names: dict[str, str]) -> None:
            self._args = (update_ast, item, expression_attribute_names)

        def execute(self) -> None:
            update_ast, item, names = self._args
            if isinstance(update_ast, _Resolved):
                update_ast.apply(item)
            else:
                real_executor(update_ast, item, names).execute()

    models.UpdateExpressionValidator = Validator  # type: ignore[assignment,misc]
    models.UpdateExpressionExecutor = Executor  # type: ignore[assignment,misc]


def unpatch() -> None:
    from moto.dynamodb import models

    real = getattr(models.UpdateExpressionValidator, "_batchplane_real", None)
    if real is not None:
        models.UpdateExpressionValidator, models.UpdateExpressionExecutor = real  # type: ignore[misc]
