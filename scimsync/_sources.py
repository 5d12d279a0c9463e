"""The source seam: how scimsync reads the host's users and groups.

The host implements :class:`Source` (five small methods) over its own models. Three ready
sources cover the rest: :class:`IterableSource` over Python objects or dicts,
:class:`CSVSource` and :class:`JSONSource` over HR exports.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import attrs

from scimsync._transforms import PluginRegistry
from scimsync.errors import ConfigurationError

__all__ = [
    "CSVSource",
    "IterableSource",
    "JSONSource",
    "Source",
    "SourceProblem",
    "change_marker",
    "get_source_factory",
    "python_source",
    "register_source",
    "source_problems",
    "source_type_names",
]

log = logging.getLogger("scimsync.sources")

#: Extracts a value from a source object: an attribute/key name (dotted for nesting) or a
#: callable.
Getter = str | Callable[[Any], Any]


@runtime_checkable
class Source(Protocol):
    """What the engine reads from the host: users, groups and memberships, by string key.

    Keys are strings (``str(pk)``). Objects are whatever the host's mapping reads (model
    instances, dicts). The ``iter_*`` methods should stream (a generator over a
    server-side cursor, not a list of 100,000 objects).

    A source may also have ``change_marker(kind, key) -> str | None`` (e.g. the
    ``updated_at`` of the row, as text), which lets an incremental reconcile skip objects
    that have not changed; it is optional, and :func:`change_marker` calls it when present.

    .. versionadded:: 0.1.0
    """

    def get_user(self, key: str) -> object | None:
        """The user with this key, or ``None`` if there is none (deleted)."""
        ...

    def get_group(self, key: str) -> object | None:
        """The group with this key, or ``None``."""
        ...

    def iter_user_keys(self) -> Iterable[str]:
        """Every user key."""
        ...

    def iter_group_keys(self) -> Iterable[str]:
        """Every group key."""
        ...

    def group_member_keys(self, group_key: str) -> Iterable[str]:
        """The keys of the users who are members of the group."""
        ...


def change_marker(source: Source, kind: str, key: str) -> str | None:
    """``source.change_marker(kind, key)`` if the source has one, else ``None``."""
    method = getattr(source, "change_marker", None)
    if method is None:
        return None
    value = method(kind, key)
    return None if value is None else str(value)


@attrs.frozen
class SourceProblem:
    """One bad row or object in a source file; the row is skipped, the others are read.

    Attributes:
        file: the file's path.
        line: the 1-based line the row starts on, if known.
        column: the column (CSV) or JSON path (``users[3].id``), if known.
        message: what is wrong.

    .. versionadded:: 0.1.0
    """

    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}"


def source_problems(source: Source) -> list[SourceProblem]:
    """The problems a source found reading its input (empty for sources that have none).

    A source with problems has been read incompletely: a key on a skipped row looks like
    a deleted object, so the engine must not deprovision on such a read.
    """
    problems = getattr(source, "problems", None)
    if callable(problems):
        problems = problems()
    return list(problems or [])


def _getter(spec: Getter, what: str) -> Callable[[Any], Any]:
    if callable(spec):
        return spec
    if not isinstance(spec, str) or not spec:
        raise ConfigurationError(f"{what} must be an attribute name or a callable, got {spec!r}")
    parts = spec.split(".")

    def get(obj: Any) -> Any:
        for part in parts:
            if obj is None:
                return None
            obj = obj.get(part) if isinstance(obj, Mapping) else getattr(obj, part, None)
        return obj

    return get


def _key_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def _marker_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    return str(value)


class IterableSource:
    """A :class:`Source` over Python objects or dicts held in memory.

    Args:
        users: the users (objects or dicts).
        groups: the groups.
        key: how to get a user's key: attribute/dict key name (dotted for nested) or a
            callable. The value is turned into a string.
        group_key: the same for groups (defaults to ``key``).
        members: how to get a group's members: a name or callable returning user keys or
            user objects (whose key is taken with ``key``).
        marker: optional name or callable giving a change marker (``"updated_at"``).

    Raises:
        ConfigurationError: two objects share a key, or one has no key.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        users: Iterable[Any] = (),
        groups: Iterable[Any] = (),
        *,
        key: Getter = "id",
        group_key: Getter | None = None,
        members: Getter = "members",
        marker: Getter | None = None,
    ) -> None:
        self._user_key = _getter(key, "key")
        self._group_key = _getter(group_key if group_key is not None else key, "group_key")
        self._members = _getter(members, "members")
        self._marker = None if marker is None else _getter(marker, "marker")
        self._users = self._index(users, self._user_key, "user")
        self._groups = self._index(groups, self._group_key, "group")

    @staticmethod
    def _index(objs: Iterable[Any], get: Callable[[Any], Any], kind: str) -> dict[str, Any]:
        index: dict[str, Any] = {}
        for n, obj in enumerate(objs):
            key = _key_text(get(obj))
            if key is None:
                raise ConfigurationError(f"{kind} #{n} ({obj!r:.80}) has no key")
            if key in index:
                raise ConfigurationError(f"{kind} #{n}: key {key!r} is used twice")
            index[key] = obj
        return index

    def get_user(self, key: str) -> object | None:
        """See :meth:`Source.get_user`."""
        return self._users.get(key)

    def get_group(self, key: str) -> object | None:
        """See :meth:`Source.get_group`."""
        return self._groups.get(key)

    def iter_user_keys(self) -> Iterator[str]:
        """See :meth:`Source.iter_user_keys`."""
        return iter(list(self._users))

    def iter_group_keys(self) -> Iterator[str]:
        """See :meth:`Source.iter_group_keys`."""
        return iter(list(self._groups))

    def group_member_keys(self, group_key: str) -> list[str]:
        """See :meth:`Source.group_member_keys`; an unknown group has no members."""
        group = self._groups.get(group_key)
        if group is None:
            return []
        found = self._members(group) or ()
        if isinstance(found, str | bytes):
            raise ConfigurationError(
                f"group {group_key}: members must be a collection, got a string {found!r:.60}"
            )
        keys: list[str] = []
        for member in found:
            if isinstance(member, str | int):
                text = _key_text(member)
            else:
                text = _key_text(self._user_key(member))
            if text is not None and text not in keys:
                keys.append(text)
        return keys

    def change_marker(self, kind: str, key: str) -> str | None:
        """The marker of a user or group, or ``None``."""
        if self._marker is None:
            return None
        obj = (self._users if kind == "user" else self._groups).get(key)
        return None if obj is None else _marker_text(self._marker(obj))


