"""RecordsService servicer: proto <-> domain. No business rules here.

Each call is one unit of work (``audit.unit_of_work``): the domain function runs in one
transaction, the reply is built while it is open, and a refusal is audited after rollback.
"""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp

from haven.records.v1 import records_pb2, records_pb2_grpc
from services.records import (
    access,
    actions,
    agencies,
    alerts,
    attendance,
    audit,
    categories,
    chronology,
    editing,
    groups,
    incidents,
    integrations,
    monitoring,
    profile,
    settings,
    students,
    versions,
)
from services.records.audit import unit_of_work
from services.records.categories import CategoryView, PermissionInput
from services.records.chronology import ActionView, IncidentView
from services.records.ports import RecordsEvents
from services.records.students import StudentCard
from shared.db import Database

EPOCH = dt.datetime(1970, 1, 1)


def _ts(value: dt.datetime | None) -> Timestamp | None:
    """A naive-UTC datetime as a Timestamp (arithmetic: far cheaper than FromDatetime)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    delta = value - EPOCH
    return Timestamp(seconds=delta.days * 86400 + delta.seconds, nanos=delta.microseconds * 1000)


def _set_ts(field: Timestamp, value: dt.datetime | None) -> None:
    if value is not None:
        delta = value - EPOCH
        field.seconds = delta.days * 86400 + delta.seconds
        field.nanos = delta.microseconds * 1000


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _when(request, name: str) -> dt.datetime | None:
    return getattr(request, name).ToDatetime() if request.HasField(name) else None


def address_pb(value: dict | None) -> records_pb2.Address | None:
    if not value:
        return None
    return records_pb2.Address(**{k: value.get(k, "") for k in (
        "line1", "line2", "town", "county", "postcode")})


def student_pb(card: StudentCard) -> records_pb2.Student:
    out = records_pb2.Student(
        id=card.id,
        upn=card.upn,
        first_name=card.first_name,
        last_name=card.last_name,
        preferred_name=card.preferred_name,
        year_group=card.year_group,
        tutor_group=card.tutor_group,
        date_of_birth=_date(card.date_of_birth),
        archived=card.archived,
        monitored_category_ids=card.monitored_category_ids,
        gender=card.gender,
        groups=[records_pb2.GroupRef(id=g.id, name=g.name, kind=g.kind) for g in card.groups],
    )
    s = card.details
    if s is not None:
        out.upn_temporary = s.upn_temporary
        out.admission_number = s.admission_number or ""
        out.preferred_last_name = s.preferred_last_name or ""
        out.middle_names = s.middle_names or ""
        out.ethnicity = s.ethnicity or ""
        out.religion = s.religion or ""
        out.first_language = s.first_language or ""
        out.sen_status = s.sen_status or ""
        out.pupil_premium = s.pupil_premium
        out.fsm = s.fsm
        out.eal = s.eal
        out.looked_after = s.looked_after
        out.admission_date = _date(s.admission_date)
        out.date_of_arrival = _date(s.date_of_arrival)
        out.leaving_date = _date(s.leaving_date)
        addr = address_pb(s.address)
        if addr is not None:
            out.address.CopyFrom(addr)
        out.medical_conditions.extend(s.medical_conditions or [])
        out.mis_linked = s.mis_linked
        out.mis_id = s.mis_id or ""
        out.summary = s.summary or ""
    return out


def category_pb(view: CategoryView) -> records_pb2.Category:
    c = view.category
    return records_pb2.Category(
        id=c.id,
        name=c.name,
        parent_id=c.parent_id or "",
        colour=c.colour,
        enabled=c.enabled,
        can_add=view.can_add,
        can_view=view.can_view,
        position=c.position,
        parent_name=view.parent_name,
    )


def agency_pb(agency, manual: bool = False) -> records_pb2.Agency:
    return records_pb2.Agency(id=agency.id, name=agency.name, enabled=agency.enabled,
                              manual=manual)


class CategoryMessages:
    """Each category's message built once per reply (a chronology repeats a few categories
    thousands of times)."""

    def __init__(self) -> None:
        self._made: dict[int, records_pb2.Category] = {}

    def extend(self, field, views) -> None:
        for v in views:
            msg = self._made.get(id(v))
            if msg is None:
                msg = self._made[id(v)] = category_pb(v)
            field.append(msg)


def action_pb(view: ActionView, cats: CategoryMessages | None = None, *, into=None
              ) -> records_pb2.Action:
    """The action's message (added to the repeated field ``into`` when given: no copy)."""
    a = view.action
    out = (into.add if into is not None else records_pb2.Action)(
        id=a.id,
        incident_id=a.incident_id,
        student_id=a.student_id,
        text=view.text,
        created_by=a.created_by,
        created_by_name=a.created_by_name,
        version=a.version or 1,
        deleted=view.deleted,
        deleted_reason=a.deleted_reason or "",
        deleted_by_name=a.deleted_by_name or "",
        merged_from_number=a.merged_from_number or 0,
        link_id=a.link_id or "",
    )
    (cats or CategoryMessages()).extend(out.categories, view.categories)
    if view.agencies:
        out.agencies.extend(agency_pb(x) for x in view.agencies)
    _set_ts(out.occurred_at, a.occurred_at)
    _set_ts(out.created_at, a.created_at)
    if a.deleted_at is not None:
        _set_ts(out.deleted_at, a.deleted_at)
    if a.updated_at is not None:
        _set_ts(out.updated_at, a.updated_at)
    if view.alerted_account_ids:
        out.alerted_account_ids.extend(view.alerted_account_ids)
    if view.alert_warnings:
        out.alert_warnings.extend(view.alert_warnings)
    return out


