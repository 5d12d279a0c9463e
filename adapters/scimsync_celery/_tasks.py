"""``register()``: scimsync's Celery tasks (drain, sync, reconcile) and the notify hook."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import redis

from scimsync import (
    ConfigurationError,
    Dispatcher,
    Provisioner,
    SyncFailedError,
)
from scimsync_celery._lock import RunLock
from scimsync_celery._schedule import beat_schedule
from scimsync_celery._summaries import jsonable, run_summary, trace_summary

__all__ = ["CeleryTasks", "DrainSender", "register"]

log = logging.getLogger("scimsync.celery")

T = TypeVar("T")

_KINDS = ("user", "group")
_MODES = ("incremental", "deep")
_URL_CREDENTIALS = re.compile(r"(\w+://)[^@/\s]*@")


def _safe_error(exc: BaseException) -> str:
    """``Type: text`` of an exception, with any ``scheme://user:password@`` masked."""
    return _URL_CREDENTIALS.sub(r"\1***@", f"{type(exc).__name__}: {exc}")


class _PerProcess(Generic[T]):
    """One value per process, built on first use (again in a forked child)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._value: T | None = None
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._pid = None
        self._value = None

    def get(self) -> T:
        pid = os.getpid()
        value = self._value
        if self._pid == pid and value is not None:
            return value
        with self._lock:
            if self._pid != pid or self._value is None:
                self._value = self._factory()
                self._pid = pid
            return self._value

    def peek(self) -> T | None:
        """The value if this process built it already, else ``None``."""
        return self._value if self._pid == os.getpid() else None


class DrainSender:
    """The notify hook: send the ``drain`` task from a background thread.

    ``prov.notify()`` calls it (a listener) once the outbox row is written; it only counts
    the request and wakes its thread, so the host's request never waits on the broker.
    Requests that arrive while a send is in progress are coalesced into one more send.
    A failed send (broker down) is logged and counted; the row stays in the outbox and
    the periodic drain syncs it.

    Attributes:
        sent: drain tasks sent.
        failures: sends that failed.
        last_error: the last failure's text (credentials in URLs masked), or ``None``.
    """

    def __init__(self, send: Callable[[], object]) -> None:
        self._send = send
        self._setup()
        os.register_at_fork(after_in_child=self._setup)

    def _setup(self) -> None:
        self._cond = threading.Condition()
        self._requested = 0
        self._handled = 0
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failures = 0
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"<DrainSender sent={self.sent} failures={self.failures}>"

    def __call__(self) -> None:
        with self._cond:
            self._requested += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="scimsync-celery-notify", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every request made so far has been sent (or has failed).

        Returns:
            ``True`` if done in time.
        """
        with self._cond:
            goal = self._requested
            return self._cond.wait_for(lambda: self._handled >= goal, timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._handled < self._requested)
                goal = self._requested
            try:
                self._send()
            except Exception as exc:
                text = _safe_error(exc)
                with self._cond:
                    self.failures += 1
                    self.last_error = text
                log.warning(
                    "scimsync: could not send the drain task (%s); the change is kept in "
                    "the outbox and the periodic drain will sync it",
                    text,
                )
            else:
                with self._cond:
                    self.sent += 1
            with self._cond:
                self._handled = goal
                self._cond.notify_all()


