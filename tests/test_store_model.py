"""Model-based test: SQLiteStore behaves exactly like InMemoryStore, the reference.

Hypothesis drives both stores with the same random sequence of outbox and link
operations under one fake clock and compares every answer and the whole outbox after
each step.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from scimsync import Link, LinkConflictError, OutboxItem, SQLiteStore
from scimsync.testing import InMemoryStore

UTC = dt.timezone.utc
KEYS = st.sampled_from(["1", "2", "3", "4"])
TARGETS = st.sampled_from([None, "aws"])
OWNERS = st.sampled_from(["w1", "w2"])


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return ("ok", fn(*args))
    except (LinkConflictError, ValueError, KeyError) as exc:
        return (type(exc).__name__, None)


def same(item: OutboxItem) -> OutboxItem:
    """Row ids are the store's business (SQLite may skip some): compare the rest."""
    return attrs.evolve(item, id=0)


class SameBehaviour(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.dir = Path(tempfile.mkdtemp(prefix="scimsync-model-"))
        self.sql = SQLiteStore(self.dir / "s.db", clock=self.clock)
        self.ref = InMemoryStore(clock=self.clock)
        self.held: list[tuple[OutboxItem, OutboxItem]] = []  # (sqlite's, reference's)

    def teardown(self) -> None:
        self.sql.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def both(self, name: str, *args: Any) -> Any:
        mine = outcome(getattr(self.sql, name), *args)
        ref = outcome(getattr(self.ref, name), *args)
        assert mine == ref, (name, args)
        return ref[1]

    def each(self, name: str, pair: tuple[OutboxItem, OutboxItem], *args: Any) -> None:
        mine = outcome(getattr(self.sql, name), pair[0], *args)
        ref = outcome(getattr(self.ref, name), pair[1], *args)
        assert mine == ref, (name, args)

    @rule(key=KEYS, to=TARGETS)
    def enqueue(self, key: str, to: str | None) -> None:
        self.both("enqueue", "user", key, to)

    @rule(owner=OWNERS, limit=st.integers(1, 3), lease=st.sampled_from([0, 30, 120]))
    def claim(self, owner: str, limit: int, lease: int) -> None:
        mine = self.sql.claim(owner, limit, lease)
        ref = self.ref.claim(owner, limit, lease)
        assert [same(i) for i in mine] == [same(i) for i in ref]
        self.held.extend(zip(mine, ref, strict=True))

    @precondition(lambda self: self.held)
    @rule(data=st.data(), how=st.sampled_from(["complete", "retry", "dead", "release"]))
    def finish(self, data: st.DataObject, how: str) -> None:
        pair = self.held.pop(data.draw(st.integers(0, len(self.held) - 1)))
        if how == "complete":
            self.each("complete", pair)
        elif how == "release":
            self.each("release", pair)
        elif how == "dead":
            self.each("fail", pair, "bad", None)
        else:
            self.each("fail", pair, "503", self.clock.now + dt.timedelta(seconds=60))

    @rule(seconds=st.sampled_from([1, 31, 61, 121]))
    def tick(self, seconds: int) -> None:
        self.clock.now += dt.timedelta(seconds=seconds)

    @rule()
    def replay(self) -> None:
        self.both("replay")

    @rule(data=st.data())
    def replay_some(self, data: st.DataObject) -> None:
        dead = list(zip(self.sql.outbox("dead"), self.ref.outbox("dead"), strict=True))
        if not dead:
            return
        chosen = data.draw(st.lists(st.sampled_from(dead), max_size=2, unique_by=lambda p: p[1].id))
        mine = self.sql.replay([p[0].id for p in chosen])
        ref = self.ref.replay([p[1].id for p in chosen])
        assert mine == ref

    @rule(key=KEYS, remote=st.sampled_from(["a", "b", "c"]))
    def save_link(self, key: str, remote: str) -> None:
        self.both("save_link", Link("aws", "user", key, remote, updated_at=self.clock.now))

    @rule(key=KEYS)
    def delete_link(self, key: str) -> None:
        self.both("delete_link", "aws", "user", key)

    @rule(pairs=st.lists(st.tuples(KEYS, st.sampled_from(["a", "b", "c", "d"])), max_size=3))
    def save_links(self, pairs: list[tuple[str, str]]) -> None:
        self.both("save_links", [Link("aws", "user", k, r) for k, r in pairs])

    @invariant()
    def same_state(self) -> None:
        assert [same(i) for i in self.sql.outbox()] == [same(i) for i in self.ref.outbox()]
        assert self.sql.outbox_counts() == self.ref.outbox_counts()
        assert list(self.sql.iter_links("aws")) == list(self.ref.iter_links("aws"))


SameBehaviour.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestSameBehaviour = SameBehaviour.TestCase
