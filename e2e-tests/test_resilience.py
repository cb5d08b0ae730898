"""Kill -9 the notifications worker while incidents are being added: after a restart every
email is sent exactly once, no incident is lost, and the reporting count is right."""

from __future__ import annotations

import threading
import time
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

INCIDENTS = 12


def test_killing_the_notifications_worker_loses_and_duplicates_nothing(platform):
    teacher = Api(platform.base_url)
    assert teacher.login(TEACHER_EMAIL).status_code == 200
    student = teacher.get("/students", q="o").json()["students"][1]
    category = next(c for c in teacher.get("/categories").json()["categories"]
                    if c["name"] == "Cause for Concern")
    dsl = next(s for s in teacher.get("/staff", q="dsl").json()["staff"]
               if s["email"] == DSL_EMAIL)

    dsl_api = Api(platform.base_url)
    assert dsl_api.login(DSL_EMAIL).status_code == 200
    assert dsl_api.elevate(fresh_totp(dsl_totp_secret())).status_code == 200

    def cause_for_concern_count() -> int:
        overview = dsl_api.get("/reporting/overview").json()
        return next(c["incidents"] for c in overview["categories"] if c["name"] == category["name"])

    before = cause_for_concern_count()
    created: list[str] = []
    errors: list[str] = []

    def add_incidents():
        for i in range(INCIDENTS):
            r = create_incident(teacher, {
                "student_id": student["id"], "text": f"Resilience concern {i}",
                "category_ids": [category["id"]], "alert_account_ids": [dsl["account_id"]],
                "request_id": str(uuid.uuid4()),
            })
            if r.status_code == 201:
                created.append(r.json()["id"])
            else:
                errors.append(r.text)
            time.sleep(0.15)

    writer = threading.Thread(target=add_incidents)
    writer.start()
    time.sleep(0.6)
    platform.procs["notifications-worker"].kill9()
    time.sleep(1.5)
    platform.restart("notifications-worker")
    writer.join(60)
    assert not errors
    assert len(created) == INCIDENTS

    def mails_for_all():
        mails = platform.mail.received()
        counts = {i: sum(i in m.get_payload(decode=True).decode(errors="replace")
                         for m in mails) for i in created}
        return counts if all(counts.values()) else None

    counts = wait_until(mails_for_all, timeout=60, what="one email per incident")
    time.sleep(2)  # give a would-be duplicate the chance to arrive
    counts = mails_for_all()
    assert set(counts.values()) == {1}, counts

    wait_until(lambda: cause_for_concern_count() == before + INCIDENTS, timeout=60,
               what="reporting to count every incident")
    chronology = dsl_api.get(f"/students/{student['id']}/chronology").json()["incidents"]
    assert set(created) <= {i["id"] for i in chronology}
