"""Evaluate SCIM filters (RFC 7644 §3.4.2.2) against in-memory resources.

Parsing is done by ``scim2_filter_parser`` (its lexer and parser produce an AST);
this module only *evaluates* that AST against plain wire dicts, and exposes a few
helpers the emulator's AWS profile uses to check which filter shapes it accepts.

Private to :mod:`scimsync.testing`; used by the emulator and by
:func:`scimsync.testing.apply_patch` for value-path filters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from scim2_filter_parser import ast as fast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser

__all__ = [
    "CASE_EXACT_ATTRIBUTES",
    "FilterSyntaxError",
    "Leaf",
    "and_leaves",
    "lookup",
    "matches",
    "parse_filter",
]

#: Attributes compared case-sensitively (RFC 7643 ``caseExact: true``); every other
#: string attribute compares case-insensitively.
CASE_EXACT_ATTRIBUTES = frozenset(
    {"id", "externalid", "members.value", "groups.value", "manager.value", "$ref", "value"}
)

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
_CORE_URNS = frozenset({CORE_USER.lower(), CORE_GROUP.lower()})


class _RFCLexer(SCIMLexer):  # type: ignore[misc]
    """The stock lexer with its string token corrected to the JSON string grammar.

    scim2-filter-parser 0.7 reads a value as ``"[^"]*"``, so a correctly escaped value
    such as ``userName eq "a\\"b"`` (RFC 7644 §3.4.2.2 values are JSON strings) would not
    parse. Only the string token changes; parsing stays the library's.
    """

    tokens = SCIMLexer.tokens

    @_(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"')  # type: ignore[name-defined,untyped-decorator]  # noqa: F821
    def COMP_VALUE(self, t: Any) -> Any:
        t.value = json.loads(t.value)
        return t


class FilterSyntaxError(ValueError):
    """The filter text could not be parsed (maps to 400 ``invalidFilter``)."""


def parse_filter(text: str) -> Any:
    """Parse *text* with ``scim2_filter_parser`` and return its AST root (a ``Filter`` node).

    Raises:
        FilterSyntaxError: the text is not a valid SCIM filter.
    """
    if not text or not text.strip():
        raise FilterSyntaxError("empty filter")
    try:
        tree = SCIMParser().parse(_RFCLexer().tokenize(text))
    except Exception as exc:  # the library raises ValueError, its own error, or sly errors
        raise FilterSyntaxError(f"invalid filter {text!r}: {exc}") from None
    if tree is None:
        raise FilterSyntaxError(f"invalid filter {text!r}")
    return tree


def _get_ci(obj: Mapping[str, Any], name: str) -> Any:
    if name in obj:
        return obj[name]
    low = name.lower()
    for key, value in obj.items():
        if key.lower() == low:
            return value
    return None


def lookup(
    resource: Mapping[str, Any], attr_name: str, sub_attr: str | None, uri: str | None
) -> list[Any]:
    """Return the flat list of values an attribute path designates in *resource*.

    Multi-valued attributes contribute every element (or every element's sub-attribute);
    a complex multi-valued attribute named without a sub-attribute contributes each
    element's ``value`` (so ``members eq "u"`` works as AWS documents it).
    """
    container: Any = resource
    if uri is not None and uri.lower() not in _CORE_URNS:
        container = _get_ci(resource, uri)
        if not isinstance(container, Mapping):
            return []
    value = _get_ci(container, attr_name)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[Any] = []
    for item in items:
        if isinstance(item, Mapping):
            if sub_attr is not None:
                sub = _get_ci(item, sub_attr)
                if sub is not None:
                    out.append(sub)
            elif isinstance(value, list):
                sub = _get_ci(item, "value")
                if sub is not None:
                    out.append(sub)
            else:
                out.append(item)
        elif sub_attr is None:
            out.append(item)
    return out


def _path_key(attr_path: Any) -> str:
    name = str(attr_path.attr_name)
    if attr_path.sub_attr is not None:
        name += "." + str(attr_path.sub_attr.value)
    return name.lower()


def _compare(actual: Any, op: str, raw: str | None, case_exact: bool) -> bool:
    if op == "pr":
        return actual not in (None, "", [], {})
    if raw is None:
        return False
    if isinstance(actual, bool):
        if raw.lower() not in ("true", "false"):
            return False
        expected_b = raw.lower() == "true"
        if op == "eq":
            return actual is expected_b
        if op == "ne":
            return actual is not expected_b
        return False
    if isinstance(actual, (int, float)):
        try:
            num = float(raw)
        except ValueError:
            return op == "ne"
        return {
            "eq": actual == num,
            "ne": actual != num,
            "gt": actual > num,
            "ge": actual >= num,
            "lt": actual < num,
            "le": actual <= num,
        }.get(op, False)
    if not isinstance(actual, str):
        return op == "ne"
    a, b = (actual, raw) if case_exact else (actual.lower(), raw.lower())
    if op == "eq":
        return a == b
    if op == "ne":
        return a != b
    if op == "co":
        return b in a
    if op == "sw":
        return a.startswith(b)
    if op == "ew":
        return a.endswith(b)
    if op == "gt":
        return a > b
    if op == "ge":
        return a >= b
    if op == "lt":
        return a < b
    if op == "le":
        return a <= b
    return False


def _eval_attr_expr(node: Any, resource: Mapping[str, Any]) -> bool:
    op = str(node.value).lower()
    path = node.attr_path
    if isinstance(path.attr_name, fast.Filter):
        # 'members[value eq "x"] eq ""' style; treat as the value-path filter itself.
        return _eval(path.attr_name, resource)
    sub = path.sub_attr.value if path.sub_attr is not None else None
    values = lookup(resource, str(path.attr_name), sub, path.uri)
    raw = None if node.comp_value is None else str(node.comp_value.value)
    key = _path_key(path)
    case_exact = key in CASE_EXACT_ATTRIBUTES or (sub is not None and sub.lower() == "$ref")
    if op == "pr":
        return any(_compare(v, "pr", None, case_exact) for v in values)
    if op == "ne":
        # RFC: "ne" matches when no value equals the operand.
        return not any(_compare(v, "eq", raw, case_exact) for v in values)
    return any(_compare(v, op, raw, case_exact) for v in values)


def _eval(node: Any, resource: Mapping[str, Any]) -> bool:
    if isinstance(node, fast.Filter):
        if node.namespace is not None:
            ns = node.namespace
            sub = ns.sub_attr.value if ns.sub_attr is not None else None
            container: Any = resource
            if ns.uri is not None and str(ns.uri).lower() not in _CORE_URNS:
                container = _get_ci(resource, str(ns.uri))
                if not isinstance(container, Mapping):
                    return False
            items = _get_ci(container, str(ns.attr_name))
            if items is None:
                return False
            if not isinstance(items, list):
                items = [items]
            del sub  # the sub-attribute only matters for PATCH targets
            result = any(isinstance(it, Mapping) and _eval(node.expr, it) for it in items)
        else:
            result = _eval(node.expr, resource)
        return (not result) if node.negated else result
    if isinstance(node, fast.LogExpr):
        if str(node.op).lower() == "and":
            return _eval(node.expr1, resource) and _eval(node.expr2, resource)
        return _eval(node.expr1, resource) or _eval(node.expr2, resource)
    if isinstance(node, fast.AttrExpr):
        return _eval_attr_expr(node, resource)
    raise FilterSyntaxError(f"unsupported filter node {type(node).__name__}")


def matches(tree: Any, resource: Mapping[str, Any]) -> bool:
    """Whether *resource* (a wire dict) matches the parsed filter *tree*."""
    return _eval(tree, resource)


class Leaf:
    """One ``attr op value`` comparison of a filter, for shape checks."""

    __slots__ = ("attr", "op", "uri", "value")

    def __init__(self, attr: str, op: str, value: str | None, uri: str | None) -> None:
        self.attr = attr
        self.op = op
        self.value = value
        self.uri = uri

    def __repr__(self) -> str:
        return f"Leaf({self.attr!r}, {self.op!r}, {self.value!r})"


def and_leaves(tree: Any) -> list[Leaf] | None:
    """Flatten a filter made only of comparisons joined by ``and``.

    Returns ``None`` if the filter uses ``or``, ``not``, grouping of another kind or a
    value path (``emails[...]``), which AWS does not support.
    """
    out: list[Leaf] = []

    def walk(node: Any) -> bool:
        if isinstance(node, fast.Filter):
            if node.negated or node.namespace is not None:
                return False
            return walk(node.expr)
        if isinstance(node, fast.LogExpr):
            if str(node.op).lower() != "and":
                return False
            return walk(node.expr1) and walk(node.expr2)
        if isinstance(node, fast.AttrExpr):
            path = node.attr_path
            if not isinstance(path.attr_name, str):
                return False
            name = path.attr_name
            if path.sub_attr is not None:
                name += "." + str(path.sub_attr.value)
            raw = None if node.comp_value is None else str(node.comp_value.value)
            out.append(Leaf(name, str(node.value).lower(), raw, path.uri))
            return True
        return False

    return out if walk(tree) else None