# --- files ------------------------------------------------------------------------------


class _Lines:
    """Decoded lines of a binary file, remembering where each starts (for seeking back)."""

    def __init__(self, fh: IO[bytes], encoding: str, lineno: int = 0) -> None:
        self._readline = fh.readline
        self._encoding = encoding
        self.lineno = lineno  # lines handed out so far
        self.offset = fh.tell()  # where the next line starts

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        # Lines end at b"\n", which no ASCII-compatible encoding uses inside a character,
        # so each line decodes on its own.
        raw = self._readline()
        if not raw:
            raise StopIteration
        self.lineno += 1
        self.offset += len(raw)
        return raw.decode(self._encoding)


def _check_encoding(encoding: str) -> str:
    try:
        info = codecs.lookup(encoding)
    except LookupError as exc:
        raise ConfigurationError(f"unknown encoding {encoding!r}") from exc
    try:
        ascii_ok = codecs.decode(b"id,name\n", info.name) == "id,name\n"
    except (UnicodeDecodeError, ValueError):
        ascii_ok = False
    if not ascii_ok:
        raise ConfigurationError(
            f"encoding {encoding!r} is not ASCII-compatible; re-save the file as UTF-8"
        )
    return encoding


@attrs.define
class _Entry:
    offset: int
    line: int
    marker: str | None = None


