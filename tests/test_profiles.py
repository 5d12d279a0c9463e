"""Target profiles: AWS and generic rules, messages, missing-name policy, SPC refinement,
custom profiles, and the registry (including real entry points)."""

from __future__ import annotations

import sys
import textwrap
from types import SimpleNamespace as NS

import attrs
import pytest

from scimsync import (
    AWS,
    GENERIC,
    ConfigurationError,
    MissingNames,
    Profile,
    UserMapping,
    get_profile,
    register_profile,
    register_transform,
    source,
)
from scimsync._transforms import _registry as transform_registry
from scimsync._transforms import resolve_transform
from scimsync.profiles import StringRule
from scimsync.profiles._base import _profiles

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def good_user(**kw):
    rep = {
        "schemas": [CORE],
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs Jensen",
        "active": True,
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
        "externalId": "42",
    }
    rep.update(kw)
    return rep


def messages(problems):
    return [p.message for p in problems]


# ---------------------------------------------------------------------- AWS rules


def test_aws_accepts_the_documented_full_user():
    rep = good_user(
        nickName="Babs",
        title="Tour Guide",
        userType="Employee",
        preferredLanguage="en-US",
        locale="en-US",
        timezone="America/Los_Angeles",
        addresses=[
            {
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "type": "work",
                "primary": True,
            }
        ],
        phoneNumbers=[{"value": "555-555-5555", "type": "work"}],
        roles=[{"value": "Researcher", "type": "work", "primary": True}],
        **{
            ENT: {
                "employeeNumber": "701984",
                "department": "Tour Operations",
                "manager": {"value": "9067729b3d-ee533c18"},
            }
        },
    )
    assert AWS.validate_user(rep, "42") == []


def test_aws_required_names_message_form():
    rep = good_user(name={"givenName": "Barbara"})
    del rep["displayName"]
    assert messages(AWS.validate_user(rep, "42")) == [
        "user 42: name.familyName is required by the aws profile",
        "user 42: displayName is required by the aws profile",
    ]
    assert [p.rule for p in AWS.validate_user(rep, "42")] == ["required", "required"]
    assert all(p.key == "42" for p in AWS.validate_user(rep, "42"))


def test_aws_every_problem_at_once():
    rep = good_user(
        userName="bad name " + "x" * 130,
        name={"givenName": "\u200b", "familyName": ""},
        emails=[{"value": "a@x"}, {"value": "b@x", "display": "B"}],
        phoneNumbers=[{"value": "1"}, {"value": "2"}],
        active="true",
        photos=[{"value": "http://x"}],
        password="hunter2",
        externalId="has space",
        title="t" * 1025,
        **{ENT: {"manager": {"value": "m", "displayName": "Boss"}}},
    )
    got = messages(AWS.validate_user(rep, "7"))
    assert got == [
        "user 7: name.familyName is required by the aws profile",
        "user 7: active must be a boolean (got str)",
        "user 7: emails.display is not supported by the aws profile",
        "user 7: password is not supported by the aws profile",
        "user 7: photos is not supported by the aws profile",
        f"user 7: {ENT}:manager.displayName is not supported by the aws profile",
        "user 7: emails may hold only one value on the aws profile (got 2)",
        "user 7: phoneNumbers may hold only one value on the aws profile (got 2)",
        "user 7: emails[0].primary must be true for the aws profile",
        "user 7: emails[1].primary must be true for the aws profile",
        "user 7: userName must be at most 128 characters on the aws profile (got 139)",
        "user 7: userName must not contain whitespace on the aws profile (U+0020 SPACE)",
        "user 7: title must be at most 1024 characters on the aws profile (got 1025)",
        "user 7: name.givenName contains a character the aws profile does not allow "
        "(U+200B ZERO WIDTH SPACE)",
        "user 7: externalId must not contain whitespace on the aws profile (U+0020 SPACE)",
    ]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("José Núñez", True),  # accented letters, space
        ("O'Brien-Smith", True),  # punctuation
        ("Zoë\u00a0Ng", True),  # non-breaking space
        ("山田\u3000太郎", True),  # ideographic space (allowed in names)
        ("€uro ★", True),  # symbols
        (" ", True),  # the AWS placeholder
        ("a\u200bb", False),  # zero-width space, Cf
        ("a\x00b", False),  # control
        ("a\u2028b", False),  # line separator, Zl
    ],
)
def test_aws_name_characters(value, ok):
    rep = good_user(name={"givenName": value, "familyName": "J"})
    problems = AWS.validate_user(rep, "1")
    assert (problems == []) is ok, messages(problems)


