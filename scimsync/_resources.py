"""SCIM 2.0 resource models (RFC 7643) and the one cattrs converter for their wire JSON.

Python attributes are snake_case; wire keys are camelCase (``$ref`` for ``ref``, the
enterprise extension under its URN, ``Resources``/``Operations`` in messages).

Parsing is tolerant of what real servers send (string booleans, string status codes,
``schema`` instead of ``schemas``, ``null`` lists) and keeps every wire key a model does
not know in its ``extra`` dict, so an unknown attribute or extension survives a round
trip. Output is strict: real booleans, no ``None`` values, no empty objects, and the
right ``schemas`` list always written.

Bad data raises :class:`ParseError` naming the attribute path, e.g.
``emails[0].primary: expected a boolean, got 'maybe'``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError, IterableValidationNote
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = [
    "ENTERPRISE_USER_SCHEMA",
    "ERROR_SCHEMA",
    "GROUP_SCHEMA",
    "LIST_RESPONSE_SCHEMA",
    "PATCH_OP_SCHEMA",
    "RESOURCE_TYPE_SCHEMA",
    "SCHEMA_SCHEMA",
    "SERVICE_PROVIDER_CONFIG_SCHEMA",
    "USER_SCHEMA",
    "Address",
    "AuthenticationScheme",
    "BulkConfig",
    "Email",
    "EnterpriseUser",
    "FilterConfig",
    "Group",
    "ListResponse",
    "Manager",
    "Member",
    "Meta",
    "Name",
    "ParseError",
    "PatchOp",
    "PatchOperation",
    "PhoneNumber",
    "ResourceType",
    "Role",
    "Schema",
    "SchemaAttribute",
    "SchemaExtension",
    "ScimErrorBody",
    "ServiceProviderConfig",
    "SupportedFeature",
    "User",
    "converter",
    "from_wire",
    "to_wire",
]

#: Core User schema URN (RFC 7643 §4.1).
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
#: Core Group schema URN (RFC 7643 §4.2).
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
#: Enterprise User extension URN (RFC 7643 §4.3); also the wire key of its data.
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#: PATCH request message URN (RFC 7644 §3.5.2).
PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#: List response message URN (RFC 7644 §3.4.2).
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
#: Error message URN (RFC 7644 §3.12).
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
#: ServiceProviderConfig schema URN (RFC 7643 §5).
SERVICE_PROVIDER_CONFIG_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
#: ResourceType schema URN (RFC 7643 §6).
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
#: Schema schema URN (RFC 7643 §7).
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

T = TypeVar("T")


class ParseError(ValueError):
    """Wire data does not fit a model.

    The message starts with the attribute path (``emails[0].primary: ...``). The client
    wraps this into :class:`scimsync.errors.MalformedResponseError`.

    Attributes:
        model: name of the model being parsed, e.g. ``"User"``.
        path: attribute path in wire names, e.g. ``"emails[0].primary"`` (``""`` for the
            whole object).
        reason: what was wrong, e.g. ``"expected a boolean, got 'maybe'"``.
    """

    def __init__(self, model: str, path: str, reason: str) -> None:
        self.model = model
        self.path = path
        self.reason = reason
        super().__init__(f"{path or model}: {reason}")


class _Reason(ValueError):
    """A leaf hook's complaint; its message becomes ParseError.reason."""


def _as_dict(data: Any) -> dict[str, Any]:
    """Accept any mapping where a JSON object is expected (JSON decoders give dicts)."""
    if isinstance(data, Mapping):
        return dict(data)
    raise _Reason(f"expected a JSON object, got {_describe(data)}")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- models
# Every model carries ``extra``: the wire keys it does not model, written back on output.


