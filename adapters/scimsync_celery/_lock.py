"""A Redis lock that keeps two reconcile runs of one target from overlapping.

``SET key token NX PX ttl`` (redis-py's :class:`redis.lock.Lock`) taken without waiting;
while the run lasts a daemon thread renews the TTL every ``ttl / 3`` seconds. A worker
killed with ``SIGKILL`` stops renewing, so its lock expires at most ``ttl`` seconds later
and the next scheduled run goes ahead. Only the holder (same token) can renew or release.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

import redis
from redis.exceptions import LockError, RedisError

__all__ = ["RunLock"]

log = logging.getLogger("scimsync.celery")


class RunLock:
    """Non-blocking, self-renewing Redis lock; a context manager.

    Example::

        with RunLock(client, "scimsync:reconcile-lock:aws", ttl=60) as held:
            if not held:
                return "skipped"
            ...

    Args:
        client: a redis-py client.
        name: the lock's key.
        ttl: seconds the lock lives without renewal (a crashed holder's lock ends after this).
    """

    def __init__(self, client: redis.Redis, name: str, *, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError(f"RunLock(ttl={ttl!r}) must be positive")
        self.name = name
        self.ttl = float(ttl)
        self.lost = False
        self._lock = client.lock(name, timeout=self.ttl, blocking=False, thread_local=False)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.held = False

    def __repr__(self) -> str:
        return f"<RunLock {self.name!r} held={self.held}>"

    def acquire(self) -> bool:
        """Take the lock now, or return ``False`` if someone else holds it."""
        self.held = bool(self._lock.acquire(blocking=False))
        if self.held:
            self._stop.clear()
            self._renewer = threading.Thread(
                target=self._renew, name=f"scimsync-lock-{self.name}", daemon=True
            )
            self._renewer.start()
        return self.held

    def release(self) -> None:
        """Stop renewing and release the lock (if this holder still owns it)."""
        if not self.held:
            return
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        self.held = False
        try:
            self._lock.release()
        except LockError:
            log.warning("scimsync: the lock %s had already expired or been taken over", self.name)
        except RedisError as exc:
            log.warning(
                "scimsync: could not release the lock %s (%s); it expires by itself",
                self.name,
                type(exc).__name__,
            )

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._lock.reacquire()
            except LockError:
                self.lost = True
                log.error("scimsync: lost the lock %s (it expired before renewal)", self.name)
                return
            except RedisError as exc:
                log.warning(
                    "scimsync: could not renew the lock %s (%s); retrying",
                    self.name,
                    type(exc).__name__,
                )

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
