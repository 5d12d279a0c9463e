"""Manual mode's step-by-step record: :class:`SyncTrace` and :class:`TraceStep`."""

from __future__ import annotations

import json
from typing import Any

import attrs

from scimsync.errors import ScimSyncError

__all__ = ["STEP_NAMES", "SyncTrace", "TraceStep", "failure_message"]

#: The step names a trace uses, in the order they normally appear.
STEP_NAMES = ("scope", "build", "validate", "match", "diff", "action", "result")


@attrs.define
class TraceStep:
    """One step of a sync, as shown by provision-on-demand.

    Attributes:
        name: one of ``"scope"``, ``"build"``, ``"validate"``, ``"match"``, ``"diff"``,
            ``"action"``, ``"result"``.
        ok: whether the step succeeded (a scope decision of "out of scope" is still ok).
        message: one human sentence.
        data: details (the built representation, the PATCH operations, the match hit).

    .. versionadded:: 0.1.0
    """

    name: str
    ok: bool
    message: str
    data: Any = None


def _short_json(value: Any, limit: int = 2000) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


@attrs.define
class SyncTrace:
    """What one ``sync_user``/``sync_group`` did on one target, step by step.

    ``str(trace)`` (or :meth:`format`) prints a readable report, like Entra's
    provision-on-demand. A trace never contains the bearer token: exchanges are the
    client's :class:`~scimsync.Exchange` records, which hold no headers.

    Attributes:
        kind: ``"user"`` or ``"group"``.
        key: the local key.
        target: the target name (``"*"`` for a multi-target trace with ``parts``).
        steps: the :class:`TraceStep` list, in order.
        exchanges: the SCIM requests and responses sent for this object.
        outcome: the :class:`~scimsync.Outcome` value (``"created"``, ``"failed"``...).
        operation: what was (or would be) done: ``"create"``, ``"adopt"``, ``"update"``,
            ``"recreate"``, ``"deactivate"``, ``"delete"``, ``"none"``...
        remote_id: the remote SCIM id, when known.
        display: userName or displayName.
        duration: seconds spent.
        dry_run: whether this was a dry run (nothing but GETs sent, nothing recorded).
        error: the exception, when the outcome is ``"failed"``.
        parts: per-target traces when several targets were synced at once.

    .. versionadded:: 0.1.0
    """

    kind: str
    key: str
    target: str
    steps: list[TraceStep] = attrs.field(factory=list)
    exchanges: list[Any] = attrs.field(factory=list, repr=False)
    outcome: str = "unchanged"
    operation: str = "none"
    remote_id: str | None = None
    display: str | None = None
    duration: float = 0.0
    dry_run: bool = False
    error: BaseException | None = attrs.field(default=None, repr=False)
    parts: list[SyncTrace] = attrs.field(factory=list, repr=False)
    #: ReportRecord fields collected along the way (status, detail, request id).
    http_status: int | None = attrs.field(default=None, repr=False)
    detail: str | None = attrs.field(default=None, repr=False)
    request_id: str | None = attrs.field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the sync succeeded (every part, for a multi-target trace)."""
        if self.parts:
            return all(p.ok for p in self.parts)
        return self.outcome != "failed"

    def step(self, name: str, ok: bool, message: str, data: Any = None) -> TraceStep:
        """Append a step and return it."""
        s = TraceStep(name=name, ok=ok, message=message, data=data)
        self.steps.append(s)
        return s

    def format(self, *, exchanges: bool = True) -> str:
        """A readable step-by-step report.

        Args:
            exchanges: include each SCIM request and response.
        """
        if self.parts:
            return "\n\n".join(p.format(exchanges=exchanges) for p in self.parts)
        head = f"{self.kind} {self.key}"
        if self.display:
            head += f" ({self.display})"
        head += f" -> target {self.target}"
        if self.dry_run:
            head += " [dry run]"
        lines = [head]
        for i, s in enumerate(self.steps, 1):
            mark = "ok  " if s.ok else "FAIL"
            lines.append(f"  {i}. [{mark}] {s.name}: {s.message}")
            if s.data is not None and s.name in ("build", "diff", "match"):
                lines.append(f"         {_short_json(s.data, 600)}")
        if exchanges and self.exchanges:
            lines.append("  SCIM exchanges:")
            for ex in self.exchanges:
                lines.append(f"    {_exchange_line(ex)}")
                body = getattr(ex, "request_body", None)
                if body is not None:
                    lines.append(f"      > {_short_json(body, 600)}")
                rbody = getattr(ex, "response_body", None)
                if rbody is not None:
                    lines.append(f"      < {_short_json(rbody, 600)}")
        tail = f"  outcome: {self.outcome} (operation {self.operation})"
        if self.remote_id:
            tail += f", remote id {self.remote_id}"
        tail += f", {self.duration * 1000:.0f} ms"
        lines.append(tail)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _exchange_line(ex: Any) -> str:
    method = getattr(ex, "method", "?")
    path = getattr(ex, "path", "?")
    query = getattr(ex, "query", None)
    if query:
        if isinstance(query, dict):
            query = "&".join(f"{k}={v}" for k, v in query.items())
        path = f"{path}?{query}"
    status = getattr(ex, "status", None)
    text = f"{method} {path} -> {status}"
    rid = getattr(ex, "request_id", None)
    if rid:
        text += f" [request id {rid}]"
    return text


def failure_message(failed: list[SyncTrace]) -> str:
    """The :class:`~scimsync.errors.SyncFailedError` message for failed traces: key,
    target, then the attribute or HTTP status, server detail and request id."""
    parts = []
    for tr in failed:
        err = tr.error
        text = f"{tr.kind} {tr.key} on target {tr.target}: "
        if isinstance(err, ScimSyncError):
            text += str(err)
        elif err is not None:
            text += f"{type(err).__name__}: {err}"
        else:
            text += "failed"
        parts.append(text)
    return "; ".join(parts)
