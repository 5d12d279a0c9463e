"""The mapping engine: every value kind, transforms, problems, TOML form, matching."""

from __future__ import annotations

import dataclasses
import sys
import types

import pytest

from scimsync import (
    ConfigurationError,
    GroupMapping,
    UserMapping,
    ValidationError,
    computed,
    const,
    source,
    template,
)
from scimsync._mapping import parse_path
from scimsync._transforms import known_transforms, resolve_transform, truncate

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@dataclasses.dataclass
class Profile:
    dept: str | None


@dataclasses.dataclass
class LocalUser:
    pk: int
    username: str
    email: str
    first_name: str
    last_name: str
    is_active: bool = True
    profile: Profile | None = None


def bob(**kw):
    base = {
        "pk": 42,
        "username": "bob",
        "email": " Bob@Example.ORG ",
        "first_name": "Bob",
        "last_name": "Jensen",
        "profile": Profile("Tour Operations"),
    }
    base.update(kw)
    return LocalUser(**base)


# ------------------------------------------------------------------ value kinds


def test_source_on_objects_dicts_and_dotted_paths():
    m = UserMapping(
        {
            "userName": "username",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "profile.dept",
        }
    )
    rep = m.build(bob(), "42", for_create=True)
    assert rep == {
        "schemas": [CORE, ENT],
        "userName": "bob",
        ENT: {"department": "Tour Operations"},
        "externalId": "42",
    }
    as_dict = {"username": "bob", "profile": {"dept": "Tour Operations"}}
    assert m.build(as_dict, "42", for_create=True) == rep


def test_none_partway_along_a_dotted_path_is_empty_not_missing():
    m = UserMapping({"userName": "username", f"{ENT}:department": "profile.dept"})
    rep = m.build(bob(profile=None), "42", for_create=True)
    assert ENT not in rep
    assert rep["schemas"] == [CORE]  # enterprise URN only when enterprise attrs are present


def test_template_const_computed():
    m = UserMapping(
        {
            "userName": "username",
            "displayName": template("{first_name} {last_name}"),
            "nickName": template("{username!r:>8}"),
            "title": computed(lambda u: u.first_name.upper()),
            "active": const(True),
            "userType": const("Employee"),
        }
    )
    rep = m.build(bob(), "42", for_create=True)
    assert rep["displayName"] == "Bob Jensen"
    assert rep["nickName"] == "   'bob'"
    assert rep["title"] == "BOB"
    assert rep["active"] is True
    assert rep["userType"] == "Employee"


def test_template_none_becomes_empty_string_and_bad_templates_rejected():
    m = UserMapping({"userName": "username", "displayName": template("{first_name} {last_name}")})
    assert m.build(bob(last_name=None), "1", for_create=True)["displayName"] == "Bob "
    with pytest.raises(ConfigurationError, match="must name an attribute"):
        template("{0} {}")
    with pytest.raises(ConfigurationError, match="template"):
        template("{unclosed")


def test_const_false_is_kept_but_empty_values_are_omitted():
    m = UserMapping({"userName": "username", "active": const(False), "title": const("")})
    rep = m.build(bob(), "1", for_create=True)
    assert rep["active"] is False
    assert "title" not in rep


def test_default_if_empty_after_transforms():
    m = UserMapping(
        {
            "userName": "username",
            "title": source("profile.dept", transforms=["strip"], default="Staff"),
            "nickName": source("first_name", transforms=["none_if_empty"], default="n/a"),
        }
    )
    rep = m.build(bob(profile=Profile("   "), first_name=" "), "1", for_create=True)
    assert rep["title"] == "Staff"
    assert rep["nickName"] == "n/a"


def test_create_only_fields_and_paths():
    m = UserMapping(
        {
            "userName": "username",
            'emails[type eq "work"].value': source("email", create_only=True),
            "title": const("x", create_only=True),
        }
    )
    assert m.create_only_paths == ('emails[type eq "work"].value', "title")
    assert "emails" in m.build(bob(), "1", for_create=True)
    upd = m.build(bob(), "1", for_create=False)
    assert "emails" not in upd
    assert "title" not in upd


def test_external_id_defaults_to_key_unless_mapped_or_disabled():
    assert (
        UserMapping({"userName": "username"}).build(bob(), "42", for_create=True)["externalId"]
        == "42"
    )
    mapped = UserMapping({"userName": "username", "externalId": template("u-{pk}")})
    assert mapped.build(bob(), "42", for_create=True)["externalId"] == "u-42"
    off = UserMapping({"userName": "username"}, external_id_from_key=False)
    assert "externalId" not in off.build(bob(), "42", for_create=True)


