"""Every Python example in docs/reconcile.md runs, in order, in one namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from _doc_examples import DOCS, python_blocks, run_blocks, stop_all

DOC = DOCS / "reconcile.md"


def test_docs_have_examples() -> None:
    assert len(python_blocks(DOC)) >= 8


def test_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_blocks(
        DOC,
        tmp_path,
        monkeypatch,
        module_name="docs_reconcile",
        cleanup=stop_all("quick", "nightly", "frequent", "server", "other"),
    )
