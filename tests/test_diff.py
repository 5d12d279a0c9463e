"""diff_resource / diff_members / representation_hash, with the emulator's PATCH applier
(an independent implementation) as the judge."""

from __future__ import annotations

import hashlib
import json

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scimsync import AWS, GENERIC, ValidationError, diff_members, diff_resource, representation_hash
from scimsync.testing._patch import apply_patch

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def user(**kw):
    rep = {"schemas": [CORE], "userName": "bjensen", "active": True, "externalId": "42"}
    rep.update(kw)
    if ENT in rep:
        rep["schemas"] = [CORE, ENT]
    return rep


# ------------------------------------------------------------------ unit cases


def test_no_change_is_empty_list():
    assert diff_resource(user(), user(), GENERIC) == []
    assert diff_resource(user(), user(), AWS) == []


def test_meta_id_and_schemas_order_are_ignored():
    old = dict(user(), id="abc", meta={"resourceType": "User"})
    assert diff_resource(old, user(), GENERIC) == []


def test_simple_replace_add_remove():
    old = user(title="Dev", nickName="B")
    new = user(title="Lead", displayName="Babs")
    ops = diff_resource(old, new, GENERIC)
    assert ops == [
        {"op": "replace", "path": "title", "value": "Lead"},
        {"op": "add", "path": "displayName", "value": "Babs"},
        {"op": "remove", "path": "nickName"},
    ]


def test_boolean_stays_boolean_and_true_differs_from_one():
    ops = diff_resource(user(active=True), user(active=False), AWS)
    assert ops == [{"op": "replace", "path": "active", "value": False}]
    assert diff_resource(user(active=1), user(active=True), GENERIC) == [
        {"op": "replace", "path": "active", "value": True}
    ]


def test_sub_attribute_paths():
    old = user(name={"givenName": "Barbara", "familyName": "Jensen", "middleName": "J"})
    new = user(name={"givenName": "Babs", "familyName": "Jensen", "formatted": "Babs Jensen"})
    ops = diff_resource(old, new, AWS)
    assert ops == [
        {"op": "replace", "path": "name.givenName", "value": "Babs"},
        {"op": "add", "path": "name.formatted", "value": "Babs Jensen"},
        {"op": "remove", "path": "name.middleName"},
    ]
    assert apply_patch(old, ops) == new


def test_extension_paths_use_urn_prefix():
    old = user(**{ENT: {"department": "Tour", "manager": {"value": "m1", "$ref": "../Users/m1"}}})
    new = user(**{ENT: {"department": "Ops", "manager": {"value": "m2"}}})
    ops = diff_resource(old, new, AWS)
    assert ops == [
        {"op": "replace", "path": f"{ENT}:department", "value": "Ops"},
        {"op": "replace", "path": f"{ENT}:manager.value", "value": "m2"},
        {"op": "remove", "path": f"{ENT}:manager.$ref"},
    ]
    assert apply_patch(old, ops) == new


def test_extension_appears_and_disappears():
    old = user()
    new = user(**{ENT: {"department": "Ops"}})
    ops = diff_resource(old, new, GENERIC)
    assert ops == [{"op": "add", "path": ENT, "value": {"department": "Ops"}}]
    assert apply_patch(old, ops) == new
    back = diff_resource(new, old, GENERIC)
    assert back == [{"op": "remove", "path": ENT}]
    assert apply_patch(new, back) == old


def test_multi_valued_replaced_whole():
    old = user(emails=[{"type": "work", "value": "a@x", "primary": True}])
    new = user(emails=[{"type": "work", "value": "b@x", "primary": True}])
    ops = diff_resource(old, new, AWS)
    assert ops == [{"op": "replace", "path": "emails", "value": new["emails"]}]
    assert apply_patch(old, ops) == new


def test_ops_do_not_alias_the_new_rep():
    new = user(emails=[{"type": "work", "value": "b@x"}])
    ops = diff_resource(user(), new, GENERIC)
    assert ops is not None
    ops[0]["value"][0]["value"] = "changed"
    assert new["emails"][0]["value"] == "b@x"


