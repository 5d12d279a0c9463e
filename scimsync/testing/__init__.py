"""scimsync's public test kit: a SCIM server emulator, an in-memory store, signal capture.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from scimsync.testing._patch import PatchError, apply_patch

__all__: list[str] = [
    "PatchError",
    "apply_patch",
]
