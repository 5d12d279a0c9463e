"""Scheduled mode: incremental and deep reconcile against the emulator (AWS profile unless
said otherwise), orphan policies, partial reads, plans, thresholds."""

from __future__ import annotations

import attrs
import pytest
from _modes_support import (
    MutableSource,
    make_provisioner,
    small_pages,
    user,
    user_names,
    writes,
)

from scimsync import signals
from scimsync._engine import Policies
from scimsync._reconcile import OrphanPolicy, approve_orphan, plan, reconcile
from scimsync.errors import ConfigurationError
from scimsync.profiles import AWS, GENERIC
from scimsync.testing import EmulatorServer


@pytest.fixture
def aws():
    with EmulatorServer("aws") as server:
        yield server


@pytest.fixture
def generic():
    with EmulatorServer("generic") as server:
        yield server


def groups_of(n_users: int, n_groups: int = 3):
    return [
        {
            "id": f"g{j}",
            "name": f"Group {j}",
            "members": [str(i) for i in range(j, n_users, n_groups)],
        }
        for j in range(n_groups)
    ]


@pytest.fixture
def src():
    return MutableSource([user(i) for i in range(12)], groups_of(12))


def synced(aws, src, tmp_path, **kw):
    prov = make_provisioner(aws, src, tmp_path, **kw)
    first = reconcile(prov)
    assert first.status == "complete", first
    assert first.counts.get("failed", 0) == 0, first.failures
    aws.reset_log()
    return prov


# ---------------------------------------------------------------------- incremental


def test_first_incremental_run_creates_everything_and_is_recorded(aws, src, tmp_path):
    prov = make_provisioner(aws, src, tmp_path)
    finished = []

    def on_finished(sender, *, run, target, **extra):
        finished.append((sender, run, target, extra.get("summary")))

    with signals.run_finished.connected_to(on_finished):
        summary = reconcile(prov)
    assert summary.status == "complete"
    assert summary.counts["created"] == 15
    assert user_names(aws) == sorted(f"user{i}@example.org" for i in range(12))
    assert {g["displayName"] for g in aws.groups()} == {"Group 0", "Group 1", "Group 2"}
    members = aws.memberships()
    assert sum(len(m) for m in members.values()) == 12
    run = prov.store.get_run(summary.run_id)
    assert run.status == "complete"
    assert run.counts["created"] == 15
    assert run.mode == "incremental"
    assert len(finished) == 1
    assert finished[0][0] is prov
    assert finished[0][1].id == summary.run_id
    assert finished[0][3] is summary


def test_incremental_with_nothing_changed_sends_no_request(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path)
    summary = reconcile(prov)
    assert aws.request_log == []
    assert summary.requests == 0
    assert summary.counts == {"unchanged": 15}
    assert prov.store.query_reports(run_id=summary.run_id) == []


def test_incremental_syncs_only_what_changed(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path)
    src.users["3"]["last_name"] = "Changed"  # one update
    src.users["99"] = user(99)  # one new user
    del src.users["5"]  # one deleted locally -> deactivated (default policy)
    src.groups["g0"]["members"].append("99")  # one membership change
    summary = reconcile(prov)
    assert summary.status == "complete"
    counts = summary.counts
    assert counts["updated"] == 2  # user 3 and group g0 (+99)
    assert counts["created"] == 1
    assert counts["deactivated"] == 1
    # Groups g1/g2: user 5 (g2) stays a member of the deactivated user's groups.
    w = writes(aws)
    uid3 = prov.store.get_link("aws", "user", "3").remote_id
    uid5 = prov.store.get_link("aws", "user", "5").remote_id
    gid0 = prov.store.get_link("aws", "group", "g0").remote_id
    assert sorted((e.method, e.path) for e in w) == sorted(
        [
            ("PATCH", f"/Users/{uid3}"),
            ("POST", "/Users"),
            ("PATCH", f"/Users/{uid5}"),
            ("PATCH", f"/Groups/{gid0}"),
        ]
    )
    assert aws.get_user(uid3)["name"]["familyName"] == "Changed"
    assert aws.get_user(uid5)["active"] is False
    uid99 = prov.store.get_link("aws", "user", "99").remote_id
    assert uid99 in aws.memberships()[gid0]
    # And the next run is quiet again.
    aws.reset_log()
    assert reconcile(prov).counts == {"unchanged": 16}
    assert aws.request_log == []


