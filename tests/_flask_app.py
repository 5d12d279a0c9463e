"""A small, real Flask + Flask-Login app for the scimsync_flask tests.

Users live in a SQLite file read with :mod:`sqlite3` (no ORM). The same ``load_user``
serves Flask-Login's ``user_loader`` and scimsync's source. Saves commit, then call
``notify_user`` (one outbox INSERT, no network).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, abort, g, request
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from scimsync_flask import CallableSource, ScimSync, notify_group, notify_user

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS teams (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS team_members (team_id TEXT, user_id INTEGER);
"""


class User(UserMixin):  # type: ignore[misc]
    """A Flask-Login user; scimsync's default mapping reads these attribute names."""

    def __init__(self, row: sqlite3.Row) -> None:
        self.id = row["id"]
        self.username = row["username"]
        self.email = row["email"]
        self.first_name = row["first_name"]
        self.last_name = row["last_name"]
        self.active = bool(row["active"])

    @property
    def is_active(self) -> bool:
        return self.active


def get_db() -> sqlite3.Connection:
    from flask import current_app

    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
        g.db.row_factory = sqlite3.Row
    conn: sqlite3.Connection = g.db
    return conn


def load_user(key: str) -> User | None:
    row = get_db().execute("SELECT * FROM users WHERE id = ?", (key,)).fetchone()
    return User(row) if row is not None else None


def iter_user_keys() -> Iterator[int]:
    for (uid,) in get_db().execute("SELECT id FROM users ORDER BY id"):
        yield uid


def get_team(key: str) -> dict[str, Any] | None:
    row = get_db().execute("SELECT name FROM teams WHERE id = ?", (key,)).fetchone()
    return {"name": row["name"]} if row is not None else None


def iter_team_keys() -> list[str]:
    return [r[0] for r in get_db().execute("SELECT id FROM teams")]


def team_member_keys(key: str) -> list[int]:
    return [
        r[0] for r in get_db().execute("SELECT user_id FROM team_members WHERE team_id = ?", (key,))
    ]


def create_app(
    config: dict[str, Any],
    *,
    gate: threading.Event | None = None,
    scim: ScimSync | None = None,
) -> Flask:
    """The app factory. ``gate``: scimsync's user look-ups wait for it (tests use it to
    hold the background sync until the HTTP response has been checked)."""

    def scim_get_user(key: str) -> User | None:
        if gate is not None:
            gate.wait(10)
        return load_user(key)

    app = Flask(__name__, instance_path=config.pop("INSTANCE_PATH", None))
    app.config.update(SECRET_KEY="test", **config)
    with app.app_context():
        db = sqlite3.connect(app.config["DATABASE"])
        db.executescript(SCHEMA)
        db.close()

    login = LoginManager(app)
    login.user_loader(load_user)

    ext = scim or ScimSync(
        source=CallableSource(
            get_user=scim_get_user,
            iter_user_keys=iter_user_keys,
            get_group=get_team,
            iter_group_keys=iter_team_keys,
            group_member_keys=team_member_keys,
        )
    )
    ext.init_app(app)

    @app.teardown_appcontext
    def close_db(_exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()

    @app.post("/login/<int:uid>")
    def login_route(uid: int) -> str:
        user = load_user(str(uid))
        if user is None:
            abort(404)
        login_user(user)
        return "ok"

    @app.post("/users")
    def create_user() -> tuple[dict[str, Any], int]:
        f = request.form
        db = get_db()
        cur = db.execute(
            "INSERT INTO users (username, email, first_name, last_name) VALUES (?, ?, ?, ?)",
            (f["username"], f["email"], f["first_name"], f["last_name"]),
        )
        db.commit()
        uid = cur.lastrowid
        notify_user(uid)  # after the commit: one outbox INSERT, no network
        return {"id": uid}, 201

    @app.post("/me")
    @login_required  # type: ignore[misc]
    def update_me() -> str:
        db = get_db()
        db.execute(
            "UPDATE users SET last_name = ? WHERE id = ?",
            (request.form["last_name"], current_user.id),
        )
        db.commit()
        notify_user(current_user)  # a Flask-Login user: its get_id() is the key
        return "saved"

    @app.delete("/users/<int:uid>")
    def delete_user(uid: int) -> str:
        db = get_db()
        db.execute("DELETE FROM users WHERE id = ?", (uid,))
        db.execute("DELETE FROM team_members WHERE user_id = ?", (uid,))
        db.commit()
        notify_user(uid)
        return "deleted"

    @app.post("/teams/<tid>")
    def save_team(tid: str) -> str:
        db = get_db()
        db.execute(
            "INSERT OR REPLACE INTO teams (id, name) VALUES (?, ?)", (tid, request.form["name"])
        )
        db.execute("DELETE FROM team_members WHERE team_id = ?", (tid,))
        for uid in request.form.getlist("member"):
            db.execute("INSERT INTO team_members VALUES (?, ?)", (tid, int(uid)))
        db.commit()
        notify_group(tid)
        return "saved"

    return app


def add_user(app: Flask, username: str, first: str, last: str, *, email: str | None = None) -> str:
    """Insert a user directly (no notify) and return its key."""
    with app.app_context():
        db = get_db()
        cur = db.execute(
            "INSERT INTO users (username, email, first_name, last_name) VALUES (?, ?, ?, ?)",
            (username, email or username, first, last),
        )
        db.commit()
        return str(cur.lastrowid)


def app_config(tmp_path: Path, server: Any, **extra: Any) -> dict[str, Any]:
    """Config for an app talking to the emulator ``server`` (AWS profile)."""
    config: dict[str, Any] = {
        "DATABASE": str(tmp_path / "app.db"),
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SCIMSYNC_URL": server.base_url,
        "SCIMSYNC_TOKEN": server.token,
        "SCIMSYNC_PROFILE": "aws",
        "SCIMSYNC_TARGET": "aws",
        "SCIMSYNC_DISPATCHER": {"workers": 2, "poll_interval": 0.2},
    }
    config.update(extra)
    return config
