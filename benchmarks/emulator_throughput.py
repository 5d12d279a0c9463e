"""How many requests per second the SCIM emulator serves, against a trivial stdlib server.

Run:  .venv/bin/python benchmarks/emulator_throughput.py [--quick] [--clients N] [--seconds S]

The baseline is a stdlib ``ThreadingHTTPServer`` that answers every request with a
fixed small JSON body (same HTTP/1.1 keep-alive, TCP_NODELAY and single-write response
as the emulator), measured in the same run by the same clients. Clients are separate
processes, each with one keep-alive ``http.client`` connection, sending requests back to
back for a fixed time. The figure that matters is the ratio emulator/baseline: how much
of the HTTP stack's capacity the emulator's own work (auth, routing, validation, JSON,
the lock, the request log) leaves.

Scenarios, for each profile (aws, generic):
* GET /Users/{id}            one stored user
* POST /Users                a new user per request (validation + uniqueness indexes)
* GET /Users?filter=...      ``userName eq "..."`` among 1000 users
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit

from scimsync.testing import EmulatorServer

FIXED = json.dumps(
    {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "x", "userName": "fixed"}
).encode()


class _Baseline(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 64 * 1024

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(FIXED)))
        self.end_headers()
        self.wfile.write(FIXED)

    do_GET = do_POST = _serve


def _user(name: str) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "name": {"givenName": "Bench", "familyName": "Mark"},
        "displayName": "Bench Mark",
        "active": True,
        "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
    }


def _client(args: tuple[str, str, str, str, float, int]) -> tuple[int, int, float]:
    """One client process: send requests for *seconds*; return (ok, failed, elapsed)."""
    url, token, method, path, seconds, worker = args
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    base = parts.path
    headers = {
        "Authorization": f"Bearer {token}",
        "User-Agent": "bench",
        "Content-Type": "application/json",
    }
    ok = failed = 0
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        body = None
        if method == "POST":
            body = json.dumps(_user(f"w{worker}-{n}-{time.monotonic_ns()}"))
        conn.request(method, base + path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if 200 <= resp.status < 300:
            ok += 1
        else:
            failed += 1
        n += 1
    elapsed = time.perf_counter() - start
    conn.close()
    return ok, failed, elapsed


def measure(
    pool: ProcessPoolExecutor,
    clients: int,
    url: str,
    token: str,
    method: str,
    path: str,
    seconds: float,
) -> tuple[float, int]:
    jobs = [(url, token, method, path, seconds, i) for i in range(clients)]
    results = list(pool.map(_client, jobs))
    rps = sum(ok / elapsed for ok, _, elapsed in results)
    failed = sum(f for _, f, _ in results)
    return rps, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short run (0.5 s per scenario)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="seconds per scenario (default 3)"
    )
    args = parser.parse_args(argv)
    seconds = 0.5 if args.quick else args.seconds

    baseline = ThreadingHTTPServer(("127.0.0.1", 0), _Baseline)
    baseline.daemon_threads = True
    threading.Thread(target=baseline.serve_forever, daemon=True).start()
    baseline_url = f"http://127.0.0.1:{baseline.server_address[1]}/scim/v2"

    rows: list[tuple[str, float, int]] = []
    with ProcessPoolExecutor(max_workers=args.clients) as pool:
        measure(pool, args.clients, baseline_url, "x", "GET", "/Users/x", 0.2)  # warm the pool
        base_rps, _ = measure(pool, args.clients, baseline_url, "x", "GET", "/Users/x", seconds)
        for profile in ("aws", "generic"):
            with EmulatorServer(profile, log_limit=1000) as server:  # type: ignore[arg-type]
                for i in range(1000):
                    server.seed_user(_user(f"user{i:04d}"))
                uid = server.find_user("user0500")["id"]
                flt = quote('userName eq "user0500"')
                scenarios = [
                    ("GET /Users/{id}", "GET", f"/Users/{uid}"),
                    ("POST /Users", "POST", "/Users"),
                    ("GET /Users?filter (1000 users)", "GET", f"/Users?filter={flt}"),
                ]
                for label, method, path in scenarios:
                    rps, failed = measure(
                        pool, args.clients, server.base_url, server.token, method, path, seconds
                    )
                    rows.append((f"{profile:7s} {label}", rps, failed))
    baseline.shutdown()

    print(
        f"emulator throughput: {args.clients} client processes, {seconds:g} s per scenario, {sys.platform}"
    )
    print(f"{'scenario':45s} {'req/s':>9s} {'vs baseline':>12s}")
    print(f"{'baseline (stdlib server, fixed body)':45s} {base_rps:9.0f} {1.0:12.2f}")
    for label, rps, failed in rows:
        note = f"  ({failed} non-2xx!)" if failed else ""
        print(f"{label:45s} {rps:9.0f} {rps / base_rps:12.2f}{note}")
    return 1 if any(f for _, _, f in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
