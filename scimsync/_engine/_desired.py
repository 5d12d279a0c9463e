"""What the engine would push for one object: :class:`Desired` (``prov.desired(...)``)."""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = ["MISSING", "Desired"]


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


#: "read the object from the source" (the default of ``desired(obj=...)``).
MISSING = _Missing.MISSING


@attrs.frozen
class Desired:
    """The representation the engine would store for one object after a push, computed
    with no I/O to the target (:meth:`Provisioner.desired <scimsync.Provisioner.desired>`).

    Attributes:
        in_scope: whether the object exists in the source and is in the target's scope
            (``False``: a sync would deprovision its link, if any).
        rep: the rep exactly as it would be stored in ``link.last_rep`` (create-only
            attributes kept from the last push; for groups, ``members`` as the remote ids
            of the members' user links), or ``None`` when out of scope.
        hash: ``representation_hash(rep)``; equals ``link.last_hash`` when a sync would
            send nothing. ``None`` when out of scope.
        reason: why in or out of scope (as the trace's ``scope`` step says).

    .. versionadded:: 0.1.0
    """

    in_scope: bool
    rep: dict[str, Any] | None
    hash: str | None
    reason: str
