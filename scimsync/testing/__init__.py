"""scimsync's public test kit: a SCIM server emulator, an in-memory store, signal capture.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from scimsync.testing._emulator import EmulatorServer, RequestLogEntry, Token
from scimsync.testing._faults import FaultConfig
from scimsync.testing._patch import PatchError, apply_patch
from scimsync.testing._signals import CapturedSignal, capture_signals
from scimsync.testing._store import InMemoryStore

__all__: list[str] = [
    "CapturedSignal",
    "EmulatorServer",
    "FaultConfig",
    "InMemoryStore",
    "PatchError",
    "RequestLogEntry",
    "Token",
    "apply_patch",
    "capture_signals",
]
