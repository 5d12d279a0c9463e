"""``EmulatorServer``: an in-process, in-memory SCIM 2.0 server for tests.

One :class:`http.server.ThreadingHTTPServer` on 127.0.0.1 (HTTP/1.1 keep-alive, one
thread per connection), one lock around the directory, two profiles (``generic`` and
``aws``), fault injection, a request log and helpers to seed and mutate data behind the
client's back.
"""

from __future__ import annotations

import datetime as _dt
import hmac
import json
import math
import random
import secrets
import socket
import string
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

from scimsync.testing._aws import AwsProfile, aws_id
from scimsync.testing._faults import FaultConfig, FaultState, ForcedFault
from scimsync.testing._generic import GenericProfile, ProfileBase
from scimsync.testing._state import Directory
from scimsync.testing._wire import Reply, Request, ScimFailure, jcopy

__all__ = ["EmulatorServer", "RequestLogEntry", "Token"]

_TENANT_ALPHABET = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"


def _random_tenant() -> str:
    """A tenant id shaped like AWS's: ``[A-Za-z0-9]{11}-4-4-4-12`` [COMMUNITY, §0]."""

    def part(n: int, alphabet: str = _HEX) -> str:
        return "".join(secrets.choice(alphabet) for _ in range(n))

    return f"{part(11, _TENANT_ALPHABET)}-{part(4)}-{part(4)}-{part(4)}-{part(12)}"


@attrs.frozen
class Token:
    """A bearer token the emulator accepts, with an optional expiry.

    The value never appears in reprs or in the request log.

    Attributes:
        value: the token string.
        expires_at: UTC datetime after which the token answers 401, or ``None``.
    """

    value: str = attrs.field(repr=False)
    expires_at: _dt.datetime | None = None

    def valid(self, now: _dt.datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


TokenSpec = str | Token | tuple[str, "_dt.datetime | float | None"]


def _as_token(spec: TokenSpec) -> Token:
    if isinstance(spec, Token):
        return spec
    if isinstance(spec, str):
        return Token(spec)
    value, expiry = spec
    if isinstance(expiry, (int, float)):
        expiry = _dt.datetime.fromtimestamp(float(expiry), _dt.timezone.utc)
    return Token(value, expiry)


@attrs.frozen
class RequestLogEntry:
    """One request the emulator received (never its headers, never the token).

    Attributes:
        method: HTTP method.
        path: path relative to the SCIM base URL (``/Users/abc``); the raw path when the
            request was outside it (e.g. a wrong AWS tenant).
        query: the decoded query string (``filter=userName eq "a"&count=10``).
        params: the query parsed into lists of values (blank values kept: ``cursor``).
        status: the status answered, or ``None`` when the connection was dropped.
        body: the request body (parsed JSON, else text, else ``None``).
        response: the response body sent (parsed JSON or ``None``); the raw bytes are
            ``response_bytes``.
        user_agent: the ``User-Agent`` header.
        request_id: the id sent back (``x-amzn-RequestId`` in the AWS profile).
        reason: why the request failed, in words (the AWS profile's 400s all carry the
            same detail on the wire; this is what CloudTrail's ``errorMessage`` would say).
        fault: which injected fault answered (``down``, ``forced``, ``forced-drop``, ``forced-raw``,
            ``drop``, ``rate_limit``, ``error``) or ``None``.
        timestamp: ``time.time()`` when the request arrived.
    """

    method: str
    path: str
    query: str
    params: dict[str, list[str]]
    status: int | None
    body: Any
    response_bytes: bytes = attrs.field(repr=False)
    user_agent: str | None
    request_id: str
    reason: str | None = None
    fault: str | None = None
    timestamp: float = 0.0

    @property
    def response(self) -> Any:
        """The response body sent, parsed (``None`` for an empty body)."""
        return json.loads(self.response_bytes) if self.response_bytes else None


def _request_id() -> str:
    """A random version-4 UUID string (not for secrets: ``uuid4()`` costs more)."""
    h = "%032x" % ((_getrandbits(128) & _UUID_MASK) | _UUID_V4)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_getrandbits = random.Random().getrandbits
_UUID_MASK = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)


