"""A batch where some users have bad data: each failure names the object and the
attribute, nothing is lost (failures are recorded; nothing half-done is linked), and the
rest of the batch goes on. Against the AWS-profile emulator with a real SQLite store.
"""

from __future__ import annotations

import pickle
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from scimsync import (
    AWS,
    Dispatcher,
    Provisioner,
    Reports,
    ScimClient,
    SQLiteStore,
    SyncFailedError,
    Target,
    source,
)
from scimsync.errors import SourceReadError, ValidationError
from scimsync.testing import EmulatorServer


class DatabaseDown(RuntimeError):
    pass


class AppSource:
    def __init__(self, users: dict[str, Any]) -> None:
        self.users = users

    def get_user(self, key: str) -> Any:
        value = self.users.get(key)
        if isinstance(value, Exception):
            raise value
        return value

    def get_group(self, key: str) -> Any:
        return None

    def iter_user_keys(self) -> list[str]:
        return list(self.users)

    def iter_group_keys(self) -> list[str]:
        return []

    def group_member_keys(self, key: str) -> set[str]:
        return set()


def person(name: str, **changes: Any) -> dict[str, Any]:
    base = {
        "username": name,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": f"{name}@example.com",
        "is_active": True,
        "title": "Engineer",
    }
    base.update(changes)
    return base


Row = namedtuple("Row", "username first_name last_name email is_active title")

BAD = {
    # key: (source value, what the failure must say)
    "none-username": (person("x1", username=None), "user none-username: userName is required"),
    "int-name": (
        person("x2", first_name=7),
        "user int-name: name.givenName must be a string (got int)",
    ),
    "long-title": (
        person("x3", title="t" * 2000),
        "user long-title: title must be at most 1024 characters on the aws profile (got 2000)",
    ),
    "list-email": (
        person("x4", email=["a@example.com"]),
        "user list-email: emails.value must be a string (got list)",
    ),
    "not-an-object": (
        42,
        "user not-an-object: the source returned int 42, not an object or a dict",
    ),
    "a-string": (
        "ada@example.com",
        "user a-string: the source returned str 'ada@example.com', not an object or a dict",
    ),
    "source-raises": (
        DatabaseDown("connection to the HR database lost"),
        "user source-raises: reading the source failed: DatabaseDown: connection to the HR "
        "database lost",
    ),
}
GOOD = {
    "good-1": person("good1"),
    "int-username": person(12345),  # the default mapping's "str" transform: userName "12345"
    "good-2": person("good2"),
    "row": Row("row1", "Grace", "Hopper", "row1@example.com", True, "Admiral"),  # a tuple type
}


@pytest.fixture
def env(tmp_path: Path) -> Any:
    server = EmulatorServer("aws").start()
    client = ScimClient(server.base_url, server.token)
    store = SQLiteStore(tmp_path / "state.sqlite3")
    users: dict[str, Any] = {}
    for key in ("good-1", *BAD, "int-username", "good-2", "row"):  # good ones first and last
        users[key] = GOOD[key] if key in GOOD else BAD[key][0]
    mapping = AWS.default_user_mapping().with_fields({"title": source("title")})
    target = Target(name="aws", client=client, profile=AWS, user_mapping=mapping)
    prov = Provisioner(source=AppSource(users), store=store, targets=[target])
    yield server, store, prov, list(users)
    client.close()
    store.close()
    server.stop()


def _check_outcomes(server: Any, store: SQLiteStore) -> None:
    assert sorted(u["userName"] for u in server.users()) == ["12345", "good1", "good2", "row1"]
    for key in GOOD:
        assert store.get_link("aws", "user", key) is not None, key
    for key in BAD:
        assert store.get_link("aws", "user", key) is None, key  # nothing half-done
    failures = {r.key: r for r in Reports(store).failures()}
    assert set(failures) == set(BAD)
    for key, (_, says) in BAD.items():
        error = failures[key].error or ""
        assert says in error, (key, error)
        for raw in ("Traceback", "KeyError", "AttributeError", "is missing on int"):
            assert raw not in error


def test_a_batch_goes_on_past_bad_users(env: Any) -> None:
    server, store, prov, keys = env
    traces = prov.sync_many("user", keys)
    outcomes = {t.key: t.outcome for t in traces}
    assert outcomes == {**dict.fromkeys(GOOD, "created"), **dict.fromkeys(BAD, "failed")}
    for trace in traces:
        if trace.key in BAD:
            assert BAD[trace.key][1] in trace.format(), trace.format()
    # nothing but the good users went out
    assert len(server.requests("POST")) == len(GOOD)
    _check_outcomes(server, store)


def test_manual_mode_names_the_object_and_attribute(env: Any) -> None:
    server, _, prov, _ = env
    for key, (_, says) in BAD.items():
        with pytest.raises(SyncFailedError) as info:
            prov.sync_user(key)
        assert says in str(info.value), str(info.value)
        assert str(info.value).startswith(f"user {key} on target aws: ")
        # the cause is one of the public exceptions, and survives pickling (Celery)
        cause = info.value.cause
        expected = SourceReadError if key == "source-raises" else ValidationError
        assert type(cause) is expected, repr(cause)
        again = pickle.loads(pickle.dumps(cause))  # noqa: S301 - our own object
        assert (type(again), str(again)) == (expected, str(cause))
    assert server.requests("POST") == []  # nothing bad was sent


def test_automatic_mode_keeps_going_and_loses_nothing(env: Any) -> None:
    server, store, prov, keys = env
    with Dispatcher(prov, workers=2) as dispatcher:
        for key in keys:
            prov.notify("user", key)
        assert dispatcher.flush(timeout=60)
    _check_outcomes(server, store)
