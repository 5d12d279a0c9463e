"""Signal handlers: a user or group change writes an outbox row in the same transaction.

``post_save`` / ``post_delete`` on the user model and ``Group``, and ``m2m_changed`` on
``user.groups``, call :func:`record`: the "needs syncing" row is written with the ORM on
the same database alias, so it commits or rolls back with the host's change, and
``transaction.on_commit`` then wakes the dispatcher (the provisioner's notify listeners).
Nothing here touches the network.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from . import _conf
from ._store import DjangoStore

__all__ = ["connect", "disconnect", "record", "suppressed"]

log = logging.getLogger("scimsync.django")

#: While set, the handlers write nothing (bulk imports; see :func:`suppressed`).
_OFF: contextvars.ContextVar[bool] = contextvars.ContextVar("scimsync_off", default=False)

_UID = "scimsync_django"


class suppressed:
    """``with scimsync_django.suppressed(): ...`` writes no outbox rows (bulk loads;
    run ``manage.py scimsync_reconcile`` afterwards)."""

    def __enter__(self) -> None:
        self._token = _OFF.set(True)

    def __exit__(self, *exc: object) -> None:
        _OFF.reset(self._token)


def _wake(kind: str, key: str, store: Any) -> None:
    """After commit: call the provisioner's notify listeners (a dispatcher's ``wake``)."""
    try:
        # Build the provisioner here only in automatic mode (it starts a dispatcher);
        # otherwise wake what this process built already (a worker, a Celery hook).
        state = _conf.peek_state() or (_conf.get_state() if _conf.automatic() else None)
    except Exception as exc:  # a configuration mistake: the row is saved, say why no sync
        log.warning("scimsync: cannot start syncing (the change is recorded): %s", exc)
        return
    if state is None:
        return  # nothing to wake in this process: a worker elsewhere polls the outbox
    # Written in the host's transaction on the provisioner's own store: only wake the
    # listeners; a row written elsewhere is recorded in the provisioner's store too.
    written = (
        isinstance(store, DjangoStore)
        and isinstance(state.store, DjangoStore)
        and store.using == state.store.using
    )
    try:
        state.ensure_dispatcher()
        if written:
            state.provisioner.wake()
        else:
            state.provisioner.notify(kind, key)
    except Exception:
        log.exception("scimsync: waking the dispatcher failed (the change is recorded)")


def record(kind: str, key: Any, *, using: str | None = None) -> None:
    """Record that a user or group needs syncing, in the current transaction.

    Writes the outbox row through the configured store: with the default
    :class:`~scimsync_django.DjangoStore` on the alias ``using`` (the alias the change
    was saved on), inside that alias's open transaction. After commit, the dispatcher is
    woken. Call it yourself for changes the signals do not see (``QuerySet.update``,
    raw SQL, a custom user model's related tables).
    """
    if _OFF.get():
        return
    key = str(key)
    store = _conf.get_store()
    alias = getattr(store, "using", None)
    if using is not None and alias is not None and alias != using:
        log.debug(
            "scimsync: %s %s saved on database %r but the store is on %r: the outbox row "
            "is written in its own transaction",
            kind,
            key,
            using,
            alias,
        )
    store.enqueue(kind, key)
    transaction.on_commit(lambda: _wake(kind, key, store), using=alias or using)


def _user_saved(
    sender: Any,
    instance: Any,
    created: bool,
    raw: bool = False,
    using: str | None = None,
    update_fields: Any = None,
    **kw: Any,
) -> None:
    if raw:
        return  # loaddata
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a login, not a change scimsync maps
    record("user", instance.pk, using=using)


def _user_deleting(sender: Any, instance: Any, using: str | None = None, **kw: Any) -> None:
    # The user's memberships vanish with it (no m2m_changed): remember the groups.
    try:
        instance._scimsync_groups = list(instance.groups.values_list("pk", flat=True))
    except Exception:  # a custom user model without groups
        instance._scimsync_groups = []


def _user_deleted(sender: Any, instance: Any, using: str | None = None, **kw: Any) -> None:
    record("user", instance.pk, using=using)
    for group_pk in getattr(instance, "_scimsync_groups", ()):
        record("group", group_pk, using=using)


def _group_saved(
    sender: Any, instance: Any, raw: bool = False, using: str | None = None, **kw: Any
) -> None:
    if raw:
        return
    record("group", instance.pk, using=using)


def _group_deleted(sender: Any, instance: Any, using: str | None = None, **kw: Any) -> None:
    record("group", instance.pk, using=using)


def _members_changed(
    sender: Any,
    instance: Any,
    action: str,
    reverse: bool,
    model: Any,
    pk_set: set[Any] | None,
    using: str | None = None,
    **kw: Any,
) -> None:
    if action == "pre_clear":
        # pk_set is None on clear: remember who is affected before the rows go.
        # The through model has one foreign key to each side; read the other side's pks.
        mine = next(
            f.name
            for f in sender._meta.get_fields()
            if getattr(f, "related_model", None) is type(instance)
        )
        other = next(
            f.attname
            for f in sender._meta.get_fields()
            if getattr(f, "related_model", None) is model
        )
        rows = sender._default_manager.using(using).filter(**{mine: instance.pk})
        instance._scimsync_cleared = list(rows.values_list(other, flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    affected = pk_set if pk_set is not None else getattr(instance, "_scimsync_cleared", [])
    if reverse:  # instance is a Group; affected are users
        record("group", instance.pk, using=using)
        for user_pk in affected:
            record("user", user_pk, using=using)  # scope may depend on groups
    else:  # instance is a user; affected are groups
        for group_pk in affected:
            record("group", group_pk, using=using)
        record("user", instance.pk, using=using)


def connect() -> None:
    """Connect the handlers (``AppConfig.ready`` does it unless ``SIGNALS`` is False)."""
    if not _conf.signals_enabled():
        return
    from django.contrib.auth.models import Group

    user = get_user_model()
    post_save.connect(_user_saved, sender=user, dispatch_uid=f"{_UID}.user_saved")
    pre_delete.connect(_user_deleting, sender=user, dispatch_uid=f"{_UID}.user_deleting")
    post_delete.connect(_user_deleted, sender=user, dispatch_uid=f"{_UID}.user_deleted")
    post_save.connect(_group_saved, sender=Group, dispatch_uid=f"{_UID}.group_saved")
    post_delete.connect(_group_deleted, sender=Group, dispatch_uid=f"{_UID}.group_deleted")
    through = getattr(getattr(user, "groups", None), "through", None)
    if through is not None:
        m2m_changed.connect(_members_changed, sender=through, dispatch_uid=f"{_UID}.members")


def disconnect() -> None:
    """Disconnect every handler (tests, or apps that call :func:`record` themselves)."""
    from django.contrib.auth.models import Group

    user = get_user_model()
    post_save.disconnect(sender=user, dispatch_uid=f"{_UID}.user_saved")
    pre_delete.disconnect(sender=user, dispatch_uid=f"{_UID}.user_deleting")
    post_delete.disconnect(sender=user, dispatch_uid=f"{_UID}.user_deleted")
    post_save.disconnect(sender=Group, dispatch_uid=f"{_UID}.group_saved")
    post_delete.disconnect(sender=Group, dispatch_uid=f"{_UID}.group_deleted")
    through = getattr(getattr(user, "groups", None), "through", None)
    if through is not None:
        m2m_changed.disconnect(sender=through, dispatch_uid=f"{_UID}.members")
