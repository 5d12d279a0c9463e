"""The emulator's in-memory directory: users, groups, memberships, with indexes.

Not thread-safe by itself; :class:`~scimsync.testing.EmulatorServer` holds one lock
around every use (``server._state.lock``).
"""

from __future__ import annotations

import threading
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from scimsync.testing._schemas import CORE_GROUP, CORE_USER, ENTERPRISE_USER
from scimsync.testing._wire import jcopy

__all__ = ["Directory", "primary_email", "timestamp"]


def primary_email(res: dict[str, Any]) -> str | None:
    """The (first) email value of a user, lowercased, or ``None``."""
    emails = res.get("emails")
    if isinstance(emails, list):
        for e in emails:
            if isinstance(e, dict) and isinstance(e.get("value"), str):
                return str(e["value"]).lower()
    return None


def timestamp(epoch: float | None = None) -> str:
    """``2020-07-22T22:32:58Z`` (the format AWS's examples show)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if epoch is None else epoch))


class Directory:
    """Users and groups as stored wire dicts (with ``id`` and ``meta``).

    Groups are stored *with* their ``members`` list (``[{"value": id, "type": "User"}]``)
    whatever the profile shows on the wire. ``member_of`` is the reverse index.
    """

    def __init__(self, id_factory: Callable[[], str] | None = None) -> None:
        self.lock = threading.RLock()
        self.new_id: Callable[[], str] = id_factory or (lambda: str(uuid.uuid4()))
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.seq: dict[str, int] = {}
        self.version: dict[str, int] = {}
        self.member_of: dict[str, set[str]] = {}
        self.user_by_name: dict[str, str] = {}
        self.user_by_external: dict[str, str] = {}
        self.user_by_email: dict[str, str] = {}
        self.group_by_name: dict[str, str] = {}
        self.group_by_external: dict[str, str] = {}
        self._next_seq = 0
        # Creation logs: ids and their seqs, ascending, per kind. Deleted ids stay until
        # the next compaction (a stale entry's seq no longer matches ``self.seq``).
        # Cursor pages bisect into them instead of filtering and sorting the directory.
        self._log: dict[str, tuple[list[str], list[int]]] = {"user": ([], []), "group": ([], [])}
        # groups.value lookups: gid -> (the members list it was built from, user seqs, ids).
        self._members_order: dict[str, tuple[list[dict[str, Any]], list[int], list[str]]] = {}
        #: Instrumentation: stored entries examined to build list pages (tests count it).
        self.scanned = 0

    # -- bookkeeping -------------------------------------------------------------------

    def _stamp(self, rid: str, resource: dict[str, Any], kind: str, *, created: bool) -> None:
        now = timestamp()
        meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else None
        meta = dict(meta) if meta else {}
        meta["resourceType"] = kind
        meta["created"] = meta.get("created") or now
        meta["lastModified"] = now
        resource["meta"] = meta
        resource["id"] = rid
        self.version[rid] = self.version.get(rid, 0) + 1
        if created:
            self._next_seq += 1
            self.seq[rid] = self._next_seq
            ids, seqs = self._log["user" if kind == "User" else "group"]
            ids.append(rid)
            seqs.append(self._next_seq)

    @staticmethod
    def _keys(kind: str, res: dict[str, Any] | None) -> list[tuple[str, str]]:
        """(index name, key) pairs a resource occupies in the uniqueness indexes."""
        if res is None:
            return []
        out: list[tuple[str, str]] = []
        if kind == "user":
            if isinstance(res.get("userName"), str):
                out.append(("user_by_name", res["userName"].lower()))
            if isinstance(res.get("externalId"), str):
                out.append(("user_by_external", res["externalId"]))
            email = primary_email(res)
            if email is not None:
                out.append(("user_by_email", email))
        else:
            if isinstance(res.get("displayName"), str):
                out.append(("group_by_name", res["displayName"].lower()))
            if isinstance(res.get("externalId"), str):
                out.append(("group_by_external", res["externalId"]))
        return out

    def _index(
        self, kind: str, rid: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        for name, key in self._keys(kind, old):
            index: dict[str, str] = getattr(self, name)
            if index.get(key) == rid:
                del index[key]
        for name, key in self._keys(kind, new):
            getattr(self, name).setdefault(key, rid)

    def _index_user(self, uid: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        self._index("user", uid, old, new)

    # -- users -------------------------------------------------------------------------

    def insert_user(
        self, resource: dict[str, Any], rid: str | None = None, *, copy: bool = True
    ) -> dict[str, Any]:
        rid = rid or str(resource.get("id") or "") or self.new_id()
        resource = jcopy(resource) if copy else resource
        resource.setdefault("schemas", [CORE_USER])
        self._stamp(rid, resource, "User", created=True)
        self.users[rid] = resource
        self._index_user(rid, None, resource)
        return resource

    def replace_user(
        self, rid: str, resource: dict[str, Any], *, copy: bool = True
    ) -> dict[str, Any]:
        old = self.users[rid]
        resource = jcopy(resource) if copy else resource
        resource["meta"] = dict(old.get("meta") or {})
        self._stamp(rid, resource, "User", created=False)
        self.users[rid] = resource
        self._index_user(rid, old, resource)
        return resource

    def delete_user(self, rid: str) -> None:
        old = self.users.pop(rid)
        self._index_user(rid, old, None)
        self.seq.pop(rid, None)
        self.version.pop(rid, None)
        self._forget_member(rid)

    # -- groups ------------------------------------------------------------------------

    def insert_group(
        self, resource: dict[str, Any], rid: str | None = None, *, copy: bool = True
    ) -> dict[str, Any]:
        rid = rid or str(resource.get("id") or "") or self.new_id()
        resource = jcopy(resource) if copy else resource
        resource.setdefault("schemas", [CORE_GROUP])
        members = resource.pop("members", None) or []
        self._stamp(rid, resource, "Group", created=True)
        resource["members"] = []
        self.groups[rid] = resource
        self._index("group", rid, None, resource)
        self.set_members(rid, members, touch=False)
        return resource

    def replace_group(
        self, rid: str, resource: dict[str, Any], *, copy: bool = True
    ) -> dict[str, Any]:
        old = self.groups[rid]
        resource = jcopy(resource) if copy else resource
        members = resource.pop("members", None) or []
        resource["meta"] = dict(old.get("meta") or {})
        resource["members"] = old.get("members", [])
        self._stamp(rid, resource, "Group", created=False)
        self.groups[rid] = resource
        self._index("group", rid, old, resource)
        self.set_members(rid, members, touch=False)
        return resource

    def delete_group(self, rid: str) -> None:
        group = self.groups.pop(rid)
        self._members_order.pop(rid, None)
        self._index("group", rid, group, None)
        for m in group.get("members", []):
            self.member_of.get(m["value"], set()).discard(rid)
        self.seq.pop(rid, None)
        self.version.pop(rid, None)
        self._forget_member(rid)

    def set_members(
        self, gid: str, members: Iterable[dict[str, Any]], *, touch: bool = True
    ) -> None:
        """Replace a group's member list (deduplicated by ``value``), keeping the index."""
        group = self.groups[gid]
        for m in group.get("members", []):
            self.member_of.get(m["value"], set()).discard(gid)
        seen: set[str] = set()
        clean: list[dict[str, Any]] = []
        for m in members:
            value = str(m["value"])
            if value in seen:
                continue
            seen.add(value)
            kind = m.get("type") or ("Group" if value in self.groups else "User")
            entry = {"value": value, "type": kind}
            if isinstance(m.get("display"), str):
                entry["display"] = m["display"]
            clean.append(entry)
            self.member_of.setdefault(value, set()).add(gid)
        group["members"] = clean
        if touch:
            group["meta"]["lastModified"] = timestamp()
            self.version[gid] = self.version.get(gid, 0) + 1

    def _forget_member(self, member_id: str) -> None:
        for gid in self.member_of.pop(member_id, set()):
            group = self.groups.get(gid)
            if group is not None:
                group["members"] = [m for m in group["members"] if m["value"] != member_id]

    # -- reading -----------------------------------------------------------------------

    def _pool(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.users if kind == "user" else self.groups

    def _compact(self, kind: str) -> tuple[list[str], list[int]]:
        ids, seqs = self._log[kind]
        pool = self._pool(kind)
        if len(ids) > 2 * len(pool) + 64:
            seq = self.seq
            keep = [(r, s) for r, s in zip(ids, seqs, strict=True) if seq.get(r) == s and r in pool]
            ids[:] = [r for r, _ in keep]
            seqs[:] = [s for _, s in keep]
        return ids, seqs

    def created_after(self, kind: str, last_seq: int) -> Iterator[dict[str, Any]]:
        """Stored resources of ``kind`` ("user"/"group") created after ``last_seq``, oldest first.

        Directory order (creation order, the dicts' own order) without scanning or sorting
        the directory: a bisect into the creation log, then one step per entry taken.
        """
        ids, seqs = self._compact(kind)
        pool, seq = self._pool(kind), self.seq
        i = bisect_right(seqs, last_seq)
        while i < len(ids):
            rid, s = ids[i], seqs[i]
            i += 1
            self.scanned += 1
            res = pool.get(rid)
            if res is not None and seq.get(rid) == s:
                yield res

    def group_users_after(self, gid: str, last_seq: int) -> Iterator[dict[str, Any]]:
        """The users in group ``gid``, in directory order, created after ``last_seq``."""
        group = self.groups.get(gid)
        if group is None:
            return
        members = group.get("members", [])
        cached = self._members_order.get(gid)
        if cached is None or cached[0] is not members:
            seq = self.seq
            pairs = sorted(
                (seq[m["value"]], m["value"]) for m in members if m["value"] in self.users
            )
            cached = (members, [s for s, _ in pairs], [r for _, r in pairs])
            self._members_order[gid] = cached
        _, seqs, ids = cached
        users, seq = self.users, self.seq
        i = bisect_right(seqs, last_seq)
        while i < len(ids):
            rid, s = ids[i], seqs[i]
            i += 1
            self.scanned += 1
            user = users.get(rid)
            if user is not None and seq.get(rid) == s:
                yield user

    def in_order_after(self, kind: str, rids: Iterable[str], last_seq: int) -> list[dict[str, Any]]:
        """The stored resources among ``rids`` created after ``last_seq``, in directory order."""
        pool, seq = self._pool(kind), self.seq
        found = []
        for rid in rids:
            self.scanned += 1
            s = seq.get(rid, 0)
            if s > last_seq and rid in pool:
                found.append((s, rid))
        found.sort()
        return [pool[rid] for _, rid in found]

    def memberships(self) -> dict[str, set[str]]:
        return {gid: {m["value"] for m in g.get("members", [])} for gid, g in self.groups.items()}

    def has_enterprise(self, resource: dict[str, Any]) -> bool:
        return bool(resource.get(ENTERPRISE_USER))