class _CSVTable:
    """One CSV file indexed by a key column: key -> where its row starts."""

    def __init__(
        self,
        path: Path,
        key: str,
        *,
        encoding: str,
        dialect: dict[str, Any],
        marker: str | None,
        required: Iterable[str] = (),
        marker_optional: bool = False,
    ) -> None:
        self.path = path
        self.key = key
        self.encoding = encoding
        self.dialect = dialect
        self.marker = marker
        self.required = [key, *(c for c in required if c)]
        if marker and not marker_optional:
            self.required.append(marker)
        self.header: list[str] = []
        self.index: dict[str, _Entry] = {}
        self.problems: list[SourceProblem] = []
        self._reader: IO[bytes] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _problem(self, line: int | None, column: str | None, message: str) -> None:
        problem = SourceProblem(str(self.path), line, column, message)
        self.problems.append(problem)
        log.warning("skipped a bad row: %s", problem)

    def _open(self) -> IO[bytes]:
        try:
            return open(self.path, "rb")
        except OSError as exc:
            raise ConfigurationError(f"cannot read {self.path}: {exc.strerror or exc}") from exc

    def _read_header(self, fh: IO[bytes]) -> _Lines:
        lines = _Lines(fh, self.encoding)
        reader = csv.reader(lines, **self.dialect)
        try:
            header = next(reader)
        except StopIteration:
            raise ConfigurationError(f"{self.path}: the file is empty (no header row)") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"{self.path}, line 1: unreadable header: {exc}") from exc
        header = [h.strip().lstrip("\ufeff") for h in header]
        missing = [c for c in self.required if c not in header]
        if missing:
            raise ConfigurationError(
                f"{self.path}, line 1: no column {missing[0]!r} "
                f"(the header has {', '.join(repr(h) for h in header)})"
            )
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise ConfigurationError(f"{self.path}, line 1: column {dupes[0]!r} appears twice")
        self.header = header
        return lines

    def scan(self, on_row: Callable[[str, dict[str, str | None], int], None] | None = None) -> None:
        """Read the whole file once: build the index, collect problems."""
        self.close()
        self.index = {}
        self.problems = []
        with self._open() as fh:
            lines = self._read_header(fh)
            reader = csv.reader(lines, **self.dialect)
            while True:
                start, line = lines.offset, lines.lineno + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except (csv.Error, UnicodeDecodeError) as exc:
                    self._problem(line, None, f"unreadable row: {exc}")
                    continue
                if not cells or all(not c.strip() for c in cells):
                    continue  # blank line
                row = self._row(cells, line)
                if row is None:
                    continue
                key = _key_text(row.get(self.key))
                if key is None:
                    self._problem(line, self.key, "the key is empty")
                    continue
                if key in self.index:
                    self._problem(
                        line, self.key, f"key {key!r} already used on line {self.index[key].line}"
                    )
                    continue
                marker = row.get(self.marker) if self.marker else None
                self.index[key] = _Entry(start, line, marker)
                if on_row is not None:
                    on_row(key, row, line)

    def _row(self, cells: list[str], line: int) -> dict[str, str | None] | None:
        if len(cells) != len(self.header):
            self._problem(
                line, None, f"expected {len(self.header)} cells as in the header, got {len(cells)}"
            )
            return None
        return {h: (c if c != "" else None) for h, c in zip(self.header, cells, strict=True)}

    def read(self, key: str) -> dict[str, str | None] | None:
        """The row for ``key`` (read from disk), or ``None``."""
        entry = self.index.get(key)
        if entry is None:
            return None
        with self._lock:  # one handle kept open for reads, shared by threads in turn
            if self._reader is None:
                self._reader = self._open()
            self._reader.seek(entry.offset)
            reader = csv.reader(_Lines(self._reader, self.encoding, entry.line - 1), **self.dialect)
            cells = next(reader)
        return {h: (c if c != "" else None) for h, c in zip(self.header, cells, strict=True)}


