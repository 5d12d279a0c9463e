"""settings.SCIMSYNC: errors name the key and never show the token; hooks; the source."""

from __future__ import annotations

import logging
import os

import _django_support
import pytest
from _django_support import TOKEN_ENV, run, scimsync_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings
from scimsync_django import DjangoSource, ScimsyncImproperlyConfigured, get_state, get_store
from scimsync_django._conf import check_settings

from scimsync import ConfigurationError, ExitCode, Scope, UserMapping, exit_code_for
from scimsync.testing import EmulatorServer

aws = _django_support.aws  # the fixtures
scim = _django_support.scim
User = get_user_model()
SECRET = "s3cr3t-TOKEN-value-0123456789"


def _error(cfg: dict[str, object]) -> ScimsyncImproperlyConfigured:
    with override_settings(SCIMSYNC=cfg), pytest.raises(ScimsyncImproperlyConfigured) as info:
        get_state()
    return info.value


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"TOKEN": SECRET}, "URL"),
        ({"URL": "ftp://x", "TOKEN": SECRET}, "URL"),
        ({"URL": "https://scim.example.com/v2"}, "TOKEN_ENV"),
        ({"URL": "https://scim.example.com/v2", "TOKEN": SECRET, "TOKEN_ENV": "X"}, "TOKEN"),
        ({"URL": "https://scim.example.com/v2", "TOKEN_ENV": "NOT_SET_ANYWHERE_42"}, "TOKEN_ENV"),
        ({"URL": "https://scim.example.com/v2", "TOKEN": f" {SECRET}"}, "TOKEN"),
        ({"URL": "https://scim.example.com/v2", "TOKEN": SECRET, "PROFILE": "nope"}, "PROFILE"),
        ({"URL": "https://scim.example.com/v2", "TOKEN": SECRET, "AUTOMATIC": "yes"}, "AUTOMATIC"),
        ({"URL": "https://scim.example.com/v2", "TOKEN": SECRET, "DATABASE": "other"}, "DATABASE"),
        (
            {"URL": "https://scim.example.com/v2", "TOKEN": SECRET, "SCOPE": "no.such.thing"},
            "SCOPE",
        ),
        (
            {"URL": "https://scim.example.com/v2", "TOKEN": SECRET, "USER_MAPPING": 42},
            "USER_MAPPING",
        ),
        (
            {"URL": "https://scim.example.com/v2", "TOKEN": SECRET, "DISPATCHER": {"wrkers": 2}},
            "DISPATCHER",
        ),
        ({"URL": "https://scim.example.com/v2", "TOKEN": SECRET, "TIMEOUT": 0}, "TIMEOUT"),
        ({"URL": "https://scim.example.com/v2", "TOKEN": SECRET, "TOKN": "x"}, "TOKN"),
    ],
)
def test_errors_name_the_key_and_hide_the_token(cfg: dict[str, object], key: str) -> None:
    exc = _error(cfg)
    assert f"settings.SCIMSYNC[{key!r}]" in str(exc)
    assert SECRET not in str(exc)
    assert SECRET not in repr(exc)
    assert isinstance(exc, ImproperlyConfigured)
    assert isinstance(exc, ConfigurationError)
    assert exit_code_for(exc) == ExitCode.USAGE


def test_a_pasted_token_in_the_wrong_key_is_not_echoed() -> None:
    exc = _error({"URL": SECRET, "TOKEN": "abcd"})
    assert "URL" in str(exc)
    assert SECRET not in str(exc)


