"""The state store's tables, as Django models (``scimsync_django_*``).

Times are stored as integer microseconds since the epoch (UTC), as in
:class:`scimsync.SQLiteStore`: exact on every database and independent of ``USE_TZ``.
The admin shows them as dates. Use :class:`scimsync_django.DjangoStore` to read and write
them: it keeps the store's rules (one outbox row per key, leases, allowed moves).
"""

# mypy: disallow-subclassing-any=False

from __future__ import annotations

from django.db import models

__all__ = ["Link", "OutboxEntry", "PendingApproval", "ReportEntry", "RunEntry"]


class Link(models.Model):
    """A local key linked to the remote object scimsync created or adopted."""

    id = models.BigAutoField(primary_key=True)
    target = models.CharField(max_length=200)
    kind = models.CharField(max_length=10)
    key = models.CharField(max_length=255)
    remote_id = models.CharField(max_length=255)
    last_rep = models.JSONField(null=True, blank=True)
    last_hash = models.CharField(max_length=128, null=True, blank=True)
    origin = models.CharField(max_length=20, default="created")
    state = models.CharField(max_length=20, default="active")
    display = models.TextField(null=True, blank=True)
    created_at = models.BigIntegerField()
    updated_at = models.BigIntegerField()
    deactivated_at = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "scimsync_django_link"
        verbose_name = "link"
        constraints = [
            models.UniqueConstraint(
                fields=["target", "kind", "key"], name="scimsync_django_link_key"
            ),
            models.UniqueConstraint(
                fields=["target", "kind", "remote_id"], name="scimsync_django_link_remote"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} -> {self.remote_id} ({self.target})"


class OutboxEntry(models.Model):
    """One "key K needs syncing" row (one per kind, key and target; ``''``: every target)."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=10)
    key = models.CharField(max_length=255)
    target = models.CharField(max_length=200, default="", blank=True)
    seq = models.BigIntegerField(default=1)
    attempts = models.IntegerField(default=0)
    status = models.CharField(max_length=10, default="pending")
    enqueued_at = models.BigIntegerField()
    next_attempt_at = models.BigIntegerField()
    last_error = models.TextField(null=True, blank=True)
    lease_owner = models.CharField(max_length=200, null=True, blank=True)
    lease_until = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "scimsync_django_outbox"
        verbose_name = "outbox entry"
        verbose_name_plural = "outbox"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key", "target"], name="scimsync_django_outbox_one"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="scimsync_dj_outbox_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.status})"


class ReportEntry(models.Model):
    """One report record: what happened to one object, when, with which HTTP status."""

    id = models.BigAutoField(primary_key=True)
    time = models.BigIntegerField()
    run_id = models.CharField(max_length=64, null=True, blank=True)
    target = models.CharField(max_length=200)
    kind = models.CharField(max_length=10)
    key = models.CharField(max_length=255)
    display = models.TextField(null=True, blank=True)
    operation = models.CharField(max_length=40)
    outcome = models.CharField(max_length=20)
    http_status = models.IntegerField(null=True, blank=True)
    detail = models.TextField(null=True, blank=True)
    request_id = models.CharField(max_length=200, null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "scimsync_django_report"
        verbose_name = "report"
        indexes = [
            models.Index(fields=["time"], name="scimsync_dj_report_time"),
            models.Index(fields=["kind", "key", "time"], name="scimsync_dj_report_key"),
            models.Index(fields=["run_id"], name="scimsync_dj_report_run"),
            models.Index(fields=["outcome", "time"], name="scimsync_dj_report_outcome"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.kind} {self.key}: {self.outcome}"


class RunEntry(models.Model):
    """One reconcile or import run, with totals by outcome."""

    id = models.BigAutoField(primary_key=True)
    run_id = models.CharField(max_length=64, unique=True)
    target = models.CharField(max_length=200)
    mode = models.CharField(max_length=40)
    started_at = models.BigIntegerField()
    finished_at = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20)
    counts = models.JSONField(default=dict)
    dry_run = models.BooleanField(default=False)
    error = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "scimsync_django_run"
        verbose_name = "run"
        indexes = [models.Index(fields=["started_at"], name="scimsync_dj_run_started")]

    def __str__(self) -> str:
        return f"run {self.run_id} ({self.mode}, {self.status})"


class PendingApproval(models.Model):
    """A destructive action held back until an admin approves or rejects it."""

    id = models.BigAutoField(primary_key=True)
    target = models.CharField(max_length=200)
    kind = models.CharField(max_length=10)
    key = models.CharField(max_length=255)
    remote_id = models.CharField(max_length=255, null=True, blank=True)
    action = models.CharField(max_length=40)
    reason = models.TextField(default="", blank=True)
    created_at = models.BigIntegerField()
    status = models.CharField(max_length=20, default="pending")
    decided_at = models.BigIntegerField(null=True, blank=True)
    decided_by = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        db_table = "scimsync_django_pending"
        verbose_name = "pending approval"
        constraints = [
            models.UniqueConstraint(
                fields=["target", "kind", "key", "action"],
                condition=models.Q(status="pending"),
                name="scimsync_django_pending_one",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.kind} {self.key} ({self.status})"
