"""/api/v1/mis against the fake mis_import: feeds with integration tokens (scope, school),
parts, size and media type limits, run status and rejections, admin file uploads, health;
every answer checked against its OpenAPI schema."""

from __future__ import annotations

import io
import json

import pytest
from jsonschema import Draft202012Validator

from gateway.app import close_app, create_app
from gateway.openapi import API_PREFIX, DOCUMENT
from gateway.tests.fakes import DSL, PASSWORD, SCHOOL, TOTP
from gateway.tests.test_api import _auth, dsl_token, teacher_token  # noqa: F401 - fixtures

OTHER_SCHOOL = "00000000-0000-4000-8000-0000000000ff"
FEED = {"school_id": SCHOOL, "mode": "full", "generated_at": "2026-11-28T02:00:00Z",
        "students": [{"id": "S1001", "upn": "A823400126001", "legal_first_name": "Ava",
                      "legal_last_name": "Quill", "date_of_birth": "2014-05-01"}]}


def _integration(platform, *, school=SCHOOL, scope="mis.import") -> dict[str, str]:
    token = platform.tokens.token(school_id=school, account_id="mis-connector-1",
                                  access="restricted", permissions=(), name="SIMS connector",
                                  scope=scope)
    return _auth(token)


def _check(response, path: str, method: str = "get") -> None:
    op = DOCUMENT["paths"][API_PREFIX + path][method]
    documented = op["responses"][str(response.status_code)]
    if "$ref" in documented:
        documented = DOCUMENT["components"]["responses"][documented["$ref"].rsplit("/", 1)[-1]]
    schema = documented["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": DOCUMENT["components"]})
    problems = [e.message for e in validator.iter_errors(response.json)]
    assert not problems, (path, response.status_code, problems)


def _post_feed(client, headers, body, path="/api/v1/mis/feeds", **params):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, data=data, headers=headers, query_string=params,
                       content_type="application/json")


# ---- feeds ----------------------------------------------------------------------------------

def test_a_connector_pushes_a_feed_for_its_own_school(client, platform):
    headers = _integration(platform)
    response = _post_feed(client, headers, FEED)
    assert response.status_code == 202, response.json
    _check(response, "/mis/feeds", "post")
    run = response.json["run"]
    assert run["kind"] == "json" and run["status"] == "queued" and response.json["part"] == 1
    assert response.headers["Location"] == f"/api/v1/mis/runs/{run['id']}"
    sent = platform.mis_import.called("SubmitMisFeed")[0]
    assert sent.request.school_id == SCHOOL  # the token's school
    assert json.loads(sent.request.body) == FEED  # passed through as it came
    assert sent.request.more_to_follow is False
    assert sent.metadata["authorization"] == headers["Authorization"]  # the caller's token
    status = client.get(response.headers["Location"], headers=headers)
    assert status.status_code == 200 and status.json["run"]["id"] == run["id"]
    _check(status, "/mis/runs/{run_id}")


def test_a_feed_naming_another_school_is_refused(client, platform):
    response = _post_feed(client, _integration(platform), {**FEED, "school_id": OTHER_SCHOOL})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "permission_denied"
    _check(response, "/mis/feeds", "post")
    assert platform.mis_import.runs == {}


def test_a_token_without_the_import_scope_is_refused(client, platform, teacher_token):  # noqa: F811
    for headers in (_integration(platform, scope="incidents:add"), _auth(teacher_token)):
        response = _post_feed(client, headers, FEED)
        assert response.status_code == 403
        assert "mis.import" in response.json["error"]["message"]


def test_no_token_is_401(client):
    response = _post_feed(client, {}, FEED)
    assert response.status_code == 401 and "WWW-Authenticate" in response.headers


def test_a_big_feed_comes_in_parts(client, platform):
    headers = _integration(platform)
    first = _post_feed(client, headers, FEED, more_to_follow="true")
    assert first.status_code == 202 and first.json["run"]["status"] == "receiving"
    run_id = first.json["run"]["id"]
    second = _post_feed(client, headers, {**FEED, "students": []},
                        path=f"/api/v1/mis/feeds/{run_id}/parts", more_to_follow="true")
    last = _post_feed(client, headers, {"mode": "full", "employees": []},
                      path=f"/api/v1/mis/feeds/{run_id}/parts")
    assert (second.json["part"], last.json["part"]) == (2, 3)
    assert last.json["run"]["status"] == "queued"
    _check(last, "/mis/feeds/{run_id}/parts", "post")
    calls = platform.mis_import.called("SubmitMisFeed")
    assert [c.request.feed_run_id for c in calls] == ["", run_id, run_id]
    assert [c.request.more_to_follow for c in calls] == [True, True, False]
    again = _post_feed(client, headers, FEED, path=f"/api/v1/mis/feeds/{run_id}/parts")
    assert again.status_code == 409
    unknown = _post_feed(client, headers, FEED, path="/api/v1/mis/feeds/nope/parts")
    assert unknown.status_code == 404


