"""Tables of the records database only.

Every table that holds a school's data is ``SchoolScoped``: the data layer adds
``school_id = :school`` to every ORM query and refuses to flush another school's rows.
Nothing safeguarding-related is deleted here; incidents close, monitoring ends, alerts are read.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import SchoolScoped, new_id, utcnow
from shared.events import event_tables

ID = String(36)


class Base(DeclarativeBase):
    pass


EVENTS = event_tables(Base.metadata)


class Student(SchoolScoped, Base):
    """A pupil on the school's roll (later filled by mis_import; seeded for the demo)."""

    __tablename__ = "students"
    __table_args__ = (
        UniqueConstraint("school_id", "upn", name="uq_students_school_upn"),
        Index("ix_students_school_last_first", "school_id", "last_name", "first_name"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    upn: Mapped[str | None] = mapped_column(String(13))
    mis_id: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    preferred_name: Mapped[str] = mapped_column(String(100), default="")
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(20), default="")
    year_group: Mapped[str] = mapped_column(String(40), default="")
    tutor_group: Mapped[str] = mapped_column(String(40), default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    @property
    def display_name(self) -> str:
        return f"{self.preferred_name or self.first_name} {self.last_name}"


class Category(SchoolScoped, Base):
    """A category incidents are filed under; one level of sub-categories (parent_id)."""

    __tablename__ = "categories"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[str | None] = mapped_column(ID, ForeignKey("categories.id"))
    colour: Mapped[str] = mapped_column(String(6), default="607d8b")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class CategoryPermission(SchoolScoped, Base):
    """What one user group may do with one category (view students / incidents, add)."""

    __tablename__ = "category_permissions"
    __table_args__ = (
        UniqueConstraint("school_id", "user_group_id", "category_id",
                         name="uq_category_permissions_group_category"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_group_id: Mapped[str] = mapped_column(ID, index=True)
    category_id: Mapped[str] = mapped_column(ID, ForeignKey("categories.id"), index=True)
    view_students: Mapped[bool] = mapped_column(Boolean, default=False)
    view_incidents: Mapped[bool] = mapped_column(Boolean, default=False)
    add_incidents: Mapped[bool] = mapped_column(Boolean, default=False)


class StaffMember(SchoolScoped, Base):
    """Directory of the school's staff, kept from identity's events (never their emails)."""

    __tablename__ = "staff_members"
    __table_args__ = (
        UniqueConstraint("school_id", "account_id", name="uq_staff_members_school_account"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ID)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    user_group_id: Mapped[str] = mapped_column(ID, default="")
    key_holder: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When identity stated this (envelope occurred_at): an older event never overwrites a newer.
    source_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class UserGroupRef(SchoolScoped, Base):
    """A user group as identity last described it (names for category permissions)."""

    __tablename__ = "user_groups"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    key_holder: Mapped[bool] = mapped_column(Boolean, default=False)
    source_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Incident(SchoolScoped, Base):
    """A concern recorded about a student."""

    __tablename__ = "incidents"
    __table_args__ = (
        # A client retrying the same submission gets the incident it already created.
        UniqueConstraint("school_id", "created_by", "request_id",
                         name="uq_incidents_school_creator_request"),
        Index("ix_incidents_school_student_occurred", "school_id", "student_id", "occurred_at"),
        Index("ix_incidents_school_creator_created", "school_id", "created_by", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    student_id: Mapped[str] = mapped_column(ID, ForeignKey("students.id"))
    text: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(ID)
    created_by_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10), default="active")
    request_id: Mapped[str | None] = mapped_column(String(100))

    student: Mapped[Student] = relationship(lazy="joined")
    category_links: Mapped[list[IncidentCategory]] = relationship(
        lazy="selectin", order_by="IncidentCategory.position"
    )
    alerts: Mapped[list[Alert]] = relationship(lazy="selectin", back_populates="incident")

    @property
    def categories(self) -> list[Category]:
        return [link.category for link in self.category_links]


class IncidentCategory(SchoolScoped, Base):
    __tablename__ = "incident_categories"

    incident_id: Mapped[str] = mapped_column(ID, ForeignKey("incidents.id"), primary_key=True)
    category_id: Mapped[str] = mapped_column(
        ID, ForeignKey("categories.id"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)

    category: Mapped[Category] = relationship(lazy="joined")


class Alert(SchoolScoped, Base):
    """A colleague asked to read an incident (or, later, an action)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_school_recipient_read", "school_id", "recipient_account_id", "read_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    incident_id: Mapped[str] = mapped_column(ID, ForeignKey("incidents.id"), index=True)
    recipient_account_id: Mapped[str] = mapped_column(ID)
    raised_by: Mapped[str] = mapped_column(ID)
    raised_by_name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(10), default="incident")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    incident: Mapped[Incident] = relationship(back_populates="alerts")


class Monitoring(SchoolScoped, Base):
    """A span during which a student is monitored under a category (open while ended_at null)."""

    __tablename__ = "monitoring"
    __table_args__ = (
        Index("ix_monitoring_school_student_category", "school_id", "student_id", "category_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    student_id: Mapped[str] = mapped_column(ID, ForeignKey("students.id"))
    category_id: Mapped[str] = mapped_column(ID, ForeignKey("categories.id"))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    started_by: Mapped[str] = mapped_column(ID)


class AuditEntry(SchoolScoped, Base):
    """Who looked at or changed what, and every refused attempt."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_school_student_at", "school_id", "student_id", "at"),
        Index("ix_audit_entries_school_account_at", "school_id", "account_id", "at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ID)
    student_id: Mapped[str | None] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(String(500), default="")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
