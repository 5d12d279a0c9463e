"""Every Python example in docs/mapping.md runs, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scimsync._transforms import _registry as transform_registry
from scimsync.profiles._base import _profiles

DOC = Path(__file__).resolve().parent.parent / "docs" / "mapping.md"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)


def test_docs_have_examples():
    assert len(blocks()) >= 10


@pytest.fixture
def clean_registries():
    _profiles.clear_cache()
    transform_registry.clear_cache()
    yield
    _profiles.clear_cache()
    transform_registry.clear_cache()


def test_mapping_docs_examples_run(clean_registries):
    namespace: dict[str, object] = {"__name__": "docs_mapping"}
    for i, code in enumerate(blocks()):
        try:
            exec(compile(code, f"{DOC.name}[block {i}]", "exec"), namespace)  # noqa: S102
        except Exception as exc:
            pytest.fail(
                f"docs/mapping.md python block {i} failed: {type(exc).__name__}: {exc}\n{code}"
            )
