"""The emulator's ``generic`` profile (RFC 7643/7644), and the scim2-tester compliance run."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from _emulator_support import CORE_GROUP, CORE_USER, ENTERPRISE, ERROR_URN, LIST_URN, Api

from scimsync.testing import EmulatorServer


@pytest.fixture
def api(scim_server: EmulatorServer) -> Api:
    return Api(scim_server)


def user_body(user_name: str = "bjensen", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [CORE_USER],
        "userName": user_name,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {"value": f"{user_name}@work.example", "type": "work", "primary": True},
            {"value": f"{user_name}@home.example", "type": "home"},
        ],
        "active": True,
    }
    body.update(extra)
    return body


def make_user(api: Api, user_name: str = "bjensen", **extra: Any) -> dict[str, Any]:
    r = api.post("/Users", user_body(user_name, **extra))
    assert r.status_code == 201, r.text
    return r.json()


def make_group(api: Api, name: str = "Eng", members: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    body = {
        "schemas": [CORE_GROUP],
        "displayName": name,
        "members": [{"value": m} for m in members],
    }
    r = api.post("/Groups", body)
    assert r.status_code == 201, r.text
    return r.json()


def assert_scim_error(r: requests.Response, status: int, scim_type: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["schemas"] == [ERROR_URN]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type is None:
        assert "scimType" not in body
    else:
        assert body["scimType"] == scim_type
    return body


# -- CRUD ----------------------------------------------------------------------------------


def test_base_url_and_content_type(scim_server, api):
    assert scim_server.base_url.endswith("/scim/v2")
    r = api.get("/Users")
    assert r.headers["Content-Type"] == "application/scim+json"


def test_create_get_put_delete_user(api):
    user = make_user(api)
    assert user["meta"]["location"].endswith(f"/Users/{user['id']}")
    assert user["emails"][1]["type"] == "home"  # multi-valued lists keep every value
    assert api.get(f"/Users/{user['id']}").json() == user
    body = user_body("bjensen", displayName="Babs")
    r = api.put(f"/Users/{user['id']}", body)
    assert r.status_code == 200
    assert r.json()["displayName"] == "Babs"
    assert api.delete(f"/Users/{user['id']}").status_code == 204
    assert_scim_error(api.get(f"/Users/{user['id']}"), 404)


def test_create_sets_location_header(api):
    r = api.post("/Users", user_body())
    assert r.headers["Location"] == r.json()["meta"]["location"]


def test_user_name_required_and_unique(api):
    body = user_body()
    del body["userName"]
    assert_scim_error(api.post("/Users", body), 400, "invalidValue")
    make_user(api, "bjensen")
    assert_scim_error(api.post("/Users", user_body("BJENSEN")), 409, "uniqueness")


def test_schemas_required(api):
    body = user_body()
    del body["schemas"]
    assert_scim_error(api.post("/Users", body), 400, "invalidSyntax")


def test_malformed_json(api):
    r = api.request("POST", "/Users", data=b"{", headers={"Content-Type": "application/scim+json"})
    assert_scim_error(r, 400, "invalidSyntax")


def test_password_is_never_returned(api):
    user = make_user(api, password="s3cret")
    assert "password" not in user


def test_groups_with_members_and_user_groups(api):
    alice, bob = make_user(api, "alice"), make_user(api, "bob")
    group = make_group(api, "Eng", [alice["id"], bob["id"]])
    assert [m["value"] for m in group["members"]] == [alice["id"], bob["id"]]
    assert all(m["type"] == "User" and m["$ref"].endswith(m["value"]) for m in group["members"])
    got = api.get(f"/Users/{alice['id']}").json()
    assert got["groups"] == [
        {
            "value": group["id"],
            "$ref": group["meta"]["location"],
            "display": "Eng",
            "type": "direct",
        }
    ]


def test_nested_group_member(api):
    inner = make_group(api, "inner")
    outer = make_group(api, "outer", [inner["id"]])
    assert outer["members"][0]["type"] == "Group"


def test_unknown_member_is_400(api):
    r = api.post(
        "/Groups", {"schemas": [CORE_GROUP], "displayName": "x", "members": [{"value": "nope"}]}
    )
    assert_scim_error(r, 400, "invalidValue")


def test_put_group_replaces_members(scim_server, api):
    a, b = make_user(api, "a")["id"], make_user(api, "b")["id"]
    group = make_group(api, "G", [a])
    r = api.put(
        f"/Groups/{group['id']}",
        {"schemas": [CORE_GROUP], "displayName": "G2", "members": [{"value": b}]},
    )
    assert r.status_code == 200
    assert r.json()["displayName"] == "G2"
    assert scim_server.memberships() == {group["id"]: {b}}


def test_delete_user_removes_membership(scim_server, api):
    a = make_user(api, "a")["id"]
    group = make_group(api, "G", [a])
    api.delete(f"/Users/{a}")
    assert "members" not in api.get(f"/Groups/{group['id']}").json()


# -- PATCH ---------------------------------------------------------------------------------


def test_patch_user_with_value_path_returns_200(api):
    user = make_user(api)
    r = api.patch(
        f"/Users/{user['id']}",
        [
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@work.example"},
            {"op": "add", "path": f"{ENTERPRISE}:department", "value": "Tours"},
            {"op": "replace", "path": "active", "value": False},
        ],
    )
    assert r.status_code == 200
    body = r.json()
    assert body["emails"][0]["value"] == "new@work.example"
    assert body["emails"][1]["value"] == "bjensen@home.example"
    assert body[ENTERPRISE] == {"department": "Tours"}
    assert body["active"] is False


def test_patch_errors_carry_scim_type(api):
    user = make_user(api)
    url = f"/Users/{user['id']}"
    assert_scim_error(
        api.patch(url, [{"op": "replace", "path": 'emails[type eq "fax"].value', "value": "x"}]),
        400,
        "noTarget",
    )
    assert_scim_error(api.patch(url, [{"op": "remove"}]), 400, "noTarget")
    assert_scim_error(
        api.patch(url, [{"op": "replace", "path": "emails[type eq", "value": "x"}]),
        400,
        "invalidPath",
    )
    assert_scim_error(
        api.patch(url, [{"op": "jump", "path": "title", "value": "x"}]), 400, "invalidSyntax"
    )
    assert_scim_error(
        api.patch(url, [{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
        400,
        "mutability",
    )
    r = api.request(
        "PATCH", url, json={"Operations": [{"op": "add", "path": "title", "value": "x"}]}
    )
    assert_scim_error(r, 400, "invalidSyntax")


def test_patch_group_members(scim_server, api):
    a, b, c = (make_user(api, n)["id"] for n in "abc")
    group = make_group(api, "G", [a, b])
    r = api.patch(
        f"/Groups/{group['id']}",
        [
            {"op": "add", "path": "members", "value": [{"value": c}]},
            {"op": "remove", "path": f'members[value eq "{a}"]'},
        ],
    )
    assert r.status_code == 200
    assert {m["value"] for m in r.json()["members"]} == {b, c}
    assert scim_server.memberships() == {group["id"]: {b, c}}
    r = api.patch(f"/Groups/{group['id']}", [{"op": "replace", "path": "members", "value": []}])
    assert r.status_code == 200
    assert scim_server.memberships() == {group["id"]: set()}


def test_patch_uniqueness_conflict(api):
    make_user(api, "taken")
    user = make_user(api, "mine")
    r = api.patch(f"/Users/{user['id']}", [{"op": "replace", "path": "userName", "value": "Taken"}])
    assert_scim_error(r, 409, "uniqueness")


# -- filters and pagination ------------------------------------------------------------------


@pytest.fixture
def people(api):
    names = ["alice", "bob", "carol", "dave", "erin"]
    users = {n: make_user(api, n, title="eng" if n in ("alice", "bob") else "ops") for n in names}
    api.patch(
        f"/Users/{users['erin']['id']}", [{"op": "replace", "path": "active", "value": False}]
    )
    return users


def names_of(r: requests.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [u["userName"] for u in r.json()["Resources"]]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ('userName eq "ALICE"', ["alice"]),
        ('userName sw "c"', ["carol"]),
        ('userName co "a"', ["alice", "carol", "dave"]),
        ('userName ew "e"', ["alice", "dave"]),
        ('title eq "eng" and userName ne "bob"', ["alice"]),
        ('userName eq "bob" or userName eq "dave"', ["bob", "dave"]),
        ('not (title eq "ops")', ["alice", "bob"]),
        ("active eq false", ["erin"]),
        ('emails[type eq "home" and value sw "car"]', ["carol"]),
        ('emails.value eq "dave@home.example"', ["dave"]),
        ("nickName pr", []),
        ('meta.resourceType eq "User"', ["alice", "bob", "carol", "dave", "erin"]),
    ],
)
def test_filters(api, people, filter_, expected):
    assert names_of(api.list("/Users", filter_)) == expected


def test_invalid_filter_is_400_invalid_filter(api):
    assert_scim_error(api.list("/Users", "userName eq"), 400, "invalidFilter")
    assert_scim_error(api.list("/Users", 'userName regex "a"'), 400, "invalidFilter")


def test_group_filter_by_member(api):
    a = make_user(api, "a")["id"]
    g = make_group(api, "G", [a])
    make_group(api, "H")
    r = api.list("/Groups", f'members.value eq "{a}"')
    assert [x["id"] for x in r.json()["Resources"]] == [g["id"]]


def test_index_pagination(api, scim_server):
    for i in range(25):
        scim_server.seed_user(userName=f"p{i:02d}")
    body = api.list("/Users", startIndex=11, count=10).json()
    assert body["schemas"] == [LIST_URN]
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (25, 11, 10)
    assert [u["userName"] for u in body["Resources"]] == [f"p{i:02d}" for i in range(10, 20)]
    last = api.list("/Users", startIndex=21, count=10).json()
    assert len(last["Resources"]) == 5
    assert api.list("/Users", count=0).json()["Resources"] == []
    assert_scim_error(api.list("/Users", count="x"), 400, "invalidValue")


def test_attributes_and_excluded_attributes(api):
    user = make_user(api, title="t", **{ENTERPRISE: {"department": "D", "division": "V"}})
    only = api.get(
        f"/Users/{user['id']}",
        params={"attributes": f"userName,name.givenName,emails.value,{ENTERPRISE}:department"},
    ).json()
    assert only == {
        "schemas": user["schemas"],
        "id": user["id"],
        "userName": "bjensen",
        "name": {"givenName": "Barbara"},
        "emails": [{"value": "bjensen@work.example"}, {"value": "bjensen@home.example"}],
        ENTERPRISE: {"department": "D"},
    }
    without = api.get(
        f"/Users/{user['id']}", params={"excludedAttributes": "title,emails,meta"}
    ).json()
    assert "title" not in without
    assert "emails" not in without
    assert "meta" not in without
    assert without["userName"] == "bjensen"


def test_post_search(api, people):
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'title eq "eng"',
        "attributes": ["userName"],
        "count": 1,
    }
    r = api.post("/Users/.search", body)
    assert r.status_code == 200
    assert r.json()["totalResults"] == 2
    assert r.json()["Resources"] == [
        {"schemas": [CORE_USER], "id": people["alice"]["id"], "userName": "alice"}
    ]
    root = api.post("/.search", {**body, "count": 10}).json()
    assert root["totalResults"] == 2


# -- ETags ----------------------------------------------------------------------------------


def test_etags():
    with EmulatorServer("generic", etag=True) as server:
        api = Api(server)
        assert api.get("/ServiceProviderConfig").json()["etag"] == {"supported": True}
        r = api.post("/Users", user_body())
        etag = r.headers["ETag"]
        user = r.json()
        assert user["meta"]["version"] == etag
        assert api.get(f"/Users/{user['id']}", headers={"If-None-Match": etag}).status_code == 304
        stale = {"If-Match": etag}
        ok = api.patch(
            f"/Users/{user['id']}",
            [{"op": "replace", "path": "title", "value": "x"}],
            headers=stale,
        )
        assert ok.status_code == 200
        assert ok.headers["ETag"] != etag
        assert_scim_error(
            api.patch(
                f"/Users/{user['id']}",
                [{"op": "replace", "path": "title", "value": "y"}],
                headers=stale,
            ),
            412,
        )
        assert_scim_error(api.delete(f"/Users/{user['id']}", headers=stale), 412)
        assert (
            api.delete(f"/Users/{user['id']}", headers={"If-Match": ok.headers["ETag"]}).status_code
            == 204
        )


def test_no_etag_by_default(api):
    r = api.post("/Users", user_body())
    assert "ETag" not in r.headers
    assert "version" not in r.json()["meta"]


# -- discovery and misc -----------------------------------------------------------------------


def test_discovery_endpoints(api):
    spc = api.get("/ServiceProviderConfig").json()
    assert spc["patch"] == {"supported": True}
    assert spc["filter"]["supported"] is True
    types = api.get("/ResourceTypes").json()
    assert {t["id"] for t in types["Resources"]} == {"User", "Group"}
    assert api.get("/ResourceTypes/Group").json()["endpoint"] == "/Groups"
    schemas = api.get("/Schemas").json()
    assert {s["id"] for s in schemas["Resources"]} == {CORE_USER, CORE_GROUP, ENTERPRISE}
    assert_scim_error(api.get("/Schemas/urn:nothing"), 404)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_discovery_is_read_only(api, method):
    assert_scim_error(api.request(method, "/ServiceProviderConfig", json={}), 405)


def test_me_and_bulk_not_implemented(api):
    assert_scim_error(api.get("/Me"), 501)
    assert_scim_error(api.post("/Bulk", {}), 501)


def test_unknown_route_404(api, scim_server):
    assert_scim_error(api.get("/Nothing"), 404)
    r = requests.get(
        f"http://127.0.0.1:{scim_server.port}/other", headers=scim_server.auth_headers(), timeout=10
    )
    assert_scim_error(r, 404)


def test_401_has_www_authenticate(scim_server):
    r = requests.get(scim_server.base_url + "/Users", timeout=10)
    assert_scim_error(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


# -- scim2-tester ---------------------------------------------------------------------------


def test_scim2_tester_finds_no_problem():
    """The independent RFC checker (scim2-tester) passes every check it runs."""
    from scim2_client.client import BaseSyncSCIMClient
    from scim2_tester import Status, check_server

    class RequestsSCIMClient(BaseSyncSCIMClient):
        def __init__(self, server: EmulatorServer) -> None:
            super().__init__()
            self.base = server.base_url
            self.session = requests.Session()
            self.session.headers.update(server.auth_headers())

        def _parse_json(self, response: Any) -> Any:
            return response.json()

        def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
            return self.session.request(
                method, url if url.startswith("http") else self.base + url, timeout=10, **kwargs
            )

    with EmulatorServer("generic") as server:
        results = check_server(RequestsSCIMClient(server))
    problems = [
        f"{r.title} [{r.resource_type}]: {r.reason}" for r in results if r.status != Status.SUCCESS
    ]
    assert problems == []
    assert len(results) > 100  # it really ran the CRUD/PATCH/query checks for both types
    titles = {r.title for r in results}
    assert {"check_add_attribute", "check_replace_attribute", "check_remove_attribute"} <= titles
