"""Admin > Imports against the fake mis_import: who may see it, uploading (chunks, details,
refusals, size limits), starting and following a run, history, CSV mapping, settings, and the
import health traffic light on the dashboard."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from datagen import ctf_bytes, generate_school
from gateway.app import close_app, create_app
from gateway.tests.conftest import csrf, csrf_from, log_in
from gateway.tests.fakes import DSL, TEACHER
from haven.mis_import.v1 import mis_import_pb2 as pb

PAGES = ("/admin/imports", "/admin/imports/runs", "/admin/imports/csv-mapping",
         "/admin/imports/settings")


@pytest.fixture(scope="module")
def ctf() -> bytes:
    return ctf_bytes(generate_school(seed=3, pupils=4, attendance=False))


@pytest.fixture()
def admin(client):
    log_in(client, DSL, elevate=True)
    return client


def _upload(client, data: bytes, filename: str, **fields):
    form = {"csrf_token": csrf(client, "/admin/imports"), "csv_entity": "students",
            "file": (io.BytesIO(data), filename), **fields}
    return client.post("/admin/imports/upload", data=form, content_type="multipart/form-data")


def _text(response) -> str:
    return response.get_data(as_text=True)


# ---- who may see it -------------------------------------------------------------------------

@pytest.mark.parametrize("account", [DSL, TEACHER], ids=["admin-not-elevated", "teacher"])
def test_imports_are_refused_by_url_without_administration_and_full_access(client, platform,
                                                                          account):
    log_in(client, account)
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    token = csrf(client, "/")
    response = client.post("/admin/imports/upload", data={
        "csrf_token": token, "file": (io.BytesIO(b"<CTfile/>"), "a.xml")},
        content_type="multipart/form-data")
    assert response.status_code == 403
    assert client.post("/admin/imports/runs/x/resume", data={"csrf_token": token}
                       ).status_code == 403
    assert client.get("/admin/imports/runs/x/progress").status_code == 403
    admin_calls = [c.method for c in platform.mis_import.calls if c.method != "GetImportHealth"]
    assert admin_calls == []


def test_the_admin_sees_the_imports_tab_health_and_history(admin, platform):
    platform.mis_import.add_run(status="succeeded", total=30,
                                counts={"created": 28, "updated": 1, "rejected": 1})
    platform.mis_import.health = pb.GetImportHealthResponse(
        colour="amber", reasons=["The latest import rejected 1 record."])
    page = _text(admin.get("/admin/imports"))
    assert 'href="/admin/imports"' in page and ">Imports</a>" in page
    assert 'data-health="amber"' in page and "Needs attention" in page
    assert "The latest import rejected 1 record." in page
    assert "school.xml" in page and '<td class="num count-created">28</td>' in page
    assert 'enctype="multipart/form-data"' in page and 'name="full_extract"' in page


def test_pages_use_no_inline_script_or_style(admin, platform, ctf):
    run = platform.mis_import.add_run(status="running", total=10, processed=4)
    for path in (*PAGES, f"/admin/imports/runs/{run.id}", "/"):
        html = _text(admin.get(path))
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert " style=" not in html and "<style" not in html, path
        assert " on" + "click=" not in html


# ---- uploading ------------------------------------------------------------------------------

def test_a_ctf_upload_shows_the_header_then_starts_the_run(admin, platform, ctf):
    response = _upload(admin, ctf, "school.xml", full_extract="1")
    assert response.status_code == 302
    upload_id = platform.mis_import.called("UploadImportFile")[0].request
    confirm_url = response.headers["Location"]
    assert confirm_url.startswith("/admin/imports/uploads/")
    page = _text(admin.get(confirm_url))
    assert "Common Transfer File" in page and "25.0" in page and "Haven Demo Academy" in page
    assert '<dd class="estimated">4</dd>' in page
    assert 'name="full_extract" value="1" checked' in page
    token = csrf_from(page)
    started = admin.post(confirm_url + "/start", data={"csrf_token": token,
                                                       "full_extract": "1"})
    assert started.status_code == 302 and "/admin/imports/runs/" in started.headers["Location"]
    create = platform.mis_import.called("CreateImportRun")[0].request
    assert create.full_extract is True and create.upload_id == confirm_url.rsplit("/", 1)[-1]
    assert upload_id.filename == "school.xml"
    run_page = _text(admin.get(started.headers["Location"]))
    assert "The import has started" in run_page and "Waiting to start" in run_page
    # The upload is no longer waiting.
    assert admin.get(confirm_url).status_code == 302


def test_a_big_file_goes_in_chunks_of_at_most_3_mb_with_offsets(admin, platform, ctf):
    data = ctf.replace(b"<CTFpupilData>", b"<CTFpupilData>" + b" " * (7 * 1024 * 1024), 1)
    assert _upload(admin, data, "big.xml").status_code == 302
    calls = platform.mis_import.called("UploadImportFile")
    sizes = [len(c.request.content) for c in calls]
    assert sizes == [3 * 1024 * 1024, 3 * 1024 * 1024, len(data) - 6 * 1024 * 1024]
    assert [c.request.offset for c in calls] == [0, 3 * 1024 * 1024, 6 * 1024 * 1024]
    assert [c.request.more_to_follow for c in calls] == [True, True, False]
    assert calls[0].request.upload_id == "" and calls[0].request.filename == "big.xml"
    assert {c.request.upload_id for c in calls[1:]} == set(platform.mis_import.uploads)
    assert bytes(next(iter(platform.mis_import.uploads.values())).data) == data
    assert calls[0].metadata["authorization"].startswith("Bearer ")


def test_a_refused_file_says_why_and_nothing_waits(admin, platform):
    hostile = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
               b"<CTfile><Header/></CTfile>")
    response = _upload(admin, hostile, "evil.xml")
    assert response.status_code == 422
    page = _text(response)
    assert "“evil.xml” was not accepted" in page and "DTD or entities" in page
    assert "waiting to be started" not in page


def test_choosing_no_file_is_explained(admin):
    response = admin.post("/admin/imports/upload", data={
        "csrf_token": csrf(admin, "/admin/imports")}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose a CTF (.xml) or CSV (.csv) file" in _text(response)


def test_the_upload_form_needs_its_csrf_token(admin):
    response = admin.post("/admin/imports/upload", data={
        "file": (io.BytesIO(b"a,b\n"), "x.csv")}, content_type="multipart/form-data")
    assert response.status_code == 400


@pytest.fixture()
def small_limit_app(platform):
    application = create_app(platform.gateway_settings(TESTING=True,
                                                       max_upload_bytes=200 * 1024))
    yield application
    close_app(application)


def test_a_file_over_the_limit_gets_a_clear_413_page(small_limit_app, platform):
    client = small_limit_app.test_client()
    log_in(client, DSL, elevate=True)
    page = _text(client.get("/admin/imports"))
    assert 'data-max-bytes="204800"' in page and "up to 200 KB" in page
    response = _upload(client, b"x" * (300 * 1024), "huge.csv")
    assert response.status_code == 413
    body = _text(response)
    assert "That file is too large" in body and "200 KB" in body
    # Just over the limit (the body is within the limit plus room for the form's fields):
    just_over = _upload(client, b"x" * (210 * 1024), "huge.csv")
    assert just_over.status_code == 413 and "That file is too large" in _text(just_over)
    assert platform.mis_import.called("UploadImportFile") == []
    # Within the limit, and bigger than the 1 MB other pages accept, is fine elsewhere:
    assert _upload(client, b"mis_id,first\n" + b"1,a\n" * 1000, "ok.csv").status_code == 302


def test_other_pages_keep_the_1_mb_limit(admin):
    response = admin.post("/admin/imports/settings", data={
        "csrf_token": csrf(admin, "/admin/imports/settings"), "source_lea": "x" * (2 << 20)})
    assert response.status_code == 413
    assert "That file is too large" not in _text(response)


# ---- CSV: mapping and missing columns -------------------------------------------------------

def test_a_csv_without_a_saved_mapping_cannot_start_until_one_is_saved(admin, platform):
    csv = b"Pupil ID,Forename,Surname,DOB\nS1,Ava,Smith,2014-05-01\n"
    response = _upload(admin, csv, "pupils.csv", csv_entity="students")
    confirm_url = response.headers["Location"]
    page = _text(admin.get(confirm_url))
    assert "No column mapping yet" in page
    assert "Pupil ID, Forename, Surname, DOB" in page
    assert re.search(r"<button[^>]*disabled[^>]*>Start the import", page)
    mapping_link = re.search(r'href="(/admin/imports/csv-mapping\?[^"]+)"', page).group(1)
    mapping_link = mapping_link.replace("&amp;", "&")
    form_page = _text(admin.get(mapping_link))
    assert 'list="csv-columns"' in form_page and '<option value="Forename">' in form_page
    saved = admin.post("/admin/imports/csv-mapping", data={
        "csrf_token": csrf_from(form_page), "entity": "students", "next": confirm_url,
        "column_mis_id": "Pupil ID", "column_legal_first_name": "Forename",
        "column_legal_last_name": "Surname", "column_date_of_birth": "DOB",
        "column_tutor_group": "Form", "date_format": "iso"})
    assert saved.status_code == 302 and saved.headers["Location"] == confirm_url
    page = _text(admin.get(confirm_url))
    assert "Missing columns" in page and "<li>Form</li>" in page
    # Mapping fixed: the same upload can start.
    admin.post("/admin/imports/csv-mapping", data={
        "csrf_token": csrf_from(page), "entity": "students", "column_mis_id": "Pupil ID",
        "column_legal_first_name": "Forename", "column_legal_last_name": "Surname",
        "column_date_of_birth": "DOB", "date_format": "iso"})
    page = _text(admin.get(confirm_url))
    assert "Every column the saved mapping reads is there" in page
    started = admin.post(confirm_url + "/start", data={"csrf_token": csrf_from(page),
                                                       "csv_entity": "students"})
    assert "/admin/imports/runs/" in started.headers["Location"]
    assert platform.mis_import.called("CreateImportRun")[-1].request.csv_entity == "students"


def test_missing_columns_reported_by_the_upload_are_listed(admin, platform):
    platform.mis_import.mappings["staff"] = pb.CsvMapping(
        entity="staff", columns={"mis_id": "Staff ID", "first_name": "First",
                                 "last_name": "Last", "email": "Work email"})
    response = _upload(admin, b"Staff ID,First,Last\nE1,Ann,Lee\n", "staff.csv",
                       csv_entity="staff")
    page = _text(admin.get(response.headers["Location"]))
    assert "The file lists <strong>staff</strong>" in page
    assert "<li>Work email</li>" in page
    assert platform.mis_import.called("UploadImportFile")[0].request.csv_entity == "staff"


def test_a_wide_csv_keeps_the_session_small_and_trusts_the_services_check(admin, platform):
    platform.mis_import.mappings["students"] = pb.CsvMapping(
        entity="students", columns={"mis_id": "Column 45", "legal_first_name": "Column 1",
                                    "legal_last_name": "Column 2", "date_of_birth": "Column 3"})
    header = ",".join(f"Column {i}" for i in range(1, 46)).encode()
    response = _upload(admin, header + b"\n", "wide.csv")
    cookie = response.headers["Set-Cookie"]
    assert len(cookie) < 3000
    page = _text(admin.get(response.headers["Location"]))
    assert "45 columns" in page and "and 5 more" in page
    assert "Every column the saved mapping reads is there" in page


def test_the_mapping_editor_refuses_a_mapping_without_required_fields(admin, platform):
    page = _text(admin.get("/admin/imports/csv-mapping?entity=staff"))
    assert "First name" in page and 'class="required"' in page
    response = admin.post("/admin/imports/csv-mapping", data={
        "csrf_token": csrf_from(page), "entity": "staff", "column_mis_id": "ID",
        "date_format": "auto"})
    assert response.status_code == 422
    assert "Map a column to each required field: first_name, last_name." in _text(response)
    assert 'value="ID"' in _text(response)
    assert "staff" not in platform.mis_import.mappings


def test_starting_a_run_the_service_refuses_goes_back_with_its_reason(admin, platform):
    response = _upload(admin, b"a,b\n1,2\n", "p.csv")
    confirm_url = response.headers["Location"]
    page = _text(admin.get(confirm_url))
    refused = admin.post(confirm_url + "/start", data={"csrf_token": csrf_from(page)})
    assert refused.headers["Location"] == confirm_url
    assert "Save a CSV column mapping for students" in _text(admin.get(confirm_url))


# ---- runs -----------------------------------------------------------------------------------

def test_the_run_page_shows_progress_that_the_poller_follows(admin, platform):
    run = platform.mis_import.add_run(status="running", total=200, processed=50)
    page = _text(admin.get(f"/admin/imports/runs/{run.id}"))
    assert '<progress id="run-progress-bar" max="100" value="25">' in page
    assert f'data-progress-url="/admin/imports/runs/{run.id}/progress"' in page
    assert 'data-active="true"' in page
    assert f'href="/admin/imports/runs/{run.id}">Refresh</a>' in page  # works without JS
    progress = admin.get(f"/admin/imports/runs/{run.id}/progress")
    assert progress.status_code == 200
    assert progress.json == {"id": run.id, "status": "running", "status_label": "Importing",
                             "phase": "importing", "phase_label": "Importing records",
                             "processed": 50, "total": 200, "percent": 25, "rejected": 0,
                             "finished": False}
    platform.mis_import.advance(run.id, processed=200, status="succeeded", created=190,
                                updated=5, unchanged=3, archived=2)
    done = admin.get(f"/admin/imports/runs/{run.id}/progress").json
    assert done["finished"] is True and done["percent"] == 100
    page = _text(admin.get(f"/admin/imports/runs/{run.id}"))
    assert 'data-active="false"' in page and "Refresh</a>" not in page
    assert '<td class="num count-created">190</td>' in page
    assert '<td class="num count-archived">2</td>' in page


def test_a_run_still_being_checked_has_an_indeterminate_bar(admin, platform):
    run = platform.mis_import.add_run(status="queued", total=0, processed=0)
    page = _text(admin.get(f"/admin/imports/runs/{run.id}"))
    assert '<progress id="run-progress-bar" max="100"></progress>' in page
    assert admin.get(f"/admin/imports/runs/{run.id}/progress").json["percent"] is None


def test_progress_of_an_unknown_run_is_a_json_404(admin):
    response = admin.get("/admin/imports/runs/nope/progress")
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_rejections_are_paged_with_location_key_and_reason(admin, platform):
    run = platform.mis_import.add_run(status="succeeded", total=300, warnings=(
        "Archiving was skipped: 60% of pupils were missing from the file.",))
    platform.mis_import.add_rejections(run.id, 120)
    page = _text(admin.get(f"/admin/imports/runs/{run.id}"))
    assert '<span class="count">120</span>' in page
    assert page.count('<td class="location">') == 50
    assert "/CTfile/CTFpupilData/Pupil[1]/UPN" in page and "check letter is wrong" in page
    assert "Archiving was skipped" in page
    assert f'href="/admin/imports/runs/{run.id}?from=50">Next 50' in page
    second = _text(admin.get(f"/admin/imports/runs/{run.id}?from=50"))
    assert second.count('<td class="location">') == 50 and "Pupil[51]/UPN" in second
    assert "First page" in second and "?from=100" in second
    last = _text(admin.get(f"/admin/imports/runs/{run.id}?from=100"))
    assert last.count('<td class="location">') == 20 and "Next 50" not in last
    for bad in ("\u00b2", str(10**20), "-5", "x"):  # a mangled link shows the first page
        odd = admin.get(f"/admin/imports/runs/{run.id}?from={bad}")
        assert odd.status_code == 200, bad
        assert _text(odd).count('<td class="location">') == 50 and "Pupil[1]/UPN" in _text(odd)


def test_a_failed_run_says_why_and_where(admin, platform):
    run = platform.mis_import.add_run(status="failed", total=0, error="CTF version 19.0 is not "
                                      "supported (20 to 25).")
    run.error_location = "/CTfile/Header/CTFversion"
    page = _text(admin.get(f"/admin/imports/runs/{run.id}"))
    assert "The file was refused: nothing of it was imported" in page
    assert "CTF version 19.0 is not supported" in page and "/CTfile/Header/CTFversion" in page
    assert "Resume the import" not in page


def test_an_interrupted_run_can_be_resumed(admin, platform):
    run = platform.mis_import.add_run(status="interrupted", total=100, processed=40,
                                      error="The import stopped unexpectedly.")
    page = _text(admin.get(f"/admin/imports/runs/{run.id}"))
    assert "Resume the import" in page
    response = admin.post(f"/admin/imports/runs/{run.id}/resume",
                          data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    page = _text(admin.get(response.headers["Location"]))
    assert "carry on from where it stopped" in page and "Waiting to start" in page
    # Again: the service refuses, and says so.
    again = admin.post(f"/admin/imports/runs/{run.id}/resume",
                       data={"csrf_token": csrf_from(page)})
    assert "Only an interrupted import can be resumed." in _text(admin.get(
        again.headers["Location"]))


def test_a_stalled_run_offers_resume(admin, platform):
    run = platform.mis_import.add_run(status="running", total=100, processed=40,
                                      updated_at=datetime.now(UTC) - timedelta(minutes=20))
    page = _text(admin.get(f"/admin/imports/runs/{run.id}"))
    assert "has not moved since" in page and "Resume the import" in page


def test_history_lists_every_source(admin, platform):
    platform.mis_import.add_run(kind="json", file_name="MIS feed", status="succeeded")
    platform.mis_import.add_run(kind="csv", file_name="staff.csv", status="failed")
    page = _text(admin.get("/admin/imports/runs"))
    assert "MIS feed" in page and "CSV file" in page and "staff.csv" in page
    assert "run-failed" in page and "run-succeeded" in page


# ---- settings -------------------------------------------------------------------------------

def test_settings_are_saved_and_refusals_shown(admin, platform):
    page = _text(admin.get("/admin/imports/settings"))
    assert "Amber after (hours)" in page
    bad = admin.post("/admin/imports/settings", data={
        "csrf_token": csrf_from(page), "amber_after_hours": "soon"})
    assert bad.status_code == 422 and "Amber after: a whole number" in _text(bad)
    calls = len(platform.mis_import.called("UpdateImportSettings"))
    long = admin.post("/admin/imports/settings", data={
        "csrf_token": csrf_from(page), "amber_after_hours": "24", "red_after_hours": "3000"})
    assert long.status_code == 422 and "from 0 to 2160" in _text(long)  # the service's limit
    assert len(platform.mis_import.called("UpdateImportSettings")) == calls
    refused = admin.post("/admin/imports/settings", data={
        "csrf_token": csrf_from(page), "amber_after_hours": "24", "red_after_hours": "48",
        "source_lea": "823"})
    assert refused.status_code == 422
    assert "Give both the LA number and the establishment number" in _text(refused)
    ok = admin.post("/admin/imports/settings", data={
        "csrf_token": csrf_from(page), "amber_after_hours": "24", "red_after_hours": "48",
        "source_lea": "823", "source_estab": "4001"})
    assert ok.status_code == 302
    s = platform.mis_import.settings
    assert (s.amber_after_hours, s.red_after_hours, s.source_lea, s.source_estab) == (
        24, 48, "823", "4001")
    assert "Import settings saved." in _text(admin.get("/admin/imports/settings"))


# ---- health on the dashboard ----------------------------------------------------------------

def test_everyone_sees_the_import_health_on_the_dashboard(client, platform):
    platform.mis_import.health = pb.GetImportHealthResponse(
        colour="red", reasons=["No import has succeeded for 80 hours."])
    log_in(client, TEACHER)
    page = _text(client.get("/"))
    assert 'data-health="red"' in page and "Failing" in page
    assert "No import has succeeded for 80 hours." in page
    assert 'class="lamp lamp-red on"' in page
    assert "/admin/imports" not in page  # no link for those who cannot open it


def test_the_dashboard_works_when_the_import_service_does_not_answer(client, platform):
    platform.mis_import.fail("GetImportHealth", (grpc.StatusCode.UNAVAILABLE, "down"))
    log_in(client, DSL, elevate=True)
    response = client.get("/")
    assert response.status_code == 200
    assert 'data-health="unknown"' in _text(response)
    assert "Quick student search" in _text(response)
