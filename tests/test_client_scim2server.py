"""ScimClient against an independent SCIM server: scim2-server (PyPI), over real HTTP."""

from __future__ import annotations

import threading

import pytest
from _scim2server import unique_name

from scimsync._client import ScimClient
from scimsync._filter import Filter
from scimsync._resources import EnterpriseUser, Group, Name, User
from scimsync.errors import ConflictError, NotFoundError, UnauthorizedError

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def client(scim2_server):
    with ScimClient(scim2_server.base_url, scim2_server.token) as c:
        yield c


def test_connection_ok_and_discovery(client):
    result = client.test_connection()
    assert result.ok, result.advice
    assert result.capabilities.patch.supported is True
    endpoints = {rt.endpoint for rt in client.resource_types()}
    assert {"/Users", "/Groups"} <= endpoints
    user_rt = next(rt for rt in client.resource_types() if rt.endpoint == "/Users")
    assert ENTERPRISE in [e.schema for e in user_rt.schema_extensions]
    assert USER in {s.id for s in client.schemas()}


def test_bad_token_is_unauthorized(scim2_server):
    c = ScimClient(scim2_server.base_url, "not-the-token")
    with pytest.raises(UnauthorizedError):
        c.users.get_raw("whatever")
    result = c.test_connection()
    assert not result.authenticated
    assert "token" in result.advice


def test_user_round_trip(client):
    name = unique_name("jane")
    created = client.users.create(
        User(
            user_name=name,
            name=Name(given_name="Jane", family_name="Doe"),
            display_name="Jane Doe",
            active=True,
            external_id=f"ext-{name}",
            enterprise=EnterpriseUser(employee_number="701984", department="R&D"),
        )
    )
    assert created.id
    assert created.enterprise is not None
    assert created.enterprise.employee_number == "701984"

    got = client.users.get(created.id)
    assert (got.user_name, got.name.family_name) == (name, "Doe")

    found = client.users.find(Filter.eq("userName", name))
    assert found is not None
    assert found.id == created.id
    assert client.users.find(Filter.eq("userName", name + "-nobody")) is None

    client.users.patch(
        created.id,
        [
            {"op": "replace", "path": "displayName", "value": "Jane Q. Doe"},
            {"op": "replace", "path": "active", "value": False},
        ],
    )
    after_patch = client.users.get(created.id)
    assert (after_patch.display_name, after_patch.active) == ("Jane Q. Doe", False)

    replaced = client.users.replace(
        created.id,
        {"schemas": [USER], "userName": name, "displayName": "Replaced", "active": True},
    )
    assert replaced.display_name == "Replaced"
    assert client.users.get(created.id).name is None  # PUT replaced the whole resource

    with pytest.raises(ConflictError):
        client.users.create_raw({"schemas": [USER], "userName": name})

    client.users.delete(created.id)
    with pytest.raises(NotFoundError):
        client.users.get(created.id)
    with pytest.raises(NotFoundError):
        client.users.delete(created.id)


def test_raw_round_trip(client):
    name = unique_name("raw")
    rep = {"schemas": [USER, ENTERPRISE], "userName": name, ENTERPRISE: {"costCenter": "42"}}
    created = client.users.create_raw(rep)
    assert created[ENTERPRISE]["costCenter"] == "42"
    assert client.users.get_raw(created["id"])["userName"] == name
    assert client.users.find_raw(f'userName eq "{name}"')["id"] == created["id"]
    client.users.delete(created["id"])


def test_group_membership_changes(client):
    users = [
        client.users.create_raw({"schemas": [USER], "userName": unique_name("m")}) for _ in range(5)
    ]
    ids = [u["id"] for u in users]
    g = client.groups.create(Group(display_name=unique_name("grp")))
    assert g.id

    sent = client.groups.patch_members(g.id, add=ids, chunk_size=2)
    assert sent == 3
    members = {m.value for m in client.groups.get(g.id).members}
    assert members == set(ids)

    # scim2-server follows RFC 7644 strictly: remove by value filter in the path
    assert client.groups.patch_members(g.id, remove=ids[:3], remove_style="path") == 1
    assert {m.value for m in client.groups.get(g.id).members} == set(ids[3:])

    found = client.groups.find(Filter.eq("displayName", g.display_name))
    assert found is not None
    assert found.id == g.id

    client.groups.patch(
        g.id, [{"op": "replace", "path": "displayName", "value": g.display_name + "-x"}]
    )
    assert client.groups.get(g.id).display_name == g.display_name + "-x"

    client.groups.delete(g.id)
    with pytest.raises(NotFoundError):
        client.groups.get(g.id)
    for uid in ids:
        client.users.delete(uid)


def test_index_pagination_walks_every_page(client):
    tag = unique_name("page")
    made = [
        client.users.create_raw({"schemas": [USER], "userName": f"{tag}-{i}", "title": tag})["id"]
        for i in range(7)
    ]
    with client.recording() as ex:
        seen = [u.id for u in client.users.list(Filter.eq("title", tag), page_size=3)]
    assert sorted(seen) == sorted(made)
    assert [e.query.split("&")[-2:] for e in ex] == [
        ["startIndex=1", "count=3"],
        ["startIndex=4", "count=3"],
        ["startIndex=7", "count=3"],
    ]
    pages = list(client.users.pages(Filter.eq("title", tag), page_size=3))
    assert [len(p.resources) for p in pages] == [3, 3, 1]
    assert pages[0].total_results == 7
    for uid in made:
        client.users.delete(uid)


def test_concurrent_use_from_threads(client):
    tag = unique_name("thr")
    errors: list[BaseException] = []
    before = client.request_count
    created: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            for i in range(5):
                u = client.users.create_raw({"schemas": [USER], "userName": f"{tag}-{n}-{i}"})
                client.users.get_raw(u["id"])
                with lock:
                    created.append(u["id"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(created)) == 20
    assert client.request_count - before == 40
    for uid in created:
        client.users.delete(uid)
