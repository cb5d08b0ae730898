"""Integrations (access "integration", scope "incidents:add") add a concern to a named student's
chronology over gRPC, get only its id back, and are refused by every other RPC (audited)."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy import select

from haven.records.v1 import records_pb2 as pb
from services.records.models import Alert, AuditEntry, AutoAlertRule, Incident, Monitoring
from shared.context import school_scope

Code = grpc.StatusCode
CLIENT = "11111111-2222-4333-8444-555555555555"


def integration(world, *, scope="incidents:add", school=None, name="Smoothwall Monitor"):
    s = school or world.a
    return world.tokens.claims(school_id=s.id, account_id=CLIENT, user_group_id="",
                               access="integration", permissions=(), name=name, scope=scope)


def concern(world, **kw) -> pb.AddIntegrationConcernRequest:
    args = {"mis_id": "hannah", "text": "Searched for self-harm methods at 10:42.",
            "category": "child protection"}
    args.update(kw)
    return pb.AddIntegrationConcernRequest(**args)


def audit_of(world, account_id: str) -> list[tuple[str, str]]:
    with world.db.read() as s:
        return [(e.action, e.detail) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.account_id == account_id)
            .order_by(AuditEntry.at).execution_options(all_schools=True))]


def test_an_integration_adds_a_concern_and_learns_only_its_id(served):
    w, a = served.world, served.world.a
    with school_scope(a.id), w.db.transaction() as s:
        s.add(AutoAlertRule(school_id=a.id, account_id=a.dsl, kind="category",
                            target_id=a.categories["Child Protection"]))
    reply = served.call("AddIntegrationConcern", concern(w), integration(w))
    assert reply.id and not reply.replayed
    assert [f.name for f, _ in reply.ListFields()] == ["id"]  # nothing about the student

    with w.db.read() as s:
        incident = s.get(Incident, reply.id)
        assert incident.student_id == a.students["hannah"]
        assert incident.created_by == CLIENT and incident.created_by_name == "Smoothwall Monitor"
        assert [c.category_id for c in incident.category_links] == [
            a.categories["Child Protection"]]
    assert w.count(Alert, incident_id=reply.id, recipient_account_id=a.dsl) == 1
    assert w.count(Monitoring, student_id=a.students["hannah"],
                   category_id=a.categories["Child Protection"]) == 1
    assert ("incident.created", f"incident {reply.id} (integration Smoothwall Monitor)") in \
        audit_of(w, CLIENT)
    keys = [k for k, _ in w.outbox()]
    assert "records.incident.created" in keys and "records.alert.raised" in keys

    # The DSL sees it in the student's chronology, by the integration's name.
    chron = served.call("GetChronology", pb.GetChronologyRequest(
        student_id=a.students["hannah"]), w.dsl())
    mine = [i for i in chron.incidents if i.id == reply.id]
    assert mine and mine[0].text.startswith("Searched for")


def test_an_external_reference_makes_a_retry_harmless(served):
    w = served.world
    first = served.call("AddIntegrationConcern", concern(w, external_reference="evt-1"),
                        integration(w))
    again = served.call("AddIntegrationConcern", concern(w, external_reference="evt-1"),
                        integration(w))
    assert again.id == first.id and again.replayed
    assert w.count(Incident, created_by=CLIENT) == 1
    code, _ = served.refused("AddIntegrationConcern",
                             concern(w, mis_id="matthew", external_reference="evt-1"),
                             integration(w))
    assert code == Code.ALREADY_EXISTS


@pytest.mark.parametrize(("case", "code", "words"), [
    ("unknown student", Code.NOT_FOUND, "No such student"),
    ("another school's student", Code.NOT_FOUND, "No such student"),
    ("archived student", Code.NOT_FOUND, "No such student"),
    ("disabled category", Code.INVALID_ARGUMENT, "enabled"),
    ("unknown category", Code.INVALID_ARGUMENT, "enabled"),
    ("no student", Code.INVALID_ARGUMENT, "UPN or MIS id"),
    ("empty text", Code.INVALID_ARGUMENT, "Describe the concern"),
    ("wrong scope", Code.PERMISSION_DENIED, "Integrations may only"),
    ("a member of staff", Code.PERMISSION_DENIED, "Only integrations"),
])
def test_bad_concerns_are_refused_and_audited(served, case, code, words):
    w = served.world
    caller = integration(w)
    request = {
        "unknown student": concern(w, mis_id="nobody"),
        "another school's student": None,
        "archived student": concern(w, mis_id="leaver"),
        "disabled category": concern(w, category="Old Category"),
        "unknown category": concern(w, category="Astrology"),
        "no student": concern(w, mis_id=""),
        "empty text": concern(w, text="  "),
        "wrong scope": concern(w),
        "a member of staff": concern(w),
    }[case]
    if case == "another school's student":  # matthew is only in school a
        request, caller = concern(w, mis_id="matthew"), integration(w, school=w.b)
    if case == "wrong scope":
        caller = integration(w, scope="mis.import")
    if case == "a member of staff":
        caller = w.dsl()
    got, message = served.refused("AddIntegrationConcern", request, caller)
    assert got == code and words in message, (case, got, message)
    assert w.count(Incident, created_by=caller.account_id) == 0
    assert audit_of(w, caller.account_id)[-1][0] in ("access.denied", "request.rejected")


def test_the_token_school_is_the_only_school(served):
    """School b has its own "hannah": a token of school b adds to b's student, never a's."""
    w = served.world
    reply = served.call("AddIntegrationConcern", concern(w, category="Bullying"),
                        integration(w, school=w.b))
    with w.db.read() as s:
        row = s.execute(select(Incident.school_id, Incident.student_id)
                        .where(Incident.id == reply.id)
                        .execution_options(all_schools=True)).one()
    assert tuple(row) == (w.b.id, w.b.students["hannah"])


def test_every_other_rpc_refuses_an_integration_token(served):
    """The refusal is central (audit.unit_of_work): every RPC but AddIntegrationConcern says
    PERMISSION_DENIED to an integration token, whatever its scope, and each is audited."""
    w = served.world
    service = pb.DESCRIPTOR.services_by_name["RecordsService"]
    methods = [m for m in service.methods if m.name != "AddIntegrationConcern"]
    assert len(methods) > 50
    for scope in ("incidents:add", "mis.import"):
        caller = integration(w, scope=scope)
        for method in methods:
            request = pb.__dict__[method.input_type.name](**(
                {"student_id": w.a.students["hannah"]}
                if "student_id" in method.input_type.fields_by_name else {}))
            code, message = served.refused(method.name, request, caller)
            assert code == Code.PERMISSION_DENIED, (method.name, code, message)
    denied = [a for a, _ in audit_of(w, CLIENT)]
    assert denied.count("access.denied") == 2 * len(methods)
    assert w.count(Incident, created_by=CLIENT) == 0
