"""``scimsync demo``: the whole product, end to end, in under a minute, with no setup.

1. Starts the AWS-profile SCIM emulator in this process (127.0.0.1, a free port).
2. Provisions a bundled sample directory (1,000 users, 30 groups; a few users carry data
   AWS refuses) with a bulk sync.
3. Applies a day of changes through **automatic mode**: each change only notifies a key
   (an outbox row); a :class:`~scimsync.Dispatcher` drains the outbox.
4. Changes the target **behind scimsync's back** (a console edit, a deleted user, a
   removed member, a hand-made user) and runs a **deep reconcile** that repairs it.
5. Prints a summary and writes the SQLite store, a log and CSV/JSON reports into the
   work directory, with a ``scimsync.toml`` so ``scimsync report`` works there at once.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from scimsync.demo_data import DATA_DIR

if TYPE_CHECKING:
    from scimsync._cli import Console, Redactor

__all__ = ["DemoDirectory", "run_demo"]

log = logging.getLogger("scimsync.demo")

TARGET = "aws"

#: The demo's user mapping, in the same shape as ``[targets.NAME.user_mapping]``.
USER_MAPPING: dict[str, Any] = {
    "userName": "username",
    "name.givenName": "first_name",
    "name.familyName": "last_name",
    "displayName": {"template": "{first_name} {last_name}", "transforms": ["collapse_whitespace"]},
    'emails[type eq "work"].value': {"source": "email", "transforms": ["lower"]},
    'emails[type eq "home"].value': {"source": "personal_email", "transforms": ["lower"]},
    "title": "title",
    'addresses[type eq "work"].locality': "location",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "department",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "employee_number",
    "active": {"source": "is_active", "transforms": ["bool"]},
}
GROUP_MAPPING: dict[str, Any] = {"displayName": "name"}


class DemoDirectory:
    """The demo's source: an in-memory HR directory that can change (a :class:`~scimsync.Source`).

    Users are dicts with the CSV's columns (an empty cell is ``None``); groups are dicts
    with ``id``, ``name`` and ``members`` (user keys). Every change bumps the object's
    change marker, so an incremental reconcile can skip what did not change.
    """

    def __init__(self, users: list[dict[str, Any]], groups: list[dict[str, Any]]) -> None:
        self.users: dict[str, dict[str, Any]] = {u["id"]: u for u in users}
        self.groups: dict[str, dict[str, Any]] = {g["id"]: g for g in groups}
        self._versions: dict[tuple[str, str], int] = {}

    @classmethod
    def bundled(cls) -> DemoDirectory:
        """The sample directory shipped in ``scimsync/demo_data``."""
        with open(DATA_DIR / "users.csv", encoding="utf-8", newline="") as fh:
            users = [
                {k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(fh)
            ]
        groups = json.loads((DATA_DIR / "groups.json").read_text(encoding="utf-8"))
        return cls(users, groups)

    # -- the Source protocol

    def get_user(self, key: str) -> dict[str, Any] | None:
        """A user by key, or ``None``."""
        return self.users.get(key)

    def get_group(self, key: str) -> dict[str, Any] | None:
        """A group by key, or ``None``."""
        return self.groups.get(key)

    def iter_user_keys(self) -> Iterator[str]:
        """Every user key."""
        return iter(list(self.users))

    def iter_group_keys(self) -> Iterator[str]:
        """Every group key."""
        return iter(list(self.groups))

    def group_member_keys(self, group_key: str) -> list[str]:
        """A group's member keys (only users that exist)."""
        group = self.groups.get(group_key)
        if group is None:
            return []
        return [m for m in group["members"] if m in self.users]

    def change_marker(self, kind: str, key: str) -> str | None:
        """A version counter per object, bumped by every change."""
        return str(self._versions.get((kind, key), 0))

    # -- changes

    def _bump(self, kind: str, key: str) -> None:
        self._versions[(kind, key)] = self._versions.get((kind, key), 0) + 1

    def apply(self, change: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Apply one change of ``changes.json``; return the ``(kind, key)`` pairs it touched."""
        op = change["op"]
        touched: list[tuple[str, str]] = []
        if op in ("update_user", "create_user"):
            if op == "create_user":
                user = {k: (v if v != "" else None) for k, v in change["user"].items()}
                key = str(change["user"]["id"])
                self.users[key] = user
            else:
                key = str(change["key"])
                self.users[key].update(change.get("set", {}))
            self._bump("user", key)
            touched.append(("user", key))
            for gid in change.get("groups", {}).get("remove", []):
                self.groups[gid]["members"].remove(key)
                self._bump("group", gid)
                touched.append(("group", gid))
            for gid in change.get("groups", {}).get("add", []):
                self.groups[gid]["members"].append(key)
                self._bump("group", gid)
                touched.append(("group", gid))
        elif op == "delete_user":
            key = change["key"]
            del self.users[key]
            self._bump("user", key)
            touched.append(("user", key))
            for gid, group in self.groups.items():
                if key in group["members"]:
                    group["members"].remove(key)
                    self._bump("group", gid)
                    touched.append(("group", gid))
        elif op == "remove_members":
            gid = change["group"]
            for key in change["members"]:
                self.groups[gid]["members"].remove(key)
            self._bump("group", gid)
            touched.append(("group", gid))
        elif op == "rename_group":
            gid = change["group"]
            self.groups[gid]["name"] = change["name"]
            self._bump("group", gid)
            touched.append(("group", gid))
        elif op == "delete_group":
            gid = change["group"]
            del self.groups[gid]
            self._bump("group", gid)
            touched.append(("group", gid))
        else:  # pragma: no cover - the bundled data only uses the ops above
            raise ValueError(f"unknown change op {op!r}")
        return touched

    def as_json_document(self) -> dict[str, Any]:
        """``{"users": [...], "groups": [...]}``, the shape :class:`~scimsync.JSONSource` reads."""
        return {"users": list(self.users.values()), "groups": list(self.groups.values())}


def _name(user: Mapping[str, Any] | None) -> str:
    if not user:
        return "?"
    return " ".join(str(user.get(k) or "") for k in ("first_name", "last_name")).strip()


class _Phase:
    """Counts what one phase did: outcomes (from the store's records) and requests."""

    def __init__(self, title: str, store: Any, client: Any) -> None:
        from scimsync._store._records import utcnow

        self.title = title
        self._store = store
        self._client = client
        self._since = utcnow()
        self._requests0 = client.request_count
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        self.requests = 0
        self.records: list[Any] = []

    def end(self) -> _Phase:
        from scimsync._store._records import utcnow

        self.seconds = time.perf_counter() - self._t0
        self.requests = self._client.request_count - self._requests0
        until = utcnow()
        self.records = [
            r
            for r in self._store.query_reports(target=TARGET, since=self._since)
            if r.time <= until
        ]
        return self

    def counts(self, kind: str | None = None) -> dict[str, int]:
        """Objects per outcome (an object retried within the phase counts once per outcome)."""
        seen: set[tuple[str, str, str]] = set()
        out: dict[str, int] = {}
        for r in self.records:
            if kind is not None and r.kind != kind:
                continue
            ident = (r.kind, r.key, str(r.outcome))
            if ident in seen:
                continue
            seen.add(ident)
            out[str(r.outcome)] = out.get(str(r.outcome), 0) + 1
        return out


_OUTCOME_ORDER = (
    "created",
    "adopted",
    "updated",
    "unchanged",
    "deactivated",
    "deleted",
    "skipped",
    "held",
    "failed",
)


def _failures_note(phase: _Phase, invalid_keys: set[str]) -> str:
    failed = {r.key for r in phase.records if str(r.outcome) == "failed" and r.kind == "user"}
    if not failed:
        return "  no failures"
    if failed <= invalid_keys:
        return (
            f"  the {len(failed)} failure(s) are the invalid users again "
            "(checked, still invalid, still not sent)"
        )
    return f"  failures: {', '.join(sorted(failed, key=str))} (see the report)"


def _visible(text: str) -> str:
    """Show invisible characters (zero-width spaces...) as ``<U+200B>``."""
    import unicodedata

    return "".join(
        f"<U+{ord(ch):04X}>" if unicodedata.category(ch) in ("Cf", "Cc") else ch for ch in text
    )


def _counts_text(counts: Mapping[str, int]) -> str:
    parts = [f"{o} {counts[o]:,}" for o in _OUTCOME_ORDER if counts.get(o)]
    parts += [f"{k} {v:,}" for k, v in counts.items() if k not in _OUTCOME_ORDER and v]
    return ", ".join(parts) or "nothing"


def run_demo(
    console: Console,
    *,
    workdir: str | Path | None = None,
    redactor: Redactor | None = None,
) -> int:
    """Run the demo; returns the exit code (0 when every step did what it should).

    Args:
        console: where to print.
        workdir: where to write the store, the log and the reports (default: a new
            temporary directory, kept after the demo).
        redactor: registers the emulator's token so no output can contain it.
    """
    from scimsync._cli import ExitCode, run_reconcile
    from scimsync._client import ScimClient
    from scimsync._dispatch import Dispatcher
    from scimsync._engine import Policies, Provisioner, Scope, Target
    from scimsync._mapping import GroupMapping, UserMapping
    from scimsync._store import SQLiteStore
    from scimsync.profiles import MissingNames, get_profile
    from scimsync.testing import EmulatorServer

    c = console
    started = time.perf_counter()
    work = (Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="scimsync-demo-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "scimsync.log"
    file_handler = _file_log(log_path, redactor)

    directory = DemoDirectory.bundled()
    initial_users = {k: copy.deepcopy(v) for k, v in directory.users.items()}
    changes = json.loads((DATA_DIR / "changes.json").read_text(encoding="utf-8"))
    biggest = max(directory.groups.values(), key=lambda g: len(g["members"]))

    arrow, check, cross = c.sym("\u2192", "->"), c.sym("\u2714", "ok"), c.sym("\u2718", "FAILED")
    # SCIMSYNC_DEMO_TOKEN, when set, is the emulator's token (the scimsync.toml the demo
    # writes names that variable); otherwise the emulator makes up a random one.
    token = os.environ.get("SCIMSYNC_DEMO_TOKEN", "").strip()
    server = EmulatorServer("aws", tokens=[token] if token else None).start()
    store: Any = None
    try:
        if redactor is not None:
            redactor.add(server.token)
        # The aws profile fills a missing given/family name with a placeholder by default;
        # the demo asks it to refuse such users instead, to show the validation report.
        profile = attrs.evolve(get_profile("aws"), missing_names=MissingNames("fail"))
        client = ScimClient(server.base_url, server.token, pool_size=8)
        store = SQLiteStore(str(work / "scimsync.sqlite3"))
        target = Target(
            name=TARGET,
            client=client,
            profile=profile,
            user_mapping=UserMapping.from_dict(USER_MAPPING, where="demo.user_mapping"),
            group_mapping=GroupMapping.from_dict(GROUP_MAPPING, where="demo.group_mapping"),
            policies=Policies(
                user_lifecycle="deactivate", group_lifecycle="delete", deletion_threshold=25
            ),
            scope=Scope(predicate=lambda u: str(u.get("is_active")).lower() == "true"),
            concurrency=4,
        )
        prov = Provisioner(source=directory, store=store, targets=[target])

        c.print(
            c.style("scimsync demo", "bold")
            + f": Northwind Outfitters {arrow} AWS IAM Identity Center (emulated)"
        )
        c.print(f"  SCIM endpoint   {server.base_url}  (aws profile, in this process)")
        c.print(
            f"  directory       {len(directory.users):,} users, {len(directory.groups)} groups "
            f"(largest: {biggest['name']}, {len(biggest['members'])} members)"
        )
        c.print(f"  work directory  {work}")
        c.print()

        # ---------------------------------------------------------------- phase 1
        c.print(
            c.style("[1/3] Initial provisioning", "bold")
            + "  (a first reconcile: users first, then groups and their members)"
        )
        p1 = _Phase("initial provisioning", store, client)
        run_reconcile(
            prov,
            TARGET,
            mode="incremental",
            dry_run=False,
            console=c,
            label="provisioning",
            plain_steps=0,
        )
        p1.end()
        invalid_keys = {
            r.key for r in p1.records if str(r.outcome) == "failed" and r.kind == "user"
        }
        c.print(
            f"  users: {_counts_text(p1.counts('user'))}   groups: {_counts_text(p1.counts('group'))}"
        )
        if invalid_keys:
            c.print(
                f"  {len(invalid_keys)} users have data AWS would refuse: not sent (details below)"
            )
        patches = sum(1 for e in server.request_log if e.method == "PATCH" and "/Groups/" in e.path)
        c.print(
            f"  {p1.requests:,} requests in {p1.seconds:.1f} s "
            f"(memberships in {patches} PATCH requests of at most {profile.max_members_per_patch} members)"
        )
        c.print()

        # ---------------------------------------------------------------- phase 2
        c.print(
            c.style("[2/3] A day of changes", "bold")
            + f"  (automatic mode: notify {arrow} outbox {arrow} dispatcher)"
        )
        p2 = _Phase("day of changes", store, client)
        dispatcher = Dispatcher(prov, workers=4, poll_interval=0.05)
        notified = 0
        narrative: list[tuple[Mapping[str, Any], str, tuple[str, str]]] = []
        dispatcher.start()
        try:
            for ch in changes:
                before = copy.deepcopy(directory.users.get(ch.get("key", ""), {}))
                touched = directory.apply(ch)
                for kind, key in touched:
                    prov.notify(kind, key)
                    notified += 1
                narrative.append((ch, _describe_change(ch, before, directory, arrow), touched[0]))
            drained = dispatcher.flush(timeout=60.0)
        finally:
            dispatcher.stop()
        p2.end()
        rank = {
            o: i
            for i, o in enumerate(
                (
                    "failed",
                    "created",
                    "deleted",
                    "deactivated",
                    "updated",
                    "adopted",
                    "held",
                    "skipped",
                    "unchanged",
                )
            )
        }
        last: dict[tuple[str, str], str] = {}
        for r in p2.records:  # the most telling outcome of each object in this phase
            cur = last.get((r.kind, r.key))
            if cur is None or rank.get(str(r.outcome), 99) < rank.get(cur, 99):
                last[(r.kind, r.key)] = str(r.outcome)
        for ch, text, subject in narrative:
            outcome = last.get(subject, "?")
            c.print(
                f"  {ch['time']}  {text}  {c.outcome(outcome)}{' ' * (12 - len(outcome))}{ch['why']}"
            )
        stats = getattr(dispatcher, "stats", None)
        c.print(
            f"  {len(changes)} changes {arrow} {notified} notifications {arrow} "
            f"{getattr(stats, 'synced', '?')} syncs by {dispatcher.workers} worker threads "
            f"in {p2.seconds:.1f} s, {p2.requests} requests"
        )
        c.print(
            f"  users: {_counts_text(p2.counts('user'))}   groups: {_counts_text(p2.counts('group'))}"
        )
        c.print(_failures_note(p2, invalid_keys))
        ok2 = drained and not getattr(stats, "dead", 0)
        c.print()

        # ---------------------------------------------------------------- phase 3
        c.print(
            c.style("[3/3] Drift repair", "bold")
            + "  (changes made on AWS behind scimsync's back, then a deep reconcile)"
        )
        drift = _make_drift(server, store, directory)
        for line in drift.describe():
            c.print(f"  - {line}")
        p3 = _Phase("deep reconcile", store, client)
        summary = _deep_reconcile(prov, c)
        p3.end()
        c.print(f"  {_counts_text(p3.counts())}   ({p3.requests} requests in {p3.seconds:.1f} s)")
        c.print(_failures_note(p3, invalid_keys))
        orphans = list(getattr(summary, "orphans", []) or [])
        if orphans:
            names = ", ".join(str(o.display or o.remote_id) for o in orphans[:3])
            c.print(
                f"  {len(orphans)} orphan(s) on the target: {names}; "
                "left alone (orphan policy: ignore)"
            )
        verdicts = drift.verify(server, store, summary)
        for ok, text in verdicts:
            c.print(f"  {c.style(check, 'green') if ok else c.style(cross, 'red')} {text}")
        c.print()

        # ---------------------------------------------------------------- summary
        phases = [p1, p2, p3]
        _print_summary(c, phases)
        invalid = list({r.key: r for r in p1.records if str(r.outcome) == "failed"}.values())
        if invalid:
            c.print()
            c.print(
                c.style(
                    f"Users AWS would refuse ({len(invalid)}), not sent; fix them in the source:",
                    "bold",
                )
            )
            for r in invalid:
                user = initial_users.get(r.key)
                c.print(f"  user {r.key} ({_visible(_name(user)) or r.display}):")
                for msg in _problem_lines(r.error or ""):
                    c.print(f"      {msg}")
        c.print()
        reports = _write_reports(work, store, directory, server.base_url)
        c.print(c.style("Where it is", "bold"))
        c.print(f"  state store   {work / 'scimsync.sqlite3'}")
        c.print(f"  CSV report    {reports['csv']}  ({reports['count']:,} records)")
        c.print(f"  JSON report   {reports['json']}")
        c.print(f"  log           {log_path}")
        c.print(f"  explore       scimsync report -c {reports['config']} --outcome failed")
        total = time.perf_counter() - started
        everything_ok = ok2 and all(ok for ok, _ in verdicts) and summary is not None
        c.print()
        if everything_ok:
            c.print(f"Done in {total:.1f} s.")
            return ExitCode.OK
        c.print(f"Finished in {total:.1f} s, but a step did not do what it should (see above).")
        return ExitCode.PARTIAL
    finally:
        server.stop()
        if store is not None:
            with contextlib.suppress(Exception):
                store.close()
        if file_handler is not None:
            logging.getLogger("scimsync").removeHandler(file_handler)
            file_handler.close()


def _file_log(path: Path, redactor: Redactor | None) -> logging.Handler | None:
    from scimsync._cli import _RedactingFilter

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)  # every request, for the curious
    if redactor is not None:
        handler.addFilter(_RedactingFilter(redactor))
    root = logging.getLogger("scimsync")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    return handler


def _describe_change(
    ch: Mapping[str, Any], before: Mapping[str, Any], directory: DemoDirectory, arrow: str
) -> str:
    """One aligned narrative line: subject, what happened, why."""
    op = ch["op"]
    if op in ("update_user", "create_user", "delete_user"):
        key = ch["user"]["id"] if op == "create_user" else ch["key"]
        subject = f"user {key}"
        if op == "create_user":
            what = f"{_name(ch['user'])} joins"
        elif op == "delete_user":
            what = f"{_name(before)} deleted from HR"
        else:
            user = directory.users[key]
            sets = ch.get("set", {})
            if "first_name" in sets or "last_name" in sets:
                what = f"{_name(before)} {arrow} {_name(user)}"
            elif sets.get("is_active") == "false":
                what = f"{_name(user)} leaves"
            else:
                moved = [
                    f"{before.get(k)} {arrow} {v}" for k, v in sets.items() if k == "department"
                ]
                what = f"{_name(user)}: " + ", ".join(moved or sorted(sets))
    else:
        subject = f"group {ch['group']}"
        if op == "remove_members":
            what = f"{len(ch['members'])} members removed"
        elif op == "rename_group":
            what = f"renamed {arrow} {ch['name']}"
        else:
            what = "deleted"
    return f"{subject:<22} {_clip(what, 44):<44}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


class _Drift:
    """Changes made directly on the emulator, and how to check they were repaired."""

    def __init__(self) -> None:
        self.renamed: tuple[str, str, str] | None = None  # (key, remote id, expected displayName)
        self.deleted: tuple[str, str, str] | None = None  # (key, old remote id, userName)
        self.unmembered: tuple[str, str, str, str] | None = None  # (group key, gid, user key, uid)
        self.orphan: str | None = None  # remote id
        self.lines: list[str] = []

    def describe(self) -> list[str]:
        return self.lines

    def verify(self, server: Any, store: Any, summary: Any) -> list[tuple[bool, str]]:
        out: list[tuple[bool, str]] = []
        if self.renamed:
            key, rid, want = self.renamed
            got = (server.get_user(rid) or {}).get("displayName")
            out.append((got == want, f"user {key}'s displayName is {want!r} again"))
        if self.deleted:
            key, old_rid, user_name = self.deleted
            link = store.get_link(TARGET, "user", key)
            now = server.find_user(user_name)
            ok = link is not None and now is not None and now["id"] == link.remote_id != old_rid
            out.append((ok, f"user {key} was recreated on AWS and relinked"))
        if self.unmembered:
            gkey, gid, ukey, uid = self.unmembered
            link = store.get_link(TARGET, "user", ukey)
            rid = link.remote_id if link else uid
            ok = rid in server.memberships().get(gid, set())
            out.append((ok, f"user {ukey} is back in group {gkey}"))
        if self.orphan:
            listed = {str(o.remote_id) for o in getattr(summary, "orphans", None) or []}
            ok = server.get_user(self.orphan) is not None and self.orphan in listed
            out.append((ok, "the hand-made user was listed as an orphan and left alone"))
        return out


def _make_drift(server: Any, store: Any, directory: DemoDirectory) -> _Drift:
    d = _Drift()
    linked = {
        link.key: link
        for link in store.iter_links(TARGET, "user")
        if link.state == "active" and link.key in directory.users
    }
    keys = sorted(linked, key=int)
    k1, k2 = keys[10], keys[20]
    u1 = directory.users[k1]
    want = f"{u1['first_name']} {u1['last_name']}"
    server.mutate_user(linked[k1].remote_id, displayName="Temporary Admin (do not use)")
    d.renamed = (k1, linked[k1].remote_id, want)
    d.lines.append(
        f"user {k1} ({want}) renamed to 'Temporary Admin (do not use)' in the AWS console"
    )
    u2 = directory.users[k2]
    server.delete_user(linked[k2].remote_id)
    d.deleted = (k2, linked[k2].remote_id, str(u2["username"]))
    d.lines.append(f"user {k2} ({_name(u2)}) deleted in the AWS console")
    glink = store.get_link(TARGET, "group", "engineering")
    members = [
        m for m in directory.group_member_keys("engineering") if m in linked and m not in (k1, k2)
    ]
    if glink is not None and members:
        ukey = members[5]
        uid = linked[ukey].remote_id
        server.remove_member(glink.remote_id, uid)
        d.unmembered = ("engineering", glink.remote_id, ukey, uid)
        d.lines.append(
            f"user {ukey} ({_name(directory.users[ukey])}) removed from Engineering by hand"
        )
    orphan = server.seed_user(
        userName="break.glass.admin",
        name={"givenName": "Break-Glass", "familyName": "Admin"},
        displayName="Break-Glass Admin",
        active=True,
    )
    d.orphan = str(orphan["id"])
    d.lines.append("a 'break.glass.admin' user created by hand in the console (nobody's link)")
    return d


def _deep_reconcile(prov: Any, c: Console) -> Any:
    from scimsync._cli import run_reconcile

    return run_reconcile(
        prov, TARGET, mode="deep", dry_run=False, console=c, label="reconcile", plain_steps=0
    )


def _print_summary(c: Console, phases: list[_Phase]) -> None:
    cols = [o for o in _OUTCOME_ORDER if any(p.counts().get(o) for p in phases)]
    head = ["phase", *cols, "requests", "seconds"]
    rows = [
        [
            p.title,
            *[f"{p.counts().get(o, 0):,}" for o in cols],
            f"{p.requests:,}",
            f"{p.seconds:.1f}",
        ]
        for p in phases
    ]
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    c.print(c.style("Summary", "bold") + "  (records per outcome, from the report store)")
    c.print(
        "  "
        + "  ".join(
            h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(head)
        )
    )
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            if i == 0:
                cells.append(v.ljust(widths[0]))
            elif 0 < i <= len(cols) and v != "0":
                cells.append(c.outcome(cols[i - 1]).replace(cols[i - 1], v.rjust(widths[i])))
            else:
                cells.append(v.rjust(widths[i]))
        c.print("  " + "  ".join(cells))


def _problem_lines(error: str) -> list[str]:
    # "user 137 is invalid: user 137: name.familyName is required ...; user 137: ..."
    text = error.split(" is invalid: ", 1)[-1]
    out = []
    for part in text.split("; "):
        part = part.strip()
        if part.startswith("user ") and ": " in part:
            part = part.split(": ", 1)[1]
        if part:
            out.append(part)
    return out or [error]


def _write_reports(work: Path, store: Any, directory: DemoDirectory, url: str) -> dict[str, Any]:
    from scimsync._reports import to_csv, to_json

    records = store.query_reports(target=TARGET)
    csv_path = work / "report.csv"
    json_path = work / "report.json"
    to_csv(records, csv_path)
    to_json(records, json_path)
    (work / "directory.json").write_text(
        json.dumps(directory.as_json_document(), indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    config = work / "scimsync.toml"
    config.write_text(
        "# Written by `scimsync demo`: point `scimsync report` / `approvals list` at the demo's\n"
        "# store. The emulator stopped with the demo; to sync for real, change the url and\n"
        "# export the token in SCIMSYNC_DEMO_TOKEN.\n\n"
        '[source]\ntype = "json"\npath = "directory.json"\n\n'
        '[store]\npath = "scimsync.sqlite3"\n\n'
        f'[targets.{TARGET}]\nurl = "{url}"\nprofile = "aws"\ntoken_env = "SCIMSYNC_DEMO_TOKEN"\n',
        encoding="utf-8",
    )
    return {"csv": csv_path, "json": json_path, "config": config, "count": len(records)}
