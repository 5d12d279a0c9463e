"""A real Django project for the scimsync_django tests, configured once per process.

Django settings can be configured only once per process, so every tests/test_django_*.py
module calls :func:`setup` at import. The project: django.contrib.auth/admin/sessions,
the scimsync_django app, a SQLite database file in a temporary folder (WAL, as a
production SQLite deployment would use), and two views that save users. PostgreSQL
databases are added per test as extra aliases (:func:`add_database`), migrated there.
Other test files never import this module, so they are not affected.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import django
from django.conf import settings

_TMP = Path(tempfile.mkdtemp(prefix="scimsync-django-"))
atexit.register(shutil.rmtree, _TMP, True)


def _sqlite(path: Path) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


def setup() -> None:
    """Configure settings and migrate the default database (once per process)."""
    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only-" + uuid.uuid4().hex,
        ALLOWED_HOSTS=["testserver", "127.0.0.1", "localhost"],
        USE_TZ=True,
        DATABASES={"default": _sqlite(_TMP / "app.sqlite3")},
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "scimsync_django",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        ROOT_URLCONF="_django_urls",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],  # fast tests
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        LOGGING_CONFIG=None,
        SCIMSYNC=None,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def add_database(settings_dict: dict[str, Any], *, migrate: bool = True) -> str:
    """Register a new database alias (a fresh database per test) and create the tables.

    ``migrate=True`` runs every migration (auth, admin, scimsync_django); otherwise
    only scimsync_django's tables are created (fast, for the store contract).
    """
    from django.db import connections

    alias = f"db_{uuid.uuid4().hex[:10]}"
    connections.settings[alias] = configured(alias, settings_dict)
    if migrate:
        from django.core.management import call_command

        call_command("migrate", database=alias, verbosity=0, interactive=False)
    else:
        from django.apps import apps

        with connections[alias].schema_editor() as editor:
            for model in apps.get_app_config("scimsync_django").get_models():
                editor.create_model(model)
    return alias


def configured(alias: str, settings_dict: dict[str, Any]) -> dict[str, Any]:
    """``settings_dict`` with Django's defaults filled in (as for settings.DATABASES)."""
    from django.db import connections

    both = {"default": connections.settings["default"], alias: dict(settings_dict)}
    return dict(connections.configure_settings(both)[alias])


def sqlite_database(folder: Path) -> dict[str, Any]:
    """Settings for a SQLite file in ``folder``."""
    return _sqlite(folder / f"{uuid.uuid4().hex[:8]}.sqlite3")


def postgres_database(dsn: str) -> dict[str, Any]:
    """Settings for the ``postgres_dsn`` fixture's database."""
    parts = dict(item.split("=", 1) for item in dsn.split())
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts["dbname"],
        "USER": parts["user"],
        "HOST": parts["host"],
        "PORT": parts["port"],
    }


def drop_database(alias: str) -> None:
    """Close this thread's connection to ``alias`` and forget the alias."""
    from django.db import connections

    with contextlib.suppress(Exception):
        connections[alias].close()
    connections.settings.pop(alias, None)
    try:
        del connections[alias]
    except (AttributeError, KeyError):
        pass