def incident_pb(view: IncidentView, cats: CategoryMessages | None = None, *, into=None
                ) -> records_pb2.Incident:
    """The incident's message (added to the repeated field ``into`` when given: no copy).

    Written for speed (a chronology makes a thousand): each column read once, only the
    fields that are set passed on."""
    i = view.incident
    deleted_at = i.deleted_at
    fields = {
        "id": i.id, "student_id": i.student_id, "student_name": view.student_name,
        "created_by": i.created_by, "created_by_name": i.created_by_name, "status": i.status,
        "number": i.number or 0, "version": i.version or 1, "can_edit": view.can_edit,
        "action_count": view.action_count,
    }
    if deleted_at is None:
        fields["text"] = i.text
    else:
        fields["deleted"] = True
        fields["deleted_reason"] = i.deleted_reason or ""
        fields["deleted_by_name"] = i.deleted_by_name or ""
    if view.alert_unread:
        fields["alert_unread"] = True
    if i.pinned:
        fields["pinned"] = True
    if i.assigned_to:
        fields["assigned_to"] = i.assigned_to
        fields["assigned_to_name"] = i.assigned_to_name or ""
    if i.link_group_id:
        fields["link_group_id"] = i.link_group_id
    out = (into.add if into is not None else records_pb2.Incident)(**fields)
    (cats or CategoryMessages()).extend(out.categories, view.categories)
    _set_ts(out.occurred_at, i.occurred_at)
    _set_ts(out.created_at, i.created_at)
    if deleted_at is not None:
        _set_ts(out.deleted_at, deleted_at)
    updated = i.updated_at
    if updated is not None:
        _set_ts(out.updated_at, updated)
    if view.alerted_account_ids:
        out.alerted_account_ids.extend(view.alerted_account_ids)
    if view.agencies:
        out.agencies.extend(agency_pb(a) for a in view.agencies)
    for s in view.linked_students:
        out.linked_students.add(student_id=s.student_id, name=s.name,
                                tutor_group=s.tutor_group, incident_id=s.incident_id)
    if view.actions:
        for a in view.actions:
            action_pb(a, cats, into=out.actions)
    if view.alert_warnings:
        out.alert_warnings.extend(view.alert_warnings)
    return out


