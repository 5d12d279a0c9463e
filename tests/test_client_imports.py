"""``import scimsync`` (and every public submodule) works with no web framework importable."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import scimsync

BLOCKED = ["flask", "flask_login", "django", "sqlalchemy", "celery", "kombu", "redis", "psycopg"]


def _public_submodules() -> list[str]:
    root = Path(scimsync.__file__).parent
    names = []
    for info in pkgutil.walk_packages([str(root)], prefix="scimsync."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]):
            continue
        if parts[1:2] == ["testing"] and info.name != "scimsync.testing":
            continue  # the pytest plugin imports pytest; testing itself must stay light
        names.append(info.name)
    return sorted(names)


def test_core_imports_without_frameworks():
    modules = ["scimsync", "scimsync._client", *_public_submodules()]
    script = textwrap.dedent(
        f"""
        import importlib, sys

        BLOCKED = {BLOCKED!r}

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"blocked for this test: {{name}}", name=name)
                return None

        sys.meta_path.insert(0, Blocker())
        for mod in {modules!r}:
            importlib.import_module(mod)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not leaked, leaked
        import scimsync
        for name in ("ScimClient", "RetryPolicy", "Exchange", "ConnectionResult"):
            assert hasattr(scimsync, name), name
        print("ok", len({modules!r}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


def test_blocker_really_blocks():
    """The blocker must make a framework import fail, or the test above proves nothing."""
    script = textwrap.dedent(
        """
        import sys
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "flask":
                    raise ModuleNotFoundError(name, name=name)
                return None
        sys.meta_path.insert(0, Blocker())
        try:
            import flask
        except ModuleNotFoundError:
            print("blocked")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stdout.strip() == "blocked"
