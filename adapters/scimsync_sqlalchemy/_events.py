"""watch(): ORM session events -> outbox rows in the host's own transaction."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from sqlalchemy import event, inspect
from sqlalchemy.orm import Mapper, Session, UOWTransaction
from sqlalchemy.orm.base import NO_VALUE

from scimsync import ConfigurationError, Provisioner
from scimsync_sqlalchemy._store import SQLAlchemyStore

__all__ = ["Watcher", "unwatch", "watch"]

log = logging.getLogger("scimsync.sqlalchemy")

#: A change: (kind, key).
_Change = tuple[str, str]

_INFO: Final = "scimsync_sqlalchemy"


class _Model:
    """A watched mapped class and the attribute holding its key."""

    def __init__(self, kind: str, cls: type, key: str) -> None:
        try:
            mapper: Any = inspect(cls)
        except Exception as exc:
            raise ConfigurationError(
                f"watch({kind}s={cls!r}): not an SQLAlchemy mapped class"
            ) from exc
        if not isinstance(mapper, Mapper):
            raise ConfigurationError(f"watch({kind}s={cls!r}): not an SQLAlchemy mapped class")
        if key not in mapper.all_orm_descriptors:
            raise ConfigurationError(f"watch({kind}s={cls.__name__}): no attribute {key!r}")
        self.kind = kind
        self.cls = cls
        self.key = key
        self.mapper: Mapper[Any] = mapper


def _value(obj: Any, attr: str) -> Any:
    """An attribute's value, read from the loaded state first (no SQL for deleted rows)."""
    state = inspect(obj)
    if attr in state.dict:
        return state.dict[attr]
    return getattr(obj, attr)


def _text(value: Any) -> str | None:
    if value is None or value is NO_VALUE:
        return None
    text = str(value)
    return text or None


def _old_values(obj: Any, attr: str) -> list[Any]:
    """Values an attribute had before this flush's changes (a renamed key)."""
    state = inspect(obj)
    if attr not in state.attrs:
        return []
    return list(state.attrs[attr].history.deleted or ())


