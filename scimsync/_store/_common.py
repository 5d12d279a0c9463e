"""Helpers shared by every store implementation (validation, time, transitions)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator
from typing import Final, TypeVar

from scimsync._reports import Outcome
from scimsync._store._records import KINDS, PENDING_STATUSES, RUN_STATUSES, UTC

__all__ = [
    "ERROR_MAX",
    "FINISHED_RUN_STATUSES",
    "PENDING_MOVES",
    "check_kind",
    "check_pending_move",
    "check_string",
    "chunks",
    "from_us",
    "outcome_values",
    "to_us",
]

#: Error messages kept in the outbox are cut to this many characters.
ERROR_MAX: Final = 2000

FINISHED_RUN_STATUSES: Final = tuple(s for s in RUN_STATUSES if s != "running")

#: Allowed pending-action moves (setting the current status again is always allowed).
PENDING_MOVES: Final[dict[str, frozenset[str]]] = {
    "pending": frozenset({"approved", "rejected", "applied"}),
    "approved": frozenset({"applied", "rejected"}),
    "rejected": frozenset(),
    "applied": frozenset(),
}

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = _dt.timedelta(microseconds=1)


def to_us(value: _dt.datetime) -> int:
    """Microseconds since the epoch (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _US


def from_us(value: int) -> _dt.datetime:
    """The inverse of :func:`to_us`."""
    return _EPOCH + _dt.timedelta(microseconds=value)


def check_kind(kind: str, what: str = "kind") -> str:
    """``kind`` if it is ``"user"`` or ``"group"``, else a ValueError naming ``what``."""
    if kind not in KINDS:
        raise ValueError(f"{what} must be 'user' or 'group', got {kind!r}")
    return kind


def check_string(value: object, what: str) -> str:
    """``value`` if it is a non-empty string, else a ValueError naming ``what``."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def check_target(target: str | None) -> str | None:
    """An outbox target: ``None`` (every target) or a non-empty string."""
    if target is None:
        return None
    return check_string(target, "target")


def outcome_values(outcome: Outcome | str | Iterable[Outcome | str] | None) -> list[str] | None:
    """Normalise a query's ``outcome`` filter to a list of values (or ``None``)."""
    if outcome is None:
        return None
    if isinstance(outcome, str):  # Outcome is a str too
        return [Outcome(outcome).value]
    return [Outcome(o).value for o in outcome]


def check_pending_move(pending_id: int, current: str, status: str) -> None:
    """Raise ValueError if ``current`` → ``status`` is not an allowed move."""
    if status not in PENDING_STATUSES:
        raise ValueError(
            f"pending action {pending_id}: status must be one of "
            f"{', '.join(PENDING_STATUSES)}, got {status!r}"
        )
    if status != current and status not in PENDING_MOVES[current]:
        raise ValueError(f"pending action {pending_id}: cannot move from {current} to {status}")


def check_finish_status(run_id: str, status: str) -> None:
    """Raise ValueError unless ``status`` is a finished run status."""
    if status not in FINISHED_RUN_STATUSES:
        raise ValueError(
            f"run {run_id}: finish status must be one of "
            f"{', '.join(FINISHED_RUN_STATUSES)}, got {status!r}"
        )


def check_limit(limit: int, lease_seconds: float) -> None:
    """Validate ``claim`` arguments."""
    if limit < 1:
        raise ValueError(f"claim limit must be at least 1, got {limit!r}")
    if lease_seconds < 0:
        raise ValueError(f"claim lease_seconds must be >= 0, got {lease_seconds!r}")


T = TypeVar("T")


def chunks(values: Iterable[T], size: int = 500) -> Iterator[list[T]]:
    """``values`` in lists of at most ``size`` (for ``IN (...)`` lists and bulk inserts)."""
    if size < 1:
        raise ValueError(f"chunks: size must be at least 1, got {size!r}")
    chunk: list[T] = []
    for value in values:
        chunk.append(value)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