def test_incremental_new_keys_are_matched_from_one_paged_read(aws, tmp_path):
    # 40 new users, 5 of them already on the target: the target is read in pages
    # (4 pages of 10) instead of 40 filter lookups, and the 5 are adopted, not duplicated.
    src = MutableSource([user(i) for i in range(40)])
    for i in range(5):
        aws.seed_user(
            userName=f"user{i}@example.org",
            name={"givenName": "Old", "familyName": "Name"},
            displayName="Old Name",
            emails=[{"value": f"user{i}@example.org", "primary": True}],
            active=True,
        )
    prov = make_provisioner(aws, src, tmp_path, profile=small_pages(AWS, 10))
    summary = reconcile(prov)
    assert summary.counts["adopted"] == 5
    assert summary.counts["created"] == 35
    assert len(aws.users()) == 40
    gets = aws.requests("GET")
    assert all("filter" not in e.params for e in gets)
    assert len(gets) == 1  # an empty cursor page set: 5 users fit one page of 10
    assert len(aws.requests("POST")) == 35


# ---------------------------------------------------------------------- deep


def test_deep_reads_the_target_once_with_cursor_paging(aws, tmp_path):
    src = MutableSource([user(i) for i in range(25)], groups_of(25, 2))
    prov = synced(aws, src, tmp_path, profile=small_pages(AWS, 10))
    summary = reconcile(prov, mode="deep")
    assert summary.status == "complete"
    assert summary.counts == {"unchanged": 27}
    assert writes(aws) == []
    lists = [e for e in aws.requests("GET", path_prefix="/Users") if "filter" not in e.params]
    assert len(lists) == 3  # 25 users in pages of 10
    assert all("cursor" in e.params for e in lists)
    assert lists[0].params["cursor"] == [""]
    # Members read per group by filter, cursor-paged: 13 and 12 members in pages of 10.
    member_reads = [e for e in aws.requests("GET") if "filter" in e.params]
    assert sorted(e.params["filter"][0] for e in member_reads) == sorted(
        f'groups.value eq "{prov.store.get_link("aws", "group", g).remote_id}"'
        for g in ("g0", "g0", "g1", "g1")
    )
    assert all("cursor" in e.params for e in member_reads)
    assert summary.requests == len(aws.request_log)


def test_deep_repairs_attributes_changed_on_the_target(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path)
    uid = prov.store.get_link("aws", "user", "2").remote_id
    aws.mutate_user(uid, displayName="Edited in the console", title="Boss")
    assert reconcile(prov).counts == {"unchanged": 15}  # incremental cannot see it
    aws.reset_log()
    summary = reconcile(prov, mode="deep")
    assert summary.counts["updated"] == 1
    (patch,) = writes(aws)
    assert (patch.method, patch.path) == ("PATCH", f"/Users/{uid}")
    assert aws.get_user(uid)["displayName"] == "First2 Last2"
    assert aws.get_user(uid)["title"] == "Boss"  # not ours: left alone
    aws.reset_log()
    assert reconcile(prov, mode="deep").counts == {"unchanged": 15}
    assert writes(aws) == []


def test_deep_recreates_objects_deleted_on_the_target(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path)
    old_uid = prov.store.get_link("aws", "user", "4").remote_id
    old_gid = prov.store.get_link("aws", "group", "g1").remote_id
    aws.delete_user(old_uid)
    aws.delete_group(old_gid)
    summary = reconcile(prov, mode="deep")
    assert summary.status == "complete"
    assert summary.counts["created"] == 2
    new_uid = prov.store.get_link("aws", "user", "4").remote_id
    new_gid = prov.store.get_link("aws", "group", "g1").remote_id
    assert new_uid != old_uid
    assert new_gid != old_gid
    assert user_names(aws).count("user4@example.org") == 1
    # The recreated group has its members again, including the recreated user.
    want = {prov.store.get_link("aws", "user", k).remote_id for k in src.groups["g1"]["members"]}
    assert aws.memberships()[new_gid] == want
    assert new_uid in aws.memberships()[new_gid]


def test_deep_repairs_memberships_changed_on_the_target(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path)
    gid = prov.store.get_link("aws", "group", "g0").remote_id
    intruder = prov.store.get_link("aws", "user", "1").remote_id  # member of g1 only
    removed = prov.store.get_link("aws", "user", "3").remote_id  # member of g0
    aws.add_member(gid, intruder)
    aws.remove_member(gid, removed)
    summary = reconcile(prov, mode="deep")
    assert summary.counts["updated"] == 1
    want = {prov.store.get_link("aws", "user", k).remote_id for k in src.groups["g0"]["members"]}
    assert aws.memberships()[gid] == want
    (patch,) = writes(aws)
    ops = {op["op"]: [v["value"] for v in op["value"]] for op in patch.body["Operations"]}
    assert ops == {"add": [removed], "remove": [intruder]}