class CSVSource:
    """A :class:`Source` over CSV files (an HR export).

    ``users_path`` has a header row and one user per row; ``groups_path`` (optional) one
    group per row, with its members as user keys in ``members_column`` separated by
    ``member_separator``; ``memberships_path`` (optional) one membership per row, with
    columns ``group`` and ``user``. Objects are dicts of column → text (an empty cell is
    ``None``). Files are indexed once (key → position on disk) and rows are read back on
    demand, so memory stays small for large files. The encoding must be ASCII-compatible
    (UTF-8, with or without a BOM, by default).

    A bad row (wrong number of cells, empty or duplicate key, undecodable) is skipped and
    recorded in :attr:`problems` with its file, line and column; the other rows are read.
    A missing file or key column raises :class:`~scimsync.ConfigurationError` at once.

    Args:
        users_path: the users file.
        groups_path: the groups file, if any.
        key: the users' key column.
        group_key: the groups' key column (defaults to ``key``).
        members_column: the groups' members column (ignored if absent from the header).
        member_separator: what separates keys in ``members_column``.
        memberships_path: a group/user pairs file, if any.
        membership_columns: its (group, user) column names.
        marker_column: a column to use as change marker (``"updated_at"``), if any.
        encoding: the files' encoding.
        delimiter: the cell separator.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        users_path: str | os.PathLike[str],
        groups_path: str | os.PathLike[str] | None = None,
        *,
        key: str = "id",
        group_key: str | None = None,
        members_column: str = "members",
        member_separator: str = ";",
        memberships_path: str | os.PathLike[str] | None = None,
        membership_columns: tuple[str, str] = ("group", "user"),
        marker_column: str | None = None,
        encoding: str = "utf-8-sig",
        delimiter: str = ",",
    ) -> None:
        encoding = _check_encoding(encoding)
        if not member_separator:
            raise ConfigurationError("member_separator must not be empty")
        dialect = {"delimiter": delimiter}
        self._users = _CSVTable(
            Path(users_path), key, encoding=encoding, dialect=dialect, marker=marker_column
        )
        self._groups = (
            None
            if groups_path is None
            else _CSVTable(
                Path(groups_path),
                group_key or key,
                encoding=encoding,
                dialect=dialect,
                marker=marker_column,
                marker_optional=True,
            )
        )
        self._memberships = (
            None
            if memberships_path is None
            else _CSVTable(
                Path(memberships_path),
                membership_columns[0],
                encoding=encoding,
                dialect=dialect,
                marker=None,
                required=[membership_columns[1]],
            )
        )
        self._members_column = members_column
        self._separator = member_separator
        self._membership_user = membership_columns[1]
        self._members: dict[str, list[str]] = {}
        self._loaded = False

    def __repr__(self) -> str:
        return f"CSVSource({str(self._users.path)!r})"

    def close(self) -> None:
        """Close the file handle kept open for reading rows."""
        for table in (self._users, self._groups):
            if table is not None:
                table.close()

    def __enter__(self) -> CSVSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self) -> None:
        """Re-read the files (they changed)."""
        self._members = {}
        self._users.scan()
        if self._groups is not None:
            columns = self._members_column

            def collect(key: str, row: dict[str, str | None], line: int) -> None:
                cell = row.get(columns)
                if cell:
                    self._add_members(key, cell.split(self._separator))

            self._groups.scan(collect)
        if self._memberships is not None:
            self._scan_memberships(self._memberships)
        self._loaded = True

    def _scan_memberships(self, table: _CSVTable) -> None:
        # Rows are pairs, so the "key" (group) repeats: read them directly, not indexed.
        table.problems = []
        with table._open() as fh:
            lines = table._read_header(fh)
            reader = csv.reader(lines, **table.dialect)
            while True:
                line = lines.lineno + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except (csv.Error, UnicodeDecodeError) as exc:
                    table._problem(line, None, f"unreadable row: {exc}")
                    continue
                if not cells or all(not c.strip() for c in cells):
                    continue
                row = table._row(cells, line)
                if row is None:
                    continue
                group = _key_text(row.get(table.key))
                user = _key_text(row.get(self._membership_user))
                if group is None or user is None:
                    column = table.key if group is None else self._membership_user
                    table._problem(line, column, "the cell is empty")
                    continue
                self._add_members(group, [user])

    def _add_members(self, group: str, users: Iterable[str]) -> None:
        keys = self._members.setdefault(group, [])
        for user in users:
            text = _key_text(user)
            if text is not None and text not in keys:
                keys.append(text)

    def _ready(self) -> None:
        if not self._loaded:
            self.refresh()

    @property
    def problems(self) -> list[SourceProblem]:
        """Every bad row found in the last read, in file order."""
        self._ready()
        found = list(self._users.problems)
        for table in (self._groups, self._memberships):
            if table is not None:
                found.extend(table.problems)
        return found

    def get_user(self, key: str) -> dict[str, str | None] | None:
        """See :meth:`Source.get_user`."""
        self._ready()
        return self._users.read(key)

    def get_group(self, key: str) -> dict[str, str | None] | None:
        """See :meth:`Source.get_group`."""
        self._ready()
        return None if self._groups is None else self._groups.read(key)

    def iter_user_keys(self) -> Iterator[str]:
        """See :meth:`Source.iter_user_keys` (file order)."""
        self._ready()
        return iter(list(self._users.index))

    def iter_group_keys(self) -> Iterator[str]:
        """See :meth:`Source.iter_group_keys` (file order)."""
        self._ready()
        return iter([] if self._groups is None else list(self._groups.index))

    def group_member_keys(self, group_key: str) -> list[str]:
        """See :meth:`Source.group_member_keys`."""
        self._ready()
        return list(self._members.get(group_key, ()))

    def change_marker(self, kind: str, key: str) -> str | None:
        """The ``marker_column`` cell of the row, or ``None``."""
        self._ready()
        table = self._users if kind == "user" else self._groups
        entry = None if table is None else table.index.get(key)
        return None if entry is None else entry.marker


class JSONSource:
    """A :class:`Source` over a JSON or JSON Lines export.

    A ``.json`` file holds one document ``{"users": [...], "groups": [...]}`` (a bare list
    is users only); it is loaded whole. A ``.jsonl`` / ``.ndjson`` file holds one object
    per line, with ``"kind": "user"`` or ``"group"`` (no kind means user); it is indexed
    (key → position) and lines are read back on demand, for large exports. Group members
    are a list of user keys (or objects carrying ``key``) under ``members``.

    A bad object (not an object, no key, a duplicate key, a bad line) is skipped and
    recorded in :attr:`problems`; the others are read. An unreadable ``.json`` document
    raises :class:`~scimsync.ConfigurationError` naming the line and column.

    Args:
        path: the file.
        key: the users' key field (dotted for nested).
        group_key: the groups' key field (defaults to ``key``).
        members: the groups' members field.
        marker: a field to use as change marker (``"updatedAt"``), if any.
        users_field: the users list's field in a ``.json`` document.
        groups_field: the groups list's field in a ``.json`` document.
        kind_field: the field naming the kind in a ``.jsonl`` file.
        encoding: the file's encoding.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        key: str = "id",
        group_key: str | None = None,
        members: str = "members",
        marker: str | None = None,
        users_field: str = "users",
        groups_field: str = "groups",
        kind_field: str = "kind",
        encoding: str = "utf-8-sig",
    ) -> None:
        self.path = Path(path)
        self._lines_mode = self.path.suffix.lower() in (".jsonl", ".ndjson")
        self._encoding = _check_encoding(encoding) if self._lines_mode else encoding
        self._key_name = key
        self._group_key_name = group_key or key
        self._user_key = _getter(key, "key")
        self._group_key = _getter(self._group_key_name, "group_key")
        self._members = _getter(members, "members")
        self._marker = None if marker is None else _getter(marker, "marker")
        self._users_field = users_field
        self._groups_field = groups_field
        self._kind_field = kind_field
        self._users: dict[str, Any] = {}
        self._groups: dict[str, Any] = {}
        self._member_keys: dict[str, list[str]] = {}
        self._markers: dict[tuple[str, str], str | None] = {}
        self._problems: list[SourceProblem] = []
        self._loaded = False
        self._reader: IO[bytes] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JSONSource({str(self.path)!r})"

    def _problem(self, line: int | None, column: str | None, message: str) -> None:
        problem = SourceProblem(str(self.path), line, column, message)
        self._problems.append(problem)
        log.warning("skipped a bad object: %s", problem)

    def refresh(self) -> None:
        """Re-read the file (it changed)."""
        self.close()
        self._users, self._groups = {}, {}
        self._member_keys, self._markers, self._problems = {}, {}, []
        if self._lines_mode:
            self._scan_lines()
        else:
            self._load_document()
        self._loaded = True

    def _take(
        self, kind: str, obj: Any, value: Any, where: str, line: int | None
    ) -> tuple[str, Any] | None:
        """Validate one object; returns (key, obj) or records a problem."""
        field = self._key_name if kind == "user" else self._group_key_name
        if not isinstance(obj, Mapping):
            self._problem(line, where, f"expected a JSON object, got {type(obj).__name__}")
            return None
        key = _key_text((self._user_key if kind == "user" else self._group_key)(obj))
        if key is None:
            self._problem(line, f"{where}.{field}" if where else field, f"no {kind} key")
            return None
        index = self._users if kind == "user" else self._groups
        if key in index:
            self._problem(line, f"{where}.{field}" if where else field, f"duplicate key {key!r}")
            return None
        index[key] = value
        if self._marker is not None:
            self._markers[(kind, key)] = _marker_text(self._marker(obj))
        if kind == "group":
            found = self._members(obj) or []
            if isinstance(found, str) or not isinstance(found, list):
                self._problem(line, f"{where}.members" if where else "members", "not a list")
            else:
                keys: list[str] = []
                for member in found:
                    text = _key_text(
                        self._user_key(member) if isinstance(member, Mapping) else member
                    )
                    if text is not None and text not in keys:
                        keys.append(text)
                self._member_keys[key] = keys
        return key, value

    def _load_document(self) -> None:
        try:
            text = self.path.read_text(encoding=self._encoding)
        except OSError as exc:
            raise ConfigurationError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigurationError(f"{self.path}: not {self._encoding} text: {exc}") from exc
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"{self.path}, line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
            ) from exc
        if isinstance(doc, list):
            doc = {self._users_field: doc}
        if not isinstance(doc, Mapping):
            raise ConfigurationError(
                f"{self.path}: expected an object with {self._users_field!r} and "
                f"{self._groups_field!r} lists, got {type(doc).__name__}"
            )
        for kind, field in (("user", self._users_field), ("group", self._groups_field)):
            items = doc.get(field, [])
            if not isinstance(items, list):
                raise ConfigurationError(f"{self.path}: {field!r} must be a list")
            for n, obj in enumerate(items):
                self._take(kind, obj, obj, f"{field}[{n}]", None)

    def _scan_lines(self) -> None:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ConfigurationError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        with fh:
            lines = _Lines(fh, self._encoding)
            while True:
                start = lines.offset
                try:
                    text = next(lines)
                except StopIteration:
                    break
                except UnicodeDecodeError as exc:
                    self._problem(lines.lineno, None, f"not {self._encoding} text: {exc}")
                    continue
                line = lines.lineno
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    self._problem(line, f"character {exc.colno}", f"invalid JSON: {exc.msg}")
                    continue
                kind = obj.get(self._kind_field, "user") if isinstance(obj, Mapping) else "user"
                if kind not in ("user", "group"):
                    self._problem(line, self._kind_field, f"unknown kind {kind!r}")
                    continue
                self._take(kind, obj, (start, line), "", line)

    def _ready(self) -> None:
        if not self._loaded:
            self.refresh()

    @property
    def problems(self) -> list[SourceProblem]:
        """Every bad object found in the last read, in file order."""
        self._ready()
        return list(self._problems)

    def _object(self, value: Any) -> Any:
        if not self._lines_mode:
            return value
        offset, _line = value
        with self._lock:
            if self._reader is None:
                self._reader = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            self._reader.seek(offset)
            raw = self._reader.readline()
        return json.loads(raw.decode(self._encoding))

    def close(self) -> None:
        """Close the file handle kept open for reading lines (JSON Lines mode)."""
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def __enter__(self) -> JSONSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_user(self, key: str) -> object | None:
        """See :meth:`Source.get_user`."""
        self._ready()
        value = self._users.get(key)
        return None if value is None else self._object(value)

    def get_group(self, key: str) -> object | None:
        """See :meth:`Source.get_group`."""
        self._ready()
        value = self._groups.get(key)
        return None if value is None else self._object(value)

    def iter_user_keys(self) -> Iterator[str]:
        """See :meth:`Source.iter_user_keys` (file order)."""
        self._ready()
        return iter(list(self._users))

    def iter_group_keys(self) -> Iterator[str]:
        """See :meth:`Source.iter_group_keys` (file order)."""
        self._ready()
        return iter(list(self._groups))

    def group_member_keys(self, group_key: str) -> list[str]:
        """See :meth:`Source.group_member_keys`."""
        self._ready()
        return list(self._member_keys.get(group_key, ()))

    def change_marker(self, kind: str, key: str) -> str | None:
        """The ``marker`` field of the object, or ``None``."""
        self._ready()
        return self._markers.get((kind, key))


