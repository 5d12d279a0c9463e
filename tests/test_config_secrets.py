"""A token pasted where a variable name or a URL belongs is never echoed by config errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scimsync._config import ConfigFileError, load_config
from scimsync.errors import ConfigurationError

# Shaped like an AWS SCIM token: long, with characters no variable name or URL has.
TOKEN = "AQoDYXdzEJr" + "x9/Zq+k=" * 70


def _config(tmp_path: Path, *, url: str, token_env: str) -> Path:
    path = tmp_path / "scimsync.toml"
    path.write_text(
        textwrap.dedent(
            f"""\
            [targets.aws]
            url = "{url}"
            profile = "aws"
            token_env = "{token_env}"
            """
        ),
        encoding="utf-8",
    )
    return path


def test_token_pasted_as_token_env_is_not_echoed(tmp_path: Path) -> None:
    path = _config(tmp_path, url="https://scim.example.com/t/scim/v2", token_env=TOKEN)
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    text = str(info.value)
    assert "targets.aws.token_env" in text
    assert "not an environment variable name" in text
    assert f"a value of {len(TOKEN)} characters" in text
    assert TOKEN not in text
    assert TOKEN[:20] not in text


def test_token_pasted_as_url_is_not_echoed(tmp_path: Path) -> None:
    path = _config(tmp_path, url=TOKEN, token_env="SCIMSYNC_TOKEN")
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    text = str(info.value)
    assert "targets.aws.url" in text
    assert "is not an http(s) URL" in text
    assert TOKEN[:20] not in text


def test_ordinary_mistakes_still_quote_the_value(tmp_path: Path) -> None:
    path = _config(tmp_path, url="scim.example.com", token_env="MY-TOKEN")
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    text = str(info.value)
    assert "'scim.example.com' is not an http(s) URL" in text
    assert "'MY-TOKEN' is not an environment variable name" in text


def test_unset_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCIMSYNC_NOT_SET_ANYWHERE", raising=False)
    cfg = load_config(
        _config(
            tmp_path,
            url="https://scim.example.com/t/scim/v2",
            token_env="SCIMSYNC_NOT_SET_ANYWHERE",
        )
    )
    with pytest.raises(ConfigurationError, match="SCIMSYNC_NOT_SET_ANYWHERE is not set"):
        cfg.token("aws")


def test_token_shaped_like_a_variable_name_is_not_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 hex digits pass as a variable name; pasted into token_env, they are described."""
    hexlike = "f39a0c7e5b1d2a4f6e8c0b9d7a5f3e1c2b4d6f8a"  # a valid name, unset
    monkeypatch.delenv(hexlike, raising=False)
    cfg = load_config(
        _config(tmp_path, url="https://scim.example.com/t/scim/v2", token_env=hexlike)
    )
    with pytest.raises(ConfigurationError) as info:
        cfg.token("aws")
    assert hexlike not in str(info.value)
    assert "named by a value of 40 characters" in str(info.value)
    assert "targets.aws.token_env" in str(info.value)

    digit_first = "3" + hexlike[1:]  # not even a valid name
    with pytest.raises(ConfigurationError) as info:
        load_config(
            _config(tmp_path, url="https://scim.example.com/t/scim/v2", token_env=digit_first)
        )
    assert digit_first not in str(info.value)
    assert "a value of 40 characters" in str(info.value)
    assert "is not an environment variable name" in str(info.value)
