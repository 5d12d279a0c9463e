"""Declarative mapping from a host application's objects to SCIM representations.

A mapping is a table *SCIM target path → value spec*. The value spec says where the
value comes from (:func:`source`, :func:`template`, :func:`const`, :func:`computed`),
how it is cleaned (``transforms``), what to use when it comes out empty (``default``) and
whether it is only sent on create (``create_only``). Everything here is pure: no I/O.

See ``docs/mapping.md`` for the reference and examples.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import importlib
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Final, TypeVar

import attrs

from scimsync._transforms import Transform, resolve_transforms, transform_name
from scimsync.errors import ConfigurationError, Problem, ValidationError

__all__ = [
    "CORE_GROUP_URN",
    "CORE_USER_URN",
    "ENTERPRISE_URN",
    "Field",
    "GroupMapping",
    "ScimPath",
    "UserMapping",
    "computed",
    "const",
    "parse_path",
    "source",
    "template",
]

CORE_USER_URN: Final = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP_URN: Final = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN: Final = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: Sentinel: "no value here" (distinct from ``None``).
MISSING: Final = _Missing()


# ------------------------------------------------------------------------------ paths

_PATH_RE = re.compile(
    r"""^(?P<attr>[A-Za-z$][\w$\-]*)
        (?:\[\s*(?P<fattr>[A-Za-z][\w\-]*)\s+eq\s+"(?P<fval>(?:[^"\\]|\\.)*)"\s*\])?
        (?:\.(?P<sub>[A-Za-z$][\w$\-]*))?$""",
    re.VERBOSE,
)


@attrs.frozen
class ScimPath:
    """A parsed SCIM attribute path: ``[urn:]attr[[fattr eq "v"]][.sub]``.

    Attributes:
        urn: the extension schema URN, or ``None`` for core attributes.
        attr: the attribute name (``"emails"``).
        filter: ``(sub-attribute, value)`` of a value filter, or ``None``.
        sub: the sub-attribute (``"value"``), or ``None``.
        text: the path as written (normalised for core URNs).
    """

    urn: str | None
    attr: str
    filter: tuple[str, str] | None
    sub: str | None
    text: str

    def _container(self, rep: Mapping[str, Any]) -> Any:
        if self.urn is None:
            return rep
        return rep.get(self.urn)

    def get(self, rep: Mapping[str, Any]) -> Any:
        """The value at this path in ``rep``, or :data:`MISSING`."""
        cont = rep if self.urn is None else rep.get(self.urn)
        if type(cont) is not dict and not isinstance(cont, Mapping):
            return MISSING
        if self.attr not in cont:
            return MISSING
        val = cont[self.attr]
        if self.filter is not None:
            if not isinstance(val, list):
                return MISSING
            fa, fv = self.filter
            for item in val:
                if isinstance(item, Mapping) and item.get(fa) == fv:
                    val = item
                    break
            else:
                return MISSING
        if self.sub is not None:
            if type(val) is not dict and not isinstance(val, Mapping):
                return MISSING
            return val.get(self.sub, MISSING)
        return val

    def values(self, rep: Mapping[str, Any]) -> list[Any]:
        """Every value at this path; ``emails.value`` yields one per email."""
        cont = self._container(rep)
        if not isinstance(cont, Mapping):
            return []
        val = cont.get(self.attr, MISSING)
        if val is MISSING or val is None:
            return []
        items = val if isinstance(val, list) else [val]
        if self.filter is not None:
            fa, fv = self.filter
            items = [i for i in items if isinstance(i, Mapping) and i.get(fa) == fv]
        if self.sub is None:
            return list(items)
        return [
            i[self.sub] for i in items if isinstance(i, Mapping) and i.get(self.sub) is not None
        ]

    def set(self, rep: dict[str, Any], value: Any, *, primary: bool = False) -> None:
        """Write ``value`` at this path, creating containers and list entries as needed."""
        cont: dict[str, Any] = rep
        if self.urn is not None:
            ext = rep.get(self.urn)
            if not isinstance(ext, dict):
                ext = rep[self.urn] = {}
            cont = ext
        if self.filter is None:
            if self.sub is None:
                cont[self.attr] = value
                return
            obj = cont.get(self.attr)
            if not isinstance(obj, dict):
                obj = cont[self.attr] = {}
            obj[self.sub] = value
            return
        fa, fv = self.filter
        lst = cont.get(self.attr)
        if not isinstance(lst, list):
            lst = cont[self.attr] = []
        for item in lst:
            if isinstance(item, dict) and item.get(fa) == fv:
                entry = item
                break
        else:
            entry = {fa: fv}
            if primary and not lst:
                entry["primary"] = True
            lst.append(entry)
        if self.sub is None:
            if isinstance(value, Mapping):
                entry.update(value)
            else:
                entry["value"] = value
        else:
            entry[self.sub] = value

    def delete(self, rep: dict[str, Any]) -> None:
        """Remove the value at this path (and containers left empty)."""
        cont = self._container(rep)
        if not isinstance(cont, dict) or self.attr not in cont:
            return
        if self.filter is None and self.sub is None:
            del cont[self.attr]
        elif self.filter is None:
            obj = cont[self.attr]
            if isinstance(obj, dict):
                obj.pop(self.sub, None)
                if not obj:
                    del cont[self.attr]
        else:
            fa, fv = self.filter
            lst = cont[self.attr]
            if isinstance(lst, list):
                for i, item in enumerate(lst):
                    if isinstance(item, dict) and item.get(fa) == fv:
                        if self.sub is None:
                            del lst[i]
                        else:
                            item.pop(self.sub, None)
                        break
                if not lst:
                    del cont[self.attr]
        if self.urn is not None and not cont:
            del rep[self.urn]


_CORE_PREFIXES = (CORE_USER_URN + ":", CORE_GROUP_URN + ":")
_path_cache: dict[str, ScimPath] = {}


def parse_path(text: str) -> ScimPath:
    """Parse a SCIM target path; raise :class:`ConfigurationError` if malformed.

    Accepted: ``userName``, ``name.givenName``, ``emails[type eq "work"].value``,
    ``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department``,
    ``<urn>:manager.value``. A core schema URN prefix is dropped.
    """
    cached = _path_cache.get(text)
    if cached is not None:
        return cached
    if not isinstance(text, str) or not text:
        raise ConfigurationError(f"a SCIM path must be a non-empty string, got {text!r}")
    urn: str | None = None
    rest = text
    for prefix in _CORE_PREFIXES:
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            break
    else:
        if text.lower().startswith("urn:"):
            # The attribute part follows the last ':' that is not inside a value filter.
            head = text.split("[", 1)[0]
            idx = head.rfind(":")
            urn, rest = text[:idx], text[idx + 1 :]
            if not rest:
                raise ConfigurationError(f"SCIM path {text!r} names a schema but no attribute")
    m = _PATH_RE.match(rest)
    if m is None:
        raise ConfigurationError(
            f"cannot read SCIM path {text!r}: expected attr, attr.sub, "
            f'attr[type eq "x"].sub or <schema urn>:attr'
        )
    filt = None
    if m.group("fattr"):
        filt = (m.group("fattr"), m.group("fval").replace('\\"', '"').replace("\\\\", "\\"))
    path = ScimPath(urn=urn, attr=m.group("attr"), filter=filt, sub=m.group("sub"), text=text)
    _path_cache[text] = path
    return path


# --------------------------------------------------------------------------- getters


#: What a source may not return for one object: scalars and bare sequences have none of
#: the attributes a mapping reads. Exact types: a namedtuple (a tuple subclass) is fine.
_NOT_AN_OBJECT = frozenset(
    {str, bytes, bytearray, bool, int, float, complex, list, tuple, set, frozenset}
)


class _SourceMissingError(Exception):
    def __init__(self, attr: str) -> None:
        self.attr = attr
        super().__init__(attr)


_mapping_types: dict[type, bool] = {dict: True}


def _is_mapping(obj: Any) -> bool:
    """``isinstance(obj, Mapping)``, cached per type (the ABC check is slow)."""
    t = type(obj)
    known = _mapping_types.get(t)
    if known is None:
        known = _mapping_types[t] = isinstance(obj, Mapping)
    return known


def _compile_getter(attr: str) -> Callable[[Any], Any]:
    """Compile a dotted attribute path into a function reading it from objects or mappings.

    A missing attribute or key raises :class:`_SourceMissingError`; ``None`` part-way
    yields ``None``.
    """
    parts = attr.split(".")
    if len(parts) == 1:
        (p,) = parts

        def get1(obj: Any) -> Any:
            if _is_mapping(obj):
                try:
                    return obj[p]
                except KeyError:
                    raise _SourceMissingError(attr) from None
            try:
                return getattr(obj, p)
            except AttributeError:
                raise _SourceMissingError(attr) from None

        return get1

    def getn(obj: Any) -> Any:
        cur = obj
        for part in parts:
            if cur is None:
                return None
            if _is_mapping(cur):
                try:
                    cur = cur[part]
                except KeyError:
                    raise _SourceMissingError(attr) from None
            else:
                try:
                    cur = getattr(cur, part)
                except AttributeError:
                    raise _SourceMissingError(attr) from None
        return cur

    return getn


# ------------------------------------------------------------------------- value specs

_KINDS = ("source", "template", "const", "computed")


def _is_empty(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, (list, dict, tuple)) and not v)


@attrs.frozen
class Field:
    """Where one SCIM attribute's value comes from. Build it with :func:`source`,
    :func:`template`, :func:`const` or :func:`computed`.

    Attributes:
        kind: ``"source"``, ``"template"``, ``"const"`` or ``"computed"``.
        arg: the attribute path, template text, constant or callable.
        transforms: callables applied in order to a non-``None`` value.
        default: used when the (transformed) value is ``None``, ``""`` or an empty list.
        create_only: send this attribute on create only, never on update.
    """

    kind: str
    arg: Any
    transforms: tuple[Transform, ...] = ()
    default: Any = None
    create_only: bool = False


def _mk(kind: str, arg: Any, transforms: Any, default: Any, create_only: bool) -> Field:
    return Field(
        kind=kind,
        arg=arg,
        transforms=resolve_transforms(transforms or ()),
        default=default,
        create_only=bool(create_only),
    )


def source(
    attr: str,
    *,
    transforms: Sequence[str | Transform] = (),
    default: Any = None,
    create_only: bool = False,
) -> Field:
    """Take the value from an attribute of the local object.

    Args:
        attr: attribute name, dotted path (``"profile.department"``) or mapping key; each
            step reads a key on mappings and an attribute on other objects.
        transforms: transform names (``"strip"``, ``"truncate(64)"``) or callables.
        default: value used when the result is empty.
        create_only: only send on create.

    A missing attribute is a mapping problem; ``None`` part-way along a dotted path gives
    ``None`` (then ``default``).
    """
    if not isinstance(attr, str) or not attr or any(not p for p in attr.split(".")):
        raise ConfigurationError(f"source() needs an attribute name, got {attr!r}")
    return _mk("source", attr, transforms, default, create_only)


def template(
    text: str,
    *,
    transforms: Sequence[str | Transform] = (),
    default: Any = None,
    create_only: bool = False,
) -> Field:
    """Build a string from several attributes: ``template("{first_name} {last_name}")``.

    Fields are dotted attribute paths read like :func:`source`; ``None`` becomes ``""``;
    format specs (``{n:>3}``) and conversions (``{x!r}``) work as in :meth:`str.format`.
    """
    if not isinstance(text, str):
        raise ConfigurationError(f"template() needs a string, got {type(text).__name__}")
    _compile_template(text)  # validate now
    return _mk("template", text, transforms, default, create_only)


def const(
    value: Any,
    *,
    transforms: Sequence[str | Transform] = (),
    create_only: bool = False,
) -> Field:
    """Always the same value (``const(True)``, ``const("Employee")``)."""
    return _mk("const", value, transforms, None, create_only)


def computed(
    func: Callable[[Any], Any],
    *,
    transforms: Sequence[str | Transform] = (),
    default: Any = None,
    create_only: bool = False,
) -> Field:
    """Compute the value with ``func(obj)``; an exception becomes a mapping problem."""
    if not callable(func):
        raise ConfigurationError(f"computed() needs a callable, got {type(func).__name__}")
    return _mk("computed", func, transforms, default, create_only)


_FORMATTER = string.Formatter()


def _compile_template(
    text: str,
) -> list[tuple[str, Callable[[Any], Any] | None, str, str | None]]:
    parts: list[tuple[str, Callable[[Any], Any] | None, str, str | None]] = []
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise ConfigurationError(f"template {text!r}: {exc}") from exc
    for literal, field_name, spec, conv in parsed:
        getter = None
        if field_name is not None:
            if not field_name or field_name.isdigit() or "[" in field_name:
                raise ConfigurationError(
                    f"template {text!r}: each {{field}} must name an attribute "
                    f"(dotted paths allowed), got {{{field_name}}}"
                )
            getter = _compile_getter(field_name)
        parts.append((literal, getter, spec or "", conv))
    return parts


def _compile_value(field: Field) -> Callable[[Any], Any]:
    kind, arg = field.kind, field.arg
    if kind == "source":
        return _compile_getter(arg)
    if kind == "const":
        return lambda obj: arg
    if kind == "computed":
        return arg  # type: ignore[no-any-return]
    if kind == "template":
        parts = _compile_template(arg)
        if all(spec == "" and conv is None for _, _, spec, conv in parts):
            simple = [(lit, g) for lit, g, _, _ in parts]

            def render_simple(obj: Any) -> str:
                out = []
                for lit, g in simple:
                    out.append(lit)
                    if g is not None:
                        v = g(obj)
                        if v is not None:
                            out.append(v if isinstance(v, str) else str(v))
                return "".join(out)

            return render_simple

        def render(obj: Any) -> str:
            out = []
            for lit, g, spec, conv in parts:
                out.append(lit)
                if g is not None:
                    v = g(obj)
                    if v is None:
                        v = ""
                    if conv is not None:
                        v = _FORMATTER.convert_field(v, conv)
                    out.append(format(v, spec))
            return "".join(out)

        return render
    raise ConfigurationError(f"unknown field kind {kind!r}; expected one of {', '.join(_KINDS)}")


# ----------------------------------------------------------------------------- mappings

_CASE_INSENSITIVE = frozenset({"userName", "emails.value", "displayName", "emails"})


def _to_fields(value: Any) -> tuple[tuple[str, Field], ...]:
    items = list(value.items()) if isinstance(value, Mapping) else list(value)
    out = []
    for path, fld in items:
        if isinstance(fld, str):
            fld = source(fld)
        if not isinstance(fld, Field):
            raise ConfigurationError(
                f"mapping for {path!r} must be source(), template(), const() or computed(), "
                f"got {type(fld).__name__}"
            )
        parse_path(path)
        out.append((path, fld))
    return tuple(out)


@attrs.frozen
class _Compiled:
    steps: tuple[tuple[str, ScimPath, Field, Callable[[Any], Any], bool], ...]
    extensions: bool


_M = TypeVar("_M", bound="_BaseMapping")


class _BaseMapping:
    """Shared implementation of :class:`UserMapping` and :class:`GroupMapping`."""

    kind: ClassVar[str]
    core_urn: ClassVar[str]
    default_matching: ClassVar[tuple[str, ...]]

    fields: tuple[tuple[str, Field], ...]
    matching: tuple[str, ...]
    external_id_from_key: bool
    primary: tuple[str, ...]
    _compiled: _Compiled

    def _compile(self) -> None:
        steps = []
        ext = False
        for path_text, fld in self.fields:
            path = parse_path(path_text)
            if path.urn is not None:
                ext = True
            primary = path.filter is not None and path.attr in self.primary
            steps.append((path_text, path, fld, _compile_value(fld), primary))
        for m in self.matching:
            if not isinstance(m, str) or not m:
                raise ConfigurationError(f"matching rules must be attribute paths, got {m!r}")
            _match_path(m)
        object.__setattr__(self, "_compiled", _Compiled(tuple(steps), ext))

    # -- public API

    @property
    def field_map(self) -> dict[str, Field]:
        """The fields as a ``{path: Field}`` dict (a copy)."""
        return dict(self.fields)

    @property
    def create_only_paths(self) -> tuple[str, ...]:
        """Paths of ``create_only`` fields; the diff leaves them alone on update."""
        return tuple(p for p, f in self.fields if f.create_only)

    def build_checked(
        self, obj: Any, key: str, *, for_create: bool
    ) -> tuple[dict[str, Any], list[Problem]]:
        """Map ``obj`` to a rep, collecting every mapping problem instead of raising.

        Args:
            obj: the local object (any object with attributes, or a mapping).
            key: its local key (``str(pk)``); becomes ``externalId`` unless mapped.
            for_create: include ``create_only`` fields.

        Returns:
            ``(rep, problems)``. Fields with a problem are left out of ``rep``.
        """
        kind = self.kind
        rep: dict[str, Any] = {"schemas": [self.core_urn]}
        problems: list[Problem] = []
        if type(obj) in _NOT_AN_OBJECT:
            # One clear problem instead of "attribute missing on int" for every field.
            shown = repr(obj) if len(repr(obj)) <= 40 else repr(obj)[:37] + "..."
            return rep, [
                Problem(
                    key,
                    "",
                    "not_an_object",
                    f"{kind} {key}: the source returned {type(obj).__name__} {shown}, not an "
                    f"object or a dict: get_{kind} must return a model instance, a mapping "
                    "or None (deleted)",
                )
            ]
        has_ext_id = False
        for path_text, path, fld, get, primary in self._compiled.steps:
            if fld.create_only and not for_create:
                continue
            try:
                value = get(obj)
            except _SourceMissingError as exc:
                problems.append(
                    Problem(
                        key,
                        path_text,
                        "source_missing",
                        f"{kind} {key}: {path_text}: source attribute {exc.attr!r} is missing "
                        f"on {type(obj).__name__}",
                    )
                )
                continue
            except Exception as exc:
                problems.append(
                    Problem(
                        key,
                        path_text,
                        "mapping_failed",
                        f"{kind} {key}: {path_text}: {fld.kind} value failed: "
                        f"{type(exc).__name__}: {exc}",
                    )
                )
                continue
            if value is not None and fld.transforms:
                failed = False
                for t in fld.transforms:
                    try:
                        value = t(value)
                    except Exception as exc:
                        problems.append(
                            Problem(
                                key,
                                path_text,
                                "transform_failed",
                                f"{kind} {key}: {path_text}: transform {transform_name(t)!r} "
                                f"failed: {type(exc).__name__}: {exc}",
                            )
                        )
                        failed = True
                        break
                    if value is None:
                        break
                if failed:
                    continue
            if value is None or value == "" or (isinstance(value, (list, dict)) and not value):
                value = fld.default
                if _is_empty(value):
                    continue
            if isinstance(value, tuple):
                value = list(value)
            if path.urn is None and path.filter is None and path.sub is None:
                rep[path.attr] = value
            else:
                path.set(rep, value, primary=primary)
            if path_text == "externalId":
                has_ext_id = True
        if self.external_id_from_key and not has_ext_id and "externalId" not in rep:
            rep["externalId"] = key
        if self._compiled.extensions:
            for k in rep:
                if k.startswith("urn:") and k not in rep["schemas"]:
                    rep["schemas"].append(k)
        return rep, problems

    def build(self, obj: Any, key: str, *, for_create: bool) -> dict[str, Any]:
        """Map ``obj`` to a rep; raise :class:`~scimsync.errors.ValidationError` listing
        every mapping problem at once.

        Args:
            obj: the local object.
            key: its local key.
            for_create: include ``create_only`` fields.
        """
        rep, problems = self.build_checked(obj, key, for_create=for_create)
        if problems:
            raise ValidationError(self.kind, key, problems)
        return rep

    def match_values(
        self, rep: Mapping[str, Any], *, normalise: bool = True
    ) -> list[tuple[str, str]]:
        """``(attribute, value)`` pairs for matching, in precedence order.

        Args:
            rep: a rep built by this mapping, or one read from the server.
            normalise: casefold case-insensitive attributes (``userName``,
                ``emails.value``, ``displayName``) so that local and remote values compare;
                pass ``False`` for the values as written (to put in an ``eq`` filter).

        Attributes with no value are left out; ``emails.value`` gives one pair per email.
        """
        out: list[tuple[str, str]] = []
        for attr in self.matching:
            path = _match_path(attr)
            fold = normalise and attr in _CASE_INSENSITIVE
            for v in path.values(rep):
                if v is None or isinstance(v, (dict, list)):
                    continue
                s = v if isinstance(v, str) else str(v)
                if not s:
                    continue
                out.append((attr, s.casefold() if fold else s))
        return out

    def with_fields(self: _M, fields: Mapping[str, Field | str | None], **changes: Any) -> _M:
        """A copy with some fields replaced, added (or removed when given ``None``)."""
        merged = dict(self.fields)
        for path, fld in fields.items():
            if fld is None:
                merged.pop(path, None)
            else:
                merged[path] = fld  # type: ignore[assignment]
        return attrs.evolve(self, fields=_to_fields(merged), **changes)  # type: ignore[misc]

    @classmethod
    def from_dict(
        cls: type[_M], table: Mapping[str, Any], *, where: str = "", base: _M | None = None
    ) -> _M:
        """Read a mapping from a TOML-shaped table.

        Args:
            table: ``{path: spec}``; a spec is a string (shorthand for ``source``) or a table
                with exactly one of ``source``, ``template``, ``const``, ``callable``
                (``"module:function"``) plus optional ``transforms``, ``default``,
                ``create_only``. ``false`` removes a field inherited from ``base``.
                Reserved keys: ``matching`` (list), ``primary`` (list),
                ``external_id_from_key`` (bool).
            where: prefix for error messages, e.g. ``"targets.aws.user_mapping"``.
            base: a mapping whose fields and settings this table overrides (typically the
                profile's default mapping).

        Raises:
            ConfigurationError: naming the key path and what is wrong.
        """
        if not isinstance(table, Mapping):
            raise ConfigurationError(
                f"{where or cls.__name__}: expected a table, got {type(table).__name__}"
            )
        fields: dict[str, Any] = dict(base.fields) if base is not None else {}
        kwargs: dict[str, Any] = {}
        if base is not None:
            kwargs = {
                "matching": base.matching,
                "external_id_from_key": base.external_id_from_key,
                "primary": base.primary,
            }
        for raw_key, spec in table.items():
            loc = f"{where}.{raw_key}" if where else str(raw_key)
            if raw_key in ("matching", "primary"):
                if (
                    isinstance(spec, str)
                    or not isinstance(spec, Sequence)
                    or not all(isinstance(x, str) and x for x in spec)
                ):
                    raise ConfigurationError(f"{loc}: expected a list of attribute names")
                kwargs[raw_key] = tuple(spec)
                continue
            if raw_key == "external_id_from_key":
                if not isinstance(spec, bool):
                    raise ConfigurationError(f"{loc}: expected true or false")
                kwargs[raw_key] = spec
                continue
            try:
                parse_path(raw_key)
            except ConfigurationError as exc:
                raise ConfigurationError(f"{loc}: {exc}") from None
            if spec is False:
                fields.pop(raw_key, None)
                continue
            fields[raw_key] = _field_from_spec(spec, loc)
        try:
            return cls(fields, **kwargs)  # type: ignore[call-arg]
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where or cls.__name__}: {exc}") from None


_match_cache: dict[str, ScimPath] = {}


def _match_path(attr: str) -> ScimPath:
    p = _match_cache.get(attr)
    if p is None:
        p = parse_path(attr)
        _match_cache[attr] = p
    return p


_SPEC_KEYS = frozenset({"source", "template", "const", "callable", "computed"})
_OPT_KEYS = frozenset({"transforms", "default", "create_only"})


def _load_callable(ref: str, loc: str) -> Callable[[Any], Any]:
    mod_name, sep, attr = ref.partition(":")
    if not sep or not mod_name or not attr:
        raise ConfigurationError(f"{loc}: callable must be written 'module:function', got {ref!r}")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ConfigurationError(f"{loc}: cannot import module {mod_name!r}: {exc}") from exc
    obj: Any = mod
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigurationError(
                f"{loc}: module {mod_name!r} has no attribute {attr!r}"
            ) from None
    if not callable(obj):
        raise ConfigurationError(f"{loc}: {ref!r} is not callable")
    return obj  # type: ignore[no-any-return]


def _field_from_spec(spec: Any, loc: str) -> Field:
    if isinstance(spec, str):
        try:
            return source(spec)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{loc}: {exc}") from None
    if not isinstance(spec, Mapping):
        raise ConfigurationError(
            f"{loc}: expected an attribute name or a table with one of "
            f"{', '.join(sorted(_SPEC_KEYS - {'computed'}))}, got {type(spec).__name__}"
        )
    kinds = [k for k in spec if k in _SPEC_KEYS]
    unknown = [k for k in spec if k not in _SPEC_KEYS and k not in _OPT_KEYS]
    if unknown:
        raise ConfigurationError(
            f"{loc}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: "
            f"source, template, const, callable, transforms, default, create_only"
        )
    if len(kinds) != 1:
        raise ConfigurationError(
            f"{loc}: give exactly one of source, template, const, callable "
            f"(got {', '.join(kinds) if kinds else 'none'})"
        )
    kind = kinds[0]
    transforms = spec.get("transforms", ())
    if isinstance(transforms, str):
        transforms = [transforms]
    if not isinstance(transforms, Sequence):
        raise ConfigurationError(f"{loc}.transforms: expected a list of transform names")
    create_only = spec.get("create_only", False)
    if not isinstance(create_only, bool):
        raise ConfigurationError(f"{loc}.create_only: expected true or false")
    default = spec.get("default")
    try:
        resolved = resolve_transforms(transforms)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{loc}.transforms: {exc}") from None
    arg = spec[kind]
    try:
        if kind == "source":
            if not isinstance(arg, str):
                raise ConfigurationError(f"source must be an attribute name, got {arg!r}")
            return source(arg, transforms=resolved, default=default, create_only=create_only)
        if kind == "template":
            if not isinstance(arg, str):
                raise ConfigurationError(f"template must be a string, got {arg!r}")
            return template(arg, transforms=resolved, default=default, create_only=create_only)
        if kind == "const":
            if "default" in spec:
                raise ConfigurationError("const takes no default")
            return const(arg, transforms=resolved, create_only=create_only)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{loc}.{kind}: {exc}") from None
    if not isinstance(arg, str):
        raise ConfigurationError(f"{loc}.{kind}: expected 'module:function', got {arg!r}")
    func = _load_callable(arg, f"{loc}.{kind}")
    return computed(func, transforms=resolved, default=default, create_only=create_only)


def _matching(v: Iterable[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if v is None:
        return default
    if isinstance(v, str):
        return (v,)
    return tuple(v)


def _user_matching(v: Iterable[str] | None) -> tuple[str, ...]:
    return _matching(v, ("externalId", "userName", "emails.value"))


def _group_matching(v: Iterable[str] | None) -> tuple[str, ...]:
    return _matching(v, ("externalId", "displayName"))


@attrs.frozen(init=True)
class UserMapping(_BaseMapping):
    """How a local user becomes a SCIM User rep.

    Args:
        fields: ``{scim_path: Field | "attr"}``; a string is shorthand for ``source(...)``.
        matching: attributes used to find an existing remote user, in precedence order.
        external_id_from_key: set ``externalId`` to the local key unless mapped.
        primary: multi-valued attributes whose first entry gets ``"primary": true``.

    Example::

        UserMapping({
            "userName": source("email", transforms=["strip", "lower"]),
            "name.givenName": "first_name",
            "name.familyName": "last_name",
            "displayName": template("{first_name} {last_name}"),
            'emails[type eq "work"].value': "email",
            "active": source("is_active", transforms=["bool"]),
        })
    """

    kind: ClassVar[str] = "user"
    core_urn: ClassVar[str] = CORE_USER_URN
    default_matching: ClassVar[tuple[str, ...]] = ("externalId", "userName", "emails.value")

    fields: tuple[tuple[str, Field], ...] = attrs.field(converter=_to_fields)
    matching: tuple[str, ...] = attrs.field(
        default=("externalId", "userName", "emails.value"),
        converter=_user_matching,
    )
    external_id_from_key: bool = True
    primary: tuple[str, ...] = attrs.field(default=("emails",), converter=tuple)
    _compiled: _Compiled = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        self._compile()


@attrs.frozen(init=True)
class GroupMapping(_BaseMapping):
    """How a local group becomes a SCIM Group rep (members are the engine's business).

    Args:
        fields: ``{scim_path: Field | "attr"}``; typically ``{"displayName": "name"}``.
        matching: default ``("externalId", "displayName")``.
        external_id_from_key: set ``externalId`` to the local key unless mapped.
        primary: as for :class:`UserMapping` (rarely useful for groups).
    """

    kind: ClassVar[str] = "group"
    core_urn: ClassVar[str] = CORE_GROUP_URN
    default_matching: ClassVar[tuple[str, ...]] = ("externalId", "displayName")

    fields: tuple[tuple[str, Field], ...] = attrs.field(converter=_to_fields)
    matching: tuple[str, ...] = attrs.field(
        default=("externalId", "displayName"),
        converter=_group_matching,
    )
    external_id_from_key: bool = True
    primary: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    _compiled: _Compiled = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        self._compile()
