"""ScimClient's transport builds what ``requests`` would have built, and sends the same bytes.

``ScimClient.request`` does not call ``PreparedRequest.prepare()`` for every request: it
builds the ``PreparedRequest`` from a base URL and header templates prepared once, reads
the body with one ``raw.read()`` instead of ``Response.content``'s generator, and its
``HTTPAdapter`` remembers the connection pool and proxy decision per origin. These tests
hold it to the old way:

* unit (``responses``): for many base URLs, paths, queries, methods and bodies, the
  request that reaches ``HTTPAdapter.send`` equals what ``prepare()`` makes of the same
  inputs (method, URL, headers in order, body), or fails with the same exception;
* integration (a bare HTTP server on 127.0.0.1 that records the bytes it receives): the
  client's requests are byte-for-byte those of ``prepare()`` + ``HTTPAdapter.send``,
  directly and through a proxy taken from the environment; gzip, chunked and broken
  replies read the same way; ``REQUESTS_CA_BUNDLE`` is honoured.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import requests.adapters
import responses

from scimsync import ScimClient
from scimsync._client import RetryPolicy, _Adapter, _encode_query
from scimsync._version import __version__
from scimsync.errors import ConnectionFailedError

TOKEN = "tok-TRANSPORT-8c1f2a"
UA = f"scimsync/{__version__} (+python-requests/{requests.__version__})"
USER = {"id": "u-1", "userName": "zoë", "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}


def reference_request(
    client: ScimClient,
    method: str,
    path: str,
    query: list[tuple[str, str | None]] | None = None,
    body: Any = None,
    *,
    base: str | None = None,
) -> requests.PreparedRequest:
    """What ``PreparedRequest.prepare()`` makes of one request (how the client used to do it)."""
    qs = _encode_query(query) if query else ""
    url = (base or client.base_url) + path + ("?" + qs if qs else "")
    headers = {
        "User-Agent": client.user_agent,
        "Accept": "application/scim+json",
        "Accept-Encoding": "gzip, deflate",
        "Connection": "keep-alive",
    }
    data = None
    if body is not None:
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers["Content-Type"] = "application/scim+json"
    headers["Authorization"] = "Bearer " + TOKEN
    prep = requests.PreparedRequest()
    prep.prepare(method=method, url=url, headers=headers, data=data)
    return prep


def shape(prep: requests.PreparedRequest) -> tuple[Any, ...]:
    return prep.method, prep.url, list(prep.headers.items()), prep.body


# ------------------------------------------------------------- unit (responses)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def rsps_all() -> Iterator[responses.RequestsMock]:
    """Answers every request, whatever its URL."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST", "DELETE", "PATCH", "PUT"):
            mock.add(method, re.compile(r".*"), json=USER)
        yield mock


BASES = [
    "https://scim.example.com/scim/v2",
    "HTTPS://SCIM.Example.COM/scim/v2",  # scheme and host are lower-cased
    "https://bücher.example/scim/v2",  # IDNA
    "https://h.example/scim v2",  # a space in the base path
    "https://h.example/a%7eb/v2",  # an escaped unreserved character is unescaped
    "https://h.example/a/../scim/./v2",  # dot segments
    "https://h.example/a/..",
    "https://[::1]:8443/scim",
    "https://h.example:443/x",
    "https://h.example",  # no path at all
    "https://h.example/%2f/x",  # lower-case escape
    "https://h.example/é~",
    "https://h.example/bad%zz/v2",  # an invalid escape changes how the whole URL is quoted
    "https://h.example/%/x",
    "https://*.example.com/v2",  # prepare() refuses it, on every request
]
PATHS = [
    "/Users",
    "/Users/9067729b3d-94f1e0b3-c394-48d5-8ab1-2c122a167074",
    "/Users/a%2Fb%20c%3F%23%25",  # what _quote_id makes of "a/b c?#%"
    "/Users/%C3%BC-._~",
    "/Users/..",  # a dot segment: prepare() removes it
    "/Users/.",
    "/Users/...",
    "/Users/a b",
    "/Users/[x]",
    "/Users/%7e",
    "/Users/%41",
    "/Users/%2f",
    "/Users/%zz",
    "/Users/a#b",
    "/Users/a?b",
    "/Users//x",
    "//x",
    "/Users/é",
    "Users",
    "",
]
QUERIES: list[list[tuple[str, str | None]]] = [
    [],
    [("filter", 'userName eq "a b&c=d+e%f/ü"'), ("startIndex", "1"), ("count", "100")],
    [("cursor", None), ("count", "1")],
]
METHODS = [("GET", None), ("POST", {"userName": "zoë"}), ("DELETE", None), ("patch", {"x": 1})]


