"""Profile settings for group membership quirks: ``member_remove`` and
``keeps_deleted_members``, read by the engine instead of being inferred.

Runs against our generic emulator (which accepts both removal forms and drops a deleted
user's memberships) and scim2-server (strict RFC paths, keeps dangling members).
"""

from __future__ import annotations

import attrs
import pytest
from _engine_support import open_env

from scimsync import AWS, GENERIC, Policies, Profile
from scimsync.errors import ConfigurationError


def test_builtin_values():
    assert (AWS.member_remove, AWS.keeps_deleted_members) == ("value", False)
    assert (GENERIC.member_remove, GENERIC.keeps_deleted_members) == ("path", True)
    plain = Profile(name="plain")
    assert (plain.member_remove, plain.keeps_deleted_members) == ("path", True)


def test_bad_values_name_the_profile_and_field():
    with pytest.raises(ConfigurationError, match=r"profile acme: member_remove must be 'value'"):
        attrs.evolve(GENERIC, name="acme", member_remove="filter")
    with pytest.raises(ConfigurationError, match=r"profile acme: keeps_deleted_members must be"):
        attrs.evolve(GENERIC, name="acme", keeps_deleted_members="yes")


def _remove_ops(trace):
    return [
        op
        for e in trace.exchanges
        if e.method == "PATCH"
        for op in e.request_body["Operations"]
        if op["op"] == "remove"
    ]


@pytest.mark.parametrize("style", ["value", "path"])
def test_custom_profile_chooses_the_removal_form(style, scim_server, tmp_path):
    """The generic emulator accepts both forms; the engine sends the one the profile says."""
    profile = attrs.evolve(GENERIC, name="custom", member_remove=style)
    with open_env("generic", scim_server, profile, tmp_path) as env:
        for k in ("1", "2", "3"):
            env.source.add_user(k, env.name(f"u{k}"))
        env.source.add_group("g", env.name("team"), {"1", "2", "3"})
        prov = env.provisioner()
        gid = prov.sync_group("g").remote_id
        ids = {k: env.store.get_link("t", "user", k).remote_id for k in ("1", "2", "3")}

        env.source.members["g"] = {"2"}
        trace = prov.sync_group("g")
        assert trace.outcome == "updated", trace.format()
        ops = _remove_ops(trace)
        if style == "value":
            assert ops == [
                {
                    "op": "remove",
                    "path": "members",
                    "value": [{"value": i} for i in sorted([ids["1"], ids["3"]])],
                }
            ]
        else:
            assert ops == [
                {"op": "remove", "path": f'members[value eq "{i}"]'}
                for i in sorted([ids["1"], ids["3"]])
            ]
        assert scim_server.memberships()[gid] == {ids["2"]}


def test_keeps_deleted_members_true_removes_the_dangling_member(scim_server, tmp_path):
    """GENERIC on the emulator (which already dropped the member): the remove is sent and
    accepted as a no-op, and nothing is left behind."""
    with open_env("generic", scim_server, GENERIC, tmp_path) as env:
        env.source.add_user("1", env.name("ada"))
        env.source.add_user("2", env.name("grace"))
        env.source.add_group("g", env.name("admins"), {"1", "2"})
        prov = env.provisioner(policies=Policies(user_lifecycle="delete"))
        gid = prov.sync_group("g").remote_id
        u1 = env.store.get_link("t", "user", "1").remote_id
        u2 = env.store.get_link("t", "user", "2").remote_id
        del env.source.users["1"]
        assert prov.sync_user("1").outcome == "deleted"
        trace = prov.sync_group("g")
        assert trace.ok, trace.format()
        assert _remove_ops(trace) == [{"op": "remove", "path": f'members[value eq "{u1}"]'}]
        assert scim_server.memberships()[gid] == {u2}
        assert prov.sync_group("g").exchanges == []


def test_keeps_deleted_members_false_forgets_without_a_request(scim2_server, tmp_path):
    """A custom profile on scim2-server saying deleted members vanish: no request is sent,
    so the server's dangling member stays (proof the setting, not an inference, decides)."""
    profile = attrs.evolve(GENERIC, name="forgetful", keeps_deleted_members=False)
    with open_env("scim2", scim2_server, profile, tmp_path) as env:
        env.source.add_user("1", env.name("ada"))
        env.source.add_user("2", env.name("grace"))
        env.source.add_group("g", env.name("admins"), {"1", "2"})
        prov = env.provisioner(policies=Policies(user_lifecycle="delete"))
        gid = prov.sync_group("g").remote_id
        u1 = env.store.get_link("t", "user", "1").remote_id
        u2 = env.store.get_link("t", "user", "2").remote_id
        del env.source.users["1"]
        assert prov.sync_user("1").outcome == "deleted"
        trace = prov.sync_group("g")
        assert trace.ok, trace.format()
        assert trace.exchanges == []
        assert "forgotten without a request" in trace.format()
        link = env.store.get_link("t", "group", "g")
        assert [m["value"] for m in link.last_rep["members"]] == [u2]
        remote = {m["value"] for m in env.client.groups.get_raw(gid).get("members", [])}
        assert remote == {u1, u2}  # scim2-server keeps the dangling member
