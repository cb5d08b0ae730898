"""Tables of the records database only.

Every table that holds a school's data is ``SchoolScoped``: the data layer adds
``school_id = :school`` to every ORM query and refuses to flush another school's rows.
Nothing safeguarding-related is deleted here: incidents and actions keep every version and are
only marked deleted (with a reason, restorable); monitoring ends; alerts are read or cleared.
New columns on tables that already held rows carry a server default so migrations can add them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
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


# Server defaults as plain strings: SQLite then adds the columns in place (an expression would
# make Alembic rebuild the table, which foreign keys to it forbid), and PostgreSQL reads '0' and
# '1' as false and true.
EMPTY = ""
FALSE = "0"
TRUE = "1"
ONE = "1"


class Student(SchoolScoped, Base):
    """A pupil on the school's roll, from the MIS import events or added by an admin.

    ``first_name``/``last_name`` are the legal names, ``preferred_name`` the preferred first
    name. ``mis_linked`` false (added by hand, or "unlinked from MIS") means imports never
    change this student. ``mis_as_of`` orders the MIS's statements about them.
    """

    __tablename__ = "students"
    __table_args__ = (
        UniqueConstraint("school_id", "upn", name="uq_students_school_upn"),
        Index("ix_students_school_last_first", "school_id", "last_name", "first_name"),
        Index("ix_students_school_mis", "school_id", "mis_id"),
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
    # MIS details (section 8.1)
    upn_temporary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=FALSE)
    admission_number: Mapped[str] = mapped_column(String(40), default="", server_default=EMPTY)
    preferred_last_name: Mapped[str] = mapped_column(String(100), default="",
                                                     server_default=EMPTY)
    middle_names: Mapped[str] = mapped_column(String(200), default="", server_default=EMPTY)
    ethnicity: Mapped[str] = mapped_column(String(100), default="", server_default=EMPTY)
    religion: Mapped[str] = mapped_column(String(100), default="", server_default=EMPTY)
    first_language: Mapped[str] = mapped_column(String(100), default="", server_default=EMPTY)
    sen_status: Mapped[str] = mapped_column(String(10), default="", server_default=EMPTY)
    pupil_premium: Mapped[bool] = mapped_column(Boolean, default=False, server_default=FALSE)
    fsm: Mapped[bool] = mapped_column(Boolean, default=False, server_default=FALSE)
    eal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=FALSE)
    looked_after: Mapped[bool] = mapped_column(Boolean, default=False, server_default=FALSE)
    admission_date: Mapped[dt.date | None] = mapped_column(Date)
    date_of_arrival: Mapped[dt.date | None] = mapped_column(Date)
    leaving_date: Mapped[dt.date | None] = mapped_column(Date)
    address: Mapped[dict | None] = mapped_column(JSON)
    medical_conditions: Mapped[list | None] = mapped_column(JSON)
    archive_reason: Mapped[str] = mapped_column(String(40), default="", server_default=EMPTY)
    # Where it comes from and whether imports may change it
    source: Mapped[str] = mapped_column(String(10), default="mis", server_default="mis")
    mis_linked: Mapped[bool] = mapped_column(Boolean, default=True, server_default=TRUE)
    mis_as_of: Mapped[dt.datetime | None] = mapped_column(DateTime)
    contacts_as_of: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # "Edit information"
    summary: Mapped[str] = mapped_column(String(1000), default="", server_default=EMPTY)
    request_id: Mapped[str | None] = mapped_column(String(100))

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
    # System permissions of the group (to tell who could normally view an incident).
    permissions: Mapped[list | None] = mapped_column(JSON)


class Incident(SchoolScoped, Base):
    """A concern recorded about a student.

    Copies made for linked students share ``link_group_id``. A deleted incident keeps its row
    (``deleted_at`` + reason); a merged one points at the incident it became an action of.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        # A client retrying the same submission gets the incident it already created.
        UniqueConstraint("school_id", "created_by", "request_id",
                         name="uq_incidents_school_creator_request"),
        # (a unique index, not a constraint: SQLite adds it without rebuilding the table)
        Index("uq_incidents_school_number", "school_id", "number", unique=True),
        Index("ix_incidents_school_student_occurred", "school_id", "student_id", "occurred_at"),
        Index("ix_incidents_school_creator_created", "school_id", "created_by", "created_at"),
        Index("ix_incidents_school_assigned", "school_id", "assigned_to", "status"),
        Index("ix_incidents_school_link_group", "school_id", "link_group_id"),
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
    number: Mapped[int | None] = mapped_column(BigInteger)
    assigned_to: Mapped[str | None] = mapped_column(ID)
    assigned_to_name: Mapped[str] = mapped_column(String(200), default="", server_default=EMPTY)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=FALSE)
    pinned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    link_group_id: Mapped[str | None] = mapped_column(ID)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=ONE)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    deleted_by: Mapped[str | None] = mapped_column(ID)
    deleted_by_name: Mapped[str] = mapped_column(String(200), default="", server_default=EMPTY)
    deleted_reason: Mapped[str] = mapped_column(String(500), default="", server_default=EMPTY)
    merged_into_id: Mapped[str | None] = mapped_column(ID)
    split_from_action_id: Mapped[str | None] = mapped_column(ID)

    student: Mapped[Student] = relationship(lazy="joined")
    category_links: Mapped[list[IncidentCategory]] = relationship(
        lazy="selectin", order_by="IncidentCategory.position"
    )
    alerts: Mapped[list[Alert]] = relationship(lazy="selectin", back_populates="incident")

    @property
    def categories(self) -> list[Category]:
        return [link.category for link in self.category_links]


