"""Fixtures for tests that need PostgreSQL or Redis on 127.0.0.1.

A test that uses them must also carry ``@pytest.mark.services``: when a service is not
reachable the fixture skips the test with the reason, and CI
(``SCIMSYNC_REQUIRE_SERVICES=1``) turns that skip into a failure.

* ``postgres_url``: a brand-new, empty PostgreSQL database for this one test, as a
  SQLAlchemy URL (``postgresql+psycopg://postgres@127.0.0.1:5432/scimsync_t_<hex>``),
  dropped afterwards. ``postgres_dsn`` is the same database as a libpq DSN.
* ``redis_url``: ``redis://127.0.0.1:6379/0``, plus ``redis_prefix``, a key prefix unique
  to the test (use it for queue and key names; the test's keys are deleted afterwards).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_HOST = os.environ.get("SCIMSYNC_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SCIMSYNC_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SCIMSYNC_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("SCIMSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _admin_connect():  # type: ignore[no-untyped-def]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is in the test extra
        pytest.skip("psycopg is not installed (pip install -e '.[test]')")
    try:
        return psycopg.connect(
            host=PG_HOST,
            port=PG_PORT,
            user=PG_USER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}: {exc}")


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (libpq DSN); dropped afterwards."""
    name = f"scimsync_t_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={name}"
    finally:
        with _admin_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_dsn: str) -> str:
    """The same fresh database as ``postgres_dsn``, as a SQLAlchemy URL (psycopg 3)."""
    parts = dict(item.split("=", 1) for item in postgres_dsn.split())
    return f"postgresql+psycopg://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"


@pytest.fixture
def redis_url() -> str:
    """Redis on 127.0.0.1 (skips when it does not answer PING)."""
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is in the celery extra
        pytest.skip("the redis package is not installed (pip install -e '.[all,test]')")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to this test; every key under it is deleted afterwards."""
    import redis

    prefix = f"scimsync-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