def test_multi_valued_paths_primary_and_merging():
    m = UserMapping(
        {
            "userName": "username",
            'emails[type eq "work"].value': source("email", transforms=["strip", "lower"]),
            'phoneNumbers[type eq "work"].value': const("555-555-5555"),
            'addresses[type eq "work"].locality': const("Hollywood"),
            'addresses[type eq "work"].region': const("CA"),
        }
    )
    rep = m.build(bob(), "42", for_create=True)
    assert rep["emails"] == [{"type": "work", "value": "bob@example.org", "primary": True}]
    assert rep["phoneNumbers"] == [{"type": "work", "value": "555-555-5555"}]
    assert rep["addresses"] == [{"type": "work", "locality": "Hollywood", "region": "CA"}]
    no_primary = UserMapping(m.fields, primary=())
    assert "primary" not in no_primary.build(bob(), "42", for_create=True)["emails"][0]


def test_sub_attributes_build_complex_attributes():
    m = UserMapping(
        {
            "userName": "username",
            "name.givenName": "first_name",
            "name.familyName": "last_name",
            f"{ENT}:manager.value": const("m-1"),
        }
    )
    rep = m.build(bob(), "42", for_create=True)
    assert rep["name"] == {"givenName": "Bob", "familyName": "Jensen"}
    assert rep[ENT] == {"manager": {"value": "m-1"}}


def test_core_urn_prefix_is_accepted():
    m = UserMapping({f"{CORE}:userName": "username"})
    assert m.build(bob(), "1", for_create=True)["userName"] == "bob"


def test_group_mapping():
    m = GroupMapping({"displayName": "name"})
    rep = m.build({"name": "Admins"}, "g7", for_create=True)
    assert rep == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Admins",
        "externalId": "g7",
    }
    assert m.matching == ("externalId", "displayName")
    assert m.match_values(rep) == [("externalId", "g7"), ("displayName", "admins")]


# --------------------------------------------------------------------- problems


def test_all_problems_reported_at_once_with_key_and_attribute():
    def boom(u):
        raise RuntimeError("no title today")

    m = UserMapping(
        {
            "userName": "username",
            "title": computed(boom),
            "nickName": "nick",
            "displayName": template("{first_name} {middle}"),
            "active": source("email", transforms=["bool"]),
        }
    )
    rep, problems = m.build_checked(bob(), "42", for_create=True)
    assert rep["userName"] == "bob"
    assert [p.attribute for p in problems] == ["title", "nickName", "displayName", "active"]
    assert [p.rule for p in problems] == [
        "mapping_failed",
        "source_missing",
        "source_missing",
        "transform_failed",
    ]
    msgs = [p.message for p in problems]
    assert msgs[0] == "user 42: title: computed value failed: RuntimeError: no title today"
    assert msgs[1] == "user 42: nickName: source attribute 'nick' is missing on LocalUser"
    assert msgs[2] == "user 42: displayName: source attribute 'middle' is missing on LocalUser"
    assert msgs[3].startswith("user 42: active: transform 'bool' failed: ValueError:")
    assert all(p.key == "42" for p in problems)
    with pytest.raises(ValidationError) as ei:
        m.build(bob(), "42", for_create=True)
    assert ei.value.kind == "user"
    assert ei.value.key == "42"
    assert len(ei.value.problems) == 4
    assert "user 42 is invalid: user 42: title" in str(ei.value)


def test_missing_key_in_a_dict_source_is_a_problem():
    m = GroupMapping({"displayName": "name"})
    _, problems = m.build_checked({}, "g1", for_create=True)
    assert (
        problems[0].message == "group g1: displayName: source attribute 'name' is missing on dict"
    )


# -------------------------------------------------------------------- transforms


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ("strip", "  a b ", "a b"),
        ("lower", "AbC", "abc"),
        ("upper", "AbC", "ABC"),
        ("title", "ada lovelace", "Ada Lovelace"),
        ("casefold", "Straße", "strasse"),
        ("collapse_whitespace", "  a \t\n b  ", "a b"),
        ("remove_whitespace", " a b\tc ", "abc"),
        ("str", 42, "42"),
        ("str", True, "true"),
        ("bool", "Yes", True),
        ("bool", "0", False),
        ("bool", 0, False),
        ("bool", "", False),
        ("email_local_part", "bob@example.org", "bob"),
        ("email_local_part", "no-at-sign", "no-at-sign"),
        ("email_domain", "bob@example.org", "example.org"),
        ("ascii_fold", "Zoë Ñandú", "Zoe Nandu"),
        ("nfc", "e\u0301", "\u00e9"),
        ("none_if_empty", "  ", None),
        ("none_if_empty", [], None),
        ("truncate(3)", "abcdef", "abc"),
        ("replace('-', '')", "555-1234", "5551234"),
        ("prefix('x-')", "y", "x-y"),
        ("suffix('@corp')", "bob", "bob@corp"),
    ],
)
def test_builtin_transforms(spec, value, expected):
    assert resolve_transform(spec)(value) == expected


