"""Run the emulator as a standalone process: ``python -m scimsync.testing``.

``scimsync emulator`` (the CLI) calls :func:`main` too.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from scimsync.testing._emulator import EmulatorServer

__all__ = ["build_parser", "main"]


def build_parser(prog: str = "python -m scimsync.testing") -> argparse.ArgumentParser:
    """The argument parser (shared with ``scimsync emulator``)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve an in-memory SCIM 2.0 emulator until Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--profile", choices=("aws", "generic"), default="generic")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument(
        "--token",
        action="append",
        default=None,
        metavar="TOKEN",
        help="accepted bearer token (repeatable; the aws profile takes at most two). "
        "Without one, a random token is generated and printed once.",
    )
    parser.add_argument("--tenant", default=None, help="aws profile: tenant id in the path")
    parser.add_argument(
        "--etag", action="store_true", help="generic profile: meta.version and If-Match"
    )
    return parser


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Start the emulator, print its base URL on the first line, serve until stopped.

    Never raises ``SystemExit``: ``--help`` and usage errors return their status.

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).
        prog: program name for usage messages (``scimsync emulator`` from the CLI).

    Returns:
        The process exit status: 0 after Ctrl-C/SIGTERM or ``--help``, 1 if the port
        cannot be bound, 2 on bad arguments.
    """
    parser = build_parser(prog) if prog else build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        server = EmulatorServer(
            args.profile,
            host=args.host,
            port=args.port,
            tokens=args.token,
            tenant=args.tenant,
            etag=args.etag,
        )
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    try:
        server.start()
    except OSError as exc:
        print(f"cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_signal)
    print(server.base_url, flush=True)
    if not args.token:
        # A throwaway credential this process just made up; the user needs it to connect.
        print(f"token: {server.token}", flush=True)
    print(f"profile: {args.profile}; Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
