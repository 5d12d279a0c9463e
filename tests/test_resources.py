"""SCIM models and the converter (scimsync._resources): round trips, tolerance, errors."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scimsync import (
    Address,
    Email,
    EnterpriseUser,
    Group,
    ListResponse,
    Manager,
    Member,
    Meta,
    Name,
    PatchOp,
    PatchOperation,
    PhoneNumber,
    ResourceType,
    Role,
    Schema,
    ScimErrorBody,
    ServiceProviderConfig,
    User,
    converter,
    from_wire,
    to_wire,
)
from scimsync._resources import (
    _REFERENCE_STRUCTURE,
    ENTERPRISE_USER_SCHEMA,
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    LIST_RESPONSE_SCHEMA,
    PATCH_OP_SCHEMA,
    USER_SCHEMA,
    ParseError,
)

# aws-scim.md §2.5, verbatim (the documented full-user shape).
AWS_USER_JSON = """{ "id": "9067729b3d-94f1e0b3-c394-48d5-8ab1-2c122a167074", "externalId": "701984",
  "meta": {"resourceType": "User", "created": "2020-03-31T02:36:15Z", "lastModified": "2020-03-31T02:36:15Z"},
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "userName": "bjensen",
  "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara", "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
  "displayName": "Babs Jensen", "nickName": "Babs", "title": "Tour Guide", "userType": "Employee",
  "preferredLanguage": "en-US", "locale": "en-US", "timezone": "America/Los_Angeles", "active": true,
  "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
  "addresses": [{"formatted": "...", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "USA", "type": "work", "primary": true}],
  "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
  "roles": [{"value": "Researcher", "type": "work", "primary": true}],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios", "division": "Theme Park", "department": "Tour Operations", "manager": {"value": "9067729b3d-ee533c18-538a-4cd3-a572-63fb863ed734"}} }"""

# aws-scim.md §6.2, verbatim.
AWS_400_BOTH = '{"schema":["urn:ietf:params:scim:api:messages:2.0:Error"],"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"Request is unparsable, syntactically incorrect, or violates schema.","status":"400","exceptionRequestId":"f32ad558-5b05-45ea-8135-552a2f254d4f","timeStamp":"2022-04-15 14:09:03.693"}'
AWS_400_SCHEMA_ONLY = '{"schema":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"Request is unparsable, syntactically incorrect, or violates schema.","status":"400"}'
AWS_409 = '{"schema":["urn:ietf:params:scim:api:messages:2.0:Error"],"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"Refused to create a new, duplicate resource.","status":"409","exceptionRequestId":"81abca44-4ee3-47fa-b4d9-729908ef1dd9","timeStamp":"2022-03-18 10:57:08.014"}'

# aws-scim.md §1, ServiceProviderConfig documented example (verbatim values).
AWS_SPC = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
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


def aws_user() -> dict[str, Any]:
    return json.loads(AWS_USER_JSON)


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------- round trips


def test_aws_full_user_round_trip_is_exact():
    data = aws_user()
    user = from_wire(User, data)
    assert canonical(to_wire(user)) == canonical(data)
    assert data == aws_user(), "from_wire must not modify its input"


def test_aws_full_user_typed_access():
    user = from_wire(User, aws_user())
    assert user.user_name == "bjensen"
    assert user.id == "9067729b3d-94f1e0b3-c394-48d5-8ab1-2c122a167074"
    assert user.external_id == "701984"
    assert user.name == Name(
        formatted="Ms. Barbara J Jensen, III",
        family_name="Jensen",
        given_name="Barbara",
        middle_name="Jane",
        honorific_prefix="Ms.",
        honorific_suffix="III",
    )
    assert user.active is True
    assert user.emails == [Email(value="bjensen@example.com", type="work", primary=True)]
    assert user.phone_numbers == [PhoneNumber(value="555-555-5555", type="work")]
    assert user.addresses[0].postal_code == "91608"
    assert user.addresses[0].primary is True
    assert user.roles == [Role(value="Researcher", type="work", primary=True)]
    assert user.meta == Meta(
        resource_type="User", created="2020-03-31T02:36:15Z", last_modified="2020-03-31T02:36:15Z"
    )
    assert user.enterprise is not None
    assert user.enterprise.cost_center == "4130"
    assert user.enterprise.manager == Manager(
        value="9067729b3d-ee533c18-538a-4cd3-a572-63fb863ed734"
    )
    assert user.extra == {}


def test_built_user_matches_aws_shape():
    """A user built in Python serialises to the documented wire body."""
    data = aws_user()
    user = User(
        id=data["id"],
        external_id="701984",
        meta=Meta(
            resource_type="User",
            created="2020-03-31T02:36:15Z",
            last_modified="2020-03-31T02:36:15Z",
        ),
        user_name="bjensen",
        name=Name(
            formatted="Ms. Barbara J Jensen, III",
            family_name="Jensen",
            given_name="Barbara",
            middle_name="Jane",
            honorific_prefix="Ms.",
            honorific_suffix="III",
        ),
        display_name="Babs Jensen",
        nick_name="Babs",
        title="Tour Guide",
        user_type="Employee",
        preferred_language="en-US",
        locale="en-US",
        timezone="America/Los_Angeles",
        active=True,
        emails=[Email(value="bjensen@example.com", type="work", primary=True)],
        addresses=[
            Address(
                formatted="...",
                street_address="100 Universal City Plaza",
                locality="Hollywood",
                region="CA",
                postal_code="91608",
                country="USA",
                type="work",
                primary=True,
            )
        ],
        phone_numbers=[PhoneNumber(value="555-555-5555", type="work")],
        roles=[Role(value="Researcher", type="work", primary=True)],
        enterprise=EnterpriseUser(
            employee_number="701984",
            cost_center="4130",
            organization="Universal Studios",
            division="Theme Park",
            department="Tour Operations",
            manager=Manager(value="9067729b3d-ee533c18-538a-4cd3-a572-63fb863ed734"),
        ),
    )
    assert to_wire(user) == data
    assert next(iter(to_wire(user))) == "schemas"


def test_group_aws_create_request_round_trip():
    body = {
        "schemas": [GROUP_SCHEMA],
        "externalId": "701984",
        "displayName": "Group Bar",
        "members": [{"value": "u-1", "$ref": "../Users/u-1", "type": "User"}],
    }
    group = from_wire(Group, body)
    assert group.members == [Member(value="u-1", ref="../Users/u-1", type="User")]
    assert to_wire(group) == body


def test_group_members_absent_vs_empty():
    absent = from_wire(Group, {"id": "g", "displayName": "G"})
    empty = from_wire(Group, {"id": "g", "displayName": "G", "members": []})
    assert absent.members is None
    assert empty.members == []
    assert "members" not in to_wire(absent)
    assert to_wire(empty)["members"] == []
    assert from_wire(Group, {"displayName": "G", "members": None}).members is None


def test_service_provider_config_aws_round_trip():
    spc = from_wire(ServiceProviderConfig, AWS_SPC)
    assert spc.patch is not None
    assert spc.patch.supported is True
    assert spc.bulk is not None
    assert spc.bulk.max_payload_size == 1048576
    assert spc.filter is not None
    assert spc.filter.max_results == 50
    assert spc.authentication_schemes[0].type == "oauthbearertoken"
    assert to_wire(spc) == AWS_SPC


def test_resource_type_round_trip():
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{"schema": ENTERPRISE_USER_SCHEMA, "required": True}],
        "meta": {"resourceType": "ResourceType", "location": "https://x/ResourceTypes/User"},
    }
    rt = from_wire(ResourceType, body)
    assert rt.schema == USER_SCHEMA
    assert rt.schema_extensions[0].required is True
    assert to_wire(rt) == body


