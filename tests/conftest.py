"""Shared pytest configuration for scimsync's own tests."""

from __future__ import annotations

import os

import pytest

# The shared scim2-server fixture (`scim2_server`): tests/ is on sys.path (rootdir conftest).
from _scim2server import scim2_server  # noqa: F401

# PostgreSQL and Redis fixtures (postgres_dsn, postgres_url, redis_url, redis_prefix).
from _services import postgres_dsn, postgres_url, redis_prefix, redis_url  # noqa: F401

#: When set (CI sets it), a test that skips because PostgreSQL/Redis/etc. are missing fails.
REQUIRE_SERVICES = os.environ.get("SCIMSYNC_REQUIRE_SERVICES") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and item.get_closest_marker("services") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"service-dependent test skipped in CI (SCIMSYNC_REQUIRE_SERVICES=1): {reason}"
        )