@pytest.mark.parametrize("base", BASES)
def test_sent_request_is_what_prepare_makes(base):
    """Method, URL, headers (with their order) and body as prepare() sets them, or its error."""
    client = ScimClient(base, TOKEN, retry=RetryPolicy.none())
    mismatches = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        for method in ("GET", "POST", "DELETE", "PATCH"):
            rsps.add(method, re.compile(r".*"), json=USER)
        for path, query, (method, body) in itertools.product(PATHS, QUERIES, METHODS):
            try:
                expected: Any = shape(reference_request(client, method, path, query, body))
            except requests.RequestException as exc:
                expected = type(exc)
            before = len(rsps.calls)
            try:
                client.request(method, path, query=query, body=body)
            except requests.RequestException as exc:
                got: Any = type(exc)
                assert len(rsps.calls) == before  # refused before anything was sent
            else:
                got = shape(rsps.calls[-1].request)
            if got != expected:
                mismatches.append((method, path, query, got, expected))
    assert mismatches == []


def test_content_length_and_content_type_as_prepare_body_sets_them(rsps_all):
    client = ScimClient("https://h.example/scim/v2", TOKEN)
    client.users.create_raw({"userName": "zoë"})
    client.users.get_raw("x")
    client.users.delete("x")
    client.request("POST", "/Users/.search")  # a POST without a body
    post, get, delete, bare_post = (dict(c.request.headers) for c in rsps_all.calls)
    body = json.dumps({"userName": "zoë"}, separators=(",", ":"), ensure_ascii=False).encode()
    assert post["Content-Length"] == str(len(body)) == "19"
    assert post["Content-Type"] == "application/scim+json"
    assert "Content-Length" not in get
    assert delete["Content-Length"] == "0"
    assert bare_post["Content-Length"] == "0"
    for headers in (get, delete, bare_post):
        assert "Content-Type" not in headers
    for headers in (post, get, delete, bare_post):
        assert "Transfer-Encoding" not in headers
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert headers["User-Agent"] == UA
        assert headers["Accept"] == "application/scim+json"


def test_each_attempt_gets_its_own_headers(rsps):
    """A retried request is a new PreparedRequest: the earlier one keeps the token it carried."""
    tokens = iter(["first", "second"])
    rsps.get("https://h.example/scim/v2/Users/x", status=503)
    rsps.get("https://h.example/scim/v2/Users/x", json=USER)
    sleeps: list[float] = []
    client = ScimClient(
        "https://h.example/scim/v2", lambda: next(tokens), retry=RetryPolicy(sleep=sleeps.append)
    )
    client.users.get_raw("x")
    first, second = (c.request for c in rsps.calls)
    assert first is not second
    assert first.headers["Authorization"] == "Bearer first"
    assert second.headers["Authorization"] == "Bearer second"
    assert len(sleeps) == 1


def test_invalid_user_agent_fails_each_request_as_prepare_did(rsps_all):
    client = ScimClient("https://h.example/scim/v2", TOKEN, user_agent="bad\nagent")
    with pytest.raises(requests.exceptions.InvalidHeader):
        client.users.get_raw("x")
    assert len(rsps_all.calls) == 0


def test_gzip_reply_is_decoded(rsps):
    rsps.get(
        "https://h.example/scim/v2/Users/u-1",
        body=gzip.compress(json.dumps(USER).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/scim+json"},
    )
    client = ScimClient("https://h.example/scim/v2", TOKEN)
    assert client.users.get_raw("u-1") == USER


def test_response_is_left_readable(rsps):
    """After the client has read the body, the Response still answers content and json()."""
    rsps.get("https://h.example/scim/v2/Users/u-1", json=USER)
    client = ScimClient("https://h.example/scim/v2", TOKEN)
    client.users.get_raw("u-1")
    response = rsps.calls[0].response
    assert isinstance(response, requests.Response)
    assert response.json() == USER
    assert response.content == json.dumps(USER).encode()


# ------------------------------------------------- integration: a recording server

Reply = Callable[[socket.socket, bytes], None]


def json_reply(status: int = 200, body: Any = USER, **headers: str) -> Reply:
    data = json.dumps(body).encode()

    def reply(conn: socket.socket, request: bytes) -> None:
        head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(data)}"]
        head += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)

    return reply


class RecordingServer:
    """HTTP/1.1 on 127.0.0.1: records the bytes of each request, answers with ``reply``.

    Keeps connections alive; reads bodies by Content-Length, or chunked (recorded as
    received, so a chunked request would show in the bytes).
    """

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.reply: Reply = json_reply()
        self.release = threading.Event()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                conn.settimeout(10)
                stream = conn.makefile("rb")
                while True:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = stream.readline()
                        if not line:
                            return
                        head += line
                    fields = dict(
                        line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line
                    )
                    fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
                    body = b""
                    if b"content-length" in fields:
                        body = stream.read(int(fields[b"content-length"]))
                    elif fields.get(b"transfer-encoding") == b"chunked":
                        while True:
                            size_line = stream.readline()
                            body += size_line
                            chunk = stream.read(int(size_line.strip(), 16) + 2)
                            body += chunk
                            if size_line.strip() == b"0":
                                break
                    owner.received.append(head + body)
                    owner.reply(conn, head + body)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    srv = RecordingServer()
    try:
        yield srv
    finally:
        srv.close()