def profile_pb(p: profile.Profile) -> records_pb2.StudentProfile:
    return records_pb2.StudentProfile(
        student=student_pb(p.student),
        summary=p.summary,
        monitored_categories=[category_pb(c) for c in p.monitored],
        agencies=[agency_pb(a.agency, a.manual) for a in p.agencies],
        keywords=p.keywords,
        links=[records_pb2.StudentLink(id=link.id, student_id=link.student_id, name=link.name,
                                       tutor_group=link.tutor_group, label=link.label,
                                       source=link.source) for link in p.links],
        alert_staff=[records_pb2.StaffRef(account_id=a, name=n) for a, n in p.alert_staff],
        incidents_by_category=[records_pb2.CategoryCount(
            category_id=c.category.id, name=c.category.name, colour=c.category.colour,
            count=n) for c, n in p.by_category],
        incidents_by_month=[records_pb2.MonthCount(month=m, count=n) for m, n in p.by_month],
        incident_count=p.incident_count,
    )


def contact_pb(c) -> records_pb2.Contact:
    return records_pb2.Contact(
        id=c.id, student_id=c.student_id or "", title=c.title, first_name=c.first_name,
        last_name=c.last_name, relationship=c.relationship,
        parental_responsibility=c.parental_responsibility, priority=c.priority,
        phones=c.phones or [], email=c.email, address=address_pb(c.address), source=c.source,
        notes=c.notes or "",
    )


def group_pb(view: groups.GroupView) -> records_pb2.Group:
    g = view.group
    return records_pb2.Group(
        id=g.id, name=g.name, kind=g.kind, mis_id=g.mis_id or "", active=g.active,
        is_new=g.is_new, student_count=view.student_count,
        access_account_ids=view.access_account_ids,
        access_user_group_ids=view.access_user_group_ids,
    )


def settings_pb(s: settings.Settings) -> records_pb2.SchoolSettings:
    return records_pb2.SchoolSettings(
        enforce_alert=s.enforce_alert, restrict_access_by=s.restrict_access_by,
        academic_year_start=_date(s.academic_year_start),
        academic_year_end=_date(s.academic_year_end),
    )


def permission_pb(line: categories.PermissionLine) -> records_pb2.CategoryPermission:
    p = line.permission
    return records_pb2.CategoryPermission(
        user_group_id=p.user_group_id, category_id=p.category_id,
        view_students=p.view_students, view_incidents=p.view_incidents,
        add_incidents=p.add_incidents, user_group_name=line.user_group_name,
    )


def permission_inputs(items) -> list[PermissionInput]:
    return [PermissionInput(user_group_id=p.user_group_id, category_id=p.category_id,
                            view_students=p.view_students, view_incidents=p.view_incidents,
                            add_incidents=p.add_incidents) for p in items]


def attendance_line(line: attendance.Line) -> records_pb2.AttendanceLine:
    return records_pb2.AttendanceLine(sessions=line.sessions, percent=line.percent)


