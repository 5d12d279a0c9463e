"""Shared helpers for the automatic/scheduled-mode tests (dispatch, reconcile, import)."""

from __future__ import annotations

from typing import Any

import attrs

from scimsync._client import RetryPolicy, ScimClient
from scimsync._engine import Policies, Provisioner, Target
from scimsync._store import SQLiteStore
from scimsync.profiles import AWS, GENERIC


def user(i: int | str, **over: Any) -> dict[str, Any]:
    return {
        "id": str(i),
        "username": f"user{i}@example.org",
        "first_name": f"First{i}",
        "last_name": f"Last{i}",
        "email": f"user{i}@example.org",
        "is_active": True,
        **over,
    }


class MutableSource:
    """A Source the test edits between runs, with switchable read failures."""

    def __init__(self, users=(), groups=()):
        self.users: dict[str, dict[str, Any]] = {u["id"]: u for u in users}
        self.groups: dict[str, dict[str, Any]] = {g["id"]: g for g in groups}
        self.fail_keys_after: int | None = None  # iter_user_keys raises after N keys
        self.fail_get: set[str] = set()  # get_user raises for these keys

    def get_user(self, key):
        if key in self.fail_get:
            raise ConnectionError(f"database went away reading user {key}")
        return self.users.get(key)

    def get_group(self, key):
        return self.groups.get(key)

    def iter_user_keys(self):
        for n, k in enumerate(list(self.users)):
            if self.fail_keys_after is not None and n >= self.fail_keys_after:
                raise ConnectionError("database went away while listing users")
            yield k

    def iter_group_keys(self):
        return iter(list(self.groups))

    def group_member_keys(self, group_key):
        g = self.groups.get(group_key)
        return list(g["members"]) if g else []


def make_provisioner(
    server,
    source,
    tmp_path,
    *,
    profile=None,
    policies: Policies | None = None,
    concurrency: int = 4,
    store=None,
    retry: RetryPolicy | None = None,
    clock=None,
    **target_kw: Any,
) -> Provisioner:
    if profile is None:
        profile = AWS if server.profile_name == "aws" else GENERIC
    client = ScimClient(server.base_url, server.token, retry=retry or RetryPolicy.none())
    store = store or SQLiteStore(tmp_path / "state.db")
    target = Target(
        name="aws",
        client=client,
        profile=profile,
        policies=policies or Policies(),
        concurrency=concurrency,
        **target_kw,
    )
    return Provisioner(source=source, store=store, targets=[target], clock=clock)


def small_pages(profile, n: int = 10):
    return attrs.evolve(profile, page_size=n)


def writes(server) -> list[Any]:
    """Every non-GET request the server received."""
    return [e for e in server.request_log if e.method != "GET"]


def user_names(server) -> list[str]:
    return sorted(u["userName"] for u in server.users())
