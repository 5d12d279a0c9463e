"""Emulator list paging at scale: order, completeness and per-page work (counted, not timed)."""

from __future__ import annotations

from typing import Any

import pytest
from _emulator_support import Api

from scimsync.testing import EmulatorServer

N_USERS = 3000


def _seed_users(server: EmulatorServer, n: int = N_USERS) -> list[str]:
    return [server.seed_user(userName=f"p{i:05d}")["id"] for i in range(n)]


def _cursor_read(
    api: Api, server: EmulatorServer, path: str, per_page: list[int], **params: Any
) -> list[str]:
    """Every id of a full cursor read; ``per_page`` gets the entries scanned per page."""
    seen: list[str] = []
    cursor = ""
    while True:
        before = server.list_items_scanned
        r = api.get(path, params={"cursor": cursor, **params})
        assert r.status_code == 200, r.text
        per_page.append(server.list_items_scanned - before)
        page = r.json()
        assert "totalResults" not in page
        assert "startIndex" not in page
        seen += [res["id"] for res in page["Resources"]]
        if "nextCursor" not in page:
            return seen
        cursor = page["nextCursor"]


@pytest.fixture
def aws() -> Any:
    with EmulatorServer("aws") as server:
        yield server


@pytest.fixture
def generic() -> Any:
    with EmulatorServer("generic") as server:
        yield server


def test_full_cursor_read_is_complete_ordered_and_bounded_per_page(aws):
    ids = _seed_users(aws)
    assert [u["id"] for u in aws.users()] == ids  # directory order is creation order
    per_page: list[int] = []
    seen = _cursor_read(Api(aws), aws, "/Users", per_page)
    assert seen == ids  # each user exactly once, in directory order
    assert len(per_page) == N_USERS // 100
    # A page of 100 looks at 101 entries (the extra one decides nextCursor), not the
    # directory: a page that filtered and sorted everything would count 3,000 here.
    assert max(per_page) <= 101
    assert sum(per_page) <= N_USERS + len(per_page)


def test_cursor_read_with_small_pages_and_changes_between_pages(aws):
    ids = _seed_users(aws, 1000)
    api = Api(aws)
    first = api.get("/Users", params={"cursor": "", "count": "50"}).json()
    got = [u["id"] for u in first["Resources"]]
    assert got == ids[:50]
    # Delete most of what is left (forcing the creation log to compact) and add two users.
    gone = set(ids[60:900])
    for rid in gone:
        aws.delete_user(rid)
    added = [aws.seed_user(userName=f"late{i}")["id"] for i in range(2)]
    cursor = first["nextCursor"]
    per_page = []
    while cursor:
        before = aws.list_items_scanned
        page = api.get("/Users", params={"cursor": cursor, "count": "50"}).json()
        per_page.append(aws.list_items_scanned - before)
        got += [u["id"] for u in page["Resources"]]
        cursor = page.get("nextCursor")
    assert got == [i for i in ids if i not in gone] + added
    assert max(per_page) <= 51


def test_group_members_cursor_read_in_directory_order(aws):
    ids = _seed_users(aws)
    members = ids[::3]  # 1,000 members
    gid = aws.seed_group("Big", members=list(reversed(members)))["id"]
    per_page: list[int] = []
    flt = f'groups.value eq "{gid}"'
    seen = _cursor_read(Api(aws), aws, "/Users", per_page, filter=flt, count="50")
    assert seen == members
    assert len(per_page) == 20
    assert max(per_page) <= 51


def test_member_value_filter_on_groups_in_directory_order(aws):
    uid = _seed_users(aws, 5)[2]
    gids = [aws.seed_group(f"g{i}", members=[uid] if i % 2 else [])["id"] for i in range(9)]
    per_page: list[int] = []
    flt = f'members.value eq "{uid}"'
    seen = _cursor_read(Api(aws), aws, "/Groups", per_page, filter=flt, count="2")
    assert seen == gids[1::2]


def test_generic_index_pagination_of_a_large_directory(generic):
    ids = _seed_users(generic)
    api = Api(generic)
    seen: list[str] = []
    start = 1
    before = generic.list_items_scanned
    while True:
        body = api.get("/Users", params={"startIndex": start, "count": 100}).json()
        assert body["totalResults"] == N_USERS
        assert body["startIndex"] == start
        if not body["Resources"]:
            break
        seen += [u["id"] for u in body["Resources"]]
        start += body["itemsPerPage"]
    assert seen == ids
    assert generic.list_items_scanned == before  # unfiltered: sliced, nothing evaluated


def test_generic_membership_filters_match_a_scan(generic):
    ids = _seed_users(generic, 300)
    g1 = generic.seed_group("one", members=list(reversed(ids[:40])))["id"]
    g2 = generic.seed_group("two", members=[ids[5], g1])["id"]
    api = Api(generic)
    before = generic.list_items_scanned
    users = api.list("/Users", filter=f'groups.value eq "{g1}"').json()
    assert [u["id"] for u in users["Resources"]] == ids[:40]
    assert users["totalResults"] == 40
    assert generic.list_items_scanned - before <= 40  # the index, not 300 evaluations
    groups = api.list("/Groups", filter=f'members.value eq "{ids[5]}"').json()
    assert [g["id"] for g in groups["Resources"]] == [g1, g2]
    nested = api.list("/Groups", filter=f'members.value eq "{g1}"').json()
    assert [g["id"] for g in nested["Resources"]] == [g2]
    # A filter no index answers is evaluated against every user, with the same result.
    before = generic.list_items_scanned
    scan = api.list("/Users", filter=f'groups.value eq "{g1}" and userName pr').json()
    assert [u["id"] for u in scan["Resources"]] == ids[:40]
    assert generic.list_items_scanned - before == 300
