"""Import and adoption: link the users and groups a target already has to local ones.

For a target that was filled before scimsync (by hand, by another tool, by an earlier
IdP): :func:`import_remote` reads the target once, matches each unlinked local object by
the mapping's matching rules (``externalId``, then ``userName``, then email for users;
``externalId`` then ``displayName`` for groups), and links the pairs **without changing
anything on the target** (links with origin ``"adopted"``). The link remembers what the
target holds, so the next sync sends only the differences. What matched and what did not
is reported on both sides; an optional ``create_local`` callback creates local users for
remote ones nobody has (the "bi-directional" import).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from scimsync._diff import representation_hash
from scimsync._engine._job import project, strip_server_fields
from scimsync._engine._run import RemoteIndex
from scimsync._reconcile import (
    _send_run_finished,
    _with_members,
    read_group_members,
    resolve_target,
)
from scimsync._store import Link, ReportRecord
from scimsync._store._records import utcnow

if TYPE_CHECKING:
    from scimsync._engine import Provisioner, Target

__all__ = ["ImportItem", "ImportResult", "import_remote"]

log = logging.getLogger("scimsync.import")

_KINDS = ("user", "group")


@attrs.frozen
class ImportItem:
    """One object in an import result.

    Attributes:
        kind: ``"user"`` or ``"group"``.
        key: the local key (``None`` for a remote-only object).
        remote_id: the remote id (``None`` for a local-only object).
        display: userName / displayName.
        note: how it matched (``"userName='ann@example.org'"``) or why it did not.

    .. versionadded:: 0.1.0
    """

    kind: str
    key: str | None
    remote_id: str | None
    display: str | None = None
    note: str = ""

    def __str__(self) -> str:
        left = self.key if self.key is not None else "-"
        right = self.remote_id if self.remote_id is not None else "-"
        shown = f" {self.display}" if self.display else ""
        tail = f"  ({self.note})" if self.note else ""
        return f"{self.kind:<5} local {left} <-> remote {right}{shown}{tail}"


@attrs.define
class ImportResult:
    """What :func:`import_remote` found and linked.

    Attributes:
        target: the target's name.
        dry_run: nothing was linked or created.
        run_id: the :class:`~scimsync.RunRecord` id (mode ``"import"``).
        matched: local and remote objects linked (or, in a dry run, that would be).
        created_local: remote users for which ``create_local`` made a local user (linked).
        local_only: local objects (in scope) with no remote match; a sync creates them.
        remote_only: remote objects with no local match (orphans).
        already_linked: local objects that were linked before the import.
        conflicts: matches refused (a remote object matching two local ones, or already
            linked to another key).
        failures: local objects that could not be read or mapped, and callback failures.
        status: ``"complete"`` or ``"partial"`` (reading the target or source failed).
        reasons: why the result is partial.

    .. versionadded:: 0.1.0
    """

    target: str
    dry_run: bool = False
    run_id: str | None = None
    matched: list[ImportItem] = attrs.field(factory=list)
    created_local: list[ImportItem] = attrs.field(factory=list)
    local_only: list[ImportItem] = attrs.field(factory=list)
    remote_only: list[ImportItem] = attrs.field(factory=list)
    already_linked: int = 0
    conflicts: list[ImportItem] = attrs.field(factory=list)
    failures: list[str] = attrs.field(factory=list)
    status: str = "complete"
    reasons: list[str] = attrs.field(factory=list)
    duration: float = 0.0
    requests: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """Totals (``matched``, ``created_local``, ``local_only``, ``remote_only``,
        ``already_linked``, ``conflicts``, ``failed``)."""
        return {
            "matched": len(self.matched),
            "created_local": len(self.created_local),
            "local_only": len(self.local_only),
            "remote_only": len(self.remote_only),
            "already_linked": self.already_linked,
            "conflicts": len(self.conflicts),
            "failed": len(self.failures),
        }

    def format(self, *, limit: int = 50) -> str:
        """A readable report (at most ``limit`` lines per section)."""
        verb = "would link" if self.dry_run else "linked"
        lines = [
            f"Import from target {self.target}: {self.status}"
            + (" [dry run]" if self.dry_run else "")
        ]
        c = self.counts
        lines.append(
            f"  {c['matched']} matched ({verb}, nothing changed on the target), "
            f"{c['created_local']} created locally, {c['already_linked']} already linked, "
            f"{c['local_only']} local only, {c['remote_only']} remote only, "
            f"{c['conflicts']} conflicts, {c['failed']} failed; {self.requests} request(s)"
        )
        for r in self.reasons:
            lines.append(f"  note: {r}")
        for title, items in (
            ("matched", self.matched),
            ("created locally", self.created_local),
            ("local only (a sync will create them)", self.local_only),
            ("remote only (orphans)", self.remote_only),
            ("conflicts (not linked)", self.conflicts),
        ):
            if not items:
                continue
            lines.append(f"  {title}:")
            for item in items[:limit]:
                lines.append(f"    {item}")
            if len(items) > limit:
                lines.append(f"    ... and {len(items) - limit} more")
        for f in self.failures[:limit]:
            lines.append(f"  failed: {f}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


CreateLocal = Callable[[Mapping[str, Any]], Any]


def import_remote(
    provisioner: Provisioner,
    target: str | Target | None = None,
    *,
    create_local: CreateLocal | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Link existing remote users and groups to local ones, changing nothing on the target.

    Args:
        provisioner: the :class:`~scimsync.Provisioner`.
        target: the target's name (``None``: the only target).
        create_local: ``create_local(remote_user_rep) -> key | None``: called for each
            remote *user* with no local match; create the local user in your app and
            return its key (the pair is then linked), or ``None`` to leave it.
        dry_run: report what would be linked; link nothing, call no callback.

    Returns:
        The :class:`ImportResult` (also recorded as a run of mode ``"import"``).

    .. versionadded:: 0.1.0
    """
    t = resolve_target(provisioner, target)
    return _Importer(provisioner, t, create_local, dry_run).run()


