"""The PostgreSQL and Redis fixtures give each test its own, real, empty space."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.services


def test_postgres_database_is_fresh_and_usable(postgres_dsn: str, postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert postgres_url.startswith("postgresql+psycopg://")
    assert postgres_url.rsplit("/", 1)[1] == postgres_dsn.rsplit("dbname=", 1)[1]


def test_redis_prefix_keys_are_the_tests_own(redis_url: str, redis_prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.set(f"{redis_prefix}:k", "v")
        assert client.get(f"{redis_prefix}:k") == b"v"
        assert list(client.scan_iter(match=f"*{redis_prefix}*")) == [f"{redis_prefix}:k".encode()]
    finally:
        client.close()
