"""Batch plumbing: per-key locks, the remote index and :class:`RunContext`."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from scimsync._engine._trace import SyncTrace

if TYPE_CHECKING:
    from scimsync._engine._config import Target

__all__ = ["KeyLocks", "RemoteIndex", "ReportBuffer", "RunContext"]


class ReportBuffer:
    """The report records of one bulk batch, stored ``size`` at a time (or once the
    oldest has waited ``max_age`` seconds) in one ``add_reports`` transaction instead of
    one transaction each; ``then`` (the signal sender) runs for each record once its
    batch is stored. :meth:`flush` stores the rest (the batch's end calls it).

    Args:
        store_many: stores a list of records (``StateStore.add_reports``).
        then: called with ``(record, trace)`` after the record's batch is stored.
        on_error: called with the exception and the records if storing a batch fails
            (the sync goes on).
    """

    def __init__(
        self,
        store_many: Callable[[list[Any]], object],
        then: Callable[[Any, SyncTrace], None],
        on_error: Callable[[BaseException, list[Any]], None],
        *,
        size: int = 50,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store_many = store_many
        self._then = then
        self._on_error = on_error
        self._size = size
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._items: list[tuple[Any, SyncTrace]] = []
        self._first = 0.0

    def add(self, record: Any, trace: SyncTrace) -> None:
        """Buffer one record; store the batch if it is full or old enough."""
        now = self._clock()
        with self._lock:
            if not self._items:
                self._first = now
            self._items.append((record, trace))
            if len(self._items) < self._size and now - self._first < self._max_age:
                return
            batch, self._items = self._items, []
        self._store(batch)

    def flush(self) -> None:
        """Store whatever is buffered."""
        with self._lock:
            batch, self._items = self._items, []
        if batch:
            self._store(batch)

    def _store(self, batch: list[tuple[Any, SyncTrace]]) -> None:
        records = [record for record, _ in batch]
        try:
            self._store_many(records)
        except Exception as exc:  # the report must never break the sync
            self._on_error(exc, records)
        for record, trace in batch:
            self._then(record, trace)


class KeyLocks:
    """One re-entrant lock per ``(target, kind, key)``, created on demand and dropped
    when nobody holds or waits for it, so a key is never synced by two threads at once."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str, str], list[Any]] = {}

    @contextlib.contextmanager
    def hold(self, name: tuple[str, str, str]) -> Iterator[None]:
        """Hold the lock for ``name`` for the duration of the ``with`` block."""
        with self._guard:
            entry = self._locks.get(name)
            if entry is None:
                entry = [threading.RLock(), 0]
                self._locks[name] = entry
            entry[1] += 1
        lock: threading.RLock = entry[0]
        lock.acquire()
        try:
            yield
        finally:
            lock.release()
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    self._locks.pop(name, None)

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)


