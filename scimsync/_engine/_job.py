"""One unit of work (one object on one target) and the small helpers every flow shares."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from scimsync._engine._trace import SyncTrace

if TYPE_CHECKING:
    from scimsync._engine._config import Target
    from scimsync._engine._run import ReportBuffer, RunContext

__all__ = ["Job", "Stop", "project", "strip_server_fields"]

#: Attributes a server adds that are never part of a rep we push.
SERVER_FIELDS = frozenset({"id", "meta"})


class Stop(Exception):
    """Raised inside a flow once the job has its outcome."""


@attrs.define(eq=False)
class Job:
    """The state of one sync of one object on one target."""

    target: Target
    kind: str
    key: str
    run: RunContext
    trace: SyncTrace
    dry_run: bool
    approved: frozenset[str] = frozenset()
    bypass_threshold: bool = False
    started: float = attrs.field(factory=time.perf_counter)
    deferred: bool = False
    recorded: bool = False
    #: a bulk batch's report buffer (``None``: the record is stored at once).
    reports: ReportBuffer | None = None
    #: user keys to sync after this (group) job: their scope may have changed.
    followups: list[str] = attrs.field(factory=list)

    @property
    def label(self) -> str:
        """``"user 42"``."""
        return f"{self.kind} {self.key}"

    def done(
        self,
        outcome: str,
        operation: str,
        message: str,
        *,
        ok: bool = True,
        remote_id: str | None = None,
    ) -> None:
        """Set the job's outcome, add the ``result`` step and stop the flow."""
        self.trace.outcome = outcome
        self.trace.operation = operation
        if remote_id is not None:
            self.trace.remote_id = remote_id
        self.trace.detail = message
        prefix = "would be " if self.dry_run and outcome not in ("unchanged", "failed") else ""
        self.trace.step("result", ok, f"{prefix}{outcome}: {message}")
        raise Stop


def strip_server_fields(rep: Mapping[str, Any]) -> dict[str, Any]:
    """A server rep without ``id``/``meta``."""
    return {k: v for k, v in rep.items() if k not in SERVER_FIELDS}


def project(remote: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """``remote`` restricted to what ``desired`` manages (sub-attributes of complex values
    too), so adopting an object never removes attributes the mapping does not own."""
    out: dict[str, Any] = {}
    for k, want in desired.items():
        if k == "schemas":
            out[k] = list(want)
            continue
        if k not in remote:
            continue
        have = remote[k]
        if isinstance(want, Mapping) and isinstance(have, Mapping):
            sub = project(have, want)
            if sub:
                out[k] = sub
        else:
            out[k] = have
    return out
