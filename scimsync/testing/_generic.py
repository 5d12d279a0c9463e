"""The emulator's ``generic`` profile: a plain RFC 7643/7644 service provider.

Users and Groups CRUD, filters (any RFC filter, parsed by ``scim2_filter_parser``,
evaluated in :mod:`scimsync.testing._filtereval`), index pagination, PATCH through
:func:`scimsync.testing.apply_patch`, PUT on both resources, members on group reads and
``groups`` on user reads, ``attributes``/``excludedAttributes``, ``POST .search``,
optional ETags (``meta.version``, ``ETag``, ``If-Match``/``If-None-Match``), the discovery
endpoints, uniqueness of ``userName`` (409 ``uniqueness``) and RFC error bodies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from itertools import islice
from typing import Any, ClassVar

from scimsync.testing._filtereval import (
    FilterSyntaxError,
    Leaf,
    and_leaves,
    matches,
    parse_filter,
)
from scimsync.testing._patch import PatchError, apply_patch
from scimsync.testing._schemas import (
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE_USER,
    ERROR_URN,
    LIST_RESPONSE,
    PATCH_OP,
    SCHEMAS,
    SEARCH_REQUEST,
    generic_service_provider_config,
    resource_types,
)
from scimsync.testing._state import Directory
from scimsync.testing._wire import Reply, Request, ScimFailure, find_key, jcopy, project

__all__ = ["GenericProfile", "ProfileBase", "cached_filter"]


@functools.lru_cache(maxsize=512)
def cached_filter(text: str) -> Any:
    """Parse a filter once (the AST is never mutated by evaluation)."""
    return parse_filter(text)


class ProfileBase:
    """Routing and discovery shared by the profiles; resource handlers are abstract."""

    name: ClassVar[str] = ""
    content_type: ClassVar[str] = "application/scim+json"
    max_page: ClassVar[int] = 1000
    default_page: ClassVar[int] = 100

    def __init__(self, directory: Directory, *, base_url: Callable[[], str]) -> None:
        self.dir = directory
        self._base_url = base_url

    # -- plumbing the server uses ------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._base_url()

    def base_path(self) -> str:
        return "/scim/v2"

    def relative_path(self, path: str) -> str:
        """Strip the base path; raise the profile's 404 for a path outside it."""
        base = self.base_path()
        if path == base or path.startswith(base + "/"):
            return path[len(base) :] or "/"
        raise ScimFailure(404, f"Nothing lives at {path}; the SCIM base path is {base}.")

    def error_body(self, failure: ScimFailure, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemas": [ERROR_URN],
            "status": str(failure.status),
            "detail": failure.detail,
        }
        if failure.scim_type:
            body["scimType"] = failure.scim_type
        return body

    def common_headers(self, request_id: str) -> dict[str, str]:
        return {}

    def fault_failure(self, status: int, path: str) -> ScimFailure:
        """The error an injected fault answers with (see ``EmulatorServer.fail_next``)."""
        return ScimFailure(status, f"Injected fault: HTTP {status}.")

    def unauthorized(self, why: str) -> ScimFailure:
        return ScimFailure(401, why, headers={"WWW-Authenticate": 'Bearer realm="scim"'})

    # -- routing -----------------------------------------------------------------------

    def handle(self, req: Request) -> Reply:
        segs = [s for s in req.path.split("/") if s]
        if not segs:
            raise self.not_found_endpoint(req.path)
        head, rest = segs[0], segs[1:]
        m = req.method
        if head == "ServiceProviderConfig" and not rest:
            self.only(m, "GET")
            return Reply(200, self.service_provider_config())
        if head == "ResourceTypes" and len(rest) <= 1:
            self.only(m, "GET")
            return self.resource_types_reply(rest[0] if rest else None)
        if head == "Schemas" and len(rest) <= 1:
            self.only(m, "GET")
            return self.schemas_reply(rest[0] if rest else None)
        if head in ("Users", "Groups"):
            kind = "user" if head == "Users" else "group"
            if not rest:
                if m == "GET":
                    return self.list_resources(req, kind)
                if m == "POST":
                    return self.create(req, kind)
                raise self.method_not_allowed(m)
            if rest == [".search"]:
                return self.search(req, kind)
            if len(rest) == 1:
                rid = rest[0]
                if m == "GET":
                    return self.get(req, kind, rid)
                if m == "PUT":
                    return self.put(req, kind, rid)
                if m == "PATCH":
                    return self.patch(req, kind, rid)
                if m == "DELETE":
                    return self.delete(req, kind, rid)
                raise self.method_not_allowed(m)
        return self.other_route(req, segs)

    def only(self, method: str, allowed: str) -> None:
        if method != allowed:
            raise self.method_not_allowed(method)

    def method_not_allowed(self, method: str) -> ScimFailure:
        return ScimFailure(405, f"Method {method} is not allowed on this endpoint.")

    def not_found_endpoint(self, path: str) -> ScimFailure:
        return ScimFailure(404, f"Endpoint {path} does not exist.")

    def other_route(self, req: Request, segs: list[str]) -> Reply:
        raise self.not_found_endpoint(req.path)

    # -- discovery ---------------------------------------------------------------------

    def service_provider_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def resource_types(self) -> list[dict[str, Any]]:
        return resource_types(self.base_url, enterprise_required=False)

    def list_body(self, resources: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "schemas": [LIST_RESPONSE],
            "totalResults": len(resources),
            "itemsPerPage": len(resources),
            "startIndex": 1,
            "Resources": resources,
        }

    def resource_types_reply(self, name: str | None) -> Reply:
        types = self.resource_types()
        if name is None:
            return Reply(200, self.list_body(types))
        for t in types:
            if t["id"] == name:
                return Reply(200, t)
        raise ScimFailure(404, f"Resource type {name} does not exist.")

    def schemas_reply(self, urn: str | None) -> Reply:
        if urn is None:
            return Reply(200, self.list_body([self.schema_doc(s) for s in SCHEMAS.values()]))
        for key, schema in SCHEMAS.items():
            if key.lower() == urn.lower():
                return Reply(200, self.schema_doc(schema))
        raise ScimFailure(404, f"Schema {urn} does not exist.")

    def schema_doc(self, schema: dict[str, Any]) -> dict[str, Any]:
        doc = jcopy(schema)
        doc["meta"]["location"] = f"{self.base_url}/Schemas/{schema['id']}"
        return doc

    # -- resource handlers (profiles implement) ---------------------------------------

    def list_resources(self, req: Request, kind: str) -> Reply:
        raise NotImplementedError

    def create(self, req: Request, kind: str) -> Reply:
        raise NotImplementedError

    def search(self, req: Request, kind: str | None) -> Reply:
        raise NotImplementedError

    def get(self, req: Request, kind: str, rid: str) -> Reply:
        raise NotImplementedError

    def put(self, req: Request, kind: str, rid: str) -> Reply:
        raise NotImplementedError

    def patch(self, req: Request, kind: str, rid: str) -> Reply:
        raise NotImplementedError

    def delete(self, req: Request, kind: str, rid: str) -> Reply:
        raise NotImplementedError