class _Importer:
    def __init__(
        self, prov: Provisioner, t: Target, create_local: CreateLocal | None, dry_run: bool
    ) -> None:
        self.prov: Any = prov
        self.t = t
        self.create_local = create_local
        self.dry_run = dry_run
        self.store: Any = self.prov.store
        self.source: Any = self.prov.source
        self.result = ImportResult(target=t.name, dry_run=dry_run)
        self.reports: list[ReportRecord] = []

    def run(self) -> ImportResult:
        t0 = time.perf_counter()
        req0 = int(getattr(self.t.client, "request_count", 0))
        record = self.store.start_run(self.t.name, "import", dry_run=self.dry_run)
        self.result.run_id = record.id
        status = "complete"
        error: str | None = None
        try:
            with self.prov.run(dry_run=True, run_id=record.id) as ctx:
                self.ctx = ctx
                for kind in _KINDS:
                    self._import_kind(kind)
        except Exception as exc:
            log.exception("import from target %s failed", self.t.name)
            status = "failed"
            error = f"{type(exc).__name__}: {exc}"
            self.result.reasons.append(f"the import failed: {error}")
        if status == "complete" and self.result.reasons:
            status = "partial"
        self.result.status = status
        self.result.duration = time.perf_counter() - t0
        self.result.requests = int(getattr(self.t.client, "request_count", 0)) - req0
        if self.reports:
            try:
                self.store.add_reports(self.reports)
            except Exception:
                log.exception("could not store the import's report records")
        counts = {k: v for k, v in self.result.counts.items() if v}
        note = error or ("; ".join(self.result.reasons) or None)
        try:
            run_record = self.store.finish_run(record.id, status, counts, note)
        except Exception:
            log.exception("could not record the end of import run %s", record.id)
            run_record = record
        _send_run_finished(self.prov, run_record, self.result)
        return self.result

    # ------------------------------------------------------------------ one kind

    def _import_kind(self, kind: str) -> None:
        t = self.t
        res = self.result
        ep = t.client.users if kind == "user" else t.client.groups
        mapping = t.user_mapping if kind == "user" else t.group_mapping
        remote: dict[str, dict[str, Any]] = {}
        try:
            for rep in ep.list_raw(page_size=t.profile.page_size, pagination=t.profile.pagination):
                rid = rep.get("id")
                if isinstance(rid, str) and rid:
                    remote[rid] = rep
        except Exception as exc:
            res.reasons.append(
                f"reading the target's {kind}s failed after {len(remote)}: {type(exc).__name__}: {exc}"
            )
        linked_ids = {lk.remote_id for lk in self.store.iter_links(t.name, kind)}
        unlinked = {rid: rep for rid, rep in remote.items() if rid not in linked_ids}
        index = RemoteIndex(kind, mapping, unlinked.values())
        claimed: dict[str, str] = {}
        keys_fn = getattr(self.source, f"iter_{kind}_keys")
        try:
            keys = [str(k) for k in keys_fn()]
        except Exception as exc:
            res.reasons.append(
                f"reading the source's {kind} keys failed: {type(exc).__name__}: {exc}"
            )
            keys = []
        for key in keys:
            if self.store.get_link(t.name, kind, key) is not None:
                res.already_linked += 1
                continue
            try:
                rep = self._local_rep(kind, key)
            except Exception as exc:
                res.failures.append(f"{kind} {key}: {type(exc).__name__}: {exc}")
                continue
            if rep is None:
                continue  # deleted meanwhile or out of scope: not ours to import
            display = _display(kind, rep)
            hit = index.lookup(mapping.match_values(rep, normalise=True))
            if hit is None:
                res.local_only.append(ImportItem(kind, key, None, display, "no remote match"))
                continue
            attr, value, remote_rep = hit
            rid = str(remote_rep["id"])
            if rid in claimed:
                res.conflicts.append(
                    ImportItem(
                        kind,
                        key,
                        rid,
                        display,
                        f"{attr}={value!r} also matches local {kind} {claimed[rid]}; left unlinked",
                    )
                )
                continue
            claimed[rid] = key
            note = f"{attr}={value!r}"
            if not self._link(kind, key, rid, rep, remote_rep, note):
                continue
            res.matched.append(ImportItem(kind, key, rid, display, note))
        for rid, rep in unlinked.items():
            if rid in claimed:
                continue
            display = _display(kind, rep)
            if kind == "user" and self.create_local is not None and not self.dry_run:
                self._create_local(rid, rep)
                continue
            note = "no local match" + (
                "; create_local would be asked" if self.create_local and kind == "user" else ""
            )
            res.remote_only.append(ImportItem(kind, None, rid, display, note))

    def _local_rep(self, kind: str, key: str) -> dict[str, Any] | None:
        """The local object's rep as the mapping builds it (for matching and projection),
        or ``None`` if it is gone or out of scope."""
        from scimsync._engine._job import Job
        from scimsync._engine._trace import SyncTrace

        t = self.t
        job = Job(
            target=t,
            kind=kind,
            key=key,
            run=self.ctx,
            trace=SyncTrace(kind=kind, key=key, target=t.name, dry_run=True),
            dry_run=True,
        )
        obj = self.prov._read_source(job, kind, key)
        if obj is None:
            return None
        if kind == "user":
            in_scope, _why, _rep = self.prov._user_in_scope(job, obj)
        else:
            pred = t.scope.group_predicate
            in_scope = pred is None or bool(pred(obj))
        if not in_scope:
            return None
        mapping = t.user_mapping if kind == "user" else t.group_mapping
        rep, _problems = mapping.build_checked(obj, key, for_create=False)
        rep = dict(rep)
        rep.pop("members", None)
        return rep

    def _link(
        self,
        kind: str,
        key: str,
        rid: str,
        rep: Mapping[str, Any],
        remote_rep: Mapping[str, Any],
        note: str,
    ) -> bool:
        """Link key <-> rid, remembering what the target holds (not what we would push)."""
        t = self.t
        current = project(strip_server_fields(remote_rep), rep)
        current.pop("members", None)
        if kind == "group" and t.toggles.membership:
            try:
                current = _with_members(current, read_group_members(t, rid))
            except Exception as exc:
                self.result.failures.append(
                    f"group {key}: reading the members of remote group {rid} failed: {exc}"
                )
                return False
        if self.dry_run:
            return True
        now = utcnow()
        display = _display(kind, remote_rep)
        try:
            self.store.save_link(
                Link(
                    target=t.name,
                    kind=kind,
                    key=key,
                    remote_id=rid,
                    last_rep=current,
                    last_hash=representation_hash(current),
                    origin="adopted",
                    display=display,
                    created_at=now,
                    updated_at=now,
                )
            )
        except Exception as exc:
            self.result.conflicts.append(ImportItem(kind, key, rid, display, f"not linked: {exc}"))
            return False
        self.reports.append(
            ReportRecord(
                target=t.name,
                kind=kind,
                key=key,
                operation="import",
                outcome="adopted",
                display=display,
                detail=f"linked to {rid} by {note}; nothing changed on the target",
                run_id=self.result.run_id,
            )
        )
        return True

    def _create_local(self, rid: str, rep: Mapping[str, Any]) -> None:
        assert self.create_local is not None
        display = _display("user", rep)
        try:
            key = self.create_local(dict(rep))
        except Exception as exc:
            self.result.failures.append(f"create_local for remote user {rid} ({display}): {exc}")
            return
        if key is None:
            self.result.remote_only.append(
                ImportItem("user", None, rid, display, "create_local declined")
            )
            return
        key = str(key)
        try:
            local = self._local_rep("user", key)
        except Exception:
            local = None
        shape = local if local is not None else strip_server_fields(rep)
        if self._link("user", key, rid, shape, rep, "create_local"):
            self.result.created_local.append(
                ImportItem("user", key, rid, display, "created locally by create_local")
            )


def _display(kind: str, rep: Mapping[str, Any]) -> str | None:
    v = rep.get("userName") if kind == "user" else rep.get("displayName")
    return str(v) if v is not None else None
