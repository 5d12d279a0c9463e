"""The ``scimsync`` command's exit codes, shared with the framework adapters' commands."""

from __future__ import annotations

import enum
from typing import Any

from scimsync.errors import (
    ConfigurationError,
    ConnectionFailedError,
    ForbiddenError,
    NotFoundError,
    SyncFailedError,
    TransientError,
    UnauthorizedError,
)

__all__ = ["ExitCode", "exit_code_for", "exit_code_for_run", "exit_code_for_trace"]


class ExitCode(enum.IntEnum):
    """The ``scimsync`` command's exit codes (scripts may rely on them).

    .. versionadded:: 0.1.0
    """

    #: Everything asked for was done (or there was nothing to do).
    OK = 0
    #: The command ran, but at least one object failed.
    PARTIAL = 1
    #: Bad command line or configuration; nothing was sent.
    USAGE = 2
    #: The target could not be reached, or refused the token.
    CONNECTION = 3
    #: Changes were held for approval, or the deletion threshold tripped.
    HELD = 4
    #: Interrupted by Ctrl-C / SIGINT.
    INTERRUPTED = 130


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code an exception means (see :class:`ExitCode`)."""
    if isinstance(exc, SyncFailedError) and exc.cause is not None:
        return exit_code_for(exc.cause)
    if isinstance(exc, ConfigurationError):
        return ExitCode.USAGE
    if isinstance(exc, (UnauthorizedError, ForbiddenError, ConnectionFailedError, TransientError)):
        return ExitCode.CONNECTION
    if isinstance(exc, NotFoundError) and exc.detail and "TENANT" in exc.detail:
        return ExitCode.CONNECTION
    return ExitCode.PARTIAL


def exit_code_for_run(summary: Any) -> ExitCode:
    """The exit code a :class:`~scimsync.RunSummary` (or a plan's summary) means.

    1 when the run failed, was partial, or any object failed (or, in a plan, would fail);
    4 when deletes were held (threshold) or actions wait for approval; else 0.
    """
    counts = dict(getattr(summary, "counts", {}) or {})
    plan = getattr(summary, "plan", None)
    planned = plan.counts() if (plan is not None and getattr(summary, "dry_run", False)) else {}
    if (
        getattr(summary, "status", "complete") != "complete"
        or counts.get("failed")
        or planned.get("fail")
    ):
        return ExitCode.PARTIAL
    if getattr(summary, "threshold_tripped", False) or counts.get("held") or planned.get("hold"):
        return ExitCode.HELD
    return ExitCode.OK


def exit_code_for_trace(trace: Any) -> ExitCode:
    """The exit code a :class:`~scimsync.SyncTrace` means (a multi-target trace: its
    parts): 1 when any part failed, 4 when any was held for approval, else 0."""
    outcomes = {str(getattr(trace, "outcome", ""))}
    outcomes |= {str(getattr(p, "outcome", "")) for p in getattr(trace, "parts", None) or []}
    if "failed" in outcomes:
        return ExitCode.PARTIAL
    if "held" in outcomes:
        return ExitCode.HELD
    return ExitCode.OK
