"""``manage.py scimsync_worker``: drain the outbox until SIGTERM / SIGINT."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import CommandParser

from scimsync import ExitCode

from ._base import ScimsyncCommand


class Command(ScimsyncCommand):
    help = (
        "Run a scimsync Dispatcher that syncs what the outbox holds, until SIGTERM or "
        "Ctrl-C (syncs in progress finish; rows not synced stay in the outbox). Run as "
        "many as you like, on as many hosts: leases keep each key with one worker. With "
        "--once, drain what is due and exit (cron): 0 drained, 1 rows failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=None, help="worker threads")
        parser.add_argument(
            "--poll-interval", type=float, default=None, help="seconds between idle polls"
        )
        parser.add_argument("--once", action="store_true", help="drain what is due, then exit")
        parser.add_argument(
            "--timeout", type=float, default=60.0, help="with --once: seconds at most (60)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        state = self.state()
        overrides: dict[str, Any] = {}
        if options["workers"] is not None:
            overrides["workers"] = options["workers"]
        if options["poll_interval"] is not None:
            overrides["poll_interval"] = options["poll_interval"]
        with self.errors():
            dispatcher = state.new_dispatcher(**overrides)
        if options["once"]:
            with self.errors():
                done = dispatcher.flush(options["timeout"])
            stats = dispatcher.stats
            self.say(f"synced {stats.synced}, retried {stats.retried}, dead letters {stats.dead}")
            if not (done and not stats.retried and not stats.dead):
                self.fail(ExitCode.PARTIAL, "rows failed (retried later, or dead letters)")
            return
        stop = threading.Event()

        def _stop(signum: int, frame: Any) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            with self.errors():
                dispatcher.start()
            self.say(f"scimsync worker: draining {state.store!r}; stop with SIGTERM")
            self.stdout.flush()
            while not stop.wait(1.0):
                pass
            self.say("scimsync worker: stopping (syncs in progress finish)")
            dispatcher.stop(state.shutdown_timeout)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        stats = dispatcher.stats
        self.say(f"synced {stats.synced}, retried {stats.retried}, dead letters {stats.dead}")
