"""Reconcile costs: incremental and deep runs over unchanged users, and planning memory.

Usage::

    .venv/bin/python benchmarks/reconcile.py           # 10,000 users; memory at 100,000
    .venv/bin/python benchmarks/reconcile.py --quick   # 2,000 users; memory at 10,000

Stages:

* **setup**: an AWS emulator in its own process (no latency) seeded with the users, and a
  store whose links hold exactly what a sync pushed (every run then finds every user
  unchanged, which the script checks); the initial sync itself is initial_sync.py's job.
* **incremental**, nothing changed: requests sent (goal 0) and seconds.
  Baseline, same run: mapping + validating + hashing every user by hand (the least work
  any change detection over the source must do), so the ratio is reconcile's overhead.
* **deep**, nothing changed: list requests (goal: users / page size) and seconds.
  Baseline, same run: the bare paged read of /Users with the same client
  (``list(client.users.list_raw(pagination="cursor"))``).
* **planning memory**: ``plan(mode="deep")`` (and with ``--memory-incremental``
  ``plan(mode="incremental")``) over ``--memory-users`` users (100,000), all linked and
  unchanged, each in a fresh process
  whose peak RSS growth during the plan is reported (Linux VmHWM, reset just before the
  plan; the source's own objects are allocated before and not counted). The emulator
  seeds itself in its own process. Goal < 200 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _modes_common import EmulatorProcess, env_note, make_users, provisioner, seeded_reps

from scimsync import (
    AWS,
    IterableSource,
    Link,
    Provisioner,
    RetryPolicy,
    ScimClient,
    SQLiteStore,
    Target,
    plan,
    reconcile,
    representation_hash,
)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


@contextlib.contextmanager
def seeded(n_users: int):
    """An AWS emulator (own process) holding ``n_users`` users and a store whose links say
    they were pushed exactly as they are: the state a sync of ``make_users(n)`` leaves
    (checked: every run below finds every user unchanged)."""
    db = Path(tempfile.mkdtemp(prefix="scimsync-bench-")) / "state.db"
    reps = seeded_reps(n_users)
    with EmulatorProcess("aws", 0.0, seed=reps) as emu:
        store = SQLiteStore(db)
        batch = []
        for u, rep, rid in zip(make_users(n_users), reps, emu.ids, strict=True):
            batch.append(
                Link(
                    target="t",
                    kind="user",
                    key=u["id"],
                    remote_id=rid,
                    last_rep=rep,
                    last_hash=representation_hash(rep),
                    display=rep["userName"],
                )
            )
            if len(batch) >= 5_000:
                store.save_links(batch)
                batch = []
        store.save_links(batch)
        store.close()
        del reps, batch
        yield emu, db


def speed(n_users: int) -> None:
    users = make_users(n_users)
    with seeded(n_users) as (emu, db):
        prov = provisioner(emu.client(), users, [], concurrency=8, db=db)
        t = prov.targets[0]

        def by_hand():
            for u in users:
                rep = t.user_mapping.build(u, u["id"], for_create=False)
                rep, _ = t.profile.check_user(rep, u["id"])
                representation_hash(rep)

        _, base_inc = timed(by_hand)
        inc, inc_s = timed(lambda: reconcile(prov, "t", mode="incremental"))
        client = emu.client(retry=RetryPolicy())
        before = client.request_count
        _pages, base_deep = timed(lambda: list(client.users.pages_raw(pagination="cursor")))
        raw_pages = client.request_count - before
        deep, deep_s = timed(lambda: reconcile(prov, "t", mode="deep"))

    page = AWS.page_size
    print(f"  {'stage':<48}{'value':>12}{'goal':>12}")
    rows = [
        (f"incremental, {n_users} unchanged: requests", f"{inc.requests}", "0"),
        ("incremental: seconds", f"{inc_s:.2f}", ""),
        ("  baseline map+validate+hash by hand: seconds", f"{base_inc:.2f}", ""),
        ("  incremental / baseline", f"{inc_s / base_inc:.2f}x", ""),
        ("  incremental: users per second", f"{n_users / inc_s:.0f}", ""),
        ("deep: list requests (users + groups)", f"{deep.requests}", f"~{n_users // page + 1}"),
        ("deep: seconds", f"{deep_s:.2f}", ""),
        ("  baseline bare paged read of /Users: seconds", f"{base_deep:.2f}", ""),
        ("  baseline pages", f"{raw_pages}", ""),
        ("  deep / (baseline read + incremental)", f"{deep_s / (base_deep + inc_s):.2f}x", ""),
    ]
    assert inc.counts == {"unchanged": n_users}, inc.counts
    assert deep.counts == {"unchanged": n_users}, deep.counts
    for name, value, goal in rows:
        print(f"  {name:<48}{value:>12}{goal:>12}")


def memory(n_users: int, modes: tuple[str, ...]) -> None:
    """Peak memory of plan() over n_users linked, unchanged users, each mode in a fresh
    child process that reports its peak RSS growth (VmHWM, reset just before the plan),
    so nothing but planning is counted, at full speed."""
    with seeded(n_users) as (emu, db):
        for mode in modes:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--measure-plan",
                    str(db),
                    emu.base_url,
                    str(n_users),
                    mode,
                ],
                env={**os.environ, "SCIM_TOKEN": emu.token},
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  plan({mode}) of {n_users} users: peak RSS growth {r['peak'] / 1e6:.0f} MB "
                f"({r['peak'] / n_users:.0f} bytes/user; goal < 200 MB), {r['requests']} "
                f"requests, {r['secs']:.1f} s wall of which {r['cpu']:.1f} s CPU in the "
                "planning process (the rest is waiting for the emulator's pages)"
            )


def _rss() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process, in bytes (Linux)."""
    vals = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                vals[k] = int(v.split()[0]) * 1024
    return vals["VmRSS"], vals["VmHWM"]


def measure_plan(db: str, base_url: str, n_users: int, mode: str) -> None:
    users = make_users(n_users)
    client = ScimClient(base_url, os.environ["SCIM_TOKEN"], retry=RetryPolicy())
    prov = Provisioner(
        source=IterableSource(users),
        store=SQLiteStore(db),
        targets=[Target(name="t", client=client, profile=AWS)],
    )
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    base, _ = _rss()
    t0 = time.perf_counter()
    c0 = time.process_time()
    p = plan(prov, "t", mode=mode)
    secs = time.perf_counter() - t0
    cpu = time.process_time() - c0
    _, peak = _rss()
    assert p.unchanged == n_users, (p.counts(), p.reasons)
    assert not p.actions, (p.counts(), p.reasons)
    print(
        json.dumps(
            {"peak": peak - base, "secs": secs, "cpu": cpu, "requests": client.request_count}
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--memory-users", type=int, default=None)
    ap.add_argument(
        "--memory-incremental", action="store_true", help="also measure plan(incremental)"
    )
    ap.add_argument("--measure-plan", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure_plan:
        db, base_url, n, mode = args.measure_plan
        measure_plan(db, base_url, int(n), mode)
        return
    n = args.users or (2_000 if args.quick else 10_000)
    m = args.memory_users or (10_000 if args.quick else 100_000)
    print(f"reconcile benchmark ({env_note()})")
    speed(n)
    memory(m, ("deep",) if not args.memory_incremental else ("deep", "incremental"))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