def test_generic_profile_reads_members_from_the_group(generic, src, tmp_path):
    prov = synced(generic, src, tmp_path)
    gid = prov.store.get_link("aws", "group", "g2").remote_id
    generic.remove_member(gid, prov.store.get_link("aws", "user", "2").remote_id)
    summary = reconcile(prov, mode="deep")
    assert summary.counts["updated"] == 1
    want = {prov.store.get_link("aws", "user", k).remote_id for k in src.groups["g2"]["members"]}
    assert generic.memberships()[gid] == want
    assert not [e for e in generic.request_log if "filter" in e.params]


def test_deep_adopts_unlinked_remote_objects_instead_of_creating(aws, tmp_path):
    src = MutableSource(
        [user(i) for i in range(3)], [{"id": "g", "name": "Team", "members": ["0"]}]
    )
    pre = aws.seed_user(
        userName="user1@example.org",
        name={"givenName": "First1", "familyName": "Last1"},
        displayName="First1 Last1",
        emails=[{"value": "user1@example.org", "primary": True}],
        active=True,
    )
    team = aws.seed_group("Team")
    prov = make_provisioner(aws, src, tmp_path)
    summary = reconcile(prov, mode="deep")
    assert summary.counts["adopted"] == 2
    assert summary.counts["created"] == 2
    assert summary.orphans == []
    assert prov.store.get_link("aws", "user", "1").remote_id == pre["id"]
    assert prov.store.get_link("aws", "user", "1").origin == "adopted"
    assert prov.store.get_link("aws", "group", "g").remote_id == team["id"]
    assert len(aws.users()) == 3
    assert not [e for e in aws.request_log if "filter" in e.params and "userName" in e.query]


# ---------------------------------------------------------------------- orphans


def seed_orphans(aws):
    return {
        "plain": aws.seed_user(
            userName="console.user@example.org",
            name={"givenName": "C", "familyName": "U"},
            displayName="C U",
            active=True,
        ),
        "admin": aws.seed_user(userName="Admin-BreakGlass", displayName="BG", active=True),
        "by_id": aws.seed_user(userName="keep.me@example.org", displayName="K", active=True),
        "pred": aws.seed_user(userName="svc-robot", displayName="Robot", active=True),
        "group": aws.seed_group("Temp Team"),
        "aws_group": aws.seed_group("AWSControlTowerAdmins"),
    }


def ignore_list(o):
    return {
        "ignore_ids": [o["by_id"]["id"]],
        "ignore_user_names": ["admin-*"],
        "ignore_display_names": ["AWS*"],
        "ignore": lambda rep: str(rep.get("userName", "")).startswith("svc-"),
    }


def test_orphans_are_ignored_by_default(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path)
    o = seed_orphans(aws)
    summary = reconcile(prov, mode="deep")
    assert writes(aws) == []
    assert summary.counts["orphans"] == 6
    assert {a.remote_id for a in summary.orphans} == {v["id"] for v in o.values()}
    assert {a.action for a in summary.orphans} == {"orphan"}
    assert prov.store.query_reports(run_id=summary.run_id) == []


def test_orphan_policy_report(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path)
    o = seed_orphans(aws)
    summary = reconcile(prov, mode="deep", orphans=OrphanPolicy("report", **ignore_list(o)))
    assert writes(aws) == []
    recs = prov.store.query_reports(run_id=summary.run_id)
    assert sorted(r.key for r in recs) == sorted([o["plain"]["id"], o["group"]["id"]])
    assert {(r.operation, str(r.outcome)) for r in recs} == {("orphan", "skipped")}
    assert summary.counts["skipped"] == 2


def test_orphan_policy_deactivate(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path)
    o = seed_orphans(aws)
    summary = reconcile(prov, mode="deep", orphans=OrphanPolicy("deactivate", **ignore_list(o)))
    assert [(e.method, e.path) for e in writes(aws)] == [("PATCH", f"/Users/{o['plain']['id']}")]
    assert aws.get_user(o["plain"]["id"])["active"] is False
    for name in ("admin", "by_id", "pred"):
        assert aws.get_user(o[name]["id"])["active"] is True
    actions = {a.remote_id: a.action for a in summary.orphans}
    assert actions[o["group"]["id"]] == "report"  # groups cannot be deactivated
    assert actions[o["aws_group"]["id"]] == "ignored"
    assert summary.counts["deactivated"] == 1


