"""scimsync.storekit: the shared building blocks of StateStore implementations."""

from __future__ import annotations

import pytest

from scimsync import storekit
from scimsync._store import _common


def test_chunks_split_in_order_and_refuse_a_bad_size() -> None:
    assert list(storekit.chunks(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(storekit.chunks([], 3)) == []
    assert [len(c) for c in storekit.chunks(range(1001))] == [500, 500, 1]
    with pytest.raises(ValueError, match="size must be at least 1"):
        list(storekit.chunks(range(3), 0))


def test_the_checks_are_the_ones_sqlitestore_uses() -> None:
    assert storekit.check_kind is _common.check_kind
    assert storekit.outcome_values is _common.outcome_values
    with pytest.raises(ValueError, match="kind must be 'user' or 'group'"):
        storekit.check_kind("robot")
    with pytest.raises(ValueError, match="key must be a non-empty string"):
        storekit.check_string("", "key")
    assert storekit.outcome_values("created") == ["created"]
    assert storekit.from_us(storekit.to_us(storekit.from_us(1_700_000_000_000_000))) == (
        storekit.from_us(1_700_000_000_000_000)
    )
    with pytest.raises(ValueError, match="cannot move from rejected to approved"):
        storekit.check_pending_move(7, "rejected", "approved")
