"""RecordsService over real gRPC (port 0) on the demo school: the platform's first journey.

A teacher finds a student and adds an incident with categories and an alert to the DSL; the
DSL (elevated) sees the alert, opens the chronology and marks the alert read; a reporting-like
consumer counts the incident from the event. Plus the status codes refusals map to.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import grpc
import pytest
from sqlalchemy import select

from datagen.demo import demo_school
from haven.records.v1 import records_pb2, records_pb2_grpc
from services.records import seed
from services.records.app import build
from services.records.models import EVENTS, AuditEntry, Incident
from services.records.tests.factories import (
    account_event,
    group_event,
    mis_group,
    student_upserted,
)
from shared.config import ServiceSettings
from shared.db import run_migrations
from shared.events import decode_envelope
from shared.events.envelope import open_payload
from shared.events.memory import MemoryTransport, reset_broker
from shared.service import start_api, start_worker
from shared.testing import FULL_PERMISSIONS, TokenFactory

SCHOOL = seed.DEMO_SCHOOL_ID
DSL = "00000000-0000-4000-8000-000000000102"
TEACHER = "00000000-0000-4000-8000-000000000103"
TEACHER2 = "00000000-0000-4000-8000-000000000104"


class Served:
    def __init__(self, stub, tokens, spec, counted):
        self.stub = stub
        self.tokens = tokens
        self.spec = spec
        self.counted = counted

    def teacher(self, account=TEACHER, name="Tom Teacher"):
        return self.tokens.token(school_id=SCHOOL, account_id=account,
                                 user_group_id=seed.TEACHERS_GROUP_ID, access="restricted",
                                 permissions=("add_incidents",), name=name)

    def dsl(self, school=SCHOOL):
        return self.tokens.token(school_id=school, account_id=DSL,
                                 user_group_id=seed.DSL_GROUP_ID, access="full",
                                 permissions=FULL_PERMISSIONS, name="Dana Lead")

    def call(self, method, request, token, ip="198.51.100.7"):
        return getattr(self.stub, method)(request, metadata=[
            ("authorization", f"Bearer {token}"), ("x-client-ip", ip)], timeout=10)

    def refused(self, method, request, token) -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as err:
            self.call(method, request, token)
        return err.value.code()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    reset_broker()
    path = tmp_path_factory.mktemp("records-api") / "records.db"
    mp = pytest.MonkeyPatch()
    mp.setenv("RECORDS_DATABASE_URL", f"sqlite:///{path}")
    mp.setenv("HAVEN_EVENTS_URL", "memory://")
    settings = ServiceSettings.from_env("records")
    tokens = TokenFactory()
    spec = build(settings, verifier=tokens.verifier())
    run_migrations(settings.database_url, spec.migrations)
    seed.seed_demo(spec.db, spec.outbox)

    # A stand-in for reporting: counts incidents per category name from the events.
    counted: dict[str, int] = {}
    lock = threading.Lock()

    def count(body: bytes) -> None:
        from haven.records.v1 import records_pb2 as pb

        env = decode_envelope(body)
        msg = open_payload(env, pb.IncidentCreated)
        with lock:
            for c in msg.categories:
                counted[c.name] = counted.get(c.name, 0) + 1

    MemoryTransport().subscribe("reporting.test", ["records.incident.created"], count)
    running = start_worker(spec)
    start_api(spec, running, port=0, host="127.0.0.1")

    # identity tells records who the staff are.
    directory = spec.consumers[0]
    for gid, name, key in ((seed.DSL_GROUP_ID, "DSL", True),
                           (seed.TEACHERS_GROUP_ID, "Teachers", False)):
        directory.handle(group_event(SCHOOL, gid, name, key_holder=key))
    for account, name, gid in ((DSL, "Dana Lead", seed.DSL_GROUP_ID),
                               (TEACHER, "Tom Teacher", seed.TEACHERS_GROUP_ID),
                               (TEACHER2, "Tess Tutor", seed.TEACHERS_GROUP_ID)):
        directory.handle(account_event(SCHOOL, account, name, gid, key_holder=gid == DSL))
    # and the MIS import who the pupils are: two tutor groups of the demo school's roll.
    mis = spec.consumers[1]
    roll = [p for p in demo_school(dt.date(2026, 11, 29)).pupils if p.tutor_group in ("7A", "7B")]
    for p in roll:
        mis.handle(student_upserted(
            SCHOOL, p.mis_id, p.legal_first_name, p.legal_last_name, upn=p.upn,
            preferred_first_name=p.preferred_first_name, gender=p.gender,
            date_of_birth=p.date_of_birth.isoformat(), year_group=p.year_group,
            tutor_group=p.tutor_group))
    for form in ("7A", "7B"):
        mis.handle(mis_group(SCHOOL, f"tutor:{form}", form, "tutor",
                             [p.mis_id for p in roll if p.tutor_group == form]))

    channel = grpc.insecure_channel(f"127.0.0.1:{running.ports['records']}")
    yield Served(records_pb2_grpc.RecordsServiceStub(channel), tokens, spec, counted)
    channel.close()
    running.stop()
    spec.db.dispose()
    mp.undo()
    reset_broker()


def _wait_for(predicate, timeout=5.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_the_first_journey(served):
    teacher = served.teacher()
    found = served.call("SearchStudents", records_pb2.SearchStudentsRequest(query="a", limit=5),
                        teacher).students
    assert len(found) == 5
    student = found[0]
    assert student.date_of_birth == "" and student.upn == "" and student.tutor_group
    cats = {c.name: c for c in served.call(
        "ListCategories", records_pb2.ListCategoriesRequest(), teacher).categories}
    assert cats["Bullying"].can_add and not cats["Legal Action"].can_add
    assert not cats["Bullying"].can_view

    occurred = dt.datetime(2026, 11, 2, 13, 30, tzinfo=dt.UTC)
    request = records_pb2.CreateIncidentRequest(
        student_id=student.id, text="Was pushed over at lunch by two older pupils.",
        category_ids=[cats["Bullying"].id, cats["Low Level Disruption"].id],
        alert_account_ids=[DSL], request_id=str(uuid.uuid4()),
    )
    request.occurred_at.FromDatetime(occurred)
    incident = served.call("CreateIncident", request, teacher)
    assert incident.student_id == student.id and incident.status == "active"
    assert incident.created_by_name == "Tom Teacher"
    assert incident.occurred_at.ToDatetime(dt.UTC) == occurred
    assert list(incident.alerted_account_ids) == [DSL]
    assert [c.name for c in incident.categories] == ["Bullying", "Low Level Disruption"]
    again = served.call("CreateIncident", request, teacher)  # the browser retried
    assert again.id == incident.id

    history = served.call("ListMyHistory", records_pb2.ListMyHistoryRequest(), teacher)
    assert incident.id in [i.id for i in history.incidents]

    dsl = served.dsl()
    alerts = served.call("ListAlerts", records_pb2.ListAlertsRequest(), dsl).alerts
    (alert,) = [a for a in alerts if a.incident_id == incident.id]
    assert alert.raised_by_name == "Tom Teacher" and alert.raised_by == TEACHER
    assert alert.student_id == student.id and alert.student_name
    assert [c.name for c in alert.categories] == ["Bullying", "Low Level Disruption"]

    chronology = served.call("GetChronology",
                             records_pb2.GetChronologyRequest(student_id=student.id), dsl)
    assert chronology.student.upn and chronology.student.date_of_birth
    assert chronology.incidents[0].id == incident.id
    assert chronology.incidents[0].text.startswith("Was pushed over")
    assert chronology.incidents[0].alert_unread
    assert set(chronology.student.monitored_category_ids) == {
        cats["Bullying"].id, cats["Low Level Disruption"].id}

    served.call("MarkAlertRead", records_pb2.MarkAlertReadRequest(alert_id=alert.id), dsl)
    served.call("MarkAlertRead", records_pb2.MarkAlertReadRequest(alert_id=alert.id), dsl)
    alerts = served.call("ListAlerts", records_pb2.ListAlertsRequest(), dsl).alerts
    assert incident.id not in [a.incident_id for a in alerts]

    assert _wait_for(lambda: served.counted.get("Low Level Disruption") == 1)
    assert served.counted["Bullying"] == 1

    with served.spec.db.read() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.student_id == student.id)))
        actions = {r.action for r in rows}
        ips = {r.client_ip for r in rows}
    assert {"incident.created", "student.chronology.viewed", "alert.read"} <= actions
    assert ips == {"198.51.100.7"}


def test_a_restricted_recipient_reads_while_unread(served):
    teacher, tess = served.teacher(), served.teacher(TEACHER2, "Tess Tutor")
    student = served.call("SearchStudents", records_pb2.SearchStudentsRequest(query="e"),
                          teacher).students[0]
    cats = {c.name: c.id for c in served.call(
        "ListCategories", records_pb2.ListCategoriesRequest(), teacher).categories}
    incident = served.call("CreateIncident", records_pb2.CreateIncidentRequest(
        student_id=student.id, text="Upset in form time.", category_ids=[cats["Home Issues"]],
        alert_account_ids=[TEACHER2]), teacher)
    opened = served.call("GetIncident", records_pb2.GetIncidentRequest(incident_id=incident.id),
                         tess)
    assert opened.text == "Upset in form time." and opened.alert_unread
    served.call("MarkAlertRead", records_pb2.MarkAlertReadRequest(incident_id=incident.id), tess)
    assert served.refused("GetIncident", records_pb2.GetIncidentRequest(
        incident_id=incident.id), tess) == grpc.StatusCode.PERMISSION_DENIED


def test_refusals_map_to_status_codes_and_change_nothing(served):
    teacher, dsl = served.teacher(), served.dsl()
    student = served.call("SearchStudents", records_pb2.SearchStudentsRequest(query="o"),
                          teacher).students[0]
    cats = {c.name: c.id for c in served.call(
        "ListCategories", records_pb2.ListCategoriesRequest(), teacher).categories}
    with served.spec.db.read() as s:
        before = len(s.scalars(select(Incident.id)).all())

    def create(**kw):
        args = {"student_id": student.id, "text": "x", "category_ids": [cats["Bullying"]]}
        args.update(kw)
        return records_pb2.CreateIncidentRequest(**args)

    code = served.refused
    assert code("CreateIncident", create(text=" "), teacher) == grpc.StatusCode.INVALID_ARGUMENT
    assert code("CreateIncident", create(category_ids=[]), teacher) == (
        grpc.StatusCode.INVALID_ARGUMENT)
    assert code("CreateIncident", create(category_ids=[cats["Legal Action"]]), teacher) == (
        grpc.StatusCode.PERMISSION_DENIED)
    assert code("CreateIncident", create(alert_account_ids=["nobody"]), teacher) == (
        grpc.StatusCode.INVALID_ARGUMENT)
    future = create()
    future.occurred_at.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    assert code("CreateIncident", future, teacher) == grpc.StatusCode.INVALID_ARGUMENT
    other_school = served.tokens.token(
        school_id=str(uuid.uuid4()), account_id=TEACHER, user_group_id=seed.TEACHERS_GROUP_ID,
        access="restricted", permissions=("add_incidents",))
    assert code("CreateIncident", create(), other_school) == grpc.StatusCode.NOT_FOUND
    assert code("GetChronology", records_pb2.GetChronologyRequest(student_id=student.id),
                teacher) == grpc.StatusCode.PERMISSION_DENIED
    assert code("MarkAlertRead", records_pb2.MarkAlertReadRequest(alert_id="nope"), dsl) == (
        grpc.StatusCode.NOT_FOUND)
    with served.spec.db.read() as s:
        assert len(s.scalars(select(Incident.id)).all()) == before
    with pytest.raises(grpc.RpcError) as anonymous:
        served.stub.ListAlerts(records_pb2.ListAlertsRequest(), timeout=5)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_access_scope_and_student(served):
    dsl, teacher = served.dsl(), served.teacher()
    scope = served.call("GetAccessScope", records_pb2.GetAccessScopeRequest(), dsl)
    assert scope.full_access and len(scope.viewable_category_ids) == 16
    scope = served.call("GetAccessScope", records_pb2.GetAccessScopeRequest(), teacher)
    assert not scope.full_access and list(scope.viewable_category_ids) == []
    student = served.call("SearchStudents", records_pb2.SearchStudentsRequest(query="i"),
                          dsl).students[0]
    full = served.call("GetStudent", records_pb2.GetStudentRequest(student_id=student.id), dsl)
    assert full.upn and full.gender and full.date_of_birth
    slim = served.call("GetStudent", records_pb2.GetStudentRequest(student_id=student.id),
                       teacher)
    assert slim.first_name == full.first_name and not slim.upn and not slim.date_of_birth


def test_the_outbox_is_relayed(served):
    t = EVENTS.outbox
    assert _wait_for(lambda: _unpublished(served) == 0)
    with served.spec.db.read() as s:
        keys = {r[0] for r in s.execute(select(t.c.routing_key)).all()}
    assert {"records.category.upserted", "records.incident.created",
            "records.alert.raised"} <= keys


def _unpublished(served) -> int:
    t = EVENTS.outbox
    with served.spec.db.read() as s:
        return len(s.execute(select(t.c.seq).where(t.c.published_at.is_(None))).all())