def test_schema_with_nested_sub_attributes_round_trip():
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "User Account",
        "attributes": [
            {
                "name": "userName",
                "type": "string",
                "multiValued": False,
                "required": True,
                "caseExact": False,
                "mutability": "readWrite",
                "returned": "default",
                "uniqueness": "server",
            },
            {
                "name": "emails",
                "type": "complex",
                "multiValued": True,
                "subAttributes": [
                    {
                        "name": "type",
                        "type": "string",
                        "canonicalValues": ["work", "home"],
                    },
                    {"name": "primary", "type": "boolean", "required": "false"},
                ],
            },
        ],
    }
    schema = from_wire(Schema, body)
    sub = schema.attributes[1].sub_attributes
    assert sub[0].canonical_values == ["work", "home"]
    assert sub[1].required is False
    expected = copy.deepcopy(body)
    expected["attributes"][1]["subAttributes"][1]["required"] = False  # real booleans out
    assert to_wire(schema) == expected


def test_list_response_generic_round_trip():
    body = {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": 2,
        "itemsPerPage": 2,
        "startIndex": 1,
        "Resources": [aws_user(), {"userName": "x", "schemas": [USER_SCHEMA], "id": "2"}],
    }
    page = from_wire(ListResponse[User], body)
    assert [type(r) for r in page.resources] == [User, User]
    assert page.resources[1].user_name == "x"
    assert page.total_results == 2
    assert to_wire(page) == body


