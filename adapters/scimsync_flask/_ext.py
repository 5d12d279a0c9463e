"""The ``ScimSync`` Flask extension: configuration, the provisioner, automatic mode."""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from scimsync import (
    ConfigurationError,
    Dispatcher,
    Provisioner,
    ScimClient,
    SQLiteStore,
    Target,
    get_profile,
    load_config,
)

from ._source import AppContextSource, key_of

__all__ = ["EXTENSION_KEY", "ScimSync", "ScimSyncState", "get_state", "notify_group", "notify_user"]

log = logging.getLogger("scimsync.flask")

#: ``app.extensions[EXTENSION_KEY]`` holds the app's :class:`ScimSyncState`.
EXTENSION_KEY = "scimsync"

REDACTED = "[REDACTED]"

_STORE_METHODS = ("enqueue", "claim", "complete", "outbox_counts", "get_link", "list_runs")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: Shown in messages: a conventional variable name (a pasted token is rarely all caps) or a
#: short lowercase word; anything else may be a pasted token and is described by length.
_SHOWN_RE = re.compile(r"[A-Z_][A-Z0-9_]{0,63}|[a-z]{1,20}")


def _show(value: object) -> str:
    """A config value for an error message, unless it may be a pasted secret."""
    if isinstance(value, str):
        if "://" in value and " " not in value and len(value) <= 300:
            return repr(value)
        if _SHOWN_RE.fullmatch(value):
            return repr(value)
        return f"a string of {len(value)} characters (not shown, in case it is a secret)"
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    return f"a {type(value).__name__}"


def _bad(key: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"Flask config {key}: {message}")


class ScimSyncState:
    """One app's scimsync state (``app.extensions["scimsync"]``).

    Attributes:
        app: the Flask app.
        provisioner: the :class:`scimsync.Provisioner`.
        automatic: whether a :class:`scimsync.Dispatcher` runs in the serving process.
        dispatcher_options: the ``Dispatcher`` keyword arguments.
        shutdown_timeout: seconds ``stop()`` waits for syncs in progress at exit.
        user_key / group_key: how to get a key from a user (group) object, or ``None``.
    """

    def __init__(
        self,
        app: Flask,
        provisioner: Provisioner,
        *,
        automatic: bool,
        dispatcher_options: Mapping[str, Any],
        shutdown_timeout: float,
        secrets: list[str],
        user_key: Callable[[Any], Any] | None = None,
        group_key: Callable[[Any], Any] | None = None,
    ) -> None:
        self.app = app
        self.provisioner = provisioner
        self.automatic = automatic
        self.dispatcher_options = dict(dispatcher_options)
        self.shutdown_timeout = shutdown_timeout
        self.user_key = user_key
        self.group_key = group_key
        self._secrets = [s for s in secrets if s and len(s) >= 4]
        self._lock = threading.Lock()
        self._dispatcher: Dispatcher | None = None
        self._pid: int | None = None
        self._atexit_registered = False

    def __repr__(self) -> str:
        state = "running" if self.dispatcher_running else "stopped"
        return (
            f"<ScimSyncState app={self.app.name!r} {self.provisioner!r} "
            f"automatic={self.automatic} dispatcher={state}>"
        )

    # -- redaction ------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every configured token replaced by ``[REDACTED]``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    # -- the dispatcher -----------------------------------------------------------------

    @property
    def dispatcher(self) -> Dispatcher | None:
        """This process's dispatcher, if one was started (or built for a flush)."""
        if self._pid != os.getpid():
            return None
        return self._dispatcher

    @property
    def dispatcher_running(self) -> bool:
        """Whether this process's dispatcher threads are running."""
        d = self.dispatcher
        return d is not None and d.running

    def _new_dispatcher(self) -> Dispatcher:
        if self._pid != os.getpid() or self._dispatcher is None:
            # A forked child (gunicorn --preload) inherits no threads: build a new one.
            self._dispatcher = Dispatcher(self.provisioner, **self.dispatcher_options)
            self._pid = os.getpid()
        return self._dispatcher

    def ensure_dispatcher(self) -> Dispatcher | None:
        """Start this process's dispatcher if automatic mode is on and it is not running.

        Called on the first request and by ``notify_*``, never at import or ``init_app``
        time: the reloader's parent process, which serves no request, starts nothing.
        """
        if not self.automatic:
            return None
        d = self.dispatcher
        if d is not None and d.running:
            return d
        with self._lock:
            d = self._new_dispatcher()
            if not d.running:
                d.start()
                log.info(
                    "scimsync: dispatcher started for app %s (pid %d)", self.app.name, self._pid
                )
                if not self._atexit_registered:
                    atexit.register(_stop_at_exit, weakref.ref(self))
                    self._atexit_registered = True
        return d

    def stop(self, timeout: float | None = None) -> bool:
        """Stop this process's dispatcher (a sync in progress finishes); rows not synced
        yet stay in the outbox. Returns ``True`` if it has stopped."""
        d = self.dispatcher
        if d is None or not d.running:
            return True
        return d.stop(self.shutdown_timeout if timeout is None else timeout)

    def flush(self, timeout: float | None = 30.0, *, include_retries: bool = False) -> bool:
        """Wait until the outbox has nothing due and nothing is being synced.

        With the dispatcher running (automatic mode), waits for it; otherwise drains the
        due rows in the calling thread. Returns ``True`` if flushed in time.
        """
        with self._lock:
            d = self._new_dispatcher()
        return d.flush(timeout, include_retries=include_retries)

    # -- notifications ------------------------------------------------------------------

    def notify(self, kind: str, obj: Any, *, target: str | None = None) -> str:
        """Record that a user or group needs syncing (one outbox INSERT, no network)."""
        getter = self.user_key if kind == "user" else self.group_key
        key = key_of(obj, kind, getter)
        self.provisioner.notify(kind, key, target=target)
        self.ensure_dispatcher()
        return key


