"""The blinker signals scimsync sends: one per outcome, and one when a run finishes.

Every signal lives in one :class:`blinker.Namespace`, :data:`namespace`, under a
kebab-case name. The sender is always the :class:`~scimsync.Provisioner` that did the
work, so a receiver can listen to one provisioner only (``connect(fn, sender=prov)``).
Receivers must accept ``**extra``: new keyword arguments may be added in later versions.

::

    from scimsync import signals

    @signals.object_failed.connect
    def page_someone(sender, *, record, target, **extra):
        print(f"{record.kind} {record.key} failed on {target}: {record.error}")

Signals are sent after the report record is stored. A receiver that raises is logged and
ignored by the engine; it never breaks a sync.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from typing import Final

from blinker import NamedSignal, Namespace

from scimsync._reports import Outcome

__all__ = [
    "SIGNALS",
    "namespace",
    "object_adopted",
    "object_created",
    "object_deactivated",
    "object_deleted",
    "object_failed",
    "object_held",
    "object_skipped",
    "object_unchanged",
    "object_updated",
    "run_finished",
    "signal_for",
]

#: The one namespace holding every scimsync signal.
namespace: Final = Namespace()

#: ``"object-created"``: a user or group was created on the target.
#: Sender: the Provisioner. Kwargs: ``record`` (:class:`~scimsync.ReportRecord`),
#: ``target`` (the target's name, ``str``); receivers must accept ``**extra`` (the engine
#: passes ``trace``, the :class:`~scimsync.SyncTrace`, to every object signal).
object_created: Final = namespace.signal(
    "object-created", doc="A user or group was created on the target."
)

#: ``"object-updated"``: a user or group was changed on the target (attributes or members).
#: Sender: the Provisioner. Kwargs: ``record``, ``target``; accept ``**extra``.
object_updated: Final = namespace.signal(
    "object-updated", doc="A user or group was changed on the target."
)

#: ``"object-unchanged"``: a sync found nothing to send.
#: Sender: the Provisioner. Kwargs: ``record``, ``target``; accept ``**extra``.
object_unchanged: Final = namespace.signal(
    "object-unchanged", doc="A sync found the object already in step."
)

#: ``"object-deactivated"``: a user was deactivated (``active: false``) on the target.
#: Sender: the Provisioner. Kwargs: ``record``, ``target``; accept ``**extra``.
object_deactivated: Final = namespace.signal(
    "object-deactivated", doc="A user was deactivated on the target."
)

#: ``"object-deleted"``: a user or group was deleted from the target.
#: Sender: the Provisioner. Kwargs: ``record``, ``target``; accept ``**extra``.
object_deleted: Final = namespace.signal(
    "object-deleted", doc="A user or group was deleted from the target."
)

#: ``"object-adopted"``: an existing remote object was matched and linked.
#: Sender: the Provisioner. Kwargs: ``record``, ``target``; accept ``**extra``.
object_adopted: Final = namespace.signal(
    "object-adopted", doc="An existing remote object was matched and linked."
)

#: ``"object-skipped"``: out of scope, or the operation is switched off.
#: Sender: the Provisioner. Kwargs: ``record``, ``target``; accept ``**extra``.
object_skipped: Final = namespace.signal(
    "object-skipped", doc="The object was out of scope or the operation is off."
)

#: ``"object-held"``: a destructive action was held for approval.
#: Sender: the Provisioner. Kwargs: ``record``, ``target``; accept ``**extra``.
object_held: Final = namespace.signal(
    "object-held", doc="A destructive action was held for approval."
)

#: ``"object-failed"``: syncing a user or group failed; ``record.error`` says why.
#: Sender: the Provisioner. Kwargs: ``record``, ``target``; accept ``**extra`` (the engine
#: adds ``exception``, the exception raised).
object_failed: Final = namespace.signal("object-failed", doc="Syncing an object failed.")

#: ``"run-finished"``: a run (reconcile, import) finished, whatever its status.
#: Sender: the Provisioner. Kwargs: ``run`` (:class:`~scimsync.RunRecord`), ``target``
#: (``str``); accept ``**extra`` (the engine may add ``summary``).
run_finished: Final = namespace.signal("run-finished", doc="A run finished.")

#: The per-outcome signals, by outcome.
SIGNALS: Final[dict[Outcome, NamedSignal]] = {
    Outcome.CREATED: object_created,
    Outcome.UPDATED: object_updated,
    Outcome.UNCHANGED: object_unchanged,
    Outcome.DEACTIVATED: object_deactivated,
    Outcome.DELETED: object_deleted,
    Outcome.ADOPTED: object_adopted,
    Outcome.SKIPPED: object_skipped,
    Outcome.HELD: object_held,
    Outcome.FAILED: object_failed,
}


def signal_for(outcome: Outcome | str) -> NamedSignal:
    """The signal sent for ``outcome`` (an :class:`~scimsync.Outcome` or its value).

    Raises:
        ValueError: not an outcome.
    """
    return SIGNALS[Outcome(outcome)]
