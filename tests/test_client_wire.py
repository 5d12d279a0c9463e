"""Wire-format unit tests for ScimClient (``responses`` fakes the HTTP layer)."""

from __future__ import annotations

import json
import logging
import threading

import pytest
import requests
import responses
from _client_support import (
    AWS_400,
    AWS_404,
    AWS_404_TENANT,
    AWS_409,
    BASE,
    PATCH_SCHEMA,
    TOKEN,
    FakeTime,
    aws_error,
    body_of,
    group,
    list_page,
    user,
)

from scimsync import _client
from scimsync._client import ScimClient
from scimsync._filter import Filter
from scimsync._resources import Group, Name, PatchOperation, User
from scimsync._version import __version__
from scimsync.errors import (
    ConfigurationError,
    ConflictError,
    ForbiddenError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TransientError,
    UnauthorizedError,
)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fake():
    return FakeTime()


@pytest.fixture
def client(fake):
    with ScimClient(BASE, TOKEN, retry=fake.policy()) as c:
        yield c


# ----------------------------------------------------------------- construction


@pytest.mark.parametrize("base", [BASE, BASE + "/", "  " + BASE + "/ "])
def test_base_url_is_normalised(rsps, base):
    rsps.get(BASE + "/Users/abc", json=user("abc"))
    c = ScimClient(base, TOKEN)
    c.users.get_raw("abc")
    assert rsps.calls[0].request.url == BASE + "/Users/abc"


def test_ids_are_url_quoted(rsps, client):
    rsps.get(BASE + "/Users/a%2Fb%20c%3F", json=user("a/b c?"))
    assert client.users.get_raw("a/b c?")["id"] == "a/b c?"
    assert rsps.calls[0].request.url == BASE + "/Users/a%2Fb%20c%3F"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"base_url": "scim.example.com/v2"}, "base_url"),
        ({"base_url": "https://user:pw@scim.example.com/v2"}, "credentials"),
        ({"base_url": "https://scim.example.com/v2?x=1"}, "query"),
        ({"token": ""}, "empty"),
        ({"token": "abc\n"}, "control"),
        ({"token": 42}, "token"),
        ({"timeout": (0, 5)}, "timeout"),
        ({"verify": 3}, "verify"),
        ({"pool_size": 0}, "pool_size"),
        ({"rate_limit": 0}, "rate_limit"),
    ],
)
def test_bad_configuration_is_named(kwargs, needle):
    args = {"base_url": BASE, "token": TOKEN, **kwargs}
    with pytest.raises(ConfigurationError, match=needle):
        ScimClient(args.pop("base_url"), args.pop("token"), **args)


def test_retry_policy_refuses_statuses_that_must_not_be_retried():
    with pytest.raises(ConfigurationError, match="409"):
        _client.RetryPolicy(retry_statuses={429, 409})


def test_headers_on_every_request(rsps, client):
    rsps.post(BASE + "/Users", json=user(), status=201)
    rsps.get(BASE + "/Users/x", json=user("x"))
    client.users.create_raw({"userName": "jdoe"})
    client.users.get_raw("x")
    post, get = (c.request.headers for c in rsps.calls)
    for headers in (post, get):
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert headers["Accept"] == "application/scim+json"
        assert headers["User-Agent"] == (
            f"scimsync/{__version__} (+python-requests/{requests.__version__})"
        )
    assert post["Content-Type"] == "application/scim+json"
    assert "Content-Type" not in get


def test_custom_user_agent_is_prefixed(rsps):
    rsps.get(BASE + "/Users/x", json=user("x"))
    c = ScimClient(BASE, TOKEN, user_agent="myapp/2.1")
    c.users.get_raw("x")
    assert rsps.calls[0].request.headers["User-Agent"].startswith("myapp/2.1 scimsync/")


def test_token_callable_is_called_per_request(rsps, fake):
    tokens = iter(["first-token", "second-token", "third-token"])
    rsps.get(BASE + "/Users/x", json=user("x"))
    c = ScimClient(BASE, lambda: next(tokens), retry=fake.policy())
    c.users.get_raw("x")
    c.users.get_raw("x")
    auth = [call.request.headers["Authorization"] for call in rsps.calls]
    assert auth == ["Bearer first-token", "Bearer second-token"]


