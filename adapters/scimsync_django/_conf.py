"""``settings.SCIMSYNC``: reading it, and the process's provisioner and dispatcher."""

# mypy: disallow-subclassing-any=False

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils.module_loading import import_string

from scimsync import (
    ConfigurationError,
    Dispatcher,
    GroupMapping,
    Policies,
    Provisioner,
    ScimClient,
    Scope,
    Target,
    Toggles,
    UserMapping,
    get_profile,
)

__all__ = [
    "DjangoState",
    "ScimsyncImproperlyConfigured",
    "check_settings",
    "get_state",
    "get_store",
    "reset_state",
]

log = logging.getLogger("scimsync.django")

REDACTED = "[REDACTED]"

_KNOWN = (
    "URL",
    "TOKEN",
    "TOKEN_ENV",
    "PROFILE",
    "TARGET",
    "DATABASE",
    "STORE",
    "SOURCE",
    "USER_MAPPING",
    "GROUP_MAPPING",
    "SCOPE",
    "POLICIES",
    "TOGGLES",
    "AUTOMATIC",
    "SIGNALS",
    "DISPATCHER",
    "TIMEOUT",
    "VERIFY",
    "RATE_LIMIT",
    "SHUTDOWN_TIMEOUT",
)
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: Shown in messages: a conventional variable name (a pasted token is rarely all caps)...
_ENV_RE = re.compile(r"[A-Z_][A-Z0-9_]{0,63}|[a-z]{1,20}")
#: ...or a dotted path such as ``myapp.scim.staff_only`` (short parts: a token's are long).
_DOTTED_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}(?:[.:][A-Za-z_][A-Za-z0-9_]{0,39}){1,9}")
_STORE_METHODS = ("enqueue", "claim", "complete", "outbox_counts", "get_link", "list_runs")


class ScimsyncImproperlyConfigured(ImproperlyConfigured, ConfigurationError):
    """``settings.SCIMSYNC`` is wrong; the message names the key (never the token).

    Both Django's ``ImproperlyConfigured`` and :class:`scimsync.ConfigurationError`, so
    either ``except`` catches it and ``scimsync.exit_code_for`` maps it to exit code 2.
    """


def _show(value: object) -> str:
    """A setting's value for an error message, unless it may be a pasted secret."""
    if isinstance(value, str):
        if "://" in value and " " not in value and len(value) <= 300:
            return repr(value)
        if _ENV_RE.fullmatch(value) or _DOTTED_RE.fullmatch(value):
            return repr(value)
        return f"a string of {len(value)} characters (not shown, in case it is a secret)"
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    return f"a {type(value).__name__}"


def _bad(key: str, message: str) -> ScimsyncImproperlyConfigured:
    return ScimsyncImproperlyConfigured(f"settings.SCIMSYNC[{key!r}]: {message}")


def _raw(*, strict: bool = True) -> dict[str, Any]:
    """``settings.SCIMSYNC`` as a dict; ``strict`` refuses unknown keys."""
    raw = getattr(settings, "SCIMSYNC", None)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ScimsyncImproperlyConfigured(
            f"settings.SCIMSYNC must be a dict, not {_show(raw)} (see docs/django.md)"
        )
    unknown = sorted(set(raw) - set(_KNOWN))
    if unknown and strict:
        raise _bad(unknown[0], f"unknown key; known keys: {', '.join(_KNOWN)}")
    return dict(raw)


def _database(cfg: Mapping[str, Any]) -> str:
    alias = cfg.get("DATABASE", DEFAULT_DB_ALIAS)
    if not isinstance(alias, str) or alias not in connections.settings:
        raise _bad(
            "DATABASE",
            f"must name a database in settings.DATABASES "
            f"({', '.join(sorted(connections.settings))}), not {_show(alias)}",
        )
    return alias


def _resolve(key: str, value: Any) -> Any:
    """A setting given as an object, or as the dotted path of one."""
    if isinstance(value, str):
        try:
            return import_string(value)
        except ImportError:
            raise _bad(
                key, f"cannot import {_show(value)} (a dotted path such as 'myapp.scim.hook')"
            ) from None
    return value