# ----------------------------------------------------------------------- registry

#: A callable building a :class:`Source` from keyword options (a class works).
SourceFactory = Callable[..., Any]


def python_source(factory: str, **options: Any) -> Any:
    """The ``python`` source type: import ``"package.module:attribute"``.

    If the attribute is a source (has ``get_user``), it is returned as is; otherwise it is
    called with ``options`` as keywords and its result returned.

    Raises:
        ConfigurationError: the spec is malformed, or the import or the call fails.
    """
    import importlib
    import inspect

    module, _, attr = factory.partition(":") if isinstance(factory, str) else ("", "", "")
    if not module or not attr:
        raise ConfigurationError(
            f"python source: factory {factory!r} must look like 'package.module:attribute'"
        )
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"python source: cannot load {factory}: {exc}") from exc
    if hasattr(obj, "get_user") and not inspect.isclass(obj) and not inspect.isfunction(obj):
        return obj
    try:
        return obj(**options)
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(f"python source: calling {factory} failed: {exc}") from exc


_source_types: PluginRegistry[SourceFactory] = PluginRegistry("scimsync.sources", "source type")
_source_types.add_builtin("csv", CSVSource)
_source_types.add_builtin("json", JSONSource)
_source_types.add_builtin("iterable", IterableSource)
_source_types.add_builtin("python", python_source)


