"""The state store: links, the outbox, reports, runs and pending approvals.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from scimsync._store._protocol import StateStore
from scimsync._store._records import (
    Link,
    OutboxItem,
    PendingAction,
    ReportRecord,
    RunRecord,
    as_utc,
    utcnow,
)
from scimsync._store._sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "Link",
    "OutboxItem",
    "PendingAction",
    "ReportRecord",
    "RunRecord",
    "SQLiteStore",
    "StateStore",
    "as_utc",
    "utcnow",
]