def test_list_response_aws_cursor_page():
    body = {
        "itemsPerPage": 100,
        "nextCursor": "VGVzdFVzZXJDdXJzb3I",
        "schemas": [LIST_RESPONSE_SCHEMA],
        "Resources": [{"id": "g1", "displayName": "G", "members": []}],
    }
    page = from_wire(ListResponse[Group], body)
    assert page.next_cursor == "VGVzdFVzZXJDdXJzb3I"
    assert page.total_results is None
    assert page.start_index is None
    assert page.resources[0].members == []
    out = to_wire(page)
    assert "totalResults" not in out
    assert out["Resources"][0] == {"schemas": [GROUP_SCHEMA], **body["Resources"][0]}


def test_list_response_of_raw_dicts_and_empty_page():
    page = from_wire(ListResponse[dict[str, Any]], {"Resources": [{"a": 1}], "totalResults": 1})
    assert page.resources == [{"a": 1}]
    empty = from_wire(ListResponse[User], {"totalResults": 0})
    assert empty.resources == []
    assert to_wire(empty) == {"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": 0, "Resources": []}


def test_converter_is_the_one_cattrs_converter():
    assert isinstance(converter, cattrs.Converter)
    assert converter.structure(aws_user(), User) == from_wire(User, aws_user())


# --------------------------------------------------------------- unknown attributes


def test_unknown_attributes_and_extensions_survive_a_round_trip():
    custom = "urn:example:params:scim:schemas:extension:acme:2.0:User"
    data = aws_user()
    data["schemas"].append(custom)
    data[custom] = {"badge": "B-17", "floors": [1, 2]}
    data["x-unknownTop"] = {"nested": [None, True]}
    data["emails"][0]["x-verified"] = True
    data["name"]["phonetic"] = "bee-jensen"
    data[ENTERPRISE_USER_SCHEMA]["x-grade"] = 7
    data[ENTERPRISE_USER_SCHEMA]["manager"]["$ref"] = "../Users/m"
    data["meta"]["x-etag"] = "W/1"
    user = from_wire(User, data)
    assert user.extra == {custom: data[custom], "x-unknownTop": {"nested": [None, True]}}
    assert user.emails[0].extra == {"x-verified": True}
    assert user.name is not None
    assert user.name.extra == {"phonetic": "bee-jensen"}
    assert user.enterprise is not None
    assert user.enterprise.extra == {"x-grade": 7}
    assert user.enterprise.manager is not None
    assert user.enterprise.manager.ref == "../Users/m"
    assert user.schemas == [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, custom]
    assert to_wire(user) == data


def test_modelled_attribute_wins_over_same_key_in_extra():
    user = User(user_name="real", extra={"userName": "shadow", "x": 1})
    assert to_wire(user) == {"schemas": [USER_SCHEMA], "userName": "real", "x": 1}


# ------------------------------------------------------------------- strict output


def test_minimal_user_output():
    assert to_wire(User(user_name="bob")) == {"schemas": [USER_SCHEMA], "userName": "bob"}


