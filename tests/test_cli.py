"""The real ``scimsync`` command, run in a subprocess against the AWS-profile emulator.

Each test gets a fresh emulator (in this process, on a free port), a small CSV
directory and a ``scimsync.toml`` whose token comes from an environment variable.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from scimsync.testing import EmulatorServer

TOKEN = "SCIMSYNC-TEST-TOKEN-7b1f0c2e9d4a4e55b8d6"
ROOT = Path(__file__).resolve().parents[1]

USERS = """\
id,username,first_name,last_name,email,is_active
1,ada,Ada,Lovelace,ada@example.org,true
2,alan,Alan,Turing,alan@example.org,true
3,grace,Grace,Hopper,grace@example.org,true
4,bad user,Bad,User,bad@example.org,true
"""
VALID_USERS = "\n".join(USERS.splitlines()[:4]) + "\n"
GROUPS = """\
id,name,members
eng,Engineering,1;2;3
ops,Operations,3
"""

ALL_COMMANDS = [
    [],
    ["test-connection"],
    ["push"],
    ["plan"],
    ["sync"],
    ["import"],
    ["report"],
    ["approvals"],
    ["approvals", "list"],
    ["approvals", "approve"],
    ["approvals", "reject"],
    ["worker"],
    ["demo"],
]


class Cli:
    """A work directory with a config pointing at a running emulator."""

    def __init__(self, tmp_path: Path, server: EmulatorServer) -> None:
        self.dir = tmp_path
        self.server = server
        self.env = dict(os.environ, SCIMSYNC_TEST_TOKEN=TOKEN, NO_COLOR="1")
        self.env.pop("SCIMSYNC_CONFIG", None)
        (tmp_path / "users.csv").write_text(VALID_USERS)
        (tmp_path / "groups.csv").write_text(GROUPS)
        self.write_config()

    def write_config(self, extra: str = "", url: str | None = None) -> Path:
        path = self.dir / "scimsync.toml"
        path.write_text(
            textwrap.dedent(
                f"""\
                [source]
                type = "csv"
                users = "users.csv"
                groups = "groups.csv"

                [store]
                path = "state.sqlite3"

                [log]
                file = "scimsync.log"
                level = "debug"

                [targets.aws]
                url = "{url or self.server.base_url}"
                profile = "aws"
                token_env = "SCIMSYNC_TEST_TOKEN"
                """
            )
            + textwrap.dedent(extra)
        )
        return path

    def run(self, *args: str, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scimsync", *args],
            cwd=self.dir,
            env=kw.pop("env", self.env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kw,
        )

    def run_many(self, *runs: tuple[str, ...], **kw: Any) -> list[subprocess.CompletedProcess[str]]:
        env = kw.pop("env", self.env)
        return run_parallel(list(runs), cwd=self.dir, env=env, **kw)

    def requests(self, method: str | None = None) -> list[Any]:
        return [e for e in self.server.request_log if method is None or e.method == method]


def run_parallel(runs: list[tuple[str, ...]], **kw: Any) -> list[subprocess.CompletedProcess[str]]:
    """Run several independent ``scimsync`` commands at once (each its own process)."""

    def one(args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scimsync", *args],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
            **kw,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, runs))


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    server = EmulatorServer("aws", tokens=[TOKEN]).start()
    try:
        yield Cli(tmp_path, server)
    finally:
        server.stop()


def test_help_on_every_command(tmp_path: Path) -> None:
    procs = run_parallel([(*args, "--help") for args in ALL_COMMANDS], cwd=tmp_path)
    for args, proc in zip(ALL_COMMANDS, procs, strict=True):
        assert proc.returncode == 0, (args, proc.stderr)
        name = " ".join(["scimsync", *args])
        assert proc.stdout.startswith(f"usage: {name}"), (args, proc.stdout[:200])
        if len(args) < 2:
            assert "exit codes:" in proc.stdout, args


def test_version_and_usage_errors(tmp_path: Path) -> None:
    from scimsync import __version__

    version, bare, unknown, kind, noconfig = run_parallel(
        [("--version",), (), ("frobnicate",), ("push", "robot", "1"), ("sync",)], cwd=tmp_path
    )
    assert (version.returncode, version.stdout.strip()) == (0, f"scimsync {__version__}")
    assert bare.returncode == 2
    assert "the following arguments are required: COMMAND" in bare.stderr
    assert unknown.returncode == 2
    assert "invalid choice: 'frobnicate'" in unknown.stderr
    assert kind.returncode == 2
    assert "invalid choice: 'robot'" in kind.stderr
    # no configuration file at all: a usage error naming the file it looked for
    assert noconfig.returncode == 2
    assert "scimsync.toml: no such configuration file" in noconfig.stderr


def test_config_with_a_mistake_names_file_line_key_and_what_is_wrong(cli: Cli) -> None:
    path = cli.write_config(
        """
        rate_limt = 5

        [targets.aws.policies]
        user_lifecycle = "nuke"
        """
    )
    lines = path.read_text().splitlines()
    typo = lines.index("rate_limt = 5") + 1
    nuke = lines.index('user_lifecycle = "nuke"') + 1
    before = len(cli.requests())
    for proc in cli.run_many(("sync",), ("report",), ("push", "user", "1")):
        assert proc.returncode == 2, proc.stderr
        assert (
            f"scimsync.toml:{typo}: targets.aws.rate_limt: unknown key (did you mean 'rate_limit'?)"
            in proc.stderr
        )
        assert (
            f"scimsync.toml:{nuke}: targets.aws.policies.user_lifecycle: 'nuke' is not one of "
            "deactivate, delete, deactivate_then_delete"
        ) in proc.stderr
        assert "Traceback" not in proc.stderr
    assert len(cli.requests()) == before  # nothing was sent


def test_toml_syntax_error_and_config_from_environment(cli: Cli) -> None:
    bad = cli.dir / "elsewhere.toml"
    bad.write_text('[targets.aws]\nurl = "https://x\n')
    proc = cli.run("sync", env=dict(cli.env, SCIMSYNC_CONFIG=str(bad)))
    assert proc.returncode == 2
    assert f"{bad}:2: not valid TOML" in proc.stderr
    proc = cli.run("-c", str(bad), "report")
    assert proc.returncode == 2
    assert f"{bad}:2:" in proc.stderr


def test_test_connection_ok_bad_token_and_unreachable(cli: Cli) -> None:
    proc = cli.run("test-connection")
    assert proc.returncode == 0, proc.stderr
    assert "authenticated: yes" in proc.stdout
    proc = cli.run("test-connection", env=dict(cli.env, SCIMSYNC_TEST_TOKEN="wrong-token-000"))
    assert proc.returncode == 3
    assert "authenticated: no" in proc.stdout
    assert "token is invalid or expired" in proc.stdout
    # a closed port: nothing listens there any more
    dead = EmulatorServer("aws").start()
    dead_url = dead.base_url
    dead.stop()
    cli.write_config(url=dead_url)
    proc = cli.run("test-connection")
    assert proc.returncode == 3
    assert "reachable:     no" in proc.stdout
    # the token variable is not set
    env = dict(cli.env)
    env.pop("SCIMSYNC_TEST_TOKEN")
    proc = cli.run("test-connection", env=env)
    assert proc.returncode == 2
    assert "SCIMSYNC_TEST_TOKEN is not set" in proc.stderr


def test_push_user_and_group_with_trace_and_dry_run(cli: Cli) -> None:
    proc = cli.run("push", "user", "1", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "user 1 (ada)" in proc.stdout
    assert "dry run" in proc.stdout.lower()
    assert cli.requests("POST") == []
    assert cli.server.users() == []

    proc = cli.run("push", "user", "1")
    assert proc.returncode == 0, proc.stderr
    assert "outcome: created" in proc.stdout
    assert "POST /Users" in proc.stdout
    assert [u["userName"] for u in cli.server.users()] == ["ada"]

    proc = cli.run("push", "group", "eng")
    assert proc.returncode == 0, proc.stderr
    assert "outcome: created" in proc.stdout
    assert {u["userName"] for u in cli.server.users()} == {"ada", "alan", "grace"}
    assert [g["displayName"] for g in cli.server.groups()] == ["Engineering"]

    proc = cli.run("push", "user", "1")  # unchanged: nothing sent
    n = len(cli.requests())
    assert proc.returncode == 0
    assert "outcome: unchanged" in proc.stdout
    assert len(cli.requests()) == n


def test_push_invalid_user_exits_1_and_unknown_target_exits_2(cli: Cli) -> None:
    (cli.dir / "users.csv").write_text(USERS)
    proc = cli.run("push", "user", "4")
    assert proc.returncode == 1
    assert "userName must not contain whitespace on the aws profile" in proc.stdout
    assert "scimsync: error: user 4" in proc.stderr
    assert cli.requests("POST") == []
    proc = cli.run("--target", "nope", "push", "user", "1")
    assert proc.returncode == 2
    assert "no target named 'nope'" in proc.stderr


def test_plan_changes_nothing_and_sync_then_incremental_is_quiet(cli: Cli) -> None:
    proc = cli.run("plan")
    assert proc.returncode == 0, proc.stderr
    assert "create     user  1 ada" in proc.stdout
    assert "create     group eng Engineering" in proc.stdout
    assert cli.server.users() == []
    assert {e.method for e in cli.requests()} <= {"GET"}

    proc = cli.run("sync")
    assert proc.returncode == 0, proc.stderr
    assert "3 created" in proc.stdout or "5 created" in proc.stdout
    assert len(cli.server.users()) == 3
    assert len(cli.server.groups()) == 2
    assert "objects: " in proc.stdout  # plain progress lines (not a terminal)

    n = len(cli.requests())
    proc = cli.run("sync")
    assert proc.returncode == 0, proc.stderr
    assert len(cli.requests()) == n  # incremental, nothing changed: no request at all

    cli.server.mutate_user(cli.server.find_user("ada")["id"], displayName="Hacked")
    proc = cli.run("sync", "--mode", "full")
    assert proc.returncode == 0, proc.stderr
    assert cli.server.find_user("ada")["displayName"] == "Ada Lovelace"


def test_sync_with_an_invalid_user_exits_1(cli: Cli) -> None:
    (cli.dir / "users.csv").write_text(USERS)
    proc = cli.run("sync")
    assert proc.returncode == 1
    assert "failed: user 4" in proc.stdout
    assert len(cli.server.users()) == 3  # the others still went out


def test_deletion_threshold_holds_then_approvals(cli: Cli) -> None:
    cli.write_config(
        """
        [targets.aws.policies]
        user_lifecycle = "delete"
        deletion_threshold = 1
        """
    )
    assert cli.run("sync").returncode == 0
    (cli.dir / "users.csv").write_text(USERS.splitlines()[0] + "\n" + USERS.splitlines()[1] + "\n")
    (cli.dir / "groups.csv").write_text("id,name,members\neng,Engineering,1\nops,Operations,\n")
    proc = cli.run("sync")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "deletion threshold" in proc.stdout
    assert len(cli.server.users()) == 3  # nothing deleted

    proc = cli.run("approvals", "list")
    assert proc.returncode == 4
    lines = [ln for ln in proc.stdout.splitlines() if " delete_user " in f" {ln} "]
    assert len(lines) == 2, proc.stdout
    ids = [ln.split()[0] for ln in lines]

    proc = cli.run("approvals", "approve", ids[0], "--by", "auditor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "approved held change" in proc.stdout
    assert len(cli.server.users()) == 2
    proc = cli.run("approvals", "reject", ids[1])
    assert proc.returncode == 0, proc.stderr
    assert len(cli.server.users()) == 2
    proc = cli.run("approvals", "list")
    assert proc.returncode == 0
    assert "nothing is waiting for approval" in proc.stdout
    proc = cli.run("approvals", "list", "--all")
    assert "applied" in proc.stdout
    assert "rejected" in proc.stdout
    proc = cli.run("approvals", "approve", ids[1])
    assert proc.returncode == 2
    assert "already rejected" in proc.stderr
    proc = cli.run("approvals", "approve", "999")
    assert proc.returncode == 2
    assert "no held change with id 999" in proc.stderr


def test_report_filters_and_formats(cli: Cli) -> None:
    (cli.dir / "users.csv").write_text(USERS)
    assert cli.run("sync").returncode == 1

    run_id = json.loads(cli.run("report", "--format", "json").stdout)[0]["run_id"]
    (
        table,
        as_csv,
        failed,
        one_key,
        limited,
        recent,
        old,
        by_run,
        to_file,
        bad_outcome,
        bad_time,
    ) = cli.run_many(
        ("report",),
        ("report", "--format", "csv"),
        ("report", "--format", "json", "--outcome", "failed"),
        ("report", "--format", "json", "--key", "1", "--kind", "user"),
        ("report", "--format", "json", "--limit", "2"),
        ("report", "--format", "json", "--since", "1h", "--until", "now"),
        ("report", "--format", "json", "--until", "2000-01-01"),
        ("report", "--format", "json", "--run", run_id),
        ("report", "--format", "csv", "--output", "out.csv", "--target", "aws"),
        ("report", "--outcome", "exploded"),
        ("report", "--since", "last tuesday"),
    )
    assert table.returncode == 0, table.stderr
    assert "time (UTC)" in table.stdout
    assert "created" in table.stdout
    assert "failed" in table.stdout
    assert "6 record(s): created 5, failed 1" in table.stdout

    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert as_csv.returncode == 0
    assert len(rows) == 6
    assert {r["outcome"] for r in rows} == {"created", "failed"}
    assert {r["key"] for r in rows if r["kind"] == "user"} == {"1", "2", "3", "4"}

    data = json.loads(failed.stdout)
    assert [(d["key"], d["outcome"]) for d in data] == [("4", "failed")]
    assert "userName must not contain whitespace" in data[0]["error"]

    assert [d["key"] for d in json.loads(one_key.stdout)] == ["1"]
    assert len(json.loads(limited.stdout)) == 2
    assert len(json.loads(recent.stdout)) == 6
    assert json.loads(old.stdout) == []
    assert len(json.loads(by_run.stdout)) == 6
    assert to_file.returncode == 0
    assert len(list(csv.DictReader((cli.dir / "out.csv").open()))) == 6
    assert bad_outcome.returncode == 2
    assert "choose from created" in bad_outcome.stderr
    assert bad_time.returncode == 2
    assert "is not a time" in bad_time.stderr


def test_import_adopts_existing_remote_users(cli: Cli) -> None:
    seeded = cli.server.seed_user(
        userName="ada",
        name={"givenName": "Ada", "familyName": "Lovelace"},
        displayName="Ada Lovelace",
        emails=[{"value": "ada@example.org", "type": "work", "primary": True}],
        active=True,
    )
    cli.server.seed_user(
        userName="console.admin",
        name={"givenName": "Console", "familyName": "Admin"},
        displayName="Console Admin",
        active=True,
    )
    proc = cli.run("import", "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[dry run]" in proc.stdout
    proc = cli.run("import")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 matched" in proc.stdout
    assert f"user  local 1 <-> remote {seeded['id']}" in proc.stdout
    assert "console.admin" in proc.stdout  # remote only
    assert {e.method for e in cli.requests()} == {"GET"}  # nothing changed on the target
    proc = cli.run("push", "user", "1")
    assert proc.returncode == 0, proc.stderr
    assert seeded["id"] in proc.stdout  # the adopted remote user, not a new one
    assert len(cli.server.users()) == 2


def test_worker_once_drains_the_outbox(cli: Cli) -> None:
    from scimsync._store import SQLiteStore

    store = SQLiteStore(str(cli.dir / "state.sqlite3"))
    store.enqueue("user", "1", None)
    store.enqueue("group", "ops", None)
    store.close()
    proc = cli.run("worker", "--once")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "synced 2" in proc.stdout
    assert {u["userName"] for u in cli.server.users()} == {"ada", "grace"}
    assert [g["displayName"] for g in cli.server.groups()] == ["Operations"]

    # the target goes away: the row stays for a retry, and the exit code says why
    dead = EmulatorServer("aws").start()
    dead_url = dead.base_url
    dead.stop()
    cli.write_config(url=dead_url)
    store = SQLiteStore(str(cli.dir / "state.sqlite3"))
    store.enqueue("user", "2", None)
    store.close()
    proc = cli.run("worker", "--once", "--timeout", "60")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "1 row(s) wait for a retry" in proc.stderr
    assert "connection refused" in proc.stderr


def test_worker_runs_until_sigterm(cli: Cli) -> None:
    cli.write_config(
        '\n[schedule]\nevery = "1h"\n\n[dispatcher]\nworkers = 2\npoll_interval = "100ms"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "scimsync", "worker"],
        cwd=cli.dir,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("worker running: 2 dispatcher thread(s), 1 schedule(s)"), first
        from scimsync._store import SQLiteStore

        store = SQLiteStore(str(cli.dir / "state.sqlite3"))
        store.enqueue("user", "2", None)
        store.close()
        deadline = time.monotonic() + 30
        while cli.server.find_user("alan") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cli.server.find_user("alan") is not None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in out


def test_emulator_command_serves_until_stopped(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scimsync", "emulator", "--profile", "aws", "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        (tmp_path / "scimsync.toml").write_text(
            f'[targets.aws]\nurl = "{url}"\nprofile = "aws"\ntoken_env = "T"\n'
        )
        check = subprocess.run(
            [sys.executable, "-m", "scimsync", "test-connection"],
            cwd=tmp_path,
            env=dict(os.environ, T=TOKEN),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    helped = subprocess.run(
        [sys.executable, "-m", "scimsync", "emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert helped.returncode == 0
    assert helped.stdout.startswith("usage: scimsync emulator")
    assert "--profile" in helped.stdout


def test_the_token_never_appears_in_anything_the_command_writes(cli: Cli) -> None:
    """Every subcommand, with -vv debug logs, a failing sync, held deletes and exports."""
    (cli.dir / "users.csv").write_text(USERS)
    cli.write_config(
        """
        [targets.aws.policies]
        user_lifecycle = "delete"
        deletion_threshold = 0
        """
    )
    outputs: list[str] = []

    def run(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        proc = cli.run("-vv", *args, **kw)
        outputs.extend([proc.stdout, proc.stderr])
        return proc

    run("test-connection")
    run("plan", "--mode", "full")
    run("sync")
    run("push", "user", "4")
    run("push", "group", "eng", "--dry-run")
    (cli.dir / "users.csv").write_text(
        VALID_USERS.replace("3,grace,Grace,Hopper,grace@example.org,true\n", "")
    )
    (cli.dir / "groups.csv").write_text("id,name,members\neng,Engineering,1;2\n")
    run("sync")  # the deletes are held (threshold 0)
    listed = run("approvals", "list")
    ids = [ln.split()[0] for ln in listed.stdout.splitlines() if ln[:1].isdigit()]
    assert ids, listed.stdout
    run("approvals", "approve", ids[0])
    if len(ids) > 1:
        run("approvals", "reject", ids[1])
    run("worker", "--once")
    run("import")
    for proc in cli.run_many(
        ("-vv", "report"),
        ("-vv", "report", "--format", "csv", "--output", "r.csv"),
        ("-vv", "report", "--format", "json", "--output", "r.json"),
    ):
        outputs.extend([proc.stdout, proc.stderr])
    rotated = dict(cli.env, SCIMSYNC_TEST_TOKEN=TOKEN + "-rotated")
    for proc in cli.run_many(
        ("-vv", "test-connection"), ("-vv", "sync", "--mode", "full"), env=rotated
    ):
        assert proc.returncode == 3, proc.stdout + proc.stderr
        outputs.extend([proc.stdout, proc.stderr])

    assert any("created" in o for o in outputs)  # the commands did real work
    written = [*outputs]
    for name in ("scimsync.log", "r.csv", "r.json"):
        written.append((cli.dir / name).read_text(encoding="utf-8"))
    assert "DEBUG" in (cli.dir / "scimsync.log").read_text()
    db = cli.dir / "state.sqlite3"
    with sqlite3.connect(db) as conn:
        for (table,) in conn.execute("select name from sqlite_master where type = 'table'"):
            for row in conn.execute(f"select * from {table}"):  # noqa: S608 - table names from sqlite_master
                written.append(repr(row))
    for blob in written:
        assert TOKEN not in blob
    for path in cli.dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_demo_runs_and_prints_its_summary(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "scimsync", "demo", "--workdir", str(work)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env=dict(os.environ, SCIMSYNC_DEMO_TOKEN=TOKEN),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for heading in (
        "[1/3] Initial provisioning",
        "[2/3] A day of changes",
        "[3/3] Drift repair",
        "Summary",
        "Where it is",
    ):
        assert heading in out
    assert "users: created 996, failed 4" in out
    assert "user 137 (Teller):" in out
    assert "name.familyName is required by the aws profile" in out
    assert "userName must not contain whitespace" in out
    assert "emails may hold only one value" in out
    assert "U+200B" in out
    assert out.count("\u2714") == 4  # every drift repair verified
    assert "Done in" in out
    rows = list(csv.DictReader((work / "report.csv").open(encoding="utf-8")))
    assert len(rows) > 1000
    assert {"created", "updated", "deactivated", "deleted", "failed"} <= {
        r["outcome"] for r in rows
    }
    assert json.loads((work / "report.json").read_text(encoding="utf-8"))
    # the config it writes lets an admin explore the store right away
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "scimsync",
            "-c",
            str(work / "scimsync.toml"),
            "report",
            "--outcome",
            "failed",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert report.returncode == 0, report.stderr
    assert {d["key"] for d in json.loads(report.stdout)} == {"137", "428", "777", "913"}
    # the emulator's token (given through SCIMSYNC_DEMO_TOKEN) is nowhere
    assert TOKEN not in proc.stdout + proc.stderr
    for path in work.rglob("*"):
        assert TOKEN.encode() not in path.read_bytes(), path
