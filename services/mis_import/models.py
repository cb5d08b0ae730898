"""Tables of the mis_import database only."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import SchoolScoped, new_id, utcnow
from shared.events import event_tables


class Base(DeclarativeBase):
    pass


EVENTS = event_tables(Base.metadata)


class ImportFile(SchoolScoped, Base):
    """A file an admin uploaded (CTF or CSV), or a JSON feed a connector pushed.

    The bytes live in ``import_file_parts``: byte chunks of one document for an upload, one
    whole JSON document per part for a feed. Deleted some days after its run ends.
    """

    __tablename__ = "import_files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(10))  # "ctf", "csv", "json"
    filename: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    parts: Mapped[int] = mapped_column(Integer, default=0)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaded_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # header as read at upload
    purged_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class ImportFilePart(SchoolScoped, Base):
    __tablename__ = "import_file_parts"
    __table_args__ = (UniqueConstraint("file_id", "seq", name="uq_import_file_parts_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("import_files.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportRun(SchoolScoped, Base):
    """One import of a school's MIS data, its progress and outcome.

    ``cursor`` is how many records of the file are done (imported, unchanged or rejected);
    it is committed with each batch, so a worker that dies mid-run is resumed from it.
    ``lease_owner``/``lease_expires_at`` say which worker holds the run right now.
    """

    __tablename__ = "import_runs"
    __table_args__ = (
        Index("ix_import_runs_school_started", "school_id", "started_at"),
        Index("ix_import_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(String(50))  # "ctf-xml", "csv", "json"
    # "receiving" (feed parts still coming), "queued", "running", "succeeded", "failed",
    # "interrupted"
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    file_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    file_name: Mapped[str] = mapped_column(String(255), default="")
    full_extract: Mapped[bool] = mapped_column(Boolean, default=False)
    csv_entity: Mapped[str] = mapped_column(String(20), default="")
    phase: Mapped[str] = mapped_column(String(20), default="checking")
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    error_location: Mapped[str] = mapped_column(String(300), default="")
    warnings: Mapped[list] = mapped_column(JSON, default=list)
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # SourceDetails as read
    as_of: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class ImportRejection(SchoolScoped, Base):
    """A record of a run that was not imported, where it is in the file and why."""

    __tablename__ = "import_rejections"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_import_rejections_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(300), default="")
    record_key: Mapped[str] = mapped_column(String(100), default="")
    label: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text)


class Student(SchoolScoped, Base):
    """The last imported state of a pupil: what was published, and its content hashes.

    ``mis_id`` is the key published in events and never changes; ``source_id`` is the id the
    most recent source used (a CTF has no MIS id, so its key is the UPN; a later feed with
    MIS ids finds the pupil by UPN and carries on under the same ``mis_id``).
    """

    __tablename__ = "students"
    __table_args__ = (
        UniqueConstraint("school_id", "mis_id", name="uq_students_school_mis_id"),
        Index("ix_students_school_source", "school_id", "source_id"),
        Index("ix_students_school_upn", "school_id", "upn"),
        Index("ix_students_school_status", "school_id", "status"),
        Index("ix_students_school_match", "school_id", "match_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    mis_id: Mapped[str] = mapped_column(String(100))
    source_id: Mapped[str] = mapped_column(String(100))
    upn: Mapped[str] = mapped_column(String(13), default="")
    status: Mapped[str] = mapped_column(String(10), default="active")  # or "archived"
    archived_reason: Mapped[str] = mapped_column(String(40), default="")
    year_group: Mapped[str] = mapped_column(String(60), default="")
    tutor_group: Mapped[str] = mapped_column(String(60), default="")
    match_key: Mapped[str] = mapped_column(String(200), default="")  # names + date of birth
    data: Mapped[str] = mapped_column(Text)  # the published record, canonical JSON
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 of data
    contacts: Mapped[str | None] = mapped_column(Text, nullable=True)  # canonical JSON list
    contacts_hash: Mapped[str] = mapped_column(String(64), default="")
    contacts_run_id: Mapped[str] = mapped_column(String(36), default="")
    as_of: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_seen_run_id: Mapped[str] = mapped_column(String(36), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class StudentAttendance(SchoolScoped, Base):
    """A pupil's session marks for one academic year: {"2025-09-03": ["/", "\\\\"], ...}."""

    __tablename__ = "student_attendance"
    __table_args__ = (
        UniqueConstraint("student_id", "academic_year", name="uq_student_attendance_year"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    student_id: Mapped[str] = mapped_column(String(36), index=True)
    academic_year: Mapped[int] = mapped_column(Integer)
    marks: Mapped[str] = mapped_column(Text)  # canonical JSON (attendance.dump_marks)
    marks_hash: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class StaffMember(SchoolScoped, Base):
    __tablename__ = "staff"
    __table_args__ = (
        UniqueConstraint("school_id", "mis_id", name="uq_staff_school_mis_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    mis_id: Mapped[str] = mapped_column(String(100))
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    data: Mapped[dict] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_seen_run_id: Mapped[str] = mapped_column(String(36), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Group(SchoolScoped, Base):
    """A tutor or year group. Members come from the pupils' own year and tutor group."""

    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("school_id", "kind", "name", name="uq_groups_school_kind_name"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(10))  # "tutor" or "year"
    name: Mapped[str] = mapped_column(String(60))
    mis_id: Mapped[str] = mapped_column(String(100))
    source_id: Mapped[str] = mapped_column(String(100), default="")
    staff_mis_ids: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CsvMapping(SchoolScoped, Base):
    __tablename__ = "csv_mappings"
    __table_args__ = (
        UniqueConstraint("school_id", "entity", name="uq_csv_mappings_school_entity"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    entity: Mapped[str] = mapped_column(String(20))
    columns: Mapped[dict] = mapped_column(JSON)
    date_format: Mapped[str] = mapped_column(String(10), default="auto")
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ImportSettings(SchoolScoped, Base):
    __tablename__ = "import_settings"
    __table_args__ = (UniqueConstraint("school_id", name="uq_import_settings_school"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    amber_after_hours: Mapped[int] = mapped_column(Integer, default=0)
    red_after_hours: Mapped[int] = mapped_column(Integer, default=0)
    source_lea: Mapped[str] = mapped_column(String(3), default="")
    source_estab: Mapped[str] = mapped_column(String(4), default="")
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