def _stop_at_exit(ref: weakref.ReferenceType[ScimSyncState]) -> None:
    state = ref()
    if state is None:
        return
    try:
        state.stop()
    except Exception:  # pragma: no cover - interpreter shutdown: never raise
        log.exception("scimsync: stopping the dispatcher at exit failed")


def get_state(app: Flask | None = None) -> ScimSyncState:
    """The :class:`ScimSyncState` of ``app`` (default: ``current_app``).

    Raises:
        RuntimeError: ``ScimSync`` was not initialised on the app.
    """
    app = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    assert app is not None
    try:
        state = app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            f"scimsync is not initialised on app {app.name!r}: call ScimSync(app) or "
            "ScimSync().init_app(app) in your app factory"
        ) from None
    if not isinstance(state, ScimSyncState):  # pragma: no cover - another extension's key
        raise RuntimeError(f"app.extensions[{EXTENSION_KEY!r}] is not a ScimSyncState")
    return state


def notify_user(user_or_key: Any, *, target: str | None = None) -> str:
    """Record that this user needs syncing, for the current app (one INSERT, no network).

    Call it after your save or delete is committed. ``user_or_key`` is a key (str or
    int) or a user object (Flask-Login's ``get_id()``, else ``.id``). Returns the key.
    """
    return get_state().notify("user", user_or_key, target=target)


def notify_group(group_or_key: Any, *, target: str | None = None) -> str:
    """Record that this group (its name or members) needs syncing; see :func:`notify_user`."""
    return get_state().notify("group", group_or_key, target=target)