def test_enterprise_urn_follows_enterprise_data():
    with_ext = to_wire(User(user_name="b", enterprise=EnterpriseUser(department="Ops")))
    assert with_ext["schemas"] == [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]
    assert with_ext[ENTERPRISE_USER_SCHEMA] == {"department": "Ops"}
    # an empty extension object is dropped, and its URN with it
    empty_ext = to_wire(
        User(
            user_name="b",
            enterprise=EnterpriseUser(),
            schemas=[USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        )
    )
    assert empty_ext == {"schemas": [USER_SCHEMA], "userName": "b"}


def test_output_omits_none_empty_objects_and_empty_lists():
    user = User(user_name="b", name=Name(), meta=Meta(), emails=[], active=None, title=None)
    assert to_wire(user) == {"schemas": [USER_SCHEMA], "userName": "b"}


def test_output_booleans_are_real_booleans():
    user = from_wire(
        User,
        {"userName": "b", "active": "false", "emails": [{"value": "e", "primary": "True"}]},
    )
    out = to_wire(user)
    assert out["active"] is False
    assert out["emails"][0]["primary"] is True
    assert json.dumps(out).count('"True"') == 0


def test_patch_op_output():
    op = PatchOp(
        operations=[
            PatchOperation(op="add", path="members", value=[Member(value="u1"), {"value": "u2"}]),
            PatchOperation(op="replace", path="name", value=Name(given_name="B")),
            PatchOperation(op="remove", path='members[value eq "u3"]'),
        ]
    )
    assert to_wire(op) == {
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
            {"op": "replace", "path": "name", "value": {"givenName": "B"}},
            {"op": "remove", "path": 'members[value eq "u3"]'},
        ],
    }


def test_patch_operation_op_is_checked():
    with pytest.raises(ValueError, match=r"PatchOperation\.op"):
        PatchOperation(op="delete")
    assert PatchOperation(op="Replace").op == "Replace"  # Azure-style case is accepted


def test_patch_op_parse():
    body = {
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    patch = from_wire(PatchOp, body)
    assert patch.operations == [PatchOperation(op="replace", value={"active": False})]
    assert to_wire(patch) == body


def test_to_wire_rejects_non_models():
    with pytest.raises(TypeError, match="expects a scimsync model"):
        to_wire({"userName": "x"})


# ------------------------------------------------------------------ tolerant input


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        (" true ", True),
        ("false", False),
        ("False", False),
        (True, True),
        (False, False),
        (None, None),
    ],
)
def test_string_booleans(raw, expected):
    user = from_wire(User, {"userName": "b", "active": raw, "emails": [{"primary": raw}]})
    assert user.active is expected
    assert user.emails[0].primary is expected


@pytest.mark.parametrize("raw", ["maybe", "yes", 1, 0, 1.0, [], {}])
def test_non_booleans_are_rejected(raw):
    with pytest.raises(ParseError) as info:
        from_wire(User, {"userName": "b", "emails": [{"primary": raw}]})
    assert info.value.path == "emails[0].primary"
    assert "expected a boolean" in str(info.value)


@pytest.mark.parametrize("body", [AWS_400_BOTH, AWS_400_SCHEMA_ONLY, AWS_409])
def test_aws_error_bodies_verbatim(body):
    data = json.loads(body)
    err = from_wire(ScimErrorBody, data)
    assert err.schemas == [ERROR_SCHEMA]
    assert err.status == int(data["status"])
    assert err.detail == data["detail"]
    assert err.scim_type is None
    assert err.exception_request_id == data.get("exceptionRequestId")
    assert err.time_stamp == data.get("timeStamp")
    out = to_wire(err)
    assert out["schemas"] == [ERROR_SCHEMA]
    assert out["status"] == data["status"]  # RFC 7644 §3.12: a JSON string
    if "schemas" in data:
        assert out == data  # AWS's duplicate "schema" key is carried in extra


