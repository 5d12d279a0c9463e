"""How many requests per second the SCIM emulator serves, against a trivial stdlib server.

Run:  .venv/bin/python benchmarks/emulator_throughput.py [--quick] [--clients N] [--seconds S]

The baseline is a stdlib ``ThreadingHTTPServer`` that answers every request with a
fixed small JSON body (same HTTP/1.1 keep-alive, TCP_NODELAY and single-write response
as the emulator), measured in the same run by the same clients, in short runs alternating with each
scenario (medians are kept, so a change in machine load skews the ratios less). Besides
requests per second it prints the servers' CPU time per request (the servers run in the
benchmark's process, the clients in others), which load disturbs much less. Clients are separate
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
import statistics
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
) -> tuple[float, int, float]:
    """(requests/s, failures, server CPU microseconds per request) for one timed run.

    The servers run in this process and the clients in others, so this process's CPU
    time is the servers' work: a figure that machine load disturbs much less than rps.
    """
    jobs = [(url, token, method, path, seconds, i) for i in range(clients)]
    cpu0 = time.process_time()
    results = list(pool.map(_client, jobs))
    cpu = time.process_time() - cpu0
    ok = sum(r[0] for r in results)
    rps = sum(ok_ / elapsed for ok_, _, elapsed in results)
    failed = sum(f for _, f, _ in results)
    return rps, failed, cpu / max(ok, 1) * 1e6


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

    # The machine may be shared and its load may change during the run: each scenario
    # alternates short runs with the baseline (``rounds`` pairs) and keeps the medians.
    rounds = 3 if args.quick else 5
    slot = seconds / rounds
    rows: list[tuple[str, float, float, float, float, int]] = []
    with ProcessPoolExecutor(max_workers=args.clients) as pool:
        measure(pool, args.clients, baseline_url, "x", "GET", "/Users/x", 0.2)  # warm the pool
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
                    base, emu, failed = [], [], 0
                    for _ in range(rounds):
                        base.append(
                            measure(pool, args.clients, baseline_url, "x", "GET", "/Users/x", slot)
                        )
                        run = measure(
                            pool, args.clients, server.base_url, server.token, method, path, slot
                        )
                        emu.append(run)
                        failed += run[1]
                    rows.append(
                        (
                            f"{profile:7s} {label}",
                            statistics.median(r[0] for r in emu),
                            statistics.median(r[0] for r in base),
                            statistics.median(r[2] for r in emu),
                            statistics.median(r[2] for r in base),
                            failed,
                        )
                    )
    baseline.shutdown()

    print(
        f"emulator throughput: {args.clients} client processes, {rounds} alternating "
        f"{slot:.2g} s runs per scenario (medians), {sys.platform}"
    )
    print(
        f"{'scenario':38s} {'req/s':>7s} {'base':>7s} {'ratio':>6s}   "
        f"{'cpu us/req':>10s} {'base':>6s} {'x':>5s}"
    )
    for label, rps, base_rps, cpu, base_cpu, failed in rows:
        note = f"  ({failed} non-2xx!)" if failed else ""
        print(
            f"{label:38s} {rps:7.0f} {base_rps:7.0f} {rps / base_rps:6.2f}   "
            f"{cpu:10.0f} {base_cpu:6.0f} {cpu / base_cpu:5.1f}{note}"
        )
    return 1 if any(f for *_, f in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
