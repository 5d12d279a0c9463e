"""scimsync_django end to end: a real Django project, its views, signals, commands, the
AWS emulator; SQLite here, PostgreSQL in the test marked ``services``."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import _django_project
import _django_support
import pytest
from _django_support import TOKEN_ENV, run, scimsync_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connections, transaction
from django.test import Client
from django.test.utils import override_settings
from scimsync_django import DjangoStore, get_state, record, reset_state
from scimsync_django.models import OutboxEntry

from scimsync import Policies
from scimsync.testing import EmulatorServer

aws = _django_support.aws  # the fixtures
scim = _django_support.scim
User = get_user_model()


def _keys(using: str = "default") -> list[tuple[str, str]]:
    return sorted(OutboxEntry.objects.using(using).values_list("kind", "key"))


def _new_user(name: str, using: str = "default", **extra: object) -> object:
    return User.objects.db_manager(using).create_user(
        username=f"{name}@example.com",
        email=f"{name}@example.com",
        first_name=name.title(),
        last_name="Tester",
        **extra,
    )


def _save_then_fail(name: str, using: str, seen: list[tuple[str, str]]) -> None:
    with transaction.atomic(using=using):
        _new_user(name, using=using)
        seen.extend(_keys(using))
        raise RuntimeError("rolled back")


def test_a_save_in_a_view_records_the_user_and_sends_nothing(scim: EmulatorServer) -> None:
    response = Client().post(
        "/signup/", {"email": "ada@example.com", "first": "Ada", "last": "Lovelace"}
    )
    assert response.status_code == 201
    pk = str(response.json()["id"])
    assert _keys() == [("user", pk)]
    assert scim.request_log == []  # the request made no SCIM call

    code, out, err = run("scimsync_worker", "--once")
    assert (code, err) == (0, "")
    assert "synced 1" in out
    remote = scim.find_user("ada@example.com")
    assert remote is not None
    assert remote["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert _keys() == []
    assert get_state().store.get_link("aws", "user", pk).remote_id == remote["id"]


def test_a_rolled_back_save_leaves_no_row(scim: EmulatorServer) -> None:
    response = Client().post(
        "/signup/", {"email": "bob@example.com", "first": "Bob", "last": "B", "fail": "1"}
    )
    assert response.status_code == 402
    assert not User.objects.filter(username="bob@example.com").exists()
    assert _keys() == []
    inside: list[tuple[str, str]] = []
    with pytest.raises(RuntimeError):
        _save_then_fail("carol", "default", inside)
    assert len(inside) == 1  # written inside the transaction...
    assert _keys() == []  # ...and gone with it


def test_membership_change_patches_the_group(scim: EmulatorServer) -> None:
    ada, bob = _new_user("ada"), _new_user("bob")
    eng = Group.objects.create(name="Engineering")
    ada.groups.add(eng)  # type: ignore[attr-defined]
    assert ("group", str(eng.pk)) in _keys()
    assert run("scimsync_worker", "--once")[0] == 0
    remote = scim.find_group("Engineering")
    assert remote is not None
    ada_id = scim.find_user("ada@example.com")["id"]  # type: ignore[index]
    bob_id = scim.find_user("bob@example.com")["id"]  # type: ignore[index]
    assert scim.memberships()[remote["id"]] == {ada_id}

    scim.reset_log()
    eng.user_set.add(bob)  # the reverse side: group.user_set
    ada.groups.remove(eng)  # type: ignore[attr-defined]
    assert _keys() == sorted(
        [("group", str(eng.pk)), ("user", str(ada.pk)), ("user", str(bob.pk))]  # type: ignore[attr-defined]
    )
    assert run("scimsync_worker", "--once")[0] == 0
    assert scim.memberships()[remote["id"]] == {bob_id}
    patches = scim.requests("PATCH", path_prefix=f"/Groups/{remote['id']}")
    assert patches, "membership is changed with a PATCH of the group"
    ops = [op for p in patches for op in p.body["Operations"]]  # type: ignore[index]
    assert {op["op"] for op in ops} <= {"add", "remove"}

    bob.groups.clear()  # type: ignore[attr-defined]
    assert ("group", str(eng.pk)) in _keys()
    assert run("scimsync_worker", "--once")[0] == 0
    assert scim.memberships()[remote["id"]] == set()

    eng.user_set.add(ada, bob)
    assert run("scimsync_worker", "--once")[0] == 0
    assert scim.memberships()[remote["id"]] == {ada_id, bob_id}
    eng.user_set.clear()  # the reverse clear: the group and both users are recorded
    assert _keys() == sorted(
        [("group", str(eng.pk)), ("user", str(ada.pk)), ("user", str(bob.pk))]  # type: ignore[attr-defined]
    )
    assert run("scimsync_worker", "--once")[0] == 0
    assert scim.memberships()[remote["id"]] == set()

    eng.user_set.add(ada)
    assert run("scimsync_worker", "--once")[0] == 0
    ada_key = str(ada.pk)  # type: ignore[attr-defined]
    ada.delete()  # type: ignore[attr-defined]  # her memberships vanish without m2m_changed
    assert _keys() == sorted([("group", str(eng.pk)), ("user", ada_key)])


def test_delete_deprovisions_per_policy(scim: EmulatorServer) -> None:
    ada, bob = _new_user("ada"), _new_user("bob")
    assert run("scimsync_worker", "--once")[0] == 0
    ada_key = str(ada.pk)  # type: ignore[attr-defined]
    ada.delete()  # type: ignore[attr-defined]
    assert _keys() == [("user", ada_key)]
    assert run("scimsync_worker", "--once")[0] == 0
    assert scim.find_user("ada@example.com")["active"] is False  # type: ignore[index]  # default: deactivate

    settings = scimsync_settings(scim, POLICIES=Policies(user_lifecycle="delete"))
    with override_settings(SCIMSYNC=settings):
        bob.delete()  # type: ignore[attr-defined]
        assert run("scimsync_worker", "--once")[0] == 0
    assert scim.find_user("bob@example.com") is None  # deleted on the target
    assert scim.find_user("ada@example.com") is not None


def test_last_login_only_saves_record_nothing(scim: EmulatorServer) -> None:
    ada = _new_user("ada")
    OutboxEntry.objects.all().delete()
    ada.save(update_fields=["last_login"])  # type: ignore[attr-defined]
    assert _keys() == []
    ada.last_name = "King"  # type: ignore[attr-defined]
    ada.save()  # type: ignore[attr-defined]
    assert _keys() == [("user", str(ada.pk))]  # type: ignore[attr-defined]


def test_automatic_mode_syncs_after_commit(scim: EmulatorServer) -> None:
    with override_settings(SCIMSYNC=scimsync_settings(scim, AUTOMATIC=True)):
        with transaction.atomic():
            ada = _new_user("ada")
            assert get_state().dispatcher is None  # nothing woken before the commit
        state = get_state()
        assert state.dispatcher is not None
        assert state.dispatcher.running
        assert state.flush(10)
        assert scim.find_user("ada@example.com") is not None
        ada.first_name = "Augusta"  # type: ignore[attr-defined]
        ada.save()  # type: ignore[attr-defined]
        assert state.flush(10)
        assert scim.find_user("ada@example.com")["name"]["givenName"] == "Augusta"  # type: ignore[index]
        state.stop(10)


def test_record_for_changes_signals_do_not_see(scim: EmulatorServer) -> None:
    ada = _new_user("ada")
    assert run("scimsync_worker", "--once")[0] == 0
    User.objects.filter(pk=ada.pk).update(last_name="Byron")  # type: ignore[attr-defined]
    assert _keys() == []  # QuerySet.update sends no signal...
    record("user", ada.pk)  # type: ignore[attr-defined]
    assert run("scimsync_worker", "--once")[0] == 0  # ...so the app records it itself
    assert scim.find_user("ada@example.com")["name"]["familyName"] == "Byron"  # type: ignore[index]


# --- commands ---------------------------------------------------------------------


def test_sync_command_prints_the_trace_and_exit_codes(scim: EmulatorServer) -> None:
    ada = _new_user("ada")
    code, out, err = run("scimsync_sync", "user", str(ada.pk))  # type: ignore[attr-defined]
    assert code == 0, err
    assert "created" in out
    assert scim.find_user("ada@example.com") is not None
    code, out, _ = run("scimsync_sync", "user", str(ada.pk))  # type: ignore[attr-defined]
    assert code == 0
    assert "unchanged" in out or "no change" in out.lower()

    secret = scim.token
    scim.revoke_token(secret)  # the target refuses the token: exit 3
    try:
        ada.last_name = "Changed"  # type: ignore[attr-defined]
        ada.save()  # type: ignore[attr-defined]
        code, out, err = run("scimsync_sync", "user", str(ada.pk))  # type: ignore[attr-defined]
    finally:
        scim.add_token(secret)
    assert code == 3
    assert "401" in out + err
    assert secret not in out + err


def test_commands_report_configuration_errors_with_exit_2(scim: EmulatorServer) -> None:
    with override_settings(SCIMSYNC={"TOKEN_ENV": TOKEN_ENV, "PROFILE": "aws"}):
        code, out, err = run("scimsync_status")
    assert code == 2
    assert "settings.SCIMSYNC['URL']" in err
    secret = os.environ[TOKEN_ENV]
    with override_settings(SCIMSYNC={"URL": scim.base_url, "TOKEN": secret, "PROFILE": "nope"}):
        code, out, err = run("scimsync_sync", "user", "1")
    assert code == 2
    assert "PROFILE" in err
    assert secret not in err + out


def test_status_and_reconcile_commands(scim: EmulatorServer) -> None:
    ada, _bob = _new_user("ada"), _new_user("bob")
    code, out, _ = run("scimsync_status")
    assert code == 0
    assert "outbox: 2 pending (2 due" in out
    assert "last runs: none yet" in out

    code, out, err = run("scimsync_reconcile", "--dry-run")
    assert code == 0, err
    assert scim.users() == []  # a plan only
    code, out, err = run("scimsync_reconcile")
    assert code == 0, err
    assert {u["userName"] for u in scim.users()} == {"ada@example.com", "bob@example.com"}
    code, out, err = run("scimsync_reconcile", "--deep")
    assert code == 0, err
    code, out, _ = run("scimsync_status")
    assert "deep" in out
    assert "incremental" in out

    # a dead letter makes status exit 1
    store = get_state().store
    OutboxEntry.objects.all().delete()
    store.enqueue("user", str(ada.pk))  # type: ignore[attr-defined]
    (item,) = store.claim("test", 1, 60)
    store.fail(item, "400: bad", None)
    code, out, _ = run("scimsync_status")
    assert code == 1
    assert "dead letter" in out
    assert "400: bad" in out


def test_worker_runs_until_sigterm(scim: EmulatorServer) -> None:
    _new_user("ada")
    done: list[str] = []

    def stop_when_synced() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and scim.find_user("ada@example.com") is None:
            time.sleep(0.05)
        done.append("synced")
        os.kill(os.getpid(), signal.SIGTERM)  # what systemd/docker send

    previous = signal.getsignal(signal.SIGTERM)
    stopper = threading.Thread(target=stop_when_synced)
    # The command installs its SIGTERM handler before the first sync, so the signal
    # can only arrive while it is in place.
    stopper.start()
    try:
        code, out, _ = run("scimsync_worker", "--workers", "1", "--poll-interval", "0.1")
    finally:
        stopper.join(30)
    assert done == ["synced"]
    assert code == 0
    assert "stopping" in out
    assert "synced 1" in out
    assert signal.getsignal(signal.SIGTERM) == previous  # handler restored


# --- PostgreSQL -------------------------------------------------------------------


@pytest.fixture
def pg(postgres_dsn: str) -> Iterator[str]:
    alias = _django_project.add_database(_django_project.postgres_database(postgres_dsn))
    try:
        yield alias
    finally:
        _django_project.drop_database(alias)


@pytest.mark.services
def test_postgresql_save_rollback_and_drain(scim: EmulatorServer, pg: str) -> None:
    with override_settings(SCIMSYNC=scimsync_settings(scim, DATABASE=pg)):
        state = get_state()
        assert isinstance(state.store, DjangoStore)
        assert state.store.using == pg
        inside: list[tuple[str, str]] = []
        with pytest.raises(RuntimeError):
            _save_then_fail("gone", pg, inside)
        assert len(inside) == 1
        assert _keys(pg) == []
        with transaction.atomic(using=pg):
            grace = _new_user("grace", using=pg)
            ops = Group.objects.using(pg).create(name="Operations")
            grace.groups.add(ops)  # type: ignore[attr-defined]
        assert _keys(pg) == [("group", str(ops.pk)), ("user", str(grace.pk))]  # type: ignore[attr-defined]
        assert _keys("default") == []
        code, _out, err = run("scimsync_worker", "--once")
        assert code == 0, err
        remote = scim.find_group("Operations")
        assert remote is not None
        assert scim.memberships()[remote["id"]] == {scim.find_user("grace@example.com")["id"]}  # type: ignore[index]
        assert _keys(pg) == []
        reset_state()
    connections[pg].close()
