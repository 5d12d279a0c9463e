"""Import and adoption: link what the target already has, change nothing, report both sides."""

from __future__ import annotations

import pytest
from _modes_support import MutableSource, make_provisioner, user, writes

from scimsync._import import import_remote
from scimsync._reconcile import reconcile
from scimsync.testing import EmulatorServer


@pytest.fixture
def aws():
    with EmulatorServer("aws") as server:
        yield server


def seed(aws, i, **over):
    rep = {
        "userName": f"user{i}@example.org",
        "name": {"givenName": f"First{i}", "familyName": f"Last{i}"},
        "displayName": f"First{i} Last{i}",
        "emails": [{"value": f"user{i}@example.org", "type": "work", "primary": True}],
        "active": True,
        "externalId": str(i),
        **over,
    }
    return aws.seed_user(rep)


def test_import_links_matches_without_changing_the_target(aws, tmp_path):
    # Remote: users 0..3 (2 with a stale displayName), an orphan, and two groups.
    remote = {i: seed(aws, i) for i in range(4)}
    aws.mutate_user(remote[2]["id"], displayName="Old Display")
    stranger = aws.seed_user(userName="stranger@example.org", displayName="S")
    team = aws.seed_group("Team", members=[remote[0]["id"], remote[1]["id"]], externalId="t")
    aws.seed_group("Nobody's")
    src = MutableSource(
        [user(i) for i in range(6)],  # 4 and 5 exist only locally
        [{"id": "t", "name": "Team", "members": ["0", "1", "2"]}],
    )
    prov = make_provisioner(aws, src, tmp_path)

    result = import_remote(prov)

    assert result.status == "complete"
    assert writes(aws) == []  # nothing changed on the target
    assert sorted((m.kind, m.key, m.remote_id) for m in result.matched) == sorted(
        [("user", str(i), remote[i]["id"]) for i in range(4)] + [("group", "t", team["id"])]
    )
    assert sorted(i.key for i in result.local_only) == ["4", "5"]
    assert sorted(i.display for i in result.remote_only) == ["Nobody's", "stranger@example.org"]
    assert {i.remote_id for i in result.remote_only} >= {stranger["id"]}
    link = prov.store.get_link("aws", "user", "2")
    assert link.origin == "adopted"
    assert link.last_rep["displayName"] == "Old Display"  # what the target holds
    glink = prov.store.get_link("aws", "group", "t")
    assert sorted(m["value"] for m in glink.last_rep["members"]) == sorted(
        [remote[0]["id"], remote[1]["id"]]
    )
    recs = prov.store.query_reports(run_id=result.run_id)
    assert len(recs) == 5
    assert {(r.operation, str(r.outcome)) for r in recs} == {("import", "adopted")}
    assert prov.store.get_run(result.run_id).mode == "import"
    assert "5 matched" in str(result)

    # The next sync sends only the differences: one PATCH for user 2, two POSTs for 4
    # and 5, one PATCH adding member 2 to the team.
    aws.reset_log()
    summary = reconcile(prov)
    assert summary.counts.get("failed", 0) == 0, summary.failures
    w = sorted((e.method, e.path) for e in writes(aws))
    assert w == sorted(
        [
            ("PATCH", f"/Users/{remote[2]['id']}"),
            ("POST", "/Users"),
            ("POST", "/Users"),
            ("PATCH", f"/Groups/{team['id']}"),
        ]
    )
    assert aws.get_user(remote[2]["id"])["displayName"] == "First2 Last2"
    assert remote[2]["id"] in aws.memberships()[team["id"]]
    assert len(aws.users()) == 7  # nothing duplicated


def test_dry_run_links_nothing(aws, tmp_path):
    seed(aws, 0)
    src = MutableSource([user(0)])
    prov = make_provisioner(aws, src, tmp_path)
    result = import_remote(prov, dry_run=True, create_local=lambda rep: pytest.fail("called"))
    assert [m.key for m in result.matched] == ["0"]
    assert prov.store.get_link("aws", "user", "0") is None
    assert "would link" in str(result)
    assert writes(aws) == []


def test_create_local_makes_local_users_for_remote_ones(aws, tmp_path):
    src = MutableSource([user(0)])
    seed(aws, 0)
    alice = aws.seed_user(
        userName="alice@example.org",
        name={"givenName": "Alice", "familyName": "A"},
        displayName="Alice A",
        emails=[{"value": "alice@example.org", "primary": True}],
        active=True,
    )
    robot = aws.seed_user(userName="robot", displayName="R")
    broken = aws.seed_user(userName="broken", displayName="B")

    def create_local(rep):
        if rep["userName"] == "robot":
            return None  # the host declines
        if rep["userName"] == "broken":
            raise RuntimeError("unique constraint failed")
        key = f"new-{len(src.users)}"
        src.users[key] = user(
            key,
            username=rep["userName"],
            email=rep["userName"],
            first_name=rep["name"]["givenName"],
            last_name=rep["name"]["familyName"],
        )
        return key

    prov = make_provisioner(aws, src, tmp_path)
    result = import_remote(prov, create_local=create_local)
    assert [(i.key, i.remote_id) for i in result.created_local] == [("new-1", alice["id"])]
    assert [(i.remote_id, i.note) for i in result.remote_only] == [
        (robot["id"], "create_local declined")
    ]
    assert any(broken["id"] in f and "unique constraint" in f for f in result.failures)
    link = prov.store.get_link("aws", "user", "new-1")
    assert (link.remote_id, link.origin) == (alice["id"], "adopted")
    assert writes(aws) == []
    # Alice's local user now matches the remote one: a sync has nothing to send for her
    # except the externalId that ties her to the local key.
    aws.reset_log()
    reconcile(prov)
    patched = [e for e in writes(aws) if e.path == f"/Users/{alice['id']}"]
    assert len(patched) <= 1
    assert len(aws.users()) == 4


def test_a_remote_object_matching_two_local_ones_is_not_linked_twice(aws, tmp_path):
    r = seed(aws, 0)
    twin = user("twin", username="someone.else", email="user0@example.org")
    src = MutableSource([user(0), twin])
    prov = make_provisioner(aws, src, tmp_path)
    result = import_remote(prov)
    assert [m.key for m in result.matched] == ["0"]
    (conflict,) = result.conflicts
    assert conflict.key == "twin"
    assert conflict.remote_id == r["id"]
    assert "also matches local user 0" in conflict.note
    assert prov.store.get_link("aws", "user", "twin") is None


def test_already_linked_objects_are_counted_not_relinked(aws, tmp_path):
    src = MutableSource([user(0), user(1)])
    prov = make_provisioner(aws, src, tmp_path)
    reconcile(prov)
    src.users["2"] = user(2)
    seed(aws, 2)
    result = import_remote(prov)
    assert result.already_linked == 2
    assert [m.key for m in result.matched] == ["2"]
    assert result.remote_only == []
