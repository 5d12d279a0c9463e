"""docs/troubleshooting.md: its Python example runs, and the messages it quotes are the
ones scimsync prints (each checked against a real failure here or in
tests/test_admin_failures.py and tests/test_bad_input.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _doc_examples import DOCS, python_blocks, run_blocks

DOC = DOCS / "troubleshooting.md"


def test_docs_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(python_blocks(DOC)) == 1
    run_blocks(DOC, tmp_path, monkeypatch, module_name="docs_troubleshooting")


def test_quoted_messages_are_the_real_ones() -> None:
    """Each fixed part of a quoted message appears in a test that provokes it."""
    text = DOC.read_text(encoding="utf-8")
    tests = "".join(
        (DOC.parent.parent / "tests" / name).read_text(encoding="utf-8")
        for name in ("test_admin_failures.py", "test_bad_input.py", "test_tls.py")
    )
    fragments = [
        "the bearer token is invalid, expired or revoked",
        "TENANT does not exist.",
        "Connection refused",
        "check the host and port",
        "rate limited",
        "lower rate_limit, or try again later",
        "the server failed to process the request",
        "HTML page",
        "expected a ListResponse object, got list",
        "but carries no Resources",
        "no string 'id'",
        "title must be at most 1024 characters on the aws profile (got 2000)",
        "name.givenName must be a string (got int)",
        "userName is required",
        "the source returned int 42, not an object or a dict",
        "reading the source failed: ",
        "verify=False",
        "the bearer token travels unencrypted; use https",
        "what to do: the token is invalid or expired",
    ]
    missing_in_doc = [f for f in fragments if f not in text]
    missing_in_tests = [f for f in fragments if f not in tests]
    assert (missing_in_doc, missing_in_tests) == ([], [])
