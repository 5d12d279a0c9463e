"""The emulator's ``aws`` profile: AWS IAM Identity Center's SCIM endpoint, as documented.

Every rule below carries a marker saying how sure we are that AWS behaves that way
(the evidence is in the team's ``aws-scim.md``, cited by section):

* ``[DOC]``: stated in AWS documentation (or an AWS Knowledge Center article).
* ``[COMMUNITY]``: observed on the live endpoint by other clients (captured bodies,
  issue threads, vendors' changelogs).
* ``[CHOICE]``: AWS's behaviour is unconfirmed; this is our pick, chosen to be strict
  where a strict answer helps a client find bugs and lenient where AWS plausibly accepts.

The HTTP answer for every validation failure is the fixed AWS 400 body; the specific
reason (what CloudTrail would show as ``errorMessage``) is kept in the emulator's request
log (``RequestLogEntry.reason``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import secrets
import unicodedata
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from scimsync.testing._filtereval import FilterSyntaxError, Leaf, and_leaves
from scimsync.testing._generic import ProfileBase, cached_filter
from scimsync.testing._patch import ENTERPRISE_USER, PatchError, apply_patch
from scimsync.testing._schemas import (
    CORE_GROUP,
    CORE_USER,
    ERROR_URN,
    LIST_RESPONSE,
    aws_service_provider_config,
    resource_types,
)
from scimsync.testing._state import Directory, primary_email
from scimsync.testing._wire import Reply, Request, ScimFailure, find_key, jcopy

__all__ = [
    "DETAIL_400",
    "DETAIL_401",
    "DETAIL_409",
    "DETAIL_GROUP_404",
    "DETAIL_TENANT_404",
    "DETAIL_USER_404",
    "AwsProfile",
    "aws_id",
]

# -- wire texts ------------------------------------------------------------------------

#: [COMMUNITY, §6.2: idp-scim-sync #62, lichti/aws-iam-scim-problem] every 400's detail.
DETAIL_400 = "Request is unparsable, syntactically incorrect, or violates schema."
#: [COMMUNITY, §6.2: idp-scim-sync testdata; AWS-KC names the error] 409 detail.
DETAIL_409 = "Refused to create a new, duplicate resource."
#: [COMMUNITY, §6.2: idp-scim-sync #61] missing user.
DETAIL_USER_404 = "USER does not exist."
#: [CHOICE/INFERRED, §6.2] the group analogue of the user text.
DETAIL_GROUP_404 = "GROUP does not exist."
#: [COMMUNITY, §6.2: idp-scim-sync #42] wrong tenant id (the docs say 401; 404 is observed).
DETAIL_TENANT_404 = "TENANT does not exist."
#: [CHOICE] status 401 is confirmed, the body is not (§6.2); detail is the doc's condition text.
DETAIL_401 = "Authorization header is invalid or missing."
#: [CHOICE] 429 status confirmed (§6.2), body unconfirmed; detail from the doc's table.
DETAIL_429 = "Too many requests exceeded the limits."
#: [CHOICE] 500 body unconfirmed; detail from the doc's table (§6.1).
DETAIL_500 = "Service failed to process the request."
#: [CHOICE] no captured body for unknown endpoints.
DETAIL_ENDPOINT_404 = "Specified endpoint does not exist."

_GENERIC_DETAILS = {
    401: DETAIL_401,
    429: DETAIL_429,
    500: DETAIL_500,
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# -- limits and attribute lists --------------------------------------------------------

#: [DOC, §4.3] page size: "Valid Range: Minimum value of 1. Maximum value of 100. Default: 100".
PAGE_MAX = 100
#: [DOC, §3 creategroup/patchgroup] members per CreateGroup / PatchGroup request.
MEMBERS_PER_REQUEST = 100
#: [DOC-model, §2.3] Identity Store lengths.
USERNAME_MAX = 128
STRING_MAX = 1024
EXTERNAL_ID_MAX = 256

#: [DOC, §5.1 patchuser.html] attributes a PatchUser may touch (lowercased).
PATCH_USER_ATTRIBUTES = frozenset(
    a.lower()
    for a in (
        "userName",
        "active",
        "externalId",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "name",
        "emails",
        "addresses",
        "phoneNumbers",
        ENTERPRISE_USER,
    )
)
#: [DOC, §3 patchgroup.html] "Only displayName, members, and externalId attributes are allowed".
PATCH_GROUP_ATTRIBUTES = frozenset({"displayname", "members", "externalid"})
#: [DOC, §2.2] not supported on users. [CHOICE] rejected with 400 (ignore-vs-reject is unconfirmed, §2.4).
UNSUPPORTED_USER_ATTRIBUTES = frozenset(
    {"password", "ims", "photos", "x509certificates", "entitlements"}
)
_USER_STRINGS = (
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
)
_NAME_PARTS = (
    "formatted",
    "familyName",
    "givenName",
    "middleName",
    "honorificPrefix",
    "honorificSuffix",
)
_ADDRESS_PARTS = (
    "formatted",
    "streetAddress",
    "locality",
    "region",
    "postalCode",
    "country",
    "type",
)
_ENTERPRISE_STRINGS = ("employeeNumber", "costCenter", "organization", "division", "department")

#: [DOC, §4.2] the filter shapes ListUsers / ListGroups accept (attribute sets, any order).
#: ``id`` alone on /Users: "though valid, should be avoided" [DOC, §4.2]; on /Groups only
#: ``id`` + ``members`` is documented, so ``id`` alone is refused there [CHOICE].
USER_FILTERS = (
    frozenset({"username"}),
    frozenset({"externalid"}),
    frozenset({"groups.value"}),
    frozenset({"id", "manager"}),
    frozenset({"id"}),
)
GROUP_FILTERS = (
    frozenset({"displayname"}),
    frozenset({"externalid"}),
    frozenset({"members.value"}),
    frozenset({"id", "members"}),
)

_CANONICAL_USER_ATTRS = {
    a.lower(): a
    for a in (
        "userName",
        "name",
        "active",
        "externalId",
        "emails",
        "phoneNumbers",
        "addresses",
        "roles",
        *_USER_STRINGS,
    )
}
_STRICT_CATEGORIES = ("L", "M", "S", "N", "P")
_SENSITIVE_EXTRA = frozenset("\t\n\r \u00a0\u3000")
_GROUP_NAME_EXTRA = frozenset("\t\n\r \u00a0")


def aws_id(prefix: str) -> str:
    """``<10 hex>-<uuid>`` [DOC-model, §7 ResourceId]."""
    h = secrets.token_hex(16)
    return f"{prefix}-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Invalid(Exception):
    """A 400 with a specific reason (logged; the wire detail is always DETAIL_400)."""


def _check_chars(text: str, extra: frozenset[str]) -> bool:
    if text.isascii() and text.isprintable():
        # Printable ASCII is letters, digits, punctuation and symbols, plus the space.
        return " " not in text or " " in extra
    return all(ch in extra or unicodedata.category(ch)[0] in _STRICT_CATEGORIES for ch in text)


def check_string(
    value: Any, what: str, *, max_len: int = STRING_MAX, extra: frozenset[str] = _SENSITIVE_EXTRA
) -> str:
    """[DOC-model, §2.3] 1..max_len characters from the Identity Store pattern.

    The pattern admits letters, marks, symbols, numbers, punctuation (and, for most
    attributes, tab/newline/space/no-break space/ideographic space): a single ASCII
    space is accepted, a zero-width space (category Cf) is not [COMMUNITY, ssosync PR #204].
    """
    if not isinstance(value, str):
        raise _Invalid(f"{what} must be a string")
    if not 1 <= len(value) <= max_len:
        raise _Invalid(f"{what} must have 1..{max_len} characters, has {len(value)}")
    if not _check_chars(value, extra):
        raise _Invalid(f"{what} contains a character outside the allowed pattern")
    return value


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    # [DOC, §5.1] AWS's own example sends "false"; [CHOICE] any case accepted.
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _Invalid(f"{what} must be a boolean")


def _single_list(rep: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = rep.get(key)
    if value is None:
        rep.pop(key, None)
        return None
    if not isinstance(value, list):
        raise _Invalid(f"{key} must be a list")
    if not value:
        # [CHOICE] an empty list is taken as "no value" (the Identity Store model says
        # min 1 item, but a response with "emails": [] was captured, §2.2).
        rep.pop(key)
        return None
    if len(value) > 1:
        # [DOC, §2.2] "Currently list attributes only allow single item".
        raise _Invalid(f"Currently list attributes only allow single item ({key})")
    item = value[0]
    if not isinstance(item, dict):
        raise _Invalid(f"{key}[0] must be an object")
    return item


def validate_user(body: Any) -> dict[str, Any]:
    """Validate a CreateUser/PutUser body (or a patched user) and return what is stored."""
    if not isinstance(body, dict):
        raise _Invalid("the body must be a JSON object")
    rep: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str):
            continue
        low = key.lower()
        if low in ("id", "meta", "schemas"):
            continue
        if low == "groups":
            # [DOC, §2.2] "The groups field cannot be specified with the createUser request."
            raise _Invalid("groups cannot be specified")
        if low in UNSUPPORTED_USER_ATTRIBUTES:
            raise _Invalid(f"attribute {key} is not supported")
        if low == ENTERPRISE_USER.lower():
            rep[ENTERPRISE_USER] = jcopy(value)
            continue
        canonical = _CANONICAL_USER_ATTRS.get(low)
        if canonical is None:
            continue  # [CHOICE] unknown attributes are dropped silently (§2.4 unconfirmed)
        rep[canonical] = jcopy(value)

    # [DOC, §2.2] userName, givenName, familyName, displayName are required.
    if rep.get("userName") in (None, ""):
        raise _Invalid("userName is required")
    # [DOC-model, §2.3] userName: 1..128, no whitespace. [CHOICE] PutUser's doc allows
    # spaces, CreateUser's and the Identity Store pattern do not; we follow the pattern.
    check_string(rep["userName"], "userName", max_len=USERNAME_MAX, extra=frozenset())
    name = rep.get("name")
    if not isinstance(name, dict):
        raise _Invalid("name.givenName and name.familyName are required")
    for part in ("givenName", "familyName"):
        if name.get(part) in (None, ""):
            raise _Invalid(f"name.{part} is required")
    for part, value in list(name.items()):
        if part not in _NAME_PARTS:
            del name[part]  # [CHOICE] unknown sub-attributes dropped
        elif value is None:
            del name[part]
        else:
            check_string(value, f"name.{part}")
    if rep.get("displayName") in (None, ""):
        raise _Invalid("displayName is required")
    for attr in _USER_STRINGS:
        if attr in rep:
            if rep[attr] is None:
                del rep[attr]
            else:
                check_string(rep[attr], attr)
    if rep.get("externalId") is not None:
        check_string(rep["externalId"], "externalId", max_len=EXTERNAL_ID_MAX, extra=frozenset())
    else:
        rep.pop("externalId", None)
    # [CHOICE] active defaults to true when omitted (AWS's default is unconfirmed, §2.2).
    rep["active"] = _bool(rep["active"], "active") if rep.get("active") is not None else True

    email = _single_list(rep, "emails")
    if email is not None:
        if "display" in email:
            raise _Invalid("emails.display is not supported")  # [DOC, §2.2]
        check_string(email.get("value"), "emails.value")
        if email.get("type") is not None:
            check_string(email["type"], "emails.type")
        # [DOC, §2.2] "The emails attribute value must be marked as primary."
        if email.get("primary") is None or not _bool(email["primary"], "emails.primary"):
            raise _Invalid("the email must be marked primary")
        email["primary"] = True
    phone = _single_list(rep, "phoneNumbers")
    if phone is not None:
        if "display" in phone:
            raise _Invalid("phoneNumbers.display is not supported")  # [DOC, §2.2]
        check_string(phone.get("value"), "phoneNumbers.value")
        if phone.get("type") is not None:
            check_string(phone["type"], "phoneNumbers.type")
        if "primary" in phone:
            phone["primary"] = _bool(phone["primary"], "phoneNumbers.primary")
    address = _single_list(rep, "addresses")
    if address is not None:
        if "display" in address:
            raise _Invalid("addresses.display is not supported")  # [DOC, §2.2]
        for part in _ADDRESS_PARTS:
            if address.get(part) is not None:
                check_string(address[part], f"addresses.{part}")
        if "primary" in address:
            address["primary"] = _bool(address["primary"], "addresses.primary")
    role = _single_list(rep, "roles")
    if role is not None:
        # [DOC, §2.1] "only value, type, and primary are supported".
        extra = set(role) - {"value", "type", "primary"}
        if extra:
            raise _Invalid(f"roles supports only value, type and primary, got {sorted(extra)}")
        check_string(role.get("value"), "roles.value")
        if "primary" in role:
            role["primary"] = _bool(role["primary"], "roles.primary")

    ext = rep.get(ENTERPRISE_USER)
    if ext is not None:
        if not isinstance(ext, dict):
            raise _Invalid("the enterprise extension must be an object")
        for key in list(ext):
            if key in _ENTERPRISE_STRINGS:
                if ext[key] is None:
                    del ext[key]
                else:
                    # [CHOICE] the §2.3 string rule applied to the enterprise attributes too.
                    check_string(ext[key], f"enterprise.{key}")
            elif key == "manager":
                manager = ext[key]
                if manager is None:
                    del ext[key]
                    continue
                if not isinstance(manager, dict):
                    raise _Invalid("manager must be an object")
                if "displayName" in manager:
                    raise _Invalid("manager.displayName is not supported")  # [DOC, §2.2]
                if not isinstance(manager.get("value"), str) or not manager["value"]:
                    raise _Invalid("manager.value must be a string")
                # [DOC, §2.5] the response returns only manager.value.
                ext[key] = {"value": manager["value"]}
            else:
                del ext[key]
        if not ext:
            del rep[ENTERPRISE_USER]
    return rep


def validate_group_name(value: Any) -> str:
    """[DOC-model, §2.3] Group DisplayName: 1..1024, pattern without U+3000."""
    return check_string(value, "displayName", extra=_GROUP_NAME_EXTRA)


class _Cursor:
    __slots__ = ("filter", "kind", "last_seq")

    def __init__(self, kind: str, filter_text: str | None, last_seq: int) -> None:
        self.kind = kind
        self.filter = filter_text
        self.last_seq = last_seq


class AwsProfile(ProfileBase):
    """AWS IAM Identity Center behaviour (see the module docstring and docs/testing.md)."""

    name = "aws"
    content_type = "application/json"  # [DOC, §0] every example response
    max_page = PAGE_MAX
    default_page = PAGE_MAX

    def __init__(self, directory: Directory, *, base_url: Callable[[], str], tenant: str) -> None:
        super().__init__(directory, base_url=base_url)
        self.tenant = tenant
        self.cursors: dict[str, _Cursor] = {}
        # (kind, filter text) -> its leaves, for filters already accepted (never mutated).
        self._accepted_filters: dict[tuple[str, str], list[Leaf]] = {}

    # -- plumbing ----------------------------------------------------------------------

    def base_path(self) -> str:
        return f"/{self.tenant}/scim/v2"

    def relative_path(self, path: str) -> str:
        base = self.base_path()
        if path == base or path.startswith(base + "/"):
            return path[len(base) :] or "/"
        # [COMMUNITY, §6.2/§8.15] a wrong tenant id answers 404 "TENANT does not exist."
        raise ScimFailure(404, DETAIL_TENANT_404)

    def error_body(self, failure: ScimFailure, request_id: str) -> dict[str, Any]:
        # [COMMUNITY, §6.2] the AWS wire shape: "schema" *and* "schemas", status as a
        # string, exceptionRequestId, timeStamp "YYYY-MM-DD HH:MM:SS.mmm", no scimType.
        status = failure.status
        if status == 400:
            detail = DETAIL_400  # [COMMUNITY, §6.2] the same text for every 400
        elif status in (401, 429, 500):
            detail = _GENERIC_DETAILS[status]
        else:
            detail = failure.detail or _GENERIC_DETAILS.get(status, "")
        now = _dt.datetime.now(_dt.timezone.utc)
        return {
            "schema": [ERROR_URN],
            "schemas": [ERROR_URN],
            "detail": detail,
            "status": str(status),
            "exceptionRequestId": request_id,
            "timeStamp": now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 1000:03d}",
        }

    def common_headers(self, request_id: str) -> dict[str, str]:
        return {"x-amzn-RequestId": request_id}  # [DOC, §0]

    def unauthorized(self, why: str) -> ScimFailure:
        return ScimFailure(401, why)

    def fault_failure(self, status: int, path: str) -> ScimFailure:
        # Injected faults speak AWS: the texts AWS uses for that status where known.
        if status == 404:
            if path.startswith("/Groups"):
                return ScimFailure(404, DETAIL_GROUP_404)
            return ScimFailure(404, DETAIL_USER_404)
        if status == 409:
            return ScimFailure(409, DETAIL_409)
        if status == 403:
            # [CHOICE] no captured 403 body; the doc's condition text (§6.1).
            return ScimFailure(
                403, "Operation is not permitted based on the supplied authorization."
            )
        return ScimFailure(status, "")

    @staticmethod
    def invalid(reason: str) -> ScimFailure:
        return ScimFailure(400, reason)

    def method_not_allowed(self, method: str) -> ScimFailure:
        # [CHOICE] unsupported operations are 400 ValidationException ("This error also
        # occurs if the operation is unsupported", §6.1); the exact code is unconfirmed.
        return self.invalid(f"{method} is not supported on this endpoint")

    def not_found_endpoint(self, path: str) -> ScimFailure:
        return ScimFailure(404, DETAIL_ENDPOINT_404)

    def other_route(self, req: Request, segs: list[str]) -> Reply:
        # [DOC, §1] "/Me, /Bulk, and /Search" are not supported. [CHOICE] 400, like
        # every other unsupported operation (the exact code is unconfirmed).
        if segs[0].lower() in ("me", "bulk", "search", ".search"):
            raise self.invalid(f"/{segs[0]} is not supported")
        raise self.not_found_endpoint(req.path)

    def service_provider_config(self) -> dict[str, Any]:
        return aws_service_provider_config()  # [DOC, §1] verbatim

    def resource_types(self) -> list[dict[str, Any]]:
        return resource_types(self.base_url, enterprise_required=True)  # [DOC, §1] required: true

    def search(self, req: Request, kind: str | None) -> Reply:
        raise self.invalid("/.search is not supported")  # [DOC, §1] no /Search

    # -- rendering ---------------------------------------------------------------------

    @staticmethod
    def _head(stored: dict[str, Any], schemas: list[str]) -> dict[str, Any]:
        # [DOC, §2.5] documented key order: id, externalId, meta, schemas, attributes.
        out: dict[str, Any] = {"id": stored["id"]}
        if "externalId" in stored:
            out["externalId"] = stored["externalId"]
        out["meta"] = dict(stored.get("meta", {}))
        out["schemas"] = schemas
        return out

    def render_user(self, stored: dict[str, Any]) -> dict[str, Any]:
        schemas = [CORE_USER]
        if stored.get(ENTERPRISE_USER):
            schemas.append(ENTERPRISE_USER)  # [DOC, §2.1] enterprise URN when data exists
        out = self._head(stored, schemas)
        for key, value in stored.items():
            if key not in out:
                out[key] = value  # shared with the store; serialised under the lock
        return out

    def render_group(self, stored: dict[str, Any], *, in_list: bool) -> dict[str, Any]:
        out = self._head(stored, [CORE_GROUP])
        for key, value in stored.items():
            if key not in out and key != "members":
                out[key] = value
        if in_list:
            out["members"] = []  # [DOC, §3] ListGroups examples show "members": []
        return out  # [DOC, §3] GetGroup and CreateGroup omit members

    def lookup(self, kind: str, rid: str) -> dict[str, Any]:
        table = self.dir.users if kind == "user" else self.dir.groups
        stored = table.get(rid)
        if stored is None:
            raise ScimFailure(404, DETAIL_USER_404 if kind == "user" else DETAIL_GROUP_404)
        return stored

    @staticmethod
    def body(req: Request) -> Any:
        try:
            return req.json()
        except ScimFailure as exc:
            raise AwsProfile.invalid(exc.detail) from None

    def require_user_agent(self, req: Request) -> None:
        # [COMMUNITY, prior-art: PingFederate AWS provisioner changelog, Nov 2025] PATCH
        # requests without a User-Agent header are blocked "by default".
        if not req.user_agent:
            raise self.invalid("PATCH requests need a User-Agent header")

    # -- uniqueness --------------------------------------------------------------------

    def check_user_unique(self, rep: dict[str, Any], rid: str | None) -> None:
        """[AWS-KC, §2.2] userName, primary email and externalId are unique → 409.

        [CHOICE/INFERRED] userName compares case-insensitively (``caseExact: false``);
        so does the email; externalId compares exactly.
        """
        d = self.dir
        owners = [d.user_by_name.get(rep["userName"].lower())]
        if rep.get("externalId") is not None:
            owners.append(d.user_by_external.get(rep["externalId"]))
        email = primary_email(rep)
        if email is not None:
            owners.append(d.user_by_email.get(email))
        if any(owner is not None and owner != rid for owner in owners):
            raise ScimFailure(409, DETAIL_409)

    def check_group_unique(self, rep: dict[str, Any], rid: str | None) -> None:
        """[AWS-KC, §3] displayName and externalId are unique for groups → 409.

        [CHOICE] displayName compares case-insensitively, externalId exactly.
        """
        owners = [self.dir.group_by_name.get(rep["displayName"].lower())]
        if rep.get("externalId") is not None:
            owners.append(self.dir.group_by_external.get(rep["externalId"]))
        if any(owner is not None and owner != rid for owner in owners):
            raise ScimFailure(409, DETAIL_409)

    # -- members -----------------------------------------------------------------------

    def member_values(self, value: Any, what: str) -> list[str]:
        if not isinstance(value, list) or not value:
            raise self.invalid(f"{what} needs a non-empty list of members")
        out = []
        for m in value:
            if not isinstance(m, dict) or not isinstance(m.get("value"), str) or not m["value"]:
                raise self.invalid(f"{what}: each member needs a string 'value'")
            if m.get("type") not in (None, "User"):
                # [DOC, §3] nested groups are not supported.
                raise self.invalid(f"{what}: only users can be members")
            uid = m["value"]
            if uid in self.dir.groups:
                raise self.invalid(f"{what}: groups cannot be members (no nested groups)")
            if uid not in self.dir.users:
                # [CHOICE] a member id that is no user of this directory is a 400.
                raise self.invalid(f"{what}: member {uid} is not a user of this directory")
            out.append(uid)
        return out

    # -- users -------------------------------------------------------------------------

    def create(self, req: Request, kind: str) -> Reply:
        body = self.body(req)
        if kind == "user":
            try:
                rep = validate_user(body)
            except _Invalid as exc:
                raise self.invalid(str(exc)) from None
            self.check_user_unique(rep, None)
            stored = self.dir.insert_user(rep, self.dir.new_id(), copy=False)
            return Reply(201, self.render_user(stored))  # [DOC, §1] 201 + full user
        if not isinstance(body, dict):
            raise self.invalid("the body must be a JSON object")
        rep = self.group_rep(body)
        members = body.get(find_key(body, "members") or "members")
        uids: list[str] = []
        if members is not None and members != []:
            uids = self.member_values(members, "members")
            if len(uids) > MEMBERS_PER_REQUEST:
                # [DOC, §3] "A maximum of 100 members can be added in a single request."
                raise self.invalid(
                    f"{len(uids)} members in one request (max {MEMBERS_PER_REQUEST})"
                )
        self.check_group_unique(rep, None)
        rep["members"] = [{"value": u, "type": "User"} for u in uids]
        stored = self.dir.insert_group(rep, self.dir.new_id(), copy=False)
        return Reply(201, self.render_group(stored, in_list=False))  # [DOC, §3] no members

    def group_rep(self, body: dict[str, Any]) -> dict[str, Any]:
        rep: dict[str, Any] = {}
        name = body.get(find_key(body, "displayName") or "displayName")
        if name in (None, ""):
            raise self.invalid("displayName is required")  # [DOC, §3]
        try:
            rep["displayName"] = validate_group_name(name)
            ext_id = body.get(find_key(body, "externalId") or "externalId")
            if ext_id is not None:
                rep["externalId"] = check_string(
                    ext_id, "externalId", max_len=EXTERNAL_ID_MAX, extra=frozenset()
                )
        except _Invalid as exc:
            raise self.invalid(str(exc)) from None
        return rep

    def get(self, req: Request, kind: str, rid: str) -> Reply:
        stored = self.lookup(kind, rid)
        if kind == "user":
            return Reply(200, self.render_user(stored))
        return Reply(200, self.render_group(stored, in_list=False))

    def put(self, req: Request, kind: str, rid: str) -> Reply:
        if kind == "group":
            # [CHOICE, §1] PUT /Groups is undocumented (teleport: "AWS only supports patch
            # operations on groups"); 400 like other unsupported operations.
            raise self.invalid("PUT is not supported on groups")
        self.lookup(kind, rid)
        body = self.body(req)
        try:
            rep = validate_user(body)
        except _Invalid as exc:
            raise self.invalid(str(exc)) from None
        self.check_user_unique(rep, rid)
        stored = self.dir.replace_user(rid, rep, copy=False)
        return Reply(200, self.render_user(stored))  # [CHOICE/COMMUNITY, §1] 200 + user

    def delete(self, req: Request, kind: str, rid: str) -> Reply:
        self.lookup(kind, rid)
        if kind == "user":
            self.dir.delete_user(rid)
        else:
            self.dir.delete_group(rid)
        return Reply(204)  # [DOC, §1]

    # -- PATCH -------------------------------------------------------------------------

    def operations(self, req: Request) -> list[dict[str, Any]]:
        body = self.body(req)
        if not isinstance(body, dict):
            raise self.invalid("the body must be a JSON object")
        # [COMMUNITY/AWS sample, §0] a body without "schemas" is accepted.
        ops = body.get(find_key(body, "Operations") or "Operations")
        if not isinstance(ops, list) or not ops:
            raise self.invalid("Operations must be a non-empty list")
        out = []
        for op in ops:
            if not isinstance(op, dict):
                raise self.invalid("each operation must be an object")
            name = op.get(find_key(op, "op") or "op")
            # [DOC, §5.1] "The operation must be specified"; [INFERRED] case-insensitive.
            if not isinstance(name, str) or name.lower() not in ("add", "replace", "remove"):
                raise self.invalid(f"unsupported op {name!r}")
            clean: dict[str, Any] = {"op": name.lower()}
            path_key = find_key(op, "path")
            if path_key is not None and op[path_key] is not None:
                if not isinstance(op[path_key], str):
                    raise self.invalid("path must be a string")
                clean["path"] = op[path_key]
            value_key = find_key(op, "value")
            if value_key is not None:
                clean["value"] = op[value_key]
            if "path" not in clean:
                self.check_pathless(clean)
            elif clean["op"] in ("add", "replace") and "value" not in clean:
                raise self.invalid("A value is required for add and replace")  # [DOC, §5.1]
            out.append(clean)
        return out

    def check_pathless(self, op: dict[str, Any]) -> None:
        # [COMMUNITY, §5.1 authentik #12321] "Current PATCH support allows omitting "path"
        # attribute only for Add and Replace operations modifying a single attribute."
        # [INFERRED] "id" in the value object does not count ([DOC] PatchGroup example).
        if op["op"] == "remove":
            raise self.invalid("The path is required for a remove operation")  # [DOC, §5.1]
        value = op.get("value")
        if not isinstance(value, dict):
            raise self.invalid("a path-less operation needs an object value")
        keys = [k for k in value if isinstance(k, str) and k.lower() != "id"]
        if len(keys) != 1:
            raise self.invalid(
                'Current PATCH support allows omitting "path" attribute only for Add and '
                "Replace operations modifying a single attribute."
            )
        op["path"] = keys[0]
        op["value"] = value[keys[0]]

    def patch(self, req: Request, kind: str, rid: str) -> Reply:
        stored = self.lookup(kind, rid)
        self.require_user_agent(req)
        ops = self.operations(req)
        if kind == "user":
            return self.patch_user(rid, stored, ops)
        return self.patch_group(rid, stored, ops)

    @staticmethod
    def top_attribute(path: str) -> tuple[str, str | None]:
        """(lowercased top attribute, value-filter text or None) of a PATCH path."""
        low = path.lower()
        ent = ENTERPRISE_USER.lower()
        if low == ent or low.startswith(ent + ":"):
            return ent, None
        core = CORE_USER.lower() + ":"
        if low.startswith(core):
            path = path[len(core) :]
        bracket = path.find("[")
        head = path if bracket < 0 else path[:bracket]
        filter_text = None
        if bracket >= 0:
            end = path.rfind("]")
            filter_text = path[bracket + 1 : end] if end > bracket else ""
        return head.split(".", 1)[0].lower(), filter_text

    def patch_user(self, rid: str, stored: dict[str, Any], ops: list[dict[str, Any]]) -> Reply:
        touched: dict[str, int] = {}
        for op in ops:
            attr, filter_text = self.top_attribute(op["path"])
            if attr not in PATCH_USER_ATTRIBUTES:
                # [DOC, §5.1] "Modification is only allowed for the userName, active, ..."
                raise self.invalid(f"attribute {attr} cannot be modified")
            if op["op"] == "remove" and attr in ("username", "active"):
                # [DOC, §5.1] "The remove patch operation is not supported for userName or active"
                raise self.invalid(f"remove is not supported for {attr}")
            if filter_text is not None:
                # [DOC, §5.1] "Only the eq operator is supported in filters."
                try:
                    leaves = and_leaves(cached_filter(filter_text))
                except FilterSyntaxError:
                    leaves = None
                if leaves is None or any(leaf.op != "eq" for leaf in leaves):
                    raise self.invalid(f"unsupported value filter [{filter_text}]")
            touched[attr] = touched.get(attr, 0) + 1
        for attr in ("username", "active"):
            if touched.get(attr, 0) > 1:
                # [DOC, §5.1] "Multiple PATCH operations on userName or active" unsupported.
                raise self.invalid(f"more than one operation on {attr}")
        current = {k: v for k, v in stored.items() if k not in ("id", "meta", "schemas")}
        try:
            patched = apply_patch(current, ops)
        except PatchError as exc:
            raise self.invalid(str(exc)) from None
        try:
            rep = validate_user(patched)
        except _Invalid as exc:
            raise self.invalid(str(exc)) from None
        self.check_user_unique(rep, rid)
        new = self.dir.replace_user(rid, rep, copy=False)
        return Reply(200, self.render_user(new))  # [DOC, §5.1] 200 + full user

    def patch_group(self, rid: str, stored: dict[str, Any], ops: list[dict[str, Any]]) -> Reply:
        changes = 0
        members = [m["value"] for m in stored.get("members", [])]
        rep = {k: v for k, v in stored.items() if k in ("displayName", "externalId")}
        for op in ops:
            path = op["path"]
            attr = path.lower()
            if attr not in PATCH_GROUP_ATTRIBUTES:
                # [DOC, §3] only displayName, members, externalId. [CHOICE] this also
                # refuses members[value eq "..."] paths (unconfirmed for AWS, §5.2).
                raise self.invalid(f"path {path!r} is not allowed on groups")
            if attr == "members":
                if op["op"] == "replace":
                    # [DOC, §5.2] replacing memberships is a ValidationException.
                    raise self.invalid("replace is not supported on members")
                if op["op"] == "remove" and (op.get("value") in (None, [])):
                    # [DOC, §5.2] "remove all" is a ValidationException.
                    raise self.invalid("remove of all members is not supported")
                uids = self.member_values(op.get("value"), f"{op['op']} members")
                changes += len(uids)
                if op["op"] == "add":
                    members.extend(u for u in uids if u not in members)
                else:
                    # [COMMUNITY, §5.2] remove + value list removes the listed members.
                    drop = set(uids)
                    members = [m for m in members if m not in drop]
                continue
            key = "displayName" if attr == "displayname" else "externalId"
            if op["op"] == "remove":
                if key == "displayName":
                    raise self.invalid("displayName is required")
                rep.pop(key, None)
                continue
            try:
                if key == "displayName":
                    rep[key] = validate_group_name(op.get("value"))
                else:
                    rep[key] = check_string(
                        op.get("value"), key, max_len=EXTERNAL_ID_MAX, extra=frozenset()
                    )
            except _Invalid as exc:
                raise self.invalid(str(exc)) from None
        if changes > MEMBERS_PER_REQUEST:
            # [DOC, §3] "A maximum of 100 membership changes are allowed in a single request."
            raise self.invalid(f"{changes} membership changes (max {MEMBERS_PER_REQUEST})")
        self.check_group_unique(rep, rid)
        rep["members"] = [{"value": u, "type": "User"} for u in members]
        self.dir.replace_group(rid, rep, copy=False)
        return Reply(204)  # [DOC, §3] PatchGroup answers 204

    # -- listing -----------------------------------------------------------------------

    def parse_list_filter(self, kind: str, text: str | None) -> list[Leaf] | None:
        if text is None:
            return None
        known = self._accepted_filters.get((kind, text))
        if known is not None:
            return known
        leaves = self._check_list_filter(kind, text)
        if len(self._accepted_filters) >= 4096:
            self._accepted_filters.clear()
        self._accepted_filters[(kind, text)] = leaves
        return leaves

    def _check_list_filter(self, kind: str, text: str) -> list[Leaf]:
        try:
            leaves = and_leaves(cached_filter(text))
        except FilterSyntaxError as exc:
            raise self.invalid(str(exc)) from None
        # [DOC, §4.1] "Only eq with and is supported."
        if leaves is None or any(leaf.op != "eq" for leaf in leaves):
            raise self.invalid(f"unsupported filter {text!r}")
        if any(leaf.uri is not None for leaf in leaves):
            raise self.invalid(f"unsupported filter {text!r}")
        # [CHOICE] attribute names match case-insensitively (unconfirmed, §4.2).
        names = frozenset(leaf.attr.lower() for leaf in leaves)
        allowed = USER_FILTERS if kind == "user" else GROUP_FILTERS
        if len(names) != len(leaves) or names not in allowed:
            # [DOC, §4.2] only the documented attribute combinations.
            raise self.invalid(f"unsupported filter {text!r}")
        return leaves

    def filtered(
        self, kind: str, leaves: list[Leaf] | None, last_seq: int = 0
    ) -> Iterator[dict[str, Any]]:
        """The matching resources created after ``last_seq``, in directory order.

        Lazy and index-driven: no filter is evaluated against the whole directory and
        nothing is sorted but the few candidates an index names, so a page costs about
        its own size whatever the directory's (see ``Directory.scanned``).
        """
        d = self.dir
        if kind == "user":
            pool = d.users
            if leaves is None:
                return d.created_after("user", last_seq)
            by = {leaf.attr.lower(): str(leaf.value) for leaf in leaves}
            if "username" in by:
                # [CHOICE] userName matches case-insensitively (unconfirmed, §4.2).
                uid = d.user_by_name.get(by["username"].lower())
                return iter(d.in_order_after("user", [uid] if uid else [], last_seq))
            if "externalid" in by:
                uid = d.user_by_external.get(by["externalid"])
                return iter(d.in_order_after("user", [uid] if uid else [], last_seq))
            if "groups.value" in by:
                # [DOC, §3 listusers] users of a group. [CHOICE] unknown group → 0 results.
                return d.group_users_after(by["groups.value"], last_seq)
            user = pool.get(by["id"])
            if user is None:
                return iter(())
            if "manager" in by:
                manager = (user.get(ENTERPRISE_USER) or {}).get("manager") or {}
                if manager.get("value") != by["manager"]:
                    return iter(())
            return iter(d.in_order_after("user", [by["id"]], last_seq))
        groups = d.groups
        if leaves is None:
            return d.created_after("group", last_seq)
        by = {leaf.attr.lower(): str(leaf.value) for leaf in leaves}
        if "displayname" in by:
            # [CHOICE] displayName matches case-insensitively.
            gid = d.group_by_name.get(by["displayname"].lower())
            return iter(d.in_order_after("group", [gid] if gid else [], last_seq))
        if "externalid" in by:
            gid = d.group_by_external.get(by["externalid"])
            return iter(d.in_order_after("group", [gid] if gid else [], last_seq))
        member = by.get("members.value", by.get("members"))
        if member is not None and member not in d.users:
            # [DOC, §4.2] ListGroups: 404 "When filter querying with a nonexisting member".
            # [CHOICE] detail text.
            raise ScimFailure(404, DETAIL_USER_404)
        if "members.value" in by:
            return iter(d.in_order_after("group", d.member_of.get(str(member), ()), last_seq))
        group = groups.get(by["id"])
        if group is None or not any(m["value"] == member for m in group.get("members", [])):
            return iter(())
        return iter(d.in_order_after("group", [by["id"]], last_seq))

    def list_resources(self, req: Request, kind: str) -> Reply:
        # [DOC, §4.1] startIndex, attributes, excludedAttributes, sortBy are unsupported.
        # [CHOICE] they are ignored (reject-vs-ignore is unconfirmed).
        raw_count = req.param("count")
        count = PAGE_MAX
        if raw_count not in (None, ""):
            try:
                count = int(str(raw_count))
            except ValueError:
                raise self.invalid("count must be an integer") from None
            if not 1 <= count <= PAGE_MAX:
                # [DOC, §4.3] "Valid Range: Minimum value of 1. Maximum value of 100."
                raise self.invalid(f"count must be 1..{PAGE_MAX}")
        filter_text = req.param("filter")
        leaves = self.parse_list_filter(kind, filter_text)
        if req.has_param("cursor"):
            return self.cursor_page(req, kind, filter_text, leaves, count)
        found = list(islice(self.filtered(kind, leaves), count))
        # [DOC, §4.3] non-cursor mode: the first page only, startIndex 1,
        # totalResults == len(Resources) (not a grand total; §8.16).
        return Reply(200, self.list_body(self.render_many(kind, found)))

    def render_many(self, kind: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if kind == "user":
            return [self.render_user(u) for u in found]
        return [self.render_group(g, in_list=True) for g in found]

    def cursor_page(
        self,
        req: Request,
        kind: str,
        filter_text: str | None,
        leaves: list[Leaf] | None,
        count: int,
    ) -> Reply:
        token = req.param("cursor") or ""
        last_seq = 0
        if token:
            state = self.cursors.get(token)
            if state is None:
                raise self.invalid("unknown cursor")
            if state.kind != kind or state.filter != filter_text:
                # [DOC, §4.3] "if filter parameters are changed between pagination requests"
                raise self.invalid("the filter changed between pagination requests")
            last_seq = state.last_seq
        seq = self.dir.seq
        # One more than the page: whether it exists decides nextCursor.
        found = list(islice(self.filtered(kind, leaves, last_seq), count + 1))
        chunk = found[:count]
        body: dict[str, Any] = {"itemsPerPage": len(chunk), "schemas": [LIST_RESPONSE]}
        if len(found) > count:
            # [DOC, §4.3] nextCursor while more pages exist; its alphabet includes + / =.
            nxt = base64.b64encode(secrets.token_bytes(18)).decode("ascii")
            self.cursors[nxt] = _Cursor(kind, filter_text, seq.get(chunk[-1]["id"], 0))
            if len(self.cursors) > 10_000:
                for old in list(self.cursors)[:5_000]:
                    del self.cursors[old]
            body["nextCursor"] = nxt
        # [DOC, §4.3] cursor mode has no totalResults/startIndex.
        body["Resources"] = self.render_many(kind, chunk)
        return Reply(200, body)
