"""Eventual consistency (aws-scim.md §8.5): a 404 on a resource created moments ago is
retried per ``Profile.consistency_retry`` before the engine concludes it vanished.

The emulator's ``fail_next(404, ...)`` answers the next matching requests with AWS's own
404 text; the sleep is injected (``Provisioner(sleep=...)``) and only recorded.
"""

from __future__ import annotations

import attrs
import pytest
from _engine_support import Clock, DictSource, Env, open_env

from scimsync import (
    AWS,
    GENERIC,
    ConsistencyRetry,
    Provisioner,
    ScimClient,
    SQLiteStore,
    SyncFailedError,
)
from scimsync.errors import ConfigurationError


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def env(tmp_path, aws_scim_server):
    with open_env("aws", aws_scim_server, AWS, tmp_path) as e:
        yield e


def _prov(env: Env, sleeps: Sleeps, **kw) -> Provisioner:
    return Provisioner(
        source=env.source,
        store=env.store,
        targets=[env.target(**kw)],
        clock=env.clock,
        sleep=sleeps,
    )


def _wire(trace) -> list[tuple[str, str, int]]:
    return [(e.method, e.path.split("/")[1], e.status) for e in trace.exchanges]


def test_defaults_and_validation():
    assert AWS.consistency_retry == ConsistencyRetry(attempts=3, delay=0.2, window=0.0)
    assert AWS.consistency_retry.waits() == [0.2, 0.4, 0.8]
    assert ConsistencyRetry(attempts=0).waits() == []
    with pytest.raises(ConfigurationError, match="attempts must be a non-negative integer"):
        ConsistencyRetry(attempts=-1)
    with pytest.raises(ConfigurationError, match="delay must be a non-negative number"):
        ConsistencyRetry(delay="0.2")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="profile x: consistency_retry must be"):
        attrs.evolve(GENERIC, name="x", consistency_retry=(3, 0.2))


def test_members_added_after_404s_on_a_just_created_group(env):
    env.source.add_user("1", env.name("ada"))
    env.source.add_user("2", env.name("grace"))
    env.source.add_group("g", env.name("admins"), {"1", "2"})
    sleeps = Sleeps()
    prov = _prov(env, sleeps)
    env.server.fail_next(404, times=2, method="PATCH", path_prefix="/Groups/")
    trace = prov.sync_group("g")
    assert trace.outcome == "created", trace.format()
    assert trace.operation == "create"
    # (the members were created in their own traces, first)
    assert _wire(trace) == [
        ("GET", "Groups", 200),
        ("GET", "Groups", 200),
        ("POST", "Groups", 201),
        ("PATCH", "Groups", 404),
        ("PATCH", "Groups", 404),
        ("PATCH", "Groups", 204),
    ]
    assert sleeps == [0.2, 0.4]
    retries = [s.message for s in trace.steps if "eventual consistency" in s.message]
    assert len(retries) == 2
    assert "retry 2 of 3" in retries[1]
    gid = trace.remote_id
    u1 = env.store.get_link("t", "user", "1").remote_id
    u2 = env.store.get_link("t", "user", "2").remote_id
    assert len(env.server.groups()) == 1  # no recreate
    assert env.server.memberships()[gid] == {u1, u2}
    link = env.store.get_link("t", "group", "g")
    assert sorted(m["value"] for m in link.last_rep["members"]) == sorted([u1, u2])
    assert prov.sync_group("g").exchanges == []


def test_gives_up_after_the_attempts_without_recreating(env):
    env.source.add_user("1", env.name("ada"))
    env.source.add_group("g", env.name("admins"), {"1"})
    sleeps = Sleeps()
    prov = _prov(env, sleeps)
    env.server.fail_next(404, times=4, method="PATCH", path_prefix="/Groups/")
    with pytest.raises(SyncFailedError) as info:
        prov.sync_group("g")
    trace = info.value.trace
    assert [m for m, _, _ in _wire(trace) if m != "GET"] == ["POST"] + ["PATCH"] * 4
    assert sleeps == [0.2, 0.4, 0.8]
    assert len(env.server.groups()) == 1
    # The link says what the server holds: the group, no members yet.
    assert env.store.get_link("t", "group", "g").last_rep["members"] == []


