"""Every Python example in docs/testing.md runs, in order, in one namespace.

Functions the examples define as ``test_*`` (a host application's tests) are then called
with a fresh emulator for each fixture parameter they name.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from _doc_examples import DOCS, python_blocks, run_blocks

from scimsync.testing import EmulatorServer

DOC = DOCS / "testing.md"
FIXTURES = {"scim_server": "generic", "aws_scim_server": "aws"}


def test_docs_have_examples():
    assert len(python_blocks(DOC)) >= 8


def test_testing_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    namespace = run_blocks(DOC, tmp_path, monkeypatch, module_name="docs_testing")
    tests = {
        name: fn for name, fn in namespace.items() if name.startswith("test_") and callable(fn)
    }
    assert tests, "the host-application example defines a test function"
    for name, fn in tests.items():
        params = list(inspect.signature(fn).parameters)
        assert set(params) <= set(FIXTURES), f"{name} asks for unknown fixtures {params}"
        servers = [EmulatorServer(FIXTURES[p]).start() for p in params]  # type: ignore[arg-type]
        try:
            fn(*servers)
        finally:
            for server in servers:
                server.stop()
