"""watch(): a real SQLAlchemy declarative app on PostgreSQL, the AWS emulator and a
Dispatcher. The outbox row is written in the app's own transaction (or, with another
store, after the commit); the dispatcher syncs it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scimsync_sqlalchemy import SQLAlchemySource, SQLAlchemyStore, unwatch, watch
from sqlalchemy import Column, ForeignKey, String, Table, create_engine, func, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    scoped_session,
    sessionmaker,
)

from scimsync import (
    AWS,
    Backoff,
    Dispatcher,
    Policies,
    Provisioner,
    RetryPolicy,
    ScimClient,
    SQLiteStore,
    Target,
)
from scimsync.testing import EmulatorServer


class Base(DeclarativeBase):
    pass


membership = Table(
    "app_membership",
    Base.metadata,
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("app_group.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    groups: Mapped[list[Group]] = relationship(secondary=membership, back_populates="members")


class Group(Base):
    __tablename__ = "app_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    members: Mapped[list[User]] = relationship(secondary=membership, back_populates="groups")


class Team(Base):
    """Memberships as an association class (``memberships={TeamMember: "team_id"}``)."""

    __tablename__ = "app_team"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class TeamMember(Base):
    __tablename__ = "app_team_member"
    team_id: Mapped[int] = mapped_column(ForeignKey("app_team.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)


def person(n: int, **over: Any) -> User:
    fields: dict[str, Any] = {
        "username": f"user{n}@example.org",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "email": f"user{n}@example.org",
    }
    fields.update(over)
    return User(**fields)


class App:
    """The host application and scimsync wired together."""

    def __init__(self, url: str, server: EmulatorServer, store: Any = None) -> None:
        self.server = server
        self.engine = create_engine(url)
        Base.metadata.create_all(self.engine)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self.store = store if store is not None else SQLAlchemyStore(self.engine)
        self.source = SQLAlchemySource(self.Session, User, Group)
        self.client = ScimClient(server.base_url, server.token, retry=RetryPolicy.none())
        self.prov = Provisioner(
            source=self.source,
            store=self.store,
            targets=[
                Target(
                    name="aws",
                    client=self.client,
                    profile=AWS,
                    policies=Policies(user_lifecycle="delete"),
                )
            ],
        )
        self.watcher = watch(self.Session, self.prov, users=User, groups=Group)
        # A member's delete and its group's PATCH may run at once on two workers; AWS then
        # answers the group's member removal 400 once, and the retry settles it.
        self.dispatcher = Dispatcher(
            self.prov, workers=2, poll_interval=60.0, backoff=Backoff(base=0.05, maximum=0.5)
        )

    def close(self) -> None:
        self.dispatcher.stop()
        self.watcher.unwatch()
        self.store.close()
        self.client.close()
        self.engine.dispose()

    def flush(self) -> None:
        assert self.dispatcher.flush(timeout=60, include_retries=True)
        assert self.store.outbox() == []

    def remote_user(self, key: int) -> dict[str, Any] | None:
        link = self.store.get_link("aws", "user", str(key))
        return None if link is None else self.server.get_user(link.remote_id)

    def remote_members(self, group_key: int) -> set[str]:
        link = self.store.get_link("aws", "group", str(group_key))
        assert link is not None
        members = self.server.memberships().get(link.remote_id, set())
        return {lk.key for lk in self.store.iter_links("aws", "user") if lk.remote_id in members}


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer("aws") as srv:
        yield srv


@pytest.fixture
def app(postgres_url: str, server: EmulatorServer) -> Iterator[App]:
    made = App(postgres_url, server)
    made.dispatcher.start()
    try:
        yield made
    finally:
        made.close()


def outbox_keys(store: Any) -> list[tuple[str, str]]:
    return [(i.kind, i.key) for i in store.outbox()]


@pytest.mark.services
def test_commit_creates_the_user_on_the_target(app: App) -> None:
    with app.Session.begin() as session:
        ada = person(1)
        session.add(ada)
    assert outbox_keys(app.store) == [("user", str(ada.id))]
    assert app.watcher.transactional is True
    app.flush()
    remote = app.server.find_user("user1@example.org")
    assert remote is not None
    assert remote["externalId"] == str(ada.id)
    assert remote["name"] == {"givenName": "First1", "familyName": "Last1"}


@pytest.mark.services
def test_the_row_is_in_the_hosts_transaction_and_a_rollback_removes_it(app: App) -> None:
    session = app.Session()
    session.add(person(2))
    session.flush()
    outbox = app.store.tables.outbox
    # inside the transaction the row is there, on the host's own connection...
    inside = session.execute(select(outbox.c.kind, outbox.c.key)).all()
    assert [tuple(r) for r in inside] == [("user", str(session.scalars(select(User.id)).one()))]
    # ...and no other connection sees it before the commit
    assert app.store.outbox() == []
    session.rollback()
    session.close()
    assert app.store.outbox() == []
    app.flush()
    assert app.server.request_log == []
    assert app.server.users() == []


@pytest.mark.services
def test_commit_wakes_the_dispatcher_listeners(app: App) -> None:
    woken = threading.Event()
    app.prov.add_notify_listener(woken.set)
    with app.Session.begin() as session:
        session.add(person(3))
        session.flush()
        assert not woken.is_set()  # not before the commit
    assert woken.is_set()


@pytest.mark.services
def test_savepoints_commit_and_roll_back_with_the_host(app: App) -> None:
    woken = threading.Event()
    app.prov.add_notify_listener(woken.set)
    with app.Session.begin() as session:
        with session.begin_nested():  # released, but the outer transaction goes on
            kept = person(11)
            session.add(kept)
        assert not woken.is_set()
        try:
            with session.begin_nested():
                session.add(person(12))
                session.flush()
                raise RuntimeError("the host changes its mind")
        except RuntimeError:
            pass
        assert app.store.outbox() == []  # nothing visible before the real commit
    assert woken.is_set()
    assert outbox_keys(app.store) == [("user", str(kept.id))]
    app.flush()
    assert [u["userName"] for u in app.server.users()] == ["user11@example.org"]


@pytest.mark.services
def test_update_sends_a_patch(app: App) -> None:
    with app.Session.begin() as session:
        ada = person(4)
        session.add(ada)
    app.flush()
    app.server.reset_log()
    with app.Session.begin() as session:
        session.get_one(User, ada.id).last_name = "Lovelace"
    assert outbox_keys(app.store) == [("user", str(ada.id))]
    app.flush()
    patches = app.server.requests("PATCH", path_prefix="/Users/")
    assert len(patches) == 1
    assert "Lovelace" in str(patches[0].body)
    remote = app.remote_user(ada.id)
    assert remote is not None
    assert remote["name"]["familyName"] == "Lovelace"


@pytest.mark.services
def test_an_unchanged_object_enqueues_nothing(app: App) -> None:
    with app.Session.begin() as session:
        ada = person(5)
        session.add(ada)
    app.flush()
    with app.Session.begin() as session:
        same = session.get_one(User, ada.id)
        same.last_name = same.last_name  # set to the value it has: not modified
    assert app.store.outbox() == []


@pytest.mark.services
def test_delete_deprovisions_per_policy(app: App) -> None:
    with app.Session.begin() as session:
        ada = person(6)
        session.add(ada)
    app.flush()
    link = app.store.get_link("aws", "user", str(ada.id))
    assert link is not None
    assert app.server.get_user(link.remote_id) is not None
    with app.Session.begin() as session:
        session.delete(session.get_one(User, ada.id))
    assert outbox_keys(app.store) == [("user", str(ada.id))]
    app.flush()
    assert app.server.get_user(link.remote_id) is None  # Policies(user_lifecycle="delete")
    assert app.store.get_link("aws", "user", str(ada.id)) is None


@pytest.mark.services
def test_membership_changes_update_the_group(app: App) -> None:
    with app.Session.begin() as session:
        ada, bob, cy = person(7), person(8), person(9)
        eng = Group(name="Engineering", members=[ada, bob])
        session.add_all([ada, bob, cy, eng])
    app.flush()
    assert app.remote_members(eng.id) == {str(ada.id), str(bob.id)}

    with app.Session.begin() as session:  # the group's side of the relationship
        group = session.get_one(Group, eng.id)
        group.members.append(session.get_one(User, cy.id))
    assert outbox_keys(app.store) == [("group", str(eng.id))]
    app.flush()
    assert app.remote_members(eng.id) == {str(ada.id), str(bob.id), str(cy.id)}

    with app.Session.begin() as session:  # the user's side
        user, group = session.get_one(User, ada.id), session.get_one(Group, eng.id)
        user.groups.remove(group)
    assert ("group", str(eng.id)) in outbox_keys(app.store)
    app.flush()
    assert app.remote_members(eng.id) == {str(bob.id), str(cy.id)}

    with app.Session.begin() as session:  # a member is deleted: the group is recorded too
        session.delete(session.get_one(User, bob.id))
    assert sorted(outbox_keys(app.store)) == [("group", str(eng.id)), ("user", str(bob.id))]
    app.flush()
    assert app.remote_members(eng.id) == {str(cy.id)}


@pytest.mark.services
def test_unwatch_stops_recording(app: App) -> None:
    unwatch(app.watcher)
    with app.Session.begin() as session:
        session.add(person(10))
    assert app.store.outbox() == []


@pytest.mark.services
def test_reconcile_over_the_sqlalchemy_source(app: App) -> None:
    app.watcher.unwatch()  # rows written behind scimsync's back
    with app.Session.begin() as session:
        users = [person(n) for n in range(20, 26)]
        ops = Group(name="Ops", members=users[:3])
        session.add_all([*users, ops])
    assert app.store.outbox() == []
    summary = app.prov.reconcile("aws")
    assert summary.status == "complete"
    assert summary.counts.get("created", 0) == 7
    assert len(app.server.users()) == 6
    assert app.server.find_group("Ops") is not None
    assert app.remote_members(ops.id) == {str(u.id) for u in users[:3]}
    assert app.prov.reconcile("aws").counts.get("created", 0) == 0  # in step now


@pytest.mark.services
def test_another_store_falls_back_to_notify_after_commit(
    postgres_url: str, server: EmulatorServer, tmp_path: Path
) -> None:
    app = App(postgres_url, server, store=SQLiteStore(tmp_path / "state.db"))
    try:
        session = app.Session()
        session.add(person(30))
        session.flush()
        assert app.store.outbox() == []  # nothing before the commit
        session.rollback()
        session.close()
        assert app.watcher.transactional is False
        assert app.store.outbox() == []  # nor after a rollback
        with app.Session.begin() as session:
            ada = person(31)
            session.add(ada)
        assert outbox_keys(app.store) == [("user", str(ada.id))]
        app.dispatcher.start()
        app.flush()
        assert app.remote_user(ada.id) is not None
    finally:
        app.close()


# --- SQLite, no network: association classes and a store on another database --------


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[tuple[sessionmaker[Session], SQLAlchemyStore, Any]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    Base.metadata.create_all(engine)
    store = SQLAlchemyStore(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with EmulatorServer("aws") as srv:
        client = ScimClient(srv.base_url, srv.token)
        prov = Provisioner(
            source=SQLAlchemySource(factory, User, Group),
            store=store,
            targets=[Target(name="aws", client=client, profile=AWS)],
        )
        watcher = watch(
            factory, prov, users=User, groups=Group, memberships={TeamMember: "team_id"}
        )
        try:
            yield factory, store, watcher
        finally:
            watcher.unwatch()
            client.close()
            store.close()
            engine.dispose()


def test_association_class_rows_record_the_group(
    sqlite_app: tuple[sessionmaker[Session], SQLAlchemyStore, Any],
) -> None:
    factory, store, watcher = sqlite_app
    with factory.begin() as session:
        ada, team = person(40), Team(name="Blue")
        session.add_all([ada, team])
    for item in store.claim("test", 10, 60):
        assert store.complete(item)
    with factory.begin() as session:
        session.add(TeamMember(team_id=team.id, user_id=ada.id))
    assert outbox_keys(store) == [("group", str(team.id))]
    assert watcher.transactional is True
    for item in store.claim("test", 10, 60):
        assert store.complete(item)
    with factory.begin() as session:
        session.delete(session.get_one(TeamMember, (team.id, ada.id)))
    assert outbox_keys(store) == [("group", str(team.id))]


def test_sqlite_rollback_leaves_no_row(
    sqlite_app: tuple[sessionmaker[Session], SQLAlchemyStore, Any],
) -> None:
    factory, store, _watcher = sqlite_app
    with factory() as session:
        session.add(person(41))
        session.flush()
        outbox = store.tables.outbox
        n = session.execute(select(func.count()).select_from(outbox)).scalar()
        assert n == 1
        session.rollback()
    assert store.outbox() == []
    with factory.begin() as session:
        session.add(person(42))
    assert [k for k, _ in outbox_keys(store)] == ["user"]


def test_scoped_sessions_and_session_classes_can_be_watched(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    Base.metadata.create_all(engine)
    store = SQLAlchemyStore(engine)
    factory = sessionmaker(engine)
    client = ScimClient("http://127.0.0.1:9/scim/v2", "unused-token")
    prov = Provisioner(
        source=SQLAlchemySource(factory, User, Group),
        store=store,
        targets=[Target(name="aws", client=client, profile=AWS)],
    )
    scoped = scoped_session(factory)
    watcher = watch(scoped, prov, users=User)
    scoped.add(person(50))
    scoped.commit()
    watcher.unwatch()
    scoped.add(person(51))
    scoped.commit()
    scoped.remove()

    class AppSession(Session):
        pass

    watcher = watch(AppSession, prov, users=User)
    with AppSession(engine) as session:
        session.add(person(52))
        session.commit()
    with Session(engine) as session:  # another session class: not watched
        session.add(person(53))
        session.commit()
    watcher.unwatch()
    with factory() as session:
        ids: dict[str, int] = dict(session.execute(select(User.username, User.id)).all())
    assert outbox_keys(store) == [
        ("user", str(ids["user50@example.org"])),
        ("user", str(ids["user52@example.org"])),
    ]
    client.close()
    store.close()
    engine.dispose()