class RecordsServicer(records_pb2_grpc.RecordsServiceServicer):
    def __init__(self, db: Database, events: RecordsEvents) -> None:
        self.db = db
        self.events = events

    # ---- students ------------------------------------------------------------------------------

    def SearchStudents(self, request, context):
        with unit_of_work(self.db, "student.search") as session:
            found = students.search_students(
                session, query=request.query, include_archived=request.include_archived,
                limit=request.limit, group_id=request.group_id,
                category_id=request.category_id, monitored_only=request.monitored_only,
                keyword=request.keyword,
            )
            return records_pb2.SearchStudentsResponse(students=[student_pb(s) for s in found])

    def GetStudent(self, request, context):
        with unit_of_work(self.db, "student.view") as session:
            return student_pb(students.get_student(session, request.student_id))

    def GetStudentProfile(self, request, context):
        with unit_of_work(self.db, "student.profile") as session:
            return profile_pb(profile.get_profile(
                session, request.student_id, timeline_from=request.timeline_from,
                timeline_to=request.timeline_to))

    def UpdateStudentInformation(self, request, context):
        with unit_of_work(self.db, "student.update") as session:
            return profile_pb(profile.update_information(
                session, self.events, student_id=request.student_id,
                update=list(request.update), summary=request.summary,
                keywords=list(request.keywords), agency_ids=list(request.agency_ids),
                alert_account_ids=list(request.alert_account_ids),
                links=[profile.LinkInput(student_id=link.student_id, label=link.label)
                       for link in request.links],
                monitored_category_ids=list(request.monitored_category_ids),
                group_ids=list(request.group_ids)))

    def AddStudent(self, request, context):
        with unit_of_work(self.db, "student.add") as session:
            return student_pb(students.add_student(
                session, first_name=request.first_name, last_name=request.last_name,
                preferred_name=request.preferred_name, date_of_birth=request.date_of_birth,
                gender=request.gender, upn=request.upn, year_group=request.year_group,
                tutor_group=request.tutor_group, group_ids=list(request.group_ids),
                request_id=request.request_id))

    def UnlinkStudentFromMis(self, request, context):
        with unit_of_work(self.db, "student.unlink") as session:
            return student_pb(students.unlink_from_mis(session, request.student_id))

    def ListContacts(self, request, context):
        with unit_of_work(self.db, "contact.list") as session:
            return records_pb2.ListContactsResponse(contacts=[
                contact_pb(c) for c in profile.list_contacts(session, request.student_id)])

    def AddContact(self, request, context):
        c = request.contact
        addr = {k: getattr(c.address, k) for k in ("line1", "line2", "town", "county",
                                                   "postcode")}
        with unit_of_work(self.db, "contact.add") as session:
            return contact_pb(profile.add_contact(
                session, student_id=request.student_id, title=c.title,
                first_name=c.first_name, last_name=c.last_name, relationship=c.relationship,
                parental_responsibility=c.parental_responsibility, priority=c.priority,
                phones=list(c.phones), email=c.email, address=addr, notes=c.notes))

    def GetAttendance(self, request, context):
        with unit_of_work(self.db, "student.attendance") as session:
            a = attendance.get_attendance(session, request.student_id,
                                          from_date=request.from_date, to_date=request.to_date)
            s = a.stats
            return records_pb2.Attendance(
                from_date=_date(a.from_date), to_date=_date(a.to_date),
                overall=attendance_line(s.overall), present=attendance_line(s.present),
                approved_educational_activity=attendance_line(s.approved),
                authorised_absences=attendance_line(s.authorised),
                unauthorised_absences=attendance_line(s.unauthorised),
                possible=attendance_line(s.possible),
                lates_before_registers_closed=attendance_line(s.lates_before),
                lates_after_registers_closed=attendance_line(s.lates_after),
                unexplained_absences=attendance_line(s.unexplained),
                marks=[records_pb2.AttendanceMark(
                    date=_date(m.date), session=m.session, code=m.code,
                    meaning=attendance.meaning(m.code), minutes_late=m.minutes_late)
                    for m in a.marks],
            )

    # ---- groups and settings -------------------------------------------------------------------

    def ListGroups(self, request, context):
        with unit_of_work(self.db, "group.list") as session:
            found, new = groups.list_groups(session, kind=request.kind,
                                            include_inactive=request.include_inactive)
            return records_pb2.ListGroupsResponse(groups=[group_pb(g) for g in found],
                                                  new_group_count=new)

    def CreateGroup(self, request, context):
        with unit_of_work(self.db, "group.create") as session:
            return group_pb(groups.create_group(session, name=request.name, kind=request.kind))

    def SetGroupAccess(self, request, context):
        with unit_of_work(self.db, "group.access") as session:
            return group_pb(groups.set_group_access(
                session, group_id=request.group_id, account_ids=list(request.account_ids),
                user_group_ids=list(request.user_group_ids)))

    def GetSchoolSettings(self, request, context):
        with unit_of_work(self.db, "settings.get") as session:
            return settings_pb(settings.get_settings(session))

    def UpdateSchoolSettings(self, request, context):
        s = request.settings
        with unit_of_work(self.db, "settings.update") as session:
            return settings_pb(settings.update_settings(
                session, update=list(request.update), enforce_alert=s.enforce_alert,
                restrict_access_by=s.restrict_access_by,
                academic_year_start=s.academic_year_start,
                academic_year_end=s.academic_year_end))

    # ---- categories and agencies ---------------------------------------------------------------

    def ListCategories(self, request, context):
        with unit_of_work(self.db, "category.list") as session:
            views = categories.list_categories(
                session, include_disabled=request.include_disabled
            )
            return records_pb2.ListCategoriesResponse(categories=[category_pb(v) for v in views])

    def CreateCategory(self, request, context):
        with unit_of_work(self.db, "category.create") as session:
            return category_pb(categories.create_category(
                session, self.events, name=request.name, colour=request.colour or "607d8b",
                parent_id=request.parent_id,
                permissions=permission_inputs(request.permissions)))

    def UpdateCategory(self, request, context):
        with unit_of_work(self.db, "category.update") as session:
            return category_pb(categories.update_category(
                session, self.events, category_id=request.category_id,
                update=list(request.update), name=request.name, colour=request.colour,
                permissions=permission_inputs(request.permissions), position=request.position))

    def SetCategoryEnabled(self, request, context):
        with unit_of_work(self.db, "category.enable") as session:
            return category_pb(categories.set_category_enabled(
                session, self.events, category_id=request.category_id,
                enabled=request.enabled))

    def DeleteCategory(self, request, context):
        with unit_of_work(self.db, "category.delete") as session:
            deleted, disabled = categories.delete_category(
                session, self.events, category_id=request.category_id)
            return records_pb2.DeleteCategoryResponse(deleted=deleted, disabled=disabled)

    def MergeCategory(self, request, context):
        with unit_of_work(self.db, "category.merge") as session:
            target, moved, spans = categories.merge_category(
                session, self.events, source_category_id=request.source_category_id,
                target_category_id=request.target_category_id)
            return records_pb2.MergeCategoryResponse(
                incidents_moved=moved, monitoring_moved=spans, target=category_pb(target))

    def ListCategoryPermissions(self, request, context):
        with unit_of_work(self.db, "category.permissions") as session:
            lines = categories.list_permissions(session, category_id=request.category_id,
                                                user_group_id=request.user_group_id)
            return records_pb2.ListCategoryPermissionsResponse(
                permissions=[permission_pb(p) for p in lines])

    def SetCategoryPermissions(self, request, context):
        with unit_of_work(self.db, "category.permissions.set") as session:
            lines = categories.set_permissions(session, permission_inputs(request.permissions))
            return records_pb2.ListCategoryPermissionsResponse(
                permissions=[permission_pb(p) for p in lines])

    def ListAgencies(self, request, context):
        with unit_of_work(self.db, "agency.list") as session:
            return records_pb2.ListAgenciesResponse(agencies=[
                agency_pb(a) for a in agencies.list_agencies(
                    session, include_disabled=request.include_disabled)])

    def CreateAgency(self, request, context):
        with unit_of_work(self.db, "agency.create") as session:
            return agency_pb(agencies.create_agency(session, name=request.name))

    def UpdateAgency(self, request, context):
        with unit_of_work(self.db, "agency.update") as session:
            return agency_pb(agencies.rename_agency(session, agency_id=request.agency_id,
                                                    name=request.name))

    def SetAgencyEnabled(self, request, context):
        with unit_of_work(self.db, "agency.enable") as session:
            return agency_pb(agencies.set_agency_enabled(
                session, agency_id=request.agency_id, enabled=request.enabled))

    # ---- incidents ------------------------------------------------------------------------------

    def CreateIncident(self, request, context):
        with unit_of_work(self.db, "incident.create") as session:
            view = incidents.create_incident(
                session,
                self.events,
                student_id=request.student_id,
                text=request.text,
                category_ids=list(request.category_ids),
                occurred_at=_when(request, "occurred_at"),
                status=request.status,
                alert_account_ids=list(request.alert_account_ids),
                request_id=request.request_id,
                linked_student_ids=list(request.linked_student_ids),
                monitor_linked_students=request.monitor_linked_students,
                assigned_to=request.assigned_to,
                alert_group_ids=list(request.alert_group_ids),
                agency_ids=list(request.agency_ids),
            )
            return incident_pb(view)

    def AddIntegrationConcern(self, request, context):
        with unit_of_work(self.db, "integration.concern.add",
                          integration_scope=integrations.ADD_SCOPE) as session:
            concern = integrations.add_concern(
                session, self.events, upn=request.upn, mis_id=request.mis_id,
                text=request.text, category=request.category,
                occurred_at=_when(request, "occurred_at"),
                external_reference=request.external_reference)
            return records_pb2.AddIntegrationConcernResponse(id=concern.incident_id,
                                                             replayed=concern.replayed)

    def GetIncident(self, request, context):
        with unit_of_work(self.db, "incident.view") as session:
            return incident_pb(chronology.get_incident(session, request.incident_id))

    def GetChronology(self, request, context):
        with unit_of_work(self.db, "student.chronology") as session:
            result = chronology.get_chronology(
                session, request.student_id, limit=request.limit,
                include_actions=request.include_actions, page_token=request.page_token,
                highlight_incident_id=request.highlight_incident_id,
            )
            out = records_pb2.GetChronologyResponse(student=student_pb(result.student),
                                                    next_page_token=result.next_page_token,
                                                    page_token=result.page_token)
            cats = CategoryMessages()
            for v in result.incidents:
                incident_pb(v, cats, into=out.incidents)
            return out

    def UpdateIncident(self, request, context):
        with unit_of_work(self.db, "incident.edit") as session:
            return incident_pb(editing.update_incident(
                session, self.events, incident_id=request.incident_id,
                update_fields=list(request.update), text=request.text,
                occurred_at=_when(request, "occurred_at"),
                category_ids=list(request.category_ids), agency_ids=list(request.agency_ids),
                status=request.status, assigned_to=request.assigned_to,
                expected_version=request.expected_version))

    def DeleteIncident(self, request, context):
        with unit_of_work(self.db, "incident.delete") as session:
            return incident_pb(editing.delete_incident(
                session, self.events, incident_id=request.incident_id, reason=request.reason))

    def RestoreIncident(self, request, context):
        with unit_of_work(self.db, "incident.restore") as session:
            return incident_pb(editing.restore_incident(
                session, self.events, incident_id=request.incident_id))

    def PinIncident(self, request, context):
        with unit_of_work(self.db, "incident.pin") as session:
            return incident_pb(editing.pin_incident(
                session, incident_id=request.incident_id, pinned=request.pinned))

    def GetRecordHistory(self, request, context):
        with unit_of_work(self.db, "record.history") as session:
            out = records_pb2.RecordHistory()
            for v in versions.history(session, incident_id=request.incident_id,
                                      action_id=request.action_id):
                r = v.version
                state = r.state or {}
                out.versions.add(
                    version=r.version, change=r.change, text=state.get("text", ""),
                    occurred_at=_ts(v.occurred_at), status=state.get("status", ""),
                    categories=[category_pb(c) for c in v.categories],
                    agencies=[agency_pb(a) for a in v.agencies],
                    assigned_to=state.get("assigned_to", ""), reason=r.reason,
                    changed_by=r.changed_by, changed_by_name=r.changed_by_name,
                    changed_at=_ts(r.changed_at))
            return out

    def CreateAction(self, request, context):
        with unit_of_work(self.db, "action.create") as session:
            return action_pb(actions.create_action(
                session, self.events, incident_id=request.incident_id, text=request.text,
                category_ids=list(request.category_ids), agency_ids=list(request.agency_ids),
                occurred_at=_when(request, "occurred_at"),
                alert_account_ids=list(request.alert_account_ids),
                alert_group_ids=list(request.alert_group_ids),
                alert_incident_recipients=request.alert_incident_recipients,
                copy_to_linked_students=request.copy_to_linked_students,
                request_id=request.request_id))

    def UpdateAction(self, request, context):
        with unit_of_work(self.db, "action.edit") as session:
            return action_pb(editing.update_action(
                session, action_id=request.action_id, update_fields=list(request.update),
                text=request.text, occurred_at=_when(request, "occurred_at"),
                agency_ids=list(request.agency_ids),
                expected_version=request.expected_version))

    def DeleteAction(self, request, context):
        with unit_of_work(self.db, "action.delete") as session:
            return action_pb(editing.delete_action(session, action_id=request.action_id,
                                                   reason=request.reason))

    def RestoreAction(self, request, context):
        with unit_of_work(self.db, "action.restore") as session:
            return action_pb(editing.restore_action(session, action_id=request.action_id))

    def PreviewIncidentMerge(self, request, context):
        with unit_of_work(self.db, "incident.merge.preview") as session:
            return incident_pb(editing.preview_merge(
                session, incident_id=request.incident_id, target_number=request.target_number))

    def MergeIncident(self, request, context):
        with unit_of_work(self.db, "incident.merge") as session:
            return incident_pb(editing.merge_incident(
                session, self.events, incident_id=request.incident_id,
                target_incident_id=request.target_incident_id,
                target_number=request.target_number))

    def SplitAction(self, request, context):
        with unit_of_work(self.db, "action.split") as session:
            return incident_pb(editing.split_action(
                session, self.events, action_id=request.action_id,
                category_ids=list(request.category_ids)))

    def CopyActionToLinkedIncidents(self, request, context):
        with unit_of_work(self.db, "action.copy") as session:
            copies = actions.copy_to_linked_incidents(session, self.events, request.action_id)
            return records_pb2.CopyActionToLinkedIncidentsResponse(
                actions=[action_pb(a) for a in copies])

    def AddAlerts(self, request, context):
        with unit_of_work(self.db, "alerts.add") as session:
            alerted, warnings = editing.add_alerts(
                session, self.events, incident_id=request.incident_id,
                action_id=request.action_id, account_ids=list(request.account_ids),
                alert_group_ids=list(request.alert_group_ids),
                incident_recipients=request.incident_recipients)
            return records_pb2.AddAlertsResponse(alerted_account_ids=alerted,
                                                 alert_warnings=warnings)

    def AddLinkedStudents(self, request, context):
        with unit_of_work(self.db, "incident.link") as session:
            return incident_pb(editing.add_linked_students(
                session, self.events, incident_id=request.incident_id,
                student_ids=list(request.student_ids), monitor=request.monitor))

    def GetIncidentPrint(self, request, context):
        with unit_of_work(self.db, "incident.print") as session:
            p = chronology.get_incident_print(session, request.incident_id)
            return records_pb2.IncidentPrint(
                incident=incident_pb(p.incident), student=student_pb(p.student),
                printed_by_name=p.printed_by_name, printed_at=_ts(p.printed_at))

    def CheckAlertRecipients(self, request, context):
        with unit_of_work(self.db, "alerts.check") as session:
            found = alerts.check_recipients(
                session, student_id=request.student_id,
                category_ids=list(request.category_ids), account_ids=list(request.account_ids),
                alert_group_ids=list(request.alert_group_ids), incident_id=request.incident_id,
                incident_recipients=request.incident_recipients)
            return records_pb2.CheckAlertRecipientsResponse(recipients=[
                records_pb2.AlertRecipient(account_id=r.account_id, name=r.name,
                                           can_view=r.can_view, active=r.active)
                for r in found])

    # ---- alerts and the dashboard ---------------------------------------------------------------

    def ListAlerts(self, request, context):
        with unit_of_work(self.db, "alert.list") as session:
            out = records_pb2.ListAlertsResponse()
            for view in alerts.list_alerts(session):
                a = view.alert
                out.alerts.add(
                    id=a.id,
                    incident_id=a.incident_id,
                    student_id=view.incident.student_id,
                    student_name=view.student_name,
                    raised_by_name=a.raised_by_name,
                    categories=[category_pb(c) for c in view.categories],
                    kind=a.kind,
                    raised_by=a.raised_by,
                    created_at=_ts(a.created_at),
                    action_id=a.action_id or "",
                    reason=a.reason or "chosen",
                )
            return out

    def MarkAlertRead(self, request, context):
        with unit_of_work(self.db, "alert.read") as session:
            alerts.mark_alert_read(
                session, alert_id=request.alert_id, incident_id=request.incident_id
            )
            return records_pb2.MarkAlertReadResponse()

    def ListMyHistory(self, request, context):
        with unit_of_work(self.db, "incident.history") as session:
            found, own_actions = incidents.my_history(session)
            return records_pb2.ListMyHistoryResponse(
                incidents=[incident_pb(v) for v in found],
                actions=[action_pb(a) for a in own_actions])

    def ListMyAssigned(self, request, context):
        with unit_of_work(self.db, "incident.assigned") as session:
            return records_pb2.ListMyAssignedResponse(
                incidents=[incident_pb(v) for v in incidents.list_my_assigned(session)])

    def ListAlertGroups(self, request, context):
        with unit_of_work(self.db, "alert_group.list") as session:
            return records_pb2.ListAlertGroupsResponse(alert_groups=[
                records_pb2.AlertGroup(id=g.id, name=g.name,
                                       member_account_ids=g.member_account_ids or [])
                for g in alerts.list_alert_groups(session)])

    def GetAutomaticAlerts(self, request, context):
        with unit_of_work(self.db, "alerts.automatic") as session:
            return _automatic_pb(alerts.get_automatic_alerts(session, request.account_id))

    def SetAutomaticAlerts(self, request, context):
        a = request.alerts
        with unit_of_work(self.db, "alerts.automatic.set") as session:
            return _automatic_pb(alerts.set_automatic_alerts(
                session, account_id=a.account_id, category_ids=list(a.category_ids),
                student_ids=list(a.student_ids), group_ids=list(a.group_ids)))

    def ClearUserAlerts(self, request, context):
        with unit_of_work(self.db, "alerts.clear") as session:
            return records_pb2.ClearUserAlertsResponse(cleared=alerts.clear_user_alerts(
                session, account_id=request.account_id, from_date=request.from_date,
                to_date=request.to_date))

    # ---- monitoring, audit, access ---------------------------------------------------------------

    def UpdateMonitoring(self, request, context):
        with unit_of_work(self.db, "monitoring.bulk") as session:
            started, ended = monitoring.update_monitoring(
                session, self.events, student_ids=list(request.student_ids),
                category_id=request.category_id, operation=request.operation,
                start_date=request.start_date)
            return records_pb2.UpdateMonitoringResponse(started=started, ended=ended)

    def GetMonitoringHistory(self, request, context):
        with unit_of_work(self.db, "monitoring.history") as session:
            h = monitoring.monitoring_history(session, request.student_id)
            return records_pb2.MonitoringHistory(csv=h.csv, spans=[
                records_pb2.MonitoringSpan(
                    id=s.span.id, category=category_pb(s.category),
                    started_at=_ts(s.span.started_at), ended_at=_ts(s.span.ended_at),
                    duration_seconds=int(s.duration.total_seconds()),
                    started_by=s.span.started_by, ended_by=s.span.ended_by or "",
                    source=s.span.source) for s in h.spans])

    def ListAuditEntries(self, request, context):
        with unit_of_work(self.db, "audit.list") as session:
            lines = audit.list_entries(
                session, student_id=request.student_id, account_id=request.account_id,
                from_date=settings.parse_date(request.from_date, "from_date"),
                to_date=settings.parse_date(request.to_date, "to_date"), limit=request.limit)
            return records_pb2.ListAuditEntriesResponse(entries=[
                records_pb2.AuditEntry(
                    id=x.entry.id, account_id=x.entry.account_id, account_name=x.account_name,
                    student_id=x.entry.student_id or "", action=x.entry.action,
                    detail=x.entry.detail, client_ip=x.entry.client_ip, at=_ts(x.entry.at))
                for x in lines])

    def GetAccessScope(self, request, context):
        with unit_of_work(self.db, "access.scope") as session:
            scope = access.get_access_scope(session)
            return records_pb2.AccessScope(
                full_access=scope.full_access,
                viewable_category_ids=scope.viewable_category_ids,
                view_student_category_ids=scope.view_student_category_ids,
                restrict_access_by=scope.restrict_access_by,
                visible_group_ids=scope.visible_group_ids,
                view_students_without_group=scope.view_students_without_group,
                can_edit_incidents=scope.can_edit_incidents,
            )


def _automatic_pb(a: alerts.AutomaticAlerts) -> records_pb2.AutomaticAlerts:
    return records_pb2.AutomaticAlerts(account_id=a.account_id, category_ids=a.category_ids,
                                       student_ids=a.student_ids, group_ids=a.group_ids)
