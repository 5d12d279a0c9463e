"""scimsync for Flask (and Flask-Login) apps.

``ScimSync(app, source=...)`` (or ``init_app`` in an app factory) builds a
:class:`scimsync.Provisioner` from ``app.config`` (``SCIMSYNC_*`` keys), keeps it in
``app.extensions["scimsync"]``, and adds the ``flask scimsync`` commands. Your save and
delete code calls :func:`notify_user` / :func:`notify_group` (one outbox INSERT, no
network); in automatic mode a :class:`scimsync.Dispatcher` started lazily in the serving
process syncs the keys in the background. See docs/flask.md.
"""

from __future__ import annotations

try:
    import flask  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    from scimsync.errors import IntegrationError

    raise IntegrationError("scimsync_flask needs Flask: pip install 'scimsync[flask]'") from exc

from ._cli import ExitCode, exit_code_for, scimsync_cli
from ._ext import EXTENSION_KEY, ScimSync, ScimSyncState, get_state, notify_group, notify_user
from ._source import AppContextSource, CallableSource, key_of

__all__ = [
    "EXTENSION_KEY",
    "AppContextSource",
    "CallableSource",
    "ExitCode",
    "ScimSync",
    "ScimSyncState",
    "exit_code_for",
    "get_state",
    "key_of",
    "notify_group",
    "notify_user",
    "scimsync_cli",
]
