"""scimsync for Django: ``INSTALLED_APPS += ["scimsync_django"]``.

* models and a migration for the state store (links, outbox, reports, runs, pending
  approvals) and :class:`DjangoStore`, a :class:`scimsync.StateStore` on the ORM;
* signal handlers: saving or deleting a user or group, or changing ``user.groups``,
  writes an outbox row in the same transaction; ``transaction.on_commit`` wakes the
  dispatcher (never a network call in the request);
* :class:`DjangoSource` over ``django.contrib.auth`` (keys are primary keys as text);
* ``manage.py scimsync_sync | scimsync_reconcile | scimsync_worker | scimsync_status``;
* admin pages: links, reports, runs, the outbox (replay dead letters), pending
  approvals (approve / reject), and a "sync now" action on the user admin.

Configured by ``settings.SCIMSYNC``; see docs/django.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import django  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    from scimsync.errors import IntegrationError

    raise IntegrationError("scimsync_django needs Django: pip install 'scimsync[django]'") from exc

from scimsync import ExitCode, exit_code_for

if TYPE_CHECKING:
    from ._conf import DjangoState, ScimsyncImproperlyConfigured, get_state, get_store, reset_state
    from ._signals import record, suppressed
    from ._source import DjangoSource
    from ._store import DjangoStore

__all__ = [
    "DjangoSource",
    "DjangoState",
    "DjangoStore",
    "ExitCode",
    "ScimsyncImproperlyConfigured",
    "exit_code_for",
    "get_provisioner",
    "get_state",
    "get_store",
    "record",
    "reset_state",
    "suppressed",
]

# Imported on first use: the models need the app registry, which imports this package.
_LAZY = {
    "DjangoSource": "._source",
    "DjangoStore": "._store",
    "DjangoState": "._conf",
    "ScimsyncImproperlyConfigured": "._conf",
    "get_state": "._conf",
    "get_store": "._conf",
    "reset_state": "._conf",
    "record": "._signals",
    "suppressed": "._signals",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scimsync_django' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def get_provisioner() -> Any:
    """This process's :class:`scimsync.Provisioner`, built from ``settings.SCIMSYNC``."""
    from ._conf import get_state

    return get_state().provisioner