@attrs.define(kw_only=True)
class Name:
    """The ``name`` complex attribute of a User (RFC 7643 §4.1.1)."""

    formatted: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    honorific_prefix: str | None = None
    honorific_suffix: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class Email:
    """One entry of ``emails``; AWS requires exactly one, with ``primary=True``."""

    value: str | None = None
    type: str | None = None
    primary: bool | None = None
    display: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class PhoneNumber:
    """One entry of ``phoneNumbers``."""

    value: str | None = None
    type: str | None = None
    primary: bool | None = None
    display: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class Address:
    """One entry of ``addresses``."""

    formatted: str | None = None
    street_address: str | None = None
    locality: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    type: str | None = None
    primary: bool | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class Role:
    """One entry of ``roles``."""

    value: str | None = None
    type: str | None = None
    primary: bool | None = None
    display: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class Meta:
    """Server-maintained ``meta`` (RFC 7643 §3.1). Timestamps stay strings as sent."""

    resource_type: str | None = None
    created: str | None = None
    last_modified: str | None = None
    location: str | None = None
    version: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class Manager:
    """``manager`` of the enterprise extension; ``ref`` is ``$ref`` on the wire."""

    value: str | None = None
    ref: str | None = None
    display_name: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class EnterpriseUser:
    """The enterprise User extension (RFC 7643 §4.3), keyed by its URN on the wire."""

    employee_number: str | None = None
    cost_center: str | None = None
    organization: str | None = None
    division: str | None = None
    department: str | None = None
    manager: Manager | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class User:
    """A SCIM User (RFC 7643 §4.1) with the enterprise extension.

    Args:
        user_name: ``userName``, required by every server.
        enterprise: the enterprise extension; its URN is added to ``schemas`` on output
            when it holds any data.
        extra: wire keys not modelled here (unknown attributes and extensions); kept on
            parse and written back by :func:`to_wire`.

    Multi-valued attributes are lists; absent, ``null`` and ``[]`` all parse to ``[]``
    (RFC 7643 §2.5 treats them as the same state) and ``[]`` is not written.
    """

    core_schema: ClassVar[str] = USER_SCHEMA

    user_name: str
    name: Name | None = None
    display_name: str | None = None
    nick_name: str | None = None
    profile_url: str | None = None
    title: str | None = None
    user_type: str | None = None
    preferred_language: str | None = None
    locale: str | None = None
    timezone: str | None = None
    active: bool | None = None
    emails: list[Email] = attrs.field(factory=list)
    phone_numbers: list[PhoneNumber] = attrs.field(factory=list)
    addresses: list[Address] = attrs.field(factory=list)
    roles: list[Role] = attrs.field(factory=list)
    external_id: str | None = None
    id: str | None = None
    meta: Meta | None = None
    schemas: list[str] = attrs.field(factory=lambda: [USER_SCHEMA])
    enterprise: EnterpriseUser | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class Member:
    """One group member; ``ref`` is ``$ref`` on the wire, ``type`` is ``User``/``Group``."""

    value: str
    ref: str | None = None
    type: str | None = None
    display: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class Group:
    """A SCIM Group (RFC 7643 §4.2).

    ``members is None`` means the server did not return members (AWS never does);
    ``members == []`` means the group has none. Only a list is written on output.
    """

    core_schema: ClassVar[str] = GROUP_SCHEMA

    display_name: str
    members: list[Member] | None = None
    external_id: str | None = None
    id: str | None = None
    meta: Meta | None = None
    schemas: list[str] = attrs.field(factory=lambda: [GROUP_SCHEMA])
    extra: dict[str, Any] = attrs.field(factory=dict)


_PATCH_OPS = frozenset({"add", "remove", "replace"})


def _check_op(_inst: Any, _attr: Any, value: str) -> None:
    if not isinstance(value, str) or value.lower() not in _PATCH_OPS:
        msg = f"PatchOperation.op must be 'add', 'remove' or 'replace', got {_describe(value)}"
        raise ValueError(msg)


