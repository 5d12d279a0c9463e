"""ScimSync reads app.config: every mistake names its key, and never shows the token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from scimsync_flask import CallableSource, ScimSync, get_state

from scimsync import (
    AWS,
    ConfigurationError,
    IterableSource,
    Provisioner,
    ScimClient,
    SQLiteStore,
    Target,
)
from scimsync.testing import EmulatorServer

TOKEN = "flask-config-secret-token-8d1e5b0a9c"
PEOPLE = [
    {
        "id": 1,
        "username": "ada@example.com",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "is_active": True,
    }
]


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer("aws", tokens=[TOKEN]) as s:
        yield s


def source() -> IterableSource:
    return IterableSource(users=PEOPLE)


def new_app(tmp_path: Path, **config: Any) -> Flask:
    app = Flask("cfgtest", instance_path=str(tmp_path / "instance"))
    app.config.update(config)
    return app


def init_error(app: Flask, **kwargs: Any) -> str:
    kwargs.setdefault("source", source())
    with pytest.raises(ConfigurationError) as info:
        ScimSync(app, **kwargs)
    message = str(info.value)
    assert TOKEN not in message
    assert "scimsync" not in app.extensions
    return message


def test_config_keys_build_the_provisioner(tmp_path: Path, server: EmulatorServer) -> None:
    app = new_app(
        tmp_path,
        SCIMSYNC_URL=server.base_url,
        SCIMSYNC_TOKEN=TOKEN,
        SCIMSYNC_PROFILE="aws",
        SCIMSYNC_TARGET="aws",
    )
    ScimSync(app, source=source())
    state = get_state(app)
    assert [t.name for t in state.provisioner.targets] == ["aws"]
    assert state.provisioner.target("aws").profile is AWS
    # Default store: a SQLite file in the app's instance folder.
    assert state.provisioner.store.path == tmp_path / "instance" / "scimsync.sqlite3"
    assert "scimsync" in app.cli.commands
    assert state.dispatcher is None
    assert not state.automatic
    with app.app_context():
        trace = state.provisioner.sync_user("1")  # the source runs in the app context
    assert trace.outcome == "created"
    assert TOKEN not in repr(state) + repr(app.extensions["scimsync"])
    state.provisioner.store.close()


def test_token_from_an_environment_variable(
    tmp_path: Path, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_SCIM_TOKEN", TOKEN)
    store = tmp_path / "state" / "scim.db"
    app = new_app(
        tmp_path,
        SCIMSYNC_URL=server.base_url,
        SCIMSYNC_TOKEN_ENV="APP_SCIM_TOKEN",
        SCIMSYNC_PROFILE="aws",
        SCIMSYNC_STORE=str(store),
    )
    ScimSync(app, source=source())
    prov = get_state(app).provisioner
    assert prov.sync_user("1").outcome == "created"  # no app context needed: one is pushed
    assert store.exists()
    prov.store.close()


def test_an_app_factory_with_two_apps(tmp_path: Path, server: EmulatorServer) -> None:
    scim = ScimSync(source=source())
    apps = []
    for name in ("one", "two"):
        app = new_app(
            tmp_path / name,
            SCIMSYNC_URL=server.base_url,
            SCIMSYNC_TOKEN=TOKEN,
            SCIMSYNC_PROFILE="aws",
        )
        scim.init_app(app)
        apps.append(app)
    with apps[0].app_context():
        first = scim.provisioner
    with apps[1].app_context():
        second = scim.provisioner
    assert first is not second
    assert first.store is not second.store
    first.store.close()
    second.store.close()


def test_an_explicit_provisioner(tmp_path: Path, server: EmulatorServer) -> None:
    prov = Provisioner(
        source=source(),
        store=SQLiteStore(str(tmp_path / "s.db")),
        targets=[Target(name="aws", client=ScimClient(server.base_url, TOKEN), profile=AWS)],
    )
    app = new_app(tmp_path)  # no SCIMSYNC_URL needed
    ScimSync(app, provisioner=prov)
    assert get_state(app).provisioner is prov
    result = app.test_cli_runner().invoke(args=["scimsync", "sync-user", "1"])
    assert result.exit_code == 0, result.output
    prov.store.close()


def test_missing_url_names_the_key(tmp_path: Path) -> None:
    msg = init_error(new_app(tmp_path, SCIMSYNC_TOKEN=TOKEN))
    assert msg.startswith("Flask config SCIMSYNC_URL: is not set")


def test_token_pasted_into_the_url_is_not_shown(tmp_path: Path) -> None:
    msg = init_error(new_app(tmp_path, SCIMSYNC_URL=TOKEN, SCIMSYNC_TOKEN=TOKEN))
    assert "SCIMSYNC_URL" in msg
    assert "not shown" in msg


def test_token_mistakes_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://scim.example.com/scim/v2"
    msg = init_error(new_app(tmp_path, SCIMSYNC_URL=url))
    assert "SCIMSYNC_TOKEN_ENV" in msg
    assert "SCIMSYNC_TOKEN" in msg

    msg = init_error(
        new_app(tmp_path, SCIMSYNC_URL=url, SCIMSYNC_TOKEN=TOKEN, SCIMSYNC_TOKEN_ENV="X")
    )
    assert "either SCIMSYNC_TOKEN or SCIMSYNC_TOKEN_ENV" in msg

    monkeypatch.delenv("NOT_SET_SCIM_TOKEN", raising=False)
    msg = init_error(new_app(tmp_path, SCIMSYNC_URL=url, SCIMSYNC_TOKEN_ENV="NOT_SET_SCIM_TOKEN"))
    assert msg.startswith("Flask config SCIMSYNC_TOKEN_ENV:")
    assert "'NOT_SET_SCIM_TOKEN' is not set" in msg

    # A token shaped like a variable name (40 hex digits), pasted by mistake: not echoed.
    hexlike = "3f9a0c7e5b1d2a4f6e8c0b9d7a5f3e1c2b4d6f8a"
    monkeypatch.delenv(hexlike, raising=False)
    msg = init_error(new_app(tmp_path, SCIMSYNC_URL=url, SCIMSYNC_TOKEN_ENV=hexlike))
    assert msg.startswith("Flask config SCIMSYNC_TOKEN_ENV:")
    assert hexlike not in msg
    assert "40 characters" in msg

    # The token itself put in SCIMSYNC_TOKEN_ENV by mistake: described, not echoed.
    msg = init_error(new_app(tmp_path, SCIMSYNC_URL=url, SCIMSYNC_TOKEN_ENV=TOKEN + "/x"))
    assert "SCIMSYNC_TOKEN_ENV" in msg
    assert "not shown" in msg

    msg = init_error(new_app(tmp_path, SCIMSYNC_URL=url, SCIMSYNC_TOKEN=f" {TOKEN}\n"))
    assert "SCIMSYNC_TOKEN" in msg
    assert "whitespace" in msg


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("SCIMSYNC_PROFILE", "awz", "awz"),
        ("SCIMSYNC_AUTOMATIC", "yes", "True or False"),
        ("SCIMSYNC_DISPATCHER", {"wokers": 2}, "wokers"),
        ("SCIMSYNC_DISPATCHER", {"workers": 0}, "workers=0"),
        ("SCIMSYNC_STORE", 42, "SQLite file path"),
        ("SCIMSYNC_TIMEOUT", -1, "positive"),
        ("SCIMSYNC_TARGET", "a b", "name"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, key: str, value: Any, words: str) -> None:
    app = new_app(
        tmp_path,
        SCIMSYNC_URL="https://scim.example.com/scim/v2",
        SCIMSYNC_TOKEN=TOKEN,
        **{key: value},
    )
    msg = init_error(app)
    assert msg.startswith(f"Flask config {key}:"), msg
    assert words in msg


def test_missing_source_is_explained(tmp_path: Path) -> None:
    app = new_app(tmp_path, SCIMSYNC_URL="https://scim.example.com/scim/v2", SCIMSYNC_TOKEN=TOKEN)
    msg = init_error(app, source=None)
    assert "ScimSync(source=...) is required" in msg


def _toml(tmp_path: Path, url: str, body: str = "") -> Path:
    path = tmp_path / "scimsync.toml"
    path.write_text(
        f"""
