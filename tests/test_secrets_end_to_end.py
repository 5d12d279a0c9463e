"""The bearer token never leaves the process's memory, whatever happens.

With a recognisable token and DEBUG logging on, drive the Python API through manual
syncs (a success, then 401, 400, 409, 500, connection refused, malformed JSON and a server
that echoes the Authorization header in its error detail), automatic mode (the
Dispatcher), reconcile runs (incremental and deep) and a connection test. Then search for
the token in: every log record (message, args and exception text), every str/repr of every
object returned or raised, pickled exceptions, SyncTrace.format(), repr of the Target,
Config and ScimClient, warnings, the SQLite file's bytes and the CSV/JSON exports.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from scimsync import (
    AWS,
    Dispatcher,
    Provisioner,
    Reports,
    RetryPolicy,
    ScimClient,
    SQLiteStore,
    SyncFailedError,
    Target,
    load_config,
    reconcile,
)
from scimsync.errors import ConfigurationError, ScimSyncError
from scimsync.testing import EmulatorServer

TOKEN = "RECOGNISABLE-SECRET-TOKEN-e2e-3f9c1a7d5b"
ROTATED = "RECOGNISABLE-SECRET-ROTATED-e2e-8b2d4f6a"
SECRETS = (TOKEN, ROTATED, TOKEN[10:30], ROTATED[10:30])  # whole, and a telling slice


class AppSource:
    """A host application's users and groups."""

    def __init__(self) -> None:
        self.users: dict[str, Any] = {}
        self.groups: dict[str, Any] = {}
        self.members: dict[str, set[str]] = {}

    def get_user(self, key: str) -> Any:
        return self.users.get(key)

    def get_group(self, key: str) -> Any:
        return self.groups.get(key)

    def iter_user_keys(self) -> list[str]:
        return list(self.users)

    def iter_group_keys(self) -> list[str]:
        return list(self.groups)

    def group_member_keys(self, key: str) -> set[str]:
        return set(self.members.get(key, set()))


def person(i: int) -> dict[str, Any]:
    return {
        "username": f"user{i}@example.com",
        "first_name": f"First{i}",
        "last_name": f"Last{i}",
        "email": f"user{i}@example.com",
        "is_active": True,
    }


