"""DjangoStore: the :class:`scimsync.StateStore` on the host's own database (Django ORM)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Final

import attrs
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    connections,
    transaction,
)
from django.db.models import Case, Count, F, Q, QuerySet, Value, When
from django.db.models.functions import Greatest

from scimsync import Link, OutboxItem, Outcome, PendingAction, ReportRecord, RunRecord
from scimsync.errors import LinkConflictError
from scimsync.storekit import ERROR_MAX as _ERROR_MAX
from scimsync.storekit import PENDING_MOVES as _PENDING_MOVES
from scimsync.storekit import RUN_STATUSES, from_us, to_us
from scimsync.storekit import check_kind as _check_kind
from scimsync.storekit import check_string as _check_string
from scimsync.storekit import chunks as _chunks
from scimsync.storekit import outcome_values as _outcomes

from .models import Link as LinkRow
from .models import OutboxEntry, PendingApproval, ReportEntry, RunEntry

__all__ = ["DjangoStore", "from_us", "to_us"]

UTC = _dt.timezone.utc
_RUN_STATUSES: Final = RUN_STATUSES
_PAGE: Final = 500
#: Databases where :meth:`DjangoStore.enqueue` is one ``INSERT ... ON CONFLICT`` statement
#: (others: an ORM UPDATE, else an INSERT in a savepoint).
_UPSERT_VENDORS: Final = frozenset({"postgresql", "sqlite"})
_ENQUEUE_SQL: Final = (
    "INSERT INTO scimsync_django_outbox "
    "(kind, key, target, seq, attempts, status, enqueued_at, next_attempt_at) "
    "VALUES (%s, %s, %s, 1, 0, 'pending', %s, %s) "
    "ON CONFLICT (kind, key, target) DO UPDATE SET "
    "seq = scimsync_django_outbox.seq + 1, "
    "next_attempt_at = excluded.next_attempt_at, "
    "attempts = CASE WHEN scimsync_django_outbox.status = 'dead' THEN 0 "
    "ELSE scimsync_django_outbox.attempts END, "
    "status = 'pending'"
)
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
#: First key of the PostgreSQL advisory locks that keep one key in flight ("SC").
_LOCK_SPACE: Final = 0x5343


def _opt_us(value: _dt.datetime | None) -> int | None:
    return None if value is None else to_us(value)


def _opt_dt(value: int | None) -> _dt.datetime | None:
    return None if value is None else from_us(value)


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(UTC)


def _key_lock(kind: str, key: str) -> int:
    digest = hashlib.blake2b(f"{kind}\0{key}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _link(row: LinkRow) -> Link:
    return Link(
        target=row.target,
        kind=row.kind,
        key=row.key,
        remote_id=row.remote_id,
        last_rep=row.last_rep,
        last_hash=row.last_hash,
        origin=row.origin,
        state=row.state,
        display=row.display,
        created_at=from_us(row.created_at),
        updated_at=from_us(row.updated_at),
        deactivated_at=_opt_dt(row.deactivated_at),
    )


def _link_fields(link: Link) -> dict[str, Any]:
    return {
        "remote_id": link.remote_id,
        "last_rep": link.last_rep,
        "last_hash": link.last_hash,
        "origin": link.origin,
        "state": link.state,
        "display": link.display,
        "created_at": to_us(link.created_at),
        "updated_at": to_us(link.updated_at),
        "deactivated_at": _opt_us(link.deactivated_at),
    }


def _item(row: OutboxEntry) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        kind=row.kind,
        key=row.key,
        target=row.target or None,
        seq=row.seq,
        attempts=row.attempts,
        status=row.status,
        enqueued_at=from_us(row.enqueued_at),
        next_attempt_at=from_us(row.next_attempt_at),
        last_error=row.last_error,
        lease_owner=row.lease_owner,
        lease_until=_opt_dt(row.lease_until),
    )


def _report(row: ReportEntry) -> ReportRecord:
    return ReportRecord(
        id=row.id,
        time=from_us(row.time),
        run_id=row.run_id,
        target=row.target,
        kind=row.kind,
        key=row.key,
        display=row.display,
        operation=row.operation,
        outcome=Outcome(row.outcome),
        http_status=row.http_status,
        detail=row.detail,
        request_id=row.request_id,
        duration_ms=row.duration_ms,
        error=row.error,
    )


def _report_row(rec: ReportRecord) -> ReportEntry:
    return ReportEntry(
        time=to_us(rec.time),
        run_id=rec.run_id,
        target=rec.target,
        kind=rec.kind,
        key=rec.key,
        display=rec.display,
        operation=rec.operation,
        outcome=Outcome(rec.outcome).value,
        http_status=rec.http_status,
        detail=rec.detail,
        request_id=rec.request_id,
        duration_ms=rec.duration_ms,
        error=rec.error,
    )


def _run(row: RunEntry) -> RunRecord:
    return RunRecord(
        id=row.run_id,
        target=row.target,
        mode=row.mode,
        started_at=from_us(row.started_at),
        finished_at=_opt_dt(row.finished_at),
        status=row.status,
        counts=dict(row.counts or {}),
        dry_run=bool(row.dry_run),
        error=row.error,
    )


def _pending(row: PendingApproval) -> PendingAction:
    return PendingAction(
        id=row.id,
        target=row.target,
        kind=row.kind,
        key=row.key,
        remote_id=row.remote_id,
        action=row.action,
        reason=row.reason,
        created_at=from_us(row.created_at),
        status=row.status,
        decided_at=_opt_dt(row.decided_at),
        decided_by=row.decided_by,
    )


class DjangoStore:
    """A :class:`scimsync.StateStore` in the host's database, through the Django ORM.

    The tables are this app's models (``scimsync_django_*``, created by ``manage.py
    migrate``). :meth:`enqueue` called inside the host's ``transaction.atomic()`` on the
    same database alias joins that transaction: the "needs syncing" row commits, or rolls
    back, with the user's row. The signal handlers of this app rely on it.

    Claims are safe with several worker processes: on PostgreSQL (and other databases
    with ``SKIP LOCKED``) candidate rows are read with ``select_for_update(
    skip_locked=True)`` and a transaction-scoped advisory lock per key keeps one key in
    flight; on SQLite every read-then-write transaction takes the write lock first (like
    ``BEGIN IMMEDIATE``).

    Args:
        using: the database alias (``settings.DATABASES`` key).
        clock: returns "now" as an aware datetime (tests pass a fake clock).
        upsert: write outbox rows with one ``INSERT ... ON CONFLICT`` statement (default
            on PostgreSQL and SQLite); ``False`` uses the portable ORM path (an UPDATE,
            else an INSERT in a savepoint), as on other databases.

    Every method runs on the calling thread's Django connection for ``using``; Django
    opens one per thread. Works with ``USE_TZ`` on or off (times are stored as integer
    microseconds since the epoch, UTC).
    """

    def __init__(
        self,
        using: str = DEFAULT_DB_ALIAS,
        *,
        clock: Callable[[], _dt.datetime] | None = None,
        upsert: bool | None = None,
    ) -> None:
        if not isinstance(using, str) or not using:
            raise ValueError(f"DjangoStore(using=...) must be a database alias, got {using!r}")
        self.using = using
        self._clock = clock or _utcnow
        self._upsert = upsert
        self._closed = False

    def __repr__(self) -> str:
        return f"DjangoStore(using={self.using!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        state = {"_clock": self._clock, "_upsert": self._upsert, "_closed": False}
        return (DjangoStore, (self.using,), state)

    # --- plumbing --------------------------------------------------------------------

    def _now(self) -> _dt.datetime:
        return self._clock()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")

    def _q(self, model: Any) -> QuerySet[Any]:
        self._check_open()
        qs: QuerySet[Any] = model.objects.using(self.using)
        return qs

    @property
    def vendor(self) -> str:
        """The database vendor (``"postgresql"``, ``"sqlite"``, ...)."""
        return str(connections[self.using].vendor)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A transaction (a savepoint inside the host's) that holds the write lock early.

        SQLite starts a deferred transaction as a reader; two readers that both want to
        write then fail with "database is locked" instead of waiting. A write as the
        first statement takes SQLite's write lock at once (waiting in its busy handler),
        as ``BEGIN IMMEDIATE`` would. Other databases lock rows as they go.
        """
        self._check_open()
        with self._queue(), transaction.atomic(using=self.using):
            conn = connections[self.using]
            if conn.vendor == "sqlite":
                with conn.cursor() as cur:
                    cur.execute("UPDATE scimsync_django_outbox SET seq = seq WHERE id = -1")
            yield

    @contextmanager
    def _queue(self) -> Iterator[None]:
        """On SQLite, this process's writers queue on a lock instead of in SQLite's busy
        handler, which sleeps in steps of up to 100 ms (as :class:`scimsync.SQLiteStore`
        does). Only outside the caller's transaction: one that holds SQLite's write lock
        must never wait for a writer that waits for it."""
        conn = connections[self.using]
        if conn.vendor != "sqlite" or conn.in_atomic_block:
            yield
            return
        name = str(conn.settings_dict.get("NAME"))
        with _LOCKS_GUARD:
            lock = _LOCKS.setdefault(name, threading.Lock())
        with lock:
            yield

    def _lock_rows(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        if connections[self.using].features.has_select_for_update:
            return qs.select_for_update()
        return qs

    def close(self) -> None:
        """Mark the store closed. Connections belong to Django (``connection.close()``)."""
        self._closed = True

    # --- links -----------------------------------------------------------------------

    def get_link(self, target: str, kind: str, key: str) -> Link | None:
        """See :meth:`scimsync.StateStore.get_link`."""
        row = self._q(LinkRow).filter(target=target, kind=kind, key=key).first()
        return None if row is None else _link(row)

    def get_links(self, target: str, kind: str, keys: Iterable[str]) -> dict[str, Link]:
        """See :meth:`scimsync.StateStore.get_links`. One query per 500 keys."""
        out: dict[str, Link] = {}
        for chunk in _chunks(dict.fromkeys(keys)):
            for row in self._q(LinkRow).filter(target=target, kind=kind, key__in=chunk):
                out[row.key] = _link(row)
        return out

    def get_link_by_remote(self, target: str, kind: str, remote_id: str) -> Link | None:
        """See :meth:`scimsync.StateStore.get_link_by_remote`."""
        row = self._q(LinkRow).filter(target=target, kind=kind, remote_id=remote_id).first()
        return None if row is None else _link(row)

    def _save_link(self, link: Link) -> None:
        if not isinstance(link, Link):
            raise TypeError(f"save_link expects a Link, got {type(link).__name__}")
        fields = _link_fields(link)
        for attempt in range(3):
            # In the caller's transaction a failed statement needs a savepoint (PostgreSQL
            # aborts the whole transaction otherwise); alone, each statement is atomic.
            conn = connections[self.using]
            guard = transaction.atomic(using=self.using) if conn.in_atomic_block else nullcontext()
            try:
                with guard:
                    done = (
                        self._q(LinkRow)
                        .filter(target=link.target, kind=link.kind, key=link.key)
                        .update(**fields)
                    )
                    if not done:
                        self._q(LinkRow).create(
                            target=link.target, kind=link.kind, key=link.key, **fields
                        )
                return
            except IntegrityError as exc:
                other = (
                    self._q(LinkRow)
                    .filter(target=link.target, kind=link.kind, remote_id=link.remote_id)
                    .exclude(key=link.key)
                    .values_list("key", flat=True)
                    .first()
                )
                if other is not None or attempt == 2:
                    raise LinkConflictError(
                        link.target, link.kind, link.key, link.remote_id, other
                    ) from exc
                # Another thread inserted the same key meanwhile: update it instead.

    def save_link(self, link: Link) -> None:
        """See :meth:`scimsync.StateStore.save_link`."""
        self._save_link(link)

    def save_links(self, links: Iterable[Link]) -> int:
        """See :meth:`scimsync.StateStore.save_links`."""
        count = 0
        self._check_open()
        with transaction.atomic(using=self.using):
            for link in links:
                self._save_link(link)
                count += 1
        return count

    def delete_link(self, target: str, kind: str, key: str) -> bool:
        """See :meth:`scimsync.StateStore.delete_link`."""
        deleted, _ = self._q(LinkRow).filter(target=target, kind=kind, key=key).delete()
        return bool(deleted > 0)

    def iter_links(self, target: str, kind: str | None = None) -> Iterator[Link]:
        """See :meth:`scimsync.StateStore.iter_links` (keyset pages of 500 rows)."""
        if kind is not None:
            _check_kind(kind)
        last: tuple[str, str] | None = None
        while True:
            qs = self._q(LinkRow).filter(target=target)
            if kind is not None:
                qs = qs.filter(kind=kind)
            if last is not None:
                qs = qs.filter(Q(kind__gt=last[0]) | Q(kind=last[0], key__gt=last[1]))
            rows = list(qs.order_by("kind", "key")[:_PAGE])
            for row in rows:
                yield _link(row)
            if len(rows) < _PAGE:
                return
            last = (rows[-1].kind, rows[-1].key)

    def count_links(self, target: str, kind: str | None = None) -> int:
        """See :meth:`scimsync.StateStore.count_links`."""
        qs = self._q(LinkRow).filter(target=target)
        if kind is not None:
            qs = qs.filter(kind=kind)
        return int(qs.count())

    # --- outbox ----------------------------------------------------------------------

    def enqueue(self, kind: str, key: str, target: str | None = None) -> None:
        """See :meth:`scimsync.StateStore.enqueue`.

        Inside the caller's ``transaction.atomic(using=...)`` the row is part of that
        transaction. An UPDATE of the existing row, else an INSERT (in a savepoint; a
        concurrent INSERT of the same key turns into the UPDATE).
        """
        _check_kind(kind)
        _check_string(key, "key")
        if target is not None:
            _check_string(target, "target")
        now = to_us(self._now())
        bump = {
            "seq": F("seq") + 1,
            "next_attempt_at": now,
            "attempts": Case(When(status="dead", then=Value(0)), default=F("attempts")),
            "status": "pending",
        }
        conn = connections[self.using]
        upsert = self._upsert if self._upsert is not None else conn.vendor in _UPSERT_VENDORS
        if upsert:
            # One statement on the caller's connection (so in its transaction): no
            # savepoint, no race between two first enqueues, one round trip.
            with self._queue(), conn.cursor() as cur:
                cur.execute(_ENQUEUE_SQL, [kind, key, target or "", now, now])
            return
        rows = self._q(OutboxEntry).filter(kind=kind, key=key, target=target or "")
        with self._queue():
            if rows.update(**bump):
                return
            try:
                with transaction.atomic(using=self.using):
                    self._q(OutboxEntry).create(
                        kind=kind,
                        key=key,
                        target=target or "",
                        seq=1,
                        attempts=0,
                        status="pending",
                        enqueued_at=now,
                        next_attempt_at=now,
                    )
            except IntegrityError:
                rows.update(**bump)

    def claim(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxItem]:
        """See :meth:`scimsync.StateStore.claim`."""
        _check_string(owner, "owner")
        if limit < 1:
            raise ValueError(f"claim limit must be at least 1, got {limit!r}")
        if lease_seconds < 0:
            raise ValueError(f"claim lease_seconds must be >= 0, got {lease_seconds!r}")
        now_dt = self._now()
        now = to_us(now_dt)
        until = to_us(now_dt + _dt.timedelta(seconds=lease_seconds))
        conn = connections[self.using]
        skip_locked = conn.features.has_select_for_update_skip_locked
        postgres = conn.vendor == "postgresql"
        # A connection the database dropped is closed by the failed transaction's
        # rollback, so a worker's next claim reconnects (tests prove it on PostgreSQL).
        return self._claim(owner, limit, now, until, skip_locked, postgres)

    def _claim(
        self, owner: str, limit: int, now: int, until: int, skip_locked: bool, postgres: bool
    ) -> list[OutboxItem]:
        conn = connections[self.using]
        chosen: list[int] = []
        with self._writing():
            qs = (
                self._q(OutboxEntry)
                .filter(status="pending", next_attempt_at__lte=now)
                .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
                .order_by("next_attempt_at", "id")
            )
            if skip_locked:
                qs = qs.select_for_update(skip_locked=True)
            window = qs.values_list("id", "kind", "key")[: limit * 4 + 16]
            seen: set[tuple[str, str]] = set()
            for row_id, kind, key in window:
                if (kind, key) in seen:
                    continue
                seen.add((kind, key))
                if postgres:
                    with conn.cursor() as cur:
                        cur.execute(
                            "SELECT pg_try_advisory_xact_lock(%s, %s)",
                            [_LOCK_SPACE, _key_lock(kind, key)],
                        )
                        if not cur.fetchone()[0]:
                            continue  # another worker is claiming this key right now
                busy = (
                    self._q(OutboxEntry)
                    .filter(kind=kind, key=key, lease_until__gt=now)
                    .exclude(id=row_id)
                    .exists()
                )
                if busy:
                    continue  # one key in flight, whichever target
                chosen.append(row_id)
                if len(chosen) >= limit:
                    break
            if not chosen:
                return []
            self._q(OutboxEntry).filter(id__in=chosen).update(
                lease_owner=owner, lease_until=until, attempts=F("attempts") + 1
            )
            rows = {r.id: r for r in self._q(OutboxEntry).filter(id__in=chosen)}
        return [_item(rows[i]) for i in chosen if i in rows]

    def _held(self, item: OutboxItem) -> QuerySet[Any]:
        # A claim is identified by (id, owner, attempts): each claim bumps attempts.
        return self._q(OutboxEntry).filter(
            id=item.id, lease_owner=item.lease_owner, attempts=item.attempts
        )

    def complete(self, item: OutboxItem) -> bool:
        """See :meth:`scimsync.StateStore.complete`."""
        with self._writing():
            deleted, _ = self._q(OutboxEntry).filter(id=item.id, seq=item.seq).delete()
            if deleted:
                return True
            self._held(item).update(lease_owner=None, lease_until=None, attempts=0, last_error=None)
        return False

    def fail(self, item: OutboxItem, error: str, retry_at: _dt.datetime | None) -> bool:
        """See :meth:`scimsync.StateStore.fail`."""
        now = to_us(self._now())
        text = str(error)[:_ERROR_MAX]
        with self._writing():
            seq = self._lock_rows(self._held(item)).values_list("seq", flat=True).first()
            if seq is None:
                return False
            if seq != item.seq:  # changed meanwhile: try the newer change now
                status, due = "pending", now
            elif retry_at is None:
                status, due = "dead", now
            else:
                status, due = "pending", to_us(retry_at)
            self._q(OutboxEntry).filter(id=item.id).update(
                status=status,
                next_attempt_at=due,
                last_error=text,
                lease_owner=None,
                lease_until=None,
            )
        return True

    def release(self, item: OutboxItem) -> bool:
        """See :meth:`scimsync.StateStore.release`."""
        done = self._held(item).update(
            lease_owner=None, lease_until=None, attempts=Greatest(F("attempts") - 1, Value(0))
        )
        return bool(done)

    def outbox(self, status: str | None = None, limit: int | None = None) -> list[OutboxItem]:
        """See :meth:`scimsync.StateStore.outbox`."""
        qs = self._q(OutboxEntry)
        if status is not None:
            if status not in ("pending", "dead"):
                raise ValueError(f"outbox status must be 'pending' or 'dead', got {status!r}")
            qs = qs.filter(status=status)
        qs = qs.order_by("id")
        if limit is not None:
            qs = qs[: int(limit)]
        return [_item(r) for r in qs]

    def outbox_counts(self) -> dict[str, int]:
        """See :meth:`scimsync.StateStore.outbox_counts`."""
        now = to_us(self._now())
        free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
        got = self._q(OutboxEntry).aggregate(
            pending=Count("id", filter=Q(status="pending")),
            dead=Count("id", filter=Q(status="dead")),
            leased=Count("id", filter=Q(status="pending", lease_until__gt=now)),
            due=Count("id", filter=Q(status="pending", next_attempt_at__lte=now) & free),
        )
        return {k: int(got[k] or 0) for k in ("pending", "dead", "leased", "due")}

    def replay(self, ids: Iterable[int] | None = None) -> int:
        """See :meth:`scimsync.StateStore.replay`."""
        now = to_us(self._now())
        values = {
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "lease_owner": None,
            "lease_until": None,
        }
        dead = self._q(OutboxEntry).filter(status="dead")
        if ids is None:
            return int(dead.update(**values))
        total = 0
        with transaction.atomic(using=self.using):
            for chunk in _chunks(int(i) for i in ids):
                total += dead.filter(id__in=chunk).update(**values)
        return total

    def discard(self, ids: Iterable[int]) -> int:
        """See :meth:`scimsync.StateStore.discard`."""
        total = 0
        with transaction.atomic(using=self.using):
            for chunk in _chunks(int(i) for i in ids):
                deleted, _ = self._q(OutboxEntry).filter(status="dead", id__in=chunk).delete()
                total += deleted
        return total

    # --- reports ---------------------------------------------------------------------

    def add_report(self, record: ReportRecord) -> ReportRecord:
        """See :meth:`scimsync.StateStore.add_report`."""
        row = _report_row(record)
        row.save(using=self.using, force_insert=True)
        return attrs.evolve(record, id=row.id)

    def add_reports(self, records: Iterable[ReportRecord]) -> int:
        """See :meth:`scimsync.StateStore.add_reports`."""
        count = 0
        self._check_open()
        with transaction.atomic(using=self.using):
            for chunk in _chunks(records):
                self._q(ReportEntry).bulk_create([_report_row(r) for r in chunk])
                count += len(chunk)
        return count

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
        qs = self._q(ReportEntry)
        for column, value in (("target", target), ("kind", kind), ("key", key)):
            if value is not None:
                qs = qs.filter(**{column: value})
        if run_id is not None:
            qs = qs.filter(run_id=run_id)
        values = _outcomes(outcome)
        if values is not None:
            if not values:
                return []
            qs = qs.filter(outcome__in=values)
        if since is not None:
            qs = qs.filter(time__gte=to_us(since))
        if until is not None:
            qs = qs.filter(time__lt=to_us(until))
        qs = qs.order_by("-time", "-id") if newest_first else qs.order_by("time", "id")
        start = int(offset)
        qs = qs[start:] if limit is None else qs[start : start + int(limit)]
        return [_report(r) for r in qs]

    def prune_reports(self, before: _dt.datetime) -> int:
        """See :meth:`scimsync.StateStore.prune_reports`."""
        deleted, _ = self._q(ReportEntry).filter(time__lt=to_us(before)).delete()
        return int(deleted)

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
        try:
            with transaction.atomic(using=self.using):
                self._q(RunEntry).create(
                    run_id=run.id,
                    target=run.target,
                    mode=run.mode,
                    started_at=to_us(run.started_at),
                    status=run.status,
                    counts=dict(run.counts),
                    dry_run=run.dry_run,
                )
        except IntegrityError as exc:
            raise ValueError(f"run {run.id} already exists") from exc
        return run

    def finish_run(
        self,
        run_id: str,
        status: str,
        counts: dict[str, int] | None = None,
        error: str | None = None,
    ) -> RunRecord:
        """See :meth:`scimsync.StateStore.finish_run`."""
        finished = tuple(s for s in _RUN_STATUSES if s != "running")
        if status not in finished:
            raise ValueError(
                f"run {run_id}: finish status must be one of {', '.join(finished)}, got {status!r}"
            )
        with self._writing():
            row = self._lock_rows(self._q(RunEntry).filter(run_id=run_id)).first()
            if row is None:
                raise KeyError(f"no run {run_id!r}")
            current = _run(row)
            run = attrs.evolve(
                current,
                status=status,
                finished_at=self._now(),
                counts=dict(counts) if counts is not None else current.counts,
                error=error,
            )
            self._q(RunEntry).filter(id=row.id).update(
                status=run.status,
                finished_at=_opt_us(run.finished_at),
                counts=run.counts,
                error=error,
            )
        return run

    def get_run(self, run_id: str) -> RunRecord | None:
        """See :meth:`scimsync.StateStore.get_run`."""
        row = self._q(RunEntry).filter(run_id=run_id).first()
        return None if row is None else _run(row)

    def list_runs(self, target: str | None = None, limit: int | None = 50) -> list[RunRecord]:
        """See :meth:`scimsync.StateStore.list_runs`."""
        qs = self._q(RunEntry)
        if target is not None:
            qs = qs.filter(target=target)
        qs = qs.order_by("-started_at", "-id")
        if limit is not None:
            qs = qs[: int(limit)]
        return [_run(r) for r in qs]

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
        _check_kind(kind)
        _check_string(key, "key")
        _check_string(action, "action")
        same = {"target": target, "kind": kind, "key": key, "action": action}
        for _attempt in range(3):
            with self._writing():
                row = self._q(PendingApproval).filter(status="pending", **same).first()
                if row is not None:
                    return _pending(row)
                try:
                    with transaction.atomic(using=self.using):
                        row = self._q(PendingApproval).create(
                            remote_id=remote_id,
                            reason=reason,
                            created_at=to_us(self._now()),
                            status="pending",
                            **same,
                        )
                except IntegrityError:
                    continue  # held by another process meanwhile: read it
                return _pending(row)
        raise RuntimeError(f"could not hold {action} {kind} {key} on {target}")  # pragma: no cover

    def list_pending(
        self, status: str | None = "pending", target: str | None = None
    ) -> list[PendingAction]:
        """See :meth:`scimsync.StateStore.list_pending`."""
        qs = self._q(PendingApproval)
        if status is not None:
            qs = qs.filter(status=status)
        if target is not None:
            qs = qs.filter(target=target)
        return [_pending(r) for r in qs.order_by("id")]

    def get_pending(self, pending_id: int) -> PendingAction | None:
        """See :meth:`scimsync.StateStore.get_pending`."""
        row = self._q(PendingApproval).filter(id=pending_id).first()
        return None if row is None else _pending(row)

    def set_pending_status(
        self, pending_id: int, status: str, by: str | None = None
    ) -> PendingAction:
        """See :meth:`scimsync.StateStore.set_pending_status`."""
        with self._writing():
            row = self._lock_rows(self._q(PendingApproval).filter(id=pending_id)).first()
            if row is None:
                raise KeyError(f"no pending action {pending_id!r}")
            current = _pending(row)
            if status not in _PENDING_MOVES:
                raise ValueError(
                    f"pending action {pending_id}: status must be one of "
                    f"{', '.join(_PENDING_MOVES)}, got {status!r}"
                )
            if status == current.status:
                return current
            if status not in _PENDING_MOVES[current.status]:
                raise ValueError(
                    f"pending action {pending_id}: cannot move from {current.status} to {status}"
                )
            decided_at, decided_by = current.decided_at, current.decided_by
            if status in ("approved", "rejected") or decided_at is None:
                decided_at = self._now()
                decided_by = by if by is not None else decided_by
            updated = attrs.evolve(
                current, status=status, decided_at=decided_at, decided_by=decided_by
            )
            self._q(PendingApproval).filter(id=pending_id).update(
                status=status, decided_at=_opt_us(decided_at), decided_by=decided_by
            )
        return updated