@attrs.define(kw_only=True)
class PatchOperation:
    """One PATCH operation (RFC 7644 §3.5.2). ``op`` is matched case-insensitively.

    ``value`` may hold models (e.g. a list of :class:`Member`); :func:`to_wire` converts
    them.
    """

    op: str = attrs.field(validator=_check_op)
    path: str | None = None
    value: Any = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class PatchOp:
    """A PATCH request body; ``operations`` is ``Operations`` on the wire."""

    core_schema: ClassVar[str] = PATCH_OP_SCHEMA

    operations: list[PatchOperation] = attrs.field(factory=list)
    schemas: list[str] = attrs.field(factory=lambda: [PATCH_OP_SCHEMA])
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class ListResponse(Generic[T]):
    """A list/query response (RFC 7644 §3.4.2), generic over the resource type.

    Parse with ``from_wire(ListResponse[User], data)``. AWS cursor pages carry
    ``next_cursor`` and no ``total_results``/``start_index``.
    """

    core_schema: ClassVar[str] = LIST_RESPONSE_SCHEMA

    total_results: int | None = None
    items_per_page: int | None = None
    start_index: int | None = None
    next_cursor: str | None = None
    resources: list[T] = attrs.field(factory=list)
    schemas: list[str] = attrs.field(factory=lambda: [LIST_RESPONSE_SCHEMA])
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class ScimErrorBody:
    """A SCIM error body (RFC 7644 §3.12), parsed the tolerant way.

    Accepts ``schema`` (AWS's misspelling, sometimes the only one) when ``schemas`` is
    absent; a ``schema`` key is also kept in ``extra``, so an AWS body round-trips as is.
    ``status`` may be a string or an integer and is an ``int`` here (written back as a
    string, as RFC 7644 §3.12 says). AWS adds ``exceptionRequestId`` and ``timeStamp``.
    """

    core_schema: ClassVar[str] = ERROR_SCHEMA

    detail: str | None = None
    status: int | None = None
    scim_type: str | None = None
    exception_request_id: str | None = None
    time_stamp: str | None = None
    schemas: list[str] = attrs.field(factory=lambda: [ERROR_SCHEMA])
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class SupportedFeature:
    """A ServiceProviderConfig feature that is only on or off (patch, sort, ...)."""

    supported: bool | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class BulkConfig:
    """ServiceProviderConfig ``bulk``."""

    supported: bool | None = None
    max_operations: int | None = None
    max_payload_size: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class FilterConfig:
    """ServiceProviderConfig ``filter``. (AWS says 50 but pages hold up to 100.)"""

    supported: bool | None = None
    max_results: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class AuthenticationScheme:
    """One entry of ServiceProviderConfig ``authenticationSchemes``."""

    type: str | None = None
    name: str | None = None
    description: str | None = None
    spec_uri: str | None = None
    documentation_uri: str | None = None
    primary: bool | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class ServiceProviderConfig:
    """``/ServiceProviderConfig`` (RFC 7643 §5). Do not trust it blindly (see AWS)."""

    core_schema: ClassVar[str] = SERVICE_PROVIDER_CONFIG_SCHEMA

    documentation_uri: str | None = None
    patch: SupportedFeature | None = None
    bulk: BulkConfig | None = None
    filter: FilterConfig | None = None
    change_password: SupportedFeature | None = None
    sort: SupportedFeature | None = None
    etag: SupportedFeature | None = None
    authentication_schemes: list[AuthenticationScheme] = attrs.field(factory=list)
    meta: Meta | None = None
    schemas: list[str] = attrs.field(factory=lambda: [SERVICE_PROVIDER_CONFIG_SCHEMA])
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class SchemaExtension:
    """One entry of ResourceType ``schemaExtensions``."""

    schema: str | None = None
    required: bool | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class ResourceType:
    """A ``/ResourceTypes`` entry (RFC 7643 §6)."""

    core_schema: ClassVar[str] = RESOURCE_TYPE_SCHEMA

    id: str | None = None
    name: str | None = None
    description: str | None = None
    endpoint: str | None = None
    schema: str | None = None
    schema_extensions: list[SchemaExtension] = attrs.field(factory=list)
    meta: Meta | None = None
    schemas: list[str] = attrs.field(factory=lambda: [RESOURCE_TYPE_SCHEMA])
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class SchemaAttribute:
    """One attribute definition of a ``/Schemas`` entry (RFC 7643 §7)."""

    name: str | None = None
    type: str | None = None
    multi_valued: bool | None = None
    description: str | None = None
    required: bool | None = None
    canonical_values: list[Any] = attrs.field(factory=list)
    case_exact: bool | None = None
    mutability: str | None = None
    returned: str | None = None
    uniqueness: str | None = None
    reference_types: list[str] = attrs.field(factory=list)
    sub_attributes: list[SchemaAttribute] = attrs.field(factory=list)
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class Schema:
    """A ``/Schemas`` entry (RFC 7643 §7); ``id`` is the schema URN."""

    core_schema: ClassVar[str] = SCHEMA_SCHEMA

    id: str | None = None
    name: str | None = None
    description: str | None = None
    attributes: list[SchemaAttribute] = attrs.field(factory=list)
    meta: Meta | None = None
    schemas: list[str] = attrs.field(factory=lambda: [SCHEMA_SCHEMA])
    extra: dict[str, Any] = attrs.field(factory=dict)


