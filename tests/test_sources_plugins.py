"""Source types through the ``scimsync.sources`` registry: built-ins, ``register_source``,
and a real installed distribution (a dist-info with entry_points.txt on ``sys.path``)
whose ``ldap`` type ``scimsync.toml`` then uses."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from scimsync import (
    CSVSource,
    IterableSource,
    JSONSource,
    get_source_factory,
    register_source,
)
from scimsync._config import ConfigFileError, load_config
from scimsync._sources import _source_types, python_source, source_type_names
from scimsync.errors import ConfigurationError

TARGET = '\n[targets.t]\nurl = "{url}"\ntoken_env = "SCIMSYNC_PLUGIN_TOKEN"\n'


@pytest.fixture
def clean_sources():
    _source_types.clear_cache()
    yield
    _source_types.clear_cache()


@pytest.fixture
def ldap_dist(tmp_path, monkeypatch, clean_sources):
    """A package registering ``ldap`` (and two broken entries) under scimsync.sources."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_ldap_source.py").write_text(
        textwrap.dedent(
            """
            DIRECTORY = {
                "uid=ada": {"username": "ada", "first_name": "Ada", "last_name": "Lovelace",
                            "email": "ada@example.com", "is_active": True},
            }
            CALLS = []

            class LDAPSource:
                def __init__(self, url, base_dn, ca_path=None, page_size=500):
                    CALLS.append((url, base_dn, ca_path, page_size))
                    self.url, self.base_dn, self.ca_path = url, base_dn, ca_path

                def get_user(self, key):
                    return DIRECTORY.get(key)

                def get_group(self, key):
                    return None

                def iter_user_keys(self):
                    return list(DIRECTORY)

                def iter_group_keys(self):
                    return []

                def group_member_keys(self, group_key):
                    return []

            NOT_CALLABLE = 42
            """
        )
    )
    dist = site / "acme_ldap_source-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-ldap-source\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [scimsync.sources]
            ldap = acme_ldap_source:LDAPSource
            notcallable = acme_ldap_source:NOT_CALLABLE
            broken = acme_ldap_source_missing:Source
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop("acme_ldap_source", None)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "scimsync.toml"
    p.write_text(text)
    return p


def problems(tmp_path: Path, text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigFileError) as ei:
        load_config(write(tmp_path, text))
    return [(p.line, p.key, p.message) for p in ei.value.problems]


# ---------------------------------------------------------------------- registry


def test_builtins(clean_sources):
    assert get_source_factory("csv") is CSVSource
    assert get_source_factory("json") is JSONSource
    assert get_source_factory("iterable") is IterableSource
    assert get_source_factory("python") is python_source
    with pytest.raises(ConfigurationError, match="built in"):
        register_source("csv", CSVSource)
    with pytest.raises(ConfigurationError, match=r"unknown source type 'nope'; known: csv, "):
        get_source_factory("nope")


def test_register_source(clean_sources):
    made = []

    def memory(**options):
        made.append(options)
        return IterableSource(users=[{"id": "1", "username": "ada"}])

    register_source("memory", memory)
    assert get_source_factory("memory") is memory
    assert "memory" in source_type_names()
    with pytest.raises(ConfigurationError, match="already registered"):
        register_source("memory", memory)
    register_source("memory", memory, replace=True)
    with pytest.raises(ConfigurationError, match="must be callable"):
        register_source("bad", 5)  # type: ignore[arg-type]


