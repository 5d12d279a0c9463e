"""SCIM filter expressions (RFC 7644 §3.4.2.2) built safely.

Values are quoted as JSON literals, so a ``"`` or ``\\`` in a userName cannot end the
string early; attribute names are checked against the RFC's attribute-path characters,
so an attribute cannot smuggle in operators either.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import json
import math
import re
from typing import Final

__all__ = ["Filter", "FilterValue", "quote_filter_value"]

#: What a comparison value may be: rendered as a JSON string, number, boolean or null.
FilterValue = str | int | float | bool | None

# RFC 7644 §3.4.2.2: attrPath = [URI ":"] ATTRNAME *1subAttr, ATTRNAME = ALPHA *(nameChar)
# (plus "$ref"), nameChar = "-" / "_" / DIGIT / ALPHA. So only letters, digits, ".", "$",
# "_", "-" and ":" (in the URN prefix) can appear, in that shape.
_NAME = r"[A-Za-z$][A-Za-z0-9_$\-]*"
_ATTR_RE: Final = re.compile(
    rf"(?:[A-Za-z][A-Za-z0-9._\-]*(?::[A-Za-z0-9._\-]+)*:)?{_NAME}(?:\.{_NAME})?\Z"
)
# Filter keywords are not attribute names; a server would read them as operators.
_KEYWORDS: Final = frozenset(
    [
        "and",
        "or",
        "not",
        "pr",
        "eq",
        "ne",
        "co",
        "sw",
        "ew",
        "gt",
        "ge",
        "lt",
        "le",
        "true",
        "false",
        "null",
    ]
)

# Expression kinds, for parenthesising: an or-chain, an and-chain, or an atom.
_OR, _AND, _ATOM = 0, 1, 2


def quote_filter_value(value: FilterValue) -> str:
    """Render a comparison value as a SCIM filter literal.

    Strings become JSON strings: ``"`` → ``\\"``, ``\\`` → ``\\\\``, control characters
    escaped (``\\n``, ``\\u0000``...); non-ASCII text is kept as is. ``True``/``False``/
    ``None`` become ``true``/``false``/``null``, numbers become JSON numbers.

    Args:
        value: the value to compare with.

    Returns:
        The literal, ready to put after the operator.

    Raises:
        TypeError: the value is not a str, int, float, bool or None.
        ValueError: the value is a float that JSON cannot represent (NaN, infinity).
    """
    obj: object = value  # callers without type checking may pass anything
    if obj is None or isinstance(obj, (str, bool, int)):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            msg = f"filter value must be a finite number, got {obj!r}"
            raise ValueError(msg)
        return json.dumps(obj)
    msg = f"filter value must be str, int, float, bool or None, got {type(obj).__name__}"
    raise TypeError(msg)


def _check_attr(attr: str) -> str:
    obj: object = attr
    if not isinstance(obj, str):
        msg = f"filter attribute must be a str, got {type(obj).__name__}"
        raise TypeError(msg)
    if not _ATTR_RE.match(obj) or obj.lower() in _KEYWORDS:
        msg = (
            f"filter attribute {obj!r} is not a SCIM attribute path: expected "
            "[urn:...:]name[.subName] with names made of letters, digits, '$', '_', '-'"
        )
        raise ValueError(msg)
    return obj


class Filter:
    """An immutable SCIM filter expression; ``str(f)`` renders it.

    Build with the class methods and combine with ``&`` (and), ``|`` (or) and ``~``
    (not); parentheses are added where precedence needs them::

        >>> f = Filter.eq("userName", 'bob "the" builder') & ~Filter.pr("title")
        >>> str(f)
        'userName eq "bob \\\\"the\\\\" builder" and not (title pr)'

    Args:
        text: an already-rendered filter, trusted as is. Prefer the builders.
    """

    __slots__ = ("_prec", "_text")

    def __init__(self, text: str, *, _prec: int = _OR) -> None:
        self._text = text
        self._prec = _prec

    @classmethod
    def _compare(cls, attr: str, op: str, value: FilterValue) -> Filter:
        return cls(f"{_check_attr(attr)} {op} {quote_filter_value(value)}", _prec=_ATOM)

    @classmethod
    def eq(cls, attr: str, value: FilterValue) -> Filter:
        """``attr eq value``: equal. The only operator AWS supports."""
        return cls._compare(attr, "eq", value)

    @classmethod
    def ne(cls, attr: str, value: FilterValue) -> Filter:
        """``attr ne value``: not equal."""
        return cls._compare(attr, "ne", value)

    @classmethod
    def co(cls, attr: str, value: FilterValue) -> Filter:
        """``attr co value``: contains."""
        return cls._compare(attr, "co", value)

    @classmethod
    def sw(cls, attr: str, value: FilterValue) -> Filter:
        """``attr sw value``: starts with."""
        return cls._compare(attr, "sw", value)

    @classmethod
    def ew(cls, attr: str, value: FilterValue) -> Filter:
        """``attr ew value``: ends with."""
        return cls._compare(attr, "ew", value)

    @classmethod
    def gt(cls, attr: str, value: FilterValue) -> Filter:
        """``attr gt value``: greater than."""
        return cls._compare(attr, "gt", value)

    @classmethod
    def ge(cls, attr: str, value: FilterValue) -> Filter:
        """``attr ge value``: greater than or equal."""
        return cls._compare(attr, "ge", value)

    @classmethod
    def lt(cls, attr: str, value: FilterValue) -> Filter:
        """``attr lt value``: less than."""
        return cls._compare(attr, "lt", value)

    @classmethod
    def le(cls, attr: str, value: FilterValue) -> Filter:
        """``attr le value``: less than or equal."""
        return cls._compare(attr, "le", value)

    @classmethod
    def pr(cls, attr: str) -> Filter:
        """``attr pr``: present (has a non-empty value)."""
        return cls(f"{_check_attr(attr)} pr", _prec=_ATOM)

    @classmethod
    def has(cls, attr: str, condition: Filter) -> Filter:
        """A value path, ``attr[condition]``: some entry of ``attr`` matches.

        Example: ``Filter.has("emails", Filter.eq("type", "work"))`` renders
        ``emails[type eq "work"]``.
        """
        obj: object = condition
        if not isinstance(obj, Filter):
            msg = f"Filter.has() condition must be a Filter, got {type(condition).__name__}"
            raise TypeError(msg)
        return cls(f"{_check_attr(attr)}[{condition._text}]", _prec=_ATOM)

    def _wrap(self, prec: int) -> str:
        # Parenthesise an "or" inside "and" and also an "and" inside "or": RFC 7644 gives
        # "and" the higher precedence, but some servers get it wrong (scim2-filter-parser
        # 0.7 gives both the same), so the text never depends on it.
        return self._text if self._prec in (prec, _ATOM) else f"({self._text})"

    def __and__(self, other: Filter) -> Filter:
        if not isinstance(other, Filter):
            return NotImplemented
        return Filter(f"{self._wrap(_AND)} and {other._wrap(_AND)}", _prec=_AND)

    def __or__(self, other: Filter) -> Filter:
        if not isinstance(other, Filter):
            return NotImplemented
        return Filter(f"{self._wrap(_OR)} or {other._wrap(_OR)}", _prec=_OR)

    def __invert__(self) -> Filter:
        return Filter(f"not ({self._text})", _prec=_ATOM)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Filter({self._text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Filter):
            return NotImplemented
        return self._text == other._text

    def __hash__(self) -> int:
        return hash(self._text)
