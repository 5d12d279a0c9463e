"""Value transforms for mappings, and the lazy plugin registry they share with profiles.

A transform is a plain ``Callable[[Any], Any]`` applied to a mapped value. Built-ins are
looked up by name (``"strip"``); parameterised ones are written ``"truncate(64)"`` in
configuration, or ``truncate(64)`` in Python. Third-party packages add transforms with
:func:`register_transform` or through the ``scimsync.transforms`` entry-point group.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import ast
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any, Generic, TypeVar

from scimsync.errors import ConfigurationError

__all__ = [
    "PluginRegistry",
    "Transform",
    "known_transforms",
    "register_transform",
    "resolve_transform",
    "truncate",
]

Transform = Callable[[Any], Any]

T = TypeVar("T")


class PluginRegistry(Generic[T]):
    """Names → objects: built-ins, then ``register()``-ed, then entry points (lazy, cached).

    Args:
        group: the entry-point group, e.g. ``"scimsync.profiles"``.
        what: a word for error messages (``"profile"``).
    """

    def __init__(self, group: str, what: str) -> None:
        self.group = group
        self.what = what
        self._builtins: dict[str, T] = {}
        self._registered: dict[str, T] = {}
        self._loaded: dict[str, T] = {}
        self._lock = threading.Lock()

    def add_builtin(self, name: str, obj: T) -> None:
        """Declare a built-in (used by scimsync itself)."""
        self._builtins[name] = obj

    def register(self, name: str, obj: T, *, replace: bool = False) -> None:
        """Register ``obj`` under ``name``; refuse to shadow a built-in or an earlier one."""
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"a {self.what} name must be a non-empty string")
        with self._lock:
            if name in self._builtins:
                raise ConfigurationError(f"{self.what} {name!r} is built in and cannot be replaced")
            if name in self._registered and not replace:
                raise ConfigurationError(
                    f"{self.what} {name!r} is already registered (pass replace=True)"
                )
            self._registered[name] = obj

    def _entry_points(self) -> list[metadata.EntryPoint]:
        return list(metadata.entry_points(group=self.group))

    def get(self, name: str) -> T:
        """Look ``name`` up; raise :class:`ConfigurationError` listing known names."""
        found, obj = self.lookup(name)
        if not found:
            known = ", ".join(sorted(self.names()))
            raise ConfigurationError(f"unknown {self.what} {name!r}; known: {known}")
        return obj  # type: ignore[return-value]

    def find(self, name: str) -> T | None:
        """Like :meth:`get` but return ``None`` when nothing has that name."""
        return self.lookup(name)[1]

    def lookup(self, name: str) -> tuple[bool, T | None]:
        """``(found, object)``: built-ins, then registered, then entry points (loaded once)."""
        if name in self._builtins:
            return True, self._builtins[name]
        if name in self._registered:
            return True, self._registered[name]
        if name in self._loaded:
            return True, self._loaded[name]
        for ep in self._entry_points():
            if ep.name == name:
                try:
                    obj: T = ep.load()
                except Exception as exc:
                    raise ConfigurationError(
                        f"{self.what} {name!r}: entry point {ep.value!r} "
                        f"(group {self.group}) failed to load: {type(exc).__name__}: {exc}"
                    ) from exc
                with self._lock:
                    self._loaded[name] = obj
                return True, obj
        return False, None

    def names(self) -> set[str]:
        """Every name known: built-ins, registered and (unloaded) entry points."""
        names = set(self._builtins) | set(self._registered) | set(self._loaded)
        names.update(ep.name for ep in self._entry_points())
        return names

    def clear_cache(self) -> None:
        """Forget loaded entry points and registrations (for tests)."""
        with self._lock:
            self._loaded.clear()
            self._registered.clear()


# --------------------------------------------------------------------------- built-ins

_WS = re.compile(r"\s+")


def _strip(v: Any) -> Any:
    return v.strip() if isinstance(v, str) else v


def _lower(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


def _upper(v: Any) -> Any:
    return v.upper() if isinstance(v, str) else v


def _title(v: Any) -> Any:
    return v.title() if isinstance(v, str) else v


def _casefold(v: Any) -> Any:
    return v.casefold() if isinstance(v, str) else v


def _collapse_whitespace(v: Any) -> Any:
    return _WS.sub(" ", v).strip() if isinstance(v, str) else v


def _remove_whitespace(v: Any) -> Any:
    return _WS.sub("", v) if isinstance(v, str) else v


def _to_str(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


_TRUE = frozenset({"1", "true", "yes", "y", "on", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "off", "f", ""})


def _to_bool(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        raise ValueError(f"cannot read {v!r} as a boolean")
    return bool(v)


def _email_local_part(v: Any) -> Any:
    if not isinstance(v, str):
        return v
    local, sep, _ = v.rpartition("@")
    return local if sep else v


def _email_domain(v: Any) -> Any:
    if not isinstance(v, str):
        return v
    _, sep, domain = v.rpartition("@")
    return domain if sep else ""


def _ascii_fold(v: Any) -> Any:
    if not isinstance(v, str):
        return v
    return unicodedata.normalize("NFKD", v).encode("ascii", "ignore").decode("ascii")


def _nfc(v: Any) -> Any:
    return unicodedata.normalize("NFC", v) if isinstance(v, str) else v


def _none_if_empty(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str) and not v.strip():
        return None
    if isinstance(v, (list, tuple, dict, set)) and not v:
        return None
    return v


def truncate(n: int) -> Transform:
    """Return a transform that cuts strings to at most ``n`` characters.

    Args:
        n: the maximum length (a positive integer).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigurationError(f"truncate(n) needs a positive integer, got {n!r}")

    def _truncate(v: Any) -> Any:
        return v[:n] if isinstance(v, str) else v

    _truncate.__name__ = f"truncate({n})"
    return _truncate


