"""moto's DynamoDB update expressions, validated faster: the same trees, the same answers and errors.

Every UpdateItem (alone or in a transaction) has moto deep-copy the expression's syntax tree, then walk it ten times,
once per validator. Profiled under a 200-job pipeline on the local stack (sampling only the thread that holds the
GIL), that was about a third of all the CPU the stack used: 23% walking and 9% copying. Three things made it slow,
none of them the validators' own work:

- each walk rebuilt its processor's type map (a dict of bound methods) twice per node it visited, and matched every
  node against it with ``isinstance``;
- moto's node classes are abstract base classes, so every ``isinstance`` against them ran ``ABCMeta``'s check;
- the tree was copied by ``copy.deepcopy``, which memoises every object it meets (the nodes point to their parents).

So: a walk builds its type map once and decides once per node type which processor takes it (``issubclass`` in the
map's order, as moto's ``process`` does); ``find_clauses`` decides once per node type too; and a tree is copied node
by node (a node holds only ``type``, ``children`` and ``parent``; its leaves are strings and numbers, anything else is
deep-copied as before). What is validated, in what order, and what is raised are moto's own: the tests in
tests/local/test_moto_expressions.py answer a corpus of updates, good and bad, both ways and compare the bytes."""

from __future__ import annotations

import copy
import functools
from typing import Any

_IMMUTABLE_LEAVES = frozenset((str, int, float, bool, type(None)))
_NODE_STATE = frozenset(("type", "children", "parent"))  # all a moto syntax-tree node holds


class _Unusual(Exception):  # noqa: N818 - a signal, not an error: "let deepcopy copy this tree"
    """A tree holding something other than what moto's parser builds."""


class _Kinds:
    """What is decided once per Python type of a node: is it a moto node, does find_clauses look inside it."""

    def __init__(self, node: type, descend: tuple[type, ...]) -> None:
        self._node, self._descend = node, descend
        self._is_node: dict[type, bool] = {}
        self._descends: dict[type, bool] = {}

    def is_node(self, kind: type) -> bool:
        known = self._is_node.get(kind)
        if known is None:
            known = self._is_node[kind] = issubclass(kind, self._node)
        return known

    def descends(self, kind: type) -> bool:
        known = self._descends.get(kind)
        if known is None:
            known = self._descends[kind] = issubclass(kind, self._descend)
        return known


def _traverse(kinds: _Kinds, base_pre: Any) -> Any:
    """moto's DepthFirstTraverser.traverse: children first, then the node, by the first processor whose class it is.
    The hook before each child is called only when the processor has one (``base_pre`` is the base class's no-op)."""

    def traverse(self: Any, root: Any) -> Any:
        processing = self._processing_map()
        takes: dict[type, Any] = {}
        pre = None if type(self).pre_processing_of_child is base_pre else self.pre_processing_of_child
        is_node = kinds.is_node

        def processor_of(kind: type) -> Any:
            if kind not in takes:
                takes[kind] = next((fn for cls, fn in processing.items() if issubclass(kind, cls)), None)
            return takes[kind]

        seen: set[type] | None = getattr(self, "_batchplane_seen", None)  # the node types met, when asked

        def walk(node: Any, child_id: int) -> Any:
            parent = node.parent
            children = node.children
            if children is not None:
                for i, child in enumerate(children):
                    if pre is not None:
                        pre(node, i)
                    if is_node(type(child)):
                        walk(child, i)
            process = processor_of(type(node))
            if process is not None:
                before = node
                node = process(node)
                node.parent = parent
                if parent:
                    parent.children[child_id] = node
                if seen is not None and node is not before:
                    _types_below(node, seen, is_node)  # a new node: its own children were not walked
            if seen is not None:
                seen.add(type(node))
            return node

        return walk(root, -1) if is_node(type(root)) else root

    return traverse


def _types_below(node: Any, seen: set[type], is_node: Any) -> None:
    """Add the type of ``node`` and of every node below it to ``seen``."""
    seen.add(type(node))
    for child in node.children or ():
        if is_node(type(child)):
            _types_below(child, seen, is_node)


def _find_clauses(kinds: _Kinds) -> Any:
    """moto's Node.find_clauses: the children of the given types, looking inside Expressions and functions."""

    def find_clauses(self: Any, clause_types: Any) -> list[Any]:
        clauses: list[Any] = []
        for child in self.children or []:
            kind = type(child)
            if kind in clause_types:
                clauses.append(child)
            elif kinds.descends(kind):
                clauses.extend(child.find_clauses(clause_types))
        return clauses

    return find_clauses


