"""SQLAlchemySource over a real SQLite database with real ORM models."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scimsync_sqlalchemy import SQLAlchemySource
from sqlalchemy import Column, ForeignKey, String, Table, create_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
    sessionmaker,
)

from scimsync import ConfigurationError, Source


class Base(DeclarativeBase):
    pass


member_table = Table(
    "src_member",
    Base.metadata,
    Column("user_id", ForeignKey("src_user.id"), primary_key=True),
    Column("group_id", ForeignKey("src_group.id"), primary_key=True),
)


class Person(Base):
    __tablename__ = "src_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4, unique=True)
    username: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(default=lambda: dt.datetime(2026, 5, 1, 10))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("src_user.id"))
    manager: Mapped[Person | None] = relationship(remote_side=[id])


class Team(Base):
    __tablename__ = "src_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=lambda: dt.datetime(2026, 5, 2, 10))
    people: Mapped[list[Person]] = relationship(secondary=member_table)


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    Base.metadata.create_all(engine)
    made = sessionmaker(engine)
    with made.begin() as session:
        boss = Person(id=1, username="boss")
        staff = [Person(id=i, username=f"u{i}", manager=boss) for i in (2, 3, 10)]
        session.add_all([boss, *staff])
        session.add(Team(id=7, slug="eng", people=[staff[0], staff[2]]))
        session.add(Team(id=8, slug="empty"))
    yield made
    engine.dispose()


def test_reads_users_groups_and_members(factory: sessionmaker[Session]) -> None:
    source = SQLAlchemySource(factory, Person, Team, members="people", marker="updated_at")
    assert isinstance(source, Source)
    user = source.get_user("2")
    assert isinstance(user, Person)
    assert user.username == "u2"
    assert source.get_user("99") is None
    assert source.get_user("not-a-number") is None  # an integer key column
    assert list(source.iter_user_keys()) == ["1", "2", "3", "10"]
    assert list(source.iter_group_keys()) == ["7", "8"]
    group = source.get_group("7")
    assert isinstance(group, Team)
    assert group.slug == "eng"
    assert source.group_member_keys("7") == ["2", "10"]
    assert source.group_member_keys("8") == []
    assert source.group_member_keys("404") == []
    assert source.change_marker("user", "2") == "2026-05-01T10:00:00"
    assert source.change_marker("group", "7") == "2026-05-02T10:00:00"
    assert source.change_marker("user", "99") is None


def test_reads_are_fresh_each_time(factory: sessionmaker[Session]) -> None:
    source = SQLAlchemySource(factory, Person, Team, members="people")
    before = source.get_user("3")
    assert isinstance(before, Person)
    with factory.begin() as session:
        person, team = session.get_one(Person, 3), session.get_one(Team, 8)
        person.username = "renamed"
        team.people.append(person)
    after = source.get_user("3")
    assert isinstance(after, Person)
    assert after.username == "renamed"
    assert source.group_member_keys("8") == ["3"]


def test_other_key_columns_and_loader_options(factory: sessionmaker[Session]) -> None:
    source = SQLAlchemySource(
        factory,
        Person,
        Team,
        user_key="uid",
        group_key="slug",
        members="people",
        user_options=[selectinload(Person.manager)],
    )
    keys = list(source.iter_user_keys())
    assert len(keys) == 4
    assert all(uuid.UUID(k) for k in keys)
    user: Any = source.get_user(keys[0])
    assert user is not None
    assert source.get_user("not-a-uuid") is None
    assert source.group_member_keys("eng") == sorted(
        str(u.uid) for u in (source.get_user(k) for k in keys) if u.username in ("u2", "u10")
    )
    staff: Any = next(
        u for u in (source.get_user(k) for k in keys) if u is not None and u.username == "u2"
    )
    assert staff.manager.username == "boss"  # loaded by the option, read while detached


def test_members_as_a_callable(factory: sessionmaker[Session]) -> None:
    def members(session: Session, team: Team) -> list[Any]:
        return [*team.people, "77"]  # user objects or keys

    source = SQLAlchemySource(factory, Person, Team, members=members)
    assert source.group_member_keys("7") == ["2", "10", "77"]


def test_users_only(factory: sessionmaker[Session]) -> None:
    source = SQLAlchemySource(factory, Person)
    assert source.get_group("7") is None
    assert list(source.iter_group_keys()) == []
    assert source.group_member_keys("7") == []
    assert source.change_marker("user", "1") is None


def test_configuration_errors(factory: sessionmaker[Session]) -> None:
    with pytest.raises(ConfigurationError, match="not a mapped class"):
        SQLAlchemySource(factory, dict)
    with pytest.raises(ConfigurationError, match="email"):
        SQLAlchemySource(factory, Person, user_key="email")
    with pytest.raises(ConfigurationError, match="no relationship 'members'"):
        SQLAlchemySource(factory, Person, Team)
    with pytest.raises(ConfigurationError, match="does not lead"):
        SQLAlchemySource(factory, Team, Person, members="manager")