def test_token_callable_is_called_again_on_retry(rsps, fake):
    tokens = iter(["old", "new"])
    rsps.get(BASE + "/Users/x", status=503)
    rsps.get(BASE + "/Users/x", json=user("x"))
    c = ScimClient(BASE, lambda: next(tokens), retry=fake.policy())
    c.users.get_raw("x")
    assert [call.request.headers["Authorization"] for call in rsps.calls] == [
        "Bearer old",
        "Bearer new",
    ]


def test_token_callable_returning_garbage_is_a_configuration_error(rsps):
    c = ScimClient(BASE, lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match="NoneType"):
        c.users.get_raw("x")
    assert len(rsps.calls) == 0


def test_closed_client_refuses_requests(rsps):
    c = ScimClient(BASE, TOKEN)
    c.close()
    with pytest.raises(ConfigurationError, match="closed"):
        c.users.get_raw("x")


# ---------------------------------------------------------------- operations


def test_create_typed_user(rsps, client):
    rsps.post(BASE + "/Users", json=user("u1"), status=201)
    created = client.users.create(User(user_name="jdoe", name=Name(given_name="Jane")))
    assert isinstance(created, User)
    assert created.id == "u1"
    sent = body_of(rsps.calls[0])
    assert sent["userName"] == "jdoe"
    assert sent["name"] == {"givenName": "Jane"}
    assert "urn:ietf:params:scim:schemas:core:2.0:User" in sent["schemas"]


def test_create_raw_sends_the_dict_as_is(rsps, client):
    rep = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ü-ser"}
    rsps.post(BASE + "/Users", json=user("u1"), status=201)
    assert client.users.create_raw(rep)["id"] == "u1"
    assert body_of(rsps.calls[0]) == rep
    assert rsps.calls[0].request.method == "POST"


def test_create_rejects_wrong_input_type(client):
    with pytest.raises(TypeError, match=r"User\.create: expected a User or a mapping"):
        client.users.create(42)  # type: ignore[arg-type]


def test_get_returns_model(rsps, client):
    rsps.get(BASE + "/Users/u1", json=user("u1", "amy"))
    got = client.users.get("u1")
    assert (got.id, got.user_name, got.active) == ("u1", "amy", True)


def test_replace_is_put(rsps, client):
    rsps.put(BASE + "/Users/u1", json=user("u1", "new"))
    out = client.users.replace("u1", {"userName": "new"})
    assert out.user_name == "new"
    assert rsps.calls[0].request.method == "PUT"
    assert body_of(rsps.calls[0]) == {"userName": "new"}


def test_patch_body_has_schemas_lowercase_ops_and_paths(rsps, client):
    rsps.patch(BASE + "/Users/u1", json=user("u1"))
    out = client.users.patch(
        "u1",
        [
            {"op": "Replace", "path": "active", "value": False},
            PatchOperation(op="REMOVE", path="title"),
        ],
    )
    assert isinstance(out, User)
    assert body_of(rsps.calls[0]) == {
        "schemas": [PATCH_SCHEMA],
        "Operations": [
            {"op": "replace", "path": "active", "value": False},
            {"op": "remove", "path": "title"},
        ],
    }


def test_patch_204_returns_none(rsps, client):
    rsps.patch(BASE + "/Groups/g1", status=204, headers={"Content-Type": "application/json"})
    assert (
        client.groups.patch("g1", [{"op": "replace", "path": "displayName", "value": "x"}]) is None
    )


@pytest.mark.parametrize(
    ("ops", "needle"),
    [
        ([], "no operations"),
        ([{"op": "move", "path": "x", "value": 1}], r"operations\[0\].op"),
        ([{"op": "add", "value": {"title": "x"}}], r"operations\[0\].path is required"),
        ([{"op": "replace", "path": "title"}], r"operations\[0\].value is required"),
    ],
)
def test_patch_rejects_bad_operations_before_sending(rsps, client, ops, needle):
    with pytest.raises(ValueError, match=needle):
        client.users.patch("u1", ops)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("status", [200, 204])
def test_delete_accepts_200_and_204(rsps, client, status):
    rsps.delete(BASE + "/Users/u1", status=status)
    assert client.users.delete("u1") is None
    assert rsps.calls[0].request.method == "DELETE"


