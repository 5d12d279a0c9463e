"""Request/reply types shared by the emulator's profiles, and attribute projection."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar, cast

import attrs

__all__ = ["Reply", "Request", "ScimFailure", "find_key", "jcopy", "project"]


def jcopy(value: _T) -> _T:
    """Deep copy of JSON-shaped data (dicts, lists, scalars); several times faster than
    :func:`copy.deepcopy`, which matters on the emulator's hot path."""
    out: Any = value
    kind = type(value)
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        out = {k: jcopy(v) for k, v in out.items()}
    elif kind is list:
        out = [jcopy(v) for v in out]
    return cast(_T, out)


_UNSET: Any = object()
_T = TypeVar("_T")


class ScimFailure(Exception):
    """Raised inside a profile handler to answer with a SCIM error.

    Attributes:
        status: HTTP status.
        detail: human-readable detail (the AWS profile replaces it by AWS's fixed text
            for 400s; the specific text is kept as ``reason`` in the request log).
        scim_type: RFC 7644 §3.12 ``scimType`` (generic profile only).
        headers: extra response headers.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        scim_type: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = dict(headers or {})


@attrs.define
class Request:
    """One parsed HTTP request, path relative to the SCIM base path."""

    method: str
    path: str
    params: dict[str, list[str]]
    headers: Any = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    request_id: str
    user_agent: str | None
    _json: Any = attrs.field(default=_UNSET, repr=False)

    def param(self, name: str) -> str | None:
        """First value of query parameter *name* (name matched case-insensitively)."""
        if name in self.params:
            return self.params[name][0]
        low = name.lower()
        for key, values in self.params.items():
            if key.lower() == low:
                return values[0]
        return None

    def has_param(self, name: str) -> bool:
        low = name.lower()
        return any(key.lower() == low for key in self.params)

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)

    def json(self) -> Any:
        """The parsed JSON body; 400 ``invalidSyntax`` if absent or malformed."""
        if self._json is _UNSET:
            if not self.body.strip():
                raise ScimFailure(400, "The request body is empty.", "invalidSyntax")
            try:
                self._json = json.loads(self.body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ScimFailure(
                    400, f"The request body is not JSON: {exc}", "invalidSyntax"
                ) from None
        return self._json

    def json_or_text(self) -> Any:
        """The body for the request log: parsed JSON, else text, else ``None``."""
        if not self.body:
            return None
        try:
            return self.json()
        except ScimFailure:
            return self.body.decode("utf-8", "replace")


@attrs.define
class Reply:
    """What a handler answers. ``body`` is JSON-serialisable or ``None`` (empty body)."""

    status: int
    body: Any = None
    headers: dict[str, str] = attrs.Factory(dict)
    reason: str | None = None


def find_key(obj: Mapping[str, Any], name: str) -> str | None:
    """The key of *obj* equal to *name* ignoring case, or ``None``."""
    if name in obj:
        return name
    low = name.lower()
    for key in obj:
        if isinstance(key, str) and key.lower() == low:
            return key
    return None


def _split_spec(spec: str, urns: list[str]) -> tuple[str | None, str | None, str | None]:
    low = spec.lower()
    for urn in urns:
        u = urn.lower()
        if low == u:
            return urn, None, None
        if low.startswith(u + ":"):
            spec = spec[len(urn) + 1 :]
            attr, _, sub = spec.partition(".")
            return urn, attr, sub or None
    attr, _, sub = spec.partition(".")
    return None, attr, sub or None


def _copy_attr(src: Mapping[str, Any], dst: dict[str, Any], attr: str, sub: str | None) -> None:
    key = find_key(src, attr)
    if key is None:
        return
    value = src[key]
    if sub is None:
        dst[key] = jcopy(value)
        return
    if isinstance(value, Mapping):
        skey = find_key(value, sub)
        if skey is not None:
            target = dst.setdefault(key, {})
            if isinstance(target, dict):
                target[skey] = jcopy(value[skey])
    elif isinstance(value, list):
        target_list = dst.get(key)
        if not isinstance(target_list, list) or len(target_list) != len(value):
            target_list = [{} for _ in value]
            dst[key] = target_list
        for item, out in zip(value, target_list, strict=True):
            if isinstance(item, Mapping) and isinstance(out, dict):
                skey = find_key(item, sub)
                if skey is not None:
                    out[skey] = jcopy(item[skey])


def _drop_attr(obj: dict[str, Any], attr: str, sub: str | None) -> None:
    key = find_key(obj, attr)
    if key is None:
        return
    if sub is None:
        del obj[key]
        return
    value = obj[key]
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, dict):
            skey = find_key(item, sub)
            if skey is not None:
                del item[skey]


def project(
    resource: Mapping[str, Any],
    attributes: list[str] | None,
    excluded: list[str] | None,
    *,
    core_urn: str,
    extension_urns: list[str],
    always: tuple[str, ...] = ("id", "schemas"),
) -> dict[str, Any]:
    """Apply the ``attributes``/``excludedAttributes`` parameters (RFC 7644 §3.9)."""
    urns = [*extension_urns, core_urn]
    if attributes:
        out: dict[str, Any] = {k: jcopy(v) for k, v in resource.items() if k in always}
        for spec in attributes:
            urn, attr, sub = _split_spec(spec, urns)
            if urn is not None and urn != core_urn:
                ukey = find_key(resource, urn)
                ext = resource.get(ukey) if ukey else None
                if not isinstance(ext, Mapping) or ukey is None:
                    continue
                if attr is None:
                    out[ukey] = jcopy(ext)
                else:
                    target = out.setdefault(ukey, {})
                    _copy_attr(ext, target, attr, sub)
                    if not target:
                        del out[ukey]
            elif attr:
                _copy_attr(resource, out, attr, sub)
        return out
    out = jcopy(dict(resource))
    for spec in excluded or []:
        urn, attr, sub = _split_spec(spec, urns)
        if urn is not None and urn != core_urn:
            ukey = find_key(out, urn)
            if ukey is None:
                continue
            if attr is None:
                del out[ukey]
            elif isinstance(out[ukey], dict):
                _drop_attr(out[ukey], attr, sub)
        elif attr and attr not in always:
            _drop_attr(out, attr, sub)
    return out
