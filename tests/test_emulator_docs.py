"""Every Python example in docs/testing.md runs, in order, in one namespace.

Functions the examples define as ``test_*`` (a host application's tests) are then called
with a fresh emulator for each fixture parameter they name.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from scimsync.testing import EmulatorServer

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
FIXTURES = {"scim_server": "generic", "aws_scim_server": "aws"}


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)


def test_docs_have_examples():
    assert len(blocks()) >= 8


def test_testing_docs_examples_run():
    namespace: dict[str, object] = {"__name__": "docs_testing"}
    for i, code in enumerate(blocks()):
        try:
            exec(compile(code, f"{DOC.name}[block {i}]", "exec"), namespace)  # noqa: S102
        except Exception as exc:
            pytest.fail(
                f"docs/testing.md python block {i} failed: {type(exc).__name__}: {exc}\n{code}"
            )
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