def test_orphan_policy_delete_respects_every_ignore_rule(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path)
    o = seed_orphans(aws)
    summary = reconcile(prov, mode="deep", orphans=OrphanPolicy("delete", **ignore_list(o)))
    assert sorted((e.method, e.path) for e in writes(aws)) == sorted(
        [("DELETE", f"/Users/{o['plain']['id']}"), ("DELETE", f"/Groups/{o['group']['id']}")]
    )
    assert aws.get_user(o["plain"]["id"]) is None
    assert aws.get_group(o["group"]["id"]) is None
    for name in ("admin", "by_id", "pred"):
        assert aws.get_user(o[name]["id"]) is not None
    assert aws.get_group(o["aws_group"]["id"]) is not None
    reasons = {a.remote_id: a.reason for a in summary.orphans if a.action == "ignored"}
    assert "ignore list" in reasons[o["by_id"]["id"]]
    assert "admin-*" in reasons[o["admin"]["id"]]
    assert "AWS*" in reasons[o["aws_group"]["id"]]
    assert "predicate" in reasons[o["pred"]["id"]]
    # Linked objects are never orphans.
    assert len(aws.users()) == 12 + 3
    assert summary.counts["deleted"] == 2


def test_orphan_deletes_count_toward_the_deletion_threshold(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path, policies=Policies(deletion_threshold=1))
    o = seed_orphans(aws)
    summary = reconcile(prov, mode="deep", orphans="delete")
    assert writes(aws) == []
    assert summary.threshold_tripped
    held = prov.store.list_pending()
    assert len(held) == 6
    assert {p.remote_id for p in held} == {v["id"] for v in o.values()}
    assert all(p.action.startswith("delete_orphan_") for p in held)
    # An admin approves one: it is deleted now, and marked applied.
    target = next(p for p in held if p.remote_id == o["plain"]["id"])
    record = approve_orphan(prov, target.id, by="admin")
    assert str(record.outcome) == "deleted"
    assert aws.get_user(o["plain"]["id"]) is None
    assert prov.store.get_pending(target.id).status == "applied"
    assert [(e.method, e.path) for e in writes(aws)] == [("DELETE", f"/Users/{o['plain']['id']}")]
    with pytest.raises(ValueError, match="already applied"):
        approve_orphan(prov, target.id)


def test_ignore_policy_is_explicit_opt_in_for_delete():
    assert OrphanPolicy().action == "ignore"
    with pytest.raises(ConfigurationError, match="not one of"):
        OrphanPolicy("purge")
    with pytest.raises(ConfigurationError, match="unknown kind"):
        OrphanPolicy("delete", kinds=["role"])


# ---------------------------------------------------------------------- partial runs


def test_source_listing_fails_nothing_is_deprovisioned(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path, policies=Policies(user_lifecycle="delete"))
    src.users["0"]["last_name"] = "Renamed"  # read before the failure: still updated
    src.fail_keys_after = 4  # keys 4.. never listed: must not be taken as deleted
    o = seed_orphans(aws)
    summary = reconcile(prov, mode="deep", orphans="delete")
    assert summary.status == "partial"
    assert any("reading the source's user keys failed after 4" in r for r in summary.reasons)
    assert any("nothing was deprovisioned" in r for r in summary.reasons)
    methods = [(e.method, e.path) for e in writes(aws)]
    uid0 = prov.store.get_link("aws", "user", "0").remote_id
    assert methods == [("PATCH", f"/Users/{uid0}")]
    assert len(aws.users()) == 12 + 4
    assert all(aws.get_user(v["id"]) for k, v in o.items() if k != "group" and k != "aws_group")
    assert prov.store.get_run(summary.run_id).status == "partial"
    assert "nothing was deprovisioned" in prov.store.get_run(summary.run_id).error


def test_source_read_of_one_key_fails_nothing_is_deprovisioned(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path)
    src.fail_get = {"7"}
    del src.users["8"]  # would be deactivated in a complete run
    summary = reconcile(prov)
    assert summary.status == "partial"
    assert any("user 7" in r and "database went away" in r for r in summary.reasons)
    assert writes(aws) == []
    assert aws.get_user(prov.store.get_link("aws", "user", "8").remote_id)["active"] is True
    src.fail_get = set()
    assert reconcile(prov).counts["deactivated"] == 1


