"""Old rep + new rep → the minimal PATCH operations a profile accepts. Pure.

* :func:`diff_resource` compares two reps of one user or group and returns PATCH
  ``Operations`` (``[]`` = nothing to send, ``None`` = send a PUT with the full rep).
* :func:`diff_members` turns two member-id sets into chunked ``add``/``remove`` requests.
* :func:`representation_hash` is the hash the state store keeps for the last rep pushed.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from scimsync._mapping import CORE_GROUP_URN, MISSING, parse_path
from scimsync.errors import Problem, ValidationError

if TYPE_CHECKING:
    from scimsync.profiles._base import Profile

__all__ = ["diff_members", "diff_resource", "representation_hash"]

_SKIP = frozenset({"schemas", "id", "meta"})


def representation_hash(rep: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``rep`` (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(rep, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


def _same(a: Any, b: Any) -> bool:
    """Equality that tells ``True`` from ``1`` and ``1`` from ``1.0`` (JSON-wise)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _absent(v: Any) -> bool:
    return v is MISSING or v is None


def _overlay(
    old: Mapping[str, Any], new: Mapping[str, Any], paths: Iterable[str]
) -> dict[str, Any]:
    """``new`` with each path in ``paths`` set to its value in ``old`` (so it never differs)."""
    out: dict[str, Any] = _copy(dict(new))
    for text in paths:
        path = parse_path(text)
        old_v = path.get(old)
        if path.filter is not None:
            cont_old = old if path.urn is None else old.get(path.urn)
            cont_new = out if path.urn is None else out.get(path.urn)
            fa, fv = path.filter
            old_entry = None
            if isinstance(cont_old, Mapping) and isinstance(cont_old.get(path.attr), list):
                for item in cont_old[path.attr]:
                    if isinstance(item, Mapping) and item.get(fa) == fv:
                        old_entry = item
                        break
            new_has = isinstance(cont_new, Mapping) and any(
                isinstance(i, Mapping) and i.get(fa) == fv
                for i in (cont_new.get(path.attr) or [])
                if isinstance(cont_new.get(path.attr), list)
            )
            if not new_has:
                if old_entry is not None:
                    if path.urn is not None:
                        cont_new = out.setdefault(path.urn, {})
                    assert isinstance(cont_new, dict)
                    lst = cont_new.setdefault(path.attr, [])
                    lst.append(_copy(old_entry))
                continue
        if old_v is MISSING:
            path.delete(out)
        else:
            path.set(out, _copy(old_v))
    return out


