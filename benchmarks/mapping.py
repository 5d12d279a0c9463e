"""Map, validate and diff N users; compare with hand-written baselines in the same run.

Usage::

    .venv/bin/python benchmarks/mapping.py           # 100,000 users
    .venv/bin/python benchmarks/mapping.py --quick   # 10,000 users

Stages (the AWS profile and its default Django-style mapping):

* map       ``mapping.build(user, key, for_create=True)``
              baseline: a hand-written function building the same dict
* validate  ``AWS.check_user(rep, key)`` (missing-name policy + every AWS rule)
              baseline: ``json.dumps(rep)`` (the least any sender does with a rep)
* diff      ``diff_resource(old, new, AWS)`` (a third of the users changed)
              baseline: ``old == new`` plus a hand-written per-key compare
* hash      ``representation_hash(rep)``
              baseline: ``json.dumps(rep)``

Timings are wall-clock per user (best of 3 runs); peak memory comes from a separate
``tracemalloc`` pass so that tracing does not distort the timings.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from scimsync import AWS, diff_resource, representation_hash

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
FIRST = ["Ada", "Grace", "Alan", "Barbara", "Linus", "Zoë", "José", "Ngozi", "Mei", "Omar"]
LAST = ["Lovelace", "Hopper", "Turing", "Liskov", "Torvalds", "Núñez", "Okafor", "Chen", ""]


class LocalUser:
    """A plain object shaped like a Django/Flask user."""

    __slots__ = ("email", "first_name", "is_active", "last_name", "pk", "username")

    def __init__(self, pk: int, rng: random.Random) -> None:
        self.pk = pk
        self.first_name = rng.choice(FIRST)
        self.last_name = rng.choice(LAST)
        self.username = f"{self.first_name.lower()}.{pk}"
        self.email = f" {self.username}@Example.org " if pk % 7 else ""
        self.is_active = pk % 11 != 0


def hand_written(u: LocalUser, key: str) -> dict[str, Any]:
    """What a developer would write by hand for the same mapping."""
    first = u.first_name.strip() if u.first_name else ""
    last = u.last_name.strip() if u.last_name else ""
    rep: dict[str, Any] = {"schemas": [CORE], "userName": str(u.username).strip()}
    name = {}
    if first:
        name["givenName"] = first
    if last:
        name["familyName"] = last
    if name:
        rep["name"] = name
    display = " ".join(f"{u.first_name} {u.last_name}".split())
    if display:
        rep["displayName"] = display
    email = u.email.strip() if u.email else ""
    if email:
        rep["emails"] = [{"type": "work", "primary": True, "value": email}]
    rep["active"] = bool(u.is_active)
    rep["externalId"] = key
    return rep


def hand_compare(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if old == new:
        return []
    return [k for k in new.keys() | old.keys() if old.get(k) != new.get(k)]


def timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_kib(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10,000 users instead of 100,000")
    ap.add_argument("-n", type=int, default=None, help="number of users")
    args = ap.parse_args()
    n = args.n or (10_000 if args.quick else 100_000)

    rng = random.Random(1234)
    users = [LocalUser(i, rng) for i in range(1, n + 1)]
    keys = [str(u.pk) for u in users]
    mapping = AWS.default_user_mapping()
    build = mapping.build

    # correctness first: the baseline does exactly the same mapping
    reps = [build(u, k, for_create=True) for u, k in zip(users, keys, strict=True)]
    assert reps == [hand_written(u, k) for u, k in zip(users, keys, strict=True)]
    checked = [AWS.check_user(r, k) for r, k in zip(reps, keys, strict=True)]
    finals = [r for r, _ in checked]
    invalid = sum(1 for _, p in checked if p)
    # a third of the users change: new title, renamed, deactivated
    news = []
    for i, r in enumerate(finals):
        new = dict(r)
        if i % 3 == 0:
            new["title"] = "Engineer"
            new["name"] = dict(r["name"], givenName=r["name"]["givenName"] + "x")
            new["active"] = not r["active"]
        news.append(new)

    stages: list[tuple[str, Callable[[], Any], str, Callable[[], Any]]] = [
        (
            "map",
            lambda: [build(u, k, for_create=True) for u, k in zip(users, keys, strict=True)],
            "hand-written dict",
            lambda: [hand_written(u, k) for u, k in zip(users, keys, strict=True)],
        ),
        (
            "validate",
            lambda: [AWS.check_user(r, k) for r, k in zip(reps, keys, strict=True)],
            "json.dumps(rep)",
            lambda: [json.dumps(r) for r in reps],
        ),
        (
            "diff",
            lambda: [diff_resource(o, nw, AWS) for o, nw in zip(finals, news, strict=True)],
            "== + key compare",
            lambda: [hand_compare(o, nw) for o, nw in zip(finals, news, strict=True)],
        ),
        (
            "hash",
            lambda: [representation_hash(r) for r in finals],
            "json.dumps(rep)",
            lambda: [json.dumps(r) for r in finals],
        ),
    ]

    print(f"scimsync mapping benchmark: {n:,} users, AWS profile, default mapping")
    print(f"  {invalid} users invalid after the missing-name policy (expected 0)")
    header = (
        f"{'stage':<9} {'us/user':>8} {'baseline':<18} {'us/user':>8} {'ratio':>6}"
        f" {'peak KiB':>10} {'base KiB':>10} {'mem ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    total = 0.0
    for name, fn, base_name, base_fn in stages:
        t = timed(fn) / n * 1e6
        tb = timed(base_fn) / n * 1e6
        m = peak_kib(fn)
        mb = peak_kib(base_fn)
        total += t
        print(
            f"{name:<9} {t:8.2f} {base_name:<18} {tb:8.2f} {t / tb:6.1f}"
            f" {m:10.0f} {mb:10.0f} {m / mb:9.2f}"
        )
    print(f"map + validate + diff + hash: {total:.2f} us/user ({n * total / 1e6:.2f} s for {n:,})")


if __name__ == "__main__":
    main()
