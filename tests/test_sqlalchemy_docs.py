"""Every Python example in docs/sqlalchemy.md runs, in order, in one namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from _doc_examples import DOCS, python_blocks, run_blocks

DOC = DOCS / "sqlalchemy.md"


def _cleanup(namespace: dict[str, object]) -> None:
    for name in ("watcher", "dispatcher", "server"):
        obj = namespace.get(name)
        if obj is not None:
            getattr(obj, "unwatch" if name == "watcher" else "stop")()


def test_docs_have_examples() -> None:
    assert len(python_blocks(DOC)) >= 5


def test_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_blocks(DOC, tmp_path, monkeypatch, module_name="docs_sqlalchemy", cleanup=_cleanup)
