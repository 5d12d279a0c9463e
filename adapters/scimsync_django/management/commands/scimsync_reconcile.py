"""``manage.py scimsync_reconcile [--deep] [--dry-run]``: compare everything, repair."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from scimsync import ExitCode

from ._base import ScimsyncCommand, run_code


class Command(ScimsyncCommand):
    help = (
        "Reconcile every user and group with the SCIM target (incremental, or --deep). "
        "Exit 0 in step, 1 some object failed or the run was partial, 2 configuration "
        "error, 3 target unreachable, 4 deletes held for approval."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--deep", action="store_true", help="also read the target: repair drift, orphans"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="plan only: send nothing but GETs"
        )
        parser.add_argument("--target", default=None, help="only this target (default: all)")

    def _unusable(self, name: str) -> bool:
        try:
            result = self.state().provisioner.target(name).client.test_connection()
        except Exception:  # a diagnosis only
            return False
        if result.ok:
            return False
        self.complain(f"target {name}: {result.error}\n  what to do: {result.advice}")
        return True

    def handle(self, *args: Any, **options: Any) -> None:
        prov = self.state().provisioner
        target = options["target"]
        names = [target] if target is not None else [t.name for t in prov.targets]
        worst = ExitCode.OK
        for name in names:
            with self.errors():
                summary = prov.reconcile(
                    name,
                    mode="deep" if options["deep"] else "incremental",
                    dry_run=options["dry_run"],
                )
            self.say(str(summary))
            code = run_code(summary)
            if code == ExitCode.PARTIAL and self._unusable(name):
                code = ExitCode.CONNECTION
            worst = max(worst, code)
        self.finish(worst)
