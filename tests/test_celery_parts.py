"""scimsync_celery's parts: beat entries, the notify hook's sender, the reconcile lock,
per-process provisioners, configuration errors (real Celery; Redis where marked)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from celery.schedules import crontab
from scimsync_celery import DrainSender, RunLock, beat_schedule, parse_cron, register

from scimsync import AWS, ConfigurationError, Provisioner, ScimClient, SQLiteStore, Target
from scimsync.testing import InMemoryStore


class EmptySource:
    def get_user(self, key: str) -> None:
        return None

    def get_group(self, key: str) -> None:
        return None

    def iter_user_keys(self) -> list[str]:
        return []

    def iter_group_keys(self) -> list[str]:
        return []

    def group_member_keys(self, key: str) -> set[str]:
        return set()


def make_provisioner(store: Any = None) -> Provisioner:
    return Provisioner(
        source=EmptySource(),
        store=store if store is not None else InMemoryStore(),
        targets=[
            Target(name="aws", client=ScimClient("http://127.0.0.1:9/scim/v2", "t"), profile=AWS)
        ],
    )


# -- beat_schedule ---------------------------------------------------------------------


def test_beat_schedule_default_entries() -> None:
    entries = beat_schedule()
    assert sorted(entries) == [
        "scimsync-drain",
        "scimsync-reconcile-deep",
        "scimsync-reconcile-incremental",
    ]
    drain = entries["scimsync-drain"]
    assert drain["task"] == "scimsync.drain"
    assert drain["schedule"] == 60.0
    assert drain["options"] == {"expires": 60.0}
    inc = entries["scimsync-reconcile-incremental"]
    assert inc["task"] == "scimsync.reconcile"
    assert inc["schedule"] == 900.0
    assert inc["kwargs"] == {"target": None, "mode": "incremental"}
    deep = entries["scimsync-reconcile-deep"]
    assert deep["kwargs"] == {"target": None, "mode": "deep"}
    assert deep["schedule"] == crontab(minute="0", hour="3")


def test_beat_schedule_per_target_queue_and_switches() -> None:
    entries = beat_schedule(
        "sync",
        drain_every=dt.timedelta(seconds=30),
        incremental_every=None,
        deep=crontab(minute="30", hour="2", day_of_week="sun"),
        targets=["aws", "okta"],
        orphans="report",
        queue="scim",
    )
    assert sorted(entries) == ["sync-drain", "sync-reconcile-deep-aws", "sync-reconcile-deep-okta"]
    assert entries["sync-drain"]["options"] == {"queue": "scim", "expires": 30.0}
    assert entries["sync-reconcile-deep-okta"]["kwargs"] == {
        "target": "okta",
        "mode": "deep",
        "orphans": "report",
    }
    assert entries["sync-reconcile-deep-aws"]["options"] == {"queue": "scim"}
    assert beat_schedule(drain_every=None, incremental_every=None, deep=None) == {}


def test_parse_cron() -> None:
    assert parse_cron("*/15 1-5 * * mon-fri") == crontab(
        minute="*/15", hour="1-5", day_of_week="mon-fri"
    )
    with pytest.raises(ConfigurationError, match="expected 5 fields"):
        parse_cron("0 3 * *")
    with pytest.raises(ConfigurationError, match="cron expression '99 3"):
        parse_cron("99 3 * * *")
    with pytest.raises(ConfigurationError, match="must be positive"):
        beat_schedule(drain_every=0)


def test_tasks_beat_schedule_uses_their_prefix_and_queue() -> None:
    app = Celery("parts", broker="memory://", set_as_current=False)
    queue = f"scim-{uuid.uuid4().hex}"
    tasks = register(app, make_provisioner, prefix="acme", queue=queue)
    entries = tasks.beat_schedule(deep="0 4 * * *")
    assert {e["task"] for e in entries.values()} == {"acme.drain", "acme.reconcile"}
    assert all(e["options"]["queue"] == queue for e in entries.values())
    assert {tasks.drain.name, tasks.sync.name, tasks.reconcile.name} <= set(app.tasks)
    tasks.drain.delay()  # routed to the queue given to register()
    with app.connection_for_read() as conn:
        message = conn.SimpleQueue(queue, no_ack=True).get(timeout=5)
        assert message.headers["task"] == "acme.drain"


# -- register, per-process provisioner, notify hook --------------------------------------


def test_provisioner_is_built_once_per_process_and_notify_sends_drain(tmp_path: Path) -> None:
    app = Celery("parts", broker="memory://", set_as_current=False)
    queue = f"memo-{uuid.uuid4().hex}"  # the memory transport is shared in the process
    app.conf.task_default_queue = queue
    calls: list[int] = []

    def factory() -> Provisioner:
        calls.append(1)
        return make_provisioner(SQLiteStore(tmp_path / "s.sqlite3"))

    tasks = register(app, factory, prefix="memo")
    assert calls == []  # nothing is built at import/registration time
    prov = tasks.provisioner()
    assert tasks.provisioner() is prov
    assert calls == [1]

    prov.notify("user", "1")  # row first, then the hook
    assert tasks.sender.flush(10)
    assert (tasks.sender.sent, tasks.sender.failures) == (1, 0)
    assert [i.key for i in prov.store.outbox()] == ["1"]
    with app.connection_for_read() as conn:  # the drain task is on the queue
        message = conn.SimpleQueue(queue, no_ack=True).get(timeout=5)
        assert message.headers["task"] == "memo.drain"

    tasks.disconnect(prov)
    prov.notify("user", "2")
    assert tasks.sender.flush(10)
    assert tasks.sender.sent == 1


def test_register_refuses_bad_configuration() -> None:
    app = Celery("parts", broker="memory://", set_as_current=False)
    with pytest.raises(ConfigurationError, match="must be a callable"):
        register(app, None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="no spaces"):
        register(app, make_provisioner, prefix="a b")
    tasks = register(app, lambda: "not a provisioner", prefix="bad")  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match=r"returned str, not a scimsync\.Provisioner"):
        tasks.provisioner()
    with pytest.raises(ConfigurationError, match="the reconcile lock needs Redis"):
        tasks.lock_url()


def test_lock_url_falls_back_to_the_result_backend() -> None:
    app = Celery(
        "parts", broker="memory://", backend="redis://127.0.0.1:6379/3", set_as_current=False
    )
    assert register(app, make_provisioner, prefix="a").lock_url() == "redis://127.0.0.1:6379/3"
    given = register(app, make_provisioner, prefix="b", lock_url="redis://h:6379/1")
    assert given.lock_url() == "redis://h:6379/1"


# -- DrainSender -------------------------------------------------------------------------


def test_drain_sender_coalesces_requests_made_during_a_send() -> None:
    entered, release = threading.Event(), threading.Event()
    sends: list[int] = []

    def send() -> None:
        sends.append(1)
        entered.set()
        assert release.wait(10)

    sender = DrainSender(send)
    sender()
    assert entered.wait(10)  # the first send is in progress
    for _ in range(5):
        sender()  # ...these five become one more send
    assert not sender.flush(0)
    release.set()
    assert sender.flush(10)
    assert len(sends) == 2
    assert (sender.sent, sender.failures) == (2, 0)


def test_drain_sender_counts_failures_and_masks_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def send() -> None:
        raise ConnectionError("cannot reach redis://:hunter2@broker:6379/0")

    sender = DrainSender(send)
    sender()
    assert sender.flush(10)
    assert (sender.sent, sender.failures) == (0, 1)
    assert sender.last_error == "ConnectionError: cannot reach redis://***@broker:6379/0"
    assert "hunter2" not in caplog.text
    assert "periodic drain will sync it" in caplog.text


# -- RunLock (real Redis) ----------------------------------------------------------------


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.mark.services
def test_run_lock_excludes_renews_and_releases(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    name = f"{redis_prefix}:reconcile-lock:aws"
    first = RunLock(redis_client, name, ttl=1.5)
    second = RunLock(redis_client, name, ttl=1.5)
    with first as held:
        assert held is True
        assert second.acquire() is False  # taken: no waiting, just "no"
        # The holder renews the TTL (every ttl/3): wait until the remaining time goes up.
        lowest = redis_client.pttl(name)
        deadline = time.monotonic() + 10
        while True:
            now = redis_client.pttl(name)
            if now > lowest:
                break
            lowest = min(lowest, now)
            assert time.monotonic() < deadline, "the lock was never renewed"
            time.sleep(0.05)
    assert redis_client.exists(name) == 0
    assert first.lost is False
    assert second.acquire() is True  # free again
    second.release()


@pytest.mark.services
def test_run_lock_of_a_dead_holder_expires(redis_client: redis.Redis, redis_prefix: str) -> None:
    name = f"{redis_prefix}:reconcile-lock:aws"
    redis_client.set(name, "a-worker-that-was-killed", px=200)  # held, no renewal
    lock = RunLock(redis_client, name, ttl=5)
    assert lock.acquire() is False
    deadline = time.monotonic() + 10
    while redis_client.exists(name):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert lock.acquire() is True
    lock.release()
    assert redis_client.exists(name) == 0
