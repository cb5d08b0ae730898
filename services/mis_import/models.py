"""Tables of the mis_import database only."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import SchoolScoped, new_id, utcnow
from shared.events import event_tables


class Base(DeclarativeBase):
    pass


EVENTS = event_tables(Base.metadata)


class ImportRun(SchoolScoped, Base):
    """One import of a school's MIS data. Sources and the import itself come in their issue."""

    __tablename__ = "import_runs"
    __table_args__ = (Index("ix_import_runs_school_started", "school_id", "started_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(String(50))  # e.g. "ctf-xml", "csv", "json"
    status: Mapped[str] = mapped_column(String(20))  # "running", "succeeded", "failed"
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
