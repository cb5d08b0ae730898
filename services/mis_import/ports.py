"""What the import needs from the outside, as interfaces (implemented in events.py).

Domain modules never import the generated protobuf code; they announce what changed through
this port, inside the transaction that changed it, and ``events.OutboxEvents`` turns each
call into an outbox row (published after commit by the relay).
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy.orm import Session


class ImportEvents(Protocol):
    def flush(self, session: Session) -> None:
        """Write what was announced so far in this transaction (before it commits)."""

    def student_upserted(self, session: Session, *, school_id: str, mis_id: str, data: dict,
                         run_id: str, as_of: dt.datetime, actor: str) -> None:
        """mis.student.upserted: the full current record."""

    def student_archived(self, session: Session, *, school_id: str, mis_id: str, upn: str,
                         reason: str, leaving_date: str, run_id: str, as_of: dt.datetime,
                         actor: str) -> None:
        """mis.student.archived: the pupil left, or vanished from a full extract."""

    def group_upserted(self, session: Session, *, school_id: str, mis_id: str, name: str,
                       kind: str, student_mis_ids: list[str], staff_mis_ids: list[str],
                       active: bool, run_id: str, as_of: dt.datetime, actor: str) -> None:
        """mis.group.upserted"""

    def staff_upserted(self, session: Session, *, school_id: str, mis_id: str, data: dict,
                       present: bool, run_id: str, as_of: dt.datetime, actor: str) -> None:
        """mis.staff.upserted"""

    def contacts_upserted(self, session: Session, *, school_id: str, student_mis_id: str,
                          contacts: list[dict], run_id: str, as_of: dt.datetime,
                          actor: str) -> None:
        """mis.contact.upserted: the pupil's whole contact list."""

    def attendance_recorded(self, session: Session, *, school_id: str, student_mis_id: str,
                            marks: dict[str, tuple[str, str]], summary: dict,
                            academic_year: int, run_id: str, as_of: dt.datetime,
                            actor: str) -> None:
        """mis.attendance.recorded: new or changed marks ({date: (AM, PM)}, "" for a session
        that did not change), and the year's summary."""
