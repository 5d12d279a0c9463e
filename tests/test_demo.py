"""The demo's bundled data and its in-memory source (the demo itself runs in test_cli.py)."""

from __future__ import annotations

import csv
import json

import attrs
import pytest

from scimsync._demo import USER_MAPPING, DemoDirectory, _problem_lines, _visible
from scimsync._mapping import UserMapping
from scimsync.demo_data import DATA_DIR
from scimsync.demo_data.generate import render
from scimsync.profiles import MissingNames, get_profile


def test_shipped_files_are_what_the_generator_writes() -> None:
    for name, text in render().items():
        assert (DATA_DIR / name).read_text(encoding="utf-8") == text, name


def test_sample_directory_shape() -> None:
    with (DATA_DIR / "users.csv").open(encoding="utf-8", newline="") as fh:
        users = list(csv.DictReader(fh))
    groups = json.loads((DATA_DIR / "groups.json").read_text(encoding="utf-8"))
    assert len(users) == 1000
    assert len(groups) == 30
    ids = {u["id"] for u in users}
    assert len({u["username"].lower() for u in users}) == 1000
    assert len({u["email"].lower() for u in users}) == 1000
    assert all(set(g["members"]) <= ids for g in groups)
    assert max(len(g["members"]) for g in groups) > 100
    assert all(u["email"].endswith(".example") for u in users)


def test_exactly_the_four_planted_users_are_invalid_for_aws() -> None:
    directory = DemoDirectory.bundled()
    profile = get_profile("aws")
    mapping = UserMapping.from_dict(USER_MAPPING, where="demo")
    strict = attrs.evolve(profile, missing_names=MissingNames("fail"))
    invalid = {}
    for key in directory.iter_user_keys():
        rep, problems = mapping.build_checked(directory.get_user(key), key, for_create=True)
        assert problems == [], (key, problems)
        rep, problems = strict.check_user(rep, key)
        if problems:
            invalid[key] = {p.attribute for p in problems}
    assert set(invalid) == {"137", "428", "777", "913"}
    assert "name.familyName" in invalid["137"]
    assert "userName" in invalid["428"]
    assert any(a.startswith("emails") for a in invalid["777"])
    assert "name.givenName" in invalid["913"]


def test_day_of_changes_applies_in_order_and_names_what_it_touched() -> None:
    directory = DemoDirectory.bundled()
    changes = json.loads((DATA_DIR / "changes.json").read_text(encoding="utf-8"))
    assert [c["time"] for c in changes] == sorted(c["time"] for c in changes)
    touched = [directory.apply(c) for c in changes]
    by_op = {c["op"]: t for c, t in zip(changes, touched, strict=True)}
    deleted = next(c["key"] for c in changes if c["op"] == "delete_user")
    assert directory.get_user(deleted) is None
    assert ("user", deleted) in by_op["delete_user"]
    # the deleted user was removed from every group it was in, and those groups are touched
    assert all(deleted not in directory.group_member_keys(g) for g in directory.groups)
    assert all(kind == "group" for kind, _ in by_op["delete_user"][1:])
    assert directory.get_group("project-nova") is None
    assert directory.get_group("book-club")["name"] == "Reading Circle"  # type: ignore[index]
    assert directory.get_user("1001")["username"] == "grace.hopper"  # type: ignore[index]
    assert "1001" in directory.group_member_keys("engineering")
    moved = next(c for c in changes if c.get("groups", {}).get("remove") == ["sales"])
    assert moved["key"] not in directory.group_member_keys("sales")
    assert directory.get_user(moved["key"])["department"] == "Engineering"  # type: ignore[index]


def test_change_marker_moves_only_for_changed_objects() -> None:
    directory = DemoDirectory.bundled()
    before = {k: directory.change_marker("user", k) for k in ("732", "1")}
    directory.apply({"op": "update_user", "key": "732", "set": {"last_name": "X"}})
    assert directory.change_marker("user", "732") != before["732"]
    assert directory.change_marker("user", "1") == before["1"]


@pytest.mark.parametrize(
    ("error", "lines"),
    [
        (
            "user 777 is invalid: user 777: emails may hold only one value (got 2); "
            "user 777: emails[1].primary must be true",
            ["emails may hold only one value (got 2)", "emails[1].primary must be true"],
        ),
        ("something else broke", ["something else broke"]),
    ],
)
def test_problem_lines(error: str, lines: list[str]) -> None:
    assert _problem_lines(error) == lines


def test_visible_shows_invisible_characters() -> None:
    assert _visible("Zo\u200be") == "Zo<U+200B>e"
    assert _visible("Łukasz") == "Łukasz"
