"""Every Python example in docs/flask.md runs, in order, in one namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from _doc_examples import DOCS, python_blocks, run_blocks

DOC = DOCS / "flask.md"


def test_docs_have_examples() -> None:
    assert len(python_blocks(DOC)) >= 5


def _cleanup(namespace: dict[str, object]) -> None:
    app = namespace.get("app")
    if app is not None:
        from scimsync_flask import get_state

        state = get_state(app)  # type: ignore[arg-type]
        state.stop(10)
        state.provisioner.store.close()
    server = namespace.get("server")
    if server is not None:
        server.stop()  # type: ignore[attr-defined]


def test_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCIM_TOKEN", raising=False)
    run_blocks(DOC, tmp_path, monkeypatch, module_name="docs_flask", cleanup=_cleanup)
    monkeypatch.delenv("SCIM_TOKEN", raising=False)
