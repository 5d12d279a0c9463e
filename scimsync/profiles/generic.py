"""The generic RFC 7643/7644 profile: assumes a server that does what the RFCs say.

Refine it from the server's own ``/ServiceProviderConfig`` with
``GENERIC.with_service_provider_config(spc)``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from scimsync._mapping import GroupMapping, UserMapping, source, template
from scimsync.profiles._base import MissingNames, Profile

__all__ = ["GENERIC", "django_style_group_mapping", "django_style_user_mapping"]


def django_style_user_mapping() -> UserMapping:
    """A user mapping for a Django/Flask-style user object.

    ``username`` → ``userName``, ``first_name``/``last_name`` → ``name``,
    ``"{first_name} {last_name}"`` → ``displayName``, ``email`` → the work email
    (primary), ``is_active`` → ``active``; ``externalId`` is the local key.
    """
    return UserMapping(
        {
            "userName": source("username", transforms=["str", "strip"]),
            "name.givenName": source("first_name", transforms=["strip"]),
            "name.familyName": source("last_name", transforms=["strip"]),
            "displayName": template("{first_name} {last_name}", transforms=["collapse_whitespace"]),
            'emails[type eq "work"].value': source("email", transforms=["strip"]),
            "active": source("is_active", transforms=["bool"]),
        }
    )


def django_style_group_mapping() -> GroupMapping:
    """``name`` → ``displayName``; ``externalId`` is the local key."""
    return GroupMapping({"displayName": source("name", transforms=["str", "strip"])})


#: Any RFC 7643/7644 server: index paging, PATCH, member lists readable from the group.
GENERIC = Profile(
    name="generic",
    page_size=100,
    pagination="index",
    max_members_per_patch=100,
    max_members_per_create=0,
    group_members_readable=True,
    member_read="group_get",
    # RFC 7644 §3.5.2.2: one members[value eq "id"] remove per member.
    member_remove="path",
    # An RFC server may list a deleted user until told otherwise (scim2-server does).
    keeps_deleted_members=True,
    user_update="patch",
    group_update="patch",
    filterable_user_attributes=("userName", "externalId", "emails.value", "id"),
    filterable_group_attributes=("displayName", "externalId", "id"),
    supports_or_filters=True,
    lowercase_ops=True,
    requires_user_agent=False,
    missing_names=MissingNames("fail"),
    required_user_attributes=frozenset({"userName"}),
    required_group_attributes=frozenset({"displayName"}),
    user_mapping_factory=django_style_user_mapping,
    group_mapping_factory=django_style_group_mapping,
)
