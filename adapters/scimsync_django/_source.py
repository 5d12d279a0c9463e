"""DjangoSource: users and groups from ``django.contrib.auth`` (or your own models)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model, QuerySet

__all__ = ["DjangoSource"]


class DjangoSource:
    """A :class:`scimsync.Source` over Django models; keys are primary keys as text.

    By default: users from ``get_user_model()``, groups from
    ``django.contrib.auth.models.Group``, members through ``user.groups``. The default
    mappings read ``username``, ``email``, ``first_name``, ``last_name`` and ``is_active``
    from a user and ``name`` from a group: Django's ``User`` and ``Group`` have them.

    Customise by passing querysets (e.g. only staff), or by subclassing and overriding
    :meth:`user_queryset` / :meth:`group_queryset` / :meth:`group_member_keys`.

    Args:
        users: a queryset of users (default: every user of ``get_user_model()``).
        groups: a queryset of groups (default: every ``Group``); ``False``: no groups.
        members: the name of the many-to-many field from the user model to groups
            (default ``"groups"``).
        using: the database alias to read from.
        chunk_size: keys are streamed from the database this many at a time.

    An object outside the querysets counts as deleted locally (the target's lifecycle
    policy applies), so a queryset is also a way to scope what is provisioned.
    """

    def __init__(
        self,
        *,
        users: QuerySet[Any] | None = None,
        groups: QuerySet[Any] | bool | None = None,
        members: str = "groups",
        using: str = DEFAULT_DB_ALIAS,
        chunk_size: int = 2000,
    ) -> None:
        self._users = users
        self._groups = groups
        self.members = members
        self.using = using
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return (
            f"DjangoSource(user_model={self.user_queryset().model.__name__}, using={self.using!r})"
        )

    # --- querysets: override these ------------------------------------------------------

    def user_queryset(self) -> QuerySet[Any]:
        """The users that exist for scimsync (a fresh queryset each call)."""
        if self._users is not None:
            return self._users.all().using(self.using)
        return get_user_model()._default_manager.using(self.using).all()

    def group_queryset(self) -> QuerySet[Any] | None:
        """The groups that exist for scimsync, or ``None`` when groups are not synced."""
        if self._groups is False:
            return None
        if self._groups is not None and self._groups is not True:
            assert isinstance(self._groups, QuerySet)
            return self._groups.all().using(self.using)
        from django.contrib.auth.models import Group

        return Group.objects.using(self.using).all()

    # --- the Source protocol ------------------------------------------------------------

    @staticmethod
    def _pk(model: type[Model], key: str) -> Any:
        try:
            return model._meta.pk.to_python(key)
        except Exception:
            return None

    def get_user(self, key: str) -> Any:
        """The user with this primary key, or ``None`` (deleted, or outside the queryset)."""
        qs = self.user_queryset()
        pk = self._pk(qs.model, key)
        if pk is None:
            return None
        return qs.filter(pk=pk).first()

    def get_group(self, key: str) -> Any:
        """The group with this primary key, or ``None``."""
        qs = self.group_queryset()
        if qs is None:
            return None
        pk = self._pk(qs.model, key)
        if pk is None:
            return None
        return qs.filter(pk=pk).first()

    def _keys(self, qs: QuerySet[Any]) -> Iterator[str]:
        for pk in qs.order_by("pk").values_list("pk", flat=True).iterator(self.chunk_size):
            yield str(pk)

    def iter_user_keys(self) -> Iterable[str]:
        """Every user key, streamed."""
        return self._keys(self.user_queryset())

    def iter_group_keys(self) -> Iterable[str]:
        """Every group key, streamed."""
        qs = self.group_queryset()
        return () if qs is None else self._keys(qs)

    def group_member_keys(self, group_key: str) -> Iterable[str]:
        """The keys of the group's members that are users of :meth:`user_queryset`."""
        groups = self.group_queryset()
        if groups is None:
            return []
        pk = self._pk(groups.model, group_key)
        if pk is None:
            return []
        users = self.user_queryset().filter(**{self.members: pk})
        return [str(k) for k in users.order_by("pk").values_list("pk", flat=True)]
