"""SQLAlchemyStore: the state store on the host's own database, through SQLAlchemy Core."""

from __future__ import annotations

import datetime as _dt
import os
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

import attrs
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql as _pg
from sqlalchemy.dialects import sqlite as _sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator, TypeEngine

from scimsync import (
    ConfigurationError,
    Link,
    LinkConflictError,
    OutboxItem,
    Outcome,
    PendingAction,
    ReportRecord,
    RunRecord,
)
from scimsync.storekit import ERROR_MAX as _ERROR_MAX
from scimsync.storekit import FINISHED_RUN_STATUSES as _FINISHED
from scimsync.storekit import PENDING_MOVES as _PENDING_MOVES
from scimsync.storekit import PENDING_STATUSES as _PENDING_STATUSES
from scimsync.storekit import check_kind as _check_kind
from scimsync.storekit import check_string as _check_string
from scimsync.storekit import chunks as _chunks
from scimsync.storekit import outcome_values as _outcomes

__all__ = ["SCHEMA_VERSION", "SQLAlchemyStore"]

#: The schema version this code writes; a database written by a newer one is refused.
SCHEMA_VERSION: Final = 1

_UTC: Final = _dt.timezone.utc
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_US: Final = _dt.timedelta(microseconds=1)
_PAGE: Final = 500  # iter_links page size, and keys per IN (...) list
_DIALECTS: Final = ("postgresql", "sqlite")


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_UTC)


def _as_utc(value: _dt.datetime) -> _dt.datetime:
    return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)


class UTCDateTime(TypeDecorator[_dt.datetime]):
    """An aware UTC datetime: ``timestamptz`` on PostgreSQL, integer microseconds elsewhere.

    Integers keep SQLite's comparisons exact and ordered (its own DATETIME is text).
    """

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value: _dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = _as_utc(value)
        if dialect.name == "postgresql":
            return value
        return (value - _EPOCH) // _US

    def process_result_value(self, value: Any, dialect: Dialect) -> _dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, _dt.datetime):
            return _as_utc(value)
        return _EPOCH + _dt.timedelta(microseconds=int(value))


def _text_c() -> TypeEngine[str]:
    """Text ordered byte-wise ("C" collation on PostgreSQL, SQLite's BINARY elsewhere)."""
    return String().with_variant(String(collation="C"), "postgresql")


class _Tables:
    """The store's tables on one :class:`MetaData`, every name starting with ``prefix``."""

    def __init__(self, metadata: MetaData, prefix: str) -> None:
        p = prefix
        self.version = Table(
            f"{p}schema_version",
            metadata,
            Column("version", Integer, nullable=False),
        )
        self.links = Table(
            f"{p}links",
            metadata,
            Column("target", _text_c(), nullable=False),
            Column("kind", _text_c(), nullable=False),
            Column("key", _text_c(), nullable=False),
            Column("remote_id", String, nullable=False),
            Column("last_rep", JSON(none_as_null=True)),
            Column("last_hash", String),
            Column("origin", String, nullable=False),
            Column("state", String, nullable=False),
            Column("display", String),
            Column("created_at", UTCDateTime(), nullable=False),
            Column("updated_at", UTCDateTime(), nullable=False),
            Column("deactivated_at", UTCDateTime()),
            PrimaryKeyConstraint("target", "kind", "key", name=f"{p}links_pk"),
            UniqueConstraint("target", "kind", "remote_id", name=f"{p}links_remote"),
        )
        self.outbox = Table(
            f"{p}outbox",
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("kind", String, nullable=False),
            Column("key", String, nullable=False),
            Column("target", String, nullable=False, server_default=""),
            Column("seq", Integer, nullable=False, server_default="1"),
            Column("attempts", Integer, nullable=False, server_default="0"),
            Column("status", String, nullable=False, server_default="pending"),
            Column("enqueued_at", UTCDateTime(), nullable=False),
            Column("next_attempt_at", UTCDateTime(), nullable=False),
            Column("last_error", Text),
            Column("lease_owner", String),
            Column("lease_until", UTCDateTime()),
            UniqueConstraint("kind", "key", "target", name=f"{p}outbox_one"),
            Index(f"{p}outbox_due", "status", "next_attempt_at", "id"),
        )
        self.reports = Table(
            f"{p}reports",
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("time", UTCDateTime(), nullable=False),
            Column("run_id", String),
            Column("target", String, nullable=False),
            Column("kind", String, nullable=False),
            Column("key", String, nullable=False),
            Column("display", String),
            Column("operation", String, nullable=False),
            Column("outcome", String, nullable=False),
            Column("http_status", Integer),
            Column("detail", Text),
            Column("request_id", String),
            Column("duration_ms", Float),
            Column("error", Text),
            Index(f"{p}reports_time", "time"),
            Index(f"{p}reports_key", "kind", "key", "time"),
            Index(f"{p}reports_run", "run_id"),
            Index(f"{p}reports_outcome", "outcome", "time"),
        )
        self.runs = Table(
            f"{p}runs",
            metadata,
            Column("n", Integer, primary_key=True, autoincrement=True),  # insertion order
            Column("id", String, nullable=False, unique=True),
            Column("target", String, nullable=False),
            Column("mode", String, nullable=False),
            Column("started_at", UTCDateTime(), nullable=False),
            Column("finished_at", UTCDateTime()),
            Column("status", String, nullable=False),
            Column("counts", JSON, nullable=False),
            Column("dry_run", Boolean, nullable=False),
            Column("error", Text),
            Index(f"{p}runs_started", "started_at"),
        )
        pending = self.pending = Table(
            f"{p}pending",
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("target", String, nullable=False),
            Column("kind", String, nullable=False),
            Column("key", String, nullable=False),
            Column("remote_id", String),
            Column("action", String, nullable=False),
            Column("reason", Text, nullable=False),
            Column("created_at", UTCDateTime(), nullable=False),
            Column("status", String, nullable=False),
            Column("decided_at", UTCDateTime()),
            Column("decided_by", String),
        )
        self.pending_where = pending.c.status == "pending"
        Index(
            f"{p}pending_one",
            pending.c.target,
            pending.c.kind,
            pending.c.key,
            pending.c.action,
            unique=True,
            postgresql_where=self.pending_where,
            sqlite_where=self.pending_where,
        )


