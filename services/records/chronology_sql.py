"""The chronology's statements, each built once per shape and run with bound parameters.

A chronology request runs a handful of statements over plain columns. Building a statement
and working out its cache key costs more Python time than PostgreSQL takes to answer a small
one, so each shape (by student or by ids, which filters apply, where a page starts) is built
once per process and then only executed, on the session's connection (they are plain column
reads: no ORM rows, no autoflush; callers flush first). Every statement filters by the school.

Parameters: ``school``; ``student`` (by student) or ``ids`` (by incident ids); ``cats`` (the
category ids the caller may view, when that filter applies); ``after_occurred``,
``after_created``, ``after_id`` (the key a page starts after); ``limit``, ``offset``.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable

from sqlalchemy import (
    Integer,
    and_,
    any_,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.sql import Select

from services.records.models import (
    Action,
    Agency,
    Alert,
    Incident,
    IncidentCategory,
    RecordAgency,
    Student,
)

INCIDENTS = Incident.__table__.c
CATEGORY_LINKS = IncidentCategory.__table__.c
ALERTS = Alert.__table__.c
AGENCY_LINKS = RecordAgency.__table__.c
ACTIONS = Action.__table__.c
AGENCIES = Agency.__table__.c
STUDENTS = Student.__table__.c

INCIDENT_KEYS = ("id", "school_id", "student_id", "text", "occurred_at", "created_at",
                 "created_by", "created_by_name", "status", "number", "assigned_to",
                 "assigned_to_name", "pinned", "link_group_id", "version", "updated_at",
                 "deleted_at", "deleted_by_name", "deleted_reason")
ACTION_KEYS = ("id", "incident_id", "student_id", "text", "occurred_at", "created_at",
               "created_by", "created_by_name", "version", "updated_at", "deleted_at",
               "deleted_by_name", "deleted_reason", "merged_from_number", "link_id")

# The rows as named tuples: an attribute of a named tuple reads in a tenth of the time a
# Row's does, and a chronology reads each of twenty columns of a thousand rows.
IncidentRow = namedtuple("IncidentRow", INCIDENT_KEYS)
ActionRow = namedtuple("ActionRow", ACTION_KEYS)

_built: dict[tuple, Select] = {}
_lock = threading.Lock()


def _once(key: tuple, build: Callable[[], Select]) -> Select:
    stmt = _built.get(key)
    if stmt is None:
        with _lock:
            stmt = _built.get(key)
            if stmt is None:
                stmt = _built[key] = build()
    return stmt


def among(column, name: str, pg: bool):
    """``column IN (:name)``; on PostgreSQL ``= ANY(string_to_array(:name, ','))``: one text
    parameter however many ids (ids are uuids: no commas). See ``id_list``."""
    if pg:
        return column == any_(func.string_to_array(bindparam(name), ","))
    return column.in_(bindparam(name, expanding=True))


def id_list(ids, pg: bool):
    """The value ``among`` binds."""
    return ",".join(ids) if pg else list(ids)


def _order(i):
    return (i.pinned.desc(), i.occurred_at.desc(), i.created_at.desc(), i.id)


def _after(i, pinned: bool):
    """Rows strictly after the page key in the chronology's order (pinned DESC, occurred_at
    DESC, created_at DESC, id ASC)."""
    occurred, created, row_id = (bindparam("after_occurred"), bindparam("after_created"),
                                 bindparam("after_id"))
    same_pin = i.pinned == (true() if pinned else false())
    later_in_pin = or_(
        i.occurred_at < occurred,
        and_(i.occurred_at == occurred, i.created_at < created),
        and_(i.occurred_at == occurred, i.created_at == created, i.id > row_id),
    )
    if pinned:
        return or_(i.pinned == false(), and_(same_pin, later_in_pin))
    return and_(same_pin, later_in_pin)


def _before(i, pinned: bool):
    """Rows strictly before the key in the chronology's order (the mirror of ``_after``)."""
    occurred, created, row_id = (bindparam("after_occurred"), bindparam("after_created"),
                                 bindparam("after_id"))
    same_pin = i.pinned == (true() if pinned else false())
    earlier_in_pin = or_(
        i.occurred_at > occurred,
        and_(i.occurred_at == occurred, i.created_at > created),
        and_(i.occurred_at == occurred, i.created_at == created, i.id < row_id),
    )
    if pinned:
        return and_(same_pin, earlier_in_pin)
    return or_(i.pinned == true(), and_(same_pin, earlier_in_pin))


def _visible(i, *, by_student: bool, hide_deleted: bool, by_category: bool, pg: bool) -> list:
    """The rows of the chronology a caller sees (the student's, or the given ids)."""
    where = [i.school_id == bindparam("school"), i.merged_into_id.is_(None)]
    where.append(i.student_id == bindparam("student") if by_student
                 else among(i.id, "ids", pg))
    if hide_deleted:
        where.append(i.deleted_at.is_(None))
    if by_category:
        c = CATEGORY_LINKS
        where.append(exists().where(c.school_id == bindparam("school"), c.incident_id == i.id,
                                    among(c.category_id, "cats", pg)))
    return where