def test_delete_of_missing_user_is_not_found(rsps, client):
    rsps.delete(BASE + "/Users/u1", status=404, json=AWS_404)
    with pytest.raises(NotFoundError) as info:
        client.users.delete("u1")
    assert info.value.detail == "USER does not exist."


def test_groups_endpoint(rsps, client):
    rsps.post(BASE + "/Groups", json=group("g1"), status=201)
    g = client.groups.create(Group(display_name="Engineering"))
    assert isinstance(g, Group)
    assert body_of(rsps.calls[0])["displayName"] == "Engineering"


# ------------------------------------------------------------- patch_members


def _member_values(op):
    return [m["value"] for m in op["value"]]


def test_patch_members_chunks_250_adds_into_3_requests(rsps, client):
    rsps.patch(BASE + "/Groups/g1", status=204)
    ids = [f"user-{i:03d}" for i in range(250)]
    assert client.groups.patch_members("g1", add=ids) == 3
    bodies = [body_of(c) for c in rsps.calls]
    assert [len(b["Operations"][0]["value"]) for b in bodies] == [100, 100, 50]
    for b in bodies:
        assert b["schemas"] == [PATCH_SCHEMA]
        assert [(o["op"], o["path"]) for o in b["Operations"]] == [("add", "members")]
    assert [v for b in bodies for v in _member_values(b["Operations"][0])] == ids


def test_patch_members_adds_before_removes_and_packs_requests(rsps, client):
    rsps.patch(BASE + "/Groups/g1", status=204)
    adds = [f"a{i}" for i in range(150)]
    removes = [f"r{i}" for i in range(60)]
    assert client.groups.patch_members("g1", add=adds, remove=removes, chunk_size=100) == 3
    shapes = [[(o["op"], len(o["value"])) for o in body_of(c)["Operations"]] for c in rsps.calls]
    assert shapes == [[("add", 100)], [("add", 50), ("remove", 50)], [("remove", 10)]]


def test_patch_members_remove_by_path_filter(rsps, client):
    rsps.patch(BASE + "/Groups/g1", status=204)
    n = client.groups.patch_members("g1", add=["a"], remove=['b"x', "c"], remove_style="path")
    assert n == 1
    assert body_of(rsps.calls[0])["Operations"] == [
        {"op": "add", "path": "members", "value": [{"value": "a"}]},
        {"op": "remove", "path": 'members[value eq "b\\"x"]'},
        {"op": "remove", "path": 'members[value eq "c"]'},
    ]


def test_patch_members_nothing_to_do_sends_nothing(rsps, client):
    assert client.groups.patch_members("g1") == 0
    assert len(rsps.calls) == 0


def test_patch_members_dedupes_and_rejects_contradictions(rsps, client):
    rsps.patch(BASE + "/Groups/g1", status=204)
    assert client.groups.patch_members("g1", add=["a", "b", "a"]) == 1
    assert _member_values(body_of(rsps.calls[0])["Operations"][0]) == ["a", "b"]
    with pytest.raises(ValueError, match="both added and removed"):
        client.groups.patch_members("g1", add=["a"], remove=["a"])
    with pytest.raises(TypeError, match="not a string"):
        client.groups.patch_members("g1", add="abc")


# ------------------------------------------------------------------ pagination


def test_index_pagination_query_strings_and_short_page_stop(rsps, client):
    pages = [
        list_page([user("1"), user("2")], totalResults=5, startIndex=1, itemsPerPage=2),
        list_page([user("3"), user("4")], totalResults=5, startIndex=3, itemsPerPage=2),
        list_page([user("5")], totalResults=5, startIndex=5, itemsPerPage=1),
    ]
    for p in pages:
        rsps.get(BASE + "/Users", json=p)
    ids = [u["id"] for u in client.users.list_raw(page_size=2)]
    assert ids == ["1", "2", "3", "4", "5"]
    assert [c.request.url.split("?", 1)[1] for c in rsps.calls] == [
        "startIndex=1&count=2",
        "startIndex=3&count=2",
        "startIndex=5&count=2",
    ]


def test_index_pagination_stops_at_total_results_without_extra_request(rsps, client):
    rsps.get(BASE + "/Users", json=list_page([user("1"), user("2")], totalResults=4))
    rsps.get(BASE + "/Users", json=list_page([user("3"), user("4")], totalResults=4))
    assert len(list(client.users.list_raw(page_size=2))) == 4
    assert len(rsps.calls) == 2