# A student's chronology in its own order (pinned first, then newest first): a page is read
# from the index, not sorted out of all the student's incidents.
Index("ix_incidents_school_student_chronology", Incident.school_id, Incident.student_id,
      Incident.pinned.desc(), Incident.occurred_at.desc(), Incident.created_at.desc(),
      Incident.id)


class IncidentCategory(SchoolScoped, Base):
    """A category of an incident; ``action_id`` when an action added it."""

    __tablename__ = "incident_categories"
    __table_args__ = (
        Index("ix_incident_categories_school_student", "school_id", "student_id"),
    )

    incident_id: Mapped[str] = mapped_column(ID, ForeignKey("incidents.id"), primary_key=True)
    category_id: Mapped[str] = mapped_column(
        ID, ForeignKey("categories.id"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    action_id: Mapped[str | None] = mapped_column(ID)
    # The incident's student, copied: a chronology reads its rows by one index range.
    student_id: Mapped[str | None] = mapped_column(ID)

    category: Mapped[Category] = relationship(lazy="joined")


class Alert(SchoolScoped, Base):
    """A colleague asked to read an incident or one of its actions.

    Off the dashboard once read (``read_at``) or cleared by an admin (``cleared_at``).
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_school_recipient_read", "school_id", "recipient_account_id", "read_at"),
        Index("ix_alerts_school_student", "school_id", "student_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    incident_id: Mapped[str] = mapped_column(ID, ForeignKey("incidents.id"), index=True)
    recipient_account_id: Mapped[str] = mapped_column(ID)
    raised_by: Mapped[str] = mapped_column(ID)
    raised_by_name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(10), default="incident")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    action_id: Mapped[str | None] = mapped_column(ID)
    reason: Mapped[str] = mapped_column(String(30), default="chosen",
                                        server_default="chosen")
    cleared_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cleared_by: Mapped[str | None] = mapped_column(ID)
    # The incident's student, copied: a chronology reads its rows by one index range.
    student_id: Mapped[str | None] = mapped_column(ID)

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
    ended_by: Mapped[str | None] = mapped_column(ID)
    source: Mapped[str] = mapped_column(String(20), default="incident",
                                        server_default="incident")


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


class Action(SchoolScoped, Base):
    """What was done about an incident. Copies on linked students' incidents share ``link_id``."""

    __tablename__ = "actions"
    __table_args__ = (
        UniqueConstraint("school_id", "created_by", "request_id",
                         name="uq_actions_school_creator_request"),
        Index("ix_actions_school_student_incident", "school_id", "student_id", "incident_id"),
        Index("ix_actions_school_incident", "school_id", "incident_id"),
        Index("ix_actions_school_creator_created", "school_id", "created_by", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    incident_id: Mapped[str] = mapped_column(ID, ForeignKey("incidents.id"))
    student_id: Mapped[str] = mapped_column(ID, ForeignKey("students.id"))
    text: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(ID)
    created_by_name: Mapped[str] = mapped_column(String(200), default="")
    request_id: Mapped[str | None] = mapped_column(String(100))
    link_id: Mapped[str | None] = mapped_column(ID)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    deleted_by: Mapped[str | None] = mapped_column(ID)
    deleted_by_name: Mapped[str] = mapped_column(String(200), default="")
    deleted_reason: Mapped[str] = mapped_column(String(500), default="")
    merged_from_incident_id: Mapped[str | None] = mapped_column(ID)
    merged_from_number: Mapped[int | None] = mapped_column(BigInteger)
    split_into_incident_id: Mapped[str | None] = mapped_column(ID)


class RecordVersion(SchoolScoped, Base):
    """One version of an incident or action: the whole state after a change (never lost)."""

    __tablename__ = "record_versions"
    __table_args__ = (
        UniqueConstraint("school_id", "record_type", "record_id", "version",
                         name="uq_record_versions_record_version"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    record_type: Mapped[str] = mapped_column(String(10))  # "incident" or "action"
    record_id: Mapped[str] = mapped_column(ID)
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(20))
    state: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(500), default="")
    changed_by: Mapped[str] = mapped_column(ID)
    changed_by_name: Mapped[str] = mapped_column(String(200), default="")
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Agency(SchoolScoped, Base):
    """An outside agency involved with pupils (Admin > Agencies); disabled ones stay on record."""

    __tablename__ = "agencies"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class RecordAgency(SchoolScoped, Base):
    """An agency involved in an incident (``action_id`` null) or in one of its actions."""

    __tablename__ = "record_agencies"
    __table_args__ = (Index("ix_record_agencies_school_incident", "school_id", "incident_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    incident_id: Mapped[str] = mapped_column(ID, ForeignKey("incidents.id"))
    action_id: Mapped[str | None] = mapped_column(ID, ForeignKey("actions.id"))
    agency_id: Mapped[str] = mapped_column(ID, ForeignKey("agencies.id"), index=True)


class StudentGroup(SchoolScoped, Base):
    """A tutor group or year group, from the MIS (``mis_id``) or made by an admin."""

    __tablename__ = "groups"
    __table_args__ = (Index("ix_groups_school_mis", "school_id", "mis_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    mis_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # "tutor" or "year"
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_new: Mapped[bool] = mapped_column(Boolean, default=False)
    mis_as_of: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class GroupMembership(SchoolScoped, Base):
    """A student in a group. From the MIS it is keyed by the student's MIS id and linked to
    the student once known (the group may arrive before the student)."""

    __tablename__ = "group_memberships"
    __table_args__ = (
        Index("ix_group_memberships_school_student", "school_id", "student_id"),
        Index("ix_group_memberships_school_group", "school_id", "group_id"),
        Index("ix_group_memberships_school_mis", "school_id", "student_mis_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    group_id: Mapped[str] = mapped_column(ID, ForeignKey("groups.id"))
    student_id: Mapped[str | None] = mapped_column(ID, ForeignKey("students.id"))
    student_mis_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(10), default="mis")


class GroupAccess(SchoolScoped, Base):
    """Class restrictions: one account or one user group may see a group's students."""

    __tablename__ = "group_access"
    __table_args__ = (Index("ix_group_access_school_group", "school_id", "group_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    group_id: Mapped[str] = mapped_column(ID, ForeignKey("groups.id"))
    account_id: Mapped[str | None] = mapped_column(ID)
    user_group_id: Mapped[str | None] = mapped_column(ID)


class Contact(SchoolScoped, Base):
    """A student's contact: from the MIS (replaced as a whole list) or added by hand."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_school_student", "school_id", "student_id"),
        Index("ix_contacts_school_student_mis", "school_id", "student_mis_id"),
        Index("ix_contacts_school_contact_mis", "school_id", "mis_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    student_id: Mapped[str | None] = mapped_column(ID, ForeignKey("students.id"))
    student_mis_id: Mapped[str | None] = mapped_column(String(64))
    mis_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(10), default="mis")
    title: Mapped[str] = mapped_column(String(20), default="")
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    relationship: Mapped[str] = mapped_column(String(60), default="")
    parental_responsibility: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    phones: Mapped[list | None] = mapped_column(JSON)
    email: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[dict | None] = mapped_column(JSON)
    notes: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AttendanceMark(SchoolScoped, Base):
    """One session mark (DfE code) from the MIS, keyed by the student's MIS id."""

    __tablename__ = "attendance_marks"
    __table_args__ = (
        UniqueConstraint("school_id", "student_mis_id", "date", "session",
                         name="uq_attendance_marks_student_session"),
        Index("ix_attendance_marks_school_student_date", "school_id", "student_id", "date"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    student_mis_id: Mapped[str] = mapped_column(String(64))
    student_id: Mapped[str | None] = mapped_column(ID, ForeignKey("students.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    session: Mapped[str] = mapped_column(String(2))
    code: Mapped[str] = mapped_column(String(4))
    minutes_late: Mapped[int] = mapped_column(Integer, default=0)
    as_of: Mapped[dt.datetime | None] = mapped_column(DateTime)


class StudentLink(SchoolScoped, Base):
    """A link between two students added by hand (friends, cousins...); siblings come from
    shared MIS contacts."""

    __tablename__ = "student_links"
    __table_args__ = (Index("ix_student_links_school_student", "school_id", "student_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    student_id: Mapped[str] = mapped_column(ID, ForeignKey("students.id"))
    linked_student_id: Mapped[str] = mapped_column(ID, ForeignKey("students.id"))
    label: Mapped[str] = mapped_column(String(60), default="")


class StudentKeyword(SchoolScoped, Base):
    __tablename__ = "student_keywords"
    __table_args__ = (
        Index("ix_student_keywords_school_student", "school_id", "student_id"),
        Index("ix_student_keywords_school_keyword", "school_id", "keyword"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    student_id: Mapped[str] = mapped_column(ID, ForeignKey("students.id"))
    keyword: Mapped[str] = mapped_column(String(60))


class StudentAgency(SchoolScoped, Base):
    """An agency flagged by hand as involved with a student."""

    __tablename__ = "student_agencies"
    __table_args__ = (Index("ix_student_agencies_school_student", "school_id", "student_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    student_id: Mapped[str] = mapped_column(ID, ForeignKey("students.id"))
    agency_id: Mapped[str] = mapped_column(ID, ForeignKey("agencies.id"))


class StudentAlertStaff(SchoolScoped, Base):
    """Alerted automatically whenever an incident is added about this student."""

    __tablename__ = "student_alert_staff"
    __table_args__ = (
        Index("ix_student_alert_staff_school_student", "school_id", "student_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    student_id: Mapped[str] = mapped_column(ID, ForeignKey("students.id"))
    account_id: Mapped[str] = mapped_column(ID)


class AutoAlertRule(SchoolScoped, Base):
    """A user's automatic alerts: every incident in a category, about a student, or about a
    student of a group."""

    __tablename__ = "auto_alert_rules"
    __table_args__ = (
        Index("ix_auto_alert_rules_school_target", "school_id", "kind", "target_id"),
        Index("ix_auto_alert_rules_school_account", "school_id", "account_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(10))  # "category", "student", "group"
    target_id: Mapped[str] = mapped_column(ID)


class AlertGroup(SchoolScoped, Base):
    """An alert group as identity last described it (identity.alert_group.upserted)."""

    __tablename__ = "alert_groups"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    member_account_ids: Mapped[list] = mapped_column(JSON, default=list)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    source_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class SchoolSettings(SchoolScoped, Base):
    """The school's settings that records enforces (one row per school, id = school id)."""

    __tablename__ = "school_settings"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    enforce_alert: Mapped[bool] = mapped_column(Boolean, default=False)
    restrict_access_by: Mapped[str] = mapped_column(String(10), default="")
    academic_year_start: Mapped[dt.date | None] = mapped_column(Date)
    academic_year_end: Mapped[dt.date | None] = mapped_column(Date)


class Counter(SchoolScoped, Base):
    """Per-school sequences (incident numbers)."""

    __tablename__ = "counters"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<school>:<name>"
    value: Mapped[int] = mapped_column(BigInteger, default=0)
