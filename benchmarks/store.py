"""State store costs, each against a plain-sqlite3 baseline measured in the same run.

Usage::

    .venv/bin/python benchmarks/store.py           # 20,000 rows / 100,000 links
    .venv/bin/python benchmarks/store.py --quick   # 2,000 rows / 10,000 links

Stages (``SQLiteStore`` on a temporary file, WAL, ``synchronous=NORMAL``):

* enqueue        ``store.enqueue("user", key)``, distinct keys (what a host's save pays)
                   baseline: one autocommit ``INSERT`` into a two-column table, same pragmas
* enqueue again  the same keys once more (coalesced into the existing rows)
                   baseline: the same plain ``INSERT`` as above
* claim+complete ``claim(owner, 50, 60)`` then ``complete(item)`` per row
                   baseline: ``SELECT … LIMIT 50`` then one ``DELETE`` per row
* save_link      one ``save_link()`` per link (own transaction each)
                   baseline: ``save_links()`` of the same links in one transaction
* iter_links     streaming every link of a target (peak traced memory)
                   baseline: ``list(store.iter_links(...))`` (all links held at once)

Timings are wall-clock per row (best of 3 where repeatable); figures are printed as ratios
to the baseline, so they compare across machines.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from scimsync import Link, SQLiteStore


def per_row(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    n = fn()
    return (time.perf_counter() - start) / max(n, 1)


def baseline_conn(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS q (kind TEXT, key TEXT)")
    return conn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI smoke runs")
    args = parser.parse_args()
    rows = 2_000 if args.quick else 20_000
    links = 10_000 if args.quick else 100_000
    tmp = Path(tempfile.mkdtemp(prefix="scimsync-bench-"))
    results: list[tuple[str, float, float]] = []

    # --- enqueue ------------------------------------------------------------------------
    store = SQLiteStore(tmp / "store.db")
    store.ensure_schema()
    keys = [str(i) for i in range(rows)]

    def enqueue_all() -> int:
        for key in keys:
            store.enqueue("user", key)
        return len(keys)

    base = baseline_conn(tmp / "base.db")

    def insert_all() -> int:
        for key in keys:
            base.execute("INSERT INTO q (kind, key) VALUES (?, ?)", ("user", key))
        return len(keys)

    t_base = per_row(insert_all)
    t_enq = per_row(enqueue_all)
    results.append(("enqueue (new row)", t_enq, t_base))
    t_base2 = per_row(insert_all)
    t_again = per_row(enqueue_all)
    results.append(("enqueue (coalesced)", t_again, t_base2))
    assert store.outbox_counts()["pending"] == rows

    # --- claim + complete ----------------------------------------------------------------
    def drain() -> int:
        done = 0
        while True:
            items = store.claim("bench", 50, 60)
            if not items:
                return done
            for item in items:
                store.complete(item)
                done += 1

    def drain_base() -> int:
        done = 0
        while True:
            got = base.execute("SELECT rowid FROM q LIMIT 50").fetchall()
            if not got:
                return done
            for (rowid,) in got:
                base.execute("DELETE FROM q WHERE rowid = ?", (rowid,))
                done += 1

    t_drain = per_row(drain)
    t_drain_base = per_row(drain_base)
    results.append(("claim + complete", t_drain, t_drain_base))

    # --- links ---------------------------------------------------------------------------
    one = [Link("aws", "user", f"u{i}", f"r{i}") for i in range(rows)]

    def save_each() -> int:
        for link in one:
            store.save_link(link)
        return len(one)

    bulk_store = SQLiteStore(tmp / "bulk.db")
    t_bulk = per_row(lambda: bulk_store.save_links(one))
    t_each = per_row(save_each)
    results.append(("save_link (one tx each)", t_each, t_bulk))

    many = SQLiteStore(tmp / "many.db")
    many.save_links(
        Link("aws", "user", f"u{i:07d}", f"r{i}", last_rep={"userName": f"u{i}@example.com"})
        for i in range(links)
    )
    tracemalloc.start()
    count = sum(1 for _ in many.iter_links("aws"))
    stream_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    held = list(many.iter_links("aws"))
    list_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == len(held) == links
    del held

    print(f"SQLiteStore, {rows:,} outbox rows, {links:,} links, SQLite {sqlite3.sqlite_version}")
    print(f"{'stage':<26}{'store µs/row':>14}{'baseline µs/row':>18}{'ratio':>9}")
    for name, mine, theirs in results:
        print(f"{name:<26}{mine * 1e6:>14.1f}{theirs * 1e6:>18.1f}{mine / theirs:>8.2f}x")
    print(
        f"{'iter_links peak memory':<26}{stream_peak / 1e6:>12.1f}MB"
        f"{list_peak / 1e6:>16.1f}MB{stream_peak / list_peak:>8.2f}x"
    )


if __name__ == "__main__":
    main()
