"""Client-side CPU cost per SCIM operation: ScimClient vs plain requests, scim2-client, http.client.

A canned SCIM responder runs in a *separate process* (``http.server``, HTTP/1.1 keep-alive),
so its CPU is not counted. Each contender sends the same create (POST /Users), patch
(PATCH /Users/{id}) and get (GET /Users/{id}) requests with the same headers and bodies, and
parses the JSON reply. We measure ``time.process_time()`` of this process per operation
(the best of many short rounds, interleaved, to shed the noise of a shared machine) and print microseconds and the ratio against (a).

Contenders:
  (a) plain ``requests.Session`` loop (the baseline);
  (b) ``ScimClient`` raw methods (what the engine uses) and typed methods (attrs models);
  (c) ``scim2-client`` with its httpx2 engine (pydantic models; also with payload checks off);
  (d) plain ``http.client`` (the floor).

Usage::

    python benchmarks/client_overhead.py            # ~1 minute
    python benchmarks/client_overhead.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import subprocess
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "bench-token-not-secret"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
UID = "9067729b3d-94f1e0b3-c394-48d5-8ab1-2c122a167074"

CREATE_BODY = {
    "schemas": [USER_SCHEMA],
    "userName": "jdoe@example.com",
    "externalId": "701984",
    "name": {"familyName": "Doe", "givenName": "Jane"},
    "displayName": "Jane Doe",
    "active": True,
    "emails": [{"value": "jdoe@example.com", "type": "work", "primary": True}],
}
PATCH_BODY = {
    "schemas": [PATCH_SCHEMA],
    "Operations": [{"op": "replace", "path": "displayName", "value": "Jane Q. Doe"}],
}


# ------------------------------------------------------------------ the server


def _reply_user(port: int) -> bytes:
    user = dict(CREATE_BODY)
    user["id"] = UID
    user["meta"] = {
        "resourceType": "User",
        "created": "2024-01-01T00:00:00Z",
        "lastModified": "2024-01-01T00:00:00Z",
        "location": f"http://127.0.0.1:{port}/scim/v2/Users/{UID}",
    }
    return json.dumps(user).encode()


def serve() -> None:
    """Run the canned responder; print the port on stdout; stop when stdin closes."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        wbufsize = -1  # buffered: status, headers and body leave in one write (no Nagle stall)
        body = b""

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(status)
            self.send_header("Content-Type", "application/scim+json")
            self.send_header("Content-Length", str(len(Handler.body)))
            self.send_header("x-amzn-RequestId", "bench-request-id")
            self.end_headers()
            self.wfile.write(Handler.body)

        def do_POST(self) -> None:
            self._answer(201)

        def do_PATCH(self) -> None:
            self._answer(200)

        def do_GET(self) -> None:
            self._answer(200)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Handler.body = _reply_user(server.server_port)
    print(server.server_port, flush=True)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # parent closes stdin to stop us
    server.shutdown()


# ---------------------------------------------------------------- contenders

Ops = dict[str, Callable[[], Any]]


def plain_requests(base: str) -> tuple[Ops, Callable[[], None]]:
    import requests

    from scimsync._version import __version__

    s = requests.Session()
    ua = f"scimsync/{__version__} (+python-requests/{requests.__version__})"
    h = {
        "Authorization": f"Bearer {TOKEN}",
        "User-Agent": ua,
        "Accept": "application/scim+json",
        "Content-Type": "application/scim+json",
    }
    hg = {k: v for k, v in h.items() if k != "Content-Type"}
    url_users, url_user = base + "/Users", f"{base}/Users/{UID}"

    def create() -> Any:
        r = s.post(url_users, data=json.dumps(CREATE_BODY), headers=h, timeout=(5, 30))
        assert r.status_code == 201
        return r.json()

    def patch() -> Any:
        r = s.patch(url_user, data=json.dumps(PATCH_BODY), headers=h, timeout=(5, 30))
        assert r.status_code == 200
        return r.json()

    def get() -> Any:
        r = s.get(url_user, headers=hg, timeout=(5, 30))
        assert r.status_code == 200
        return r.json()

    return {"create": create, "patch": patch, "get": get}, s.close


def scimsync_raw(base: str) -> tuple[Ops, Callable[[], None]]:
    from scimsync import ScimClient

    c = ScimClient(base, TOKEN)
    ops = PATCH_BODY["Operations"]
    return {
        "create": lambda: c.users.create_raw(CREATE_BODY),
        "patch": lambda: c.users.patch_raw(UID, ops),
        "get": lambda: c.users.get_raw(UID),
    }, c.close


def scimsync_typed(base: str) -> tuple[Ops, Callable[[], None]]:
    from scimsync import Email, Name, PatchOperation, ScimClient, User

    c = ScimClient(base, TOKEN)
    user = User(
        user_name="jdoe@example.com",
        external_id="701984",
        name=Name(family_name="Doe", given_name="Jane"),
        display_name="Jane Doe",
        active=True,
        emails=[Email(value="jdoe@example.com", type="work", primary=True)],
    )
    ops = [PatchOperation(op="replace", path="displayName", value="Jane Q. Doe")]
    return {
        "create": lambda: c.users.create(user),
        "patch": lambda: c.users.patch(UID, ops),
        "get": lambda: c.users.get(UID),
    }, c.close