def _hook(key: str, value: Any, kind: type, *, predicate_ok: bool = False) -> Any:
    """An object of ``kind``, a dotted path to one, or a factory returning one.

    With ``predicate_ok`` (``SCOPE``), a plain callable is the scope's predicate.
    """
    if value is None:
        return None
    obj = _resolve(key, value)
    if isinstance(obj, kind):
        return obj
    if not callable(obj):
        raise _bad(key, f"must be a {kind.__name__}, a dotted path or a callable, not {_show(obj)}")
    if predicate_ok:
        return Scope(predicate=obj)
    made = obj()
    if not isinstance(made, kind):
        raise _bad(key, f"the factory returned a {type(made).__name__}, not a {kind.__name__}")
    return made


def get_store(cfg: Mapping[str, Any] | None = None) -> Any:
    """The state store ``settings.SCIMSYNC`` describes (default: a :class:`DjangoStore`
    on ``DATABASE``). Needs no URL or token: the signal handlers use it."""
    from ._store import DjangoStore

    cfg = _raw(strict=False) if cfg is None else cfg
    raw = cfg.get("STORE")
    if raw is None:
        return DjangoStore(using=_database(cfg))
    store = _resolve("STORE", raw)
    if isinstance(store, type) or (
        callable(store) and not callable(getattr(store, "enqueue", None))
    ):
        store = store()
    missing = [m for m in _STORE_METHODS if not callable(getattr(store, m, None))]
    if missing:
        raise _bad(
            "STORE", f"must be a scimsync.StateStore; {_show(store)} lacks {', '.join(missing)}"
        )
    return store


def _token(cfg: Mapping[str, Any]) -> str:
    literal, env = cfg.get("TOKEN"), cfg.get("TOKEN_ENV")
    if literal is not None and env is not None:
        raise _bad("TOKEN", "give either TOKEN or TOKEN_ENV, not both")
    if literal is None and env is None:
        raise _bad(
            "TOKEN_ENV",
            "is not set: name the environment variable holding the SCIM bearer token "
            "(or set TOKEN)",
        )
    if env is not None:
        if not isinstance(env, str) or not _NAME_RE.fullmatch(env):
            raise _bad("TOKEN_ENV", f"must be an environment variable name, not {_show(env)}")
        value = os.environ.get(env, "").strip()
        if not value:
            raise _bad(
                "TOKEN_ENV",
                f"the environment variable {_show(env)} is not set (or empty); export the "
                "SCIM bearer token in it (TOKEN_ENV names the variable; it is not the token)",
            )
        return value
    if not isinstance(literal, str) or not literal.strip():
        what = "an empty string" if isinstance(literal, str) else _show(literal)
        raise _bad("TOKEN", f"must be a non-empty string, not {what}")
    if literal != literal.strip() or any(c in literal for c in "\r\n\0"):
        raise _bad(
            "TOKEN",
            "the token contains whitespace or control characters (check how it was copied; "
            "the token itself is not shown)",
        )
    return literal


def _number(
    cfg: Mapping[str, Any], key: str, default: float | None, *, zero_ok: bool
) -> float | None:
    value = cfg.get(key, default)
    if value is None and default is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        need = "a number >= 0" if zero_ok else "a positive number"
        raise _bad(key, f"must be {need}, not {_show(value)}")
    return float(value)


def _source(cfg: Mapping[str, Any], alias: str) -> Any:
    from ._source import DjangoSource

    raw = cfg.get("SOURCE")
    if raw is None:
        return DjangoSource(using=alias)
    src = _resolve("SOURCE", raw)
    if isinstance(src, type) or (callable(src) and not callable(getattr(src, "get_user", None))):
        src = src()
    if not callable(getattr(src, "get_user", None)):
        raise _bad("SOURCE", f"must be a scimsync.Source (or a class/factory); got {_show(src)}")
    return src


