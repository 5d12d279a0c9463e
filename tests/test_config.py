"""scimsync.toml: loading, building, and the error messages for every kind of mistake."""

from __future__ import annotations

import datetime as dt
import sys
import textwrap
from pathlib import Path

import pytest

from scimsync._config import ConfigFileError, load_config, parse_duration
from scimsync.errors import ConfigurationError

GOOD = """\
[source]
type = "csv"
users = "people.csv"

[store]
path = "state/scimsync.sqlite3"

[log]
file = "logs/scimsync.log"
level = "debug"

[schedule]
every = "15m"
deep_cron = "0 3 * * *"

[targets.aws]
url = "https://scim.us-east-1.amazonaws.com/abc/scim/v2"
profile = "aws"
token_env = "SCIMSYNC_TEST_TOKEN"
timeout = "20s"
rate_limit = 10
concurrency = 2

[targets.aws.user_mapping]
"name.givenName" = "first"
'emails[type eq "work"].value' = { source = "mail", transforms = ["lower"] }

[targets.aws.scope]
allowed_email_domains = ["Example.com"]

[targets.aws.policies]
user_lifecycle = "deactivate_then_delete"
grace_period = "7d"
require_approval = ["delete_user"]
deletion_threshold = "5%"

[targets.aws.toggles]
delete_groups = false
"""


