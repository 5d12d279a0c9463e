"""Target profiles: what one kind of SCIM service provider accepts, in data.

Core code asks the profile (page size, PATCH or PUT, member limits, validation); it never
says ``if aws``. A :class:`Profile` is a frozen attrs object, so a custom target is
``attrs.evolve(GENERIC, name="acme", max_members_per_patch=50)`` or ``Profile(...)``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from scimsync._mapping import MISSING, GroupMapping, ScimPath, UserMapping, parse_path
from scimsync._transforms import PluginRegistry
from scimsync.errors import ConfigurationError, Problem

__all__ = [
    "ConsistencyRetry",
    "MissingNames",
    "Profile",
    "StringRule",
    "get_profile",
    "register_profile",
]

_NAME_PATHS = ("name.givenName", "name.familyName", "displayName")


@attrs.frozen
class MissingNames:
    """What to do when a profile requires names a user does not have.

    Applies to ``name.givenName``, ``name.familyName`` and ``displayName`` when the profile
    lists them as required (AWS does; the generic profile does not).

    Args:
        mode:
            ``"fail"``: report the user as invalid (``... is required by the aws profile``).
            ``"fill"``: copy ``from_attribute`` (a rep path such as ``"userName"`` or
            ``"displayName"``) into a missing given/family name.
            ``"placeholder"``: put ``value`` in a missing given/family name.
            In ``fill`` and ``placeholder`` modes a missing ``displayName`` becomes
            ``"<givenName> <familyName>"`` of the names present, else ``userName``.
        from_attribute: the rep path read in ``fill`` mode.
        value: the placeholder. AWS accepts a single ASCII space and rejects a zero-width
            space (U+200B), so the default is ``" "``.
    """

    mode: Literal["fail", "fill", "placeholder"] = "placeholder"
    from_attribute: str = "displayName"
    value: str = " "

    def __attrs_post_init__(self) -> None:
        if self.mode not in ("fail", "fill", "placeholder"):
            raise ConfigurationError(
                f"MissingNames mode must be 'fail', 'fill' or 'placeholder', got {self.mode!r}"
            )
        parse_path(self.from_attribute)
        if self.mode == "placeholder" and (not isinstance(self.value, str) or not self.value):
            raise ConfigurationError("MissingNames placeholder value must be a non-empty string")

    def apply(self, rep: dict[str, Any], required: frozenset[str]) -> dict[str, Any]:
        """Return ``rep`` with missing required names filled per the policy (a copy if changed)."""
        if self.mode == "fail":
            return rep
        missing = [p for p in _NAME_PATHS if p in required and _empty(parse_path(p).get(rep))]
        if not missing:
            return rep
        out = dict(rep)
        if "name" in out and isinstance(out["name"], dict):
            out["name"] = dict(out["name"])
        for p in missing:
            if p == "displayName":
                continue
            if self.mode == "placeholder":
                fill: Any = self.value
            else:
                fill = parse_path(self.from_attribute).get(out)
                if _empty(fill) or not isinstance(fill, str):
                    continue
            parse_path(p).set(out, fill)
        if "displayName" in missing:
            raw = out.get("name")
            name: dict[str, Any] = raw if isinstance(raw, dict) else {}
            parts = [
                v.strip()
                for v in (name.get("givenName"), name.get("familyName"))
                if isinstance(v, str) and v.strip()
            ]
            display = " ".join(parts) or out.get("userName")
            if isinstance(display, str) and display:
                out["displayName"] = display
        return out


def _empty(v: Any) -> bool:
    return v is MISSING or v is None or v == ""


@attrs.frozen
class ConsistencyRetry:
    """How the engine retries a 404 on a resource it created moments ago.

    Some service providers are eventually consistent: AWS IAM Identity Center has answered
    404 to adding members right after creating the group (aws-scim.md §8.5). When a PATCH or
    PUT on a resource created earlier in the same sync (or, with ``window``, shortly
    before by the same :class:`~scimsync.Provisioner`) answers 404, the engine waits and
    tries again before concluding the resource vanished (and recreating it). A 404 on any
    other resource is never retried.

    Args:
        attempts: further tries after the first 404 (``0`` turns retrying off).
        delay: seconds before the first retry; each further retry waits twice as long
            (0.2, 0.4, 0.8 s by default).
        window: seconds after creation during which later syncs through the same
            provisioner also retry (``0``: only within the sync that created it).
    """

    attempts: int = 3
    delay: float = 0.2
    window: float = 0.0

    def __attrs_post_init__(self) -> None:
        if (
            not isinstance(self.attempts, int)
            or isinstance(self.attempts, bool)
            or self.attempts < 0
        ):
            raise ConfigurationError(
                f"ConsistencyRetry attempts must be a non-negative integer, got {self.attempts!r}"
            )
        for attr in ("delay", "window"):
            v = getattr(self, attr)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ConfigurationError(
                    f"ConsistencyRetry {attr} must be a non-negative number of seconds, got {v!r}"
                )

    def waits(self) -> list[float]:
        """The sleep before each retry, in seconds."""
        return [self.delay * 2**i for i in range(self.attempts)]


@attrs.frozen
class StringRule:
    """Length and character rules for string attributes.

    Args:
        paths: rep paths the rule covers; ``emails.value`` covers every email.
        max_length: maximum length in characters.
        min_length: minimum length (AWS: 1, empty strings are invalid).
        allow_whitespace: allow ASCII space, tab, CR, LF and NBSP.
        extra_chars: further characters allowed besides letters, marks, symbols, numbers
            and punctuation (Unicode categories L, M, S, N, P).
        check_chars: whether to check characters at all.
    """

    paths: tuple[str, ...]
    max_length: int
    min_length: int = 1
    allow_whitespace: bool = True
    extra_chars: str = ""
    check_chars: bool = True


_OK_CATEGORIES = frozenset("LMSNP")
_WS_CHARS = " \t\n\r\u00a0"


def _bad_char(s: str, allowed: str) -> str | None:
    """The first character outside categories L/M/S/N/P and ``allowed``, or ``None``."""
    if s.isascii():
        if s.isprintable():
            if " " in s and " " not in allowed:
                return " "
            return None
        for ch in s:
            if not ch.isprintable() and ch not in allowed:
                return ch
            if ch == " " and " " not in allowed:
                return ch
        return None
    for ch in s:
        if ch in allowed:
            continue
        if unicodedata.category(ch)[0] not in _OK_CATEGORIES:
            return ch
    return None


def _char_name(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}"


Check = Callable[[dict[str, Any], str, "Profile"], list[Problem]]


def _default_user_mapping() -> UserMapping:
    from scimsync._mapping import source

    return UserMapping({"userName": source("username")})


def _default_group_mapping() -> GroupMapping:
    from scimsync._mapping import source

    return GroupMapping({"displayName": source("name")})


@attrs.frozen
class Profile:
    """What a SCIM service provider accepts and how to talk to it.

    Args:
        name: the profile's name (``"aws"``), used in messages and lookups.
        page_size: list page size to ask for.
        pagination: ``"index"`` (startIndex/count) or ``"cursor"`` (RFC 9865 / AWS).
        max_members_per_patch: member values per group PATCH request.
        max_members_per_create: members sent in a group POST (``0`` = none; add by PATCH).
        group_members_readable: whether GET /Groups/{id} returns ``members``.
        member_read: ``"group_get"`` (read ``members`` from the group) or
            ``"users_by_group_filter"`` (``GET /Users?filter=groups.value eq "<gid>"``).
        member_remove: how a group PATCH removes members. ``"value"``: one
            ``{"op": "remove", "path": "members", "value": [{"value": id}, ...]}`` (AWS,
            Entra-style servers); ``"path"``: one ``{"op": "remove", "path":
            'members[value eq "id"]'}`` per member (strict RFC 7644 §3.5.2.2; on such
            servers a ``remove members`` with a value list may empty the whole group).
        keeps_deleted_members: whether the server keeps a deleted user listed in its groups
            (a dangling member the engine then removes, as scim2-server needs). ``False``
            (AWS): the membership goes with the user and removing it is a 400, so the
            engine forgets it without a request.
        consistency_retry: the :class:`ConsistencyRetry` for a 404 on a resource created
            moments ago (default: 3 retries after 0.2, 0.4 and 0.8 s, within one sync).
        user_update / group_update: ``"patch"`` or ``"put"``.
        supports_user_put / supports_group_put: whether PUT works at all (the diff falls
            back to PUT for changes PATCH cannot express, when allowed).
        filterable_user_attributes / filterable_group_attributes: attributes usable in an
            ``eq`` filter.
        supports_or_filters: whether ``or`` may be used.
        lowercase_ops: send ``"add"``/``"replace"``/``"remove"`` (else capitalised).
        requires_user_agent: the server refuses requests without a ``User-Agent``.
        supports_etag: ETags / If-Match.
        trust_service_provider_config: let :meth:`with_service_provider_config` change
            capabilities (AWS: no, its published config is stale).
        missing_names: the :class:`MissingNames` policy.
        required_user_attributes / required_group_attributes: rep paths that must be
            non-empty.
        single_valued_attributes: multi-valued attributes limited to one value.
        primary_required: multi-valued attributes whose value must be ``primary: true``.
        unsupported_user_attributes: attributes (or ``attr.sub`` paths) the server refuses.
        string_rules: :class:`StringRule` s for user attributes.
        group_string_rules: :class:`StringRule` s for group attributes.
        patchable_user_attributes / patchable_group_attributes: top-level attributes PATCH
            may touch (``None`` = any).
        unremovable_user_attributes: attributes PATCH may not ``remove``.
        user_mapping_factory / group_mapping_factory: build the default mappings.
        extra_user_checks / extra_group_checks: more ``(rep, key, profile) -> problems``.
    """

    name: str
    page_size: int = 100
    pagination: Literal["index", "cursor"] = "index"
    max_members_per_patch: int = 100
    max_members_per_create: int = 0
    group_members_readable: bool = True
    member_read: Literal["group_get", "users_by_group_filter"] = "group_get"
    member_remove: Literal["value", "path"] = "path"
    keeps_deleted_members: bool = True
    consistency_retry: ConsistencyRetry = ConsistencyRetry()
    user_update: Literal["patch", "put"] = "patch"
    group_update: Literal["patch", "put"] = "patch"
    supports_user_put: bool = True
    supports_group_put: bool = True
    filterable_user_attributes: tuple[str, ...] = ("userName", "externalId", "emails.value", "id")
    filterable_group_attributes: tuple[str, ...] = ("displayName", "externalId", "id")
    supports_or_filters: bool = True
    lowercase_ops: bool = True
    requires_user_agent: bool = False
    supports_etag: bool = False
    trust_service_provider_config: bool = True
    missing_names: MissingNames = MissingNames("fail")
    required_user_attributes: frozenset[str] = frozenset({"userName"})
    required_group_attributes: frozenset[str] = frozenset({"displayName"})
    single_valued_attributes: frozenset[str] = frozenset()
    primary_required: frozenset[str] = frozenset()
    unsupported_user_attributes: frozenset[str] = frozenset({"password"})
    string_rules: tuple[StringRule, ...] = ()
    group_string_rules: tuple[StringRule, ...] = ()
    patchable_user_attributes: frozenset[str] | None = None
    patchable_group_attributes: frozenset[str] | None = None
    unremovable_user_attributes: frozenset[str] = frozenset()
    user_mapping_factory: Callable[[], UserMapping] = _default_user_mapping
    group_mapping_factory: Callable[[], GroupMapping] = _default_group_mapping
    extra_user_checks: tuple[Check, ...] = ()
    extra_group_checks: tuple[Check, ...] = ()
    _plans: dict[int, Any] = attrs.field(init=False, factory=dict, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError("Profile.name must be a non-empty string")
        if self.pagination not in ("index", "cursor"):
            raise ConfigurationError(
                f"profile {self.name}: pagination must be 'index' or 'cursor', got {self.pagination!r}"
            )
        for attr in ("user_update", "group_update"):
            if getattr(self, attr) not in ("patch", "put"):
                raise ConfigurationError(
                    f"profile {self.name}: {attr} must be 'patch' or 'put', got {getattr(self, attr)!r}"
                )
        if self.member_read not in ("group_get", "users_by_group_filter"):
            raise ConfigurationError(
                f"profile {self.name}: member_read must be 'group_get' or "
                f"'users_by_group_filter', got {self.member_read!r}"
            )
        if self.member_remove not in ("value", "path"):
            raise ConfigurationError(
                f"profile {self.name}: member_remove must be 'value' or 'path', "
                f"got {self.member_remove!r}"
            )
        if not isinstance(self.keeps_deleted_members, bool):
            raise ConfigurationError(
                f"profile {self.name}: keeps_deleted_members must be True or False, "
                f"got {self.keeps_deleted_members!r}"
            )
        if not isinstance(self.consistency_retry, ConsistencyRetry):
            raise ConfigurationError(
                f"profile {self.name}: consistency_retry must be a ConsistencyRetry, "
                f"got {type(self.consistency_retry).__name__}"
            )
        for attr in ("page_size", "max_members_per_patch"):
            v = getattr(self, attr)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigurationError(f"profile {self.name}: {attr} must be a positive integer")

    # ----------------------------------------------------------------- mappings

    def default_user_mapping(self) -> UserMapping:
        """The user mapping this profile suggests (a Django/Flask-style user)."""
        return self.user_mapping_factory()

    def default_group_mapping(self) -> GroupMapping:
        """The group mapping this profile suggests (``displayName`` ← ``name``)."""
        return self.group_mapping_factory()

    def op(self, name: str) -> str:
        """A PATCH op name as this profile wants it written."""
        return name if self.lowercase_ops else name.capitalize()

    # ------------------------------------------------------------- validation

    def prepare_user(self, rep: dict[str, Any]) -> dict[str, Any]:
        """Apply the :attr:`missing_names` policy (returns a new dict if anything changed)."""
        return self.missing_names.apply(rep, self.required_user_attributes)

    def check_user(self, rep: dict[str, Any], key: str) -> tuple[dict[str, Any], list[Problem]]:
        """:meth:`prepare_user`, then :meth:`validate_user`: what the engine calls."""
        rep = self.prepare_user(rep)
        return rep, self.validate_user(rep, key)

    def check_group(self, rep: dict[str, Any], key: str) -> tuple[dict[str, Any], list[Problem]]:
        """Same as :meth:`check_user` for groups."""
        return rep, self.validate_group(rep, key)

    def _p(self, kind: str, key: str, attr: str, rule: str, text: str) -> Problem:
        return Problem(key, attr, rule, f"{kind} {key}: {attr} {text}")

    def validate_user(self, rep: Mapping[str, Any], key: str) -> list[Problem]:
        """Every problem with a user rep, each naming the key, the attribute and the rule.

        Example message: ``"user 42: name.familyName is required by the aws profile"``.
        """
        problems: list[Problem] = []
        self._check_required(rep, key, "user", self.required_user_attributes, problems)
        self._check_common(rep, key, "user", problems)
        for attr in _sorted(self.unsupported_user_attributes):
            path = parse_path(attr)
            if (path.urn or path.attr) not in rep:
                continue
            if path.sub is not None:
                parent = (
                    rep.get(path.attr)
                    if path.urn is None
                    else (rep.get(path.urn) or {}).get(path.attr)
                )
                items = parent if isinstance(parent, list) else [parent]
                if any(isinstance(i, Mapping) and path.sub in i for i in items):
                    problems.append(
                        self._p(
                            "user",
                            key,
                            attr,
                            "unsupported",
                            f"is not supported by the {self.name} profile",
                        )
                    )
            elif path.get(rep) is not MISSING:
                problems.append(
                    self._p(
                        "user",
                        key,
                        attr,
                        "unsupported",
                        f"is not supported by the {self.name} profile",
                    )
                )
        for attr in _sorted(self.single_valued_attributes):
            val = rep.get(attr)
            if isinstance(val, list) and len(val) > 1:
                problems.append(
                    self._p(
                        "user",
                        key,
                        attr,
                        "single_valued",
                        f"may hold only one value on the {self.name} profile (got {len(val)})",
                    )
                )
        for attr in _sorted(self.primary_required):
            val = rep.get(attr)
            if isinstance(val, list):
                for i, item in enumerate(val):
                    if isinstance(item, Mapping) and item.get("primary") is not True:
                        problems.append(
                            self._p(
                                "user",
                                key,
                                f"{attr}[{i}].primary",
                                "primary_required",
                                f"must be true for the {self.name} profile",
                            )
                        )
        self._check_strings(
            rep, key, "user", self.string_rules, self.required_user_attributes, problems
        )
        for check in self.extra_user_checks:
            problems.extend(check(dict(rep), key, self))
        return problems

    def validate_group(self, rep: Mapping[str, Any], key: str) -> list[Problem]:
        """Every problem with a group rep (same message form as :meth:`validate_user`)."""
        problems: list[Problem] = []
        self._check_required(rep, key, "group", self.required_group_attributes, problems)
        self._check_common(rep, key, "group", problems)
        members = rep.get("members")
        # (a non-list is reported by _check_common)
        limit = self.max_members_per_create
        if isinstance(members, list) and limit and len(members) > limit:
            problems.append(
                self._p(
                    "group",
                    key,
                    "members",
                    "max_members",
                    f"may hold at most {limit} members in one "
                    f"request on the {self.name} profile (got {len(members)})",
                )
            )
        self._check_strings(
            rep, key, "group", self.group_string_rules, self.required_group_attributes, problems
        )
        for check in self.extra_group_checks:
            problems.extend(check(dict(rep), key, self))
        return problems

    def _check_required(
        self,
        rep: Mapping[str, Any],
        key: str,
        kind: str,
        required: frozenset[str],
        out: list[Problem],
    ) -> None:
        for attr in _sorted(required, _required_order):
            v = parse_path(attr).get(rep)
            if _empty(v) or (isinstance(v, (list, dict)) and not v):
                out.append(
                    self._p(kind, key, attr, "required", f"is required by the {self.name} profile")
                )

    def _check_common(
        self, rep: Mapping[str, Any], key: str, kind: str, out: list[Problem]
    ) -> None:
        if "active" in rep and not isinstance(rep["active"], bool):
            out.append(
                self._p(
                    kind,
                    key,
                    "active",
                    "type",
                    f"must be a boolean (got {type(rep['active']).__name__})",
                )
            )
        for attr, val in rep.items():
            if attr in (
                "emails",
                "phoneNumbers",
                "addresses",
                "roles",
                "ims",
                "photos",
                "entitlements",
                "x509Certificates",
                "members",
            ):
                if not isinstance(val, list):
                    out.append(self._p(kind, key, attr, "type", "must be a list"))
                    continue
                if not all(isinstance(i, Mapping) for i in val):
                    out.append(self._p(kind, key, attr, "type", "must be a list of objects"))
                    continue
                if sum(1 for i in val if i.get("primary") is True) > 1:
                    out.append(
                        self._p(kind, key, attr, "primary", "may have only one primary value")
                    )

    def _string_plan(self, rules: tuple[StringRule, ...]) -> list[_StringCheck]:
        cache = self._plans
        plan = cache.get(id(rules))
        if plan is None:
            plan = []
            for rule in rules:
                allowed = (_WS_CHARS if rule.allow_whitespace else "") + rule.extra_chars
                for attr in rule.paths:
                    path = parse_path(attr)
                    top = path.urn or path.attr
                    multi = path.sub is not None and path.filter is None and path.attr in _MULTI
                    plan.append(_StringCheck(attr, top, path, multi, rule, allowed))
            cache[id(rules)] = plan
        return plan

    def _check_strings(
        self,
        rep: Mapping[str, Any],
        key: str,
        kind: str,
        rules: tuple[StringRule, ...],
        required: frozenset[str],
        out: list[Problem],
    ) -> None:
        for chk in self._string_plan(rules):
            if chk.top not in rep:
                continue
            path, rule, attr = chk.path, chk.rule, chk.attr
            if chk.multi:
                vals = path.values(rep)
            else:
                v = path.get(rep)
                vals = [] if v is MISSING or v is None else [v]
            for v in vals:
                if not isinstance(v, str):
                    out.append(
                        self._p(
                            kind, key, attr, "type", f"must be a string (got {type(v).__name__})"
                        )
                    )
                    continue
                n = len(v)
                if n < rule.min_length:
                    if n == 0 and attr in required:
                        continue  # already reported as required
                    out.append(
                        self._p(
                            kind,
                            key,
                            attr,
                            "min_length",
                            f"must not be empty on the {self.name} profile",
                        )
                    )
                    continue
                if n > rule.max_length:
                    out.append(
                        self._p(
                            kind,
                            key,
                            attr,
                            "max_length",
                            f"must be at most {rule.max_length} characters on the {self.name} profile (got {n})",
                        )
                    )
                if rule.check_chars:
                    bad = _bad_char(v, chk.allowed)
                    if bad is not None:
                        if bad.isspace() and not rule.allow_whitespace:
                            text = f"must not contain whitespace on the {self.name} profile ({_char_name(bad)})"
                            rname = "whitespace"
                        else:
                            text = f"contains a character the {self.name} profile does not allow ({_char_name(bad)})"
                            rname = "characters"
                        out.append(self._p(kind, key, attr, rname, text))

    # ------------------------------------------------------ service provider config

    def with_service_provider_config(self, spc: Mapping[str, Any]) -> Profile:
        """A copy refined from the server's ``/ServiceProviderConfig`` document.

        Reads ``patch.supported`` (False → PUT for users, and for groups), ``filter.supported``
        and ``filter.maxResults`` (caps :attr:`page_size`), ``etag.supported`` and the
        RFC 9865 ``pagination`` block (``cursor``/``index``/``maxPageSize``). Malformed parts
        are ignored. Profiles with ``trust_service_provider_config=False`` (AWS) are
        returned unchanged.
        """
        if not self.trust_service_provider_config or not isinstance(spc, Mapping):
            return self
        changes: dict[str, Any] = {}
        patch = spc.get("patch")
        if isinstance(patch, Mapping) and patch.get("supported") is False:
            changes["user_update"] = "put"
            changes["group_update"] = "put"
        flt = spc.get("filter")
        if isinstance(flt, Mapping):
            if flt.get("supported") is False:
                changes["filterable_user_attributes"] = ()
                changes["filterable_group_attributes"] = ()
            mr = flt.get("maxResults")
            if isinstance(mr, int) and not isinstance(mr, bool) and 0 < mr < self.page_size:
                changes["page_size"] = mr
        etag = spc.get("etag")
        if isinstance(etag, Mapping) and isinstance(etag.get("supported"), bool):
            changes["supports_etag"] = etag["supported"]
        pag = spc.get("pagination")
        if isinstance(pag, Mapping):
            if pag.get("cursor") is True and pag.get("index") is not True:
                changes["pagination"] = "cursor"
            elif pag.get("index") is True and pag.get("cursor") is not True:
                changes["pagination"] = "index"
            mps = pag.get("maxPageSize")
            cur = changes.get("page_size", self.page_size)
            if isinstance(mps, int) and not isinstance(mps, bool) and 0 < mps < cur:
                changes["page_size"] = mps
        return attrs.evolve(self, **changes) if changes else self


@attrs.frozen
class _StringCheck:
    attr: str
    top: str
    path: ScimPath
    multi: bool
    rule: StringRule
    allowed: str


_MULTI = frozenset({"emails", "phoneNumbers", "addresses", "roles"})
_REQ_ORDER = {"userName": 0, "name.givenName": 1, "name.familyName": 2, "displayName": 3}


def _required_order(attr: str) -> tuple[int, str]:
    return (_REQ_ORDER.get(attr, 9), attr)


_sorted_cache: dict[tuple[frozenset[str], Any], tuple[str, ...]] = {}


def _sorted(items: frozenset[str], key: Callable[[str], Any] | None = None) -> tuple[str, ...]:
    got = _sorted_cache.get((items, key))
    if got is None:
        got = _sorted_cache[(items, key)] = tuple(sorted(items, key=key))
    return got


# ----------------------------------------------------------------------- registry

_profiles: PluginRegistry[Profile] = PluginRegistry("scimsync.profiles", "profile")


def register_profile(profile: Profile, *, name: str | None = None, replace: bool = False) -> None:
    """Make ``profile`` available to :func:`get_profile` and configuration files.

    Args:
        profile: the profile.
        name: the lookup name (default ``profile.name``).
        replace: allow replacing an earlier registration (built-ins cannot be replaced).

    Packages can instead declare an entry point in the ``scimsync.profiles`` group.
    """
    if not isinstance(profile, Profile):
        raise ConfigurationError(
            f"register_profile() needs a Profile, got {type(profile).__name__}"
        )
    _profiles.register(name or profile.name, profile, replace=replace)


def get_profile(name: str) -> Profile:
    """Find a profile by name: built-ins, then registered, then entry points.

    Raises:
        ConfigurationError: unknown name (the message lists the known ones) or an entry
            point that does not load a :class:`Profile`.
    """
    prof = _profiles.get(name)
    if not isinstance(prof, Profile):
        raise ConfigurationError(
            f"profile {name!r}: entry point did not give a scimsync Profile "
            f"(got {type(prof).__name__})"
        )
    return prof
