"""Filter builder and value quoting (scimsync._filter).

Meaning is checked by parsing the rendered text with scim2_filter_parser (an independent
SCIM filter parser) and comparing the parse tree with what the builder was asked for.

scim2_filter_parser 0.7's lexer reads a string as ``"[^"]*"``: it implements no escapes,
although RFC 7644 §3.4.2.2 says compValue strings follow JSON (RFC 7159), where ``"`` and
``\\`` are written ``\\"`` and ``\\\\``. ``RFCLexer`` below is that lexer with only the
string token corrected to the JSON grammar; the parser itself is unchanged. Values free of
``"``, ``\\`` and control characters are also checked with the stock lexer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser

from scimsync import Filter, quote_filter_value


class JsonStr(str):
    """A decoded string literal (to tell ``"true"`` from the literal ``true``)."""

    __slots__ = ()


class RFCLexer(SCIMLexer):
    tokens = SCIMLexer.tokens

    @_(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"')  # type: ignore[name-defined]  # noqa: F821
    def COMP_VALUE(self, t):
        t.value = JsonStr(json.loads(t.value))
        return t


def _path(p: Any) -> str:
    text = p.attr_name if p.sub_attr is None else f"{p.attr_name}.{p.sub_attr.value}"
    return f"{p.uri}:{text}" if p.uri else text


def _value(v: Any) -> Any:
    raw = v.value
    if isinstance(raw, JsonStr):
        return str(raw)
    return {"true": True, "false": False, "null": None}.get(raw, raw)


def _norm(node: Any) -> Any:
    """Parse tree → nested tuples; and/or chains flattened (both are associative)."""
    if isinstance(node, ast.Filter):
        inner = _norm(node.expr)
        if node.namespace is not None:
            inner = ("has", _path(node.namespace), inner)
        return ("not", inner) if node.negated else inner
    if isinstance(node, ast.LogExpr):
        op = node.op.lower()
        parts: list[Any] = []
        for side in (_norm(node.expr1), _norm(node.expr2)):
            parts.extend(side[1] if side[0] == op else [side])
        return (op, parts)
    if isinstance(node, ast.AttrExpr):
        if node.value.lower() == "pr":
            return ("pr", _path(node.attr_path))
        return (node.value.lower(), _path(node.attr_path), _value(node.comp_value))
    raise AssertionError(f"unexpected node {node!r}")


def parse(text: str, lexer: type[SCIMLexer] = RFCLexer) -> Any:
    tree = SCIMParser().parse(lexer().tokenize(text))
    assert tree is not None, text
    return _norm(tree)


# --------------------------------------------------------------- quote_filter_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bjensen", '"bjensen"'),
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("line\nbreak\ttab\x00nul\x1fus", r'"line\nbreak\ttab\u0000nul\u001fus"'),
        ("Zoë 😀", '"Zoë 😀"'),
        ("", '""'),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (42, "42"),
        (-7, "-7"),
        (1.5, "1.5"),
    ],
)
def test_quote_filter_value(value, expected):
    assert quote_filter_value(value) == expected


def test_quote_filter_value_round_trips_through_json():
    text = 'a"b\\c\n\r\b\f/\u2028é'
    assert json.loads(quote_filter_value(text)) == text


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_quote_filter_value_rejects_non_finite(bad):
    with pytest.raises(ValueError, match="finite"):
        quote_filter_value(bad)


@pytest.mark.parametrize("bad", [["a"], {"a": 1}, b"bytes", object()])
def test_quote_filter_value_rejects_other_types(bad):
    with pytest.raises(TypeError, match="filter value must be"):
        quote_filter_value(bad)


# ------------------------------------------------------------------------- builder


@pytest.mark.parametrize("op", ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"])
def test_comparison_operators(op):
    f = getattr(Filter, op)("userName", "bob")
    assert str(f) == f'userName {op} "bob"'
    assert parse(str(f)) == (op, "userName", "bob")


def test_present():
    assert str(Filter.pr("title")) == "title pr"
    assert parse(str(Filter.pr("title"))) == ("pr", "title")


def test_literals_are_not_strings():
    f = Filter.eq("active", True) & Filter.eq("title", "true") & Filter.eq("nickName", None)
    assert str(f) == 'active eq true and title eq "true" and nickName eq null'
    assert parse(str(f)) == (
        "and",
        [("eq", "active", True), ("eq", "title", "true"), ("eq", "nickName", None)],
    )


def test_urn_and_sub_attribute_paths():
    urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
    f = Filter.eq(urn + "employeeNumber", "701984") & Filter.eq("name.givenName", "Bo")
    assert parse(str(f)) == (
        "and",
        [("eq", urn + "employeeNumber", "701984"), ("eq", "name.givenName", "Bo")],
    )


def test_aws_two_clause_shape():
    f = Filter.eq("id", "g-1") & Filter.eq("members", "u-1")
    assert str(f) == 'id eq "g-1" and members eq "u-1"'


@pytest.mark.parametrize(
    ("build", "text", "tree"),
    [
        (
            lambda a, b, c: (a | b) & c,
            '(a eq "1" or b eq "2") and c eq "3"',
            ("and", [("or", [("eq", "a", "1"), ("eq", "b", "2")]), ("eq", "c", "3")]),
        ),
        (
            lambda a, b, c: a | (b & c),
            'a eq "1" or (b eq "2" and c eq "3")',
            ("or", [("eq", "a", "1"), ("and", [("eq", "b", "2"), ("eq", "c", "3")])]),
        ),
        (
            lambda a, b, c: ~(a & b) | c,
            'not (a eq "1" and b eq "2") or c eq "3"',
            ("or", [("not", ("and", [("eq", "a", "1"), ("eq", "b", "2")])), ("eq", "c", "3")]),
        ),
        (
            lambda a, b, c: a & ~(b | c),
            'a eq "1" and not (b eq "2" or c eq "3")',
            ("and", [("eq", "a", "1"), ("not", ("or", [("eq", "b", "2"), ("eq", "c", "3")]))]),
        ),
        (
            lambda a, b, c: a & (b & c),
            'a eq "1" and b eq "2" and c eq "3"',
            ("and", [("eq", "a", "1"), ("eq", "b", "2"), ("eq", "c", "3")]),
        ),
    ],
)
def test_precedence_and_parentheses(build, text, tree):
    f = build(Filter.eq("a", "1"), Filter.eq("b", "2"), Filter.eq("c", "3"))
    assert str(f) == text
    assert parse(str(f)) == tree


def test_or_inside_and_gets_parentheses():
    f = (Filter.eq("a", "1") | Filter.eq("b", "2")) & Filter.eq("c", "3")
    assert str(f) == '(a eq "1" or b eq "2") and c eq "3"'


def test_value_path():
    f = Filter.has("emails", Filter.eq("type", "work") & Filter.pr("value"))
    assert str(f) == 'emails[type eq "work" and value pr]'
    assert parse(str(f)) == (
        "has",
        "emails",
        ("and", [("eq", "type", "work"), ("pr", "value")]),
    )


def test_value_path_needs_a_filter():
    with pytest.raises(TypeError, match="must be a Filter"):
        Filter.has("emails", 'type eq "work"')  # type: ignore[arg-type]


def test_equality_hash_repr():
    a, b = Filter.eq("userName", "x"), Filter.eq("userName", "x")
    assert a == b
    assert hash(a) == hash(b)
    assert a != Filter.eq("userName", "y")
    assert repr(a) == """Filter('userName eq "x"')"""


def test_combining_with_non_filter_is_a_type_error():
    with pytest.raises(TypeError):
        Filter.eq("a", "1") & 'b eq "2"'  # type: ignore[operator]
    with pytest.raises(TypeError):
        Filter.eq("a", "1") | None  # type: ignore[operator]


# ----------------------------------------------------------------------- injection

INJECTIONS = [
    'x" or userName pr or userName eq "y',
    'bob") or (userName pr',
    '" or ""="',
    "back\\",
    'back\\" or title pr or title eq "',
    "\\u0022 or title pr",
    'a"]or[',
    "new\nline",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_value_cannot_change_the_meaning(value):
    f = Filter.eq("userName", value) & Filter.eq("active", True)
    assert parse(str(f)) == ("and", [("eq", "userName", value), ("eq", "active", True)])


@pytest.mark.parametrize(
    "attr",
    [
        'userName eq "x" or userName',
        "userName pr or title",
        "a b",
        "title)",
        "(title",
        'a"',
        "emails[type",
        "",
        "1abc",
        "a..b",
        "a.b.c",
        "name.",
        "urn:x:",
        "or",
        "NOT",
        "pr",
        "user\nName",
    ],
)
def test_attribute_names_are_validated(attr):
    with pytest.raises(ValueError, match="not a SCIM attribute path"):
        Filter.eq(attr, "x")
    with pytest.raises(ValueError, match="not a SCIM attribute path"):
        Filter.pr(attr)


def test_attribute_must_be_a_string():
    with pytest.raises(TypeError, match="must be a str"):
        Filter.eq(5, "x")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- properties

ATTRS = st.sampled_from(["userName", "externalId", "displayName", "emails.value", "id"])
OPS = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"])


@st.composite
def leaves(draw: Any) -> tuple[Filter, Any]:
    attr, op, value = draw(ATTRS), draw(OPS), draw(st.text(max_size=30))
    return getattr(Filter, op)(attr, value), (op, attr, value)


def _combine(children: Any) -> Any:
    def flat(op: str, x: Any, y: Any) -> Any:
        parts: list[Any] = []
        for side in (x, y):
            parts.extend(side[1] if side[0] == op else [side])
        return (op, parts)

    return st.one_of(
        st.tuples(children, children).map(
            lambda p: (p[0][0] & p[1][0], flat("and", p[0][1], p[1][1]))
        ),
        st.tuples(children, children).map(
            lambda p: (p[0][0] | p[1][0], flat("or", p[0][1], p[1][1]))
        ),
        children.map(lambda c: (~c[0], ("not", c[1]))),
    )


FILTERS = st.recursive(leaves(), _combine, max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(FILTERS)
def test_any_built_filter_parses_to_what_was_built(pair):
    f, expected = pair
    assert parse(str(f)) == expected


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_user_name_parses_back_equal(value):
    assert parse(str(Filter.eq("userName", value))) == ("eq", "userName", value)


PLAIN = st.text(
    alphabet=st.characters(blacklist_characters='"\\', blacklist_categories=["Cc", "Cs"]),
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(PLAIN.filter(lambda v: v not in ("true", "false", "null")))
def test_plain_values_parse_with_the_stock_lexer(value):
    # The stock lexer strips the quotes, so a quoted "true" can no longer be told from the
    # literal true; those three words are left out. Everything else survives unescaped.
    f = Filter.eq("userName", value) & Filter.eq("externalId", value)
    tree = parse(str(f), SCIMLexer)
    assert tree == ("and", [("eq", "userName", value), ("eq", "externalId", value)])
