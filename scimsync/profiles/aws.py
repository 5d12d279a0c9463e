"""The AWS IAM Identity Center profile.

Every rule below comes from the team's AWS notes (``aws-scim.md``), which cite the AWS
developer guide (https://docs.aws.amazon.com/singlesignon/latest/developerguide/) and
the Identity Store API model; ``docs/mapping.md`` lists each rule with its source.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from scimsync._mapping import ENTERPRISE_URN
from scimsync.profiles._base import ConsistencyRetry, MissingNames, Profile, StringRule
from scimsync.profiles.generic import django_style_group_mapping, django_style_user_mapping

__all__ = ["AWS"]

#: Identity Store ``SensitiveStringType`` fields (1..1024, L/M/S/N/P + whitespace + U+3000).
_SENSITIVE = (
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "name.formatted",
    "name.familyName",
    "name.givenName",
    "name.middleName",
    "name.honorificPrefix",
    "name.honorificSuffix",
    "emails.value",
    "emails.type",
    "phoneNumbers.value",
    "phoneNumbers.type",
    "addresses.formatted",
    "addresses.streetAddress",
    "addresses.locality",
    "addresses.region",
    "addresses.postalCode",
    "addresses.country",
    "addresses.type",
)

#: AWS IAM Identity Center (SCIM endpoint ``https://scim.<region>.amazonaws.com/<tenant>/scim/v2``).
AWS = Profile(
    name="aws",
    # listusers.html: count max 100; cursor/nextCursor is the only way past page one.
    page_size=100,
    pagination="cursor",
    # patchgroup.html: "A maximum of 100 membership changes are allowed in a single request."
    max_members_per_patch=100,
    # creategroup.html: "A maximum of 100 members can be added in a single request."
    max_members_per_create=100,
    # getgroup.html / listgroups.html: members are never returned.
    group_members_readable=False,
    member_read="users_by_group_filter",
    # patchgroup.html: members are removed with a value list on path "members".
    member_remove="value",
    # Deleting a user drops its memberships; removing an unknown member is a 400 (§8).
    keeps_deleted_members=False,
    # ssosync #42: adding members right after creating the group answered 404 (§8.5).
    consistency_retry=ConsistencyRetry(attempts=3, delay=0.2),
    user_update="patch",
    group_update="patch",
    supports_user_put=True,
    # PUT /Groups is not documented (aws-scim.md §1).
    supports_group_put=False,
    # listusers.html / listgroups.html (§4.2); id only combined with manager/members.
    filterable_user_attributes=("userName", "externalId", "groups.value"),
    filterable_group_attributes=("displayName", "externalId", "members.value"),
    # limitations.html: "Only eq with and is supported."
    supports_or_filters=False,
    lowercase_ops=True,
    # PingFederate AWS provisioner changelog: PATCH without User-Agent is blocked.
    requires_user_agent=True,
    supports_etag=False,
    # serviceproviderconfig.html still says filter.maxResults 50 and is stale (§1).
    trust_service_provider_config=False,
    # ssosync PR #204: a single ASCII space works, a zero-width space does not (§2.3, §8.9).
    missing_names=MissingNames("placeholder", value=" "),
    # createuser.html: "The givenName, familyName, userName, and displayName fields are required."
    required_user_attributes=frozenset(
        {"userName", "name.givenName", "name.familyName", "displayName"}
    ),
    # creategroup.html: "displayName is required."
    required_group_attributes=frozenset({"displayName"}),
    # createuser.html: "We do not support multiple values in multi-value attributes".
    single_valued_attributes=frozenset({"emails", "phoneNumbers", "addresses", "roles"}),
    # createuser.html: "The emails attribute value must be marked as primary."
    primary_required=frozenset({"emails"}),
    # createuser.html / limitations.html: unsupported attributes and sub-attributes.
    unsupported_user_attributes=frozenset(
        {
            "password",
            "ims",
            "photos",
            "entitlements",
            "x509Certificates",
            "groups",
            "emails.display",
            "phoneNumbers.display",
            "addresses.display",
            f"{ENTERPRISE_URN}:manager.displayName",
        }
    ),
    # Identity Store API model (botocore identitystore service-2.json), aws-scim.md §2.3.
    string_rules=(
        StringRule(("userName",), max_length=128, allow_whitespace=False),
        StringRule(_SENSITIVE, max_length=1024, allow_whitespace=True, extra_chars="\u3000"),
        StringRule(("externalId",), max_length=256, allow_whitespace=False),
    ),
    group_string_rules=(
        StringRule(("displayName",), max_length=1024, allow_whitespace=True),
        StringRule(("externalId",), max_length=256, allow_whitespace=False),
    ),
    # patchuser.html: "Modification is only allowed for ..." (roles is not in the list).
    patchable_user_attributes=frozenset(
        {
            "userName",
            "active",
            "externalId",
            "displayName",
            "nickName",
            "profileUrl",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "name",
            ENTERPRISE_URN,
            "emails",
            "addresses",
            "phoneNumbers",
        }
    ),
    # patchgroup.html: "Only displayName, members, and externalId attributes are allowed."
    patchable_group_attributes=frozenset({"displayName", "members", "externalId"}),
    # patchuser.html: "The remove patch operation is not supported for userName or active."
    unremovable_user_attributes=frozenset({"userName", "active"}),
    user_mapping_factory=django_style_user_mapping,
    group_mapping_factory=django_style_group_mapping,
)
