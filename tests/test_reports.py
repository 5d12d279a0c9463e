"""Reports: queries over a real SQLite store, CSV/JSON export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import attrs
import pytest

from scimsync import Outcome, ReportRecord, Reports, SQLiteStore
from scimsync._reports import REPORT_COLUMNS, record_to_dict, to_csv, to_json

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def rec(key: str, outcome: str, minutes: int, **kw: object) -> ReportRecord:
    fields: dict[str, object] = {
        "target": "aws",
        "kind": "user",
        "key": key,
        "operation": "update",
        "outcome": outcome,
        "time": T0 + dt.timedelta(minutes=minutes),
    }
    fields.update(kw)
    return ReportRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def reports(tmp_path: Path) -> Reports:
    store = SQLiteStore(tmp_path / "s.db")
    store.add_reports(
        [
            rec("1", "created", 0, operation="create", run_id="r1", http_status=201),
            rec("2", "failed", 1, run_id="r1", error="400: userName too long", http_status=400),
            rec("1", "updated", 2, detail="changed title"),
            rec("3", "failed", 3, target="other", error="timeout"),
            rec("1", "deactivated", 4, operation="deactivate"),
        ]
    )
    return Reports(store)


def test_outcome_is_a_string_enum() -> None:
    assert Outcome("held") is Outcome.HELD
    assert Outcome.FAILED == "failed"
    assert str(Outcome.CREATED) == "created"
    assert [o.value for o in Outcome] == [
        "created",
        "updated",
        "unchanged",
        "deactivated",
        "deleted",
        "adopted",
        "skipped",
        "held",
        "failed",
    ]
    with pytest.raises(ValueError, match="'nope'"):
        ReportRecord(target="aws", kind="user", key="1", operation="x", outcome="nope")


def test_columns_cover_every_record_field() -> None:
    assert sorted(REPORT_COLUMNS) == sorted(f.name for f in attrs.fields(ReportRecord))


def test_history_and_last(reports: Reports) -> None:
    assert [r.outcome for r in reports.history("user", "1")] == [
        Outcome.DEACTIVATED,
        Outcome.UPDATED,
        Outcome.CREATED,
    ]
    assert [r.outcome for r in reports.history("user", "1", limit=1)] == [Outcome.DEACTIVATED]
    last = reports.last("user", "2")
    assert last is not None
    assert last.error == "400: userName too long"
    assert reports.last("user", "404") is None


def test_failures_runs_ranges_counts(reports: Reports) -> None:
    assert [r.key for r in reports.failures()] == ["2", "3"]
    assert [r.key for r in reports.failures(target="aws")] == ["2"]
    assert [r.key for r in reports.failures(since=T0 + dt.timedelta(minutes=2))] == ["3"]
    assert [r.key for r in reports.for_run("r1")] == ["1", "2"]
    window = reports.between(T0 + dt.timedelta(minutes=1), T0 + dt.timedelta(minutes=3))
    assert [(r.key, r.outcome.value) for r in window] == [("2", "failed"), ("1", "updated")]
    counts = reports.counts(target="aws")
    assert counts["failed"] == 1
    assert counts["created"] == 1
    assert counts["held"] == 0
    assert sum(counts.values()) == 4
    assert [r.key for r in reports.query(outcome=["created", "deactivated"])] == ["1", "1"]


def test_iter_pages_through_everything(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.add_reports(rec(str(i), "unchanged", i) for i in range(25))
    got = list(Reports(store).iter(batch=7))
    assert [r.key for r in got] == [str(i) for i in range(25)]
    assert len({r.id for r in got}) == 25
    with pytest.raises(ValueError, match="batch"):
        list(Reports(store).iter(batch=0))


def test_csv_export(reports: Reports, tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    assert reports.to_csv(reports.query(), path) == 5
    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    assert list(rows[0]) == list(REPORT_COLUMNS)
    assert rows[0]["time"] == "2026-05-04T10:00:00.000000Z"
    assert rows[0]["outcome"] == "created"
    assert rows[0]["http_status"] == "201"
    assert rows[0]["error"] == ""
    assert rows[1]["error"] == "400: userName too long"
    assert [r["key"] for r in rows] == ["1", "2", "1", "3", "1"]


def test_csv_export_defuses_formulas() -> None:
    buf = io.StringIO()
    to_csv([rec("1", "failed", 0, display="=HYPERLINK(1)", detail="-x", error="@y")], buf)
    row = next(csv.DictReader(io.StringIO(buf.getvalue())))
    assert (row["display"], row["detail"], row["error"]) == ("'=HYPERLINK(1)", "'-x", "'@y")
    buf = io.StringIO()
    to_csv([rec("1", "failed", 0, display="=1")], buf, excel_safe=False)
    assert next(csv.DictReader(io.StringIO(buf.getvalue())))["display"] == "=1"


def test_json_export_is_stable_and_utc(reports: Reports, tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    records = reports.query()
    assert to_json(records, path) == 5
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [list(d) for d in data] == [list(REPORT_COLUMNS)] * 5
    assert data[0] == record_to_dict(records[0])
    assert data[0]["time"] == "2026-05-04T10:00:00.000000Z"
    assert data[0]["detail"] is None
    # a non-UTC time is exported in UTC
    cet = dt.timezone(dt.timedelta(hours=2))
    moved = attrs.evolve(records[0], time=dt.datetime(2026, 5, 4, 12, 0, tzinfo=cet))
    assert record_to_dict(moved)["time"] == "2026-05-04T10:00:00.000000Z"


def test_json_lines_and_empty(tmp_path: Path) -> None:
    buf = io.StringIO()
    assert to_json([rec("1", "created", 0), rec("2", "held", 1)], buf, lines=True) == 2
    lines = buf.getvalue().splitlines()
    assert [json.loads(line)["outcome"] for line in lines] == ["created", "held"]
    empty = io.StringIO()
    assert to_json([], empty) == 0
    assert json.loads(empty.getvalue()) == []