def write(tmp_path: Path, text: str, name: str = "scimsync.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def problems(tmp_path: Path, text: str) -> list[tuple[int | None, str, str]]:
    p = write(tmp_path, text)
    with pytest.raises(ConfigFileError) as info:
        load_config(p)
    assert info.value.path == p
    assert str(p) in str(info.value)
    return [(pr.line, pr.key, pr.message) for pr in info.value.problems]


def test_good_file_builds_everything(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.store_path == tmp_path / "state" / "scimsync.sqlite3"
    assert cfg.log.file == tmp_path / "logs" / "scimsync.log"
    assert cfg.log.level == "debug"
    assert cfg.source is not None
    assert cfg.source.users == tmp_path / "people.csv"
    assert cfg.schedule.every == 900.0
    assert cfg.schedule.deep_cron == "0 3 * * *"
    aws = cfg.targets["aws"]
    assert aws.profile.name == "aws"
    assert aws.timeout == (5.0, 20.0)
    assert aws.rate_limit == 10.0
    assert aws.concurrency == 2
    assert aws.policies.user_lifecycle == "deactivate_then_delete"
    assert aws.policies.grace_period == dt.timedelta(days=7)
    assert aws.policies.deletion_threshold == pytest.approx(0.05)
    assert aws.policies.require_approval == frozenset({"delete_user"})
    assert aws.scope.allowed_email_domains == frozenset({"example.com"})
    assert aws.toggles.delete_groups is False
    assert aws.toggles.create_users is True
    # the table overrides the profile's default mapping: its other fields are kept
    fields = dict(aws.user_mapping.fields)
    assert fields["name.givenName"].arg == "first"
    assert fields['emails[type eq "work"].value'].arg == "mail"
    assert "userName" in fields
    rep = aws.user_mapping.build(
        {
            "username": "ada",
            "first": "Ada",
            "first_name": "Ada",
            "last_name": "L",
            "mail": "ADA@X.ORG",
            "is_active": True,
        },
        "1",
        for_create=True,
    )
    assert rep["name"]["givenName"] == "Ada"
    assert rep["emails"][0]["value"] == "ada@x.org"


def test_repr_of_config_never_shows_a_literal_token(tmp_path: Path) -> None:
    text = GOOD.replace('token_env = "SCIMSYNC_TEST_TOKEN"', 'token = "literal-secret-123456"')
    with pytest.warns(UserWarning, match=r"scimsync\.toml:\d+: targets\.aws\.token"):
        cfg = load_config(write(tmp_path, text))
    assert "literal-secret-123456" not in repr(cfg)
    assert "literal-secret-123456" not in repr(cfg.targets["aws"])
    assert cfg.token("aws") == "literal-secret-123456"


def test_every_mistake_is_reported_with_line_key_and_what_is_wrong(tmp_path: Path) -> None:
    text = """\
    [targets.aws]
    url = "https://scim.example/scim/v2"
    profile = "aws"
    token_env = "SCIMSYNC_TEST_TOKEN"
    rate_limt = 10

    [targets.aws.policies]
    user_lifecycle = "nuke"
    grace_period = "forever"

    [targets.aws.toggles]
    delete_groups = "no"
    """
    got = problems(tmp_path, text)
    assert got == [
        (5, "targets.aws.rate_limt", "unknown key (did you mean 'rate_limit'?)"),
        (
            8,
            "targets.aws.policies.user_lifecycle",
            "'nuke' is not one of deactivate, delete, deactivate_then_delete",
        ),
        (
            9,
            "targets.aws.policies.grace_period",
            "'forever' is not a duration (seconds, or text like '12h', '30d')",
        ),
        (12, "targets.aws.toggles.delete_groups", "must be true or false, not a string"),
    ]


def test_the_error_text_reads_file_line_key_message(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """\
        [targets.aws]
        url = "https://scim.example/scim/v2"
        token_env = "T"

        [targets.aws.policies]
        group_lifecycle = "archive"
        """,
    )
    with pytest.raises(ConfigurationError) as info:
        load_config(p)
    assert str(info.value) == (
        f"{p}:6: targets.aws.policies.group_lifecycle: 'archive' is not one of delete, keep"
    )


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    got = problems(tmp_path, '[targets.aws]\nurl = "https://x\nprofile = "aws"\n')
    assert len(got) == 1
    line, key, message = got[0]
    assert line == 2
    assert key == ""
    assert message.startswith("not valid TOML")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("snippet", "key", "fragment"),
    [
        ('url = "https://x.example/scim/v2"\n', "targets.aws", "no token source"),
        (
            'url = "https://x.example/scim/v2"\ntoken_env = "A"\ntoken_command = ["x"]\n',
            "targets.aws.token_command",
            "give only one of token_env, token_command",
        ),
        (
            'url = "https://x.example/scim/v2"\ntoken_command = "op read x"\n',
            "targets.aws.token_command",
            "must be a list of strings",
        ),
        (
            'url = "https://x.example/scim/v2"\ntoken_env = "not a name"\n',
            "targets.aws.token_env",
            "is not an environment variable name",
        ),
        ('url = "ftp://x"\ntoken_env = "A"\n', "targets.aws.url", "is not an http(s) URL"),
        ('token_env = "A"\n', "targets.aws.url", "is required"),
        (
            'url = "https://x.example/scim/v2"\ntoken_env = "A"\nprofile = "okta"\n',
            "targets.aws.profile",
            "okta",
        ),
        (
            'url = "https://x.example/scim/v2"\ntoken_env = "A"\nrate_limit = -1\n',
            "targets.aws.rate_limit",
            "positive",
        ),
        (
            'url = "https://x.example/scim/v2"\ntoken_env = "A"\ntimeout = true\n',
            "targets.aws.timeout",
            "not a boolean",
        ),
        (
            'url = "https://x.example/scim/v2"\ntoken_env = "A"\n'
            "[targets.aws.policies]\ndeletion_threshold = 1.5\n",
            "targets.aws.policies.deletion_threshold",
            "between 0 and 1",
        ),
        (
            'url = "https://x.example/scim/v2"\ntoken_env = "A"\n'
            '[targets.aws.policies]\nrequire_approval = ["nuke_user"]\n',
            "targets.aws.policies.require_approval",
            "allowed: create_user",
        ),
        (
            'url = "https://x.example/scim/v2"\ntoken_env = "A"\n'
            '[targets.aws.scope]\npredicate = "no_such_module_xyz:f"\n',
            "targets.aws.scope.predicate",
            "cannot import 'no_such_module_xyz'",
        ),
        (
            'url = "https://x.example/scim/v2"\ntoken_env = "A"\n'
            '[targets.aws.user_mapping]\n"name.givenName" = { source = "a", transforms = ["lowr"] }\n',
            "targets.aws.user_mapping.name.givenName.transforms",
            "unknown transform 'lowr'",
        ),
    ],
)
def test_target_mistakes(tmp_path: Path, snippet: str, key: str, fragment: str) -> None:
    got = problems(tmp_path, "[targets.aws]\n" + snippet)
    assert any(k == key and fragment in m for _line, k, m in got), got
    assert all(line is not None for line, _k, _m in got), got


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ('[source]\ntype = "xml"\n', "source.type", "choose one of: csv, iterable, json, python"),
        ('[source]\ntype = "csv"\n', "source.users", "is required for a csv source"),
        ('[source]\ntype = "python"\n', "source.factory", "is required"),
        ('[source]\ntype = "python"\nfactory = "nocolon"\n', "source.factory", "module:attribute"),
        ('[schedule]\nevery = "soon"\n', "schedule.every", "not a positive duration"),
        ('[schedule]\ncron = "every day"\n', "schedule.cron", "not a valid cron expression"),
        ('[schedule]\nevery = 60\ncron = "* * * * *"\n', "schedule.cron", "not both"),
        ('[log]\nlevel = "loud"\n', "log.level", "choose one of: debug, info"),
        ("[dispatcher]\nthreads = 4\n", "dispatcher.threads", "unknown key"),
        ("[targets]\n", "targets", "at least one target"),
        ("[stor]\npath = 'x'\n", "stor", "did you mean 'store'"),
    ],
)
def test_section_mistakes(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    target = '[targets.t]\nurl = "https://x.example/v2"\ntoken_env = "A"\n'
    body = text if text.startswith("[targets]") else text + "\n" + target
    got = problems(tmp_path, body)
    assert any(k == key and fragment in m for _line, k, m in got), got


def test_token_env_is_read_only_when_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCIMSYNC_TEST_TOKEN", raising=False)
    cfg = load_config(write(tmp_path, GOOD))  # loading does not need the token
    with pytest.raises(ConfigurationError, match="SCIMSYNC_TEST_TOKEN is not set"):
        cfg.token("aws")
    monkeypatch.setenv("SCIMSYNC_TEST_TOKEN", "tok-from-env-987")
    assert cfg.token("aws") == "tok-from-env-987"


def test_token_command(tmp_path: Path) -> None:
    script = tmp_path / "tok.py"
    script.write_text("print('tok-from-command-555')\n")
    text = GOOD.replace(
        'token_env = "SCIMSYNC_TEST_TOKEN"',
        f"token_command = [{sys.executable!r}, {str(script)!r}]",
    )
    cfg = load_config(write(tmp_path, text))
    assert cfg.token("aws") == "tok-from-command-555"
    assert cfg.targets["aws"].token_source.startswith("command")


def test_failing_token_command_never_shows_its_stdout(tmp_path: Path) -> None:
    script = tmp_path / "tok.py"
    script.write_text(
        "import sys\nprint('half-printed-secret-42')\n"
        "print('vault is locked', file=sys.stderr)\nsys.exit(3)\n"
    )
    text = GOOD.replace(
        'token_env = "SCIMSYNC_TEST_TOKEN"',
        f"token_command = [{sys.executable!r}, {str(script)!r}]",
    )
    cfg = load_config(write(tmp_path, text))
    with pytest.raises(ConfigurationError) as info:
        cfg.token("aws")
    assert "exited with status 3: vault is locked" in str(info.value)
    assert "half-printed-secret-42" not in str(info.value)


def test_python_source_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cfgsrc_mod.py").write_text(
        "class S:\n"
        "    def __init__(self, n):\n        self.n = n\n"
        "    def get_user(self, key):\n        return None\n"
        "def make(n=1):\n    return S(n)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    text = '[source]\ntype = "python"\nfactory = "cfgsrc_mod:make"\nn = 3\n' + GOOD.split(
        "[store]"
    )[1].join(["[store]", ""])
    cfg = load_config(write(tmp_path, text))
    src = cfg.build_source()
    assert type(src).__name__ == "S"
    assert src.n == 3  # type: ignore[attr-defined]


