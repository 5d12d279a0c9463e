"""scimsync_celery: scimsync's drain, sync and reconcile as Celery tasks, with a beat schedule.

Example (``myproject/celery.py``)::

    from celery import Celery
    from scimsync_celery import register

    app = Celery("myproject", broker="redis://127.0.0.1:6379/0")
    scimsync_tasks = register(app, make_provisioner)  # a factory: called once per process
    app.conf.beat_schedule = scimsync_tasks.beat_schedule()

See docs/celery.md.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from scimsync_celery._lock import RunLock
from scimsync_celery._schedule import beat_schedule, parse_cron
from scimsync_celery._summaries import run_summary, trace_summary
from scimsync_celery._tasks import CeleryTasks, DrainSender, register

__all__ = [
    "CeleryTasks",
    "DrainSender",
    "RunLock",
    "beat_schedule",
    "parse_cron",
    "register",
    "run_summary",
    "trace_summary",
]
