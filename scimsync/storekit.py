"""Building blocks for :class:`~scimsync.StateStore` implementations.

The stores of the framework adapters (``scimsync_sqlalchemy``, ``scimsync_django``) and
:class:`~scimsync.SQLiteStore` share these, so every store validates its arguments, words
its errors and moves pending actions the same way; a store of your own can use them too,
and proves itself with :mod:`scimsync.testing.store_contract`.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

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
    chunks,
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