def test_several_targets_need_target_to_pick_one(tmp_path: Path) -> None:
    text = GOOD + '\n[targets.lab]\nurl = "http://127.0.0.1:1/v2"\ntoken_env = "X"\n'
    cfg = load_config(write(tmp_path, text))
    assert list(cfg.targets) == ["aws", "lab"]
    with pytest.raises(ConfigurationError, match="choose one with --target"):
        cfg.target(None)
    with pytest.raises(ConfigurationError, match="no target named 'nope'"):
        cfg.target("nope")
    assert [t.name for t in cfg.selected(None)] == ["aws", "lab"]
    assert cfg.target("lab").profile.name == "generic"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("90s", 90.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("250ms", 0.25),
        ("soon", None),
        (True, None),
    ],
)
def test_parse_duration(value: object, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


def test_orphans_and_missing_names(tmp_path: Path) -> None:
    text = GOOD.replace(
        "concurrency = 2\n",
        'concurrency = 2\nmissing_names = "fail"\norphans = "report"\n',
    )
    aws = load_config(write(tmp_path, text)).targets["aws"]
    assert aws.profile.missing_names.mode == "fail"
    assert aws.orphans.action == "report"
    text = GOOD + (
        '\n[targets.aws.orphans]\naction = "delete"\nignore_user_names = ["break-glass*"]\n'
        '\n[targets.aws.missing_names]\nmode = "fill"\nfrom_attribute = "userName"\n'
    )
    aws = load_config(write(tmp_path, text)).targets["aws"]
    assert aws.orphans.action == "delete"
    assert aws.orphans.ignore_user_names == ("break-glass*",)
    assert aws.profile.missing_names.mode == "fill"
    got = problems(tmp_path, GOOD + '\n[targets.aws.orphans]\naction = "burn"\n')
    assert [(k, "burn" in m) for _l, k, m in got] == [("targets.aws.orphans.action", True)]


def test_json_source_and_missing_files(tmp_path: Path) -> None:
    target = '[targets.t]\nurl = "https://x.example/v2"\ntoken_env = "A"\n'
    got = problems(tmp_path, '[source]\ntype = "json"\nusers = "d.json"\n' + target)
    assert got[0][:2] == (3, "source.users")
    assert "write path" in got[0][2]
    cfg = load_config(write(tmp_path, '[source]\ntype = "json"\npath = "d.json"\n' + target))
    with pytest.raises(ConfigurationError, match=r"source\.path: .*d\.json does not exist"):
        cfg.build_source()
    (tmp_path / "d.json").write_text('{"users": [{"id": 1, "username": "a"}], "groups": []}')
    src = cfg.build_source()
    assert list(src.iter_user_keys()) == ["1"]
