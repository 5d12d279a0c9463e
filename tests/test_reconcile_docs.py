"""Every Python example in docs/reconcile.md runs, in order, in one namespace."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "reconcile.md"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)


def test_docs_have_examples() -> None:
    assert len(blocks()) >= 8


def test_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("docs_reconcile")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    try:
        for i, code in enumerate(blocks()):
            try:
                exec(compile(code, f"{DOC.name}[block {i}]", "exec"), namespace)  # noqa: S102
            except Exception as exc:
                pytest.fail(
                    f"docs/reconcile.md python block {i} failed: {type(exc).__name__}: {exc}\n{code}"
                )
    finally:
        for name in ("quick", "nightly", "frequent"):
            d = namespace.get(name)
            if d is not None:
                d.stop()
        for name in ("server", "other"):
            srv = namespace.get(name)
            if srv is not None:
                srv.stop()