def _routed_base(celery_app: Any, queue: str) -> Any:
    """A task base class whose ``apply_async`` sends to ``queue`` unless told otherwise
    (Celery 5.x deprecates the ``queue`` task attribute)."""

    def apply_async(task: Any, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        options.setdefault("queue", queue)
        return celery_app.Task.apply_async(task, args, kwargs, **options)

    return type("ScimsyncRoutedTask", (celery_app.Task,), {"apply_async": apply_async})


class CeleryTasks:
    """scimsync's tasks on one Celery app, as made by :func:`register`.

    Attributes:
        app: the Celery app.
        prefix: the task name prefix (also the prefix of the reconcile lock keys).
        drain: the ``<prefix>.drain`` task: drain the outbox once.
        sync: the ``<prefix>.sync`` task: sync one user or group now, return its trace.
        reconcile: the ``<prefix>.reconcile`` task: one reconcile run under a lock.
        sender: the notify hook (:class:`DrainSender`).
    """

    def __init__(
        self,
        celery_app: Any,
        get_provisioner: Callable[[], Provisioner],
        *,
        prefix: str,
        queue: str | None,
        lock_url: str | None,
        lock_ttl: float,
        notify_hook: bool,
        dispatcher_options: Mapping[str, Any] | None,
    ) -> None:
        if not callable(get_provisioner):
            raise ConfigurationError(
                "scimsync_celery.register(get_provisioner=...) must be a callable returning "
                "a Provisioner (it is called once in each worker process)"
            )
        if not prefix or any(c in prefix for c in " \t\n"):
            raise ConfigurationError(f"scimsync_celery.register(prefix={prefix!r}): no spaces")
        if lock_ttl <= 0:
            raise ConfigurationError(f"scimsync_celery.register(lock_ttl={lock_ttl!r}) > 0")
        self.app = celery_app
        self.prefix = prefix
        self.queue = queue
        self.lock_ttl = float(lock_ttl)
        self._lock_url = lock_url
        self._notify_hook = notify_hook
        self._dispatcher_options = dict(dispatcher_options or {})
        self._get_provisioner = get_provisioner
        self._provisioner = _PerProcess(self._make_provisioner)
        self._dispatcher = _PerProcess(
            lambda: Dispatcher(self.provisioner(), **self._dispatcher_options)
        )
        self._redis = _PerProcess(self._make_redis)
        self.sender = DrainSender(self._send_drain)

        # Plain functions (Celery derives each task's argument check from its signature).
        def drain(max_items: int | None = None) -> dict[str, Any]:
            return self._drain(max_items)

        def sync(
            kind: str, key: str, target: str | None = None, dry_run: bool = False
        ) -> dict[str, Any]:
            return self._sync(kind, key, target, dry_run)

        def reconcile(
            target: str | None = None,
            mode: str = "incremental",
            dry_run: bool = False,
            orphans: str | None = None,
        ) -> dict[str, Any]:
            return self._reconcile(target, mode, dry_run, orphans)

        for fn, method in ((drain, self._drain), (sync, self._sync), (reconcile, self._reconcile)):
            fn.__doc__ = method.__doc__
            fn.__qualname__ = f"{prefix}.{fn.__name__}"
        base = celery_app.Task if queue is None else _routed_base(celery_app, queue)
        options: dict[str, Any] = {"shared": False, "base": base}
        self.drain = celery_app.task(name=f"{prefix}.drain", **options)(drain)
        self.sync = celery_app.task(name=f"{prefix}.sync", **options)(sync)
        self.reconcile = celery_app.task(name=f"{prefix}.reconcile", **options)(reconcile)

    def __repr__(self) -> str:
        return f"<scimsync_celery.CeleryTasks prefix={self.prefix!r}>"

    # -- per-process objects --------------------------------------------------------

    def _make_provisioner(self) -> Provisioner:
        prov = self._get_provisioner()
        if not isinstance(prov, Provisioner):
            raise ConfigurationError(
                f"scimsync_celery: get_provisioner() returned {type(prov).__name__}, "
                "not a scimsync.Provisioner"
            )
        if self._notify_hook:
            self.connect(prov)
        return prov

    def provisioner(self) -> Provisioner:
        """This process's provisioner (``get_provisioner()`` is called once per process).

        With ``notify_hook=True`` (the default), its ``notify()`` sends the drain task.
        """
        return self._provisioner.get()

    def dispatcher(self) -> Dispatcher:
        """This process's :class:`~scimsync.Dispatcher` (no threads: tasks call ``drain``)."""
        return self._dispatcher.get()

    def connect(self, provisioner: Provisioner) -> None:
        """Send the drain task after every ``provisioner.notify()`` (idempotent)."""
        provisioner.remove_notify_listener(self.sender)
        provisioner.add_notify_listener(self.sender)

    def disconnect(self, provisioner: Provisioner) -> None:
        """Stop sending the drain task on ``provisioner.notify()``."""
        provisioner.remove_notify_listener(self.sender)

    def lock_url(self) -> str:
        """The Redis URL of the reconcile locks: ``lock_url``, else the broker's URL, else
        the result backend's, whichever is a ``redis://`` / ``rediss://`` URL."""
        if self._lock_url:
            return self._lock_url
        conf = self.app.conf
        for url in (conf.broker_url, conf.result_backend):
            if isinstance(url, str) and url.startswith(("redis://", "rediss://")):
                return url
        raise ConfigurationError(
            "scimsync_celery: the reconcile lock needs Redis; pass "
            "register(..., lock_url='redis://...') when neither the broker nor the result "
            "backend is Redis"
        )

    def _make_redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.lock_url(), socket_connect_timeout=5)

    def lock_name(self, target: str) -> str:
        """The Redis key of the lock that guards reconcile runs of ``target``."""
        return f"{self.prefix}:reconcile-lock:{target}"

    def _send_drain(self) -> object:
        return self.drain.apply_async(retry=False, ignore_result=True)

    # -- tasks -----------------------------------------------------------------------

    def _drain(self, max_items: int | None = None) -> dict[str, Any]:
        """Drain the outbox once: sync every due row (or ``max_items`` of them).

        Returns:
            ``{"synced", "retried", "dead", "resynced", "outbox"}``: this drain's counters
            and the outbox counts after it.
        """
        stats = self.dispatcher().drain(max_items)
        return {
            "synced": stats.synced,
            "retried": stats.retried,
            "dead": stats.dead,
            "resynced": stats.resynced,
            "outbox": jsonable(self.provisioner().store.outbox_counts()),
        }

    def _sync(
        self, kind: str, key: str, target: str | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        """Sync one user or group now (manual mode), and return what happened.

        A failed sync is returned (``ok`` false, ``error`` set), not raised.
        """
        if kind not in _KINDS:
            raise ConfigurationError(f"sync(kind={kind!r}): choose 'user' or 'group'")
        prov = self.provisioner()
        fn = prov.sync_user if kind == "user" else prov.sync_group
        try:
            trace = fn(key, target=target, dry_run=dry_run)
        except SyncFailedError as exc:
            if exc.trace is None:
                raise
            trace = exc.trace
        return trace_summary(trace)

    def _reconcile(
        self,
        target: str | None = None,
        mode: str = "incremental",
        dry_run: bool = False,
        orphans: str | None = None,
    ) -> dict[str, Any]:
        """One reconcile run of ``target``, unless one is already running for it anywhere.

        Returns:
            The run summary (``skipped: false``), or, when another worker holds the
            target's lock, ``{"skipped": true, "target", "mode", "reason", "lock"}``.
        """
        if mode not in _MODES:
            raise ConfigurationError(f"reconcile(mode={mode!r}): choose 'incremental' or 'deep'")
        prov = self.provisioner()
        name = self._target_name(prov, target)
        if dry_run:  # a plan changes nothing: it needs no lock
            return run_summary(prov.reconcile(name, mode=mode, dry_run=True, orphans=orphans))
        lock = RunLock(self._redis.get(), self.lock_name(name), ttl=self.lock_ttl)
        if not lock.acquire():
            reason = f"another reconcile of target {name!r} is running (lock {lock.name})"
            log.info("scimsync: %s run skipped: %s", mode, reason)
            return {
                "skipped": True,
                "target": name,
                "mode": mode,
                "reason": reason,
                "lock": lock.name,
            }
        try:
            summary = prov.reconcile(name, mode=mode, orphans=orphans)
        finally:
            lock.release()
        result = run_summary(summary)
        result["lock_lost"] = lock.lost
        return result

    @staticmethod
    def _target_name(prov: Provisioner, target: str | None) -> str:
        if target is not None:
            return prov.target(target).name
        targets = prov.targets
        if len(targets) != 1:
            raise ConfigurationError(
                "this provisioner has several targets "
                f"({', '.join(t.name for t in targets)}): pass target=<name>"
            )
        return targets[0].name

    # -- schedule --------------------------------------------------------------------

    def beat_schedule(self, **kwargs: Any) -> dict[str, dict[str, Any]]:
        """:func:`scimsync_celery.beat_schedule` for these tasks (same prefix and queue)."""
        kwargs.setdefault("queue", self.queue)
        return beat_schedule(self.prefix, **kwargs)


def register(
    celery_app: Any,
    get_provisioner: Callable[[], Provisioner],
    *,
    prefix: str = "scimsync",
    queue: str | None = None,
    lock_url: str | None = None,
    lock_ttl: float = 60.0,
    notify_hook: bool = True,
    dispatcher_options: Mapping[str, Any] | None = None,
) -> CeleryTasks:
    """Define scimsync's tasks on ``celery_app``.

    Tasks (names start with ``prefix``):

    * ``<prefix>.drain(max_items=None)``: drain the outbox once; safe on any number of
      workers at once (the store leases rows per key).
    * ``<prefix>.sync(kind, key, target=None, dry_run=False)``: an admin's "sync now";
      returns the trace as JSON-able data.
    * ``<prefix>.reconcile(target=None, mode="incremental", dry_run=False, orphans=None)``:
      one run under a Redis lock per target, so runs of one target never overlap; a run
      that finds the lock taken returns ``{"skipped": True, ...}``.

    Args:
        celery_app: the :class:`celery.Celery` app.
        get_provisioner: builds the :class:`~scimsync.Provisioner`; called once per process
            (worker process, web process), never pickled.
        prefix: task name prefix, and prefix of the lock keys.
        queue: route the tasks to this queue.
        lock_url: Redis URL for the reconcile locks (default: the broker's or the result
            backend's Redis URL).
        lock_ttl: seconds a reconcile lock lives without renewal; the running task renews
            it every ``lock_ttl / 3`` seconds, so it only matters when a worker dies.
        notify_hook: on the provisioner from :meth:`CeleryTasks.provisioner`,
            ``notify()`` sends the drain task (from a background thread).
        dispatcher_options: :class:`~scimsync.Dispatcher` settings for the drain
            (``lease_seconds``, ``max_attempts``, ``backoff``, ``batch_size``, ...).

    Returns:
        The :class:`CeleryTasks` (tasks, per-process provisioner, ``beat_schedule()``).
    """
    return CeleryTasks(
        celery_app,
        get_provisioner,
        prefix=prefix,
        queue=queue,
        lock_url=lock_url,
        lock_ttl=lock_ttl,
        notify_hook=notify_hook,
        dispatcher_options=dispatcher_options,
    )
