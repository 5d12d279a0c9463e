"""The ``scimsync`` command (also ``python -m scimsync``).

Every subcommand reads ``scimsync.toml`` (or ``--config FILE``, or ``$SCIMSYNC_CONFIG``)
except ``emulator`` and ``demo``, which need no configuration. Exit codes are part of the
interface (see :class:`ExitCode` and docs/cli.md):

====  =====================================================================
0     success
1     partial: the command ran, but some objects failed
2     usage or configuration error (nothing was sent)
3     connection or authentication failure (the target could not be used)
4     held: changes wait for approval, or the deletion threshold tripped
130   interrupted (Ctrl-C)
====  =====================================================================

The bearer token never appears in anything this command writes: it is never formatted
into a message, and as a second line of defence every byte written to standard output,
standard error and the log file passes through a filter that replaces known tokens with
``[REDACTED]``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from scimsync._exitcodes import ExitCode, exit_code_for
from scimsync._exitcodes import exit_code_for_run as run_exit_code
from scimsync._version import __version__
from scimsync.errors import (
    ScimHTTPError,
    ScimSyncError,
    SyncFailedError,
)

if TYPE_CHECKING:
    from scimsync._config import Config

__all__ = ["ExitCode", "build_parser", "main"]

log = logging.getLogger("scimsync.cli")

REDACTED = "[REDACTED]"


class CommandError(Exception):
    """A clean failure: print ``message`` (no traceback) and exit with ``code``."""

    def __init__(self, message: str, code: ExitCode) -> None:
        self.code = code
        super().__init__(message)


# ----------------------------------------------------------------------- redaction


class Stream(Protocol):
    """What the command writes to (a text stream)."""

    def write(self, s: str, /) -> int: ...

    def flush(self) -> None: ...


class Redactor:
    """Replaces every registered secret with ``[REDACTED]`` in text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        """Register a secret (ignored when empty or too short to be a token)."""
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        if not self._secrets or not text:
            return text
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class _RedactingStream(io.TextIOBase):
    """A text stream that redacts secrets before writing to the wrapped stream."""

    def __init__(self, inner: TextIO, redact: Redactor) -> None:
        self._inner = inner
        self._redact = redact

    def write(self, s: str) -> int:
        text = self._redact(s)
        try:
            self._inner.write(text)
        except UnicodeEncodeError:  # a terminal that cannot show every name: degrade, not die
            enc = self.encoding
            self._inner.write(text.encode(enc, "replace").decode(enc, "replace"))
        return len(s)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return bool(getattr(self._inner, "isatty", lambda: False)())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._inner, "encoding", None) or "utf-8")

    def fileno(self) -> int:
        return self._inner.fileno()


