"""Every Python example in docs/django.md runs, in order, in one fresh Python process.

Django settings can be configured once per process and the page configures its own, so
the blocks run in a subprocess rather than in pytest's process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _doc_examples import DOCS, python_blocks

DOC = DOCS / "django.md"


def test_docs_have_examples() -> None:
    assert len(python_blocks(DOC)) >= 7


def test_docs_examples_run(tmp_path: Path) -> None:
    blocks = python_blocks(DOC)
    script = tmp_path / "django_md.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("SCIM_TOKEN", "DJANGO_SETTINGS_MODULE")}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "settings.SCIMSYNC['TOKEN_ENV']" in done.stdout  # the printed config error
    assert "outcome: created" in done.stdout
