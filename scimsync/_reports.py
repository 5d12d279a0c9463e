"""Provisioning reports: the :class:`Outcome` enum, queries and CSV/JSON export.

Every object the engine touches gets one :class:`~scimsync.ReportRecord` in the state
store. :class:`Reports` wraps a store with the questions admins ask ("what happened to
user 42?", "what failed since Monday?") and writes records out as CSV or JSON.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import enum
import json
import os
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scimsync._store import ReportRecord, StateStore

__all__ = ["REPORT_COLUMNS", "Outcome", "Reports", "record_to_dict", "to_csv", "to_json"]


class Outcome(str, enum.Enum):
    """What happened to one object in one operation.

    The values are lowercase strings, so ``Outcome("created")`` and
    ``Outcome.CREATED == "created"`` both work.

    .. versionadded:: 0.1.0
    """

    #: The object did not exist on the target and was created.
    CREATED = "created"
    #: The object existed and was changed (PUT/PATCH, membership changes).
    UPDATED = "updated"
    #: The object was already in step; nothing was sent.
    UNCHANGED = "unchanged"
    #: The object was deactivated (``active: false``).
    DEACTIVATED = "deactivated"
    #: The object was deleted from the target.
    DELETED = "deleted"
    #: An existing remote object was matched and linked (adopted) instead of created.
    ADOPTED = "adopted"
    #: The object was out of scope or the operation was switched off.
    SKIPPED = "skipped"
    #: A destructive action was held for approval (deletion threshold, policy).
    HELD = "held"
    #: The operation failed; ``error`` says why.
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


#: The columns of a report export, in order (CSV header / JSON keys).
REPORT_COLUMNS: tuple[str, ...] = (
    "id",
    "time",
    "run_id",
    "target",
    "kind",
    "key",
    "display",
    "operation",
    "outcome",
    "http_status",
    "detail",
    "request_id",
    "duration_ms",
    "error",
)

#: Free-text columns that could start with a spreadsheet formula.
_TEXT_COLUMNS = frozenset({"display", "detail", "error"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_UTC = _dt.timezone.utc


def _iso(value: _dt.datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``: stable width, sorts as text."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    return value.astimezone(_UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def record_to_dict(record: ReportRecord) -> dict[str, Any]:
    """A record as a plain dict in :data:`REPORT_COLUMNS` order (times as ISO text, UTC).

    .. versionadded:: 0.1.0
    """
    out: dict[str, Any] = {}
    for column in REPORT_COLUMNS:
        value = getattr(record, column)
        if isinstance(value, _dt.datetime):
            value = _iso(value)
        elif isinstance(value, Outcome):
            value = value.value
        out[column] = value
    return out


@contextlib.contextmanager
def _opened(file: str | os.PathLike[str] | IO[str]) -> Iterator[IO[str]]:
    if isinstance(file, str | os.PathLike):
        with open(file, "w", encoding="utf-8", newline="") as fh:
            yield fh
    else:
        yield file


def to_csv(
    records: Iterable[ReportRecord],
    file: str | os.PathLike[str] | IO[str],
    *,
    excel_safe: bool = True,
) -> int:
    """Write records as CSV (header :data:`REPORT_COLUMNS`, UTC ISO times); returns the count.

    Args:
        records: the records (any iterable; streamed).
        file: a path (written as UTF-8) or a text file opened with ``newline=""``.
        excel_safe: prefix free-text cells (display, detail, error) that start with ``=``,
            ``+``, ``-`` or ``@`` with ``'`` so a spreadsheet does not run them as formulas.

    .. versionadded:: 0.1.0
    """
    count = 0
    with _opened(file) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(REPORT_COLUMNS)
        for record in records:
            row = record_to_dict(record)
            if excel_safe:
                for column in _TEXT_COLUMNS:
                    value = row[column]
                    if isinstance(value, str) and value.startswith(_FORMULA_START):
                        row[column] = "'" + value
            writer.writerow(["" if row[c] is None else row[c] for c in REPORT_COLUMNS])
            count += 1
    return count


def to_json(
    records: Iterable[ReportRecord],
    file: str | os.PathLike[str] | IO[str],
    *,
    lines: bool = False,
) -> int:
    """Write records as a JSON array (or JSON Lines with ``lines=True``); returns the count.

    Objects have the keys of :data:`REPORT_COLUMNS` in that order, times as UTC ISO text
    and ``null`` for missing values. Records are streamed, never held all at once.

    .. versionadded:: 0.1.0
    """
    count = 0
    with _opened(file) as fh:
        if not lines:
            fh.write("[")
        for record in records:
            text = json.dumps(record_to_dict(record), ensure_ascii=False)
            if lines:
                fh.write(text + "\n")
            else:
                fh.write(("\n  " if count == 0 else ",\n  ") + text)
            count += 1
        if not lines:
            fh.write("\n]\n" if count else "]\n")
    return count


class Reports:
    """Questions about what scimsync did, answered from a store's report records.

    Args:
        store: the :class:`~scimsync.StateStore` holding the records.

    Example::

        reports = Reports(store)
        for rec in reports.history("user", "42"):
            print(rec.time, rec.operation, rec.outcome, rec.detail)
        reports.to_csv(reports.failures(since=monday), "failures.csv")

    .. versionadded:: 0.1.0
    """

    #: Export helpers, also available as module functions.
    to_csv = staticmethod(to_csv)
    to_json = staticmethod(to_json)
    columns = REPORT_COLUMNS

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def query(self, **filters: Any) -> list[ReportRecord]:
        """Records matching ``filters`` (the keywords of ``StateStore.query_reports``)."""
        return self.store.query_reports(**filters)

    def iter(self, *, batch: int = 1000, **filters: Any) -> Iterator[ReportRecord]:
        """Every record matching ``filters``, oldest first, read ``batch`` at a time."""
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch!r}")
        offset = 0
        while True:
            page = self.store.query_reports(limit=batch, offset=offset, **filters)
            yield from page
            if len(page) < batch:
                return
            offset += len(page)

    def history(
        self, kind: str, key: str, *, target: str | None = None, limit: int | None = 50
    ) -> list[ReportRecord]:
        """What happened to one user or group, newest first."""
        return self.store.query_reports(
            kind=kind, key=key, target=target, limit=limit, newest_first=True
        )

    def last(self, kind: str, key: str, *, target: str | None = None) -> ReportRecord | None:
        """The latest record for one user or group, or ``None``."""
        found = self.history(kind, key, target=target, limit=1)
        return found[0] if found else None

    def failures(
        self,
        *,
        since: _dt.datetime | None = None,
        until: _dt.datetime | None = None,
        target: str | None = None,
        limit: int | None = None,
    ) -> list[ReportRecord]:
        """Failed operations in a time range, oldest first."""
        return self.store.query_reports(
            outcome=Outcome.FAILED, since=since, until=until, target=target, limit=limit
        )

    def for_run(self, run_id: str) -> list[ReportRecord]:
        """Every record of one run, oldest first."""
        return self.store.query_reports(run_id=run_id)

    def between(
        self, since: _dt.datetime, until: _dt.datetime, *, target: str | None = None
    ) -> list[ReportRecord]:
        """Records with ``since <= time < until``."""
        return self.store.query_reports(since=since, until=until, target=target)

    def counts(self, **filters: Any) -> dict[str, int]:
        """How many records per outcome match ``filters`` (every outcome present, maybe 0)."""
        totals = {o.value: 0 for o in Outcome}
        for record in self.iter(**filters):
            totals[record.outcome.value] += 1
        return totals
