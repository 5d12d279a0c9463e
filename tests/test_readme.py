"""The README keeps its promises: the two commands, and an example that runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scimsync.testing import EmulatorServer

README = Path(__file__).resolve().parent.parent / "README.md"
AWS_URL = "https://scim.us-east-1.amazonaws.com/TENANT/scim/v2"


def test_two_commands_are_the_demo_and_the_tests() -> None:
    text = README.read_text(encoding="utf-8")
    (bash,) = re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M)
    commands = [line for line in bash.splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].endswith("scimsync demo")
    assert commands[1] == "pytest"


def test_python_example_runs_against_the_aws_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (code,) = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)
    assert AWS_URL in code
    monkeypatch.chdir(tmp_path)
    with EmulatorServer("aws") as server:
        monkeypatch.setenv("SCIM_TOKEN", server.token)
        namespace: dict[str, object] = {}
        exec(compile(code.replace(AWS_URL, server.base_url), "README.md", "exec"), namespace)  # noqa: S102
        (user,) = server.users()
    assert user["userName"] == "ada"
    assert user["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
