"""The :class:`Provisioner`: one object serving one or more targets."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from scimsync._diff import representation_hash
from scimsync._engine._approvals import Approvals
from scimsync._engine._config import Target
from scimsync._engine._desired import MISSING, Desired
from scimsync._engine._groups import GroupFlow
from scimsync._engine._job import Job, Stop
from scimsync._engine._run import (
    DeferredDelete,
    KeyLocks,
    RemoteIndex,
    ReportBuffer,
    RunContext,
)
from scimsync._engine._trace import SyncTrace, failure_message
from scimsync._engine._users import UserFlow
from scimsync._store import ReportRecord
from scimsync._store._records import utcnow
from scimsync.errors import (
    ConfigurationError,
    ScimHTTPError,
    ScimSyncError,
    SyncFailedError,
    ValidationError,
)

if TYPE_CHECKING:
    from scimsync._dispatch import Dispatcher
    from scimsync._import import ImportResult
    from scimsync._reconcile import Plan, RunSummary

__all__ = ["Provisioner"]

log = logging.getLogger("scimsync")

_KINDS = ("user", "group")
_SOURCE_METHODS = ("get_user", "get_group", "group_member_keys")
_STORE_METHODS = (
    "get_link",
    "get_links",
    "get_link_by_remote",
    "save_link",
    "delete_link",
    "add_report",
    "add_pending",
    "list_pending",
    "get_pending",
    "set_pending_status",
    "enqueue",
    "count_links",
)


class Provisioner(UserFlow, GroupFlow):
    """Keeps one or more SCIM targets in step with a source of users and groups.

    Configure it once; every setting is checked here, so a mistake fails at start-up
    with a :class:`~scimsync.errors.ConfigurationError` naming the setting, not in the
    middle of a run::

        prov = Provisioner(source=my_source, store=SQLiteStore("scimsync.db"),
                           targets=[Target(name="aws", client=client, profile=AWS)])
        trace = prov.sync_user("42")      # manual mode: raises SyncFailedError on failure
        print(trace)                      # the step-by-step report

    Args:
        source: the :class:`~scimsync.Source` (``get_user``, ``get_group``,
            ``group_member_keys``).
        store: the :class:`~scimsync.StateStore` (links, reports, approvals, outbox).
        targets: the :class:`Target` s, with unique names.
        clock: returns "now" as an aware UTC datetime (tests move time forward with it).
        sleep: waits a number of seconds (default :func:`time.sleep`); used between the
            retries of :attr:`Profile.consistency_retry <scimsync.Profile.consistency_retry>`.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        source: Any,
        store: Any,
        targets: Sequence[Target],
        clock: Callable[[], dt.datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        missing = [m for m in _SOURCE_METHODS if not callable(getattr(source, m, None))]
        if missing:
            raise ConfigurationError(
                f"Provisioner(source=...): {type(source).__name__} lacks {', '.join(missing)} "
                "(see the Source protocol)"
            )
        missing = [m for m in _STORE_METHODS if not callable(getattr(store, m, None))]
        if missing:
            raise ConfigurationError(
                f"Provisioner(store=...): {type(store).__name__} lacks {', '.join(missing)} "
                "(see the StateStore protocol)"
            )
        if isinstance(targets, Target) or not isinstance(targets, Iterable):
            raise ConfigurationError("Provisioner(targets=...) must be a list of Target")
        targets = list(targets)
        if not targets:
            raise ConfigurationError("Provisioner(targets=...) needs at least one Target")
        by_name: dict[str, Target] = {}
        for t in targets:
            if not isinstance(t, Target):
                raise ConfigurationError(
                    f"Provisioner(targets=...): {t!r} is a {type(t).__name__}, not a Target"
                )
            if t.name in by_name:
                raise ConfigurationError(
                    f"Provisioner(targets=...): duplicate target name {t.name!r}"
                )
            by_name[t.name] = _resolve_target(t)
        self._source = source
        self._store = store
        self._targets = by_name
        self._clock: Callable[[], dt.datetime] = clock or utcnow
        self._sleep: Callable[[float], None] = sleep if sleep is not None else time.sleep
        self._created_at: dict[tuple[str, str, str], float] = {}
        self._created_lock = threading.Lock()
        self._locks = KeyLocks()
        self._local = threading.local()
        self.approvals = Approvals(self)
        self._notify_listeners: list[Callable[[], None]] = []
        self._notify_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Provisioner(targets={list(self._targets)!r})"

    # ------------------------------------------------------------------ properties

    @property
    def source(self) -> Any:
        """The source."""
        return self._source

    @property
    def store(self) -> Any:
        """The state store."""
        return self._store

    @property
    def targets(self) -> list[Target]:
        """The targets, in configuration order (mappings resolved from the profile)."""
        return list(self._targets.values())

    def target(self, name: str) -> Target:
        """The target called ``name``.

        Raises:
            ConfigurationError: no such target (the message lists the known ones).
        """
        try:
            return self._targets[name]
        except KeyError:
            raise ConfigurationError(
                f"unknown target {name!r}; configured: {', '.join(self._targets)}"
            ) from None

    def _pick(self, target: str | Target | None) -> list[Target]:
        if target is None:
            return self.targets
        if isinstance(target, Target):
            target = target.name
        return [self.target(target)]

    # ------------------------------------------------------------------ automatic mode

    def notify(self, kind: str, key: Any, *, target: str | None = None) -> None:
        """Record durably that ``key`` needs syncing (an outbox insert, no network).

        The row is written first; then every listener registered with
        :meth:`add_notify_listener` is called (a running dispatcher wakes at once).

        Args:
            kind: ``"user"`` or ``"group"``.
            key: the local key (converted with ``str``).
            target: one target's name, or ``None`` for every target.
        """
        kind = _check_kind(kind)
        if target is not None:
            self.target(target)
        self._store.enqueue(kind, str(key), target)
        self.wake()

    def wake(self) -> None:
        """Call the :meth:`add_notify_listener` listeners without writing an outbox row.

        For hosts that write the row themselves, in their own transaction
        (``SQLiteStore.enqueue_sql``, the SQLAlchemy and Django adapters): call this once
        the transaction has committed, so a running dispatcher picks the row up at once
        instead of at its next poll. A listener that raises is logged and ignored.
        """
        with self._notify_lock:
            listeners = list(self._notify_listeners)
        for fn in listeners:
            try:
                fn()
            except Exception:
                log.exception("scimsync: a notify listener raised; ignored")

    def add_notify_listener(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` after every :meth:`notify`, once the outbox row is written.

        A :class:`~scimsync.Dispatcher` registers its wake-up here when it starts (and
        removes it when it stops), so a notified key is picked up at once instead of at
        the next poll. Listeners run in the notifying thread: keep them quick and never
        do network I/O in one. An exception from a listener is logged and ignored.

        Args:
            fn: a callable taking no arguments.
        """
        if not callable(fn):
            raise TypeError(f"add_notify_listener(fn={fn!r}): fn must be callable")
        with self._notify_lock:
            self._notify_listeners.append(fn)

    def remove_notify_listener(self, fn: Callable[[], None]) -> None:
        """Stop calling ``fn`` after :meth:`notify` (no error if it was not registered)."""
        with self._notify_lock, contextlib.suppress(ValueError):
            self._notify_listeners.remove(fn)

    def start_dispatcher(self, **kwargs: Any) -> Dispatcher:
        """Build and start a :class:`~scimsync.Dispatcher` draining this provisioner's outbox.

        Args:
            **kwargs: the :class:`~scimsync.Dispatcher` settings (``workers``,
                ``poll_interval``, ``lease_seconds``, ``max_attempts``, ``backoff``, ...).

        Returns:
            The started dispatcher (call ``stop()`` on shutdown).
        """
        from scimsync._dispatch import Dispatcher

        return Dispatcher(self, **kwargs).start()

    # ------------------------------------------------------------------ scheduled mode

    def reconcile(
        self,
        target: str | Target | None = None,
        *,
        mode: str = "incremental",
        dry_run: bool = False,
        **kwargs: Any,
    ) -> RunSummary:
        """Reconcile the source with a target now (scheduled mode); see :func:`scimsync.reconcile`.

        Args:
            target: the target's name (``None``: the only target).
            mode: ``"incremental"``, ``"deep"`` or ``"full"``.
            dry_run: plan only (nothing but GETs is sent, nothing recorded).
            **kwargs: the other :func:`scimsync.reconcile` arguments (``orphans``,
                ``memberships``).

        Returns:
            The run's :class:`~scimsync.RunSummary`.
        """
        from scimsync._reconcile import reconcile

        return reconcile(self, target, mode=mode, dry_run=dry_run, **kwargs)

    def plan(
        self, target: str | Target | None = None, *, mode: str = "incremental", **kwargs: Any
    ) -> Plan:
        """What :meth:`reconcile` would do, without doing it; see :func:`scimsync.plan`.

        Args:
            target: the target's name (``None``: the only target).
            mode: ``"incremental"``, ``"deep"`` or ``"full"``.
            **kwargs: ``orphans``, ``memberships`` (as for :meth:`reconcile`).
        """
        from scimsync._reconcile import plan

        return plan(self, target, mode=mode, **kwargs)

    def import_remote(
        self,
        target: str | Target | None = None,
        *,
        create_local: Any = None,
        dry_run: bool = False,
    ) -> ImportResult:
        """Link what already exists on a target to the source; see :func:`scimsync.import_remote`.

        Args:
            target: the target's name (``None``: the only target).
            create_local: ``create_local(remote_user_rep) -> key | None`` for remote users
                with no local match (``None``: leave them unlinked).
            dry_run: report what would be linked, change nothing.
        """
        from scimsync._import import import_remote

        return import_remote(self, target, create_local=create_local, dry_run=dry_run)

    # ------------------------------------------------------------------ desired state

    def desired(
        self,
        target: str | Target | None,
        kind: str,
        key: Any,
        *,
        obj: Any = MISSING,
        run: RunContext | None = None,
        member_links: Mapping[str, str] | None = None,
        scope_only: bool = False,
    ) -> Desired:
        """What a sync of one object would store as its link's ``last_rep``, with no I/O
        to the target (only the source and the state store are read).

        ``desired(...).hash == link.last_hash`` means a sync would send nothing (scheduled
        mode's incremental runs skip such keys without a request).

        Args:
            target: the target (name or object; ``None``: the first one).
            kind: ``"user"`` or ``"group"``.
            key: the local key.
            obj: the source object if already read (``None``: deleted locally); by
                default it is read with ``source.get_user`` / ``get_group``.
            run: a :class:`RunContext` whose caches to share (group members read once).
            member_links: for groups, member key -> remote id of the user link, if the
                caller already has them (saves one store read per member).
            scope_only: decide only whether the object is in scope; ``rep`` and ``hash``
                are then ``None`` and nothing is mapped beyond what the scope rules need
                (nor validated, so no ``ValidationError``).

        Returns:
            A :class:`Desired`.

        Raises:
            SourceReadError: reading the source failed.
            ValidationError: the mapped representation is invalid (a sync would fail).
        """
        kind = _check_kind(kind)
        t = self._pick(target)[0]
        skey = _check_key(kind, key)
        ctx = run if run is not None else RunContext(dry_run=True)
        job = Job(
            target=t,
            kind=kind,
            key=skey,
            run=ctx,
            trace=SyncTrace(kind=kind, key=skey, target=t.name, dry_run=True),
            dry_run=True,
        )
        if obj is MISSING:
            obj = self._read_source(job, kind, skey)
        if obj is None:
            return Desired(False, None, None, "not found in the source (deleted locally)")
        # The scope rules do not depend on the link: a scope-only answer does not read it.
        link = None if scope_only else self._store.get_link(t.name, kind, skey)
        old = link.last_rep if link is not None else None
        if kind == "user":
            in_scope, why, _ = self._user_in_scope(job, obj)
            if not in_scope:
                return Desired(False, None, None, why)
            if scope_only:
                return Desired(True, None, None, why)
            mapping = t.user_mapping
            rep = self._build(job, mapping, obj, for_create=link is None, step=False)
            if link is not None:
                rep = self._prepare(job, rep)
                if link.state == "deactivated" and "active" not in rep:
                    rep = {**rep, "active": True}
            rep = self._validate(job, rep)
            if old is not None:
                rep = self._merge_create_only(old, rep, mapping.create_only_paths)
            return Desired(True, rep, representation_hash(rep), why)
        pred = t.scope.group_predicate
        if pred is not None and not pred(obj):
            return Desired(False, None, None, "the group predicate returned False")
        why = "no scope rules" if pred is None else "group predicate passed"
        if scope_only:
            return Desired(True, None, None, why)
        mapping = t.group_mapping
        rep = self._validate(
            job, self._build(job, mapping, obj, for_create=link is None, step=False)
        )
        if old is not None:
            old_attrs = {k: v for k, v in old.items() if k != "members"}
            rep = self._merge_create_only(old_attrs, rep, mapping.create_only_paths)
        if t.toggles.membership:
            keys = ctx.cached_members(skey, self._read_member_keys) or frozenset()
            ids: set[str] = set()
            for mk in keys:
                if member_links is not None:
                    rid = member_links.get(mk)
                else:
                    ml = self._store.get_link(t.name, "user", mk)
                    rid = ml.remote_id if ml is not None else None
                if rid is not None:
                    ids.add(rid)
        else:
            ids = {
                m["value"]
                for m in (old or {}).get("members") or []
                if isinstance(m, Mapping) and isinstance(m.get("value"), str)
            }
        rep = {k: v for k, v in rep.items() if k != "members"}
        rep["members"] = [{"value": i} for i in sorted(ids)]
        return Desired(True, rep, representation_hash(rep), why)

    # ------------------------------------------------------------------ runs

    @contextlib.contextmanager
    def run(self, *, dry_run: bool = False, run_id: str | None = None) -> Iterator[RunContext]:
        """Open a :class:`RunContext`: a batch sharing one deletion count.

        Every sync made in this thread while the ``with`` block is open joins the run;
        deferred deletes are applied (or, past ``Policies.deletion_threshold``, all held)
        when the block ends. If the block raises, deferred deletes are dropped (recorded
        as skipped), never applied.

        Args:
            dry_run: plan only: nothing but GETs is sent and nothing is recorded.
            run_id: the :class:`~scimsync.RunRecord` id to file reports under.
        """
        ctx = RunContext(dry_run=dry_run, run_id=run_id)
        previous = getattr(self._local, "run", None)
        self._local.run = ctx
        try:
            yield ctx
        except BaseException:
            self._finish_run(ctx, aborted=True)
            raise
        else:
            self._finish_run(ctx, aborted=False)
        finally:
            self._local.run = previous

    @contextlib.contextmanager
    def _current_run(self, dry_run: bool, run: RunContext | None = None) -> Iterator[RunContext]:
        if run is not None:
            if run.closed:
                raise ValueError("this RunContext has already finished")
            yield run
            return
        ctx = getattr(self._local, "run", None)
        if ctx is not None and not ctx.closed:
            yield ctx
            return
        with self.run(dry_run=dry_run) as ctx:
            yield ctx

    def build_remote_index(self, target: str | Target, kind: str) -> RemoteIndex:
        """Read every ``kind`` object of a target once (in pages) into a :class:`RemoteIndex`.

        Hand it to :meth:`RunContext.set_remote_index` or ``sync_many(remote_index=...)``
        so the match step of a bulk sync sends no request.
        """
        kind = _check_kind(kind)
        t = self._pick(target)[0]
        ep = t.client.users if kind == "user" else t.client.groups
        mapping = t.user_mapping if kind == "user" else t.group_mapping
        reps = ep.list_raw(page_size=t.profile.page_size, pagination=t.profile.pagination)
        return RemoteIndex(kind, mapping, reps)

    # ------------------------------------------------------------------ manual mode

    def sync_user(
        self,
        key: Any,
        *,
        target: str | Target | None = None,
        dry_run: bool = False,
        run: RunContext | None = None,
    ) -> SyncTrace:
        """Make the target(s) match the source for one user, now, and say how.

        Reads the source's current state (level-triggered), then creates, adopts,
        updates, deactivates or deletes as the target's policies say.

        Args:
            key: the local key (converted with ``str``).
            target: one target (name or object); ``None`` means every target.
            dry_run: send nothing but GETs (the match lookups), record nothing, and
                report the planned action.
            run: join this :class:`RunContext` (opened with :meth:`run`, possibly in
                another thread) instead of the current thread's run or a run of its own.

        Returns:
            The :class:`SyncTrace` (for several targets, one with ``parts``).

        Raises:
            SyncFailedError: the sync failed; ``.trace`` holds every step, the message
                names the key and the attribute or HTTP status, server detail and request id.
        """
        return self._sync_manual("user", key, target, dry_run, run)

    def sync_group(
        self,
        key: Any,
        *,
        target: str | Target | None = None,
        dry_run: bool = False,
        run: RunContext | None = None,
    ) -> SyncTrace:
        """Same as :meth:`sync_user` for a group: attributes and members (users not yet
        linked are synced first, then added in profile-sized chunks)."""
        return self._sync_manual("group", key, target, dry_run, run)

    def _sync_manual(
        self,
        kind: str,
        key: Any,
        target: str | Target | None,
        dry_run: bool,
        given: RunContext | None = None,
    ) -> SyncTrace:
        targets = self._pick(target)
        skey = _check_key(kind, key)
        with self._current_run(dry_run, given) as run:
            traces = [
                self._sync_one(t, kind, skey, run, dry_run=dry_run or run.dry_run) for t in targets
            ]
        trace = traces[0] if len(traces) == 1 else _combine(kind, skey, traces)
        if not trace.ok:
            failed = [p for p in (trace.parts or [trace]) if not p.ok]
            first = failed[0]
            raise SyncFailedError(failure_message(failed), trace=trace, cause=first.error)
        return trace

    # ------------------------------------------------------------------ batch mode

    def sync_many(
        self,
        kind: str,
        keys: Iterable[Any],
        *,
        target: str | Target | None = None,
        dry_run: bool = False,
        remote_index: RemoteIndex | None = None,
        run: RunContext | None = None,
    ) -> list[SyncTrace]:
        """Sync many keys of one kind; never raises for one object's failure.

        Each target's keys run on a pool of ``target.concurrency`` threads; a key is never
        synced by two threads at once. Failures are recorded (report + signal) and the
        batch goes on. To sync users and groups together, use :meth:`sync_all`.

        Args:
            kind: ``"user"`` or ``"group"``.
            keys: local keys.
            target: one target, or ``None`` for every target.
            dry_run: plan only.
            remote_index: a :meth:`build_remote_index` result for the match step (one
                target only).
            run: join this :class:`RunContext` (see :meth:`sync_user`).

        Returns:
            One trace per (target, key), in key order per target.
        """
        kind = _check_kind(kind)
        targets = self._pick(target)
        skeys = list(dict.fromkeys(_check_key(kind, k) for k in keys))
        with self._current_run(dry_run, run) as ctx:
            if remote_index is not None:
                if len(targets) != 1:
                    raise ConfigurationError("sync_many(remote_index=...) needs a single target")
                ctx.set_remote_index(targets[0].name, kind, remote_index)
            out: list[SyncTrace] = []
            for t in targets:
                out.extend(self._batch(t, kind, skeys, ctx, dry_run or ctx.dry_run))
        return out

    def sync_all(
        self,
        users: Iterable[Any] = (),
        groups: Iterable[Any] = (),
        *,
        target: str | Target | None = None,
        dry_run: bool = False,
        run: RunContext | None = None,
    ) -> list[SyncTrace]:
        """Sync users first, then groups (so members exist before they are added), in one run."""
        with self._current_run(dry_run, run) as ctx:
            out = self.sync_many("user", users, target=target, dry_run=dry_run, run=ctx)
            out += self.sync_many("group", groups, target=target, dry_run=dry_run, run=ctx)
        return out

    def _batch(
        self, t: Target, kind: str, keys: list[str], run: RunContext, dry_run: bool
    ) -> list[SyncTrace]:
        if not keys:
            return []
        # Reports of a bulk batch are stored in batches, not one transaction each.
        reports = ReportBuffer(self._store.add_reports, self._signal, self._report_failed)
        try:
            if t.concurrency == 1 or len(keys) == 1:
                return [
                    self._sync_one(t, kind, k, run, dry_run=dry_run, reports=reports) for k in keys
                ]
            return _parallel(
                keys,
                lambda k: self._sync_one(t, kind, k, run, dry_run=dry_run, reports=reports),
                min(t.concurrency, len(keys)),
                f"scimsync-{t.name}",
            )
        finally:
            reports.flush()

    # ------------------------------------------------------------------ one object

    def _sync_one(
        self,
        target: Target,
        kind: str,
        key: str,
        run: RunContext,
        *,
        dry_run: bool | None = None,
        approved: frozenset[str] = frozenset(),
        bypass_threshold: bool = False,
        reports: ReportBuffer | None = None,
    ) -> SyncTrace:
        """Run one flow, never raising: failures become a ``failed`` trace."""
        dry = run.dry_run if dry_run is None else dry_run
        trace = SyncTrace(kind=kind, key=key, target=target.name, dry_run=dry)
        job = Job(
            target=target,
            kind=kind,
            key=key,
            run=run,
            trace=trace,
            dry_run=dry,
            approved=approved,
            bypass_threshold=bypass_threshold,
            reports=reports,
        )
        with self._locks.hold((target.name, kind, key)), target.client.recording() as exchanges:
            self._run_flow(job)
            trace.exchanges = list(exchanges)
        if job.followups and not job.deferred:
            self._follow_up(job)
        trace.duration = time.perf_counter() - job.started
        run.add_trace(trace)
        if not job.deferred:
            self._record(job)
        return trace

    def _follow_up(self, job: Job) -> None:
        """Re-sync the members whose scope this group's membership change may have moved
        (``Scope.required_groups``): users who left it, deactivated users in it."""
        keys = list(dict.fromkeys(job.followups))
        if job.dry_run:
            job.trace.step(
                "scope",
                True,
                f"would re-sync {len(keys)} member(s) whose scope depends on this group: "
                + ", ".join(keys[:10]),
            )
            return
        done = []
        for k in keys:
            sub = self._sync_one(job.target, "user", k, job.run, dry_run=False)
            done.append(f"{k} ({sub.outcome})")
        job.trace.step(
            "scope",
            True,
            f"re-synced {len(keys)} member(s) whose scope depends on this group: "
            + ", ".join(done[:10])
            + (", ..." if len(done) > 10 else ""),
        )

    def _run_flow(self, job: Job) -> None:
        try:
            if job.kind == "user":
                self._user_flow(job)
            else:
                self._group_flow(job)
            # A flow always ends with job.done(); reaching here is a bug.
            raise AssertionError(f"{job.label}: flow ended without an outcome")  # pragma: no cover
        except Stop:
            return
        except Exception as exc:
            self._fail(job, exc)

    def _fail(self, job: Job, exc: BaseException) -> None:
        trace = job.trace
        trace.error = exc
        trace.outcome = "failed"
        if trace.operation == "none":
            trace.operation = _operation_from_steps(trace)
        if isinstance(exc, ScimHTTPError):
            trace.http_status = exc.status
            trace.request_id = exc.request_id
            trace.detail = exc.detail
            where = "action"
        elif isinstance(exc, ValidationError):
            where = "validate"
        elif isinstance(exc, ScimSyncError):
            where = "action"
        else:
            where = "action"
            log.exception("scimsync: unexpected error syncing %s on %s", job.label, job.target.name)
        msg = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ScimSyncError) else str(exc)
        if not trace.steps or trace.steps[-1].ok or trace.steps[-1].name != where:
            trace.step(where, False, msg)
        trace.step("result", False, f"failed: {msg}")

    # ------------------------------------------------------------------ reports + signals

    def _record(self, job: Job) -> None:
        trace = job.trace
        if job.recorded or trace.dry_run:
            return
        job.recorded = True
        last = trace.exchanges[-1] if trace.exchanges else None
        status = (
            trace.http_status if trace.http_status is not None else getattr(last, "status", None)
        )
        request_id = trace.request_id or getattr(last, "request_id", None)
        error = None
        if trace.error is not None:
            error = (
                str(trace.error)
                if isinstance(trace.error, ScimSyncError)
                else (f"{type(trace.error).__name__}: {trace.error}")
            )
        record = ReportRecord(
            target=trace.target,
            kind=trace.kind,
            key=trace.key,
            operation=trace.operation,
            outcome=trace.outcome,
            display=trace.display,
            http_status=status,
            detail=trace.detail if trace.error is None else (trace.detail or None),
            request_id=request_id,
            duration_ms=round(trace.duration * 1000, 3),
            error=error,
            run_id=job.run.run_id,
        )
        if job.reports is not None:
            job.reports.add(record, trace)  # stored with its batch, then signalled
            return
        try:
            record = self._store.add_report(record)
        except Exception:  # the report must never break the sync
            log.exception(
                "scimsync: could not store the report for %s on %s", job.label, trace.target
            )
        self._signal(record, trace)

    @staticmethod
    def _report_failed(exc: BaseException, records: list[ReportRecord]) -> None:
        shown = ", ".join(f"{r.kind} {r.key} on {r.target}" for r in records[:5])
        more = f" and {len(records) - 5} more" if len(records) > 5 else ""
        log.error(
            "scimsync: could not store the reports for %s%s: %s: %s",
            shown,
            more,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )

    def _signal(self, record: ReportRecord, trace: SyncTrace) -> None:
        from scimsync import signals

        sig = (
            signals.signal_for(record.outcome)
            if hasattr(signals, "signal_for")
            else signals.SIGNALS[record.outcome]
        )
        extra: dict[str, Any] = {"trace": trace}
        if trace.error is not None:
            extra["exception"] = trace.error
        try:
            sig.send(self, record=record, target=record.target, **extra)
        except Exception:
            log.exception("scimsync: a %s signal receiver raised; ignored", sig.name)

    # ------------------------------------------------------------------ run end

    def _finish_run(self, run: RunContext, *, aborted: bool) -> None:
        deferred = run.take_deferred()
        for tname, items in deferred.items():
            t = self._targets[tname]
            if aborted:
                for item in items:
                    self._resolve_deferred(
                        item,
                        run,
                        lambda job: job.done(
                            "skipped",
                            "delete",
                            "the run was aborted before its deletes were applied",
                        ),
                    )
                continue
            limit = t.policies.limit_for(self._store.count_links(tname))
            if limit is not None and len(items) > limit:
                reason = (
                    f"{len(items)} deletions in this run exceed the deletion threshold of {limit} "
                    f"on target {tname} (Policies.deletion_threshold={t.policies.deletion_threshold})"
                )
                run.held_deletes[tname] = len(items)

                def hold(job: Job, reason: str = reason) -> None:
                    self._hold(job, "delete", f"delete_{job.kind}", job.trace.remote_id, reason)

                for item in items:
                    self._resolve_deferred(item, run, hold)
            else:
                run.applied_deletes[tname] = len(items)
                for item in items:
                    self._resolve_deferred(item, run, None)

    def _resolve_deferred(
        self, item: DeferredDelete, run: RunContext, action: Callable[[Job], None] | None
    ) -> None:
        trace = item.trace
        job = Job(
            target=item.target,
            kind=item.kind,
            key=item.key,
            run=run,
            trace=trace,
            dry_run=trace.dry_run,
            bypass_threshold=True,
        )
        start = time.perf_counter()
        with (
            self._locks.hold((item.target.name, item.kind, item.key)),
            item.target.client.recording() as ex,
        ):
            try:
                if action is not None:
                    action(job)
                else:
                    link = self._store.get_link(item.target.name, item.kind, item.key)
                    if link is None or link.remote_id != item.remote_id:
                        job.done(
                            "unchanged",
                            "none",
                            "the link changed before the run ended; nothing deleted",
                        )
                    assert link is not None
                    self._apply_delete(job, link)
            except Stop:
                pass
            except Exception as exc:
                self._fail(job, exc)
            trace.exchanges.extend(ex)
        trace.duration += time.perf_counter() - start
        self._record(job)


# ---------------------------------------------------------------------- helpers


def _parallel(
    keys: list[str], fn: Callable[[str], SyncTrace], workers: int, name: str
) -> list[SyncTrace]:
    """``[fn(k) for k in keys]`` on ``workers`` threads, each taking the next key as it
    finishes one; results in key order.

    Unlike ``ThreadPoolExecutor.map`` there is no future per key and no waiting thread
    woken for each result: in a bulk sync that bookkeeping took about a twentieth of the
    client's CPU, under the GIL the workers share. ``fn`` is expected not to raise; if it does (a
    bug, ``KeyboardInterrupt``), the other workers stop taking keys and the first error
    is raised here once they have finished the keys they hold.
    """
    results: list[SyncTrace | None] = [None] * len(keys)
    todo = iter(range(len(keys)))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        while not errors:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                results[i] = fn(keys[i])
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=work, name=f"{name}_{n}") for n in range(workers)]
    for th in threads:
        th.start()
    try:
        for th in threads:
            th.join()
    except BaseException as exc:  # Ctrl-C while waiting: finish the keys in hand, stop
        errors.append(exc)
        for th in threads:
            th.join()
        raise
    if errors:
        raise errors[0]
    out = [r for r in results if r is not None]
    assert len(out) == len(keys)
    return out


def _resolve_target(t: Target) -> Target:
    profile = t.profile
    if isinstance(profile, str):
        from scimsync.profiles import get_profile

        try:
            profile = get_profile(profile)
        except Exception as exc:
            raise ConfigurationError(
                f"target {t.name}: Target.profile={t.profile!r}: {exc}"
            ) from None
    for attr in (
        "page_size",
        "pagination",
        "max_members_per_patch",
        "filterable_user_attributes",
        "filterable_group_attributes",
        "check_user",
        "check_group",
        "op",
    ):
        if not hasattr(profile, attr):
            raise ConfigurationError(
                f"target {t.name}: Target.profile ({type(profile).__name__}) has no {attr!r}; "
                "use a scimsync Profile (AWS, GENERIC or attrs.evolve of one)"
            )
    user_mapping = t.user_mapping if t.user_mapping is not None else profile.default_user_mapping()
    group_mapping = (
        t.group_mapping if t.group_mapping is not None else profile.default_group_mapping()
    )
    for name, m, kind in (
        ("user_mapping", user_mapping, "user"),
        ("group_mapping", group_mapping, "group"),
    ):
        if not callable(getattr(m, "build_checked", None)) or getattr(m, "kind", kind) != kind:
            raise ConfigurationError(
                f"target {t.name}: Target.{name} must be a {kind.capitalize()}Mapping, got {type(m).__name__}"
            )
    for attr in ("users", "groups", "recording"):
        if not hasattr(t.client, attr):
            raise ConfigurationError(
                f"target {t.name}: Target.client ({type(t.client).__name__}) is not a ScimClient (no {attr!r})"
            )
    return attrs.evolve(t, profile=profile, user_mapping=user_mapping, group_mapping=group_mapping)


def _check_kind(kind: str) -> str:
    if kind not in _KINDS:
        raise ValueError(f"kind must be 'user' or 'group', got {kind!r}")
    return kind


def _check_key(kind: str, key: Any) -> str:
    if key is None or (isinstance(key, str) and not key.strip()):
        raise ValueError(f"{kind} key must be a non-empty value, got {key!r}")
    return str(key)


def _combine(kind: str, key: str, traces: list[SyncTrace]) -> SyncTrace:
    outcomes = {t.outcome for t in traces}
    outcome = (
        "failed" if "failed" in outcomes else (outcomes.pop() if len(outcomes) == 1 else "mixed")
    )
    return SyncTrace(
        kind=kind,
        key=key,
        target="*",
        outcome=outcome,
        operation="multi",
        duration=sum(t.duration for t in traces),
        dry_run=any(t.dry_run for t in traces),
        parts=traces,
        display=next((t.display for t in traces if t.display), None),
    )


def _operation_from_steps(trace: SyncTrace) -> str:
    for s in reversed(trace.steps):
        if s.name in ("build", "validate"):
            # Built and valid, no action chosen yet: the failure came while matching (a GET).
            return "validate" if not s.ok else "match"
        if s.name == "action":
            word = s.message.split(":")[0].split()[0].lower()
            if word in (
                "create",
                "recreate",
                "delete",
                "deactivate",
                "update",
                "patch",
                "put",
                "membership",
            ):
                return {"patch": "update", "put": "update"}.get(word, word)
    return "sync"
