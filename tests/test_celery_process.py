"""A real ``celery worker`` process (prefork, two children) on Redis: the provisioner is
built by the factory in each worker process, and several processes drain one outbox at
once without syncing any user twice."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scimsync.testing import EmulatorServer

pytestmark = [
    pytest.mark.services,
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]

TESTS = Path(__file__).resolve().parent
USERS = 30


def test_worker_processes_drain_one_outbox_without_duplicates(
    tmp_path: Path, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = EmulatorServer("aws").start()
    users = [
        {
            "id": str(i),
            "username": f"user{i}@example.com",
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "email": f"user{i}@example.com",
            "is_active": True,
        }
        for i in range(USERS)
    ]
    users_file = tmp_path / "users.json"
    users_file.write_text(json.dumps({"users": users}), encoding="utf-8")
    settings = {
        "SCIMSYNC_T_PREFIX": redis_prefix,
        "SCIMSYNC_T_BROKER": redis_url,
        "SCIMSYNC_T_STORE": str(tmp_path / "scimsync.sqlite3"),
        "SCIMSYNC_T_USERS": str(users_file),
        "SCIMSYNC_T_SCIM_URL": server.base_url,
        "SCIMSYNC_T_TOKEN": server.token,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    log_path = tmp_path / "worker.log"
    with log_path.open("w", encoding="utf-8") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "_celery_worker_app",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                f"--hostname={redis_prefix}@%h",
            ],
            cwd=TESTS,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # The web side: the same app module, its own provisioner on the same store file.
        mod = importlib.import_module("_celery_worker_app")
        mod = importlib.reload(mod)  # read this test's settings
        web = mod.make_provisioner()
        mod.tasks.connect(web)
        for user in users:
            web.notify("user", user["id"])  # hook: drain tasks, coalesced
        assert mod.tasks.sender.flush(20)
        assert mod.tasks.sender.failures == 0
        results = [mod.tasks.drain.delay() for _ in range(4)]  # more drains, run at once
        synced = sum(r.get(timeout=60)["synced"] for r in results)
        assert 0 <= synced <= USERS

        # Drains run in two processes; the outbox is empty once every row is synced.
        deadline = time.monotonic() + 60
        while web.store.outbox_counts()["pending"]:
            assert time.monotonic() < deadline, web.store.outbox_counts()
            assert worker.poll() is None, log_path.read_text(encoding="utf-8")
            time.sleep(0.05)

        assert len(server.users()) == USERS  # no duplicate on the target
        created = web.store.query_reports(outcome="created")
        assert sorted(r.key for r in created) == sorted(u["id"] for u in users)  # each once
        assert web.store.outbox("dead") == []
    finally:
        worker.terminate()  # warm shutdown
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
        server.stop()

    text = log_path.read_text(encoding="utf-8")
    assert f"{redis_prefix}.drain" in text  # the worker's task log lines are in the file
    assert server.token not in text
