"""scimsync_celery with a real Celery worker on a real Redis broker.

Each test runs an in-thread worker (``celery.contrib.testing.worker.start_worker``) on
Redis, with its own queue and key prefix (``redis_prefix``), a SQLite store file shared by
the "web" side and the worker, and the AWS emulator as the SCIM target.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import celery.contrib.testing.tasks  # noqa: F401  (registers celery.ping for start_worker)
import pytest
import redis
from _celery_support import logging_restored
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from scimsync_celery import CeleryTasks, register

from scimsync import AWS, Provisioner, ScimClient, SQLiteStore, Target
from scimsync.testing import EmulatorServer

pytestmark = [
    pytest.mark.services,
    # celery's Redis result backend calls redis-py's deprecated setex(): not ours
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]

TIMEOUT = 20


class AppSource:
    """The host application's users and groups; ``gate`` can hold a reconcile mid-read."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[str]] = {}
        self.gated = False
        self.entered = threading.Event()
        self.gate = threading.Event()

    def get_user(self, key: str) -> dict[str, Any] | None:
        return self.users.get(key)

    def get_group(self, key: str) -> dict[str, Any] | None:
        return self.groups.get(key)

    def iter_user_keys(self) -> list[str]:
        if self.gated:
            self.entered.set()
            assert self.gate.wait(TIMEOUT), "the test never opened the gate"
        return list(self.users)

    def iter_group_keys(self) -> list[str]:
        return list(self.groups)

    def group_member_keys(self, key: str) -> set[str]:
        return self.members.get(key, set())


def person(key: str, user_name: str | None = None) -> dict[str, Any]:
    email = f"user{key}@example.com"
    return {
        "username": user_name or email,
        "first_name": f"First{key}",
        "last_name": f"Last{key}",
        "email": email,
        "is_active": True,
    }


@attrs.define
class Env:
    server: EmulatorServer
    source: AppSource
    store_path: Path
    app: Celery
    tasks: CeleryTasks
    prefix: str
    redis_url: str

    def make_provisioner(self) -> Provisioner:
        """What a real project's factory does: a fresh store handle and client each call."""
        return Provisioner(
            source=self.source,
            store=SQLiteStore(self.store_path),
            targets=[
                Target(
                    name="aws",
                    client=ScimClient(self.server.base_url, self.server.token),
                    profile=AWS,
                )
            ],
        )


def celery_app(name: str, broker: str, backend: str | None, prefix: str) -> Celery:
    app = Celery(name, broker=broker, backend=backend, set_as_current=False)
    app.conf.update(
        task_default_queue=prefix,  # a queue of this test's own
        broker_transport_options={"global_keyprefix": f"{prefix}:", "max_retries": 1},
        result_backend_transport_options={"global_keyprefix": f"{prefix}:"},
        worker_hijack_root_logger=False,  # keep pytest's log capture
        broker_connection_retry_on_startup=True,
    )
    return app


@pytest.fixture
def env(
    tmp_path: Path, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Env]:
    server = EmulatorServer("aws").start()
    source = AppSource()
    app = celery_app(f"t-{redis_prefix}", redis_url, redis_url, redis_prefix)
    holder: list[Env] = []
    tasks = register(app, lambda: holder[0].make_provisioner(), prefix=redis_prefix)
    e = Env(server, source, tmp_path / "scimsync.sqlite3", app, tasks, redis_prefix, redis_url)
    holder.append(e)
    try:
        with (
            logging_restored(monkeypatch),
            start_worker(
                app, pool="threads", concurrency=2, loglevel="DEBUG", shutdown_timeout=TIMEOUT
            ),
        ):
            yield e
    finally:
        source.gate.set()
        server.stop()


@pytest.fixture
def drained() -> Iterator[threading.Event]:
    """Set when a drain task has finished in the worker."""
    done = threading.Event()

    def on_postrun(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "name", "").endswith(".drain"):
            done.set()

    task_postrun.connect(on_postrun, weak=False)
    yield done
    task_postrun.disconnect(on_postrun)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_notify_sends_drain_and_the_worker_pushes_the_user(
    env: Env, drained: threading.Event
) -> None:
    web = env.make_provisioner()  # the web process's own provisioner
    env.tasks.connect(web)
    env.source.users["42"] = person("42")

    web.notify("user", "42")  # one INSERT; the drain task is sent from a background thread

    assert env.tasks.sender.flush(TIMEOUT)
    assert (env.tasks.sender.sent, env.tasks.sender.failures) == (1, 0)
    assert drained.wait(TIMEOUT)
    user = env.server.find_user("user42@example.com")
    assert user is not None
    assert user["name"]["familyName"] == "Last42"
    assert web.store.outbox() == []


