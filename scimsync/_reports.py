"""Provisioning reports: the :class:`Outcome` enum, queries and CSV/JSON export.

Every object the engine touches gets one :class:`~scimsync.ReportRecord` in the state
store. :class:`Reports` wraps a store with the questions admins ask ("what happened to
user 42?", "what failed since Monday?") and writes records out as CSV or JSON.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum

__all__ = ["Outcome"]


class Outcome(str, enum.Enum):
    """What happened to one object in one operation.

    The values are lowercase strings, so ``Outcome("created")`` and
    ``Outcome.CREATED == "created"`` both work.

    .. versionadded:: 0.1.0
    """

    #: The object did not exist on the target and was created.
    CREATED = "created"
    #: The object existed and was changed (PUT/PATCH, membership changes).
    UPDATED = "updated"
    #: The object was already in step; nothing was sent.
    UNCHANGED = "unchanged"
    #: The object was deactivated (``active: false``).
    DEACTIVATED = "deactivated"
    #: The object was deleted from the target.
    DELETED = "deleted"
    #: An existing remote object was matched and linked (adopted) instead of created.
    ADOPTED = "adopted"
    #: The object was out of scope or the operation was switched off.
    SKIPPED = "skipped"
    #: A destructive action was held for approval (deletion threshold, policy).
    HELD = "held"
    #: The operation failed; ``error`` says why.
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value
