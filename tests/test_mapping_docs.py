"""Every Python example in docs/mapping.md runs, in order, in one namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from _doc_examples import DOCS, python_blocks, run_blocks

from scimsync._transforms import _registry as transform_registry
from scimsync.profiles._base import _profiles

DOC = DOCS / "mapping.md"


def test_docs_have_examples():
    assert len(python_blocks(DOC)) >= 10


@pytest.fixture
def clean_registries():
    _profiles.clear_cache()
    transform_registry.clear_cache()
    yield
    _profiles.clear_cache()
    transform_registry.clear_cache()


def test_mapping_docs_examples_run(
    clean_registries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    run_blocks(DOC, tmp_path, monkeypatch, module_name="docs_mapping")