# ------------------------------------------------------------------------ converter

#: The one converter for SCIM wire JSON. Hooks are generated once, at import.
converter = cattrs.Converter(detailed_validation=True)

_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INT_RE = re.compile(r"\s*[-+]?\d+\s*\Z")


def _structure_bool(value: Any, _t: Any) -> bool:
    if value is True or value is False:
        return bool(value)
    if isinstance(value, str):
        if value in _TRUE or value.strip().lower() == "true":
            return True
        if value in _FALSE or value.strip().lower() == "false":
            return False
    raise _Reason(f"expected a boolean, got {_describe(value)}")


def _structure_int(value: Any, _t: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _Reason(f"expected an integer, got {_describe(value)}")


def _structure_str(value: Any, _t: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # e.g. a numeric externalId or employeeNumber
    raise _Reason(f"expected a string, got {_describe(value)}")


def _structure_any(value: Any, _t: Any) -> Any:
    return value


converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(Any, _structure_any)


def _is_list(t: Any) -> bool:
    return get_origin(t) is list


def _list_hook_factory(t: Any) -> Callable[[Any, Any], list[Any]]:
    args = get_args(t)
    elem_type: Any = args[0] if args else Any
    hook: list[Callable[[Any, Any], Any]] = []  # resolved lazily: models may recurse

    def structure_list(value: Any, _t: Any) -> list[Any]:
        if value is None:
            return []
        if type(value) is not list and not isinstance(value, (list, tuple)):
            raise _Reason(f"expected a list, got {_describe(value)}")
        if not hook:
            hook.append(converter.get_structure_hook(elem_type))
        elem = hook[0]
        try:
            return [elem(item, elem_type) for item in value]
        except Exception:  # rare: find the failing index for the error path
            for index, item in enumerate(value):
                try:
                    elem(item, elem_type)
                except Exception as exc:
                    exc.__notes__ = [
                        *getattr(exc, "__notes__", []),
                        IterableValidationNote(
                            f"Structuring {t} @ index {index}", index, elem_type
                        ),
                    ]
                    msg = f"While structuring {t!r}"
                    raise IterableValidationError(msg, [exc], t) from None
            raise  # pragma: no cover - the retry did not fail; report the original

    return structure_list


converter.register_structure_hook_factory(_is_list, _list_hook_factory)


def _is_optional(t: Any) -> bool:
    args = get_args(t)
    return get_origin(t) in (Union, types.UnionType) and len(args) == 2 and type(None) in args


def _optional_hook_factory(t: Any) -> Callable[[Any, Any], Any]:
    """``X | None`` with X's hook resolved once (cattrs' default looks it up per call)."""
    inner_type: Any = next(a for a in get_args(t) if a is not type(None))
    if inner_type is str:

        def structure_optional_str(value: Any, _t: Any) -> str | None:
            if value is None or type(value) is str:
                return value
            return _structure_str(value, str)

        return structure_optional_str
    hook: list[Callable[[Any, Any], Any]] = []  # resolved lazily: models may recurse

    def structure_optional(value: Any, _t: Any) -> Any:
        if value is None:
            return None
        if not hook:
            hook.append(converter.get_structure_hook(inner_type))
        return hook[0](value, inner_type)

    return structure_optional


converter.register_structure_hook_factory(_is_optional, _optional_hook_factory)


def _optional_unstructure_factory(t: Any) -> Callable[[Any], Any]:
    """``X | None`` on output: identity for JSON scalars (inlined by cattrs' generated
    code), else X's hook resolved once instead of a runtime-type dispatch per call."""
    inner_type: Any = next(a for a in get_args(t) if a is not type(None))
    if inner_type in (str, int, float, bool):
        return identity
    hook: list[Callable[[Any], Any]] = []

    def unstructure_optional(value: Any) -> Any:
        if value is None:
            return None
        if not hook:
            hook.append(converter.get_unstructure_hook(inner_type))
        return hook[0](value)

    return unstructure_optional


converter.register_unstructure_hook_factory(_is_optional, _optional_unstructure_factory)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


_RENAMES: dict[str, str] = {
    "ref": "$ref",
    "enterprise": ENTERPRISE_USER_SCHEMA,
    "resources": "Resources",
    "operations": "Operations",
}


def _wire_name(field_name: str) -> str:
    return _RENAMES.get(field_name) or _camel(field_name)


def _unstructure_any(value: Any) -> Any:
    """Unstructure a value of unknown static type by its runtime type (models inside)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_unstructure_any(v) for v in value]
    if isinstance(value, dict):
        return {k: _unstructure_any(v) for k, v in value.items()}
    return converter.unstructure(value)


_MISSING = object()
#: The plain cattrs-generated hooks (no ``extra``), kept as the reference for the fast path.
_REFERENCE_STRUCTURE: dict[type[Any], Callable[[Any, Any], Any]] = {}


def _make_structure_hook(
    cls: type[Any],
    fields: list[Any],
    wire: dict[str, str],
    known: frozenset[str],
    reference: Callable[[Any, Any], Any],
) -> Callable[[Any, Any], Any]:
    """Generate the structure hook of one model: a straight-line fast path for valid data.

    Gives the same result as the cattrs-generated ``reference`` hook, but scalar fields
    that already have the right JSON type are taken without a hook call (most of a SCIM
    body). On any exception it falls back to ``reference``, which raises the detailed
    cattrs error that :func:`from_wire` turns into a ParseError with the attribute path.
    Wire keys outside ``known`` are collected into ``extra``.
    """
    ns: dict[str, Any] = {
        "C": cls,
        "M": _MISSING,
        "REF": reference,
        "KNOWN": known,
        "AS_DICT": _as_dict,
    }
    body = ["        g = o.get"]
    args = []
    for i, f in enumerate(fields):
        key, typ, var = wire[f.name], f.type, f"v{i}"
        ns[f"h{i}"] = converter.get_structure_hook(typ)
        ns[f"t{i}"] = typ
        if f.default is attrs.NOTHING:
            body.append(f"        {var} = o[{key!r}]")
            guard = f"type({var}) is not str" if typ is str else "True"
            body.append(f"        if {guard}: {var} = h{i}({var}, t{i})")
        elif f.default is None and typ in _SCALAR_GUARDS:
            body.append(f"        {var} = g({key!r})")
            guard = _SCALAR_GUARDS[typ].format(v=var)
            body.append(f"        if {var} is not None and {guard}: {var} = h{i}({var}, t{i})")
        elif f.default is None and typ is Any:
            body.append(f"        {var} = g({key!r})")
        else:
            if isinstance(f.default, attrs.Factory):  # type: ignore[arg-type]
                ns[f"d{i}"] = f.default.factory
                missing = f"d{i}()"
            else:
                ns[f"d{i}"] = f.default
                missing = f"d{i}"
            body.append(f"        {var} = g({key!r}, M)")
            body.append(f"        {var} = {missing} if {var} is M else h{i}({var}, t{i})")
        args.append(f"{f.name}={var}")
    lines = [
        "def structure(o, _t=None):",
        "    if type(o) is not dict:",
        "        o = AS_DICT(o)",
        "    try:",
        *body,
        f"        obj = C({', '.join(args)})",
        "    except Exception:",
        "        obj = REF(o, C)",
        "    if not KNOWN.issuperset(o):",
        "        obj.extra = {k: v for k, v in o.items() if k not in KNOWN}",
        "    return obj",
    ]
    source = "\n".join(lines)
    exec(compile(source, f"<scimsync structure {cls.__name__}>", "exec"), ns)  # noqa: S102
    hook: Callable[[Any, Any], Any] = ns["structure"]
    return hook


# guards (on a non-None value) that send a scalar to its tolerant hook
_SCALAR_GUARDS: dict[Any, str] = {
    str | None: "type({v}) is not str",
    bool | None: "{v} is not True and {v} is not False",
    int | None: "type({v}) is not int",
}


def _register_model(cls: type[Any], *, with_structure: bool = True) -> None:
    """Build and register the structure and unstructure hooks of one model, once."""
    attrs.resolve_types(cls, globals())
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]
    wire = {f.name: _wire_name(f.name) for f in fields}
    known = frozenset(wire.values())
    model_name = cls.__name__

    s_overrides: dict[str, Any] = {name: override(rename=key) for name, key in wire.items()}
    s_overrides["extra"] = override(omit=True)
    u_overrides: dict[str, Any] = dict(s_overrides)
    if "schemas" in wire:
        u_overrides["schemas"] = override(omit=True)  # written first, below
    if cls is PatchOperation:
        u_overrides["value"] = override(rename="value", unstruct_hook=_unstructure_any)
    if cls is ListResponse:
        u_overrides["resources"] = override(
            rename="Resources", unstruct_hook=_unstructure_any, omit_if_default=False
        )
    if cls is SchemaAttribute:
        u_overrides["sub_attributes"] = override(
            rename="subAttributes", unstruct_hook=_unstructure_any
        )
        u_overrides["canonical_values"] = override(
            rename="canonicalValues", unstruct_hook=_unstructure_any
        )
    if cls is ScimErrorBody:
        u_overrides["status"] = override(
            rename="status", unstruct_hook=lambda v: None if v is None else str(v)
        )

    base_structure = (
        make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=False, **s_overrides)
        if with_structure
        else None
    )
    base_unstructure = make_dict_unstructure_fn(
        cls, converter, _cattrs_omit_if_default=True, **u_overrides
    )
    complex_keys = tuple(
        wire[f.name] for f in fields if f.name not in ("schemas",) and _is_model_type(f.type)
    )
    core_schema: str | None = getattr(cls, "core_schema", None)
    is_user = cls is User

    structure: Callable[[Any, Any], Any] | None = None
    if base_structure is not None:
        structure = _make_structure_hook(cls, fields, wire, known, base_structure)
        _REFERENCE_STRUCTURE[cls] = base_structure
        if cls is ScimErrorBody:
            generated = structure

            def structure(data: Any, _t: Any) -> Any:
                # AWS sends "schema" (sometimes only that) for "schemas"
                if isinstance(data, Mapping) and "schemas" not in data and "schema" in data:
                    data = {**data, "schemas": data["schema"]}
                return generated(data, _t)

    def unstructure(obj: Any) -> dict[str, Any]:
        body = base_unstructure(obj)
        for key in complex_keys:
            if body.get(key) == {}:
                del body[key]
        if obj.extra:
            for key, value in obj.extra.items():
                body.setdefault(key, value)
        if core_schema is None:
            return body
        schemas = [core_schema]
        if is_user and ENTERPRISE_USER_SCHEMA in body:
            schemas.append(ENTERPRISE_USER_SCHEMA)
        for urn in obj.schemas:
            if urn not in schemas and (urn != ENTERPRISE_USER_SCHEMA or not is_user):
                schemas.append(urn)
        return {"schemas": schemas, **body}

    unstructure.__name__ = f"unstructure_{model_name}"
    if structure is not None:
        converter.register_structure_hook(cls, structure)
    converter.register_unstructure_hook(cls, unstructure)


_MODELS: tuple[type[Any], ...] = (
    # leaves first: a model's generated hook looks up its fields' hooks when built
    Name,
    Email,
    PhoneNumber,
    Address,
    Role,
    Meta,
    Manager,
    EnterpriseUser,
    Member,
    User,
    Group,
    PatchOperation,
    PatchOp,
    ScimErrorBody,
    SupportedFeature,
    BulkConfig,
    FilterConfig,
    AuthenticationScheme,
    ServiceProviderConfig,
    SchemaExtension,
    ResourceType,
    SchemaAttribute,
    Schema,
)


def _is_model_type(t: Any) -> bool:
    return any(a in _MODELS for a in (t, *get_args(t)))


for _model in _MODELS:
    _register_model(_model)
# ListResponse: the output hook here, input through the generic factory below.
_register_model(ListResponse, with_structure=False)


def _is_list_response(t: Any) -> bool:
    return t is ListResponse or get_origin(t) is ListResponse


def _list_response_factory(t: Any) -> Callable[[Any, Any], Any]:
    args = get_args(t)
    item_type: Any = args[0] if args else dict[str, Any]
    item_list = list[item_type]
    known = frozenset({"totalResults", "itemsPerPage", "startIndex", "nextCursor"})
    known |= {"Resources", "schemas"}
    base = make_dict_structure_fn(
        ListResponse[item_type],
        converter,
        _cattrs_forbid_extra_keys=False,
        total_results=override(rename="totalResults"),
        items_per_page=override(rename="itemsPerPage"),
        start_index=override(rename="startIndex"),
        next_cursor=override(rename="nextCursor"),
        resources=override(rename="Resources", struct_hook=_list_hook_factory(item_list)),
        extra=override(omit=True),
    )

    def structure(data: Any, _t: Any) -> Any:
        if type(data) is not dict:
            data = _as_dict(data)
        obj = base(data, t)
        if not known.issuperset(data):
            obj.extra = {k: v for k, v in data.items() if k not in known}
        return obj

    return structure


converter.register_structure_hook_factory(_is_list_response, _list_response_factory)


# ------------------------------------------------------------------------ public API


def to_wire(obj: Any) -> dict[str, Any]:
    """Convert a model to SCIM wire JSON (a ``dict`` ready for ``json.dumps``).

    Args:
        obj: any model instance from this module.

    Returns:
        camelCase keys, ``schemas`` first, no ``None`` values or empty objects, real
        booleans, the model's ``extra`` keys merged back in.
    """
    if not attrs.has(type(obj)):
        msg = f"to_wire() expects a scimsync model, got {type(obj).__name__}"
        raise TypeError(msg)
    result: dict[str, Any] = converter.unstructure(obj)
    return result


def from_wire(cls: type[T], data: Any) -> T:
    """Parse SCIM wire JSON into a model, tolerating what real servers send.

    Args:
        cls: the model class, e.g. ``User`` or ``ListResponse[User]``.
        data: the decoded JSON (normally a ``dict``).

    Returns:
        The model instance; unknown wire keys are in its ``extra``.

    Raises:
        ParseError: the data does not fit; the message names the attribute path.
    """
    model_name = getattr(get_origin(cls) or cls, "__name__", repr(cls))
    try:
        return converter.structure(data, cls)
    except ParseError:
        raise
    except Exception as exc:
        path, leaf = _locate(exc, "")
        raise ParseError(model_name, path.lstrip("."), _reason(leaf)) from exc


def _locate(exc: BaseException, path: str) -> tuple[str, BaseException]:
    """Follow cattrs' validation notes to the first leaf error and its attribute path."""
    if isinstance(exc, ClassValidationError):
        attr_notes, others = exc.group_exceptions()
        for sub, note in attr_notes:
            return _locate(sub, f"{path}.{_wire_name(note.name)}")
        for sub in others:
            return _locate(sub, path)
    elif isinstance(exc, IterableValidationError):
        index_notes, others = exc.group_exceptions()
        for sub, inote in index_notes:
            return _locate(sub, f"{path}[{inote.index}]")
        for sub in others:
            return _locate(sub, path)
    return path, exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, _Reason):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required attribute is missing"
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
