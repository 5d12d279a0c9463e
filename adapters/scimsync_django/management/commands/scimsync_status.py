"""``manage.py scimsync_status``: outbox counts, dead letters, approvals, last runs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from scimsync import ExitCode

from ._base import ScimsyncCommand


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


class Command(ScimsyncCommand):
    help = (
        "Show the outbox, dead letters, actions held for approval and the last runs. "
        "Exit 0, or 1 when there are dead letters (for monitoring)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=5, help="recent runs to show (5)")

    def handle(self, *args: Any, **options: Any) -> None:
        state = self.state()
        prov = state.provisioner
        store = prov.store
        with self.errors():
            counts = store.outbox_counts()
            dead = store.outbox("dead")
            pending = store.list_pending()
            recent = store.list_runs(limit=options["runs"])
        lines = [
            f"targets: {', '.join(t.name for t in prov.targets)}",
            f"store: {store!r}",
            f"outbox: {counts.get('pending', 0)} pending ({counts.get('due', 0)} due, "
            f"{counts.get('leased', 0)} being synced), {counts.get('dead', 0)} dead letter(s)",
            "automatic mode: "
            + (
                "on (a dispatcher runs in each process that records a change)"
                if state.automatic
                else "off (run 'manage.py scimsync_worker')"
            ),
        ]
        if dead:
            lines.append("dead letters (replay them in the admin, or save the object again):")
            for item in dead:
                error = (item.last_error or "-").splitlines()[0][:120]
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
                totals = ", ".join(f"{n} {k}" for k, n in sorted(r.counts.items()) if n)
                plan = " (dry run)" if r.dry_run else ""
                lines.append(
                    f"  {_when(r.started_at)}  {r.target}  {r.mode}{plan}  {r.status}: "
                    f"{totals or 'nothing'}" + (f" - {r.error}" if r.error else "")
                )
        else:
            lines.append("last runs: none yet")
        self.say("\n".join(lines))
        if dead:
            self.fail(ExitCode.PARTIAL, f"{len(dead)} dead letter(s) in the outbox")