def test_error_status_as_integer_and_rfc_shape():
    err = from_wire(
        ScimErrorBody,
        {"schemas": [ERROR_SCHEMA], "status": 409, "scimType": "uniqueness", "detail": "dup"},
    )
    assert err.status == 409
    assert err.scim_type == "uniqueness"
    assert to_wire(err) == {
        "schemas": [ERROR_SCHEMA],
        "detail": "dup",
        "status": "409",
        "scimType": "uniqueness",
    }
    assert from_wire(ScimErrorBody, {}).status is None


def test_missing_and_null_lists_become_empty():
    for body in ({"userName": "b"}, {"userName": "b", "emails": None, "roles": None}):
        user = from_wire(User, body)
        assert user.emails == []
        assert user.roles == []
        assert user.phone_numbers == []
        assert user.addresses == []


def test_null_values_are_none():
    user = from_wire(
        User,
        {
            "userName": "b",
            "name": None,
            "displayName": None,
            "meta": None,
            ENTERPRISE_USER_SCHEMA: None,
        },
    )
    assert user.name is None
    assert user.display_name is None
    assert user.meta is None
    assert user.enterprise is None


def test_numbers_where_strings_are_expected_and_strings_where_ints_are():
    user = from_wire(User, {"userName": "b", "externalId": 701984})
    assert user.external_id == "701984"
    page = from_wire(ListResponse[User], {"totalResults": "3", "itemsPerPage": 3.0})
    assert page.total_results == 3
    assert page.items_per_page == 3


def test_from_wire_does_not_share_mutable_input():
    data = aws_user()
    data["x-list"] = [1]
    user = from_wire(User, data)
    assert to_wire(user) == data


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("cls", "data", "message"),
    [
        (
            User,
            {"userName": "b", "emails": [{"value": "e", "primary": "maybe"}]},
            "emails[0].primary: expected a boolean, got 'maybe'",
        ),
        (User, {"name": {}}, "userName: required attribute is missing"),
        (User, {"userName": None}, "userName: expected a string, got null"),
        (User, {"userName": ["b"]}, "userName: expected a string, got a list"),
        (User, {"userName": "b", "name": "Bob"}, "name: expected a JSON object, got 'Bob'"),
        (
            User,
            {"userName": "b", "phoneNumbers": [{}, {"value": {"x": 1}}]},
            "phoneNumbers[1].value: expected a string, got an object",
        ),
        (
            User,
            {"userName": "b", "emails": {"value": "e"}},
            "emails: expected a list, got an object",
        ),
        (
            User,
            {"userName": "b", ENTERPRISE_USER_SCHEMA: {"manager": {"value": True}}},
            f"{ENTERPRISE_USER_SCHEMA}.manager.value: expected a string, got True",
        ),
        (User, [], "User: expected a JSON object, got a list"),
        (User, "nope", "User: expected a JSON object, got 'nope'"),
        (
            Group,
            {"displayName": "G", "members": [{"type": "User"}]},
            "members[0].value: required attribute is missing",
        ),
        (
            ListResponse[User],
            {"Resources": [{"userName": "a"}, {"userName": "b", "active": "nope"}]},
            "Resources[1].active: expected a boolean, got 'nope'",
        ),
        (ListResponse[User], {"Resources": "x"}, "Resources: expected a list, got 'x'"),
        (
            ScimErrorBody,
            {"status": "Bad Request"},
            "status: expected an integer, got 'Bad Request'",
        ),
        (ScimErrorBody, {"status": True}, "status: expected an integer, got True"),
        (PatchOp, {"Operations": [{"op": "delete"}]}, "Operations[0]: PatchOperation.op must be"),
        (
            ServiceProviderConfig,
            {"bulk": {"maxOperations": "many"}},
            "bulk.maxOperations: expected an integer, got 'many'",
        ),
    ],
)
def test_parse_errors_name_the_attribute(cls, data, message):
    with pytest.raises(ParseError) as info:
        from_wire(cls, data)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


def test_parse_error_attributes():
    with pytest.raises(ParseError) as info:
        from_wire(User, {"userName": "b", "addresses": [{"primary": "x"}]})
    assert info.value.model == "User"
    assert info.value.path == "addresses[0].primary"
    assert info.value.reason == "expected a boolean, got 'x'"