@pytest.mark.parametrize(
    ("user_name", "rule"),
    [
        ("bjensen@example.com", None),
        ("björn.ø", None),
        ("x" * 128, None),
        ("x" * 129, "max_length"),
        ("a\tb", "whitespace"),
        ("a\u00a0b", "whitespace"),
        ("a\u200bb", "characters"),
        ("", "required"),
    ],
)
def test_aws_user_name_rules(user_name, rule):
    problems = AWS.validate_user(good_user(userName=user_name), "1")
    assert [p.rule for p in problems] == ([rule] if rule else [])
    if problems:
        assert problems[0].attribute == "userName"


def test_aws_group_rules():
    assert AWS.validate_group({"schemas": [GROUP], "displayName": "Admins"}, "g1") == []
    problems = AWS.validate_group(
        {
            "schemas": [GROUP],
            "externalId": "a b",
            "members": [{"value": str(i)} for i in range(101)],
        },
        "g1",
    )
    assert messages(problems) == [
        "group g1: displayName is required by the aws profile",
        "group g1: members may hold at most 100 members in one request on the aws profile (got 101)",
        "group g1: externalId must not contain whitespace on the aws profile (U+0020 SPACE)",
    ]
    # U+3000 is allowed in user names but not in group names (Identity Store model)
    assert [p.rule for p in AWS.validate_group({"displayName": "a\u3000b"}, "g")] == ["characters"]


def test_aws_capabilities():
    assert AWS.page_size == 100
    assert AWS.pagination == "cursor"
    assert AWS.max_members_per_patch == 100
    assert AWS.group_members_readable is False
    assert AWS.member_read == "users_by_group_filter"
    assert AWS.supports_or_filters is False
    assert AWS.requires_user_agent is True
    assert AWS.filterable_user_attributes == ("userName", "externalId", "groups.value")
    assert AWS.filterable_group_attributes == ("displayName", "externalId", "members.value")
    assert "roles" not in AWS.patchable_user_attributes
    assert AWS.unremovable_user_attributes == {"userName", "active"}
    assert AWS.supports_group_put is False


# ------------------------------------------------------------------ generic rules


def test_generic_rules_are_light():
    rep = {"schemas": [CORE], "userName": "a b", "emails": [{"value": "1"}, {"value": "2"}]}
    assert GENERIC.validate_user(rep, "1") == []
    bad = {
        "emails": {"value": "x"},
        "active": 1,
        "phoneNumbers": [{"value": "1", "primary": True}, {"value": "2", "primary": True}],
    }
    assert messages(GENERIC.validate_user(bad, "1")) == [
        "user 1: userName is required by the generic profile",
        "user 1: active must be a boolean (got int)",
        "user 1: emails must be a list",
        "user 1: phoneNumbers may have only one primary value",
    ]
    assert messages(GENERIC.validate_group({"members": ["u1"]}, "g")) == [
        "group g: displayName is required by the generic profile",
        "group g: members must be a list of objects",
    ]


# -------------------------------------------------------------- missing names


def test_aws_default_placeholder_is_an_ascii_space():
    rep = good_user(name={"givenName": "Cher"})
    del rep["displayName"]
    fixed, problems = AWS.check_user(rep, "1")
    assert problems == []
    assert fixed["name"] == {"givenName": "Cher", "familyName": " "}
    assert fixed["displayName"] == "Cher"
    assert rep["name"] == {"givenName": "Cher"}  # input untouched


def test_missing_names_no_names_at_all_display_from_user_name():
    rep = {"schemas": [CORE], "userName": "cher", "active": True}
    fixed, problems = AWS.check_user(rep, "1")
    assert problems == []
    assert fixed["name"] == {"givenName": " ", "familyName": " "}
    assert fixed["displayName"] == "cher"


def test_missing_names_fail_and_fill():
    fail = attrs.evolve(AWS, missing_names=MissingNames("fail"))
    rep = good_user(name={"givenName": "Cher"})
    _, problems = fail.check_user(rep, "9")
    assert messages(problems) == ["user 9: name.familyName is required by the aws profile"]

    fill = attrs.evolve(AWS, missing_names=MissingNames("fill", from_attribute="displayName"))
    fixed, problems = fill.check_user(good_user(name={}, displayName="Cher"), "9")
    assert problems == []
    assert fixed["name"] == {"givenName": "Cher", "familyName": "Cher"}
    # nothing to fill from: still reported
    rep = good_user(name={"givenName": "A"})
    del rep["displayName"]
    fill_un = attrs.evolve(AWS, missing_names=MissingNames("fill", from_attribute="nickName"))
    fixed, problems = fill_un.check_user(rep, "9")
    assert messages(problems) == ["user 9: name.familyName is required by the aws profile"]
    assert fixed["displayName"] == "A"


def test_zero_width_placeholder_is_caught_by_validation():
    zw = attrs.evolve(AWS, missing_names=MissingNames("placeholder", value="\u200b"))
    _, problems = zw.check_user(good_user(name={"givenName": "A"}), "3")
    assert [p.rule for p in problems] == ["characters"]


