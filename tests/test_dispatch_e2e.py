"""Automatic mode end to end: the real engine, the SQLite outbox and the emulator.

* a worker process is SIGKILLed in the middle of a drain; after a restart the target ends
  exactly right, with no duplicate remote user;
* the target is down during a stream of changes; everything arrives once it is back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
from _modes_support import MutableSource, make_provisioner, user

from scimsync._dispatch import Backoff, Dispatcher
from scimsync._store import SQLiteStore
from scimsync.testing import EmulatorServer, FaultConfig

WORKER = textwrap.dedent(
    """
    import os, sys
    from scimsync._client import RetryPolicy, ScimClient
    from scimsync._dispatch import Backoff, Dispatcher
    from scimsync._engine import Provisioner, Target
    from scimsync._sources import JSONSource
    from scimsync._store import SQLiteStore
    from scimsync.profiles import AWS

    base_url, db, data = sys.argv[1:4]
    client = ScimClient(base_url, os.environ["SCIM_TOKEN"], retry=RetryPolicy.none())
    prov = Provisioner(
        source=JSONSource(data),
        store=SQLiteStore(db),
        targets=[Target(name="aws", client=client, profile=AWS, concurrency=1)],
    )
    dispatcher = Dispatcher(
        prov, workers=4, poll_interval=0.05, lease_seconds=1.0,
        backoff=Backoff(base=0.05, maximum=0.5), max_attempts=50,
    )
    dispatcher.start()
    print("started", flush=True)
    ok = dispatcher.flush(timeout=120, include_retries=True)
    dispatcher.stop()
    print("flushed" if ok else "timeout", dispatcher.stats, flush=True)
    sys.exit(0 if ok else 3)
    """
)


def wait_until(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def start_worker(tmp_path, server, db, data):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "SCIM_TOKEN": server.token}
    return subprocess.Popen(
        [sys.executable, str(script), server.base_url, str(db), str(data)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_mid_drain_then_restart_ends_exactly_right(tmp_path):
    users = [user(i) for i in range(60)]
    team = {"id": "team", "name": "Team", "members": [u["id"] for u in users[:30]]}
    data = tmp_path / "hr.json"
    data.write_text(json.dumps({"users": users, "groups": [team]}))
    db = tmp_path / "state.db"
    store = SQLiteStore(db)
    for u in users:
        store.enqueue("user", u["id"])
    store.enqueue("group", "team")

    # Latency so that the kill lands while syncs are in flight.
    with EmulatorServer("aws", faults=FaultConfig(latency=0.04)) as server:
        first = start_worker(tmp_path, server, db, data)
        try:
            assert wait_until(lambda: len(server.requests("POST", path_prefix="/Users")) >= 15)
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL
        created_before_kill = len(server.users())
        left = store.outbox_counts()
        # The kill really landed mid-drain: some users exist, many rows are still pending.
        assert 0 < created_before_kill < 60
        assert left["pending"] > 0

        second = start_worker(tmp_path, server, db, data)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, (out, err)
        assert "flushed" in out

        names = Counter(u["userName"] for u in server.users())
        assert names == Counter(u["username"] for u in users)  # every user, exactly once
        assert store.outbox() == []
        by_name = {u["userName"]: u["id"] for u in server.users()}
        for u in users:
            link = store.get_link("aws", "user", u["id"])
            assert link is not None
            assert link.remote_id == by_name[u["username"]]
        (group,) = server.groups()
        assert group["displayName"] == "Team"
        assert server.memberships()[group["id"]] == {by_name[u["username"]] for u in users[:30]}
    store.close()


@pytest.mark.parametrize("down_mode", ["status", "reset"])
def test_target_down_during_a_stream_of_changes_then_everything_arrives(tmp_path, down_mode):
    src = MutableSource([user(i) for i in range(20)])
    with EmulatorServer("aws") as server:
        prov = make_provisioner(server, src, tmp_path, concurrency=1)
        dispatcher = Dispatcher(
            prov,
            workers=3,
            poll_interval=0.02,
            max_attempts=10_000,
            backoff=Backoff(base=0.02, maximum=0.2),
        )
        dispatcher.start()
        try:
            server.set_faults(down=True, down_mode=down_mode)
            for rnd in range(3):
                for i in range(20):
                    src.users[str(i)]["last_name"] = f"Round{rnd}"
                    prov.notify("user", str(i))
                time.sleep(0.05)
            src.users["20"] = user(20, last_name="Round2")
            prov.notify("user", "20")
            assert wait_until(lambda: dispatcher.stats.retried >= 30)
            assert server.users() == []
            assert store_pending(prov) > 0
            server.set_faults(down=False)
            assert dispatcher.flush(timeout=60, include_retries=True)
        finally:
            dispatcher.stop()
        stored = {u["userName"]: u for u in server.users()}
        assert sorted(stored) == sorted(f"user{i}@example.org" for i in range(21))
        assert {u["name"]["familyName"] for u in stored.values()} == {"Round2"}
        assert prov.store.outbox() == []
        assert dispatcher.stats.dead == 0


def store_pending(prov):
    return prov.store.outbox_counts()["pending"]


def test_automatic_mode_creates_updates_and_deactivates(tmp_path):
    src = MutableSource([user(i) for i in range(3)])
    with EmulatorServer("aws") as server:
        prov = make_provisioner(server, src, tmp_path)
        with Dispatcher(prov, workers=2, poll_interval=0.02) as dispatcher:
            for k in ("0", "1", "2"):
                prov.notify("user", k)
            assert dispatcher.flush(timeout=30)
            assert len(server.users()) == 3
            server.reset_log()
            src.users["1"]["first_name"] = "Renamed"
            del src.users["2"]
            prov.notify("user", "1")
            prov.notify("user", "2")
            assert dispatcher.flush(timeout=30)
        uid1 = prov.store.get_link("aws", "user", "1").remote_id
        uid2 = prov.store.get_link("aws", "user", "2").remote_id
        assert server.get_user(uid1)["name"]["givenName"] == "Renamed"
        assert server.get_user(uid2)["active"] is False
        assert sorted(e.method for e in server.request_log) == ["PATCH", "PATCH"]
        outcomes = Counter(str(r.outcome) for r in prov.store.query_reports())
        assert outcomes == {"created": 3, "updated": 1, "deactivated": 1}


def test_a_permanently_invalid_user_becomes_a_dead_letter_with_a_report(tmp_path):
    src = MutableSource([user(1, username="not valid")])  # AWS: no whitespace in userName
    with EmulatorServer("aws") as server:
        prov = make_provisioner(server, src, tmp_path)
        dispatcher = Dispatcher(prov, max_permanent_attempts=2, backoff=Backoff(base=0, jitter=0))
        prov.notify("user", "1")
        dispatcher.drain()
        dispatcher.drain()
        (dead,) = dispatcher.dead_letters()
        assert "userName" in dead.last_error
        assert server.request_log == []
        failed = prov.store.query_reports(key="1", outcome="failed")
        assert [r.operation for r in failed][-1] == "dead_letter"
        # The host fixes the data; replaying the dead letter provisions the user.
        src.users["1"]["username"] = "fixed@example.org"
        assert dispatcher.replay() == 1
        assert dispatcher.flush(timeout=30)
        assert [u["userName"] for u in server.users()] == ["fixed@example.org"]


def test_notify_wakes_an_idle_dispatcher_at_once(tmp_path):
    src = MutableSource([user(1)])
    with EmulatorServer("aws") as server:
        prov = make_provisioner(server, src, tmp_path)
        # A one-hour poll: only notify's wake-up can get the row synced in time.
        with Dispatcher(prov, workers=2, poll_interval=3600) as dispatcher:
            time.sleep(0.05)
            prov.notify("user", "1")
            assert wait_until(lambda: len(server.users()) == 1, timeout=10)
            assert wait_until(lambda: dispatcher.stats.synced == 1, timeout=10)
