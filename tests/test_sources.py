"""Sources: IterableSource, CSVSource, JSONSource (formats, bad rows, streaming)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tracemalloc
from pathlib import Path

import pytest

from scimsync import ConfigurationError, CSVSource, IterableSource, JSONSource, Source
from scimsync._sources import SourceProblem, change_marker, source_problems


@dataclasses.dataclass
class U:
    pk: int
    name: str
    updated_at: dt.datetime | None = None


@dataclasses.dataclass
class G:
    pk: int
    title: str
    people: list[U]


def test_iterable_source_over_objects() -> None:
    ada, bob = U(1, "ada", dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)), U(2, "bob")
    src = IterableSource(
        [ada, bob],
        [G(10, "eng", [ada, bob]), G(11, "empty", [])],
        key="pk",
        members="people",
        marker="updated_at",
    )
    assert isinstance(src, Source)
    assert list(src.iter_user_keys()) == ["1", "2"]
    assert list(src.iter_group_keys()) == ["10", "11"]
    assert src.get_user("1") is ada
    assert src.get_user("3") is None
    assert src.get_group("11") is not None
    assert src.group_member_keys("10") == ["1", "2"]
    assert src.group_member_keys("11") == []
    assert src.group_member_keys("404") == []
    assert change_marker(src, "user", "1") == "2026-01-02T00:00:00+00:00"
    assert change_marker(src, "user", "2") is None
    assert source_problems(src) == []


def test_iterable_source_over_dicts_with_callables() -> None:
    users = [{"profile": {"uid": 7}, "n": "a"}, {"profile": {"uid": "8"}, "n": "b"}]
    groups = [{"id": "g", "members": ["7", 8, {"profile": {"uid": 7}}]}]
    src = IterableSource(users, groups, key="profile.uid", group_key=lambda g: g["id"])
    assert list(src.iter_user_keys()) == ["7", "8"]
    assert src.group_member_keys("g") == ["7", "8"]
    assert change_marker(src, "user", "7") is None  # no marker configured


def test_iterable_source_rejects_bad_keys() -> None:
    with pytest.raises(ConfigurationError, match="key '1' is used twice"):
        IterableSource([{"id": 1}, {"id": "1"}])
    with pytest.raises(ConfigurationError, match=r"user #1 .* has no key"):
        IterableSource([{"id": 1}, {"name": "x"}])
    with pytest.raises(ConfigurationError, match="members must be a collection"):
        IterableSource([], [{"id": "g", "members": "1;2"}]).group_member_keys("g")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_users_groups_and_memberships(tmp_path: Path) -> None:
    users = _write(
        tmp_path / "users.csv",
        "\ufeffid,userName,title,updated_at\n"
        '1,ada@x.org,"Chief, Engine",2026-01-01\n'
        '2,bob@x.org,"two\nlines",2026-01-02\n'
        "\n"
        "3,cy@x.org,,2026-01-03\n",
    )
    groups = _write(
        tmp_path / "groups.csv", "id,displayName,members\neng,Engineering,1;2\nops,Ops,\n"
    )
    pairs = _write(tmp_path / "pairs.csv", "group,user\nops,3\neng,3\neng,1\n")
    with CSVSource(users, groups, memberships_path=pairs, marker_column="updated_at") as src:
        assert isinstance(src, Source)
        assert list(src.iter_user_keys()) == ["1", "2", "3"]
        assert src.get_user("3") == {
            "id": "3",
            "userName": "cy@x.org",
            "title": None,
            "updated_at": "2026-01-03",
        }
        user2 = src.get_user("2")
        assert user2 is not None
        assert user2["title"] == "two\nlines"
        assert src.get_user("1") == {
            "id": "1",
            "userName": "ada@x.org",
            "title": "Chief, Engine",
            "updated_at": "2026-01-01",
        }
        assert src.get_user("9") is None
        assert list(src.iter_group_keys()) == ["eng", "ops"]
        group = src.get_group("eng")
        assert group is not None
        assert group["displayName"] == "Engineering"
        assert src.group_member_keys("eng") == ["1", "2", "3"]
        assert src.group_member_keys("ops") == ["3"]
        assert src.change_marker("user", "2") == "2026-01-02"
        assert src.problems == []


def test_csv_bad_rows_are_skipped_and_named(tmp_path: Path) -> None:
    users = _write(
        tmp_path / "users.csv",
        "id,userName,email\n"
        "1,ada,a@x\n"
        "2,bob\n"  # line 3: too few cells
        ",nokey,n@x\n"  # line 4: empty key
        "1,dup,d@x\n"  # line 5: duplicate
        "5,eve,e@x,extra\n"  # line 6: too many
        "6,fay,f@x\n",
    )
    src = CSVSource(users)
    assert list(src.iter_user_keys()) == ["1", "6"]
    user = src.get_user("1")
    assert user is not None
    assert user["userName"] == "ada"
    problems = src.problems
    assert [(p.line, p.column) for p in problems] == [
        (3, None),
        (4, "id"),
        (5, "id"),
        (6, None),
    ]
    assert str(problems[0]) == f"{users}, line 3: expected 3 cells as in the header, got 2"
    assert str(problems[2]) == f"{users}, line 5, column 'id': key '1' already used on line 2"
    assert source_problems(src) == problems
    src.close()


def test_csv_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        list(CSVSource(tmp_path / "missing.csv").iter_user_keys())
    bad = _write(tmp_path / "u.csv", "uid,name\n1,a\n")
    with pytest.raises(ConfigurationError, match=r"u\.csv, line 1: no column 'id'"):
        CSVSource(bad).get_user("1")
    empty = _write(tmp_path / "e.csv", "")
    with pytest.raises(ConfigurationError, match="empty"):
        CSVSource(empty).get_user("1")
    twice = _write(tmp_path / "t.csv", "id,a,a\n1,2,3\n")
    with pytest.raises(ConfigurationError, match="'a' appears twice"):
        CSVSource(twice).get_user("1")
    with pytest.raises(ConfigurationError, match="ASCII-compatible"):
        CSVSource(bad, encoding="utf-16")


def test_csv_refresh_sees_changes(tmp_path: Path) -> None:
    path = _write(tmp_path / "u.csv", "id,name\n1,a\n")
    src = CSVSource(path)
    assert src.get_user("1") == {"id": "1", "name": "a"}
    _write(path, "id,name\n2,b\n1,changed\n")
    src.refresh()
    assert list(src.iter_user_keys()) == ["2", "1"]
    assert src.get_user("1") == {"id": "1", "name": "changed"}
    src.close()


def test_csv_latin1_and_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes("id;name\n1;Jos\xe9\n".encode("latin-1"))
    src = CSVSource(path, encoding="latin-1", delimiter=";")
    assert src.get_user("1") == {"id": "1", "name": "José"}
    src.close()


ROWS = 30_000


@pytest.mark.slow
def test_csv_index_is_small(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id,userName,givenName,familyName,email,title,department\n")
        for i in range(ROWS):
            fh.write(f"{i},u{i}@example.com,Given{i},Family{i},u{i}@example.com,Eng,D{i % 9}\n")
    src = CSVSource(path)
    tracemalloc.start()
    try:
        count = 0
        for key in src.iter_user_keys():
            count += 1
            if count % 1000 == 0:
                user = src.get_user(key)
                assert user is not None
                assert user["id"] == key
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        src.close()
    assert count == ROWS
    # the index holds offsets, not rows (~230 bytes a user measured here, far less than
    # the rows as dicts): 100,000 users stay well under 40 MB
    assert peak / ROWS < 400, peak / ROWS


def test_json_document(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(
        json.dumps(
            {
                "users": [
                    {"id": 1, "userName": "ada", "updatedAt": "t1"},
                    "not an object",
                    {"userName": "nokey"},
                    {"id": "1", "userName": "dup"},
                    {"id": 2, "userName": "bob"},
                ],
                "groups": [
                    {"id": "g", "displayName": "G", "members": [1, {"id": 2}]},
                    {"id": "h", "members": "1,2"},
                ],
            }
        )
    )
    src = JSONSource(path, marker="updatedAt")
    assert isinstance(src, Source)
    assert list(src.iter_user_keys()) == ["1", "2"]
    assert src.get_user("2") == {"id": 2, "userName": "bob"}
    assert list(src.iter_group_keys()) == ["g", "h"]
    assert src.group_member_keys("g") == ["1", "2"]
    assert src.group_member_keys("h") == []
    assert src.change_marker("user", "1") == "t1"
    assert [(p.line, p.column) for p in src.problems] == [
        (None, "users[1]"),
        (None, "users[2].id"),
        (None, "users[3].id"),
        (None, "groups[1].members"),
    ]
    assert "duplicate key '1'" in str(src.problems[2])


def test_json_bare_list_and_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text('[{"id": "a"}]')
    assert list(JSONSource(path).iter_user_keys()) == ["a"]
    path.write_text('{"users": [\n  {"id": "a"},\n  {"id": }\n]}')
    with pytest.raises(ConfigurationError, match=r"users\.json, line 3, column 10: invalid JSON"):
        JSONSource(path).get_user("a")
    path.write_text('{"users": {"id": "a"}}')
    with pytest.raises(ConfigurationError, match="'users' must be a list"):
        JSONSource(path).get_user("a")


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(
        '{"id": "1", "userName": "ada"}\n'
        '{"kind": "user", "id": "2", "userName": "bob"}\n'
        "{broken\n"
        '{"kind": "robot", "id": "x"}\n'
        "\n"
        '{"kind": "group", "id": "g", "members": ["1", "2"]}\n'
        '{"kind": "user", "userName": "nokey"}\n',
        encoding="utf-8",
    )
    with JSONSource(path) as src:
        assert list(src.iter_user_keys()) == ["1", "2"]
        assert src.get_user("2") == {"kind": "user", "id": "2", "userName": "bob"}
        assert src.get_user("1") == {"id": "1", "userName": "ada"}
        assert src.get_group("g") == {"kind": "group", "id": "g", "members": ["1", "2"]}
        assert src.group_member_keys("g") == ["1", "2"]
        problems = src.problems
        assert [(p.line, p.column) for p in problems] == [
            (3, "character 2"),
            (4, "kind"),
            (7, "id"),
        ]
        assert all(isinstance(p, SourceProblem) for p in problems)
        assert str(problems[1]) == f"{path}, line 4, column 'kind': unknown kind 'robot'"
