"""The ``scimsync`` command's exit codes, shared with the framework adapters' commands."""

from __future__ import annotations

import enum

from scimsync.errors import (
    ConfigurationError,
    ConnectionFailedError,
    ForbiddenError,
    NotFoundError,
    SyncFailedError,
    TransientError,
    UnauthorizedError,
)

__all__ = ["ExitCode", "exit_code_for"]


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
