"""RecordsService servicer: proto <-> domain. No business rules here.

Each call is one unit of work (``audit.unit_of_work``): the domain function runs in one
transaction, the reply is built while it is open, and a refusal is audited after rollback.
"""

from __future__ import annotations

from haven.records.v1 import records_pb2, records_pb2_grpc
from services.records import access, alerts, categories, incidents, students
from services.records.audit import unit_of_work
from services.records.categories import CategoryView
from services.records.incidents import IncidentView
from services.records.ports import RecordsEvents
from services.records.students import StudentCard
from shared.db import Database


def student_pb(card: StudentCard) -> records_pb2.Student:
    return records_pb2.Student(
        id=card.id,
        upn=card.upn,
        first_name=card.first_name,
        last_name=card.last_name,
        preferred_name=card.preferred_name,
        year_group=card.year_group,
        tutor_group=card.tutor_group,
        date_of_birth=card.date_of_birth.isoformat() if card.date_of_birth else "",
        archived=card.archived,
        monitored_category_ids=card.monitored_category_ids,
        gender=card.gender,
    )


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
    )


def incident_pb(view: IncidentView) -> records_pb2.Incident:
    i = view.incident
    out = records_pb2.Incident(
        id=i.id,
        student_id=i.student_id,
        student_name=i.student.display_name,
        text=i.text,
        categories=[category_pb(c) for c in view.categories],
        created_by=i.created_by,
        created_by_name=i.created_by_name,
        status=i.status,
        alerted_account_ids=view.alerted_account_ids,
        alert_unread=view.alert_unread,
    )
    out.occurred_at.FromDatetime(i.occurred_at)
    out.created_at.FromDatetime(i.created_at)
    return out


class RecordsServicer(records_pb2_grpc.RecordsServiceServicer):
    def __init__(self, db: Database, events: RecordsEvents) -> None:
        self.db = db
        self.events = events

    def SearchStudents(self, request, context):
        with unit_of_work(self.db, "student.search") as session:
            found = students.search_students(
                session, query=request.query, include_archived=request.include_archived,
                limit=request.limit,
            )
            return records_pb2.SearchStudentsResponse(students=[student_pb(s) for s in found])

    def GetStudent(self, request, context):
        with unit_of_work(self.db, "student.view") as session:
            return student_pb(students.get_student(session, request.student_id))

    def ListCategories(self, request, context):
        with unit_of_work(self.db, "category.list") as session:
            views = categories.list_categories(
                session, include_disabled=request.include_disabled
            )
            return records_pb2.ListCategoriesResponse(categories=[category_pb(v) for v in views])

    def CreateIncident(self, request, context):
        occurred = (
            request.occurred_at.ToDatetime() if request.HasField("occurred_at") else None
        )
        with unit_of_work(self.db, "incident.create") as session:
            view = incidents.create_incident(
                session,
                self.events,
                student_id=request.student_id,
                text=request.text,
                category_ids=list(request.category_ids),
                occurred_at=occurred,
                status=request.status,
                alert_account_ids=list(request.alert_account_ids),
                request_id=request.request_id,
            )
            return incident_pb(view)

    def GetIncident(self, request, context):
        with unit_of_work(self.db, "incident.view") as session:
            return incident_pb(incidents.get_incident(session, request.incident_id))

    def GetChronology(self, request, context):
        with unit_of_work(self.db, "student.chronology") as session:
            chronology = incidents.get_chronology(
                session, request.student_id, limit=request.limit
            )
            return records_pb2.GetChronologyResponse(
                student=student_pb(chronology.student),
                incidents=[incident_pb(v) for v in chronology.incidents],
            )

    def ListAlerts(self, request, context):
        with unit_of_work(self.db, "alert.list") as session:
            out = records_pb2.ListAlertsResponse()
            for view in alerts.list_alerts(session):
                a = view.alert
                item = out.alerts.add(
                    id=a.id,
                    incident_id=a.incident_id,
                    student_id=view.incident.student_id,
                    student_name=view.student_name,
                    raised_by_name=a.raised_by_name,
                    categories=[category_pb(c) for c in view.categories],
                    kind=a.kind,
                    raised_by=a.raised_by,
                )
                item.created_at.FromDatetime(a.created_at)
            return out

    def MarkAlertRead(self, request, context):
        with unit_of_work(self.db, "alert.read") as session:
            alerts.mark_alert_read(
                session, alert_id=request.alert_id, incident_id=request.incident_id
            )
            return records_pb2.MarkAlertReadResponse()

    def ListMyHistory(self, request, context):
        with unit_of_work(self.db, "incident.history") as session:
            views = incidents.list_my_history(session)
            return records_pb2.ListMyHistoryResponse(incidents=[incident_pb(v) for v in views])

    def GetAccessScope(self, request, context):
        with unit_of_work(self.db, "access.scope") as session:
            scope = access.get_access_scope(session)
            return records_pb2.AccessScope(
                full_access=scope.full_access,
                viewable_category_ids=scope.viewable_category_ids,
            )
