"""Held actions: :class:`Approvals` (``prov.approvals``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from scimsync._engine._trace import SyncTrace, failure_message
from scimsync._store import PendingAction
from scimsync.errors import ScimHTTPError, ScimSyncError, SyncFailedError

if TYPE_CHECKING:
    from scimsync._engine._core import Provisioner

__all__ = ["Approvals"]

#: Which trace operations carry out an approved action ("delete_user" -> "delete").
_APPLIED_BY: dict[str, tuple[str, ...]] = {
    "create": ("create", "recreate", "adopt"),
    "update": ("update",),
    "deactivate": ("deactivate",),
    "delete": ("delete",),
    "membership": ("update", "create", "recreate", "adopt"),
}


class Approvals:
    """Held actions: list, approve (apply now) or reject. ``prov.approvals``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, prov: Provisioner) -> None:
        self._prov = prov

    def list(
        self, *, target: str | None = None, status: str | None = "pending"
    ) -> list[PendingAction]:
        """Held actions (pending by default), oldest first."""
        return list(self._prov.store.list_pending(status=status, target=target))

    def get(self, pending_id: int) -> PendingAction:
        """One held action.

        Raises:
            KeyError: no such action.
        """
        p: PendingAction | None = self._prov.store.get_pending(pending_id)
        if p is None:
            raise KeyError(f"no pending action #{pending_id}")
        return p

    def approve(self, pending_id: int, *, by: str | None = None) -> SyncTrace:
        """Approve a held action and apply it now (re-reading the source: if the action is
        no longer wanted, nothing is sent and the action is marked rejected).

        A held orphan delete of a deep reconcile (action ``delete_orphan_user`` /
        ``delete_orphan_group``; its key is the remote id) deletes that remote object now;
        a 404 counts as done.

        Returns:
            The trace of the sync that applied it.

        Raises:
            KeyError: no such action.
            ValueError: it was already decided.
            SyncFailedError: applying it failed (the action stays ``approved``).
        """
        prov = self._prov
        p = self.get(pending_id)
        if p.status != "pending":
            raise ValueError(f"pending action #{pending_id} is already {p.status}")
        if p.action.startswith("delete_orphan_"):
            return self._approve_orphan(p, by)
        t = prov.target(p.target)
        prov.store.set_pending_status(pending_id, "approved", by)
        with prov._current_run(False) as run:
            trace = prov._sync_one(
                t,
                p.kind,
                p.key,
                run,
                dry_run=False,
                approved=frozenset({p.action}),
                bypass_threshold=True,
            )
        if not trace.ok:
            raise SyncFailedError(failure_message([trace]), trace=trace, cause=trace.error)
        if trace.operation in _APPLIED_BY.get(p.action.split("_")[0], ()) and trace.outcome in (
            "created",
            "updated",
            "adopted",
            "deactivated",
            "deleted",
        ):
            prov.store.set_pending_status(pending_id, "applied", by)
        else:
            trace.step(
                "result", True, f"pending action #{pending_id} no longer needed: marked rejected"
            )
            prov.store.set_pending_status(
                pending_id, "rejected", by or "scimsync (no longer needed)"
            )
        return trace

    def _approve_orphan(self, p: PendingAction, by: str | None) -> SyncTrace:
        """A held orphan delete (deep reconcile): ``key`` is the remote id, there is no
        local key to re-sync, so the remote object is deleted as approved."""
        from scimsync._reconcile import apply_orphan_pending

        prov = self._prov
        t = prov.target(p.target)
        rid = p.remote_id or p.key
        trace = SyncTrace(kind=p.kind, key=p.key, target=t.name, remote_id=rid)
        trace.operation = "delete"
        start = time.perf_counter()
        with t.client.recording() as exchanges:
            try:
                record = apply_orphan_pending(prov, p, by=by)
            except Exception as exc:
                trace.exchanges = list(exchanges)
                trace.duration = time.perf_counter() - start
                trace.outcome = "failed"
                trace.error = exc
                if isinstance(exc, ScimHTTPError):
                    trace.http_status = exc.status
                    trace.request_id = exc.request_id
                    trace.detail = exc.detail
                msg = str(exc) if isinstance(exc, ScimSyncError) else f"{type(exc).__name__}: {exc}"
                trace.step("action", False, msg)
                trace.step("result", False, f"failed: {msg}")
                raise SyncFailedError(failure_message([trace]), trace=trace, cause=exc) from exc
            trace.exchanges = list(exchanges)
        trace.duration = time.perf_counter() - start
        trace.outcome = "deleted"
        trace.detail = record.detail
        trace.step("action", True, f"DELETE orphan {p.kind} {rid} (pending action #{p.id})")
        trace.step("result", True, f"deleted: {record.detail}")
        return trace

    def reject(self, pending_id: int, *, by: str | None = None) -> PendingAction:
        """Reject a held action; nothing is sent. (A later sync that still wants the action
        holds it again.)"""
        p = self.get(pending_id)
        out: PendingAction = self._prov.store.set_pending_status(p.id, "rejected", by)
        return out
