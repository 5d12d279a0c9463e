"""SQLAlchemyStore: the store contract on SQLite and PostgreSQL, and claims from several
processes on one PostgreSQL outbox."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from scimsync_sqlalchemy import SQLAlchemyStore
from sqlalchemy import create_engine, text

from scimsync import ConfigurationError, StateStore
from scimsync.testing.store_contract import StoreContract


class TestSQLiteContract(StoreContract):
    def make_store(self, tmp_path: Path) -> StateStore:
        return SQLAlchemyStore(f"sqlite:///{tmp_path / 'state.db'}")


@pytest.mark.services
class TestPostgreSQLContract(StoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, postgres_url: str) -> None:
        self.url = postgres_url

    def make_store(self, tmp_path: Path) -> StateStore:
        return SQLAlchemyStore(self.url)


# --- several processes claiming from one PostgreSQL outbox ------------------------------

_WORKER = r"""
import json, os, sys, time
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from scimsync_sqlalchemy import SQLAlchemyStore

url, name, go = sys.argv[1], sys.argv[2], sys.argv[3]
engine = create_engine(url)
store = SQLAlchemyStore(engine)
while not os.path.exists(go):  # start together
    time.sleep(0.005)
claimed, clashes, errors = [], [], []
while True:
    try:
        items = store.claim(name, 3, 120)
    except Exception as exc:
        errors.append(repr(exc))
        continue
    if not items:
        if store.outbox_counts()["pending"] == 0:
            break
        continue  # other workers hold the rest
    for item in items:
        claimed.append(item.id)
        try:  # a key in flight in two processes at once would collide here
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO in_flight (k) VALUES (:k)"), {"k": item.key})
        except IntegrityError:
            clashes.append(item.key)
            continue
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM in_flight WHERE k = :k"), {"k": item.key})
        if not store.complete(item):
            errors.append(f"complete returned False for {item.key}")
print(json.dumps({"claimed": claimed, "clashes": clashes, "errors": errors}))
"""


@pytest.mark.services
def test_several_processes_never_get_the_same_row_or_key(postgres_url: str, tmp_path: Path) -> None:
    store = SQLAlchemyStore(postgres_url)
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE in_flight (k TEXT PRIMARY KEY)"))
    for i in range(70):  # three rows per key (every target, two named ones)
        for target in (None, "aws", "other"):
            store.enqueue("user", str(i), target)
    expected = {item.id for item in store.outbox()}
    assert len(expected) == 210
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, postgres_url, f"p{n}", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert [(r["clashes"], r["errors"]) for r in results] == [([], [])] * 3
    claimed = [row_id for r in results for row_id in r["claimed"]]
    assert sorted(claimed) == sorted(expected)  # every row handed out exactly once
    assert all(r["claimed"] for r in results)  # and every process took part
    assert store.outbox() == []
    store.close()


@pytest.mark.services
def test_claim_skips_a_row_locked_by_an_open_host_transaction(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    store = SQLAlchemyStore(engine)
    store.enqueue("user", "1")
    store.enqueue("user", "2")
    got: list[list[str]] = []
    with engine.connect() as host:
        host.begin()
        store.enqueue_in(host, "user", "1")  # the host saves user 1 again, not committed yet
        worker = threading.Thread(
            target=lambda: got.append([i.key for i in store.claim("w", 10, 60)])
        )
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive()  # did not wait for the host's transaction
        assert got == [["2"]]
        host.commit()
    (row,) = [i for i in store.outbox() if i.key == "1"]
    assert row.seq == 2
    assert [i.key for i in store.claim("w", 10, 60)] == ["1"]
    store.close()
    engine.dispose()


def test_enqueue_in_refuses_another_database(tmp_path: Path) -> None:
    store = SQLAlchemyStore(f"sqlite:///{tmp_path / 'a.db'}")
    other = create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    with other.begin() as conn, pytest.raises(ConfigurationError, match="not on the store"):
        store.enqueue_in(conn, "user", "1")
    assert store.outbox() == []
    store.close()
    other.dispose()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = SQLAlchemyStore(url, table_prefix="app_sync_")
    store.create_all()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE app_sync_schema_version SET version = 99"))
    store.close()
    with pytest.raises(ConfigurationError, match="schema version 99"):
        SQLAlchemyStore(url, table_prefix="app_sync_").outbox()


def test_repr_hides_the_password() -> None:
    store = SQLAlchemyStore("postgresql+psycopg://app:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in repr(store)
    store.close()