def test_state_repr_and_logs_never_show_the_token(
    scim: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    state = get_state()
    token = os.environ[TOKEN_ENV]
    assert token not in repr(state)
    assert token not in repr(state.provisioner)
    assert state.redact(f"Bearer {token}") == "Bearer [REDACTED]"
    User.objects.create_user("ada@example.com", "ada@example.com", first_name="A", last_name="B")
    assert run("scimsync_worker", "--once")[0] == 0
    assert token not in caplog.text


def _domain_only(user: object) -> bool:
    return str(getattr(user, "email", "")).endswith("@example.com")


def _mapping() -> UserMapping:
    return UserMapping(
        {
            "userName": "email",
            "name.givenName": "first_name",
            "name.familyName": "last_name",
            "displayName": "username",
            "active": "is_active",
        }
    )


def test_hooks_as_callables_and_dotted_paths(scim: EmulatorServer) -> None:
    cfg = scimsync_settings(
        scim, SCOPE=f"{__name__}._domain_only", USER_MAPPING=_mapping, SOURCE=DjangoSource
    )
    with override_settings(SCIMSYNC=cfg):
        target = get_state().provisioner.target("aws")
        assert target.scope.predicate is _domain_only
        User.objects.create_user("ada", "ada@example.com", first_name="Ada", last_name="L")
        User.objects.create_user("eve", "eve@elsewhere.test", first_name="Eve", last_name="X")
        assert run("scimsync_worker", "--once")[0] == 0
        assert [u["userName"] for u in scim.users()] == ["ada@example.com"]  # in scope only
        assert scim.users()[0]["displayName"] == "ada"  # the mapping from the factory
    with override_settings(
        SCIMSYNC=scimsync_settings(scim, SCOPE=Scope(allowed_email_domains=["x.test"]))
    ):
        assert get_state().provisioner.target("aws").scope.allowed_email_domains == {"x.test"}


def test_system_check(scim: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_settings() == []
    with override_settings(SCIMSYNC=None):
        assert [m.id for m in check_settings()] == ["scimsync.W001"]
    with override_settings(SCIMSYNC={"URL": "nope", "TOKEN": SECRET}):
        (msg,) = check_settings()
        assert msg.id == "scimsync.E001"
        assert "URL" in msg.msg
        assert SECRET not in msg.msg
    monkeypatch.delenv(TOKEN_ENV)
    assert [m.id for m in check_settings()] == ["scimsync.W002"]  # e.g. a build step


def test_source_keys_members_and_custom_querysets(scim: EmulatorServer) -> None:
    ada = User.objects.create_user("ada", "ada@example.com")
    bob = User.objects.create_user("bob", "bob@example.com", is_staff=True)
    eng = Group.objects.create(name="Engineering")
    eng.user_set.add(ada, bob)
    source = DjangoSource()
    assert list(source.iter_user_keys()) == [str(ada.pk), str(bob.pk)]
    assert source.get_user(str(ada.pk)) == ada
    assert source.get_user("not-a-number") is None
    assert source.get_user("999999") is None
    assert list(source.iter_group_keys()) == [str(eng.pk)]
    assert source.get_group(str(eng.pk)).name == "Engineering"
    assert source.group_member_keys(str(eng.pk)) == [str(ada.pk), str(bob.pk)]

    staff = DjangoSource(users=User.objects.filter(is_staff=True), groups=False)
    assert list(staff.iter_user_keys()) == [str(bob.pk)]
    assert staff.get_user(str(ada.pk)) is None  # outside the queryset: "deleted"
    assert list(staff.iter_group_keys()) == []
    assert staff.get_group(str(eng.pk)) is None


@pytest.mark.parametrize(
    "cfg",
    [
        {"URL": "https://scim.example.com/v2", "TOKEN_ENV": "Tok3nValueAbc123def456"},
        {"URL": "https://scim.example.com/v2", "TOKEN": "abcd", "SCOPE": f"{'x' * 60}.{'y' * 60}"},
    ],
)
def test_a_token_pasted_into_another_key_is_not_echoed(cfg: dict[str, object]) -> None:
    exc = _error(cfg)
    for value in cfg.values():
        if value not in ("https://scim.example.com/v2", "abcd"):
            assert str(value) not in str(exc)
    assert "not shown" in str(exc)


def test_saves_never_fail_on_sync_settings(
    scim: EmulatorServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The web process may lack the token (only workers have it) or carry a typo."""
    monkeypatch.delenv(TOKEN_ENV)
    caplog.set_level(logging.WARNING, logger="scimsync")
    with override_settings(SCIMSYNC={**scimsync_settings(scim), "TYPO": 1}):
        User.objects.create_user("ada", "ada@example.com")
        assert [i.kind for i in get_store().outbox()] == ["user"]
        with pytest.raises(ScimsyncImproperlyConfigured, match="TYPO"):
            get_state()  # the commands and workers do refuse it
    assert caplog.records == []
