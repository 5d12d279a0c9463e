"""The group flow: scope, build, validate, members, match/adopt/create, update, delete."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scimsync._diff import diff_members
from scimsync._engine._job import Job, project, strip_server_fields
from scimsync._engine._shared import FlowBase, sorted_member_ids
from scimsync._engine._users import ops_text
from scimsync._filter import Filter, quote_filter_value
from scimsync._store import Link
from scimsync.errors import ConflictError, NotFoundError, ScimHTTPError

if TYPE_CHECKING:
    pass

__all__ = ["GroupFlow"]

_CONFLICT_ATTRS = ("externalId", "displayName")


class GroupFlow(FlowBase):
    """``sync_group`` for one target (mixed into :class:`~scimsync.Provisioner`)."""

    def _group_flow(self, job: Job) -> None:
        t = job.target
        trace = job.trace
        obj = self._read_source(job, "group", job.key)
        link = self._store.get_link(t.name, "group", job.key)
        if link is not None:
            trace.remote_id = link.remote_id
            trace.display = link.display

        if obj is None:
            in_scope, why = False, "not found in the source (deleted locally)"
        elif t.scope.group_predicate is not None and not t.scope.group_predicate(obj):
            in_scope, why = False, "the group predicate returned False"
        else:
            in_scope, why = (
                True,
                "no scope rules" if t.scope.group_predicate is None else "group predicate passed",
            )
        trace.step("scope", True, ("in scope: " if in_scope else "out of scope: ") + why)
        if not in_scope:
            if link is None:
                job.done("skipped", "none", f"out of scope ({why}) and not linked: nothing to do")
            assert link is not None
            if t.policies.group_lifecycle == "keep":
                job.done(
                    "skipped",
                    "delete",
                    "Policies.group_lifecycle is 'keep': the remote group is left as it is",
                    remote_id=link.remote_id,
                )
            self._delete(job, link)
            return

        rep = self._build(job, t.group_mapping, obj, for_create=link is None)
        rep = self._validate(job, rep)
        trace.display = rep.get("displayName") or trace.display
        member_ids = self._resolve_members(job)
        if link is not None:
            self._update_group(job, link, obj, rep, member_ids)
        else:
            hit = self._match(job, t.group_mapping, rep)
            if hit is not None:
                self._adopt_group(job, obj, hit, member_ids)
            else:
                self._create_group(job, obj, rep, member_ids, operation="create")

    # ------------------------------------------------------------------ members

    def _resolve_members(self, job: Job) -> list[str] | None:
        """The wanted member ids (``None`` when membership is switched off)."""
        t = job.target
        if not t.toggles.membership:
            job.trace.step("build", True, "members not managed: Toggles.membership is off")
            return None
        keys = self._read_member_keys(job.key) or frozenset()
        ids: list[str] = []
        provisioned: list[str] = []
        missing: list[str] = []
        decides_scope = job.key in (t.scope.required_groups or ())
        known = self._store.get_links(t.name, "user", keys)  # one query, not one per member
        for mk in sorted(keys):
            link = known.get(mk)
            if decides_scope and link is not None and link.state == "deactivated":
                job.followups.append(mk)  # may be back in scope through this group
            if link is None:
                if job.dry_run:
                    missing.append(f"{mk} (not linked yet: would be synced first)")
                    continue
                sub = self._sync_one(t, "user", mk, job.run)
                link = self._store.get_link(t.name, "user", mk)
                if link is None:
                    missing.append(f"{mk} ({sub.outcome})")
                    continue
                provisioned.append(mk)
            ids.append(link.remote_id)
        msg = f"{len(keys)} member key(s), {len(set(ids))} resolved to remote ids"
        if provisioned:
            msg += f"; {len(provisioned)} user(s) provisioned first ({', '.join(provisioned[:10])}"
            msg += ", ...)" if len(provisioned) > 10 else ")"
        if missing:
            msg += f"; left out: {', '.join(missing[:10])}" + (", ..." if len(missing) > 10 else "")
        # Members left out (out of scope, failed) do not fail the group: their own traces
        # and reports say why.
        job.trace.step("build", True, msg, {"members": sorted(set(ids))})
        return sorted(set(ids))

    def _member_block(self, job: Job) -> str | None:
        """Why membership changes may not be sent now (held/skipped), or ``None``."""
        t = job.target
        if "membership" in t.policies.require_approval and "membership" not in job.approved:
            if job.dry_run:
                return "membership changes would be held for approval"
            p = self._store.add_pending(
                t.name,
                "group",
                job.key,
                "membership",
                remote_id=job.trace.remote_id,
                reason=f"membership requires approval on target {t.name}",
            )
            return f"membership changes held for approval as pending action #{p.id}"
        return None

    def _apply_members(
        self,
        job: Job,
        gid: str,
        attrs_rep: Mapping[str, Any],
        old_ids: list[str],
        new_ids: list[str],
        origin: str,
    ) -> tuple[int, int]:
        """Send member changes chunk by chunk, keeping the link true after each chunk."""
        t = job.target
        chunk = t.profile.max_members_per_patch
        requests = member_requests(t.profile, old_ids, new_ids)
        current = set(old_ids)
        added = removed = 0
        if requests:
            job.trace.step(
                "action",
                True,
                f"membership: {len(set(new_ids) - current)} to add, "
                f"{len(current - set(new_ids))} to remove, "
                f"in {len(requests)} PATCH request(s) of at most {chunk}",
            )
        try:
            for ops, adds, removes in requests:
                # A 404 right after creating the group (or its new members) may be lag.
                fresh = [("group", gid)] + [("user", i) for i in adds]
                self._consistent(
                    job,
                    fresh,
                    f"PATCH /Groups/{gid}",
                    functools.partial(t.client.groups.patch_raw, gid, ops),
                )
                current.update(adds)
                current.difference_update(removes)
                added += len(adds)
                removed += len(removes)
        finally:
            if requests and (added or removed):
                self._save_link(job, gid, _with_members(attrs_rep, current), origin=origin)
        return added, removed

    # ------------------------------------------------------------------ create / adopt

    def _create_group(
        self,
        job: Job,
        obj: Any,
        rep: dict[str, Any],
        member_ids: list[str] | None,
        *,
        operation: str,
    ) -> None:
        t = job.target
        self._gate(job, operation, "create_group", "create_groups", None)
        n = len(member_ids or [])
        if job.dry_run:
            job.done(
                "created",
                operation,
                f"POST /Groups displayName={rep.get('displayName')!r}, then {n} member(s)",
            )
        job.trace.step(
            "action", True, f"{operation}: POST /Groups displayName={rep.get('displayName')!r}"
        )
        try:
            created = t.client.groups.create_raw(rep)
        except ConflictError as exc:
            job.trace.step(
                "action", True, f"409 on create ({exc.detail or 'duplicate'}): looking the group up"
            )
            found = self._conflict_lookup(job, rep, _CONFLICT_ATTRS)
            if found is None:
                raise ConflictError(
                    f"group {job.key}: the server reports a duplicate but no group with the same "
                    "externalId or displayName could be found to adopt",
                    method=exc.method,
                    path=exc.path,
                    status=exc.status,
                    request_id=exc.request_id,
                    detail=exc.detail,
                ) from exc
            self._store.delete_link(t.name, "group", job.key)
            self._adopt_group(job, obj, found, member_ids, after_conflict=True)
            return
        gid = self._remote_id(job, created)
        if operation != "create":  # a recreate: forget the link to the vanished group
            self._store.delete_link(t.name, "group", job.key)
        self._save_link(job, gid, _with_members(rep, []), origin="created", absent=True)
        note = ""
        if member_ids:
            block = self._member_block(job)
            if block:
                note = f"; {block}"
            else:
                added, _ = self._apply_members(job, gid, rep, [], member_ids, "created")
                note = f"; {added} member(s) added"
        job.done("created", operation, f"created with id {gid}{note}", remote_id=gid)

    def _remote_member_ids(self, job: Job, gid: str, remote: Mapping[str, Any]) -> list[str] | None:
        """Current members of a remote group, or ``None`` when the target cannot say."""
        t = job.target
        profile = t.profile
        try:
            if profile.group_members_readable:
                if "members" not in remote:
                    remote = t.client.groups.get_raw(gid)
                return sorted_member_ids(remote)
            if profile.member_read == "users_by_group_filter":
                return sorted(
                    u["id"]
                    for u in t.client.users.list_raw(
                        Filter.eq("groups.value", gid),
                        page_size=profile.page_size,
                        pagination=profile.pagination,
                    )
                    if isinstance(u.get("id"), str)
                )
        except ScimHTTPError as exc:
            job.trace.step(
                "match", True, f"could not read the group's members ({exc}); adding only"
            )
        return None

    def _adopt_group(
        self,
        job: Job,
        obj: Any,
        hit: tuple[str, str, dict[str, Any]],
        member_ids: list[str] | None,
        *,
        after_conflict: bool = False,
    ) -> None:
        t = job.target
        attr, value, remote = hit
        gid = self._remote_id(job, remote)
        self._check_unclaimed(job, gid, remote.get("displayName"))
        job.trace.remote_id = gid
        desired = self._build(job, t.group_mapping, obj, for_create=False, step=False)
        remote_rep = strip_server_fields(remote)
        old = project(remote_rep, desired)
        ops = self._diff(job, old, desired)
        old_ids: list[str] | None = None
        if member_ids is not None:
            old_ids = self._remote_member_ids(job, gid, remote)
        # Members we cannot read: add the wanted ones, leave unknown extras alone.
        known_old = old_ids if old_ids is not None else []
        adds = set(member_ids or []) - set(known_old)
        removes = set(known_old) - set(member_ids or []) if member_ids is not None else set()
        how = "adopted after a 409" if after_conflict else "adopted"
        job.trace.step(
            "diff",
            True,
            f"{ops_text(ops)}; members +{len(adds)} -{len(removes)}"
            + (
                ""
                if old_ids is not None or member_ids is None
                else " (remote members unreadable: adding only)"
            ),
            ops,
        )
        if job.dry_run:
            job.done("adopted", "adopt", f"{how} ({attr}={value!r})", remote_id=gid)
        self._save_link(job, gid, _with_members(old, known_old), origin="adopted")
        notes = []
        if ops != []:
            if t.toggles.update_groups:
                self._send_update(job, gid, ops, {**remote_rep, **desired})
                old = desired
            else:
                notes.append("attributes left unchanged (Toggles.update_groups is off)")
        self._save_link(job, gid, _with_members(old, known_old), origin="adopted")
        if member_ids is not None and (adds or removes):
            block = self._member_block(job)
            if block:
                notes.append(block)
            else:
                a, r = self._apply_members(
                    job,
                    gid,
                    old,
                    known_old,
                    member_ids if old_ids is not None else sorted(set(known_old) | set(member_ids)),
                    "adopted",
                )
                notes.append(f"members +{a} -{r}")
        job.done(
            "adopted",
            "adopt",
            f"{how} ({attr}={value!r})" + "".join(f"; {n}" for n in notes),
            remote_id=gid,
        )

    # ------------------------------------------------------------------ linked update

    def _update_group(
        self, job: Job, link: Link, obj: Any, rep: dict[str, Any], member_ids: list[str] | None
    ) -> None:
        t = job.target
        if link.last_rep is None:
            # No push recorded (an imported link): compare with what the server holds.
            try:
                remote = t.client.groups.get_raw(link.remote_id)
            except NotFoundError:
                job.trace.step("match", True, f"404: linked group {link.remote_id} is gone")
                if not job.dry_run:
                    self._store.delete_link(t.name, "group", job.key)
                rep_c = self._build(job, t.group_mapping, obj, for_create=True, step=False)
                self._create_group(job, obj, rep_c, member_ids, operation="recreate")
                return
            remote_ids = self._remote_member_ids(job, link.remote_id, remote)
            old = _with_members(project(strip_server_fields(remote), rep), remote_ids or [])
            job.trace.step(
                "match", True, "no push recorded for this link: compared with the server"
            )
        else:
            old = dict(link.last_rep)
        old_ids = sorted_member_ids(old)
        old_attrs = {k: v for k, v in old.items() if k != "members"}
        ops = self._diff(job, old_attrs, rep, ignore=t.group_mapping.create_only_paths)
        new_ids = old_ids if member_ids is None else member_ids
        adds = sorted(set(new_ids) - set(old_ids))
        removes = sorted(set(old_ids) - set(new_ids))
        # A member id no longer linked to any user was deleted by us (or found gone).
        # Profile.keeps_deleted_members=False (AWS drops the membership with the user and
        # answers 400 to removing an unknown user): forget it without a request. True (RFC
        # servers such as scim2-server keep a dangling member): remove it as usual.
        gone: list[str] = []
        if not keeps_deleted_members(t.profile):
            gone = [i for i in removes if self._store.get_link_by_remote(t.name, "user", i) is None]
        if gone:
            job.trace.step(
                "diff",
                True,
                f"{len(gone)} member(s) no longer linked to a user (deleted): "
                "forgotten without a request",
            )
            old_ids = [i for i in old_ids if i not in set(gone)]
            removes = [i for i in removes if i not in set(gone)]
            if member_ids is None:
                new_ids = old_ids
        if job.key in (t.scope.required_groups or ()):
            # Members who left an assigned group may be out of scope now.
            for i in removes:
                left = self._store.get_link_by_remote(t.name, "user", i)
                if left is not None:
                    job.followups.append(left.key)
        if ops == [] and not adds and not removes:
            job.trace.step("diff", True, "no changes since the last push")
            if gone and not job.dry_run:
                self._save_link(
                    job,
                    link.remote_id,
                    _with_members(old_attrs, old_ids),
                    origin=link.origin,
                    link=link,
                )
            job.done("unchanged", "none", "already in step; nothing sent", remote_id=link.remote_id)
        job.trace.step("diff", True, f"{ops_text(ops)}; members +{len(adds)} -{len(removes)}", ops)

        attr_block: str | None = None
        if ops != []:
            if not t.toggles.update_groups:
                attr_block = "attributes not updated: Toggles.update_groups is off"
            elif (
                "update_group" in t.policies.require_approval and "update_group" not in job.approved
            ):
                if adds or removes:
                    if job.dry_run:
                        attr_block = "attribute changes would be held for approval"
                    else:
                        p = self._store.add_pending(
                            t.name,
                            "group",
                            job.key,
                            "update_group",
                            remote_id=link.remote_id,
                            reason=f"update_group requires approval on target {t.name}",
                        )
                        attr_block = (
                            f"attribute changes held for approval as pending action #{p.id}"
                        )
                else:
                    self._gate(job, "update", "update_group", "update_groups", link.remote_id)
            if attr_block and not (adds or removes):
                job.done("skipped", "update", attr_block, remote_id=link.remote_id)
        member_block = self._member_block(job) if (adds or removes) else None
        if member_block and (ops == [] or attr_block):
            outcome = "held" if "held" in member_block else "skipped"
            job.done(outcome, "membership", member_block, remote_id=link.remote_id)
        if job.dry_run:
            job.done(
                "updated",
                "update",
                f"{ops_text(ops)}; members +{len(adds)} -{len(removes)}",
                remote_id=link.remote_id,
            )

        merged = self._merge_create_only(old_attrs, rep, t.group_mapping.create_only_paths)
        notes: list[str] = []
        attrs_now: dict[str, Any] = old_attrs
        try:
            if ops != [] and not attr_block:
                if ops is None:  # PUT carries the members too
                    full = _with_members(merged, new_ids)
                    self._send_update(job, link.remote_id, None, full)
                    self._save_link(job, link.remote_id, full, origin=link.origin, link=link)
                    job.done(
                        "updated",
                        "update",
                        "full replace (PUT) with members",
                        remote_id=link.remote_id,
                    )
                self._send_update(job, link.remote_id, ops, merged)
                attrs_now = merged
                self._save_link(
                    job,
                    link.remote_id,
                    _with_members(merged, old_ids),
                    origin=link.origin,
                    link=link,
                )
                notes.append(ops_text(ops))
            elif attr_block:
                notes.append(attr_block)
            if adds or removes:
                if member_block:
                    notes.append(member_block)
                else:
                    a, r = self._apply_members(
                        job, link.remote_id, attrs_now, old_ids, new_ids, link.origin
                    )
                    notes.append(f"members +{a} -{r}")
        except NotFoundError:
            job.trace.step(
                "action", True, f"404: remote group {link.remote_id} vanished; recreating it"
            )
            self._store.delete_link(t.name, "group", job.key)
            rep_c = self._build(job, t.group_mapping, obj, for_create=True, step=False)
            self._create_group(
                job, obj, rep_c, member_ids if member_ids is not None else [], operation="recreate"
            )
            return
        job.done("updated", "update", "; ".join(notes), remote_id=link.remote_id)


def keeps_deleted_members(profile: Any) -> bool:
    """Whether a deleted user may stay listed in a group (so the engine removes it).

    Reads :attr:`Profile.keeps_deleted_members <scimsync.Profile.keeps_deleted_members>`.
    """
    return bool(profile.keeps_deleted_members)


def member_removal_style(profile: Any) -> str:
    """``"value"`` (``remove members`` with a value list, as AWS documents) or ``"path"``
    (one ``remove members[value eq "id"]`` per member, RFC 7644 §3.5.2.2, which scim2-server
    requires and where a value-less ``remove members`` would empty the group).

    Reads :attr:`Profile.member_remove <scimsync.Profile.member_remove>`.
    """
    return str(profile.member_remove)


def member_requests(
    profile: Any, old_ids: list[str], new_ids: list[str]
) -> list[tuple[list[dict[str, Any]], list[str], list[str]]]:
    """Member changes as ``(operations, added ids, removed ids)`` per PATCH request, at most
    ``profile.max_members_per_patch`` member values each: adds first, then removes."""
    chunk = profile.max_members_per_patch
    out: list[tuple[list[dict[str, Any]], list[str], list[str]]] = []
    if member_removal_style(profile) == "value":
        for ops in diff_members(old_ids, new_ids, chunk, lowercase_ops=profile.lowercase_ops):
            adds: list[str] = []
            removes: list[str] = []
            for op in ops:
                values = [v["value"] for v in op.get("value") or []]
                (adds if op["op"].lower() == "add" else removes).extend(values)
            out.append((ops, adds, removes))
        return out
    old, new = set(old_ids), set(new_ids)
    changes = [("add", i) for i in sorted(new - old)] + [("remove", i) for i in sorted(old - new)]
    for start in range(0, len(changes), chunk):
        part = changes[start : start + chunk]
        adds = [i for o, i in part if o == "add"]
        removes = [i for o, i in part if o == "remove"]
        request: list[dict[str, Any]] = []
        if adds:
            request.append(
                {"op": profile.op("add"), "path": "members", "value": [{"value": i} for i in adds]}
            )
        for i in removes:
            request.append(
                {"op": profile.op("remove"), "path": f"members[value eq {quote_filter_value(i)}]"}
            )
        out.append((request, adds, removes))
    return out


def _with_members(rep: Mapping[str, Any], ids: Any) -> dict[str, Any]:
    out = {k: v for k, v in rep.items() if k != "members"}
    out["members"] = [{"value": i} for i in sorted(set(ids))]
    return out
