"""scimsync: keep a SCIM 2.0 service provider in step with your application's users and groups.

The public API is what this module exports (``__all__``); modules whose names start with
an underscore are private. Exceptions live in :mod:`scimsync.errors`, signals in
:mod:`scimsync.signals`, the test kit in :mod:`scimsync.testing`.
"""

from __future__ import annotations

# --- each part adds its own import block below; keep __all__ sorted ---
from scimsync._client import ConnectionResult, Exchange, RetryPolicy, ScimClient

# --- configuration file and the scimsync command (CLI part) ---
from scimsync._config import Config, ConfigFileError, load_config
from scimsync._diff import diff_members, diff_resource, representation_hash

# --- automatic and scheduled modes, import (modes part) ---
from scimsync._dispatch import Backoff, Dispatcher, DispatchStats

# --- provisioning engine (engine part) ---
from scimsync._engine import (
    Policies,
    Provisioner,
    RemoteIndex,
    RunContext,
    Scope,
    SyncTrace,
    Target,
    Toggles,
    TraceStep,
)
from scimsync._filter import Filter, quote_filter_value
from scimsync._import import ImportItem, ImportResult, import_remote
from scimsync._mapping import (
    Field,
    GroupMapping,
    UserMapping,
    computed,
    const,
    source,
    template,
)
from scimsync._reconcile import (
    OrphanPolicy,
    Plan,
    PlannedAction,
    RunSummary,
    approve_orphan,
    plan,
    reconcile,
)

# --- store, reports, sources (state store part) ---
from scimsync._reports import Outcome, Reports
from scimsync._resources import (
    Address,
    AuthenticationScheme,
    BulkConfig,
    Email,
    EnterpriseUser,
    FilterConfig,
    Group,
    ListResponse,
    Manager,
    Member,
    Meta,
    Name,
    PatchOp,
    PatchOperation,
    PhoneNumber,
    ResourceType,
    Role,
    Schema,
    SchemaAttribute,
    SchemaExtension,
    ScimErrorBody,
    ServiceProviderConfig,
    SupportedFeature,
    User,
    converter,
    from_wire,
    to_wire,
)
from scimsync._scheduler import Scheduler
from scimsync._sources import CSVSource, IterableSource, JSONSource, Source, SourceProblem
from scimsync._store import (
    Link,
    OutboxItem,
    PendingAction,
    ReportRecord,
    RunRecord,
    SQLiteStore,
    StateStore,
)
from scimsync._transforms import register_transform
from scimsync._version import __version__
from scimsync.errors import (
    ConfigurationError,
    ConflictError,
    ConnectionFailedError,
    ForbiddenError,
    LinkConflictError,
    MalformedResponseError,
    NotFoundError,
    Problem,
    RateLimitedError,
    RequestRejectedError,
    ScimHTTPError,
    ScimSyncError,
    ServerError,
    SyncFailedError,
    TransientError,
    UnauthorizedError,
    ValidationError,
)
from scimsync.profiles import AWS, GENERIC, MissingNames, Profile, get_profile, register_profile

__all__ = [
    "AWS",
    "GENERIC",
    "Address",
    "AuthenticationScheme",
    "Backoff",
    "BulkConfig",
    "CSVSource",
    "Config",
    "ConfigFileError",
    "ConfigurationError",
    "ConflictError",
    "ConnectionFailedError",
    "ConnectionResult",
    "DispatchStats",
    "Dispatcher",
    "Email",
    "EnterpriseUser",
    "Exchange",
    "Field",
    "Filter",
    "FilterConfig",
    "ForbiddenError",
    "Group",
    "GroupMapping",
    "ImportItem",
    "ImportResult",
    "IterableSource",
    "JSONSource",
    "Link",
    "LinkConflictError",
    "ListResponse",
    "MalformedResponseError",
    "Manager",
    "Member",
    "Meta",
    "MissingNames",
    "Name",
    "NotFoundError",
    "OrphanPolicy",
    "OutboxItem",
    "Outcome",
    "PatchOp",
    "PatchOperation",
    "PendingAction",
    "PhoneNumber",
    "Plan",
    "PlannedAction",
    "Policies",
    "Problem",
    "Profile",
    "Provisioner",
    "RateLimitedError",
    "RemoteIndex",
    "ReportRecord",
    "Reports",
    "RequestRejectedError",
    "ResourceType",
    "RetryPolicy",
    "Role",
    "RunContext",
    "RunRecord",
    "RunSummary",
    "SQLiteStore",
    "Scheduler",
    "Schema",
    "SchemaAttribute",
    "SchemaExtension",
    "ScimClient",
    "ScimErrorBody",
    "ScimHTTPError",
    "ScimSyncError",
    "Scope",
    "ServerError",
    "ServiceProviderConfig",
    "Source",
    "SourceProblem",
    "StateStore",
    "SupportedFeature",
    "SyncFailedError",
    "SyncTrace",
    "Target",
    "Toggles",
    "TraceStep",
    "TransientError",
    "UnauthorizedError",
    "User",
    "UserMapping",
    "ValidationError",
    "__version__",
    "approve_orphan",
    "computed",
    "const",
    "converter",
    "diff_members",
    "diff_resource",
    "from_wire",
    "get_profile",
    "import_remote",
    "load_config",
    "plan",
    "quote_filter_value",
    "reconcile",
    "register_profile",
    "register_transform",
    "representation_hash",
    "source",
    "template",
    "to_wire",
]