class Watcher:
    """The listeners :func:`watch` installed; :meth:`unwatch` removes them.

    Attributes:
        transactional: ``True`` when outbox rows are written in the host's transaction
            (the provisioner's store is an :class:`SQLAlchemyStore` on the session's
            database), ``False`` for the fallback (``notify`` after commit). Decided per
            database the session writes to; ``None`` until the first flush.
    """

    def __init__(
        self,
        target: Any,
        provisioner: Provisioner,
        users: _Model | None,
        groups: _Model | None,
        memberships: list[tuple[type, str]],
        sync_target: str | None,
    ) -> None:
        self.target = target
        self.provisioner = provisioner
        self.users = users
        self.groups = groups
        self.memberships = memberships
        self.sync_target = sync_target
        self.transactional: bool | None = None
        self._same_db: dict[int, bool] = {}
        self._lock = threading.Lock()
        self._installed = False
        # relationships from users to groups: (attribute, is a collection)
        self._group_rels: list[tuple[str, bool]] = []
        if users is not None and groups is not None:
            for rel in users.mapper.relationships:
                if issubclass(rel.mapper.class_, groups.cls):
                    self._group_rels.append((rel.key, bool(rel.uselist)))
        self._info = f"{_INFO}:{id(self)}"

    def __repr__(self) -> str:
        models = [m.cls.__name__ for m in (self.users, self.groups) if m is not None]
        return f"<Watcher {', '.join(models)} on {self.target!r}>"

    # --- install -----------------------------------------------------------------------

    def _hooks(self) -> list[tuple[str, Callable[..., None]]]:
        return [
            ("before_flush", self._before_flush),
            ("after_flush", self._after_flush),
            ("after_commit", self._after_commit),
            ("after_transaction_end", self._after_transaction_end),
        ]

    def install(self) -> Watcher:
        for name, fn in self._hooks():
            event.listen(self.target, name, fn)
        self._installed = True
        return self

    def unwatch(self) -> None:
        """Remove the listeners (idempotent). Changes flushed before stay recorded."""
        if not self._installed:
            return
        for name, fn in self._hooks():
            with contextlib.suppress(Exception):
                event.remove(self.target, name, fn)
        self._installed = False

    # --- per-transaction state -----------------------------------------------------------

    def _state(self, session: Session) -> dict[str, Any]:
        state: dict[str, Any] | None = session.info.get(self._info)
        if state is None:
            state = {"early": set(), "wake": False, "later": set()}
            session.info[self._info] = state
        return state

    # --- what changed ------------------------------------------------------------------

    def _model_of(self, obj: Any) -> _Model | None:
        for model in (self.users, self.groups):
            if model is not None and isinstance(obj, model.cls):
                return model
        return None

    def _keys_of(self, model: _Model, obj: Any) -> set[_Change]:
        out: set[_Change] = set()
        for value in [_value(obj, model.key), *_old_values(obj, model.key)]:
            text = _text(value)
            if text is not None:
                out.add((model.kind, text))
        return out

    def _group_keys(self, groups: Iterable[Any]) -> set[_Change]:
        out: set[_Change] = set()
        if self.groups is None:
            return out
        for group in groups:
            if group is not None:
                out |= self._keys_of(self.groups, group)
        return out

    def _membership_changes(self, session: Session, obj: Any, *, new: bool) -> set[_Change]:
        out: set[_Change] = set()
        for cls, attr in self.memberships:
            if not isinstance(obj, cls):
                continue
            state = inspect(obj)
            values: list[Any] = []
            if new or state.deleted or obj in session.deleted:
                values.append(_value(obj, attr))
            elif attr in state.attrs:
                hist = state.attrs[attr].history
                if hist.has_changes():
                    values += list(hist.added or ()) + list(hist.deleted or ())
            for value in values:
                text = _text(value)
                if text is not None:
                    out.add(("group", text))
        return out

    def _before_flush(self, session: Session, _ctx: UOWTransaction, _instances: Any) -> None:
        """Deleted objects: read their keys (and a deleted user's groups) while rows exist."""
        early: set[_Change] = self._state(session)["early"]
        with session.no_autoflush:
            for obj in list(session.deleted):
                model = self._model_of(obj)
                if model is not None:
                    early |= self._keys_of(model, obj)
                    if model is self.users:
                        for rel, uselist in self._group_rels:
                            value = getattr(obj, rel)
                            early |= self._group_keys(value if uselist else [value])
                early |= self._membership_changes(session, obj, new=False)

    def _after_flush(self, session: Session, _ctx: UOWTransaction) -> None:
        """New, changed and deleted watched objects -> outbox rows, same transaction."""
        state = self._state(session)
        changes: set[_Change] = set(state["early"])
        state["early"] = set()
        for obj in session.new:
            model = self._model_of(obj)
            if model is not None:
                changes |= self._keys_of(model, obj)
                if model is self.users:
                    changes |= self._user_group_changes(obj)
            changes |= self._membership_changes(session, obj, new=True)
        for obj in session.dirty:
            model = self._model_of(obj)
            if model is not None and session.is_modified(obj, include_collections=True):
                changes |= self._keys_of(model, obj)
                if model is self.users:
                    changes |= self._user_group_changes(obj)
            changes |= self._membership_changes(session, obj, new=False)
        if changes:
            self._record(session, changes)

    def _user_group_changes(self, user: Any) -> set[_Change]:
        """Groups a user joined or left through a relationship (``user.groups``)."""
        ins = inspect(user)
        out: set[_Change] = set()
        for rel, _many in self._group_rels:
            hist = ins.attrs[rel].history
            out |= self._group_keys([*(hist.added or ()), *(hist.deleted or ())])
        return out

    # --- recording -----------------------------------------------------------------------

    def _transactional_for(self, session: Session) -> tuple[bool, Any]:
        store = self.provisioner.store
        if not isinstance(store, SQLAlchemyStore):
            return False, None
        mapper = (self.users or self.groups).mapper  # type: ignore[union-attr]
        conn = session.connection(bind_arguments={"mapper": mapper})
        key = id(conn.engine)
        same = self._same_db.get(key)
        if same is None:
            same = store.same_database(conn.engine)
            with self._lock:
                self._same_db[key] = same
            if not same:
                log.warning(
                    "scimsync: the store is not on the session's database; outbox rows are "
                    "written after commit (a crash in between loses the hint until the next "
                    "reconcile)"
                )
        return same, conn

    def _record(self, session: Session, changes: set[_Change]) -> None:
        state = self._state(session)
        same, conn = self._transactional_for(session)
        self.transactional = same
        if not same:
            state["later"] |= changes
            return
        store: SQLAlchemyStore = self.provisioner.store
        for kind, key in sorted(changes):
            store.enqueue_in(conn, kind, key, self.sync_target)
        state["wake"] = True

    def _after_commit(self, session: Session) -> None:
        if session.in_nested_transaction():  # a savepoint was released: not committed yet
            return
        state = session.info.pop(self._info, None)
        if not state:
            return
        for kind, key in sorted(state["later"]):
            try:
                self.provisioner.notify(kind, key, target=self.sync_target)
            except Exception:
                log.exception("scimsync: could not record %s %s after commit", kind, key)
        if state["wake"] and not state["later"]:
            wake_listeners(self.provisioner)

    def _after_transaction_end(self, session: Session, transaction: Any) -> None:
        if transaction.parent is None:  # the outermost transaction ended (rolled back too)
            session.info.pop(self._info, None)


