"""The provisioning engine: :class:`Provisioner` and its configuration, manual-mode traces.

Private package; the public names are re-exported from :mod:`scimsync`.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from scimsync._engine._approvals import Approvals
from scimsync._engine._config import (
    APPROVABLE_OPERATIONS,
    GROUP_LIFECYCLES,
    USER_LIFECYCLES,
    Policies,
    Scope,
    Target,
    Toggles,
)
from scimsync._engine._core import Provisioner
from scimsync._engine._desired import Desired
from scimsync._engine._run import RemoteIndex, RunContext
from scimsync._engine._trace import SyncTrace, TraceStep

__all__ = [
    "APPROVABLE_OPERATIONS",
    "GROUP_LIFECYCLES",
    "USER_LIFECYCLES",
    "Approvals",
    "Desired",
    "Policies",
    "Provisioner",
    "RemoteIndex",
    "RunContext",
    "Scope",
    "SyncTrace",
    "Target",
    "Toggles",
    "TraceStep",
]
