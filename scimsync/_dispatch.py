"""Automatic mode: drain the store's outbox with a pool of worker threads.

``Provisioner.notify(kind, key)`` writes one outbox row and returns (the host's save pays
one small INSERT, never a network call). A :class:`Dispatcher` claims due rows with a
lease, syncs each key through the engine's ordinary ``sync_user`` / ``sync_group``, and
then completes the row, schedules a retry with exponential backoff, or turns it into a
dead letter that an admin can replay.

Guarantees, and where each comes from:

* **Nothing is lost.** The row is written before anything else and deleted only after a
  successful sync (:meth:`StateStore.complete`), so a crash at any point leaves it in the
  outbox; its lease expires and the next dispatcher (in this or another process) drains
  it again. Syncing is level-triggered, so running a key twice is harmless.
* **Coalescing.** The store keeps one row per ``(kind, key, target)``; notifying a key
  that is already pending only bumps the row's ``seq``. A change that arrives *while* the
  key is being synced bumps ``seq`` too, so ``complete`` keeps the row and the key is
  synced once more.
* **One key, one worker.** ``claim`` never leases two rows of the same key at once, and
  the engine serialises syncs of a key in-process.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs

from scimsync.errors import (
    ConfigurationError,
    ForbiddenError,
    RateLimitedError,
    ScimSyncError,
    ServerError,
    SyncFailedError,
    TransientError,
    UnauthorizedError,
)

if TYPE_CHECKING:
    from scimsync._engine import Provisioner
    from scimsync._store import OutboxItem, StateStore

__all__ = ["Backoff", "DispatchStats", "Dispatcher", "classify_error"]

log = logging.getLogger("scimsync.dispatch")


@attrs.frozen
class Backoff:
    """Exponential backoff between attempts of one outbox row.

    The delay before attempt ``n + 1`` after ``n`` failed attempts is
    ``min(maximum, base * factor ** (n - 1))``, multiplied by a random factor in
    ``[1 - jitter, 1]`` so that rows failing together do not retry together. A server's
    ``Retry-After`` (429) is honoured when it asks for longer.

    Args:
        base: the first delay, in seconds.
        factor: the growth factor.
        maximum: the largest delay, in seconds.
        jitter: the fraction of the delay that is randomised (0 turns jitter off).

    .. versionadded:: 0.1.0
    """

    base: float = 1.0
    factor: float = 2.0
    maximum: float = 600.0
    jitter: float = 0.5

    def __attrs_post_init__(self) -> None:
        if self.base < 0 or self.maximum < 0 or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ConfigurationError(
                f"Backoff({self.base}, {self.factor}, {self.maximum}, {self.jitter}): need "
                "base >= 0, factor >= 1, maximum >= 0 and 0 <= jitter <= 1"
            )

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``attempts`` failed attempts (``attempts >= 1``)."""
        raw = min(self.maximum, self.base * self.factor ** max(0, attempts - 1))
        if self.jitter:
            raw *= 1.0 - self.jitter * random.random()
        if retry_after is not None and retry_after > raw:
            raw = min(float(retry_after), max(self.maximum, raw))
        return raw