def wake_listeners(provisioner: Provisioner) -> None:
    """Wake the provisioner's notify listeners (a running Dispatcher) without writing an
    outbox row: the row was committed with the host's change (``Provisioner.wake``)."""
    provisioner.wake()


def _membership_list(
    memberships: Mapping[type, str] | Iterable[tuple[type, str]] | None,
) -> list[tuple[type, str]]:
    if memberships is None:
        return []
    pairs = list(memberships.items()) if isinstance(memberships, Mapping) else list(memberships)
    out: list[tuple[type, str]] = []
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], str)):
            raise ConfigurationError(
                f"watch(memberships=...): expected (MappedClass, 'group_key_attribute') pairs, "
                f"got {pair!r}"
            )
        _Model("membership", pair[0], pair[1])
        out.append(pair)
    return out


def watch(
    session_target: Any,
    provisioner: Provisioner,
    *,
    users: type | None = None,
    groups: type | None = None,
    memberships: Mapping[type, str] | Iterable[tuple[type, str]] | None = None,
    user_key: str = "id",
    group_key: str = "id",
    target: str | None = None,
) -> Watcher:
    """Record every change to the watched models in the outbox, in the host's transaction.

    Session events on ``session_target`` see new, changed and deleted ``users`` and
    ``groups`` instances at flush time and write one outbox row per changed key through
    ``session.connection()``: the row commits or rolls back with the change. After the
    commit, the provisioner's notify listeners run, so a running
    :class:`~scimsync.Dispatcher` wakes at once. A group is also recorded when its
    members change: through a relationship between the two models (either side), through
    an association class listed in ``memberships``, or when a member is deleted.

    When the provisioner's store is not an :class:`SQLAlchemyStore` on the session's
    database, the keys are kept until the commit and then passed to
    ``provisioner.notify()``: a crash between the commit and that call loses the hint, and
    the next reconcile repairs it.

    Args:
        session_target: what to listen on: a ``Session`` (sub)class, a ``sessionmaker``,
            a ``scoped_session`` or one ``Session``.
        provisioner: the :class:`~scimsync.Provisioner` whose outbox receives the keys.
        users: the user model (a mapped class), if any.
        groups: the group model, if any.
        memberships: ``{AssociationClass: "group_key_attribute"}`` (or pairs): a new,
            deleted or re-pointed row records the group named by that attribute. A user
            model with a group foreign key (``(User, "team_id")``) works the same way.
        user_key: the users' key attribute (the key is ``str()`` of it).
        group_key: the groups' key attribute.
        target: one target's name, or ``None`` for every target.

    Returns:
        A :class:`Watcher`; ``watcher.unwatch()`` (or :func:`unwatch`) removes the
        listeners.
    """
    if users is None and groups is None:
        raise ConfigurationError("watch() needs users=..., groups=... or both")
    if not isinstance(provisioner, Provisioner):
        raise ConfigurationError(
            f"watch(provisioner=...) needs a scimsync.Provisioner, got {type(provisioner).__name__}"
        )
    if target is not None:
        provisioner.target(target)
    user_model = None if users is None else _Model("user", users, user_key)
    group_model = None if groups is None else _Model("group", groups, group_key)
    store = provisioner.store
    if isinstance(store, SQLAlchemyStore):
        store.create_all()  # now, not inside the host's first transaction
    watcher = Watcher(
        session_target,
        provisioner,
        user_model,
        group_model,
        _membership_list(memberships),
        target,
    )
    return watcher.install()


def unwatch(watcher: Watcher) -> None:
    """Remove the listeners :func:`watch` installed (same as ``watcher.unwatch()``)."""
    watcher.unwatch()