def test_transforms_leave_non_strings_alone_and_none_short_circuits():
    for name in ("strip", "lower", "upper", "title", "collapse_whitespace", "email_local_part"):
        assert resolve_transform(name)(5) == 5
    calls = []
    m = UserMapping(
        {
            "userName": "username",
            "title": source("profile.dept", transforms=["strip", calls.append]),
        }
    )
    m.build(bob(profile=None), "1", for_create=True)
    assert calls == []  # transforms never see None


def test_transform_errors():
    with pytest.raises(ConfigurationError) as ei:
        resolve_transform("shout")
    assert "unknown transform 'shout'; known: " in str(ei.value)
    for name in ("strip", "lower", "truncate", "email_local_part"):
        assert name in str(ei.value)
    with pytest.raises(ConfigurationError, match="needs arguments"):
        resolve_transform("truncate")
    with pytest.raises(ConfigurationError, match="positive integer"):
        resolve_transform("truncate(0)")
    with pytest.raises(ConfigurationError, match="takes no arguments"):
        resolve_transform("strip(1)")
    with pytest.raises(ConfigurationError, match="literals"):
        resolve_transform("truncate(n)")
    with pytest.raises(ConfigurationError, match="name or a callable"):
        resolve_transform(3)
    assert truncate(2)("abc") == "ab"
    assert "collapse_whitespace" in known_transforms()


def test_callable_transforms_in_python():
    m = UserMapping({"userName": source("username", transforms=[str.upper, truncate(2)])})
    assert m.build(bob(), "1", for_create=True)["userName"] == "BO"


# ---------------------------------------------------------------------- matching


def test_match_values_precedence_and_normalisation():
    m = UserMapping(
        {
            "userName": source("username"),
            'emails[type eq "work"].value': "email",
        }
    )
    rep = m.build(bob(username="Bob.Jensen", email="Bob@Example.org"), "42", for_create=True)
    assert m.matching == ("externalId", "userName", "emails.value")
    assert m.match_values(rep) == [
        ("externalId", "42"),
        ("userName", "bob.jensen"),
        ("emails.value", "bob@example.org"),
    ]
    assert m.match_values(rep, normalise=False)[1] == ("userName", "Bob.Jensen")
    # a remote rep read from the server normalises the same way
    remote = {
        "id": "abc",
        "userName": "BOB.JENSEN",
        "externalId": "42",
        "emails": [{"value": "bob@EXAMPLE.org", "primary": True}, {"value": "b2@x.org"}],
        "meta": {"resourceType": "User"},
    }
    assert m.match_values(remote) == [
        ("externalId", "42"),
        ("userName", "bob.jensen"),
        ("emails.value", "bob@example.org"),
        ("emails.value", "b2@x.org"),
    ]
    # externalId stays case-exact
    assert UserMapping({}, matching=["externalId"]).match_values({"externalId": "AbC"}) == [
        ("externalId", "AbC")
    ]


def test_custom_matching_rules():
    m = UserMapping({"userName": "username"}, matching=["userName", f"{ENT}:employeeNumber"])
    rep = {"userName": "x", ENT: {"employeeNumber": 7}}
    assert m.match_values(rep) == [("userName", "x"), (f"{ENT}:employeeNumber", "7")]
    assert m.match_values({}) == []


# -------------------------------------------------------------------- TOML form


def test_from_dict_full_example(monkeypatch):
    mod = types.ModuleType("myapp_scim_test")
    mod.title_for = lambda u: f"{u.first_name} the Great"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "myapp_scim_test", mod)
    table = {
        "userName": {"source": "email", "transforms": ["strip", "lower"]},
        "name.givenName": "first_name",
        "displayName": {"template": "{first_name} {last_name}"},
        "active": {"const": True},
        "title": {"callable": "myapp_scim_test:title_for"},
        "nickName": {"source": "profile.dept", "default": "none", "create_only": True},
        "locale": {"source": "first_name", "transforms": "truncate(2)"},
        "matching": ["externalId", "userName"],
    }
    m = UserMapping.from_dict(table, where="targets.aws.user_mapping")
    assert m.matching == ("externalId", "userName")
    assert m.create_only_paths == ("nickName",)
    rep = m.build(bob(profile=None), "42", for_create=True)
    assert rep == {
        "schemas": [CORE],
        "userName": "bob@example.org",
        "name": {"givenName": "Bob"},
        "displayName": "Bob Jensen",
        "active": True,
        "title": "Bob the Great",
        "nickName": "none",
        "locale": "Bo",
        "externalId": "42",
    }


