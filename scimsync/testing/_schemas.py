"""Discovery documents the emulator serves: Schemas, ResourceTypes, ServiceProviderConfig.

The schema definitions follow RFC 7643 §8.7.1 (User, Group, EnterpriseUser), written
compactly with :func:`_attr`. The AWS ServiceProviderConfig is the documented one
(aws-scim.md §1, [DOC] serviceproviderconfig.html), verbatim.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CORE_GROUP",
    "CORE_USER",
    "ENTERPRISE_USER",
    "ERROR_URN",
    "LIST_RESPONSE",
    "PATCH_OP",
    "SCHEMAS",
    "SEARCH_REQUEST",
    "aws_service_provider_config",
    "generic_service_provider_config",
    "resource_types",
]

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
SPC_URN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_URN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"


def _attr(
    name: str,
    type_: str = "string",
    *,
    multi: bool = False,
    required: bool = False,
    mutability: str = "readWrite",
    returned: str = "default",
    uniqueness: str = "none",
    case_exact: bool = False,
    canonical: list[str] | None = None,
    sub: list[dict[str, Any]] | None = None,
    refs: list[str] | None = None,
    description: str = "",
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "type": type_,
        "multiValued": multi,
        "description": description or name,
        "required": required,
        "mutability": mutability,
        "returned": returned,
    }
    if type_ in ("string", "reference", "binary"):
        out["caseExact"] = case_exact
        out["uniqueness"] = uniqueness
    if canonical:
        out["canonicalValues"] = canonical
    if refs:
        out["referenceTypes"] = refs
    if sub:
        out["subAttributes"] = sub
    return out


def _multi_sub(
    value_type: str = "string",
    types: list[str] | None = None,
    *,
    display: bool = True,
    primary: bool = True,
) -> list[dict[str, Any]]:
    sub = [_attr("value", value_type)]
    if display:
        sub.append(_attr("display"))
    sub.append(_attr("type", canonical=types))
    if primary:
        sub.append(_attr("primary", "boolean"))
    return sub


_USER_ATTRS: list[dict[str, Any]] = [
    _attr("userName", required=True, uniqueness="server"),
    _attr(
        "name",
        "complex",
        sub=[
            _attr(n)
            for n in (
                "formatted",
                "familyName",
                "givenName",
                "middleName",
                "honorificPrefix",
                "honorificSuffix",
            )
        ],
    ),
    _attr("displayName"),
    _attr("nickName"),
    _attr("profileUrl", "reference", refs=["external"]),
    _attr("title"),
    _attr("userType"),
    _attr("preferredLanguage"),
    _attr("locale"),
    _attr("timezone"),
    _attr("active", "boolean"),
    _attr("password", mutability="writeOnly", returned="never"),
    _attr("emails", "complex", multi=True, sub=_multi_sub(types=["work", "home", "other"])),
    _attr(
        "phoneNumbers",
        "complex",
        multi=True,
        sub=_multi_sub(types=["work", "home", "mobile", "fax", "pager", "other"]),
    ),
    _attr("ims", "complex", multi=True, sub=_multi_sub()),
    _attr("photos", "complex", multi=True, sub=_multi_sub("reference", ["photo", "thumbnail"])),
    _attr(
        "addresses",
        "complex",
        multi=True,
        sub=[
            _attr(n)
            for n in (
                "formatted",
                "streetAddress",
                "locality",
                "region",
                "postalCode",
                "country",
            )
        ]
        + [_attr("type", canonical=["work", "home", "other"]), _attr("primary", "boolean")],
    ),
    _attr(
        "groups",
        "complex",
        multi=True,
        mutability="readOnly",
        sub=[
            _attr("value", mutability="readOnly"),
            _attr("$ref", "reference", mutability="readOnly", refs=["Group"]),
            _attr("display", mutability="readOnly"),
            _attr("type", mutability="readOnly", canonical=["direct", "indirect"]),
        ],
    ),
    _attr("entitlements", "complex", multi=True, sub=_multi_sub()),
    _attr("roles", "complex", multi=True, sub=_multi_sub()),
    _attr("x509Certificates", "complex", multi=True, sub=_multi_sub("binary")),
]

_GROUP_ATTRS: list[dict[str, Any]] = [
    _attr("displayName", required=True),
    _attr(
        "members",
        "complex",
        multi=True,
        sub=[
            _attr("value", mutability="immutable", case_exact=True),
            _attr("$ref", "reference", mutability="immutable", refs=["User", "Group"]),
            _attr("display", mutability="readOnly"),
            _attr("type", mutability="immutable", canonical=["User", "Group"]),
        ],
    ),
]

_ENTERPRISE_ATTRS: list[dict[str, Any]] = [
    _attr("employeeNumber"),
    _attr("costCenter"),
    _attr("organization"),
    _attr("division"),
    _attr("department"),
    _attr(
        "manager",
        "complex",
        sub=[
            _attr("value"),
            _attr("$ref", "reference", refs=["User"]),
            _attr("displayName", mutability="readOnly"),
        ],
    ),
]


def _schema(urn: str, name: str, description: str, attrs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [SCHEMA_URN],
        "id": urn,
        "name": name,
        "description": description,
        "attributes": attrs,
        "meta": {"resourceType": "Schema", "location": f"/Schemas/{urn}"},
    }


#: The three schemas both profiles publish, keyed by URN.
SCHEMAS: dict[str, dict[str, Any]] = {
    CORE_USER: _schema(CORE_USER, "User", "User Account", _USER_ATTRS),
    CORE_GROUP: _schema(CORE_GROUP, "Group", "Group", _GROUP_ATTRS),
    ENTERPRISE_USER: _schema(
        ENTERPRISE_USER, "EnterpriseUser", "Enterprise User", _ENTERPRISE_ATTRS
    ),
}


def resource_types(base_url: str, *, enterprise_required: bool) -> list[dict[str, Any]]:
    """The User and Group resource types (AWS publishes the extension as required)."""
    return [
        {
            "schemas": [RESOURCE_TYPE_URN],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": CORE_USER,
            "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": enterprise_required}],
            "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/User"},
        },
        {
            "schemas": [RESOURCE_TYPE_URN],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": CORE_GROUP,
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url}/ResourceTypes/Group",
            },
        },
    ]


def generic_service_provider_config(base_url: str, *, etag: bool) -> dict[str, Any]:
    """The generic profile's capabilities (what the emulator really implements)."""
    return {
        "schemas": [SPC_URN],
        "documentationUri": "https://scimsync.readthedocs.io/en/latest/testing.html",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": 1000},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": etag},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication scheme using the OAuth Bearer Token Standard",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def aws_service_provider_config() -> dict[str, Any]:
    """AWS's documented ServiceProviderConfig, verbatim ([DOC] serviceproviderconfig.html)."""
    return {
        "schemas": [SPC_URN],
        "documentationUri": "https://docs.aws.amazon.com/singlesignon/latest/userguide/manage-your-identity-source-idp.html",
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication scheme using the OAuth Bearer Token Standard",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "documentationUri": "https://docs.aws.amazon.com/singlesignon/latest/userguide/provision-automatically.html",
                "primary": True,
            }
        ],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 1, "maxPayloadSize": 1048576},
        "filter": {"supported": True, "maxResults": 50},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
    }
