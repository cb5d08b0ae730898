"""An MIS connector pushes its JSON feed end to end (issue 5 with real components): an
administrator creates an integration client with the 'mis.import' scope, the connector gets
a client-credentials token from identity through the gateway and pushes a delta feed of three
new pupils (with contacts and attendance); mis_import imports it, records consumes the events
over RabbitMQ, and the DSL finds the pupils with their contacts and marks. The token reads
nothing else, a feed naming another school changes nothing, and a token of another scope
cannot push feeds.

(The file name sorts after test_mis_import_browser.py, whose history count this run adds to.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid

import requests
from journey import wait_until
from test_integrations import _admin, _client_token, _dsl

from datagen.school import generate_school
from datagen.writers import feed_document

TODAY = dt.date(2026, 11, 27)


def _feed(school_id: str, tag: str) -> tuple[dict, list]:
    school = generate_school(seed=4242, pupils=3, attendance_through=TODAY, start_year=2026)
    pupils = [dataclasses.replace(
        p, mis_id=f"e2e-{tag}-{i}", legal_last_name=f"Feedtest{tag}{i}",
        preferred_last_name=f"Feedtest{tag}{i}", tutor_group="E2E", year_group="Year 13",
        contacts=[dataclasses.replace(c, mis_id=f"e2e-{tag}-c{i}-{n}")
                  for n, c in enumerate(p.contacts)])
        for i, p in enumerate(school.pupils)]
    doc = feed_document(school, school_id=school_id, mode="delta", pupils=pupils,
                        staff=False, groups=False,
                        updated_after=dt.datetime(2026, 11, 1, 0, 0))
    return doc, pupils


def test_an_mis_connector_pushes_its_feed_with_a_real_token(platform):
    from services.identity.seed import DEMO_SCHOOL_ID

    base = platform.base_url + "/api/v1"
    admin, dsl = _admin(platform), _dsl(platform)
    _client_id, token = _client_token(platform, admin, "mis.import")
    connector = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    tag = uuid.uuid4().hex[:6]
    doc, pupils = _feed(DEMO_SCHOOL_ID, tag)

    # A feed naming another school is refused, and no run is made for it.
    runs_before = admin.get("/mis/runs", limit=200).json()["runs"]
    other = requests.post(f"{base}/mis/feeds", headers=connector, timeout=30,
                          data=json.dumps({**doc, "school_id": str(uuid.uuid4())}))
    assert 400 <= other.status_code < 500, other.text
    assert admin.get("/mis/runs", limit=200).json()["runs"] == runs_before

    pushed = requests.post(f"{base}/mis/feeds", headers=connector, timeout=30,
                           data=json.dumps(doc))
    assert pushed.status_code == 202, pushed.text
    run_id = pushed.json()["run"]["id"]
    assert pushed.headers["Location"].endswith(f"/mis/runs/{run_id}")

    def finished():
        r = requests.get(f"{base}/mis/runs/{run_id}", headers=connector, timeout=10)
        assert r.status_code == 200, r.text
        run = r.json()["run"]
        return run if run["status"] in ("succeeded", "failed") else None

    run = wait_until(finished, timeout=60, what="the feed's import run to finish")
    assert run["status"] == "succeeded", run

    # records consumed the import's events: the DSL finds the pupils with contacts and marks.
    def listed():
        found = dsl.get("/students", q=f"Feedtest{tag}", limit=50).json()["students"]
        return found if len(found) == 3 else None

    found = wait_until(listed, timeout=60, what="records to list the feed's pupils")
    assert {s["last_name"] for s in found} == {p.legal_last_name for p in pupils}
    assert {s["upn"] for s in found} == {p.upn for p in pupils}
    first = next(s for s in found if s["last_name"] == pupils[0].legal_last_name)
    expected_contacts = {(c.first_name, c.last_name) for c in pupils[0].contacts}

    def contacts_and_marks():
        contacts = dsl.get(f"/students/{first['id']}/contacts").json()["contacts"]
        attendance = dsl.get(f"/students/{first['id']}/attendance",
                             **{"from": "2026-09-01", "to": TODAY.isoformat()}).json()
        have = {(c["first_name"], c["last_name"]) for c in contacts}
        return (have, attendance) if have == expected_contacts and attendance.get(
            "marks") else None

    _have, attendance = wait_until(contacts_and_marks, timeout=60,
                                   what="the pupil's contacts and attendance marks")
    assert len(attendance["marks"]) == len(pupils[0].marks)

    # The connector's token reads nothing of the school's records.
    for path in ("/students", f"/students/{first['id']}", f"/students/{first['id']}/chronology",
                 "/alerts"):
        refused = requests.get(f"{base}{path}", headers=connector, timeout=10)
        assert refused.status_code == 403, (path, refused.status_code, refused.text)

    # A token for concerns cannot push a feed.
    _, concerns_token = _client_token(platform, admin, "incidents:add")
    wrong = requests.post(f"{base}/mis/feeds", timeout=30, data=json.dumps(doc), headers={
        "Authorization": f"Bearer {concerns_token}", "Content-Type": "application/json"})
    assert wrong.status_code == 403, wrong.text
    assert len(admin.get("/mis/runs", limit=200).json()["runs"]) == len(runs_before) + 1