_READ_ONLY = frozenset({"id", "meta", "groups"})


class GenericProfile(ProfileBase):
    """RFC 7643/7644 behaviour (see the module docstring)."""

    name = "generic"

    def __init__(self, directory: Directory, *, base_url: Callable[[], str], etag: bool) -> None:
        super().__init__(directory, base_url=base_url)
        self.etag = etag

    def service_provider_config(self) -> dict[str, Any]:
        return generic_service_provider_config(self.base_url, etag=self.etag)

    def other_route(self, req: Request, segs: list[str]) -> Reply:
        if segs == [".search"]:
            return self.search(req, None)
        if segs[0] in ("Me", "Bulk"):
            raise ScimFailure(501, f"/{segs[0]} is not implemented by this service provider.")
        raise self.not_found_endpoint(req.path)

    # -- rendering ---------------------------------------------------------------------

    def etag_of(self, rid: str) -> str:
        return f'W/"{self.dir.version.get(rid, 0)}"'

    def render(self, kind: str, stored: dict[str, Any]) -> dict[str, Any]:
        # Shallow: nested values are shared with the store; the server serialises the
        # reply under its lock.
        out: dict[str, Any] = {"schemas": stored.get("schemas"), "id": stored["id"]}
        for key, value in stored.items():
            if key not in out and key != "meta":
                out[key] = value
        out["meta"] = dict(stored.get("meta", {}))
        rid = out["id"]
        meta = out["meta"]
        meta["location"] = f"{self.base_url}/{'Users' if kind == 'user' else 'Groups'}/{rid}"
        if self.etag:
            meta["version"] = self.etag_of(rid)
        if kind == "user":
            out.pop("password", None)
            gids = self.dir.member_of.get(rid)
            if gids:
                out["groups"] = [
                    {
                        "value": gid,
                        "$ref": f"{self.base_url}/Groups/{gid}",
                        "display": self.dir.groups[gid].get("displayName"),
                        "type": "direct",
                    }
                    for gid in gids
                    if gid in self.dir.groups
                ]
            else:
                out.pop("groups", None)
        else:
            members = []
            for m in stored.get("members", []):
                value = m["value"]
                # display is echoed as the client sent it (not computed): scim2-tester
                # compares members exactly after a PATCH.
                collection = "Users" if value in self.dir.users else "Groups"
                member = {
                    "value": value,
                    "$ref": f"{self.base_url}/{collection}/{value}",
                    "type": m.get("type", "User"),
                }
                if m.get("display"):
                    member["display"] = m["display"]
                members.append(member)
            if members:
                out["members"] = members
            else:
                out.pop("members", None)
        return out

    def shaped(
        self,
        kind: str,
        stored: dict[str, Any],
        attributes: list[str] | None,
        excluded: list[str] | None,
    ) -> dict[str, Any]:
        rendered = self.render(kind, stored)
        if not attributes and not excluded:
            return rendered
        return project(
            rendered,
            attributes,
            excluded,
            core_urn=CORE_USER if kind == "user" else CORE_GROUP,
            extension_urns=[ENTERPRISE_USER] if kind == "user" else [],
        )

    @staticmethod
    def attr_params(req: Request) -> tuple[list[str] | None, list[str] | None]:
        def split(name: str) -> list[str] | None:
            raw = req.param(name)
            if not raw:
                return None
            return [p.strip() for p in raw.split(",") if p.strip()]

        return split("attributes"), split("excludedAttributes")

    def single(self, kind: str, stored: dict[str, Any], status: int, req: Request) -> Reply:
        attributes, excluded = self.attr_params(req)
        headers: dict[str, str] = {}
        if self.etag:
            headers["ETag"] = self.etag_of(stored["id"])
        if status == 201:
            headers["Location"] = (
                f"{self.base_url}/{'Users' if kind == 'user' else 'Groups'}/{stored['id']}"
            )
        return Reply(status, self.shaped(kind, stored, attributes, excluded), headers)

    # -- helpers -----------------------------------------------------------------------

    def table(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.dir.users if kind == "user" else self.dir.groups

    def lookup(self, kind: str, rid: str) -> dict[str, Any]:
        stored = self.table(kind).get(rid)
        if stored is None:
            raise ScimFailure(404, f"{'User' if kind == 'user' else 'Group'} {rid} not found.")
        return stored

    def check_if_match(self, req: Request, rid: str) -> None:
        if not self.etag:
            return
        header = req.header("If-Match")
        if header is None or header.strip() == "*":
            return
        wanted = [h.strip() for h in header.split(",")]
        current = self.etag_of(rid)
        if current not in wanted and current.removeprefix("W/") not in wanted:
            raise ScimFailure(412, f"Resource {rid} has version {current}, not {header.strip()}.")

    @staticmethod
    def body_object(req: Request) -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise ScimFailure(400, "The request body must be a JSON object.", "invalidSyntax")
        return body

    @staticmethod
    def check_schemas(body: dict[str, Any], urn: str) -> None:
        schemas = body.get("schemas")
        if not isinstance(schemas, list) or not any(
            isinstance(s, str) and s.lower() == urn.lower() for s in schemas
        ):
            raise ScimFailure(400, f"'schemas' must list {urn}.", "invalidSyntax")

    def clean_user(self, body: dict[str, Any]) -> dict[str, Any]:
        rep = {
            k: jcopy(v)
            for k, v in body.items()
            if isinstance(k, str) and k.lower() not in _READ_ONLY and k.lower() != "password"
        }
        user_name = rep.get("userName")
        key = find_key(rep, "userName")
        if key is not None and key != "userName":
            rep["userName"] = rep.pop(key)
            user_name = rep["userName"]
        if not isinstance(user_name, str) or not user_name.strip():
            raise ScimFailure(400, "Attribute 'userName' is required.", "invalidValue")
        active = rep.get("active")
        if active is not None and not isinstance(active, bool):
            raise ScimFailure(400, "Attribute 'active' must be a boolean.", "invalidValue")
        for multi in ("emails", "phoneNumbers", "addresses", "roles", "entitlements", "ims"):
            value = rep.get(multi)
            if value is not None and not isinstance(value, list):
                raise ScimFailure(400, f"Attribute '{multi}' must be a list.", "invalidValue")
        name = rep.get("name")
        if name is not None and not isinstance(name, dict):
            raise ScimFailure(400, "Attribute 'name' must be an object.", "invalidValue")
        return rep

    def check_user_unique(self, rep: dict[str, Any], rid: str | None) -> None:
        owner = self.dir.user_by_name.get(str(rep["userName"]).lower())
        if owner is not None and owner != rid:
            raise ScimFailure(409, f"userName {rep['userName']!r} is already taken.", "uniqueness")

    def clean_group(self, body: dict[str, Any], rid: str | None) -> dict[str, Any]:
        rep = {
            k: jcopy(v)
            for k, v in body.items()
            if isinstance(k, str) and k.lower() not in ("id", "meta")
        }
        key = find_key(rep, "displayName")
        if key is not None and key != "displayName":
            rep["displayName"] = rep.pop(key)
        name = rep.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise ScimFailure(400, "Attribute 'displayName' is required.", "invalidValue")
        members = rep.get("members") or []
        if not isinstance(members, list):
            raise ScimFailure(400, "Attribute 'members' must be a list.", "invalidValue")
        clean = []
        for m in members:
            if not isinstance(m, dict) or not isinstance(m.get("value"), str):
                raise ScimFailure(400, "Each member needs a string 'value'.", "invalidValue")
            value = m["value"]
            if value in self.dir.users:
                kind = "User"
            elif value in self.dir.groups and value != rid:
                kind = "Group"
            else:
                raise ScimFailure(
                    400, f"Member {value!r} is not a user or group of this server.", "invalidValue"
                )
            entry = {"value": value, "type": kind}
            if isinstance(m.get("display"), str):
                entry["display"] = m["display"]
            clean.append(entry)
        rep["members"] = clean
        return rep

    # -- handlers ----------------------------------------------------------------------

    def create(self, req: Request, kind: str) -> Reply:
        body = self.body_object(req)
        if kind == "user":
            self.check_schemas(body, CORE_USER)
            rep = self.clean_user(body)
            self.check_user_unique(rep, None)
            stored = self.dir.insert_user(rep, self.dir.new_id(), copy=False)
        else:
            self.check_schemas(body, CORE_GROUP)
            rep = self.clean_group(body, None)
            stored = self.dir.insert_group(rep, self.dir.new_id(), copy=False)
        return self.single(kind, stored, 201, req)

    def get(self, req: Request, kind: str, rid: str) -> Reply:
        stored = self.lookup(kind, rid)
        if self.etag:
            inm = req.header("If-None-Match")
            if inm is not None and self.etag_of(rid) in [h.strip() for h in inm.split(",")]:
                return Reply(304, None, {"ETag": self.etag_of(rid)})
        return self.single(kind, stored, 200, req)

    def put(self, req: Request, kind: str, rid: str) -> Reply:
        self.lookup(kind, rid)
        self.check_if_match(req, rid)
        body = self.body_object(req)
        if kind == "user":
            self.check_schemas(body, CORE_USER)
            rep = self.clean_user(body)
            self.check_user_unique(rep, rid)
            stored = self.dir.replace_user(rid, rep, copy=False)
        else:
            self.check_schemas(body, CORE_GROUP)
            rep = self.clean_group(body, rid)
            stored = self.dir.replace_group(rid, rep, copy=False)
        return self.single(kind, stored, 200, req)

    def patch(self, req: Request, kind: str, rid: str) -> Reply:
        stored = self.lookup(kind, rid)
        self.check_if_match(req, rid)
        body = self.body_object(req)
        self.check_schemas(body, PATCH_OP)
        ops = body.get("Operations")
        if ops is None:
            key = find_key(body, "Operations")
            ops = body.get(key) if key else None
        if not isinstance(ops, list) or not ops:
            raise ScimFailure(400, "'Operations' must be a non-empty list.", "invalidValue")
        current = {k: v for k, v in stored.items() if k not in ("id", "meta")}
        try:
            patched = apply_patch(current, ops)
        except PatchError as exc:
            raise ScimFailure(400, str(exc), exc.scim_type) from None
        if kind == "user":
            if find_key(patched, "groups") is not None:
                raise ScimFailure(400, "Attribute 'groups' is read-only.", "mutability")
            rep = self.clean_user(patched)
            self.check_user_unique(rep, rid)
            stored = self.dir.replace_user(rid, rep, copy=False)
        else:
            rep = self.clean_group(patched, rid)
            stored = self.dir.replace_group(rid, rep, copy=False)
        return self.single(kind, stored, 200, req)

    def delete(self, req: Request, kind: str, rid: str) -> Reply:
        self.lookup(kind, rid)
        self.check_if_match(req, rid)
        if kind == "user":
            self.dir.delete_user(rid)
        else:
            self.dir.delete_group(rid)
        return Reply(204)

    # -- listing -----------------------------------------------------------------------

    @staticmethod
    def int_param(raw: Any, name: str) -> int | None:
        if raw is None or raw == "":
            return None
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ScimFailure(400, f"'{name}' must be an integer.", "invalidValue") from None

    def matching(self, kind: str, filter_text: str | None) -> list[dict[str, Any]]:
        pool = self.table(kind)
        if not filter_text:
            return list(pool.values())
        try:
            tree = cached_filter(filter_text)
        except FilterSyntaxError as exc:
            raise ScimFailure(400, str(exc), "invalidFilter") from None
        leaves = and_leaves(tree)
        if (
            kind == "user"
            and leaves is not None
            and len(leaves) == 1
            and leaves[0].op == "eq"
            and leaves[0].attr.lower() == "username"
            and leaves[0].uri is None
        ):
            uid = self.dir.user_by_name.get(str(leaves[0].value).lower())
            return [pool[uid]] if uid is not None else []
        indexed = self.from_member_index(kind, leaves)
        if indexed is not None:
            return indexed
        out = []
        for stored in pool.values():
            self.dir.scanned += 1
            view = self.render(kind, stored) if kind == "user" and self.dir.member_of else stored
            try:
                if matches(tree, view):
                    out.append(stored)
            except FilterSyntaxError as exc:
                raise ScimFailure(400, str(exc), "invalidFilter") from None
        return out

    def from_member_index(
        self, kind: str, leaves: list[Leaf] | None
    ) -> list[dict[str, Any]] | None:
        """``groups.value eq`` / ``members.value eq`` answered from ``member_of``, or ``None``.

        The same answer the scan gives (both compare case-exactly; a user's ``groups`` are
        rendered from ``member_of``), in directory order.
        """
        if leaves is None or len(leaves) != 1:
            return None
        leaf = leaves[0]
        if leaf.op != "eq" or leaf.uri is not None or leaf.value is None:
            return None
        attr = leaf.attr.lower()
        d = self.dir
        if kind == "user" and attr == "groups.value" and d.member_of:
            # With no membership at all the scan reads stored (seeded) ``groups``: keep it.
            if leaf.value not in d.groups:
                return []
            return list(d.group_users_after(leaf.value, 0))
        if kind == "group" and attr == "members.value":
            return d.in_order_after("group", d.member_of.get(leaf.value, ()), 0)
        return None

    def page(
        self,
        kind: str,
        filter_text: str | None,
        start: int | None,
        count: int | None,
        attributes: list[str] | None,
        excluded: list[str] | None,
    ) -> Reply:
        start_index = max(1, start or 1)
        size = self.default_page if count is None else max(0, min(count, self.max_page))
        if filter_text:
            found = self.matching(kind, filter_text)
            total = len(found)
            chunk = found[start_index - 1 : start_index - 1 + size]
        else:
            # Unfiltered: slice the table in place instead of copying all of it per page.
            pool = self.table(kind)
            total = len(pool)
            chunk = list(islice(pool.values(), start_index - 1, start_index - 1 + size))
        return Reply(
            200,
            {
                "schemas": [LIST_RESPONSE],
                "totalResults": total,
                "startIndex": start_index,
                "itemsPerPage": len(chunk),
                "Resources": [self.shaped(kind, r, attributes, excluded) for r in chunk],
            },
        )

    def list_resources(self, req: Request, kind: str) -> Reply:
        attributes, excluded = self.attr_params(req)
        return self.page(
            kind,
            req.param("filter"),
            self.int_param(req.param("startIndex"), "startIndex"),
            self.int_param(req.param("count"), "count"),
            attributes,
            excluded,
        )

    def search(self, req: Request, kind: str | None) -> Reply:
        if req.method != "POST":
            raise self.method_not_allowed(req.method)
        body = self.body_object(req)
        self.check_schemas(body, SEARCH_REQUEST)

        def names(key: str) -> list[str] | None:
            value = body.get(key)
            if value is None:
                return None
            if isinstance(value, str):
                return [p.strip() for p in value.split(",") if p.strip()]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return list(value)
            raise ScimFailure(400, f"'{key}' must be a list of attribute names.", "invalidValue")

        filter_text = body.get("filter")
        if filter_text is not None and not isinstance(filter_text, str):
            raise ScimFailure(400, "'filter' must be a string.", "invalidValue")
        start = self.int_param(body.get("startIndex"), "startIndex")
        count = self.int_param(body.get("count"), "count")
        if kind is not None:
            return self.page(
                kind, filter_text, start, count, names("attributes"), names("excludedAttributes")
            )
        # Root search: users then groups.
        users = self.page(
            "user", filter_text, 1, 10**9, names("attributes"), names("excludedAttributes")
        )
        groups = self.page(
            "group", filter_text, 1, 10**9, names("attributes"), names("excludedAttributes")
        )
        everything = users.body["Resources"] + groups.body["Resources"]
        start_index = max(1, start or 1)
        size = self.default_page if count is None else max(0, min(count, self.max_page))
        chunk = everything[start_index - 1 : start_index - 1 + size]
        return Reply(
            200,
            {
                "schemas": [LIST_RESPONSE],
                "totalResults": len(everything),
                "startIndex": start_index,
                "itemsPerPage": len(chunk),
                "Resources": chunk,
            },
        )
