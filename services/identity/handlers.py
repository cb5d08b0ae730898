"""Event consumers: the MIS staff list (``mis.staff.upserted``) -> the New User list, matched
users' names, and deactivation of users missing from the extracts (when the school asks).

The handler runs in the consumer's transaction with the inbox row and writes only through it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from haven.mis_import.v1 import mis_import_pb2
from services.identity import mis_staff
from services.identity.events import OutboxPublisher
from services.identity.models import EVENTS
from shared.db import Database, utcnow
from shared.events import Consumer, Outbox

STAFF_UPSERTED = "mis.staff.upserted"


def _record(message: mis_import_pb2.StaffUpserted) -> mis_staff.StaffRecord:
    return mis_staff.StaffRecord(
        mis_id=message.mis_id,
        title=message.title,
        first_name=message.first_name,
        last_name=message.last_name,
        legal_first_name=message.legal_first_name,
        legal_last_name=message.legal_last_name,
        email=message.email,
        job_title=message.job_title,
        permanent=message.permanent,
        start_date=message.start_date,
        end_date=message.end_date,
        present_in_extract=message.present_in_extract,
        as_of=message.as_of.ToDatetime() if message.HasField("as_of") else None,
    )


def build_consumer(db: Database, outbox: Outbox) -> Consumer:
    consumer = Consumer(service="identity", name="mis-staff", db=db, inbox=EVENTS.inbox)
    publisher = OutboxPublisher(outbox)

    @consumer.on(STAFF_UPSERTED, mis_import_pb2.StaffUpserted)
    def staff_upserted(session: Session, envelope, message) -> None:
        school_id = message.school_id or envelope.school_id
        if not school_id or (envelope.school_id and message.school_id
                             and message.school_id != envelope.school_id):
            return  # a message naming another school than its envelope: ignore it
        occurred = (envelope.occurred_at.ToDatetime() if envelope.HasField("occurred_at")
                    else utcnow())
        mis_staff.apply_staff_upserted(session, publisher, school_id=school_id,
                                       record=_record(message), occurred_at=occurred)

    return consumer