def test_from_dict_over_a_base_mapping():
    base = GroupMapping({"displayName": "name", "externalId": "slug"})
    m = GroupMapping.from_dict({"displayName": "title", "externalId": False}, base=base)
    assert m.build({"title": "T", "slug": "s"}, "g1", for_create=True)["displayName"] == "T"
    assert m.build({"title": "T", "slug": "s"}, "g1", for_create=True)["externalId"] == "g1"
    assert m.matching == base.matching


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"userName": {"source": "email", "transforms": ["shout"]}},
            "targets.aws.user_mapping.userName.transforms: unknown transform 'shout'; known: ",
        ),
        (
            {"userName": {"source": "a", "template": "b"}},
            "targets.aws.user_mapping.userName: give exactly one of source, template, const, callable (got source, template)",
        ),
        (
            {"userName": {}},
            "targets.aws.user_mapping.userName: give exactly one of source, template, const, callable (got none)",
        ),
        (
            {"userName": {"source": "a", "colour": "red"}},
            "targets.aws.user_mapping.userName: unknown key(s) 'colour'",
        ),
        (
            {"userName": 3},
            "targets.aws.user_mapping.userName: expected an attribute name or a table",
        ),
        (
            {"emails[type eq work].value": "email"},
            "targets.aws.user_mapping.emails[type eq work].value: cannot read SCIM path",
        ),
        (
            {"title": {"callable": "nomodule_xyz:f"}},
            "targets.aws.user_mapping.title.callable: cannot import module 'nomodule_xyz'",
        ),
        ({"title": {"callable": "os.path"}}, "'module:function'"),
        ({"title": {"callable": "os:no_such_fn"}}, "module 'os' has no attribute 'no_such_fn'"),
        ({"title": {"callable": "os:sep"}}, "is not callable"),
        ({"title": {"template": "{}"}}, "targets.aws.user_mapping.title.template: template '{}'"),
        ({"title": {"const": 1, "default": 2}}, "const takes no default"),
        (
            {"title": {"source": "x", "create_only": "yes"}},
            "title.create_only: expected true or false",
        ),
        ({"title": {"source": 5}}, "title.source: source must be an attribute name"),
        (
            {"matching": "userName"},
            "targets.aws.user_mapping.matching: expected a list of attribute names",
        ),
        ({"external_id_from_key": "no"}, "external_id_from_key: expected true or false"),
        ({"title": {"source": "x", "transforms": 5}}, "title.transforms: expected a list"),
    ],
)
def test_from_dict_errors_name_the_key_path(table, message):
    with pytest.raises(ConfigurationError) as ei:
        UserMapping.from_dict(table, where="targets.aws.user_mapping")
    assert message in str(ei.value)


def test_from_dict_needs_a_table():
    with pytest.raises(ConfigurationError, match="expected a table"):
        UserMapping.from_dict(["userName"], where="x")  # type: ignore[arg-type]


def test_bad_python_construction():
    with pytest.raises(ConfigurationError, match="source\\(\\) needs an attribute name"):
        source("a..b")
    with pytest.raises(ConfigurationError, match="needs a callable"):
        computed("nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must be source\\(\\), template\\(\\)"):
        UserMapping({"userName": 5})
    with pytest.raises(ConfigurationError, match="cannot read SCIM path"):
        UserMapping({"emails[": "x"})


def test_with_fields_adds_replaces_and_removes():
    m = UserMapping({"userName": "username", "title": const("x")})
    m2 = m.with_fields({"title": None, "nickName": "first_name"})
    assert set(m2.field_map) == {"userName", "nickName"}
    assert set(m.field_map) == {"userName", "title"}  # frozen: original untouched


# ------------------------------------------------------------------------- paths


def test_parse_path_shapes():
    p = parse_path('emails[type eq "work"].value')
    assert (p.urn, p.attr, p.filter, p.sub) == (None, "emails", ("type", "work"), "value")
    p = parse_path(f"{ENT}:manager.value")
    assert (p.urn, p.attr, p.sub) == (ENT, "manager", "value")
    p = parse_path('emails[type eq "a \\"b\\""]')
    assert p.filter == ("type", 'a "b"')
    with pytest.raises(ConfigurationError, match="names a schema but no attribute"):
        parse_path(f"{ENT}:")


def test_path_get_set_delete_roundtrip():
    rep: dict = {}
    p = parse_path('emails[type eq "work"].value')
    p.set(rep, "a@x", primary=True)
    p.set(rep, "b@x")
    assert rep == {"emails": [{"type": "work", "primary": True, "value": "b@x"}]}
    assert p.get(rep) == "b@x"
    p.delete(rep)
    assert rep == {"emails": [{"type": "work", "primary": True}]}
    q = parse_path(f"{ENT}:department")
    q.set(rep, "Ops")
    assert q.get(rep) == "Ops"
    q.delete(rep)
    assert ENT not in rep