def test_python_source_imports_and_calls(tmp_path, monkeypatch):
    (tmp_path / "pysrc_mod.py").write_text(
        "from scimsync import IterableSource\n"
        "def make(name):\n    return IterableSource(users=[{'id': '1', 'username': name}])\n"
        "READY = IterableSource(users=[{'id': '2', 'username': 'ready'}])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert python_source("pysrc_mod:make", name="ada").get_user("1")["username"] == "ada"
    assert python_source("pysrc_mod:READY").get_user("2")["username"] == "ready"
    with pytest.raises(ConfigurationError, match="must look like"):
        python_source("nocolon")
    with pytest.raises(ConfigurationError, match="cannot load pysrc_mod:nope"):
        python_source("pysrc_mod:nope")
    with pytest.raises(ConfigurationError, match="calling pysrc_mod:make failed"):
        python_source("pysrc_mod:make")


def test_entry_point_lookup(ldap_dist):
    assert "acme_ldap_source" not in sys.modules  # listed, not loaded
    assert {"ldap", "broken", "notcallable"} <= set(source_type_names())
    assert "acme_ldap_source" not in sys.modules
    factory = get_source_factory("ldap")
    assert factory.__name__ == "LDAPSource"
    assert get_source_factory("ldap") is factory  # cached
    with pytest.raises(ConfigurationError, match="did not give a callable"):
        get_source_factory("notcallable")
    with pytest.raises(ConfigurationError, match="failed to load: ModuleNotFoundError"):
        get_source_factory("broken")


# ---------------------------------------------------------------------- scimsync.toml


def test_config_uses_an_entry_point_source_and_syncs(
    ldap_dist, tmp_path, monkeypatch, aws_scim_server
):
    (tmp_path / "certs").mkdir()
    text = (
        '[source]\ntype = "ldap"\nurl = "ldaps://ldap.example.com"\n'
        'base_dn = "dc=example,dc=com"\nca_path = "certs/ca.pem"\n'
        '[store]\npath = "state.sqlite3"\n'
        + TARGET.format(url=aws_scim_server.base_url)
        + 'profile = "aws"\n'
    )
    cfg = load_config(write(tmp_path, text))
    assert cfg.source is not None
    assert cfg.source.type == "ldap"
    src = cfg.build_source()
    calls = sys.modules["acme_ldap_source"].CALLS
    assert calls == [
        ("ldaps://ldap.example.com", "dc=example,dc=com", str(tmp_path / "certs/ca.pem"), 500)
    ]
    assert type(src).__name__ == "LDAPSource"
    monkeypatch.setenv("SCIMSYNC_PLUGIN_TOKEN", aws_scim_server.token)
    prov = cfg.build_provisioner(source=src)
    trace = prov.sync_user("uid=ada")
    assert trace.outcome == "created", trace.format()
    assert [u["userName"] for u in aws_scim_server.users()] == ["ada"]


def test_config_unknown_key_of_a_plugin_source(ldap_dist, tmp_path):
    text = '[source]\ntype = "ldap"\nurl = "ldaps://x"\nbse_dn = "dc=x"\n' + TARGET.format(
        url="https://x.example/v2"
    )
    got = problems(tmp_path, text)
    assert (4, "source.bse_dn", "unknown key (did you mean 'base_dn'?)") in got


def test_config_unknown_type_lists_the_known_ones(ldap_dist, tmp_path):
    text = '[source]\ntype = "ldapp"\n' + TARGET.format(url="https://x.example/v2")
    with pytest.raises(ConfigFileError) as ei:
        load_config(write(tmp_path, text))
    [p] = ei.value.problems
    assert (p.line, p.key) == (2, "source.type")
    assert p.message.startswith("'ldapp' is not a known source type (did you mean 'ldap'?)")
    assert "choose one of: broken, csv, iterable, json, ldap, notcallable, python" in p.message
    assert "scimsync.sources entry point group" in p.message
    assert str(ei.value).startswith(f"{tmp_path / 'scimsync.toml'}:2: source.type: ")


def test_config_entry_point_that_fails_to_load(ldap_dist, tmp_path):
    text = '[source]\ntype = "broken"\n' + TARGET.format(url="https://x.example/v2")
    got = problems(tmp_path, text)
    assert len(got) == 1
    line, key, message = got[0]
    assert (line, key) == (2, "source.type")
    assert "failed to load: ModuleNotFoundError" in message


def test_config_registered_source_and_build_errors(clean_sources, tmp_path):
    def flaky(fail: bool = False):
        if fail:
            raise RuntimeError("directory unreachable")
        return IterableSource(users=[{"id": "1", "username": "ada"}])

    register_source("flaky", flaky)
    ok = load_config(
        write(tmp_path, '[source]\ntype = "flaky"\n' + TARGET.format(url="https://x/v2"))
    )
    assert ok.build_source().get_user("1") == {"id": "1", "username": "ada"}
    bad = load_config(
        write(
            tmp_path, '[source]\ntype = "flaky"\nfail = true\n' + TARGET.format(url="https://x/v2")
        )
    )
    with pytest.raises(
        ConfigurationError,
        match=r"source: cannot build the flaky source: RuntimeError: directory unreachable",
    ):
        bad.build_source()


def test_config_iterable_source_from_inline_tables(clean_sources, tmp_path):
    text = (
        '[source]\ntype = "iterable"\nkey = "uid"\n'
        'users = [{uid = "1", username = "ada"}, {uid = "2", username = "grace"}]\n'
        'groups = [{uid = "g", name = "admins", members = ["1", "2"]}]\n'
        + TARGET.format(url="https://x.example/v2")
    )
    src = load_config(write(tmp_path, text)).build_source()
    assert list(src.iter_user_keys()) == ["1", "2"]
    assert sorted(src.group_member_keys("g")) == ["1", "2"]
