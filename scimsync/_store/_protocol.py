"""The :class:`StateStore` protocol: what the engine, the dispatcher and reports need."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from scimsync._reports import Outcome
from scimsync._store._records import (
    Link,
    OutboxItem,
    PendingAction,
    ReportRecord,
    RunRecord,
)

__all__ = ["StateStore"]


@runtime_checkable
class StateStore(Protocol):
    """Where scimsync keeps links, the outbox, reports, runs and pending approvals.

    :class:`~scimsync.SQLiteStore` is the embedded default and
    :class:`scimsync.testing.InMemoryStore` the reference implementation; the adapters
    ship stores on the host's database. Every implementation passes the contract suite in
    :mod:`scimsync.testing.store_contract`. All methods are safe to call from several
    threads at once; datetimes are timezone-aware UTC. See ``docs/store.md``.

    .. versionadded:: 0.1.0
    """

    # --- links -----------------------------------------------------------------------

    def get_link(self, target: str, kind: str, key: str) -> Link | None:
        """The link for a local key, or ``None``."""
        ...

    def get_links(self, target: str, kind: str, keys: Iterable[str]) -> dict[str, Link]:
        """The links of many local keys at once: key -> link, for the keys that have one.

        .. versionadded:: 0.1.0
        """
        ...

    def get_link_by_remote(self, target: str, kind: str, remote_id: str) -> Link | None:
        """The link for a remote id, or ``None``."""
        ...

    def save_link(self, link: Link) -> None:
        """Insert or replace the link for ``(target, kind, key)``, exactly as given.

        Raises:
            LinkConflictError: another key on the same target and kind already links
                ``remote_id``.
        """
        ...

    def save_links(self, links: Iterable[Link]) -> int:
        """Save many links in one transaction (all or none); returns how many.

        Raises:
            LinkConflictError: as :meth:`save_link`; nothing is saved.
        """
        ...

    def delete_link(self, target: str, kind: str, key: str) -> bool:
        """Remove a link; ``True`` if there was one."""
        ...

    def iter_links(self, target: str, kind: str | None = None) -> Iterator[Link]:
        """Every link of a target (and kind), ordered by kind then key, streamed in batches."""
        ...

    def count_links(self, target: str, kind: str | None = None) -> int:
        """How many links a target (and kind) has."""
        ...

    # --- outbox ----------------------------------------------------------------------

    def enqueue(self, kind: str, key: str, target: str | None = None) -> None:
        """Record durably that ``key`` needs syncing (to ``target``, or all targets).

        One row per ``(kind, key, target)``: enqueuing an existing row bumps its ``seq``,
        makes it due now and, if it was dead, pending again with ``attempts`` reset.
        """
        ...

    def claim(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxItem]:
        """Lease up to ``limit`` due rows to ``owner`` for ``lease_seconds``.

        Only pending rows that are due and whose lease is free or expired are claimed, and
        never two rows for the same ``(kind, key)`` at once (a key in flight under any
        target is skipped). Each claim increments ``attempts``. ``owner`` should be unique
        per worker (thread or process).
        """
        ...

    def complete(self, item: OutboxItem) -> bool:
        """The sync of ``item`` succeeded: delete its row if its ``seq`` is unchanged.

        If the key was enqueued again meanwhile, the row stays pending (due now, lease
        released, ``attempts`` reset) so the newer change is synced too. Returns ``True``
        when the row was deleted.
        """
        ...

    def fail(self, item: OutboxItem, error: str, retry_at: _dt.datetime | None) -> bool:
        """The sync of ``item`` failed: release it, due at ``retry_at``.

        ``retry_at=None`` makes the row a dead letter (``status="dead"``) unless the key
        was enqueued again meanwhile, in which case it stays pending and due now. Returns
        ``False`` (and changes nothing) if ``item``'s lease was lost to another worker.
        """
        ...

    def release(self, item: OutboxItem) -> bool:
        """Give a claimed row back untried (the claim's attempt is not counted)."""
        ...

    def outbox(self, status: str | None = None, limit: int | None = None) -> list[OutboxItem]:
        """Outbox rows (all, or ``"pending"`` / ``"dead"`` only), oldest first."""
        ...

    def outbox_counts(self) -> dict[str, int]:
        """Counts with keys ``pending``, ``dead``, ``leased`` (pending, lease held) and
        ``due`` (pending, due now, not leased)."""
        ...

    def replay(self, ids: Iterable[int] | None = None) -> int:
        """Make dead rows (all, or those in ``ids``) pending and due now, attempts reset."""
        ...

    def discard(self, ids: Iterable[int]) -> int:
        """Delete dead rows by id (pending rows are left alone); returns how many."""
        ...

    # --- reports ---------------------------------------------------------------------

    def add_report(self, record: ReportRecord) -> ReportRecord:
        """Store one record; returns it with its ``id`` set."""
        ...

    def add_reports(self, records: Iterable[ReportRecord]) -> int:
        """Store many records in one transaction; returns how many."""
        ...

    def query_reports(
        self,
        *,
        target: str | None = None,
        kind: str | None = None,
        key: str | None = None,
        outcome: Outcome | str | Iterable[Outcome | str] | None = None,
        since: _dt.datetime | None = None,
        until: _dt.datetime | None = None,
        run_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[ReportRecord]:
        """Records matching every given filter, ordered by time then id.

        ``since`` is inclusive and ``until`` exclusive; ``outcome`` may be one outcome or
        several.
        """
        ...

    def prune_reports(self, before: _dt.datetime) -> int:
        """Delete records older than ``before``; returns how many."""
        ...

    # --- runs ------------------------------------------------------------------------

    def start_run(
        self, target: str, mode: str, *, dry_run: bool = False, run_id: str | None = None
    ) -> RunRecord:
        """Record that a run started (status ``"running"``) and return it."""
        ...

    def finish_run(
        self,
        run_id: str,
        status: str,
        counts: dict[str, int] | None = None,
        error: str | None = None,
    ) -> RunRecord:
        """Record a run's end; returns the updated record.

        Raises:
            KeyError: no such run.
            ValueError: ``status`` is not a finished status.
        """
        ...

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or ``None``."""
        ...

    def list_runs(self, target: str | None = None, limit: int | None = 50) -> list[RunRecord]:
        """Runs, newest first."""
        ...

    # --- pending approvals -----------------------------------------------------------

    def add_pending(
        self,
        target: str,
        kind: str,
        key: str,
        action: str,
        *,
        remote_id: str | None = None,
        reason: str = "",
    ) -> PendingAction:
        """Hold an action for approval; returns the existing pending one if already held."""
        ...

    def list_pending(
        self, status: str | None = "pending", target: str | None = None
    ) -> list[PendingAction]:
        """Held actions with that status (``None``: any), oldest first."""
        ...

    def get_pending(self, pending_id: int) -> PendingAction | None:
        """One held action, or ``None``."""
        ...

    def set_pending_status(
        self, pending_id: int, status: str, by: str | None = None
    ) -> PendingAction:
        """Move a held action to ``approved``, ``rejected`` or ``applied``.

        Allowed moves: pending → approved / rejected / applied, approved → applied /
        rejected; setting the current status again is a no-op.

        Raises:
            KeyError: no such action.
            ValueError: an unknown status or a move not allowed.
        """
        ...

    # --- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Release connections/resources; the store may not be used afterwards."""
        ...
