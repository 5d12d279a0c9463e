"""scimsync's public test kit: a SCIM server emulator, an in-memory store, signal capture.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

__all__: list[str] = []