def test_missing_names_bad_settings():
    with pytest.raises(ConfigurationError, match="'fail', 'fill' or 'placeholder'"):
        MissingNames("guess")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="non-empty"):
        MissingNames("placeholder", value="")


# -------------------------------------------------------------- default mappings


def test_aws_default_user_mapping_from_a_django_style_user():
    u = NS(
        username="bjensen",
        email=" bjensen@example.com",
        first_name="Barbara",
        last_name="Jensen",
        is_active=True,
    )
    m = AWS.default_user_mapping()
    rep = m.build(u, "42", for_create=True)
    assert rep == {
        "schemas": [CORE],
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Barbara Jensen",
        "emails": [{"type": "work", "primary": True, "value": "bjensen@example.com"}],
        "active": True,
        "externalId": "42",
    }
    assert AWS.check_user(rep, "42") == (rep, [])
    g = AWS.default_group_mapping().build(NS(name="Admins"), "7", for_create=True)
    assert g["displayName"] == "Admins"
    assert g["externalId"] == "7"
    assert AWS.validate_group(g, "7") == []


def test_mononym_user_end_to_end_with_aws_defaults():
    u = NS(username="cher", email="", first_name="Cher", last_name="", is_active=False)
    rep = AWS.default_user_mapping().build(u, "5", for_create=True)
    assert "emails" not in rep
    fixed, problems = AWS.check_user(rep, "5")
    assert problems == []
    assert fixed["name"]["familyName"] == " "
    assert fixed["displayName"] == "Cher"
    assert fixed["active"] is False


# ------------------------------------------------------------------ SPC refinement


def test_generic_with_service_provider_config():
    spc = {
        "patch": {"supported": False},
        "filter": {"supported": True, "maxResults": 50},
        "etag": {"supported": True},
        "pagination": {"cursor": True, "index": False, "maxPageSize": 25},
    }
    p = GENERIC.with_service_provider_config(spc)
    assert (p.user_update, p.group_update) == ("put", "put")
    assert p.page_size == 25
    assert p.supports_etag is True
    assert p.pagination == "cursor"
    assert GENERIC.user_update == "patch"  # original untouched
    nofilter = GENERIC.with_service_provider_config({"filter": {"supported": False}})
    assert nofilter.filterable_user_attributes == ()
    assert GENERIC.with_service_provider_config({"patch": "yes", "filter": None}) is GENERIC
    assert GENERIC.with_service_provider_config("garbage") is GENERIC  # type: ignore[arg-type]


def test_aws_ignores_its_stale_service_provider_config():
    spc = {"patch": {"supported": True}, "filter": {"supported": True, "maxResults": 50}}
    assert AWS.with_service_provider_config(spc) is AWS


# ------------------------------------------------------------------ custom profiles


def test_custom_profile_without_touching_core():
    acme = attrs.evolve(
        GENERIC,
        name="acme",
        max_members_per_patch=20,
        required_user_attributes=frozenset({"userName", "emails"}),
        string_rules=(StringRule(("userName",), max_length=8, allow_whitespace=False),),
        extra_user_checks=(
            lambda rep, key, prof: (
                []
                if str(rep.get("userName", "")).islower()
                else [prof._p("user", key, "userName", "lowercase", "must be lowercase for acme")]
            ),
        ),
    )
    assert messages(acme.validate_user({"userName": "Bob Smith9"}, "4")) == [
        "user 4: emails is required by the acme profile",
        "user 4: userName must be at most 8 characters on the acme profile (got 10)",
        "user 4: userName must not contain whitespace on the acme profile (U+0020 SPACE)",
        "user 4: userName must be lowercase for acme",
    ]


def test_profile_constructor_validates():
    with pytest.raises(ConfigurationError, match="pagination must be 'index' or 'cursor'"):
        Profile(name="x", pagination="page")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="user_update must be 'patch' or 'put'"):
        Profile(name="x", user_update="post")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="member_read"):
        Profile(name="x", member_read="scan")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_members_per_patch must be a positive"):
        Profile(name="x", max_members_per_patch=0)
    with pytest.raises(ConfigurationError, match="non-empty"):
        Profile(name="")
    assert (
        Profile(name="bare")
        .default_user_mapping()
        .build({"username": "u"}, "1", for_create=True)["userName"]
        == "u"
    )


# ---------------------------------------------------------------------- registry


@pytest.fixture
def clean_registries():
    _profiles.clear_cache()
    transform_registry.clear_cache()
    yield
    _profiles.clear_cache()
    transform_registry.clear_cache()