def _copy_tree(kinds: _Kinds) -> Any:
    """``copy.deepcopy`` for the validator: a whole tree as moto's parser builds it, copied node by node."""

    def clone(node: Any, memo: dict[int, Any]) -> Any:
        state = dict(node.__dict__)
        if not state.keys() <= _NODE_STATE:
            raise _Unusual
        new = memo[id(node)] = object.__new__(type(node))
        parent = state.get("parent")
        if parent is not None:
            if id(parent) not in memo:  # a parent outside the tree, or below this node: deepcopy knows what to do
                raise _Unusual
            state["parent"] = memo[id(parent)]
        children = state.get("children")
        if children is not None:
            state["children"] = [copied(child, memo) for child in children]
        new.__dict__.update(state)
        return new

    def copied(child: Any, memo: dict[int, Any]) -> Any:
        kind = type(child)
        if kind in _IMMUTABLE_LEAVES:
            return child
        if id(child) in memo:  # the same node twice in the tree stays one node, as deepcopy keeps it
            return memo[id(child)]
        return clone(child, memo) if kinds.is_node(kind) else copy.deepcopy(child, memo)

    def copy_tree(value: Any, memo: Any = None) -> Any:
        # the validator copies a whole tree from its root: anything else is copied as moto copied it
        if memo is None and kinds.is_node(type(value)) and getattr(value, "parent", None) is None:
            try:
                return clone(value, {})
            except _Unusual:
                pass
        return copy.deepcopy(value, memo)

    return copy_tree


def _checks_once(pure: tuple[type, ...], base_pre: Any, size: int = 8192) -> Any:
    """UpdateExpressionValidator.validate, where the checks that depend only on the expression's tree, its names and
    the table's key attributes (``pure``: moto's clause count, overlapping paths, key attributes; each returns the
    tree unchanged or raises) run once per distinct (tree, names, keys) that passed them. A tree is one parse kept
    per expression text (``cached_update_expressions``): it is pinned here, so its ``id`` is not reused.

    And a walk that cannot do anything is not made: the walks note the node types they meet (and those of each node
    a processor puts in), so a processor with no hook before each child, none of whose node types is in the tree
    (``if_not_exists`` or ``list_append`` for the function evaluator, a path that does not exist for its checker),
    would visit every node and change none: it is passed over. The types noted only grow (a node taken out leaves
    its type behind), so a walk is never passed over that had something to do."""
    passed: set[tuple[int, tuple[tuple[str, str], ...], tuple[str, ...]]] = set()
    pinned: dict[int, Any] = {}
    kinds_taken: dict[type, tuple[type, ...]] = {}  # a processor class's node types (its processing map's keys)

    def idle(processor: Any, present: set[type]) -> bool:
        """Would ``processor``'s walk of a tree whose node types are ``present`` do nothing?"""
        if type(processor).pre_processing_of_child is not base_pre:
            return False
        taken = kinds_taken.get(type(processor))
        if taken is None:
            taken = kinds_taken[type(processor)] = tuple(processor._processing_map())
        return not any(issubclass(kind, cls) for kind in present for cls in taken)

    def validate(self: Any) -> Any:
        tree = self._batchplane_tree
        key = (
            id(tree),
            tuple(sorted((self.expression_attribute_names or {}).items())),
            tuple(self.table.table_key_attrs),
        )
        skip = key in passed and pinned.get(id(tree)) is tree
        checks = [p for p in self.processors if isinstance(p, pure)]
        node = self.node_to_validate
        present: set[type] | None = None  # the node types in the tree, once a walk has met them all
        for processor in self.processors:
            if skip and isinstance(processor, pure):
                continue
            if present is not None and idle(processor, present):
                continue
            met: set[type] = set() if present is None else present
            processor._batchplane_seen = met
            node = processor.traverse(node)
            present = met
            if not skip and checks and processor is checks[-1]:
                if len(pinned) >= size:
                    pinned.clear()
                    passed.clear()
                pinned[id(tree)] = tree
                passed.add(key)
        return node

    return validate