def test_target_read_fails_nothing_is_deprovisioned(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path, profile=small_pages(AWS, 5))
    del src.users["1"]
    seed_orphans(aws)
    # The second page of /Users fails (a 500 the client does not retry).
    calls = {"n": 0}
    real = prov.targets[0].client.users.pages_raw

    def failing_pages(*a, **kw):
        for page in real(*a, **kw):
            calls["n"] += 1
            if calls["n"] == 1:
                aws.fail_next(500, times=1)
            yield page

    prov.targets[0].client.users.pages_raw = failing_pages
    summary = reconcile(prov, mode="deep", orphans="delete")
    assert summary.status == "partial"
    assert any(
        "reading the target's users failed after 5" in r and "500" in r for r in summary.reasons
    ), summary.reasons
    assert writes(aws) == []
    assert aws.get_user(prov.store.get_link("aws", "user", "1").remote_id)["active"] is True


def test_target_read_incomplete_nothing_is_deprovisioned(aws, src, tmp_path):
    # AWS without cursor paging ignores startIndex: only the first page can be read.
    prov = synced(aws, src, tmp_path, profile=attrs.evolve(AWS, pagination="index", page_size=5))
    del src.users["11"]
    o = seed_orphans(aws)
    summary = reconcile(prov, mode="deep", orphans="delete")
    assert summary.status == "partial"
    assert any("startIndex" in r for r in summary.reasons)
    assert writes(aws) == []
    assert all(aws.get_user(v["id"]) or aws.get_group(v["id"]) for v in o.values())
    # No linked user was taken for vanished: nothing recreated, no duplicate.
    assert len(aws.users()) == 12 + 4


# ---------------------------------------------------------------------- thresholds and approvals


def test_engine_deletion_threshold_holds_every_delete(aws, src, tmp_path):
    prov = synced(
        aws, src, tmp_path, policies=Policies(user_lifecycle="delete", deletion_threshold=2)
    )
    for k in ("1", "2", "3"):
        del src.users[k]
    summary = reconcile(prov)
    assert summary.threshold_tripped
    assert summary.counts["held"] == 3
    assert not aws.requests("DELETE")
    assert sorted(p.key for p in prov.store.list_pending()) == ["1", "2", "3"]
    assert "threshold" in summary.format()


def test_deletes_under_the_threshold_are_applied(aws, src, tmp_path):
    prov = synced(
        aws, src, tmp_path, policies=Policies(user_lifecycle="delete", deletion_threshold=5)
    )
    del src.users["1"]
    summary = reconcile(prov)
    assert summary.counts["deleted"] == 1
    assert not summary.threshold_tripped
    assert len(aws.requests("DELETE")) == 1


def test_approval_policy_holds_deactivations(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path, policies=Policies(require_approval={"deactivate_user"}))
    del src.users["6"]
    summary = reconcile(prov)
    assert summary.counts["held"] == 1
    assert writes(aws) == []
    (pending,) = prov.store.list_pending()
    assert (pending.key, pending.action) == ("6", "deactivate_user")


# ---------------------------------------------------------------------- plans


def test_plan_lists_exactly_what_the_run_then_does(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path, policies=Policies(user_lifecycle="delete"))
    src.users["50"] = user(50)  # create
    src.users["2"]["first_name"] = "Renamed"  # update
    del src.users["9"]  # delete (policy)
    uid4 = prov.store.get_link("aws", "user", "4").remote_id
    aws.mutate_user(uid4, displayName="drifted")  # repair
    aws.delete_user(prov.store.get_link("aws", "user", "5").remote_id)  # recreate
    pre = aws.seed_user(  # adopt
        userName="user51@example.org", displayName="x", name={"givenName": "a", "familyName": "b"}
    )
    src.users["51"] = user(51)
    orphan = aws.seed_user(userName="nobody@example.org", displayName="N")  # orphan
    aws.reset_log()
    links_before = sorted(
        (lk.key, lk.remote_id, lk.last_hash) for lk in prov.store.iter_links("aws")
    )

    p = plan(prov, mode="deep", orphans="delete")

    assert {e.method for e in aws.request_log} == {"GET"}
    assert (
        sorted((lk.key, lk.remote_id, lk.last_hash) for lk in prov.store.iter_links("aws"))
        == links_before
    )
    assert p.keys("create") == ["50"]
    assert p.keys("adopt") == ["51"]
    assert p.keys("update") == ["2"]
    assert p.keys("repair") == ["4"]
    assert p.keys("recreate") == ["5"]
    assert p.keys("delete") == sorted(["9", orphan["id"]])
    assert p.of("adopt")[0].remote_id == pre["id"]
    text = str(p)
    assert "Plan for target aws (deep)" in text
    assert "recreate   user  5" in text
    assert "nobody@example.org" in text

    summary = reconcile(prov, mode="deep", orphans="delete")
    done = summary.plan
    for action in ("create", "adopt", "update", "repair", "recreate", "delete"):
        assert done.keys(action) == p.keys(action), action
    assert aws.get_user(orphan["id"]) is None
    assert aws.get_user(uid4)["displayName"] == "First4 Last4"