def test_index_pagination_does_not_trust_a_large_total_results(rsps, client):
    # AWS non-cursor mode: totalResults is whatever it felt like returning.
    rsps.get(BASE + "/Users", json=list_page([user("1")], totalResults=1000))
    assert len(list(client.users.list_raw(page_size=2))) == 1
    assert len(rsps.calls) == 1


def test_index_pagination_without_total_results_reads_until_empty_page(rsps, client):
    rsps.get(BASE + "/Users", json=list_page([user("1"), user("2")]))
    rsps.get(BASE + "/Users", json=list_page([]))
    assert len(list(client.users.list_raw(page_size=2))) == 2
    assert len(rsps.calls) == 2


def test_index_pagination_detects_a_server_ignoring_start_index(rsps, client):
    rsps.get(BASE + "/Users", json=list_page([user("1"), user("2")], totalResults=50))
    with pytest.raises(MalformedResponseError, match="ignores startIndex"):
        list(client.users.list_raw(page_size=2))
    assert len(rsps.calls) == 2


def test_pagination_is_lazy(rsps, client):
    rsps.get(BASE + "/Users", json=list_page([user("1"), user("2")], totalResults=4))
    it = client.users.list_raw(page_size=2)
    assert len(rsps.calls) == 0
    next(it)
    assert len(rsps.calls) == 1


def test_cursor_pagination_bare_cursor_then_encoded_next_cursor(rsps, client):
    flt = Filter.eq("members.value", "u-1")
    rsps.get(BASE + "/Groups", json=list_page([group("g1")], itemsPerPage=1, nextCursor="a+b/c="))
    rsps.get(BASE + "/Groups", json=list_page([group("g2")], itemsPerPage=1, nextCursor="VGVz"))
    rsps.get(BASE + "/Groups", json=list_page([group("g3")], itemsPerPage=1))
    ids = [g.id for g in client.groups.list(flt, page_size=1, pagination="cursor")]
    assert ids == ["g1", "g2", "g3"]
    f = "filter=members.value%20eq%20%22u-1%22"
    assert [c.request.url.split("?", 1)[1] for c in rsps.calls] == [
        f"cursor&{f}&count=1",
        f"cursor=a%2Bb%2Fc%3D&{f}&count=1",
        f"cursor=VGVz&{f}&count=1",
    ]


def test_cursor_pagination_continues_past_short_pages(rsps, client):
    rsps.get(BASE + "/Users", json=list_page([], itemsPerPage=0, nextCursor="c1"))
    rsps.get(BASE + "/Users", json=list_page([user("1")], itemsPerPage=1))
    assert [u["id"] for u in client.users.list_raw(pagination="cursor")] == ["1"]


def test_cursor_loop_is_detected(rsps, client):
    rsps.get(BASE + "/Users", json=list_page([user("1")], nextCursor="same"))
    with pytest.raises(MalformedResponseError, match="already returned"):
        list(client.users.list_raw(pagination="cursor"))


def test_auto_pagination_uses_cursor_when_told(rsps, fake):
    rsps.get(BASE + "/Users", json=list_page([user("1")]))
    c = ScimClient(BASE, TOKEN, cursor_pagination=True, retry=fake.policy())
    list(c.users.list_raw(pagination="auto"))
    c2 = ScimClient(BASE, TOKEN, retry=fake.policy())
    list(c2.users.list_raw(pagination="auto"))
    assert rsps.calls[0].request.url.endswith("?cursor&count=100")
    assert rsps.calls[1].request.url.endswith("?startIndex=1&count=100")


def test_auto_pagination_learns_cursor_support_from_spc(rsps, fake):
    rsps.get(
        BASE + "/ServiceProviderConfig",
        json={"patch": {"supported": True}, "pagination": {"cursor": True, "index": True}},
    )
    rsps.get(BASE + "/Users", json=list_page([]))
    c = ScimClient(BASE, TOKEN, retry=fake.policy())
    c.service_provider_config()
    list(c.users.list_raw(pagination="auto"))
    assert rsps.calls[1].request.url.endswith("?cursor&count=100")


def test_pages_yield_list_response_models(rsps, client):
    rsps.get(BASE + "/Users", json=list_page([user("1")], totalResults=1, itemsPerPage=1))
    (page,) = list(client.users.pages())
    assert page.total_results == 1
    assert isinstance(page.resources[0], User)