def _scim2_client(base: str, checks: bool) -> tuple[Ops, Callable[[], None]]:
    from httpx2 import Client
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_models import Email, Name, PatchOp, PatchOperation, ScimProvider, User

    http = Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"})
    scim = SyncSCIMClient(
        http,
        provider=ScimProvider(models=[User]),
        check_request_payload=checks,
        check_response_payload=checks,
    )
    if checks:
        user: Any = User(
            user_name="jdoe@example.com",
            external_id="701984",
            name=Name(family_name="Doe", given_name="Jane"),
            display_name="Jane Doe",
            active=True,
            emails=[Email(value="jdoe@example.com", type="work", primary=True)],
        )
        patch_op: Any = PatchOp[User](
            operations=[
                PatchOperation[User](
                    op=PatchOperation.Op.replace_, path="displayName", value="Jane Q. Doe"
                )
            ]
        )
        return {
            "create": lambda: scim.create(User, user),
            "patch": lambda: scim.modify(User, UID, patch_op),
            "get": lambda: scim.query(User, UID),
        }, http.close
    return {
        "create": lambda: scim.create(resource=CREATE_BODY, url="/Users"),
        "patch": lambda: scim.modify(User, UID, PATCH_BODY),
        "get": lambda: scim.query(User, UID),
    }, http.close
    return {
        "create": lambda: scim.create(User, user),
        "patch": lambda: scim.modify(User, UID, patch_op),
        "get": lambda: scim.query(User, UID),
    }, http.close


def scim2_client_checked(base: str) -> tuple[Ops, Callable[[], None]]:
    return _scim2_client(base, True)


def scim2_client_unchecked(base: str) -> tuple[Ops, Callable[[], None]]:
    return _scim2_client(base, False)


def plain_http_client(base: str) -> tuple[Ops, Callable[[], None]]:
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    prefix = parts.path
    h = {
        "Authorization": f"Bearer {TOKEN}",
        "User-Agent": "bench",
        "Accept": "application/scim+json",
        "Content-Type": "application/scim+json",
    }

    def call(method: str, path: str, body: Any) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, prefix + path, body=data, headers=h)
        r = conn.getresponse()
        return json.loads(r.read())

    return {
        "create": lambda: call("POST", "/Users", CREATE_BODY),
        "patch": lambda: call("PATCH", f"/Users/{UID}", PATCH_BODY),
        "get": lambda: call("GET", f"/Users/{UID}", None),
    }, conn.close


CONTENDERS: list[tuple[str, Callable[[str], tuple[Ops, Callable[[], None]]]]] = [
    ("(a) requests.Session loop", plain_requests),
    ("(b) ScimClient raw", scimsync_raw),
    ("(b) ScimClient typed", scimsync_typed),
    ("(c) scim2-client (httpx2)", scim2_client_checked),
    ("(c) scim2-client, no checks", scim2_client_unchecked),
    ("(d) http.client", plain_http_client),
]


def measure(fn: Callable[[], Any], n: int) -> float:
    """CPU seconds per call over n calls (garbage collection paused, for every contender)."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.process_time()
        for _ in range(n):
            fn()
        return (time.process_time() - t0) / n
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (numbers are noisier)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return

    n, rounds = (100, 3) if args.quick else (200, 15)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        base = f"http://127.0.0.1:{port}/scim/v2"
        setups = []
        for label, make in CONTENDERS:
            try:
                ops, close = make(base)
                for fn in ops.values():  # warm up connections, caches, imports
                    for _ in range(20):
                        fn()
                setups.append((label, ops, close))
            except ImportError as exc:
                print(f"skipping {label}: {exc}")
        best: dict[str, dict[str, float]] = {label: {} for label, _, _ in setups}
        for _ in range(rounds):  # interleave contenders so drift hits all alike
            for label, ops, _ in setups:
                for op, fn in ops.items():
                    t = measure(fn, n)
                    best[label][op] = min(best[label].get(op, float("inf")), t)
        for _, _, close in setups:
            close()
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)

    base_label = CONTENDERS[0][0]
    ops_names = ["create", "patch", "get"]
    print(f"\nclient CPU per operation, µs (best of {rounds} rounds x {n} calls); ratio vs (a)")
    print(f"{'contender':30}" + "".join(f"{op:>18}" for op in ops_names) + f"{'mean ratio':>12}")
    for label in best:
        cells, ratios = [], []
        for op in ops_names:
            us = best[label][op] * 1e6
            ratio = best[label][op] / best[base_label][op]
            ratios.append(ratio)
            cells.append(f"{us:9.1f} ({ratio:4.2f}x)")
        print(f"{label:30}" + "".join(f"{c:>18}" for c in cells) + f"{sum(ratios) / 3:11.2f}x")


if __name__ == "__main__":
    main()
