"""Bulk syncs store their report records in batches; manual syncs store each at once.

A bulk batch (``sync_many``, and so reconcile and the dispatcher) hands each record to a
:class:`ReportBuffer`, which stores them with one ``add_reports`` transaction per batch
and only then sends each record's signal, so a receiver always finds its record stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from _engine_support import open_env

from scimsync import AWS, ReportRecord, SQLiteStore, signals
from scimsync._engine._run import ReportBuffer
from scimsync._engine._trace import SyncTrace


def _trace(key: str) -> SyncTrace:
    return SyncTrace(kind="user", key=key, target="t", dry_run=False)


def _record(key: str) -> ReportRecord:
    return ReportRecord(target="t", kind="user", key=key, operation="create", outcome="created")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _buffer(stored: list[list[str]], sent: list[str], clock: FakeClock, **kw: Any) -> ReportBuffer:
    def store_many(records: list[Any]) -> None:
        stored.append([r.key for r in records])

    def then(record: Any, trace: SyncTrace) -> None:
        assert any(record.key in batch for batch in stored), "signalled before it was stored"
        sent.append(record.key)

    def on_error(exc: BaseException, records: list[Any]) -> None:
        raise AssertionError(f"unexpected: {exc}")

    return ReportBuffer(store_many, then, on_error, clock=clock, **kw)


def test_buffer_stores_a_full_batch_at_once_then_signals() -> None:
    stored: list[list[str]] = []
    sent: list[str] = []
    buf = _buffer(stored, sent, FakeClock(), size=3, max_age=60)
    for k in "ab":
        buf.add(_record(k), _trace(k))
    assert stored == []
    assert sent == []
    buf.add(_record("c"), _trace("c"))
    assert stored == [["a", "b", "c"]]
    assert sent == ["a", "b", "c"]
    buf.add(_record("d"), _trace("d"))
    buf.flush()
    assert stored == [["a", "b", "c"], ["d"]]
    assert sent == ["a", "b", "c", "d"]
    buf.flush()  # nothing left: no empty batch is stored
    assert len(stored) == 2


def test_buffer_stores_once_the_oldest_record_has_waited_max_age() -> None:
    stored: list[list[str]] = []
    sent: list[str] = []
    clock = FakeClock()
    buf = _buffer(stored, sent, clock, size=50, max_age=1.0)
    buf.add(_record("a"), _trace("a"))
    clock.now += 0.5
    buf.add(_record("b"), _trace("b"))
    assert stored == []
    clock.now += 0.6  # "a" has now waited 1.1 s
    buf.add(_record("c"), _trace("c"))
    assert stored == [["a", "b", "c"]]
    assert sent == ["a", "b", "c"]


def test_buffer_failure_is_reported_and_signals_still_go_out() -> None:
    errors: list[tuple[str, list[str]]] = []
    sent: list[str] = []

    def store_many(records: list[Any]) -> None:
        raise OSError("disk full")

    buf = ReportBuffer(
        store_many,
        lambda record, trace: sent.append(record.key),
        lambda exc, records: errors.append((str(exc), [r.key for r in records])),
        size=2,
    )
    buf.add(_record("a"), _trace("a"))
    buf.add(_record("b"), _trace("b"))
    assert errors == [("disk full", ["a", "b"])]
    assert sent == ["a", "b"]


class CountingStore(SQLiteStore):
    """A real SQLite store that remembers how reports reached it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.single: list[str] = []
        self.batches: list[int] = []
        self.fail_batches = False
        self._count_lock = threading.Lock()

    def add_report(self, record: ReportRecord) -> ReportRecord:
        with self._count_lock:
            self.single.append(record.key)
        return super().add_report(record)

    def add_reports(self, records: Any) -> int:
        records = list(records)
        with self._count_lock:
            self.batches.append(len(records))
        if self.fail_batches:
            raise OSError("the reports table is locked by a backup")
        return super().add_reports(records)


@contextmanager
def counting_env(tmp_path: Path, server: Any, users: int, prefix: str) -> Iterator[Any]:
    """An engine environment on the AWS emulator whose store is a :class:`CountingStore`,
    with ``users`` users in its source."""
    with open_env("aws", server, AWS, tmp_path) as env:
        env.store.close()
        env.store = CountingStore(tmp_path / "counting.db")
        try:
            for i in range(users):
                env.source.add_user(str(i), env.name(f"{prefix}{i}"))
            yield env
        finally:
            env.store.close()


def test_bulk_sync_stores_reports_in_batches_before_signalling(tmp_path, aws_scim_server):
    with counting_env(tmp_path, aws_scim_server, 120, "bulk") as env:
        store = env.store
        prov = env.provisioner(concurrency=4)
        found_at_signal: list[bool] = []

        def on_created(sender: Any, *, record: ReportRecord, **extra: Any) -> None:
            found_at_signal.append(bool(store.query_reports(key=record.key)))

        with signals.object_created.connected_to(on_created, sender=prov):
            traces = prov.sync_many("user", [str(i) for i in range(120)])
        assert [t.outcome for t in traces] == ["created"] * 120
        assert store.single == []  # no report was stored on its own
        assert sum(store.batches) == 120
        assert max(store.batches) <= 50
        assert len(store.batches) >= 3
        assert found_at_signal == [True] * 120
        stored = store.query_reports(kind="user")
        assert sorted(r.key for r in stored) == sorted(str(i) for i in range(120))
        assert all(r.outcome == "created" for r in stored)


def test_bulk_sync_goes_on_when_its_reports_cannot_be_stored(
    tmp_path, aws_scim_server, caplog: pytest.LogCaptureFixture
):
    with counting_env(tmp_path, aws_scim_server, 7, "nostore") as env:
        store = env.store
        store.fail_batches = True
        prov = env.provisioner(concurrency=2)
        sent: list[str] = []

        def on_created(sender: Any, *, record: ReportRecord, **extra: Any) -> None:
            sent.append(record.key)

        with (
            caplog.at_level(logging.ERROR, logger="scimsync"),
            signals.object_created.connected_to(on_created, sender=prov),
        ):
            traces = prov.sync_many("user", [str(i) for i in range(7)])
        assert [t.outcome for t in traces] == ["created"] * 7
        assert store.count_links("t", "user") == 7  # the links, the real state, are kept
        assert sorted(sent) == [str(i) for i in range(7)]
        text = caplog.text
        assert "could not store the reports for user" in text
        assert "the reports table is locked by a backup" in text
        assert aws_scim_server.token not in text


def test_a_manual_sync_stores_its_report_at_once(tmp_path, aws_scim_server):
    with counting_env(tmp_path, aws_scim_server, 2, "manual") as env:
        prov = env.provisioner()
        ids: list[int | None] = []

        def on_created(sender: Any, *, record: ReportRecord, **extra: Any) -> None:
            ids.append(record.id)

        with signals.object_created.connected_to(on_created, sender=prov):
            prov.sync_user("1")
        assert env.store.single == ["1"]
        assert env.store.batches == []
        assert len(ids) == 1
        assert ids[0] is not None  # stored, with its id, before the signal