def send_reference(prep: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
    """prepare()'s request through a plain HTTPAdapter, the body read by Response.content."""
    adapter = requests.adapters.HTTPAdapter(max_retries=0)
    try:
        response = adapter.send(prep, timeout=(5, 5), **kwargs)
        response.content  # noqa: B018 (read the body the way requests does)
        return response
    finally:
        adapter.close()


CALLS: list[tuple[str, str, list[tuple[str, str | None]], Any]] = [
    ("POST", "/Users", [], {"userName": "zoë", "name": {"givenName": "Zoë"}, "active": True}),
    ("GET", "/Users/a%2Fb%20c%3F", [], None),
    ("GET", "/Users", [("filter", 'userName eq "a b&c=d+e%f/ü"'), ("count", "100")], None),
    ("GET", "/Users", [("cursor", None), ("count", "1")], None),
    ("PATCH", "/Groups/g-1", [], {"Operations": [{"op": "add", "path": "members"}]}),
    ("PUT", "/Users/u-1", [], {"userName": "zoë"}),
    ("DELETE", "/Users/u-1", [], None),
    ("GET", "/Users/..", [], None),  # prepared the slow way (a dot segment)
]


def test_wire_bytes_are_those_of_prepare_and_adapter_send(server):
    base = f"http://127.0.0.1:{server.port}/scim/v2"
    with ScimClient(base, TOKEN) as client:
        for method, path, query, body in CALLS:
            client.request(method, path, query=query, body=body, ok=(200,))
        for method, path, query, body in CALLS:
            send_reference(reference_request(client, method, path, query, body))
    ours, theirs = server.received[: len(CALLS)], server.received[len(CALLS) :]
    assert ours == theirs

    post = ours[0].decode()
    body = json.dumps(CALLS[0][3], separators=(",", ":"), ensure_ascii=False).encode()
    assert post.startswith("POST /scim/v2/Users HTTP/1.1\r\n")
    assert f"\r\nContent-Length: {len(body)}\r\n" in post
    assert "Transfer-Encoding" not in post
    assert "\r\nContent-Type: application/scim+json\r\n" in post
    assert f"\r\nAuthorization: Bearer {TOKEN}\r\n" in post
    assert f"\r\nUser-Agent: {UA}\r\n" in post
    assert "\r\nAccept: application/scim+json\r\n" in post
    assert ours[0].endswith(body)
    assert ours[2].startswith(
        b"GET /scim/v2/Users?filter=userName%20eq%20%22a%20b%26c%3Dd%2Be%25f%2F%C3%BC%22"
        b"&count=100 HTTP/1.1\r\n"
    )
    assert ours[3].startswith(b"GET /scim/v2/Users?cursor&count=1 HTTP/1.1\r\n")
    assert b"\r\nContent-Length: 0\r\n" in ours[6]  # DELETE
    assert b"Content-Length" not in ours[1]  # GET


def test_plain_http_proxy_from_the_environment(server, monkeypatch):
    """HTTP_PROXY (merged once, at construction) still sends absolute URLs to the proxy."""
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    proxy = f"http://127.0.0.1:{server.port}"
    monkeypatch.setenv("http_proxy", proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    with socket.socket() as s:  # a port nobody listens on: only the proxy can answer
        s.bind(("127.0.0.1", 0))
        target = f"http://127.0.0.1:{s.getsockname()[1]}/scim/v2"
    with ScimClient(target, TOKEN) as client:
        assert client.users.get_raw("u-1") == USER
        assert client.users.get_raw("u-2") == USER  # the remembered proxy decision
    send_reference(reference_request(client, "GET", "/Users/u-1"), proxies={"http": proxy})
    first, second, reference = server.received
    assert first.startswith(f"GET {target}/Users/u-1 HTTP/1.1\r\n".encode())
    assert second.startswith(f"GET {target}/Users/u-2 HTTP/1.1\r\n".encode())
    assert first == reference

    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = ScimClient(target, TOKEN, retry=RetryPolicy.none())
    with direct, pytest.raises(ConnectionFailedError, match="refused"):
        direct.users.get_raw("u-3")
    assert len(server.received) == 3


def chunked_gzip_reply(conn: socket.socket, request: bytes) -> None:
    data = gzip.compress(json.dumps(USER).encode())
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(data[i : i + 7]), data[i : i + 7]) for i in range(0, len(data), 7)
    )
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\n"
        b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )


def test_chunked_gzip_reply_is_read_whole(server):
    server.reply = chunked_gzip_reply
    with ScimClient(f"http://127.0.0.1:{server.port}/scim/v2", TOKEN) as client:
        assert client.users.get_raw("u-1") == USER
        assert client.users.get_raw("u-1") == USER  # the connection went back to the pool
    assert len(server.received) == 2


def truncated_reply(conn: socket.socket, request: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"id": "u-1"')
    conn.shutdown(socket.SHUT_RDWR)


def bad_gzip_reply(conn: socket.socket, request: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip")


@pytest.mark.parametrize("broken", ["truncated", "bad-gzip", "stalled"])
def test_broken_bodies_raise_what_response_content_raises(server, broken):
    """A body that breaks off, does not decompress or stalls fails as it did before."""

    def stalled_reply(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"id": ')
        server.release.wait(10)

    server.reply = {
        "truncated": truncated_reply,
        "bad-gzip": bad_gzip_reply,
        "stalled": stalled_reply,
    }[broken]
    read_timeout = 0.3 if broken == "stalled" else 5.0
    base = f"http://127.0.0.1:{server.port}/scim/v2"
    with ScimClient(base, TOKEN, timeout=(5, read_timeout), retry=RetryPolicy.none()) as client:
        adapter = requests.adapters.HTTPAdapter(max_retries=0)
        response = adapter.send(
            reference_request(client, "GET", "/Users/u-1"), timeout=(5, read_timeout)
        )
        with pytest.raises(requests.RequestException) as theirs:
            response.content  # noqa: B018 (the body, read by requests)
        adapter.close()
        with pytest.raises(requests.RequestException) as ours:
            client.users.get_raw("u-1")
    assert type(ours.value) is type(theirs.value)
    assert TOKEN not in str(ours.value)
    assert len(server.received) == 2


def test_adapter_hands_out_the_pool_managers_current_pool():
    """The remembered pool is always the one HTTPAdapter itself would look up.

    Through repeated use, other origins evicting it (the pool manager keeps two pools
    here), the pool being closed, close() of the adapter, and other verify/proxies values.
    """
    adapter = _Adapter(pool_connections=2, pool_maxsize=2)
    stock = requests.adapters.HTTPAdapter.get_connection_with_tls_context

    def prep(origin: str) -> requests.PreparedRequest:
        p = requests.PreparedRequest()
        p.prepare(method="GET", url=origin + "/scim/v2/Users")
        return p

    a, b, c = (prep(f"http://127.0.0.1:{port}") for port in (1001, 1002, 1003))
    proxies = {"http": "http://127.0.0.1:3128"}
    steps = [(a, True, None), (a, True, None), (b, True, None), (c, True, None), (a, True, None)]
    steps += [(a, "/nonexistent/ca.pem", None), (a, True, proxies), (a, True, None)]
    seen = []
    for request, verify, proxy in steps:
        ours = adapter.get_connection_with_tls_context(request, verify, proxy)
        assert ours is stock(adapter, request, verify, proxy)
        seen.append(ours)
    assert seen[1] is seen[0]  # remembered
    assert seen[4] is not seen[0]  # a was evicted by b and c: a new pool
    before = adapter.get_connection_with_tls_context(a, True, None)
    adapter.close()  # the pool manager forgets its pools
    after = adapter.get_connection_with_tls_context(a, True, None)
    assert after is not before
    assert after is stock(adapter, a, True, None)
    after.close()
    assert adapter.get_connection_with_tls_context(a, True, None) is stock(adapter, a, True, None)
    adapter.close()


# ------------------------------------------------------------ REQUESTS_CA_BUNDLE


class _TLSReply(socketserver.StreamRequestHandler):
    """Answers every GET on a kept-alive connection with USER."""

    def handle(self) -> None:
        data = json.dumps(USER).encode()
        while True:
            line = self.rfile.readline()
            if not line:
                return
            while line not in (b"\r\n", b""):
                line = self.rfile.readline()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))


def test_requests_ca_bundle_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _TLSReply)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"https://127.0.0.1:{httpd.server_address[1]}/scim/v2"
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    try:
        default = ScimClient(base, TOKEN, retry=RetryPolicy.none())
        with default, pytest.raises(ConnectionFailedError, match="TLS"):
            default.users.get_raw("u-1")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        with ScimClient(base, TOKEN, retry=RetryPolicy.none()) as trusting:
            assert trusting.users.get_raw("u-1") == USER
            assert trusting.users.get_raw("u-1") == USER
    finally:
        httpd.shutdown()
        httpd.server_close()