class _Everything(logging.Handler):
    """Keeps every record, and formats each one with its exception, if any."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))
        self.texts.append(repr(record.args))
        self.texts.append(repr(record.__dict__))


def _texts_of(obj: Any) -> list[str]:
    texts = [str(obj), repr(obj)]
    if isinstance(obj, BaseException):
        texts.append(repr(pickle.loads(pickle.dumps(obj))))  # noqa: S301 - our own object
        texts.append(str(pickle.loads(pickle.dumps(obj))))  # noqa: S301
        texts.extend(_texts_of(obj.__cause__) if obj.__cause__ is not None else [])
        if isinstance(obj, SyncFailedError):
            texts.extend(_texts_of(obj.cause) if obj.cause is not None else [])
            if obj.trace is not None:
                texts.append(obj.trace.format())
                texts.append(repr(obj.trace.steps) + repr(obj.trace.exchanges))
    if hasattr(obj, "format") and callable(obj.format) and not isinstance(obj, str):
        try:
            texts.append(obj.format())
        except TypeError:
            pass
    return texts


def test_the_token_appears_nowhere(tmp_path: Path) -> None:
    handler = _Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    seen: list[Any] = []  # everything returned or raised
    caught_warnings: list[warnings.WarningMessage] = []
    server = EmulatorServer("aws", tokens=[TOKEN, ROTATED]).start()
    try:
        with warnings.catch_warnings(record=True) as caught_warnings:
            warnings.simplefilter("always")
            _drive_everything(server, tmp_path, seen)
    finally:
        server.stop()
        root.removeHandler(handler)
        root.setLevel(old_level)

    haystack: list[str] = list(handler.texts)
    for obj in seen:
        haystack.extend(_texts_of(obj))
    haystack.extend(str(w.message) for w in caught_warnings)
    # the things the test drove really happened (a test that cannot fail proves nothing)
    blob = "\n".join(haystack)
    for expected in ("-> 401", "-> 400", "-> 409", "-> 500", "Connection refused", "not JSON"):
        assert expected in blob, expected
    assert "DEBUG" in blob
    assert "bad header: Authorization: Bearer" in blob  # the echo was read, token masked
    assert "Run " in blob  # reconcile summaries
    for text in haystack:
        for secret in SECRETS:
            assert secret not in text, (secret, text[:500])
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".sqlite3", ".csv", ".json"}
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, (secret, path)
            assert secret.encode("utf-16-le") not in data, (secret, path)


def _drive_everything(server: EmulatorServer, tmp_path: Path, seen: list[Any]) -> None:
    fast = RetryPolicy(max_attempts=2, backoff_base=0.01)
    client = ScimClient(server.base_url, TOKEN, retry=fast)
    store = SQLiteStore(tmp_path / "scimsync.sqlite3")
    app = AppSource()
    for i in range(6):
        app.users[str(i)] = person(i)
    app.groups["eng"] = {"name": "Engineering"}
    app.members["eng"] = {"0", "1"}
    target = Target(name="aws", client=client, profile=AWS)
    prov = Provisioner(source=app, store=store, targets=[target])
    seen.extend([client, target, prov, store, client.users, client.groups])

    def manual(kind: str, key: str) -> None:
        sync = prov.sync_user if kind == "user" else prov.sync_group
        try:
            seen.append(sync(key))
        except SyncFailedError as exc:
            seen.append(exc)

    # manual mode: a success, then each failure once
    manual("user", "0")
    manual("group", "eng")
    app.users["0"]["last_name"] = "Changed"
    for status in (400, 409, 500):
        server.fail_next(status, times=1)
        manual("user", "0")
    # a proxy's HTML page, truncated JSON, and a server echoing the Authorization header
    server.reply_next(200, "<html>sign in</html>", content_type="text/html")
    manual("user", "2")
    server.reply_next(200, '{"Resources": [')
    manual("user", "2")
    echo = {"detail": f"bad header: Authorization: Bearer {TOKEN}", "status": "400"}
    server.reply_next(400, json.dumps(echo), method="GET")
    manual("user", "2")
    seen.append(prov.sync_user("2", dry_run=True))

    # a wrong token (401) and a server that is not there (connection refused)
    for url, token in ((server.base_url, "not-the-token"), ("http://127.0.0.1:1/scim/v2", TOKEN)):
        other = Provisioner(
            source=app,
            store=SQLiteStore(tmp_path / f"other-{len(seen)}.sqlite3"),
            targets=[Target(name="aws", client=ScimClient(url, token, retry=fast), profile=AWS)],
        )
        try:
            seen.append(other.sync_user("3"))
        except SyncFailedError as exc:
            seen.append(exc)
        seen.append(other.targets[0].client.test_connection())
    seen.append(client.test_connection())

    # automatic mode: notify, let the dispatcher drain the outbox (with a 500 on the way)
    server.fail_next(500, method="POST", times=1)
    with Dispatcher(prov, workers=2) as dispatcher:
        for key in ("3", "4"):
            prov.notify("user", key)
        assert dispatcher.flush(timeout=30)
        seen.append(dispatcher.stats)

    # reconcile: incremental, then deep after drift on the target; a rotated token
    seen.append(reconcile(prov))
    uid = store.get_link("aws", "user", "1").remote_id
    server.mutate_user(uid, displayName="Edited in the console")
    deep = reconcile(prov, mode="deep")
    seen.extend([deep, deep.plan])
    rotated_client = ScimClient(server.base_url, lambda: ROTATED, retry=fast)
    rotated = Provisioner(
        source=app,
        store=store,
        targets=[Target(name="aws", client=rotated_client, profile=AWS)],
    )
    app.users["5"]["last_name"] = "Rotated"
    seen.append(reconcile(rotated))
    seen.append(rotated_client)

    # reports and exports
    reports = Reports(store)
    records = list(reports.iter())
    assert records
    seen.extend(records)
    reports.to_csv(reports.iter(), tmp_path / "report.csv")
    reports.to_json(reports.iter(), tmp_path / "report.json")
    lines = io.StringIO()
    reports.to_json(reports.iter(), lines, lines=True)
    (tmp_path / "report.jsonl.json").write_text(lines.getvalue())
    seen.extend(list(store.outbox()))

    # the configuration: a file naming the token's variable, and its repr
    config_path = tmp_path / "scimsync.toml"
    config_path.write_text(
        f'[targets.aws]\nurl = "{server.base_url}"\nprofile = "aws"\ntoken_env = "E2E_TOKEN"\n'
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("E2E_TOKEN", TOKEN)
        config = load_config(config_path)
        seen.extend([config, config.target("aws")])
        built = config.build_client("aws")
        seen.extend([built, built.test_connection()])
        built.close()
    client.close()
    rotated_client.close()
    store.close()


@pytest.mark.parametrize(
    "swapped",
    [TOKEN, "eyJhbGciOi/SECRET+token==", "ftp-like-but-no-scheme.example/scim/v2"],
)
def test_a_token_passed_as_the_url_is_not_echoed(swapped: str) -> None:
    """ScimClient(token, url): the 'URL' may be the token; the error must not print it."""
    with pytest.raises(ConfigurationError) as info:
        ScimClient(swapped, "https://scim.example.com/scim/v2")
    text = str(info.value) + repr(info.value)
    assert swapped not in text
    assert f"got a value of {len(swapped)} characters (not shown)" in text
    # a URL with a scheme is still shown, to spot the typo
    with pytest.raises(
        ConfigurationError, match=re.escape("got 'htps://scim.example.com/scim/v2'")
    ):
        ScimClient("htps://scim.example.com/scim/v2", TOKEN)


def test_a_token_echoed_with_json_escapes_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    """AWS-style tokens hold '/' and '+'; a Java server may echo '/' as '\\/' in JSON."""
    token = "AbC/secret+Token/e2e=="
    escaped = token.replace("/", "\\/")
    body = '{"detail": "bad header: Bearer ' + escaped + '", "status": "400"}'
    caplog.set_level(logging.DEBUG)
    with EmulatorServer("aws", tokens=[token]) as server:
        client = ScimClient(server.base_url, token)
        server.reply_next(400, body)
        with client.recording() as exchanges, pytest.raises(ScimSyncError) as info:
            client.users.get("abc")
        client.close()
    assert escaped.encode() in server.request_log[-1].response_bytes  # really sent escaped
    texts = [str(info.value), repr(info.value), caplog.text, repr(exchanges)]
    assert "bad header: Bearer ***" in str(info.value)
    for text in texts:
        assert token not in text
        assert escaped not in text
