"""Adding an incident through the web form."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import grpc
import pytest

from gateway.tests.conftest import csrf_from
from gateway.tests.fakes import (
    AVA,
    BEN,
    CAT_BULLYING,
    CAT_CYBER,
    CAT_LOCKED,
    CAT_OLD,
    DSL,
    TEACHER,
    TUTOR,
)
from shared import errors

_REQUEST_ID = re.compile(r'name="request_id" value="([0-9a-f-]{36})"')


def _open_form(client, student=AVA):
    response = client.get(f"/incidents/new?student={student}")
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    return html, {"csrf_token": csrf_from(html), "request_id": _REQUEST_ID.search(html).group(1),
                  "student_id": student}


def _submit(client, form, **fields):
    data = {"text": "Ava said another pupil took her phone and posted a photo.",
            "category_ids": [CAT_BULLYING, CAT_CYBER], "occurred_date": "2026-03-02",
            "occurred_time": "14:30", "status": "active",
            "alert_account_ids": [DSL.account_id, TUTOR.account_id], **form, **fields}
    return client.post(f"/incidents/new?student={form['student_id']}", data=data)


def test_form_offers_addable_categories_grouped_and_staff_and_defaults(teacher, platform):
    html, form = _open_form(teacher)
    assert "Ava Smith" in html and f'name="student_id" value="{AVA}"' in html
    assert f'value="{CAT_BULLYING}"' in html and f'value="{CAT_CYBER}"' in html
    assert f'value="{CAT_LOCKED}"' not in html  # may not add to it
    assert f'value="{CAT_OLD}"' not in html  # disabled
    sub = html.index('class="subcategories"')
    assert html.index(f'value="{CAT_BULLYING}"') < sub < html.index(f'value="{CAT_CYBER}"')
    assert "Dana Lead" in html and "Tess Tutor" in html
    assert f'<option value="{TEACHER.account_id}"' not in html  # not oneself
    assert re.search(r'name="occurred_date" type="date" value="\d{4}-\d{2}-\d{2}"', html)
    assert re.search(r'name="occurred_time" type="time" value="\d{2}:\d{2}"', html)
    assert '<option value="active" selected>Active</option>' in html
    assert '<label for="text">Incident</label>' in html
    _, again = _open_form(teacher)
    assert again["request_id"] != form["request_id"]


def test_full_access_add_incident_reaches_records_and_highlights_it(dsl, platform):
    _, form = _open_form(dsl)
    response = _submit(dsl, form, status="closed")
    assert response.status_code == 302
    created = platform.records.called("CreateIncident")
    assert len(created) == 1
    req = created[0].request
    assert req.student_id == AVA
    assert list(req.category_ids) == [CAT_BULLYING, CAT_CYBER]
    assert list(req.alert_account_ids) == [DSL.account_id, TUTOR.account_id]
    assert req.request_id == form["request_id"]
    assert req.status == "closed"
    assert req.text.startswith("Ava said another pupil")
    # 14:30 school time on 2 March (GMT) is 14:30 UTC
    assert req.occurred_at.ToDatetime(tzinfo=UTC) == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert created[0].metadata["authorization"].startswith("Bearer ")
    incident_id = next(iter(platform.records.incidents))
    assert response.headers["Location"] == (
        f"/students/{AVA}?highlight={incident_id}#incident-{incident_id}")
    page = dsl.get(response.headers["Location"]).get_data(as_text=True)
    assert f'id="incident-{incident_id}" class="incident panel highlight"' in page


def test_summer_time_is_converted(dsl, platform):
    _, form = _open_form(dsl)
    _submit(dsl, form, occurred_date="2026-06-15", occurred_time="09:00")
    req = platform.records.called("CreateIncident")[-1].request
    assert req.occurred_at.ToDatetime(tzinfo=UTC) == datetime(2026, 6, 15, 8, 0, tzinfo=UTC)


def test_restricted_add_incident_goes_home_with_a_message(teacher, platform):
    _, form = _open_form(teacher, BEN)
    response = _submit(teacher, form)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert platform.records.called("CreateIncident")[-1].request.student_id == BEN
    page = teacher.get("/").get_data(as_text=True)
    assert "Incident added" in page
    assert "Ben Jones" in page  # now in My History


def test_double_submit_creates_one_incident(dsl, platform):
    _, form = _open_form(dsl)
    first = _submit(dsl, form)
    second = _submit(dsl, form)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(platform.records.incidents) == 1
    ids = {c.request.request_id for c in platform.records.called("CreateIncident")}
    assert ids == {form["request_id"]}


@pytest.mark.parametrize("error,status,message", [
    (errors.InvalidArgument("The incident date is in the future."), 422,
     "The incident date is in the future."),
    (errors.PermissionDenied("You may not add incidents in Child protection."), 403,
     "You may not add incidents in Child protection."),
    (errors.NotFound("That student has left the school."), 404,
     "That student has left the school."),
    (errors.FailedPrecondition("Training mode is on."), 409, "Training mode is on."),
])
def test_service_refusal_rerenders_the_form_with_what_was_typed(teacher, platform, error,
                                                               status, message):
    _, form = _open_form(teacher)
    platform.records.fail("CreateIncident", error)
    response = _submit(teacher, form, text="Line one\nLine <two> & more",
                       occurred_date="2026-01-05", occurred_time="08:45")
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert message in html
    assert "The incident has not been added yet" in html
    assert "Line one\nLine &lt;two&gt; &amp; more</textarea>" in html
    assert f'value="{CAT_BULLYING}" checked' in html and f'value="{CAT_CYBER}" checked' in html
    assert 'value="2026-01-05"' in html and 'value="08:45"' in html
    assert f'<option value="{DSL.account_id}" selected>' in html
    assert f'name="request_id" value="{form["request_id"]}"' in html  # same key on retry


def test_unknown_student_on_submit_still_renders_the_form(teacher, platform):
    form = {"csrf_token": csrf_from(teacher.get("/").get_data(as_text=True)),
            "request_id": "0b7d2f6e-8a7b-4f55-9d62-2c0c1d1f6a00", "student_id": "gone"}
    response = _submit(teacher, form)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "No such student." in html and "Student not found" in html


def test_records_down_on_submit_keeps_the_text(teacher, platform):
    _, form = _open_form(teacher)
    platform.records.fail("CreateIncident", (grpc.StatusCode.DEADLINE_EXCEEDED, "slow"))
    response = _submit(teacher, form, text="Do not lose this")
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "not answering" in html and "Do not lose this" in html


@pytest.mark.parametrize("fields,message", [
    ({"text": "   "}, "Write what happened"),
    ({"category_ids": []}, "Choose at least one category."),
    ({"occurred_date": "02/03/2026"}, "Enter the date and time"),
    ({"occurred_time": "25:99"}, "Enter the date and time"),
    ({"status": "deleted"}, "Choose a status"),
])
def test_form_problems_are_caught_before_calling_records(teacher, platform, fields, message):
    _, form = _open_form(teacher)
    response = _submit(teacher, form, **fields)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert platform.records.called("CreateIncident") == []


def test_without_a_student_the_form_asks_for_one(teacher, platform):
    html = teacher.get("/incidents/new").get_data(as_text=True)
    assert "First find the student" in html
    html = teacher.get("/incidents/new?q=ava").get_data(as_text=True)
    assert f'href="/incidents/new?student={AVA}"' in html
    assert platform.records.called("SearchStudents")[-1].request.query == "ava"


def test_unknown_student_in_the_link_is_shown_plainly(teacher):
    response = teacher.get("/incidents/new?student=missing")
    assert response.status_code == 200
    assert "Student not found" in response.get_data(as_text=True)
