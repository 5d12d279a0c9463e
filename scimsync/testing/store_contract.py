"""The state-store contract suite: every :class:`~scimsync.StateStore` must pass it.

Subclass :class:`StoreContract` in a test module, name the subclass ``Test…`` and give it
a ``make_store`` method; pytest then runs every contract test against your store::

    from scimsync import SQLiteStore
    from scimsync.testing.store_contract import StoreContract

    class TestMyStore(StoreContract):
        def make_store(self, tmp_path):
            return SQLiteStore(tmp_path / "state.db")

The tests use only the public protocol and real time (no fake clock), and never assert on
timings: lease expiry is tested with ``lease_seconds=0``, backoff with ``retry_at`` an hour
away. Needs ``pytest``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import datetime as _dt
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from scimsync import Link, Outcome, ReportRecord, StateStore
from scimsync.errors import LinkConflictError

__all__ = ["StoreContract"]

UTC = _dt.timezone.utc
T0 = _dt.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _now() -> _dt.datetime:
    return _dt.datetime.now(UTC)


def _link(key: str, remote_id: str | None = None, **kw: Any) -> Link:
    fields: dict[str, Any] = {
        "target": "aws",
        "kind": "user",
        "key": key,
        "remote_id": remote_id or f"r-{key}",
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(kw)
    return Link(**fields)


def _rec(key: str, outcome: Outcome | str = Outcome.CREATED, **kw: Any) -> ReportRecord:
    fields: dict[str, Any] = {
        "target": "aws",
        "kind": "user",
        "key": key,
        "operation": "create",
        "outcome": outcome,
    }
    fields.update(kw)
    return ReportRecord(**fields)


class StoreContract:
    """Contract tests for a :class:`~scimsync.StateStore`; override :meth:`make_store`.

    .. versionadded:: 0.1.0
    """

    #: Threads used by the concurrency tests.
    threads: int = 4

    def make_store(self, tmp_path: Path) -> StateStore:
        """Return a new, empty store (files go under ``tmp_path``)."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[StateStore]:
        """The store under test, closed afterwards."""
        made = self.make_store(tmp_path)
        try:
            yield made
        finally:
            made.close()

    # --- links -----------------------------------------------------------------------

    def test_is_a_state_store(self, store: StateStore) -> None:
        assert isinstance(store, StateStore)

    def test_link_roundtrip(self, store: StateStore) -> None:
        link = _link(
            "1",
            last_rep={"userName": "ada", "emails": [{"value": "a@x", "primary": True}]},
            last_hash="abc",
            origin="adopted",
            state="deactivated",
            display="ada",
            deactivated_at=T0 + _dt.timedelta(minutes=5),
        )
        assert store.get_link("aws", "user", "1") is None
        store.save_link(link)
        assert store.get_link("aws", "user", "1") == link
        assert store.get_link_by_remote("aws", "user", "r-1") == link
        assert store.get_link("aws", "group", "1") is None
        assert store.get_link("other", "user", "1") is None
        assert store.get_link_by_remote("aws", "group", "r-1") is None

    def test_get_links_many_at_once(self, store: StateStore) -> None:
        keys = [str(i) for i in range(1, 1203)]  # more than one query's worth of keys
        store.save_links(_link(k, remote_id=f"r-{k}") for k in keys[::2])
        store.save_link(_link("1", kind="group", remote_id="g-1"))
        found = store.get_links("aws", "user", [*keys, "1", "missing"])
        assert found == {k: store.get_link("aws", "user", k) for k in keys[::2]}
        assert found["1"].remote_id == "r-1"  # the user's link, not the group's
        assert store.get_links("aws", "group", keys) == {"1": store.get_link("aws", "group", "1")}
        assert store.get_links("other", "user", keys) == {}
        assert store.get_links("aws", "user", []) == {}

    def test_save_link_replaces(self, store: StateStore) -> None:
        store.save_link(_link("1", "old"))
        newer = _link("1", "new", updated_at=T0 + _dt.timedelta(hours=1), last_rep={"a": 1})
        store.save_link(newer)
        assert store.get_link("aws", "user", "1") == newer
        assert store.get_link_by_remote("aws", "user", "old") is None
        assert store.count_links("aws") == 1
        # the old remote id is free again
        store.save_link(_link("2", "old"))
        assert store.get_link_by_remote("aws", "user", "old") == _link("2", "old")

    def test_remote_id_is_unique_per_target_and_kind(self, store: StateStore) -> None:
        store.save_link(_link("1", "r"))
        with pytest.raises(LinkConflictError) as info:
            store.save_link(_link("2", "r"))
        assert info.value.key == "2"
        assert info.value.other_key == "1"
        assert "r" in str(info.value)
        assert store.get_link("aws", "user", "2") is None
        assert store.get_link_by_remote("aws", "user", "r") == _link("1", "r")
        # the same remote id on another kind or target is fine
        store.save_link(_link("2", "r", kind="group"))
        store.save_link(_link("2", "r", target="other"))
        assert store.count_links("aws") == 2

    def test_delete_link(self, store: StateStore) -> None:
        store.save_link(_link("1"))
        assert store.delete_link("aws", "user", "1") is True
        assert store.delete_link("aws", "user", "1") is False
        assert store.get_link("aws", "user", "1") is None
        assert store.get_link_by_remote("aws", "user", "r-1") is None
        store.save_link(_link("9", "r-1"))  # remote id free again

    def test_iter_and_count_links(self, store: StateStore) -> None:
        users = [_link(f"u{i:04d}") for i in range(1234)]
        groups = [_link(f"g{i}", kind="group") for i in range(7)]
        assert store.save_links(users + groups) == 1241
        store.save_link(_link("x", target="other"))
        assert store.count_links("aws") == 1241
        assert store.count_links("aws", "user") == 1234
        assert store.count_links("aws", "group") == 7
        assert store.count_links("nobody") == 0
        got = list(store.iter_links("aws"))
        assert [lk.key for lk in got] == sorted(g.key for g in groups) + sorted(
            u.key for u in users
        )
        assert [lk.key for lk in store.iter_links("aws", "group")] == sorted(g.key for g in groups)
        assert list(store.iter_links("nobody")) == []

    def test_write_links_while_iterating(self, store: StateStore) -> None:
        store.save_links(_link(f"u{i:04d}") for i in range(1100))
        seen = 0
        for link in store.iter_links("aws", "user"):
            store.save_link(attrs.evolve(link, state="deactivated"))
            seen += 1
        assert seen == 1100
        assert {lk.state for lk in store.iter_links("aws")} == {"deactivated"}

    def test_save_links_is_all_or_none(self, store: StateStore) -> None:
        store.save_link(_link("1", "taken"))
        batch = [_link("2"), _link("3"), _link("4", "taken"), _link("5")]
        with pytest.raises(LinkConflictError):
            store.save_links(batch)
        assert store.count_links("aws") == 1
        assert store.get_link("aws", "user", "2") is None

    # --- outbox ----------------------------------------------------------------------

    def test_enqueue_coalesces(self, store: StateStore) -> None:
        for _ in range(3):
            store.enqueue("user", "1")
        store.enqueue("user", "1", "aws")
        store.enqueue("group", "1")
        rows = store.outbox()
        assert [(r.kind, r.key, r.target) for r in rows] == [
            ("user", "1", None),
            ("user", "1", "aws"),
            ("group", "1", None),
        ]
        assert rows[0].seq == 3
        assert rows[1].seq == 1
        assert all(r.status == "pending" and r.attempts == 0 for r in rows)
        assert all(r.lease_owner is None and r.lease_until is None for r in rows)

    def test_enqueue_validates(self, store: StateStore) -> None:
        with pytest.raises(ValueError, match="kind"):
            store.enqueue("robot", "1")
        with pytest.raises(ValueError, match="key"):
            store.enqueue("user", "")
        with pytest.raises(ValueError, match="limit"):
            store.claim("w", 0, 30)

    def test_claim_leases_and_counts_attempts(self, store: StateStore) -> None:
        for i in range(5):
            store.enqueue("user", str(i))
        first = store.claim("w1", 3, 60)
        assert [i.key for i in first] == ["0", "1", "2"]
        for item in first:
            assert item.lease_owner == "w1"
            assert item.attempts == 1
            assert item.lease_until is not None
            assert item.lease_until > _now()
        second = store.claim("w2", 10, 60)
        assert [i.key for i in second] == ["3", "4"]
        assert store.claim("w3", 10, 60) == []
        counts = store.outbox_counts()
        assert counts == {"pending": 5, "dead": 0, "leased": 5, "due": 0}

    def test_expired_lease_returns_row(self, store: StateStore) -> None:
        store.enqueue("user", "1")
        (crashed,) = store.claim("w1", 1, 0)  # the lease ends at once: a crashed worker
        (again,) = store.claim("w2", 1, 60)
        assert again.id == crashed.id
        assert again.lease_owner == "w2"
        assert again.attempts == 2
        # the crashed worker wakes up: its lease is gone, so it changes nothing
        assert store.fail(crashed, "late", None) is False
        assert store.release(crashed) is False
        assert store.outbox()[0].lease_owner == "w2"
        assert store.complete(again) is True
        assert store.outbox() == []

    def test_one_key_in_flight_across_targets(self, store: StateStore) -> None:
        store.enqueue("user", "1")
        store.enqueue("user", "1", "aws")
        store.enqueue("user", "2")
        got = store.claim("w1", 10, 60)
        assert [(i.key, i.target) for i in got] == [("1", None), ("2", None)]
        assert store.claim("w2", 10, 60) == []
        assert store.complete(got[0]) is True
        (nxt,) = store.claim("w2", 10, 60)
        assert (nxt.key, nxt.target) == ("1", "aws")

    def test_complete_deletes(self, store: StateStore) -> None:
        store.enqueue("user", "1")
        (item,) = store.claim("w", 1, 60)
        assert store.complete(item) is True
        assert store.outbox() == []
        assert store.outbox_counts() == {"pending": 0, "dead": 0, "leased": 0, "due": 0}

    def test_enqueue_during_processing_keeps_the_row(self, store: StateStore) -> None:
        store.enqueue("user", "1")
        (item,) = store.claim("w", 1, 60)
        store.enqueue("user", "1")  # the host saved again while we were syncing
        assert store.complete(item) is False
        (row,) = store.outbox()
        assert row.status == "pending"
        assert row.lease_owner is None
        assert row.seq == item.seq + 1
        (again,) = store.claim("w", 1, 60)
        assert again.seq == item.seq + 1
        assert store.complete(again) is True
        assert store.outbox() == []

    def test_fail_schedules_a_retry(self, store: StateStore) -> None:
        store.enqueue("user", "1")
        (item,) = store.claim("w", 1, 60)
        later = _now() + _dt.timedelta(hours=1)
        assert store.fail(item, "503 from server", later) is True
        (row,) = store.outbox()
        assert row.status == "pending"
        assert row.last_error == "503 from server"
        assert row.lease_owner is None
        assert row.attempts == 1
        assert abs(row.next_attempt_at - later) < _dt.timedelta(milliseconds=1)
        assert store.claim("w", 1, 60) == []  # not due yet
        assert store.outbox_counts()["due"] == 0
        store.enqueue("user", "1")  # a new change makes it due now
        (again,) = store.claim("w", 1, 60)
        assert again.attempts == 2

    def test_fail_with_past_retry_is_due(self, store: StateStore) -> None:
        store.enqueue("user", "1")
        (item,) = store.claim("w", 1, 60)
        store.fail(item, "boom", _now() - _dt.timedelta(seconds=1))
        (again,) = store.claim("w", 1, 60)
        assert again.attempts == 2
        assert again.last_error == "boom"

    def test_dead_letter_and_replay(self, store: StateStore) -> None:
        for key in ("1", "2", "3"):
            store.enqueue("user", key)
        items = store.claim("w", 3, 60)
        for item in items:
            assert store.fail(item, f"bad {item.key}", None) is True
        dead = store.outbox("dead")
        assert [r.key for r in dead] == ["1", "2", "3"]
        assert all(r.last_error == f"bad {r.key}" for r in dead)
        assert store.outbox("pending") == []
        assert store.claim("w", 10, 60) == []
        assert store.outbox_counts() == {"pending": 0, "dead": 3, "leased": 0, "due": 0}
        assert store.replay([dead[0].id]) == 1
        assert [r.key for r in store.outbox("pending")] == ["1"]
        assert store.replay() == 2
        assert store.replay() == 0
        rows = store.claim("w", 10, 60)
        assert [r.key for r in rows] == ["1", "2", "3"]
        assert all(r.attempts == 1 for r in rows)

    def test_enqueue_revives_a_dead_row(self, store: StateStore) -> None:
        store.enqueue("user", "1")
        (item,) = store.claim("w", 1, 60)
        store.fail(item, "bad", None)
        store.enqueue("user", "1")
        (row,) = store.outbox()
        assert (row.status, row.attempts) == ("pending", 0)
        assert len(store.claim("w", 1, 60)) == 1

    def test_fail_after_a_new_change_is_not_dead(self, store: StateStore) -> None:
        store.enqueue("user", "1")
        (item,) = store.claim("w", 1, 60)
        store.enqueue("user", "1")
        store.fail(item, "bad", None)
        (row,) = store.outbox()
        assert row.status == "pending"
        assert len(store.claim("w", 1, 60)) == 1

    def test_release(self, store: StateStore) -> None:
        store.enqueue("user", "1")
        (item,) = store.claim("w", 1, 60)
        assert store.release(item) is True
        (row,) = store.outbox()
        assert (row.attempts, row.lease_owner, row.lease_until) == (0, None, None)
        (again,) = store.claim("w2", 1, 60)
        assert again.attempts == 1

    def test_discard_only_dead_rows(self, store: StateStore) -> None:
        store.enqueue("user", "1")
        store.enqueue("user", "2")
        (item,) = store.claim("w", 1, 60)
        store.fail(item, "bad", None)
        ids = [r.id for r in store.outbox()]
        assert store.discard(ids) == 1
        assert [r.key for r in store.outbox()] == ["2"]

    def test_claim_never_hands_a_key_to_two_threads(self, store: StateStore) -> None:
        keys = [str(i) for i in range(120)]
        for key in keys:
            store.enqueue("user", key)
        done: list[str] = []
        in_flight: set[str] = set()
        clashes: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            try:
                while True:
                    items = store.claim(f"w{n}", 5, 60)
                    if not items:
                        return
                    with lock:
                        for it in items:
                            if it.key in in_flight:
                                clashes.append(it.key)
                            in_flight.add(it.key)
                    for it in items:
                        with lock:
                            in_flight.discard(it.key)
                            done.append(it.key)
                        assert store.complete(it) is True
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(self.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert clashes == []
        assert sorted(done, key=int) == keys  # each exactly once
        assert store.outbox() == []

    def test_no_change_is_lost_under_concurrent_saves(self, store: StateStore) -> None:
        """Hosts save (bump a version, enqueue) while workers sync (read the version)."""
        keys = [str(i) for i in range(30)]
        version = dict.fromkeys(keys, 0)
        synced = dict.fromkeys(keys, -1)
        holding: set[str] = set()
        clashes: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        saving = threading.Event()
        saving.set()
        rng = random.Random(7)
        plan = [rng.choice(keys) for _ in range(400)]

        def host() -> None:
            try:
                for key in plan:
                    with lock:
                        version[key] += 1
                    store.enqueue("user", key)
                    time.sleep(0.0002)  # let workers run between saves
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)
            finally:
                saving.clear()

        def worker(n: int) -> None:
            try:
                while True:
                    items = store.claim(f"w{n}", 3, 60)
                    if not items:
                        if not saving.is_set() and not store.outbox():
                            return
                        time.sleep(0.001)  # others hold the remaining rows; not a timing test
                        continue
                    for it in items:
                        with lock:
                            if it.key in holding:
                                clashes.append(it.key)
                            holding.add(it.key)
                            synced[it.key] = version[it.key]  # level-triggered: read now
                        time.sleep(0.0005)  # the "network call": widens the race window
                        with lock:
                            holding.discard(it.key)
                        store.complete(it)
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

        threads = [threading.Thread(target=host)] + [
            threading.Thread(target=worker, args=(n,)) for n in range(self.threads)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert clashes == []
        assert store.outbox() == []
        lost = {k: (version[k], synced[k]) for k in keys if version[k] and synced[k] != version[k]}
        assert lost == {}

    # --- reports ---------------------------------------------------------------------

    def test_reports_roundtrip_and_ids(self, store: StateStore) -> None:
        rec = _rec(
            "1",
            display="ada",
            http_status=201,
            detail="created",
            request_id="req-1",
            duration_ms=12.5,
            run_id="run1",
            time=T0,
        )
        stored = store.add_report(rec)
        assert stored.id is not None
        assert attrs.evolve(stored, id=None) == rec
        other = store.add_report(_rec("2", "failed", error="boom", time=T0))
        assert other.id is not None
        assert other.id != stored.id
        assert store.query_reports() == [stored, other]

    def test_query_reports(self, store: StateStore) -> None:
        recs = [
            _rec("1", "created", time=T0, run_id="a"),
            _rec("1", "updated", time=T0 + _dt.timedelta(hours=1), run_id="b"),
            _rec("2", "failed", time=T0 + _dt.timedelta(hours=2), run_id="b", error="x"),
            _rec("g", "created", kind="group", time=T0 + _dt.timedelta(hours=3)),
            _rec("1", "unchanged", target="other", time=T0 + _dt.timedelta(hours=4)),
        ]
        assert store.add_reports(recs) == 5

        def keys(**kw: Any) -> list[tuple[str, str]]:
            return [(r.key, r.outcome.value) for r in store.query_reports(**kw)]

        assert keys(key="1") == [("1", "created"), ("1", "updated"), ("1", "unchanged")]
        assert keys(key="1", target="aws") == [("1", "created"), ("1", "updated")]
        assert keys(kind="group") == [("g", "created")]
        assert keys(outcome=Outcome.FAILED) == [("2", "failed")]
        assert keys(outcome="created") == [("1", "created"), ("g", "created")]
        assert keys(outcome=["failed", Outcome.UPDATED]) == [("1", "updated"), ("2", "failed")]
        assert keys(outcome=[]) == []
        assert keys(run_id="b") == [("1", "updated"), ("2", "failed")]
        since, until = T0 + _dt.timedelta(hours=1), T0 + _dt.timedelta(hours=3)
        assert keys(since=since, until=until) == [("1", "updated"), ("2", "failed")]
        assert keys(limit=2) == [("1", "created"), ("1", "updated")]
        assert keys(limit=2, offset=3) == [("g", "created"), ("1", "unchanged")]
        assert keys(offset=4) == [("1", "unchanged")]
        assert keys(newest_first=True, limit=1) == [("1", "unchanged")]
        assert keys(target="nobody") == []

    def test_prune_reports(self, store: StateStore) -> None:
        store.add_reports(_rec(str(i), time=T0 + _dt.timedelta(days=i)) for i in range(5))
        assert store.prune_reports(T0 + _dt.timedelta(days=3)) == 3
        assert [r.key for r in store.query_reports()] == ["3", "4"]

    # --- runs ------------------------------------------------------------------------

    def test_runs(self, store: StateStore) -> None:
        run = store.start_run("aws", "deep", dry_run=True)
        assert run.status == "running"
        assert run.finished_at is None
        assert run.dry_run is True
        assert store.get_run(run.id) == run
        done = store.finish_run(run.id, "partial", {"created": 2, "failed": 1}, error="1 failed")
        assert done.status == "partial"
        assert done.counts == {"created": 2, "failed": 1}
        assert done.error == "1 failed"
        assert done.finished_at is not None
        assert done.finished_at >= run.started_at
        assert store.get_run(run.id) == done
        assert store.get_run("nope") is None

    def test_run_errors(self, store: StateStore) -> None:
        run = store.start_run("aws", "incremental", run_id="fixed")
        assert run.id == "fixed"
        with pytest.raises(ValueError, match="exists"):
            store.start_run("aws", "incremental", run_id="fixed")
        with pytest.raises(KeyError):
            store.finish_run("missing", "complete")
        with pytest.raises(ValueError, match="status"):
            store.finish_run("fixed", "running")
        kept = store.finish_run("fixed", "complete")
        assert kept.counts == {}

    def test_list_runs(self, store: StateStore) -> None:
        made = [store.start_run("aws" if i % 2 else "other", "deep") for i in range(5)]
        listed = store.list_runs()
        assert [r.id for r in listed] == [r.id for r in reversed(made)]
        assert [r.id for r in store.list_runs("aws")] == [made[3].id, made[1].id]
        assert [r.id for r in store.list_runs(limit=2)] == [made[4].id, made[3].id]

    # --- pending approvals -----------------------------------------------------------

    def test_pending_dedupes(self, store: StateStore) -> None:
        first = store.add_pending("aws", "user", "1", "delete_user", remote_id="r1", reason="why")
        assert (first.status, first.remote_id, first.reason) == ("pending", "r1", "why")
        again = store.add_pending("aws", "user", "1", "delete_user", reason="other")
        assert again == first
        store.add_pending("aws", "user", "1", "deactivate_user")
        store.add_pending("other", "user", "1", "delete_user")
        assert len(store.list_pending()) == 3
        assert [p.action for p in store.list_pending(target="aws")] == [
            "delete_user",
            "deactivate_user",
        ]
        store.set_pending_status(first.id, "rejected", by="admin")
        fresh = store.add_pending("aws", "user", "1", "delete_user")
        assert fresh.id != first.id
        assert [p.id for p in store.list_pending("rejected")] == [first.id]
        assert len(store.list_pending(None)) == 4

    def test_pending_transitions(self, store: StateStore) -> None:
        held = store.add_pending("aws", "group", "g", "delete_group")
        assert store.get_pending(held.id) == held
        assert store.get_pending(10_000) is None
        approved = store.set_pending_status(held.id, "approved", by="alice")
        assert approved.status == "approved"
        assert approved.decided_by == "alice"
        assert approved.decided_at is not None
        assert store.set_pending_status(held.id, "approved") == approved
        applied = store.set_pending_status(held.id, "applied")
        assert applied.status == "applied"
        assert applied.decided_by == "alice"
        assert store.get_pending(held.id) == applied
        with pytest.raises(ValueError, match="cannot move"):
            store.set_pending_status(held.id, "pending")
        with pytest.raises(ValueError, match="status"):
            store.set_pending_status(held.id, "maybe")
        with pytest.raises(KeyError):
            store.set_pending_status(10_000, "approved")
        assert store.list_pending() == []
