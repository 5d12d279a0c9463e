"""Engine <-> automatic/scheduled modes: notify listeners, the delegating methods,
``desired()``, approvals of held orphan deletes, the deletion threshold in automatic mode
and reconcile with a source that skipped bad rows. Real emulator, real SQLiteStore."""

from __future__ import annotations

import logging

import pytest
from _modes_support import MutableSource, make_provisioner, user, writes

from scimsync._dispatch import Dispatcher
from scimsync.testing import EmulatorServer

# ---------------------------------------------------------------------- 1. notify listeners


def test_notify_enqueues_first_then_calls_listeners_and_swallows_their_errors(tmp_path, caplog):
    src = MutableSource([user(1)])
    with EmulatorServer("aws") as server:
        prov = make_provisioner(server, src, tmp_path)
        seen: list[int] = []

        def counts_rows() -> None:
            # The row is already in the outbox when a listener runs.
            seen.append(prov.store.outbox_counts().get("pending", 0))

        def broken() -> None:
            raise RuntimeError("listener bug")

        prov.add_notify_listener(broken)
        prov.add_notify_listener(counts_rows)
        with caplog.at_level(logging.ERROR, logger="scimsync"):
            prov.notify("user", "1")
        assert seen == [1]
        assert "a notify listener raised" in caplog.text
        prov.remove_notify_listener(counts_rows)
        prov.remove_notify_listener(counts_rows)  # twice: no error
        prov.notify("user", "2")
        assert seen == [1]
        assert server.request_log == []  # notify never touches the network


def test_wake_calls_the_listeners_without_an_outbox_row(tmp_path, caplog):
    """For hosts that write the outbox row in their own transaction."""
    src = MutableSource([user(1)])
    with EmulatorServer("aws") as server:
        prov = make_provisioner(server, src, tmp_path)
        calls: list[str] = []

        def broken() -> None:
            raise RuntimeError("listener bug")

        prov.add_notify_listener(broken)
        prov.add_notify_listener(lambda: calls.append("woken"))
        with caplog.at_level(logging.ERROR, logger="scimsync"):
            prov.wake()
        assert calls == ["woken"]
        assert "a notify listener raised" in caplog.text
        assert prov.store.outbox_counts()["pending"] == 0
        assert server.request_log == []


def test_dispatcher_registers_on_start_and_unregisters_on_stop(tmp_path):
    src = MutableSource([user(i) for i in range(3)])
    with EmulatorServer("aws") as server:
        prov = make_provisioner(server, src, tmp_path)
        # A one-minute poll: without the wake-up, flush(timeout=5) could not succeed.
        dispatcher = Dispatcher(prov, workers=1, poll_interval=60).start()
        try:
            assert dispatcher.wake in prov._notify_listeners
            for i in range(3):
                prov.notify("user", str(i))
            assert dispatcher.flush(timeout=30), (prov.store.outbox_counts(), dispatcher.stats)
            assert dispatcher.stats.synced == 3, dispatcher.stats
            assert len(server.users()) == 3
        finally:
            dispatcher.stop()
        assert dispatcher.wake not in prov._notify_listeners


# ---------------------------------------------------------------------- 2. delegates


def test_delegating_methods_reach_reconcile_plan_import_and_the_dispatcher(tmp_path):
    src = MutableSource([user(1), user(2)])
    with EmulatorServer("aws") as server:
        server.seed_user(userName="user1@example.org", displayName="First1 Last1")
        prov = make_provisioner(server, src, tmp_path)

        imported = prov.import_remote(dry_run=True)
        assert [m.key for m in imported.matched] == ["1"]
        assert prov.store.get_link("aws", "user", "1") is None  # a dry run links nothing
        imported = prov.import_remote("aws")
        assert [m.key for m in imported.matched] == ["1"]
        assert [i.key for i in imported.local_only] == ["2"]

        plan = prov.plan(mode="deep")
        assert plan.keys("create") == ["2"]
        assert len(server.users()) == 1  # planning sent no write

        summary = prov.reconcile("aws", mode="deep", memberships=False)
        assert summary.status == "complete"
        assert summary.counts.get("created") == 1
        assert len(server.users()) == 2

        src.users["3"] = user(3)
        prov.notify("user", "3")
        dispatcher = prov.start_dispatcher(workers=1, poll_interval=60)
        try:
            assert dispatcher.running
            assert dispatcher.flush(timeout=5)
        finally:
            dispatcher.stop()
        assert not dispatcher.running
        assert len(server.users()) == 3


