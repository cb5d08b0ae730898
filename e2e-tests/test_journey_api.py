"""The foundation journey through /api/v1, every hop real: gateway, identity, records,
RabbitMQ, notifications (SMTP), reporting."""

from __future__ import annotations

import uuid

from journey import (
    DSL_EMAIL,
    TEACHER_EMAIL,
    Api,
    create_incident,
    dsl_totp_secret,
    fresh_totp,
    wait_until,
)


def test_teacher_raises_a_concern_and_the_dsl_follows_it_up(platform):
    teacher = Api(platform.base_url)
    assert teacher.login(TEACHER_EMAIL).status_code == 200
    me = teacher.get("/me").json()
    assert me["access"] == "restricted"

    students = teacher.get("/students", q="a").json()["students"]
    assert students, "the demo school has pupils"
    student = students[0]
    # A restricted teacher sees names and group only.
    assert not student.get("date_of_birth")

    categories = teacher.get("/categories").json()["categories"]
    addable = [c for c in categories if c["can_add"]]
    bullying = next(c for c in addable if c["name"] == "Bullying")
    dsl = next(s for s in teacher.get("/staff", q="dsl").json()["staff"]
               if s["email"] == DSL_EMAIL)

    text = f"Seen crying at break, says older pupils took lunch money ({uuid.uuid4().hex[:6]})"
    r = create_incident(teacher, {
        "student_id": student["id"], "text": text, "category_ids": [bullying["id"]],
        "status": "active", "alert_account_ids": [dsl["account_id"]],
        "request_id": str(uuid.uuid4()),
    })
    assert r.status_code == 201, r.text
    incident = r.json()
    assert incident["student_id"] == student["id"]

    # The DSL's email names who raised it and the category, and nothing of the text.
    mails = platform.mail.wait_for(lambda m: incident["id"] in m.get_payload(decode=True)
                                   .decode(errors="replace"))
    assert len(mails) == 1
    mail = mails[0]
    body = mail.get_payload(decode=True).decode()
    assert mail["To"] == f"Dana Lead <{DSL_EMAIL}>"
    assert "Tom Teacher" in body and "Bullying" in body
    assert text not in body and "crying" not in body
    assert student["last_name"] not in body

    # The DSL logs in (restricted until the second factor), elevates, sees the alert.
    dsl_api = Api(platform.base_url)
    assert dsl_api.login(DSL_EMAIL).status_code == 200
    assert dsl_api.get(f"/students/{student['id']}/chronology").status_code == 403
    assert dsl_api.elevate("000000").status_code in (401, 422)
    assert dsl_api.elevate(fresh_totp(dsl_totp_secret())).status_code == 200
    assert dsl_api.get("/me").json()["access"] == "full"

    alerts = wait_until(lambda: [a for a in dsl_api.get("/alerts").json()["alerts"]
                                 if a["incident_id"] == incident["id"]], what="the alert")
    alert = alerts[0]
    assert alert["raised_by_name"] == "Tom Teacher"
    assert [c["name"] for c in alert["categories"]] == ["Bullying"]

    chronology = dsl_api.get(f"/students/{student['id']}/chronology").json()
    assert chronology["incidents"][0]["id"] == incident["id"]
    assert chronology["incidents"][0]["text"] == text

    assert dsl_api.post(f"/alerts/{alert['id']}/read").status_code == 204
    assert not [a for a in dsl_api.get("/alerts").json()["alerts"]
                if a["incident_id"] == incident["id"]]

    # Reporting's own read model, fed by the event, counts it under Bullying.
    def bullying_count():
        overview = dsl_api.get("/reporting/overview").json()
        row = next(c for c in overview["categories"] if c["name"] == "Bullying")
        return row["incidents"] >= 1 and overview

    overview = wait_until(bullying_count, what="the reporting count")
    assert overview["total_incidents"] >= 1


def test_bad_input_changes_nothing(platform):
    teacher = Api(platform.base_url)
    assert teacher.login(TEACHER_EMAIL, "not-the-password").status_code == 401
    assert teacher.login("nobody@nowhere.test").status_code == 401
    assert teacher.login(TEACHER_EMAIL).status_code == 200
    student = teacher.get("/students", q="e").json()["students"][0]
    categories = teacher.get("/categories").json()["categories"]
    addable = next(c for c in categories if c["can_add"])
    forbidden = next(c for c in categories if not c["can_add"])
    base = {"student_id": student["id"], "text": "A concern", "category_ids": [addable["id"]]}

    for body, status in (
        (dict(base, text="   "), 422),
        (dict(base, category_ids=[]), 422),
        (dict(base, category_ids=[forbidden["id"]]), 403),
        (dict(base, student_id=str(uuid.uuid4())), 404),
        (dict(base, text=12), 400),
    ):
        r = teacher.post("/incidents", dict(body, request_id=str(uuid.uuid4())))
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["message"]

    history = teacher.get("/me/history").json()["incidents"]
    assert all(i["text"] != "   " for i in history)
    assert teacher.http.post(f"{teacher.base}/incidents", data="{not json",
                             headers={"Content-Type": "application/json"},
                             timeout=10).status_code == 400
    expired = Api(platform.base_url)
    expired.http.headers["Authorization"] = "Bearer not-a-token"
    assert expired.get("/alerts").status_code == 401
