"""The in-process Scheduler: interval and cron schedules, no overlap, errors never kill it."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from scimsync._scheduler import Scheduler
from scimsync.errors import ConfigurationError


def wait_until(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


def test_interval_runs_repeatedly_and_stops():
    calls = []
    sched = Scheduler(None, every=timedelta(milliseconds=10), job=lambda: calls.append(1) or "ok")
    sched.start()
    assert wait_until(lambda: sched.runs >= 3)
    assert sched.stop(timeout=5)
    assert not sched.running
    n = len(calls)
    time.sleep(0.05)
    assert len(calls) == n, "no run after stop()"
    assert sched.last_result == "ok"
    assert sched.failures == 0


def test_runs_never_overlap_and_due_runs_are_skipped():
    release = threading.Event()
    active = []
    peak = []

    def job():
        active.append(1)
        peak.append(len(active))
        release.wait(10)
        active.pop()

    sched = Scheduler(None, every=0.005, job=job, run_at_start=True)
    sched.start()
    assert wait_until(lambda: sched.skipped >= 3)
    # A manual run while the scheduled one is still going is skipped too.
    before = sched.skipped
    assert sched.run_now() is None
    assert sched.skipped > before
    release.set()
    assert wait_until(lambda: sched.runs >= 2)
    assert sched.stop(timeout=5)
    assert max(peak) == 1


def test_a_failing_run_is_logged_and_the_thread_survives(caplog):
    outcomes = iter([RuntimeError("boom 1"), RuntimeError("boom 2")])

    def job():
        exc = next(outcomes, None)
        if exc is not None:
            raise exc
        return "fine"

    sched = Scheduler(None, every=0.005, job=job)
    with caplog.at_level("ERROR", logger="scimsync.scheduler"):
        sched.start()
        assert wait_until(lambda: sched.last_result == "fine")
        assert sched.running
        sched.stop(timeout=5)
    assert sched.failures == 2
    assert str(sched.last_error) == "boom 2"
    assert sum("reconcile failed" in r.getMessage() for r in caplog.records) == 2


def test_cron_next_run():
    sched = Scheduler(None, cron="*/15 * * * *", job=lambda: None)
    now = datetime(2026, 1, 1, 10, 7, 30, tzinfo=timezone.utc)
    assert sched.next_run_after(now) == datetime(2026, 1, 1, 10, 15, tzinfo=timezone.utc)
    assert sched.next_run_after(datetime(2026, 1, 1, 10, 15, tzinfo=timezone.utc)) == datetime(
        2026, 1, 1, 10, 30, tzinfo=timezone.utc
    )


def test_cron_schedule_fires_with_an_injected_clock():
    # A fake clock that jumps 15 minutes on every reading: each loop turn finds a run due.
    t = [datetime(2026, 1, 1, 10, 0, 1, tzinfo=timezone.utc)]

    def clock():
        t[0] += timedelta(minutes=15)
        return t[0]

    sched = Scheduler(None, cron="*/15 * * * *", job=lambda: "ran", clock=clock)
    sched.start()
    assert wait_until(lambda: sched.runs >= 2)
    sched.stop(timeout=5)
    assert sched.last_result == "ran"


def test_interval_next_run():
    sched = Scheduler(None, every=timedelta(minutes=5), job=lambda: None)
    now = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
    assert sched.next_run_after(now) == now + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of every= or cron="),
        ({"every": 1, "cron": "* * * * *"}, "exactly one of every= or cron="),
        ({"every": 0}, "must be positive"),
        ({"cron": "every tuesday"}, "not a valid cron expression"),
        ({"every": 1, "mode": "full"}, "mode must be one of"),
    ],
)
def test_bad_settings_fail_fast(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        Scheduler(None, job=lambda: None, **kwargs)


def test_needs_a_provisioner_or_a_job():
    with pytest.raises(ConfigurationError, match="provisioner or a job"):
        Scheduler(None, every=1)


def test_start_is_idempotent_and_context_manager_stops():
    with Scheduler(None, every=10, job=lambda: None) as sched:
        first = sched._thread
        sched.start()
        assert sched._thread is first
        assert sched.running
    assert not sched.running


def test_scheduler_runs_real_reconciles_and_records_them(tmp_path):
    from _modes_support import MutableSource, make_provisioner, user

    from scimsync.testing import EmulatorServer

    src = MutableSource([user(i) for i in range(3)])
    with EmulatorServer("aws") as server:
        prov = make_provisioner(server, src, tmp_path)
        sched = Scheduler(
            prov, every=timedelta(milliseconds=20), mode="incremental", run_at_start=True
        )
        sched.start()
        try:
            assert wait_until(lambda: sched.runs >= 3 and sched.last_result is not None)
        finally:
            assert sched.stop(timeout=10)
        assert len(server.users()) == 3
        runs = prov.store.list_runs("aws", limit=None)
        assert len(runs) >= 3
        assert {r.mode for r in runs} == {"incremental"}
        assert runs[-1].counts == {"created": 3}  # the first run (oldest last)
        assert sched.last_result.status == "complete"
        assert sched.failures == 0


def test_a_run_that_raises_is_recorded_as_failed(tmp_path):
    from _modes_support import MutableSource, make_provisioner

    from scimsync.testing import EmulatorServer

    with EmulatorServer("aws") as server:
        prov = make_provisioner(server, MutableSource(), tmp_path)
        sched = Scheduler(prov, every=60, target="nope")  # unknown target: reconcile raises
        assert sched.run_now() is None
        assert sched.failures == 1
        assert "unknown target" in str(sched.last_error)
        (run,) = prov.store.list_runs(limit=None)
        assert run.status == "failed"
        assert "unknown target" in run.error
