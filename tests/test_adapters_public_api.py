"""Adapters use only the public scimsync API (docs/architecture.md, "Adapters contract")."""

from __future__ import annotations

import re
from pathlib import Path

ADAPTERS = Path(__file__).resolve().parent.parent / "adapters"
PRIVATE = re.compile(r"^\s*(?:from|import)\s+scimsync\._|scimsync\._[a-z]", re.M)


def test_adapters_exist() -> None:
    names = sorted(p.name for p in ADAPTERS.glob("scimsync_*") if (p / "__init__.py").exists())
    assert names == ["scimsync_celery", "scimsync_django", "scimsync_flask", "scimsync_sqlalchemy"]


def test_no_adapter_imports_a_private_scimsync_module() -> None:
    offenders = [
        f"{path.relative_to(ADAPTERS)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in sorted(ADAPTERS.rglob("*.py"))
        for text in [path.read_text(encoding="utf-8")]
        for m in PRIVATE.finditer(text)
    ]
    assert offenders == []
