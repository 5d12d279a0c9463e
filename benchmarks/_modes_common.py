"""Helpers shared by the automatic/scheduled-mode benchmarks (initial_sync, reconcile,
memberships): an emulator in its own process (so its CPU does not compete with the
client's under one GIL), data generators and a provisioner factory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from scimsync import (
    AWS,
    GENERIC,
    IterableSource,
    Provisioner,
    RetryPolicy,
    ScimClient,
    SQLiteStore,
    Target,
)

_SERVE = textwrap.dedent(
    """
    import json, sys
    from scimsync.testing import EmulatorServer, FaultConfig
    profile, latency, seed = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    server = EmulatorServer(profile, faults=FaultConfig(latency=latency), log_limit=10)
    ids = []
    if seed != "-":
        with open(seed, encoding="utf-8") as fh:  # one rep per line, written by the parent
            for line in fh:
                ids.append(server.seed_user(json.loads(line))["id"])
    server.start()
    print(json.dumps({"base_url": server.base_url, "token": server.token, "ids": ids}), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    server.stop()
    """
)


def seeded_reps(n: int) -> list[dict[str, Any]]:
    """The reps a sync of ``make_users(n)`` with the AWS profile's mapping pushes."""
    mapping = AWS.default_user_mapping()
    out = []
    for u in make_users(n):
        rep = mapping.build(u, u["id"], for_create=True)
        rep, problems = AWS.check_user(rep, u["id"])
        assert not problems, problems
        out.append(rep)
    return out


class EmulatorProcess:
    """``python -c <serve>``: an EmulatorServer in a child process."""

    def __init__(
        self, profile: str = "aws", latency: float = 0.0, seed: list[dict[str, Any]] | None = None
    ) -> None:
        seed_arg = "-"
        if seed:
            fd, seed_arg = tempfile.mkstemp(prefix="scimsync-seed-", suffix=".jsonl")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                for rep in seed:
                    fh.write(json.dumps(rep) + "\n")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, profile, str(latency), seed_arg],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        if seed_arg != "-":
            os.unlink(seed_arg)  # the child has read it by the time it prints its address
        self.base_url: str = info["base_url"]
        self.token: str = info["token"]
        self.ids: list[str] = info["ids"]
        self.profile = profile

    def client(self, **kw: Any) -> ScimClient:
        kw.setdefault("pool_size", 32)
        kw.setdefault("retry", RetryPolicy())
        return ScimClient(self.base_url, self.token, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_users(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": str(i),
            "username": f"user{i}@example.org",
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "email": f"user{i}@example.org",
            "is_active": True,
        }
        for i in range(start, start + n)
    ]


def make_groups(n_groups: int, user_keys: list[str], per_group: int) -> list[dict[str, Any]]:
    """Group j holds ``per_group`` consecutive users (wrapping around)."""
    out = []
    for j in range(n_groups):
        members = [user_keys[(j * per_group + k) % len(user_keys)] for k in range(per_group)]
        out.append({"id": f"g{j}", "name": f"Group {j}", "members": members})
    return out


def provisioner(
    client: ScimClient,
    users: list[dict[str, Any]],
    groups: list[dict[str, Any]],
    *,
    profile: Any = None,
    concurrency: int = 8,
    db: Path | None = None,
) -> Provisioner:
    if db is None:
        db = Path(tempfile.mkdtemp(prefix="scimsync-bench-")) / "state.db"
    return Provisioner(
        source=IterableSource(users, groups),
        store=SQLiteStore(db),
        targets=[Target(name="t", client=client, profile=profile or AWS, concurrency=concurrency)],
    )


def env_note() -> str:
    return f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), {time.strftime('%Y-%m-%d %H:%M')}"


__all__ = [
    "AWS",
    "GENERIC",
    "EmulatorProcess",
    "env_note",
    "make_groups",
    "make_users",
    "provisioner",
    "seeded_reps",
]
