"""A standalone RFC 7644 §3.5.2 PATCH applier for plain SCIM wire dicts.

:func:`apply_patch` is the emulator's PATCH engine and an *independent* reference the
mapping/diff tests use to check that the operations scimsync generates produce the
intended resource. It must therefore never import ``scimsync._mapping`` or
``scimsync._diff``: it only depends on ``scim2_filter_parser`` (through
:mod:`scimsync.testing._filtereval`) for value-path filters.

Supported:

* ``add`` / ``replace`` / ``remove``, op names case-insensitive (``"Replace"``, ``"ADD"``);
* paths ``attr``, ``attr.sub``, ``attr[filter]``, ``attr[filter].sub``, each optionally
  prefixed by a schema URN (``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department``,
  ``urn:...:User:manager.value``) or naming a whole extension (``urn:...:enterprise:2.0:User``);
  attribute names match case-insensitively;
* path-less ``add``/``replace`` whose value is an object of attributes (extension URNs
  as keys of that object are merged into the extension);
* ``remove`` of a multi-valued attribute *with* a ``value`` list removes only the listed
  elements (the non-RFC form AWS and Entra use for ``members``);
* ``"true"``/``"false"`` strings (any case) for boolean attributes (``active``,
  ``primary``) when ``schema_aware`` is true.

Semantics follow RFC 7644: ``add`` appends to multi-valued attributes (skipping values
already present) and merges complex ones; ``replace`` of a complex attribute merges its
sub-attributes, of a multi-valued attribute replaces the whole list, and of a filtered
path replaces the matching elements (400 ``noTarget`` when nothing matches); ``remove``
requires a path. An ``add`` on a filtered path that matches nothing creates the element
from the filter's ``eq`` comparisons (``emails[type eq "work"].value`` on a user without a
work email adds ``{"type": "work", "value": ...}``), which is what Entra-style clients
expect. A value of ``null`` in ``add``/``replace`` unassigns the target. Attributes or
complex values left empty are dropped (SCIM treats them as unassigned).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scimsync.testing._filtereval import FilterSyntaxError, and_leaves, matches, parse_filter

__all__ = ["PatchError", "apply_patch"]

ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
_CORE_URNS = (
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
)
_KNOWN_EXTENSIONS = (ENTERPRISE_USER,)

#: Canonical spelling of the RFC 7643 attribute names (used when an attribute does not
#: exist yet and the patch spells it in another case).
_CANONICAL = {
    name.lower(): name
    for name in [
        "userName",
        "name",
        "formatted",
        "familyName",
        "givenName",
        "middleName",
        "honorificPrefix",
        "honorificSuffix",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "password",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
        "externalId",
        "members",
        "value",
        "type",
        "primary",
        "display",
        "$ref",
        "streetAddress",
        "locality",
        "region",
        "postalCode",
        "country",
        "employeeNumber",
        "costCenter",
        "organization",
        "division",
        "department",
        "manager",
        "schemas",
        "id",
        "meta",
    ]
}
#: Multi-valued attributes of the core User/Group schemas.
_MULTI_VALUED = frozenset(
    n.lower()
    for n in [
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
        "members",
        "schemas",
    ]
)
#: Boolean attributes whose string forms ``"true"``/``"false"`` are accepted.
_BOOLEAN = frozenset({"active", "primary"})

_MISSING = object()


def _copy(value: Any) -> Any:
    """Deep copy of JSON-shaped data (faster than copy.deepcopy)."""
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class PatchError(ValueError):
    """A PATCH operation cannot be applied.

    Attributes:
        scim_type: the RFC 7644 §3.12 ``scimType`` (``invalidPath``, ``noTarget``,
            ``invalidValue``, ``invalidSyntax``, ``mutability``).
        index: the position of the failing operation in the list.
    """

    def __init__(self, message: str, *, scim_type: str, index: int | None = None) -> None:
        super().__init__(message)
        self.scim_type = scim_type
        self.index = index


class _Path:
    __slots__ = ("attr", "filter", "filter_text", "sub", "urn")

    def __init__(
        self,
        urn: str | None,
        attr: str | None,
        sub: str | None = None,
        filter_tree: Any = None,
        filter_text: str | None = None,
    ) -> None:
        self.urn = urn
        self.attr = attr
        self.sub = sub
        self.filter = filter_tree
        self.filter_text = filter_text


def _split_urn(text: str, resource: Mapping[str, Any]) -> tuple[str | None, str]:
    """Split ``urn:...:Schema:attr.sub`` into (urn, rest); (None, text) for plain paths."""
    if not text.lower().startswith("urn:"):
        return None, text
    low = text.lower()
    candidates = [k for k in resource if isinstance(k, str) and k.lower().startswith("urn:")]
    candidates += list(_KNOWN_EXTENSIONS) + list(_CORE_URNS)
    schemas = resource.get("schemas")
    if isinstance(schemas, list):
        candidates += [s for s in schemas if isinstance(s, str)]
    for urn in sorted(set(candidates), key=len, reverse=True):
        u = urn.lower()
        if low == u:
            return urn, ""
        if low.startswith(u + ":"):
            return urn, text[len(urn) + 1 :]
    urn, _, rest = text.rpartition(":")
    return urn, rest


def _parse_path(path: str, resource: Mapping[str, Any], index: int) -> _Path:
    text = path.strip()
    if not text:
        raise PatchError("empty path", scim_type="invalidPath", index=index)
    bracket = text.find("[")
    head = text if bracket < 0 else text[:bracket]
    urn, rest_head = _split_urn(head, resource)
    if urn is not None and urn.lower() in (u.lower() for u in _CORE_URNS):
        urn = None
    if bracket < 0:
        if not rest_head:
            if urn is None:
                raise PatchError(f"invalid path {path!r}", scim_type="invalidPath", index=index)
            return _Path(urn, None)
        attr, dot, sub_name = rest_head.partition(".")
        if not attr or "." in sub_name or (dot and not sub_name):
            raise PatchError(f"invalid path {path!r}", scim_type="invalidPath", index=index)
        return _Path(urn, attr, sub_name or None)
    # attr[filter][.sub]
    attr = rest_head
    if not attr or "." in attr:
        raise PatchError(f"invalid path {path!r}", scim_type="invalidPath", index=index)
    depth, in_quote, end = 0, False, -1
    for pos in range(bracket, len(text)):
        ch = text[pos]
        if ch == '"':
            in_quote = not in_quote
        elif not in_quote and ch == "[":
            depth += 1
        elif not in_quote and ch == "]":
            depth -= 1
            if depth == 0:
                end = pos
                break
    if end < 0:
        raise PatchError(f"unbalanced '[' in path {path!r}", scim_type="invalidPath", index=index)
    inner = text[bracket + 1 : end]
    tail = text[end + 1 :]
    sub: str | None = None
    if tail:
        if not tail.startswith(".") or len(tail) < 2 or "." in tail[1:] or "[" in tail:
            raise PatchError(f"invalid path {path!r}", scim_type="invalidPath", index=index)
        sub = tail[1:]
    try:
        tree = parse_filter(inner)
    except FilterSyntaxError as exc:
        raise PatchError(
            f"invalid value filter in path {path!r}: {exc}", scim_type="invalidPath", index=index
        ) from None
    return _Path(urn, attr, sub, tree, inner)


class _Applier:
    def __init__(self, resource: dict[str, Any], schema_aware: bool) -> None:
        self.res = resource
        self.schema_aware = schema_aware

    # -- naming helpers -------------------------------------------------------------

    def key(self, container: Mapping[str, Any], name: str) -> str:
        if name in container:
            return name
        low = name.lower()
        for k in container:
            if isinstance(k, str) and k.lower() == low:
                return k
        if self.schema_aware:
            if low in _CANONICAL:
                return _CANONICAL[low]
            for urn in _KNOWN_EXTENSIONS + _CORE_URNS:
                if urn.lower() == low:
                    return urn
        return name

    def is_multi(self, name: str, existing: Any, value: Any) -> bool:
        if isinstance(existing, list):
            return True
        if self.schema_aware and name.lower() in _MULTI_VALUED:
            return True
        return existing is _MISSING and isinstance(value, list)

    def coerce(self, name: str, value: Any) -> Any:
        """Turn "true"/"false" into booleans for boolean attributes (schema-aware only)."""
        if not self.schema_aware:
            return value
        if isinstance(value, str) and name.lower() in _BOOLEAN:
            low = value.strip().lower()
            if low == "true":
                return True
            if low == "false":
                return False
            return value
        if isinstance(value, dict):
            return {k: self.coerce(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.coerce(name, v) if isinstance(v, dict) else v for v in value]
        return value

    # -- containers -------------------------------------------------------------------

    def container(self, path: _Path, create: bool) -> dict[str, Any] | None:
        if path.urn is None:
            return self.res
        key = self.key(self.res, path.urn)
        ext = self.res.get(key)
        if not isinstance(ext, dict):
            if not create:
                return None
            ext = {}
            self.res[key] = ext
        return ext

    def tidy(self, path: _Path) -> None:
        """Drop empty values left behind and keep ``schemas`` in step with extensions."""
        cont = self.container(path, create=False)
        if cont is not None and path.attr is not None:
            k = self.key(cont, path.attr)
            v = cont.get(k, _MISSING)
            if isinstance(v, list):
                for item in v:
                    if isinstance(item, dict):
                        for sk in [sk for sk, sv in item.items() if sv is None]:
                            del item[sk]
                v[:] = [i for i in v if i not in ({}, None)]
            if isinstance(v, dict):
                for sk in [sk for sk, sv in v.items() if sv is None or sv in ({}, [])]:
                    del v[sk]
            if v is None or (v is not _MISSING and v in ({}, [])):
                del cont[k]
        if path.urn is not None:
            ukey = self.key(self.res, path.urn)
            ext = self.res.get(ukey, _MISSING)
            if ext is not _MISSING and ext in ({}, None):
                del self.res[ukey]
                ext = _MISSING
            self.sync_schemas(ukey, present=ext is not _MISSING)

    def sync_schemas(self, urn: str, *, present: bool) -> None:
        if not self.schema_aware:
            return
        schemas = self.res.get("schemas")
        if not isinstance(schemas, list):
            return
        has = [s for s in schemas if isinstance(s, str) and s.lower() == urn.lower()]
        if present and not has:
            schemas.append(urn)
        elif not present and has:
            schemas[:] = [
                s for s in schemas if not (isinstance(s, str) and s.lower() == urn.lower())
            ]

    # -- operations -------------------------------------------------------------------

    def apply(self, op: str, path: _Path | None, value: Any, has_value: bool, index: int) -> None:
        if path is None:
            if op == "remove":
                raise PatchError("'remove' requires a path", scim_type="noTarget", index=index)
            if not has_value or not isinstance(value, Mapping):
                raise PatchError(
                    f"'{op}' without a path needs an object value",
                    scim_type="invalidValue",
                    index=index,
                )
            for k, v in value.items():
                if not isinstance(k, str):
                    continue
                if k.lower().startswith("urn:") and isinstance(v, Mapping):
                    urn = None if k.lower() in (u.lower() for u in _CORE_URNS) else k
                    if not v:
                        self.container(_Path(urn, None), create=True)
                    for sk, sv in v.items():
                        self.apply(op, _Path(urn, sk), sv, True, index)
                else:
                    self.apply(op, _Path(None, k), v, True, index)
            return
        if op in ("add", "replace") and not has_value:
            raise PatchError(f"'{op}' requires a value", scim_type="invalidValue", index=index)
        if path.attr is None:
            self.whole_extension(op, path, value, index)
        elif path.filter is not None:
            self.filtered(op, path, value, has_value, index)
        else:
            self.plain(op, path, value, has_value, index)
        self.tidy(path)

    def whole_extension(self, op: str, path: _Path, value: Any, index: int) -> None:
        assert path.urn is not None
        if op == "remove" or value is None:
            key = self.key(self.res, path.urn)
            self.res.pop(key, None)
            return
        if not isinstance(value, Mapping):
            raise PatchError(
                f"value for {path.urn!r} must be an object", scim_type="invalidValue", index=index
            )
        self.container(path, create=True)
        for k, v in value.items():
            self.apply(op, _Path(path.urn, k), v, True, index)

    def plain(self, op: str, path: _Path, value: Any, has_value: bool, index: int) -> None:
        assert path.attr is not None
        cont = self.container(path, create=op != "remove")
        if cont is None:
            return  # remove on a missing extension: nothing to do
        k = self.key(cont, path.attr)
        existing = cont.get(k, _MISSING)
        if path.sub is not None:
            self.plain_sub(op, cont, k, existing, path.sub, value, index)
            return
        if op == "remove":
            if existing is _MISSING:
                return
            if isinstance(existing, list) and has_value and value is not None:
                drop = value if isinstance(value, list) else [value]
                cont[k] = [e for e in existing if not any(_same(e, d) for d in drop)]
            else:
                del cont[k]
            return
        value = self.coerce(k, value)
        if value is None:
            cont.pop(k, None)
            return
        if self.is_multi(k, existing, value):
            items = value if isinstance(value, list) else [value]
            if op == "replace" or existing is _MISSING or not isinstance(existing, list):
                new: list[Any] = []
            else:
                new = list(existing)
            for item in items:
                if not any(_same(e, item) for e in new):
                    new.append(_copy(item))
            cont[k] = new
        elif isinstance(existing, dict) and isinstance(value, Mapping):
            for sk, sv in value.items():
                ek = self.key(existing, sk)
                if sv is None:
                    existing.pop(ek, None)
                else:
                    existing[ek] = _copy(sv)
        else:
            cont[k] = _copy(value)

    def plain_sub(
        self,
        op: str,
        cont: dict[str, Any],
        k: str,
        existing: Any,
        sub: str,
        value: Any,
        index: int,
    ) -> None:
        if op == "remove":
            if isinstance(existing, dict):
                existing.pop(self.key(existing, sub), None)
            elif isinstance(existing, list):
                for item in existing:
                    if isinstance(item, dict):
                        item.pop(self.key(item, sub), None)
            return
        if existing is _MISSING or existing is None:
            existing = {}
            cont[k] = existing
        value = self.coerce(sub, value)
        targets = [existing] if isinstance(existing, dict) else existing
        if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
            raise PatchError(
                f"attribute {k!r} has no sub-attribute {sub!r}",
                scim_type="invalidPath",
                index=index,
            )
        for t in targets:
            sk = self.key(t, sub)
            if value is None:
                t.pop(sk, None)
            else:
                t[sk] = _copy(value)

    def filtered(self, op: str, path: _Path, value: Any, has_value: bool, index: int) -> None:
        assert path.attr is not None
        cont = self.container(path, create=op != "remove")
        if cont is None:
            return
        k = self.key(cont, path.attr)
        existing = cont.get(k, _MISSING)
        items: list[Any] = existing if isinstance(existing, list) else []
        if existing is not _MISSING and not isinstance(existing, list):
            raise PatchError(
                f"value filter on single-valued attribute {k!r}",
                scim_type="invalidPath",
                index=index,
            )
        hits = [
            i
            for i, item in enumerate(items)
            if isinstance(item, dict) and matches(path.filter, item)
        ]
        if op == "remove":
            if path.sub is None:
                cont[k] = [item for i, item in enumerate(items) if i not in hits]
            else:
                for i in hits:
                    items[i].pop(self.key(items[i], path.sub), None)
            return
        value = self.coerce(path.sub or k, value)
        if not hits:
            if op == "replace":
                raise PatchError(
                    f"no value of {k!r} matches [{path.filter_text}]",
                    scim_type="noTarget",
                    index=index,
                )
            element = self.element_from_filter(path, index)
            if path.sub is not None:
                element[self.key(element, path.sub)] = _copy(value)
            elif isinstance(value, Mapping):
                element.update(_copy(dict(value)))
            else:
                raise PatchError(
                    f"value for {k}[{path.filter_text}] must be an object",
                    scim_type="invalidValue",
                    index=index,
                )
            cont[k] = [*items, element]
            return
        for i in hits:
            if path.sub is not None:
                sk = self.key(items[i], path.sub)
                if value is None:
                    items[i].pop(sk, None)
                else:
                    items[i][sk] = _copy(value)
            elif value is None:
                items[i] = None
            elif isinstance(value, Mapping):
                if op == "replace":
                    items[i] = _copy(dict(value))
                else:
                    items[i].update(_copy(dict(value)))
            else:
                raise PatchError(
                    f"value for {k}[{path.filter_text}] must be an object",
                    scim_type="invalidValue",
                    index=index,
                )
        cont[k] = [i for i in items if i is not None]

    def element_from_filter(self, path: _Path, index: int) -> dict[str, Any]:
        leaves = and_leaves(path.filter)
        if leaves is None or any(leaf.op != "eq" for leaf in leaves):
            raise PatchError(
                f"no value matches [{path.filter_text}] and it cannot be created from that filter",
                scim_type="noTarget",
                index=index,
            )
        element: dict[str, Any] = {}
        for leaf in leaves:
            name = leaf.attr
            raw: Any = leaf.value
            if self.schema_aware and name.lower() in _BOOLEAN and isinstance(raw, str):
                raw = {"true": True, "false": False}.get(raw.lower(), raw)
            element[self.key(element, name)] = raw
        return element


def _same(a: Any, b: Any) -> bool:
    """Equality for multi-valued elements: complex values with a ``value`` compare by it."""
    if (
        isinstance(a, Mapping)
        and isinstance(b, Mapping)
        and "value" in a
        and "value" in b
        and set(b) <= {"value", "$ref", "type", "display"}
    ):
        return bool(a["value"] == b["value"])
    return bool(a == b)


def apply_patch(
    resource: Mapping[str, Any],
    operations: Sequence[Mapping[str, Any]],
    *,
    schema_aware: bool = True,
) -> dict[str, Any]:
    """Apply RFC 7644 PATCH *operations* to *resource* and return a new dict.

    The input is never modified. All operations apply or none do.

    Args:
        resource: a SCIM resource as a wire dict (camelCase keys, extension URNs as keys).
        operations: the ``Operations`` list of a PatchOp body: dicts with ``op``, optional
            ``path`` and ``value``.
        schema_aware: use the RFC 7643 core/enterprise schemas: canonical attribute
            spelling for new attributes, the list of multi-valued attributes, boolean
            coercion of ``"true"``/``"false"`` for ``active``/``primary``, and keeping
            ``schemas`` in step with extension objects. With ``False``, the applier only
            looks at the data (a list is multi-valued, names keep the patch's spelling).

    Returns:
        The patched copy.

    Raises:
        PatchError: an operation is malformed or has no target (``scim_type`` says why).

    Example:
        >>> apply_patch({"userName": "a", "emails": [{"type": "work", "value": "a@x"}]},
        ...             [{"op": "Replace", "path": 'emails[type eq "work"].value', "value": "b@x"}])
        {'userName': 'a', 'emails': [{'type': 'work', 'value': 'b@x'}]}
    """
    if not isinstance(resource, Mapping):
        raise PatchError("resource must be an object", scim_type="invalidValue")
    ops: Any = operations
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
        raise PatchError("Operations must be a list", scim_type="invalidSyntax")
    applier = _Applier(_copy(dict(resource)), schema_aware)
    for index, operation in enumerate(ops):
        if not isinstance(operation, Mapping):
            raise PatchError(
                f"operation {index} is not an object", scim_type="invalidSyntax", index=index
            )
        raw_op = _get_ci(operation, "op")
        if not isinstance(raw_op, str) or raw_op.lower() not in ("add", "replace", "remove"):
            raise PatchError(
                f"operation {index}: 'op' must be add, replace or remove, got {raw_op!r}",
                scim_type="invalidSyntax",
                index=index,
            )
        op = raw_op.lower()
        raw_path = _get_ci(operation, "path")
        if raw_path is not None and not isinstance(raw_path, str):
            raise PatchError(
                f"operation {index}: 'path' must be a string", scim_type="invalidPath", index=index
            )
        has_value = any(isinstance(k, str) and k.lower() == "value" for k in operation)
        value = _get_ci(operation, "value")
        path = None if raw_path is None else _parse_path(raw_path, applier.res, index)
        applier.apply(op, path, value, has_value, index)
    return applier.res


def _get_ci(obj: Mapping[str, Any], name: str) -> Any:
    if name in obj:
        return obj[name]
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == name:
            return v
    return None
