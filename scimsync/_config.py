"""The ``scimsync.toml`` configuration file: parse, check, and build the objects it describes.

:func:`load_config` reads the file with :mod:`tomllib`, checks every key (unknown keys,
types, allowed values) and builds the parts that need no network: profiles, mappings,
policies, scope and toggles. Any mistake raises :class:`ConfigFileError`, whose message
names the file, the line when it can be found, the key path
(``targets.aws.policies.user_lifecycle``) and what is wrong.

The bearer token is never required in the file: ``token_env`` names an environment
variable, ``token_command`` a command whose standard output is the token. A literal
``token`` is accepted with a warning. Tokens are resolved only when a command needs to
talk to a target (:meth:`Config.token`), never stored in reprs, and never printed.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import importlib
import inspect
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from scimsync.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from scimsync._client import ScimClient
    from scimsync._engine import Provisioner, Target
    from scimsync._sources import Source
    from scimsync._store import StateStore

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "Config",
    "ConfigFileError",
    "DispatcherConfig",
    "LogConfig",
    "ScheduleConfig",
    "SourceConfig",
    "TargetConfig",
    "load_config",
]

#: The file ``scimsync`` reads when neither ``--config`` nor ``SCIMSYNC_CONFIG`` is given.
DEFAULT_CONFIG_NAME = "scimsync.toml"

SOURCE_TYPES = ("csv", "json", "python")
#: ``[source]`` file keys -> the source class's parameter, per type.
_SOURCE_FILES: dict[str, dict[str, str]] = {
    "csv": {"users": "users_path", "groups": "groups_path", "memberships": "memberships_path"},
    "json": {"path": "path"},
}
LOG_LEVELS = ("debug", "info", "warning", "error")
RECONCILE_MODES = ("incremental", "deep")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def _show_setting(value: str, *, quote: bool = True) -> str:
    """Quote a setting for an error message unless it may be a pasted secret.

    An admin who pastes the token where a URL or a variable name belongs must not see it
    echoed in a terminal or a CI log: URLs and short names are shown, anything long or
    shaped like neither is described by its length only.
    """
    if "://" in value or (len(value) <= 64 and re.fullmatch(r"[\w.-]*", value)):
        return repr(value) if quote else value
    return f"a value of {len(value)} characters (not shown, in case it is a secret)"


def _env_name_shown(value: str) -> bool:
    """Whether a ``token_env`` value may be quoted in an error message: a conventional
    variable name (all caps) or a short word. A token pasted there by mistake (40 hex
    digits, say, which a looser rule would take for a name) is described by its length."""
    return bool(re.fullmatch(r"[A-Z_][A-Z0-9_]{0,63}|[\w.-]{1,20}", value))


class ConfigFileError(ConfigurationError):
    """A configuration file has one or more mistakes.

    Attributes:
        path: the configuration file.
        problems: every mistake found, each a :class:`ConfigProblem`.
    """

    def __init__(self, path: Path | str, problems: Sequence[ConfigProblem]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0].render(self.path)
        head = f"{self.path}: {len(self.problems)} mistakes in the configuration file"
        return head + "".join(f"\n  - {p.render(self.path)}" for p in self.problems)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.problems))


@attrs.frozen
class ConfigProblem:
    """One mistake in a configuration file.

    Attributes:
        key: the dotted key path, e.g. ``"targets.aws.policies.user_lifecycle"`` (empty
            for a syntax error).
        message: what is wrong, e.g. ``"'nuke' is not allowed; choose one of: ..."``.
        line: the 1-based line number in the file, when known.
    """

    key: str
    message: str
    line: int | None = None

    def render(self, path: Path) -> str:
        """The problem as one line: ``file:line: key: message``."""
        where = f"{path}:{self.line}" if self.line else str(path)
        if self.key:
            return f"{where}: {self.key}: {self.message}"
        return f"{where}: {self.message}"


# --------------------------------------------------------------------------- settings


@attrs.frozen
class SourceConfig:
    """The ``[source]`` table: where the users and groups come from.

    Attributes:
        type: ``"csv"``, ``"json"``, ``"python"``, ``"iterable"`` or a type registered
            with :func:`scimsync.register_source` or a ``scimsync.sources`` entry point.
        users: the users file (csv/json).
        groups: the groups file (csv/json), optional.
        factory: ``"module:attribute"`` (python): a Source, or a callable returning one.
        options: any other keys, passed to the source's constructor as keywords.
        files: every file key given (``users``, ``groups``, ``memberships``, ``path``),
            resolved against the configuration file's folder.
    """

    type: str
    users: Path | None = None
    groups: Path | None = None
    factory: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)
    files: Mapping[str, Path] = attrs.field(factory=dict)


@attrs.frozen
class LogConfig:
    """The ``[log]`` table.

    Attributes:
        file: a log file to append to (``None``: standard error only).
        level: ``"debug"``, ``"info"``, ``"warning"`` or ``"error"``.
    """

    file: Path | None = None
    level: str = "info"


@attrs.frozen
class DispatcherConfig:
    """The ``[dispatcher]`` table (automatic mode, ``scimsync worker``).

    Attributes:
        options: keyword arguments for :class:`scimsync.Dispatcher` (e.g. ``workers``).
    """

    options: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class ScheduleConfig:
    """The ``[schedule]`` table (scheduled mode, ``scimsync worker``).

    Attributes:
        every: seconds between incremental reconciles (``"15m"`` in the file), or None.
        cron: a cron expression for incremental reconciles, or None.
        deep_every: seconds between deep reconciles, or None.
        deep_cron: a cron expression for deep reconciles, or None.
    """

    every: float | None = None
    cron: str | None = None
    deep_every: float | None = None
    deep_cron: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether any run is scheduled."""
        return any(v is not None for v in (self.every, self.cron, self.deep_every, self.deep_cron))


