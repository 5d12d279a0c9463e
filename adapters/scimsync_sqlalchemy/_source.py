"""SQLAlchemySource: the host's ORM models as a scimsync Source."""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.sql.elements import ColumnElement

from scimsync import ConfigurationError

__all__ = ["SQLAlchemySource"]


def _mapper(cls: type, what: str) -> Mapper[Any]:
    try:
        mapper: Any = inspect(cls)
    except Exception as exc:
        raise ConfigurationError(f"SQLAlchemySource({what}={cls!r}): not a mapped class") from exc
    if not isinstance(mapper, Mapper):
        raise ConfigurationError(f"SQLAlchemySource({what}={cls!r}): not a mapped class")
    return mapper


def _key_column(cls: type, attr: str, what: str) -> ColumnElement[Any]:
    mapper = _mapper(cls, what)
    if attr not in mapper.column_attrs:
        raise ConfigurationError(
            f"SQLAlchemySource({what}): {cls.__name__}.{attr} is not a column attribute"
        )
    column: ColumnElement[Any] = getattr(cls, attr)
    return column


def _parser(column: ColumnElement[Any]) -> Callable[[str], Any]:
    """Turn a key string back into the column's Python type (``"42"`` -> 42)."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return str
    if python_type is int:
        return int
    if python_type is uuid.UUID:
        return uuid.UUID
    return str


def _marker_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    return str(value)


class SQLAlchemySource:
    """A :class:`scimsync.Source` reading the host's ORM models.

    Every call opens a short session from ``session_factory`` and closes it before
    returning, so a sync always reads committed, current rows (level-triggered) and no
    session is shared between the engine's worker threads. Objects are returned detached
    with their column attributes loaded; pass ``user_options``/``group_options``
    (``selectinload(User.manager)``, ...) for relationships a mapping reads.

    Args:
        session_factory: a ``sessionmaker`` (or any callable returning a ``Session``).
        user_model: the user model.
        group_model: the group model, or ``None`` (no groups).
        user_key: the users' key column attribute (keys are ``str()`` of it).
        group_key: the groups' key column attribute.
        members: the group's relationship to its users (a many-to-many through an
            association table, or one-to-many), by attribute name; or a callable
            ``(session, group) -> iterable of users or user keys``.
        marker: a column attribute present on both models (``"updated_at"``) used as the
            change marker, or ``None``.
        user_options: loader options for :meth:`get_user`.
        group_options: loader options for :meth:`get_group`.
        batch: rows per fetch when streaming keys.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        user_model: type,
        group_model: type | None = None,
        *,
        user_key: str = "id",
        group_key: str = "id",
        members: str | Callable[[Session, Any], Iterable[Any]] = "members",
        marker: str | None = None,
        user_options: Sequence[Any] = (),
        group_options: Sequence[Any] = (),
        batch: int = 1000,
    ) -> None:
        if not callable(session_factory):
            raise ConfigurationError("SQLAlchemySource(session_factory=...) must be callable")
        self.session_factory = session_factory
        self.user_model = user_model
        self.group_model = group_model
        self.user_key = user_key
        self.group_key = group_key
        self._user_col = _key_column(user_model, user_key, "user_key")
        self._user_parse = _parser(self._user_col)
        self._group_col: ColumnElement[Any] | None = None
        self._group_parse: Callable[[str], Any] = str
        self._members = members
        if group_model is not None:
            self._group_col = _key_column(group_model, group_key, "group_key")
            self._group_parse = _parser(self._group_col)
            if isinstance(members, str):
                rels = _mapper(group_model, "group_model").relationships
                if members not in rels:
                    raise ConfigurationError(
                        f"SQLAlchemySource(members={members!r}): {group_model.__name__} has no "
                        f"relationship {members!r}"
                    )
                if not issubclass(rels[members].mapper.class_, user_model):
                    raise ConfigurationError(
                        f"SQLAlchemySource(members={members!r}): "
                        f"{group_model.__name__}.{members} does not lead to {user_model.__name__}"
                    )
            elif not callable(members):
                raise ConfigurationError(
                    "SQLAlchemySource(members=...) must be a relationship name or a callable"
                )
        self.marker = marker
        self.user_options = tuple(user_options)
        self.group_options = tuple(group_options)
        self.batch = int(batch)

    def __repr__(self) -> str:
        groups = "" if self.group_model is None else f", {self.group_model.__name__}"
        return f"SQLAlchemySource({self.user_model.__name__}{groups})"

    # --- helpers -----------------------------------------------------------------------

    @staticmethod
    def _parse(parse: Callable[[str], Any], key: str) -> Any:
        try:
            return parse(key)
        except (TypeError, ValueError):
            return None  # "abc" for an integer key: no such row

    def _get(
        self,
        model: type,
        column: ColumnElement[Any],
        parse: Callable[[str], Any],
        key: str,
        options: Sequence[Any],
    ) -> object | None:
        value = self._parse(parse, key)
        if value is None:
            return None
        with self.session_factory() as session:
            stmt: Any = select(model).where(column == value).options(*options)
            obj: object | None = session.scalars(stmt).first()
            if obj is not None:
                session.expunge(obj)
            return obj

    def _keys(self, column: ColumnElement[Any]) -> Iterator[str]:
        with self.session_factory() as session:
            stmt = select(column).order_by(column).execution_options(yield_per=self.batch)
            for value in session.scalars(stmt):
                if value is not None:
                    yield str(value)

    # --- the Source protocol -------------------------------------------------------------

    def get_user(self, key: str) -> object | None:
        """The user with that key (detached, columns loaded), or ``None``."""
        return self._get(self.user_model, self._user_col, self._user_parse, key, self.user_options)

    def get_group(self, key: str) -> object | None:
        """The group with that key, or ``None`` (always ``None`` without a group model)."""
        if self.group_model is None or self._group_col is None:
            return None
        return self._get(
            self.group_model, self._group_col, self._group_parse, key, self.group_options
        )

    def iter_user_keys(self) -> Iterator[str]:
        """Every user key, streamed ``batch`` rows at a time, in key order."""
        return self._keys(self._user_col)

    def iter_group_keys(self) -> Iterator[str]:
        """Every group key (none without a group model)."""
        if self._group_col is None:
            return iter(())
        return self._keys(self._group_col)

    def group_member_keys(self, group_key: str) -> list[str]:
        """The keys of a group's members, in key order (``[]`` for an unknown group)."""
        if self.group_model is None or self._group_col is None:
            return []
        value = self._parse(self._group_parse, group_key)
        if value is None:
            return []
        with self.session_factory() as session:
            if isinstance(self._members, str):
                relationship = getattr(self.group_model, self._members)
                stmt = (
                    select(self._user_col)
                    .select_from(self.group_model)
                    .join(relationship)
                    .where(self._group_col == value)
                    .order_by(self._user_col)
                )
                return [str(v) for v in session.scalars(stmt) if v is not None]
            group_model: Any = self.group_model
            group: Any = session.scalars(
                select(group_model).where(self._group_col == value)
            ).first()
            if group is None:
                return []
            keys: list[str] = []
            members: Any = self._members
            for member in members(session, group):
                value = (
                    getattr(member, self.user_key)
                    if isinstance(member, self.user_model)
                    else member
                )
                if value is not None:
                    keys.append(str(value))
            return keys

    def change_marker(self, kind: str, key: str) -> str | None:
        """The ``marker`` column's value as text (``None`` without a marker)."""
        if self.marker is None:
            return None
        if kind == "user":
            model, column, parse = self.user_model, self._user_col, self._user_parse
        elif self.group_model is not None and self._group_col is not None:
            model, column, parse = self.group_model, self._group_col, self._group_parse
        else:
            return None
        value = self._parse(parse, key)
        if value is None:
            return None
        with self.session_factory() as session:
            stmt = select(getattr(model, self.marker)).where(column == value)
            return _marker_text(session.scalars(stmt).first())
