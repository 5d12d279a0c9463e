"""Inspection, seeding and mutation helpers, the pytest fixtures, and the standalone command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
import requests
from _emulator_support import AWS_ID, Api, aws_group, aws_user

from scimsync.testing import EmulatorServer, RequestLogEntry
from scimsync.testing._standalone import main

# -- request log -------------------------------------------------------------------------


def test_request_log_records_without_token(aws_scim_server):
    api = Api(aws_scim_server)
    created = api.post("/Users", aws_user()).json()
    api.get("/Users", params={"filter": 'userName eq "bjensen"'})
    api.patch(f"/Users/{created['id']}", [{"op": "replace", "path": "active", "value": False}])
    log = aws_scim_server.request_log
    assert [(e.method, e.path, e.status) for e in log] == [
        ("POST", "/Users", 201),
        ("GET", "/Users", 200),
        ("PATCH", f"/Users/{created['id']}", 200),
    ]
    assert isinstance(log[0], RequestLogEntry)
    assert log[0].body["userName"] == "bjensen"
    assert log[0].response["id"] == created["id"]
    assert log[1].query == 'filter=userName eq "bjensen"'
    assert log[1].params == {"filter": ['userName eq "bjensen"']}
    assert log[2].user_agent == "scimsync-tests/1"
    assert all(e.request_id for e in log)
    token = aws_scim_server.token
    assert token not in repr(log)
    assert token not in repr(aws_scim_server)
    assert token not in repr(aws_scim_server.tokens)


def test_request_log_keeps_the_specific_reason_of_a_400(aws_scim_server):
    api = Api(aws_scim_server)
    api.post("/Users", aws_user(emails=[{"value": "a@x"}, {"value": "b@x"}]))
    entry = aws_scim_server.request_log[-1]
    assert entry.status == 400
    assert entry.reason == "Currently list attributes only allow single item (emails)"
    assert (
        entry.response["detail"]
        == "Request is unparsable, syntactically incorrect, or violates schema."
    )


def test_requests_helper_filters_and_reset(aws_scim_server):
    api = Api(aws_scim_server)
    uid = api.post("/Users", aws_user()).json()["id"]
    gid = api.post("/Groups", aws_group()).json()["id"]
    api.patch(f"/Groups/{gid}", [{"op": "add", "path": "members", "value": [{"value": uid}]}])
    api.patch(f"/Users/{uid}", [{"op": "replace", "path": "title", "value": "x"}])
    api.get("/Groups/missing")
    assert len(aws_scim_server.requests("PATCH")) == 2
    assert [e.path for e in aws_scim_server.requests(method="PATCH", path_prefix="/Groups")] == [
        f"/Groups/{gid}"
    ]
    assert [e.path for e in aws_scim_server.requests(status=404)] == ["/Groups/missing"]
    aws_scim_server.reset_log()
    assert aws_scim_server.request_log == []


def test_log_limit_drops_oldest():
    with EmulatorServer("generic", log_limit=3) as server:
        api = Api(server)
        for i in range(5):
            api.get(f"/Users/n{i}")
        assert [e.path for e in server.request_log] == ["/Users/n2", "/Users/n3", "/Users/n4"]


# -- inspection ---------------------------------------------------------------------------


def test_inspection_reflects_http_changes(aws_scim_server):
    api = Api(aws_scim_server)
    uid = api.post("/Users", aws_user()).json()["id"]
    gid = api.post("/Groups", aws_group(members=[{"value": uid}])).json()["id"]
    assert [u["id"] for u in aws_scim_server.users()] == [uid]
    assert aws_scim_server.groups()[0]["members"] == [{"value": uid, "type": "User"}]
    assert aws_scim_server.memberships() == {gid: {uid}}
    assert aws_scim_server.get_user(uid)["userName"] == "bjensen"
    assert aws_scim_server.get_user("nope") is None
    assert aws_scim_server.find_user("BJENSEN")["id"] == uid
    assert aws_scim_server.find_group("engineering")["id"] == gid
    copy_ = aws_scim_server.get_user(uid)
    copy_["userName"] = "changed"
    assert aws_scim_server.get_user(uid)["userName"] == "bjensen"  # copies, not the store


# -- seeding and changes behind the client's back -------------------------------------------


def test_seed_user_skips_validation_and_is_served(aws_scim_server):
    seeded = aws_scim_server.seed_user({"userName": "console-user", "displayName": "C"})
    assert AWS_ID.match(seeded["id"])
    got = Api(aws_scim_server).get(f"/Users/{seeded['id']}")
    assert got.status_code == 200
    assert "emails" not in got.json()
    assert "externalId" not in got.json()


def test_seed_with_explicit_id_and_duplicate_id(scim_server):
    scim_server.seed_user(id="fixed-id", userName="a")
    assert scim_server.get_user("fixed-id")["userName"] == "a"
    with pytest.raises(ValueError, match="already exists"):
        scim_server.seed_user(id="fixed-id", userName="b")


def test_seed_group_with_members(aws_scim_server):
    a = aws_scim_server.seed_user(userName="a")["id"]
    b = aws_scim_server.seed_user(userName="b")["id"]
    group = aws_scim_server.seed_group("Ops", members=[a, b], externalId="ext")
    assert aws_scim_server.memberships() == {group["id"]: {a, b}}
    api = Api(aws_scim_server)
    assert (
        api.list("/Groups", filter=f'id eq "{group["id"]}" and members eq "{b}"').json()[
            "totalResults"
        ]
        == 1
    )


def test_mutate_user_behind_the_back(aws_scim_server):
    api = Api(aws_scim_server)
    created = api.post("/Users", aws_user(title="Guide")).json()
    aws_scim_server.mutate_user(created["id"], {"displayName": "Changed", "title": None})
    got = api.get(f"/Users/{created['id']}").json()
    assert got["displayName"] == "Changed"
    assert "title" not in got
    assert got["meta"]["created"] == created["meta"]["created"]

    def deactivate(user):
        user["active"] = False
        return user

    aws_scim_server.mutate_user(created["id"], deactivate)
    assert api.get(f"/Users/{created['id']}").json()["active"] is False
    aws_scim_server.mutate_user(created["id"], userName="renamed")
    assert api.list("/Users", filter='userName eq "renamed"').json()["totalResults"] == 1
    assert api.list("/Users", filter='userName eq "bjensen"').json()["totalResults"] == 0
    with pytest.raises(KeyError):
        aws_scim_server.mutate_user("missing", {"title": "x"})


def test_mutate_group_and_member_helpers(aws_scim_server):
    a = aws_scim_server.seed_user(userName="a")["id"]
    b = aws_scim_server.seed_user(userName="b")["id"]
    gid = aws_scim_server.seed_group("G", members=[a])["id"]
    aws_scim_server.add_member(gid, b)
    aws_scim_server.remove_member(gid, a)
    assert aws_scim_server.memberships() == {gid: {b}}
    aws_scim_server.mutate_group(gid, displayName="H", members=[{"value": a}])
    assert aws_scim_server.get_group(gid)["displayName"] == "H"
    assert aws_scim_server.memberships() == {gid: {a}}
    aws_scim_server.delete_user(a)
    assert aws_scim_server.memberships() == {gid: set()}
    aws_scim_server.delete_group(gid)
    assert aws_scim_server.groups() == []


def test_clear_forgets_everything(aws_scim_server):
    aws_scim_server.seed_user(userName="a")
    aws_scim_server.clear()
    assert aws_scim_server.users() == []
    assert Api(aws_scim_server).post("/Users", aws_user("a")).status_code == 201


def test_concurrent_creates_are_consistent(aws_scim_server):
    errors: list[int] = []

    def worker(n: int) -> None:
        api = Api(aws_scim_server)
        for i in range(10):
            r = api.post("/Users", aws_user(f"t{n}-{i}"))
            if r.status_code != 201:
                errors.append(r.status_code)
        # Everyone also races for the same userName: exactly one wins overall.
        r = api.post("/Users", aws_user("contended"))
        errors.append(r.status_code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(errors) == [201, 409, 409, 409]
    assert len(aws_scim_server.users()) == 41
    assert len({u["id"] for u in aws_scim_server.users()}) == 41


# -- lifecycle ----------------------------------------------------------------------------


def test_start_stop_and_context_manager():
    server = EmulatorServer("generic")
    assert server.port == 0
    server.start()
    try:
        assert server.port != 0
        assert (
            requests.get(
                server.base_url + "/Users", headers=server.auth_headers(), timeout=10
            ).status_code
            == 200
        )
    finally:
        server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.base_url + "/Users", headers=server.auth_headers(), timeout=10)
    server.stop()  # idempotent


def test_stop_closes_kept_alive_connections():
    with EmulatorServer("generic") as server:
        session = requests.Session()
        session.headers.update(server.auth_headers())
        assert session.get(server.base_url + "/Users", timeout=10).status_code == 200
    with pytest.raises(requests.ConnectionError):
        session.get(server.base_url + "/Users", timeout=10)


def test_bad_profile_name():
    with pytest.raises(ValueError, match="profile"):
        EmulatorServer("okta")  # type: ignore[arg-type]


# -- pytest fixtures (what a host application's tests use) ------------------------------------


def test_scim_server_fixture(scim_server):
    assert scim_server.profile_name == "generic"
    r = requests.get(
        scim_server.base_url + "/ServiceProviderConfig",
        headers={"Authorization": f"Bearer {scim_server.token}"},
        timeout=10,
    )
    assert r.status_code == 200


def test_aws_scim_server_fixture(aws_scim_server):
    assert aws_scim_server.profile_name == "aws"
    assert aws_scim_server.users() == []  # function-scoped: fresh for every test


def test_fixtures_are_registered_through_the_entry_point():
    from importlib.metadata import entry_points

    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins["scimsync"] == "scimsync.testing.pytest_plugin"


# -- standalone command ----------------------------------------------------------------------


def run_standalone(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scimsync.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


@pytest.mark.parametrize("profile", ["aws", "generic"])
def test_standalone_serves_until_sigterm(profile):
    proc, url = run_standalone(
        "--profile", profile, "--port", "0", "--token", "tok-1", "--token", "tok-2"
    )
    try:
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/scim/v2")
        for token in ("tok-1", "tok-2"):
            r = requests.get(
                url + "/Users", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert r.status_code == 200
        assert (
            requests.get(
                url + "/Users", headers={"Authorization": "Bearer other"}, timeout=10
            ).status_code
            == 401
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "tok-1" not in out + err


def test_standalone_generates_a_token_when_none_given():
    proc, url = run_standalone(
        "--profile", "aws", "--tenant", "abcdefghijk-1111-2222-3333-444455556666"
    )
    try:
        assert proc.stdout is not None
        token_line = proc.stdout.readline().strip()
        assert token_line.startswith("token: ")
        token = token_line.removeprefix("token: ")
        assert url.endswith("/abcdefghijk-1111-2222-3333-444455556666/scim/v2")
        assert (
            requests.get(
                url + "/Users", headers={"Authorization": f"Bearer {token}"}, timeout=10
            ).status_code
            == 200
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_standalone_main_returns_status_for_bad_arguments(capsys):
    assert main(["--profile", "okta"]) == 2
    assert main(["--profile", "aws", "--token", "a", "--token", "b", "--token", "c"]) == 2
    assert "at most two" in capsys.readouterr().err
    assert main(["--help"], prog="scimsync emulator") == 0
    assert "usage: scimsync emulator" in capsys.readouterr().out
