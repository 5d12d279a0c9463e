"""Exit codes are public (``scimsync.ExitCode``, ``exit_code_for``) and shared by commands."""

from __future__ import annotations

import pytest
from _doc_examples import DOCS, python_blocks, run_blocks

import scimsync
from scimsync import _cli
from scimsync.errors import ConnectionFailedError, NotFoundError, SyncFailedError


def test_the_command_and_the_public_api_use_one_enum() -> None:
    assert _cli.ExitCode is scimsync.ExitCode
    assert _cli.exit_code_for is scimsync.exit_code_for
    assert {c.name: int(c) for c in scimsync.ExitCode} == {
        "OK": 0,
        "PARTIAL": 1,
        "USAGE": 2,
        "CONNECTION": 3,
        "HELD": 4,
        "INTERRUPTED": 130,
    }


def test_exit_code_for_follows_the_cause_of_a_failed_sync() -> None:
    down = ConnectionFailedError("connection failed: 127.0.0.1:9: refused")
    assert scimsync.exit_code_for(SyncFailedError("user 1 failed", cause=down)) == 3
    tenant = NotFoundError("404", status=404, detail="TENANT_NOT_FOUND")
    assert scimsync.exit_code_for(tenant) == 3
    assert scimsync.exit_code_for(NotFoundError("404", status=404)) == 1
    assert scimsync.exit_code_for(ValueError("a bug")) == 1


def test_cli_page_examples_run(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = DOCS / "cli.md"
    assert len(python_blocks(doc)) == 1
    run_blocks(doc, tmp_path, monkeypatch, module_name="cli_md_examples")


def test_trace_and_run_codes() -> None:
    from types import SimpleNamespace as NS

    assert scimsync.exit_code_for_trace(NS(outcome="created", parts=None)) == 0
    assert scimsync.exit_code_for_trace(NS(outcome="held", parts=None)) == 4
    two = NS(outcome="failed", parts=[NS(outcome="created"), NS(outcome="failed")])
    assert scimsync.exit_code_for_trace(two) == 1
    assert scimsync.exit_code_for_run(NS(status="complete", counts={"created": 2})) == 0
    assert scimsync.exit_code_for_run(NS(status="partial", counts={})) == 1
    assert scimsync.exit_code_for_run(NS(status="complete", counts={"held": 1})) == 4
    assert _cli.run_exit_code is scimsync.exit_code_for_run
