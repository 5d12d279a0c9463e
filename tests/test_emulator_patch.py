"""Tests for scimsync.testing.apply_patch, the standalone RFC 7644 PATCH applier."""

from __future__ import annotations

import copy

import pytest

from scimsync.testing import PatchError, apply_patch

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def user():
    return {
        "schemas": [CORE],
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs",
        "active": True,
        "emails": [{"type": "work", "value": "b@example.com", "primary": True}],
    }


def test_returns_new_dict_and_leaves_input_alone(user):
    before = copy.deepcopy(user)
    out = apply_patch(user, [{"op": "replace", "path": "displayName", "value": "B"}])
    assert out["displayName"] == "B"
    assert user == before
    assert out is not user


def test_replace_sub_attribute(user):
    out = apply_patch(user, [{"op": "replace", "path": "name.givenName", "value": "Barb"}])
    assert out["name"] == {"givenName": "Barb", "familyName": "Jensen"}


def test_add_sub_attribute_creates_complex(user):
    del user["name"]
    out = apply_patch(user, [{"op": "add", "path": "name.familyName", "value": "J"}])
    assert out["name"] == {"familyName": "J"}


def test_value_filter_with_sub_attribute(user):
    out = apply_patch(
        user, [{"op": "replace", "path": 'emails[type eq "work"].value', "value": "n@example.com"}]
    )
    assert out["emails"] == [{"type": "work", "value": "n@example.com", "primary": True}]


def test_value_filter_replace_without_match_is_no_target(user):
    with pytest.raises(PatchError) as info:
        apply_patch(user, [{"op": "replace", "path": 'emails[type eq "home"].value', "value": "x"}])
    assert info.value.scim_type == "noTarget"
    assert info.value.index == 0


def test_value_filter_add_without_match_creates_element(user):
    out = apply_patch(
        user, [{"op": "add", "path": 'phoneNumbers[type eq "work"].value', "value": "555"}]
    )
    assert out["phoneNumbers"] == [{"type": "work", "value": "555"}]


def test_value_filter_filter_is_case_insensitive_on_strings(user):
    out = apply_patch(user, [{"op": "remove", "path": 'emails[type eq "WORK"]'}])
    assert "emails" not in out


def test_remove_sub_attribute_of_filtered_element(user):
    out = apply_patch(user, [{"op": "remove", "path": 'emails[type eq "work"].primary'}])
    assert out["emails"] == [{"type": "work", "value": "b@example.com"}]


def test_enterprise_urn_path_adds_extension_and_schema(user):
    out = apply_patch(user, [{"op": "add", "path": f"{ENT}:department", "value": "Tours"}])
    assert out[ENT] == {"department": "Tours"}
    assert out["schemas"] == [CORE, ENT]


def test_enterprise_urn_path_with_sub_attribute(user):
    out = apply_patch(user, [{"op": "replace", "path": f"{ENT}:manager.value", "value": "m1"}])
    assert out[ENT] == {"manager": {"value": "m1"}}


def test_removing_last_extension_attribute_drops_extension_and_schema(user):
    user[ENT] = {"department": "Tours"}
    user["schemas"].append(ENT)
    out = apply_patch(user, [{"op": "remove", "path": f"{ENT}:department"}])
    assert ENT not in out
    assert out["schemas"] == [CORE]


def test_core_urn_prefix_is_the_top_level(user):
    out = apply_patch(user, [{"op": "replace", "path": f"{CORE}:userName", "value": "bj"}])
    assert out["userName"] == "bj"


def test_pathless_replace_merges_attributes_and_extensions(user):
    out = apply_patch(
        user,
        [
            {
                "op": "replace",
                "value": {"name": {"givenName": "B2"}, "nickName": "N", ENT: {"division": "D"}},
            }
        ],
    )
    assert out["name"] == {"givenName": "B2", "familyName": "Jensen"}
    assert out["nickName"] == "N"
    assert out[ENT] == {"division": "D"}


def test_pathless_remove_is_rejected(user):
    with pytest.raises(PatchError) as info:
        apply_patch(user, [{"op": "remove"}])
    assert info.value.scim_type == "noTarget"


@pytest.mark.parametrize("op", ["ADD", "Replace", "rEmOvE"])
def test_op_names_are_case_insensitive(user, op):
    value = {} if op.lower() == "remove" else {"value": "T"}
    out = apply_patch(user, [{"op": op, "path": "title", **value}])
    assert out.get("title") == (None if op.lower() == "remove" else "T")


