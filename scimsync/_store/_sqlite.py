"""SQLiteStore: the embedded default state store (one file, WAL, a connection per thread)."""

# ruff: noqa: S608  -- interpolated SQL pieces are module constants or "?" lists; values are always bound

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import attrs

from scimsync._reports import Outcome
from scimsync._store._common import (
    ERROR_MAX,
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
from scimsync._store._records import (
    Link,
    OutboxItem,
    PendingAction,
    ReportRecord,
    RunRecord,
    utcnow,
)
from scimsync.errors import ConfigurationError, LinkConflictError

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

#: The schema version this code writes; a newer file is refused.
SCHEMA_VERSION: Final = 1

#: Links are streamed from ``iter_links`` in pages of this many rows.
_PAGE: Final = 500

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS scimsync_schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS scimsync_links (
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    last_rep TEXT,
    last_hash TEXT,
    origin TEXT NOT NULL,
    state TEXT NOT NULL,
    display TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deactivated_at INTEGER,
    PRIMARY KEY (target, kind, key),
    UNIQUE (target, kind, remote_id)
);
CREATE TABLE IF NOT EXISTS scimsync_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    seq INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    enqueued_at INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    lease_owner TEXT,
    lease_until INTEGER,
    UNIQUE (kind, key, target)
);
CREATE INDEX IF NOT EXISTS scimsync_outbox_due
    ON scimsync_outbox (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS scimsync_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    run_id TEXT,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    display TEXT,
    operation TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    detail TEXT,
    request_id TEXT,
    duration_ms REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS scimsync_reports_time ON scimsync_reports (time);
CREATE INDEX IF NOT EXISTS scimsync_reports_key ON scimsync_reports (kind, key, time);
CREATE INDEX IF NOT EXISTS scimsync_reports_run ON scimsync_reports (run_id);
CREATE INDEX IF NOT EXISTS scimsync_reports_outcome ON scimsync_reports (outcome, time);
CREATE TABLE IF NOT EXISTS scimsync_runs (
    id TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    mode TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    status TEXT NOT NULL,
    counts TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS scimsync_runs_started ON scimsync_runs (started_at);
CREATE TABLE IF NOT EXISTS scimsync_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    remote_id TEXT,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    decided_at INTEGER,
    decided_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS scimsync_pending_one
    ON scimsync_pending (target, kind, key, action) WHERE status = 'pending';
"""

_ENQUEUE_SQL: Final = (
    "INSERT INTO scimsync_outbox "
    "(kind, key, target, seq, attempts, status, enqueued_at, next_attempt_at) "
    "VALUES ({p}, {p}, {p}, 1, 0, 'pending', {p}, {p}) "
    "ON CONFLICT (kind, key, target) DO UPDATE SET "
    "seq = scimsync_outbox.seq + 1, "
    "next_attempt_at = excluded.next_attempt_at, "
    "attempts = CASE WHEN scimsync_outbox.status = 'dead' THEN 0 "
    "ELSE scimsync_outbox.attempts END, "
    "status = 'pending'"
)

_PLACEHOLDERS: Final = {"qmark": "?", "format": "%s"}

_OUTBOX_COLS: Final = (
    "id, kind, key, target, seq, attempts, status, enqueued_at, next_attempt_at, "
    "last_error, lease_owner, lease_until"
)
_LINK_COLS: Final = (
    "target, kind, key, remote_id, last_rep, last_hash, origin, state, display, "
    "created_at, updated_at, deactivated_at"
)
_SAVE_LINK_SQL: Final = (
    f"INSERT INTO scimsync_links ({_LINK_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (target, kind, key) DO UPDATE SET "
    "remote_id=excluded.remote_id, last_rep=excluded.last_rep, "
    "last_hash=excluded.last_hash, origin=excluded.origin, state=excluded.state, "
    "display=excluded.display, created_at=excluded.created_at, "
    "updated_at=excluded.updated_at, deactivated_at=excluded.deactivated_at"
)
_REPORT_COLS: Final = (
    "id, time, run_id, target, kind, key, display, operation, outcome, http_status, "
    "detail, request_id, duration_ms, error"
)
_RUN_COLS: Final = "id, target, mode, started_at, finished_at, status, counts, dry_run, error"
_PENDING_COLS: Final = (
    "id, target, kind, key, remote_id, action, reason, created_at, status, decided_at, decided_by"
)


class _Connection(sqlite3.Connection):
    """A connection class that can be weakly referenced (so ``close()`` finds them all)."""


def _opt_us(value: _dt.datetime | None) -> int | None:
    return None if value is None else to_us(value)


def _opt_dt(value: int | None) -> _dt.datetime | None:
    return None if value is None else from_us(value)


def _link_row(link: Link) -> tuple[Any, ...]:
    return (
        link.target,
        link.kind,
        link.key,
        link.remote_id,
        None if link.last_rep is None else json.dumps(link.last_rep, separators=(",", ":")),
        link.last_hash,
        link.origin,
        link.state,
        link.display,
        to_us(link.created_at),
        to_us(link.updated_at),
        _opt_us(link.deactivated_at),
    )


def _link(row: Sequence[Any]) -> Link:
    return Link(
        target=row[0],
        kind=row[1],
        key=row[2],
        remote_id=row[3],
        last_rep=None if row[4] is None else json.loads(row[4]),
        last_hash=row[5],
        origin=row[6],
        state=row[7],
        display=row[8],
        created_at=from_us(row[9]),
        updated_at=from_us(row[10]),
        deactivated_at=_opt_dt(row[11]),
    )


def _item(row: Sequence[Any]) -> OutboxItem:
    return OutboxItem(
        id=row[0],
        kind=row[1],
        key=row[2],
        target=row[3] or None,
        seq=row[4],
        attempts=row[5],
        status=row[6],
        enqueued_at=from_us(row[7]),
        next_attempt_at=from_us(row[8]),
        last_error=row[9],
        lease_owner=row[10],
        lease_until=_opt_dt(row[11]),
    )


def _report(row: Sequence[Any]) -> ReportRecord:
    return ReportRecord(
        id=row[0],
        time=from_us(row[1]),
        run_id=row[2],
        target=row[3],
        kind=row[4],
        key=row[5],
        display=row[6],
        operation=row[7],
        outcome=Outcome(row[8]),
        http_status=row[9],
        detail=row[10],
        request_id=row[11],
        duration_ms=row[12],
        error=row[13],
    )


def _report_row(rec: ReportRecord) -> tuple[Any, ...]:
    return (
        to_us(rec.time),
        rec.run_id,
        rec.target,
        rec.kind,
        rec.key,
        rec.display,
        rec.operation,
        rec.outcome.value,
        rec.http_status,
        rec.detail,
        rec.request_id,
        rec.duration_ms,
        rec.error,
    )


def _run(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        id=row[0],
        target=row[1],
        mode=row[2],
        started_at=from_us(row[3]),
        finished_at=_opt_dt(row[4]),
        status=row[5],
        counts=json.loads(row[6]),
        dry_run=bool(row[7]),
        error=row[8],
    )


def _pending(row: Sequence[Any]) -> PendingAction:
    return PendingAction(
        id=row[0],
        target=row[1],
        kind=row[2],
        key=row[3],
        remote_id=row[4],
        action=row[5],
        reason=row[6],
        created_at=from_us(row[7]),
        status=row[8],
        decided_at=_opt_dt(row[9]),
        decided_by=row[10],
    )


class SQLiteStore:
    """The embedded default :class:`~scimsync.StateStore`: one SQLite file.

    The file is opened in WAL mode with a ``busy_timeout``; each thread (and each
    process, after a fork) gets its own connection, and every write that must be atomic
    runs in ``BEGIN IMMEDIATE``. Several threads and several processes may use the same
    file at once. Tables (all prefixed ``scimsync_``) are created on first use, so the
    file may also be the host application's own SQLite database.

    Args:
        path: the database file (created if missing). ``":memory:"`` is refused: use
            :class:`scimsync.testing.InMemoryStore`.
        timeout: seconds a write waits for another writer before failing.
        synchronous: SQLite's ``synchronous`` pragma. ``"NORMAL"`` (default) loses nothing
            when a process crashes; ``"FULL"`` also survives power loss, at an fsync per
            commit.
        clock: returns "now" as an aware datetime (tests pass a fake clock).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 30.0,
        synchronous: str = "NORMAL",
        clock: Callable[[], _dt.datetime] | None = None,
    ) -> None:
        if sqlite3.sqlite_version_info < (3, 24, 0):  # pragma: no cover - old platforms
            raise ConfigurationError(
                f"SQLiteStore needs SQLite 3.24 or newer (upsert); this Python has "
                f"{sqlite3.sqlite_version}"
            )
        text = os.fspath(path)
        if text == ":memory:" or text.startswith("file::memory:") or not text:
            raise ConfigurationError(
                "SQLiteStore needs a file path (each thread opens its own connection, so an "
                "in-memory database would not be shared): use scimsync.testing.InMemoryStore"
            )
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigurationError(
                f"SQLiteStore synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}"
            )
        if timeout <= 0:
            raise ConfigurationError(f"SQLiteStore timeout must be > 0, got {timeout!r}")
        self.path = Path(text)
        self._timeout = float(timeout)
        self._synchronous = synchronous.upper()
        self._clock = clock or utcnow
        self._local = threading.local()
        self._conns: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._abandoned: list[_Connection] = []
        self._schema_lock = threading.Lock()
        # Writers of this process queue here rather than in SQLite's busy handler, which
        # sleeps in steps of up to 100 ms: under threads a blocked BEGIN IMMEDIATE would
        # often wake long after the writer before it committed. Other processes still
        # meet at SQLite's own lock (``busy_timeout``). Rebuilt after a fork.
        self._writer_lock = threading.Lock()
        self._writer_pid = os.getpid()
        self._schema_ready = False
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (multiprocessing spawn, Celery) as its settings; the copy opens its own
        # connections.
        clock = None if self._clock is utcnow else self._clock
        return (
            _rebuild,
            (str(self.path), self._timeout, self._synchronous, clock),
        )

    # --- connections -----------------------------------------------------------------

    def _now(self) -> _dt.datetime:
        return self._clock()

    def _conn(self) -> _Connection:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        local = self._local
        conn: _Connection | None = getattr(local, "conn", None)
        pid = os.getpid()
        if conn is not None and local.pid != pid:
            # Inherited across fork: never use (or close) the parent's connection here.
            self._abandoned.append(conn)
            conn = None
        if conn is None:
            conn = self._open()
            local.conn = conn
            local.pid = pid
            local.depth = 0
            self._conns.add(conn)
            if not self._schema_ready:
                self._ensure_schema(conn)
        return conn

    def _open(self) -> _Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self._timeout,
            isolation_level=None,  # autocommit; transactions are explicit
            check_same_thread=False,  # only its own thread uses it; close() may run anywhere
            factory=_Connection,
        )
        assert isinstance(conn, _Connection)
        conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        # SQLite may answer SQLITE_BUSY here without calling the busy handler (another
        # connection is closing the WAL or recovering it): retry, bounded by the timeout.
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    conn.close()
                    raise
                time.sleep(0.005)
        if str(mode).lower() != "wal":
            conn.close()
            raise ConfigurationError(
                f"SQLiteStore {str(self.path)!r}: could not switch to WAL mode (got {mode!r})"
            )
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _ensure_schema(self, conn: _Connection) -> None:
        with self._schema_lock:
            if self._schema_ready:
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                row = conn.execute("SELECT max(version) FROM scimsync_schema_version").fetchone()
                version = row[0]
                if version is None:
                    conn.execute(
                        "INSERT INTO scimsync_schema_version (version) VALUES (?)",
                        (SCHEMA_VERSION,),
                    )
                elif version > SCHEMA_VERSION:
                    raise ConfigurationError(
                        f"SQLiteStore {str(self.path)!r} has schema version {version}, newer "
                        f"than this scimsync understands ({SCHEMA_VERSION}): upgrade scimsync"
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self._schema_ready = True

    def ensure_schema(self) -> None:
        """Create the tables now (they are otherwise created on first use)."""
        self._conn()

    @contextmanager
    def _write(self) -> Iterator[_Connection]:
        """A ``BEGIN IMMEDIATE`` transaction (nested calls join the outer one)."""
        conn = self._conn()
        local = self._local
        if local.depth:
            local.depth += 1
            try:
                yield conn
            finally:
                local.depth -= 1
            return
        lock = self._writer()
        # Bounded like busy_timeout; past it, SQLite's own wait (and error) take over.
        held = lock.acquire(timeout=self._timeout)
        try:
            conn.execute("BEGIN IMMEDIATE")
            local.depth = 1
            try:
                yield conn
            except BaseException:
                local.depth = 0
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            local.depth = 0
            conn.execute("COMMIT")
        finally:
            if held:
                lock.release()

    def _writer(self) -> threading.Lock:
        """This process's writer lock (a forked child gets a fresh one)."""
        if self._writer_pid != os.getpid():  # forked: the parent's holder is not here
            self._writer_lock = threading.Lock()
            self._writer_pid = os.getpid()
        return self._writer_lock

    def _write_one(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        """One write statement: inside an open :meth:`_write` it joins that transaction;
        alone, SQLite runs it as its own transaction (all or nothing, like ``BEGIN
        IMMEDIATE`` … ``COMMIT`` around it) in one call instead of three."""
        conn = self._conn()
        if self._local.depth:
            return conn.execute(sql, params)
        lock = self._writer()
        held = lock.acquire(timeout=self._timeout)
        try:
            return conn.execute(sql, params)
        finally:
            if held:
                lock.release()

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        self._closed = True
        for conn in list(self._conns):
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover - closing is best effort
                pass
        self._conns = weakref.WeakSet()

    # --- links -----------------------------------------------------------------------

    def get_link(self, target: str, kind: str, key: str) -> Link | None:
        """See :meth:`scimsync.StateStore.get_link`."""
        row = (
            self._conn()
            .execute(
                f"SELECT {_LINK_COLS} FROM scimsync_links WHERE target=? AND kind=? AND key=?",
                (target, kind, key),
            )
            .fetchone()
        )
        return None if row is None else _link(row)

    def get_links(self, target: str, kind: str, keys: Iterable[str]) -> dict[str, Link]:
        """See :meth:`scimsync.StateStore.get_links`. One query per 500 keys."""
        conn = self._conn()
        out: dict[str, Link] = {}
        for chunk in chunks(dict.fromkeys(keys)):
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT {_LINK_COLS} FROM scimsync_links "
                f"WHERE target=? AND kind=? AND key IN ({marks})",
                (target, kind, *chunk),
            ):
                out[row[2]] = _link(row)
        return out

    def get_link_by_remote(self, target: str, kind: str, remote_id: str) -> Link | None:
        """See :meth:`scimsync.StateStore.get_link_by_remote`."""
        row = (
            self._conn()
            .execute(
                f"SELECT {_LINK_COLS} FROM scimsync_links "
                "WHERE target=? AND kind=? AND remote_id=?",
                (target, kind, remote_id),
            )
            .fetchone()
        )
        return None if row is None else _link(row)

    def _save_link(self, link: Link) -> None:
        if not isinstance(link, Link):
            raise TypeError(f"save_link expects a Link, got {type(link).__name__}")
        try:
            self._write_one(_SAVE_LINK_SQL, _link_row(link))
        except sqlite3.IntegrityError as exc:
            other = (
                self._conn()
                .execute(
                    "SELECT key FROM scimsync_links WHERE target=? AND kind=? AND remote_id=?",
                    (link.target, link.kind, link.remote_id),
                )
                .fetchone()
            )
            raise LinkConflictError(
                link.target, link.kind, link.key, link.remote_id, other[0] if other else None
            ) from exc

    def save_link(self, link: Link) -> None:
        """See :meth:`scimsync.StateStore.save_link`."""
        self._save_link(link)

    def save_links(self, links: Iterable[Link]) -> int:
        """See :meth:`scimsync.StateStore.save_links`."""
        count = 0
        with self._write():
            for link in links:
                self._save_link(link)
                count += 1
        return count

    def delete_link(self, target: str, kind: str, key: str) -> bool:
        """See :meth:`scimsync.StateStore.delete_link`."""
        cur = self._write_one(
            "DELETE FROM scimsync_links WHERE target=? AND kind=? AND key=?",
            (target, kind, key),
        )
        return cur.rowcount > 0

    def iter_links(self, target: str, kind: str | None = None) -> Iterator[Link]:
        """See :meth:`scimsync.StateStore.iter_links`.

        Pages of 500 rows are read by key (keyset pagination), so no read transaction is
        held open between pages and the caller may write links while iterating.
        """
        if kind is not None:
            check_kind(kind)
        last_kind, last_key = "", ""
        while True:
            sql = f"SELECT {_LINK_COLS} FROM scimsync_links WHERE target=? AND (kind, key) > (?, ?)"
            params: list[Any] = [target, last_kind, last_key]
            if kind is not None:
                sql += " AND kind=?"
                params.append(kind)
            sql += f" ORDER BY kind, key LIMIT {_PAGE}"
            rows = self._conn().execute(sql, params).fetchall()
            for row in rows:
                yield _link(row)
            if len(rows) < _PAGE:
                return
            last_kind, last_key = rows[-1][1], rows[-1][2]

    def count_links(self, target: str, kind: str | None = None) -> int:
        """See :meth:`scimsync.StateStore.count_links`."""
        if kind is None:
            row = (
                self._conn()
                .execute("SELECT count(*) FROM scimsync_links WHERE target=?", (target,))
                .fetchone()
            )
        else:
            row = (
                self._conn()
                .execute(
                    "SELECT count(*) FROM scimsync_links WHERE target=? AND kind=?",
                    (target, kind),
                )
                .fetchone()
            )
        return int(row[0])

    # --- outbox ----------------------------------------------------------------------

    def enqueue(self, kind: str, key: str, target: str | None = None) -> None:
        """See :meth:`scimsync.StateStore.enqueue`. One ``INSERT … ON CONFLICT`` statement."""
        sql, params = self.enqueue_sql(kind, key, target)
        self._conn().execute(sql, params)

    def enqueue_sql(
        self,
        kind: str,
        key: str,
        target: str | None = None,
        *,
        paramstyle: str = "qmark",
    ) -> tuple[str, tuple[Any, ...]]:
        """The SQL and parameters that :meth:`enqueue` runs, for the host's own transaction.

        Run them on a connection to the same database file, inside the transaction that
        saves the user, and the "needs syncing" row commits (or rolls back) with it.

        Args:
            kind: ``"user"`` or ``"group"``.
            key: the local key.
            target: a target name, or ``None`` for every target.
            paramstyle: ``"qmark"`` (``?``, sqlite3) or ``"format"`` (``%s``).

        Returns:
            ``(sql, params)``.
        """
        check_kind(kind)
        check_string(key, "key")
        target = check_target(target)
        if paramstyle not in _PLACEHOLDERS:
            raise ValueError(f"paramstyle must be 'qmark' or 'format', got {paramstyle!r}")
        now = to_us(self._now())
        sql = _ENQUEUE_SQL.format(p=_PLACEHOLDERS[paramstyle])
        return sql, (kind, key, target or "", now, now)

    def claim(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxItem]:
        """See :meth:`scimsync.StateStore.claim`."""
        check_string(owner, "owner")
        check_limit(limit, lease_seconds)
        now_dt = self._now()
        now = to_us(now_dt)
        until = to_us(now_dt + _dt.timedelta(seconds=lease_seconds))
        with self._write() as conn:
            cur = conn.execute(
                "SELECT id, kind, key FROM scimsync_outbox AS o "
                "WHERE status = 'pending' AND next_attempt_at <= ? "
                "AND (lease_until IS NULL OR lease_until <= ?) "
                "AND NOT EXISTS (SELECT 1 FROM scimsync_outbox AS b WHERE b.kind = o.kind "
                "AND b.key = o.key AND b.id <> o.id AND b.lease_until > ?) "
                "ORDER BY next_attempt_at, id",
                (now, now, now),
            )
            chosen: list[int] = []
            seen: set[tuple[str, str]] = set()
            for row_id, kind, key in cur:
                if (kind, key) in seen:
                    continue
                seen.add((kind, key))
                chosen.append(row_id)
                if len(chosen) >= limit:
                    break
            cur.close()
            if not chosen:
                return []
            marks = ",".join("?" * len(chosen))
            conn.execute(
                "UPDATE scimsync_outbox SET lease_owner = ?, lease_until = ?, "
                f"attempts = attempts + 1 WHERE id IN ({marks})",
                (owner, until, *chosen),
            )
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLS} FROM scimsync_outbox WHERE id IN ({marks})", chosen
            ).fetchall()
        order = {row_id: i for i, row_id in enumerate(chosen)}
        return sorted((_item(r) for r in rows), key=lambda it: order[it.id])

    def _holds(self, item: OutboxItem) -> str:
        # A claim is identified by (id, owner, attempts): each claim bumps attempts.
        return "id = ? AND lease_owner = ? AND attempts = ?"

    def complete(self, item: OutboxItem) -> bool:
        """See :meth:`scimsync.StateStore.complete`."""
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM scimsync_outbox WHERE id = ? AND seq = ?", (item.id, item.seq)
            )
            if cur.rowcount:
                return True
            conn.execute(
                "UPDATE scimsync_outbox SET lease_owner = NULL, lease_until = NULL, "
                f"attempts = 0, last_error = NULL WHERE {self._holds(item)}",
                (item.id, item.lease_owner, item.attempts),
            )
        return False

    def fail(self, item: OutboxItem, error: str, retry_at: _dt.datetime | None) -> bool:
        """See :meth:`scimsync.StateStore.fail`."""
        now = to_us(self._now())
        error = str(error)[:ERROR_MAX]
        with self._write() as conn:
            row = conn.execute(
                f"SELECT seq FROM scimsync_outbox WHERE {self._holds(item)}",
                (item.id, item.lease_owner, item.attempts),
            ).fetchone()
            if row is None:
                return False
            if row[0] != item.seq:  # changed meanwhile: try the newer change now
                status, due = "pending", now
            elif retry_at is None:
                status, due = "dead", now
            else:
                status, due = "pending", to_us(retry_at)
            conn.execute(
                "UPDATE scimsync_outbox SET status = ?, next_attempt_at = ?, last_error = ?, "
                "lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (status, due, error, item.id),
            )
        return True

    def release(self, item: OutboxItem) -> bool:
        """See :meth:`scimsync.StateStore.release`."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE scimsync_outbox SET lease_owner = NULL, lease_until = NULL, "
                f"attempts = max(attempts - 1, 0) WHERE {self._holds(item)}",
                (item.id, item.lease_owner, item.attempts),
            )
            return cur.rowcount > 0

    def outbox(self, status: str | None = None, limit: int | None = None) -> list[OutboxItem]:
        """See :meth:`scimsync.StateStore.outbox`."""
        sql = f"SELECT {_OUTBOX_COLS} FROM scimsync_outbox"
        params: list[Any] = []
        if status is not None:
            if status not in ("pending", "dead"):
                raise ValueError(f"outbox status must be 'pending' or 'dead', got {status!r}")
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [_item(r) for r in self._conn().execute(sql, params).fetchall()]

    def outbox_counts(self) -> dict[str, int]:
        """See :meth:`scimsync.StateStore.outbox_counts`."""
        now = to_us(self._now())
        row = (
            self._conn()
            .execute(
                "SELECT "
                "coalesce(sum(status = 'pending'), 0), "
                "coalesce(sum(status = 'dead'), 0), "
                "coalesce(sum(status = 'pending' AND lease_until > ?), 0), "
                "coalesce(sum(status = 'pending' AND next_attempt_at <= ? "
                "AND (lease_until IS NULL OR lease_until <= ?)), 0) "
                "FROM scimsync_outbox",
                (now, now, now),
            )
            .fetchone()
        )
        return {"pending": row[0], "dead": row[1], "leased": row[2], "due": row[3]}

    def replay(self, ids: Iterable[int] | None = None) -> int:
        """See :meth:`scimsync.StateStore.replay`."""
        now = to_us(self._now())
        sql = (
            "UPDATE scimsync_outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
            "lease_owner = NULL, lease_until = NULL WHERE status = 'dead'"
        )
        with self._write() as conn:
            if ids is None:
                return conn.execute(sql, (now,)).rowcount
            total = 0
            for chunk in chunks(int(i) for i in ids):
                marks = ",".join("?" * len(chunk))
                total += conn.execute(f"{sql} AND id IN ({marks})", (now, *chunk)).rowcount
            return total

    def discard(self, ids: Iterable[int]) -> int:
        """See :meth:`scimsync.StateStore.discard`."""
        total = 0
        with self._write() as conn:
            for chunk in chunks(int(i) for i in ids):
                marks = ",".join("?" * len(chunk))
                total += conn.execute(
                    f"DELETE FROM scimsync_outbox WHERE status = 'dead' AND id IN ({marks})",
                    chunk,
                ).rowcount
        return total

    # --- reports ---------------------------------------------------------------------

    def add_report(self, record: ReportRecord) -> ReportRecord:
        """See :meth:`scimsync.StateStore.add_report`."""
        cur = self._write_one(
            f"INSERT INTO scimsync_reports ({_REPORT_COLS.split(', ', 1)[1]}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _report_row(record),
        )
        return attrs.evolve(record, id=cur.lastrowid)

    def add_reports(self, records: Iterable[ReportRecord]) -> int:
        """See :meth:`scimsync.StateStore.add_reports`."""
        count = 0
        with self._write() as conn:
            for chunk in chunks(records):
                conn.executemany(
                    f"INSERT INTO scimsync_reports ({_REPORT_COLS.split(', ', 1)[1]}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [_report_row(r) for r in chunk],
                )
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
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("target", target), ("kind", kind), ("key", key)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        values = outcome_values(outcome)
        if values is not None:
            if not values:
                return []
            where.append(f"outcome IN ({','.join('?' * len(values))})")
            params.extend(values)
        if since is not None:
            where.append("time >= ?")
            params.append(to_us(since))
        if until is not None:
            where.append("time < ?")
            params.append(to_us(until))
        sql = f"SELECT {_REPORT_COLS} FROM scimsync_reports"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY time DESC, id DESC" if newest_first else " ORDER BY time, id"
        sql += " LIMIT ? OFFSET ?"
        params.extend([-1 if limit is None else int(limit), int(offset)])
        return [_report(r) for r in self._conn().execute(sql, params).fetchall()]

    def prune_reports(self, before: _dt.datetime) -> int:
        """See :meth:`scimsync.StateStore.prune_reports`."""
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM scimsync_reports WHERE time < ?", (to_us(before),)
            ).rowcount

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
        with self._write() as conn:
            try:
                conn.execute(
                    f"INSERT INTO scimsync_runs ({_RUN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run.id,
                        run.target,
                        run.mode,
                        to_us(run.started_at),
                        None,
                        run.status,
                        json.dumps(run.counts),
                        int(run.dry_run),
                        None,
                    ),
                )
            except sqlite3.IntegrityError as exc:
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
        check_finish_status(run_id, status)
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {_RUN_COLS} FROM scimsync_runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id!r}")
            run = attrs.evolve(
                _run(row),
                status=status,
                finished_at=self._now(),
                counts=counts if counts is not None else _run(row).counts,
                error=error,
            )
            conn.execute(
                "UPDATE scimsync_runs SET status = ?, finished_at = ?, counts = ?, error = ? "
                "WHERE id = ?",
                (run.status, _opt_us(run.finished_at), json.dumps(run.counts), error, run_id),
            )
        return run

    def get_run(self, run_id: str) -> RunRecord | None:
        """See :meth:`scimsync.StateStore.get_run`."""
        row = (
            self._conn()
            .execute(f"SELECT {_RUN_COLS} FROM scimsync_runs WHERE id = ?", (run_id,))
            .fetchone()
        )
        return None if row is None else _run(row)

    def list_runs(self, target: str | None = None, limit: int | None = 50) -> list[RunRecord]:
        """See :meth:`scimsync.StateStore.list_runs`."""
        sql = f"SELECT {_RUN_COLS} FROM scimsync_runs"
        params: list[Any] = []
        if target is not None:
            sql += " WHERE target = ?"
            params.append(target)
        sql += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        params.append(-1 if limit is None else int(limit))
        return [_run(r) for r in self._conn().execute(sql, params).fetchall()]

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
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {_PENDING_COLS} FROM scimsync_pending WHERE target = ? AND kind = ? "
                "AND key = ? AND action = ? AND status = 'pending'",
                (target, kind, key, action),
            ).fetchone()
            if row is not None:
                return _pending(row)
            new_id = conn.execute(
                "INSERT INTO scimsync_pending "
                "(target, kind, key, remote_id, action, reason, created_at, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                (target, kind, key, remote_id, action, reason, to_us(self._now())),
            ).lastrowid
            row = conn.execute(
                f"SELECT {_PENDING_COLS} FROM scimsync_pending WHERE id = ?", (new_id,)
            ).fetchone()
        return _pending(row)

    def list_pending(
        self, status: str | None = "pending", target: str | None = None
    ) -> list[PendingAction]:
        """See :meth:`scimsync.StateStore.list_pending`."""
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if target is not None:
            where.append("target = ?")
            params.append(target)
        sql = f"SELECT {_PENDING_COLS} FROM scimsync_pending"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        return [_pending(r) for r in self._conn().execute(sql, params).fetchall()]

    def get_pending(self, pending_id: int) -> PendingAction | None:
        """See :meth:`scimsync.StateStore.get_pending`."""
        row = (
            self._conn()
            .execute(f"SELECT {_PENDING_COLS} FROM scimsync_pending WHERE id = ?", (pending_id,))
            .fetchone()
        )
        return None if row is None else _pending(row)

    def set_pending_status(
        self, pending_id: int, status: str, by: str | None = None
    ) -> PendingAction:
        """See :meth:`scimsync.StateStore.set_pending_status`."""
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {_PENDING_COLS} FROM scimsync_pending WHERE id = ?", (pending_id,)
            ).fetchone()
            if row is None:
                raise KeyError(f"no pending action {pending_id!r}")
            current = _pending(row)
            check_pending_move(pending_id, current.status, status)
            if status == current.status:
                return current
            decided_at = current.decided_at
            decided_by = current.decided_by
            if status in ("approved", "rejected") or decided_at is None:
                decided_at = self._now()
                decided_by = by if by is not None else decided_by
            updated = attrs.evolve(
                current, status=status, decided_at=decided_at, decided_by=decided_by
            )
            conn.execute(
                "UPDATE scimsync_pending SET status = ?, decided_at = ?, decided_by = ? "
                "WHERE id = ?",
                (status, _opt_us(decided_at), decided_by, pending_id),
            )
        return updated


def _rebuild(
    path: str, timeout: float, synchronous: str, clock: Callable[[], _dt.datetime] | None
) -> SQLiteStore:
    return SQLiteStore(path, timeout=timeout, synchronous=synchronous, clock=clock)