def test_broker_down_at_notify_loses_nothing(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    # The web process's view while the broker is unreachable.
    down = celery_app("web-broker-down", f"redis://127.0.0.1:{closed_port()}/0", None, env.prefix)
    down_tasks = register(down, env.make_provisioner, prefix=env.prefix)
    web = env.make_provisioner()
    down_tasks.connect(web)
    env.source.users["7"] = person("7")

    with caplog.at_level(logging.WARNING, logger="scimsync.celery"):
        web.notify("user", "7")  # does not raise, does not wait for the broker
        assert down_tasks.sender.flush(TIMEOUT)

    assert (down_tasks.sender.sent, down_tasks.sender.failures) == (0, 1)
    assert "could not send the drain task" in caplog.text
    assert [(i.kind, i.key) for i in web.store.outbox()] == [("user", "7")]  # kept
    assert env.server.find_user("user7@example.com") is None

    # The broker is back: beat's periodic drain entry pushes the change.
    entry = env.tasks.beat_schedule()[f"{env.prefix}-drain"]
    result = env.app.send_task(entry["task"], kwargs=entry.get("kwargs"), **entry["options"])
    summary = result.get(timeout=TIMEOUT)
    assert summary["synced"] == 1
    assert summary["outbox"]["pending"] == 0
    assert env.server.find_user("user7@example.com") is not None


def test_concurrent_reconciles_of_one_target_do_not_overlap(env: Env) -> None:
    for i in range(3):
        env.source.users[str(i)] = person(str(i))
    env.source.gated = True  # the first run waits inside its read of the source

    first = env.tasks.reconcile.delay("aws", "incremental")
    assert env.source.entered.wait(TIMEOUT)  # the first run holds the lock now
    second = env.tasks.reconcile.delay("aws", "deep").get(timeout=TIMEOUT)
    env.source.gate.set()
    done = first.get(timeout=TIMEOUT)

    assert second["skipped"] is True
    assert second["target"] == "aws"
    assert second["mode"] == "deep"
    assert "another reconcile of target 'aws' is running" in second["reason"]
    assert done["skipped"] is False
    assert done["status"] == "complete"
    assert done["counts"] == {"created": 3}
    assert done["lock_lost"] is False
    assert len(env.server.users()) == 3

    # The lock was released: the next run goes ahead.
    client = redis.Redis.from_url(env.redis_url)
    try:
        assert client.exists(env.tasks.lock_name("aws")) == 0
    finally:
        client.close()
    again = env.tasks.reconcile.delay(mode="deep").get(timeout=TIMEOUT)
    assert again["skipped"] is False
    assert again["counts"] == {"unchanged": 3}


def test_sync_task_returns_the_trace_summary(env: Env) -> None:
    env.source.users["5"] = person("5")
    ok = env.tasks.sync.delay("user", "5").get(timeout=TIMEOUT)
    assert ok["ok"] is True
    assert ok["outcome"] == "created"
    assert ok["operation"] == "create"
    assert ok["remote_id"] == env.server.find_user("user5@example.com")["id"]
    assert [s["name"] for s in ok["steps"]][-1] == "result"
    assert any(line.startswith("POST /Users -> 201") for line in ok["requests"])
    assert "outcome: created" in ok["text"]

    env.source.users["6"] = person("6", user_name="has spaces")  # AWS refuses spaces
    bad = env.tasks.sync.delay("user", "6").get(timeout=TIMEOUT)
    assert bad["ok"] is False
    assert bad["outcome"] == "failed"
    assert bad["error"].startswith("ValidationError")

    env.source.users["8"] = person("8")
    preview = env.tasks.sync.delay("user", "8", dry_run=True).get(timeout=TIMEOUT)
    assert preview["dry_run"] is True
    assert preview["operation"] == "create"
    assert env.server.find_user("user8@example.com") is None


def test_the_token_never_appears_in_results_or_logs(
    env: Env, drained: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    token = env.server.token
    env.source.users["1"] = person("1")
    env.source.users["2"] = person("2", user_name="bad name")
    caplog.set_level(logging.DEBUG)
    web = env.make_provisioner()
    env.tasks.connect(web)

    results = [
        env.tasks.sync.delay("user", "1").get(timeout=TIMEOUT),
        env.tasks.sync.delay("user", "2").get(timeout=TIMEOUT),
        env.tasks.reconcile.delay().get(timeout=TIMEOUT),
    ]
    web.notify("user", "1")
    assert drained.wait(TIMEOUT)
    results.append(env.tasks.drain.delay().get(timeout=TIMEOUT))

    text = json.dumps(results)
    assert results[1]["ok"] is False  # a failure is in there too
    assert f"{env.prefix}.sync" in caplog.text  # the worker's task logs were captured
    assert token not in text
    assert token not in caplog.text
    assert token not in repr(env.tasks) + repr(env.tasks.sender)