[store]
path = "state/scimsync.sqlite3"

[dispatcher]
workers = 1

[targets.aws]
url = "{url}"
profile = "aws"
token_env = "FLASK_TEST_SCIM_TOKEN"
{body}
""",
        encoding="utf-8",
    )
    return path


def test_scimsync_toml_instead_of_keys(
    tmp_path: Path, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_TEST_SCIM_TOKEN", TOKEN)
    path = _toml(tmp_path, server.base_url)
    app = new_app(tmp_path, SCIMSYNC_CONFIG=str(path))
    ScimSync(app, source=CallableSource(get_user=source().get_user, iter_user_keys=lambda: ["1"]))
    state = get_state(app)
    assert state.dispatcher_options == {"workers": 1}
    assert state.provisioner.store.path == tmp_path / "state" / "scimsync.sqlite3"  # [store]
    result = app.test_cli_runner().invoke(args=["scimsync", "reconcile"])
    assert result.exit_code == 0, result.output
    assert server.find_user("ada@example.com") is not None
    assert TOKEN not in result.output
    assert TOKEN not in repr(state)
    state.provisioner.store.close()


def test_scimsync_toml_mistakes_name_the_key_and_the_file(
    tmp_path: Path, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_TEST_SCIM_TOKEN", TOKEN)
    path = _toml(tmp_path, server.base_url, "rate_limt = 5")
    msg = init_error(new_app(tmp_path, SCIMSYNC_CONFIG=str(path)))
    assert msg.startswith("Flask config SCIMSYNC_CONFIG:")
    assert "targets.aws.rate_limt" in msg
    assert "rate_limit" in msg

    monkeypatch.delenv("FLASK_TEST_SCIM_TOKEN")
    msg = init_error(new_app(tmp_path, SCIMSYNC_CONFIG=str(_toml(tmp_path, server.base_url))))
    assert "SCIMSYNC_CONFIG" in msg
    assert "FLASK_TEST_SCIM_TOKEN is not set" in msg

    msg = init_error(
        new_app(tmp_path, SCIMSYNC_CONFIG=str(path), SCIMSYNC_URL="https://x.example.com")
    )
    assert "either SCIMSYNC_CONFIG or SCIMSYNC_URL" in msg


def test_callable_source_keys_and_defaults() -> None:
    src = CallableSource(get_user=lambda key: {"key": key}, iter_user_keys=lambda: [1, 2])
    assert list(src.iter_user_keys()) == ["1", "2"]
    assert src.get_user("7") == {"key": "7"}
    assert src.get_group("x") is None
    assert list(src.iter_group_keys()) == []
    assert list(src.group_member_keys("x")) == []
    assert src.change_marker is None  # no marker given: the engine does not look for one
    with pytest.raises(ConfigurationError, match="get_group"):
        CallableSource(get_user=lambda k: None, iter_user_keys=list, get_group="nope")  # type: ignore[arg-type]
