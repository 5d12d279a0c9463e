"""The AWS and generic profiles against the project's emulator over real HTTP.

Two independent implementations of the same AWS notes (the profile's client-side rules and
the emulator's server-side checks) must agree: a rep the profile accepts is created, a rep
it refuses gets a 400; and the PATCH operations ``diff_resource`` produces, sent to the
server, leave the user exactly as the new rep says.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scimsync import AWS, GENERIC, diff_members, diff_resource
from scimsync.testing import EmulatorServer

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

_seq = itertools.count(1)


class Api:
    def __init__(self, server: EmulatorServer) -> None:
        self.base = server.base_url
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {server.token}"
        self.s.headers["User-Agent"] = "scimsync-tests/1"

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.s.request(method, self.base + path, json=body, timeout=10)

    def patch(self, path: str, ops: list[dict[str, Any]]) -> requests.Response:
        return self.call("PATCH", path, {"schemas": [PATCH], "Operations": ops})


def strip_server(rep: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rep.items() if k not in ("id", "meta", "schemas")}


def good_user(n: int, **kw: Any) -> dict[str, Any]:
    rep = {
        "schemas": [CORE],
        "userName": f"user{n}",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs Jensen",
        "active": True,
        "emails": [{"value": f"user{n}@example.com", "type": "work", "primary": True}],
        "externalId": f"ext{n}",
    }
    rep.update(kw)
    return rep


CASES: list[tuple[str, dict[str, Any]]] = [
    ("valid", {}),
    ("valid accents and NBSP", {"displayName": "Zoë\u00a0Núñez"}),
    ("valid single space name (placeholder)", {"name": {"givenName": " ", "familyName": "J"}}),
    ("valid enterprise", {ENT: {"department": "Tours"}, "schemas": [CORE, ENT]}),
    ("missing familyName", {"name": {"givenName": "B"}}),
    ("missing displayName", {"displayName": None}),
    ("two emails", {"emails": [{"value": "a@x", "primary": True}, {"value": "b@x"}]}),
    ("email not primary", {"emails": [{"value": "a@x.org", "type": "work"}]}),
    ("zero-width space in name", {"name": {"givenName": "\u200b", "familyName": "J"}}),
    ("space in userName", {"userName": "two words"}),
    ("userName too long", {"userName": "x" * 129}),
    ("photos unsupported", {"photos": [{"value": "http://x/p.png"}]}),
    ("two phone numbers", {"phoneNumbers": [{"value": "1"}, {"value": "2"}]}),
]


@pytest.mark.parametrize(("label", "change"), CASES, ids=[c[0] for c in CASES])
def test_aws_profile_and_aws_emulator_agree_on_validity(aws_scim_server, label, change):
    n = next(_seq)
    rep = good_user(n, **change)
    rep = {k: v for k, v in rep.items() if v is not None}
    problems = AWS.validate_user(rep, str(n))
    r = Api(aws_scim_server).call("POST", "/Users", rep)
    if problems:
        assert r.status_code == 400, (label, [p.message for p in problems], r.text)
    else:
        assert r.status_code == 201, (label, r.text)


text = st.text(
    alphabet=st.characters(whitelist_categories=("L", "N", "P", "S")), min_size=1, max_size=8
)


@st.composite
def user_pairs(draw):
    n = next(_seq)

    def one() -> dict[str, Any]:
        rep: dict[str, Any] = {
            "schemas": [CORE],
            "userName": f"u{n}-" + draw(text),
            "active": draw(st.booleans()),
            "displayName": draw(text),
            "name": {"givenName": draw(text), "familyName": draw(text)},
            "externalId": f"x{n}",
        }
        if draw(st.booleans()):
            rep["name"]["middleName"] = draw(text)
        for attr in ("title", "nickName", "locale"):
            if draw(st.booleans()):
                rep[attr] = draw(text)
        if draw(st.booleans()):
            rep["emails"] = [{"value": f"{n}-{draw(text)}@x.org", "type": "work", "primary": True}]
        if draw(st.booleans()):
            rep[ENT] = {"department": draw(text)}
            rep["schemas"] = [CORE, ENT]
        return rep

    return one(), one()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pair=user_pairs())
def test_aws_diff_sent_to_the_aws_emulator_gives_the_new_user(aws_scim_server, pair):
    old, new = pair
    assert AWS.validate_user(old, "o") == []
    assert AWS.validate_user(new, "n") == []
    api = Api(aws_scim_server)
    r = api.call("POST", "/Users", old)
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    try:
        ops = diff_resource(old, new, AWS)
        assert ops is not None
        if ops:
            r = api.patch(f"/Users/{uid}", ops)
            assert r.status_code == 200, (ops, r.text)
        got = api.call("GET", f"/Users/{uid}").json()
        assert strip_server(got) == strip_server(new)
    finally:
        api.call("DELETE", f"/Users/{uid}")


def test_aws_put_fallback_is_accepted(aws_scim_server):
    """When the diff says PUT (AWS cannot PATCH roles), the full rep goes through."""
    api = Api(aws_scim_server)
    n = next(_seq)
    old = good_user(n, roles=[{"value": "a", "type": "work", "primary": True}])
    new = good_user(n, roles=[{"value": "b", "type": "work", "primary": True}])
    uid = api.call("POST", "/Users", old).json()["id"]
    assert diff_resource(old, new, AWS) is None
    r = api.call("PUT", f"/Users/{uid}", new)
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == new["roles"]


def test_aws_members_diff_in_chunks_against_the_emulator(aws_scim_server):
    api = Api(aws_scim_server)
    ids = []
    for _ in range(130):
        n = next(_seq)
        ids.append(api.call("POST", "/Users", good_user(n)).json()["id"])
    gid = api.call("POST", "/Groups", {"schemas": [GROUP], "displayName": f"g{next(_seq)}"}).json()[
        "id"
    ]
    old: set[str] = set()
    for wanted in (set(ids[:120]), set(ids[20:130])):
        requests_ops = diff_members(old, wanted, AWS.max_members_per_patch)
        for ops in requests_ops:
            r = api.patch(f"/Groups/{gid}", ops)
            assert r.status_code == 204, r.text
        # AWS never returns members: read them the profile's way
        assert AWS.member_read == "users_by_group_filter"
        found: set[str] = set()
        cursor = ""
        while True:
            r = api.s.get(
                f"{api.base}/Users",
                params={"filter": f'groups.value eq "{gid}"', "cursor": cursor},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            body = r.json()
            found |= {u["id"] for u in body["Resources"]}
            cursor = body.get("nextCursor")
            if not cursor:
                break
        assert found == wanted
        old = wanted


def test_generic_diff_sent_to_the_generic_emulator(scim_server):
    api = Api(scim_server)
    n = next(_seq)
    old = good_user(n, title="Dev", nickName="B", **{ENT: {"department": "A"}})
    old["schemas"] = [CORE, ENT]
    new = good_user(n, title="Lead", phoneNumbers=[{"value": "555", "type": "work"}])
    new["name"] = {"givenName": "Babs", "familyName": "Jensen", "middleName": "J"}
    uid = api.call("POST", "/Users", old).json()["id"]
    ops = diff_resource(old, new, GENERIC)
    assert ops
    r = api.patch(f"/Users/{uid}", ops)
    assert r.status_code in (200, 204), r.text
    got = api.call("GET", f"/Users/{uid}").json()
    assert strip_server(got) == strip_server(new)
