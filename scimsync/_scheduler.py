"""In-process scheduler: run a reconcile every N minutes or on a cron expression.

For applications without Celery beat or a system cron. One daemon thread per
:class:`Scheduler`; runs never overlap; a failing run is logged and recorded and the
thread carries on.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from scimsync.errors import ConfigurationError

if TYPE_CHECKING:
    from scimsync._engine import Provisioner

__all__ = ["Scheduler"]

log = logging.getLogger("scimsync.scheduler")

_MODES = ("incremental", "deep")


class Scheduler:
    """Run :func:`scimsync.reconcile` periodically in a background thread.

    Exactly one of ``every`` and ``cron`` must be given. Runs never overlap: if a run is
    still going when the next one is due, the due run is skipped (counted in
    :attr:`skipped`) and the schedule moves on. An exception from a run is logged,
    kept in :attr:`last_error`, recorded as a failed run in the store when the store
    can record runs, and never stops the thread.

    Example::

        sched = Scheduler(prov, every=timedelta(minutes=15), target="aws", mode="incremental")
        sched.start()
        ...
        sched.stop()

    Args:
        provisioner: the :class:`~scimsync.Provisioner` to reconcile.
        every: run at this fixed interval (the first run after one interval, or at once
            with ``run_at_start=True``).
        cron: a five-field cron expression, e.g. ``"*/15 * * * *"``, evaluated in UTC
            (``croniter``).
        target: the target name (``None``: the provisioner's only/first target).
        mode: ``"incremental"`` or ``"deep"``.
        dry_run: plan only, change nothing.
        orphans: the :class:`~scimsync.OrphanPolicy` (or action name) for deep runs.
        run_at_start: run once as soon as :meth:`start` is called.
        job: run this callable instead of ``reconcile`` (for custom jobs; it is called
            with no arguments).
        clock: returns the current UTC time (for tests).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        provisioner: Provisioner | None,
        *,
        every: timedelta | float | None = None,
        cron: str | None = None,
        target: str | None = None,
        mode: str = "incremental",
        dry_run: bool = False,
        orphans: Any = None,
        run_at_start: bool = False,
        job: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if (every is None) == (cron is None):
            raise ConfigurationError("Scheduler: give exactly one of every= or cron=")
        if mode not in _MODES:
            raise ConfigurationError(
                f"Scheduler: mode must be one of {', '.join(map(repr, _MODES))}, not {mode!r}"
            )
        self._interval: float | None = None
        self._cron: str | None = None
        if every is not None:
            seconds = every.total_seconds() if isinstance(every, timedelta) else float(every)
            if seconds <= 0:
                raise ConfigurationError(f"Scheduler: every= must be positive, not {every!r}")
            self._interval = seconds
        else:
            from croniter import croniter

            assert cron is not None
            if not croniter.is_valid(cron):
                raise ConfigurationError(
                    f"Scheduler: cron= is not a valid cron expression: {cron!r}"
                )
            self._cron = cron
        if provisioner is None and job is None:
            raise ConfigurationError("Scheduler: give a provisioner or a job")
        self.provisioner = provisioner
        self.target = target
        self.mode = mode
        self.dry_run = dry_run
        self.orphans = orphans
        self.run_at_start = run_at_start
        self._job = job
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._stop = threading.Event()
        self._run_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._current: threading.Thread | None = None
        #: Number of runs started (successful or not).
        self.runs = 0
        #: Number of runs that raised.
        self.failures = 0
        #: Number of due runs skipped because the previous run was still going.
        self.skipped = 0
        #: The last exception a run raised, if any.
        self.last_error: BaseException | None = None
        #: What the last successful run returned (a ``RunSummary`` for reconcile).
        self.last_result: Any = None

    def __repr__(self) -> str:
        when = f"cron={self._cron!r}" if self._cron else f"every={self._interval}s"
        return f"<Scheduler {when} target={self.target!r} mode={self.mode!r} runs={self.runs}>"

    # -- schedule ---------------------------------------------------------------------

    def next_run_after(self, now: datetime) -> datetime:
        """The first scheduled time strictly after ``now`` (UTC).

        Args:
            now: an aware datetime.
        """
        if self._interval is not None:
            return now + timedelta(seconds=self._interval)
        from croniter import croniter

        assert self._cron is not None
        nxt: datetime = croniter(self._cron, now).get_next(datetime)
        return nxt

    # -- running ----------------------------------------------------------------------

    def run_now(self) -> Any:
        """Run once now, in the calling thread, unless a run is already going.

        Returns:
            What the run returned, or ``None`` if it was skipped or failed.
        """
        if not self._run_lock.acquire(blocking=False):
            self.skipped += 1
            log.warning("scheduled run skipped: the previous run is still going")
            return None
        try:
            self.runs += 1
            started = time.monotonic()
            try:
                result = self._execute()
            except Exception as exc:
                self.failures += 1
                self.last_error = exc
                log.exception("scheduled %s reconcile failed", self.mode)
                self._record_failure(exc, time.monotonic() - started)
                return None
            self.last_result = result
            return result
        finally:
            self._run_lock.release()

    def _execute(self) -> Any:
        if self._job is not None:
            return self._job()
        from scimsync._reconcile import reconcile

        assert self.provisioner is not None
        summary = reconcile(
            self.provisioner,
            self.target,
            mode=self.mode,
            dry_run=self.dry_run,
            orphans=self.orphans,
        )
        if summary.status != "complete":
            log.warning(
                "scheduled %s reconcile of %s ended %s: %s",
                self.mode,
                summary.target,
                summary.status,
                "; ".join(summary.reasons) or "no reason given",
            )
        return summary

    def _record_failure(self, exc: BaseException, duration: float) -> None:
        if self.provisioner is None:
            return
        try:
            from scimsync._reconcile import record_failed_run

            record_failed_run(
                self.provisioner, self.target, mode=self.mode, error=exc, duration=duration
            )
        except Exception:
            log.exception("could not record the failed scheduled run")

    def _loop(self) -> None:
        if self.run_at_start and not self._stop.is_set():
            self._spawn_run()
        due = self.next_run_after(self._clock())
        while not self._stop.is_set():
            wait = (due - self._clock()).total_seconds()
            if wait > 0:
                # Wake at least once a minute so a wall-clock jump cannot stall us.
                if self._stop.wait(min(wait, 60.0)):
                    break
                continue
            self._spawn_run()
            now = self._clock()
            due = self.next_run_after(max(now, due))

    def _spawn_run(self) -> None:
        # A run happens in its own short-lived thread so a long run cannot delay the
        # schedule; overlapping due runs are skipped by run_now's lock.
        if self._run_lock.locked():
            self.skipped += 1
            log.warning("scheduled run skipped: the previous run is still going")
            return
        t = threading.Thread(target=self.run_now, name="scimsync-scheduled-run", daemon=True)
        self._current = t
        t.start()

    def start(self) -> Scheduler:
        """Start the background thread (idempotent). Returns ``self``."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="scimsync-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop scheduling and wait up to ``timeout`` seconds for a running run to end.

        Returns:
            ``True`` if the thread and any running run have finished.
        """
        self._stop.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for t in (self._thread, self._current):
            if t is None:
                continue
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            t.join(remaining)
            ok = ok and not t.is_alive()
        return ok

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Scheduler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