def test_long_bad_values_are_truncated_in_messages():
    with pytest.raises(ParseError) as info:
        from_wire(User, {"userName": "b", "active": "x" * 500})
    assert len(str(info.value)) < 120


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
USER_KEYS = st.sampled_from(
    [
        "userName",
        "name",
        "emails",
        "active",
        "meta",
        "roles",
        "addresses",
        "phoneNumbers",
        "schemas",
        ENTERPRISE_USER_SCHEMA,
        "externalId",
        "id",
        "x",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(USER_KEYS, JSON, max_size=6) | JSON)
def test_garbage_gives_parse_error_or_a_user_never_a_crash(data):
    error: ParseError | None = None
    try:
        user = from_wire(User, data)
    except ParseError as exc:  # anything else (KeyError, TypeError...) fails the test
        error = exc
    if error is not None:
        assert error.reason
        assert str(error).startswith(error.path or "User")
    else:
        assert isinstance(user, User)
        to_wire(user)  # whatever parsed can be written


# ------------------------------------------------------------------ property tests

TEXT = st.text(max_size=12)
OPT_TEXT = st.none() | TEXT
OPT_BOOL = st.none() | st.booleans()
EXTRA = st.dictionaries(st.text(max_size=6).map(lambda k: "x-" + k), JSON, max_size=2)


def _names() -> Any:
    return st.builds(
        Name,
        formatted=OPT_TEXT,
        family_name=TEXT,  # non-empty object, so it is written and read back
        given_name=OPT_TEXT,
        extra=EXTRA,
    )


USERS = st.builds(
    User,
    user_name=TEXT,
    name=st.none() | _names(),
    display_name=OPT_TEXT,
    title=OPT_TEXT,
    active=OPT_BOOL,
    external_id=OPT_TEXT,
    id=OPT_TEXT,
    emails=st.lists(
        st.builds(Email, value=TEXT, type=OPT_TEXT, primary=OPT_BOOL, extra=EXTRA), max_size=2
    ),
    phone_numbers=st.lists(st.builds(PhoneNumber, value=TEXT, type=OPT_TEXT), max_size=2),
    roles=st.lists(st.builds(Role, value=TEXT, primary=OPT_BOOL), max_size=1),
    meta=st.none() | st.builds(Meta, created=TEXT, version=OPT_TEXT),
    enterprise=st.none()
    | st.builds(
        EnterpriseUser,
        department=TEXT,
        manager=st.none() | st.builds(Manager, value=TEXT, ref=OPT_TEXT),
    ),
    extra=EXTRA,
)


@settings(max_examples=200, deadline=None)
@given(USERS)
def test_user_round_trip_property(user):
    wire = to_wire(user)
    json.dumps(wire)  # plain JSON types only
    back = from_wire(User, json.loads(json.dumps(wire)))
    expected_schemas = [USER_SCHEMA] + ([ENTERPRISE_USER_SCHEMA] if user.enterprise else [])
    assert back.schemas == expected_schemas
    back.schemas = user.schemas
    assert back == user
    assert to_wire(back) == wire


# ---------------------------------------------------------------------------- docs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "models.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_docs_models_examples_run():
    blocks = _python_blocks(DOCS.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/models.md[block {i}]", "exec"), {})  # noqa: S102


def test_any_mapping_and_tuples_are_accepted_as_input():
    data = aws_user()
    data["emails"] = tuple(data["emails"])
    user = from_wire(User, MappingProxyType(data))
    assert user.emails[0].value == "bjensen@example.com"
    assert to_wire(user) == aws_user()


# ------------------------------------------------- cross-check with scim2-models


def _scim2_models() -> Any:
    # only these two tests need it; scim2-models comes with scim2-server (test extra)
    return pytest.importorskip("scim2_models", reason="scim2-models is not installed")


def test_bodies_written_by_scim2_models_round_trip():
    m = _scim2_models()
    user = m.User[m.EnterpriseUser](
        id="abc",
        user_name="bjensen",
        name=m.Name(given_name="Barbara", family_name="Jensen"),
        active=True,
        emails=[m.Email(value="b@example.com", type="work", primary=True)],
        phone_numbers=[m.PhoneNumber(value="555", type="work")],
        meta=m.Meta(resource_type="User", location="http://x/Users/abc", version='W/"1"'),
    )
    user[m.EnterpriseUser] = m.EnterpriseUser(
        department="Ops", manager=m.Manager(value="m1", ref="http://x/Users/m1")
    )
    body = user.model_dump(scim_ctx=m.Context.RESOURCE_QUERY_RESPONSE)
    parsed = from_wire(User, body)
    assert parsed.enterprise is not None
    assert parsed.enterprise.manager == Manager(value="m1", ref="http://x/Users/m1")
    assert parsed.meta is not None
    assert parsed.meta.version == 'W/"1"'
    assert parsed.extra == {}
    assert to_wire(parsed) == body

    group = m.Group(id="g", display_name="G", members=[m.GroupMember(value="abc", type="User")])
    gbody = group.model_dump(scim_ctx=m.Context.RESOURCE_QUERY_RESPONSE)
    assert to_wire(from_wire(Group, gbody)) == gbody


def test_bodies_we_write_are_valid_for_scim2_models():
    m = _scim2_models()
    user = from_wire(User, aws_user())
    assert user.enterprise is not None
    assert user.enterprise.manager is not None
    # RFC 7643 §4.3 makes manager.$ref REQUIRED on requests (AWS returns value only)
    user.enterprise.manager.ref = "../Users/9067729b3d-ee533c18-538a-4cd3-a572-63fb863ed734"
    wire = to_wire(user)
    assert wire[ENTERPRISE_USER_SCHEMA]["manager"]["$ref"] == user.enterprise.manager.ref
    wire.pop("id")
    wire.pop("meta")
    theirs = m.User[m.EnterpriseUser].model_validate(
        wire, scim_ctx=m.Context.RESOURCE_CREATION_REQUEST
    )
    assert theirs.user_name == "bjensen"
    assert theirs.emails[0].primary is True
    assert theirs.name.honorific_suffix == "III"
    assert (
        theirs[m.EnterpriseUser].manager.value == "9067729b3d-ee533c18-538a-4cd3-a572-63fb863ed734"
    )
    patch = to_wire(PatchOp(operations=[PatchOperation(op="replace", path="title", value="X")]))
    assert m.PatchOp[m.User].model_validate(patch).operations[0].path == "title"


# ------------------------------------- generated fast path == cattrs reference hook

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["true", "False", "x", "", "7"]),
    st.floats(allow_nan=False, allow_infinity=False),
)
EMAILS = st.lists(st.dictionaries(st.sampled_from(["value", "primary", "type", "x"]), SCALARS))
NEARLY_USERS = st.fixed_dictionaries(
    {"userName": st.text(max_size=5) | SCALARS},
    optional={
        "active": SCALARS,
        "displayName": SCALARS,
        "externalId": SCALARS,
        "emails": st.none() | EMAILS,
        "name": st.none() | st.dictionaries(st.sampled_from(["givenName", "x"]), SCALARS),
        ENTERPRISE_USER_SCHEMA: st.none()
        | st.fixed_dictionaries({}, optional={"manager": st.none() | st.just({"value": "m"})}),
        "schemas": st.none() | st.just([USER_SCHEMA]),
    },
)


def _without_extra(obj: Any) -> Any:
    """The model as a plain structure, ``extra`` dropped at every level."""
    if attrs.has(type(obj)):
        return {
            f.name: _without_extra(getattr(obj, f.name))
            for f in attrs.fields(type(obj))
            if f.name != "extra"
        }
    if isinstance(obj, list):
        return [_without_extra(x) for x in obj]
    return obj


@settings(max_examples=300, deadline=None)
@given(NEARLY_USERS)
def test_fast_path_agrees_with_the_cattrs_reference_hook(data):
    reference = _REFERENCE_STRUCTURE[User]
    try:
        expected = _without_extra(reference(data, User))
    except Exception:  # the reference rejects: so must from_wire, with a ParseError
        with pytest.raises(ParseError):
            from_wire(User, data)
    else:
        assert _without_extra(from_wire(User, data)) == expected