def register_source(name: str, factory: SourceFactory, *, replace: bool = False) -> None:
    """Make a source type available to :func:`get_source_factory` and ``[source] type``.

    Args:
        name: the type name, as written in ``scimsync.toml`` (``type = "ldap"``).
        factory: a callable (usually a class) taking the ``[source]`` keys other than
            ``type`` as keyword arguments and returning a :class:`Source`.
        replace: allow replacing an earlier registration (built-ins cannot be replaced).

    Packages can instead declare an entry point in the ``scimsync.sources`` group::

        [project.entry-points."scimsync.sources"]
        ldap = "acme_ldap:LDAPSource"

    .. versionadded:: 0.1.0
    """
    if not callable(factory):
        raise ConfigurationError(
            f"register_source({name!r}): the factory must be callable, got {type(factory).__name__}"
        )
    _source_types.register(name, factory, replace=replace)


def get_source_factory(name: str) -> SourceFactory:
    """The factory of source type ``name``: built-ins (``csv``, ``json``, ``iterable``,
    ``python``), then :func:`register_source`, then ``scimsync.sources`` entry points.

    Raises:
        ConfigurationError: unknown name (the message lists the known ones), or an entry
            point that fails to load or does not give a callable.

    .. versionadded:: 0.1.0
    """
    factory = _source_types.get(name)
    if not callable(factory):
        raise ConfigurationError(
            f"source type {name!r}: entry point did not give a callable "
            f"(got {type(factory).__name__})"
        )
    return factory


def source_type_names() -> list[str]:
    """Every known source type name, sorted (entry points are listed, not loaded)."""
    return sorted(_source_types.names())