class ScimSync:
    """scimsync for a Flask app: ``ScimSync(app, source=...)`` or, with an app factory,
    ``scim = ScimSync(source=...)`` then ``scim.init_app(app)``.

    Args:
        app: the app, or ``None`` to call :meth:`init_app` later.
        source: your users and groups: a :class:`scimsync.Source` (for example a
            :class:`~scimsync_flask.CallableSource`), or a callable ``source(app)``
            returning one. Its calls run inside the app's context.
        provisioner: instead of building one from the config, this
            :class:`scimsync.Provisioner` (or a callable ``provisioner(app)`` returning
            one). The ``SCIMSYNC_URL``/token/profile/store/config keys are then not read.
        target_options: extra :class:`scimsync.Target` arguments for a target built from
            ``SCIMSYNC_URL`` (``policies``, ``scope``, ``toggles``, ``user_mapping``,
            ``group_mapping``, ``concurrency``).
        user_key: ``user_key(user) -> key`` for :meth:`notify_user` (default:
            ``user.get_id()``, else ``user.id``).
        group_key: the same for groups (default: ``group.id``).

    Config keys (``app.config``) are listed in docs/flask.md.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        source: Any = None,
        provisioner: Provisioner | Callable[[Flask], Provisioner] | None = None,
        target_options: Mapping[str, Any] | None = None,
        user_key: Callable[[Any], Any] | None = None,
        group_key: Callable[[Any], Any] | None = None,
    ) -> None:
        self.source = source
        self._provisioner = provisioner
        self.target_options = dict(target_options or {})
        self.user_key = user_key
        self.group_key = group_key
        if app is not None:
            self.init_app(app)

    def __repr__(self) -> str:
        return f"<ScimSync source={type(self.source).__name__}>"

    # -- set-up -----------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Read the config, build the provisioner, add the ``flask scimsync`` commands.

        Nothing is started and nothing is sent: the dispatcher starts on the first request
        (or ``notify_*``) in the serving process.

        Raises:
            ConfigurationError: a config key is missing or wrong; the message names it
                (and never shows the token).
        """
        cfg = app.config
        cfg.setdefault("SCIMSYNC_URL", None)
        cfg.setdefault("SCIMSYNC_TOKEN", None)
        cfg.setdefault("SCIMSYNC_TOKEN_ENV", None)
        cfg.setdefault("SCIMSYNC_PROFILE", "generic")
        cfg.setdefault("SCIMSYNC_TARGET", "scim")
        cfg.setdefault("SCIMSYNC_STORE", None)
        cfg.setdefault("SCIMSYNC_CONFIG", None)
        cfg.setdefault("SCIMSYNC_AUTOMATIC", False)
        cfg.setdefault("SCIMSYNC_DISPATCHER", {})
        cfg.setdefault("SCIMSYNC_TIMEOUT", 30.0)
        cfg.setdefault("SCIMSYNC_VERIFY", True)
        cfg.setdefault("SCIMSYNC_RATE_LIMIT", None)
        cfg.setdefault("SCIMSYNC_SHUTDOWN_TIMEOUT", 10.0)

        automatic = cfg["SCIMSYNC_AUTOMATIC"]
        if not isinstance(automatic, bool):
            raise _bad("SCIMSYNC_AUTOMATIC", f"must be True or False, not {_show(automatic)}")
        shutdown = cfg["SCIMSYNC_SHUTDOWN_TIMEOUT"]
        if isinstance(shutdown, bool) or not isinstance(shutdown, (int, float)) or shutdown < 0:
            raise _bad(
                "SCIMSYNC_SHUTDOWN_TIMEOUT",
                f"must be a number of seconds >= 0, not {_show(shutdown)}",
            )

        secrets: list[str] = []
        dispatcher_options: dict[str, Any] = {}
        if self._provisioner is not None:
            prov = self._provisioner
            if not isinstance(prov, Provisioner):
                prov = prov(app)
            if not isinstance(prov, Provisioner):
                raise ConfigurationError(
                    f"ScimSync(provisioner=...): expected a scimsync.Provisioner, got {type(prov).__name__}"
                )
        elif cfg["SCIMSYNC_CONFIG"] is not None:
            prov, secrets, dispatcher_options = self._from_config_file(app)
        else:
            prov, secrets = self._from_keys(app)

        raw = cfg["SCIMSYNC_DISPATCHER"]
        if not isinstance(raw, Mapping):
            raise _bad(
                "SCIMSYNC_DISPATCHER", f"must be a dict of Dispatcher settings, not {_show(raw)}"
            )
        dispatcher_options.update(raw)
        try:
            Dispatcher(prov, **dispatcher_options)  # checks the settings; starts nothing
        except TypeError as exc:
            raise _bad("SCIMSYNC_DISPATCHER", f"not a Dispatcher setting: {exc}") from None
        except ConfigurationError as exc:
            raise _bad("SCIMSYNC_DISPATCHER", str(exc)) from None

        state = ScimSyncState(
            app,
            prov,
            automatic=automatic,
            dispatcher_options=dispatcher_options,
            shutdown_timeout=float(shutdown),
            secrets=secrets,
            user_key=self.user_key,
            group_key=self.group_key,
        )
        app.extensions[EXTENSION_KEY] = state
        if automatic:
            app.before_request(_start_dispatcher)

        from ._cli import scimsync_cli

        if "scimsync" not in app.cli.commands:
            app.cli.add_command(scimsync_cli)

    def _source_for(self, app: Flask, fallback: Any = None, *, required: bool = True) -> Any:
        src = self.source
        if src is not None and callable(src) and not callable(getattr(src, "get_user", None)):
            src = src(app)
        if src is None:
            if fallback is not None:
                return fallback
            if required:
                raise ConfigurationError(
                    "ScimSync(source=...) is required: where your users come from "
                    "(a scimsync.Source such as scimsync_flask.CallableSource(get_user=..., "
                    "iter_user_keys=...)), unless SCIMSYNC_CONFIG's [source] table names one"
                )
            return None
        return AppContextSource(src, app)

    def _store_for(self, app: Flask) -> Any:
        raw = app.config["SCIMSYNC_STORE"]
        if raw is None:
            raw = Path(app.instance_path) / "scimsync.sqlite3"
        if isinstance(raw, (str, os.PathLike)):
            path = Path(os.fspath(raw))
            if not str(raw).strip():
                raise _bad(
                    "SCIMSYNC_STORE", "must not be empty (a SQLite file path, or a StateStore)"
                )
            if not path.is_absolute():
                path = Path(app.instance_path) / path
            path.parent.mkdir(parents=True, exist_ok=True)
            return SQLiteStore(str(path))
        missing = [m for m in _STORE_METHODS if not callable(getattr(raw, m, None))]
        if missing:
            raise _bad(
                "SCIMSYNC_STORE",
                f"must be a SQLite file path or a scimsync.StateStore; {_show(raw)} lacks "
                + ", ".join(missing),
            )
        return raw

    def _token(self, app: Flask) -> str:
        cfg = app.config
        literal, env = cfg["SCIMSYNC_TOKEN"], cfg["SCIMSYNC_TOKEN_ENV"]
        if literal is not None and env is not None:
            raise _bad(
                "SCIMSYNC_TOKEN", "give either SCIMSYNC_TOKEN or SCIMSYNC_TOKEN_ENV, not both"
            )
        if literal is None and env is None:
            raise _bad(
                "SCIMSYNC_TOKEN_ENV",
                "is not set: name the environment variable holding the SCIM bearer token "
                "(or set SCIMSYNC_TOKEN)",
            )
        if env is not None:
            if not isinstance(env, str) or not _NAME_RE.fullmatch(env):
                raise _bad(
                    "SCIMSYNC_TOKEN_ENV", f"must be an environment variable name, not {_show(env)}"
                )
            value = os.environ.get(env, "").strip()
            if not value:
                raise _bad(
                    "SCIMSYNC_TOKEN_ENV",
                    f"the environment variable {_show(env)} is not set (or empty); export the SCIM "
                    "bearer token in it",
                )
            return value
        if not isinstance(literal, str) or not literal.strip():
            raise _bad(
                "SCIMSYNC_TOKEN",
                f"must be a non-empty string, not {_show(literal) if not isinstance(literal, str) else 'an empty string'}",
            )
        if literal != literal.strip() or any(c in literal for c in "\r\n\0"):
            raise _bad(
                "SCIMSYNC_TOKEN",
                "the token contains whitespace or control characters (check how it was "
                "copied; the token itself is not shown)",
            )
        return literal

    def _from_keys(self, app: Flask) -> tuple[Provisioner, list[str]]:
        cfg = app.config
        url = cfg["SCIMSYNC_URL"]
        if url is None:
            raise _bad(
                "SCIMSYNC_URL",
                "is not set: the SCIM base URL of the target (AWS: the SCIM endpoint "
                "shown in IAM Identity Center), or set SCIMSYNC_CONFIG to a scimsync.toml",
            )
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            raise _bad("SCIMSYNC_URL", f"must be an http:// or https:// URL, not {_show(url)}")
        profile_raw = cfg["SCIMSYNC_PROFILE"]
        if isinstance(profile_raw, str):
            try:
                profile = get_profile(profile_raw)
            except ConfigurationError as exc:
                raise _bad("SCIMSYNC_PROFILE", str(exc)) from None
            except Exception as exc:  # an unknown name may raise KeyError/LookupError
                raise _bad(
                    "SCIMSYNC_PROFILE", f"{_show(profile_raw)} is not a known profile ({exc})"
                ) from None
        else:
            profile = profile_raw
        name = cfg["SCIMSYNC_TARGET"]
        if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
            raise _bad(
                "SCIMSYNC_TARGET", f"must be a name (letters, digits, _ - .), not {_show(name)}"
            )
        source = self._source_for(app)
        token = self._token(app)
        timeout = cfg["SCIMSYNC_TIMEOUT"]
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise _bad(
                "SCIMSYNC_TIMEOUT", f"must be a positive number of seconds, not {_show(timeout)}"
            )
        verify = cfg["SCIMSYNC_VERIFY"]
        if not isinstance(verify, (bool, str)):
            raise _bad(
                "SCIMSYNC_VERIFY", f"must be True, False or a CA bundle path, not {_show(verify)}"
            )
        rate = cfg["SCIMSYNC_RATE_LIMIT"]
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0
        ):
            raise _bad(
                "SCIMSYNC_RATE_LIMIT",
                f"must be a positive number (requests per second), not {_show(rate)}",
            )
        try:
            client = ScimClient(
                url,
                token,
                timeout=(min(5.0, float(timeout)), float(timeout)),
                verify=verify,
                rate_limit=None if rate is None else float(rate),
            )
        except ConfigurationError as exc:
            raise _bad("SCIMSYNC_URL", str(exc)) from None
        try:
            target = Target(name=name, client=client, profile=profile, **self.target_options)
        except ConfigurationError as exc:
            raise ConfigurationError(f"ScimSync(target_options=...): {exc}") from None
        except TypeError as exc:
            raise ConfigurationError(f"ScimSync(target_options=...): {exc}") from None
        store = self._store_for(app)
        try:
            prov = Provisioner(source=source, store=store, targets=[target])
        except ConfigurationError as exc:
            raise ConfigurationError(f"ScimSync: {exc}") from None
        return prov, [token]

    def _from_config_file(self, app: Flask) -> tuple[Provisioner, list[str], dict[str, Any]]:
        cfg = app.config
        clash = [
            k
            for k in ("SCIMSYNC_URL", "SCIMSYNC_TOKEN", "SCIMSYNC_TOKEN_ENV")
            if cfg[k] is not None
        ]
        if clash:
            raise _bad(
                "SCIMSYNC_CONFIG",
                f"give either SCIMSYNC_CONFIG or {', '.join(clash)}, not both "
                "(the scimsync.toml file describes the targets and their tokens)",
            )
        raw = cfg["SCIMSYNC_CONFIG"]
        if not isinstance(raw, (str, os.PathLike)):
            raise _bad(
                "SCIMSYNC_CONFIG", f"must be the path of a scimsync.toml file, not {_show(raw)}"
            )
        path = Path(os.fspath(raw))
        if not path.is_absolute():
            path = Path(app.root_path) / path
        try:
            config = load_config(path)
        except ConfigurationError as exc:
            raise _bad("SCIMSYNC_CONFIG", str(exc)) from None
        source = self._source_for(app, required=False)
        if source is None:
            try:
                source = AppContextSource(config.build_source(), app)
            except ConfigurationError as exc:
                raise _bad("SCIMSYNC_CONFIG", f"{exc} (or pass ScimSync(source=...))") from None
        # SCIMSYNC_STORE, when set, replaces the file's [store] path.
        store = self._store_for(app) if cfg["SCIMSYNC_STORE"] is not None else None
        try:
            prov = config.build_provisioner(source=source, store=store)
        except ConfigurationError as exc:
            raise _bad("SCIMSYNC_CONFIG", str(exc)) from None
        return prov, config.known_tokens(), dict(config.dispatcher.options)

    # -- use ---------------------------------------------------------------------------

    def state(self, app: Flask | None = None) -> ScimSyncState:
        """The app's :class:`ScimSyncState` (default: ``current_app``)."""
        return get_state(app)

    @property
    def provisioner(self) -> Provisioner:
        """The current app's :class:`scimsync.Provisioner`."""
        return get_state().provisioner

    @property
    def dispatcher(self) -> Dispatcher | None:
        """The current app's dispatcher in this process, if started."""
        return get_state().dispatcher

    def notify_user(self, user_or_key: Any, *, target: str | None = None) -> str:
        """See :func:`scimsync_flask.notify_user`."""
        return get_state().notify("user", user_or_key, target=target)

    def notify_group(self, group_or_key: Any, *, target: str | None = None) -> str:
        """See :func:`scimsync_flask.notify_group`."""
        return get_state().notify("group", group_or_key, target=target)

    def flush(self, timeout: float | None = 30.0, *, include_retries: bool = False) -> bool:
        """Wait until the current app's outbox has nothing due (tests, shutdown); without a
        running dispatcher, drain it in this thread. Returns ``True`` if flushed in time."""
        return get_state().flush(timeout, include_retries=include_retries)

    def start_dispatcher(self) -> Dispatcher | None:
        """Start the dispatcher now (automatic mode only); returns it, or ``None``."""
        return get_state().ensure_dispatcher()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the current app's dispatcher in this process (also done at exit)."""
        return get_state().stop(timeout)


def _start_dispatcher() -> None:
    """``before_request``: start the dispatcher in the process that serves requests."""
    state = current_app.extensions.get(EXTENSION_KEY)
    if isinstance(state, ScimSyncState) and state.automatic and not state.dispatcher_running:
        state.ensure_dispatcher()
