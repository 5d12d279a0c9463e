"""What an admin meets at 2 a.m., against the AWS-profile emulator, through the Python API
and through ``scimsync push user KEY`` / ``scimsync test-connection``.

For each failure: the message says what happened and what to do, names the object,
never shows a raw traceback or a KeyError/TypeError, and the command exits with the code
docs/cli.md documents (3: the target cannot be used; 1: this object failed).
Malformed server replies are ``MalformedResponseError``.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pytest

from scimsync import (
    AWS,
    Provisioner,
    Reports,
    RetryPolicy,
    ScimClient,
    SQLiteStore,
    SyncFailedError,
    Target,
)
from scimsync.errors import (
    ConnectionFailedError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
)
from scimsync.testing import EmulatorServer

TOKEN = "ADMIN-FAILURES-TOKEN-c0ffee4a1b2c3d"
EXPIRED = "ADMIN-FAILURES-EXPIRED-9e8d7c6b"
WRONG_TENANT = "zzzzzzzzzzz-1111-2222-3333-444444444444"
NEW_TOKEN_ADVICE = "generate a new SCIM access token"
TENANT_ADVICE = "copy the SCIM endpoint"
RAW_PYTHON = ("Traceback", "KeyError", "TypeError", "AttributeError", "HTTPConnectionPool")

USERS_CSV = (
    "id,username,first_name,last_name,email,is_active\n1,ada,Ada,Lovelace,ada@example.org,true\n"
)

HTML_PAGE = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
LIST_JSON = '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Resources": ['


def _yesterday() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)


def _server() -> EmulatorServer:
    return EmulatorServer("aws", tokens=[TOKEN, (EXPIRED, _yesterday())]).start()


def _dead_url() -> str:
    dead = EmulatorServer("aws").start()
    url = dead.base_url
    dead.stop()  # nothing listens on that port any more
    return url


@attrs.define
class Case:
    """One failure: how to provoke it and what the admin must be told."""

    name: str
    arrange: Callable[[EmulatorServer], None] = lambda s: None
    token: str = TOKEN
    url: Callable[[EmulatorServer], str] = lambda s: s.base_url
    error: type[Exception] = Exception
    says: tuple[str, ...] = ()  # what happened: in the exception and the command's output
    advice: str = ""  # what to do: in the exception, or else in the command's "what to do"
    push_exit: int = 1
    tc_exit: int | None = None  # test-connection's exit code, if this case runs it


def _raw(status: int, body: str, content_type: str = "application/json", **kw: Any) -> Any:
    return lambda s: s.reply_next(status, body, content_type=content_type, times=100, **kw)


CASES = [
    Case(
        "wrong token",
        token="not-the-token-at-all",
        error=UnauthorizedError,
        says=("401", "the bearer token is invalid, expired or revoked"),
        advice=NEW_TOKEN_ADVICE,
        push_exit=3,
        tc_exit=3,
    ),
    Case(
        "expired token",
        token=EXPIRED,
        error=UnauthorizedError,
        says=("401", "Authorization header is invalid or missing."),
        advice=NEW_TOKEN_ADVICE,
        push_exit=3,
        tc_exit=3,
    ),
    Case(
        "wrong tenant",
        url=lambda s: s.base_url.replace(s.tenant, WRONG_TENANT),
        error=NotFoundError,
        says=("404", "unknown tenant", "TENANT does not exist."),
        advice=TENANT_ADVICE,
        push_exit=3,
        tc_exit=3,
    ),
    Case(
        "server down",
        url=lambda s: _dead_url(),
        error=ConnectionFailedError,
        says=("GET /Users: connection failed: 127.0.0.1:", "Connection refused"),
        advice="check the host and port",
        push_exit=3,
        tc_exit=3,
    ),
    Case(
        "429 storm",
        arrange=lambda s: s.fail_next(429, times=1000, retry_after=0),
        error=RateLimitedError,
        says=("GET /Users -> 429", "rate limited"),
        advice="lower rate_limit, or try again later",
        push_exit=3,
    ),
    Case(
        "500s",
        arrange=lambda s: s.fail_next(500, times=1000),
        error=ServerError,
        says=("GET /Users -> 500", "the server failed to process the request", "request id"),
        push_exit=1,
    ),
    Case(
        "HTML error page",
        arrange=_raw(200, HTML_PAGE, "text/html"),
        error=MalformedResponseError,
        says=("GET /Users -> 200", "not JSON", "HTML page"),
        advice="probably not the SCIM endpoint",
        push_exit=1,
        tc_exit=3,
    ),
    Case(
        "truncated JSON",
        arrange=_raw(200, LIST_JSON),
        error=MalformedResponseError,
        says=("GET /Users -> 200", "not JSON"),
        push_exit=1,
    ),
    Case(
        "a list instead of an object",
        arrange=_raw(200, "[]"),
        error=MalformedResponseError,
        says=("GET /Users -> 200", "expected a ListResponse object, got list"),
        push_exit=1,
    ),
    Case(
        # taking this for "no match" would create a duplicate of the existing user
        "totalResults without Resources",
        arrange=_raw(200, '{"totalResults": 1, "Resources": null}', method="GET"),
        error=MalformedResponseError,
        says=("GET /Users -> 200", "totalResults 1 but carries no Resources"),
        push_exit=1,
    ),
    Case(
        "created without an id",
        arrange=_raw(201, '{"userName": "ada", "active": true}', method="POST"),
        error=MalformedResponseError,
        says=("POST /Users -> 201", "no string 'id'"),
        push_exit=1,
    ),
]


def _fast_client(url: str, token: str) -> ScimClient:
    return ScimClient(url, token, retry=RetryPolicy(max_attempts=2, backoff_base=0.01))


class _OneUser:
    def get_user(self, key: str) -> Any:
        return {
            "username": "ada",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.org",
            "is_active": True,
        }

    def get_group(self, key: str) -> Any:
        return {"name": "Engineering"} if key == "eng" else None

    def iter_user_keys(self) -> list[str]:
        return ["1"]

    def iter_group_keys(self) -> list[str]:
        return []

    def group_member_keys(self, key: str) -> set[str]:
        return {"1"} if key == "eng" else set()


def _assert_clean(text: str) -> None:
    for raw in RAW_PYTHON:
        assert raw not in text, (raw, text)
    assert TOKEN not in text
    assert EXPIRED not in text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_python_api(case: Case, tmp_path: Path) -> None:
    server = _server()
    try:
        case.arrange(server)
        client = _fast_client(case.url(server), case.token)
        store = SQLiteStore(tmp_path / "state.sqlite3")
        prov = Provisioner(
            source=_OneUser(), store=store, targets=[Target(name="aws", client=client, profile=AWS)]
        )
        with pytest.raises(SyncFailedError) as info:
            prov.sync_user("1")
        exc = info.value
        assert isinstance(exc.cause, case.error), repr(exc.cause)
        text = str(exc)
        assert text.startswith("user 1 on target aws: "), text
        for words in case.says:
            assert words in text, (words, text)
        _assert_clean(text + repr(exc) + exc.trace.format())
        # the report says where it failed: looking for the user, or creating it
        where = "create" if case.name == "created without an id" else "match"
        assert exc.trace.operation == where
        record = Reports(store).last("user", "1")
        assert record is not None
        assert (record.operation, str(record.outcome)) == (where, "failed")
        if case.name == "wrong token":  # a group's flow has more steps: the same answer
            with pytest.raises(SyncFailedError) as group_info:
                prov.sync_group("eng")
            assert group_info.value.trace.operation == "match"
        # nothing half-done was recorded as done, and no duplicate was created
        assert store.get_link("aws", "user", "1") is None
        if case.error is MalformedResponseError and "id" not in case.name:
            assert server.users() == []
        # the connection test says the same, with advice in words
        result = client.test_connection()
        if case.tc_exit == 3:
            assert not result.ok
            assert case.advice in text + result.advice, (text, result.advice)
            _assert_clean(repr(result) + result.advice)
        client.close()
        store.close()
    finally:
        server.stop()


def _write_config(directory: Path, url: str) -> None:
    (directory / "users.csv").write_text(USERS_CSV)
    (directory / "groups.csv").write_text("id,name,members\n")
    (directory / "scimsync.toml").write_text(
        textwrap.dedent(
            f"""\
            [source]
            type = "csv"
            users = "users.csv"
            groups = "groups.csv"

            [store]
            path = "state.sqlite3"

            [targets.aws]
            url = "{url}"
            profile = "aws"
            token_env = "ADMIN_TEST_TOKEN"
            """
        )
    )


def _scimsync(directory: Path, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ADMIN_TEST_TOKEN=token, NO_COLOR="1")
    env.pop("SCIMSYNC_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "scimsync", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@attrs.define
class _CliRun:
    case: Case
    push: subprocess.CompletedProcess[str]
    tc: subprocess.CompletedProcess[str] | None


@pytest.fixture(scope="module")
def cli_runs() -> Iterator[dict[str, _CliRun]]:
    """Every case through the real command, each against its own emulator, in parallel."""
    servers: list[EmulatorServer] = []

    def one(case: Case) -> _CliRun:
        server = _server()
        servers.append(server)
        case.arrange(server)
        directory = Path(tempfile.mkdtemp(prefix="scimsync-admin-"))
        _write_config(directory, case.url(server))
        push = _scimsync(directory, case.token, "push", "user", "1")
        tc = None
        if case.tc_exit is not None:
            case.arrange(server)  # the push may have used up one-shot faults
            tc = _scimsync(directory, case.token, "test-connection")
        return _CliRun(case, push, tc)

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            runs = list(pool.map(one, CASES))
        yield {run.case.name: run for run in runs}
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_push_command(case: Case, cli_runs: dict[str, _CliRun]) -> None:
    proc = cli_runs[case.name].push
    out = proc.stdout + proc.stderr
    assert proc.returncode == case.push_exit, out
    assert "user 1 (ada) -> target aws" in proc.stdout
    assert "outcome: failed" in proc.stdout
    assert "scimsync: error: user 1 on target aws: " in proc.stderr
    for words in case.says:
        assert words in out, (words, out)
    assert case.advice in out, out
    if case.push_exit == 3:
        # the target cannot be used: the command says what to do about it
        assert "what to do: " in proc.stderr, proc.stderr
    _assert_clean(out)


@pytest.mark.parametrize("case", [c for c in CASES if c.tc_exit is not None], ids=lambda c: c.name)
def test_test_connection_command(case: Case, cli_runs: dict[str, _CliRun]) -> None:
    proc = cli_runs[case.name].tc
    assert proc is not None
    assert proc.returncode == case.tc_exit, proc.stdout + proc.stderr
    assert "authenticated: no" in proc.stdout
    assert "advice:" in proc.stdout
    _assert_clean(proc.stdout + proc.stderr)


def test_connection_refused_reads_as_one_short_sentence() -> None:
    """Not urllib3's pool, retry counter and URL: where, and what the system said."""
    client = ScimClient(_dead_url(), TOKEN, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ConnectionFailedError) as info:
        client.users.get("abc")
    text = str(info.value)
    assert text.startswith("GET /Users/abc: connection failed: 127.0.0.1:"), text
    assert text.endswith("Connection refused"), text
    assert "Max retries exceeded" not in text
    client.close()


def test_exit_codes_in_this_file_are_the_documented_ones() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    assert "| 3 | connection or authentication failure: the target cannot be used |" in docs
    assert "| 1 | partial: the command ran, but some objects failed |" in docs


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_sync_with_an_expired_token_exits_3_and_says_what_to_do(tmp_path: Path, mode: str) -> None:
    """Every object fails with 401: not 'partial' (1) but 'the target cannot be used' (3)."""
    server = _server()
    try:
        _write_config(tmp_path, server.base_url)
        proc = _scimsync(tmp_path, EXPIRED, "sync", "--mode", mode)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "what to do: the token is invalid or expired" in proc.stderr
        _assert_clean(proc.stdout + proc.stderr)
        # one object refused, the target fine: partial (1), as documented
        (tmp_path / "users.csv").write_text(
            USERS_CSV + "2,bad user,Bad,User,bad@example.org,true\n"
        )
        proc = _scimsync(tmp_path, TOKEN, "sync", "--mode", mode)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "what to do" not in proc.stderr
    finally:
        server.stop()
