"""DjangoStore passes the state-store contract on SQLite and on real PostgreSQL."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator
from pathlib import Path

import _django_project
import pytest

_django_project.setup()

from django.db import connections, transaction  # noqa: E402
from scimsync_django import DjangoStore  # noqa: E402

from scimsync import StateStore  # noqa: E402
from scimsync.testing.store_contract import StoreContract  # noqa: E402


class TestDjangoStoreOnSQLite(StoreContract):
    """A fresh SQLite database (a new alias) per test."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[StateStore]:
        alias = _django_project.add_database(
            _django_project.sqlite_database(tmp_path), migrate=False
        )
        made = DjangoStore(alias)
        try:
            yield made
        finally:
            made.close()
            _django_project.drop_database(alias)


class TestDjangoStoreORMEnqueueOnSQLite(StoreContract):
    """The portable enqueue (ORM UPDATE, else INSERT in a savepoint) of other databases."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[StateStore]:
        alias = _django_project.add_database(
            _django_project.sqlite_database(tmp_path), migrate=False
        )
        made = DjangoStore(alias, upsert=False)
        try:
            yield made
        finally:
            made.close()
            _django_project.drop_database(alias)


@pytest.mark.services
class TestDjangoStoreOnPostgreSQL(StoreContract):
    """The postgres_dsn fixture's fresh database per test."""

    @pytest.fixture
    def store(self, postgres_dsn: str) -> Iterator[StateStore]:
        alias = _django_project.add_database(
            _django_project.postgres_database(postgres_dsn), migrate=False
        )
        made = DjangoStore(alias)
        try:
            yield made
        finally:
            made.close()
            _django_project.drop_database(alias)


def test_enqueue_joins_the_callers_transaction(tmp_path: Path) -> None:
    alias = _django_project.add_database(_django_project.sqlite_database(tmp_path), migrate=False)
    store = DjangoStore(alias)
    try:
        seen: list[str] = []

        def enqueue_then_fail() -> None:
            with transaction.atomic(using=alias):
                store.enqueue("user", "1")
                seen.extend(i.key for i in store.outbox())  # visible inside
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            enqueue_then_fail()
        assert seen == ["1"]
        assert store.outbox() == []
        with transaction.atomic(using=alias):
            store.enqueue("user", "1")
        assert [i.key for i in store.outbox()] == ["1"]
    finally:
        _django_project.drop_database(alias)


def test_repr_and_validation() -> None:
    assert repr(DjangoStore("default")) == "DjangoStore(using='default')"
    with pytest.raises(ValueError, match="alias"):
        DjangoStore("")


def test_migration_matches_the_models() -> None:
    from django.core.management import call_command

    # Exits non-zero (SystemExit) if the models changed without a migration.
    call_command("makemigrations", "scimsync_django", check=True, dry_run=True, verbosity=0)


# --- several worker processes on PostgreSQL --------------------------------------------

_KEYS = 200


def _drain(settings_dict: dict[str, object], owner: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    sys.path.insert(0, str(Path(__file__).parent))
    import _django_project as project

    project.setup()  # a fresh process (spawn): configure and migrate its own default db
    from django.db import connections as conns

    conns.settings["pg"] = project.configured("pg", settings_dict)
    store = DjangoStore("pg")
    got: list[str] = []
    while True:
        items = store.claim(owner, 3, 60)
        if not items:
            if store.outbox_counts()["pending"] == 0:
                break
            continue
        for item in items:
            got.append(f"{item.kind}:{item.key}:{item.target or ''}")
            assert store.complete(item)
    conns["pg"].close()
    out.put(got)


@pytest.mark.services
def test_several_processes_claim_each_row_once(postgres_dsn: str) -> None:
    settings_dict = _django_project.postgres_database(postgres_dsn)
    alias = _django_project.add_database(settings_dict, migrate=False)
    store = DjangoStore(alias)
    try:
        expected = []
        for i in range(_KEYS):
            store.enqueue("user", str(i))
            expected.append(f"user:{i}:")
            if i % 10 == 0:  # the same key for one target: never in flight twice
                store.enqueue("user", str(i), "aws")
                expected.append(f"user:{i}:aws")
        connections[alias].close()
        ctx = multiprocessing.get_context("spawn")
        out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
        procs = [ctx.Process(target=_drain, args=(settings_dict, f"p{n}", out)) for n in range(3)]
        for p in procs:
            p.start()
        results = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
        claimed = [k for r in results for k in r]
        assert sorted(claimed) == sorted(expected)  # every row exactly once
        assert sum(1 for r in results if r) >= 2  # the work was shared
        assert store.outbox() == []
    finally:
        _django_project.drop_database(alias)


@pytest.mark.services
def test_claim_reconnects_after_the_connection_was_dropped(postgres_dsn: str) -> None:
    import psycopg
    from django.db import Error as DatabaseError

    alias = _django_project.add_database(
        _django_project.postgres_database(postgres_dsn), migrate=False
    )
    store = DjangoStore(alias)
    try:
        store.enqueue("user", "1")
        pid = connections[alias].connection.info.backend_pid
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])  # a database restart
        with pytest.raises(DatabaseError):
            store.claim("w", 1, 60)
        (item,) = store.claim("w", 1, 60)  # a fresh connection: the worker carries on
        assert item.key == "1"
    finally:
        _django_project.drop_database(alias)
