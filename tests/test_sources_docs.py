"""Every Python example in docs/sources.md runs, in order, in one namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from _doc_examples import DOCS, python_blocks, run_blocks

DOC = DOCS / "sources.md"


def test_docs_have_examples() -> None:
    assert len(python_blocks(DOC)) >= 3


def test_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scimsync._sources import _source_types

    _source_types.clear_cache()  # the examples register a source type: leave none behind
    run_blocks(
        DOC,
        tmp_path,
        monkeypatch,
        module_name="docs_sources",
        cleanup=lambda _namespace: _source_types.clear_cache(),
    )