def _replace(old: str, new: str) -> Transform:
    if not isinstance(old, str) or not isinstance(new, str):
        raise ConfigurationError("replace(old, new) needs two strings")

    def _rep(v: Any) -> Any:
        return v.replace(old, new) if isinstance(v, str) else v

    _rep.__name__ = f"replace({old!r}, {new!r})"
    return _rep


def _prefix(p: str) -> Transform:
    def _pre(v: Any) -> Any:
        return f"{p}{v}" if isinstance(v, str) and v else v

    return _pre


def _suffix(s: str) -> Transform:
    def _suf(v: Any) -> Any:
        return f"{v}{s}" if isinstance(v, str) and v else v

    return _suf


#: Plain transforms, by name.
_PLAIN: dict[str, Transform] = {
    "strip": _strip,
    "lower": _lower,
    "upper": _upper,
    "title": _title,
    "casefold": _casefold,
    "collapse_whitespace": _collapse_whitespace,
    "remove_whitespace": _remove_whitespace,
    "str": _to_str,
    "bool": _to_bool,
    "email_local_part": _email_local_part,
    "email_domain": _email_domain,
    "ascii_fold": _ascii_fold,
    "nfc": _nfc,
    "none_if_empty": _none_if_empty,
}
#: Parameterised transforms (factories), by name.
_FACTORIES: dict[str, Callable[..., Transform]] = {
    "truncate": truncate,
    "replace": _replace,
    "prefix": _prefix,
    "suffix": _suffix,
}

_registry: PluginRegistry[Any] = PluginRegistry("scimsync.transforms", "transform")
for _name, _fn in _PLAIN.items():
    _registry.add_builtin(_name, _fn)
for _name, _fac in _FACTORIES.items():
    _registry.add_builtin(_name, _fac)


def register_transform(name: str, func: Callable[..., Any], *, factory: bool = False) -> None:
    """Make a transform available by name in mappings and configuration.

    Args:
        name: the name used in ``transforms=[...]`` and in TOML.
        func: the transform (``value -> value``), or with ``factory=True`` a function that
            takes the configuration arguments (``"name(1, 'x')"``) and returns the transform.
        factory: whether ``func`` is a factory.

    Entry points in the ``scimsync.transforms`` group do the same without code: the
    object loaded is a plain transform, or a factory if it has a true
    ``scimsync_factory`` attribute.
    """
    if factory:
        func.scimsync_factory = True  # type: ignore[attr-defined]
    _registry.register(name, func)


def known_transforms() -> list[str]:
    """Names of every transform available (built-ins, registered, entry points)."""
    return sorted(_registry.names())


def _is_factory(name: str, obj: Any) -> bool:
    return name in _FACTORIES or bool(getattr(obj, "scimsync_factory", False))


_CALL = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def _parse_args(text: str, spec: str) -> tuple[Any, ...]:
    if not text.strip():
        return ()
    try:
        node = ast.literal_eval(f"({text},)")
    except (ValueError, SyntaxError) as exc:
        raise ConfigurationError(
            f"transform {spec!r}: arguments must be literals (numbers, quoted strings)"
        ) from exc
    return tuple(node)


def resolve_transform(spec: Any) -> Transform:
    """Turn a transform spec (a callable, a name, or ``"name(args)"``) into a callable.

    Args:
        spec: what the user wrote.

    Raises:
        ConfigurationError: unknown name (the message lists the known ones), bad arguments.
    """
    if callable(spec):
        return spec  # type: ignore[no-any-return]
    if not isinstance(spec, str):
        raise ConfigurationError(
            f"a transform must be a name or a callable, got {type(spec).__name__}"
        )
    m = _CALL.match(spec)
    if m is None:
        raise ConfigurationError(f"cannot read transform {spec!r}")
    name, argtext = m.group(1), m.group(2)
    found, found_obj = _registry.lookup(name)
    obj: Any = found_obj
    if not found:
        raise ConfigurationError(
            f"unknown transform {name!r}; known: {', '.join(known_transforms())}"
        )
    if _is_factory(name, obj):
        args = _parse_args(argtext or "", spec)
        if not args and argtext is None:
            raise ConfigurationError(f"transform {name!r} needs arguments, e.g. {name}(...)")
        try:
            result = obj(*args)
        except ConfigurationError:
            raise
        except Exception as exc:
            raise ConfigurationError(f"transform {spec!r}: {exc}") from exc
        if not callable(result):
            raise ConfigurationError(f"transform factory {name!r} did not return a callable")
        return result  # type: ignore[no-any-return]
    if argtext is not None:
        raise ConfigurationError(f"transform {name!r} takes no arguments")
    if not callable(obj):
        raise ConfigurationError(f"transform {name!r} is not callable")
    return obj  # type: ignore[no-any-return]


def resolve_transforms(specs: Iterable[Any]) -> tuple[Transform, ...]:
    """Resolve a list of transform specs (see :func:`resolve_transform`)."""
    if isinstance(specs, (str, bytes)) or callable(specs):
        specs = [specs]
    return tuple(resolve_transform(s) for s in specs)


def transform_name(fn: Transform) -> str:
    """A readable name for a transform, for problem messages."""
    for name, obj in _PLAIN.items():
        if obj is fn:
            return name
    return getattr(fn, "__name__", repr(fn))
