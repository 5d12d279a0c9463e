"""Filter values are JSON strings: an escaped quote or backslash must not change a filter's meaning.

scim2-filter-parser's stock lexer cannot read escaped quotes; the emulator corrects only
its string token. These tests send the filter our ``Filter`` builder renders and check the
emulator finds exactly the one user with that awkward name.
"""

from __future__ import annotations

import pytest
import requests

from scimsync import Filter, ScimClient
from scimsync.testing import EmulatorServer

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
AWKWARD = ['we"ird', "back\\slash", 'both\\"mixed', "trail\\", 'é"ü']


def _user(user_name: str) -> dict[str, object]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "A", "familyName": "B"},
        "displayName": "A B",
        "active": True,
    }


@pytest.mark.parametrize("profile", ["generic", "aws"])
def test_escaped_values_match_exactly_one_user(profile: str) -> None:
    with EmulatorServer(profile) as server:
        client = ScimClient(server.base_url, server.token)
        for name in [*AWKWARD, "we", "back", "slash", "weird"]:
            client.users.create_raw(_user(name))
        for name in AWKWARD:
            found = [u["userName"] for u in client.users.list_raw(Filter.eq("userName", name))]
            assert found == [name]


def test_unterminated_string_is_a_400_not_a_crash() -> None:
    with EmulatorServer("generic") as server:
        response = requests.get(
            f"{server.base_url}/Users",
            params={"filter": 'userName eq "abc\\"'},
            headers=server.auth_headers(),
            timeout=10,
        )
    assert response.status_code == 400
