"""Target profiles: the quirks of one kind of SCIM service provider, as data.

Built-ins: :data:`GENERIC` (any RFC 7643/7644 server) and :data:`AWS` (IAM Identity
Center). Add your own with ``attrs.evolve(GENERIC, name=...)`` and
:func:`register_profile`, or an entry point in the ``scimsync.profiles`` group.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from scimsync.profiles._base import (
    ConsistencyRetry,
    MissingNames,
    Profile,
    StringRule,
    _profiles,
    get_profile,
    register_profile,
)
from scimsync.profiles.aws import AWS
from scimsync.profiles.generic import GENERIC

_profiles.add_builtin("generic", GENERIC)
_profiles.add_builtin("aws", AWS)

__all__ = [
    "AWS",
    "GENERIC",
    "ConsistencyRetry",
    "MissingNames",
    "Profile",
    "StringRule",
    "get_profile",
    "register_profile",
]
