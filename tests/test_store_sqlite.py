"""SQLiteStore specifics: WAL, schema versioning, enqueue_sql in the host's transaction."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import pickle
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from scimsync import ConfigurationError, Link, LinkConflictError, SQLiteStore
from scimsync.testing import InMemoryStore

UTC = dt.timezone.utc


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def test_file_is_wal_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SQLiteStore(path).ensure_schema()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("SELECT version FROM scimsync_schema_version").fetchall() == [(1,)]
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "scimsync_links",
        "scimsync_outbox",
        "scimsync_reports",
        "scimsync_runs",
        "scimsync_pending",
    } <= tables
    raw.close()
    SQLiteStore(path).ensure_schema()  # a second open keeps one version row
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT count(*) FROM scimsync_schema_version").fetchone()[0] == 1
    raw.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SQLiteStore(path).ensure_schema()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE scimsync_schema_version SET version = 99")
    raw.commit()
    raw.close()
    with pytest.raises(ConfigurationError, match="schema version 99"):
        SQLiteStore(path).count_links("aws")


@pytest.mark.parametrize("bad", [":memory:", ""])
def test_memory_path_is_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="InMemoryStore"):
        SQLiteStore(bad)


def test_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="synchronous"):
        SQLiteStore(tmp_path / "s.db", synchronous="SOMETIMES")
    with pytest.raises(ConfigurationError, match="timeout"):
        SQLiteStore(tmp_path / "s.db", timeout=0)


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.enqueue("user", "1")
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.outbox()


def test_enqueue_sql_commits_with_the_host(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    store = SQLiteStore(path)
    store.ensure_schema()
    host = sqlite3.connect(path, isolation_level=None)
    host.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")

    host.execute("BEGIN")
    host.execute("INSERT INTO users (id, name) VALUES (1, 'ada')")
    host.execute(*store.enqueue_sql("user", "1"))
    assert store.outbox() == []  # not visible before the host commits
    host.execute("COMMIT")
    assert [(r.key, r.seq) for r in store.outbox()] == [("1", 1)]

    host.execute("BEGIN")
    host.execute("INSERT INTO users (id, name) VALUES (2, 'bob')")
    host.execute(*store.enqueue_sql("user", "2"))
    host.execute(*store.enqueue_sql("user", "1"))
    host.execute("ROLLBACK")  # the save failed: no outbox row either
    assert [(r.key, r.seq) for r in store.outbox()] == [("1", 1)]
    host.close()


def test_enqueue_sql_format_paramstyle(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    sql, params = store.enqueue_sql("group", "g", "aws", paramstyle="format")
    assert "%s" in sql
    assert "?" not in sql
    assert params[:3] == ("group", "g", "aws")
    with pytest.raises(ValueError, match="paramstyle"):
        store.enqueue_sql("group", "g", paramstyle="named")


@pytest.mark.parametrize("make", ["sqlite", "memory"])
def test_fake_clock_drives_leases_and_backoff(tmp_path: Path, make: str) -> None:
    clock = FakeClock()
    store = (
        SQLiteStore(tmp_path / "s.db", clock=clock)
        if make == "sqlite"
        else InMemoryStore(clock=clock)
    )
    store.enqueue("user", "1")
    (item,) = store.claim("w1", 1, 30)
    assert item.lease_until == clock.now + dt.timedelta(seconds=30)
    clock.advance(29)
    assert store.claim("w2", 1, 30) == []
    clock.advance(2)
    (again,) = store.claim("w2", 1, 30)
    assert again.lease_owner == "w2"
    store.fail(again, "503", clock.now + dt.timedelta(minutes=5))
    clock.advance(299)
    assert store.claim("w2", 1, 30) == []
    assert store.outbox_counts() == {"pending": 1, "dead": 0, "leased": 0, "due": 0}
    clock.advance(1)
    assert store.outbox_counts()["due"] == 1
    assert len(store.claim("w2", 1, 30)) == 1


def test_naive_datetimes_are_utc(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    naive = dt.datetime(2026, 1, 1, 8, 30)
    link = Link("aws", "user", "1", "r1", created_at=naive, updated_at=naive)
    store.save_link(link)
    got = store.get_link("aws", "user", "1")
    assert got is not None
    assert got.created_at == dt.datetime(2026, 1, 1, 8, 30, tzinfo=UTC)
    assert got.created_at.tzinfo is not None


def test_conflict_message_names_everything(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.save_link(Link("aws", "user", "1", "abc"))
    with pytest.raises(LinkConflictError) as info:
        store.save_link(Link("aws", "user", "2", "abc"))
    text = str(info.value)
    assert "user 2" in text
    assert "abc" in text
    assert "user 1" in text
    assert "'aws'" in text


def test_many_threads_write_without_locking_errors(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(60):
                key = f"{n}-{i}"
                store.enqueue("user", key)
                store.save_link(Link("aws", "user", key, f"r{key}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count_links("aws") == 480
    assert store.outbox_counts()["pending"] == 480


def _forked_child_uses_inherited_store(store: SQLiteStore) -> None:
    store.enqueue("user", "forked")


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method"
)
def test_store_survives_fork(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.enqueue("user", "parent")  # the parent has an open connection
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_forked_child_uses_inherited_store, args=(store,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    store.enqueue("user", "parent")
    assert sorted(r.key for r in store.outbox()) == ["forked", "parent"]


def test_store_pickles_as_its_settings(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", timeout=5, synchronous="full")
    store.enqueue("user", "1")
    copy = pickle.loads(pickle.dumps(store))  # noqa: S301 - our own bytes
    assert copy is not store
    assert copy.path == store.path
    assert [r.key for r in copy.outbox()] == ["1"]
    copy.enqueue("user", "2")
    assert [r.key for r in store.outbox()] == ["1", "2"]


_CRASHER = r"""
import os, sys
from scimsync import SQLiteStore
store = SQLiteStore(sys.argv[1])
items = store.claim("doomed", 100, float(sys.argv[2]))
print(len(items), flush=True)
os._exit(3)  # die holding the leases: no complete, no release, no close
"""


def test_rows_of_a_crashed_process_come_back(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(path)
    for i in range(10):
        store.enqueue("user", str(i))
    # a worker that dies with a long lease: its rows stay leased...
    run = subprocess.run(
        [sys.executable, "-c", _CRASHER, str(path), "3600"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 3, run.stderr
    assert run.stdout.strip() == "10"
    assert store.claim("survivor", 100, 60) == []
    assert store.outbox_counts()["leased"] == 10
    # ...and one with a lease that has run out: every row comes back, none lost
    for item in store.outbox():
        assert item.lease_owner == "doomed"
    later = dt.datetime.now(UTC) + dt.timedelta(hours=2)
    survivor = SQLiteStore(path, clock=lambda: later)  # the hour has passed
    back = survivor.claim("survivor", 100, 60)
    assert sorted(int(i.key) for i in back) == list(range(10))
    assert all(i.attempts == 2 for i in back)
    assert all(survivor.complete(i) for i in back)
    assert store.outbox() == []
