"""Helpers for the scimsync_celery tests (test_celery_*.py)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def logging_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo what an embedded Celery worker's logging setup does to the process (root
    handlers and levels, ``logging.captureWarnings``, ``CELERY_LOG_*`` variables)."""
    for name in ("CELERY_LOG_LEVEL", "CELERY_LOG_FILE"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    names = list(logging.root.manager.loggerDict)
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in names)]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for lg, level, handlers, propagate, disabled in saved:
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate, lg.disabled = propagate, disabled