@attrs.frozen
class TargetConfig:
    """One ``[targets.NAME]`` table.

    The token itself is not kept here; :meth:`Config.token` resolves it on demand.

    Attributes:
        name: the target's name (the table's key).
        url: the SCIM base URL.
        profile_name: the profile's name (``"aws"``, ``"generic"``, ...).
        profile: the profile object from :func:`scimsync.profiles.get_profile`.
        token_env: the environment variable holding the token, if configured.
        token_command: the command printing the token, if configured.
        timeout: ``(connect, read)`` seconds.
        verify: ``True``/``False`` or a CA bundle path.
        rate_limit: requests per second, or ``None`` for no limit.
        user_agent: the User-Agent header, or ``None`` for scimsync's default.
        user_mapping: the built user mapping, or ``None`` for the profile's default.
        group_mapping: the built group mapping, or ``None`` for the profile's default.
        policies: the built ``Policies`` (or ``None`` for the defaults).
        scope: the built ``Scope`` (or ``None``: everything is in scope).
        toggles: the built ``Toggles`` (or ``None``: every operation enabled).
        orphans: the built ``OrphanPolicy`` for deep reconciles (``None``: ignore orphans).
        concurrency: worker threads for bulk work, or ``None`` for the engine's default.
    """

    name: str
    url: str
    profile_name: str
    profile: Any = attrs.field(repr=False)
    token_env: str | None = None
    token_command: tuple[str, ...] | None = None
    _token_literal: str | None = attrs.field(default=None, repr=False, alias="token_literal")
    timeout: tuple[float, float] = (5.0, 30.0)
    verify: bool | str = True
    rate_limit: float | None = None
    user_agent: str | None = None
    user_mapping: Any = attrs.field(default=None, repr=False)
    group_mapping: Any = attrs.field(default=None, repr=False)
    policies: Any = attrs.field(default=None, repr=False)
    scope: Any = attrs.field(default=None, repr=False)
    toggles: Any = attrs.field(default=None, repr=False)
    orphans: Any = attrs.field(default=None, repr=False)
    concurrency: int | None = None

    @property
    def token_source(self) -> str:
        """Where the token comes from, for humans (never the token itself)."""
        if self.token_env:
            return f"environment variable {self.token_env}"
        if self.token_command:
            return f"command {self.token_command[0]!r}"
        return "the configuration file (literal token)"


