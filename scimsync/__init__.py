"""scimsync: keep a SCIM 2.0 service provider in step with your application's users and groups.

The public API is what this module exports (``__all__``); modules whose names start with
an underscore are private. Exceptions live in :mod:`scimsync.errors`, signals in
:mod:`scimsync.signals`, the test kit in :mod:`scimsync.testing`.
"""

from __future__ import annotations

from scimsync._version import __version__
from scimsync.errors import (
    ConfigurationError,
    ConflictError,
    ConnectionFailedError,
    ForbiddenError,
    MalformedResponseError,
    NotFoundError,
    Problem,
    RateLimitedError,
    RequestRejectedError,
    ScimHTTPError,
    ScimSyncError,
    ServerError,
    SyncFailedError,
    TransientError,
    UnauthorizedError,
    ValidationError,
)

# --- each part adds its own import block below; keep __all__ sorted ---

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "ConnectionFailedError",
    "ForbiddenError",
    "MalformedResponseError",
    "NotFoundError",
    "Problem",
    "RateLimitedError",
    "RequestRejectedError",
    "ScimHTTPError",
    "ScimSyncError",
    "ServerError",
    "SyncFailedError",
    "TransientError",
    "UnauthorizedError",
    "ValidationError",
    "__version__",
]
