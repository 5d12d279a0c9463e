"""Sources for Flask apps: one built from callables, and an app-context wrapper."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app, has_app_context

from scimsync import ConfigurationError

__all__ = ["AppContextSource", "CallableSource", "key_of"]


def key_of(obj: Any, what: str = "user", getter: Callable[[Any], Any] | None = None) -> str:
    """The local key of ``obj`` as text.

    A string or an integer is taken as the key itself. Otherwise ``getter(obj)`` when
    given, else ``obj.get_id()`` (a Flask-Login user), else ``obj.id``.

    Raises:
        ValueError: no key can be found (e.g. Flask-Login's anonymous user).
    """
    if isinstance(obj, bool):
        raise ValueError(f"a {what} key must be a string, an int or a {what} object, not a bool")
    if isinstance(obj, (str, int)):
        return str(obj)
    if getter is not None:
        value = getter(obj)
    elif callable(getattr(obj, "get_id", None)):
        value = obj.get_id()
    else:
        value = getattr(obj, "id", None)
    if value is None or value == "":
        raise ValueError(
            f"cannot tell the key of this {what} ({type(obj).__name__}): it has no id "
            "(an anonymous user, or an object not saved yet?)"
        )
    return str(value)


def _no_group(key: str) -> object | None:
    return None


def _no_keys() -> Iterable[str]:
    return ()


def _no_members(group_key: str) -> Iterable[str]:
    return ()


class CallableSource:
    """A :class:`scimsync.Source` made of plain functions (your user model's look-ups).

    Args:
        get_user: ``get_user(key) -> user or None``; ``None`` means "deleted locally".
            The object is what the mapping reads (attributes or dict keys such as
            ``username``, ``email``, ``first_name``, ``last_name``, ``is_active``).
        iter_user_keys: ``() -> iterable of keys`` (every user; for reconciles).
        get_group: ``get_group(key) -> group or None`` (default: there are no groups).
        iter_group_keys: ``() -> iterable of group keys``.
        group_member_keys: ``group_member_keys(group_key) -> iterable of user keys``.
        change_marker: optional ``change_marker(kind, key) -> str | None`` (such as the
            row's ``updated_at``), which lets incremental reconciles skip unchanged keys.

    Keys are passed as strings and returned keys are converted with ``str``.
    """

    def __init__(
        self,
        *,
        get_user: Callable[[str], object | None],
        iter_user_keys: Callable[[], Iterable[Any]],
        get_group: Callable[[str], object | None] | None = None,
        iter_group_keys: Callable[[], Iterable[Any]] | None = None,
        group_member_keys: Callable[[str], Iterable[Any]] | None = None,
        change_marker: Callable[[str, str], str | None] | None = None,
    ) -> None:
        for name, fn in (
            ("get_user", get_user),
            ("iter_user_keys", iter_user_keys),
            ("get_group", get_group),
            ("iter_group_keys", iter_group_keys),
            ("group_member_keys", group_member_keys),
            ("change_marker", change_marker),
        ):
            if fn is not None and not callable(fn):
                raise ConfigurationError(
                    f"CallableSource({name}=...): expected a callable, got {type(fn).__name__}"
                )
        self._get_user = get_user
        self._iter_user_keys = iter_user_keys
        self._get_group = get_group or _no_group
        self._iter_group_keys = iter_group_keys or _no_keys
        self._group_member_keys = group_member_keys or _no_members
        self._change_marker = change_marker
        if change_marker is None:
            # Only a source that has it offers change_marker (the engine looks it up).
            self.change_marker = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CallableSource(get_user={getattr(self._get_user, '__name__', '?')})"

    def get_user(self, key: str) -> object | None:
        """See :class:`scimsync.Source`."""
        return self._get_user(str(key))

    def get_group(self, key: str) -> object | None:
        """See :class:`scimsync.Source`."""
        return self._get_group(str(key))

    def iter_user_keys(self) -> Iterable[str]:
        """See :class:`scimsync.Source`."""
        return (str(k) for k in self._iter_user_keys())

    def iter_group_keys(self) -> Iterable[str]:
        """See :class:`scimsync.Source`."""
        return (str(k) for k in self._iter_group_keys())

    def group_member_keys(self, group_key: str) -> Iterable[str]:
        """See :class:`scimsync.Source`."""
        return [str(k) for k in self._group_member_keys(str(group_key))]

    def change_marker(self, kind: str, key: str) -> str | None:
        """See :class:`scimsync.Source` (``change_marker``)."""
        assert self._change_marker is not None
        return self._change_marker(kind, key)


class AppContextSource:
    """Runs every call of ``source`` inside ``app``'s application context.

    The dispatcher's worker threads and the ``flask scimsync`` commands read the source
    outside any request; look-ups that use ``current_app``, ``g`` or an app-bound database
    session need an app context, which this wrapper pushes when there is none (or when
    another app's context is active). The ``iter_*`` methods read every key inside one
    context and return a list.
    """

    def __init__(self, source: Any, app: Flask) -> None:
        self.source = source
        self.app = app
        if not callable(getattr(source, "change_marker", None)):
            self.change_marker = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"AppContextSource({self.source!r}, app={self.app.name!r})"

    def _call(self, name: str, *args: Any) -> Any:
        fn = getattr(self.source, name)
        if has_app_context() and current_app._get_current_object() is self.app:  # type: ignore[attr-defined]
            return fn(*args)
        with self.app.app_context():
            return fn(*args)

    def _keys(self, name: str, *args: Any) -> list[str]:
        fn = getattr(self.source, name)

        def read() -> list[str]:
            return [str(k) for k in fn(*args)]

        if has_app_context() and current_app._get_current_object() is self.app:  # type: ignore[attr-defined]
            return read()
        with self.app.app_context():
            return read()

    def get_user(self, key: str) -> object | None:
        """See :class:`scimsync.Source`."""
        return self._call("get_user", key)  # type: ignore[no-any-return]

    def get_group(self, key: str) -> object | None:
        """See :class:`scimsync.Source`."""
        return self._call("get_group", key)  # type: ignore[no-any-return]

    def iter_user_keys(self) -> list[str]:
        """See :class:`scimsync.Source`."""
        return self._keys("iter_user_keys")

    def iter_group_keys(self) -> list[str]:
        """See :class:`scimsync.Source`."""
        return self._keys("iter_group_keys")

    def group_member_keys(self, group_key: str) -> list[str]:
        """See :class:`scimsync.Source`."""
        return self._keys("group_member_keys", group_key)

    def change_marker(self, kind: str, key: str) -> str | None:
        """See :class:`scimsync.Source` (``change_marker``)."""
        value = self._call("change_marker", kind, key)
        return None if value is None else str(value)
