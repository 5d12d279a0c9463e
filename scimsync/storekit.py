"""Building blocks for :class:`~scimsync.StateStore` implementations.

The stores of the framework adapters (``scimsync_sqlalchemy``, ``scimsync_django``) and
:class:`~scimsync.SQLiteStore` share these, so every store validates its arguments, words
its errors and moves pending actions the same way; a store of your own can use them too,
and proves itself with :mod:`scimsync.testing.store_contract`.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from scimsync._store._common import (
    ERROR_MAX,
    FINISHED_RUN_STATUSES,
    PENDING_MOVES,
    check_finish_status,
    check_kind,
    check_limit,
    check_pending_move,
    check_string,
    check_target,
    from_us,
    outcome_values,
    to_us,
)
from scimsync._store._records import KINDS, PENDING_STATUSES, RUN_STATUSES

__all__ = [
    "ERROR_MAX",
    "FINISHED_RUN_STATUSES",
    "KINDS",
    "PENDING_MOVES",
    "PENDING_STATUSES",
    "RUN_STATUSES",
    "check_finish_status",
    "check_kind",
    "check_limit",
    "check_pending_move",
    "check_string",
    "check_target",
    "chunks",
    "from_us",
    "outcome_values",
    "to_us",
]

T = TypeVar("T")


def chunks(values: Iterable[T], size: int = 500) -> Iterator[list[T]]:
    """``values`` in lists of at most ``size`` (for ``IN (...)`` lists and bulk inserts)."""
    if size < 1:
        raise ValueError(f"chunks: size must be at least 1, got {size!r}")
    chunk: list[T] = []
    for value in values:
        chunk.append(value)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
