"""TLS verification: on unless turned off explicitly, and turning it off is never silent.

A real HTTPS server on 127.0.0.1 with a self-signed certificate (made with the
``openssl`` command): verification refuses it by default, ``verify=False`` (or
``verify = false`` in scimsync.toml) accepts it and logs one warning.
"""

from __future__ import annotations

import json
import logging
import shutil
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from urllib3.exceptions import InsecureRequestWarning

from scimsync import ScimClient
from scimsync._config import load_config
from scimsync.errors import ConnectionFailedError

TOKEN = "TLS-TEST-TOKEN-5d1e0a7c"
SPC = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    "patch": {"supported": True},
    "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
    "filter": {"supported": True, "maxResults": 100},
    "changePassword": {"supported": False},
    "sort": {"supported": False},
    "etag": {"supported": False},
    "authenticationSchemes": [],
}
LIST = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
    "totalResults": 0,
    "itemsPerPage": 0,
    "startIndex": 1,
    "Resources": [],
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = SPC if self.path.endswith("/ServiceProviderConfig") else LIST
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/scim+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_url(tmp_path: Path) -> Iterator[str]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/scim/v2"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _insecure_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "verification is OFF" in r.getMessage()]


def test_verification_is_on_by_default_and_refuses_a_self_signed_certificate(
    https_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = ScimClient(https_url, TOKEN)
    with pytest.raises(ConnectionFailedError) as info:
        client.service_provider_config()
    assert "TLS failure" in str(info.value)
    result = client.test_connection()
    assert not result.ok
    assert "TLS failed" in result.advice
    assert "CA bundle" in result.advice
    assert _insecure_warnings(caplog) == []  # nothing was turned off: no warning
    assert TOKEN not in caplog.text + str(info.value) + repr(result)
    client.close()


def test_verify_false_connects_and_warns_once_per_url(
    https_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = ScimClient(https_url, TOKEN, verify=False)
    second = ScimClient(https_url, TOKEN, verify=False)  # same URL, same process
    with warnings.catch_warnings():  # urllib3's InsecureRequestWarning is its own business
        warnings.simplefilter("ignore", InsecureRequestWarning)
        assert first.test_connection().ok
        assert second.test_connection().ok
    warned = _insecure_warnings(caplog)
    assert len(warned) == 1, warned
    assert https_url in warned[0]
    assert "verify=False" in warned[0]
    assert TOKEN not in caplog.text
    first.close()
    second.close()


def test_config_verify_false_is_explicit_and_warns(
    https_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TLS_TEST_TOKEN", TOKEN)
    base = f'[targets.lab]\nurl = "{https_url}/lab"\nprofile = "generic"\ntoken_env = "TLS_TEST_TOKEN"\n'
    (tmp_path / "default.toml").write_text(base)
    (tmp_path / "off.toml").write_text(base + "verify = false\n")

    default = load_config(tmp_path / "default.toml")
    assert default.target("lab").verify is True
    client = default.build_client("lab")
    assert not client.test_connection().ok  # verified, and the certificate is self-signed
    client.close()
    assert _insecure_warnings(caplog) == []

    off = load_config(tmp_path / "off.toml")
    assert off.target("lab").verify is False
    client = off.build_client("lab")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        assert client.test_connection().ok
    client.close()
    assert len(_insecure_warnings(caplog)) == 1

    # and the configuration page says so
    docs = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    row = next(line for line in docs.splitlines() if line.startswith("| `verify` |"))
    assert "TLS certificate verification is OFF" in row
    assert "verify = false" in row


def test_plain_http_to_a_remote_host_warns_but_loopback_does_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="scimsync.client")
    ScimClient("http://127.0.0.1:9/scim/v2", TOKEN).close()
    ScimClient("http://localhost:9/scim/v2", TOKEN).close()
    assert [r for r in caplog.records if "unencrypted" in r.getMessage()] == []
    ScimClient("http://scim.example.invalid/scim/v2", TOKEN).close()
    warned = [r.getMessage() for r in caplog.records if "unencrypted" in r.getMessage()]
    assert warned == [
        "the SCIM endpoint http://scim.example.invalid/scim/v2 is plain http: "
        "the bearer token travels unencrypted; use https"
    ]
