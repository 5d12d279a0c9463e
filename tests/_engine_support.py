"""Shared helpers for the engine tests: a dict-backed source and a per-test environment."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs

from scimsync import (
    AWS,
    GENERIC,
    Policies,
    Provisioner,
    ScimClient,
    Scope,
    SQLiteStore,
    Target,
    Toggles,
    source,
)


class DictSource:
    """A tiny Source: users and groups in dicts, members as sets of user keys.

    Every object carries ``ext``, its key plus a per-source suffix, mapped to
    ``externalId``: scim2-server is shared by every test and keeps externalIds unique.
    """

    def __init__(self, suffix: str = "") -> None:
        self.suffix = suffix or uuid.uuid4().hex[:8]
        self.users: dict[str, Any] = {}
        self.groups: dict[str, Any] = {}
        self.members: dict[str, set[str]] = {}
        self.reads = 0
        self._lock = threading.Lock()

    def get_user(self, key: str) -> Any:
        with self._lock:
            self.reads += 1
        return self.users.get(key)

    def get_group(self, key: str) -> Any:
        return self.groups.get(key)

    def group_member_keys(self, key: str) -> set[str]:
        return set(self.members.get(key, set()))

    def iter_keys(self, kind: str) -> list[str]:
        return sorted(self.users if kind == "user" else self.groups)

    def add_user(self, key: str, username: str, **kw: Any) -> Any:
        first = kw.pop("first_name", "Ada")
        last = kw.pop("last_name", "Lovelace")
        email = kw.pop("email", f"{username}@example.com")
        u = SimpleNamespace(
            username=username,
            first_name=first,
            last_name=last,
            email=email,
            is_active=True,
            ext=f"{key}-{self.suffix}",
            **kw,
        )
        self.users[key] = u
        return u

    def add_group(self, key: str, name: str, members: set[str] | None = None) -> Any:
        g = SimpleNamespace(name=name, ext=f"{key}-{self.suffix}")
        self.groups[key] = g
        self.members[key] = set(members or ())
        return g


class Clock:
    """A settable UTC clock."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


@attrs.define
class Env:
    """One target server, a client, a real SQLite store and a source, for one test."""

    kind: str  # "aws" (the emulator, AWS profile) or "scim2" (scim2-server, generic profile)
    server: Any
    client: ScimClient
    profile: Any
    store: SQLiteStore
    source: DictSource
    clock: Clock
    prefix: str = attrs.field(factory=lambda: uuid.uuid4().hex[:8])

    def name(self, base: str) -> str:
        """A userName/displayName unique on a shared server."""
        return f"{base}-{self.prefix}"

    def user_mapping(self, **changes: Any) -> Any:
        return self.profile.default_user_mapping().with_fields(
            {"externalId": source("ext")}, **changes
        )

    def group_mapping(self) -> Any:
        return self.profile.default_group_mapping().with_fields({"externalId": source("ext")})

    def ext(self, key: str) -> str:
        return f"{key}-{self.source.suffix}"

    def target(self, **kw: Any) -> Target:
        kw.setdefault("user_mapping", self.user_mapping())
        kw.setdefault("group_mapping", self.group_mapping())
        kw.setdefault("policies", Policies())
        kw.setdefault("scope", Scope())
        kw.setdefault("toggles", Toggles())
        return Target(name=kw.pop("name", "t"), client=self.client, profile=self.profile, **kw)

    def provisioner(self, **kw: Any) -> Provisioner:
        targets = kw.pop("targets", None) or [self.target(**kw)]
        return Provisioner(source=self.source, store=self.store, targets=targets, clock=self.clock)

    # -- wire inspection

    def methods(self, trace: Any) -> list[str]:
        return [e.method for e in trace.exchanges]

    def server_requests(self) -> list[Any] | None:
        """The emulator's request log (None for scim2-server, which has none)."""
        if self.kind != "aws":
            return None
        return list(self.server.request_log)

    def remote_user(self, rid: str) -> dict[str, Any]:
        return self.client.users.get_raw(rid)


@contextmanager
def open_env(kind: str, server: Any, profile: Any, tmp_path: Path) -> Iterator[Env]:
    """An :class:`Env` on *server* with a fresh SQLite store; client and store closed after."""
    client = ScimClient(server.base_url, server.token)
    store = SQLiteStore(tmp_path / "scimsync.db")
    try:
        yield Env(
            kind=kind,
            server=server,
            client=client,
            profile=profile,
            store=store,
            source=DictSource(),
            clock=Clock(),
        )
    finally:
        store.close()
        client.close()


def profiles() -> dict[str, Any]:
    return {"aws": AWS, "scim2": GENERIC}