def test_feeds_must_be_json(client, platform):
    headers = _integration(platform)
    as_text = client.post("/api/v1/mis/feeds", data=b"{}", headers=headers,
                          content_type="text/plain")
    assert as_text.status_code == 415
    _check(as_text, "/mis/feeds", "post")
    empty = _post_feed(client, headers, b"  ")
    assert empty.status_code == 400
    broken = _post_feed(client, headers, b"{not json")
    assert broken.status_code == 422 and broken.json["error"]["message"] == "The feed is not JSON."
    bad_flag = _post_feed(client, headers, FEED, more_to_follow="perhaps")
    assert bad_flag.status_code == 400
    assert platform.mis_import.runs == {}


@pytest.fixture()
def small_app(platform):
    application = create_app(platform.gateway_settings(
        TESTING=True, max_feed_part_bytes=2048, max_upload_bytes=4096))
    yield application
    close_app(application)


def test_parts_and_files_over_the_limits_are_413_with_what_to_do(small_app, platform):
    client = small_app.test_client()
    big = {**FEED, "students": FEED["students"] * 40}
    response = _post_feed(client, _integration(platform), big)
    assert response.status_code == 413
    assert "at most 2 KB" in response.json["error"]["message"]
    assert "more_to_follow=true" in response.json["error"]["message"]
    _check(response, "/mis/feeds", "post")
    admin = _admin_headers(client)
    upload = client.post("/api/v1/mis/uploads", headers=admin, data={
        "file": (io.BytesIO(b"x" * 10000), "big.xml")}, content_type="multipart/form-data")
    assert upload.status_code == 413 and "the limit is 4 KB" in upload.json["error"]["message"]
    assert platform.mis_import.calls == []
    # The usual 1 MB elsewhere is untouched, and the feed may be bigger than 1 MB by default.


def test_a_feed_bigger_than_1_mb_is_accepted_by_default(client, platform):
    big = {**FEED, "students": [dict(FEED["students"][0], medical_conditions=["x" * 1000])]
           * 1500}
    assert len(json.dumps(big)) > 1024 * 1024
    assert _post_feed(client, _integration(platform), big).status_code == 202


# ---- runs and rejections ----------------------------------------------------------------------

def _admin_headers(client) -> dict[str, str]:
    login = client.post("/api/v1/auth/login", json={"email": DSL.email, "password": PASSWORD})
    elevated = client.post("/api/v1/auth/elevate",
                           json={"session_id": login.json["session_id"], "code": TOTP})
    return _auth(elevated.json["access_token"])


def test_run_status_rejections_and_history(client, platform, dsl_token):  # noqa: F811
    run = platform.mis_import.add_run(status="succeeded", total=150,
                                      counts={"created": 140, "rejected": 10})
    platform.mis_import.add_rejections(run.id, 130)
    headers = _auth(dsl_token)
    got = client.get(f"/api/v1/mis/runs/{run.id}?limit=5", headers=headers)
    assert got.status_code == 200 and len(got.json["rejections"]) == 5
    assert got.json["rejections_total"] == 130 and got.json["run"]["percent"] == 100
    assert got.json["run"]["counts"]["created"] == 140 and got.json["run"]["finished"] is True
    _check(got, "/mis/runs/{run_id}")
    page = client.get(f"/api/v1/mis/runs/{run.id}/rejections?start_seq=100&limit=20",
                      headers=headers)
    assert page.status_code == 200 and page.json["more"] is True
    assert page.json["rejections"][0]["seq"] == 100 and page.json["next_start_seq"] == 120
    _check(page, "/mis/runs/{run_id}/rejections")
    tail = client.get(f"/api/v1/mis/runs/{run.id}/rejections?start_seq=120", headers=headers)
    assert tail.json["more"] is False and tail.json["next_start_seq"] is None
    for bad in ("-1", "\u00b2", str(10**20), "abc"):
        refused = client.get(f"/api/v1/mis/runs/{run.id}/rejections?start_seq={bad}",
                             headers=headers)
        assert refused.status_code == 400, bad
        assert "start_seq" in refused.json["error"]["message"]
    history = client.get("/api/v1/mis/runs?limit=10", headers=headers)
    assert [r["id"] for r in history.json["runs"]] == [run.id]
    _check(history, "/mis/runs")
    missing = client.get("/api/v1/mis/runs/nope", headers=headers)
    assert missing.status_code == 404
    _check(missing, "/mis/runs/{run_id}")


