"""``beat_schedule()``: Celery beat entries for the periodic drain and reconcile runs."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from celery.schedules import crontab

from scimsync import ConfigurationError

__all__ = ["beat_schedule", "parse_cron"]


def parse_cron(expr: str) -> Any:
    """A five-field cron expression (``"0 3 * * *"``) as a :class:`celery.schedules.crontab`.

    Fields: minute, hour, day of month, month, day of week; evaluated in the Celery app's
    timezone (``timezone`` setting, UTC by default).
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigurationError(
            f"cron expression {expr!r}: expected 5 fields (minute hour day month weekday)"
        )
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
        )
    except ValueError as exc:
        raise ConfigurationError(f"cron expression {expr!r}: {exc}") from None


def _seconds(name: str, value: float | _dt.timedelta) -> float:
    seconds = value.total_seconds() if isinstance(value, _dt.timedelta) else float(value)
    if seconds <= 0:
        raise ConfigurationError(f"beat_schedule({name}={value!r}) must be positive")
    return seconds


def beat_schedule(
    prefix: str = "scimsync",
    *,
    drain_every: float | _dt.timedelta | None = 60.0,
    incremental_every: float | _dt.timedelta | None = _dt.timedelta(minutes=15),
    deep: str | Any | None = "0 3 * * *",
    targets: Sequence[str | None] = (None,),
    orphans: str | None = None,
    queue: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Celery beat entries for scimsync's tasks; merge them into ``app.conf.beat_schedule``.

    Args:
        prefix: the task name prefix given to :func:`~scimsync_celery.register`.
        drain_every: the safety-net drain of the outbox (seconds or a ``timedelta``;
            ``None``: no entry). A drain task that waited longer than this in the queue
            expires instead of piling up while the workers are down.
        incremental_every: an incremental reconcile this often (``None``: no entry).
        deep: a deep reconcile on this schedule: a cron expression (UTC by default,
            the Celery app's ``timezone``), a :class:`celery.schedules.crontab`, or
            ``None`` for no entry.
        targets: one pair of reconcile entries per target name (``None``: the
            provisioner's only target).
        orphans: the orphan action for the deep runs (``"ignore"``, ``"report"``,
            ``"deactivate"``, ``"delete"``; ``None``: the default, ignore).
        queue: send the tasks to this queue (default: the task's own routing).

    Returns:
        ``{entry_name: {"task": ..., "schedule": ..., "kwargs": ..., "options": ...}}``.
    """
    base_options: dict[str, Any] = {} if queue is None else {"queue": queue}
    entries: dict[str, dict[str, Any]] = {}
    if drain_every is not None:
        every = _seconds("drain_every", drain_every)
        entries[f"{prefix}-drain"] = {
            "task": f"{prefix}.drain",
            "schedule": every,
            "options": {**base_options, "expires": every},
        }
    if not targets:
        raise ConfigurationError("beat_schedule(targets=...) needs at least one entry")
    for target in targets:
        suffix = "" if target is None else f"-{target}"
        if incremental_every is not None:
            every = _seconds("incremental_every", incremental_every)
            entries[f"{prefix}-reconcile-incremental{suffix}"] = {
                "task": f"{prefix}.reconcile",
                "schedule": every,
                "kwargs": {"target": target, "mode": "incremental"},
                "options": {**base_options, "expires": every},
            }
        if deep is not None:
            schedule = parse_cron(deep) if isinstance(deep, str) else deep
            kwargs: dict[str, Any] = {"target": target, "mode": "deep"}
            if orphans is not None:
                kwargs["orphans"] = orphans
            entries[f"{prefix}-reconcile-deep{suffix}"] = {
                "task": f"{prefix}.reconcile",
                "schedule": schedule,
                "kwargs": kwargs,
                "options": dict(base_options),
            }
    return entries
