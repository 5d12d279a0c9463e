"""The bearer token never appears in logs, exception text, reprs or recorded exchanges."""

from __future__ import annotations

import logging
import pickle
import socket

import pytest
import requests
import responses
from _client_support import AWS_400, AWS_404_TENANT, AWS_409, BASE, TOKEN, FakeTime, list_page, user

from scimsync._client import ScimClient
from scimsync.errors import ScimSyncError

ROTATED = "rotated-SECRET-b8e21d0c77"


def _run_every_path(
    client: ScimClient, rsps: responses.RequestsMock, secret: str
) -> list[BaseException]:
    """Drive success and every failure path; return the exceptions raised."""
    rsps.get(BASE + "/Users/ok", json=user("ok"), headers={"x-amzn-RequestId": "rid-1"})
    rsps.post(BASE + "/Users", json=user("new"), status=201)
    rsps.patch(BASE + "/Groups/g", status=204)
    rsps.get(BASE + "/Users", json=list_page([user("1")], totalResults=1))
    rsps.get(BASE + "/Users/e400", status=400, json=AWS_400)
    rsps.get(BASE + "/Users/e401", status=401, json={"detail": "Unauthorized", "status": "401"})
    rsps.get(BASE + "/Users/e403", status=403, body="Forbidden")
    rsps.get(BASE + "/Users/e404", status=404, json=AWS_404_TENANT)
    rsps.get(BASE + "/Users/e409", status=409, json=AWS_409)
    rsps.get(BASE + "/Users/e429", status=429, headers={"Retry-After": "1"})
    rsps.get(BASE + "/Users/e500", status=500, body="<html>oops</html>")
    rsps.get(BASE + "/Users/e503", status=503)
    rsps.get(BASE + "/Users/html", body="<html>login</html>")
    rsps.get(BASE + "/Users/shape", json={"userName": "x"})
    rsps.get(BASE + "/Users/conn", body=requests.ConnectionError(f"proxy said Bearer {secret}"))
    rsps.get(BASE + "/Users/tls", body=requests.exceptions.SSLError("bad cert"))
    rsps.get(BASE + "/Users/slow", body=requests.exceptions.ReadTimeout("timed out"))
    # a server echoing the Authorization header back in its error detail
    rsps.get(
        BASE + "/Users/echo",
        status=400,
        json={"detail": f"bad header: Bearer {secret}", "status": "400"},
    )

    client.users.get("ok")
    client.users.create({"userName": "new"})
    client.groups.patch_members("g", add=["a"])
    list(client.users.list())
    errors: list[BaseException] = []
    for rid in [
        "e400", "e401", "e403", "e404", "e409", "e429", "e500", "e503",
        "html", "shape", "conn", "tls", "slow", "echo",
    ]:  # fmt: skip
        with pytest.raises(ScimSyncError) as info:
            client.users.get(rid)
        errors.append(info.value)
    return errors


@pytest.mark.parametrize("token_kind", ["str", "callable"])
def test_token_never_leaks(caplog, token_kind):
    fake = FakeTime()
    token = TOKEN if token_kind == "str" else (lambda: ROTATED)
    secret = TOKEN if token_kind == "str" else ROTATED
    client = ScimClient(BASE, token, retry=fake.policy(max_attempts=2))
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        with client.recording() as exchanges:
            errors = _run_every_path(client, rsps, secret)
        result = client.test_connection()
        sent = [c.request.headers["Authorization"] for c in rsps.calls]

    assert all(h == f"Bearer {secret}" for h in sent)  # it *was* used on the wire
    assert len(errors) == 14
    texts = [caplog.text, repr(client), str(client.users), repr(client.groups), repr(result)]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [repr(pickle.loads(pickle.dumps(e))) for e in errors]  # noqa: S301 - our own objects
    texts += [repr(e.__dict__) for e in errors]
    texts += [repr(x) for x in exchanges]
    assert len(exchanges) > 15
    for text in texts:
        assert secret not in text
    assert "rid-1" in caplog.text  # the logs are not simply empty


def test_token_not_in_real_connection_failure(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ScimClient(
        f"http://127.0.0.1:{port}/v2", TOKEN, retry=FakeTime().policy(max_attempts=2)
    )
    caplog.set_level(logging.DEBUG)
    result = client.test_connection()
    assert not result.reachable
    assert result.error is not None
    for text in (caplog.text, str(result.error), repr(result), result.advice):
        assert TOKEN not in text