def classify_error(exc: BaseException) -> tuple[bool, float | None]:
    """Whether a sync failure is worth retrying soon, and the server's ``Retry-After``.

    Retryable: :class:`~scimsync.errors.TransientError` (429, 502-504, connection
    failures), other 5xx, 401/403 (a token being rotated or a permission being fixed
    is an admin's job, and the rows must survive until then), and a failure to read the
    source (the host's database restarting). Everything else
    (validation errors, 400, 409 that could not be resolved, a bug) is permanent: it is
    retried at most ``max_permanent_attempts`` times, in case the host's data is fixed
    meanwhile, then dead-lettered.

    Returns:
        ``(retryable, retry_after_seconds)``.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, RateLimitedError):
            return True, cur.retry_after
        if isinstance(cur, (TransientError, ServerError, UnauthorizedError, ForbiddenError)):
            return True, None
        if any(c.__name__ == "SourceReadError" for c in type(cur).__mro__):
            return True, None  # the host's database hiccuped: try again later
        if isinstance(cur, ScimSyncError) and not isinstance(cur, SyncFailedError):
            return False, None
        nxt = cur.cause if isinstance(cur, SyncFailedError) and cur.cause is not None else None
        cur = nxt or cur.__cause__ or cur.__context__
    return False, None


@attrs.define
class DispatchStats:
    """Counters of one dispatcher since it was created.

    Attributes:
        synced: rows synced successfully (completed).
        retried: failures scheduled for another attempt.
        dead: rows turned into dead letters.
        resynced: rows kept because the key changed again while it was being synced.

    .. versionadded:: 0.1.0
    """

    synced: int = 0
    retried: int = 0
    dead: int = 0
    resynced: int = 0


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class Dispatcher:
    """Drain the outbox in background threads: automatic mode.

    Example::

        prov.notify("user", "42")          # in the host's save: one INSERT
        dispatcher = Dispatcher(prov, workers=4).start()
        ...
        dispatcher.flush(timeout=10)       # tests, graceful shutdown
        dispatcher.stop()

    ``prov.start_dispatcher(**kwargs)`` builds and starts one. Several dispatchers (in
    several processes sharing one store) may drain the same outbox; the store's leases
    keep them apart.

    Args:
        provisioner: the :class:`~scimsync.Provisioner` whose store and targets to use.
        workers: worker threads.
        poll_interval: how often an idle worker looks for rows that became due (retries,
            rows written by other processes). ``notify`` from this process wakes the
            workers at once.
        lease_seconds: how long a claimed row is reserved; a crashed worker's rows come
            back after this. Keep it well above the longest sync (client timeouts
            times retries).
        max_attempts: attempts for a retryable failure before the row is dead-lettered.
        max_permanent_attempts: attempts for a permanent failure (validation, 400) before
            the row is dead-lettered.
        backoff: a :class:`Backoff` (or a number: its ``base`` in seconds).
        batch_size: rows one worker claims at a time.
        run_size: at most this many rows are synced in one
            :class:`~scimsync.RunContext` (``prov.run()``): a worker keeps claiming due rows
            into the same run until none is due or this many were synced. The deletion
            threshold (``Policies.deletion_threshold``) counts the deletes of one run; they
            are applied (or, past the threshold, all held for approval) when it ends.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        provisioner: Provisioner,
        *,
        workers: int = 4,
        poll_interval: float = 1.0,
        lease_seconds: float = 300.0,
        max_attempts: int = 10,
        max_permanent_attempts: int = 3,
        backoff: Backoff | float = Backoff(),
        batch_size: int = 1,
        run_size: int = 100,
    ) -> None:
        for name, value, low in (
            ("workers", workers, 1),
            ("max_attempts", max_attempts, 1),
            ("max_permanent_attempts", max_permanent_attempts, 1),
            ("batch_size", batch_size, 1),
            ("run_size", run_size, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigurationError(f"Dispatcher: {name}={value!r} must be an int >= {low}")
        if poll_interval <= 0 or lease_seconds <= 0:
            raise ConfigurationError(
                "Dispatcher: poll_interval and lease_seconds must be positive numbers"
            )
        self.provisioner = provisioner
        self.workers = workers
        self.poll_interval = float(poll_interval)
        self.lease_seconds = float(lease_seconds)
        self.max_attempts = max_attempts
        self.max_permanent_attempts = max_permanent_attempts
        self.backoff = backoff if isinstance(backoff, Backoff) else Backoff(base=float(backoff))
        self.batch_size = batch_size
        self.run_size = run_size
        self.stats = DispatchStats()
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self._listening = False

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Dispatcher {state} workers={self.workers} owner={self._owner!r}>"

    @property
    def store(self) -> StateStore:
        """The provisioner's state store."""
        store: StateStore = self.provisioner.store
        return store

    @property
    def running(self) -> bool:
        """Whether worker threads are alive."""
        return any(t.is_alive() for t in self._threads)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Dispatcher:
        """Start the worker threads (idempotent). Returns ``self``."""
        if self.running:
            return self
        self._stopping.clear()
        self._listen(True)
        self._threads = [
            threading.Thread(
                target=self._worker, args=(i,), name=f"scimsync-dispatch-{i}", daemon=True
            )
            for i in range(self.workers)
        ]
        for t in self._threads:
            t.start()
        self._wake.set()
        return self

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop the workers; a sync in progress finishes, claimed rows not yet started are
        given back. Rows still pending stay in the outbox for the next start.

        Args:
            timeout: seconds to wait for the threads (``None``: forever).

        Returns:
            ``True`` if every worker thread has ended.
        """
        self._stopping.set()
        self._wake.set()
        self._listen(False)
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.running

    def __enter__(self) -> Dispatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wake(self) -> None:
        """Wake idle workers now (``notify`` does this when the engine supports it)."""
        self._wake.set()

    def _listen(self, on: bool) -> None:
        prov: Any = self.provisioner
        name = "add_notify_listener" if on else "remove_notify_listener"
        fn = getattr(prov, name, None)
        if fn is None or on == self._listening:
            return
        try:
            fn(self.wake)
            self._listening = on
        except Exception:
            log.exception("could not %s the dispatcher's wake-up listener", name[:-16])

    # -- draining ---------------------------------------------------------------------

    def drain(self, max_items: int | None = None) -> DispatchStats:
        """Process due rows in the calling thread until none is due (or ``max_items``).

        For cron jobs, Celery tasks and tests; needs no started threads.

        Returns:
            The counters of this drain only.
        """
        before = attrs.evolve(self.stats)
        owner = f"{self._owner}-drain-{threading.get_ident()}"
        done = 0
        with self._tracked(), self._run() as run:
            while max_items is None or done < max_items:
                limit = (
                    self.batch_size if max_items is None else min(self.batch_size, max_items - done)
                )
                items = self.store.claim(owner, limit, self.lease_seconds)
                if not items:
                    break
                for item in items:
                    self._process(item, run)
                    done += 1
        return DispatchStats(
            synced=self.stats.synced - before.synced,
            retried=self.stats.retried - before.retried,
            dead=self.stats.dead - before.dead,
            resynced=self.stats.resynced - before.resynced,
        )

    def flush(self, timeout: float | None = 30.0, *, include_retries: bool = False) -> bool:
        """Wait until the outbox has no due pending rows and no row is being synced.

        If the worker threads are not running, the rows are drained in the calling thread.

        Args:
            timeout: seconds to wait (``None``: forever).
            include_retries: also wait for rows that are waiting for a retry (backoff), i.e.
                until no pending row is left at all (dead letters do not count).

        Returns:
            ``True`` if the outbox was flushed in time.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self.running:
                self.drain()
            else:
                self._wake.set()
            counts = self.store.outbox_counts()
            busy = (
                counts.get("pending", 0)
                if include_retries
                else (counts.get("due", 0) + counts.get("leased", 0))
            )
            with self._lock:
                in_flight = self._in_flight
            if busy == 0 and in_flight == 0:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.01 if self.running else min(0.05, self.poll_interval))

    def replay(self, ids: list[int] | None = None) -> int:
        """Make dead letters (all, or those ids) pending again, due now; wakes the workers.

        Returns:
            How many rows were replayed.
        """
        n = self.store.replay(ids)
        self._wake.set()
        return n

    def dead_letters(self) -> list[OutboxItem]:
        """The outbox rows that gave up (``status == "dead"``), oldest first."""
        return self.store.outbox("dead")

    def _worker(self, index: int) -> None:
        owner = f"{self._owner}-{index}"
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                items = self.store.claim(owner, self.batch_size, self.lease_seconds)
            except Exception:
                log.exception("dispatcher could not claim outbox rows; retrying")
                self._stopping.wait(self.poll_interval)
                continue
            if not items:
                self._wake.wait(self.poll_interval)
                continue
            try:
                self._run_batch(owner, items)
            except Exception:
                log.exception("dispatcher: ending a run of synced rows failed")

    def _run_batch(self, owner: str, items: list[OutboxItem]) -> None:
        """Sync claimed rows, then claim more, in one run (at most ``run_size`` rows).
        Counted in flight until the run has ended (its deferred deletes resolved)."""
        done = 0
        with self._tracked(), self._run() as run:
            while items:
                for item in items:
                    if self._stopping.is_set():
                        self._safe(self.store.release, item)
                        continue
                    self._process(item, run)
                    done += 1
                if self._stopping.is_set() or done >= self.run_size:
                    return
                try:
                    items = self.store.claim(
                        owner, min(self.batch_size, self.run_size - done), self.lease_seconds
                    )
                except Exception:
                    log.exception("dispatcher could not claim outbox rows; retrying")
                    return

    @contextmanager
    def _run(self) -> Iterator[Any]:
        """One ``prov.run()`` (a RunContext: one deletion count), if the provisioner has it."""
        opener = getattr(self.provisioner, "run", None)
        if not callable(opener):
            yield None
            return
        with opener() as run:
            yield run

    @contextmanager
    def _tracked(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _process(self, item: OutboxItem, run: Any = None) -> None:
        with self._tracked():
            try:
                self._sync(item, run)
            except Exception as exc:
                self._failed(item, exc)
                return
            try:
                deleted = self.store.complete(item)
            except Exception:
                # The sync happened; the row stays and is synced again (harmlessly) once
                # its lease expires.
                log.exception(
                    "could not complete outbox row %s (%s %s)", item.id, item.kind, item.key
                )
                return
            with self._lock:
                self.stats.synced += 1
                if not deleted:
                    self.stats.resynced += 1
            if not deleted:
                self._wake.set()

    def _sync(self, item: OutboxItem, run: Any = None) -> None:
        prov: Any = self.provisioner
        fn: Callable[..., Any] = prov.sync_user if item.kind == "user" else prov.sync_group
        if run is None:
            fn(item.key, target=item.target)
        else:
            fn(item.key, target=item.target, run=run)

    def _failed(self, item: OutboxItem, exc: BaseException) -> None:
        retryable, retry_after = classify_error(exc)
        limit = self.max_attempts if retryable else self.max_permanent_attempts
        message = f"{type(_root(exc)).__name__}: {_root(exc)}"[:2000]
        if item.attempts >= limit:
            ok = self._safe(self.store.fail, item, message, None)
            if ok:
                with self._lock:
                    self.stats.dead += 1
                log.error(
                    "%s %s gave up after %d attempt(s), now a dead letter: %s",
                    item.kind,
                    item.key,
                    item.attempts,
                    message,
                )
                self._report_dead(item, message)
            return
        delay = self.backoff.delay(item.attempts, retry_after)
        retry_at = _utcnow() + _dt.timedelta(seconds=delay)
        if self._safe(self.store.fail, item, message, retry_at):
            with self._lock:
                self.stats.retried += 1
            log.warning(
                "%s %s failed (attempt %d of %d), retrying in %.1fs: %s",
                item.kind,
                item.key,
                item.attempts,
                limit,
                delay,
                message,
            )

    def _report_dead(self, item: OutboxItem, message: str) -> None:
        from scimsync._store import ReportRecord

        targets = [item.target] if item.target else _target_names(self.provisioner)
        for name in targets:
            self._safe(
                self.store.add_report,
                ReportRecord(
                    target=name,
                    kind=item.kind,
                    key=item.key,
                    operation="dead_letter",
                    outcome="failed",
                    detail=f"outbox row {item.id} gave up after {item.attempts} attempt(s); "
                    "replay it with Dispatcher.replay() or store.replay()",
                    error=message,
                ),
            )

    @staticmethod
    def _safe(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:
            log.exception("outbox bookkeeping failed (%s)", getattr(fn, "__name__", fn))
            return None


def _root(exc: BaseException) -> BaseException:
    """The underlying error of a SyncFailedError, for messages."""
    if isinstance(exc, SyncFailedError) and exc.cause is not None:
        return exc.cause
    return exc


def _target_names(provisioner: Any) -> list[str]:
    targets = getattr(provisioner, "targets", None) or []
    names = [getattr(t, "name", None) for t in targets]
    return [n for n in names if isinstance(n, str)] or ["*"]