# ---------------------------------------------------------------------- 3. orphan approvals


def test_held_orphan_deletes_are_approved_through_prov_approvals(tmp_path):
    from scimsync._engine import Policies
    from scimsync._reconcile import approve_orphan
    from scimsync.errors import SyncFailedError

    src = MutableSource([user(1)])
    with EmulatorServer("aws") as server:
        prov = make_provisioner(server, src, tmp_path, policies=Policies(deletion_threshold=1))
        assert prov.reconcile().status == "complete"
        orphans = [
            server.seed_user(userName=f"orphan{i}@example.org", displayName=f"O{i}")
            for i in range(3)
        ]
        summary = prov.reconcile(mode="deep", orphans="delete")
        assert summary.threshold_tripped
        held = {p.remote_id: p for p in prov.approvals.list()}
        assert set(held) == {o["id"] for o in orphans}
        assert len(server.users()) == 4  # nothing deleted yet

        first = held[orphans[0]["id"]]
        trace = prov.approvals.approve(first.id, by="admin")
        assert (trace.outcome, trace.operation) == ("deleted", "delete")
        assert trace.remote_id == orphans[0]["id"]
        assert [(e.method, e.status) for e in trace.exchanges] == [("DELETE", 204)]
        assert server.get_user(orphans[0]["id"]) is None
        assert prov.approvals.get(first.id).status == "applied"

        # A failing DELETE: SyncFailedError with the trace; the action stays approved.
        second = held[orphans[1]["id"]]
        server.fail_next(500, method="DELETE")
        with pytest.raises(SyncFailedError) as failed:
            prov.approvals.approve(second.id)
        assert failed.value.trace.outcome == "failed"
        assert failed.value.trace.http_status == 500
        assert prov.approvals.get(second.id).status == "approved"
        assert server.get_user(orphans[1]["id"]) is not None

        # The older entry point still works.
        third = held[orphans[2]["id"]]
        record = approve_orphan(prov, third.id, by="admin")
        assert str(record.outcome) == "deleted"
        assert server.get_user(orphans[2]["id"]) is None


# ---------------------------------------------------------------------- 6. bad source rows

CSV_HEADER = "id,username,first_name,last_name,email,is_active\n"


def csv_row(i: int) -> str:
    return f"{i},user{i}@example.org,First{i},Last{i},user{i}@example.org,true\n"


def test_reconcile_deprovisions_nothing_when_the_source_skipped_bad_rows(tmp_path):
    from scimsync._sources import CSVSource
    from scimsync._store import SQLiteStore

    path = tmp_path / "users.csv"
    path.write_text(CSV_HEADER + "".join(csv_row(i) for i in (1, 2, 3)))
    store = SQLiteStore(tmp_path / "state.db")
    with EmulatorServer("aws") as server:
        prov = make_provisioner(server, CSVSource(path), tmp_path, store=store)
        first = prov.reconcile()
        assert first.status == "complete", first.reasons
        assert first.counts == {"created": 3}, first.failures

        # User 2's row is now broken (an extra cell): the source skips it and says so.
        path.write_text(CSV_HEADER + csv_row(1) + csv_row(2).rstrip("\n") + ",extra\n" + csv_row(3))
        for mode in ("incremental", "deep"):
            src = CSVSource(path)
            prov = make_provisioner(server, src, tmp_path, store=store)
            server.reset_log()
            summary = prov.reconcile(mode=mode)
            assert len(src.problems) == 1
            assert summary.status == "partial", (mode, summary.reasons)
            assert any(
                "reported 1 problem" in r and str(src.problems[0]) in r for r in summary.reasons
            ), summary.reasons
            assert "deactivated" not in summary.counts
            assert "deleted" not in summary.counts
            assert writes(server) == [], mode  # nothing sent: user 2 stays active
            assert prov.store.get_link("aws", "user", "2").state == "active"
        assert all(u["active"] for u in server.users())


# ---------------------------------------------------------------------- 5. threshold, automatic


