"""InMemoryStore: the reference :class:`~scimsync.StateStore`, kept in dictionaries.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import datetime as _dt
import itertools
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator

import attrs

from scimsync import Link, OutboxItem, Outcome, PendingAction, ReportRecord, RunRecord
from scimsync._store._common import (
    ERROR_MAX,
    check_finish_status,
    check_kind,
    check_limit,
    check_pending_move,
    check_string,
    check_target,
    outcome_values,
)
from scimsync._store._records import as_utc, utcnow
from scimsync.errors import LinkConflictError

__all__ = ["InMemoryStore"]


class InMemoryStore:
    """A thread-safe :class:`~scimsync.StateStore` in memory: for tests and examples.

    It is the reference implementation of the store contract: simple enough to read in one
    sitting, and it passes the same contract suite as :class:`~scimsync.SQLiteStore`.
    Nothing survives the process.

    Args:
        clock: returns "now" as an aware datetime (tests pass a fake clock).

    .. versionadded:: 0.1.0
    """

    __test__ = False  # not a pytest test class

    def __init__(self, *, clock: Callable[[], _dt.datetime] | None = None) -> None:
        self._clock = clock or utcnow
        self._lock = threading.RLock()
        self._links: dict[tuple[str, str, str], Link] = {}
        self._by_remote: dict[tuple[str, str, str], str] = {}
        self._outbox: dict[int, OutboxItem] = {}
        self._outbox_ids: dict[tuple[str, str, str | None], int] = {}
        self._reports: list[ReportRecord] = []
        self._runs: dict[str, RunRecord] = {}
        self._pending: dict[int, PendingAction] = {}
        self._ids = itertools.count(1)
        self._report_ids = itertools.count(1)
        self._pending_ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"InMemoryStore(links={len(self._links)}, outbox={len(self._outbox)})"

    def _now(self) -> _dt.datetime:
        return as_utc(self._clock())

    def close(self) -> None:
        """Nothing to release."""

    # --- links -----------------------------------------------------------------------

    def get_link(self, target: str, kind: str, key: str) -> Link | None:
        """See :meth:`scimsync.StateStore.get_link`."""
        with self._lock:
            return self._links.get((target, kind, key))

    def get_links(self, target: str, kind: str, keys: Iterable[str]) -> dict[str, Link]:
        """See :meth:`scimsync.StateStore.get_links`."""
        with self._lock:
            found = ((k, self._links.get((target, kind, k))) for k in keys)
            return {k: link for k, link in found if link is not None}

    def get_link_by_remote(self, target: str, kind: str, remote_id: str) -> Link | None:
        """See :meth:`scimsync.StateStore.get_link_by_remote`."""
        with self._lock:
            key = self._by_remote.get((target, kind, remote_id))
            return None if key is None else self._links[(target, kind, key)]

    def _check_link(self, link: Link) -> None:
        if not isinstance(link, Link):
            raise TypeError(f"save_link expects a Link, got {type(link).__name__}")
        holder = self._by_remote.get((link.target, link.kind, link.remote_id))
        if holder is not None and holder != link.key:
            raise LinkConflictError(link.target, link.kind, link.key, link.remote_id, holder)

    def _put_link(self, link: Link) -> None:
        old = self._links.get((link.target, link.kind, link.key))
        if old is not None:
            self._by_remote.pop((old.target, old.kind, old.remote_id), None)
        self._links[(link.target, link.kind, link.key)] = link
        self._by_remote[(link.target, link.kind, link.remote_id)] = link.key

    def save_link(self, link: Link) -> None:
        """See :meth:`scimsync.StateStore.save_link`."""
        with self._lock:
            self._check_link(link)
            self._put_link(link)

    def save_links(self, links: Iterable[Link]) -> int:
        """See :meth:`scimsync.StateStore.save_links`."""
        with self._lock:
            saved_links, saved_remote = dict(self._links), dict(self._by_remote)
            count = 0
            try:
                for link in links:
                    self._check_link(link)
                    self._put_link(link)
                    count += 1
            except BaseException:
                self._links, self._by_remote = saved_links, saved_remote
                raise
            return count

    def delete_link(self, target: str, kind: str, key: str) -> bool:
        """See :meth:`scimsync.StateStore.delete_link`."""
        with self._lock:
            link = self._links.pop((target, kind, key), None)
            if link is None:
                return False
            self._by_remote.pop((target, kind, link.remote_id), None)
            return True

    def iter_links(self, target: str, kind: str | None = None) -> Iterator[Link]:
        """See :meth:`scimsync.StateStore.iter_links` (a snapshot taken at the first call)."""
        if kind is not None:
            check_kind(kind)
        with self._lock:
            found = sorted(
                (k, v)
                for k, v in self._links.items()
                if k[0] == target and (kind is None or k[1] == kind)
            )
        return iter([v for _, v in found])

    def count_links(self, target: str, kind: str | None = None) -> int:
        """See :meth:`scimsync.StateStore.count_links`."""
        with self._lock:
            return sum(1 for k in self._links if k[0] == target and (kind is None or k[1] == kind))

    # --- outbox ----------------------------------------------------------------------

    def enqueue(self, kind: str, key: str, target: str | None = None) -> None:
        """See :meth:`scimsync.StateStore.enqueue`."""
        check_kind(kind)
        check_string(key, "key")
        target = check_target(target)
        now = self._now()
        with self._lock:
            row_id = self._outbox_ids.get((kind, key, target))
            if row_id is None:
                row_id = next(self._ids)
                self._outbox_ids[(kind, key, target)] = row_id
                self._outbox[row_id] = OutboxItem(
                    id=row_id,
                    kind=kind,
                    key=key,
                    target=target,
                    seq=1,
                    attempts=0,
                    status="pending",
                    enqueued_at=now,
                    next_attempt_at=now,
                )
                return
            row = self._outbox[row_id]
            self._outbox[row_id] = attrs.evolve(
                row,
                seq=row.seq + 1,
                next_attempt_at=now,
                attempts=0 if row.status == "dead" else row.attempts,
                status="pending",
            )

    def claim(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxItem]:
        """See :meth:`scimsync.StateStore.claim`."""
        check_string(owner, "owner")
        check_limit(limit, lease_seconds)
        now = self._now()
        until = now + _dt.timedelta(seconds=lease_seconds)
        with self._lock:
            busy = {
                (r.kind, r.key)
                for r in self._outbox.values()
                if r.lease_until is not None and r.lease_until > now
            }
            due = sorted(
                (
                    r
                    for r in self._outbox.values()
                    if r.status == "pending"
                    and r.next_attempt_at <= now
                    and (r.lease_until is None or r.lease_until <= now)
                ),
                key=lambda r: (r.next_attempt_at, r.id),
            )
            claimed: list[OutboxItem] = []
            for row in due:
                if (row.kind, row.key) in busy:
                    continue
                busy.add((row.kind, row.key))
                taken = attrs.evolve(
                    row, lease_owner=owner, lease_until=until, attempts=row.attempts + 1
                )
                self._outbox[row.id] = taken
                claimed.append(taken)
                if len(claimed) >= limit:
                    break
            return claimed

    def _held(self, item: OutboxItem) -> OutboxItem | None:
        row = self._outbox.get(item.id)
        if row is None or row.lease_owner != item.lease_owner or row.attempts != item.attempts:
            return None
        return row

    def _remove(self, row: OutboxItem) -> None:
        del self._outbox[row.id]
        del self._outbox_ids[(row.kind, row.key, row.target)]

    def complete(self, item: OutboxItem) -> bool:
        """See :meth:`scimsync.StateStore.complete`."""
        with self._lock:
            row = self._outbox.get(item.id)
            if row is not None and row.seq == item.seq:
                self._remove(row)
                return True
            held = self._held(item)
            if held is not None:
                self._outbox[held.id] = attrs.evolve(
                    held, lease_owner=None, lease_until=None, attempts=0, last_error=None
                )
            return False

    def fail(self, item: OutboxItem, error: str, retry_at: _dt.datetime | None) -> bool:
        """See :meth:`scimsync.StateStore.fail`."""
        now = self._now()
        with self._lock:
            row = self._held(item)
            if row is None:
                return False
            if row.seq != item.seq:
                status, due = "pending", now
            elif retry_at is None:
                status, due = "dead", now
            else:
                status, due = "pending", as_utc(retry_at)
            self._outbox[row.id] = attrs.evolve(
                row,
                status=status,
                next_attempt_at=due,
                last_error=str(error)[:ERROR_MAX],
                lease_owner=None,
                lease_until=None,
            )
            return True

    def release(self, item: OutboxItem) -> bool:
        """See :meth:`scimsync.StateStore.release`."""
        with self._lock:
            row = self._held(item)
            if row is None:
                return False
            self._outbox[row.id] = attrs.evolve(
                row, lease_owner=None, lease_until=None, attempts=max(row.attempts - 1, 0)
            )
            return True

    def outbox(self, status: str | None = None, limit: int | None = None) -> list[OutboxItem]:
        """See :meth:`scimsync.StateStore.outbox`."""
        if status is not None and status not in ("pending", "dead"):
            raise ValueError(f"outbox status must be 'pending' or 'dead', got {status!r}")
        with self._lock:
            rows = [
                r for _, r in sorted(self._outbox.items()) if status is None or r.status == status
            ]
        return rows if limit is None else rows[: int(limit)]

    def outbox_counts(self) -> dict[str, int]:
        """See :meth:`scimsync.StateStore.outbox_counts`."""
        now = self._now()
        counts = {"pending": 0, "dead": 0, "leased": 0, "due": 0}
        with self._lock:
            for r in self._outbox.values():
                counts[r.status] += 1
                if r.status != "pending":
                    continue
                leased = r.lease_until is not None and r.lease_until > now
                if leased:
                    counts["leased"] += 1
                elif r.next_attempt_at <= now:
                    counts["due"] += 1
        return counts

    def replay(self, ids: Iterable[int] | None = None) -> int:
        """See :meth:`scimsync.StateStore.replay`."""
        now = self._now()
        with self._lock:
            wanted = None if ids is None else {int(i) for i in ids}
            count = 0
            for row_id, row in list(self._outbox.items()):
                if row.status != "dead" or (wanted is not None and row_id not in wanted):
                    continue
                self._outbox[row_id] = attrs.evolve(
                    row,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    lease_owner=None,
                    lease_until=None,
                )
                count += 1
            return count

    def discard(self, ids: Iterable[int]) -> int:
        """See :meth:`scimsync.StateStore.discard`."""
        with self._lock:
            count = 0
            for row_id in {int(i) for i in ids}:
                row = self._outbox.get(row_id)
                if row is not None and row.status == "dead":
                    self._remove(row)
                    count += 1
            return count

    # --- reports ---------------------------------------------------------------------

    def add_report(self, record: ReportRecord) -> ReportRecord:
        """See :meth:`scimsync.StateStore.add_report`."""
        with self._lock:
            stored = attrs.evolve(record, id=next(self._report_ids))
            self._reports.append(stored)
            return stored

    def add_reports(self, records: Iterable[ReportRecord]) -> int:
        """See :meth:`scimsync.StateStore.add_reports`."""
        batch = list(records)
        with self._lock:
            for record in batch:
                self._reports.append(attrs.evolve(record, id=next(self._report_ids)))
        return len(batch)

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
        """See :meth:`scimsync.StateStore.query_reports`."""
        values = outcome_values(outcome)
        lo = None if since is None else as_utc(since)
        hi = None if until is None else as_utc(until)

        def keep(r: ReportRecord) -> bool:
            return (
                (target is None or r.target == target)
                and (kind is None or r.kind == kind)
                and (key is None or r.key == key)
                and (run_id is None or r.run_id == run_id)
                and (values is None or r.outcome.value in values)
                and (lo is None or r.time >= lo)
                and (hi is None or r.time < hi)
            )

        with self._lock:
            found = [r for r in self._reports if keep(r)]
        found.sort(key=lambda r: (r.time, r.id or 0), reverse=newest_first)
        end = None if limit is None else int(offset) + int(limit)
        return found[int(offset) : end]

    def prune_reports(self, before: _dt.datetime) -> int:
        """See :meth:`scimsync.StateStore.prune_reports`."""
        cut = as_utc(before)
        with self._lock:
            kept = [r for r in self._reports if r.time >= cut]
            removed = len(self._reports) - len(kept)
            self._reports = kept
            return removed

    # --- runs ------------------------------------------------------------------------

    def start_run(
        self, target: str, mode: str, *, dry_run: bool = False, run_id: str | None = None
    ) -> RunRecord:
        """See :meth:`scimsync.StateStore.start_run`."""
        run = RunRecord(
            id=run_id or uuid.uuid4().hex,
            target=target,
            mode=mode,
            started_at=self._now(),
            dry_run=bool(dry_run),
        )
        with self._lock:
            if run.id in self._runs:
                raise ValueError(f"run {run.id} already exists")
            self._runs[run.id] = run
        return run

    def finish_run(
        self,
        run_id: str,
        status: str,
        counts: dict[str, int] | None = None,
        error: str | None = None,
    ) -> RunRecord:
        """See :meth:`scimsync.StateStore.finish_run`."""
        check_finish_status(run_id, status)
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                raise KeyError(f"no run {run_id!r}")
            run = attrs.evolve(
                run,
                status=status,
                finished_at=self._now(),
                counts=counts if counts is not None else run.counts,
                error=error,
            )
            self._runs[run_id] = run
            return run

    def get_run(self, run_id: str) -> RunRecord | None:
        """See :meth:`scimsync.StateStore.get_run`."""
        with self._lock:
            return self._runs.get(run_id)

    def list_runs(self, target: str | None = None, limit: int | None = 50) -> list[RunRecord]:
        """See :meth:`scimsync.StateStore.list_runs`."""
        with self._lock:
            order = {rid: i for i, rid in enumerate(self._runs)}
            runs = [r for r in self._runs.values() if target is None or r.target == target]
        runs.sort(key=lambda r: (r.started_at, order[r.id]), reverse=True)
        return runs if limit is None else runs[: int(limit)]

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
        """See :meth:`scimsync.StateStore.add_pending`."""
        check_kind(kind)
        check_string(key, "key")
        check_string(action, "action")
        with self._lock:
            for p in self._pending.values():
                if (p.target, p.kind, p.key, p.action, p.status) == (
                    target,
                    kind,
                    key,
                    action,
                    "pending",
                ):
                    return p
            held = PendingAction(
                id=next(self._pending_ids),
                target=target,
                kind=kind,
                key=key,
                remote_id=remote_id,
                action=action,
                reason=reason,
                created_at=self._now(),
            )
            self._pending[held.id] = held
            return held

    def list_pending(
        self, status: str | None = "pending", target: str | None = None
    ) -> list[PendingAction]:
        """See :meth:`scimsync.StateStore.list_pending`."""
        with self._lock:
            return [
                p
                for _, p in sorted(self._pending.items())
                if (status is None or p.status == status) and (target is None or p.target == target)
            ]

    def get_pending(self, pending_id: int) -> PendingAction | None:
        """See :meth:`scimsync.StateStore.get_pending`."""
        with self._lock:
            return self._pending.get(pending_id)

    def set_pending_status(
        self, pending_id: int, status: str, by: str | None = None
    ) -> PendingAction:
        """See :meth:`scimsync.StateStore.set_pending_status`."""
        with self._lock:
            current = self._pending.get(pending_id)
            if current is None:
                raise KeyError(f"no pending action {pending_id!r}")
            check_pending_move(pending_id, current.status, status)
            if status == current.status:
                return current
            decided_at, decided_by = current.decided_at, current.decided_by
            if status in ("approved", "rejected") or decided_at is None:
                decided_at = self._now()
                decided_by = by if by is not None else decided_by
            updated = attrs.evolve(
                current, status=status, decided_at=decided_at, decided_by=decided_by
            )
            self._pending[pending_id] = updated
            return updated
