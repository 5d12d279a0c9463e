"""JSON-able summaries of a :class:`~scimsync.SyncTrace` and a :class:`~scimsync.RunSummary`.

Task results travel through the result backend as JSON, so the tasks return plain dicts,
lists, strings and numbers. Neither holds the bearer token: traces keep no headers.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from scimsync import RunSummary, SyncTrace

__all__ = ["jsonable", "run_summary", "trace_summary"]

#: At most this many planned actions are listed in a run summary (the counts are complete).
MAX_ACTIONS = 200


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (datetimes as ISO strings, anything odd as ``str``)."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(str(v) for v in value)
    return str(value)


def _iso(value: _dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _exchange_line(ex: Any) -> str:
    method = getattr(ex, "method", "?")
    path = getattr(ex, "path", "?")
    query = getattr(ex, "query", "")
    if query:
        path = f"{path}?{query}"
    text = f"{method} {path} -> {getattr(ex, 'status', None)}"
    rid = getattr(ex, "request_id", None)
    if rid:
        text += f" [request id {rid}]"
    return text


def trace_summary(trace: SyncTrace) -> dict[str, Any]:
    """What one sync did, as JSON-able data.

    Keys: ``kind, key, target, ok, outcome, operation, remote_id, display, duration,
    dry_run, http_status, detail, request_id, error`` (the failure's text or ``None``),
    ``steps`` (``[{name, ok, message, data}]``), ``requests`` (one line per SCIM
    request: ``"POST /Users -> 201"``), ``text`` (the readable report, as
    ``str(trace)`` prints it without the request bodies) and ``parts`` (one summary per
    target when several were synced).
    """
    error = trace.error
    return {
        "kind": trace.kind,
        "key": trace.key,
        "target": trace.target,
        "ok": trace.ok,
        "outcome": str(trace.outcome),
        "operation": trace.operation,
        "remote_id": trace.remote_id,
        "display": trace.display,
        "duration": trace.duration,
        "dry_run": trace.dry_run,
        "http_status": trace.http_status,
        "detail": trace.detail,
        "request_id": trace.request_id,
        "error": None if error is None else f"{type(error).__name__}: {error}",
        "steps": [
            {"name": s.name, "ok": s.ok, "message": s.message, "data": jsonable(s.data)}
            for s in trace.steps
        ],
        "requests": [_exchange_line(ex) for ex in trace.exchanges],
        "text": trace.format(exchanges=False),
        "parts": [trace_summary(p) for p in trace.parts],
    }


def run_summary(summary: RunSummary) -> dict[str, Any]:
    """One reconcile run, as JSON-able data.

    Keys: ``skipped`` (``False``), ``target, mode, status, dry_run, run_id, counts,
    reasons, started_at, finished_at`` (ISO 8601, UTC), ``duration, requests, failures,
    threshold_tripped, orphans`` (how many), ``plan`` (actions by name), ``actions``
    (the first 200 actions: ``[{kind, action, key, remote_id, display, reason, orphan}]``),
    ``actions_total`` and ``text`` (``str(summary)``).
    """
    actions = list(summary.plan) if summary.plan is not None else []
    return {
        "skipped": False,
        "target": summary.target,
        "mode": summary.mode,
        "status": summary.status,
        "dry_run": summary.dry_run,
        "run_id": summary.run_id,
        "counts": dict(summary.counts),
        "reasons": list(summary.reasons),
        "started_at": _iso(summary.started_at),
        "finished_at": _iso(summary.finished_at),
        "duration": summary.duration,
        "requests": summary.requests,
        "failures": list(summary.failures),
        "threshold_tripped": summary.threshold_tripped,
        "orphans": len(summary.orphans),
        "plan": summary.plan.counts() if summary.plan is not None else {},
        "actions": [
            {
                "kind": a.kind,
                "action": a.action,
                "key": a.key,
                "remote_id": a.remote_id,
                "display": a.display,
                "reason": a.reason,
                "orphan": a.orphan,
            }
            for a in actions[:MAX_ACTIONS]
        ],
        "actions_total": len(actions),
        "text": summary.format(),
    }
