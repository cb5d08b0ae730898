"""The print view as a PDF: /incidents/<id>/print.pdf and /api/v1/incidents/<id>/print.pdf
render the incident and its actions (records decides who may print; a refusal is no PDF),
any text renders safely, and the download is never cached."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp
from pypdf import PdfReader

from gateway.openapi import API_PREFIX as P
from gateway.openapi import DOCUMENT
from gateway.pdf import filename, fonts, incident_pdf
from gateway.tests.fakes import AVA, CAT_CP, TUTOR
from gateway.tests.test_api import _auth, _login, dsl_token, teacher_token  # noqa: F401
from haven.records.v1 import records_pb2

WHEN = datetime(2026, 2, 10, 14, 5, tzinfo=UTC)


def _incident(platform, text="Bruise on the arm"):
    return platform.records.add_incident(student_id=AVA, text=text, category_ids=(CAT_CP,),
                                         author=TUTOR, occurred_at=WHEN)


def _action(incident, text="Phoned home"):
    return incident.actions.add(id=f"act-{len(incident.actions) + 1}-{incident.number}",
                                incident_id=incident.id, student_id=incident.student_id,
                                text=text, created_by=TUTOR.account_id,
                                created_by_name=TUTOR.name, version=1,
                                occurred_at=incident.occurred_at)


def _text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _assert_pdf_download(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="incident-[A-Za-z0-9-]+\.pdf"', disposition)
    assert response.headers["Cache-Control"] == "no-store"
    return _text(response.data)


def test_pdf_has_the_incident_its_actions_and_the_student(dsl, platform):
    incident = _incident(platform, "Printable concern\nsecond line")
    _action(incident, "Printed action text")
    response = dsl.get(f"/incidents/{incident.id}/print.pdf")
    text = _flat(_assert_pdf_download(response))
    assert "Printable concern" in text and "second line" in text
    assert "Printed action text" in text
    assert "Ava Smith" in text and "7A" in text
    assert "Haven Demo Academy" in text  # the school's name from the session
    assert "Printed by Dana Lead" in text and "Page 1 of 1" in text
    assert f"#{incident.number}" in text and TUTOR.name in text
    assert "Smith" not in response.headers["Content-Disposition"]  # no name in the file name
    assert platform.records.called("GetIncidentPrint")[-1].request.incident_id == incident.id


def test_pdf_is_linked_from_the_print_view_and_the_options_menu(dsl, platform):
    incident = _incident(platform)
    href = f'href="/incidents/{incident.id}/print.pdf"'
    assert href in dsl.get(f"/incidents/{incident.id}/print").get_data(as_text=True)
    assert href in dsl.get(f"/students/{AVA}").get_data(as_text=True)


def test_a_refused_user_gets_no_pdf(teacher, platform):
    incident = _incident(platform, "Secret concern")
    response = teacher.get(f"/incidents/{incident.id}/print.pdf")
    assert response.status_code in (403, 404)
    assert response.mimetype != "application/pdf" and not response.data.startswith(b"%PDF")
    assert b"Secret concern" not in response.data


def test_an_unknown_incident_is_404(dsl, platform):
    response = dsl.get("/incidents/00000000-0000-4000-8000-00000000dead/print.pdf")
    assert response.status_code == 404 and not response.data.startswith(b"%PDF")


def test_logged_out_is_sent_to_log_in(client, platform):
    incident = _incident(platform)
    response = client.get(f"/incidents/{incident.id}/print.pdf")
    assert response.status_code in (302, 401) and not response.data.startswith(b"%PDF")


def test_mark_up_characters_are_text(dsl, platform):
    nasty = 'a < b && c > d <b>not bold</b> <br/> "quoted" \x07 &amp; <para>'
    incident = _incident(platform, nasty + "\n\n\tindented line")
    _action(incident, "x <y> & z\r\nnext")
    text = _flat(_assert_pdf_download(dsl.get(f"/incidents/{incident.id}/print.pdf")))
    assert "a < b && c > d <b>not bold</b> <br/>" in text
    assert "&amp; <para>" in text and "indented line" in text
    assert "x <y> & z" in text and "next" in text


def test_api_pdf(client, platform, dsl_token, teacher_token):  # noqa: F811
    incident = _incident(platform, "API concern")
    _action(incident, "API action")
    text = _flat(_assert_pdf_download(client.get(f"{P}/incidents/{incident.id}/print.pdf",
                                                 headers=_auth(dsl_token))))
    assert "API concern" in text and "API action" in text and "Ava Smith" in text
    refused = client.get(f"{P}/incidents/{incident.id}/print.pdf",
                         headers=_auth(teacher_token))
    assert refused.status_code in (403, 404) and refused.is_json
    assert client.get(f"{P}/incidents/{incident.id}/print.pdf").status_code == 401
    op = DOCUMENT["paths"][f"{P}/incidents/{{incident_id}}/print.pdf"]["get"]
    assert "application/pdf" in op["responses"]["200"]["content"]


def _printed(text: str, actions: int = 0) -> records_pb2.IncidentPrint:
    at = Timestamp()
    at.FromDatetime(WHEN)
    printed = records_pb2.IncidentPrint(
        incident=records_pb2.Incident(id="inc-1", number=42, text=text, status="active",
                                      created_by_name="Tom Teacher", occurred_at=at),
        student=records_pb2.Student(first_name="Zoë", last_name="Ł'Ódź 李", tutor_group="7B"),
        printed_by_name="Dana Lead", printed_at=at)
    for n in range(actions):
        printed.incident.actions.add(id=f"a{n}", text=f"Action number {n}",
                                     created_by_name="Dana Lead", occurred_at=at)
    printed.incident.actions.add(id="gone", text="Deleted action", deleted=True)
    return printed


def test_long_records_run_over_pages_with_numbers():
    long_text = "\n".join(f"Paragraph {n}: " + "word " * 60 for n in range(80))
    data = incident_pdf(_printed(long_text + "\n" + "x" * 3000, actions=30),
                        zone=ZoneInfo("Europe/London"), school_name="Haven <Demo> & Co")
    reader = PdfReader(io.BytesIO(data))
    pages = len(reader.pages)
    assert pages > 2
    assert reader.pages[0].mediabox.width == 595.2756  # A4
    last = _flat(reader.pages[-1].extract_text())
    assert f"Page {pages} of {pages}" in last and "Printed by Dana Lead on" in last
    text = _flat(_text(data))
    assert "Haven <Demo> & Co" in text and "Paragraph 79" in text and "Action number 29" in text
    assert "Deleted action" not in text
    if fonts()[0] == "HavenSans":  # a Unicode font on this system: names print as written
        assert "Zoë Ł'Ódź" in text


def test_filename_is_safe():
    printed = _printed("x")
    assert filename(printed, ZoneInfo("Europe/London")) == "incident-42-2026-02-10.pdf"
    printed.incident.number = 0
    printed.incident.id = '../"evil"\r\n'
    name = filename(printed, ZoneInfo("Europe/London"))
    assert re.fullmatch(r"incident-[A-Za-z0-9-]+\.pdf", name), name
