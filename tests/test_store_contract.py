"""The store contract suite, run against SQLiteStore and InMemoryStore."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scimsync import SQLiteStore, StateStore
from scimsync.testing import InMemoryStore
from scimsync.testing.store_contract import StoreContract


class TestSQLiteStoreContract(StoreContract):
    def make_store(self, tmp_path: Path) -> StateStore:
        return SQLiteStore(tmp_path / "state.db")


class TestInMemoryStoreContract(StoreContract):
    def make_store(self, tmp_path: Path) -> StateStore:
        return InMemoryStore()


# --- two processes against one SQLite file ------------------------------------------

_WORKER = r"""
import json, os, sys, time
from scimsync import Link, ReportRecord, SQLiteStore

path, name, go = sys.argv[1], sys.argv[2], sys.argv[3]
store = SQLiteStore(path, timeout=60)
mine = [f"{name}-{i}" for i in range(150)]
while not os.path.exists(go):  # start together
    time.sleep(0.005)
for key in mine:
    store.enqueue("user", key)
done, errors, idle = [], [], 0
while idle < 50:
    try:
        items = store.claim(name, 4, 120)
    except Exception as exc:
        errors.append(repr(exc))
        continue
    if not items:
        idle += 1
        time.sleep(0.01)
        continue
    idle = 0
    for item in items:
        try:
            store.save_link(Link(target="aws", kind="user", key=item.key,
                                 remote_id="r-" + item.key, display=name))
            store.add_report(ReportRecord(target="aws", kind="user", key=item.key,
                                          operation="create", outcome="created"))
            if not store.complete(item):
                errors.append("complete returned False for " + item.key)
            done.append(item.key)
        except Exception as exc:
            errors.append(repr(exc))
print(json.dumps({"done": done, "errors": errors}))
"""


def test_two_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    go = tmp_path / "go"
    SQLiteStore(path).ensure_schema()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), name, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert [r["errors"] for r in results] == [[], []]
    done = results[0]["done"] + results[1]["done"]
    expected = {f"p{n}-{i}" for n in (1, 2) for i in range(150)}
    assert sorted(done) == sorted(expected)  # every key once: none lost, none twice
    store = SQLiteStore(path)
    assert store.outbox() == []
    assert {lk.key for lk in store.iter_links("aws", "user")} == expected
    assert all(lk.remote_id == f"r-{lk.key}" for lk in store.iter_links("aws"))
    assert len(store.query_reports(target="aws")) == 300
    store.close()
