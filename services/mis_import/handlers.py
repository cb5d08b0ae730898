"""Event consumers of mis_import.

The consumer is wired (its inbox table exists, ``app.py`` starts it in the worker as soon as
it binds a routing key) but handles nothing yet: the MIS import issue adds, for example,
``identity.school.created`` to prepare a new school's import sources.
"""

from __future__ import annotations

from services.mis_import.models import EVENTS
from shared.db import Database
from shared.events import Consumer


def build_consumers(db: Database) -> list[Consumer]:
    consumer = Consumer(service="mis_import", name="events", db=db, inbox=EVENTS.inbox)
    # @consumer.on("identity.school.created", identity_pb2.SchoolCreated) ... (MIS import issue)
    return [c for c in (consumer,) if c.bindings]
