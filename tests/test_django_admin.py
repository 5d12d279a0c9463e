"""The admin pages and actions, through django.test.Client logged in as a superuser."""

from __future__ import annotations

import html
import os
import re

import _django_support
import pytest
from _django_support import TOKEN_ENV, run, scimsync_settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import override_settings
from scimsync_django import get_state, suppressed
from scimsync_django.models import OutboxEntry, PendingApproval

from scimsync import Policies
from scimsync.testing import EmulatorServer

aws = _django_support.aws  # the fixtures
scim = _django_support.scim
User = get_user_model()


@pytest.fixture
def admin_client(scim: EmulatorServer) -> Client:
    with suppressed():  # the admin account itself is not provisioned in these tests
        User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    assert client.login(username="root", password="pw")
    return client


def _person(name: str) -> object:
    return User.objects.create_user(
        username=f"{name}@example.com",
        email=f"{name}@example.com",
        first_name=name.title(),
        last_name="Tester",
    )


def _messages(response: object) -> list[str]:
    """The admin's messages, as rendered on the page (<ul class="messagelist">)."""
    page = response.content.decode()  # type: ignore[attr-defined]
    block = page.split('<ul class="messagelist">', 1)[1].split("</ul>", 1)[0]
    return [html.unescape(re.sub(r"<[^>]+>", "", m)).strip() for m in block.split("</li>")[:-1]]


def test_pages_render_and_never_show_the_token(scim: EmulatorServer, admin_client: Client) -> None:
    _person("ada")
    assert (
        run("scimsync_sync", "user", str(User.objects.get(username="ada@example.com").pk))[0] == 0
    )
    for page in ("link", "reportentry", "runentry", "outboxentry", "pendingapproval"):
        response = admin_client.get(f"/admin/scimsync_django/{page}/")
        assert response.status_code == 200, page
        assert os.environ[TOKEN_ENV] not in response.content.decode()
    links = admin_client.get("/admin/scimsync_django/link/").content.decode()
    assert "ada@example.com" in links
    # read-only: no add page
    assert admin_client.get("/admin/scimsync_django/link/add/").status_code == 403


def test_sync_now_action_on_the_user_admin(scim: EmulatorServer, admin_client: Client) -> None:
    ada, bob = _person("ada"), _person("bob")
    response = admin_client.post(
        "/admin/auth/user/",
        {"action": "sync_now", "_selected_action": [ada.pk, bob.pk]},  # type: ignore[attr-defined]
        follow=True,
    )
    assert response.status_code == 200
    texts = _messages(response)
    assert any(t.startswith("Sync of ada@example.com") and "created" in t for t in texts), texts
    assert scim.find_user("bob@example.com") is not None


def test_replay_dead_letters(scim: EmulatorServer, admin_client: Client) -> None:
    ada = _person("ada")
    store = get_state().store
    OutboxEntry.objects.all().delete()
    store.enqueue("user", str(ada.pk))  # type: ignore[attr-defined]
    store.enqueue("user", "999")
    items = store.claim("test", 2, 60)
    dead = next(i for i in items if i.key == str(ada.pk))  # type: ignore[attr-defined]
    store.fail(dead, "503 then gave up", None)
    store.release(next(i for i in items if i.key == "999"))
    response = admin_client.post(
        "/admin/scimsync_django/outboxentry/",
        {"action": "replay", "_selected_action": [r.id for r in OutboxEntry.objects.all()]},
        follow=True,
    )
    texts = _messages(response)
    assert any("1 dead letter(s) replayed" in t for t in texts), texts
    assert any("not dead letters" in t for t in texts)
    assert store.outbox("dead") == []
    assert run("scimsync_worker", "--once")[0] == 0
    assert scim.find_user("ada@example.com") is not None


def test_approve_and_reject_held_deletes(scim: EmulatorServer, admin_client: Client) -> None:
    settings = scimsync_settings(
        scim, POLICIES=Policies(user_lifecycle="delete", require_approval={"delete_user"})
    )
    with override_settings(SCIMSYNC=settings):
        ada, bob = _person("ada"), _person("bob")
        assert run("scimsync_worker", "--once")[0] == 0
        ada.delete()  # type: ignore[attr-defined]
        bob.delete()  # type: ignore[attr-defined]
        code, _, _ = run("scimsync_worker", "--once")
        held = list(PendingApproval.objects.filter(status="pending").order_by("key"))
        assert [p.action for p in held] == ["delete_user", "delete_user"], code
        assert scim.find_user("ada@example.com") is not None  # nothing deleted yet
        by_user = {p.key: p for p in held}
        ada_held = next(
            p for p in held if scim.get_user(p.remote_id or "")["userName"] == "ada@example.com"
        )  # type: ignore[index]
        bob_held = next(p for p in by_user.values() if p.id != ada_held.id)

        response = admin_client.post(
            "/admin/scimsync_django/pendingapproval/",
            {"action": "approve", "_selected_action": [ada_held.id]},
            follow=True,
        )
        assert any("approved" in t for t in _messages(response)), _messages(response)
        assert scim.find_user("ada@example.com") is None  # the held delete ran
        response = admin_client.post(
            "/admin/scimsync_django/pendingapproval/",
            {"action": "reject", "_selected_action": [bob_held.id]},
            follow=True,
        )
        assert any("1 held action(s) rejected" in t for t in _messages(response))
        assert scim.find_user("bob@example.com") is not None
        statuses = dict(PendingApproval.objects.values_list("id", "status"))
        assert statuses == {ada_held.id: "applied", bob_held.id: "rejected"}
        assert PendingApproval.objects.get(id=bob_held.id).decided_by == "root"
