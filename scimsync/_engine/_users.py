"""The user flow: scope, build, validate, match/adopt/create, diff/update, lifecycle."""

from __future__ import annotations

from typing import Any

from scimsync._engine._job import Job, project, strip_server_fields
from scimsync._engine._shared import FlowBase
from scimsync._store import Link
from scimsync.errors import ConflictError, NotFoundError, ValidationError

__all__ = ["UserFlow"]

#: aws-scim.md §8.2: look up by externalId, then userName, then email after a 409.
_CONFLICT_ATTRS = ("externalId", "userName", "emails.value")


class UserFlow(FlowBase):
    """``sync_user`` for one target (mixed into :class:`~scimsync.Provisioner`)."""

    def _user_flow(self, job: Job) -> None:
        t = job.target
        trace = job.trace
        key = job.key
        obj = self._read_source(job, "user", key)
        link = self._store.get_link(t.name, "user", key)
        if link is not None:
            trace.remote_id = link.remote_id
            trace.display = link.display

        # 1. scope
        rep: dict[str, Any] | None = None
        if obj is None:
            in_scope, why = False, "not found in the source (deleted locally)"
        else:
            in_scope, why, rep = self._user_in_scope(job, obj)
        trace.step("scope", True, ("in scope: " if in_scope else "out of scope: ") + why)
        if not in_scope:
            if link is None:
                job.done("skipped", "none", f"out of scope ({why}) and not linked: nothing to do")
            self._user_lifecycle(job, link)
            return
        assert obj is not None

        # 2. build + 3. validate
        mapping = t.user_mapping
        for_create = link is None
        rep = self._build(job, mapping, obj, for_create=for_create)
        if link is not None:
            # Validated only if there is something to send (an unchanged user was valid
            # when it was last pushed): see _update_linked.
            rep = self._prepare(job, rep)
            trace.display = rep.get("userName") or trace.display
            self._update_linked(job, link, obj, rep)
        else:
            rep = self._validate(job, rep)
            trace.display = rep.get("userName") or trace.display
            self._create_or_adopt(job, obj, rep)

    # ------------------------------------------------------------------ scope

    def _user_in_scope(self, job: Job, obj: Any) -> tuple[bool, str, dict[str, Any] | None]:
        scope = job.target.scope
        reasons: list[str] = []
        rep: dict[str, Any] | None = None
        if scope.predicate is not None:
            try:
                passed = bool(scope.predicate(obj))
            except Exception as exc:
                raise ValidationError(
                    "user",
                    job.key,
                    [
                        _problem(
                            job, "scope", f"the scope predicate failed: {type(exc).__name__}: {exc}"
                        )
                    ],
                ) from exc
            if not passed:
                return False, "the scope predicate returned False", None
            reasons.append("predicate passed")
        if scope.required_groups is not None:
            groups = sorted(scope.required_groups)
            member_of = [
                g
                for g in groups
                if job.key in (job.run.cached_members(g, self._read_member_keys) or frozenset())
            ]
            if not member_of:
                return False, f"not a member of any assigned group ({', '.join(groups)})", None
            reasons.append(f"member of {', '.join(member_of)}")
        if scope.allowed_email_domains is not None:
            rep = self._build(job, job.target.user_mapping, obj, for_create=True, step=False)
            emails = [
                str(e.get("value", ""))
                for e in rep.get("emails") or []
                if isinstance(e, dict) and e.get("value")
            ]
            domains = {e.rsplit("@", 1)[-1].lower() for e in emails if "@" in e}
            allowed = domains & scope.allowed_email_domains
            if not allowed:
                shown = ", ".join(sorted(domains)) or "no email"
                return (
                    False,
                    f"email domain ({shown}) not in the allowed domains "
                    f"({', '.join(sorted(scope.allowed_email_domains))})",
                    None,
                )
            reasons.append(f"email domain {', '.join(sorted(allowed))} allowed")
        return True, "; ".join(reasons) or "no scope rules", rep

    # ------------------------------------------------------------------ create / adopt

    def _create_or_adopt(self, job: Job, obj: Any, rep: dict[str, Any]) -> None:
        t = job.target
        hit = self._match(job, t.user_mapping, rep)
        if hit is not None:
            self._adopt(job, obj, hit)
            return
        self._gate(job, "create", "create_user", "create_users", None)
        if job.dry_run:
            job.done("created", "create", f"POST /Users userName={rep.get('userName')!r}")
        job.trace.step("action", True, f"create: POST /Users userName={rep.get('userName')!r}")
        try:
            created = t.client.users.create_raw(rep)
        except ConflictError as exc:
            job.trace.step(
                "action",
                True,
                f"409 on create ({exc.detail or 'duplicate'}): looking the user up to adopt it",
            )
            found = self._conflict_lookup(job, rep, _CONFLICT_ATTRS)
            if found is None:
                raise ConflictError(
                    f"user {job.key}: the server reports a duplicate but no user with the same "
                    "externalId, userName or email could be found to adopt",
                    method=exc.method,
                    path=exc.path,
                    status=exc.status,
                    request_id=exc.request_id,
                    detail=exc.detail,
                ) from exc
            self._adopt(job, obj, found, after_conflict=True)
            return
        rid = self._remote_id(job, created)
        # The flow read no link under the key's lock, and nothing has saved one since.
        self._save_link(job, rid, rep, origin="created", absent=True)
        job.done("created", "create", f"created with id {rid}", remote_id=rid)

    def _adopt(
        self,
        job: Job,
        obj: Any,
        hit: tuple[str, str, dict[str, Any]],
        *,
        after_conflict: bool = False,
    ) -> None:
        t = job.target
        attr, value, remote = hit
        rid = self._remote_id(job, remote)
        self._check_unclaimed(job, rid, remote.get("userName"))
        job.trace.remote_id = rid
        mapping = t.user_mapping
        # Adopting applies what an update would (create-only fields are not sent).
        desired = self._prepare(job, self._build(job, mapping, obj, for_create=False, step=False))
        remote_rep = strip_server_fields(remote)
        old = project(remote_rep, desired)
        ops = self._diff(job, old, desired)
        how = "adopted after a 409" if after_conflict else "adopted"
        job.trace.step(
            "diff",
            True,
            f"to bring the adopted user to the desired state: {ops_text(ops)}"
            if ops != []
            else "no changes",
            ops,
        )
        if ops != [] and not t.toggles.update_users:
            job.trace.step("action", True, "Toggles.update_users is off: adopted as it is")
            if not job.dry_run:
                self._save_link(job, rid, old, origin="adopted")
            job.done(
                "adopted",
                "adopt",
                f"{how} ({attr}={value!r}); left unchanged (update_users off)",
                remote_id=rid,
            )
        if job.dry_run:
            job.done(
                "adopted", "adopt", f"{how} ({attr}={value!r}); {ops_text(ops)}", remote_id=rid
            )
        # Link first, so a failed update still leaves the object ours, with the remote state.
        self._save_link(job, rid, old, origin="adopted")
        if ops != []:
            # A PUT must not wipe what the mapping does not manage: start from the remote rep.
            full = {**remote_rep, **desired}
            self._send_update(job, rid, ops, full)
        self._save_link(job, rid, desired, origin="adopted")
        job.done("adopted", "adopt", f"{how} ({attr}={value!r}); {ops_text(ops)}", remote_id=rid)

    # ------------------------------------------------------------------ linked update

    def _update_linked(self, job: Job, link: Link, obj: Any, rep: dict[str, Any]) -> None:
        t = job.target
        old = link.last_rep
        if old is None:
            # A link without a recorded push (imported, or saved by another tool):
            # compare with what the server holds now.
            try:
                remote = t.client.users.get_raw(link.remote_id)
            except NotFoundError:
                job.trace.step("match", True, f"404: linked user {link.remote_id} is gone")
                if job.dry_run:
                    job.done("created", "recreate", f"remote user {link.remote_id} is gone")
                self._recreate_user(job, link, obj)
                return
            old = project(strip_server_fields(remote), rep)
            job.trace.step(
                "match", True, "no push recorded for this link: compared with the server"
            )
        if link.state == "deactivated" and "active" not in rep:
            # We deactivated it; back in scope means active again even if the mapping
            # does not map ``active`` itself.
            rep = {**rep, "active": True}
        ops = self._diff(job, old, rep, ignore=t.user_mapping.create_only_paths)
        reactivate = link.state == "deactivated" and rep.get("active") is not False
        if ops == [] and not reactivate:
            job.trace.step("diff", True, "no changes since the last push")
            job.done("unchanged", "none", "already in step; nothing sent", remote_id=link.remote_id)
        rep = self._validate(job, rep)
        job.trace.step("diff", True, ops_text(ops), ops)
        self._gate(job, "update", "update_user", "update_users", link.remote_id)
        if job.dry_run:
            job.done("updated", "update", ops_text(ops), remote_id=link.remote_id)
        merged = self._merge_create_only(old, rep, t.user_mapping.create_only_paths)
        try:
            if ops != []:
                self._send_update(job, link.remote_id, ops, merged)
        except NotFoundError:
            job.trace.step(
                "action", True, f"404: remote user {link.remote_id} vanished; recreating it"
            )
            self._recreate_user(job, link, obj)
            return
        state_change: dict[str, Any] = {}
        if reactivate:
            state_change = {"state": "active", "deactivated_at": None}
        self._save_link(job, link.remote_id, merged, origin=link.origin, link=link, **state_change)
        job.done("updated", "update", ops_text(ops), remote_id=link.remote_id)

    def _recreate_user(self, job: Job, link: Link, obj: Any) -> None:
        t = job.target
        self._gate(job, "recreate", "create_user", "create_users", None)
        rep = self._build(job, t.user_mapping, obj, for_create=True, step=False)
        rep = self._prepare(job, rep)
        try:
            created = t.client.users.create_raw(rep)
        except ConflictError:
            found = self._conflict_lookup(job, rep, _CONFLICT_ATTRS)
            if found is None:
                raise
            self._store.delete_link(t.name, "user", job.key)
            self._adopt(job, obj, found, after_conflict=True)
            return
        rid = self._remote_id(job, created)
        self._store.delete_link(t.name, "user", job.key)
        self._save_link(job, rid, rep, origin="created", absent=True)
        job.done(
            "created",
            "recreate",
            f"remote user {link.remote_id} had vanished; recreated as {rid}",
            remote_id=rid,
        )

    # ------------------------------------------------------------------ lifecycle

    def _user_lifecycle(self, job: Job, link: Link) -> None:
        t = job.target
        pol = t.policies
        job.trace.remote_id = link.remote_id
        if pol.user_lifecycle == "delete":
            self._delete(job, link)
            return
        if link.state != "deactivated":
            self._deactivate(job, link)
            return
        if pol.user_lifecycle == "deactivate":
            job.done("unchanged", "none", "already deactivated", remote_id=link.remote_id)
        # deactivate_then_delete, already deactivated
        since = link.deactivated_at or link.updated_at
        due = since + pol.grace_period
        now = self._now()
        if now < due:
            job.done(
                "unchanged",
                "none",
                f"deactivated on {since:%Y-%m-%d %H:%M} UTC; deletion due after {due:%Y-%m-%d %H:%M} UTC",
                remote_id=link.remote_id,
            )
        job.trace.step(
            "diff", True, f"grace period ({pol.grace_period}) over since {due:%Y-%m-%d %H:%M} UTC"
        )
        self._delete(job, link)

    def _deactivate(self, job: Job, link: Link) -> None:
        t = job.target
        job.trace.step("diff", True, "active: true -> false")
        self._gate(job, "deactivate", "deactivate_user", "deactivate_users", link.remote_id)
        if job.dry_run:
            job.done(
                "deactivated",
                "deactivate",
                f"PATCH /Users/{link.remote_id} active=false",
                remote_id=link.remote_id,
            )
        old = dict(link.last_rep or {})
        new = dict(old)
        new["active"] = False
        ops = self._diff(job, old, new)
        if ops == []:  # the last push already said active=false: say it again
            ops = [{"op": t.profile.op("replace"), "path": "active", "value": False}]
        try:
            self._send_update(job, link.remote_id, ops, new)
        except NotFoundError:
            self._store.delete_link(t.name, "user", job.key)
            job.done(
                "deleted", "unlink", f"remote user {link.remote_id} was already gone; link removed"
            )
        self._save_link(
            job,
            link.remote_id,
            new,
            origin=link.origin,
            link=link,
            state="deactivated",
            deactivated_at=self._now(),
        )
        job.done("deactivated", "deactivate", "active=false", remote_id=link.remote_id)


def _problem(job: Job, attr: str, text: str) -> Any:
    from scimsync.errors import Problem

    return Problem(job.key, attr, "scope", f"{job.kind} {job.key}: {text}")


def ops_text(ops: list[dict[str, Any]] | None) -> str:
    """A short description of a diff result."""
    if ops is None:
        return "full replace (PUT)"
    if not ops:
        return "no changes"
    paths: list[str] = []
    for op in ops:
        p = op.get("path")
        if p is None and isinstance(op.get("value"), dict):
            paths.extend(op["value"].keys())
        else:
            paths.append(str(p))
    return "changed " + ", ".join(dict.fromkeys(paths))
