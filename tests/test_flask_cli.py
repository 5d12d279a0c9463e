"""The ``flask scimsync`` commands, run with ``app.test_cli_runner()`` against the AWS emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _flask_app import add_user, app_config, create_app
from click.testing import Result
from flask import Flask
from scimsync_flask import CallableSource, ScimSync, get_state

from scimsync import Policies
from scimsync.testing import EmulatorServer

TOKEN = "flask-cli-secret-token-3f9a1c77e2b44d0d"


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer("aws", tokens=[TOKEN]) as s:
        yield s


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def make(server: EmulatorServer, scim: ScimSync | None = None, **extra: Any) -> Flask:
        app = create_app(app_config(tmp_path, server, **extra), scim=scim)
        apps.append(app)
        return app

    yield make
    for app in apps:
        state = get_state(app)
        state.stop(10)
        state.provisioner.store.close()


def run(app: Flask, *args: str) -> Result:
    result: Result = app.test_cli_runner().invoke(args=["scimsync", *args])
    assert TOKEN not in result.output  # stdout and stderr, whatever the command
    return result


def test_sync_user_prints_the_trace_and_exits_0(
    make_app: Callable[..., Flask], server: EmulatorServer
) -> None:
    app = make_app(server)
    key = add_user(app, "ada@example.com", "Ada", "Lovelace")
    result = run(app, "sync-user", key)
    assert result.exit_code == 0, result.output
    assert f"user {key} (ada@example.com) -> target aws" in result.output
    assert "match:" in result.output
    assert "POST /Users -> 201" in result.output
    assert "outcome: created" in result.output
    assert server.find_user("ada@example.com") is not None

    again = run(app, "sync-user", key)
    assert again.exit_code == 0
    assert "outcome: unchanged" in again.output

    before = len(server.request_log)
    add_user(app, "bob@example.com", "Bob", "Noyce")
    plan = run(app, "sync-user", "2", "--dry-run")
    assert plan.exit_code == 0
    assert "outcome: created" in plan.output
    assert {r.method for r in server.request_log[before:]} <= {"GET"}
    assert server.find_user("bob@example.com") is None


def test_sync_user_failure_exits_1_with_the_reason(
    make_app: Callable[..., Flask], server: EmulatorServer
) -> None:
    app = make_app(server)
    key = add_user(app, "has spaces", "Bad", "Name", email="bad@example.com")
    result = run(app, "sync-user", key)
    assert result.exit_code == 1
    assert "whitespace" in result.stderr
    assert "validate" in result.stdout  # the trace up to the failing step
    assert not [r for r in server.request_log if r.method == "POST"]


def test_sync_user_held_for_approval_exits_4(
    make_app: Callable[..., Flask], server: EmulatorServer
) -> None:
    scim = ScimSync(
        source=CallableSource(
            get_user=lambda key: {
                "username": f"u{key}@example.com",
                "email": f"u{key}@example.com",
                "first_name": "U",
                "last_name": key,
                "is_active": True,
            },
            iter_user_keys=lambda: ["1"],
        ),
        target_options={"policies": Policies(require_approval={"create_user"})},
    )
    app = make_app(server, scim=scim)
    result = run(app, "sync-user", "1")
    assert result.exit_code == 4, result.output
    assert "outcome: held" in result.output
    status = run(app, "status")
    assert "held for approval: 1" in status.output


def test_target_unreachable_exits_3(make_app: Callable[..., Flask], server: EmulatorServer) -> None:
    app = make_app(server)
    key = add_user(app, "ada@example.com", "Ada", "Lovelace")
    server.revoke_token(TOKEN)  # the token was revoked on the target: 401
    result = run(app, "sync-user", key)
    assert result.exit_code == 3, result.output
    assert "401" in result.output


def test_unknown_target_exits_2(make_app: Callable[..., Flask], server: EmulatorServer) -> None:
    app = make_app(server)
    result = run(app, "sync-user", "1", "--target", "nope")
    assert result.exit_code == 2
    assert "unknown target 'nope'" in result.stderr


def test_sync_group_creates_members_first(
    make_app: Callable[..., Flask], server: EmulatorServer
) -> None:
    app = make_app(server)
    ada = add_user(app, "ada@example.com", "Ada", "Lovelace")
    with app.test_request_context():
        from _flask_app import get_db

        db = get_db()
        db.execute("INSERT INTO teams VALUES ('eng', 'Engineering')")
        db.execute("INSERT INTO team_members VALUES ('eng', ?)", (int(ada),))
        db.commit()
    result = run(app, "sync-group", "eng")
    assert result.exit_code == 0, result.output
    assert "outcome: created" in result.output
    group = server.find_group("Engineering")
    assert group is not None
    assert server.memberships()[group["id"]] == {server.find_user("ada@example.com")["id"]}  # type: ignore[index]


def test_reconcile_plan_then_run_then_status(
    make_app: Callable[..., Flask], server: EmulatorServer
) -> None:
    app = make_app(server)
    for i in range(3):
        add_user(app, f"user{i}@example.com", "User", str(i))

    plan = run(app, "reconcile", "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert plan.output.startswith("Plan ")
    assert server.users() == []

    done = run(app, "reconcile")
    assert done.exit_code == 0, done.output
    assert "3 created" in done.output
    assert len(server.users()) == 3

    server.mutate_user(server.find_user("user1@example.com")["id"], displayName="Drifted")  # type: ignore[index]
    deep = run(app, "reconcile", "--deep")
    assert deep.exit_code == 0, deep.output
    assert "(deep)" in deep.output
    assert "1 updated" in deep.output
    assert server.find_user("user1@example.com")["displayName"] == "User 1"  # type: ignore[index]

    status = run(app, "status")
    assert status.exit_code == 0, status.output
    assert "outbox: 0 pending" in status.output
    assert "0 dead letter(s)" in status.output
    assert "last runs:" in status.output
    assert "aws  deep  complete" in status.output
    assert "aws  incremental  complete: 3 created" in status.output


def test_reconcile_with_a_failing_user_exits_1(
    make_app: Callable[..., Flask], server: EmulatorServer
) -> None:
    app = make_app(server)
    add_user(app, "ok@example.com", "Ok", "User")
    add_user(app, "not ok", "Bad", "User", email="bad@example.com")
    result = run(app, "reconcile")
    assert result.exit_code == 1, result.output
    assert "1 created" in result.output
    assert "1 failed" in result.output


def test_dead_letters_status_replay_and_drain(
    make_app: Callable[..., Flask], server: EmulatorServer
) -> None:
    app = make_app(
        server,
        SCIMSYNC_DISPATCHER={"max_permanent_attempts": 1, "backoff": 0.01},
    )
    key = add_user(app, "bad name", "Bad", "Name", email="bad@example.com")
    with app.app_context():
        get_state().notify("user", key)

    drained = run(app, "drain")
    assert drained.exit_code == 1, drained.output
    assert "dead letters 1" in drained.output

    status = run(app, "status")
    assert status.exit_code == 1  # dead letters exist
    assert "1 dead letter(s)" in status.output
    assert f"user {key}: 1 attempt(s)" in status.output
    assert "ValidationError" in status.output

    with app.app_context():  # the data is fixed...
        from _flask_app import get_db

        db = get_db()
        db.execute("UPDATE users SET username = 'bad.name@example.com' WHERE id = ?", (key,))
        db.commit()
    replayed = run(app, "replay")
    assert replayed.exit_code == 0
    assert "replayed 1 dead letter(s)" in replayed.output
    drained = run(app, "drain")
    assert drained.exit_code == 0, drained.output
    assert "synced 1" in drained.output
    assert server.find_user("bad.name@example.com") is not None
    assert run(app, "status").exit_code == 0


def test_the_token_is_redacted_from_command_output(
    make_app: Callable[..., Flask], server: EmulatorServer
) -> None:
    # A user whose name happens to contain the token (a mis-pasted form field): the
    # trace echoes the name, and the output filter replaces the token.
    app = make_app(server)
    key = add_user(app, "pasted@example.com", "Pasted", TOKEN)
    result = app.test_cli_runner().invoke(args=["scimsync", "sync-user", key])
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    assert "[REDACTED]" in result.output


def test_reconcile_against_a_target_refusing_the_token_exits_3(
    make_app: Callable[..., Flask], server: EmulatorServer
) -> None:
    app = make_app(server)
    add_user(app, "ada@example.com", "Ada", "Lovelace")
    server.revoke_token(TOKEN)
    result = run(app, "reconcile")
    assert result.exit_code == 3, result.output
    assert "what to do:" in result.stderr