def test_aws_cannot_remove_active_or_username_so_put():
    assert diff_resource(user(), {k: v for k, v in user().items() if k != "active"}, AWS) is None
    # the generic profile removes it
    assert diff_resource(user(), {k: v for k, v in user().items() if k != "active"}, GENERIC) == [
        {"op": "remove", "path": "active"}
    ]


def test_aws_roles_are_not_patchable_so_put():
    old = user(roles=[{"value": "a", "primary": True}])
    new = user(roles=[{"value": "b", "primary": True}])
    assert diff_resource(old, new, AWS) is None
    assert diff_resource(old, new, GENERIC) == [
        {"op": "replace", "path": "roles", "value": new["roles"]}
    ]


def test_put_profile_returns_none_only_when_changed():
    put = attrs.evolve(GENERIC, name="putter", user_update="put")
    assert diff_resource(user(), user(), put) == []
    assert diff_resource(user(), user(title="x"), put) is None


def test_group_members_ignored_and_aws_group_needs_patchable_attrs():
    old = {"schemas": [GROUP], "displayName": "A", "externalId": "g1", "members": [{"value": "u1"}]}
    new = {"schemas": [GROUP], "displayName": "B", "externalId": "g1", "members": []}
    assert diff_resource(old, new, AWS) == [{"op": "replace", "path": "displayName", "value": "B"}]
    weird = dict(new, description="nope")
    with pytest.raises(ValidationError) as ei:
        diff_resource(old, weird, AWS, key="g7")
    assert str(ei.value.problems[0]) == (
        "group g7: description cannot be changed by PATCH on the aws profile"
    )


def test_ignore_paths_keep_old_values():
    old = user(title="Dev", emails=[{"type": "work", "value": "a@x", "primary": True}])
    new = user(title="Lead")  # emails left out (create-only), title changed
    ops = diff_resource(old, new, GENERIC, ignore_paths=['emails[type eq "work"].value'])
    assert ops == [{"op": "replace", "path": "title", "value": "Lead"}]
    ops = diff_resource(old, user(), GENERIC, ignore_paths=["title"])
    assert ops == [{"op": "remove", "path": "emails"}]
    # an ignored path missing on the old side is removed from the new side
    assert diff_resource(user(), user(nickName="n"), GENERIC, ignore_paths=["nickName"]) == []


def test_uppercase_ops_profile():
    prof = attrs.evolve(GENERIC, name="caps", lowercase_ops=False)
    assert diff_resource(user(), user(title="x"), prof) == [
        {"op": "Add", "path": "title", "value": "x"}
    ]


# --------------------------------------------------------------- diff_members


def test_diff_members_chunks_and_orders():
    old = {f"u{i:03d}" for i in range(150)}
    new = {f"u{i:03d}" for i in range(50, 300)}
    reqs = diff_members(old, new, 100)
    adds = [v["value"] for r in reqs for o in r if o["op"] == "add" for v in o["value"]]
    removes = [v["value"] for r in reqs for o in r if o["op"] == "remove" for v in o["value"]]
    assert sorted(adds) == sorted(new - old)
    assert adds == sorted(adds)
    assert sorted(removes) == sorted(old - new)
    assert len(reqs) == 2  # 150 adds + 50 removes = 200 changes, 100 a request
    for r in reqs:
        assert sum(len(o["value"]) for o in r) <= 100
        assert all(o["path"] == "members" and o["value"] for o in r)
    assert [o["op"] for o in reqs[-1]] == ["add", "remove"]


def test_diff_members_nothing_and_bad_chunk():
    assert diff_members(["a"], ["a"], 100) == []
    assert diff_members([], ["b"], 1, lowercase_ops=False) == [
        [{"op": "Add", "path": "members", "value": [{"value": "b"}]}]
    ]
    with pytest.raises(ValueError, match="chunk_size"):
        diff_members([], ["b"], 0)


@given(
    st.sets(st.text(min_size=1, max_size=5), max_size=60),
    st.sets(st.text(min_size=1, max_size=5), max_size=60),
    st.integers(1, 25),
)
def test_diff_members_applied_gives_new(old, new, chunk):
    group = {"schemas": [GROUP], "displayName": "g", "members": [{"value": v} for v in sorted(old)]}
    for ops in diff_members(old, new, chunk):
        assert sum(len(o["value"]) for o in ops) <= chunk
        group = apply_patch(group, ops)
    assert {m["value"] for m in group.get("members", [])} == new