@pytest.mark.parametrize("threads", [True, False], ids=["workers", "drain"])
def test_deletion_threshold_trips_in_automatic_mode(tmp_path, threads):
    from scimsync._engine import Policies

    src = MutableSource([user(i) for i in range(8)])
    with EmulatorServer("aws") as server:
        prov = make_provisioner(
            server,
            src,
            tmp_path,
            policies=Policies(user_lifecycle="delete", deletion_threshold=2),
        )
        assert prov.reconcile().counts == {"created": 8}
        server.reset_log()
        # Five users deleted locally; all notified before the worker starts, so its first
        # batch run claims all five (a worker keeps claiming due rows into the same run).
        for i in range(5):
            del src.users[str(i)]
            prov.notify("user", str(i))
        dispatcher = Dispatcher(prov, workers=1, poll_interval=60)
        if threads:
            dispatcher.start()
        try:
            assert dispatcher.flush(timeout=30), prov.store.outbox_counts()
        finally:
            dispatcher.stop()
        held = prov.approvals.list()
        assert sorted((p.key, p.action) for p in held) == [
            (str(i), "delete_user") for i in range(5)
        ]
        assert writes(server) == []  # nothing deleted
        assert len(server.users()) == 8

        # Under the threshold: applied at the end of the run.
        for p in held:
            prov.approvals.reject(p.id, by="test")
        del src.users["5"], src.users["6"]
        prov.notify("user", "5")
        prov.notify("user", "6")
        assert Dispatcher(prov, workers=1).flush(timeout=30)
        assert sorted(e.method for e in writes(server)) == ["DELETE", "DELETE"]


# ---------------------------------------------------------------------- 4. desired()


def test_desired_hash_equals_the_stored_hash_after_a_push_and_sends_nothing(tmp_path):
    from scimsync._engine import Policies, Scope

    groups = [{"id": "eng", "name": "Engineering", "members": ["1", "2"]}]
    src = MutableSource([user(1), user(2), user(3)], groups)
    with EmulatorServer("aws") as server:
        prov = make_provisioner(
            server,
            src,
            tmp_path,
            policies=Policies(),
            scope=Scope(predicate=lambda u: u["id"] != "3"),
        )
        prov.sync_many("user", ["1", "2", "3"])
        prov.sync_group("eng")
        src.users["2"]["last_name"] = "Renamed"
        prov.sync_user("2")  # an update: the stored rep is the merged one
        server.reset_log()

        for kind, key in (("user", "1"), ("user", "2"), ("group", "eng")):
            d = prov.desired("aws", kind, key)
            link = prov.store.get_link("aws", kind, key)
            assert d.in_scope, d.reason
            assert d.hash == link.last_hash, (kind, key)
            assert d.rep == link.last_rep
        out = prov.desired(None, "user", "3")
        assert (out.in_scope, out.rep, out.hash) == (False, None, None)
        assert "predicate" in out.reason
        gone = prov.desired("aws", "user", "9")
        assert not gone.in_scope
        assert "not found" in gone.reason

        # A change in the source changes the hash; obj= is used instead of reading.
        changed = prov.desired("aws", "user", "1", obj={**src.users["1"], "first_name": "X"})
        assert changed.hash != prov.store.get_link("aws", "user", "1").last_hash
        src.groups["eng"]["members"].append("3")  # 3 is not linked: not a member id
        src.users["4"] = user(4)
        assert prov.desired("aws", "group", "eng").hash == (
            prov.store.get_link("aws", "group", "eng").last_hash
        )
        assert server.request_log == []  # no I/O to the target at all


def test_desired_scope_only_decides_scope_without_mapping_validating_or_the_link(tmp_path):
    from scimsync._engine import Scope
    from scimsync.errors import ValidationError
    from scimsync.testing import InMemoryStore

    class CountingStore(InMemoryStore):
        link_reads = 0

        def get_link(self, target: str, kind: str, key: str):  # type: ignore[no-untyped-def]
            CountingStore.link_reads += 1
            return super().get_link(target, kind, key)

    # user 2 cannot be mapped validly (no userName); user 3 is out of scope
    src = MutableSource([user(1), user(2, username=""), user(3)], [])
    with EmulatorServer("aws") as server:
        prov = make_provisioner(
            server,
            src,
            tmp_path,
            store=CountingStore(),
            scope=Scope(predicate=lambda u: u["id"] != "3"),
        )
        with pytest.raises(ValidationError, match="userName is required"):
            prov.desired("aws", "user", "2")
        reads = CountingStore.link_reads
        ok = prov.desired("aws", "user", "2", scope_only=True)
        assert (ok.in_scope, ok.rep, ok.hash) == (True, None, None)
        out = prov.desired("aws", "user", "3", scope_only=True)
        assert not out.in_scope
        assert "predicate" in out.reason
        assert CountingStore.link_reads == reads  # the link was not read
        full = prov.desired("aws", "user", "1")
        assert full.rep is not None
        assert full.rep["userName"] == "user1@example.org"
        assert CountingStore.link_reads == reads + 1
