"""The engine's bulk worker threads (``_parallel``): order, cap, errors."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from scimsync._engine._core import _parallel


def test_results_come_back_in_key_order_and_each_key_runs_once() -> None:
    keys = [str(i) for i in range(500)]
    calls: list[str] = []
    lock = threading.Lock()

    def fn(k: str) -> Any:
        with lock:
            calls.append(k)
        return f"trace-{k}"

    assert _parallel(keys, fn, 8, "t") == [f"trace-{k}" for k in keys]
    assert sorted(calls) == sorted(keys)


def test_no_more_than_workers_run_at_once_and_they_do_overlap() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()
    names: set[str] = set()

    def fn(k: str) -> Any:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            names.add(threading.current_thread().name)
        time.sleep(0.01)  # long enough for the workers to overlap
        with lock:
            running -= 1
        return k

    _parallel([str(i) for i in range(40)], fn, 4, "scimsync-t")
    assert peak <= 4
    assert peak >= 2
    assert names <= {f"scimsync-t_{n}" for n in range(4)}


def test_an_error_stops_the_other_workers_and_is_raised() -> None:
    done: list[str] = []
    lock = threading.Lock()

    def fn(k: str) -> Any:
        if k == "3":
            raise RuntimeError("bug in a flow")
        time.sleep(0.001)
        with lock:
            done.append(k)
        return k

    with pytest.raises(RuntimeError, match="bug in a flow"):
        _parallel([str(i) for i in range(1000)], fn, 2, "t")
    assert len(done) < 999  # the rest of the keys were not taken