class RemoteIndex:
    """The target's objects of one kind, read once, keyed by matching value.

    ``(attribute, normalised value) -> remote rep`` for every attribute of the
    mapping's matching rules (``userName`` and emails casefolded, as
    :meth:`UserMapping.match_values` does). With an index the match step sends no
    request at all: an initial sync of 10,000 users sends one POST per new user.

    Build one with :meth:`Provisioner.build_remote_index` and hand it to
    :meth:`RunContext.set_remote_index` (or ``sync_many(..., remote_index=...)``).

    .. versionadded:: 0.1.0
    """

    def __init__(self, kind: str, mapping: Any, reps: Iterable[Mapping[str, Any]] = ()) -> None:
        self.kind = kind
        self._mapping = mapping
        self._entries: dict[tuple[str, str], dict[str, Any]] = {}
        self._ids: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        for rep in reps:
            self.add(rep)

    def add(self, rep: Mapping[str, Any]) -> None:
        """Index one remote rep (it must carry its ``id``)."""
        item = dict(rep)
        rid = item.get("id")
        if not isinstance(rid, str) or not rid:
            return
        with self._lock:
            self._ids[rid] = item
            for pair in self._mapping.match_values(item, normalise=True):
                self._entries.setdefault(pair, item)

    def lookup(self, pairs: Iterable[tuple[str, str]]) -> tuple[str, str, dict[str, Any]] | None:
        """The first ``(attribute, value, rep)`` hit for normalised match pairs, in order."""
        with self._lock:
            for attr, value in pairs:
                hit = self._entries.get((attr, value))
                if hit is not None:
                    return attr, value, hit
        return None

    def get(self, remote_id: str) -> dict[str, Any] | None:
        """The indexed rep with this id, or ``None``."""
        with self._lock:
            return self._ids.get(remote_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            return iter(list(self._ids.values()))


@attrs.define(eq=False)
class DeferredDelete:
    """A delete waiting for the end of its run (deletion threshold)."""

    target: Target
    kind: str
    key: str
    remote_id: str
    trace: SyncTrace
    apply: Callable[[], None]
    hold: Callable[[str], None]


class RunContext:
    """One batch of syncs that share a deletion count, caches and remote indexes.

    Open one with :meth:`Provisioner.run`. While it is open, every sync made through the
    provisioner in this thread (and every :meth:`Provisioner.sync_many` batch) belongs to
    it. When a target has ``Policies.deletion_threshold``, its deletes are deferred until
    the run ends; then, if they number more than the threshold, *all* of them are held as
    pending actions (Entra's accidental-deletions guard), otherwise they are applied.

    Attributes:
        run_id: the :class:`~scimsync.RunRecord` id reports are filed under, or ``None``.
        dry_run: nothing but GETs is sent and nothing is recorded.
        traces: every trace produced in this run, in completion order.

    .. versionadded:: 0.1.0
    """

    def __init__(self, *, dry_run: bool = False, run_id: str | None = None) -> None:
        self.run_id = run_id
        self.dry_run = dry_run
        self.traces: list[SyncTrace] = []
        self._lock = threading.Lock()
        self._deferred: dict[str, list[DeferredDelete]] = {}
        self._indexes: dict[tuple[str, str], RemoteIndex] = {}
        self._members: dict[str, frozenset[str] | None] = {}
        self._created: set[tuple[str, str, str]] = set()
        self._closed = False
        self.held_deletes: dict[str, int] = {}
        self.applied_deletes: dict[str, int] = {}

    # -- remote indexes

    def set_remote_index(self, target: str, kind: str, index: RemoteIndex | None) -> None:
        """Use ``index`` for the match step of ``kind`` objects on ``target``."""
        with self._lock:
            if index is None:
                self._indexes.pop((target, kind), None)
            else:
                self._indexes[(target, kind)] = index

    def remote_index(self, target: str, kind: str) -> RemoteIndex | None:
        """The index set for ``(target, kind)``, or ``None``."""
        with self._lock:
            return self._indexes.get((target, kind))

    # -- resources created in this run (eventual consistency)

    def note_created(self, target: str, kind: str, remote_id: str) -> None:
        """Remember that this run created ``remote_id`` (a 404 on it may be lag)."""
        with self._lock:
            self._created.add((target, kind, remote_id))

    def created_here(self, target: str, kind: str, remote_id: str) -> bool:
        """Whether this run created ``remote_id`` on ``target``."""
        with self._lock:
            return (target, kind, remote_id) in self._created

    # -- caches

    def cached_members(
        self, group_key: str, read: Callable[[str], frozenset[str] | None]
    ) -> frozenset[str] | None:
        """A group's member keys, read once per run (for scope rules)."""
        with self._lock:
            if group_key in self._members:
                return self._members[group_key]
        value = read(group_key)
        with self._lock:
            self._members[group_key] = value
        return value

    # -- deletes

    def defer(self, item: DeferredDelete) -> None:
        """Keep a delete until the run ends."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this run has already finished")
            self._deferred.setdefault(item.target.name, []).append(item)

    def deletes_planned(self, target: str | None = None) -> int:
        """How many deletes are waiting for the end of the run."""
        with self._lock:
            if target is not None:
                return len(self._deferred.get(target, []))
            return sum(len(v) for v in self._deferred.values())

    def add_trace(self, trace: SyncTrace) -> None:
        """Remember a finished trace."""
        with self._lock:
            self.traces.append(trace)

    def take_deferred(self) -> dict[str, list[DeferredDelete]]:
        """Close the run and hand over its deferred deletes (used by the provisioner)."""
        with self._lock:
            self._closed = True
            deferred, self._deferred = self._deferred, {}
        return deferred

    @property
    def closed(self) -> bool:
        """Whether the run has finished."""
        return self._closed

    def counts(self) -> dict[str, int]:
        """Traces by outcome (``{"created": 3, "failed": 1}``)."""
        out: dict[str, int] = {}
        with self._lock:
            for t in self.traces:
                out[t.outcome] = out.get(t.outcome, 0) + 1
        return out
