"""Every Python example in docs/sources.md runs, in order, in one namespace."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "sources.md"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)


def test_docs_have_examples() -> None:
    assert len(blocks()) >= 3


def test_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("docs_sources")  # a real module, so dataclasses can find it
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    from scimsync._sources import _source_types

    _source_types.clear_cache()  # the examples register a source type: leave none behind
    try:
        for i, code in enumerate(blocks()):
            try:
                exec(compile(code, f"{DOC.name}[block {i}]", "exec"), namespace)  # noqa: S102
            except Exception as exc:
                pytest.fail(
                    f"docs/sources.md python block {i} failed: {type(exc).__name__}: {exc}\n{code}"
                )
    finally:
        _source_types.clear_cache()