def test_get_profile_builtins_and_registered(clean_registries):
    assert get_profile("aws") is AWS
    assert get_profile("generic") is GENERIC
    mine = attrs.evolve(GENERIC, name="mine")
    register_profile(mine)
    assert get_profile("mine") is mine
    with pytest.raises(ConfigurationError, match="already registered"):
        register_profile(mine)
    register_profile(attrs.evolve(mine, page_size=10), replace=True)
    assert get_profile("mine").page_size == 10
    with pytest.raises(ConfigurationError, match="built in"):
        register_profile(attrs.evolve(GENERIC, name="aws"))
    with pytest.raises(ConfigurationError) as ei:
        get_profile("nope")
    assert "unknown profile 'nope'; known: " in str(ei.value)
    assert "aws" in str(ei.value)
    assert "mine" in str(ei.value)
    with pytest.raises(ConfigurationError, match="needs a Profile"):
        register_profile("aws")  # type: ignore[arg-type]


def test_register_transform_plain_and_factory(clean_registries):
    register_transform("reverse", lambda v: v[::-1])
    register_transform("repeat", lambda n: lambda v: v * n, factory=True)
    m = UserMapping({"userName": source("username", transforms=["reverse", "repeat(2)"])})
    assert m.build({"username": "ab"}, "1", for_create=True)["userName"] == "baba"
    with pytest.raises(ConfigurationError, match="built in"):
        register_transform("strip", str.strip)


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch, clean_registries):
    """A real installed distribution: a module plus a dist-info with entry_points.txt."""
    (tmp_path / "acme_scim_plugin.py").write_text(
        textwrap.dedent(
            """
            import attrs
            from scimsync import GENERIC

            ACME = attrs.evolve(GENERIC, name="acme", page_size=7, pagination="cursor")
            LOADS = []

            def shout(value):
                LOADS.append(value)
                return value.upper() + "!"

            def times(n):
                return lambda v: v * n
            times.scimsync_factory = True

            BROKEN = None
            """
        )
    )
    dist = tmp_path / "acme_scim_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-scim-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [scimsync.profiles]
            acme = acme_scim_plugin:ACME
            notaprofile = acme_scim_plugin:BROKEN
            boom = acme_scim_plugin_missing:X

            [scimsync.transforms]
            shout = acme_scim_plugin:shout
            times = acme_scim_plugin:times
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("acme_scim_plugin", None)


def test_entry_point_profile_and_transforms(plugin_dist):
    assert "acme_scim_plugin" not in sys.modules  # lazy: nothing loaded yet
    prof = get_profile("acme")
    assert prof.name == "acme"
    assert prof.page_size == 7
    assert get_profile("acme") is prof  # cached
    assert resolve_transform("shout")("hi") == "HI!"
    assert resolve_transform("times(3)")("ab") == "ababab"
    m = UserMapping.from_dict({"userName": {"source": "u", "transforms": ["shout"]}})
    assert m.build({"u": "bob"}, "1", for_create=True)["userName"] == "BOB!"
    with pytest.raises(ConfigurationError) as ei:
        get_profile("nope")
    assert "acme" in str(ei.value)  # entry point names are listed as known
    with pytest.raises(ConfigurationError, match="did not give a scimsync Profile"):
        get_profile("notaprofile")
    with pytest.raises(ConfigurationError, match="failed to load: ModuleNotFoundError"):
        get_profile("boom")
    with pytest.raises(ConfigurationError) as ei:
        resolve_transform("whisper")
    assert "shout" in str(ei.value)


def test_aws_string_type_and_empty_optional_strings():
    rep = good_user(title="", nickName=5, emails=[{"value": "", "type": "work", "primary": True}])
    assert messages(AWS.validate_user(rep, "8")) == [
        "user 8: nickName must be a string (got int)",
        "user 8: title must not be empty on the aws profile",
        "user 8: emails.value must not be empty on the aws profile",
    ]
    assert [p.rule for p in AWS.validate_user(rep, "8")] == ["type", "min_length", "min_length"]


def test_aws_unsupported_groups_and_sub_attributes():
    rep = good_user(
        groups=[{"value": "g1"}],
        addresses=[{"locality": "X", "display": "X"}],
        phoneNumbers=[{"value": "1", "display": "1"}],
    )
    assert messages(AWS.validate_user(rep, "2")) == [
        "user 2: addresses.display is not supported by the aws profile",
        "user 2: groups is not supported by the aws profile",
        "user 2: phoneNumbers.display is not supported by the aws profile",
    ]


def test_group_members_must_be_a_list():
    assert messages(GENERIC.validate_group({"displayName": "g", "members": "u1"}, "g")) == [
        "group g: members must be a list"
    ]


def test_from_dict_primary_and_external_id_keys():
    m = UserMapping.from_dict(
        {
            "userName": "u",
            'emails[type eq "work"].value': "e",
            "primary": [],
            "external_id_from_key": False,
        }
    )
    rep = m.build({"u": "a", "e": "a@x"}, "1", for_create=True)
    assert rep["emails"] == [{"type": "work", "value": "a@x"}]
    assert "externalId" not in rep
