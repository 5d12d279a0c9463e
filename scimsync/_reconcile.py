"""Scheduled mode: incremental and deep reconcile, orphans, plans (dry runs).

A reconcile never has its own way of changing the target: every create, update,
deactivate and delete of a linked or local object goes through the engine's
``sync_many`` (the single code path). What reconcile adds is *which* keys to hand to the
engine, and what the engine cannot know on its own:

* **incremental** — the keys whose mapped representation changed since the last push
  (``representation_hash`` of the freshly built rep against ``link.last_hash``; no HTTP
  at all for unchanged keys), plus keys new to the source and keys gone from it;
* **deep** — also reads the target once, in pages, and repairs what changed *there*:
  attributes edited on the target (drift), objects deleted there (recreated), group
  memberships (read on AWS with ``GET /Users?filter=groups.value eq "<gid>"``), and
  remote objects nobody linked (orphans, handled by an :class:`OrphanPolicy`).

If reading the source or the target fails or is incomplete, the run deprovisions
nothing (no deactivate, no delete, no orphan action) and ends with status ``"partial"``
and the reason.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import attrs

from scimsync._diff import diff_resource, representation_hash
from scimsync._engine import RemoteIndex, RunContext, SyncTrace
from scimsync._engine._job import project, strip_server_fields
from scimsync._filter import Filter
from scimsync._sources import source_problems
from scimsync._store import ReportRecord
from scimsync._store._records import utcnow
from scimsync.errors import (
    ConfigurationError,
    MalformedResponseError,
    NotFoundError,
    ScimSyncError,
    ValidationError,
)

if TYPE_CHECKING:
    from scimsync._engine import Provisioner, Target

__all__ = [
    "MODES",
    "ORPHAN_ACTIONS",
    "OrphanPolicy",
    "Plan",
    "PlannedAction",
    "RunSummary",
    "apply_orphan_pending",
    "approve_orphan",
    "plan",
    "read_group_members",
    "reconcile",
    "record_failed_run",
]

log = logging.getLogger("scimsync.reconcile")

#: Reconcile modes.
MODES = ("incremental", "deep")
#: What an :class:`OrphanPolicy` may do with a remote object nobody linked.
ORPHAN_ACTIONS = ("ignore", "report", "deactivate", "delete")

_KINDS = ("user", "group")


# ---------------------------------------------------------------------- orphan policy


def _patterns(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _ids(value: str | Iterable[str] | None) -> frozenset[str]:
    return frozenset(_patterns(value))


def _kinds(value: str | Iterable[str]) -> frozenset[str]:
    out = frozenset(_patterns(value))
    bad = sorted(out - set(_KINDS))
    if bad:
        raise ConfigurationError(f"OrphanPolicy.kinds: unknown kind(s) {', '.join(bad)}")
    return out


@attrs.frozen
class OrphanPolicy:
    """What a deep reconcile does with remote objects that no local object is linked to.

    Orphans are users and groups on the target that scimsync neither created nor
    adopted: made by hand in the console, by another tool (AWS Control Tower), or left
    behind by an earlier setup. The default is to leave them alone.

    Args:
        action: ``"ignore"`` (default: listed in the plan, nothing recorded),
            ``"report"`` (a ``skipped`` report record per orphan), ``"deactivate"``
            (users: PATCH ``active=false``; groups cannot be deactivated and are
            reported), or ``"delete"`` (DELETE; must be chosen explicitly, and counts
            toward ``Policies.deletion_threshold``).
        ignore_ids: remote ids never touched.
        ignore_user_names: ``userName`` patterns never touched (shell-style wildcards,
            case-insensitive: ``"admin*"``, ``"*@example.org"``).
        ignore_display_names: group ``displayName`` patterns never touched
            (``"AWS*"`` keeps Control Tower's groups safe).
        ignore: ``ignore(remote_rep) -> bool``; ``True`` leaves the object alone. An
            exception raised by it also leaves the object alone.
        kinds: the kinds the action applies to (the others are only listed).

    Objects on an ignore list are still listed in plans (as ``ignored``), never changed.

    Example::

        OrphanPolicy("delete", ignore_display_names=["AWS*"], ignore_user_names=["break-glass*"])

    .. versionadded:: 0.1.0
    """

    action: str = attrs.field(default="ignore")
    ignore_ids: frozenset[str] = attrs.field(default=frozenset(), converter=_ids)
    ignore_user_names: tuple[str, ...] = attrs.field(default=(), converter=_patterns)
    ignore_display_names: tuple[str, ...] = attrs.field(default=(), converter=_patterns)
    ignore: Callable[[Mapping[str, Any]], bool] | None = None
    kinds: frozenset[str] = attrs.field(default=frozenset(_KINDS), converter=_kinds)

    @action.validator
    def _check_action(self, _a: Any, value: str) -> None:
        if value not in ORPHAN_ACTIONS:
            raise ConfigurationError(
                f"OrphanPolicy.action={value!r} is not one of {', '.join(ORPHAN_ACTIONS)}"
            )

    def ignored_because(self, kind: str, rep: Mapping[str, Any]) -> str | None:
        """Why this remote object is on the ignore list, or ``None`` if it is not."""
        rid = rep.get("id")
        if isinstance(rid, str) and rid in self.ignore_ids:
            return f"id {rid} is on the ignore list"
        attr, patterns = (
            ("userName", self.ignore_user_names)
            if kind == "user"
            else ("displayName", self.ignore_display_names)
        )
        name = rep.get(attr)
        if isinstance(name, str):
            folded = name.casefold()
            for p in patterns:
                if fnmatch.fnmatchcase(folded, p.casefold()):
                    return f"{attr} {name!r} matches the ignore pattern {p!r}"
        if self.ignore is not None:
            try:
                if self.ignore(rep):
                    return "the ignore predicate returned True"
            except Exception as exc:
                return f"the ignore predicate raised {type(exc).__name__}: {exc} (left alone)"
        return None


def _orphan_policy(value: OrphanPolicy | str | None) -> OrphanPolicy:
    if value is None:
        return OrphanPolicy()
    if isinstance(value, str):
        return OrphanPolicy(value)
    if not isinstance(value, OrphanPolicy):
        raise ConfigurationError(
            f"reconcile(orphans=...) must be an OrphanPolicy or one of {', '.join(ORPHAN_ACTIONS)}"
        )
    return value


# ---------------------------------------------------------------------- plan and summary


@attrs.frozen
class PlannedAction:
    """One thing a run does (or, in a plan, would do) to one object.

    Attributes:
        kind: ``"user"`` or ``"group"``.
        action: ``"create"``, ``"adopt"``, ``"update"``, ``"repair"`` (drift on the target),
            ``"recreate"``, ``"members"`` (membership repair), ``"deactivate"``,
            ``"delete"``, ``"hold"``, ``"skip"``, ``"fail"``, or for orphans
            ``"orphan"`` (listed only), ``"report"``, ``"deactivate"``, ``"delete"``,
            ``"ignored"``.
        key: the local key, or ``None`` for an orphan.
        remote_id: the remote id, when known.
        display: userName / displayName.
        reason: why, in one sentence.
        orphan: whether the object is an orphan (no local key).

    .. versionadded:: 0.1.0
    """

    kind: str
    action: str
    key: str | None = None
    remote_id: str | None = None
    display: str | None = None
    reason: str = ""
    orphan: bool = False

    def __str__(self) -> str:
        who = self.key if self.key is not None else f"(remote {self.remote_id})"
        if self.display and self.display != who:
            who = f"{who} {self.display}"
        tail = f"  - {self.reason}" if self.reason else ""
        return f"{self.action:<10} {self.kind:<5} {who}{tail}"


@attrs.define
class Plan:
    """Exactly what a run would do, object by object; ``print(plan)`` shows it.

    Attributes:
        target: the target's name.
        mode: ``"incremental"`` or ``"deep"``.
        actions: the :class:`PlannedAction` list (unchanged objects are not listed).
        unchanged: how many objects are already in step.
        partial: whether reading the source or the target failed (then no
            deprovisioning is planned).
        reasons: why the plan is partial, and other notes.

    .. versionadded:: 0.1.0
    """

    target: str
    mode: str
    actions: list[PlannedAction] = attrs.field(factory=list)
    unchanged: int = 0
    partial: bool = False
    reasons: list[str] = attrs.field(factory=list)

    def __len__(self) -> int:
        return len(self.actions)

    def __iter__(self) -> Iterator[PlannedAction]:
        return iter(self.actions)

    def counts(self) -> dict[str, int]:
        """Actions by name (``{"create": 3, "delete": 1}``)."""
        return dict(Counter(a.action for a in self.actions))

    def of(self, action: str, kind: str | None = None) -> list[PlannedAction]:
        """The actions named ``action`` (and of ``kind``)."""
        return [a for a in self.actions if a.action == action and kind in (None, a.kind)]

    def keys(self, action: str, kind: str = "user") -> list[str]:
        """Local keys (or remote ids, for orphans) with that action, sorted."""
        return sorted(
            (a.key if a.key is not None else a.remote_id or "") for a in self.of(action, kind)
        )

    def format(self, *, limit: int | None = 200) -> str:
        """A readable listing (at most ``limit`` actions; ``None`` for all)."""
        head = f"Plan for target {self.target} ({self.mode})"
        if self.partial:
            head += " [PARTIAL: nothing will be deprovisioned]"
        lines = [head]
        counts = self.counts()
        summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing to do"
        lines.append(f"  {summary}; {self.unchanged} unchanged")
        for r in self.reasons:
            lines.append(f"  note: {r}")
        shown = self.actions if limit is None else self.actions[:limit]
        for a in shown:
            lines.append(f"  {a}")
        if len(shown) < len(self.actions):
            lines.append(f"  ... and {len(self.actions) - len(shown)} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


@attrs.define
class RunSummary:
    """The result of one reconcile run (also stored as a :class:`~scimsync.RunRecord`).

    Attributes:
        target: the target's name.
        mode: ``"incremental"`` or ``"deep"``.
        status: ``"complete"``, ``"partial"`` (a read failed or was incomplete: nothing
            was deprovisioned) or ``"failed"`` (the run itself broke).
        dry_run: whether this was a plan only.
        run_id: the :class:`~scimsync.RunRecord` id (reports are filed under it).
        counts: objects by outcome (``created``, ``updated``, ``unchanged``, ``adopted``,
            ``deactivated``, ``deleted``, ``held``, ``skipped``, ``failed``) plus
            ``orphans`` found.
        reasons: why the run is partial or failed, and other notes.
        started_at / finished_at: UTC datetimes.
        duration: seconds.
        requests: HTTP requests sent to the target during the run.
        plan: what was done (or, for a dry run, would be done), object by object.
        failures: one line per failed object.
        orphans: the orphans found (deep runs).
        threshold_tripped: deletes were held because the deletion threshold was exceeded.

    .. versionadded:: 0.1.0
    """

    target: str
    mode: str
    status: str = "complete"
    dry_run: bool = False
    run_id: str | None = None
    counts: dict[str, int] = attrs.field(factory=dict)
    reasons: list[str] = attrs.field(factory=list)
    started_at: _dt.datetime = attrs.field(factory=utcnow)
    finished_at: _dt.datetime | None = None
    duration: float = 0.0
    requests: int = 0
    plan: Plan | None = None
    failures: list[str] = attrs.field(factory=list)
    orphans: list[PlannedAction] = attrs.field(factory=list)
    threshold_tripped: bool = False

    @property
    def partial(self) -> bool:
        """Whether the run was partial (nothing deprovisioned)."""
        return self.status == "partial"

    def format(self) -> str:
        """A short readable summary."""
        kind = "Plan" if self.dry_run else "Run"
        head = f"{kind} {self.run_id or ''} on target {self.target} ({self.mode}): {self.status}"
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()) if n) or "nothing"
        lines = [
            head.replace("  ", " "),
            f"  {counts}; {self.requests} request(s) in {self.duration:.2f}s",
        ]
        for r in self.reasons:
            lines.append(f"  note: {r}")
        if self.threshold_tripped:
            lines.append("  deletes held for approval: the deletion threshold was exceeded")
        for f in self.failures[:20]:
            lines.append(f"  failed: {f}")
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more failures")
        if self.dry_run and self.plan is not None:
            lines.append(self.plan.format())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


# ---------------------------------------------------------------------- entry points


def reconcile(
    provisioner: Provisioner,
    target: str | Target | None = None,
    *,
    mode: str = "incremental",
    dry_run: bool = False,
    orphans: OrphanPolicy | str | None = None,
    memberships: bool = True,
) -> RunSummary:
    """Bring a target in step with the source for every key at once (scheduled mode).

    Args:
        provisioner: the :class:`~scimsync.Provisioner`.
        target: the target's name (``None``: the only target).
        mode: ``"incremental"`` (only what changed in the source since the last push; no
            HTTP for unchanged keys) or ``"deep"`` (also read the target once and repair
            drift, vanished objects, memberships and orphans).
        dry_run: plan only: send nothing but GETs, record nothing but the run.
        orphans: the :class:`OrphanPolicy` (or its action name) for deep runs; default
            ``"ignore"``.
        memberships: deep runs read and repair group memberships on the target.

    Returns:
        The :class:`RunSummary` (also recorded as a run; ``run_finished`` is sent).
        Failures of single objects are counted, never raised; a broken run returns
        status ``"failed"``.

    Raises:
        ConfigurationError: bad arguments (unknown mode or target).

    .. versionadded:: 0.1.0
    """
    if mode not in MODES:
        raise ConfigurationError(
            f"reconcile(mode={mode!r}): choose {' or '.join(repr(m) for m in MODES)}"
        )
    t = resolve_target(provisioner, target)
    return _Reconciler(
        provisioner,
        t,
        mode,
        dry_run=dry_run,
        policy=_orphan_policy(orphans),
        memberships=memberships,
    ).run()


def plan(
    provisioner: Provisioner,
    target: str | Target | None = None,
    *,
    mode: str = "incremental",
    orphans: OrphanPolicy | str | None = None,
    memberships: bool = True,
) -> Plan:
    """What :func:`reconcile` would do, object by object, changing nothing.

    Same arguments as :func:`reconcile`; ``print(plan(...))`` lists every action.

    .. versionadded:: 0.1.0
    """
    summary = reconcile(
        provisioner, target, mode=mode, dry_run=True, orphans=orphans, memberships=memberships
    )
    assert summary.plan is not None
    if summary.status == "failed":
        summary.plan.partial = True
        summary.plan.reasons = list(summary.reasons)
    return summary.plan


def resolve_target(provisioner: Provisioner, target: str | Target | None) -> Target:
    """The :class:`~scimsync.Target` named ``target`` (``None``: the only one)."""
    prov: Any = provisioner
    if target is None:
        targets = list(prov.targets)
        if len(targets) != 1:
            raise ConfigurationError(
                "this provisioner has several targets "
                f"({', '.join(t.name for t in targets)}): pass target=<name>"
            )
        return targets[0]  # type: ignore[no-any-return]
    name = target if isinstance(target, str) else target.name
    return prov.target(name)  # type: ignore[no-any-return]


def record_failed_run(
    provisioner: Provisioner,
    target: str | None,
    *,
    mode: str,
    error: BaseException,
    duration: float = 0.0,
) -> None:
    """Record a run that failed before it could record itself (used by the Scheduler)."""
    prov: Any = provisioner
    try:
        name = resolve_target(provisioner, target).name
    except ConfigurationError:
        name = target or "*"
    rec = prov.store.start_run(name, mode)
    text = f"{type(error).__name__}: {error}"
    prov.store.finish_run(rec.id, "failed", {}, text[:2000])


def approve_orphan(
    provisioner: Provisioner, pending_id: int, *, by: str | None = None
) -> ReportRecord:
    """Approve an orphan delete that a deep reconcile held (deletion threshold) and apply it.

    Held orphan deletes are pending actions with action ``delete_orphan_user`` /
    ``delete_orphan_group`` whose ``key`` is the remote id (an orphan has no local key).
    The remote object is deleted now (a 404 counts as done), the action is marked
    ``applied`` and a ``deleted`` report record is stored and signalled.

    Raises:
        KeyError: no such pending action.
        ValueError: it is not a pending orphan delete.
        ScimHTTPError: the DELETE failed (the action stays ``approved``).

    .. versionadded:: 0.1.0
    """
    return apply_orphan_pending(provisioner, pending_id, by=by)


def apply_orphan_pending(
    provisioner: Provisioner, pending: Any, *, by: str | None = None
) -> ReportRecord:
    """See :func:`approve_orphan`; ``pending`` is a ``PendingAction`` or its id."""
    prov: Any = provisioner
    store = prov.store
    p = store.get_pending(pending) if isinstance(pending, int) else pending
    if p is None:
        raise KeyError(f"no pending action #{pending}")
    if not str(p.action).startswith("delete_orphan_"):
        raise ValueError(f"pending action #{p.id} ({p.action}) is not a held orphan delete")
    if p.status not in ("pending", "approved"):
        raise ValueError(f"pending action #{p.id} is already {p.status}")
    t = prov.target(p.target)
    store.set_pending_status(p.id, "approved", by)
    ep = t.client.users if p.kind == "user" else t.client.groups
    rid = p.remote_id or p.key
    detail = f"orphan {p.kind} {rid} deleted after approval of pending action #{p.id}"
    t0 = time.perf_counter()
    try:
        ep.delete(rid)
    except NotFoundError:
        detail += " (it was already gone)"
    store.set_pending_status(p.id, "applied", by)
    record = ReportRecord(
        target=t.name,
        kind=p.kind,
        key=rid,
        operation="delete",
        outcome="deleted",
        detail=detail,
        duration_ms=round((time.perf_counter() - t0) * 1000, 3),
    )
    try:
        record = store.add_report(record)
    except Exception:
        log.exception("could not record the approved orphan delete %s", rid)
    _send_outcome(prov, record)
    return record


def read_group_members(target: Target, group_id: str) -> list[str]:
    """The remote member ids of one group, read the way the profile says.

    AWS never returns members on group reads: they are read with
    ``GET /Users?filter=groups.value eq "<gid>"``, cursor-paged (one request per
    100 members). Other targets return ``members`` on ``GET /Groups/<gid>``.

    .. versionadded:: 0.1.0
    """
    profile = target.profile
    client = target.client
    if profile.member_read == "users_by_group_filter" or not profile.group_members_readable:
        ids = []
        for u in client.users.list_raw(
            Filter.eq("groups.value", group_id),
            page_size=profile.page_size,
            pagination=profile.pagination,
        ):
            rid = u.get("id")
            if isinstance(rid, str):
                ids.append(rid)
        return sorted(set(ids))
    data = client.groups.get_raw(group_id)
    return _member_ids(data)


def _member_ids(rep: Mapping[str, Any] | None) -> list[str]:
    out = set()
    for m in (rep or {}).get("members") or []:
        if isinstance(m, Mapping) and isinstance(m.get("value"), str):
            out.add(m["value"])
    return sorted(out)


def _with_members(rep: Mapping[str, Any], ids: Iterable[str]) -> dict[str, Any]:
    out = {k: v for k, v in rep.items() if k != "members"}
    out["members"] = [{"value": i} for i in sorted(set(ids))]
    return out


# ---------------------------------------------------------------------- the run


@attrs.define(slots=True)
class _LinkInfo:
    remote_id: str
    last_hash: str | None
    state: str
    deactivated_at: _dt.datetime | None
    updated_at: _dt.datetime


class _SourceIncomplete(Exception):
    pass


def _action_of(trace: SyncTrace) -> str:
    """The plan action for an engine trace."""
    if trace.outcome == "failed":
        return "fail"
    if trace.outcome == "held":
        return "hold"
    if trace.outcome == "skipped":
        return "skip"
    op = trace.operation
    if op in ("create", "recreate", "adopt", "update", "deactivate", "delete"):
        return op
    return {
        "created": "create",
        "adopted": "adopt",
        "updated": "update",
        "deactivated": "deactivate",
        "deleted": "delete",
    }.get(trace.outcome, op or trace.outcome)


class _Reconciler:
    """One reconcile run of one target."""

    def __init__(
        self,
        prov: Provisioner,
        t: Target,
        mode: str,
        *,
        dry_run: bool,
        policy: OrphanPolicy,
        memberships: bool,
    ) -> None:
        self.prov: Any = prov
        self.t = t
        self.mode = mode
        self.dry_run = dry_run
        self.policy = policy
        self.memberships = memberships
        self.store: Any = self.prov.store
        self.source: Any = self.prov.source
        self.plan = Plan(target=t.name, mode=mode)
        self.reasons: list[str] = []
        self.source_complete = True
        self.target_complete = True
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.orphans: list[PlannedAction] = []
        self.pre_actions: list[PlannedAction] = []
        self.recreated: set[tuple[str, str]] = set()
        self.repaired: dict[tuple[str, str], str] = {}
        self.threshold_tripped = False
        self.ctx: RunContext | None = None
        # deep-read state, per kind
        self.remote_seen: dict[str, set[str]] = {"user": set(), "group": set()}
        self.unlinked: dict[str, dict[str, dict[str, Any]]] = {"user": {}, "group": {}}
        self.drift: dict[str, dict[str, tuple[dict[str, Any], str]]] = {"user": {}, "group": {}}
        self.read_ok: dict[str, bool] = {"user": False, "group": False}
        self._problems_noted = False

    # ------------------------------------------------------------------ driver

    def run(self) -> RunSummary:
        t = self.t
        started = utcnow()
        t0 = time.perf_counter()
        req0 = _request_count(t)
        record = self.store.start_run(t.name, self.mode, dry_run=self.dry_run)
        status = "complete"
        error: str | None = None
        try:
            with self.prov.run(dry_run=self.dry_run, run_id=record.id) as ctx:
                self.ctx = ctx
                self._execute()
            self._collect(ctx)
        except Exception as exc:
            log.exception("reconcile of target %s (%s) failed", t.name, self.mode)
            status = "failed"
            error = f"{type(exc).__name__}: {exc}"
            self.reasons.append(f"the run failed: {error}")
            if self.ctx is not None:
                self._collect(self.ctx)
        if status != "failed" and not (self.source_complete and self.target_complete):
            status = "partial"
        self.plan.partial = status != "complete"
        self.plan.reasons = list(self.reasons)
        counts = {k: v for k, v in self.counts.items() if v}
        finished = utcnow()
        summary = RunSummary(
            target=t.name,
            mode=self.mode,
            status=status,
            dry_run=self.dry_run,
            run_id=record.id,
            counts=counts,
            reasons=list(self.reasons),
            started_at=started,
            finished_at=finished,
            duration=time.perf_counter() - t0,
            requests=_request_count(t) - req0,
            plan=self.plan,
            failures=self.failures,
            orphans=self.orphans,
            threshold_tripped=self.threshold_tripped,
        )
        note = error or ("; ".join(self.reasons) if self.reasons else None)
        try:
            run_record = self.store.finish_run(record.id, status, counts, note)
        except Exception:
            log.exception("could not record the end of run %s", record.id)
            run_record = record
        _send_run_finished(self.prov, run_record, summary)
        return summary

    def _execute(self) -> None:
        if self.mode == "deep":
            for kind in _KINDS:
                self._read_target(kind)
        user_links = self._load_links("user")
        users = self._source_keys("user")
        self._check_source_problems()
        touched = self._reconcile_kind("user", users, user_links)
        group_links = self._load_links("group")
        if self.mode == "deep" and self.memberships and self.t.toggles.membership:
            self._check_memberships(group_links)
        groups = self._source_keys("group")
        self._check_source_problems()
        if groups or group_links:
            if touched:  # users were synced: groups must see their new links
                user_links = self._load_links("user")
            self._reconcile_kind("group", groups, group_links, user_links)
        if self.mode == "deep":
            self._handle_orphans()
        if not self.source_complete or not self.target_complete:
            self.reasons.append("nothing was deprovisioned in this run (incomplete read)")

    # ------------------------------------------------------------------ reading

    def _load_links(self, kind: str) -> dict[str, _LinkInfo]:
        out: dict[str, _LinkInfo] = {}
        for link in self.store.iter_links(self.t.name, kind):
            out[link.key] = _LinkInfo(
                link.remote_id, link.last_hash, link.state, link.deactivated_at, link.updated_at
            )
        return out

    def _source_keys(self, kind: str) -> list[str]:
        fn = getattr(self.source, f"iter_{kind}_keys", None) or getattr(
            self.source, f"{kind}_keys", None
        )
        if fn is None:
            self.source_complete = False
            self.reasons.append(
                f"the source has no iter_{kind}_keys(): cannot list {kind}s, so nothing of that "
                "kind is reconciled"
            )
            return []
        keys: list[str] = []
        try:
            for k in fn():
                keys.append(str(k))
        except Exception as exc:
            self.source_complete = False
            self.reasons.append(
                f"reading the source's {kind} keys failed after {len(keys)}: "
                f"{type(exc).__name__}: {exc}"
            )
        return list(dict.fromkeys(keys))

    def _check_source_problems(self) -> None:
        """A source that skipped bad rows (``CSVSource``/``JSONSource`` ``problems``) was
        read incompletely: a key on a skipped row looks deleted, so deprovision nothing."""
        if self._problems_noted:
            return
        problems: list[Any]
        try:
            problems = list(source_problems(self.source))
        except Exception as exc:
            problems = [f"reading source.problems failed: {type(exc).__name__}: {exc}"]
        if not problems:
            return
        self._problems_noted = True
        self.source_complete = False
        self.reasons.append(
            f"the source reported {len(problems)} problem(s) (bad rows skipped), "
            f"the first: {problems[0]}"
        )

    def _read_target(self, kind: str) -> None:
        """Read every ``kind`` object of the target once, in pages.

        Keeps the unlinked ones whole (for matching and orphans) and, for linked ones,
        only whether they drifted from the last push.
        """
        t = self.t
        ep = t.client.users if kind == "user" else t.client.groups
        profile = t.profile
        seen = self.remote_seen[kind]
        count = 0
        try:
            total: int | None = None
            for page in ep.pages_raw(page_size=profile.page_size, pagination=profile.pagination):
                resources = page.get("Resources") or []
                tr = page.get("totalResults")
                if isinstance(tr, int) and not isinstance(tr, bool):
                    total = tr if total is None else max(total, tr)
                for rep in resources:
                    rid = rep.get("id")
                    if not isinstance(rid, str) or not rid:
                        raise MalformedResponseError(
                            f"a {kind} in the target's list has no string 'id'",
                            method="GET",
                            path="/Users" if kind == "user" else "/Groups",
                        )
                    count += 1
                    seen.add(rid)
                    self._inspect_remote(kind, rid, rep)
            if profile.pagination == "index" and total is not None and total > count:
                raise _SourceIncomplete(
                    f"the target said it has {total} {kind}s but only {count} could be read "
                    "(it ignores startIndex: use cursor pagination)"
                )
            if profile.pagination == "index" and count and count % profile.page_size == 0:
                self._probe_past_end(kind, count)
        except Exception as exc:
            self.target_complete = False
            text = (
                str(exc) if isinstance(exc, _SourceIncomplete) else (f"{type(exc).__name__}: {exc}")
            )
            self.reasons.append(f"reading the target's {kind}s failed after {count}: {text}")
            return
        self.read_ok[kind] = True

    def _probe_past_end(self, kind: str, count: int) -> None:
        """Index paging ended on a full page: ask for the page after it. A server that
        ignores ``startIndex`` (AWS without a cursor) answers with objects already read, or
        says ``totalResults`` = page size while it holds more; either way the read cannot
        be trusted (the cause of the classic 'missing users, then 409 storm' bug)."""
        path = "/Users" if kind == "user" else "/Groups"
        query: list[tuple[str, str | None]] = [
            ("startIndex", str(count + 1)),
            ("count", str(self.t.profile.page_size)),
        ]
        _status, data = self.t.client.request("GET", path, query=query)
        resources = data.get("Resources") if isinstance(data, dict) else None
        if not resources:
            return
        ids = [r.get("id") for r in resources if isinstance(r, dict)]
        if any(i in self.remote_seen[kind] for i in ids):
            raise _SourceIncomplete(
                f"the target ignores startIndex (asked for {kind}s after the first {count}, "
                "it answered with ones already read): only the first page can be read; use "
                "cursor pagination"
            )
        raise _SourceIncomplete(
            f"the target has more than the {count} {kind}s its list pages returned"
        )

    def _inspect_remote(self, kind: str, rid: str, rep: dict[str, Any]) -> None:
        link = self.store.get_link_by_remote(self.t.name, kind, rid)
        if link is None:
            self.unlinked[kind][rid] = rep
            return
        if self.mode != "deep":
            return  # an incremental run reads the target only to match new keys
        last = dict(link.last_rep or {})
        last_attrs = {k: v for k, v in last.items() if k != "members"}
        remote = strip_server_fields(rep)
        remote.pop("members", None)
        projected = project(remote, last_attrs)
        if not last_attrs:
            return
        try:
            ops = diff_resource(projected, last_attrs, self.t.profile, kind=kind, key=link.key)
        except ValidationError:
            ops = None
        if ops == []:
            return
        what = _paths(ops) if ops else "the whole object"
        if kind == "group" and "members" in last:
            projected["members"] = last["members"]
        self.drift[kind][link.key] = (projected, what)

    # ------------------------------------------------------------------ desired state

    def _desired(
        self, kind: str, key: str, linked: bool, user_links: Mapping[str, _LinkInfo] | None
    ) -> tuple[bool, dict[str, Any] | None]:
        """``(in_scope, rep as the engine would store it)``; rep is ``None`` when the key
        is not linked (it is synced anyway) or not in scope. Raises
        ``SourceReadError`` / ``ValidationError`` as the engine would."""
        members = None
        if kind == "group" and user_links is not None:
            members = {k: info.remote_id for k, info in user_links.items()}
        # An unlinked key is synced whatever its rep: only its scope matters here (the
        # engine builds, validates and reports it).
        d = self.prov.desired(
            self.t, kind, key, run=self.ctx, member_links=members, scope_only=not linked
        )
        if not d.in_scope or not linked:
            return d.in_scope, None
        return True, d.rep

    def _unchanged(self, kind: str, key: str, info: _LinkInfo, rep: dict[str, Any]) -> bool:
        """Whether the engine would send nothing for this linked, in-scope key."""
        if representation_hash(rep) == info.last_hash:
            return True
        # The hash differs: ask the diff, exactly as the engine does (create-only
        # fields, attribute order in lists the profile does not care about, ...).
        link = self.store.get_link(self.t.name, kind, key)
        if link is None:
            return False
        last = dict(link.last_rep or {})
        mapping = self.t.user_mapping if kind == "user" else self.t.group_mapping
        new = dict(rep)
        if kind == "group":
            if _member_ids(last) != _member_ids(new):
                return False
            last.pop("members", None)
            new.pop("members", None)
        try:
            ops = diff_resource(
                last,
                new,
                self.t.profile,
                ignore_paths=tuple(mapping.create_only_paths),
                kind=kind,
                key=key,
            )
        except ValidationError:
            return False
        if ops != []:
            return False
        return not (
            kind == "user" and info.state == "deactivated" and new.get("active") is not False
        )

    def _delete_due(self, kind: str, info: _LinkInfo) -> bool:
        """Whether a deactivated user's link still has work to do (deletion)."""
        pol = self.t.policies
        if kind == "group":
            return pol.group_lifecycle != "keep"
        if info.state != "deactivated":
            return True
        if pol.user_lifecycle == "delete":
            return True
        if pol.user_lifecycle == "deactivate":
            return False
        since = info.deactivated_at or info.updated_at
        return bool(self.prov._now() >= since + pol.grace_period)

    # ------------------------------------------------------------------ one kind

    def _reconcile_kind(
        self,
        kind: str,
        keys: list[str],
        links: dict[str, _LinkInfo],
        user_links: dict[str, _LinkInfo] | None = None,
    ) -> bool:
        """Decide and hand over the keys of one kind; ``True`` if any was synced."""
        to_sync: list[str] = []
        deprovision: list[str] = []
        unchanged = 0
        seen: set[str] = set()
        for key in keys:
            seen.add(key)
            info = links.get(key)
            try:
                in_scope, rep = self._desired(kind, key, info is not None, user_links)
            except ValidationError:
                to_sync.append(key)  # the engine records the problem
                continue
            except ScimSyncError as exc:  # SourceReadError and friends
                self.source_complete = False
                self.reasons.append(f"{kind} {key}: {exc}")
                continue
            except Exception as exc:  # a scope predicate or mapping bug: the engine reports it
                log.debug("desired(%s %s) raised %r; handing it to the engine", kind, key, exc)
                to_sync.append(key)
                continue
            if not in_scope:
                if info is not None and self._delete_due(kind, info):
                    deprovision.append(key)
                elif info is not None:
                    unchanged += 1
                continue
            if info is None or rep is None or key in self.drift[kind] or self._vanished(kind, info):
                to_sync.append(key)
            elif self._unchanged(kind, key, info, rep):
                unchanged += 1
            else:
                to_sync.append(key)
        # Linked keys the source no longer has.
        for key, info in links.items():
            if key in seen:
                continue
            if kind == "group":
                wanted = self._delete_due(kind, info)  # False under group_lifecycle="keep"
            else:
                wanted = self._delete_due(kind, info) or info.state != "deactivated"
            if wanted:
                deprovision.append(key)
            else:
                unchanged += 1
        if not (self.source_complete and self.target_complete) and deprovision:
            self.reasons.append(
                f"{len(deprovision)} {kind}(s) gone from the source or out of scope were "
                "left alone (no deprovisioning in an incomplete run)"
            )
            deprovision = []
        self.counts["unchanged"] += unchanged
        self.plan.unchanged += unchanged
        self._apply(kind, to_sync, deprovision, links)
        return bool(to_sync or deprovision)

    def _vanished(self, kind: str, info: _LinkInfo) -> bool:
        return (
            self.mode == "deep"
            and self.read_ok[kind]
            and info.remote_id not in self.remote_seen[kind]
        )

    def _apply(
        self, kind: str, to_sync: list[str], deprovision: list[str], links: dict[str, _LinkInfo]
    ) -> None:
        """Hand the keys to the engine; repair drift and vanished links first."""
        t = self.t
        keys: list[str] = []
        for key in to_sync + deprovision:
            info = links.get(key)
            if info is not None and self._vanished(kind, info):
                if self.dry_run:
                    action = "recreate" if key in to_sync else "forget"
                    self.pre_actions.append(
                        PlannedAction(
                            kind,
                            action,
                            key,
                            info.remote_id,
                            None,
                            f"remote {kind} {info.remote_id} is gone from the target"
                            + ("" if key in to_sync else "; the link would be removed"),
                        )
                    )
                    if key in to_sync:
                        self.counts["created"] += 1
                    continue
                # Forget the dead link; the engine then matches (in the index) or creates.
                self.store.delete_link(t.name, kind, key)
                self.recreated.add((kind, key))
                log.info("%s %s: remote %s vanished; relinking", kind, key, info.remote_id)
            elif key in self.drift[kind]:
                projected, what = self.drift[kind][key]
                if self.dry_run:
                    self.pre_actions.append(
                        PlannedAction(
                            kind,
                            "repair",
                            key,
                            info.remote_id if info else None,
                            None,
                            f"changed on the target: {what}",
                        )
                    )
                    self.counts["updated"] += 1
                    continue
                self._rebase(kind, key, projected)
                self.repaired[(kind, key)] = what
            keys.append(key)
        if not keys:
            return
        index = None
        if self.read_ok[kind]:
            mapping = t.user_mapping if kind == "user" else t.group_mapping
            index = RemoteIndex(kind, mapping, self.unlinked[kind].values())
        elif self.mode == "incremental":
            index = self._maybe_index(kind, keys, links)
        self.prov.sync_many(kind, keys, target=t.name, dry_run=self.dry_run, remote_index=index)

    def _maybe_index(
        self, kind: str, keys: list[str], links: dict[str, _LinkInfo]
    ) -> RemoteIndex | None:
        """Incremental runs with many new keys read the target in pages once instead of
        one filter lookup per key (whichever sends fewer requests)."""
        t = self.t
        new = sum(1 for k in keys if k not in links)
        estimate_pages = (len(links) + new) // max(1, t.profile.page_size) + 1
        if new <= max(estimate_pages, 3):
            return None
        self._read_target(kind)
        if not self.read_ok[kind]:
            # Not fatal for an incremental run: the engine looks keys up one by one.
            self.target_complete = True
            self.reasons.append(f"the target's {kind}s were looked up one by one instead")
            return None
        mapping = t.user_mapping if kind == "user" else t.group_mapping
        return RemoteIndex(kind, mapping, self.unlinked[kind].values())

    def _rebase(self, kind: str, key: str, remote_rep: dict[str, Any]) -> None:
        """Make the link say what the target really holds, so the engine's ordinary diff
        pushes the repair."""
        link = self.store.get_link(self.t.name, kind, key)
        if link is None:
            return
        rep = dict(remote_rep)
        if kind == "group" and "members" not in rep and link.last_rep:
            rep["members"] = link.last_rep.get("members", [])
        self.store.save_link(
            attrs.evolve(
                link, last_rep=rep, last_hash=representation_hash(rep), updated_at=utcnow()
            )
        )

    # ------------------------------------------------------------------ memberships

    def _check_memberships(self, group_links: dict[str, _LinkInfo]) -> None:
        """Read each linked group's real members (AWS: by filter) and note differences."""
        if not self.read_ok["group"]:
            return
        t = self.t
        todo = [
            (key, info.remote_id)
            for key, info in group_links.items()
            if info.remote_id in self.remote_seen["group"]
        ]
        if not todo:
            return

        def read(item: tuple[str, str]) -> tuple[str, str, list[str] | None, str | None]:
            key, gid = item
            try:
                return key, gid, read_group_members(t, gid), None
            except NotFoundError:
                return key, gid, None, None  # deleted meanwhile: the group flow recreates it
            except Exception as exc:
                return key, gid, None, f"{type(exc).__name__}: {exc}"

        workers = max(1, min(t.concurrency, len(todo)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scimsync-members") as pool:
            results = list(pool.map(read, todo))
        failed = [(k, e) for k, _g, _m, e in results if e]
        if failed:
            self.target_complete = False
            self.reasons.append(
                f"reading the members of {len(failed)} group(s) failed (first: group "
                f"{failed[0][0]}: {failed[0][1]})"
            )
        for key, _gid, members, _err in results:
            if members is None:
                continue
            link = self.store.get_link(t.name, "group", key)
            if link is None:
                continue
            pushed = _member_ids(link.last_rep)
            if pushed == members:
                continue
            extra = sorted(set(members) - set(pushed))
            missing = sorted(set(pushed) - set(members))
            what = f"members +{len(extra)} on the target, -{len(missing)} missing there"
            prev = self.drift["group"].get(key)
            if prev is not None:
                rep = dict(prev[0])
                what = f"{prev[1]}; {what}"
            else:
                rep = dict(link.last_rep or {})
            rep = _with_members(rep, members)
            self.drift["group"][key] = (rep, what)

    # ------------------------------------------------------------------ orphans

    def _handle_orphans(self) -> None:
        t = self.t
        adopted: set[tuple[str, str]] = set()
        if self.dry_run and self.ctx is not None:
            adopted = {
                (tr.kind, tr.remote_id)
                for tr in self.ctx.traces
                if tr.outcome == "adopted" and tr.remote_id
            }
        for kind in _KINDS:
            if not self.read_ok[kind]:
                continue
            for rid, rep in self.unlinked[kind].items():
                if (kind, rid) in adopted:
                    continue
                if (
                    not self.dry_run
                    and self.store.get_link_by_remote(t.name, kind, rid) is not None
                ):
                    continue  # adopted in this run
                self.orphans.append(self._orphan_action(kind, rid, rep))
        self.counts["orphans"] += len(self.orphans)
        if not self.orphans:
            return
        complete = self.source_complete and self.target_complete
        deletes = [a for a in self.orphans if a.action == "delete"]
        if deletes and complete:
            assert self.ctx is not None
            limit = t.policies.limit_for(self.store.count_links(t.name))
            planned = self.ctx.deletes_planned(t.name) + len(deletes)
            if limit is not None and planned > limit:
                self.threshold_tripped = True
                reason = (
                    f"{planned} deletions in this run (incl. {len(deletes)} orphan(s)) exceed "
                    f"the deletion threshold of {limit} on target {t.name}"
                )
                self.reasons.append(reason + ": orphan deletes held for approval")
                self.orphans = [
                    attrs.evolve(a, action="hold", reason=f"{a.reason}; held: {reason}")
                    if a.action == "delete"
                    else a
                    for a in self.orphans
                ]
        for a in self.orphans:
            self._apply_orphan(a, complete)

    def _orphan_action(self, kind: str, rid: str, rep: Mapping[str, Any]) -> PlannedAction:
        display = rep.get("userName") if kind == "user" else rep.get("displayName")
        display = str(display) if display is not None else None
        base = f"no local {kind} is linked to it"
        why = self.policy.ignored_because(kind, rep)
        if why is not None:
            return PlannedAction(kind, "ignored", None, rid, display, f"{base}; {why}", True)
        action = self.policy.action if kind in self.policy.kinds else "ignore"
        if action == "ignore":
            return PlannedAction(
                kind, "orphan", None, rid, display, f"{base} (policy: ignore)", True
            )
        if action == "deactivate":
            if kind == "group":
                return PlannedAction(
                    kind,
                    "report",
                    None,
                    rid,
                    display,
                    f"{base}; groups cannot be deactivated, reported instead",
                    True,
                )
            if rep.get("active") is False:
                return PlannedAction(
                    kind, "orphan", None, rid, display, f"{base}; already inactive", True
                )
        return PlannedAction(kind, action, None, rid, display, f"{base} (policy: {action})", True)

    def _apply_orphan(self, a: PlannedAction, complete: bool) -> None:
        t = self.t
        assert a.remote_id is not None
        if a.action in ("deactivate", "delete") and not complete:
            return  # already noted: nothing is deprovisioned in an incomplete run
        if self.dry_run:
            if a.action == "deactivate":
                self.counts["deactivated"] += 1
            elif a.action == "delete":
                self.counts["deleted"] += 1
            elif a.action == "hold":
                self.counts["held"] += 1
            return
        outcome = "skipped"
        status: int | None = None
        error = None
        detail = a.reason
        operation = "orphan"
        ep = t.client.users if a.kind == "user" else t.client.groups
        t0 = time.perf_counter()
        try:
            if a.action == "deactivate":
                operation = "deactivate"
                ep.patch_raw(
                    a.remote_id, [{"op": t.profile.op("replace"), "path": "active", "value": False}]
                )
                outcome = "deactivated"
            elif a.action == "delete":
                operation = "delete"
                try:
                    ep.delete(a.remote_id)
                except NotFoundError:
                    detail += " (it was already gone)"
                outcome = "deleted"
            elif a.action == "hold":
                operation = "delete"
                pending = self.store.add_pending(
                    t.name,
                    a.kind,
                    a.remote_id,
                    f"delete_orphan_{a.kind}",
                    remote_id=a.remote_id,
                    reason=a.reason,
                )
                outcome = "held"
                detail += f" (pending action #{pending.id})"
            elif a.action == "report":
                outcome = "skipped"
            else:
                return  # "orphan" (ignore policy) and "ignored": listed, not recorded
        except ScimSyncError as exc:
            outcome = "failed"
            error = str(exc)
            status = getattr(exc, "status", None)
            self.failures.append(f"orphan {a.kind} {a.remote_id}: {exc}")
        self.counts[outcome] += 1
        assert self.ctx is not None
        record = ReportRecord(
            target=t.name,
            kind=a.kind,
            key=a.remote_id,
            operation=operation,
            outcome=outcome,
            display=a.display,
            http_status=status,
            detail=detail,
            duration_ms=round((time.perf_counter() - t0) * 1000, 3),
            error=error,
            run_id=self.ctx.run_id,
        )
        try:
            record = self.store.add_report(record)
        except Exception:
            log.exception("could not record the orphan %s %s", a.kind, a.remote_id)
        _send_outcome(self.prov, record)

    # ------------------------------------------------------------------ end

    def _collect(self, ctx: RunContext) -> None:
        """Counts, failures and the plan, from the engine's traces once the run closed
        (deferred deletes have their final outcome by then)."""
        actions = list(self.pre_actions)
        for tr in ctx.traces:
            self.counts[tr.outcome] += 1
            if tr.outcome == "unchanged":
                self.plan.unchanged += 1
                continue
            if tr.outcome == "failed":
                self.failures.append(f"{tr.kind} {tr.key}: {tr.error or tr.detail}")
            reason = (tr.detail or "") if tr.outcome != "failed" else str(tr.error or tr.detail)
            action = _action_of(tr)
            if action == "create" and (tr.kind, tr.key) in self.recreated:
                action = "recreate"
                reason = f"it had vanished from the target; {reason}"
            elif action == "update" and (tr.kind, tr.key) in self.repaired:
                action = "repair"
                reason = f"changed on the target: {self.repaired[(tr.kind, tr.key)]}; {reason}"
            actions.append(PlannedAction(tr.kind, action, tr.key, tr.remote_id, tr.display, reason))
        actions.sort(key=lambda a: _KINDS.index(a.kind) if a.kind in _KINDS else 9)
        self.plan.actions = actions + list(self.orphans)
        if ctx.held_deletes:
            self.threshold_tripped = True


def _paths(ops: list[dict[str, Any]]) -> str:
    seen: dict[str, None] = {}
    for op in ops:
        p = op.get("path")
        if p is None and isinstance(op.get("value"), dict):
            for k in op["value"]:
                seen[str(k)] = None
        else:
            seen[str(p)] = None
    return ", ".join(seen) or "attributes"


def _request_count(t: Target) -> int:
    n = getattr(t.client, "request_count", 0)
    return int(n) if isinstance(n, int) else 0


def _send_run_finished(prov: Any, run: Any, summary: Any) -> None:
    try:
        from scimsync import signals

        signals.run_finished.send(prov, run=run, target=summary.target, summary=summary)
    except Exception:
        log.exception("a run-finished receiver raised; ignored")


def _send_outcome(prov: Any, record: ReportRecord) -> None:
    try:
        from scimsync import signals

        signals.signal_for(record.outcome).send(prov, record=record, target=record.target)
    except Exception:
        log.exception("a %s signal receiver raised; ignored", record.outcome)
