"""scimsync_flask in a real Flask + Flask-Login app: automatic mode never blocks a request.

The app (tests/_flask_app.py) keeps its users in SQLite via sqlite3, saves them in its
views and calls ``notify_user`` after the commit; the target is the AWS emulator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _flask_app import add_user, app_config, create_app
from flask import Flask
from scimsync_flask import ScimSyncState, get_state

from scimsync.testing import EmulatorServer


def _dispatch_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("scimsync-dispatch-")}


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def make(server: EmulatorServer, gate: threading.Event | None = None, **extra: Any) -> Flask:
        app = create_app(app_config(tmp_path, server, **extra), gate=gate)
        apps.append(app)
        return app

    yield make
    for app in apps:
        state = get_state(app)
        assert state.stop(10)
        state.provisioner.store.close()


def test_post_returns_before_any_scim_request(
    make_app: Callable[..., Flask], aws_scim_server: EmulatorServer
) -> None:
    gate = threading.Event()  # the background sync's user look-up waits for it
    app = make_app(aws_scim_server, gate=gate, SCIMSYNC_AUTOMATIC=True)
    state = get_state(app)
    assert state.dispatcher is None  # nothing started by create_app / init_app

    try:
        response = app.test_client().post(
            "/users",
            data={
                "username": "ada@example.com",
                "email": "ada@example.com",
                "first_name": "Ada",
                "last_name": "Lovelace",
            },
        )
        # At response time: the save is answered, no SCIM request was sent...
        assert response.status_code == 201
        assert aws_scim_server.request_log == []
        # ...the key is in the outbox, and the lazily started dispatcher holds it.
        assert state.provisioner.store.outbox_counts()["pending"] == 1
        assert state.dispatcher_running
    finally:
        gate.set()

    assert state.flush(timeout=10)
    user = aws_scim_server.find_user("ada@example.com")
    assert user is not None
    assert user["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert user["externalId"] == str(response.json["id"])  # type: ignore[index]
    assert state.provisioner.store.outbox_counts()["pending"] == 0


def test_flask_login_user_update_and_delete(
    make_app: Callable[..., Flask], aws_scim_server: EmulatorServer
) -> None:
    app = make_app(aws_scim_server, SCIMSYNC_AUTOMATIC=True)
    state = get_state(app)
    client = app.test_client()
    uid = client.post(
        "/users",
        data={
            "username": "grace@example.com",
            "email": "grace@example.com",
            "first_name": "Grace",
            "last_name": "Hopper",
        },
    ).json["id"]  # type: ignore[index]
    assert state.flush(timeout=10)
    assert aws_scim_server.find_user("grace@example.com") is not None

    # The logged-in Flask-Login user edits their profile: notify_user(current_user).
    assert client.post(f"/login/{uid}").status_code == 200
    assert client.post("/me", data={"last_name": "Murray"}).status_code == 200
    assert state.flush(timeout=10)
    assert aws_scim_server.find_user("grace@example.com")["name"]["familyName"] == "Murray"  # type: ignore[index]

    # Deleted locally: the default lifecycle policy deactivates the remote user.
    assert client.delete(f"/users/{uid}").status_code == 200
    assert state.flush(timeout=10)
    assert aws_scim_server.find_user("grace@example.com")["active"] is False  # type: ignore[index]


def test_groups_are_notified_and_synced(
    make_app: Callable[..., Flask], aws_scim_server: EmulatorServer
) -> None:
    app = make_app(aws_scim_server, SCIMSYNC_AUTOMATIC=True)
    ada = add_user(app, "ada@example.com", "Ada", "Lovelace")
    bob = add_user(app, "bob@example.com", "Bob", "Noyce")
    client = app.test_client()
    assert (
        client.post("/teams/eng", data={"name": "Engineering", "member": [ada, bob]}).status_code
        == 200
    )
    assert get_state(app).flush(timeout=10)
    group = aws_scim_server.find_group("Engineering")
    assert group is not None
    linked = {aws_scim_server.find_user(u)["id"] for u in ("ada@example.com", "bob@example.com")}  # type: ignore[index]
    assert aws_scim_server.memberships()[group["id"]] == linked


def test_without_automatic_mode_rows_wait_for_a_drain(
    make_app: Callable[..., Flask], aws_scim_server: EmulatorServer
) -> None:
    app = make_app(aws_scim_server)  # SCIMSYNC_AUTOMATIC defaults to False
    state = get_state(app)
    before = _dispatch_threads()
    response = app.test_client().post(
        "/users",
        data={
            "username": "lin@example.com",
            "email": "lin@example.com",
            "first_name": "Lin",
            "last_name": "Chen",
        },
    )
    assert response.status_code == 201
    assert state.dispatcher is None
    assert not (_dispatch_threads() - before)
    assert aws_scim_server.request_log == []
    assert state.provisioner.store.outbox_counts()["pending"] == 1

    assert state.flush(timeout=10)  # no dispatcher running: drains in this thread
    assert aws_scim_server.find_user("lin@example.com") is not None
    assert not state.dispatcher_running


def test_dispatcher_starts_on_first_request_not_at_init(
    make_app: Callable[..., Flask], aws_scim_server: EmulatorServer
) -> None:
    before = _dispatch_threads()
    app = make_app(aws_scim_server, SCIMSYNC_AUTOMATIC=True)
    state: ScimSyncState = get_state(app)
    assert not (_dispatch_threads() - before)  # an app created (as in the reloader's parent)
    assert not state.dispatcher_running
    app.test_client().get("/nothing-here")  # any request in the serving process
    assert state.dispatcher_running
    assert len(_dispatch_threads() - before) == 2  # SCIMSYNC_DISPATCHER workers=2
    assert state.stop(10)
    assert not state.dispatcher_running
    # A stopped dispatcher is started again by the next notify.
    key = add_user(app, "max@example.com", "Max", "Planck")
    with app.app_context():
        assert get_state().notify("user", key) == key
    assert state.dispatcher_running
    assert state.flush(timeout=10)
    assert aws_scim_server.find_user("max@example.com") is not None


def test_token_is_redacted_and_never_logged(
    make_app: Callable[..., Flask],
    aws_scim_server: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    app = make_app(aws_scim_server, SCIMSYNC_AUTOMATIC=True)
    state = get_state(app)
    token = aws_scim_server.token
    app.test_client().post(
        "/users",
        data={
            "username": "eve@example.com",
            "email": "eve@example.com",
            "first_name": "Eve",
            "last_name": "X",
        },
    )
    assert state.flush(timeout=10)
    assert aws_scim_server.find_user("eve@example.com") is not None
    assert token not in caplog.text
    for obj in (state, app.extensions["scimsync"], state.provisioner, state.dispatcher):
        assert token not in repr(obj)
    assert state.redact(f"Bearer {token}!") == "Bearer [REDACTED]!"


def test_the_dispatcher_is_stopped_at_interpreter_exit(
    make_app: Callable[..., Flask],
    aws_scim_server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registered: list[tuple[Callable[..., object], tuple[object, ...]]] = []
    monkeypatch.setattr(
        "scimsync_flask._ext.atexit.register", lambda fn, *args: registered.append((fn, args))
    )
    app = make_app(aws_scim_server, SCIMSYNC_AUTOMATIC=True)
    state = get_state(app)
    assert registered == []  # nothing at init time
    app.test_client().get("/")
    app.test_client().get("/")
    assert state.dispatcher_running
    assert len(registered) == 1  # once per app and process, on the first start
    fn, args = registered[0]
    fn(*args)  # what the interpreter does at exit
    assert not state.dispatcher_running
