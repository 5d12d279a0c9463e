"""``EmulatorServer.reply_next``: the next replies are exactly the bytes given."""

from __future__ import annotations

import requests

from scimsync.testing import EmulatorServer


def test_reply_next_sends_these_bytes_then_the_server_answers_normally() -> None:
    with EmulatorServer("aws") as server:
        server.reply_next(502, "<html>Bad Gateway</html>", content_type="text/html", times=2)
        server.reply_next(201, b'{"userName": "x"}', method="POST", path_prefix="/Users")
        url = server.base_url + "/Users"
        for _ in range(2):
            r = requests.get(url, headers=server.auth_headers(), timeout=5)
            assert (r.status_code, r.text) == (502, "<html>Bad Gateway</html>")
            assert r.headers["Content-Type"] == "text/html"
        r = requests.get(url, headers=server.auth_headers(), timeout=5)
        assert r.status_code == 200
        assert r.json()["totalResults"] == 0
        user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x"}
        r = requests.post(url, json=user, headers=server.auth_headers(), timeout=5)
        assert (r.status_code, r.json()) == (201, {"userName": "x"})  # no id: not processed
        assert server.users() == []
        assert [e.fault for e in server.request_log] == ["forced-raw"] * 2 + [None, "forced-raw"]
        assert [e.status for e in server.request_log] == [502, 502, 200, 201]
