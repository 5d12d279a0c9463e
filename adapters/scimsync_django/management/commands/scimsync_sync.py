"""``manage.py scimsync_sync user|group KEY``: sync one object now and print every step."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ._base import ScimsyncCommand, trace_code


class Command(ScimsyncCommand):
    help = (
        "Sync one user or group (by primary key) to the SCIM target now and print every "
        "step. Exit 0 done, 1 failed, 2 configuration error, 3 target unreachable or "
        "token refused, 4 held for approval."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=["user", "group"])
        parser.add_argument("key", help="the primary key")
        parser.add_argument("--target", default=None, help="only this target (default: all)")
        parser.add_argument(
            "--dry-run", action="store_true", help="plan only: send nothing but GETs"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        state = self.state()
        prov = state.provisioner
        fn = prov.sync_user if options["kind"] == "user" else prov.sync_group
        with self.errors():
            trace = fn(options["key"], target=options["target"], dry_run=options["dry_run"])
        self.say(str(trace))
        self.finish(trace_code(trace))
