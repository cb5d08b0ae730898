"""The demo school on the distributed platform: its pupils came through the MIS import
(``python -m haven seed-demo`` imported its feed; the events crossed RabbitMQ to records), so
a pupil has MIS details, contacts, attendance and siblings, and the import health is green."""

from __future__ import annotations

import datetime as dt

from journey import DSL_EMAIL, Api, dsl_totp_secret, fresh_totp

from datagen.demo import attendance_days, demo_school, siblings


def test_a_demo_pupil_has_what_the_mis_sent(platform):
    dsl = Api(platform.base_url)
    assert dsl.login(DSL_EMAIL).status_code == 200
    assert dsl.elevate(fresh_totp(dsl_totp_secret())).status_code == 200

    health = dsl.get("/mis/health").json()
    assert health["colour"] == "green" and health["last_run"]["status"] == "succeeded", health

    (dan,) = [s for s in dsl.get("/students", q="Carter").json()["students"]
              if s["first_name"] == "Daniel"]
    assert (dan["preferred_name"], dan["tutor_group"]) == ("Dan", "11B")
    profile = dsl.get(f"/students/{dan['id']}/profile").json()["student"]
    assert profile["upn"] and profile["date_of_birth"] and profile["ethnicity"]
    contacts = dsl.get(f"/students/{dan['id']}/contacts").json()["contacts"]
    assert contacts and all(c["source"] == "mis" and c["phones"] for c in contacts)
    # what seed-demo imported today: the last 13 weeks of marks
    today = dt.datetime.now(dt.UTC).date()
    school = demo_school(today)
    first, last = attendance_days(today)
    attendance = dsl.get(f"/students/{dan['id']}/attendance", **{
        "from": first.isoformat(), "to": last.isoformat()}).json()
    sent = next(p for p in school.pupils
                if (p.preferred_first_name, p.legal_last_name) == ("Dan", "Carter")).marks
    assert len(attendance["marks"]) == len(sent) > 0 and attendance["possible"]["sessions"] > 0

    # Brothers and sisters: the MIS gave them the same contacts.
    by_id = {p.mis_id: p for p in school.pupils if not p.leaving_date}
    family = siblings(school)
    pupil = next(by_id[m] for m in family if m in by_id and set(family[m]) & set(by_id))
    (found,) = [s for s in dsl.get("/students", q=pupil.legal_last_name).json()["students"]
                if s["first_name"] == pupil.legal_first_name]
    links = dsl.get(f"/students/{found['id']}/profile").json()["links"]
    assert {link["name"] for link in links if link["label"] == "sibling"} == {
        f"{by_id[m].preferred_first_name} {by_id[m].legal_last_name}"
        for m in family[pupil.mis_id] if m in by_id}
