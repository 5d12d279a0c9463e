"""Reading AWS group memberships: requests sent, against the approaches other tools use.

Usage::

    .venv/bin/python benchmarks/memberships.py           # 200 groups, 500 users
    .venv/bin/python benchmarks/memberships.py --quick   # 40 groups, 100 users

AWS never returns members on group reads. Ways to learn who is in which group:

* **scimsync**: per *group*, ``GET /Users?filter=groups.value eq "<gid>"`` with cursor
  paging (one request per group, one more per extra 100 members);
* **per user** (idp-scim-sync since its PR #534): per *user*,
  ``GET /Groups?filter=members.value eq "<uid>"`` — measured in this run;
* **per pair** (idp-scim-sync before, ssosync's probe): per (group, user),
  ``GET /Groups?filter=id eq "<gid>" and members eq "<uid>"`` — groups x users requests;
  timed on a sample of 1,000 probes in this run and extrapolated.

All three are run against the same AWS emulator (own process, no latency) holding the
same memberships (each user in ``--per-user`` random groups, seeded), and the first two
are checked to find exactly the same memberships.
"""

from __future__ import annotations

import argparse
import random
import time

from _modes_common import EmulatorProcess, env_note, make_users, provisioner

from scimsync import Filter, reconcile
from scimsync._reconcile import read_group_members


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--groups", type=int, default=None)
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--per-user", type=int, default=5, help="groups per user (default 5)")
    args = ap.parse_args()
    n_groups = args.groups or (40 if args.quick else 200)
    n_users = args.users or (100 if args.quick else 500)
    rng = random.Random(7)
    users = make_users(n_users)
    groups = [{"id": f"g{j}", "name": f"Group {j}", "members": []} for j in range(n_groups)]
    for u in users:
        for g in rng.sample(groups, min(args.per_user, n_groups)):
            g["members"].append(u["id"])
    memberships = sum(len(g["members"]) for g in groups)
    print(
        f"AWS memberships: {n_groups} groups, {n_users} users, {memberships} memberships "
        f"({env_note()})"
    )

    with EmulatorProcess("aws", 0.0) as emu:
        prov = provisioner(emu.client(), users, groups, concurrency=8)
        setup = reconcile(prov, "t", mode="deep")
        assert setup.counts.get("failed", 0) == 0, setup.failures
        t = prov.targets[0]
        client = t.client
        gids = [prov.store.get_link("t", "group", g["id"]).remote_id for g in groups]
        uids = [prov.store.get_link("t", "user", u["id"]).remote_id for u in users]

        # scimsync: per group, users by filter, cursor-paged.
        before = client.request_count
        t0 = time.perf_counter()
        ours = {gid: set(read_group_members(t, gid)) for gid in gids}
        ours_s = time.perf_counter() - t0
        ours_req = client.request_count - before

        # per user: groups by members.value filter, cursor-paged.
        before = client.request_count
        t0 = time.perf_counter()
        per_user: dict[str, set[str]] = {gid: set() for gid in gids}
        for uid in uids:
            for g in client.groups.list_raw(
                Filter.eq("members.value", uid), pagination="cursor", page_size=100
            ):
                per_user[g["id"]].add(uid)
        user_s = time.perf_counter() - t0
        user_req = client.request_count - before
        assert per_user == ours, "the two reads disagree"

        # per pair: one probe per (group, user); sample 1,000 and extrapolate.
        pairs = [(g, u) for g in gids for u in uids]
        sample = rng.sample(pairs, min(1_000, len(pairs)))
        t0 = time.perf_counter()
        hits = 0
        for gid, uid in sample:
            flt = f'id eq "{gid}" and members eq "{uid}"'
            hits += sum(1 for _ in client.groups.list_raw(flt, page_size=100))
        pair_s = (time.perf_counter() - t0) / len(sample) * len(pairs)
        pair_req = len(pairs)
        expected_hits = sum(1 for gid, uid in sample if uid in ours[gid])
        assert hits == expected_hits, (hits, expected_hits)

        # The whole deep reconcile (lists + memberships) for reference.
        deep = reconcile(prov, "t", mode="deep")
        assert deep.counts == {"unchanged": n_users + n_groups}, deep.counts

    print(f"  {'approach':<52}{'requests':>10}{'seconds':>10}{'vs scimsync':>13}")
    rows = [
        ("scimsync: per group, users by groups.value filter", ours_req, ours_s),
        ("per user: groups by members.value (idp-scim-sync)", user_req, user_s),
        ("per pair: id+members probe (old idp-scim-sync)*", pair_req, pair_s),
    ]
    for name, req, secs in rows:
        print(f"  {name:<52}{req:>10}{secs:>10.2f}{req / ours_req:>12.1f}x")
    print(
        f"  {'deep reconcile, everything in step (total)':<52}{deep.requests:>10}"
        f"{deep.duration:>10.2f}"
    )
    print(
        "  * per pair: request count is groups x users; seconds extrapolated from "
        f"{len(sample)} probes."
    )


if __name__ == "__main__":
    main()
