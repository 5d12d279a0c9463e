"""ScimClient.test_connection(): what it reports and the advice it gives."""

from __future__ import annotations

import socket

import pytest
import requests
import responses
from _client_support import AWS_404_TENANT, BASE, TOKEN, FakeTime, aws_error, list_page

from scimsync._client import ScimClient
from scimsync.errors import (
    ConnectionFailedError,
    ForbiddenError,
    MalformedResponseError,
    NotFoundError,
    UnauthorizedError,
)

SPC = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    "patch": {"supported": True},
    "filter": {"supported": True, "maxResults": 50},
}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client():
    return ScimClient(BASE, TOKEN, retry=FakeTime().policy())


def test_all_good(rsps, client):
    rsps.get(BASE + "/ServiceProviderConfig", json=SPC)
    rsps.get(BASE + "/Users", json=list_page([], totalResults=0))
    result = client.test_connection()
    assert result.ok
    assert (result.reachable, result.authenticated, result.error) == (True, True, None)
    assert result.capabilities.filter.max_results == 50
    assert result.round_trip_seconds is not None
    assert rsps.calls[1].request.url.endswith("/Users?count=1")


def test_spc_open_but_token_refused(rsps, client):
    rsps.get(BASE + "/ServiceProviderConfig", json=SPC)
    rsps.get(BASE + "/Users", status=401, json=aws_error(401, "Unauthorized"))
    result = client.test_connection()
    assert (result.reachable, result.authenticated, result.ok) == (True, False, False)
    assert isinstance(result.error, UnauthorizedError)
    assert "generate a new SCIM access token" in result.advice
    assert result.capabilities is not None


@pytest.mark.parametrize(
    ("status", "body", "cls", "advice"),
    [
        (401, None, UnauthorizedError, "token is invalid or expired"),
        (404, AWS_404_TENANT, NotFoundError, "wrong SCIM endpoint URL"),
        (404, None, NotFoundError, "does not lead to a SCIM endpoint"),
        (403, None, ForbiddenError, "not allowed"),
        (503, None, Exception, "try again later"),
    ],
)
def test_http_failures_get_admin_advice(rsps, client, status, body, cls, advice):
    rsps.get(BASE + "/ServiceProviderConfig", status=status, json=body)
    result = client.test_connection()
    assert result.reachable
    assert not result.authenticated
    assert isinstance(result.error, cls)
    assert advice in result.advice
    assert len(rsps.calls) == 1  # no retries in a connection test


def test_html_login_page(rsps, client):
    rsps.get(BASE + "/ServiceProviderConfig", body="<html><body>Sign in</body></html>")
    result = client.test_connection()
    assert isinstance(result.error, MalformedResponseError)
    assert "not with SCIM JSON" in result.advice


def test_tls_failure(rsps, client):
    rsps.get(
        BASE + "/ServiceProviderConfig",
        body=requests.exceptions.SSLError("certificate verify failed: self-signed certificate"),
    )
    result = client.test_connection()
    assert not result.reachable
    assert isinstance(result.error, ConnectionFailedError)
    assert "CA bundle" in result.advice


def test_dns_failure(rsps, client):
    rsps.get(
        BASE + "/ServiceProviderConfig",
        body=requests.ConnectionError("Failed to resolve 'scim.nowhere.invalid'"),
    )
    result = client.test_connection()
    assert "does not resolve" in result.advice


def test_connection_refused_for_real():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = ScimClient(f"http://127.0.0.1:{port}/scim/v2", TOKEN).test_connection()
    assert (result.reachable, result.authenticated) == (False, False)
    assert result.round_trip_seconds is None
    assert "refused" in result.advice