def _database_id(url: URL) -> tuple[Any, ...]:
    """What identifies a database in a URL (driver and credentials aside)."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        db = url.database or ""
        if db in ("", ":memory:") or db.startswith("file::memory:"):
            return (backend, None)  # a private in-memory database: only the same engine
        return (backend, os.path.realpath(db))
    return (backend, url.host or "", url.port, url.database or "")


def same_database(a: Engine, b: Engine) -> bool:
    """Whether two engines reach the same database (same engine, or same host/port/name)."""
    if a is b:
        return True
    ida, idb = _database_id(a.url), _database_id(b.url)
    return ida == idb and ida[1] is not None


def _advisory_key(text: str) -> int:
    """A stable 31-bit key for ``pg_advisory_xact_lock``."""
    return zlib.crc32(f"scimsync:{text}".encode()) & 0x7FFFFFFF


class SQLAlchemyStore:
    """A :class:`scimsync.StateStore` on any SQLAlchemy engine (PostgreSQL or SQLite).

    The tables (all named ``table_prefix + ...``) are defined on :attr:`metadata` and
    created by :meth:`create_all` or on first use, so they may live in the host
    application's own database, next to its users. :meth:`enqueue_in` then writes the
    outbox row through the host's own connection, in the host's transaction.

    On PostgreSQL several processes may drain one outbox: :meth:`claim` serialises
    claimers on a transaction-scoped advisory lock and skips rows another transaction
    holds (``FOR UPDATE SKIP LOCKED``), so it never waits for a host's open transaction
    and never hands out two rows of one ``(kind, key)``. On SQLite every write that must
    be atomic is a single statement (``UPDATE … RETURNING``), so it takes the database's
    write lock before it reads.

    Args:
        engine_or_url: an :class:`~sqlalchemy.engine.Engine` (typically the host's own:
            it is used, never disposed) or a URL string (the store makes and owns an
            engine: on SQLite with WAL and a 30 s busy timeout).
        table_prefix: the prefix of every table and index name.
        clock: returns "now" as an aware datetime (tests pass a fake clock).
    """

    def __init__(
        self,
        engine_or_url: Engine | str | URL,
        *,
        table_prefix: str = "scimsync_",
        clock: Callable[[], _dt.datetime] | None = None,
    ) -> None:
        if not isinstance(table_prefix, str) or not table_prefix.replace("_", "a").isalnum():
            raise ConfigurationError(
                f"SQLAlchemyStore table_prefix must be letters, digits and '_', "
                f"got {table_prefix!r}"
            )
        if isinstance(engine_or_url, Engine):
            self.engine = engine_or_url
            self._owns_engine = False
        elif isinstance(engine_or_url, str | URL):
            self.engine = _make_engine(make_url(engine_or_url))
            self._owns_engine = True
        else:
            raise ConfigurationError(
                "SQLAlchemyStore needs an sqlalchemy Engine or a database URL, got "
                f"{type(engine_or_url).__name__}"
            )
        dialect = self.engine.dialect.name
        if dialect not in _DIALECTS:
            raise ConfigurationError(
                f"SQLAlchemyStore supports PostgreSQL and SQLite, not {dialect!r}"
            )
        self.dialect: str = dialect
        self.table_prefix = table_prefix
        self.metadata = MetaData()
        self.tables = _Tables(self.metadata, table_prefix)
        self._clock = clock or _utcnow
        self._schema_lock = threading.Lock()
        self._schema_ready = False
        self._closed = False
        self._pid = os.getpid()
        self._lock_key = _advisory_key(f"{table_prefix}outbox")

    def __repr__(self) -> str:
        url = self.engine.url.render_as_string(hide_password=True)
        return f"SQLAlchemyStore({url!r}, table_prefix={self.table_prefix!r})"

    # --- plumbing --------------------------------------------------------------------

    def _now(self) -> _dt.datetime:
        return _as_utc(self._clock())

    def _insert(self, table: Table) -> Any:
        """An INSERT with the dialect's ``on_conflict_*`` methods."""
        module = _pg if self.dialect == "postgresql" else _sqlite
        return module.insert(table)

    def _ready(self) -> Engine:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self._pid != os.getpid():
            # Forked: the child must not share the parent's pooled connections.
            self.engine.dispose(close=False)
            self._pid = os.getpid()
        if not self._schema_ready:
            self.create_all()
        return self.engine

    def create_all(self) -> None:
        """Create the tables now if they are missing (otherwise done on first use).

        Raises:
            ConfigurationError: the database was written by a newer scimsync.
        """
        with self._schema_lock:
            if self._schema_ready:
                return
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":  # two processes creating at once
                    conn.execute(select(func.pg_advisory_xact_lock(_advisory_key("schema"))))
                self.metadata.create_all(conn, checkfirst=True)
                version = conn.execute(select(func.max(self.tables.version.c.version))).scalar()
                if version is None:
                    conn.execute(insert(self.tables.version).values(version=SCHEMA_VERSION))
                elif version > SCHEMA_VERSION:
                    raise ConfigurationError(
                        f"{self!r}: schema version {version} is newer than this scimsync "
                        f"understands ({SCHEMA_VERSION}): upgrade scimsync"
                    )
            self._schema_ready = True

    def drop_all(self) -> None:
        """Drop the store's tables (tests, uninstall)."""
        self.metadata.drop_all(self.engine, checkfirst=True)
        self._schema_ready = False

    def close(self) -> None:
        """Stop using the store; an engine the store made itself is disposed."""
        self._closed = True
        if self._owns_engine:
            self.engine.dispose()

    # --- links -----------------------------------------------------------------------

    def _link_values(self, link: Link) -> dict[str, Any]:
        return {
            "target": link.target,
            "kind": link.kind,
            "key": link.key,
            "remote_id": link.remote_id,
            "last_rep": link.last_rep,
            "last_hash": link.last_hash,
            "origin": link.origin,
            "state": link.state,
            "display": link.display,
            "created_at": link.created_at,
            "updated_at": link.updated_at,
            "deactivated_at": link.deactivated_at,
        }

    @staticmethod
    def _link(row: Row[Any]) -> Link:
        m = row._mapping
        return Link(
            target=m["target"],
            kind=m["kind"],
            key=m["key"],
            remote_id=m["remote_id"],
            last_rep=m["last_rep"],
            last_hash=m["last_hash"],
            origin=m["origin"],
            state=m["state"],
            display=m["display"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            deactivated_at=m["deactivated_at"],
        )

    def get_link(self, target: str, kind: str, key: str) -> Link | None:
        """See :meth:`scimsync.StateStore.get_link`."""
        t = self.tables.links
        with self._ready().connect() as conn:
            row = conn.execute(
                select(t).where(t.c.target == target, t.c.kind == kind, t.c.key == key)
            ).first()
        return None if row is None else self._link(row)

    def get_links(self, target: str, kind: str, keys: Iterable[str]) -> dict[str, Link]:
        """See :meth:`scimsync.StateStore.get_links`. One query per 500 keys."""
        t = self.tables.links
        out: dict[str, Link] = {}
        with self._ready().connect() as conn:
            for chunk in _chunks(dict.fromkeys(keys)):
                for row in conn.execute(
                    select(t).where(t.c.target == target, t.c.kind == kind, t.c.key.in_(chunk))
                ):
                    out[row._mapping["key"]] = self._link(row)
        return out

    def get_link_by_remote(self, target: str, kind: str, remote_id: str) -> Link | None:
        """See :meth:`scimsync.StateStore.get_link_by_remote`."""
        t = self.tables.links
        with self._ready().connect() as conn:
            row = conn.execute(
                select(t).where(t.c.target == target, t.c.kind == kind, t.c.remote_id == remote_id)
            ).first()
        return None if row is None else self._link(row)

    def _upsert_link(self, conn: Connection, link: Link) -> None:
        if not isinstance(link, Link):
            raise TypeError(f"save_link expects a Link, got {type(link).__name__}")
        t = self.tables.links
        values = self._link_values(link)
        stmt = self._insert(t).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.target, t.c.kind, t.c.key],
            set_={
                name: stmt.excluded[name]
                for name in values
                if name not in ("target", "kind", "key")
            },
        )
        conn.execute(stmt)

    def _conflict(self, link: Link, exc: IntegrityError) -> LinkConflictError:
        t = self.tables.links
        with self.engine.connect() as conn:
            other = conn.execute(
                select(t.c.key).where(
                    t.c.target == link.target,
                    t.c.kind == link.kind,
                    t.c.remote_id == link.remote_id,
                )
            ).scalar()
        err = LinkConflictError(link.target, link.kind, link.key, link.remote_id, other)
        err.__cause__ = exc
        return err

    def save_link(self, link: Link) -> None:
        """See :meth:`scimsync.StateStore.save_link`."""
        try:
            with self._ready().begin() as conn:
                self._upsert_link(conn, link)
        except IntegrityError as exc:
            raise self._conflict(link, exc) from exc

    def save_links(self, links: Iterable[Link]) -> int:
        """See :meth:`scimsync.StateStore.save_links`: one transaction, all or none."""
        count = 0
        current: Link | None = None
        try:
            with self._ready().begin() as conn:
                for current in links:
                    self._upsert_link(conn, current)
                    count += 1
        except IntegrityError as exc:
            assert current is not None
            raise self._conflict(current, exc) from exc
        return count

    def delete_link(self, target: str, kind: str, key: str) -> bool:
        """See :meth:`scimsync.StateStore.delete_link`."""
        t = self.tables.links
        with self._ready().begin() as conn:
            result = conn.execute(
                delete(t).where(t.c.target == target, t.c.kind == kind, t.c.key == key)
            )
        return bool(result.rowcount)

    def iter_links(self, target: str, kind: str | None = None) -> Iterator[Link]:
        """See :meth:`scimsync.StateStore.iter_links`: pages of 500 read by key, so no
        transaction stays open between pages and the caller may write while iterating."""
        if kind is not None:
            _check_kind(kind)
        t = self.tables.links
        last: tuple[str, str] = ("", "")
        while True:
            stmt = select(t).where(t.c.target == target, tuple_(t.c.kind, t.c.key) > last)
            if kind is not None:
                stmt = stmt.where(t.c.kind == kind)
            stmt = stmt.order_by(t.c.kind, t.c.key).limit(_PAGE)
            with self._ready().connect() as conn:
                rows = conn.execute(stmt).all()
            for row in rows:
                yield self._link(row)
            if len(rows) < _PAGE:
                return
            last = (rows[-1]._mapping["kind"], rows[-1]._mapping["key"])

    def count_links(self, target: str, kind: str | None = None) -> int:
        """See :meth:`scimsync.StateStore.count_links`."""
        t = self.tables.links
        stmt = select(func.count()).select_from(t).where(t.c.target == target)
        if kind is not None:
            stmt = stmt.where(t.c.kind == kind)
        with self._ready().connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    # --- outbox ----------------------------------------------------------------------

    def enqueue_statement(self, kind: str, key: str, target: str | None = None) -> Any:
        """The ``INSERT … ON CONFLICT DO UPDATE`` that :meth:`enqueue` runs (coalescing)."""
        _check_kind(kind)
        _check_string(key, "key")
        if target is not None:
            _check_string(target, "target")
        t = self.tables.outbox
        now = self._now()
        stmt = self._insert(t).values(
            kind=kind,
            key=key,
            target=target or "",
            seq=1,
            attempts=0,
            status="pending",
            enqueued_at=now,
            next_attempt_at=now,
        )
        return stmt.on_conflict_do_update(
            index_elements=[t.c.kind, t.c.key, t.c.target],
            set_={
                "seq": t.c.seq + 1,
                "next_attempt_at": stmt.excluded.next_attempt_at,
                "attempts": case((t.c.status == "dead", 0), else_=t.c.attempts),
                "status": "pending",
            },
        )

    def enqueue(self, kind: str, key: str, target: str | None = None) -> None:
        """See :meth:`scimsync.StateStore.enqueue`. One ``INSERT … ON CONFLICT`` statement."""
        stmt = self.enqueue_statement(kind, key, target)
        with self._ready().begin() as conn:
            conn.execute(stmt)

    def enqueue_in(
        self,
        session_or_connection: Session | Connection,
        kind: str,
        key: str,
        target: str | None = None,
    ) -> None:
        """Write the outbox row through the host's connection, in the host's transaction.

        The row then commits, or rolls back, with the host's own change: there is no
        moment where the user is saved but "needs syncing" is not. Nothing is sent now;
        a worker syncs the key after the commit.

        Args:
            session_or_connection: an ORM :class:`~sqlalchemy.orm.Session` (its current
                connection is used, beginning its transaction if needed) or a Core
                :class:`~sqlalchemy.engine.Connection`, on the store's database.
            kind: ``"user"`` or ``"group"``.
            key: the local key.
            target: a target name, or ``None`` for every target.

        Raises:
            ConfigurationError: the connection is on another database than the store.
        """
        stmt = self.enqueue_statement(kind, key, target)
        self._ready()
        conn = (
            session_or_connection.connection()
            if isinstance(session_or_connection, Session)
            else session_or_connection
        )
        if not isinstance(conn, Connection):
            raise TypeError(
                "enqueue_in needs an sqlalchemy Session or Connection, got "
                f"{type(session_or_connection).__name__}"
            )
        if not self.same_database(conn.engine):
            raise ConfigurationError(
                f"enqueue_in: the connection ({conn.engine.url.render_as_string()}) is not on "
                f"the store's database ({self.engine.url.render_as_string()})"
            )
        conn.execute(stmt)

    def same_database(self, engine: Engine) -> bool:
        """Whether ``engine`` reaches the store's database (so :meth:`enqueue_in` works)."""
        return same_database(self.engine, engine)

    @staticmethod
    def _item(row: Row[Any]) -> OutboxItem:
        m = row._mapping
        return OutboxItem(
            id=m["id"],
            kind=m["kind"],
            key=m["key"],
            target=m["target"] or None,
            seq=m["seq"],
            attempts=m["attempts"],
            status=m["status"],
            enqueued_at=m["enqueued_at"],
            next_attempt_at=m["next_attempt_at"],
            last_error=m["last_error"],
            lease_owner=m["lease_owner"],
            lease_until=m["lease_until"],
        )

    def _due(self, now: _dt.datetime) -> Any:
        t = self.tables.outbox
        return and_(
            t.c.status == "pending",
            t.c.next_attempt_at <= now,
            or_(t.c.lease_until.is_(None), t.c.lease_until <= now),
        )

    def _candidates(self, now: _dt.datetime, limit: int) -> Any:
        """Ids of due rows in due order, the first of each ``(kind, key)``, none of a key
        in flight. Read in the due index's order and cut at ``limit``: the cost does not
        grow with the backlog."""
        t = self.tables.outbox
        other = t.alias("other")
        same_key = and_(other.c.kind == t.c.kind, other.c.key == t.c.key, other.c.id != t.c.id)
        in_flight = exists().where(same_key, other.c.lease_until > now)
        # SQLite (no statistics) would look for earlier rows through the due index, a scan
        # of the whole backlog; `status || ''` steers it to the (kind, key, ...) index.
        status = other.c.status.concat("") if self.dialect == "sqlite" else other.c.status
        earlier = exists().where(
            same_key,
            status == "pending",
            other.c.next_attempt_at <= now,
            or_(other.c.lease_until.is_(None), other.c.lease_until <= now),
            or_(
                other.c.next_attempt_at < t.c.next_attempt_at,
                and_(other.c.next_attempt_at == t.c.next_attempt_at, other.c.id < t.c.id),
            ),
        )
        return (
            select(t.c.id)
            .where(self._due(now), ~in_flight, ~earlier)
            .order_by(t.c.next_attempt_at, t.c.id)
            .limit(limit)
        )

    def claim(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxItem]:
        """See :meth:`scimsync.StateStore.claim`.

        PostgreSQL: under a transaction-scoped advisory lock (claimers take turns; a
        claim is a few milliseconds), pick the candidates, lock those no other
        transaction holds (``FOR UPDATE SKIP LOCKED``), lease them. SQLite: one
        ``UPDATE … RETURNING`` statement.
        """
        _check_string(owner, "owner")
        if limit < 1:
            raise ValueError(f"claim limit must be at least 1, got {limit!r}")
        if lease_seconds < 0:
            raise ValueError(f"claim lease_seconds must be >= 0, got {lease_seconds!r}")
        t = self.tables.outbox
        now = self._now()
        until = now + _dt.timedelta(seconds=lease_seconds)
        lease = {"lease_owner": owner, "lease_until": until, "attempts": t.c.attempts + 1}
        with self._ready().begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(self._lock_key)))
                ids = list(conn.execute(self._candidates(now, limit)).scalars())
                if not ids:
                    return []
                locked = list(
                    conn.execute(
                        select(t.c.id)
                        .where(t.c.id.in_(ids), self._due(now))
                        .with_for_update(skip_locked=True)
                    ).scalars()
                )
                if not locked:
                    return []
                where: Any = t.c.id.in_(locked)
            else:  # one statement: SQLite takes the write lock before it reads
                where = t.c.id.in_(self._candidates(now, limit))
            rows = conn.execute(update(t).where(where).values(**lease).returning(*t.c)).all()
        items = [self._item(r) for r in rows]
        items.sort(key=lambda it: (it.next_attempt_at, it.id))
        return items

    def _holds(self, item: OutboxItem) -> Any:
        # A claim is identified by (id, owner, attempts): each claim bumps attempts.
        t = self.tables.outbox
        return and_(
            t.c.id == item.id,
            t.c.lease_owner == item.lease_owner,
            t.c.attempts == item.attempts,
        )

    def complete(self, item: OutboxItem) -> bool:
        """See :meth:`scimsync.StateStore.complete`."""
        t = self.tables.outbox
        with self._ready().begin() as conn:
            gone = conn.execute(delete(t).where(t.c.id == item.id, t.c.seq == item.seq))
            if gone.rowcount:
                return True
            conn.execute(
                update(t)
                .where(self._holds(item))
                .values(lease_owner=None, lease_until=None, attempts=0, last_error=None)
            )
        return False

    def fail(self, item: OutboxItem, error: str, retry_at: _dt.datetime | None) -> bool:
        """See :meth:`scimsync.StateStore.fail`. One ``UPDATE`` statement."""
        t = self.tables.outbox
        now = self._now()
        changed = t.c.seq != item.seq  # enqueued again meanwhile: try the newer change now
        if retry_at is None:
            status: Any = case((changed, "pending"), else_="dead")
            due: Any = literal(now, UTCDateTime())
        else:
            status = "pending"
            due = case(
                (changed, literal(now, UTCDateTime())),
                else_=literal(_as_utc(retry_at), UTCDateTime()),
            )
        with self._ready().begin() as conn:
            result = conn.execute(
                update(t)
                .where(self._holds(item))
                .values(
                    status=status,
                    next_attempt_at=due,
                    last_error=str(error)[:_ERROR_MAX],
                    lease_owner=None,
                    lease_until=None,
                )
            )
        return bool(result.rowcount)

    def release(self, item: OutboxItem) -> bool:
        """See :meth:`scimsync.StateStore.release`."""
        t = self.tables.outbox
        with self._ready().begin() as conn:
            result = conn.execute(
                update(t)
                .where(self._holds(item))
                .values(
                    lease_owner=None,
                    lease_until=None,
                    attempts=case((t.c.attempts > 0, t.c.attempts - 1), else_=0),
                )
            )
        return bool(result.rowcount)

    def outbox(self, status: str | None = None, limit: int | None = None) -> list[OutboxItem]:
        """See :meth:`scimsync.StateStore.outbox`."""
        t = self.tables.outbox
        stmt = select(t)
        if status is not None:
            if status not in ("pending", "dead"):
                raise ValueError(f"outbox status must be 'pending' or 'dead', got {status!r}")
            stmt = stmt.where(t.c.status == status)
        stmt = stmt.order_by(t.c.id)
        if limit is not None:
            stmt = stmt.limit(int(limit))
        with self._ready().connect() as conn:
            return [self._item(r) for r in conn.execute(stmt)]

    def outbox_counts(self) -> dict[str, int]:
        """See :meth:`scimsync.StateStore.outbox_counts`."""
        t = self.tables.outbox
        now = self._now()
        pending = t.c.status == "pending"

        def count(cond: Any) -> Any:
            return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

        stmt = select(
            count(pending),
            count(t.c.status == "dead"),
            count(and_(pending, t.c.lease_until > now)),
            count(self._due(now)),
        )
        with self._ready().connect() as conn:
            row = conn.execute(stmt).one()
        return {
            "pending": int(row[0]),
            "dead": int(row[1]),
            "leased": int(row[2]),
            "due": int(row[3]),
        }

    def replay(self, ids: Iterable[int] | None = None) -> int:
        """See :meth:`scimsync.StateStore.replay`."""
        t = self.tables.outbox
        stmt = (
            update(t)
            .where(t.c.status == "dead")
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=self._now(),
                lease_owner=None,
                lease_until=None,
            )
        )
        with self._ready().begin() as conn:
            if ids is None:
                return int(conn.execute(stmt).rowcount)
            return sum(
                int(conn.execute(stmt.where(t.c.id.in_(chunk))).rowcount)
                for chunk in _chunks(int(i) for i in ids)
            )

    def discard(self, ids: Iterable[int]) -> int:
        """See :meth:`scimsync.StateStore.discard`."""
        t = self.tables.outbox
        with self._ready().begin() as conn:
            return sum(
                int(conn.execute(delete(t).where(t.c.status == "dead", t.c.id.in_(chunk))).rowcount)
                for chunk in _chunks(int(i) for i in ids)
            )

    # --- reports ---------------------------------------------------------------------

    @staticmethod
    def _report_values(rec: ReportRecord) -> dict[str, Any]:
        return {
            "time": rec.time,
            "run_id": rec.run_id,
            "target": rec.target,
            "kind": rec.kind,
            "key": rec.key,
            "display": rec.display,
            "operation": rec.operation,
            "outcome": rec.outcome.value,
            "http_status": rec.http_status,
            "detail": rec.detail,
            "request_id": rec.request_id,
            "duration_ms": rec.duration_ms,
            "error": rec.error,
        }

    @staticmethod
    def _report(row: Row[Any]) -> ReportRecord:
        m = row._mapping
        return ReportRecord(
            id=m["id"],
            time=m["time"],
            run_id=m["run_id"],
            target=m["target"],
            kind=m["kind"],
            key=m["key"],
            display=m["display"],
            operation=m["operation"],
            outcome=Outcome(m["outcome"]),
            http_status=m["http_status"],
            detail=m["detail"],
            request_id=m["request_id"],
            duration_ms=m["duration_ms"],
            error=m["error"],
        )

    def add_report(self, record: ReportRecord) -> ReportRecord:
        """See :meth:`scimsync.StateStore.add_report`."""
        t = self.tables.reports
        with self._ready().begin() as conn:
            new_id = conn.execute(
                insert(t).values(self._report_values(record)).returning(t.c.id)
            ).scalar_one()
        return attrs.evolve(record, id=int(new_id))

    def add_reports(self, records: Iterable[ReportRecord]) -> int:
        """See :meth:`scimsync.StateStore.add_reports`: one transaction."""
        t = self.tables.reports
        count = 0
        with self._ready().begin() as conn:
            for chunk in _chunks(records):
                conn.execute(insert(t), [self._report_values(r) for r in chunk])
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
        t = self.tables.reports
        stmt = select(t)
        for column, value in (
            (t.c.target, target),
            (t.c.kind, kind),
            (t.c.key, key),
            (t.c.run_id, run_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        values = _outcomes(outcome)
        if values is not None:
            if not values:
                return []
            stmt = stmt.where(t.c.outcome.in_(values))
        if since is not None:
            stmt = stmt.where(t.c.time >= since)
        if until is not None:
            stmt = stmt.where(t.c.time < until)
        if newest_first:
            stmt = stmt.order_by(t.c.time.desc(), t.c.id.desc())
        else:
            stmt = stmt.order_by(t.c.time, t.c.id)
        if limit is not None:
            stmt = stmt.limit(int(limit))
        if offset:
            stmt = stmt.offset(int(offset))
        with self._ready().connect() as conn:
            return [self._report(r) for r in conn.execute(stmt)]

    def prune_reports(self, before: _dt.datetime) -> int:
        """See :meth:`scimsync.StateStore.prune_reports`."""
        t = self.tables.reports
        with self._ready().begin() as conn:
            return int(conn.execute(delete(t).where(t.c.time < before)).rowcount)

    # --- runs ------------------------------------------------------------------------

    @staticmethod
    def _run(row: Row[Any]) -> RunRecord:
        m = row._mapping
        return RunRecord(
            id=m["id"],
            target=m["target"],
            mode=m["mode"],
            started_at=m["started_at"],
            finished_at=m["finished_at"],
            status=m["status"],
            counts=m["counts"],
            dry_run=bool(m["dry_run"]),
            error=m["error"],
        )

    def _run_cols(self) -> Sequence[Any]:
        return [c for c in self.tables.runs.c if c.name != "n"]

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
            with self._ready().begin() as conn:
                conn.execute(
                    insert(self.tables.runs).values(
                        id=run.id,
                        target=run.target,
                        mode=run.mode,
                        started_at=run.started_at,
                        finished_at=None,
                        status=run.status,
                        counts=run.counts,
                        dry_run=run.dry_run,
                        error=None,
                    )
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
        """See :meth:`scimsync.StateStore.finish_run`. One ``UPDATE … RETURNING``."""
        if status not in _FINISHED:
            raise ValueError(
                f"run {run_id}: finish status must be one of {', '.join(_FINISHED)}, got {status!r}"
            )
        t = self.tables.runs
        values: dict[str, Any] = {"status": status, "finished_at": self._now(), "error": error}
        if counts is not None:
            values["counts"] = {str(k): int(v) for k, v in counts.items()}
        with self._ready().begin() as conn:
            row = conn.execute(
                update(t).where(t.c.id == run_id).values(values).returning(*self._run_cols())
            ).first()
        if row is None:
            raise KeyError(f"no run {run_id!r}")
        return self._run(row)

    def get_run(self, run_id: str) -> RunRecord | None:
        """See :meth:`scimsync.StateStore.get_run`."""
        t = self.tables.runs
        with self._ready().connect() as conn:
            row = conn.execute(select(*self._run_cols()).where(t.c.id == run_id)).first()
        return None if row is None else self._run(row)

    def list_runs(self, target: str | None = None, limit: int | None = 50) -> list[RunRecord]:
        """See :meth:`scimsync.StateStore.list_runs`."""
        t = self.tables.runs
        stmt = select(*self._run_cols())
        if target is not None:
            stmt = stmt.where(t.c.target == target)
        stmt = stmt.order_by(t.c.started_at.desc(), t.c.n.desc())
        if limit is not None:
            stmt = stmt.limit(int(limit))
        with self._ready().connect() as conn:
            return [self._run(r) for r in conn.execute(stmt)]

    # --- pending approvals -----------------------------------------------------------

    @staticmethod
    def _pending(row: Row[Any]) -> PendingAction:
        m = row._mapping
        return PendingAction(
            id=m["id"],
            target=m["target"],
            kind=m["kind"],
            key=m["key"],
            remote_id=m["remote_id"],
            action=m["action"],
            reason=m["reason"],
            created_at=m["created_at"],
            status=m["status"],
            decided_at=m["decided_at"],
            decided_by=m["decided_by"],
        )

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
        """See :meth:`scimsync.StateStore.add_pending`: insert unless one is pending."""
        _check_kind(kind)
        _check_string(key, "key")
        _check_string(action, "action")
        t = self.tables.pending
        stmt = (
            self._insert(t)
            .values(
                target=target,
                kind=kind,
                key=key,
                remote_id=remote_id,
                action=action,
                reason=reason,
                created_at=self._now(),
                status="pending",
            )
            .on_conflict_do_nothing(
                index_elements=[t.c.target, t.c.kind, t.c.key, t.c.action],
                index_where=self.tables.pending_where,
            )
        )
        with self._ready().begin() as conn:
            conn.execute(stmt)  # a write first: SQLite takes its write lock before reading
            row = conn.execute(
                select(t).where(
                    t.c.target == target,
                    t.c.kind == kind,
                    t.c.key == key,
                    t.c.action == action,
                    t.c.status == "pending",
                )
            ).one()
        return self._pending(row)

    def list_pending(
        self, status: str | None = "pending", target: str | None = None
    ) -> list[PendingAction]:
        """See :meth:`scimsync.StateStore.list_pending`."""
        t = self.tables.pending
        stmt = select(t)
        if status is not None:
            stmt = stmt.where(t.c.status == status)
        if target is not None:
            stmt = stmt.where(t.c.target == target)
        with self._ready().connect() as conn:
            return [self._pending(r) for r in conn.execute(stmt.order_by(t.c.id))]

    def get_pending(self, pending_id: int) -> PendingAction | None:
        """See :meth:`scimsync.StateStore.get_pending`."""
        t = self.tables.pending
        with self._ready().connect() as conn:
            row = conn.execute(select(t).where(t.c.id == pending_id)).first()
        return None if row is None else self._pending(row)

    def set_pending_status(
        self, pending_id: int, status: str, by: str | None = None
    ) -> PendingAction:
        """See :meth:`scimsync.StateStore.set_pending_status`."""
        if status not in _PENDING_STATUSES:
            raise ValueError(
                f"pending action {pending_id}: status must be one of "
                f"{', '.join(_PENDING_STATUSES)}, got {status!r}"
            )
        t = self.tables.pending
        with self._ready().begin() as conn:
            if self.dialect == "postgresql":
                lock = select(t).where(t.c.id == pending_id).with_for_update()
                row = conn.execute(lock).first()
            else:  # a no-op write takes SQLite's write lock before the read
                conn.execute(update(t).where(t.c.id == pending_id).values(id=t.c.id))
                row = conn.execute(select(t).where(t.c.id == pending_id)).first()
            if row is None:
                raise KeyError(f"no pending action {pending_id!r}")
            current = self._pending(row)
            if status != current.status and status not in _PENDING_MOVES[current.status]:
                raise ValueError(
                    f"pending action {pending_id}: cannot move from {current.status} to {status}"
                )
            if status == current.status:
                return current
            decided_at, decided_by = current.decided_at, current.decided_by
            if status in ("approved", "rejected") or decided_at is None:
                decided_at = self._now()
                decided_by = by if by is not None else decided_by
            conn.execute(
                update(t)
                .where(t.c.id == pending_id)
                .values(status=status, decided_at=decided_at, decided_by=decided_by)
            )
        return attrs.evolve(current, status=status, decided_at=decided_at, decided_by=decided_by)


def _make_engine(url: URL) -> Engine:
    """The store's own engine for a URL: SQLite gets WAL and a 30 s busy timeout."""
    if url.get_backend_name() == "sqlite":
        db = url.database or ""
        if db in ("", ":memory:") or db.startswith("file::memory:"):
            raise ConfigurationError(
                "SQLAlchemyStore needs a file or server database; an in-memory SQLite URL "
                "would give each connection its own empty database (pass an Engine built "
                "with StaticPool instead, or use scimsync.testing.InMemoryStore)"
            )
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            try:
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
            finally:
                cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)
