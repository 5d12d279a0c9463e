"""Per-target configuration: :class:`Target`, :class:`Policies`, :class:`Scope`, :class:`Toggles`.

Everything here is a frozen attrs class validated in its constructor, so a bad setting
fails when the :class:`~scimsync.Provisioner` is built, never in the middle of a run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from scimsync.errors import ConfigurationError

__all__ = [
    "APPROVABLE_OPERATIONS",
    "GROUP_LIFECYCLES",
    "USER_LIFECYCLES",
    "Policies",
    "Scope",
    "Target",
    "Toggles",
]

#: Allowed values of :attr:`Policies.user_lifecycle`.
USER_LIFECYCLES = ("deactivate", "delete", "deactivate_then_delete")
#: Allowed values of :attr:`Policies.group_lifecycle`.
GROUP_LIFECYCLES = ("delete", "keep")
#: Operation names accepted by :attr:`Policies.require_approval`.
APPROVABLE_OPERATIONS = (
    "create_user",
    "update_user",
    "deactivate_user",
    "delete_user",
    "create_group",
    "update_group",
    "delete_group",
    "membership",
)


def _frozenset_of_str(value: Iterable[str] | str | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(str(v) for v in value)


def _domains(value: Iterable[str] | str | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    return frozenset(d.strip().lower().lstrip("@") for d in value if d.strip())


def _keys(value: Iterable[Any] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(str(v) for v in value)


@attrs.frozen
class Policies:
    """What happens to linked remote objects that leave scope or are deleted locally.

    Args:
        user_lifecycle: ``"deactivate"`` (PATCH ``active=false``, the default, as Entra
            does), ``"delete"`` (DELETE), or ``"deactivate_then_delete"`` (deactivate
            now, delete once ``grace_period`` has passed, on a later sync or reconcile).
        grace_period: how long a deactivated user waits before deletion under
            ``"deactivate_then_delete"``.
        group_lifecycle: ``"delete"`` (DELETE the remote group) or ``"keep"`` (leave it).
        require_approval: operations held as pending actions until an admin approves
            them; any of :data:`APPROVABLE_OPERATIONS` (e.g. ``{"delete_user"}``).
        deletion_threshold: the accidental-deletions guard. An ``int`` is a number of
            deletes per run; a ``float`` between 0 and 1 is a fraction of the target's
            linked objects. When a run would delete more, *every* delete of that run is
            held for approval. ``None`` switches the guard off.

    .. versionadded:: 0.1.0
    """

    user_lifecycle: str = attrs.field(default="deactivate")
    grace_period: dt.timedelta = attrs.field(default=dt.timedelta(days=30))
    group_lifecycle: str = attrs.field(default="delete")
    require_approval: frozenset[str] = attrs.field(default=frozenset(), converter=_frozenset_of_str)
    deletion_threshold: int | float | None = attrs.field(default=None)

    @user_lifecycle.validator
    def _check_user_lifecycle(self, _a: Any, value: str) -> None:
        if value not in USER_LIFECYCLES:
            raise ConfigurationError(
                f"Policies.user_lifecycle={value!r} is not one of {', '.join(USER_LIFECYCLES)}"
            )

    @group_lifecycle.validator
    def _check_group_lifecycle(self, _a: Any, value: str) -> None:
        if value not in GROUP_LIFECYCLES:
            raise ConfigurationError(
                f"Policies.group_lifecycle={value!r} is not one of {', '.join(GROUP_LIFECYCLES)}"
            )

    @grace_period.validator
    def _check_grace(self, _a: Any, value: dt.timedelta) -> None:
        if not isinstance(value, dt.timedelta) or value < dt.timedelta(0):
            raise ConfigurationError(
                f"Policies.grace_period={value!r} must be a non-negative datetime.timedelta"
            )

    @require_approval.validator
    def _check_approval(self, _a: Any, value: frozenset[str]) -> None:
        unknown = sorted(value - set(APPROVABLE_OPERATIONS))
        if unknown:
            raise ConfigurationError(
                f"Policies.require_approval has unknown operation(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(APPROVABLE_OPERATIONS)}"
            )

    @deletion_threshold.validator
    def _check_threshold(self, _a: Any, value: int | float | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(
                f"Policies.deletion_threshold={value!r} must be an int (deletes per run), "
                "a float between 0 and 1 (fraction of linked objects) or None"
            )
        if isinstance(value, float) and not 0.0 < value < 1.0:
            raise ConfigurationError(
                f"Policies.deletion_threshold={value!r}: a float threshold is a fraction "
                "and must be between 0 and 1 (use an int for a count)"
            )
        if isinstance(value, int) and value < 0:
            raise ConfigurationError(f"Policies.deletion_threshold={value!r} must be >= 0")

    def limit_for(self, linked: int) -> int | None:
        """The number of deletes a run may make on a target with ``linked`` links."""
        if self.deletion_threshold is None:
            return None
        if isinstance(self.deletion_threshold, float):
            return int(self.deletion_threshold * linked)
        return self.deletion_threshold


@attrs.frozen
class Scope:
    """Which local users and groups a target receives.

    A user is in scope when *every* configured rule passes:

    Args:
        allowed_email_domains: the user's (primary) email must be in one of these
            domains, compared case-insensitively (miniOrange's "authorized domains").
        required_groups: the user must be a member of at least one of these local
            group keys (Entra's "assigned users and groups").
        predicate: ``predicate(user_obj) -> bool``, any custom rule.
        group_predicate: ``group_predicate(group_obj) -> bool`` for groups; groups are
            otherwise always in scope while the source returns them.

    ``None`` switches a rule off. The default scope admits everything.

    .. versionadded:: 0.1.0
    """

    allowed_email_domains: frozenset[str] | None = attrs.field(default=None, converter=_domains)
    required_groups: frozenset[str] | None = attrs.field(default=None, converter=_keys)
    predicate: Callable[[Any], bool] | None = attrs.field(default=None)
    group_predicate: Callable[[Any], bool] | None = attrs.field(default=None)

    @predicate.validator
    @group_predicate.validator
    def _check_callable(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not callable(value):
            raise ConfigurationError(f"Scope.{attribute.name}={value!r} is not callable")


@attrs.frozen
class Toggles:
    """Per-target operation switches (all on by default).

    A switched-off operation is not silently dropped: the engine records it with
    outcome ``"skipped"`` and says which toggle stopped it.

    .. versionadded:: 0.1.0
    """

    create_users: bool = True
    update_users: bool = True
    deactivate_users: bool = True
    delete_users: bool = True
    create_groups: bool = True
    update_groups: bool = True
    delete_groups: bool = True
    membership: bool = True


def _check_name(_inst: Any, _a: Any, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"Target.name={value!r} must be a non-empty string")


def _check_concurrency(_inst: Any, _a: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"Target.concurrency={value!r} must be an int >= 1")


@attrs.frozen
class Target:
    """One SCIM service provider the :class:`~scimsync.Provisioner` keeps in step.

    Args:
        name: a short unique name (``"aws"``); it keys links and reports.
        client: the :class:`~scimsync.ScimClient` for this target.
        profile: the target :class:`~scimsync.Profile` (``AWS``, ``GENERIC`` or your own),
            or a registered profile name.
        user_mapping: how local users become SCIM users; defaults to the profile's.
        group_mapping: how local groups become SCIM groups; defaults to the profile's.
        policies: lifecycle, approval and deletion-threshold rules.
        scope: which users and groups this target receives.
        toggles: which operations are allowed.
        concurrency: worker threads for bulk work (:meth:`Provisioner.sync_many`).

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(validator=_check_name)
    client: Any = attrs.field(repr=False)
    profile: Any = attrs.field()
    user_mapping: Any = attrs.field(default=None, repr=False)
    group_mapping: Any = attrs.field(default=None, repr=False)
    policies: Policies = attrs.field(factory=Policies)
    scope: Scope = attrs.field(factory=Scope)
    toggles: Toggles = attrs.field(factory=Toggles)
    concurrency: int = attrs.field(default=4, validator=_check_concurrency)

    def __attrs_post_init__(self) -> None:
        for field, cls in (("policies", Policies), ("scope", Scope), ("toggles", Toggles)):
            if not isinstance(getattr(self, field), cls):
                raise ConfigurationError(
                    f"target {self.name}: Target.{field} must be a {cls.__name__}, "
                    f"not {type(getattr(self, field)).__name__}"
                )
