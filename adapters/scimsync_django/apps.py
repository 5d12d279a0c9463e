"""The Django app config: connects the signal handlers once the app registry is ready."""

# mypy: disallow-subclassing-any=False

from __future__ import annotations

from django.apps import AppConfig


class ScimsyncDjangoConfig(AppConfig):
    """``INSTALLED_APPS += ["scimsync_django"]``."""

    name = "scimsync_django"
    label = "scimsync_django"
    verbose_name = "SCIM provisioning (scimsync)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks
        from django.core.signals import setting_changed

        from . import _conf, _signals

        setting_changed.connect(_conf.on_setting_changed, dispatch_uid="scimsync_django.settings")
        checks.register(_conf.check_settings, "scimsync")
        _signals.connect()
