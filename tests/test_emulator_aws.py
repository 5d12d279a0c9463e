"""The emulator's ``aws`` profile, rule by rule (aws-scim.md §9 and the sections it cites).

Every test talks HTTP to a real EmulatorServer on 127.0.0.1 with plain ``requests``.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from _emulator_support import (
    AWS_400,
    AWS_409,
    AWS_ID,
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE,
    ISO_SECONDS,
    LIST_URN,
    PATCH_URN,
    UUID,
    Api,
    assert_aws_error,
    aws_group,
    aws_user,
)
from urllib3.util import SKIP_HEADER

from scimsync.testing import EmulatorServer


@pytest.fixture
def api(aws_scim_server: EmulatorServer) -> Api:
    return Api(aws_scim_server)


def make_user(api: Api, user_name: str = "bjensen", **extra) -> dict:
    r = api.post("/Users", aws_user(user_name, **extra))
    assert r.status_code == 201, r.text
    return r.json()


def make_group(api: Api, name: str = "Engineering", **extra) -> dict:
    r = api.post("/Groups", aws_group(name, **extra))
    assert r.status_code == 201, r.text
    return r.json()


# -- connection basics, auth, tenant ------------------------------------------------------


def test_base_url_has_an_aws_shaped_tenant(aws_scim_server):
    assert re.fullmatch(
        r"http://127\.0\.0\.1:\d+/[A-Za-z0-9]{11}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/scim/v2",
        aws_scim_server.base_url,
    )


def test_explicit_tenant_is_used():
    with EmulatorServer("aws", tenant="abcdefghijk-1111-2222-3333-444455556666") as server:
        assert server.base_url.endswith("/abcdefghijk-1111-2222-3333-444455556666/scim/v2")
        r = Api(server).get("/Users")
        assert r.status_code == 200


def test_wrong_tenant_is_404_tenant_does_not_exist(aws_scim_server):
    url = aws_scim_server.base_url.replace(
        aws_scim_server.tenant, "zzzzzzzzzzz-0000-0000-0000-000000000000"
    )
    r = requests.get(url + "/Users", headers=aws_scim_server.auth_headers(), timeout=10)
    assert_aws_error(r, 404, "TENANT does not exist.")


def test_success_headers(api):
    r = api.get("/Users")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert UUID.match(r.headers["x-amzn-RequestId"])


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dXNlcjpwdw=="}],
    ids=["missing", "invalid", "not-bearer"],
)
def test_missing_or_invalid_token_is_401(aws_scim_server, headers):
    r = requests.get(aws_scim_server.base_url + "/Users", headers=headers, timeout=10)
    assert_aws_error(r, 401, "Authorization header is invalid or missing.")


def test_expired_token_is_401_and_second_token_works():
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)
    with EmulatorServer("aws", tokens=[("old", past), ("new", future)]) as server:
        assert_aws_error(
            Api(server, "old").get("/Users"), 401, "Authorization header is invalid or missing."
        )
        assert Api(server, "new").get("/Users").status_code == 200


def test_at_most_two_tokens():
    with pytest.raises(ValueError, match="at most two"):
        EmulatorServer("aws", tokens=["a", "b", "c"])
    server = EmulatorServer("aws", tokens=["a", "b"])
    with pytest.raises(ValueError, match="at most two"):
        server.add_token("c")
    server.revoke_token("a")
    server.add_token("c", expires_at=None)
    assert [t.value for t in server.tokens] == ["b", "c"]


def test_rotation_revoked_token_is_401(aws_scim_server):
    aws_scim_server.add_token("rotated")
    old = aws_scim_server.token
    aws_scim_server.revoke_token(old)
    assert Api(aws_scim_server, old).get("/Users").status_code == 401
    assert Api(aws_scim_server, "rotated").get("/Users").status_code == 200


# -- users: create ------------------------------------------------------------------------


def test_create_user_201_full_body(api):
    r = api.post("/Users", aws_user(externalId="701984"))
    assert r.status_code == 201
    body = r.json()
    assert AWS_ID.match(body["id"])
    assert body["externalId"] == "701984"
    assert set(body["meta"]) == {"resourceType", "created", "lastModified"}
    assert body["meta"]["resourceType"] == "User"
    assert ISO_SECONDS.match(body["meta"]["created"])
    assert body["schemas"] == [CORE_USER]
    assert body["userName"] == "bjensen"
    assert body["name"] == {"givenName": "Barbara", "familyName": "Jensen"}
    assert body["emails"] == [{"value": "bjensen@example.com", "type": "work", "primary": True}]
    assert body["active"] is True
    assert list(body)[:4] == ["id", "externalId", "meta", "schemas"]


def test_create_user_without_schemas_is_accepted(api):
    body = aws_user()
    del body["schemas"]
    assert api.post("/Users", body).status_code == 201


def test_enterprise_extension_round_trip(api):
    user = make_user(
        api,
        **{ENTERPRISE: {"department": "Tours", "manager": {"value": "m1", "$ref": "../Users/m1"}}},
    )
    assert user["schemas"] == [CORE_USER, ENTERPRISE]
    assert user[ENTERPRISE] == {"department": "Tours", "manager": {"value": "m1"}}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.pop("userName"),
        lambda b: b["name"].pop("givenName"),
        lambda b: b["name"].pop("familyName"),
        lambda b: b.pop("name"),
        lambda b: b.pop("displayName"),
        lambda b: b.update(displayName=""),
        lambda b: b["name"].update(givenName=""),
    ],
    ids=[
        "userName",
        "givenName",
        "familyName",
        "name",
        "displayName",
        "empty-displayName",
        "empty-givenName",
    ],
)
def test_required_user_fields(api, mutate):
    body = aws_user()
    mutate(body)
    assert_aws_error(api.post("/Users", body), 400, AWS_400)


@pytest.mark.parametrize(
    ("attr", "items"),
    [
        ("emails", [{"value": "a@x", "primary": True}, {"value": "b@x"}]),
        ("phoneNumbers", [{"value": "1", "type": "work"}, {"value": "2", "type": "mobile"}]),
        ("addresses", [{"locality": "A"}, {"locality": "B"}]),
        ("roles", [{"value": "r1"}, {"value": "r2"}]),
    ],
)
def test_multi_valued_lists_allow_one_item(api, attr, items):
    assert_aws_error(api.post("/Users", aws_user(**{attr: items})), 400, AWS_400)
    one = api.post("/Users", aws_user("single", **{attr: items[:1]}))
    assert one.status_code == 201, one.text


def test_email_must_be_primary(api):
    body = aws_user(emails=[{"value": "a@example.com", "type": "work"}])
    assert_aws_error(api.post("/Users", body), 400, AWS_400)
    body = aws_user(emails=[{"value": "a@example.com", "primary": False}])
    assert_aws_error(api.post("/Users", body), 400, AWS_400)


def test_primary_as_string_true_is_accepted(api):
    user = make_user(api, emails=[{"value": "s@example.com", "primary": "true"}])
    assert user["emails"] == [{"value": "s@example.com", "primary": True}]


def test_email_is_optional(api):
    body = aws_user()
    del body["emails"]
    assert api.post("/Users", body).status_code == 201


def test_groups_on_create_is_400(api):
    assert_aws_error(api.post("/Users", aws_user(groups=[{"value": "g"}])), 400, AWS_400)


@pytest.mark.parametrize("attr", ["password", "ims", "photos", "x509Certificates", "entitlements"])
def test_unsupported_user_attributes_are_400(api, attr):
    value = "secret" if attr == "password" else [{"value": "x"}]
    assert_aws_error(api.post("/Users", aws_user(**{attr: value})), 400, AWS_400)


def test_display_sub_attribute_unsupported(api):
    body = aws_user(emails=[{"value": "a@x", "primary": True, "display": "A"}])
    assert_aws_error(api.post("/Users", body), 400, AWS_400)


def test_user_name_length(api):
    assert api.post("/Users", aws_user("u" * 128)).status_code == 201
    assert_aws_error(api.post("/Users", aws_user("v" * 129)), 400, AWS_400)


@pytest.mark.parametrize("user_name", ["has space", "tab\there", "nbsp\u00a0x", ""])
def test_user_name_rejects_whitespace_and_empty(api, user_name):
    assert_aws_error(api.post("/Users", aws_user(user_name)), 400, AWS_400)


def test_user_name_accepts_accents_symbols_punctuation(api):
    assert api.post("/Users", aws_user("jos\u00e9.o'brien+tag@example.com")).status_code == 201


def test_other_strings_length_1024(api):
    assert api.post("/Users", aws_user("a", displayName="d" * 1024)).status_code == 201
    assert_aws_error(api.post("/Users", aws_user("b", displayName="d" * 1025)), 400, AWS_400)
    assert_aws_error(api.post("/Users", aws_user("c", title="")), 400, AWS_400)


def test_zero_width_space_rejected_single_space_accepted(api):
    zwsp = aws_user("z", name={"givenName": "\u200b", "familyName": "Mononym"})
    assert_aws_error(api.post("/Users", zwsp), 400, AWS_400)
    space = aws_user("s", name={"givenName": " ", "familyName": "Mononym"})
    assert api.post("/Users", space).status_code == 201


def test_external_id_rejects_whitespace(api):
    assert_aws_error(api.post("/Users", aws_user(externalId="a b")), 400, AWS_400)


def test_active_defaults_to_true(api):
    body = aws_user()
    del body["active"]
    assert api.post("/Users", body).json()["active"] is True


def test_malformed_json_is_400(api):
    r = api.request(
        "POST", "/Users", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_aws_error(r, 400, AWS_400)


# -- users: uniqueness --------------------------------------------------------------------


def test_user_name_unique_case_insensitive(api):
    make_user(api, "bjensen")
    r = api.post("/Users", aws_user("BJensen", emails=[{"value": "other@x", "primary": True}]))
    assert_aws_error(r, 409, AWS_409)


def test_primary_email_unique(api):
    make_user(api, "one", emails=[{"value": "same@example.com", "primary": True}])
    r = api.post("/Users", aws_user("two", emails=[{"value": "same@example.com", "primary": True}]))
    assert_aws_error(r, 409, AWS_409)


def test_external_id_unique(api):
    make_user(api, "one", externalId="x-1")
    assert_aws_error(api.post("/Users", aws_user("two", externalId="x-1")), 409, AWS_409)


# -- users: read, put, delete -------------------------------------------------------------


def test_get_user_200_and_404(api):
    user = make_user(api)
    r = api.get(f"/Users/{user['id']}")
    assert r.status_code == 200
    assert r.json() == user
    assert_aws_error(
        api.get("/Users/9067729b3d-94f1e0b3-c394-48d5-8ab1-2c122a167074"),
        404,
        "USER does not exist.",
    )


def test_put_user_200_full_user(api):
    user = make_user(api)
    body = aws_user("bjensen", displayName="Barbara J")
    r = api.put(f"/Users/{user['id']}", body)
    assert r.status_code == 200
    assert r.json()["displayName"] == "Barbara J"
    assert r.json()["id"] == user["id"]


def test_put_user_validates_and_checks_uniqueness(api):
    make_user(api, "taken")
    user = make_user(api, "mine")
    assert_aws_error(
        api.put(f"/Users/{user['id']}", aws_user("mine", displayName="")), 400, AWS_400
    )
    r = api.put(
        f"/Users/{user['id']}", aws_user("TAKEN", emails=[{"value": "z@x", "primary": True}])
    )
    assert_aws_error(r, 409, AWS_409)


def test_delete_user_204_then_404(api, aws_scim_server):
    user = make_user(api)
    group = make_group(api)
    assert (
        api.patch(
            f"/Groups/{group['id']}",
            [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}],
        ).status_code
        == 204
    )
    r = api.delete(f"/Users/{user['id']}")
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["Content-Type"] == "application/json"
    assert aws_scim_server.memberships() == {group["id"]: set()}
    assert_aws_error(api.delete(f"/Users/{user['id']}"), 404, "USER does not exist.")


# -- users: PATCH ---------------------------------------------------------------------------


def test_patch_user_disable_with_string_false_documented_example(api):
    user = make_user(api)
    r = api.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": "false"}])
    assert r.status_code == 200
    assert r.json()["active"] is False
    assert r.json()["userName"] == "bjensen"
    assert r.json()["meta"]["created"] == user["meta"]["created"]


def test_patch_user_boolean_value_accepted(api):
    user = make_user(api)
    assert (
        api.patch(
            f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": False}]
        ).json()["active"]
        is False
    )


@pytest.mark.parametrize(
    ("op", "check"),
    [
        (
            {"op": "replace", "path": "name.givenName", "value": "Barb"},
            lambda u: u["name"]["givenName"] == "Barb",
        ),
        (
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "n@example.com"},
            lambda u: u["emails"][0]["value"] == "n@example.com",
        ),
        (
            {"op": "add", "path": f"{ENTERPRISE}:department", "value": "Ops"},
            lambda u: u[ENTERPRISE] == {"department": "Ops"} and ENTERPRISE in u["schemas"],
        ),
        ({"op": "Replace", "path": "displayName", "value": "B"}, lambda u: u["displayName"] == "B"),
        ({"op": "replace", "value": {"nickName": "Babs"}}, lambda u: u["nickName"] == "Babs"),
        (
            {"op": "replace", "path": "userName", "value": "barbara"},
            lambda u: u["userName"] == "barbara",
        ),
        ({"op": "remove", "path": "title"}, lambda u: "title" not in u),
    ],
    ids=[
        "sub-attribute",
        "value-filter",
        "enterprise-urn",
        "op-case",
        "pathless-single",
        "userName",
        "remove",
    ],
)
def test_patch_user_allowed_operations(api, op, check):
    user = make_user(api, title="Guide")
    r = api.patch(f"/Users/{user['id']}", [op])
    assert r.status_code == 200, r.text
    assert check(r.json())


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "userName"}],
        [{"op": "remove", "path": "active"}],
        [
            {"op": "replace", "path": "userName", "value": "a"},
            {"op": "replace", "path": "userName", "value": "b"},
        ],
        [
            {"op": "replace", "path": "active", "value": False},
            {"op": "replace", "path": "active", "value": True},
        ],
        [{"op": "replace", "path": "roles", "value": [{"value": "r"}]}],
        [{"op": "replace", "path": "groups", "value": [{"value": "g"}]}],
        [{"op": "replace", "value": {"nickName": "a", "title": "b"}}],
        [{"op": "remove"}],
        [{"op": "add", "path": "nickName"}],
        [{"op": "move", "path": "nickName", "value": "x"}],
        [{"op": "replace", "path": 'emails[value co "example"].value', "value": "x@x"}],
        [{"op": "replace", "path": "name.givenName", "value": ""}],
        [{"op": "remove", "path": "displayName"}],
        [{"op": "add", "path": "emails", "value": [{"value": "second@x", "primary": True}]}],
        [{"op": "replace", "path": "active", "value": "maybe"}],
        [],
    ],
    ids=[
        "remove-userName",
        "remove-active",
        "two-ops-userName",
        "two-ops-active",
        "roles-not-patchable",
        "groups-not-patchable",
        "pathless-two-attributes",
        "pathless-remove",
        "add-without-value",
        "unknown-op",
        "filter-not-eq",
        "empty-required",
        "remove-required",
        "second-email",
        "bad-boolean",
        "no-operations",
    ],
)
def test_patch_user_refused_operations(api, aws_scim_server, ops):
    user = make_user(api)
    r = api.patch(f"/Users/{user['id']}", ops)
    assert_aws_error(r, 400, AWS_400)
    assert aws_scim_server.get_user(user["id"])["userName"] == "bjensen"
    assert aws_scim_server.requests("PATCH")[-1].reason  # the specific reason is logged


def test_patch_user_uniqueness_409(api):
    make_user(api, "taken")
    user = make_user(api, "mine")
    r = api.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "userName", "value": "Taken"}])
    assert_aws_error(r, 409, AWS_409)


def test_patch_without_user_agent_is_400(api, aws_scim_server):
    user = make_user(api)
    body = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    r = requests.patch(
        f"{aws_scim_server.base_url}/Users/{user['id']}",
        json=body,
        # urllib3 adds its own User-Agent unless told to skip the header.
        headers={**aws_scim_server.auth_headers(), "User-Agent": SKIP_HEADER},
        timeout=10,
    )
    assert_aws_error(r, 400, AWS_400)
    assert aws_scim_server.request_log[-1].user_agent is None
    assert aws_scim_server.get_user(user["id"])["active"] is True


def test_patch_body_without_schemas_is_accepted(api):
    user = make_user(api)
    r = api.request(
        "PATCH",
        f"/Users/{user['id']}",
        json={"Operations": [{"op": "replace", "path": "active", "value": "False"}]},
    )
    assert r.status_code == 200
    assert r.json()["active"] is False


def test_patch_missing_user_404(api):
    r = api.patch(
        "/Users/0123456789-00000000-0000-0000-0000-000000000000",
        [{"op": "replace", "path": "active", "value": False}],
    )
    assert_aws_error(r, 404, "USER does not exist.")


# -- groups ---------------------------------------------------------------------------------


def test_create_group_201_without_members(api, aws_scim_server):
    user = make_user(api)
    r = api.post(
        "/Groups",
        aws_group(
            "G",
            externalId="e1",
            members=[{"value": user["id"], "$ref": f"../Users/{user['id']}", "type": "User"}],
        ),
    )
    assert r.status_code == 201
    body = r.json()
    assert "members" not in body
    assert AWS_ID.match(body["id"])
    assert body["schemas"] == [CORE_GROUP]
    assert body["displayName"] == "G"
    assert body["externalId"] == "e1"
    assert set(body["meta"]) == {"resourceType", "created", "lastModified"}
    assert aws_scim_server.memberships() == {body["id"]: {user["id"]}}


def test_get_group_omits_members_and_list_shows_empty(api):
    user = make_user(api)
    group = make_group(api, members=[{"value": user["id"]}])
    got = api.get(f"/Groups/{group['id']}").json()
    assert "members" not in got
    listed = api.list("/Groups").json()["Resources"]
    assert listed == [{**got, "members": []}]


def test_group_display_name_required_and_validated(api):
    assert_aws_error(api.post("/Groups", {"schemas": [CORE_GROUP]}), 400, AWS_400)
    assert_aws_error(api.post("/Groups", aws_group("")), 400, AWS_400)
    assert_aws_error(api.post("/Groups", aws_group("x" * 1025)), 400, AWS_400)
    assert_aws_error(api.post("/Groups", aws_group("ideographic\u3000space")), 400, AWS_400)
    assert api.post("/Groups", aws_group("Team: Ops / EU")).status_code == 201


def test_group_uniqueness(api):
    make_group(api, "Eng", externalId="e1")
    assert_aws_error(api.post("/Groups", aws_group("ENG")), 409, AWS_409)
    assert_aws_error(api.post("/Groups", aws_group("Other", externalId="e1")), 409, AWS_409)


def test_create_group_member_limit(api, aws_scim_server):
    ids = [aws_scim_server.seed_user(userName=f"u{i}")["id"] for i in range(101)]
    assert_aws_error(
        api.post("/Groups", aws_group("Big", members=[{"value": i} for i in ids])), 400, AWS_400
    )
    r = api.post("/Groups", aws_group("Full", members=[{"value": i} for i in ids[:100]]))
    assert r.status_code == 201
    assert len(aws_scim_server.memberships()[r.json()["id"]]) == 100


def test_group_member_must_be_existing_user(api):
    other = make_group(api, "Other")
    assert_aws_error(api.post("/Groups", aws_group("A", members=[{"value": "nope"}])), 400, AWS_400)
    assert_aws_error(
        api.post("/Groups", aws_group("B", members=[{"value": other["id"]}])), 400, AWS_400
    )


def test_put_groups_is_400(api):
    group = make_group(api)
    assert_aws_error(api.put(f"/Groups/{group['id']}", aws_group("New")), 400, AWS_400)


def test_get_and_delete_group(api):
    group = make_group(api)
    r = api.delete(f"/Groups/{group['id']}")
    assert r.status_code == 204
    assert r.content == b""
    assert_aws_error(api.get(f"/Groups/{group['id']}"), 404, "GROUP does not exist.")
    assert_aws_error(api.delete(f"/Groups/{group['id']}"), 404, "GROUP does not exist.")


# -- groups: PATCH ----------------------------------------------------------------------------


def test_patch_group_add_and_remove_members_204(api, aws_scim_server):
    a, b, c = (make_user(api, n)["id"] for n in ("a", "b", "c"))
    gid = make_group(api)["id"]
    r = api.patch(
        f"/Groups/{gid}",
        [{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}, {"value": c}]}],
    )
    assert r.status_code == 204
    assert r.content == b""
    assert aws_scim_server.memberships()[gid] == {a, b, c}
    r = api.patch(f"/Groups/{gid}", [{"op": "remove", "path": "members", "value": [{"value": b}]}])
    assert r.status_code == 204
    assert aws_scim_server.memberships()[gid] == {a, c}


def test_patch_group_member_limit_100(api, aws_scim_server):
    ids = [aws_scim_server.seed_user(userName=f"u{i}")["id"] for i in range(101)]
    gid = make_group(api)["id"]
    too_many = [{"op": "add", "path": "members", "value": [{"value": i} for i in ids]}]
    assert_aws_error(api.patch(f"/Groups/{gid}", too_many), 400, AWS_400)
    split = [
        {"op": "add", "path": "members", "value": [{"value": i} for i in ids[:60]]},
        {"op": "add", "path": "members", "value": [{"value": i} for i in ids[60:]]},
    ]
    assert_aws_error(api.patch(f"/Groups/{gid}", split), 400, AWS_400)
    assert aws_scim_server.memberships()[gid] == set()
    ok = [{"op": "add", "path": "members", "value": [{"value": i} for i in ids[:100]]}]
    assert api.patch(f"/Groups/{gid}", ok).status_code == 204
    assert len(aws_scim_server.memberships()[gid]) == 100


@pytest.mark.parametrize(
    "op",
    [
        {"op": "replace", "path": "members", "value": [{"value": "USER"}]},
        {"op": "replace", "path": "members", "value": []},
        {"op": "remove", "path": "members"},
        {"op": "remove", "path": "members", "value": []},
        {"op": "remove", "path": 'members[value eq "USER"]'},
        {"op": "replace", "path": "description", "value": "x"},
        {"op": "remove", "path": "displayName"},
        {"op": "replace", "value": {"displayName": "x", "externalId": "y"}},
        {"op": "add", "path": "members", "value": [{"value": "not-a-user"}]},
    ],
    ids=[
        "replace-members",
        "replace-members-empty",
        "remove-all",
        "remove-empty-list",
        "member-value-path",
        "unknown-attribute",
        "remove-displayName",
        "pathless-two-attributes",
        "unknown-member",
    ],
)
def test_patch_group_refused(api, aws_scim_server, op):
    uid = make_user(api)["id"]
    gid = make_group(api, members=[{"value": uid}])["id"]
    if isinstance(op.get("value"), list):
        op = {
            **op,
            "value": [{"value": uid if m["value"] == "USER" else m["value"]} for m in op["value"]],
        }
    if "path" in op:
        op = {**op, "path": op["path"].replace("USER", uid)}
    assert_aws_error(api.patch(f"/Groups/{gid}", [op]), 400, AWS_400)
    assert aws_scim_server.memberships()[gid] == {uid}


def test_patch_group_rename_and_external_id(api, aws_scim_server):
    gid = make_group(api, "Old")["id"]
    ops = [
        {"op": "replace", "path": "displayName", "value": "New"},
        {"op": "replace", "path": "externalId", "value": "ext-9"},
    ]
    assert api.patch(f"/Groups/{gid}", ops).status_code == 204
    group = aws_scim_server.get_group(gid)
    assert (group["displayName"], group["externalId"]) == ("New", "ext-9")


def test_patch_group_pathless_documented_example(api, aws_scim_server):
    gid = make_group(api, "Group Foo")["id"]
    r = api.patch(
        f"/Groups/{gid}", [{"op": "replace", "value": {"id": gid, "displayName": "Group Foo New"}}]
    )
    assert r.status_code == 204
    assert aws_scim_server.get_group(gid)["displayName"] == "Group Foo New"


def test_patch_group_rename_to_taken_name_409(api):
    make_group(api, "Taken")
    gid = make_group(api, "Mine")["id"]
    assert_aws_error(
        api.patch(f"/Groups/{gid}", [{"op": "replace", "path": "displayName", "value": "taken"}]),
        409,
        AWS_409,
    )


def test_patch_missing_group_404(api):
    r = api.patch(
        "/Groups/0123456789-00000000-0000-0000-0000-000000000000",
        [{"op": "replace", "path": "displayName", "value": "x"}],
    )
    assert_aws_error(r, 404, "GROUP does not exist.")


# -- membership reads through filters ----------------------------------------------------------


@pytest.fixture
def membership(api):
    u1, u2 = make_user(api, "u1")["id"], make_user(api, "u2")["id"]
    g1 = make_group(api, "g1", members=[{"value": u1}])["id"]
    g2 = make_group(api, "g2", members=[{"value": u1}, {"value": u2}])["id"]
    return {"u1": u1, "u2": u2, "g1": g1, "g2": g2}


def ids_of(response: requests.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {r["id"] for r in response.json()["Resources"]}


def test_member_test_filter_both_orders(api, membership):
    m = membership
    assert ids_of(api.list("/Groups", f'id eq "{m["g1"]}" and members eq "{m["u1"]}"')) == {m["g1"]}
    assert ids_of(api.list("/Groups", f'members eq "{m["u2"]}" and id eq "{m["g1"]}"')) == set()
    assert ids_of(api.list("/Groups", f'id eq "{m["g2"]}" and members eq "{m["u2"]}"')) == {m["g2"]}


def test_groups_of_a_user(api, membership):
    m = membership
    assert ids_of(api.list("/Groups", f'members.value eq "{m["u1"]}"')) == {m["g1"], m["g2"]}
    assert ids_of(api.list("/Groups", f'members.value eq "{m["u2"]}"')) == {m["g2"]}


def test_users_of_a_group(api, membership):
    m = membership
    assert ids_of(api.list("/Users", f'groups.value eq "{m["g2"]}"')) == {m["u1"], m["u2"]}
    assert ids_of(api.list("/Users", f'groups.value eq "{m["g1"]}"')) == {m["u1"]}


def test_member_filter_with_unknown_user_is_404(api, membership):
    ghost = "0123456789-00000000-0000-0000-0000-000000000000"
    assert_aws_error(
        api.list("/Groups", f'members.value eq "{ghost}"'), 404, "USER does not exist."
    )
    assert_aws_error(
        api.list("/Groups", f'id eq "{membership["g1"]}" and members eq "{ghost}"'),
        404,
        "USER does not exist.",
    )


# -- filters ------------------------------------------------------------------------------------


def test_supported_user_filters(api):
    make_user(api, "alice", externalId="e-a", **{ENTERPRISE: {"manager": {"value": "boss"}}})
    bob = make_user(api, "bob", externalId="e-b")
    alice_id = api.list("/Users", 'userName eq "ALICE"').json()["Resources"][0]["id"]
    assert ids_of(api.list("/Users", 'externalId eq "e-b"')) == {bob["id"]}
    assert ids_of(api.list("/Users", 'userName eq "nobody"')) == set()
    assert ids_of(api.list("/Users", f'id eq "{alice_id}" and manager eq "boss"')) == {alice_id}
    assert ids_of(api.list("/Users", f'manager eq "other" and id eq "{alice_id}"')) == set()
    # "The use of id as an individual filter, though valid, should be avoided" (listusers).
    assert ids_of(api.list("/Users", f'id eq "{bob["id"]}"')) == {bob["id"]}
    assert (
        ids_of(api.list("/Users", 'id eq "0123456789-00000000-0000-0000-0000-000000000000"'))
        == set()
    )


def test_supported_group_filters(api):
    g = make_group(api, "Sales", externalId="gx")
    assert ids_of(api.list("/Groups", 'displayName eq "Sales"')) == {g["id"]}
    assert ids_of(api.list("/Groups", 'externalId eq "gx"')) == {g["id"]}
    assert ids_of(api.list("/Groups", 'displayName eq "nothing"')) == set()


def test_filter_miss_returns_empty_list_response(api):
    body = api.list("/Users", 'userName eq "nobody"').json()
    assert body == {
        "schemas": [LIST_URN],
        "totalResults": 0,
        "itemsPerPage": 0,
        "startIndex": 1,
        "Resources": [],
    }


@pytest.mark.parametrize(
    ("path", "filter_"),
    [
        ("/Users", 'userName ne "a"'),
        ("/Users", 'userName co "a"'),
        ("/Users", 'userName sw "a"'),
        ("/Users", "userName pr"),
        ("/Users", 'userName eq "a" or userName eq "b"'),
        ("/Users", 'not (userName eq "a")'),
        ("/Users", 'userName eq "a" and externalId eq "b"'),
        ("/Users", 'displayName eq "a"'),
        ("/Users", 'name.givenName eq "a"'),
        ("/Users", 'emails[type eq "work"]'),
        ("/Users", 'emails.value eq "a@x"'),
        ("/Users", 'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"'),
        ("/Groups", 'userName eq "a"'),
        ("/Groups", 'displayName eq "a" and externalId eq "b"'),
        ("/Groups", 'id eq "g"'),
        ("/Groups", 'members eq "u"'),
        ("/Users", "userName eq"),
        ("/Users", ""),
    ],
)
def test_unsupported_filters_are_400(api, path, filter_):
    assert_aws_error(api.list(path, filter_), 400, AWS_400)


# -- pagination -------------------------------------------------------------------------------------


def test_non_cursor_list_returns_first_page_only(api, aws_scim_server):
    for i in range(150):
        aws_scim_server.seed_user(userName=f"user{i:03d}")
    body = api.list("/Users").json()
    assert body["totalResults"] == 100
    assert body["itemsPerPage"] == 100
    assert body["startIndex"] == 1
    assert len(body["Resources"]) == 100
    assert body["Resources"][0]["userName"] == "user000"
    ten = api.list("/Users", count=10, startIndex=50).json()
    assert (ten["totalResults"], ten["startIndex"], len(ten["Resources"])) == (10, 1, 10)
    assert ten["Resources"][0]["userName"] == "user000"


@pytest.mark.parametrize("count", ["0", "101", "abc", "-1"])
def test_count_out_of_range_is_400(api, count):
    assert_aws_error(api.get("/Users", params={"count": count}), 400, AWS_400)


def test_cursor_pagination_walks_everything(api, aws_scim_server):
    seeded = {aws_scim_server.seed_user(userName=f"c{i:03d}")["id"] for i in range(250)}
    r = api.get("/Users?cursor")
    assert r.status_code == 200
    page = r.json()
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert "totalResults" not in page
        assert "startIndex" not in page
        assert page["schemas"] == [LIST_URN]
        assert page["itemsPerPage"] == len(page["Resources"])
        seen += [u["id"] for u in page["Resources"]]
        if "nextCursor" not in page:
            break
        assert re.fullmatch(r"[-a-zA-Z0-9+=/:_]+", page["nextCursor"])
        page = api.get("/Users", params={"cursor": page["nextCursor"]}).json()
    assert pages == 3
    assert len(seen) == len(set(seen)) == 250
    assert set(seen) == seeded


def test_cursor_with_count_and_filter(api, aws_scim_server):
    users = [aws_scim_server.seed_user(userName=f"m{i}")["id"] for i in range(12)]
    gid = aws_scim_server.seed_group("G", members=users[:7])["id"]
    first = api.get(
        "/Users", params={"cursor": "", "count": "5", "filter": f'groups.value eq "{gid}"'}
    ).json()
    assert len(first["Resources"]) == 5
    second = api.get(
        "/Users",
        params={"cursor": first["nextCursor"], "count": "5", "filter": f'groups.value eq "{gid}"'},
    ).json()
    assert len(second["Resources"]) == 2
    assert "nextCursor" not in second
    assert {u["id"] for u in first["Resources"] + second["Resources"]} == set(users[:7])


def test_cursor_filter_change_is_400(api, aws_scim_server):
    for i in range(5):
        aws_scim_server.seed_user(userName=f"f{i}", externalId=f"x{i}")
    first = api.get("/Users", params={"cursor": "", "count": "2"}).json()
    r = api.get(
        "/Users", params={"cursor": first["nextCursor"], "count": "2", "filter": 'userName eq "f1"'}
    )
    assert_aws_error(r, 400, AWS_400)
    assert_aws_error(api.get("/Groups", params={"cursor": first["nextCursor"]}), 400, AWS_400)
    assert_aws_error(api.get("/Users", params={"cursor": "bogus"}), 400, AWS_400)


def test_cursor_groups_list_members_empty(api, aws_scim_server):
    uid = aws_scim_server.seed_user(userName="x")["id"]
    aws_scim_server.seed_group("G1", members=[uid])
    page = api.get("/Groups?cursor").json()
    assert [g["members"] for g in page["Resources"]] == [[]]


# -- unsupported endpoints, discovery ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/Me"),
        ("POST", "/Bulk"),
        ("POST", "/Search"),
        ("POST", "/.search"),
        ("POST", "/Users/.search"),
        ("DELETE", "/Users"),
    ],
)
def test_unsupported_endpoints_are_400(api, method, path):
    assert_aws_error(api.request(method, path, json={}), 400, AWS_400)


def test_unknown_endpoint_is_404(api):
    assert_aws_error(api.get("/Nothing"), 404, "Specified endpoint does not exist.")


def test_service_provider_config_is_the_documented_one(api):
    body = api.get("/ServiceProviderConfig").json()
    assert body["filter"] == {"supported": True, "maxResults": 50}
    assert body["bulk"] == {"supported": False, "maxOperations": 1, "maxPayloadSize": 1048576}
    assert body["etag"] == {"supported": False}
    assert body["patch"] == {"supported": True}
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_resource_types_and_schemas(api):
    types = api.get("/ResourceTypes").json()
    assert types["totalResults"] == 2
    user_type = next(t for t in types["Resources"] if t["id"] == "User")
    assert user_type["schemaExtensions"] == [{"schema": ENTERPRISE, "required": True}]
    schema = api.get(f"/Schemas/{CORE_USER}").json()
    user_name = next(a for a in schema["attributes"] if a["name"] == "userName")
    assert user_name["uniqueness"] == "server"
    assert user_name["caseExact"] is False
