"""The store contract suite, run against SQLiteStore and InMemoryStore."""

from __future__ import annotations

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
