"""What the engine adds on top of bare SCIM requests, per user.

Usage::

    .venv/bin/python benchmarks/engine_overhead.py           # 2,000 users
    .venv/bin/python benchmarks/engine_overhead.py --quick   # 300 users

The AWS emulator runs in its own process with no added latency. Measured in this run:

* **raw**: ``client.users.create_raw`` for every user, one thread: the baseline.
* **engine create**: ``Provisioner.sync_many`` of the same users on one thread with a
  remote index (no lookups): one POST per user plus mapping, validation, a link and a
  report record in the store. Reported as a ratio to raw, for the SQLite store and for the
  in-memory reference store (the difference is the store's share).
* **engine unchanged**: the same sync again: nothing to send, so this is the engine's own
  cost per user (source read, mapping, validation, diff, one link read, one report write),
  in microseconds, and as a fraction of one raw POST.
* **requests**: the number of requests each engine pass sent, which must be one POST per
  user and zero.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _modes_common import EmulatorProcess, env_note, make_users

from scimsync import AWS, IterableSource, Provisioner, SQLiteStore, Target
from scimsync.testing import InMemoryStore


def raw_seconds(users: list[dict], n: int) -> float:
    with EmulatorProcess("aws", 0.0) as emu:
        client = emu.client()
        reps = [
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": u["username"],
                "name": {"givenName": u["first_name"], "familyName": u["last_name"]},
                "displayName": f"{u['first_name']} {u['last_name']}",
                "emails": [{"value": u["email"], "primary": True, "type": "work"}],
                "active": True,
                "externalId": u["id"],
            }
            for u in users[:n]
        ]
        t0 = time.perf_counter()
        for rep in reps:
            client.users.create_raw(rep)
        return time.perf_counter() - t0


def engine_seconds(users: list[dict], store_kind: str) -> tuple[float, float, int, int]:
    with EmulatorProcess("aws", 0.0) as emu:
        client = emu.client()
        if store_kind == "sqlite":
            store = SQLiteStore(Path(tempfile.mkdtemp(prefix="scimsync-bench-")) / "s.db")
        else:
            store = InMemoryStore()
        prov = Provisioner(
            source=IterableSource(users, []),
            store=store,
            targets=[Target(name="t", client=client, profile=AWS, concurrency=1)],
        )
        keys = [u["id"] for u in users]
        index = prov.build_remote_index("t", "user")
        n0 = client.request_count
        t0 = time.perf_counter()
        traces = prov.sync_many("user", keys, remote_index=index)
        create = time.perf_counter() - t0
        n1 = client.request_count
        assert {t.outcome for t in traces} == {"created"}, {t.outcome for t in traces}
        t0 = time.perf_counter()
        traces = prov.sync_many("user", keys)
        unchanged = time.perf_counter() - t0
        assert {t.outcome for t in traces} == {"unchanged"}
        return create, unchanged, n1 - n0, client.request_count - n1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300 users")
    ap.add_argument("--users", type=int, default=None)
    args = ap.parse_args()
    n = args.users or (300 if args.quick else 2_000)
    users = make_users(n)
    print(f"engine overhead: {n} users, AWS emulator in its own process ({env_note()})")
    raw = raw_seconds(users, n)
    rows = []
    for kind in ("sqlite", "memory"):
        create, unchanged, sent_create, sent_unchanged = engine_seconds(users, kind)
        rows.append((kind, create, unchanged, sent_create, sent_unchanged))
    per_raw = raw / n
    print(f"  {'figure':<52}{'value':>12}")
    print(f"  {'raw POST, ms per user (baseline)':<52}{per_raw * 1000:>12.2f}")
    for kind, create, unchanged, sent_c, sent_u in rows:
        print(f"  {f'engine create / raw ({kind} store)':<52}{create / raw:>11.2f}x")
        print(f"  {f'requests per user, create ({kind})':<52}{sent_c / n:>12.3f}")
        print(f"  {f'engine unchanged, us per user ({kind})':<52}{unchanged / n * 1e6:>12.0f}")
        print(f"  {f'engine unchanged / raw POST ({kind})':<52}{unchanged / raw:>11.2f}x")
        print(f"  {f'requests, unchanged pass ({kind})':<52}{sent_u:>12d}")


if __name__ == "__main__":
    main()
