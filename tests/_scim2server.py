"""A real, independent SCIM 2.0 server for integration tests: ``scim2-server`` from PyPI.

The ``scim2_server`` fixture (session scope) starts scim2-server's WSGI application with
the RFC 7643 User/Group schemas and the enterprise User extension, behind static bearer
token auth, on ``127.0.0.1`` with a free port, in a thread. It yields a
:class:`Scim2Server` with ``.base_url`` (``http://127.0.0.1:<port>/v2``) and ``.token``.

Every test shares one server (starting it costs ~0.5 s), so tests must use unique
userNames/displayNames (``unique_name()`` helps) and must not assume an empty server.
A test that needs a server of its own calls ``start_scim2_server()`` and ``.stop()``.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

__all__ = ["Scim2Server", "scim2_server", "start_scim2_server", "unique_name"]


@attrs.define
class Scim2Server:
    """A running scim2-server.

    Attributes:
        base_url: the SCIM base URL, e.g. ``http://127.0.0.1:41234/v2``.
        token: the bearer token the server accepts.
        storage: scim2-server's ``InMemoryStorage`` (for inspection in tests).
    """

    base_url: str
    token: str = attrs.field(repr=False)
    storage: Any = attrs.field(repr=False)
    _server: Any = attrs.field(repr=False)
    _thread: threading.Thread = attrs.field(repr=False)

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def start_scim2_server(token: str | None = None) -> Scim2Server:
    """Start scim2-server on 127.0.0.1:<free port> and return it (call ``.stop()``)."""
    from scim2_models import ScimProvider
    from scim2_server.memory import InMemoryStorage
    from scim2_server.service import ScimService
    from scim2_server.testserver.application import (
        BEARER_TOKEN_SCHEME,
        BearerTokenApplication,
    )
    from scim2_server.utils import (
        load_default_resource_types,
        load_default_schemas,
        load_default_service_provider_config,
    )
    from werkzeug.serving import WSGIRequestHandler, make_server

    class _QuietHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    token = token or f"s2s-{secrets.token_urlsafe(24)}"
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    # The default resource types carry the enterprise User extension.
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    try:
        service = ScimService(provider, secret=secrets.token_urlsafe(32))
    except ModuleNotFoundError:  # cursor extra absent: index pagination only
        service = None
    storage = InMemoryStorage()
    app = BearerTokenApplication(storage, provider, service=service, bearer_tokens=[token])
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="scim2-server", daemon=True)
    thread.start()
    return Scim2Server(
        base_url=f"http://127.0.0.1:{server.server_port}/v2",
        token=token,
        storage=storage,
        server=server,
        thread=thread,
    )


def unique_name(prefix: str = "u") -> str:
    """A name no other test uses on the shared server."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def scim2_server() -> Iterator[Scim2Server]:
    """The shared scim2-server instance (see module docstring)."""
    server = start_scim2_server()
    try:
        yield server
    finally:
        server.stop()
