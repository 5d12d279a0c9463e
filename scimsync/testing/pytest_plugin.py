"""pytest plugin registered through the ``pytest11`` entry point (fixtures for host apps)."""

from __future__ import annotations
