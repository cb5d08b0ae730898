"""The fake records' profile, chronology options, admin and monitoring RPCs (a subclass of
``fakes.FakeRecords``, built lazily by ``fakes.FakePlatform``): in-memory and simple, but
refusing what records refuses in the ways the gateway must handle (full access, the edit
permission, admin-only, deleted entries, a merge into another student's incident)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from haven.records.v1 import records_pb2
from shared import errors
from shared.context import current_claims

AG_POLICE = "a0000000-0000-4000-8000-000000000001"
AG_CAMHS = "a0000000-0000-4000-8000-000000000002"
AG_OLD = "a0000000-0000-4000-8000-000000000003"
G_7A = "90000000-0000-4000-8000-000000000001"
G_Y7 = "90000000-0000-4000-8000-000000000002"
G_NEW = "90000000-0000-4000-8000-000000000003"
ALERT_GROUP = "80000000-0000-4000-8000-000000000001"
EDIT_PERMISSIONS = ("edit_incidents",)


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _now() -> datetime:
    return datetime.now(UTC)


def _copy(message):
    out = type(message)()
    out.CopyFrom(message)
    return out


def full_fake_records():
    """FakeRecords with the RPCs below (imported lazily by fakes.FakePlatform)."""
    from gateway.tests import fakes as f

    class FakeRecordsFull(f.FakeRecords):
        def __init__(self) -> None:
            f.FakeRecords.__init__(self)
            for c in self.categories:
                if c.parent_id:
                    c.parent_name = next(p.name for p in self.categories if p.id == c.parent_id)
            self.accounts = {a.account_id: a for a in (f.DSL, f.TEACHER, f.TUTOR)}
            self.agencies = [
                records_pb2.Agency(id=AG_POLICE, name="Police", enabled=True),
                records_pb2.Agency(id=AG_CAMHS, name="CAMHS", enabled=True),
                records_pb2.Agency(id=AG_OLD, name="Old agency", enabled=False),
            ]
            self.groups = {
                G_7A: records_pb2.Group(id=G_7A, name="7A", kind="tutor", mis_id="G7A",
                                        active=True),
                G_Y7: records_pb2.Group(id=G_Y7, name="Year 7", kind="year", mis_id="GY7",
                                        active=True),
                G_NEW: records_pb2.Group(id=G_NEW, name="12Z", kind="tutor", mis_id="G12Z",
                                         active=True, is_new=True),
            }
            self.members = {G_7A: {f.AVA}, G_Y7: {f.AVA}, G_NEW: set()}
            self.settings = records_pb2.SchoolSettings()
            self.info: dict[str, dict[str, Any]] = {}
            self.contacts: dict[str, list] = {}
            self.spans: dict[str, list] = {}
            self.audit: list = []
            self.auto: dict[str, records_pb2.AutomaticAlerts] = {}
            self.alert_groups = [records_pb2.AlertGroup(
                id=ALERT_GROUP, name="Safeguarding team",
                member_account_ids=[f.DSL.account_id])]
            self.versions: dict[str, list] = {}
            self.category_permissions = {}
            self.next_number = 1
            self.completed: set[str] = set()

        # ---- helpers ----
        def _claims(self, *, full: bool = False, edit: bool = False, admin: bool = False):
            claims = current_claims()
            if (full or edit or admin) and not claims.full_access:
                raise errors.PermissionDenied("This needs elevated access.")
            if edit and not any(claims.has(p) for p in EDIT_PERMISSIONS):
                raise errors.PermissionDenied("Your user group may not edit incidents.")
            if admin and not claims.has("administration"):
                raise errors.PermissionDenied("Only administrators may do that.")
            return claims

        def _student(self, student_id: str):
            s = self.students.get(student_id)
            if s is None:
                raise errors.NotFound("No such student.")
            return s

        def _incident(self, incident_id: str):
            i = self.incidents.get(incident_id)
            if i is None:
                raise errors.NotFound("No such incident.")
            return i

        def _action(self, action_id: str):
            for i in self.incidents.values():
                for a in i.actions:
                    if a.id == action_id:
                        return a, i
            raise errors.NotFound("No such action.")

        def _name_of(self, account_id: str) -> str:
            a = self.accounts.get(account_id)
            return a.name if a else ""

        def _version(self, record_id: str, change: str, record, reason: str = "") -> None:
            claims = current_claims()
            self.versions.setdefault(record_id, []).append(records_pb2.RecordVersion(
                version=len(self.versions.get(record_id, [])) + 1, change=change,
                text=record.text, occurred_at=record.occurred_at,
                status=getattr(record, "status", ""), categories=record.categories,
                agencies=record.agencies, reason=reason, changed_by=claims.account_id,
                changed_by_name=claims.name, changed_at=_ts(_now())))

        def _audit(self, action: str, student_id: str = "", detail: str = "") -> None:
            claims = current_claims()
            self.audit.append(records_pb2.AuditEntry(
                id=str(uuid.uuid4()), account_id=claims.account_id, account_name=claims.name,
                student_id=student_id, action=action, detail=detail, client_ip="127.0.0.1",
                at=_ts(_now())))

        def _monitor(self, student_id: str, category_ids, source: str,
                     at: datetime | None = None) -> int:
            s = self.students[student_id]
            started = 0
            for cid in category_ids:
                if cid in s.monitored_category_ids:
                    continue
                cat = next((c for c in self.categories if c.id == cid), None)
                if cat is None:
                    continue
                s.monitored_category_ids.append(cid)
                self.spans.setdefault(student_id, []).insert(0, records_pb2.MonitoringSpan(
                    id=str(uuid.uuid4()), category=cat, started_at=_ts(at or _now()),
                    source=source, started_by=current_claims().account_id))
                started += 1
            return started

        def _unmonitor(self, student_id: str, category_ids) -> int:
            s = self.students[student_id]
            ended = 0
            for cid in list(category_ids):
                if cid not in s.monitored_category_ids:
                    continue
                s.monitored_category_ids.remove(cid)
                for span in self.spans.get(student_id, []):
                    if span.category.id == cid and not span.HasField("ended_at"):
                        span.ended_at.CopyFrom(_ts(_now()))
                ended += 1
            return ended

        def _shown(self, incident, claims):
            """The incident as this caller sees it."""
            out = _copy(incident)
            out.can_edit = claims.full_access and any(claims.has(p) for p in EDIT_PERMISSIONS)
            editor = out.can_edit
            if out.deleted and not editor:
                return None
            if out.deleted:
                out.text = ""
            kept = []
            for a in out.actions:
                if a.deleted and not editor:
                    continue
                if a.deleted:
                    a.text = ""
                kept.append(_copy(a))
            del out.actions[:]
            out.actions.extend(kept)
            out.action_count = len(kept)
            return out

        def _raise_alerts(self, incident, account_ids, *, kind="incident", action_id=""):
            claims = current_claims()
            new = []
            for recipient in account_ids:
                if recipient == claims.account_id or recipient not in self.accounts:
                    continue
                alert_id = str(uuid.uuid4())
                self.alerts[alert_id] = {"recipient": recipient, "read": False,
                                         "alert": records_pb2.Alert(
                                             id=alert_id, incident_id=incident.id,
                                             student_id=incident.student_id,
                                             student_name=incident.student_name,
                                             raised_by_name=claims.name,
                                             categories=incident.categories,
                                             created_at=_ts(_now()), kind=kind,
                                             action_id=action_id)}
                new.append(recipient)
            return new

        def _group_members(self, group_ids) -> list[str]:
            out = []
            for g in self.alert_groups:
                if g.id in group_ids:
                    out.extend(g.member_account_ids)
            return out

        def _cannot_view(self, account_ids) -> list[str]:
            return [a for a in account_ids
                    if a in self.accounts and not self.accounts[a].key_holder]

        # ---- overridden foundation RPCs ----
        def add_incident(self, **kwargs):
            incident = f.FakeRecords.add_incident(self, **kwargs)
            incident.number = self.next_number
            incident.version = 1
            self.next_number += 1
            return incident

        def ListCategories(self, request, context):
            self._enter("ListCategories", request, context)
            current_claims()
            cats = [c for c in self.categories if c.enabled or request.include_disabled]
            return records_pb2.ListCategoriesResponse(categories=cats)

        def CreateIncident(self, request, context):
            claims = current_claims()
            for sid in request.linked_student_ids:
                if sid not in self.students:
                    self._enter("CreateIncident", request, context)
                    raise errors.NotFound("You cannot link a student you cannot see.")
            if self.settings.enforce_alert and not (request.alert_account_ids
                                                    or request.alert_group_ids):
                self._enter("CreateIncident", request, context)
                raise errors.InvalidArgument("Alert at least one colleague.")
            incident = f.FakeRecords.CreateIncident(self, request, context)
            if incident.id in self.completed:  # a repeat of the same request
                return self._shown(incident, claims)
            self.completed.add(incident.id)
            incident.assigned_to = request.assigned_to
            incident.assigned_to_name = self._name_of(request.assigned_to)
            incident.agencies.extend(a for a in self.agencies if a.id in request.agency_ids)
            self._raise_alerts(incident, self._group_members(request.alert_group_ids))
            incident.alert_warnings.extend(self._cannot_view(
                list(request.alert_account_ids) + self._group_members(request.alert_group_ids)))
            self._monitor(incident.student_id, request.category_ids, "incident")
            self._version(incident.id, "created", incident)
            for sid in request.linked_student_ids:
                copy = f.FakeRecords.add_incident(
                    self, student_id=sid, text=incident.text,
                    category_ids=request.category_ids,
                    author=self.accounts[claims.account_id])
                copy.number = self.next_number
                self.next_number += 1
                copy.link_group_id = incident.id
                incident.linked_students.add(student_id=sid,
                                             name=self._name(self.students[sid]),
                                             tutor_group=self.students[sid].tutor_group,
                                             incident_id=copy.id)
                if request.monitor_linked_students:
                    self._monitor(sid, request.category_ids, "linked")
            return self._shown(incident, claims)

        def GetIncident(self, request, context):
            incident = f.FakeRecords.GetIncident(self, request, context)
            claims = current_claims()
            shown = self._shown(incident, claims)
            if shown is None:
                raise errors.NotFound("No such incident.")
            self._audit("incident.viewed", incident.student_id, f"incident {incident.id}")
            return shown

        def GetChronology(self, request, context):
            reply = f.FakeRecords.GetChronology(self, request, context)
            claims = current_claims()
            shown = [x for x in (self._shown(i, claims) for i in reply.incidents) if x]
            shown.sort(key=lambda i: (not i.pinned, -i.occurred_at.seconds, i.id))
            if request.page_token:  # the fake's token: the last id of the previous page
                ids = [i.id for i in shown]
                if request.page_token not in ids:
                    raise errors.InvalidArgument("That page link is not valid.")
                shown = shown[ids.index(request.page_token) + 1:]
            limit = request.limit or 200
            page_token = request.page_token
            ids = [i.id for i in shown]
            if not page_token and request.highlight_incident_id in ids:
                # the page holding it (an id the caller does not see gives the first page)
                start = ids.index(request.highlight_incident_id) // limit * limit
                if start:
                    page_token = ids[start - 1]
                    shown = shown[start:]
            next_token = shown[limit - 1].id if len(shown) > limit else ""
            shown = shown[:limit]
            if not request.include_actions:
                for i in shown:
                    del i.actions[:]
            self._audit("student.chronology.viewed", request.student_id)
            return records_pb2.GetChronologyResponse(student=reply.student, incidents=shown,
                                                     next_page_token=next_token,
                                                     page_token=page_token)

        def ListMyHistory(self, request, context):
            reply = f.FakeRecords.ListMyHistory(self, request, context)
            claims = current_claims()
            mine = [a for i in self.incidents.values() for a in i.actions
                    if a.created_by == claims.account_id and not a.deleted]
            reply.actions.extend(mine)
            return reply

        def GetAccessScope(self, request, context):
            reply = f.FakeRecords.GetAccessScope(self, request, context)
            claims = current_claims()
            if claims.full_access:
                reply.view_student_category_ids.extend(c.id for c in self.categories)
            return reply

        # ---- students ----
        def _profile(self, student_id: str):
            s = self._student(student_id)
            info = self.info.setdefault(student_id, {
                "summary": "", "keywords": [], "agency_ids": [], "alert": [], "links": []})
            counts: dict[str, int] = {}
            months: dict[str, int] = {}
            total = 0
            for i in self.incidents.values():
                if i.student_id != student_id or i.deleted:
                    continue
                total += 1
                for c in i.categories:
                    counts[c.id] = counts.get(c.id, 0) + 1
                month = i.occurred_at.ToDatetime().strftime("%Y-%m")
                months[month] = months.get(month, 0) + 1
            return records_pb2.StudentProfile(
                student=_copy(s), summary=info["summary"],
                monitored_categories=[c for c in self.categories
                                      if c.id in s.monitored_category_ids],
                agencies=[records_pb2.Agency(id=a.id, name=a.name, enabled=a.enabled,
                                             manual=True)
                          for a in self.agencies if a.id in info["agency_ids"]],
                keywords=info["keywords"],
                links=[records_pb2.StudentLink(
                    id=f"link-{sid}", student_id=sid, name=self._name(self.students[sid]),
                    tutor_group=self.students[sid].tutor_group, label=label, source="manual")
                    for sid, label in info["links"] if sid in self.students],
                alert_staff=[records_pb2.StaffRef(account_id=a, name=self._name_of(a))
                             for a in info["alert"]],
                incidents_by_category=[records_pb2.CategoryCount(
                    category_id=c.id, name=c.name, colour=c.colour, count=counts[c.id])
                    for c in self.categories if c.id in counts],
                incidents_by_month=[records_pb2.MonthCount(month=m, count=n)
                                    for m, n in sorted(months.items())],
                incident_count=total)

        def GetStudentProfile(self, request, context):
            self._enter("GetStudentProfile", request, context)
            self._claims(full=True)
            self._audit("student.viewed", request.student_id)
            return self._profile(request.student_id)

        def UpdateStudentInformation(self, request, context):
            self._enter("UpdateStudentInformation", request, context)
            self._claims(full=True)
            s = self._student(request.student_id)
            self._profile(request.student_id)
            info = self.info[request.student_id]
            parts = set(request.update)
            if "summary" in parts:
                if len(request.summary) > 300:
                    raise errors.InvalidArgument("The summary is too long.")
                info["summary"] = request.summary
            if "keywords" in parts:
                info["keywords"] = list(request.keywords)
            if "agencies" in parts:
                info["agency_ids"] = list(request.agency_ids)
            if "alert_staff" in parts:
                info["alert"] = list(request.alert_account_ids)
            if "links" in parts:
                for link in request.links:
                    if link.student_id not in self.students:
                        raise errors.NotFound("You cannot link a student you cannot see.")
                info["links"] = [(link.student_id, link.label) for link in request.links]
            if "monitored_categories" in parts:
                wanted = set(request.monitored_category_ids)
                self._unmonitor(s.id, [c for c in s.monitored_category_ids if c not in wanted])
                self._monitor(s.id, [c for c in request.monitored_category_ids], "manual")
            if "groups" in parts:
                self._claims(admin=True)
                if s.mis_linked:
                    raise errors.InvalidArgument("This student's groups come from the MIS.")
                if any(g not in self.groups for g in request.group_ids):
                    raise errors.InvalidArgument("Unknown group.")
                del s.groups[:]
                s.groups.extend(records_pb2.GroupRef(id=g, name=self.groups[g].name,
                                                     kind=self.groups[g].kind)
                                for g in request.group_ids)
                for gid, members in self.members.items():
                    (members.add if gid in request.group_ids else members.discard)(s.id)
            return self._profile(request.student_id)

        def AddStudent(self, request, context):
            self._enter("AddStudent", request, context)
            self._claims(admin=True)
            if not (request.first_name and request.last_name):
                raise errors.InvalidArgument("A student needs a first and a last name.")
            sid = str(uuid.uuid4())
            self.students[sid] = records_pb2.Student(
                id=sid, first_name=request.first_name, last_name=request.last_name,
                preferred_name=request.preferred_name, date_of_birth=request.date_of_birth,
                upn=request.upn, year_group=request.year_group,
                tutor_group=request.tutor_group, mis_linked=False)
            return self.students[sid]

        def UnlinkStudentFromMis(self, request, context):
            self._enter("UnlinkStudentFromMis", request, context)
            self._claims(admin=True)
            s = self._student(request.student_id)
            s.mis_linked = False
            return s

        def ListContacts(self, request, context):
            self._enter("ListContacts", request, context)
            self._claims(full=True)
            self._student(request.student_id)
            self._audit("student.contacts.viewed", request.student_id)
            return records_pb2.ListContactsResponse(
                contacts=self.contacts.get(request.student_id, []))

        def AddContact(self, request, context):
            self._enter("AddContact", request, context)
            self._claims(full=True)
            self._student(request.student_id)
            c = _copy(request.contact)
            c.id, c.student_id, c.source = str(uuid.uuid4()), request.student_id, "manual"
            self.contacts.setdefault(request.student_id, []).append(c)
            return c

        def GetAttendance(self, request, context):
            self._enter("GetAttendance", request, context)
            self._claims(full=True)
            self._student(request.student_id)
            marks = [records_pb2.AttendanceMark(date="2026-01-05", session="AM", code="/",
                                                meaning="present"),
                     records_pb2.AttendanceMark(date="2026-01-05", session="PM", code="N",
                                                meaning="unauthorised"),
                     records_pb2.AttendanceMark(date="2026-01-06", session="AM", code="L",
                                                meaning="late", minutes_late=12)]
            line = records_pb2.AttendanceLine
            return records_pb2.Attendance(
                from_date=request.from_date or "2025-09-01",
                to_date=request.to_date or "2026-01-31", overall=line(sessions=2, percent=66.67),
                present=line(sessions=2, percent=66.67), possible=line(sessions=3, percent=100),
                unauthorised_absences=line(sessions=1, percent=33.33),
                lates_before_registers_closed=line(sessions=1, percent=33.33), marks=marks)

        # ---- groups and settings ----
        def _group(self, g):
            out = _copy(g)
            out.student_count = len(self.members.get(g.id, ()))
            return out

        def ListGroups(self, request, context):
            self._enter("ListGroups", request, context)
            claims = self._claims(full=True)
            found = [self._group(g) for g in self.groups.values()
                     if (not request.kind or g.kind == request.kind)
                     and (g.active or request.include_inactive)]
            new = (sum(1 for g in self.groups.values() if g.is_new)
                   if claims.has("administration") and self.settings.restrict_access_by else 0)
            return records_pb2.ListGroupsResponse(groups=found, new_group_count=new)

        def CreateGroup(self, request, context):
            self._enter("CreateGroup", request, context)
            self._claims(admin=True)
            if not request.name or request.kind not in ("tutor", "year"):
                raise errors.InvalidArgument("A group needs a name and a kind.")
            gid = str(uuid.uuid4())
            self.groups[gid] = records_pb2.Group(id=gid, name=request.name, kind=request.kind,
                                                 active=True)
            return self._group(self.groups[gid])

        def SetGroupAccess(self, request, context):
            self._enter("SetGroupAccess", request, context)
            self._claims(admin=True)
            g = self.groups.get(request.group_id)
            if g is None:
                raise errors.NotFound("No such group.")
            del g.access_account_ids[:]
            g.access_account_ids.extend(request.account_ids)
            del g.access_user_group_ids[:]
            g.access_user_group_ids.extend(request.user_group_ids)
            g.is_new = False
            return self._group(g)

        def GetSchoolSettings(self, request, context):
            self._enter("GetSchoolSettings", request, context)
            current_claims()
            return self.settings

        def UpdateSchoolSettings(self, request, context):
            self._enter("UpdateSchoolSettings", request, context)
            self._claims(admin=True)
            for name in request.update:
                if name == "restrict_access_by" and request.settings.restrict_access_by not in (
                        "", "tutor", "year"):
                    raise errors.InvalidArgument("Restrict by tutor or year group.")
                setattr(self.settings, name, getattr(request.settings, name))
            return self.settings

        # ---- categories ----
        def _category(self, category_id: str):
            c = next((c for c in self.categories if c.id == category_id), None)
            if c is None:
                raise errors.NotFound("There is no such category.")
            return c

        def _set_lines(self, lines, category_id: str = "") -> None:
            for p in lines:
                line = _copy(p)
                line.category_id = category_id or p.category_id
                self.category_permissions[(p.user_group_id, line.category_id)] = line

        def CreateCategory(self, request, context):
            self._enter("CreateCategory", request, context)
            self._claims(admin=True)
            if not request.name.strip():
                raise errors.InvalidArgument("A category needs a name.")
            if any(c.name.lower() == request.name.lower() for c in self.categories):
                raise errors.Conflict("There is already a category with that name.")
            parent = self._category(request.parent_id) if request.parent_id else None
            c = records_pb2.Category(id=str(uuid.uuid4()), name=request.name,
                                     colour=request.colour or "607d8b",
                                     parent_id=request.parent_id, enabled=True, can_add=True,
                                     can_view=True, parent_name=parent.name if parent else "")
            self.categories.append(c)
            self._set_lines(request.permissions, c.id)
            return c

        def UpdateCategory(self, request, context):
            self._enter("UpdateCategory", request, context)
            self._claims(admin=True)
            c = self._category(request.category_id)
            if "name" in request.update:
                if not request.name.strip():
                    raise errors.InvalidArgument("A category needs a name.")
                c.name = request.name
            if "colour" in request.update:
                c.colour = request.colour
            if "position" in request.update:
                c.position = request.position
            if "permissions" in request.update:
                self._set_lines(request.permissions, c.id)
            return c

        def SetCategoryEnabled(self, request, context):
            self._enter("SetCategoryEnabled", request, context)
            self._claims(admin=True)
            c = self._category(request.category_id)
            c.enabled = request.enabled
            return c

        def _in_use(self, category_id: str) -> bool:
            return any(c.id == category_id for i in self.incidents.values()
                       for c in i.categories)

        def DeleteCategory(self, request, context):
            self._enter("DeleteCategory", request, context)
            self._claims(admin=True)
            c = self._category(request.category_id)
            if self._in_use(c.id):
                c.enabled = False
                return records_pb2.DeleteCategoryResponse(disabled=True)
            self.categories.remove(c)
            return records_pb2.DeleteCategoryResponse(deleted=True)

        def MergeCategory(self, request, context):
            self._enter("MergeCategory", request, context)
            self._claims(admin=True)
            source = self._category(request.source_category_id)
            target = self._category(request.target_category_id)
            if source.id == target.id:
                raise errors.InvalidArgument("Choose another category to merge into.")
            moved = 0
            for i in self.incidents.values():
                for n, c in enumerate(i.categories):
                    if c.id == source.id:
                        i.categories[n].CopyFrom(target)
                        moved += 1
            self.categories.remove(source)
            return records_pb2.MergeCategoryResponse(incidents_moved=moved, target=target)

        def ListCategoryPermissions(self, request, context):
            self._enter("ListCategoryPermissions", request, context)
            self._claims(admin=True)
            return records_pb2.ListCategoryPermissionsResponse(permissions=[
                p for (gid, cid), p in sorted(self.category_permissions.items())
                if gid == request.user_group_id or cid == request.category_id])

        def SetCategoryPermissions(self, request, context):
            self._enter("SetCategoryPermissions", request, context)
            self._claims(admin=True)
            known = {c.id for c in self.categories}
            for p in request.permissions:
                if p.category_id not in known:
                    raise errors.NotFound("There is no such category.")
            self._set_lines(request.permissions)
            groups = {p.user_group_id for p in request.permissions}
            return records_pb2.ListCategoryPermissionsResponse(permissions=[
                p for (gid, _cid), p in sorted(self.category_permissions.items())
                if gid in groups])

        # ---- agencies ----
        def _agency(self, agency_id: str):
            a = next((a for a in self.agencies if a.id == agency_id), None)
            if a is None:
                raise errors.NotFound("There is no such agency.")
            return a

        def ListAgencies(self, request, context):
            self._enter("ListAgencies", request, context)
            current_claims()
            return records_pb2.ListAgenciesResponse(
                agencies=[a for a in self.agencies if a.enabled or request.include_disabled])

        def CreateAgency(self, request, context):
            self._enter("CreateAgency", request, context)
            self._claims(admin=True)
            if not request.name.strip():
                raise errors.InvalidArgument("An agency needs a name.")
            a = records_pb2.Agency(id=str(uuid.uuid4()), name=request.name, enabled=True)
            self.agencies.append(a)
            return a

        def UpdateAgency(self, request, context):
            self._enter("UpdateAgency", request, context)
            self._claims(admin=True)
            a = self._agency(request.agency_id)
            if not request.name.strip():
                raise errors.InvalidArgument("An agency needs a name.")
            a.name = request.name
            return a

        def SetAgencyEnabled(self, request, context):
            self._enter("SetAgencyEnabled", request, context)
            self._claims(admin=True)
            a = self._agency(request.agency_id)
            a.enabled = request.enabled
            return a

        # ---- incident options ----
        def UpdateIncident(self, request, context):
            self._enter("UpdateIncident", request, context)
            fields = set(request.update)
            claims = self._claims(full=True, edit=bool(
                fields & {"text", "occurred_at", "category_ids", "agency_ids"}))
            i = self._incident(request.incident_id)
            if i.deleted:
                raise errors.FailedPrecondition("This incident is deleted; restore it first.")
            if request.expected_version and request.expected_version != i.version:
                raise errors.Conflict("Someone else has saved this incident meanwhile.")
            if "text" in fields:
                if not request.text.strip():
                    raise errors.InvalidArgument("The incident needs its text.")
                i.text = request.text
            if "occurred_at" in fields:
                i.occurred_at.CopyFrom(request.occurred_at)
            if "category_ids" in fields:
                del i.categories[:]
                i.categories.extend(c for c in self.categories if c.id in request.category_ids)
            if "agency_ids" in fields:
                del i.agencies[:]
                i.agencies.extend(a for a in self.agencies if a.id in request.agency_ids)
            if "status" in fields:
                i.status = request.status
            if "assigned_to" in fields:
                i.assigned_to = request.assigned_to
                i.assigned_to_name = self._name_of(request.assigned_to)
            i.version += 1
            i.updated_at.CopyFrom(_ts(_now()))
            self._version(i.id, "edited", i)
            return self._shown(i, claims)

        def DeleteIncident(self, request, context):
            self._enter("DeleteIncident", request, context)
            claims = self._claims(edit=True)
            i = self._incident(request.incident_id)
            if not request.reason.strip():
                raise errors.InvalidArgument("Say why it is deleted.")
            self._version(i.id, "deleted", i, request.reason)
            i.deleted, i.deleted_reason, i.deleted_by_name = True, request.reason, claims.name
            i.deleted_at.CopyFrom(_ts(_now()))
            return self._shown(i, claims)

        def RestoreIncident(self, request, context):
            self._enter("RestoreIncident", request, context)
            claims = self._claims(edit=True)
            i = self._incident(request.incident_id)
            if not i.deleted:
                raise errors.FailedPrecondition("This incident is not deleted.")
            i.deleted, i.deleted_reason, i.deleted_by_name = False, "", ""
            i.ClearField("deleted_at")
            self._version(i.id, "restored", i)
            return self._shown(i, claims)

        def PinIncident(self, request, context):
            self._enter("PinIncident", request, context)
            claims = self._claims(full=True)
            i = self._incident(request.incident_id)
            i.pinned = request.pinned
            return self._shown(i, claims)

        def GetRecordHistory(self, request, context):
            self._enter("GetRecordHistory", request, context)
            self._claims(edit=True)
            key = request.incident_id or request.action_id
            if request.incident_id:
                self._incident(key)
            else:
                self._action(key)
            return records_pb2.RecordHistory(versions=self.versions.get(key, []))

        def CreateAction(self, request, context):
            self._enter("CreateAction", request, context)
            claims = current_claims()
            i = self._incident(request.incident_id)
            if not claims.full_access:
                f.FakeRecords.GetIncident(self, records_pb2.GetIncidentRequest(
                    incident_id=i.id), context)  # the same rule as opening it
            if not request.text.strip():
                raise errors.InvalidArgument("Write what was done.")
            for a in i.actions:
                if request.request_id and a.link_id == request.request_id:
                    return a
            a = i.actions.add(
                id=str(uuid.uuid4()), incident_id=i.id, student_id=i.student_id,
                text=request.text, occurred_at=request.occurred_at
                if request.HasField("occurred_at") else _ts(_now()), created_at=_ts(_now()),
                created_by=claims.account_id, created_by_name=claims.name, version=1,
                link_id=request.request_id)
            a.categories.extend(c for c in self.categories if c.id in request.category_ids)
            a.agencies.extend(x for x in self.agencies if x.id in request.agency_ids)
            for c in a.categories:
                if all(c.id != have.id for have in i.categories):
                    i.categories.append(c)
            recipients = list(request.alert_account_ids) + self._group_members(
                request.alert_group_ids)
            if request.alert_incident_recipients:
                recipients += list(i.alerted_account_ids)
            a.alerted_account_ids.extend(self._raise_alerts(i, recipients, kind="action",
                                                            action_id=a.id))
            a.alert_warnings.extend(self._cannot_view(a.alerted_account_ids))
            i.action_count = len(i.actions)
            self._version(a.id, "created", a)
            return a

        def UpdateAction(self, request, context):
            self._enter("UpdateAction", request, context)
            self._claims(edit=True)
            a, _i = self._action(request.action_id)
            if "text" in request.update:
                if not request.text.strip():
                    raise errors.InvalidArgument("The action needs its text.")
                a.text = request.text
            if "occurred_at" in request.update:
                a.occurred_at.CopyFrom(request.occurred_at)
            if "agency_ids" in request.update:
                del a.agencies[:]
                a.agencies.extend(x for x in self.agencies if x.id in request.agency_ids)
            a.version += 1
            self._version(a.id, "edited", a)
            return a

        def DeleteAction(self, request, context):
            self._enter("DeleteAction", request, context)
            claims = self._claims(edit=True)
            a, _i = self._action(request.action_id)
            if not request.reason.strip():
                raise errors.InvalidArgument("Say why it is deleted.")
            self._version(a.id, "deleted", a, request.reason)
            a.deleted, a.deleted_reason, a.deleted_by_name = True, request.reason, claims.name
            return a

        def RestoreAction(self, request, context):
            self._enter("RestoreAction", request, context)
            self._claims(edit=True)
            a, _i = self._action(request.action_id)
            a.deleted, a.deleted_reason = False, ""
            self._version(a.id, "restored", a)
            return a

        def _target(self, source, number: int = 0, target_id: str = ""):
            target = next((i for i in self.incidents.values()
                           if (number and i.number == number) or i.id == target_id), None)
            if target is None or target.deleted:
                raise errors.NotFound(f"There is no incident #{number}.")
            if target.id == source.id:
                raise errors.InvalidArgument("An incident cannot be merged into itself.")
            if target.student_id != source.student_id:
                raise errors.FailedPrecondition("Both incidents must be about the same student.")
            return target

        def PreviewIncidentMerge(self, request, context):
            self._enter("PreviewIncidentMerge", request, context)
            claims = self._claims(edit=True)
            source = self._incident(request.incident_id)
            return self._shown(self._target(source, request.target_number), claims)

        def MergeIncident(self, request, context):
            self._enter("MergeIncident", request, context)
            claims = self._claims(edit=True)
            source = self._incident(request.incident_id)
            target = self._target(source, request.target_number, request.target_incident_id)
            target.actions.add(
                id=str(uuid.uuid4()), incident_id=target.id, student_id=target.student_id,
                text=source.text, occurred_at=source.occurred_at, created_at=source.created_at,
                created_by=source.created_by, created_by_name=source.created_by_name,
                version=1, merged_from_number=source.number)
            target.actions.extend(source.actions)
            del self.incidents[source.id]
            return self._shown(target, claims)

        def SplitAction(self, request, context):
            self._enter("SplitAction", request, context)
            claims = self._claims(edit=True)
            a, i = self._action(request.action_id)
            ids = list(request.category_ids) or [c.id for c in i.categories]
            new = self.add_incident(student_id=i.student_id, text=a.text, category_ids=ids,
                                    author=self.accounts.get(a.created_by, f.DSL),
                                    occurred_at=a.occurred_at.ToDatetime(tzinfo=UTC))
            kept = [x for x in i.actions if x.id != a.id]
            del i.actions[:]
            i.actions.extend(kept)
            return self._shown(new, claims)

        def CopyActionToLinkedIncidents(self, request, context):
            self._enter("CopyActionToLinkedIncidents", request, context)
            self._claims(full=True)
            a, i = self._action(request.action_id)
            if not i.linked_students:
                raise errors.FailedPrecondition("This incident has no linked students.")
            copies = []
            for s in i.linked_students:
                other = self.incidents.get(s.incident_id)
                if other is not None and all(x.link_id != a.id for x in other.actions):
                    copy = other.actions.add()
                    copy.CopyFrom(a)
                    copy.id, copy.incident_id, copy.link_id = str(uuid.uuid4()), other.id, a.id
                    copies.append(copy)
            return records_pb2.CopyActionToLinkedIncidentsResponse(actions=copies)

        def AddAlerts(self, request, context):
            self._enter("AddAlerts", request, context)
            self._claims(full=True)
            if request.action_id:
                a, i = self._action(request.action_id)
            else:
                a, i = None, self._incident(request.incident_id)
            if i.deleted:
                raise errors.FailedPrecondition("It is deleted; restore it first.")
            wanted = list(request.account_ids) + self._group_members(request.alert_group_ids)
            if request.incident_recipients:
                wanted += list(i.alerted_account_ids)
            new = self._raise_alerts(i, [w for w in dict.fromkeys(wanted)
                                         if w not in i.alerted_account_ids],
                                     kind="action" if a else "incident",
                                     action_id=a.id if a else "")
            i.alerted_account_ids.extend(new)
            return records_pb2.AddAlertsResponse(alerted_account_ids=new,
                                                 alert_warnings=self._cannot_view(new))

        def AddLinkedStudents(self, request, context):
            self._enter("AddLinkedStudents", request, context)
            claims = self._claims(edit=True)
            i = self._incident(request.incident_id)
            for sid in request.student_ids:
                self._student(sid)
                copy = f.FakeRecords.add_incident(
                    self, student_id=sid, text=i.text, category_ids=[c.id for c in i.categories],
                    author=self.accounts.get(i.created_by, f.DSL))
                i.linked_students.add(student_id=sid, name=self._name(self.students[sid]),
                                      tutor_group=self.students[sid].tutor_group,
                                      incident_id=copy.id)
                if request.monitor:
                    self._monitor(sid, [c.id for c in i.categories], "linked")
            return self._shown(i, claims)

        def GetIncidentPrint(self, request, context):
            self._enter("GetIncidentPrint", request, context)
            claims = self._claims(full=True)
            i = self._incident(request.incident_id)
            self._audit("incident.printed", i.student_id, f"incident {i.id}")
            return records_pb2.IncidentPrint(
                incident=self._shown(i, claims), student=self.students[i.student_id],
                printed_by_name=claims.name, printed_at=_ts(_now()))

        def CheckAlertRecipients(self, request, context):
            self._enter("CheckAlertRecipients", request, context)
            current_claims()
            wanted = list(request.account_ids) + self._group_members(request.alert_group_ids)
            if request.incident_recipients and request.incident_id:
                wanted += list(self._incident(request.incident_id).alerted_account_ids)
            return records_pb2.CheckAlertRecipientsResponse(recipients=[
                records_pb2.AlertRecipient(account_id=a, name=self._name_of(a),
                                           can_view=self.accounts[a].key_holder, active=True)
                for a in dict.fromkeys(wanted) if a in self.accounts])

        # ---- alerts ----
        def ListMyAssigned(self, request, context):
            self._enter("ListMyAssigned", request, context)
            claims = self._claims(full=True)
            return records_pb2.ListMyAssignedResponse(incidents=[
                i for i in self.incidents.values()
                if i.assigned_to == claims.account_id and i.status != "closed"
                and not i.deleted])

        def ListAlertGroups(self, request, context):
            self._enter("ListAlertGroups", request, context)
            current_claims()
            return records_pb2.ListAlertGroupsResponse(alert_groups=self.alert_groups)

        def GetAutomaticAlerts(self, request, context):
            self._enter("GetAutomaticAlerts", request, context)
            self._claims(admin=True)
            return self.auto.get(request.account_id,
                                 records_pb2.AutomaticAlerts(account_id=request.account_id))

        def SetAutomaticAlerts(self, request, context):
            self._enter("SetAutomaticAlerts", request, context)
            self._claims(admin=True)
            self.auto[request.alerts.account_id] = _copy(request.alerts)
            return self.auto[request.alerts.account_id]

        def ClearUserAlerts(self, request, context):
            self._enter("ClearUserAlerts", request, context)
            self._claims(admin=True)
            start = datetime.fromisoformat(request.from_date).replace(tzinfo=UTC)
            end = datetime.fromisoformat(request.to_date).replace(tzinfo=UTC) + timedelta(1)
            cleared = 0
            for a in self.alerts.values():
                at = a["alert"].created_at.ToDatetime(tzinfo=UTC)
                if a["recipient"] == request.account_id and not a["read"] and start <= at < end:
                    a["read"] = True
                    cleared += 1
            return records_pb2.ClearUserAlertsResponse(cleared=cleared)

        # ---- monitoring and audit ----
        def UpdateMonitoring(self, request, context):
            self._enter("UpdateMonitoring", request, context)
            self._claims(full=True)
            if request.operation not in ("add", "remove", "wipe_all"):
                raise errors.InvalidArgument("The operation is add, remove or wipe_all.")
            if not request.student_ids:
                raise errors.InvalidArgument("Select at least one student.")
            started = ended = 0
            for sid in request.student_ids:
                self._student(sid)
                if request.operation == "add":
                    self._category(request.category_id)
                    at = (datetime.fromisoformat(request.start_date).replace(tzinfo=UTC)
                          if request.start_date else None)
                    started += self._monitor(sid, [request.category_id], "bulk", at)
                elif request.operation == "remove":
                    ended += self._unmonitor(sid, [request.category_id])
                else:
                    ended += self._unmonitor(sid, list(self.students[sid].monitored_category_ids))
            return records_pb2.UpdateMonitoringResponse(started=started, ended=ended)

        def GetMonitoringHistory(self, request, context):
            self._enter("GetMonitoringHistory", request, context)
            self._claims(full=True)
            self._student(request.student_id)
            spans = []
            for span in self.spans.get(request.student_id, []):
                s = _copy(span)
                end = (s.ended_at.ToDatetime(tzinfo=UTC) if s.HasField("ended_at") else _now())
                s.duration_seconds = int((end - s.started_at.ToDatetime(tzinfo=UTC))
                                         .total_seconds())
                spans.append(s)
            csv = "Category,Parent category,Started,Ended,Duration (days)\n" + "".join(
                f"{s.category.name},{s.category.parent_name},"
                f"{s.started_at.ToDatetime():%Y-%m-%d %H:%M},,0.0\n" for s in spans)
            self._audit("monitoring.history.viewed", request.student_id)
            return records_pb2.MonitoringHistory(spans=spans, csv=csv)

        def ListAuditEntries(self, request, context):
            self._enter("ListAuditEntries", request, context)
            if request.account_id:
                self._claims(admin=True)
            else:
                self._claims(full=True)
            found = [e for e in reversed(self.audit)
                     if (request.student_id and e.student_id == request.student_id)
                     or (request.account_id and e.account_id == request.account_id)]
            return records_pb2.ListAuditEntriesResponse(entries=found[: request.limit or 200])

        def AddIntegrationConcern(self, request, context):
            """As records: integration tokens with scope incidents:add only; the student by
            UPN (or MIS id) in the token's school; an enabled category by id or name; the
            same external reference answers the first id (replayed)."""
            self._enter("AddIntegrationConcern", request, context)
            claims = current_claims()
            if claims.access != "integration" or "incidents:add" not in claims.scopes:
                raise errors.PermissionDenied("Integrations may only add concerns.")
            key = ("integration:" + claims.account_id, request.external_reference)
            if request.external_reference and key in self.by_request:
                return records_pb2.AddIntegrationConcernResponse(
                    id=self.by_request[key], replayed=True)
            student = next((s for s in self.students.values() if not s.archived and (
                (request.upn and s.upn == request.upn.upper())
                or (request.mis_id and s.mis_id == request.mis_id))), None)
            if student is None or claims.school_id != f.SCHOOL:
                raise errors.NotFound("No such student in your school.")
            if not request.text.strip():
                raise errors.InvalidArgument("Describe the concern.")
            ref = request.category.strip().lower()
            cat = next((c for c in self.categories if c.enabled
                        and ref in (c.id, c.name.lower())), None)
            if cat is None:
                raise errors.InvalidArgument("Name a category your school has enabled.")
            author = f.Account(claims.account_id, "", claims.name, "", "", False, ())
            incident = self.add_incident(student_id=student.id, text=request.text,
                                         category_ids=[cat.id], author=author)
            if request.external_reference:
                self.by_request[key] = incident.id
            return records_pb2.AddIntegrationConcernResponse(id=incident.id)

    return FakeRecordsFull()