def test_filter_escaping_in_requests(rsps, client):
    rsps.get(BASE + "/Users", json=list_page([]))
    client.users.find(Filter.eq("userName", 'o"brien\\x & y+z'))
    client.users.find('userName eq "plain"')
    q1, q2 = (c.request.url.split("?", 1)[1] for c in rsps.calls)
    assert q1 == (
        "filter=userName%20eq%20%22o%5C%22brien%5C%5Cx%20%26%20y%2Bz%22&startIndex=1&count=100"
    )
    assert q2 == "filter=userName%20eq%20%22plain%22&startIndex=1&count=100"


def test_find_returns_first_match_or_none_in_one_request(rsps, client):
    rsps.get(BASE + "/Users", json=list_page([user("1", "a"), user("2", "b")], totalResults=2))
    rsps.get(BASE + "/Users", json=list_page([], totalResults=0))
    assert client.users.find('userName eq "a"').id == "1"
    assert client.users.find('userName eq "zz"') is None
    assert len(rsps.calls) == 2


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_filter_is_refused(client, bad):
    with pytest.raises(ValueError, match="filter"):
        list(client.users.list_raw(bad))


# ------------------------------------------------------------------ discovery


def test_discovery(rsps, client):
    rsps.get(
        BASE + "/ServiceProviderConfig",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 1, "maxPayloadSize": 1048576},
            "filter": {"supported": True, "maxResults": 50},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
        },
    )
    rsps.get(
        BASE + "/ResourceTypes",
        json=list_page(
            [
                {"id": "User", "name": "User", "endpoint": "/Users", "schema": "urn:x:User"},
                {"id": "Group", "name": "Group", "endpoint": "/Groups", "schema": "urn:x:Group"},
            ],
            totalResults=2,
        ),
    )
    rsps.get(BASE + "/Schemas", json=[{"id": "urn:x:User", "name": "User", "attributes": []}])
    spc = client.service_provider_config()
    assert spc.filter.max_results == 50
    assert spc.patch.supported is True
    assert [rt.endpoint for rt in client.resource_types()] == ["/Users", "/Groups"]
    assert [s.id for s in client.schemas()] == ["urn:x:User"]


# -------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, AWS_400, RequestRejectedError),
        (401, aws_error(401, "Unauthorized"), UnauthorizedError),
        (403, aws_error(403, "Operation is not permitted."), ForbiddenError),
        (404, AWS_404, NotFoundError),
        (409, AWS_409, ConflictError),
        (500, aws_error(500, "Service failed to process the request."), ServerError),
        (501, None, ServerError),
        (422, None, RequestRejectedError),
    ],
)
def test_error_classes_carry_context(rsps, client, status, body, cls):
    rsps.post(BASE + "/Users", status=status, json=body)
    with pytest.raises(cls) as info:
        client.users.create_raw({"userName": "x"})
    err = info.value
    assert (err.method, err.path, err.status) == ("POST", "/Users", status)
    if body is not None:
        assert err.detail == body["detail"]
        assert err.request_id == body["exceptionRequestId"]
        assert body["exceptionRequestId"] in str(err)
    assert len(rsps.calls) == 1  # never retried


def test_request_id_header_wins_and_is_used_without_body(rsps, client):
    rsps.get(BASE + "/Users/x", status=404, body="", headers={"x-amzn-RequestId": "hdr-123"})
    with pytest.raises(NotFoundError) as info:
        client.users.get_raw("x")
    assert info.value.request_id == "hdr-123"


def test_wrong_tenant_404(rsps, client):
    rsps.get(BASE + "/Users/x", status=404, json=AWS_404_TENANT)
    with pytest.raises(NotFoundError, match="endpoint URL is wrong"):
        client.users.get_raw("x")


