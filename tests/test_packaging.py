"""The distribution ships scimsync and every package placed under adapters/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_core_typing_marker_and_any_adapter_package(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "scimsync", src / "scimsync", ignore=ignore)
    shutil.copytree(ROOT / "adapters", src / "adapters", ignore=ignore)
    # A brand-new adapter package, dropped in without touching pyproject.toml.
    probe = src / "adapters" / "scimsync_probe"
    probe.mkdir()
    (probe / "__init__.py").write_text("VALUE = 42\n")

    out = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = out.glob("scimsync-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "scimsync/__init__.py" in names
    assert "scimsync/py.typed" in names
    assert "scimsync_probe/__init__.py" in names
    # Nothing installs a package called "adapters".
    assert not any(n.startswith("adapters/") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "scimsync = scimsync._cli:main" in text
    assert "scimsync.testing.pytest_plugin" in text
