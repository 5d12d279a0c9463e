"""Initial sync into the AWS emulator with per-request latency: throughput and requests.

Usage::

    .venv/bin/python benchmarks/initial_sync.py           # 10,000 users, 100 groups
    .venv/bin/python benchmarks/initial_sync.py --quick   # 1,000 users, 10 groups

The emulator (AWS profile) runs in its own process and adds ``--latency`` (20 ms) to every
response; scimsync syncs with ``Target.concurrency = --concurrency`` (8) through one deep
``reconcile`` (read the target once in pages, match in that index, then one POST per
object and one PATCH per 100 memberships). Each group holds ``users / groups`` users.

Figures:

* **bound**: latency and concurrency allow ``concurrency / latency`` requests per second
  (8 / 0.020 s = 400 req/s); the minimum number of requests is one POST per user and
  group + one PATCH per 100 memberships + the list pages needed to read the (empty)
  target once; so the bound in objects/s is ``400 * objects / minimum``. Goal: >= 0.8.
* **raw**: the same client sending bare POSTs at the same concurrency to a fresh
  emulator, measured in this run: what the HTTP stack and the emulator can do at all.
  If raw is itself far below the bound, the emulator (or the machine) is the bottleneck.
* **requests / minimum**: goal <= 1.05.
* **client CPU per object**: this process's CPU time during the sync divided by the
  objects, against the same figure for a bare POST. One Python process cannot run more
  than about one core of Python at a time (the GIL), so ``1 / CPU per object`` is a
  ceiling on objects per second whatever the latency and concurrency; it is much less
  disturbed by other load on the machine than the rates are.
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from _modes_common import EmulatorProcess, env_note, make_groups, make_users, provisioner

from scimsync import reconcile, signals


def raw_posts(latency: float, concurrency: int, n: int) -> tuple[float, float]:
    """Bare ``client.users.create_raw`` at the given concurrency: (requests per second,
    this process's CPU seconds per request)."""
    with EmulatorProcess("aws", latency) as emu:
        client = emu.client()
        users = [
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"raw{i}@example.org",
                "name": {"givenName": "R", "familyName": f"{i}"},
                "displayName": f"R {i}",
                "emails": [{"value": f"raw{i}@example.org", "primary": True, "type": "work"}],
                "active": True,
            }
            for i in range(n)
        ]
        t0 = time.perf_counter()
        c0 = time.process_time()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(client.users.create_raw, users))
        return n / (time.perf_counter() - t0), (time.process_time() - c0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 users and 10 groups")
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--groups", type=int, default=None)
    ap.add_argument("--latency", type=float, default=0.020)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    n_users = args.users or (1_000 if args.quick else 10_000)
    n_groups = args.groups or (10 if args.quick else 100)
    per_group = max(1, n_users // n_groups)
    users = make_users(n_users)
    groups = make_groups(n_groups, [u["id"] for u in users], per_group)

    print(
        f"initial sync: {n_users} users, {n_groups} groups of {per_group}, "
        f"latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency} ({env_note()})"
    )

    raw_rate, raw_cpu = raw_posts(args.latency, args.concurrency, min(2_000, n_users))

    with EmulatorProcess("aws", args.latency) as emu:
        prov = provisioner(emu.client(), users, groups, concurrency=args.concurrency)
        stamps: dict[str, list[float]] = {"user": [], "group": []}
        lock = threading.Lock()

        def on_created(sender, *, record, **extra):
            with lock:
                stamps[record.kind].append(time.perf_counter())

        with signals.object_created.connected_to(on_created, sender=prov):
            t0 = time.perf_counter()
            c0 = time.process_time()
            summary = reconcile(prov, "t", mode="deep")
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - c0

    objects = n_users + n_groups
    memberships = n_groups * per_group
    patches = sum(math.ceil(len(g["members"]) / 100) for g in groups)
    list_pages = 2  # /Users and /Groups of an empty target: one page each
    minimum = n_users + n_groups + patches + list_pages
    bound_rps = args.concurrency / args.latency
    bound_ops = bound_rps * objects / minimum
    users_elapsed = max(stamps["user"]) - t0 if stamps["user"] else float("nan")
    created = summary.counts.get("created", 0)
    failed = summary.counts.get("failed", 0)

    print(
        f"  result: {summary.status}; created {created} of {objects}, failed {failed}; "
        f"{memberships} memberships"
    )
    print(f"  {'figure':<44}{'value':>12}{'goal':>10}")
    rows = [
        ("requests sent", f"{summary.requests}", ""),
        ("minimum requests", f"{minimum}", ""),
        ("requests / minimum", f"{summary.requests / minimum:.3f}x", "<= 1.05"),
        ("requests per object", f"{summary.requests / objects:.3f}", ""),
        ("wall time (s)", f"{elapsed:.1f}", ""),
        ("users per second (user phase)", f"{n_users / users_elapsed:.0f}", ""),
        ("objects per second (whole sync)", f"{objects / elapsed:.0f}", ""),
        ("bound, objects per second", f"{bound_ops:.0f}", ""),
        ("whole sync / bound", f"{objects / elapsed / bound_ops:.2f}", ">= 0.80"),
        (
            "user phase / bound (400 users/s)",
            f"{n_users / users_elapsed / bound_rps:.2f}",
            ">= 0.80",
        ),
        ("raw POST rate, same stack (req/s)", f"{raw_rate:.0f}", ""),
        ("raw POST rate / bound", f"{raw_rate / bound_rps:.2f}", ""),
        ("sync request rate / raw POST rate", f"{summary.requests / elapsed / raw_rate:.2f}", ""),
        ("client CPU per object, sync (ms)", f"{cpu / objects * 1000:.2f}", ""),
        ("client CPU per raw POST (ms)", f"{raw_cpu * 1000:.2f}", ""),
        ("CPU-bound ceiling, one process (objects/s)", f"{objects / cpu:.0f}", ""),
    ]
    for name, value, goal in rows:
        print(f"  {name:<44}{value:>12}{goal:>10}")


if __name__ == "__main__":
    main()