def incidents(*, by_student: bool, hide_deleted: bool, by_category: bool,
              after: bool | None, pg: bool) -> Select:
    """The incidents' columns; by student in the chronology's order, from ``after`` (None:
    from the start; else the pinned flag of the key it starts after), ``limit`` rows."""
    def build() -> Select:
        i = INCIDENTS
        stmt = select(*(i[k] for k in INCIDENT_KEYS)).where(*_visible(
            i, by_student=by_student, hide_deleted=hide_deleted, by_category=by_category,
            pg=pg))
        if by_student:
            if after is not None:
                stmt = stmt.where(_after(i, after))
            stmt = stmt.order_by(*_order(i)).limit(bindparam("limit", type_=Integer))
        return stmt

    return _once(("incidents", by_student, hide_deleted, by_category, after, pg), build)


def page_key(*, hide_deleted: bool, by_category: bool, pg: bool, offset: bool) -> Select:
    """The sort key of one visible row of the student's chronology: the ``after_id`` row
    (``offset`` False), or the row at ``offset`` in the chronology's order."""
    def build() -> Select:
        i = INCIDENTS
        stmt = select(i.student_id, i.pinned, i.occurred_at, i.created_at, i.id).where(
            *_visible(i, by_student=True, hide_deleted=hide_deleted, by_category=by_category,
                      pg=pg))
        if offset:
            return stmt.order_by(*_order(i)).offset(bindparam("offset", type_=Integer)).limit(1)
        return stmt.where(i.id == bindparam("after_id"))

    return _once(("page_key", hide_deleted, by_category, pg, offset), build)


def rows_before(*, hide_deleted: bool, by_category: bool, pinned: bool, pg: bool) -> Select:
    """How many visible rows of the student's chronology come before the key."""
    def build() -> Select:
        i = INCIDENTS
        return select(func.count()).select_from(Incident.__table__).where(*_visible(
            i, by_student=True, hide_deleted=hide_deleted, by_category=by_category, pg=pg),
            _before(i, pinned))

    return _once(("rows_before", hide_deleted, by_category, pinned, pg), build)


def _scoped(table, by_student: bool, pg: bool) -> list:
    """Rows of ``table`` of the page: by the student's index range (the table carries the
    incident's student) or by the incidents' ids."""
    where = [table.school_id == bindparam("school")]
    where.append(table.student_id == bindparam("student") if by_student
                 else among(table.incident_id, "ids", pg))
    return where


def category_links(*, by_student: bool, pg: bool) -> Select:
    c = CATEGORY_LINKS
    return _once(("category_links", by_student, pg), lambda: select(
        c.incident_id, c.category_id, c.action_id, c.position).where(
        *_scoped(c, by_student, pg)))


def alerts(*, by_student: bool, pg: bool) -> Select:
    a = ALERTS
    return _once(("alerts", by_student, pg), lambda: select(
        a.incident_id, a.action_id, a.recipient_account_id, a.read_at, a.cleared_at,
    ).where(*_scoped(a, by_student, pg)).order_by(a.created_at, a.id))


def agency_links(*, pg: bool) -> Select:
    """The agencies tagged on the incidents (``ids``) and their actions, with the agency's
    name (the links do not carry the student)."""
    g, x = AGENCY_LINKS, AGENCIES
    return _once(("agency_links", pg), lambda: select(
        g.incident_id, g.action_id, x.id, x.name, x.enabled,
    ).join_from(RecordAgency.__table__, Agency.__table__, and_(
        x.id == g.agency_id, x.school_id == g.school_id)).where(
        g.school_id == bindparam("school"), among(g.incident_id, "ids", pg)))


def _action_filter(by_student: bool, hide_deleted: bool, pg: bool) -> list:
    x = ACTIONS
    where = [x.school_id == bindparam("school"), x.split_into_incident_id.is_(None)]
    if hide_deleted:
        where.append(x.deleted_at.is_(None))
    where.append(x.student_id == bindparam("student") if by_student
                 else among(x.incident_id, "ids", pg))
    return where


def actions(*, by_student: bool, hide_deleted: bool, pg: bool) -> Select:
    x = ACTIONS
    return _once(("actions", by_student, hide_deleted, pg), lambda: select(
        *(x[k] for k in ACTION_KEYS)).where(*_action_filter(by_student, hide_deleted, pg))
        .order_by(x.occurred_at, x.created_at, x.id))


def action_counts(*, by_student: bool, hide_deleted: bool, pg: bool) -> Select:
    x = ACTIONS
    return _once(("action_counts", by_student, hide_deleted, pg), lambda: select(
        x.incident_id, func.count()).where(*_action_filter(by_student, hide_deleted, pg))
        .group_by(x.incident_id))


def linked_copies(*, pg: bool) -> Select:
    """The other students' copies of linked incidents (groups in ``ids``)."""
    i = INCIDENTS
    return _once(("linked", pg), lambda: select(i.id, i.link_group_id, i.student_id).where(
        i.school_id == bindparam("school"), among(i.link_group_id, "ids", pg),
        i.merged_into_id.is_(None), i.deleted_at.is_(None)))


def student_names(*, pg: bool) -> Select:
    s = STUDENTS
    return _once(("names", pg), lambda: select(
        s.id, s.first_name, s.preferred_name, s.last_name, s.tutor_group).where(
        s.school_id == bindparam("school"), among(s.id, "ids", pg)))


def student_row() -> Select:
    """One student's whole row (the chronology's card)."""
    s = STUDENTS
    return _once(("student",), lambda: select(Student.__table__).where(
        s.school_id == bindparam("school"), s.id == bindparam("student")))
