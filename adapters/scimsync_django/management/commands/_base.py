"""Shared plumbing of the ``scimsync_*`` management commands."""

# mypy: disallow-subclassing-any=False

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from scimsync import (
    ExitCode,
    ScimSyncError,
    SyncFailedError,
    exit_code_for,
    exit_code_for_run,
    exit_code_for_trace,
)
from scimsync_django._conf import DjangoState, get_state

__all__ = ["ScimsyncCommand"]


_WHY = {
    ExitCode.PARTIAL: "some object failed (see above)",
    ExitCode.USAGE: "configuration error",
    ExitCode.CONNECTION: "the target cannot be reached or refuses the token",
    ExitCode.HELD: "changes are held for approval (see the admin's pending approvals)",
}


class ScimsyncCommand(BaseCommand):
    """A command that prints through the token redaction and exits with scimsync's codes.

    Exit codes (as the ``scimsync`` command): 0 ok, 1 some object failed, 2 configuration
    error, 3 the target cannot be reached or refuses the token, 4 held for approval.
    Success returns normally; any other outcome raises ``CommandError`` with that
    ``returncode`` (``manage.py`` prints it and exits with the code; ``call_command``
    callers catch it).
    """

    _state: DjangoState | None = None

    def state(self) -> DjangoState:
        if self._state is None:
            try:
                self._state = get_state()
            except ImproperlyConfigured as exc:
                self.fail(ExitCode.USAGE, str(exc))
        assert self._state is not None
        return self._state

    def redact(self, text: str) -> str:
        state = self._state
        return state.redact(text) if state is not None else text

    def say(self, text: str) -> None:
        self.stdout.write(self.redact(text))

    def complain(self, text: str) -> None:
        self.stderr.write(self.redact(text))

    def fail(self, code: int, message: str | None = None) -> NoReturn:
        """End the command with exit code ``code`` (not 0) and ``message``."""
        text = message if message is not None else _WHY.get(ExitCode(code), "failed")
        raise CommandError(self.redact(text), returncode=int(code))

    def finish(self, code: int, message: str | None = None) -> None:
        """Return on 0; otherwise :meth:`fail`."""
        if code != ExitCode.OK:
            self.fail(code, message)

    @contextmanager
    def errors(self) -> Iterator[None]:
        """scimsync errors become a ``CommandError`` with the documented exit code."""
        try:
            yield
        except SyncFailedError as exc:
            if exc.trace is not None:
                self.say(str(exc.trace))
            self.fail(exit_code_for(exc), str(exc))
        except ScimSyncError as exc:
            self.fail(exit_code_for(exc), str(exc))


#: The exit code of a sync trace (failed parts 1, held parts 4) and of a reconcile summary.
trace_code = exit_code_for_trace
run_code = exit_code_for_run