def test_non_json_error_body_becomes_detail(rsps, client):
    rsps.get(BASE + "/Users/x", status=400, body="<html>Bad gateway thing</html>")
    with pytest.raises(RequestRejectedError) as info:
        client.users.get_raw("x")
    assert "Bad gateway thing" in (info.value.detail or "")


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        ({"body": "<html><body>Sign in</body></html>"}, "HTML page"),
        ({"body": "not json"}, "not JSON"),
        ({"json": ["a", "list"]}, "JSON object"),
        ({"json": {"userName": "no id"}}, "no string 'id'"),
        ({"json": {"id": "x", "userName": "a", "active": "maybe"}}, "active"),
        ({"json": {"id": "x", "emails": "nope", "userName": "a"}}, "emails"),
    ],
)
def test_malformed_successful_replies(rsps, client, reply, needle):
    rsps.get(BASE + "/Users/x", status=200, **reply)
    with pytest.raises(MalformedResponseError, match=needle) as info:
        client.users.get("x")
    assert (info.value.method, info.value.path, info.value.status) == ("GET", "/Users/x", 200)


@pytest.mark.parametrize(
    "page",
    [
        {"Resources": "nope"},
        {"Resources": [1, 2]},
        ["not", "a", "dict"],
        {"Resources": [{"id": "1"}], "nextCursor": 7},
    ],
)
def test_malformed_list_pages(rsps, client, page):
    rsps.get(BASE + "/Users", json=page)
    with pytest.raises(MalformedResponseError):
        list(client.users.list_raw(pagination="cursor"))


def test_empty_success_body_where_a_resource_is_expected(rsps, client):
    rsps.post(BASE + "/Users", status=201, body="")
    with pytest.raises(MalformedResponseError, match="expected a JSON object"):
        client.users.create_raw({"userName": "x"})


def test_429_exhausted_is_rate_limited_error(rsps, fake):
    rsps.get(BASE + "/Users/x", status=429, headers={"Retry-After": "2"})
    c = ScimClient(BASE, TOKEN, retry=fake.policy(max_attempts=3))
    with pytest.raises(RateLimitedError) as info:
        c.users.get_raw("x")
    assert info.value.retry_after == 2.0
    assert isinstance(info.value, TransientError)
    assert len(rsps.calls) == 3


# -------------------------------------------------------------- observability


def test_logging_names_method_path_status_request_id_attempt(rsps, client, caplog):
    rsps.get(BASE + "/Users/x", json=user("x"), headers={"x-amzn-RequestId": "rid-9"})
    with caplog.at_level(logging.DEBUG, logger="scimsync"):
        client.users.get_raw("x")
    (rec,) = [r for r in caplog.records if r.name == "scimsync.client"]
    assert "GET /Users/x -> 200" in rec.getMessage()
    assert "rid-9" in rec.getMessage()
    assert "attempt 1" in rec.getMessage()


def test_recording_captures_exchanges(rsps, fake):
    rsps.get(BASE + "/Users/x", status=503)
    rsps.get(BASE + "/Users/x", json=user("x"), headers={"x-amzn-RequestId": "r2"})
    rsps.post(BASE + "/Users", json=user("y"), status=201)
    c = ScimClient(BASE, TOKEN, retry=fake.policy())
    with c.recording() as ex:
        c.users.get_raw("x")
        c.users.create_raw({"userName": "y"})
    c.users.create_raw({"userName": "after"})
    assert [(e.method, e.path, e.status, e.attempt) for e in ex] == [
        ("GET", "/Users/x", 503, 1),
        ("GET", "/Users/x", 200, 2),
        ("POST", "/Users", 201, 1),
    ]
    assert ex[1].request_id == "r2"
    assert ex[1].response_body["id"] == "x"
    assert ex[2].request_body == {"userName": "y"}
    assert c.request_count == 4


def test_recording_is_per_thread(rsps, client):
    rsps.get(BASE + "/Users/main", json=user("main"))
    rsps.get(BASE + "/Users/other", json=user("other"))
    seen = {}

    def other():
        with client.recording() as ex:
            client.users.get_raw("other")
        seen["other"] = [e.path for e in ex]

    with client.recording() as ex:
        t = threading.Thread(target=other)
        t.start()
        t.join()
        client.users.get_raw("main")
    assert [e.path for e in ex] == ["/Users/main"]
    assert seen["other"] == ["/Users/other"]


def test_repr_shows_base_url_only(client):
    assert repr(client) == f"ScimClient({BASE!r})"
    assert TOKEN not in repr(client.users)


def test_request_body_is_compact_json(rsps, client):
    rsps.post(BASE + "/Users", json=user(), status=201)
    client.users.create_raw({"userName": "zoë", "active": True})
    raw = rsps.calls[0].request.body
    assert (
        raw
        == json.dumps(
            {"userName": "zoë", "active": True}, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