def test_retrying_off(env):
    env.profile = attrs.evolve(AWS, consistency_retry=ConsistencyRetry(attempts=0))
    env.source.add_user("1", env.name("ada"))
    env.source.add_group("g", env.name("admins"), {"1"})
    sleeps = Sleeps()
    prov = _prov(env, sleeps)
    env.server.fail_next(404, method="PATCH", path_prefix="/Groups/")
    with pytest.raises(SyncFailedError):
        prov.sync_group("g")
    assert sleeps == []


def test_404_on_an_older_group_is_not_retried(env):
    """Created by an earlier sync (window 0): a 404 means it vanished, so it is recreated."""
    env.source.add_user("1", env.name("ada"))
    env.source.add_user("2", env.name("grace"))
    env.source.add_group("g", env.name("admins"), {"1"})
    sleeps = Sleeps()
    prov = _prov(env, sleeps)
    old_gid = prov.sync_group("g").remote_id
    prov.sync_user("2")  # linked before, so the member is not fresh either
    env.source.members["g"] = {"1", "2"}
    env.server.fail_next(404, method="PATCH", path_prefix="/Groups/")
    trace = prov.sync_group("g")
    assert sleeps == []
    # Taken for vanished at once: a recreate is tried (the emulator still holds the group,
    # so the POST gets 409 and the group is adopted back).
    assert _wire(trace)[:2] == [("PATCH", "Groups", 404), ("POST", "Groups", 409)]
    assert trace.remote_id == old_gid


def test_window_covers_later_syncs_of_the_same_provisioner(env):
    env.profile = attrs.evolve(AWS, consistency_retry=ConsistencyRetry(window=3600))
    u = env.source.add_user("1", env.name("ada"))
    sleeps = Sleeps()
    prov = _prov(env, sleeps)
    rid = prov.sync_user("1").remote_id
    u.last_name = "Byron"
    env.server.fail_next(404, method="PATCH", path_prefix="/Users/")
    trace = prov.sync_user("1")
    assert trace.outcome == "updated", trace.format()
    assert trace.remote_id == rid
    assert [(e.method, e.status) for e in trace.exchanges] == [("PATCH", 404), ("PATCH", 200)]
    assert sleeps == [0.2]
    assert env.server.get_user(rid)["name"]["familyName"] == "Byron"
    # Another provisioner did not create it: no retry, a recreate is tried at once.
    other_sleeps = Sleeps()
    other = _prov(env, other_sleeps)
    u.last_name = "King"
    env.server.fail_next(404, method="PATCH", path_prefix="/Users/")
    trace = other.sync_user("1")
    assert [(e.method, e.status) for e in trace.exchanges][:2] == [("PATCH", 404), ("POST", 409)]
    assert other_sleeps == []


def test_generic_server_gets_the_same_retry(scim_server, tmp_path):
    client = ScimClient(scim_server.base_url, scim_server.token)
    env = Env(
        kind="generic",
        server=scim_server,
        client=client,
        profile=GENERIC,
        store=SQLiteStore(tmp_path / "s.db"),
        source=DictSource(),
        clock=Clock(),
    )
    env.source.add_user("1", env.name("ada"))
    env.source.add_group("g", env.name("admins"), {"1"})
    sleeps = Sleeps()
    prov = _prov(env, sleeps)
    scim_server.fail_next(404, method="PATCH", path_prefix="/Groups/")
    trace = prov.sync_group("g")
    assert trace.outcome == "created", trace.format()
    assert sleeps == [0.2]
    u1 = env.store.get_link("t", "user", "1").remote_id
    assert scim_server.memberships()[trace.remote_id] == {u1}
    env.store.close()
    client.close()
