"""scimsync_sqlalchemy: scimsync on the host's SQLAlchemy database.

* :class:`SQLAlchemyStore`: the state store (links, outbox, reports, runs, approvals) as
  tables in the host's own database (PostgreSQL or SQLite);
* :func:`watch`: ORM session events that write "needs syncing" outbox rows in the host's
  own transaction, and wake the dispatcher after the commit;
* :class:`SQLAlchemySource`: the host's models as a scimsync source.

See ``docs/sqlalchemy.md``.
"""

from __future__ import annotations

try:
    import sqlalchemy as _sqlalchemy
except ImportError as exc:  # pragma: no cover - depends on the environment
    from scimsync.errors import IntegrationError

    raise IntegrationError(
        "scimsync_sqlalchemy needs SQLAlchemy 2: pip install 'scimsync[sqlalchemy]'"
    ) from exc

if int(_sqlalchemy.__version__.split(".")[0]) < 2:  # pragma: no cover
    from scimsync.errors import IntegrationError

    raise IntegrationError(
        f"scimsync_sqlalchemy needs SQLAlchemy 2, found {_sqlalchemy.__version__}: "
        "pip install 'scimsync[sqlalchemy]'"
    )

from scimsync_sqlalchemy._events import Watcher, unwatch, watch
from scimsync_sqlalchemy._source import SQLAlchemySource
from scimsync_sqlalchemy._store import SCHEMA_VERSION, SQLAlchemyStore

__all__ = [
    "SCHEMA_VERSION",
    "SQLAlchemySource",
    "SQLAlchemyStore",
    "Watcher",
    "unwatch",
    "watch",
]