class DjangoState:
    """This process's scimsync objects, built from ``settings.SCIMSYNC`` on first use.

    Attributes:
        provisioner: the :class:`scimsync.Provisioner`.
        automatic: whether a :class:`scimsync.Dispatcher` runs in this process.
        dispatcher_options: the ``Dispatcher`` keyword arguments (``DISPATCHER``).
        using: the database alias the store and the signals use.
    """

    def __init__(
        self,
        provisioner: Provisioner,
        *,
        automatic: bool,
        dispatcher_options: Mapping[str, Any],
        shutdown_timeout: float,
        secrets: list[str],
        using: str,
    ) -> None:
        self.provisioner = provisioner
        self.automatic = automatic
        self.dispatcher_options = dict(dispatcher_options)
        self.shutdown_timeout = shutdown_timeout
        self.using = using
        self._secrets = [s for s in secrets if s and len(s) >= 4]
        self._lock = threading.Lock()
        self._dispatcher: Dispatcher | None = None
        self._pid: int | None = None

    def __repr__(self) -> str:
        running = self._dispatcher is not None and self._dispatcher.running
        return (
            f"<DjangoState {self.provisioner!r} automatic={self.automatic} "
            f"dispatcher={'running' if running else 'stopped'}>"
        )

    @property
    def store(self) -> Any:
        """The provisioner's state store."""
        return self.provisioner.store

    def redact(self, text: str) -> str:
        """``text`` with the configured token replaced by ``[REDACTED]``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    @property
    def dispatcher(self) -> Dispatcher | None:
        """This process's dispatcher, if one was started."""
        return self._dispatcher if self._pid == os.getpid() else None

    def new_dispatcher(self, **overrides: Any) -> Dispatcher:
        """A dispatcher with the ``DISPATCHER`` settings (and ``overrides``), not started."""
        return Dispatcher(self.provisioner, **{**self.dispatcher_options, **overrides})

    def ensure_dispatcher(self) -> Dispatcher | None:
        """Start this process's dispatcher if ``AUTOMATIC`` is on; returns it."""
        if not self.automatic:
            return None
        with self._lock:
            d = self.dispatcher
            if d is None:
                d = self._dispatcher = self.new_dispatcher()
                self._pid = os.getpid()
            if not d.running:
                d.start()
                log.info("scimsync: dispatcher started (pid %d)", self._pid)
        return d

    def stop(self, timeout: float | None = None) -> bool:
        """Stop this process's dispatcher; rows not synced yet stay in the outbox."""
        d = self.dispatcher
        if d is None or not d.running:
            return True
        return d.stop(self.shutdown_timeout if timeout is None else timeout)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until nothing is due (with a running dispatcher), or drain in this thread."""
        d = self.dispatcher
        if d is None or not d.running:
            d = self.new_dispatcher()
        return d.flush(timeout)


def _build() -> DjangoState:
    cfg = _raw()
    alias = _database(cfg)
    url = cfg.get("URL")
    if url is None:
        raise _bad(
            "URL",
            "is not set: the SCIM base URL of the target (AWS: the SCIM endpoint shown in "
            "IAM Identity Center)",
        )
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
        raise _bad("URL", f"must be an http:// or https:// URL, not {_show(url)}")
    automatic = cfg.get("AUTOMATIC", False)
    if not isinstance(automatic, bool):
        raise _bad("AUTOMATIC", f"must be True or False, not {_show(automatic)}")
    signals_on = cfg.get("SIGNALS", True)
    if not isinstance(signals_on, bool):
        raise _bad("SIGNALS", f"must be True or False, not {_show(signals_on)}")
    profile_raw = cfg.get("PROFILE", "generic")
    if isinstance(profile_raw, str):
        try:
            profile = get_profile(profile_raw)
        except Exception as exc:
            raise _bad("PROFILE", f"{_show(profile_raw)} is not a known profile ({exc})") from None
    else:
        profile = profile_raw
    name = cfg.get("TARGET", "scim")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
        raise _bad("TARGET", f"must be a name (letters, digits, _ - .), not {_show(name)}")
    timeout = _number(cfg, "TIMEOUT", 30.0, zero_ok=False)
    assert timeout is not None
    rate = _number(cfg, "RATE_LIMIT", None, zero_ok=False)
    shutdown = _number(cfg, "SHUTDOWN_TIMEOUT", 10.0, zero_ok=True)
    verify = cfg.get("VERIFY", True)
    if not isinstance(verify, (bool, str)):
        raise _bad("VERIFY", f"must be True, False or a CA bundle path, not {_show(verify)}")
    options: dict[str, Any] = {
        "user_mapping": _hook("USER_MAPPING", cfg.get("USER_MAPPING"), UserMapping),
        "group_mapping": _hook("GROUP_MAPPING", cfg.get("GROUP_MAPPING"), GroupMapping),
        "scope": _hook("SCOPE", cfg.get("SCOPE"), Scope, predicate_ok=True),
        "policies": _hook("POLICIES", cfg.get("POLICIES"), Policies),
        "toggles": _hook("TOGGLES", cfg.get("TOGGLES"), Toggles),
    }
    options = {k: v for k, v in options.items() if v is not None}
    source = _source(cfg, alias)
    token = _token(cfg)
    try:
        client = ScimClient(
            url,
            token,
            timeout=(min(5.0, timeout), timeout),
            verify=verify,
            rate_limit=rate,
        )
    except ConfigurationError as exc:
        raise _bad("URL", str(exc)) from None
    try:
        target = Target(name=name, client=client, profile=profile, **options)
    except ConfigurationError as exc:
        raise ScimsyncImproperlyConfigured(f"settings.SCIMSYNC: {exc}") from None
    store = get_store(cfg)
    try:
        prov = Provisioner(source=source, store=store, targets=[target])
    except ConfigurationError as exc:
        raise ScimsyncImproperlyConfigured(f"settings.SCIMSYNC: {exc}") from None
    raw_disp = cfg.get("DISPATCHER", {})
    if not isinstance(raw_disp, Mapping):
        raise _bad("DISPATCHER", f"must be a dict of Dispatcher settings, not {_show(raw_disp)}")
    try:
        Dispatcher(prov, **raw_disp)  # checks the settings; starts nothing
    except TypeError as exc:
        raise _bad("DISPATCHER", f"not a Dispatcher setting: {exc}") from None
    except ConfigurationError as exc:
        raise _bad("DISPATCHER", str(exc)) from None
    return DjangoState(
        prov,
        automatic=automatic,
        dispatcher_options=raw_disp,
        shutdown_timeout=float(shutdown or 0.0),
        secrets=[token],
        using=alias,
    )


_state: DjangoState | None = None
_state_lock = threading.Lock()
_atexit_done = False


def get_state() -> DjangoState:
    """This process's :class:`DjangoState`, built from ``settings.SCIMSYNC`` on first use.

    Raises:
        ScimsyncImproperlyConfigured: a key is missing or wrong (named in the message).
    """
    global _state, _atexit_done
    state = _state
    if state is not None:
        return state
    with _state_lock:
        if _state is None:
            _state = _build()
            if not _atexit_done:
                atexit.register(_stop_at_exit)
                _atexit_done = True
        return _state


def peek_state() -> DjangoState | None:
    """The state if it was built already (never builds it)."""
    return _state


def reset_state() -> None:
    """Forget the state (stopping its dispatcher): the next use reads the settings again."""
    global _state
    with _state_lock:
        old, _state = _state, None
    if old is not None:
        old.stop(5.0)


def _stop_at_exit() -> None:
    state = _state
    if state is not None:
        try:
            state.stop()
        except Exception:  # pragma: no cover - interpreter shutdown
            log.exception("scimsync: stopping the dispatcher at exit failed")


def on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver: a new ``SCIMSYNC`` (or ``DATABASES``) rebuilds."""
    if setting in ("SCIMSYNC", "DATABASES"):
        reset_state()


def automatic() -> bool:
    """Whether ``settings.SCIMSYNC`` turns ``AUTOMATIC`` mode on."""
    raw = getattr(settings, "SCIMSYNC", None)
    return isinstance(raw, Mapping) and raw.get("AUTOMATIC") is True


def signals_enabled() -> bool:
    """Whether ``SIGNALS`` is on (default ``True``)."""
    try:
        return bool(_raw(strict=False).get("SIGNALS", True))
    except ImproperlyConfigured:
        return True


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Django system check (``manage.py check``): ``settings.SCIMSYNC`` can be built.

    A missing token environment variable is a warning (the check may run where the
    secret is not exported, such as a build step); every other mistake is an error.
    """
    from django.core import checks

    if getattr(settings, "SCIMSYNC", None) is None:
        return [
            checks.Warning(
                "settings.SCIMSYNC is not set: scimsync_django records changes but cannot sync",
                id="scimsync.W001",
            )
        ]
    try:
        _build()
    except ImproperlyConfigured as exc:
        text = str(exc)
        if "TOKEN_ENV" in text and "is not set (or empty)" in text:
            return [checks.Warning(text, id="scimsync.W002")]
        return [checks.Error(text, id="scimsync.E001")]
    return []
