"""Run the Python examples of a docs page, in order, in one module namespace.

Shared by the ``tests/test_*_docs.py`` files: each names its page, checks how many
examples it has, and adds its own teardown (stopping dispatchers, servers, ...).
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(doc_path: Path) -> list[str]:
    """The bodies of the page's fenced ``python`` blocks, in page order."""
    return _PYTHON_BLOCK.findall(doc_path.read_text(encoding="utf-8"))


def _page_name(doc_path: Path) -> str:
    try:
        return doc_path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(doc_path)


def run_blocks(
    doc_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    module_name: str,
    cleanup: Callable[[dict[str, object]], None] | None = None,
) -> dict[str, object]:
    """Exec every Python block of ``doc_path`` in order, in one namespace.

    The working directory is ``tmp_path`` and the namespace is a real module registered
    in ``sys.modules`` as ``module_name`` (so dataclasses, pickling and ``__module__``
    look-ups work); both are undone by ``monkeypatch`` at the end of the test.

    Args:
        doc_path: the Markdown page.
        tmp_path: the test's temporary directory, made the working directory.
        monkeypatch: the test's monkeypatch fixture.
        module_name: the name the namespace module is registered under.
        cleanup: called with the namespace after the blocks ran, even when one failed
            (to stop what the examples started).

    Returns:
        The namespace the blocks ran in.

    A failing block fails the test with the page, block number, exception and code.
    """
    __tracebackhide__ = True
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType(module_name)
    monkeypatch.setitem(sys.modules, module_name, module)
    namespace: dict[str, object] = module.__dict__
    page = _page_name(doc_path)
    try:
        for i, code in enumerate(python_blocks(doc_path)):
            try:
                exec(compile(code, f"{doc_path.name}[block {i}]", "exec"), namespace)  # noqa: S102
            except Exception as exc:
                pytest.fail(f"{page} python block {i} failed: {type(exc).__name__}: {exc}\n{code}")
    finally:
        if cleanup is not None:
            cleanup(namespace)
    return namespace


def stop_all(*names: str) -> Callable[[dict[str, object]], None]:
    """A ``cleanup`` that calls ``.stop()`` on each of ``names`` the examples defined."""

    def cleanup(namespace: dict[str, object]) -> None:
        for name in names:
            obj = namespace.get(name)
            if obj is not None:
                obj.stop()  # type: ignore[attr-defined]

    return cleanup
