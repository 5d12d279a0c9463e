"""Signals: one namespace, a signal per outcome, capture_signals()."""

from __future__ import annotations

from typing import Any

import pytest

from scimsync import Outcome, ReportRecord, signals
from scimsync.testing import capture_signals


def test_one_namespace_with_kebab_case_names() -> None:
    names = sorted(signals.namespace)
    assert names == sorted(
        [f"object-{o.value}" for o in Outcome] + ["run-finished"],
    )
    for name, signal in signals.namespace.items():
        assert signal.name == name
        assert signal.__doc__


def test_signal_for_every_outcome() -> None:
    assert signals.signal_for(Outcome.CREATED) is signals.object_created
    assert signals.signal_for("failed") is signals.object_failed
    assert {signals.signal_for(o).name for o in Outcome} == {f"object-{o.value}" for o in Outcome}
    with pytest.raises(ValueError, match="'exploded'"):
        signals.signal_for("exploded")


def test_capture_signals_records_and_disconnects() -> None:
    record = ReportRecord(target="aws", kind="user", key="1", operation="create", outcome="created")
    sender = object()
    before = {name: dict(sig.receivers) for name, sig in signals.namespace.items()}
    with capture_signals() as sent:
        signals.signal_for(record.outcome).send(sender, record=record, target="aws")
        signals.run_finished.send(sender, run=None, target="aws")
    assert [(s.name, s.sender) for s in sent] == [
        ("object-created", sender),
        ("run-finished", sender),
    ]
    name, who, kwargs = sent[0]
    assert (name, who) == ("object-created", sender)
    assert kwargs == {"record": record, "target": "aws"}
    # our receivers are gone after the block (others' stay as they were)
    assert {name: dict(sig.receivers) for name, sig in signals.namespace.items()} == before
    signals.object_created.send(sender, record=record, target="aws")
    assert len(sent) == 2


def test_capture_only_the_signals_asked_for() -> None:
    with capture_signals(signals.object_failed) as sent:
        signals.object_created.send("x", record=None, target="aws")
        signals.object_failed.send("y", record=None, target="aws", exception=None)
    assert [(s.name, s.sender) for s in sent] == [("object-failed", "y")]
    assert sent[0].kwargs == {"record": None, "target": "aws", "exception": None}


def test_documented_receiver_shape() -> None:
    """The docs' receiver example: keyword-only record/target plus **extra."""
    seen: list[tuple[str, str]] = []

    def on_failed(sender: Any, *, record: ReportRecord, target: str, **extra: Any) -> None:
        seen.append((record.key, target))

    record = ReportRecord(target="aws", kind="user", key="9", operation="update", outcome="failed")
    with signals.object_failed.connected_to(on_failed):
        signals.object_failed.send(object(), record=record, target="aws", extra_thing=1)
    assert seen == [("9", "aws")]
