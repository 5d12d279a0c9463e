"""The records a state store keeps: links, outbox items, reports, runs, pending actions.

All records are frozen attrs classes; change one with :func:`attrs.evolve`. Every
datetime is timezone-aware UTC (a naive datetime given to a record is taken as UTC).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from scimsync._reports import Outcome

__all__ = [
    "KINDS",
    "LINK_ORIGINS",
    "LINK_STATES",
    "OUTBOX_STATUSES",
    "PENDING_STATUSES",
    "RUN_STATUSES",
    "Link",
    "OutboxItem",
    "PendingAction",
    "ReportRecord",
    "RunRecord",
    "as_utc",
    "utcnow",
]

UTC: Final = _dt.timezone.utc

#: Object kinds the store knows.
KINDS: Final = ("user", "group")
#: How a link came to be.
LINK_ORIGINS: Final = ("created", "adopted")
#: Whether the remote object is active or deactivated.
LINK_STATES: Final = ("active", "deactivated")
#: Outbox row statuses.
OUTBOX_STATUSES: Final = ("pending", "dead")
#: Run statuses.
RUN_STATUSES: Final = ("running", "complete", "partial", "failed", "aborted")
#: Pending-approval statuses.
PENDING_STATUSES: Final = ("pending", "approved", "rejected", "applied")


def utcnow() -> _dt.datetime:
    """The current time, timezone-aware UTC."""
    return _dt.datetime.now(UTC)


def as_utc(value: _dt.datetime) -> _dt.datetime:
    """``value`` as an aware UTC datetime; a naive datetime is taken to be UTC already."""
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _opt_utc(value: _dt.datetime | None) -> _dt.datetime | None:
    return None if value is None else as_utc(value)


def _one_of(*allowed: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise ValueError(
                f"{type(inst).__name__}.{attribute.name} must be one of {choices}, got {value!r}"
            )

    return check


def _string(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"{type(inst).__name__}.{attribute.name} must be a non-empty string, got {value!r}"
        )


def _opt_string(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _string(inst, attribute, value)


def _opt_dict(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def _counts(value: Mapping[str, int] | None) -> dict[str, int]:
    return {} if value is None else {str(k): int(v) for k, v in value.items()}


@attrs.frozen
class Link:
    """One local object linked to one remote object on one target.

    Attributes:
        target: the target's name (``"aws"``).
        kind: ``"user"`` or ``"group"``.
        key: the local key (``str(pk)``).
        remote_id: the SCIM ``id`` on the target.
        last_rep: the last representation pushed (SCIM wire JSON), or ``None``.
        last_hash: ``representation_hash(last_rep)``, or ``None``.
        origin: ``"created"`` (scimsync created it) or ``"adopted"`` (it existed and was matched).
        state: ``"active"`` or ``"deactivated"``.
        display: ``userName`` / ``displayName``, for reports and admin pages.
        created_at: when the link was first saved.
        updated_at: when the link was last changed.
        deactivated_at: when the remote object was deactivated, or ``None``.

    .. versionadded:: 0.1.0
    """

    target: str = attrs.field(validator=_string)
    kind: str = attrs.field(validator=_one_of(*KINDS))
    key: str = attrs.field(validator=_string)
    remote_id: str = attrs.field(validator=_string)
    last_rep: dict[str, Any] | None = attrs.field(default=None, converter=_opt_dict)
    last_hash: str | None = None
    origin: str = attrs.field(default="created", validator=_one_of(*LINK_ORIGINS))
    state: str = attrs.field(default="active", validator=_one_of(*LINK_STATES))
    display: str | None = None
    created_at: _dt.datetime = attrs.field(factory=utcnow, converter=as_utc)
    updated_at: _dt.datetime = attrs.field(factory=utcnow, converter=as_utc)
    deactivated_at: _dt.datetime | None = attrs.field(default=None, converter=_opt_utc)


@attrs.frozen
class OutboxItem:
    """One outbox row: "this key needs syncing" (for one target, or all when ``target`` is None).

    Attributes:
        id: the row id (store-assigned).
        kind: ``"user"`` or ``"group"``.
        key: the local key.
        target: the target name, or ``None`` for every target.
        seq: bumped by every :meth:`~scimsync.StateStore.enqueue` of the same row;
            :meth:`~scimsync.StateStore.complete` deletes the row only if it is unchanged.
        attempts: how many times the row was claimed since it last succeeded or was replayed
            (the current claim included).
        status: ``"pending"`` or ``"dead"`` (a dead letter, waiting for :meth:`replay`).
        enqueued_at: when the oldest change not yet synced was enqueued.
        next_attempt_at: when the row is next due.
        last_error: the last failure's message, or ``None``.
        lease_owner: who holds the row now, or ``None``.
        lease_until: when that lease ends, or ``None``.

    .. versionadded:: 0.1.0
    """

    id: int
    kind: str
    key: str
    target: str | None
    seq: int
    attempts: int
    status: str
    enqueued_at: _dt.datetime = attrs.field(converter=as_utc)
    next_attempt_at: _dt.datetime = attrs.field(converter=as_utc)
    last_error: str | None = None
    lease_owner: str | None = None
    lease_until: _dt.datetime | None = attrs.field(default=None, converter=_opt_utc)


@attrs.frozen
class ReportRecord:
    """What happened to one object in one operation; the unit of provisioning reports.

    Records never hold HTTP headers, so they never hold the bearer token.

    Attributes:
        target: the target's name.
        kind: ``"user"`` or ``"group"``.
        key: the local key (or the remote id for objects with no local key, e.g. orphans).
        operation: ``"create"``, ``"update"``, ``"deactivate"``, ``"delete"``, ``"adopt"``,
            ``"match"``, ``"membership"``, ...
        outcome: an :class:`~scimsync.Outcome` (a plain string is converted).
        display: ``userName`` / ``displayName``.
        http_status: the status of the last HTTP exchange, if any.
        detail: a human sentence ("changed emails, title").
        request_id: the server's request id, for its support desk.
        duration_ms: how long the operation took.
        error: the error message when ``outcome`` is ``failed``.
        run_id: the :class:`RunRecord` this belongs to, or ``None`` (manual/automatic mode).
        time: when it happened (defaults to now).
        id: store-assigned; ``None`` until stored.

    .. versionadded:: 0.1.0
    """

    target: str
    kind: str = attrs.field(validator=_one_of(*KINDS))
    key: str = attrs.field(validator=_string)
    operation: str
    outcome: Outcome = attrs.field(converter=Outcome)
    display: str | None = None
    http_status: int | None = None
    detail: str | None = None
    request_id: str | None = None
    duration_ms: float | None = None
    error: str | None = None
    run_id: str | None = None
    time: _dt.datetime = attrs.field(factory=utcnow, converter=as_utc)
    id: int | None = None


@attrs.frozen
class RunRecord:
    """One run (a reconcile, an import, a drain batch) and its totals.

    Attributes:
        id: the run id (a uuid4 hex string unless the caller chose one).
        target: the target's name.
        mode: what kind of run (``"incremental"``, ``"deep"``, ``"import"``, ...).
        started_at: when it started.
        finished_at: when it finished, or ``None`` while running.
        status: ``"running"``, ``"complete"``, ``"partial"``, ``"failed"`` or ``"aborted"``.
        counts: totals by outcome (``{"created": 3, "failed": 1}``) or any other counter.
        dry_run: whether the run only planned.
        error: why it failed or was aborted.

    .. versionadded:: 0.1.0
    """

    id: str = attrs.field(validator=_string)
    target: str
    mode: str
    started_at: _dt.datetime = attrs.field(factory=utcnow, converter=as_utc)
    finished_at: _dt.datetime | None = attrs.field(default=None, converter=_opt_utc)
    status: str = attrs.field(default="running", validator=_one_of(*RUN_STATUSES))
    counts: dict[str, int] = attrs.field(factory=dict, converter=_counts)
    dry_run: bool = False
    error: str | None = None


@attrs.frozen
class PendingAction:
    """A destructive action held for an admin's approval.

    Attributes:
        id: store-assigned.
        target: the target's name.
        kind: ``"user"`` or ``"group"``.
        key: the local key (or remote id for an unlinked object).
        remote_id: the SCIM id the action would hit, if known.
        action: ``"delete_user"``, ``"delete_group"``, ``"deactivate_user"``, ...
        reason: why it was held ("12 deletions exceed the threshold of 10").
        created_at: when it was held.
        status: ``"pending"``, ``"approved"``, ``"rejected"`` or ``"applied"``.
        decided_at: when it was approved or rejected.
        decided_by: who decided (free text: an admin's username).

    .. versionadded:: 0.1.0
    """

    id: int
    target: str
    kind: str = attrs.field(validator=_one_of(*KINDS))
    key: str = attrs.field(validator=_string)
    remote_id: str | None
    action: str = attrs.field(validator=_string)
    reason: str = ""
    created_at: _dt.datetime = attrs.field(factory=utcnow, converter=as_utc)
    status: str = attrs.field(default="pending", validator=_one_of(*PENDING_STATUSES))
    decided_at: _dt.datetime | None = attrs.field(default=None, converter=_opt_utc)
    decided_by: str | None = None
