"""Every Python example in docs/celery.md runs, in order, in one namespace, against a real
Redis broker and a real (in-thread) Celery worker."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from _celery_support import logging_restored
from _doc_examples import DOCS, python_blocks, run_blocks

DOC = DOCS / "celery.md"


def test_docs_have_examples() -> None:
    assert len(python_blocks(DOC)) >= 6


@pytest.mark.services
@pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")
def test_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)

    def cleanup(namespace: dict[str, object]) -> None:
        demo = namespace.get("demo")
        if demo is not None:
            demo.close()  # type: ignore[attr-defined]
        server = namespace.get("server")
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
        prefix = namespace.get("PREFIX")
        if isinstance(prefix, str):  # the demo's queue, results and lock keys
            client = redis.Redis.from_url(redis_url)
            try:
                keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
                if keys:
                    client.delete(*keys)
            finally:
                client.close()

    with logging_restored(monkeypatch):
        run_blocks(DOC, tmp_path, monkeypatch, module_name="docs_celery", cleanup=cleanup)