@attrs.define
class Config:
    """A loaded configuration file. Build it with :func:`load_config`.

    Attributes:
        path: the configuration file.
        source: the ``[source]`` settings, or ``None`` if the file has none.
        store_path: the SQLite store file.
        log: the ``[log]`` settings.
        dispatcher: the ``[dispatcher]`` settings.
        schedule: the ``[schedule]`` settings.
        targets: every target by name, in file order.
    """

    path: Path
    source: SourceConfig | None
    store_path: Path
    log: LogConfig
    dispatcher: DispatcherConfig
    schedule: ScheduleConfig
    targets: dict[str, TargetConfig]
    _tokens: dict[str, str] = attrs.field(factory=dict, repr=False, alias="tokens")

    # -- targets and tokens -------------------------------------------------------

    def target(self, name: str | None = None) -> TargetConfig:
        """One target by name; with ``None``, the only target (error if several).

        Raises:
            ConfigurationError: no such target, or ``None`` with several targets.
        """
        if name is None:
            if len(self.targets) == 1:
                return next(iter(self.targets.values()))
            raise ConfigurationError(
                f"{self.path}: several targets are configured "
                f"({', '.join(self.targets)}): choose one with --target"
            )
        try:
            return self.targets[name]
        except KeyError:
            raise ConfigurationError(
                f"{self.path}: no target named {name!r}; configured: {', '.join(self.targets)}"
            ) from None

    def selected(self, name: str | None = None) -> list[TargetConfig]:
        """The targets a command acts on: the one named, or all of them."""
        if name is not None:
            return [self.target(name)]
        return list(self.targets.values())

    def token(self, name: str) -> str:
        """The bearer token of target ``name``, resolved now (and cached).

        Raises:
            ConfigurationError: the variable is unset or empty, or the command failed.
                The message never contains the token.
        """
        if name in self._tokens:
            return self._tokens[name]
        tc = self.target(name)
        key = f"targets.{name}"
        token: str
        if tc.token_env:
            value = os.environ.get(tc.token_env, "").strip()
            if not value:
                raise ConfigurationError(
                    f"{self.path}: {key}.token_env: the environment variable "
                    + (
                        tc.token_env
                        if _env_name_shown(tc.token_env)
                        else f"named by a value of {len(tc.token_env)} characters (not "
                        "shown, in case it is a secret)"
                    )
                    + " is not set (or empty); export the SCIM bearer token in it"
                )
            token = value
        elif tc.token_command:
            token = _run_token_command(self.path, key, tc.token_command)
        elif tc._token_literal:
            token = tc._token_literal
        else:  # pragma: no cover - load_config refuses this
            raise ConfigurationError(f"{self.path}: {key}: no token configured")
        self._tokens[name] = token
        return token

    def known_tokens(self) -> list[str]:
        """Every token resolved so far (for redaction of output and logs)."""
        return [t for t in self._tokens.values() if t]

    # -- builders -----------------------------------------------------------------

    def build_client(self, name: str) -> ScimClient:
        """A :class:`scimsync.ScimClient` for target ``name`` (resolves its token)."""
        from scimsync._client import ScimClient

        tc = self.target(name)
        kwargs: dict[str, Any] = {"timeout": tc.timeout, "verify": tc.verify}
        if tc.rate_limit is not None:
            kwargs["rate_limit"] = tc.rate_limit
        if tc.user_agent is not None:
            kwargs["user_agent"] = tc.user_agent
        return ScimClient(tc.url, self.token(name), **_accepted(ScimClient, kwargs))

    def build_source(self) -> Source:
        """The :class:`scimsync.Source` the ``[source]`` table describes.

        Raises:
            ConfigurationError: no ``[source]`` table, or the source cannot be built.
        """
        sc = self.source
        if sc is None:
            raise ConfigurationError(
                f"{self.path}: this command needs a [source] table (where users come from)"
            )
        if sc.type == "python":
            assert sc.factory is not None
            obj = _import_object(self.path, "source.factory", sc.factory)
            if callable(obj) and not _looks_like_source(obj):
                try:
                    obj = obj(**sc.options)
                except ConfigurationError:
                    raise
                except Exception as exc:
                    raise ConfigurationError(
                        f"{self.path}: source.factory: calling {sc.factory} failed: {exc}"
                    ) from exc
            return obj  # type: ignore[no-any-return]
        from scimsync._sources import get_source_factory

        cls: Any = get_source_factory(sc.type)
        if sc.type not in _SOURCE_FILES:  # a registered or entry-point source type
            try:
                built: Source = cls(**sc.options)
            except ConfigurationError as exc:
                raise ConfigurationError(f"{self.path}: source: {exc}") from exc
            except Exception as exc:
                raise ConfigurationError(
                    f"{self.path}: source: cannot build the {sc.type} source: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            return built
        for name, file in sc.files.items():
            if not file.exists():
                raise ConfigurationError(f"{self.path}: source.{name}: {file} does not exist")
        kwargs = dict(sc.options)
        for name, param in _SOURCE_FILES[sc.type].items():
            if name in sc.files:
                kwargs[param] = sc.files[name]
        try:
            source: Source = cls(**kwargs)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{self.path}: source: {exc}") from exc
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ConfigurationError(
                f"{self.path}: source: cannot read the {sc.type} source: {exc}"
            ) from exc
        return source

    def build_store(self) -> StateStore:
        """The SQLite state store at ``[store] path`` (created if missing)."""
        from scimsync._store import SQLiteStore

        self.store_path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteStore(str(self.store_path))

    def build_target(self, name: str) -> Target:
        """The engine's :class:`scimsync.Target` for target ``name`` (resolves its token)."""
        from scimsync._engine import Target

        tc = self.target(name)
        kwargs: dict[str, Any] = {
            "name": tc.name,
            "client": self.build_client(name),
            "profile": tc.profile,
        }
        for attr in (
            "user_mapping",
            "group_mapping",
            "policies",
            "scope",
            "toggles",
            "concurrency",
        ):
            value = getattr(tc, attr)
            if value is not None:
                kwargs[attr] = value
        return Target(**kwargs)

    def build_provisioner(
        self,
        target: str | None = None,
        *,
        store: StateStore | None = None,
        source: Source | None = None,
    ) -> Provisioner:
        """A :class:`scimsync.Provisioner` for the selected target(s).

        Args:
            target: only this target; ``None`` for all of them.
            store: an already open store (default: :meth:`build_store`).
            source: an already built source (default: :meth:`build_source`).
        """
        from scimsync._engine import Provisioner

        targets = [self.build_target(t.name) for t in self.selected(target)]
        return Provisioner(
            source=source if source is not None else self.build_source(),
            store=store if store is not None else self.build_store(),
            targets=targets,
        )


# --------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, check and build a ``scimsync.toml`` file.

    Everything that can be checked without the network is checked now: TOML syntax,
    unknown keys (with a "did you mean"), types, allowed values, that every target has
    a URL, a profile that exists and a way to get its token, and that the mappings,
    policies, scope and toggles build.

    Args:
        path: the configuration file.

    Returns:
        The loaded :class:`Config`. Tokens are not resolved yet.

    Raises:
        ConfigFileError: the file is missing, unreadable, not TOML, or has mistakes; the
            message names the file, the line (when known), the key path and what is wrong.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(
            p,
            [
                ConfigProblem(
                    "",
                    "no such configuration file (give one with --config, or set SCIMSYNC_CONFIG)",
                )
            ],
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(p, [ConfigProblem("", f"cannot read the file: {exc}")]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(p, [_syntax_problem(exc)]) from None
    loader = _Loader(p, text)
    config = loader.load(data)
    if loader.problems:
        raise ConfigFileError(p, loader.problems)
    assert config is not None
    return config


def _syntax_problem(exc: tomllib.TOMLDecodeError) -> ConfigProblem:
    msg = str(exc)
    line: int | None = getattr(exc, "lineno", None)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    if m:
        line = line or int(m.group(1))
        msg = msg[: m.start()].strip()
    elif "end of document" in msg:
        msg = msg.replace("(at end of document)", "").strip() + " (at the end of the file)"
    return ConfigProblem("", f"not valid TOML: {msg}", line)


class _Invalid(Exception):
    """Raised inside the loader to abandon one key after recording its problem."""


class _Loader:
    """Walks the parsed TOML, recording every problem with its key path and line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.base = path.parent
        self.locator = _Locator(text)
        self.problems: list[ConfigProblem] = []

    # -- problem recording --------------------------------------------------------

    def problem(self, key: str, message: str) -> _Invalid:
        self.problems.append(ConfigProblem(key, message, self.locator.line_of(key)))
        return _Invalid()

    def table(self, data: Mapping[str, Any], key: str, allowed: Sequence[str]) -> dict[str, Any]:
        """Check that a table has only ``allowed`` keys; return it as a dict."""
        if not isinstance(data, Mapping):
            raise self.problem(key, f"must be a table, not {_tname(data)}")
        for k in data:
            if k not in allowed:
                hint = difflib.get_close_matches(k, allowed, n=1)
                more = (
                    f" (did you mean {hint[0]!r}?)"
                    if hint
                    else f"; allowed keys: {', '.join(allowed)}"
                )
                self.problem(_join(key, k), f"unknown key{more}")
        return dict(data)

    def get(
        self,
        data: Mapping[str, Any],
        key: str,
        name: str,
        types: type | tuple[type, ...],
        *,
        default: Any = None,
        required: bool = False,
        choices: Sequence[str] | None = None,
    ) -> Any:
        full = _join(key, name)
        if name not in data:
            if required:
                raise self.problem(full, "is required")
            return default
        value = data[name]
        if isinstance(value, bool) and bool not in _as_tuple(types):
            raise self.problem(full, f"must be {_type_words(types)}, not a boolean")
        if not isinstance(value, types):
            raise self.problem(full, f"must be {_type_words(types)}, not {_tname(value)}")
        if choices is not None and value not in choices:
            raise self.problem(
                full, f"{value!r} is not allowed; choose one of: {', '.join(choices)}"
            )
        return value

    def soft(self, fn: Callable[[], Any], default: Any = None) -> Any:
        """Run one check; on a recorded problem, carry on with ``default``."""
        try:
            return fn()
        except _Invalid:
            return default

    def path_value(self, data: Mapping[str, Any], key: str, name: str) -> Path | None:
        raw = self.get(data, key, name, str)
        if raw is None:
            return None
        if not raw.strip():
            raise self.problem(_join(key, name), "must not be empty")
        p = Path(os.path.expandvars(os.path.expanduser(raw)))
        return p if p.is_absolute() else self.base / p

    def duration(self, data: Mapping[str, Any], key: str, name: str) -> float | None:
        raw = self.get(data, key, name, (int, float, str))
        if raw is None:
            return None
        seconds = parse_duration(raw)
        if seconds is None or seconds <= 0:
            raise self.problem(
                _join(key, name),
                f"{raw!r} is not a positive duration (seconds, or text like '90s', '15m', '2h', '1d')",
            )
        return seconds

    # -- sections -----------------------------------------------------------------

    def load(self, data: dict[str, Any]) -> Config | None:
        top = self.table(data, "", ["source", "store", "log", "dispatcher", "schedule", "targets"])
        source = self.soft(lambda: self.load_source(top.get("source")))
        store_path = self.soft(lambda: self.load_store(top.get("store", {})))
        log = self.soft(lambda: self.load_log(top.get("log", {})), LogConfig())
        dispatcher = self.soft(
            lambda: self.load_dispatcher(top.get("dispatcher", {})), DispatcherConfig()
        )
        schedule = self.soft(lambda: self.load_schedule(top.get("schedule", {})), ScheduleConfig())
        targets = self.soft(lambda: self.load_targets(top.get("targets")), {})
        if self.problems:
            return None
        return Config(
            path=self.path,
            source=source,
            store_path=store_path,
            log=log,
            dispatcher=dispatcher,
            schedule=schedule,
            targets=targets,
        )

    def load_source(self, raw: Any) -> SourceConfig | None:
        if raw is None:
            return None
        key = "source"
        if not isinstance(raw, Mapping):
            raise self.problem(key, f"must be a table, not {_tname(raw)}")
        typ = self.get(raw, key, "type", str, required=True)
        if typ not in SOURCE_TYPES:
            return self.load_plugin_source(raw, typ)
        if typ == "python":
            factory = self.get(raw, key, "factory", str, required=True)
            if ":" not in factory or not all(factory.split(":", 1)):
                raise self.problem(
                    "source.factory", f"{factory!r} must look like 'package.module:attribute'"
                )
            return SourceConfig(
                type=typ,
                factory=factory,
                options={k: v for k, v in raw.items() if k not in ("type", "factory")},
            )
        file_keys = _SOURCE_FILES[typ]
        if typ == "json" and "users" in raw and "path" not in raw:
            raise self.problem(
                "source.users",
                'a json source reads one file: write path = "..." instead '
                '(a document {"users": [...], "groups": [...]}, or JSON Lines)',
            )
        cls_name = "CSVSource" if typ == "csv" else "JSONSource"
        params = _init_params("scimsync._sources", cls_name, skip=tuple(file_keys.values()))
        allowed = ["type", *file_keys, *(params or [])]
        if params is not None:
            self.table(raw, key, allowed)
        paths: dict[str, Path] = {}
        for name in file_keys:
            p = self.soft(functools.partial(self.path_value, raw, key, name))
            if p is not None:
                paths[name] = p
        required = "users" if typ == "csv" else "path"
        if required not in paths and not any(p.key == f"source.{required}" for p in self.problems):
            what = "the users file" if typ == "csv" else "the JSON or JSON Lines file"
            raise self.problem(f"source.{required}", f"is required for a {typ} source ({what})")
        options: dict[str, Any] = {}
        for k, v in raw.items():
            if k == "type" or k in file_keys:
                continue
            if k.endswith("_path") and isinstance(v, str):
                options[k] = str(self.path_value(raw, key, k))
            elif isinstance(v, list):
                options[k] = tuple(v)
            else:
                options[k] = v
        return SourceConfig(
            type=typ,
            users=paths.get("users") or paths.get("path"),
            groups=paths.get("groups"),
            options=options,
            files=paths,
        )

    def load_plugin_source(self, raw: Mapping[str, Any], typ: str) -> SourceConfig:
        """A source type from :func:`scimsync.register_source` or a ``scimsync.sources``
        entry point: its other keys are the factory's keyword arguments."""
        from scimsync._sources import get_source_factory, source_type_names

        key = "source"
        known = source_type_names()
        if typ not in known:
            hint = difflib.get_close_matches(typ, known, n=1)
            raise self.problem(
                "source.type",
                f"{typ!r} is not a known source type"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; choose one of: {', '.join(known)} (packages add types through the "
                "scimsync.sources entry point group)",
            )
        try:
            factory = get_source_factory(typ)
        except ConfigurationError as exc:
            raise self.problem("source.type", _plain(exc)) from None
        params = _signature_names(factory)
        if params is not None:
            self.table(raw, key, ["type", *params])
        options: dict[str, Any] = {}
        for k, v in raw.items():
            if k == "type" or (params is not None and k not in params):
                continue
            if (k == "path" or k.endswith("_path")) and isinstance(v, str):
                p = self.soft(functools.partial(self.path_value, raw, key, k))
                if p is not None:
                    options[k] = str(p)
            else:
                options[k] = v
        return SourceConfig(type=typ, options=options)

    def load_store(self, raw: Any) -> Path:
        tbl = self.table(raw, "store", ["path"])
        p = self.path_value(tbl, "store", "path")
        return p if p is not None else self.base / "scimsync.sqlite3"

    def load_log(self, raw: Any) -> LogConfig:
        tbl = self.table(raw, "log", ["file", "level"])
        file = self.soft(lambda: self.path_value(tbl, "log", "file"))
        level = self.get(tbl, "log", "level", str, default="info", choices=LOG_LEVELS)
        return LogConfig(file=file, level=level)

    def load_dispatcher(self, raw: Any) -> DispatcherConfig:
        if not isinstance(raw, Mapping):
            raise self.problem("dispatcher", f"must be a table, not {_tname(raw)}")
        options = dict(raw)
        allowed = _init_params("scimsync._dispatch", "Dispatcher", skip=("provisioner", "store"))
        if allowed is not None:
            self.table(options, "dispatcher", allowed)
        for k, v in options.items():
            if isinstance(v, str) and k.endswith(("interval", "timeout", "backoff", "delay")):
                seconds = parse_duration(v)
                if seconds is None:
                    self.problem(_join("dispatcher", k), f"{v!r} is not a duration")
                else:
                    options[k] = seconds
        return DispatcherConfig(options=options)

    def load_schedule(self, raw: Any) -> ScheduleConfig:
        key = "schedule"
        tbl = self.table(raw, key, ["every", "cron", "deep_every", "deep_cron"])
        every = self.soft(lambda: self.duration(tbl, key, "every"))
        deep_every = self.soft(lambda: self.duration(tbl, key, "deep_every"))
        cron = self.soft(lambda: self.cron(tbl, key, "cron"))
        deep_cron = self.soft(lambda: self.cron(tbl, key, "deep_cron"))
        if every is not None and cron is not None:
            self.problem("schedule.cron", "give either 'every' or 'cron', not both")
        if deep_every is not None and deep_cron is not None:
            self.problem("schedule.deep_cron", "give either 'deep_every' or 'deep_cron', not both")
        return ScheduleConfig(every=every, cron=cron, deep_every=deep_every, deep_cron=deep_cron)

    def cron(self, tbl: Mapping[str, Any], key: str, name: str) -> str | None:
        expr = self.get(tbl, key, name, str)
        if expr is None:
            return None
        try:
            from croniter import croniter

            ok = croniter.is_valid(expr)
        except ImportError:  # pragma: no cover - croniter is a core dependency
            ok = len(expr.split()) in (5, 6)
        if not ok:
            raise self.problem(
                _join(key, name), f"{expr!r} is not a valid cron expression (e.g. '*/15 * * * *')"
            )
        return str(expr)

    def load_targets(self, raw: Any) -> dict[str, TargetConfig]:
        if raw is None:
            raise self.problem(
                "targets", "at least one target is required, e.g. a [targets.aws] table"
            )
        if not isinstance(raw, Mapping):
            raise self.problem("targets", f"must be a table of targets, not {_tname(raw)}")
        if not raw:
            raise self.problem("targets", "at least one target is required")
        out: dict[str, TargetConfig] = {}
        for name, tbl in raw.items():
            tc = self.soft(functools.partial(self.load_target, name, tbl))
            if tc is not None:
                out[name] = tc
        return out

    def load_target(self, name: str, raw: Any) -> TargetConfig:
        key = f"targets.{name}"
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            self.problem(key, "a target name may use letters, digits, '_', '-' and '.' only")
        tbl = self.table(raw, key, list(_TARGET_KEYS))
        g = self.soft
        url = g(lambda: self.get(tbl, key, "url", str, required=True))
        if url is not None and not re.match(r"^https?://[^/\s]+", url):
            self.problem(f"{key}.url", f"{_show_setting(url)} is not an http(s) URL")
        profile_name = g(lambda: self.get(tbl, key, "profile", str, default="generic"))
        profile = None
        if profile_name is not None:
            profile = g(lambda: self.build_profile(key, profile_name))
        token_env = g(lambda: self.get(tbl, key, "token_env", str))
        token_command = g(lambda: self.token_command(tbl, key))
        token_literal = g(lambda: self.get(tbl, key, "token", str))
        given = [
            n
            for n, v in (
                ("token_env", token_env),
                ("token_command", token_command),
                ("token", token_literal),
            )
            if v is not None
        ]
        if not given and not any(k in tbl for k in ("token_env", "token_command", "token")):
            self.problem(
                key,
                'no token source: add token_env = "SCIMSYNC_TOKEN" (an environment variable) '
                'or token_command = ["op", "read", "..."]',
            )
        elif len(given) > 1:
            self.problem(f"{key}.{given[1]}", f"give only one of {', '.join(given)}")
        if token_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token_env):
            self.problem(
                f"{key}.token_env",
                (
                    repr(token_env)
                    if _env_name_shown(token_env)
                    else f"a value of {len(token_env)} characters (not shown, in case it "
                    "is a secret)"
                )
                + " is not an environment variable name "
                "(name the variable that holds the token, not the token itself)",
            )
        if token_literal is not None:
            line = self.locator.line_of(f"{key}.token")
            where = f"{self.path}:{line}" if line else str(self.path)
            warnings.warn(
                f"{where}: {key}.token: the bearer token is written in the configuration file; "
                "prefer token_env or token_command so the file can be shared safely",
                UserWarning,
                stacklevel=4,
            )
        timeout = g(lambda: self.timeout(tbl, key), (5.0, 30.0))
        verify = g(lambda: self.get(tbl, key, "verify", (bool, str), default=True), True)
        rate_limit = g(lambda: self.get(tbl, key, "rate_limit", (int, float)))
        if rate_limit is not None and rate_limit <= 0:
            self.problem(f"{key}.rate_limit", "must be a positive number of requests per second")
        user_agent = g(lambda: self.get(tbl, key, "user_agent", str))
        concurrency = g(lambda: self.get(tbl, key, "concurrency", int))
        if concurrency is not None and concurrency < 1:
            self.problem(f"{key}.concurrency", "must be at least 1")

        user_mapping = group_mapping = None
        if "user_mapping" in tbl:
            user_mapping = g(
                lambda: self.build_mapping(
                    "UserMapping", f"{key}.user_mapping", tbl["user_mapping"], profile
                )
            )
        if "group_mapping" in tbl:
            group_mapping = g(
                lambda: self.build_mapping(
                    "GroupMapping", f"{key}.group_mapping", tbl["group_mapping"], profile
                )
            )
        built: dict[str, Any] = {}
        for section, cls_name in (
            ("policies", "Policies"),
            ("scope", "Scope"),
            ("toggles", "Toggles"),
            ("orphans", "OrphanPolicy"),
        ):
            if section in tbl:
                raw_section = tbl[section]
                if section == "orphans" and isinstance(raw_section, str):
                    raw_section = {"action": raw_section}
                built[section] = g(
                    functools.partial(
                        self.build_engine_object, cls_name, f"{key}.{section}", raw_section
                    )
                )
        if "missing_names" in tbl and profile is not None:
            raw_mn = tbl["missing_names"]
            if isinstance(raw_mn, str):
                raw_mn = {"mode": raw_mn}
            mn = g(lambda: self.build_engine_object("MissingNames", f"{key}.missing_names", raw_mn))
            if mn is not None:
                profile = attrs.evolve(profile, missing_names=mn)
        if isinstance(verify, str):
            vpath = Path(os.path.expanduser(verify))
            verify = str(vpath if vpath.is_absolute() else self.base / vpath)
        return TargetConfig(
            name=name,
            url=url or "",
            profile_name=profile_name or "generic",
            profile=profile,
            token_env=token_env,
            token_command=token_command,
            token_literal=token_literal,
            timeout=timeout,
            verify=verify,
            rate_limit=float(rate_limit) if rate_limit is not None else None,
            user_agent=user_agent,
            user_mapping=user_mapping,
            group_mapping=group_mapping,
            policies=built.get("policies"),
            scope=built.get("scope"),
            toggles=built.get("toggles"),
            orphans=built.get("orphans"),
            concurrency=concurrency,
        )

    def token_command(self, tbl: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
        raw = self.get(tbl, key, "token_command", (list, str))
        if raw is None:
            return None
        if isinstance(raw, str):
            raise self.problem(
                f"{key}.token_command",
                'must be a list of strings (no shell), e.g. ["op", "read", "op://vault/scim/token"]',
            )
        if not raw or not all(isinstance(a, str) and a for a in raw):
            raise self.problem(f"{key}.token_command", "must be a non-empty list of strings")
        return tuple(raw)

    def timeout(self, tbl: Mapping[str, Any], key: str) -> tuple[float, float]:
        connect, read = 5.0, 30.0
        if "timeout" in tbl:
            t = self.duration(tbl, key, "timeout")
            assert t is not None
            connect, read = min(t, connect), t
        c = self.duration(tbl, key, "connect_timeout")
        r = self.duration(tbl, key, "read_timeout")
        return (c if c is not None else connect, r if r is not None else read)

    def build_profile(self, key: str, name: str) -> Any:
        try:
            from scimsync.profiles import get_profile
        except ImportError:  # the profiles part has not landed in this tree
            return None
        try:
            return get_profile(name)
        except (LookupError, ValueError, ConfigurationError) as exc:
            raise self.problem(f"{key}.profile", _plain(exc)) from None

    def build_mapping(self, cls_name: str, key: str, raw: Any, profile: Any) -> Any:
        if not isinstance(raw, Mapping):
            raise self.problem(key, f"must be a table, not {_tname(raw)}")
        cls = _optional_attr("scimsync._mapping", cls_name)
        if cls is None:
            raise self.problem(key, f"mappings need scimsync.{cls_name}, which is not installed")
        base = None
        if profile is not None:
            factory = getattr(
                profile,
                "default_user_mapping" if cls_name == "UserMapping" else "default_group_mapping",
                None,
            )
            base = factory() if callable(factory) else None
        try:
            return cls.from_dict(
                dict(raw), **_accepted(cls.from_dict, {"where": key, "base": base})
            )
        except (ConfigurationError, ValueError, TypeError, KeyError) as exc:
            text = _plain(exc)
            # "targets.aws.user_mapping.<scim path>: what" -> that key, its line, "what"
            for sub in sorted((str(k) for k in raw), key=len, reverse=True):
                full = f"{key}.{sub}"
                if text.startswith(full):
                    rest = text[len(full) :]
                    parts = (*key.split("."), sub)
                    self.problems.append(
                        ConfigProblem(
                            full + rest.split(":", 1)[0],
                            rest.split(":", 1)[-1].strip(),
                            self.locator.line_of(parts),
                        )
                    )
                    raise _Invalid() from None
            if text.startswith(f"{key}: "):
                text = text[len(key) + 2 :]
            raise self.problem(key, text) from None

    def build_engine_object(self, cls_name: str, key: str, raw: Any) -> Any:
        """Build Policies/Scope/Toggles/OrphanPolicy/MissingNames from a table.

        Each key is checked on its own (the class is built with that key alone), so a
        mistake is reported at its exact key path.
        """
        if not isinstance(raw, Mapping):
            raise self.problem(key, f"must be a table, not {_tname(raw)}")
        cls = None
        for module in _CLASS_MODULES[cls_name]:
            cls = cls or _optional_attr(module, cls_name)
        if cls is None:
            raise self.problem(key, f"needs scimsync.{cls_name}, which is not installed")
        kinds = _ENGINE_KEYS[cls_name]
        known = _field_names(cls) or list(kinds)
        tbl = self.table(raw, key, sorted(set(known) | set(kinds)))
        kwargs: dict[str, Any] = {}
        bad = False
        for name, value in tbl.items():
            if name not in known:
                continue
            full = _join(key, name)
            try:
                converted = self.convert(full, kinds.get(name, "any"), value)
                cls(**{name: converted})  # validate this key alone, to name it exactly
            except _Invalid:
                bad = True
                continue
            except (ConfigurationError, ValueError, TypeError) as exc:
                self.problem(full, _strip_owner(_plain(exc), cls_name, name))
                bad = True
                continue
            kwargs[name] = converted
        if bad:
            raise _Invalid()
        try:
            return cls(**kwargs)
        except (ConfigurationError, ValueError, TypeError) as exc:
            raise self.problem(key, _plain(exc)) from None

    def convert(self, full: str, kind: str, value: Any) -> Any:
        """One TOML value -> the constructor's value, by the key's kind."""
        if kind == "bool":
            if not isinstance(value, bool):
                raise self.problem(full, f"must be true or false, not {_tname(value)}")
            return value
        if kind == "str":
            if not isinstance(value, str):
                raise self.problem(full, f"must be a string, not {_tname(value)}")
            return value
        if kind == "strlist":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.problem(full, f"must be a list of strings, not {_tname(value)}")
            return list(value)
        if kind == "timedelta":
            seconds = parse_duration(value)
            if seconds is None or seconds < 0:
                raise self.problem(
                    full, f"{value!r} is not a duration (seconds, or text like '12h', '30d')"
                )
            return dt.timedelta(seconds=seconds)
        if kind == "threshold":
            if isinstance(value, str) and value.strip().endswith("%"):
                try:
                    pct = float(value.strip()[:-1])
                except ValueError:
                    raise self.problem(full, f"{value!r} is not a percentage") from None
                if not 0 < pct < 100:
                    raise self.problem(full, "a percentage must be between 0% and 100%")
                return pct / 100.0
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.problem(
                    full,
                    f"must be a number of deletes per run (e.g. 20), a fraction (0.05) or a "
                    f"percentage ('5%'), not {_tname(value)}",
                )
            return value
        if kind == "callable":
            if not isinstance(value, str) or ":" not in value:
                raise self.problem(
                    full, f"{value!r} must be a string like 'package.module:function'"
                )
            try:
                obj = _import_object(self.path, full, value)
            except ConfigurationError as exc:
                raise self.problem(full, _plain(exc).split(f"{full}: ", 1)[-1]) from None
            if not callable(obj):
                raise self.problem(full, f"{value!r} is not callable")
            return obj
        return value


_TARGET_KEYS = (
    "url",
    "profile",
    "token_env",
    "token_command",
    "token",
    "timeout",
    "connect_timeout",
    "read_timeout",
    "verify",
    "rate_limit",
    "user_agent",
    "user_mapping",
    "group_mapping",
    "policies",
    "scope",
    "toggles",
    "orphans",
    "missing_names",
    "concurrency",
)

#: Where the classes built from target sub-tables live.
_CLASS_MODULES: dict[str, tuple[str, ...]] = {
    "Policies": ("scimsync._engine",),
    "Scope": ("scimsync._engine",),
    "Toggles": ("scimsync._engine",),
    "OrphanPolicy": ("scimsync._reconcile",),
    "MissingNames": ("scimsync.profiles", "scimsync.profiles._base"),
}

#: Kinds of the keys of ``policies``, ``scope`` and ``toggles`` (see ``_Loader.convert``).
_ENGINE_KEYS: dict[str, dict[str, str]] = {
    "Policies": {
        "user_lifecycle": "str",
        "grace_period": "timedelta",
        "group_lifecycle": "str",
        "require_approval": "strlist",
        "deletion_threshold": "threshold",
    },
    "Scope": {
        "allowed_email_domains": "strlist",
        "required_groups": "strlist",
        "predicate": "callable",
        "group_predicate": "callable",
    },
    "OrphanPolicy": {
        "action": "str",
        "ignore_ids": "strlist",
        "ignore_user_names": "strlist",
        "ignore_display_names": "strlist",
        "ignore": "callable",
        "kinds": "strlist",
    },
    "MissingNames": {"mode": "str", "from_attribute": "str", "value": "str"},
    "Toggles": dict.fromkeys(
        (
            "create_users",
            "update_users",
            "deactivate_users",
            "delete_users",
            "create_groups",
            "update_groups",
            "delete_groups",
            "membership",
        ),
        "bool",
    ),
}


# --------------------------------------------------------------------------- locating lines


class _Locator:
    """Best-effort ``key path -> line number`` for error messages.

    Understands ``[table.headers]``, ``[[arrays]]`` (by header), ``key = value`` lines,
    dotted and quoted keys (``a.b = 1``, ``"emails[type eq \\"work\\"].value" = ...``).
    Returns the closest enclosing key's line rather than guess.
    """

    _HEADER = re.compile(r"^\s*\[\[?(.+?)\]\]?\s*(?:#.*)?$")
    _ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-\"'][^=]*?)\s*=")

    def __init__(self, text: str) -> None:
        self.entries: list[tuple[tuple[str, ...], int]] = []
        table: tuple[str, ...] = ()
        for n, line in enumerate(text.splitlines(), start=1):
            h = self._HEADER.match(line)
            if h and not self._ASSIGN.match(line):
                parts = _key_parts(h.group(1))
                if parts is not None:
                    table = parts
                    self.entries.append((table, n))
                continue
            a = self._ASSIGN.match(line)
            if a:
                parts = _key_parts(a.group(1))
                if parts is not None:
                    self.entries.append((table + parts, n))

    def line_of(self, key: str | Sequence[str]) -> int | None:
        parts = tuple(key.split(".")) if isinstance(key, str) else tuple(key)
        if not parts or parts == ("",):
            return None
        while parts:
            for k, n in self.entries:
                if k == parts:
                    return n
            parts = parts[:-1]
        return None


def _key_parts(raw: str) -> tuple[str, ...] | None:
    """The parts of a TOML key (``a."b.c".d`` -> ``("a", "b.c", "d")``), by asking tomllib."""
    try:
        doc: Any = tomllib.loads(f"{raw.strip()} = 0")
    except tomllib.TOMLDecodeError:
        return None
    parts: list[str] = []
    while isinstance(doc, dict) and len(doc) == 1:
        k, doc = next(iter(doc.items()))
        parts.append(k)
    return tuple(parts)


# --------------------------------------------------------------------------- helpers


def parse_duration(value: Any) -> float | None:
    """Seconds from ``90``, ``1.5``, ``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``, ``"250ms"``.

    Returns ``None`` when the value is not a duration.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    m = _DURATION_RE.match(value)
    if not m:
        return None
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


_TYPE_WORDS = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def _type_words(types: type | tuple[type, ...]) -> str:
    words = [_TYPE_WORDS.get(t, t.__name__) for t in _as_tuple(types)]
    if "an integer" in words and "a number" in words:
        words.remove("an integer")
    return " or ".join(words)


def _tname(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "a table"
    return _TYPE_WORDS.get(type(value), type(value).__name__)


def _strip_owner(text: str, cls_name: str, name: str) -> str:
    """``"Policies.user_lifecycle='x' is not one of a, b"`` -> ``"'x' is not one of a, b"``."""
    for prefix in (f"{cls_name}.{name}=", f"{cls_name}.{name}: ", f"{cls_name}.{name} "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _plain(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        text = str(exc.args[0])
    return text


def _optional_attr(module: str, name: str) -> Any:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    return getattr(mod, name, None)


def _init_params(module: str, name: str, *, skip: Sequence[str] = ()) -> list[str] | None:
    cls = _optional_attr(module, name)
    if cls is None:
        return None
    names = _signature_names(cls)
    if names is None:
        return None
    return [n for n in names if n not in skip and n != "self"]


def _signature_names(fn: Any) -> list[str] | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return [
        p.name
        for p in sig.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]


def _accepted(fn: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of ``kwargs`` that ``fn`` accepts (all of them if it takes ``**kw``)."""
    names = _signature_names(fn)
    if names is None:
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in names}


def _field_names(cls: Any) -> list[str] | None:
    if attrs.has(cls):
        return [f.alias or f.name for f in attrs.fields(cls) if f.init]
    names = _signature_names(cls)
    return [n for n in names if n != "self"] if names is not None else None


def _import_object(path: Path, key: str, spec: str) -> Any:
    module, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise ConfigurationError(f"{path}: {key}: cannot import {module!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigurationError(
                f"{path}: {key}: module {module!r} has no attribute {attr!r}"
            ) from None
    return obj


def _looks_like_source(obj: Any) -> bool:
    return not inspect.isclass(obj) and hasattr(obj, "get_user") and not inspect.isfunction(obj)


def _run_token_command(path: Path, key: str, argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path}: {key}.token_command: the program {argv[0]!r} was not found"
        ) from None
    except subprocess.TimeoutExpired:
        raise ConfigurationError(
            f"{path}: {key}.token_command: {argv[0]!r} did not finish within 60 seconds"
        ) from None
    token = proc.stdout.strip()
    if proc.returncode != 0:
        # stderr may be useful; stdout is never shown (it could be a token).
        err = proc.stderr.strip().splitlines()[-1:] if proc.stderr else []
        if token:
            err = [line.replace(token, "[REDACTED]") for line in err]
        said = f": {err[0]}" if err else ""
        raise ConfigurationError(
            f"{path}: {key}.token_command: {argv[0]!r} exited with status {proc.returncode}{said}"
        )
    if not token:
        raise ConfigurationError(f"{path}: {key}.token_command: {argv[0]!r} printed nothing")
    if "\n" in token:
        token = token.splitlines()[0].strip()
    return token