class _Drop:
    """Marker: close the connection without answering."""

    def __init__(self, reset: bool) -> None:
        self.reset = reset


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], emulator: EmulatorServer) -> None:
        self.emulator = emulator
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client goes away (reset, broken pipe, stopped server)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 64 * 1024  # one send() per response (headers + body)
    timeout = 60
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's stderr logging (the emulator keeps its own log)."""

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "bad Content-Length")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length > 0 else b""
        outcome = self.server.emulator._handle_http(self.command, self.path, self.headers, body)
        if isinstance(outcome, _Drop):
            self.close_connection = True
            try:
                if outcome.reset:
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                else:
                    self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, headers, data = outcome
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class EmulatorServer:
    """An in-memory SCIM 2.0 service provider on 127.0.0.1, for tests.

    Args:
        profile: ``"generic"`` (RFC 7643/7644) or ``"aws"`` (AWS IAM Identity Center).
        host: interface to bind (keep ``127.0.0.1``).
        port: port to bind; ``0`` picks a free one.
        tokens: bearer tokens accepted: strings, :class:`Token` objects or
            ``(value, expires_at)`` pairs (``expires_at`` a UTC datetime or epoch
            seconds). Default: one random token (``server.token``). The AWS profile
            accepts at most two, as AWS does [DOC, §7].
        tenant: AWS tenant id used in the base path (default: a random id shaped like
            AWS's, ``[A-Za-z0-9]{11}-4-4-4-12``). Ignored by the generic profile.
        faults: initial :class:`FaultConfig`.
        etag: generic profile only: publish ``meta.version``/``ETag`` and honour
            ``If-Match``/``If-None-Match``.
        log_limit: keep at most this many request-log entries (oldest dropped).

    Example:
        >>> with EmulatorServer("aws") as server:  # doctest: +SKIP
        ...     requests.get(server.base_url + "/Users", headers=server.auth_headers())
    """

    def __init__(
        self,
        profile: Literal["generic", "aws"] = "generic",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Sequence[TokenSpec] | None = None,
        tenant: str | None = None,
        faults: FaultConfig | None = None,
        etag: bool = False,
        log_limit: int | None = 100_000,
    ) -> None:
        if profile not in ("generic", "aws"):
            raise ValueError(f"EmulatorServer: profile must be 'generic' or 'aws', got {profile!r}")
        self.profile_name = profile
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._tokens: list[Token] = [
            _as_token(t) for t in (tokens if tokens is not None else [secrets.token_urlsafe(32)])
        ]
        if profile == "aws" and len(self._tokens) > 2:
            raise ValueError("EmulatorServer: the aws profile accepts at most two tokens")
        self._faults = FaultState(faults or FaultConfig())
        # A bounded deque drops the oldest entry in O(1) (a list paid a memmove per request).
        self._log: deque[RequestLogEntry] = deque(
            maxlen=None if log_limit is None else max(0, log_limit)
        )
        self._log_limit = log_limit
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.tenant = tenant or _random_tenant()
        self._profile: ProfileBase
        if profile == "aws":
            prefix = "".join(secrets.choice(_HEX) for _ in range(10))
            self._dir = Directory(lambda: aws_id(prefix))
            self._profile = AwsProfile(
                self._dir, base_url=lambda: self.base_url, tenant=self.tenant
            )
        else:
            self._dir = Directory()
            self._profile = GenericProfile(self._dir, base_url=lambda: self.base_url, etag=etag)
        self._dir.lock = self._lock

    def __repr__(self) -> str:
        state = "running" if self._http is not None else "stopped"
        return f"<EmulatorServer profile={self.profile_name!r} {state} base_url={self.base_url!r}>"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        """Bind and serve in a background thread. Returns ``self``."""
        if self._http is not None:
            return self
        self._http = _HTTPServer((self._host, self._port), self)
        self._port = self._http.server_address[1]
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"scimsync-emulator-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection and the listening socket."""
        http, self._http = self._http, None
        if http is None:
            return
        http.shutdown()
        http.server_close()
        with http.sockets_lock:
            sockets = list(http.open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (``0`` before :meth:`start` when asked for a free one)."""
        return self._port

    @property
    def base_url(self) -> str:
        """The SCIM base URL, e.g. ``http://127.0.0.1:5000/<tenant>/scim/v2`` (aws)."""
        return f"http://{self._host}:{self._port}{self._profile.base_path()}"

    # -- tokens ------------------------------------------------------------------------

    @property
    def token(self) -> str:
        """The first accepted token (what fixtures hand to clients)."""
        if not self._tokens:
            raise ValueError("EmulatorServer: no token configured")
        return self._tokens[0].value

    @property
    def tokens(self) -> list[Token]:
        """The accepted tokens (a copy)."""
        with self._lock:
            return list(self._tokens)

    def auth_headers(self, token: str | None = None) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` for quick requests in tests."""
        return {"Authorization": f"Bearer {token or self.token}"}

    def add_token(self, value: str, expires_at: _dt.datetime | float | None = None) -> Token:
        """Accept another token (the AWS profile refuses a third, like AWS [DOC, §7])."""
        token = _as_token((value, expires_at))
        with self._lock:
            if self.profile_name == "aws" and len(self._tokens) >= 2:
                raise ValueError("EmulatorServer: the aws profile accepts at most two tokens")
            self._tokens.append(token)
        return token

    def revoke_token(self, value: str) -> None:
        """Stop accepting a token (rotation / deletion)."""
        with self._lock:
            self._tokens = [t for t in self._tokens if t.value != value]

    def set_tokens(self, tokens: Iterable[TokenSpec]) -> None:
        """Replace the accepted tokens."""
        new = [_as_token(t) for t in tokens]
        if self.profile_name == "aws" and len(new) > 2:
            raise ValueError("EmulatorServer: the aws profile accepts at most two tokens")
        with self._lock:
            self._tokens = new

    # -- faults ------------------------------------------------------------------------

    @property
    def faults(self) -> FaultConfig:
        """The live fault configuration (mutate fields, or assign a new one)."""
        return self._faults.config

    @faults.setter
    def faults(self, config: FaultConfig) -> None:
        with self._lock:
            self._faults.reconfigure(config)

    def set_faults(self, **changes: Any) -> FaultConfig:
        """Change some fault settings (resets the random generator and rate bucket)."""
        with self._lock:
            config = attrs.evolve(self._faults.config, **changes)
            self._faults.reconfigure(config)
            return config

    def clear_faults(self) -> None:
        """No faults at all (also forgets queued one-shot faults)."""
        with self._lock:
            self._faults.reconfigure(FaultConfig())
            self._faults.forced.clear()

    def fail_next(
        self,
        status: int = 500,
        *,
        times: int = 1,
        method: str | None = None,
        path_prefix: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next *times* matching requests with *status* (no processing).

        Args:
            status: e.g. 500, 503 or 429.
            times: how many requests.
            method: only requests with this method (``None``: any).
            path_prefix: only paths (relative to the base URL) starting with this.
            retry_after: ``Retry-After`` seconds to send (``None``: no header).
        """
        with self._lock:
            self._faults.forced.append(
                ForcedFault("status", times, status, method, path_prefix, retry_after)
            )

    def drop_next(
        self,
        *,
        times: int = 1,
        method: str | None = None,
        path_prefix: str | None = None,
        phase: Literal["request", "response"] = "request",
    ) -> None:
        """Close the connection without answering the next *times* matching requests.

        ``phase="response"`` processes the request first (the change happens, the
        client never hears).
        """
        with self._lock:
            self._faults.forced.append(
                ForcedFault("drop", times, 0, method, path_prefix, None, phase)
            )

    def reply_next(
        self,
        status: int = 200,
        body: bytes | str = b"",
        *,
        content_type: str | None = "application/json",
        times: int = 1,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer the next *times* matching requests with exactly these bytes (no processing).

        For testing how a client copes with a broken server: an HTML error page from a
        proxy, truncated JSON, a list where an object belongs, a 201 without ``id``.

        Args:
            status: the HTTP status to send.
            body: the response body, sent as is (a ``str`` is encoded as UTF-8).
            content_type: the ``Content-Type`` header (``None``: no header).
            times: how many requests.
            method: only requests with this method (``None``: any).
            path_prefix: only paths (relative to the base URL) starting with this.
        """
        data = body.encode() if isinstance(body, str) else bytes(body)
        with self._lock:
            self._faults.forced.append(
                ForcedFault(
                    "raw",
                    times,
                    status,
                    method,
                    path_prefix,
                    body=data,
                    content_type=content_type,
                )
            )

    @property
    def list_items_scanned(self) -> int:
        """Stored users/groups examined so far to answer list requests (instrumentation).

        A cursor page of ``count`` items examines about ``count + 1`` entries, however large
        the directory; a generic filter no index answers examines every resource of its
        kind. Tests assert on it instead of timing the emulator; :meth:`clear` resets it.
        """
        with self._lock:
            return self._dir.scanned

    # -- request log -------------------------------------------------------------------

    @property
    def request_log(self) -> list[RequestLogEntry]:
        """Every request received, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    def requests(
        self,
        method: str | None = None,
        *,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> list[RequestLogEntry]:
        """Log entries filtered by method, path prefix and status."""
        with self._lock:
            return [
                e
                for e in self._log
                if (method is None or e.method == method.upper())
                and (path_prefix is None or e.path.startswith(path_prefix))
                and (status is None or e.status == status)
            ]

    def reset_log(self) -> None:
        """Forget the request log."""
        with self._lock:
            self._log.clear()

    # -- inspection --------------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        """Stored users (copies, with ``id`` and ``meta``), in creation order."""
        with self._lock:
            return jcopy(list(self._dir.users.values()))

    def groups(self) -> list[dict[str, Any]]:
        """Stored groups (copies, *with* ``members``), whatever the profile shows."""
        with self._lock:
            return jcopy(list(self._dir.groups.values()))

    def memberships(self) -> dict[str, set[str]]:
        """Group id → set of member ids."""
        with self._lock:
            return self._dir.memberships()

    def get_user(self, rid: str) -> dict[str, Any] | None:
        """A stored user by id (a copy), or ``None``."""
        with self._lock:
            user = self._dir.users.get(rid)
            return jcopy(user) if user is not None else None

    def get_group(self, rid: str) -> dict[str, Any] | None:
        """A stored group by id (a copy, with ``members``), or ``None``."""
        with self._lock:
            group = self._dir.groups.get(rid)
            return jcopy(group) if group is not None else None

    def find_user(self, user_name: str) -> dict[str, Any] | None:
        """A stored user by userName (case-insensitive), or ``None``."""
        with self._lock:
            uid = self._dir.user_by_name.get(user_name.lower())
            return self.get_user(uid) if uid is not None else None

    def find_group(self, display_name: str) -> dict[str, Any] | None:
        """A stored group by displayName (case-insensitive), or ``None``."""
        with self._lock:
            for group in self._dir.groups.values():
                if str(group.get("displayName", "")).lower() == display_name.lower():
                    return jcopy(group)
        return None

    # -- seeding and mutation behind the client's back ---------------------------------

    def seed_user(self, resource: Mapping[str, Any] | None = None, **attrs_: Any) -> dict[str, Any]:
        """Store a user directly, without validation (like a console-created user).

        Args:
            resource: wire attributes (``userName``, ``name``, ...); ``id`` optional.
            **attrs_: more attributes (merged over *resource*).

        Returns:
            The stored user (a copy, with ``id`` and ``meta``).
        """
        data = {**dict(resource or {}), **attrs_}
        with self._lock:
            rid = str(data.pop("id", "") or self._dir.new_id())
            if rid in self._dir.users:
                raise ValueError(f"EmulatorServer.seed_user: id {rid!r} already exists")
            stored = self._dir.insert_user(data, rid)
            return jcopy(stored)

    def seed_group(
        self,
        resource: Mapping[str, Any] | str | None = None,
        *,
        members: Iterable[str] = (),
        **attrs_: Any,
    ) -> dict[str, Any]:
        """Store a group directly; *resource* may be just the displayName.

        Args:
            resource: wire attributes or a displayName.
            members: member ids (users or groups of this server).
            **attrs_: more attributes.
        """
        data: dict[str, Any] = (
            {"displayName": resource} if isinstance(resource, str) else dict(resource or {})
        )
        data.update(attrs_)
        member_list = list(data.pop("members", []) or []) + [{"value": m} for m in members]
        with self._lock:
            rid = str(data.pop("id", "") or self._dir.new_id())
            if rid in self._dir.groups:
                raise ValueError(f"EmulatorServer.seed_group: id {rid!r} already exists")
            data["members"] = member_list
            stored = self._dir.insert_group(data, rid)
            return jcopy(stored)

    def mutate_user(
        self,
        rid: str,
        changes: Mapping[str, Any]
        | Callable[[dict[str, Any]], dict[str, Any] | None]
        | None = None,
        **attrs_: Any,
    ) -> dict[str, Any]:
        """Change a stored user directly (a change made "behind scimsync's back").

        Args:
            rid: the user id.
            changes: top-level attributes to set (``None`` removes one), or a function
                that receives a copy of the user and returns (or edits) it.
            **attrs_: more top-level attributes.

        Returns:
            The new stored user. ``meta.lastModified`` is updated.
        """
        with self._lock:
            current = self._dir.users.get(rid)
            if current is None:
                raise KeyError(f"EmulatorServer.mutate_user: no user {rid!r}")
            new = self._mutated(current, changes, attrs_)
            return jcopy(self._dir.replace_user(rid, new))

    def mutate_group(
        self,
        rid: str,
        changes: Mapping[str, Any]
        | Callable[[dict[str, Any]], dict[str, Any] | None]
        | None = None,
        **attrs_: Any,
    ) -> dict[str, Any]:
        """Change a stored group directly (``members`` as ``[{"value": id}]``)."""
        with self._lock:
            current = self._dir.groups.get(rid)
            if current is None:
                raise KeyError(f"EmulatorServer.mutate_group: no group {rid!r}")
            new = self._mutated(current, changes, attrs_)
            return jcopy(self._dir.replace_group(rid, new))

    @staticmethod
    def _mutated(
        current: dict[str, Any],
        changes: Mapping[str, Any] | Callable[[dict[str, Any]], dict[str, Any] | None] | None,
        extra: Mapping[str, Any],
    ) -> dict[str, Any]:
        new = jcopy(current)
        if callable(changes):
            result = changes(new)
            new = result if result is not None else new
        elif changes:
            for key, value in changes.items():
                if value is None:
                    new.pop(key, None)
                else:
                    new[key] = jcopy(value)
        for key, value in extra.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = jcopy(value)
        new.pop("id", None)
        return new

    def add_member(self, group_id: str, member_id: str) -> None:
        """Add a member directly."""
        with self._lock:
            members = list(self._dir.groups[group_id].get("members", []))
            self._dir.set_members(group_id, [*members, {"value": member_id}])

    def remove_member(self, group_id: str, member_id: str) -> None:
        """Remove a member directly."""
        with self._lock:
            members = self._dir.groups[group_id].get("members", [])
            self._dir.set_members(group_id, [m for m in members if m["value"] != member_id])

    def delete_user(self, rid: str) -> None:
        """Delete a user directly (and its memberships)."""
        with self._lock:
            self._dir.delete_user(rid)

    def delete_group(self, rid: str) -> None:
        """Delete a group directly."""
        with self._lock:
            self._dir.delete_group(rid)

    def clear(self) -> None:
        """Forget every user and group (the log and tokens stay)."""
        with self._lock:
            fresh = Directory(self._dir.new_id)
            fresh.lock = self._lock
            self._dir.__dict__.update(fresh.__dict__)
            if isinstance(self._profile, AwsProfile):
                self._profile.cursors.clear()

    # -- the request pipeline ----------------------------------------------------------

    def _check_auth(self, headers: Any) -> None:
        header = headers.get("Authorization")
        profile = self._profile
        if header is None:
            raise profile.unauthorized("The Authorization header is missing.")
        scheme, _, value = str(header).partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise profile.unauthorized("The Authorization header is not a bearer token.")
        presented = value.strip().encode()
        for token in self._tokens:
            if hmac.compare_digest(presented, token.value.encode()):
                if token.expires_at is None or token.valid(_dt.datetime.now(_dt.timezone.utc)):
                    return
                raise profile.unauthorized("The bearer token has expired.")
        raise profile.unauthorized("The bearer token is not valid.")

    def _handle_http(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes] | _Drop:
        arrived = time.time()
        request_id = _request_id()
        split = urlsplit(raw_path)
        path = unquote(split.path)
        params = parse_qs(split.query, keep_blank_values=True)
        profile = self._profile
        try:
            rel = profile.relative_path(path)
            outside: ScimFailure | None = None
        except ScimFailure as exc:
            rel, outside = path, exc
        req = Request(
            method=method,
            path=rel,
            params=params,
            headers=headers,
            body=body,
            request_id=request_id,
            user_agent=headers.get("User-Agent"),
        )
        with self._lock:
            decision = self._faults.decide(method, rel)
        reply: Reply | None = None
        data: bytes | None = None
        drop_after = False
        if decision.kind in ("drop", "reset") and not decision.drop_after:
            self._record(req, None, b"", arrived, None, decision.label)
            return _Drop(reset=decision.kind == "reset")
        if decision.delay > 0:
            time.sleep(decision.delay)
        if decision.kind == "raw":
            raw_headers = dict(profile.common_headers(request_id))
            if decision.content_type is not None:
                raw_headers["Content-Type"] = decision.content_type
            self._record(req, decision.status, decision.body, arrived, None, decision.label)
            return decision.status, raw_headers, decision.body
        if decision.kind == "status":
            failure = profile.fault_failure(decision.status, rel)
            if decision.retry_after is not None:
                failure.headers["Retry-After"] = str(math.ceil(decision.retry_after))
            reply = self._error_reply(failure, request_id)
        else:
            drop_after = decision.kind == "drop"
            try:
                if outside is not None:
                    raise outside
                with self._lock:
                    self._check_auth(headers)
                    reply = profile.handle(req)
                    # Serialise under the lock: replies share nested values with the store.
                    data = b"" if reply.body is None else json.dumps(reply.body).encode()
            except ScimFailure as exc:
                reply = self._error_reply(exc, request_id)
            except Exception as exc:  # a bug in the emulator: answer 500, keep serving
                reply = self._error_reply(
                    ScimFailure(500, f"emulator error: {type(exc).__name__}: {exc}"), request_id
                )
        if drop_after:
            self._record(req, None, b"", arrived, reply.reason, decision.label)
            return _Drop(reset=False)
        hdrs = {"Content-Type": profile.content_type, **profile.common_headers(request_id)}
        hdrs.update(reply.headers)
        if data is None or reply.status >= 400:
            data = b"" if reply.body is None else json.dumps(reply.body).encode()
        if reply.body is None and not (reply.status == 204 and profile.name == "aws"):
            # [DOC, §1] AWS's 204s still carry Content-Type: application/json.
            hdrs.pop("Content-Type", None)
        self._record(req, reply.status, data, arrived, reply.reason, decision.label)
        return reply.status, hdrs, data

    def _error_reply(self, failure: ScimFailure, request_id: str) -> Reply:
        body = self._profile.error_body(failure, request_id)
        return Reply(failure.status, body, dict(failure.headers), reason=failure.detail or None)

    def _record(
        self,
        req: Request,
        status: int | None,
        response: bytes,
        arrived: float,
        reason: str | None,
        fault: str | None,
    ) -> None:
        entry = RequestLogEntry(
            method=req.method,
            path=req.path,
            query="&".join(f"{k}={v}" if v else k for k, vs in req.params.items() for v in vs),
            params=req.params,
            status=status,
            body=req.json_or_text(),
            response_bytes=response,
            user_agent=req.user_agent,
            request_id=req.request_id,
            reason=reason if status is None or status >= 400 else None,
            fault=fault,
            timestamp=arrived,
        )
        with self._lock:
            self._log.append(entry)
