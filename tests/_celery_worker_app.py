"""The Celery app module a real ``celery worker`` process loads in test_celery_worker.py.

Configured from environment variables (set by the test): broker, queue/key prefix, store
file, the users' JSON file, the SCIM URL and token.
"""

from __future__ import annotations

import os

from celery import Celery
from scimsync_celery import register

from scimsync import AWS, JSONSource, Provisioner, ScimClient, SQLiteStore, Target

PREFIX = os.environ["SCIMSYNC_T_PREFIX"]
BROKER = os.environ["SCIMSYNC_T_BROKER"]


def make_provisioner() -> Provisioner:
    return Provisioner(
        source=JSONSource(os.environ["SCIMSYNC_T_USERS"]),
        store=SQLiteStore(os.environ["SCIMSYNC_T_STORE"]),
        targets=[
            Target(
                name="aws",
                client=ScimClient(
                    os.environ["SCIMSYNC_T_SCIM_URL"], os.environ["SCIMSYNC_T_TOKEN"]
                ),
                profile=AWS,
            )
        ],
    )


def make_app(broker: str = BROKER) -> Celery:
    app = Celery(f"worker-{PREFIX}", broker=broker, backend=BROKER, set_as_current=False)
    app.conf.update(
        task_default_queue=PREFIX,
        broker_transport_options={"global_keyprefix": f"{PREFIX}:", "max_retries": 1},
        result_backend_transport_options={"global_keyprefix": f"{PREFIX}:"},
        broker_connection_retry_on_startup=True,
    )
    return app


app = make_app()
tasks = register(app, make_provisioner, prefix=PREFIX)
