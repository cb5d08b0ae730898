"""Every service of the platform, built from the environment (the only module that imports
all of them, with the CLI and the all-in-one runner)."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select

from shared.config import ServiceSettings
from shared.db import Database, utcnow
from shared.service import ServiceSpec

log = logging.getLogger(__name__)

# Start order: identity first (every other service verifies tokens against its keys).
SERVICES = ("identity", "records", "reporting", "mis_import", "transfers", "notifications")


def build_service(name: str, settings: ServiceSettings | None = None) -> ServiceSpec:
    module = importlib.import_module(f"services.{name}.app")
    return module.build(settings or ServiceSettings.from_env(name))


@dataclass
class Platform:
    specs: dict[str, ServiceSpec]

    @classmethod
    def from_env(cls, names: tuple[str, ...] = SERVICES) -> Platform:
        return cls({name: build_service(name) for name in names})

    def __iter__(self) -> Iterator[ServiceSpec]:
        return iter(self.specs.values())

    def __getitem__(self, name: str) -> ServiceSpec:
        return self.specs[name]

    def migrate(self) -> None:
        from shared.db import run_migrations

        for spec in self:
            run_migrations(spec.settings.database_url, spec.migrations)
            log.info("migrated %s", spec.name)

    def seed_demo(self, *, today: dt.date | None = None,
                  wait_for_pupils: float = 0.0) -> dict[str, int]:
        """The demo school: identity's accounts and groups; records' categories, permissions
        and agencies; and its pupils the way every school's arrive, through an MIS import
        (the full JSON feed its MIS connector would push: pupils, contacts, siblings, the
        last term's attendance; ``datagen.demo``). Idempotent: seeding again on the same day
        imports the same feed, which changes and announces nothing.

        ``wait_for_pupils`` (seconds; the platform's workers must be running, as in the
        all-in-one): return only once records lists the pupils; their contacts, attendance
        and groups follow within seconds (``wait_for_records``). Without it the events wait
        in mis_import's outbox for its worker's relay. Returns the import's counts.
        """
        from datagen.demo import demo_feed
        from services.identity.seed import DEMO_SCHOOL_ID
        from services.identity.seed import seed_demo as seed_identity
        from services.mis_import.seeding import queue_feed, run_to_end
        from services.mis_import.worker import ImportWorker
        from services.records import handlers
        from services.records.seed import seed_demo as seed_records

        seed_identity(self["identity"].db, self["identity"].outbox)
        seed_records(self["records"].db, self["records"].outbox)
        mis = self["mis_import"]
        mark = mis_outbox_mark(mis.db)
        feed = demo_feed(today or utcnow().date(), school_id=DEMO_SCHOOL_ID)
        run_id = queue_feed(mis.db, school_id=DEMO_SCHOOL_ID, body=feed)
        worker = next(b for b in mis.background if isinstance(b, ImportWorker))
        run = run_to_end(worker, mis.db, DEMO_SCHOOL_ID, run_id)
        if run.status != "succeeded" or run.rejected:
            raise RuntimeError(f"the demo school's import {run.id} ended {run.status} with "
                               f"{run.rejected} rejection(s): {run.error}")
        log.info("demo school imported: %s", run.counts)
        if wait_for_pupils:
            self.wait_for_records(DEMO_SCHOOL_ID, after_seq=mark, timeout=wait_for_pupils,
                                  keys=(handlers.STUDENT_UPSERTED, handlers.STUDENT_ARCHIVED))
        return dict(run.counts)

    def wait_for_records(self, school_id: str, *, after_seq: int = 0, timeout: float = 60.0,
                         keys: tuple[str, ...] | None = None) -> None:
        """Until records has consumed mis_import's events for the school (after a seq; only
        those with the given routing keys)."""
        deadline = time.monotonic() + timeout
        while left := mis_events_pending(self["mis_import"].db, self["records"].db, school_id,
                                         after_seq=after_seq, keys=keys):
            if time.monotonic() > deadline:
                raise RuntimeError(f"records has not consumed {left} event(s) of the MIS "
                                   f"import within {timeout:.0f}s")
            time.sleep(0.05)

    def dispose(self) -> None:
        for spec in self:
            spec.db.dispose()


# ---- the MIS import's events, as far as records has consumed them ------------------------------

RECORDS_MIS_CONSUMER = "records.mis"


def _records_mis_keys() -> tuple[str, ...]:
    from services.records import handlers

    return (handlers.STUDENT_UPSERTED, handlers.STUDENT_ARCHIVED, handlers.GROUP_UPSERTED,
            handlers.CONTACTS_UPSERTED, handlers.ATTENDANCE_RECORDED)


def mis_outbox_mark(mis_db: Database) -> int:
    """The newest seq of mis_import's outbox (0 when empty)."""
    from services.mis_import.models import EVENTS as MIS_EVENTS

    with mis_db.read() as session:
        return session.execute(select(func.max(MIS_EVENTS.outbox.c.seq))).scalar() or 0


def mis_events_pending(mis_db: Database, records_db: Database, school_id: str, *,
                       after_seq: int = 0, keys: tuple[str, ...] | None = None) -> int:
    """How many of mis_import's events for the school (after ``after_seq``) that records
    consumes are not in records' inbox yet: 0 once records holds everything imported."""
    from services.mis_import.models import EVENTS as MIS_EVENTS
    from services.records.models import EVENTS as RECORDS_EVENTS

    outbox, inbox = MIS_EVENTS.outbox, RECORDS_EVENTS.inbox
    with mis_db.read() as session:
        ids = list(session.scalars(select(outbox.c.event_id).where(
            outbox.c.school_id == school_id, outbox.c.seq > after_seq,
            outbox.c.routing_key.in_(keys or _records_mis_keys()))))
    consumed = 0
    query = select(func.count()).select_from(inbox).where(
        inbox.c.consumer == RECORDS_MIS_CONSUMER,
        inbox.c.event_id.in_(bindparam("ids", expanding=True)))
    with records_db.read() as session:
        for start in range(0, len(ids), 500):
            consumed += session.execute(query, {"ids": ids[start:start + 500]}).scalar_one()
    return len(ids) - consumed
