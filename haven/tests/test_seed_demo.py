"""Seeding the demo school imports its pupils through the MIS import, as every school's
arrive: after ``python -m haven run`` a pupil has MIS details, contacts, attendance and
siblings, the import health is green, and seeding again adds nothing."""

from __future__ import annotations

import pyotp
import requests
from sqlalchemy import func, select

from datagen.demo import attendance_days, demo_school, siblings
from haven import allinone
from haven.platform import mis_outbox_mark
from services.identity.seed import DEMO_SCHOOL_ID, DEMO_TOTP_SECRETS
from services.records.models import EVENTS as RECORDS_EVENTS
from shared.db import utcnow
from shared.events.memory import reset_broker

PASSWORD = "Haven-demo-2026!"
DSL = "dsl@demo.haven.test"


def _dsl(base: str) -> requests.Session:
    http = requests.Session()
    r = http.post(f"{base}/api/v1/auth/login", json={"email": DSL, "password": PASSWORD},
                  timeout=10)
    assert r.status_code == 200, r.text
    session_id = r.json()["session_id"]
    code = pyotp.TOTP(DEMO_TOTP_SECRETS[DSL]).now()
    r = http.post(f"{base}/api/v1/auth/elevate", json={"session_id": session_id, "code": code},
                  timeout=10)
    assert r.status_code == 200, r.text
    http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return http


def _inbox_size(db) -> int:
    with db.read() as s:
        return s.execute(select(func.count()).select_from(RECORDS_EVENTS.inbox)).scalar_one()


def test_demo_pupils_arrive_through_the_mis_import_and_reseeding_adds_nothing(allinone_env):
    reset_broker()
    app = allinone.start(int(allinone_env["HAVEN_PORT"]))
    try:
        base = f"http://127.0.0.1:{app.port}/api/v1"
        platform = app.platform
        # start() returned once records listed the pupils; the rest follows within seconds.
        platform.wait_for_records(DEMO_SCHOOL_ID, timeout=120)
        today = utcnow().date()
        school = demo_school(today)
        by_id = {p.mis_id: p for p in school.pupils}
        family = siblings(school)
        on_roll = {m for m, p in by_id.items() if not p.leaving_date}
        pupil = next(by_id[m] for m in family if m in on_roll and set(family[m]) & on_roll)
        brothers_and_sisters = {f"{by_id[m].preferred_first_name} {by_id[m].legal_last_name}"
                                for m in family[pupil.mis_id] if m in on_roll}
        assert brothers_and_sisters
        dsl = _dsl(f"http://127.0.0.1:{app.port}")

        health = dsl.get(f"{base}/mis/health", timeout=10).json()
        assert (health["colour"], health["reasons"]) == ("green", []), health
        assert health["last_run"]["status"] == "succeeded"

        found = dsl.get(f"{base}/students", params={"q": pupil.legal_last_name},
                        timeout=10).json()["students"]
        (student,) = [s for s in found if s["first_name"] == pupil.legal_first_name]
        profile = dsl.get(f"{base}/students/{student['id']}/profile", timeout=10).json()
        details = profile["student"]
        assert (details["upn"], details["date_of_birth"], details["tutor_group"]) == (
            pupil.upn, pupil.date_of_birth.isoformat(), pupil.tutor_group)
        assert details["ethnicity"] == pupil.ethnicity
        assert {link["name"] for link in profile["links"]
                if link["label"] == "sibling"} == brothers_and_sisters

        contacts = dsl.get(f"{base}/students/{student['id']}/contacts", timeout=10).json()
        assert sorted((c["first_name"], c["last_name"], c["relationship"], c["source"])
                      for c in contacts["contacts"]) == sorted(
            (c.first_name, c.last_name, c.relationship, "mis") for c in pupil.contacts)
        assert all(c["phones"] for c in contacts["contacts"])

        first, last = attendance_days(today)
        attendance = dsl.get(f"{base}/students/{student['id']}/attendance", timeout=10, params={
            "from": first.isoformat(), "to": last.isoformat()}).json()
        assert [(m["date"], m["session"], m["code"]) for m in attendance["marks"]] == [
            (d.isoformat(), s, c) for (d, s), c in pupil.marks.items()]
        assert attendance["possible"]["sessions"] > 60 and attendance["overall"]["percent"] > 0

        # Seeding again (every start does) imports the same feed: nothing new anywhere.
        mark, inbox = mis_outbox_mark(platform["mis_import"].db), _inbox_size(
            platform["records"].db)
        counts = platform.seed_demo(wait_for_pupils=60)
        assert counts["students_unchanged"] == 202 and not counts.get("students_created")
        assert mis_outbox_mark(platform["mis_import"].db) == mark
        assert _inbox_size(platform["records"].db) == inbox
        assert dsl.get(f"{base}/mis/health", timeout=10).json()["colour"] == "green"
    finally:
        app.stop()
        reset_broker()