def test_dry_run_reconcile_records_a_dry_run_and_sends_only_gets(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path)
    del src.users["0"]
    summary = reconcile(prov, dry_run=True)
    assert summary.dry_run
    assert summary.counts["deactivated"] == 1
    assert writes(aws) == []
    assert prov.store.get_run(summary.run_id).dry_run is True
    assert prov.store.query_reports(run_id=summary.run_id) == []
    assert "deactivate" in str(summary)


def test_bad_arguments(aws, src, tmp_path):
    prov = make_provisioner(aws, src, tmp_path)
    with pytest.raises(ConfigurationError, match="mode"):
        reconcile(prov, mode="full")
    with pytest.raises(ConfigurationError, match="unknown target"):
        reconcile(prov, "nope")
    with pytest.raises(ConfigurationError, match="OrphanPolicy"):
        reconcile(prov, orphans=42)


def test_a_broken_run_is_recorded_as_failed(aws, src, tmp_path):
    prov = make_provisioner(aws, src, tmp_path)

    def boom(*a, **kw):
        raise RuntimeError("store exploded")

    prov.store.iter_links = boom
    summary = reconcile(prov)
    assert summary.status == "failed"
    assert "store exploded" in summary.reasons[0]
    assert prov.store.get_run(summary.run_id).status == "failed"


def test_generic_profile_full_cycle(generic, src, tmp_path):
    prov = make_provisioner(generic, src, tmp_path, profile=small_pages(GENERIC, 5))
    assert reconcile(prov, mode="deep").counts["created"] == 15
    generic.reset_log()
    summary = reconcile(prov, mode="deep")
    assert summary.counts == {"unchanged": 15}
    assert writes(generic) == []


def test_deactivate_then_delete_waits_for_the_grace_period_without_requests(aws, src, tmp_path):
    import datetime as dt

    now = [dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)]
    policies = Policies(user_lifecycle="deactivate_then_delete", grace_period=dt.timedelta(days=7))
    prov = synced(aws, src, tmp_path, policies=policies, clock=lambda: now[0])
    uid = prov.store.get_link("aws", "user", "4").remote_id
    del src.users["4"]
    assert reconcile(prov).counts["deactivated"] == 1
    aws.reset_log()
    now[0] += dt.timedelta(days=3)
    quiet = reconcile(prov)  # still in its grace period: nothing to send
    assert quiet.counts == {"unchanged": 15}
    assert aws.request_log == []
    now[0] += dt.timedelta(days=5)
    done = reconcile(prov)
    assert done.counts["deleted"] == 1
    assert aws.get_user(uid) is None
    assert prov.store.get_link("aws", "user", "4") is None


def test_incremental_falls_back_to_lookups_when_the_paged_read_fails(aws, tmp_path):
    src = MutableSource([user(i) for i in range(30)])
    prov = make_provisioner(aws, src, tmp_path, profile=small_pages(AWS, 10))
    aws.fail_next(500, times=1, method="GET")  # the paged read of /Users fails
    summary = reconcile(prov)
    assert summary.status == "complete"
    assert summary.counts["created"] == 30
    assert any("looked up one by one" in r for r in summary.reasons)
    assert len(aws.users()) == 30


def test_groups_kept_by_policy_are_not_resynced_every_run(aws, src, tmp_path):
    prov = synced(aws, src, tmp_path, policies=Policies(group_lifecycle="keep"))
    gid = prov.store.get_link("aws", "group", "g1").remote_id
    del src.groups["g1"]
    first = reconcile(prov)
    assert writes(aws) == []
    assert aws.get_group(gid) is not None
    assert prov.store.query_reports(run_id=first.run_id) == []
    assert first.counts == {"unchanged": 15}
