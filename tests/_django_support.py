"""Fixtures shared by the tests/test_django_*.py files (the Django project is set up)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import _django_project
import pytest

_django_project.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import CommandError, call_command  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from scimsync_django import reset_state, suppressed  # noqa: E402
from scimsync_django.models import (  # noqa: E402
    Link,
    OutboxEntry,
    PendingApproval,
    ReportEntry,
    RunEntry,
)

from scimsync.testing import EmulatorServer  # noqa: E402

TOKEN_ENV = "SCIMSYNC_DJANGO_TEST_TOKEN"


def wipe(using: str = "default") -> None:
    """Empty the app's and scimsync's tables (writing no outbox rows)."""
    with suppressed():
        get_user_model().objects.using(using).all().delete()
        Group.objects.using(using).all().delete()
    for model in (Link, OutboxEntry, PendingApproval, ReportEntry, RunEntry):
        model.objects.using(using).all().delete()


def scimsync_settings(server: EmulatorServer, **extra: Any) -> dict[str, Any]:
    return {
        "URL": server.base_url,
        "TOKEN_ENV": TOKEN_ENV,
        "PROFILE": "aws",
        "TARGET": "aws",
        "DISPATCHER": {"workers": 2, "poll_interval": 0.2},
        **extra,
    }


@pytest.fixture(scope="module")
def aws() -> Iterator[EmulatorServer]:
    with EmulatorServer("aws") as server:
        yield server


@pytest.fixture
def scim(aws: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """settings.SCIMSYNC pointed at the emulator; empty tables and target."""
    monkeypatch.setenv(TOKEN_ENV, aws.token)
    aws.clear()
    aws.clear_faults()
    aws.reset_log()
    wipe()
    with override_settings(SCIMSYNC=scimsync_settings(aws)):
        yield aws
    reset_state()
    wipe()


def run(name: str, *args: str) -> tuple[int, str, str]:
    """``manage.py name args``: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except CommandError as exc:  # manage.py prints it and exits with returncode
        return exc.returncode, out.getvalue(), err.getvalue() + f"CommandError: {exc}"
    return 0, out.getvalue(), err.getvalue()
