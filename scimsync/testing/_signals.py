"""capture_signals(): record the signals sent inside a ``with`` block.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, NamedTuple

from blinker import NamedSignal

from scimsync import signals as _signals

__all__ = ["CapturedSignal", "capture_signals"]


class CapturedSignal(NamedTuple):
    """One signal sent: its name, its sender and its keyword arguments."""

    name: str
    sender: Any
    kwargs: dict[str, Any]


@contextmanager
def capture_signals(*signals: NamedSignal) -> Iterator[list[CapturedSignal]]:
    """Record every send of ``signals`` (default: all of scimsync's) inside the block.

    Built on ``signal.connected_to``, so the receivers are gone when the block ends, even
    on error. Each entry unpacks as ``(name, sender, kwargs)``::

        with capture_signals(signals.object_created) as sent:
            prov.sync_user("42")
        [(name, sender, kwargs)] = sent
        assert kwargs["record"].key == "42"

    Args:
        signals: the signals to watch; none given means every signal in
            :data:`scimsync.signals.namespace`.

    Yields:
        The list that fills up with :class:`CapturedSignal` entries, in send order.

    .. versionadded:: 0.1.0
    """
    watched = signals or tuple(_signals.namespace.values())
    sent: list[CapturedSignal] = []
    with ExitStack() as stack:
        for signal in watched:

            def receiver(sender: Any, _name: str = signal.name, **kwargs: Any) -> None:
                sent.append(CapturedSignal(_name, sender, dict(kwargs)))

            stack.enter_context(signal.connected_to(receiver))
        yield sent
