"""Admin pages: read-only views of the store, and the admin's actions.

* links, reports, runs: read-only lists;
* the outbox: "replay" dead letters, "discard" dead letters;
* pending approvals: "approve" (runs the held action now) and "reject";
* the user admin gets "Sync now with the SCIM target" (one sync per selected user,
  in the request: an explicit admin action, not a save).

Messages pass through the token redaction; the token is never on a page.
"""

# mypy: disallow-subclassing-any=False, disallow-untyped-decorators=False

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from scimsync import ScimSyncError

from ._conf import get_state
from ._store import from_us
from .models import Link, OutboxEntry, PendingApproval, ReportEntry, RunEntry

__all__ = ["sync_now"]


def _when(value: int | None) -> str:
    return "-" if value is None else from_us(value).strftime("%Y-%m-%d %H:%M:%S UTC")


class _ReadOnly(admin.ModelAdmin):
    """No add, no change form edits: the store's rules live in DjangoStore."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _report_error(
    modeladmin: admin.ModelAdmin, request: HttpRequest, what: str, exc: BaseException
) -> None:
    try:
        text = get_state().redact(str(exc))
    except Exception:
        text = type(exc).__name__
    modeladmin.message_user(request, f"{what}: {text}", messages.ERROR)


@admin.register(Link)
class LinkAdmin(_ReadOnly):
    list_display = ("target", "kind", "key", "remote_id", "display", "state", "origin", "updated")
    list_filter = ("target", "kind", "state", "origin")
    search_fields = ("key", "remote_id", "display")
    ordering = ("target", "kind", "key")

    @admin.display(description="updated")
    def updated(self, obj: Link) -> str:
        return _when(obj.updated_at)


@admin.register(ReportEntry)
class ReportAdmin(_ReadOnly):
    list_display = (
        "when",
        "target",
        "kind",
        "key",
        "display",
        "operation",
        "outcome",
        "http_status",
        "detail",
    )
    list_filter = ("outcome", "operation", "kind", "target")
    search_fields = ("key", "display", "run_id", "request_id")
    ordering = ("-time", "-id")

    @admin.display(description="time", ordering="time")
    def when(self, obj: ReportEntry) -> str:
        return _when(obj.time)


@admin.register(RunEntry)
class RunAdmin(_ReadOnly):
    list_display = (
        "run_id",
        "target",
        "mode",
        "dry_run",
        "status",
        "started",
        "finished",
        "counts",
    )
    list_filter = ("status", "mode", "target")
    ordering = ("-started_at", "-id")

    @admin.display(description="started", ordering="started_at")
    def started(self, obj: RunEntry) -> str:
        return _when(obj.started_at)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, obj: RunEntry) -> str:
        return _when(obj.finished_at)


@admin.register(OutboxEntry)
class OutboxAdmin(_ReadOnly):
    list_display = (
        "id",
        "kind",
        "key",
        "target",
        "status",
        "attempts",
        "enqueued",
        "next_attempt",
        "lease_owner",
        "last_error",
    )
    list_filter = ("status", "kind")
    search_fields = ("key",)
    ordering = ("id",)
    actions = ["replay", "discard"]

    @admin.display(description="since", ordering="enqueued_at")
    def enqueued(self, obj: OutboxEntry) -> str:
        return _when(obj.enqueued_at)

    @admin.display(description="next attempt", ordering="next_attempt_at")
    def next_attempt(self, obj: OutboxEntry) -> str:
        return _when(obj.next_attempt_at)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("scimsync_django.change_outboxentry"))

    def has_discard_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("scimsync_django.delete_outboxentry"))

    @admin.action(description="Replay the selected dead letters", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> None:
        ids = list(queryset.filter(status="dead").values_list("id", flat=True))
        try:
            state = get_state()
            n = state.store.replay(ids)
            d = state.dispatcher
            if d is not None:
                d.wake()
        except Exception as exc:
            _report_error(self, request, "replay failed", exc)
            return
        skipped = queryset.count() - len(ids)
        text = f"{n} dead letter(s) replayed: due now."
        if skipped:
            text += f" {skipped} selected row(s) were not dead letters and were left alone."
        self.message_user(request, text, messages.SUCCESS)

    @admin.action(description="Discard the selected dead letters", permissions=["discard"])
    def discard(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> None:
        ids = list(queryset.filter(status="dead").values_list("id", flat=True))
        try:
            n = get_state().store.discard(ids)
        except Exception as exc:
            _report_error(self, request, "discard failed", exc)
            return
        self.message_user(request, f"{n} dead letter(s) discarded.", messages.SUCCESS)


@admin.register(PendingApproval)
class PendingAdmin(_ReadOnly):
    list_display = (
        "id",
        "action",
        "kind",
        "key",
        "target",
        "remote_id",
        "status",
        "reason",
        "created",
        "decided_by",
    )
    list_filter = ("status", "action", "target")
    ordering = ("-id",)
    actions = ["approve", "reject"]

    @admin.display(description="held since", ordering="created_at")
    def created(self, obj: PendingApproval) -> str:
        return _when(obj.created_at)

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("scimsync_django.change_pendingapproval"))

    @admin.action(
        description="Approve: apply the selected held actions now", permissions=["decide"]
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[PendingApproval]) -> None:
        by = request.user.get_username()
        for held in queryset.filter(status__in=["pending", "approved"]).order_by("id"):
            try:
                trace = get_state().provisioner.approvals.approve(held.id, by=by)
            except (ScimSyncError, KeyError, ValueError) as exc:
                _report_error(
                    self, request, f"#{held.id} {held.action} {held.kind} {held.key}", exc
                )
                continue
            outcome = getattr(trace, "outcome", "done")
            self.message_user(
                request,
                f"#{held.id} {held.action} {held.kind} {held.key}: approved ({outcome}).",
                messages.SUCCESS,
            )

    @admin.action(description="Reject the selected held actions", permissions=["decide"])
    def reject(self, request: HttpRequest, queryset: QuerySet[PendingApproval]) -> None:
        by = request.user.get_username()
        n = 0
        for held in queryset.filter(status__in=["pending", "approved"]).order_by("id"):
            try:
                get_state().provisioner.approvals.reject(held.id, by=by)
            except (ScimSyncError, KeyError, ValueError) as exc:
                _report_error(self, request, f"#{held.id}", exc)
                continue
            n += 1
        self.message_user(request, f"{n} held action(s) rejected.", messages.SUCCESS)


@admin.action(description="Sync now with the SCIM target (scimsync)")
def sync_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]) -> None:
    """The user admin's action: sync each selected user now and say how it went."""
    try:
        prov = get_state().provisioner
    except Exception as exc:
        _report_error(modeladmin, request, "scimsync is not configured", exc)
        return
    for user in queryset.order_by("pk"):
        label = f"{user.get_username()} (#{user.pk})"
        try:
            trace = prov.sync_user(str(user.pk))
        except ScimSyncError as exc:
            _report_error(modeladmin, request, f"{label}: sync failed", exc)
            continue
        outcome = str(getattr(trace, "outcome", "done"))
        level = messages.ERROR if outcome == "failed" else messages.SUCCESS
        modeladmin.message_user(request, f"sync of {label}: {outcome}", level)


def _add_sync_now_to_user_admin() -> None:
    user_model = get_user_model()
    user_admin = admin.site._registry.get(user_model)
    if user_admin is None:
        return
    current = list(user_admin.actions or [])
    if sync_now not in current and "sync_now" not in current:
        user_admin.actions = [*current, sync_now]


_add_sync_now_to_user_admin()