class _RedactingFilter(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call must not kill the command
            message = str(record.msg)
        record.msg = self._redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


# ----------------------------------------------------------------------- console


class Console:
    """Where the command writes: stdout for results, stderr for diagnostics.

    Knows whether it talks to a terminal (progress bars, colour) and whether the
    terminal can show Unicode.
    """

    def __init__(self, out: Stream, err: Stream, *, quiet: int = 0) -> None:
        self.out = out
        self.err = err
        self.quiet = quiet
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        enc = (getattr(out, "encoding", None) or "ascii").lower()
        self.unicode = "utf" in enc
        self.color = (
            self.tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        )

    def print(self, text: str = "") -> None:
        """A result line (always shown)."""
        self.out.write(text + "\n")
        self.out.flush()

    def info(self, text: str = "") -> None:
        """A progress/status line (hidden by ``-q``)."""
        if self.quiet <= 0:
            self.print(text)

    def error(self, text: str) -> None:
        """An error line on standard error."""
        self.err.write(f"scimsync: error: {text}\n")
        self.err.flush()

    def warn(self, text: str) -> None:
        """A warning line on standard error."""
        self.err.write(f"scimsync: warning: {text}\n")
        self.err.flush()

    # -- styling

    def style(self, text: str, *codes: str) -> str:
        """Wrap ``text`` in ANSI styles (bold, dim, red, green, yellow, cyan) on a colour terminal."""
        if not self.color or not codes:
            return text
        table = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
        seq = ";".join(table[c] for c in codes if c in table)
        return f"\033[{seq}m{text}\033[0m"

    def sym(self, good: str, plain: str) -> str:
        """A Unicode symbol, or its ASCII fallback."""
        return good if self.unicode else plain

    def outcome(self, outcome: str) -> str:
        """An outcome word, coloured by what it means."""
        colour = {
            "failed": "red",
            "held": "yellow",
            "created": "green",
            "updated": "cyan",
            "deleted": "yellow",
            "deactivated": "yellow",
            "adopted": "green",
        }.get(str(outcome))
        return self.style(str(outcome), colour) if colour else str(outcome)


class Progress:
    """A progress bar on a terminal, plain lines otherwise.

    On a terminal it redraws one line (``[#####.....] 512/1,000 users``); when output
    goes to a file or a pipe it prints ``plain_steps`` plain lines (every 10% by default),
    so logs stay readable.
    """

    def __init__(
        self, console: Console, label: str, total: int | None, *, plain_steps: int = 10
    ) -> None:
        self.console = console
        self.plain_steps = plain_steps
        self.label = label
        self.total = total
        self.done = 0
        self.counts: dict[str, int] = {}
        self._last_step = -1
        self._last_draw = 0.0
        self._lock = threading.Lock()
        self._active = console.quiet <= 0

    def update(self, outcome: str | None = None, n: int = 1) -> None:
        """Count ``n`` more objects done (with their outcome)."""
        with self._lock:
            self.done += n
            if outcome:
                self.counts[str(outcome)] = self.counts.get(str(outcome), 0) + n
            if not self._active:
                return
            if self.console.tty:
                now = time.monotonic()
                if now - self._last_draw >= 0.08 or (self.total and self.done >= self.total):
                    self._last_draw = now
                    self._draw()
            elif self.total and self.plain_steps > 0:
                n = self.plain_steps
                step = min(n, self.done * n // max(self.total, 1))
                if step != self._last_step and step > 0:
                    self._last_step = step
                    pct = min(100, self.done * 100 // self.total)
                    self.console.print(f"  {self.label}: {self.done:,}/{self.total:,} ({pct}%)")

    def _draw(self) -> None:
        width = 28
        if self.total:
            frac = min(1.0, self.done / self.total)
            filled = int(width * frac)
            full, empty = self.console.sym("\u2588", "#"), self.console.sym("\u2591", ".")
            bar = full * filled + empty * (width - filled)
            head = f"  {self.label} [{bar}] {self.done:,}/{self.total:,}"
        else:
            head = f"  {self.label} {self.done:,}"
        tail = "  ".join(f"{k} {v:,}" for k, v in sorted(self.counts.items()))
        self.console.out.write(f"\r{head}  {tail}\033[K")
        self.console.out.flush()

    def finish(self) -> None:
        """End the bar: full (objects already in step send no signal), then a newline."""
        if self._active and self.console.tty:
            if self.total:
                self.done = max(self.done, self.total)
            self._draw()
            self.console.out.write("\n")
            self.console.out.flush()


# ----------------------------------------------------------------------- the parser


def _env_config() -> str:
    from scimsync._config import DEFAULT_CONFIG_NAME

    return os.environ.get("SCIMSYNC_CONFIG") or DEFAULT_CONFIG_NAME


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=100)


EXIT_CODES_HELP = """\
exit codes:
  0  success            1  some objects failed      2  usage or configuration error
  3  connection or authentication failure           4  held for approval / threshold tripped
"""


def _common_options(*, top: bool) -> argparse.ArgumentParser:
    """Options every command accepts, before or after the subcommand name."""
    p = argparse.ArgumentParser(add_help=False)
    default: Any = None if top else argparse.SUPPRESS
    g = p.add_argument_group("common options")
    g.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        default=default,
        help="configuration file (default: $SCIMSYNC_CONFIG or ./scimsync.toml)",
    )
    g.add_argument(
        "--target",
        metavar="NAME",
        default=default,
        help="act on this target only (default: every target in the file)",
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="more detail (-vv: debug logs)",
    )
    g.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="only results and errors",
    )
    g.add_argument(
        "--log-file",
        metavar="FILE",
        default=default,
        help="append logs to FILE (overrides [log] file)",
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``scimsync`` command (every subcommand has ``--help``)."""
    common = _common_options(top=False)
    parser = argparse.ArgumentParser(
        prog="scimsync",
        description=(
            "Keep a SCIM 2.0 service provider (AWS IAM Identity Center, any RFC 7644 server)\n"
            "in step with your application's users and groups.\n\n"
            "Try it without any configuration:  scimsync demo"
        ),
        epilog=EXIT_CODES_HELP + "\nDocumentation: docs/cli.md and docs/configuration.md",
        formatter_class=_HelpFormatter,
        parents=[_common_options(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"scimsync {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True

    def add(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            description=description or help,
            parents=[common],
            formatter_class=_HelpFormatter,
            epilog=EXIT_CODES_HELP,
        )

    p = add(
        "test-connection",
        "check the URL, network, TLS and token of each target",
        "Check the URL, network, TLS and token of each target (two GET requests each), and\n"
        "say what to fix. Exit 3 when a target cannot be used.",
    )
    p.set_defaults(handler=cmd_test_connection)

    p = add(
        "push",
        "sync one user or group now and show every step (manual mode)",
        "Sync one user or group now and print its trace: scope decision, match, diff, action,\n"
        "result, with each SCIM request and response (the token is never shown).\n\n"
        "examples:\n  scimsync push user 42\n  scimsync push group engineering --dry-run",
    )
    p.add_argument("kind", choices=("user", "group"), help="what to sync")
    p.add_argument("key", help="the local key (primary key) of the user or group")
    p.add_argument(
        "--dry-run", action="store_true", help="only read the target (GETs); change nothing"
    )
    p.set_defaults(handler=cmd_push)

    for name, helptext in (
        ("plan", "show what a sync would do, changing nothing (a dry run)"),
        ("sync", "reconcile every user and group with the target (scheduled mode, run now)"),
    ):
        p = add(
            name,
            helptext,
            helptext[0].upper() + helptext[1:] + ".\n\n"
            "modes:\n"
            "  incremental  sync only keys whose source data changed since the last push\n"
            "               (no request at all for unchanged keys)\n"
            "  full         deep reconcile: also read the target, repair drift made there,\n"
            "               recreate what vanished and report unlinked (orphan) objects\n\n"
            "A progress bar is drawn on a terminal; plain lines otherwise.",
        )
        p.add_argument(
            "--mode",
            choices=("incremental", "full"),
            default="full" if name == "plan" else "incremental",
            help="incremental or full (default: %(default)s)",
        )
        if name == "sync":
            p.add_argument(
                "--dry-run", action="store_true", help="same as 'scimsync plan': change nothing"
            )
        p.set_defaults(handler=cmd_plan if name == "plan" else cmd_sync)

    p = add(
        "import",
        "link existing remote users and groups to local ones (adoption report)",
        "Match the target's existing users and groups to local ones by the mapping's matching\n"
        "rules (externalId, userName, email...) and link them without changing them. Prints\n"
        "what matched and what did not, on each side.",
    )
    p.add_argument("--dry-run", action="store_true", help="report matches; link nothing")
    p.set_defaults(handler=cmd_import)

    p = add(
        "report",
        "show what scimsync did: per-object records, filtered; table, CSV or JSON",
        "Show provisioning records from the store, oldest first (the newest --limit).\n\n"
        "examples:\n"
        "  scimsync report --outcome failed --since 1d\n"
        "  scimsync report --key 42\n"
        "  scimsync report --format csv --output report.csv --since 2026-11-01",
    )
    p.add_argument("--key", help="one local key (user or group)")
    p.add_argument("--kind", choices=("user", "group"), help="users or groups only")
    p.add_argument(
        "--outcome",
        action="append",
        metavar="OUTCOME",
        help="created, updated, unchanged, deactivated, deleted, adopted, skipped, held, failed"
        " (repeat for several)",
    )
    p.add_argument(
        "--since", metavar="WHEN", help="from this time: ISO date/time, or an age like 2h, 7d"
    )
    p.add_argument("--until", metavar="WHEN", help="before this time (same forms as --since)")
    p.add_argument("--run", metavar="RUN_ID", help="records of one run")
    p.add_argument("--limit", type=_positive_int, default=None, help="at most N records (newest)")
    p.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="default: table"
    )
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(handler=cmd_report)

    p = add(
        "approvals",
        "list, approve or reject changes held for approval",
        "Destructive changes held by a policy (require_approval) or by the deletion threshold\n"
        "wait here until an admin decides.\n\n"
        "examples:\n  scimsync approvals list\n  scimsync approvals approve 7\n"
        "  scimsync approvals reject 8",
    )
    asub = p.add_subparsers(dest="approvals_command", metavar="ACTION", title="actions")
    asub.required = True
    ap = asub.add_parser(
        "list",
        help="held changes",
        description="List held changes.",
        parents=[common],
        formatter_class=_HelpFormatter,
    )
    ap.add_argument("--all", action="store_true", help="also approved, rejected and applied ones")
    ap.set_defaults(handler=cmd_approvals_list)
    for action in ("approve", "reject"):
        ap = asub.add_parser(
            action,
            help=f"{action} a held change",
            description=f"{action.capitalize()} a held change by its id (see 'approvals list')."
            + (" Approving applies it now." if action == "approve" else ""),
            parents=[common],
            formatter_class=_HelpFormatter,
        )
        ap.add_argument("id", type=_positive_int, help="the held change's id")
        ap.add_argument("--by", metavar="NAME", help="who decides (default: $USER)")
        ap.set_defaults(handler=cmd_approvals_decide, decision=action)

    p = add(
        "worker",
        "drain the outbox (automatic mode) and run the schedule until stopped",
        "Drain the outbox that your application's hooks fill (automatic mode) with a pool of\n"
        "threads, and run the [schedule] (scheduled mode), until SIGTERM or Ctrl-C. With\n"
        "--once, drain what is pending and exit.",
    )
    p.add_argument("--once", action="store_true", help="drain the outbox once and exit")
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="with --once: give up waiting after this long (default: %(default)s)",
    )
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser(
        "emulator",
        help="run the SCIM server emulator (AWS or generic profile) standalone",
        description="Run scimsync's SCIM server emulator until stopped. "
        "See 'scimsync emulator --help'.",
        add_help=False,
    )
    p.add_argument("emulator_args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=cmd_emulator)

    p = sub.add_parser(
        "demo",
        help="provision a sample directory into an embedded AWS-like server (no setup)",
        description=(
            "Start the AWS-profile emulator in-process, provision a bundled sample directory\n"
            "(about 1,000 users and 30 groups, a few with invalid data), apply a day of changes\n"
            "through automatic mode, repair drift made behind scimsync's back with a deep\n"
            "reconcile, and print a summary. Needs no network and no configuration."
        ),
        formatter_class=_HelpFormatter,
        parents=[common],
        epilog=EXIT_CODES_HELP,
    )
    p.add_argument(
        "--workdir",
        metavar="DIR",
        help="where to write the SQLite store, the log and the CSV/JSON reports "
        "(default: a fresh temporary directory)",
    )
    p.set_defaults(handler=cmd_demo)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


# ----------------------------------------------------------------------- context


class Context:
    """What a command handler works with: the console, the config, built objects."""

    def __init__(self, args: argparse.Namespace, console: Console, redactor: Redactor) -> None:
        self.args = args
        self.console = console
        self.redactor = redactor
        self._config: Config | None = None
        self._store: Any = None
        self._log_handler: logging.Handler | None = None

    @property
    def config_path(self) -> Path:
        return Path(self.args.config or _env_config())

    @property
    def config(self) -> Config:
        """The loaded configuration (loaded once; errors exit 2)."""
        if self._config is None:
            from scimsync._config import load_config

            with _warnings_to_console(self.console):
                cfg = load_config(self.config_path)
            for tc in cfg.targets.values():
                if tc.token_env:
                    self.redactor.add(os.environ.get(tc.token_env))
            self._config = cfg
            self.setup_file_log()
        return self._config

    def setup_file_log(self) -> None:
        """Start the log file (``--log-file`` or ``[log] file``), once."""
        if self._log_handler is not None:
            return
        path: Path | None = Path(self.args.log_file) if self.args.log_file else None
        level = "info"
        if self._config is not None:
            path = path or self._config.log.file
            level = self._config.log.level
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = _RedactingStream(
            open(path, "a", encoding="utf-8"),  # noqa: SIM115 - closed in close()
            self.redactor,
        )
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_RedactingFilter(self.redactor))
        verbose = self.args.verbose
        handler.setLevel(logging.DEBUG if verbose >= 2 else getattr(logging, level.upper()))
        root = logging.getLogger("scimsync")
        root.addHandler(handler)
        root.setLevel(min(root.level or logging.WARNING, handler.level))
        self._log_handler = handler

    def token(self, target: str) -> str:
        """A target's token, registered with the redactor before anyone sees it."""
        token = self.config.token(target)
        self.redactor.add(token)
        return token

    def targets(self) -> list[str]:
        """The target names the command acts on (``--target`` or all)."""
        return [t.name for t in self.config.selected(self.args.target)]

    def store(self) -> Any:
        """The configured state store (opened once)."""
        if self._store is None:
            self._store = self.config.build_store()
        return self._store

    def provisioner(self, target: str | None = None) -> Any:
        """A Provisioner for ``--target`` (or ``target``), with every token resolved."""
        name = target or self.args.target
        for tname in [t.name for t in self.config.selected(name)]:
            self.token(tname)
        return self.config.build_provisioner(name, store=self.store())

    def close(self) -> None:
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
        if self._log_handler is not None:
            logging.getLogger("scimsync").removeHandler(self._log_handler)
            with contextlib.suppress(Exception):
                self._log_handler.close()


@contextlib.contextmanager
def _warnings_to_console(console: Console) -> Iterator[None]:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        console.warn(str(w.message))


# ----------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``scimsync`` command; returns the exit code (see :class:`ExitCode`).

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
    """
    redactor = Redactor()
    out = _RedactingStream(sys.stdout, redactor)
    err = _RedactingStream(sys.stderr, redactor)
    args_list = list(sys.argv[1:] if argv is None else argv)

    # `scimsync emulator ...` hands every remaining argument to the emulator's own parser.
    if "emulator" in args_list:
        idx = args_list.index("emulator")
        if all(a.startswith("-") for a in args_list[:idx]):
            return _run_emulator(args_list[idx + 1 :])

    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code) if isinstance(exc.code, int) else ExitCode.USAGE

    console = Console(out, err, quiet=args.quiet)
    _setup_logging(args, redactor, err)
    ctx = Context(args, console, redactor)
    # Anything else that prints (a thread's traceback, a warning, a library) goes through
    # the redactor too, for as long as the command runs.
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        return int(args.handler(args, ctx))
    except CommandError as exc:
        console.error(str(exc))
        return exc.code
    except KeyboardInterrupt:
        console.error("interrupted")
        return ExitCode.INTERRUPTED
    except ScimSyncError as exc:
        code = exit_code_for(exc)
        console.error(_describe_error(exc))
        return code
    except Exception as exc:  # a bug: say so, through the redacting stream, never raw
        import traceback

        console.error(f"internal error: {type(exc).__name__}: {exc}")
        if args.verbose:
            err.write("".join(traceback.format_exception(exc)))
        else:
            console.err.write("  (run again with -v to see the traceback)\n")
        return ExitCode.PARTIAL
    finally:
        ctx.close()
        sys.stdout, sys.stderr = saved


def _setup_logging(args: argparse.Namespace, redactor: Redactor, err: Stream) -> None:
    level = logging.WARNING
    if args.verbose >= 2:
        level = logging.DEBUG
    elif args.verbose == 1:
        level = logging.INFO
    elif args.quiet:
        level = logging.ERROR
    root = logging.getLogger("scimsync")
    for h in list(root.handlers):
        if getattr(h, "_scimsync_cli", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(err)
    handler._scimsync_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactingFilter(redactor))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def _describe_error(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, SyncFailedError) and isinstance(exc.cause, ScimHTTPError):
        # manual mode (push) wraps the HTTP error: the advice is the cause's
        cause: BaseException = exc.cause
    else:
        cause = exc
    if isinstance(cause, ScimHTTPError) and exit_code_for(cause) == ExitCode.CONNECTION:
        try:
            from scimsync._client import _advice

            return f"{text}\n  what to do: {_advice(cause)}"
        except ImportError:  # pragma: no cover
            return text
    return text


# ----------------------------------------------------------------------- commands


def cmd_test_connection(args: argparse.Namespace, ctx: Context) -> int:
    """``scimsync test-connection``."""
    c = ctx.console
    worst = ExitCode.OK
    for name in ctx.targets():
        tc = ctx.config.target(name)
        ctx.token(name)
        client = ctx.config.build_client(name)
        try:
            result = client.test_connection()
        finally:
            client.close()
        ok = result.ok
        mark = (
            c.style(c.sym("\u2714", "OK"), "green")
            if ok
            else c.style(c.sym("\u2718", "FAIL"), "red")
        )
        c.print(f"{mark} {c.style(name, 'bold')}  {tc.url}  (profile {tc.profile_name})")
        c.print(f"    reachable:     {'yes' if result.reachable else 'no'}")
        c.print(f"    authenticated: {'yes' if result.authenticated else 'no'}")
        if result.round_trip_seconds is not None:
            c.print(f"    round trip:    {result.round_trip_seconds * 1000:.0f} ms")
        caps = _capabilities_line(result.capabilities)
        if caps:
            c.print(f"    server says:   {caps}")
        if result.error is not None:
            c.print(f"    error:         {result.error}")
        c.print(f"    {'advice' if not ok else 'result'}:        {result.advice}")
        if not ok:
            worst = ExitCode.CONNECTION
    return worst


def _capabilities_line(caps: Any) -> str:
    if caps is None:
        return ""

    def flag(name: str) -> bool | None:
        obj = caps.get(name) if isinstance(caps, Mapping) else getattr(caps, name, None)
        if obj is None:
            return None
        sup = obj.get("supported") if isinstance(obj, Mapping) else getattr(obj, "supported", None)
        return bool(sup) if sup is not None else None

    parts = []
    for name in ("patch", "bulk", "filter", "sort", "etag"):
        v = flag(name)
        if v is not None:
            parts.append(f"{name} {'yes' if v else 'no'}")
    return ", ".join(parts)


def cmd_push(args: argparse.Namespace, ctx: Context) -> int:
    """``scimsync push user|group KEY``."""
    prov = ctx.provisioner()
    fn = prov.sync_user if args.kind == "user" else prov.sync_group
    try:
        trace = fn(args.key, target=args.target, dry_run=args.dry_run)
    except SyncFailedError as exc:
        if exc.trace is not None:
            ctx.console.print(str(exc.trace))
        raise
    ctx.console.print(str(trace))
    outcome = str(getattr(trace, "outcome", ""))
    parts = getattr(trace, "parts", None) or []
    outcomes = {outcome} | {str(getattr(p, "outcome", "")) for p in parts}
    if "failed" in outcomes:
        return ExitCode.PARTIAL
    if "held" in outcomes:
        return ExitCode.HELD
    return ExitCode.OK


def cmd_plan(args: argparse.Namespace, ctx: Context) -> int:
    """``scimsync plan``."""
    return _reconcile(args, ctx, dry_run=True)


def cmd_sync(args: argparse.Namespace, ctx: Context) -> int:
    """``scimsync sync``."""
    return _reconcile(args, ctx, dry_run=bool(getattr(args, "dry_run", False)))


def _reconcile(args: argparse.Namespace, ctx: Context, *, dry_run: bool) -> int:
    mode = "deep" if args.mode == "full" else "incremental"
    prov = ctx.provisioner()
    c = ctx.console
    worst = ExitCode.OK
    for name in ctx.targets():
        verb = "Planning" if dry_run else "Syncing"
        c.info(f"{verb} target {c.style(name, 'bold')} ({args.mode})...")
        summary = run_reconcile(
            prov,
            name,
            mode=mode,
            dry_run=dry_run,
            console=c,
            orphans=ctx.config.target(name).orphans,
        )
        c.print(str(summary))
        code = run_exit_code(summary)
        if code == ExitCode.PARTIAL:
            # Also when the run completed with every object failed (an expired token
            # fails each one in turn): a target that cannot be used at all exits 3.
            code = _connection_or(ctx, name, code)
        worst = max(worst, code)
    return worst


def _connection_or(ctx: Context, target: str, code: ExitCode) -> ExitCode:
    """After a failed/partial run: 3 if the target cannot be used at all, else ``code``."""
    try:
        client = ctx.config.build_client(target)
    except ScimSyncError:
        return code
    try:
        result = client.test_connection()
    finally:
        client.close()
    if result.ok:
        return code
    ctx.console.error(f"target {target}: {result.error}\n  what to do: {result.advice}")
    return ExitCode.CONNECTION


def run_reconcile(
    prov: Any,
    target: str,
    *,
    mode: str,
    dry_run: bool,
    console: Console,
    label: str = "objects",
    orphans: Any = None,
    plain_steps: int = 10,
) -> Any:
    """Run one reconcile (a :class:`~scimsync.RunSummary`), showing progress as it goes."""
    progress = Progress(console, label, _total_hint(prov), plain_steps=plain_steps)
    with _progress_from_signals(prov, target, progress):
        summary = prov.reconcile(target, mode=mode, dry_run=dry_run, orphans=orphans)
    progress.finish()
    return summary


def _total_hint(prov: Any) -> int | None:
    """How many objects a full pass visits (source users + groups), for the progress bar."""
    source = getattr(prov, "source", None)
    total = 0
    try:
        for meth in ("iter_user_keys", "iter_group_keys"):
            fn = getattr(source, meth, None)
            if fn is None:
                return None
            total += sum(1 for _ in fn())
    except Exception:  # a hint only: the run itself reports source failures
        return None
    return total or None


@contextlib.contextmanager
def _progress_from_signals(prov: Any, target: str, progress: Progress) -> Iterator[None]:
    """Count every per-object signal the engine sends for ``target`` into ``progress``."""
    try:
        from scimsync import signals
    except ImportError:  # pragma: no cover - signals ship with the core
        yield
        return

    def receiver(sender: Any, **kw: Any) -> None:
        if kw.get("target") not in (None, target):
            return
        record = kw.get("record")
        progress.update(str(getattr(record, "outcome", "") or ""))

    with contextlib.ExitStack() as stack:
        for sig in signals.SIGNALS.values():
            stack.enter_context(sig.connected_to(receiver, sender=prov))
        yield


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    """``scimsync import``: adopt existing remote objects (the adoption report).

    Exit 1 when the import was partial, an object failed, or matches conflicted.
    """
    prov = ctx.provisioner()
    worst = ExitCode.OK
    for name in ctx.targets():
        ctx.console.info(f"Importing from target {ctx.console.style(name, 'bold')}...")
        result = prov.import_remote(name, dry_run=args.dry_run)
        ctx.console.print(str(result))
        code = run_exit_code(result)
        if code == ExitCode.OK and result.counts.get("conflicts"):
            code = ExitCode.PARTIAL
        if code == ExitCode.PARTIAL and result.status != "complete":
            code = _connection_or(ctx, name, code)
        worst = max(worst, code)
    return worst


def parse_when(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """``--since``/``--until``: an ISO date or date-time (UTC unless given), or an age.

    Ages are ``90s``, ``15m``, ``2h``, ``7d`` (that long ago); ``today`` and ``yesterday``
    are midnight UTC.
    """
    from scimsync._config import parse_duration

    now = now or dt.datetime.now(dt.timezone.utc)
    t = text.strip()
    if t == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if t == "now":
        return now
    if t == "yesterday":
        return now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    if t and t[-1] in "smhd" and t[:-1].replace(".", "", 1).isdigit():
        seconds = parse_duration(t)
        if seconds is not None:
            return now - dt.timedelta(seconds=seconds)
    try:
        value = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"{text!r} is not a time: use an ISO date/time (2026-11-23, 2026-11-23T14:00) "
            "or an age (90s, 15m, 2h, 7d)",
            ExitCode.USAGE,
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def cmd_report(args: argparse.Namespace, ctx: Context) -> int:
    """``scimsync report``."""
    outcomes = None
    if args.outcome:
        from scimsync._reports import Outcome

        allowed = [o.value for o in Outcome]
        outcomes = []
        for o in args.outcome:
            for part in o.split(","):
                if part not in allowed:
                    raise CommandError(
                        f"--outcome {part!r}: choose from {', '.join(allowed)}", ExitCode.USAGE
                    )
                outcomes.append(part)
    since = parse_when(args.since) if args.since else None
    until = parse_when(args.until) if args.until else None
    if args.target is not None:
        ctx.config.target(args.target)  # unknown names are a usage error
    store = ctx.store()
    records = store.query_reports(
        target=args.target,
        kind=args.kind,
        key=args.key,
        outcome=outcomes,
        since=since,
        until=until,
        run_id=args.run,
        limit=args.limit,
        newest_first=args.limit is not None,
    )
    if args.limit is not None:
        records = list(reversed(records))
    return write_report(ctx.console, records, fmt=args.format, output=args.output)


def write_report(console: Console, records: Sequence[Any], *, fmt: str, output: str | None) -> int:
    """Write report records as a table, CSV or JSON to ``output`` or stdout."""
    from scimsync._reports import to_csv, to_json

    if fmt == "table":
        text = format_report_table(console, records)
        if output:
            Path(output).write_text(text, encoding="utf-8")
        else:
            console.out.write(text)
            console.out.flush()
    elif output:
        (to_csv if fmt == "csv" else to_json)(records, output)
    else:
        buf = io.StringIO()
        (to_csv if fmt == "csv" else to_json)(records, buf)
        console.out.write(buf.getvalue())
        console.out.flush()
    if output:
        console.info(f"wrote {len(records):,} record(s) to {output}")
    return ExitCode.OK


def format_report_table(console: Console, records: Sequence[Any]) -> str:
    """A fixed-width table of report records, for people."""
    if not records:
        return "no records match\n"
    from scimsync._reports import record_to_dict

    rows = []
    for r in records:
        d = record_to_dict(r)
        when = str(d["time"] or "")[:19].replace("T", " ")
        info = d["error"] or d["detail"] or ""
        status = str(d["http_status"] or "")
        rows.append(
            [
                when,
                str(d["target"] or ""),
                str(d["kind"] or ""),
                str(d["key"] or ""),
                _clip(str(d["display"] or ""), 28),
                str(d["operation"] or ""),
                str(d["outcome"] or ""),
                status,
                _clip(str(info), 70),
            ]
        )
    head = ["time (UTC)", "target", "kind", "key", "name", "operation", "outcome", "http", "detail"]
    widths = [max(len(head[i]), *(len(row[i]) for row in rows)) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [v.ljust(w) for v, w in zip(row, widths, strict=True)]
        cells[6] = console.outcome(row[6]) + " " * (widths[6] - len(row[6]))
        lines.append("  ".join(cells).rstrip())
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[6]] = counts.get(row[6], 0) + 1
    lines.append("")
    lines.append(
        f"{len(rows):,} record(s): " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    )
    return "\n".join(lines) + "\n"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def cmd_approvals_list(args: argparse.Namespace, ctx: Context) -> int:
    """``scimsync approvals list``."""
    store = ctx.store()
    items = store.list_pending(status=None if args.all else "pending", target=args.target)
    c = ctx.console
    if not items:
        c.print("nothing is waiting for approval" if not args.all else "no held changes")
        return ExitCode.OK
    head = ["id", "target", "action", "kind", "key", "remote id", "held since", "status", "reason"]
    rows = [
        [
            str(p.id),
            p.target,
            p.action,
            p.kind,
            p.key,
            p.remote_id or "",
            p.created_at.strftime("%Y-%m-%d %H:%M"),
            p.status,
            _clip(p.reason or "", 60),
        ]
        for p in items
    ]
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    c.print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for r in rows:
        c.print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    pending = sum(1 for p in items if p.status == "pending")
    if pending:
        c.info(f"\n{pending} change(s) wait: scimsync approvals approve ID | reject ID")
    return ExitCode.HELD if pending else ExitCode.OK


def cmd_approvals_decide(args: argparse.Namespace, ctx: Context) -> int:
    """``scimsync approvals approve|reject ID``."""
    store = ctx.store()
    item = store.get_pending(args.id)
    if item is None:
        raise CommandError(f"no held change with id {args.id}", ExitCode.USAGE)
    if item.status != "pending":
        raise CommandError(f"held change {args.id} is already {item.status}", ExitCode.USAGE)
    by = args.by or os.environ.get("USER") or os.environ.get("USERNAME") or "cli"
    prov = ctx.provisioner(item.target)
    approvals = prov.approvals
    if args.decision == "reject":
        result = _call_decision(approvals.reject, args.id, by)
        ctx.console.print(f"rejected held change {args.id}: {item.action} {item.kind} {item.key}")
        return ExitCode.OK
    result = _call_decision(approvals.approve, args.id, by)
    ctx.console.print(
        f"approved held change {args.id}: {item.action} {item.kind} {item.key} on {item.target}"
    )
    if result is not None and not isinstance(result, bool):
        ctx.console.print(str(result))
        if str(getattr(result, "outcome", "")) == "failed":
            return ExitCode.PARTIAL
    return ExitCode.OK


def _call_decision(fn: Callable[..., Any], pending_id: int, by: str) -> Any:
    from scimsync._config import _signature_names

    names = _signature_names(fn) or []
    if "by" in names:
        return fn(pending_id, by=by)
    return fn(pending_id)


def cmd_worker(args: argparse.Namespace, ctx: Context) -> int:
    """``scimsync worker``: automatic mode's outbox drain plus the schedule."""
    from scimsync._dispatch import Dispatcher

    c = ctx.console
    prov = ctx.provisioner()
    cfg = ctx.config
    dispatcher = Dispatcher(prov, **dict(cfg.dispatcher.options))
    if args.once:
        c.info("draining the outbox once...")
        dispatcher.start()
        try:
            done = dispatcher.flush(timeout=args.timeout)
        finally:
            dispatcher.stop()
        stats = dispatcher.stats
        c.print(_dispatch_line(stats, ctx.store()))
        if not done:
            c.warn(f"the outbox was not empty after {args.timeout:g} s")
        left = 0
        with contextlib.suppress(Exception):
            left = int(ctx.store().outbox_counts().get("pending", 0))
        if left:
            c.warn(f"{left} row(s) wait for a retry (see 'scimsync report --outcome failed')")
        if not done or stats.dead or left:
            # Rows left because the target cannot be used at all: say so with exit 3.
            code = ExitCode.PARTIAL
            for name in ctx.targets():
                code = max(code, _connection_or(ctx, name, ExitCode.PARTIAL))
            return code
        return ExitCode.OK

    schedulers = _build_schedulers(prov, ctx)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        c.info(f"received {signal.Signals(signum).name}: finishing current work...")
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        dispatcher.start()
        for s in schedulers:
            s.start()
        c.info(
            f"worker running: {dispatcher.workers} dispatcher thread(s), "
            f"{len(schedulers)} schedule(s); stop with Ctrl-C or SIGTERM"
        )
        for s in schedulers:
            c.info(f"  {s!r}")
        while not stop.wait(0.5):
            pass
    finally:
        for s in schedulers:
            s.stop()
        dispatcher.stop()
        for s, h in old.items():
            signal.signal(s, h)
    c.print(_dispatch_line(getattr(dispatcher, "stats", None), ctx.store()))
    return ExitCode.OK


def _dispatch_line(stats: Any, store: Any) -> str:
    parts = []
    if stats is not None:
        parts.append(f"synced {stats.synced}, retried {stats.retried}, dead letters {stats.dead}")
    with contextlib.suppress(Exception):
        counts = store.outbox_counts()
        parts.append("outbox now: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "empty"))
    return "; ".join(parts) or "done"


def _build_schedulers(prov: Any, ctx: Context) -> list[Any]:
    """One Scheduler per target and mode in ``[schedule]``."""
    sched = ctx.config.schedule
    if not sched.enabled:
        return []
    import functools

    from scimsync._reconcile import reconcile
    from scimsync._scheduler import Scheduler

    out = []
    for name in ctx.targets():
        orphans = ctx.config.target(name).orphans
        for mode, every, cron in (
            ("incremental", sched.every, sched.cron),
            ("deep", sched.deep_every, sched.deep_cron),
        ):
            if every is None and cron is None:
                continue
            job = functools.partial(reconcile, prov, name, mode=mode, orphans=orphans)
            out.append(Scheduler(prov, every=every, cron=cron, target=name, mode=mode, job=job))
    return out


def cmd_emulator(args: argparse.Namespace, ctx: Context) -> int:
    """``scimsync emulator ...`` (delegates to the emulator's own command)."""
    return _run_emulator(list(args.emulator_args))


def _run_emulator(argv: list[str]) -> int:
    try:
        from scimsync.testing._standalone import main as emulator_main
    except ImportError as exc:
        sys.stderr.write(f"scimsync: error: the emulator is not available: {exc}\n")
        return ExitCode.USAGE
    return int(emulator_main(argv, prog="scimsync emulator") or 0)


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    """``scimsync demo``."""
    from scimsync._demo import run_demo

    return int(run_demo(ctx.console, workdir=args.workdir, redactor=ctx.redactor))
