"""Steps both flows share: reading the source, build/validate, match, gates, links, HTTP."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from scimsync._diff import _overlay, diff_resource, representation_hash
from scimsync._engine._job import Job, Stop
from scimsync._engine._run import DeferredDelete
from scimsync._filter import Filter
from scimsync._mapping import parse_path
from scimsync._store import Link
from scimsync.errors import (
    LinkConflictError,
    MalformedResponseError,
    NotFoundError,
    SourceReadError,
    ValidationError,
)

if TYPE_CHECKING:
    from scimsync._engine._config import Target
    from scimsync._engine._run import RunContext
    from scimsync._engine._trace import SyncTrace

__all__ = ["FlowBase", "SourceReadError", "sorted_member_ids"]

_T = TypeVar("_T")


def sorted_member_ids(rep: Mapping[str, Any] | None) -> list[str]:
    """The member ids kept in a group link's ``last_rep``."""
    if not rep:
        return []
    out = []
    for m in rep.get("members") or []:
        if isinstance(m, Mapping) and isinstance(m.get("value"), str):
            out.append(m["value"])
    return sorted(set(out))


def _endpoint(t: Target, kind: str) -> Any:
    return t.client.users if kind == "user" else t.client.groups


class FlowBase:
    """Helpers used by the user and group flows (mixed into the Provisioner)."""

    _source: Any
    _store: Any
    _clock: Callable[[], dt.datetime]
    _sleep: Callable[[float], None]
    _created_at: dict[tuple[str, str, str], float]
    _created_lock: threading.Lock

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
    ) -> SyncTrace:
        raise NotImplementedError  # the Provisioner's

    # ------------------------------------------------------------------ basics

    def _now(self) -> dt.datetime:
        return self._clock()

    def _read_source(self, job: Job, kind: str, key: str) -> Any:
        try:
            if kind == "user":
                return self._source.get_user(key)
            return self._source.get_group(key)
        except Exception as exc:
            raise SourceReadError(
                f"{kind} {key}: reading the source failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _read_member_keys(self, group_key: str) -> frozenset[str] | None:
        try:
            keys = self._source.group_member_keys(group_key)
        except Exception as exc:
            raise SourceReadError(
                f"group {group_key}: reading its members from the source failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if keys is None:
            return None
        return frozenset(str(k) for k in keys)

    # ------------------------------------------------------------------ build / validate

    def _build(
        self, job: Job, mapping: Any, obj: Any, *, for_create: bool, step: bool = True
    ) -> dict[str, Any]:
        rep, problems = mapping.build_checked(obj, job.key, for_create=for_create)
        if problems:
            job.trace.step("build", False, "; ".join(p.message for p in problems))
            raise ValidationError(job.kind, job.key, problems)
        if job.kind == "group":
            rep.pop("members", None)
        if step:
            job.trace.step(
                "build",
                True,
                "built the " + ("create" if for_create else "update") + " representation",
                rep,
            )
        return dict(rep)

    def _prepare(self, job: Job, rep: dict[str, Any]) -> dict[str, Any]:
        """The profile's fixes (missing-names policy) without validation."""
        if job.kind == "user":
            rep = job.target.profile.prepare_user(rep)
        return dict(rep)

    def _validate(self, job: Job, rep: dict[str, Any]) -> dict[str, Any]:
        profile = job.target.profile
        if job.kind == "user":
            rep, problems = profile.check_user(rep, job.key)
        else:
            rep, problems = profile.check_group(rep, job.key)
        if problems:
            job.trace.step("validate", False, "; ".join(p.message for p in problems))
            raise ValidationError(job.kind, job.key, problems)
        job.trace.step("validate", True, f"valid for the {profile.name} profile")
        return dict(rep)

    def _diff(
        self,
        job: Job,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        *,
        ignore: Iterable[str] = (),
    ) -> list[dict[str, Any]] | None:
        """PATCH ops, ``[]`` for no change, ``None`` for "send a PUT"."""
        return diff_resource(
            old, new, job.target.profile, ignore_paths=tuple(ignore), kind=job.kind, key=job.key
        )

    @staticmethod
    def _merge_create_only(
        old: Mapping[str, Any], new: Mapping[str, Any], paths: Iterable[str]
    ) -> dict[str, Any]:
        paths = tuple(paths)
        return _overlay(old, new, paths) if paths else dict(new)

    # ------------------------------------------------------------------ matching

    def _filterable(self, job: Job) -> tuple[str, ...]:
        p = job.target.profile
        return tuple(
            p.filterable_user_attributes if job.kind == "user" else p.filterable_group_attributes
        )

    def _match(
        self, job: Job, mapping: Any, rep: Mapping[str, Any]
    ) -> tuple[str, str, dict[str, Any]] | None:
        """Find an existing remote object by the mapping's matching rules, in order."""
        t = job.target
        index = job.run.remote_index(t.name, job.kind)
        if index is not None:
            hit = index.lookup(mapping.match_values(rep, normalise=True))
            if hit is None:
                job.trace.step(
                    "match", True, f"no match in the remote index ({len(index)} {job.kind}s)"
                )
                return None
            attr, value, remote = hit
            job.trace.step("match", True, f"matched {attr}={value!r} in the remote index", remote)
            return hit
        pairs = mapping.match_values(rep, normalise=False)
        return self._lookup(job, pairs, "matching rules " + ", ".join(mapping.matching))

    def _lookup(
        self, job: Job, pairs: Iterable[tuple[str, str]], what: str
    ) -> tuple[str, str, dict[str, Any]] | None:
        filterable = self._filterable(job)
        ep = _endpoint(job.target, job.kind)
        tried: list[str] = []
        skipped: list[str] = []
        for attr, value in pairs:
            if attr not in filterable:
                skipped.append(attr)
                continue
            tried.append(f"{attr} eq {value!r}")
            remote = ep.find_raw(Filter.eq(attr, value))
            if remote is not None:
                if not isinstance(remote, dict):
                    raise MalformedResponseError(f"{job.label}: a filter result is not an object")
                job.trace.step(
                    "match", True, f"found an existing {job.kind} by {attr} eq {value!r}", remote
                )
                return attr, value, remote
        msg = f"no existing {job.kind} found ({what}"
        if tried:
            msg += "; tried " + ", ".join(tried)
        if skipped:
            msg += "; not filterable on this target: " + ", ".join(dict.fromkeys(skipped))
        job.trace.step("match", True, msg + ")")
        return None

    def _conflict_lookup(
        self, job: Job, rep: Mapping[str, Any], attrs_: Iterable[str]
    ) -> tuple[str, str, dict[str, Any]] | None:
        pairs: list[tuple[str, str]] = []
        for attr in attrs_:
            for v in parse_path(attr).values(rep):
                if isinstance(v, str) and v:
                    pairs.append((attr, v))
        return self._lookup(job, pairs, "after the 409: " + ", ".join(attrs_))

    def _check_unclaimed(self, job: Job, remote_id: str, display: Any) -> None:
        other = self._store.get_link_by_remote(job.target.name, job.kind, remote_id)
        if other is not None and other.key != job.key:
            raise LinkConflictError(job.target.name, job.kind, job.key, remote_id, other.key)

    @staticmethod
    def _remote_id(job: Job, remote: Any) -> str:
        rid = remote.get("id") if isinstance(remote, Mapping) else None
        if not isinstance(rid, str) or not rid:
            raise MalformedResponseError(f"{job.label}: the server's {job.kind} has no string 'id'")
        return rid

    # ------------------------------------------------------------------ gates

    def _gate(
        self, job: Job, operation: str, approval: str, toggle: str, remote_id: str | None
    ) -> None:
        """Stop the flow with ``skipped`` (toggle off) or ``held`` (approval needed)."""
        t = job.target
        if not getattr(t.toggles, toggle):
            job.trace.step(
                "action", True, f"{operation}: Toggles.{toggle} is off for target {t.name}"
            )
            job.done(
                "skipped",
                operation,
                f"{operation} not done: Toggles.{toggle} is off for target {t.name}",
            )
        if approval in t.policies.require_approval and approval not in job.approved:
            self._hold(
                job,
                operation,
                approval,
                remote_id,
                f"{approval} requires approval on target {t.name}",
            )

    def _hold(
        self, job: Job, operation: str, approval: str, remote_id: str | None, reason: str
    ) -> None:
        if job.dry_run:
            job.trace.step("action", True, f"{operation} would be held for approval: {reason}")
            job.done("held", operation, reason)
        pending = self._store.add_pending(
            job.target.name, job.kind, job.key, approval, remote_id=remote_id, reason=reason
        )
        job.trace.step(
            "action",
            True,
            f"{operation} held for approval as pending action #{pending.id}: {reason}",
        )
        job.done("held", operation, f"{reason} (pending action #{pending.id})")

    # ------------------------------------------------------------------ links

    def _save_link(
        self,
        job: Job,
        remote_id: str,
        rep: Mapping[str, Any],
        *,
        origin: str,
        link: Link | None = None,
        absent: bool = False,
        **changes: Any,
    ) -> Link:
        """Save the key's link to ``remote_id`` with ``rep`` as the last pushed state.

        ``link`` is the current link if the caller has it; ``absent=True`` says the caller
        knows there is none (it read none under the key's lock, or just deleted it), so
        the store is not asked again.
        """
        if job.dry_run:
            raise AssertionError(
                "dry runs never write links"
            )  # pragma: no cover - guarded by callers
        now = self._now()
        rep = dict(rep)
        display = rep.get("userName") if job.kind == "user" else rep.get("displayName")
        if link is None and not absent:
            link = self._store.get_link(job.target.name, job.kind, job.key)
        if link is not None and link.remote_id == remote_id:
            new = Link(
                target=link.target,
                kind=link.kind,
                key=link.key,
                remote_id=remote_id,
                last_rep=rep,
                last_hash=representation_hash(rep),
                origin=origin,
                state=changes.get("state", link.state),
                display=str(display) if display is not None else link.display,
                created_at=link.created_at,
                updated_at=now,
                deactivated_at=changes.get("deactivated_at", link.deactivated_at),
            )
        else:
            new = Link(
                target=job.target.name,
                kind=job.kind,
                key=job.key,
                remote_id=remote_id,
                last_rep=rep,
                last_hash=representation_hash(rep),
                origin=origin,
                state=changes.get("state", "active"),
                display=str(display) if display is not None else None,
                created_at=now,
                updated_at=now,
                deactivated_at=changes.get("deactivated_at"),
            )
        self._store.save_link(new)
        if origin == "created" and (link is None or link.remote_id != remote_id):
            self._note_created(job, remote_id)
        job.trace.remote_id = remote_id
        if new.display:
            job.trace.display = new.display
        return new

    # ------------------------------------------------------------------ consistency

    def _note_created(self, job: Job, remote_id: str) -> None:
        """Remember a resource this provisioner just created (see :meth:`_consistent`)."""
        name = (job.target.name, job.kind, remote_id)
        job.run.note_created(*name)
        window = job.target.profile.consistency_retry.window
        if window > 0:
            now = time.monotonic()
            with self._created_lock:
                self._created_at[name] = now
                if len(self._created_at) > 10_000:
                    for k, t0 in list(self._created_at.items()):
                        if now - t0 > window:
                            del self._created_at[k]

    def _fresh(self, job: Job, kind: str, remote_id: str) -> bool:
        """Whether ``remote_id`` was created moments ago: in this run, or within the
        profile's ``consistency_retry.window`` seconds by this provisioner."""
        t = job.target
        if job.run.created_here(t.name, kind, remote_id):
            return True
        window = t.profile.consistency_retry.window
        if window <= 0:
            return False
        with self._created_lock:
            t0 = self._created_at.get((t.name, kind, remote_id))
        return t0 is not None and time.monotonic() - t0 <= window

    def _consistent(
        self,
        job: Job,
        fresh: Iterable[tuple[str, str]],
        what: str,
        call: Callable[[], _T],
    ) -> _T:
        """``call()``, retrying a 404 per ``profile.consistency_retry`` when any of the
        ``(kind, remote_id)`` pairs in ``fresh`` was created moments ago (eventual
        consistency, aws-scim.md §8.5). Any other 404 is raised at once."""
        waits = job.target.profile.consistency_retry.waits()
        tries = 0
        while True:
            try:
                return call()
            except NotFoundError:
                if tries >= len(waits):
                    raise
                recent = [rid for kind, rid in fresh if self._fresh(job, kind, rid)]
                if not recent:
                    raise
                wait = waits[tries]
                tries += 1
                job.trace.step(
                    "action",
                    True,
                    f"404 on {what}, but {recent[0]} was created moments ago (eventual "
                    f"consistency?): retry {tries} of {len(waits)} after {wait:g} s",
                )
                self._sleep(wait)

    # ------------------------------------------------------------------ HTTP

    def _send_update(
        self,
        job: Job,
        remote_id: str,
        ops: list[dict[str, Any]] | None,
        full_rep: Mapping[str, Any],
    ) -> str:
        """PATCH ``ops`` (or PUT ``full_rep`` when ``ops`` is None); returns the method used."""
        ep = _endpoint(job.target, job.kind)
        fresh = [(job.kind, remote_id)]
        if ops is None:
            what = f"PUT /{_plural(job.kind)}/{remote_id}"
            job.trace.step("action", True, f"{what} (full replace)")
            self._consistent(job, fresh, what, lambda: ep.replace_raw(remote_id, dict(full_rep)))
            return "PUT"
        what = f"PATCH /{_plural(job.kind)}/{remote_id}"
        job.trace.step("action", True, f"{what} with {len(ops)} operation(s)")
        self._consistent(job, fresh, what, lambda: ep.patch_raw(remote_id, ops))
        return "PATCH"

    # ------------------------------------------------------------------ delete

    def _delete(self, job: Job, link: Link) -> None:
        t = job.target
        toggle = "delete_users" if job.kind == "user" else "delete_groups"
        self._gate(job, "delete", f"delete_{job.kind}", toggle, link.remote_id)
        if t.policies.deletion_threshold is not None and not job.bypass_threshold:
            job.deferred = True
            job.trace.step(
                "action",
                True,
                f"delete of {link.remote_id} deferred to the end of the run "
                f"(deletion threshold {t.policies.deletion_threshold})",
            )
            job.trace.outcome = "held"
            job.trace.operation = "delete"
            job.trace.remote_id = link.remote_id
            job.run.defer(
                DeferredDelete(
                    target=t,
                    kind=job.kind,
                    key=job.key,
                    remote_id=link.remote_id,
                    trace=job.trace,
                    apply=lambda: self._apply_delete(job, link),
                    hold=lambda reason: self._hold(
                        job, "delete", f"delete_{job.kind}", link.remote_id, reason
                    ),
                )
            )
            raise Stop
        if job.dry_run:
            job.done(
                "deleted",
                "delete",
                f"DELETE /{_plural(job.kind)}/{link.remote_id}",
                remote_id=link.remote_id,
            )
        self._apply_delete(job, link)

    def _apply_delete(self, job: Job, link: Link) -> None:
        if job.dry_run:
            job.done(
                "deleted",
                "delete",
                f"DELETE /{_plural(job.kind)}/{link.remote_id}",
                remote_id=link.remote_id,
            )
        ep = _endpoint(job.target, job.kind)
        job.trace.step("action", True, f"DELETE /{_plural(job.kind)}/{link.remote_id}")
        gone = ""
        try:
            ep.delete(link.remote_id)
        except NotFoundError:
            gone = " (it was already gone)"
        self._store.delete_link(job.target.name, job.kind, job.key)
        job.done(
            "deleted",
            "delete",
            f"deleted {link.remote_id}{gone}; link removed",
            remote_id=link.remote_id,
        )


def _plural(kind: str) -> str:
    return "Users" if kind == "user" else "Groups"