def test_unknown_op_is_invalid_syntax(user):
    with pytest.raises(PatchError) as info:
        apply_patch(user, [{"op": "move", "path": "title", "value": "x"}])
    assert info.value.scim_type == "invalidSyntax"


@pytest.mark.parametrize(
    ("raw", "expected"), [("false", False), ("False", False), ("TRUE", True), (False, False)]
)
def test_boolean_strings_accepted(user, raw, expected):
    out = apply_patch(user, [{"op": "replace", "path": "active", "value": raw}])
    assert out["active"] is expected


def test_boolean_strings_inside_objects(user):
    out = apply_patch(
        user, [{"op": "replace", "path": "emails", "value": [{"value": "z@x", "primary": "true"}]}]
    )
    assert out["emails"] == [{"value": "z@x", "primary": True}]


def test_boolean_strings_left_alone_without_schema_awareness(user):
    out = apply_patch(
        user, [{"op": "replace", "path": "active", "value": "false"}], schema_aware=False
    )
    assert out["active"] == "false"


def test_add_to_multi_valued_appends_without_duplicates():
    group = {"displayName": "g", "members": [{"value": "1"}]}
    out = apply_patch(
        group, [{"op": "add", "path": "members", "value": [{"value": "1"}, {"value": "2"}]}]
    )
    assert out["members"] == [{"value": "1"}, {"value": "2"}]


def test_remove_members_with_value_list_removes_only_those():
    group = {"displayName": "g", "members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]}
    out = apply_patch(group, [{"op": "remove", "path": "members", "value": [{"value": "2"}]}])
    assert out["members"] == [{"value": "1"}, {"value": "3"}]


def test_remove_members_by_value_filter():
    group = {"displayName": "g", "members": [{"value": "1"}, {"value": "2"}]}
    out = apply_patch(group, [{"op": "remove", "path": 'members[value eq "1"]'}])
    assert out["members"] == [{"value": "2"}]


def test_remove_all_members_without_value():
    group = {"displayName": "g", "members": [{"value": "1"}]}
    assert apply_patch(group, [{"op": "remove", "path": "members"}]) == {"displayName": "g"}


def test_replace_multi_valued_replaces_list(user):
    out = apply_patch(user, [{"op": "replace", "path": "emails", "value": [{"value": "n@x"}]}])
    assert out["emails"] == [{"value": "n@x"}]


def test_attribute_names_case_insensitive(user):
    out = apply_patch(user, [{"op": "replace", "path": "USERNAME", "value": "x"}])
    assert out["userName"] == "x"
    assert "USERNAME" not in out


def test_new_attribute_gets_canonical_spelling(user):
    out = apply_patch(user, [{"op": "add", "path": "nickname", "value": "x"}])
    assert out["nickName"] == "x"


def test_null_value_unassigns(user):
    out = apply_patch(user, [{"op": "replace", "path": "displayName", "value": None}])
    assert "displayName" not in out


def test_add_without_value_is_invalid(user):
    with pytest.raises(PatchError) as info:
        apply_patch(user, [{"op": "add", "path": "title"}])
    assert info.value.scim_type == "invalidValue"


@pytest.mark.parametrize("path", ["emails[type eq", "name..x", 'emails[type eq "w"]x', "a.b.c"])
def test_bad_paths_are_invalid_path(user, path):
    with pytest.raises(PatchError) as info:
        apply_patch(user, [{"op": "replace", "path": path, "value": "x"}])
    assert info.value.scim_type == "invalidPath"


def test_operations_apply_in_order(user):
    out = apply_patch(
        user,
        [
            {"op": "add", "path": "title", "value": "one"},
            {"op": "replace", "path": "title", "value": "two"},
            {"op": "remove", "path": "displayName"},
        ],
    )
    assert out["title"] == "two"
    assert "displayName" not in out


def test_failure_leaves_input_untouched(user):
    before = copy.deepcopy(user)
    with pytest.raises(PatchError):
        apply_patch(user, [{"op": "replace", "path": "title", "value": "t"}, {"op": "bogus"}])
    assert user == before


def test_does_not_import_mapping_or_diff():
    """apply_patch is an independent reference: its modules import no scimsync code but
    each other (importing the ``scimsync`` package itself pulls everything in, so the
    check reads the import statements)."""
    import ast
    import pathlib

    import scimsync.testing._filtereval as filtereval
    import scimsync.testing._patch as patch_module

    imported: set[str] = set()
    for module in (patch_module, filtereval):
        tree = ast.parse(pathlib.Path(module.__file__).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    ours = {m for m in imported if m.startswith("scimsync")}
    assert ours == {"scimsync.testing._filtereval"}
