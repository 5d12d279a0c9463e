"""The ``flask scimsync`` command group."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask.cli import AppGroup

from scimsync import (
    Dispatcher,
    ExitCode,
    ScimSyncError,
    SyncFailedError,
    exit_code_for,
    exit_code_for_run,
    exit_code_for_trace,
)

from ._ext import ScimSyncState, get_state

__all__ = ["ExitCode", "exit_code_for", "scimsync_cli"]


scimsync_cli = AppGroup(
    "scimsync",
    help="Keep the SCIM target in step with this app's users (scimsync).\n\n"
    "Exit codes: 0 ok, 1 some object failed, 2 configuration error, 3 the target cannot "
    "be reached or refuses the token, 4 held for approval.",
)


def _echo(state: ScimSyncState, text: str, *, err: bool = False) -> None:
    click.echo(state.redact(text), err=err)


@contextmanager
def _errors(state: ScimSyncState) -> Iterator[None]:
    """Turn scimsync errors into a message on stderr and the documented exit code."""
    try:
        yield
    except SyncFailedError as exc:
        if exc.trace is not None:
            _echo(state, str(exc.trace))
        _echo(state, f"Error: {exc}", err=True)
        sys.exit(exit_code_for(exc))
    except ScimSyncError as exc:
        _echo(state, f"Error: {exc}", err=True)
        sys.exit(exit_code_for(exc))


def _sync_one(kind: str, key: str, target: str | None, dry_run: bool) -> None:
    state = get_state()
    prov = state.provisioner
    fn = prov.sync_user if kind == "user" else prov.sync_group
    with _errors(state):
        trace = fn(key, target=target, dry_run=dry_run)
    _echo(state, str(trace))
    sys.exit(exit_code_for_trace(trace))


_target_option = click.option(
    "--target", "target", default=None, metavar="NAME", help="only this target (default: all)"
)
_dry_run_option = click.option(
    "--dry-run", is_flag=True, help="plan only: send nothing but GETs, record nothing"
)


@scimsync_cli.command("sync-user")
@click.argument("key")
@_target_option
@_dry_run_option
def sync_user_command(key: str, target: str | None, dry_run: bool) -> None:
    """Sync one user now and print every step (manual mode).

    Exit 0 done, 1 failed, 2 configuration error, 3 target unreachable, 4 held.
    """
    _sync_one("user", key, target, dry_run)


@scimsync_cli.command("sync-group")
@click.argument("key")
@_target_option
@_dry_run_option
def sync_group_command(key: str, target: str | None, dry_run: bool) -> None:
    """Sync one group (name and members) now and print every step."""
    _sync_one("group", key, target, dry_run)


def _unusable(state: ScimSyncState, target: str) -> bool:
    """After a failed or partial run: whether the target cannot be used at all."""
    try:
        client = state.provisioner.target(target).client
        result = client.test_connection()
    except Exception:  # a diagnosis only
        return False
    if result.ok:
        return False
    _echo(state, f"target {target}: {result.error}\n  what to do: {result.advice}", err=True)
    return True


@scimsync_cli.command("reconcile")
@click.option("--deep", is_flag=True, help="also read the target: repair drift, list orphans")
@_dry_run_option
@_target_option
def reconcile_command(deep: bool, dry_run: bool, target: str | None) -> None:
    """Reconcile every user and group with the target (incremental, or --deep).

    Exit 0 in step, 1 some object failed or the run was partial, 3 target unreachable,
    4 deletes held for approval.
    """
    state = get_state()
    prov = state.provisioner
    names = [target] if target is not None else [t.name for t in prov.targets]
    worst = ExitCode.OK
    for name in names:
        with _errors(state):
            summary = prov.reconcile(name, mode="deep" if deep else "incremental", dry_run=dry_run)
        _echo(state, str(summary))
        code = exit_code_for_run(summary)
        if code == ExitCode.PARTIAL and _unusable(state, name):
            code = ExitCode.CONNECTION
        worst = max(worst, code)
    sys.exit(worst)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


@scimsync_cli.command("status")
@click.option("--runs", default=5, show_default=True, help="how many recent runs to show")
def status_command(runs: int) -> None:
    """Outbox counts, dead letters, held approvals and the last runs.

    Exit 0, or 1 when there are dead letters (for monitoring).
    """
    state = get_state()
    prov = state.provisioner
    store = prov.store
    lines: list[str] = []
    with _errors(state):
        counts = store.outbox_counts()
        dead = store.outbox("dead")
        pending = store.list_pending()
        recent = store.list_runs(limit=runs)
    lines.append(f"targets: {', '.join(t.name for t in prov.targets)}")
    lines.append(
        f"outbox: {counts.get('pending', 0)} pending ({counts.get('due', 0)} due, "
        f"{counts.get('leased', 0)} being synced), {counts.get('dead', 0)} dead letter(s)"
    )
    if not state.automatic:
        where = "off (SCIMSYNC_AUTOMATIC is False: drain with 'flask scimsync drain' or a worker)"
    else:
        where = "on (a dispatcher runs in each serving process)"
    lines.append(f"automatic mode: {where}")
    if dead:
        lines.append("dead letters (replay with 'flask scimsync replay'):")
        for item in dead:
            error = (item.last_error or "").splitlines()[0][:120] if item.last_error else "-"
            lines.append(
                f"  #{item.id} {item.kind} {item.key}: {item.attempts} attempt(s), "
                f"since {_when(item.enqueued_at)}: {error}"
            )
    lines.append(f"held for approval: {len(pending)}")
    for p in pending:
        lines.append(f"  #{p.id} {p.action} {p.kind} {p.key} on {p.target}: {p.reason}")
    if recent:
        lines.append("last runs:")
        for r in recent:
            totals = ", ".join(f"{n} {k}" for k, n in sorted(r.counts.items()) if n) or "nothing"
            plan = " (dry run)" if r.dry_run else ""
            lines.append(
                f"  {_when(r.started_at)}  {r.target}  {r.mode}{plan}  {r.status}: {totals}"
                + (f" - {r.error}" if r.error else "")
            )
    else:
        lines.append("last runs: none yet")
    _echo(state, "\n".join(lines))
    sys.exit(ExitCode.PARTIAL if dead else ExitCode.OK)


@scimsync_cli.command("replay")
@click.argument("ids", nargs=-1, type=int)
def replay_command(ids: tuple[int, ...]) -> None:
    """Make dead letters (all, or those IDS) pending again, due now.

    A running dispatcher picks them up; otherwise run 'flask scimsync drain'.
    """
    state = get_state()
    with _errors(state):
        n = state.provisioner.store.replay(list(ids) if ids else None)
    d = state.dispatcher
    if d is not None:
        d.wake()
    _echo(state, f"replayed {n} dead letter(s)")
    sys.exit(ExitCode.OK)


@scimsync_cli.command("drain")
@click.option("--timeout", default=60.0, show_default=True, help="seconds to wait at most")
def drain_command(timeout: float) -> None:
    """Sync what the outbox holds now, in this process, then exit (cron, no automatic mode).

    Exit 0 when the outbox has nothing due, 1 if rows failed (retry or dead letter).
    """
    state = get_state()
    prov = state.provisioner
    with _errors(state):
        dispatcher = Dispatcher(prov, **state.dispatcher_options)
        done = dispatcher.flush(timeout)
        stats = dispatcher.stats
        counts = prov.store.outbox_counts()
    _echo(
        state,
        f"synced {stats.synced}, retried {stats.retried}, dead letters {stats.dead}; outbox now: "
        f"{counts.get('pending', 0)} pending, {counts.get('dead', 0)} dead",
    )
    sys.exit(ExitCode.OK if done and not stats.retried and not stats.dead else ExitCode.PARTIAL)