# ------------------------------------------------------------ representation_hash


def test_representation_hash_canonical():
    a = {"userName": "ü", "active": True, "name": {"b": 1, "a": 2}}
    b = {"name": {"a": 2, "b": 1}, "active": True, "userName": "ü"}
    assert representation_hash(a) == representation_hash(b)
    expected = hashlib.sha256(
        json.dumps(a, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert representation_hash(a) == expected
    assert representation_hash(a) != representation_hash(dict(a, active=False))


# ------------------------------------------------------------------ properties

text = st.text(min_size=1, max_size=8)


def _opt(strategy):
    return st.one_of(st.none(), strategy)


@st.composite
def generic_users(draw):
    rep = {"schemas": [CORE], "userName": draw(text)}
    for attr in ("displayName", "title", "nickName", "externalId", "locale"):
        v = draw(_opt(text))
        if v is not None:
            rep[attr] = v
    active = draw(_opt(st.booleans()))
    if active is not None:
        rep["active"] = active
    name = draw(
        st.dictionaries(
            st.sampled_from(["givenName", "familyName", "middleName"]), text, max_size=3
        )
    )
    if name:
        rep["name"] = name
    emails = draw(
        st.lists(
            st.fixed_dictionaries(
                {"value": text, "type": st.sampled_from(["work", "home", "other"])},
                optional={"primary": st.just(True)},
            ),
            max_size=3,
            unique_by=lambda e: e["value"],
        )
    )
    if emails:
        rep["emails"] = emails
    ent = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "department": text,
                "costCenter": text,
                "manager": st.fixed_dictionaries({"value": text}, optional={"$ref": text}),
            },
        )
    )
    if ent:
        rep[ENT] = ent
        rep["schemas"] = [CORE, ENT]
    return rep


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(generic_users(), generic_users())
def test_generic_diff_applied_to_old_gives_new(old, new):
    ops = diff_resource(old, new, GENERIC)
    assert ops is not None
    assert all(o["op"] in ("add", "replace", "remove") and o["path"] for o in ops)
    assert apply_patch(old, ops) == new
    if old == new:
        assert ops == []


@st.composite
def aws_users(draw):
    """Users the AWS profile accepts: names present, one primary email at most,
    userName and active always present (AWS cannot remove them)."""
    rep = {
        "schemas": [CORE],
        "userName": draw(text),
        "active": draw(st.booleans()),
        "displayName": draw(text),
        "name": {"givenName": draw(text), "familyName": draw(text)},
    }
    mid = draw(_opt(text))
    if mid is not None:
        rep["name"]["middleName"] = mid
    for attr in ("title", "nickName", "externalId", "timezone"):
        v = draw(_opt(text))
        if v is not None:
            rep[attr] = v
    email = draw(_opt(text))
    if email is not None:
        rep["emails"] = [{"value": email, "type": "work", "primary": True}]
    phone = draw(_opt(text))
    if phone is not None:
        rep["phoneNumbers"] = [{"value": phone, "type": "work"}]
    dept = draw(_opt(text))
    if dept is not None:
        rep[ENT] = {"department": dept}
        rep["schemas"] = [CORE, ENT]
    return rep


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(aws_users(), aws_users())
def test_aws_diff_applied_to_old_gives_new_and_respects_aws_rules(old, new):
    ops = diff_resource(old, new, AWS)
    assert ops is not None  # everything here is expressible as an AWS PATCH
    for o in ops:
        assert o["op"] in ("add", "replace", "remove")
        assert o["path"]  # AWS: always an explicit path
        top = o["path"].split(":department")[0] if o["path"].startswith("urn:") else None
        head = top or o["path"].split(".")[0].split("[")[0]
        assert head in AWS.patchable_user_attributes
        if o["op"] == "remove":
            assert head not in ("userName", "active")
    # at most one operation on userName and on active (patchuser.html)
    assert sum(o["path"] == "userName" for o in ops) <= 1
    assert sum(o["path"] == "active" for o in ops) <= 1
    assert apply_patch(old, ops) == new
