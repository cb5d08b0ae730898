"""Tables of the reporting database only: a read model, rebuilt from records' events.

Every key starts with the school: a row of one school can never collide with (or be
updated by an event of) another, even if two schools' ids were ever the same.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKeyConstraint, Index, Integer, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import SchoolScoped, utcnow
from shared.events import event_tables


class Base(DeclarativeBase):
    pass


EVENTS = event_tables(Base.metadata)


class ReportCategory(SchoolScoped, Base):
    """A category as records last described it (records.category.upserted).

    A deleted category stays as a tombstone (``deleted``), so an older event arriving late
    cannot bring it back; a merged one also names where its incidents and spans went.
    """

    __tablename__ = "report_categories"

    school_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    parent_id: Mapped[str] = mapped_column(String(36), default="")
    colour: Mapped[str] = mapped_column(String(20), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # records.category.merged: the category that took over this one's incidents and spans.
    merged_into_id: Mapped[str] = mapped_column(String(36), default="", server_default="")
    # occurred_at of the event applied last (None: only known from an incident so far).
    source_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ReportIncident(SchoolScoped, Base):
    """An incident, without its text (records' incident events never carry it).

    Counted in reports unless ``deleted`` or merged into another incident (it is then an
    action of that one). ``version`` and ``state_at`` say which state was applied last
    (IncidentUpdated's version and updated_at; an incident's creation is version 1 at its
    creation time): an older event arriving late changes nothing.
    """

    __tablename__ = "report_incidents"
    __table_args__ = (
        Index("ix_report_incidents_school_occurred", "school_id", "occurred_at"),
        Index("ix_report_incidents_school_student", "school_id", "student_id"),
    )

    school_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(36))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_by: Mapped[str] = mapped_column(String(36), default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    assigned_to: Mapped[str] = mapped_column(String(36), default="", server_default="")
    link_group_id: Mapped[str] = mapped_column(String(36), default="", server_default="")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    merged_into_id: Mapped[str] = mapped_column(String(36), default="", server_default="")
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    state_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class ReportIncidentCategory(SchoolScoped, Base):
    """Which categories an incident is in (one row per pair)."""

    __tablename__ = "report_incident_categories"
    __table_args__ = (
        ForeignKeyConstraint(
            ["school_id", "incident_id"],
            ["report_incidents.school_id", "report_incidents.id"],
            ondelete="CASCADE",
        ),
        Index("ix_report_incident_categories_category", "school_id", "category_id"),
    )

    school_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    category_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class ReportMonitoringSpan(SchoolScoped, Base):
    """A span during which a student was monitored under a category
    (records.monitoring.changed); ``ended_at`` unset while it lasts. Spans are never
    deleted; a category merge moves them to the target."""

    __tablename__ = "report_monitoring_spans"
    __table_args__ = (
        Index("ix_report_monitoring_school_category", "school_id", "category_id", "started_at"),
        Index("ix_report_monitoring_school_student", "school_id", "student_id"),
    )

    school_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(36))
    category_id: Mapped[str] = mapped_column(String(36))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
