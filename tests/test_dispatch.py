"""Dispatcher logic against the real SQLite store, with a scripted stand-in for the engine.

The engine's own sync is exercised end to end in tests/test_dispatch_e2e.py; here the
"provisioner" is a small object whose sync_user/sync_group record calls and raise the
errors a test asks for, so coalescing, exclusivity, retries and dead letters can be
driven precisely.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter, defaultdict

import pytest

from scimsync._dispatch import Backoff, Dispatcher, classify_error
from scimsync._engine._shared import SourceReadError
from scimsync._store import SQLiteStore
from scimsync.errors import (
    ConfigurationError,
    ConnectionFailedError,
    NotFoundError,
    Problem,
    RateLimitedError,
    RequestRejectedError,
    SyncFailedError,
    TransientError,
    UnauthorizedError,
    ValidationError,
)

FAST = Backoff(base=0.01, factor=2.0, maximum=0.05, jitter=0.0)


class Target:
    def __init__(self, name):
        self.name = name


class ScriptedProvisioner:
    """Stands in for Provisioner: a store, sync_user/sync_group, notify listeners."""

    def __init__(self, store):
        self.store = store
        self.targets = [Target("aws")]
        self.calls = []
        self.errors = defaultdict(list)  # key -> [exception or None, ...] consumed in order
        self.gates = {}  # key -> threading.Event to wait on before returning
        self.lock = threading.Lock()
        self.active = Counter()
        self.overlaps = []
        self.listeners = []

    def add_notify_listener(self, fn):
        self.listeners.append(fn)

    def remove_notify_listener(self, fn):
        self.listeners.remove(fn)

    def notify(self, kind, key, target=None):
        self.store.enqueue(kind, key, target)
        for fn in list(self.listeners):
            fn()

    def _sync(self, kind, key, target):
        with self.lock:
            self.active[(kind, key)] += 1
            if self.active[(kind, key)] > 1:
                self.overlaps.append((kind, key))
            self.calls.append((kind, key, target))
            script = self.errors.get(key)
            exc = script.pop(0) if script else None
        try:
            gate = self.gates.get(key)
            if gate is not None:
                gate.wait(10)
            time.sleep(0.001)
            if exc is not None:
                raise exc
            return "ok"
        finally:
            with self.lock:
                self.active[(kind, key)] -= 1

    def sync_user(self, key, *, target=None):
        return self._sync("user", key, target)

    def sync_group(self, key, *, target=None):
        return self._sync("group", key, target)


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def prov(store):
    return ScriptedProvisioner(store)


def wait_until(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


def test_pending_rows_for_one_key_coalesce(prov, store):
    for _ in range(50):
        prov.notify("user", "42")
    prov.notify("user", "7")
    prov.notify("group", "42")
    assert store.outbox_counts()["pending"] == 3
    stats = Dispatcher(prov, backoff=FAST).drain()
    assert sorted(prov.calls) == [("group", "42", None), ("user", "42", None), ("user", "7", None)]
    assert stats.synced == 3
    assert store.outbox_counts()["pending"] == 0


def test_change_during_sync_is_synced_again(prov, store):
    gate = threading.Event()
    prov.gates["42"] = gate
    prov.notify("user", "42")
    d = Dispatcher(prov, workers=2, poll_interval=0.02, backoff=FAST).start()
    try:
        assert wait_until(lambda: len(prov.calls) == 1)
        # The key changes while its sync is in flight: a new notify bumps the row's seq.
        prov.notify("user", "42")
        prov.notify("user", "42")
        del prov.gates["42"]
        gate.set()
        assert d.flush(timeout=10)
    finally:
        d.stop()
    assert prov.calls == [("user", "42", None)] * 2
    assert d.stats.resynced == 1
    assert store.outbox() == []
    assert prov.overlaps == []


def test_one_key_is_never_synced_by_two_workers_at_once(prov, store):
    # Two dispatchers (as two processes would) with four workers each, hammering 5 keys.
    keys = [str(i) for i in range(5)]
    d1 = Dispatcher(prov, workers=4, poll_interval=0.01, backoff=FAST).start()
    d2 = Dispatcher(prov, workers=4, poll_interval=0.01, backoff=FAST).start()
    try:
        for _ in range(40):
            for k in keys:
                prov.notify("user", k)
            time.sleep(0.002)
        assert d1.flush(timeout=20)
        assert d2.flush(timeout=20)
    finally:
        d1.stop()
        d2.stop()
    assert prov.overlaps == []
    seen = Counter(k for _, k, _ in prov.calls)
    assert set(seen) == set(keys)
    # Coalescing: far fewer syncs than the 200 notifications.
    assert sum(seen.values()) < 200
    assert store.outbox() == []


def test_transient_failures_retry_with_backoff_then_succeed(prov, store):
    prov.errors["1"] = [
        SyncFailedError("sync failed", cause=ConnectionFailedError("refused")),
        TransientError("unavailable", status=503),
    ]
    prov.notify("user", "1")
    d = Dispatcher(prov, workers=1, poll_interval=0.01, backoff=FAST).start()
    try:
        assert d.flush(timeout=10, include_retries=True)
    finally:
        d.stop()
    assert prov.calls == [("user", "1", None)] * 3
    assert d.stats.retried == 2
    assert d.stats.synced == 1
    assert d.stats.dead == 0
    assert store.outbox() == []


def test_retry_waits_per_backoff_and_honours_retry_after(prov, store):
    prov.errors["1"] = [RateLimitedError("slow down", status=429, retry_after=30.0)]
    prov.errors["2"] = [TransientError("unavailable", status=503)]
    prov.notify("user", "1")
    prov.notify("user", "2")
    before = dt.datetime.now(dt.timezone.utc)
    d = Dispatcher(prov, backoff=Backoff(base=5.0, maximum=600.0, jitter=0.0))
    d.drain()
    rows = {r.key: r for r in store.outbox()}
    assert rows["1"].status == rows["2"].status == "pending"
    assert rows["1"].next_attempt_at >= before + dt.timedelta(seconds=30)
    assert before + dt.timedelta(seconds=5) <= rows["2"].next_attempt_at
    assert rows["2"].next_attempt_at < before + dt.timedelta(seconds=30)
    assert "503" in rows["2"].last_error or "unavailable" in rows["2"].last_error
    # Not due yet: a second drain does nothing.
    assert d.drain().synced == 0
    assert len(prov.calls) == 2


def test_permanent_failure_becomes_a_dead_letter_and_replay_syncs_it(prov, store):
    problem = Problem("9", "name.familyName", "required", "user 9: name.familyName is required")
    prov.errors["9"] = [
        RequestRejectedError("rejected", status=400, detail="Request is unparsable"),
        ValidationError("user", "9", [problem]),
        ValidationError("user", "9", [problem]),
    ]
    prov.notify("user", "9")
    prov.notify("user", "10")
    d = Dispatcher(prov, workers=1, poll_interval=0.01, max_permanent_attempts=3, backoff=FAST)
    d.start()
    try:
        assert wait_until(lambda: d.stats.dead == 1)
        assert d.flush(timeout=10, include_retries=True)
    finally:
        d.stop()
    dead = d.dead_letters()
    assert [(r.kind, r.key, r.attempts) for r in dead] == [("user", "9", 3)]
    assert "name.familyName is required" in dead[0].last_error
    assert store.outbox_counts()["dead"] == 1
    reports = store.query_reports(key="9", outcome="failed")
    assert [r.operation for r in reports] == ["dead_letter"]
    assert reports[0].target == "aws"
    assert "gave up after 3 attempt(s)" in reports[0].detail
    # The admin fixes the data and replays: the row is synced and leaves the outbox.
    assert d.replay() == 1
    assert d.flush(timeout=10)
    assert store.outbox() == []
    assert [c[1] for c in prov.calls].count("9") == 4


def test_retryable_failures_give_up_after_max_attempts(prov, store):
    prov.errors["1"] = [UnauthorizedError("token expired", status=401)] * 10
    prov.notify("user", "1", target="aws")
    d = Dispatcher(prov, max_attempts=4, backoff=Backoff(base=0.0, jitter=0.0))
    for _ in range(10):
        d.drain()
    assert len(prov.calls) == 4
    (row,) = store.outbox("dead")
    assert row.attempts == 4
    assert row.target == "aws"
    assert "token expired" in row.last_error


def test_notify_during_dead_letter_revives_the_row(prov, store):
    prov.errors["5"] = [NotFoundError("gone", status=404)]
    prov.notify("user", "5")
    d = Dispatcher(prov, max_permanent_attempts=1, backoff=FAST)
    d.drain()
    assert store.outbox_counts()["dead"] == 1
    prov.notify("user", "5")  # the host saved the user again: the row is pending again
    d.drain()
    assert store.outbox() == []


def test_notify_wakes_idle_workers_without_waiting_for_a_poll(prov, store):
    # With a one-hour poll interval, only the wake-up can get the row synced.
    d = Dispatcher(prov, workers=2, poll_interval=3600).start()
    try:
        assert wait_until(lambda: d.running)
        time.sleep(0.05)  # let the workers go idle
        prov.notify("user", "1")
        assert wait_until(lambda: prov.calls == [("user", "1", None)], timeout=10)
    finally:
        assert d.stop(timeout=10)
    assert prov.listeners == []


def test_flush_without_threads_drains_in_the_caller(prov, store):
    for k in "abc":
        prov.notify("user", k)
    d = Dispatcher(prov)
    assert d.flush(timeout=5)
    assert sorted(c[1] for c in prov.calls) == ["a", "b", "c"]
    assert not d.running


def test_flush_times_out_while_a_sync_is_stuck(prov, store):
    gate = threading.Event()
    prov.gates["1"] = gate
    prov.notify("user", "1")
    d = Dispatcher(prov, workers=1, poll_interval=0.01).start()
    try:
        assert wait_until(lambda: len(prov.calls) == 1)
        assert d.flush(timeout=0.2) is False
        gate.set()
        assert d.flush(timeout=10)
    finally:
        d.stop()


def test_stop_leaves_unsynced_rows_for_the_next_start(prov, store):
    gate = threading.Event()
    prov.gates["1"] = gate
    prov.notify("user", "1")
    d = Dispatcher(prov, workers=1, poll_interval=0.01, batch_size=5)
    d.start()
    assert wait_until(lambda: len(prov.calls) == 1)
    prov.notify("user", "2")
    prov.notify("user", "3")
    stopper = threading.Thread(target=d.stop)
    stopper.start()
    gate.set()
    stopper.join(10)
    assert not d.running
    left = {r.key for r in store.outbox()}
    assert "1" not in left
    # Whatever was not synced is still there and unleased; a new dispatcher finishes it.
    Dispatcher(prov).drain()
    assert store.outbox() == []
    assert Counter(c[1] for c in prov.calls) == {"1": 1, "2": 1, "3": 1}


def test_expired_lease_of_a_crashed_worker_is_claimed_again(prov, store):
    prov.notify("user", "1")
    (item,) = store.claim("crashed-worker", 1, lease_seconds=0.05)
    assert Dispatcher(prov).drain().synced == 0  # still leased
    time.sleep(0.1)
    assert Dispatcher(prov).drain().synced == 1
    assert prov.calls == [("user", "1", None)]
    assert store.outbox() == []
    # The crashed worker's late bookkeeping cannot resurrect or kill the row.
    assert store.fail(item, "late", None) is False


def test_backoff_delays():
    b = Backoff(base=1.0, factor=2.0, maximum=10.0, jitter=0.0)
    assert [b.delay(n) for n in (1, 2, 3, 4, 5, 6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert b.delay(1, retry_after=7.0) == 7.0
    assert b.delay(1, retry_after=100.0) == 10.0
    j = Backoff(base=4.0, jitter=0.5)
    assert all(2.0 <= j.delay(1) <= 4.0 for _ in range(200))
    with pytest.raises(ConfigurationError):
        Backoff(factor=0.5)


def test_classify_error():
    assert classify_error(ConnectionFailedError("x")) == (True, None)
    assert classify_error(RateLimitedError("x", retry_after=3.0)) == (True, 3.0)
    assert classify_error(SyncFailedError("x", cause=TransientError("y"))) == (True, None)
    assert classify_error(UnauthorizedError("x")) == (True, None)
    assert classify_error(RequestRejectedError("x")) == (False, None)
    assert classify_error(SyncFailedError("x", cause=RequestRejectedError("y"))) == (False, None)
    assert classify_error(KeyError("bug")) == (False, None)
    src = SourceReadError("user 1: reading the source failed")
    src.__cause__ = ConnectionError("db restarting")
    assert classify_error(SyncFailedError("x", cause=src)) == (True, None)
    outer = RuntimeError("wrapped")
    outer.__cause__ = ConnectionFailedError("inner")
    assert classify_error(outer) == (True, None)


@pytest.mark.parametrize(
    "kwargs",
    [{"workers": 0}, {"max_attempts": 0}, {"poll_interval": 0}, {"batch_size": True}],
)
def test_bad_settings(prov, kwargs):
    with pytest.raises(ConfigurationError):
        Dispatcher(prov, **kwargs)
