"""Event consumers of mis_import.

The consumer is wired (its inbox table exists, ``app.py`` starts it in the worker as soon as
it binds a routing key) but handles nothing: imports need no other service's facts. A school
needs no preparation either (its settings and mappings are created when first saved).
"""

from __future__ import annotations

from services.mis_import.models import EVENTS
from shared.db import Database
from shared.events import Consumer


def build_consumers(db: Database) -> list[Consumer]:
    consumer = Consumer(service="mis_import", name="events", db=db, inbox=EVENTS.inbox)
    return [c for c in (consumer,) if c.bindings]
