"""pytest plugin registered through the ``pytest11`` entry point (fixtures for host apps).

Fixtures (function-scoped; each test gets a fresh, empty, started server):

* ``scim_server``: an :class:`~scimsync.testing.EmulatorServer` with the ``generic``
  (RFC 7643/7644) profile.
* ``aws_scim_server``: the same with the ``aws`` (IAM Identity Center) profile.

Both expose ``.base_url`` and ``.token`` (and ``.auth_headers()``); see docs/testing.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scimsync.testing._emulator import EmulatorServer

__all__ = ["aws_scim_server", "scim_server"]


@pytest.fixture
def scim_server() -> Iterator[EmulatorServer]:
    """A started generic (RFC 7643/7644) SCIM emulator with one bearer token."""
    with EmulatorServer("generic") as server:
        yield server


@pytest.fixture
def aws_scim_server() -> Iterator[EmulatorServer]:
    """A started AWS IAM Identity Center SCIM emulator with one bearer token."""
    with EmulatorServer("aws") as server:
        yield server