def fast_update_validation() -> None:
    """Patch moto's syntax-tree walk, clause search, tree copy, and its expression-only checks (run once per
    distinct expression tree, names and table keys that passed them) (see the module's docstring). Idempotent."""
    from moto.dynamodb.parsing import ast_nodes, validators

    traverser = ast_nodes.DepthFirstTraverser
    if getattr(traverser.traverse, "_batchplane_fast", False):
        return
    kinds = _Kinds(ast_nodes.Node, (ast_nodes.Expression, ast_nodes.UpdateExpressionFunction))
    traverse = _traverse(kinds, traverser.pre_processing_of_child)
    update = validators.UpdateExpressionValidator
    real_init = update.__init__
    traverse._batchplane_fast = True
    traverse._batchplane_real = (  # to undo
        traverser.traverse,
        ast_nodes.Node.find_clauses,
        validators.deepcopy,
        real_init,
        update.validate,
    )

    def init(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        self._batchplane_tree = expression
        real_init(self, expression, *args, **kwargs)

    pure = (
        validators.ActionCountValidator,
        validators.OverlappingPathsValidator,
        validators.UpdateHashRangeKeyValidator,
    )
    update.__init__ = init  # type: ignore[method-assign]
    update.validate = _checks_once(pure, traverser.pre_processing_of_child)  # type: ignore[method-assign]
    traverser.traverse = traverse  # type: ignore[method-assign]
    ast_nodes.Node.find_clauses = _find_clauses(kinds)  # type: ignore[method-assign]
    validators.deepcopy = _copy_tree(kinds)


def cached_condition_lexing(size: int = 4096) -> None:
    """moto splits a condition (or filter) expression into tokens with a dozen regular expressions per token, on every
    request: a third of the time it takes to parse one. The tokens depend on the expression's text alone (names and
    values are looked up after), so they are kept per distinct text; each parse gets its own queue of the same
    immutable tokens. A text that does not split raises every time, as before (exceptions are not cached).
    Idempotent."""
    from collections import deque

    from moto.dynamodb.comparisons import ConditionExpressionParser

    real = ConditionExpressionParser._lex_condition_expression
    if getattr(real, "_batchplane_cached", False):
        return

    @functools.lru_cache(maxsize=size)
    def tokens(text: str) -> tuple[Any, ...]:
        parser = ConditionExpressionParser(text, None, None)
        return tuple(real(parser))

    def lex(self: Any) -> Any:
        if type(self.condition_expression) is not str:
            return real(self)
        return deque(tokens(self.condition_expression))

    lex._batchplane_cached = True  # type: ignore[attr-defined]
    lex._batchplane_real = real  # type: ignore[attr-defined] # to undo
    ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]


def cached_condition_parsing(size: int = 4096) -> None:
    """moto parses a condition (or filter) expression in seven passes over its tokens on every request, a tenth of
    the time moto spends on a pipeline's DynamoDB calls. What the passes build depends on the text, the attribute
    names and which value placeholders exist, not on the values: they look values up, never inside them. So the
    tree they build is kept per (text, names, value placeholders), and each parse puts its own values into a copy
    of it, then makes moto's condition objects from that as moto does (the same objects, the same names and values
    found, for the unused-placeholder check). A parse that fails is not kept: it runs, and fails, every time.
    Idempotent; ``unpatch`` undoes it."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    real = ConditionExpressionParser.parse
    if getattr(real, "_batchplane_cached", False):
        return
    value_kind = ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE
    kept: dict[Any, tuple[Any, list[str], list[str]]] = {}

    def rebind(node: Any, values: dict[str, Any]) -> Any:
        if node.kind == value_kind:
            return node._replace(value=values[node.text])
        if not node.children:
            return node
        return node._replace(children=[rebind(child, values) for child in node.children])

    def parse(self: Any) -> Any:
        text, names, values = (
            self.condition_expression,
            self.expression_attribute_names,
            self.expression_attribute_values,
        )
        if type(text) is not str or not text or not (names is None or type(names) is dict):
            return real(self)
        if not (values is None or type(values) is dict):
            return real(self)
        key = (text, tuple(names.items()) if names else (), tuple(values) if values else ())
        found = kept.get(key)
        if found is None:
            nodes = self._lex_condition_expression()
            for step in (
                self._parse_paths,
                self._apply_functions,
                self._apply_comparator,
                self._apply_in,
                self._apply_between,
                self._apply_parens_and_booleans,
            ):
                nodes = step(nodes)
            node = nodes[0]
            self._assert_no_redundant_parentheses(node)
            found = (node, self._find_literals(node), self._find_expr_attr_values(node))
            if len(kept) >= size:
                kept.clear()
            kept[key] = found
        else:
            node = rebind(found[0], values or {})
        self.expr_attr_names_found.extend(found[1])
        self.expr_attr_values_found.extend(found[2])
        return self._make_op_condition(node)

    parse._batchplane_cached = True  # type: ignore[attr-defined]
    parse._batchplane_real = real  # type: ignore[attr-defined] # to undo
    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]


def unpatch() -> None:
    """Put moto's own walk, clause search, copy and condition lexing back (for the tests that compare both)."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import ast_nodes, validators

    lex = ConditionExpressionParser._lex_condition_expression
    ConditionExpressionParser._lex_condition_expression = getattr(lex, "_batchplane_real", lex)  # type: ignore[method-assign]
    parse = ConditionExpressionParser.parse
    ConditionExpressionParser.parse = getattr(parse, "_batchplane_real", parse)  # type: ignore[method-assign]
    traverser = ast_nodes.DepthFirstTraverser
    real = getattr(traverser.traverse, "_batchplane_real", None)
    if real is None:
        return
    update = validators.UpdateExpressionValidator
    traverser.traverse, ast_nodes.Node.find_clauses, validators.deepcopy, update.__init__, update.validate = real