def _infer_kind(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    for rep in (new, old):
        schemas = rep.get("schemas")
        if isinstance(schemas, list) and CORE_GROUP_URN in schemas:
            return "group"
    return "user"


def diff_resource(
    old_rep: Mapping[str, Any],
    new_rep: Mapping[str, Any],
    profile: Profile,
    *,
    ignore_paths: Iterable[str] = (),
    kind: str | None = None,
    key: str = "",
) -> list[dict[str, Any]] | None:
    """The PATCH ``Operations`` that turn ``old_rep`` into ``new_rep`` on ``profile``.

    Args:
        old_rep: what the server holds (the last rep pushed, or one read back).
        new_rep: what it should hold (built by the mapping).
        profile: the target profile.
        ignore_paths: paths never changed (``mapping.create_only_paths``); the old value
            is kept, whatever the new rep says.
        kind: ``"user"`` or ``"group"``; inferred from ``schemas`` when omitted.
        key: the local key, for error messages.

    Returns:
        ``[]`` when nothing changed (send nothing); a list of operations (explicit
        ``path`` always, ops lowercase unless the profile says otherwise, values as
        in the rep so booleans stay booleans); or ``None`` when a PUT of the full rep
        is needed: the profile updates by PUT, or a change cannot be expressed as a PATCH
        the profile accepts (e.g. AWS: removing ``active``, changing ``roles``).

    How changes are expressed:
        * simple attribute: ``replace`` (``add`` when new, ``remove`` when gone);
        * complex single-valued (``name``, an extension): one op per changed
          sub-attribute (``name.givenName``, ``urn:...:User:department``), or the whole
          attribute when it appears or disappears;
        * multi-valued (``emails``, ...): ``replace`` of the whole attribute with the new
          list (AWS lists ``emails``/``addresses``/``phoneNumbers`` as modifiable; value
          filter paths are not documented there);
        * group ``members`` are ignored here: use :func:`diff_members`.

    Raises:
        ValidationError: the change needs a PUT but the profile has none for this kind
            (AWS groups).
    """
    kind = kind or _infer_kind(old_rep, new_rep)
    new = _overlay(old_rep, new_rep, ignore_paths) if ignore_paths else new_rep
    skip = _SKIP | {"members"} if kind == "group" else _SKIP
    op_add, op_replace, op_remove = profile.op("add"), profile.op("replace"), profile.op("remove")
    ops: list[dict[str, Any]] = []
    touched: list[tuple[str, str]] = []  # (top-level attribute, op)

    def emit(op: str, path: str, top: str, value: Any = MISSING) -> None:
        o: dict[str, Any] = {"op": op, "path": path}
        if value is not MISSING:
            o["value"] = _copy(value)
        ops.append(o)
        touched.append((top, op))

    for attr, nv in new.items():
        if attr in skip:
            continue
        ov = old_rep.get(attr, MISSING)
        if _absent(nv):
            if not _absent(ov):
                emit(op_remove, attr, attr)
            continue
        if _absent(ov):
            if isinstance(nv, (dict, list)) and not nv:
                continue
            emit(op_add, attr, attr, nv)
            continue
        if _same(ov, nv):
            continue
        if isinstance(nv, dict) and isinstance(ov, dict) and nv:
            prefix = f"{attr}:" if attr.startswith("urn:") else f"{attr}."
            for sub, snv in nv.items():
                sov = ov.get(sub, MISSING)
                if _absent(snv):
                    if not _absent(sov):
                        emit(op_remove, prefix + sub, attr)
                elif _absent(sov):
                    emit(op_add, prefix + sub, attr, snv)
                elif _same(sov, snv):
                    continue
                elif isinstance(snv, dict) and isinstance(sov, dict) and attr.startswith("urn:"):
                    # urn:...:manager.value — the deepest path SCIM allows.
                    deep = f"{prefix}{sub}."
                    for k, v in snv.items():
                        if _absent(v):
                            if not _absent(sov.get(k)):
                                emit(op_remove, deep + k, attr)
                        elif k not in sov or _absent(sov[k]):
                            emit(op_add, deep + k, attr, v)
                        elif not _same(sov[k], v):
                            emit(op_replace, deep + k, attr, v)
                    for k, v in sov.items():
                        if k not in snv and not _absent(v):
                            emit(op_remove, deep + k, attr)
                elif isinstance(snv, dict) and isinstance(sov, dict):
                    # A complex value below a core complex attribute: no deeper path
                    # exists, and replace would merge; remove it, then add it whole.
                    emit(op_remove, prefix + sub, attr)
                    emit(op_add, prefix + sub, attr, snv)
                else:
                    emit(op_replace, prefix + sub, attr, snv)
            for sub, sov in ov.items():
                if sub not in nv and not _absent(sov):
                    emit(op_remove, prefix + sub, attr)
            continue
        if isinstance(nv, (dict, list)) and not nv:
            emit(op_remove, attr, attr)
            continue
        emit(op_replace, attr, attr, nv)

    for attr, ov in old_rep.items():
        if attr in skip or attr in new or _absent(ov):
            continue
        if isinstance(ov, (dict, list)) and not ov:
            continue
        emit(op_remove, attr, attr)

    if not ops:
        return []
    update = profile.user_update if kind == "user" else profile.group_update
    if update == "put":
        return None
    patchable = (
        profile.patchable_user_attributes if kind == "user" else profile.patchable_group_attributes
    )
    unremovable = profile.unremovable_user_attributes if kind == "user" else frozenset()
    blocked: list[tuple[str, str]] = []
    for top, op in touched:
        if patchable is not None and top not in patchable:
            blocked.append((top, "cannot be changed by PATCH"))
        elif op == op_remove and top in unremovable:
            blocked.append((top, "cannot be removed by PATCH"))
    if blocked:
        can_put = profile.supports_user_put if kind == "user" else profile.supports_group_put
        if can_put:
            return None
        problems = [
            Problem(
                key,
                top,
                "not_patchable",
                f"{kind} {key}: {top} {why} on the {profile.name} profile",
            )
            for top, why in dict.fromkeys(blocked)
        ]
        raise ValidationError(kind, key, problems)
    return ops


def diff_members(
    old_ids: Iterable[str],
    new_ids: Iterable[str],
    chunk_size: int,
    *,
    lowercase_ops: bool = True,
) -> list[list[dict[str, Any]]]:
    """Member changes as PATCH requests of at most ``chunk_size`` member values each.

    Args:
        old_ids: remote ids of the current members.
        new_ids: remote ids of the wanted members.
        chunk_size: member values per request (``profile.max_members_per_patch``; AWS 100).
        lowercase_ops: write ``add``/``remove`` (else ``Add``/``Remove``).

    Returns:
        One inner list per request, holding its ``Operations``: ``add`` values first, then
        ``remove`` values, ids sorted, ``{"op": "add", "path": "members", "value":
        [{"value": id}, ...]}``. ``[]`` when nothing changes. Never a ``replace``, never a
        ``remove`` without values (AWS rejects both, aws-scim.md §5.2).
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    old = set(old_ids)
    new = set(new_ids)
    changes = [("add", i) for i in sorted(new - old)] + [("remove", i) for i in sorted(old - new)]
    requests: list[list[dict[str, Any]]] = []
    for start in range(0, len(changes), chunk_size):
        chunk = changes[start : start + chunk_size]
        ops: list[dict[str, Any]] = []
        for op in ("add", "remove"):
            values = [{"value": i} for o, i in chunk if o == op]
            if values:
                ops.append(
                    {
                        "op": op if lowercase_ops else op.capitalize(),
                        "path": "members",
                        "value": values,
                    }
                )
        requests.append(ops)
    return requests