def test_teachers_cannot_read_runs(client, platform, teacher_token):  # noqa: F811
    run = platform.mis_import.add_run()
    response = client.get(f"/api/v1/mis/runs/{run.id}", headers=_auth(teacher_token))
    assert response.status_code == 403
    _check(response, "/mis/runs/{run_id}")


def test_anyone_signed_in_reads_the_health(client, platform, teacher_token):  # noqa: F811
    last = platform.mis_import.add_run(status="failed", total=0, error="Not a CTF.")
    platform.mis_import.health.last_run.CopyFrom(last)
    response = client.get("/api/v1/mis/health", headers=_auth(teacher_token))
    assert response.status_code == 200
    assert response.json["colour"] == "red" and response.json["label"] == "Failing"
    assert response.json["last_run"]["error"] == "Not a CTF."
    _check(response, "/mis/health")


# ---- uploads (administrators) -----------------------------------------------------------------

def test_an_admin_uploads_a_file_and_its_run_starts(client, platform, dsl_token):  # noqa: F811
    ctf = (b'<?xml version="1.0"?><CTfile><Header><CTFversion>24.0</CTFversion></Header>'
           b"<CTFpupilData><Pupil></Pupil><Pupil></Pupil></CTFpupilData></CTfile>")
    response = client.post("/api/v1/mis/uploads", headers=_auth(dsl_token), data={
        "file": (io.BytesIO(ctf), "school.xml"), "full_extract": "true"},
        content_type="multipart/form-data")
    assert response.status_code == 202, response.json
    _check(response, "/mis/uploads", "post")
    body = response.json
    assert body["upload"]["kind"] == "ctf" and body["upload"]["estimated_records"] == 2
    assert body["upload"]["source_details"]["version"] == "24.0"
    assert body["run"]["status"] == "queued" and body["run"]["full_extract"] is True
    assert response.headers["Location"] == f"/api/v1/mis/runs/{body['run']['id']}"


def test_upload_mistakes_are_explained(client, platform, dsl_token, teacher_token):  # noqa: F811
    headers = _auth(dsl_token)
    no_file = client.post("/api/v1/mis/uploads", headers=headers, data={"x": "1"},
                          content_type="multipart/form-data")
    assert no_file.status_code == 400 and "'file'" in no_file.json["error"]["message"]
    as_json = client.post("/api/v1/mis/uploads", headers=headers, json={"file": "x"})
    assert as_json.status_code == 415
    _check(as_json, "/mis/uploads", "post")
    entity = client.post("/api/v1/mis/uploads", headers=headers, data={
        "file": (io.BytesIO(b"a\n"), "x.csv"), "csv_entity": "parents"},
        content_type="multipart/form-data")
    assert entity.status_code == 400
    unmapped = client.post("/api/v1/mis/uploads", headers=headers, data={
        "file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")}, content_type="multipart/form-data")
    assert unmapped.status_code == 409
    assert "Save a CSV column mapping" in unmapped.json["error"]["message"]
    _check(unmapped, "/mis/uploads", "post")
    refused = client.post("/api/v1/mis/uploads", headers=headers, data={
        "file": (io.BytesIO(b"<!DOCTYPE x><CTfile/>"), "x.xml")},
        content_type="multipart/form-data")
    assert refused.status_code == 422
    teacher = client.post("/api/v1/mis/uploads", headers=_auth(teacher_token), data={
        "file": (io.BytesIO(b"<CTfile/>"), "x.xml")}, content_type="multipart/form-data")
    assert teacher.status_code == 403
    _check(teacher, "/mis/uploads", "post")
    assert platform.mis_import.runs == {}
