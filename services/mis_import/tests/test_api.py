"""MisImportService over real gRPC, on SQLite and PostgreSQL: uploads, runs and progress,
rejections, CSV mappings, settings, health, the JSON feed, access, and every bad input."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import replace

import grpc
import pytest
from sqlalchemy import func, select

from datagen import STUDENT_CSV_HEADERS, corrupt_upn, ctf_bytes, feed_bytes, generate_school
from datagen.writers import students_csv_text
from haven.mis_import.v1 import mis_import_pb2 as pb
from haven.mis_import.v1 import mis_import_pb2_grpc
from services.mis_import.app import build
from services.mis_import.config import ImportConfig
from services.mis_import.models import ImportFile
from services.mis_import.tests.test_ctf import BILLION_LAUGHS
from shared.config import ServiceSettings
from shared.context import school_scope
from shared.db import run_migrations
from shared.service import start_api
from shared.testing import FULL_PERMISSIONS, TokenFactory, postgres_database

MAX_BYTES = 400_000
SCHOOL = generate_school(seed=31, pupils=30)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                                marks=pytest.mark.integration)])
def served(request, tmp_path_factory):
    if request.param == "postgresql":
        cm = postgres_database("haven_mis_api")
        url = cm.__enter__()
    else:
        cm, url = None, f"sqlite:///{tmp_path_factory.mktemp('mis-api')}/mis_import.db"
    settings = replace(ServiceSettings.from_env("mis_import"), database_url=url)
    tokens = TokenFactory()
    config = ImportConfig(max_upload_bytes=MAX_BYTES, worker_threads=1, batch_size=8)
    spec = build(settings, verifier=tokens.verifier(), config=config)
    run_migrations(url, spec.migrations)
    running = start_api(spec, port=0, host="127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{running.ports['mis_import']}")
    yield Client(mis_import_pb2_grpc.MisImportServiceStub(channel), tokens, spec)
    channel.close()
    running.stop()
    spec.db.dispose()
    if cm is not None:
        cm.__exit__(None, None, None)


class Client:
    def __init__(self, stub, tokens, spec):
        self.stub, self.tokens, self.spec = stub, tokens, spec
        self.worker = spec.background[0]

    def call(self, method, request, token):
        return getattr(self.stub, method)(request, metadata=[("authorization",
                                                                f"Bearer {token}")])

    def admin(self, school):
        return self.tokens.token(school_id=school)

    def integration(self, school, scope="mis.import"):
        return self.tokens.token(school_id=school, access="restricted", permissions=(),
                                 scope=scope, name="Acme MIS connector")

    def upload(self, school, data, filename="school.xml", chunk=100_000, **kw):
        token = self.admin(school)
        upload_id, offset, reply = "", 0, None
        while True:
            part = data[offset:offset + chunk]
            more = offset + len(part) < len(data)
            reply = self.call("UploadImportFile", pb.UploadImportFileRequest(
                filename=filename, content=part, upload_id=upload_id, offset=offset,
                more_to_follow=more, **kw), token)
            upload_id, offset = reply.upload_id, offset + len(part)
            if not more:
                return reply

    def start(self, school, upload_id, **kw):
        return self.call("CreateImportRun", pb.CreateImportRunRequest(
            upload_id=upload_id, **kw), self.admin(school)).run

    def drain(self):
        while self.worker.run_once():
            pass

    def get(self, school, run_id, token=None, **kw):
        return self.call("GetImportRun", pb.GetImportRunRequest(run_id=run_id, **kw),
                         token or self.admin(school))


def refused(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def school():
    return str(uuid.uuid4())


# ---- uploads, runs, progress ----------------------------------------------------------------

def test_upload_in_chunks_import_and_watch_progress(served):
    s = school()
    data = ctf_bytes(SCHOOL)
    reply = served.upload(s, data, chunk=50_000)
    assert reply.complete and reply.kind == "ctf" and reply.received_bytes == len(data)
    assert reply.source_details.school_name == "Haven Demo Academy"
    assert reply.source_details.version == "25.0" and reply.estimated_records == 30
    run = served.start(s, reply.upload_id, full_extract=True)
    assert (run.status, run.kind, run.file_name, run.full_extract) == (
        "queued", "ctf", "school.xml", True)
    assert served.start(s, reply.upload_id, full_extract=True).id == run.id  # sent twice
    assert served.worker.run_once()  # checking + all batches in one slice
    got = served.get(s, run.id).run
    assert (got.status, got.processed, got.total, got.phase) == ("succeeded", 30, 30, "done")
    assert got.counts["created"] == 30 and got.source_details.lea == "823"
    assert got.finished_at.ToDatetime() >= got.started_at.ToDatetime()
    runs = served.call("ListImportRuns", pb.ListImportRunsRequest(), served.admin(s)).runs
    assert [r.id for r in runs] == [run.id]
    health = served.call("GetImportHealth", pb.GetImportHealthRequest(),
                         served.tokens.token(school_id=s, access="restricted",
                                             permissions=("add_incidents",)))
    assert health.colour == "green" and health.last_run.id == run.id
    # Everyone sees the light and when; the file and its counts are for administrators.
    assert health.last_run.status == "succeeded" and not health.last_run.file_name
    assert not health.last_run.counts
    admin_view = served.call("GetImportHealth", pb.GetImportHealthRequest(), served.admin(s))
    assert admin_view.last_run.file_name == "school.xml"
    assert admin_view.last_run.counts["created"] == 30


def test_a_chunk_sent_twice_is_ignored_and_a_gap_refused(served):
    s = school()
    data = ctf_bytes(SCHOOL)
    token = served.admin(s)
    first = served.call("UploadImportFile", pb.UploadImportFileRequest(
        filename="a.xml", content=data[:1000], more_to_follow=True), token)
    again = served.call("UploadImportFile", pb.UploadImportFileRequest(
        upload_id=first.upload_id, content=data[:1000], more_to_follow=True), token)
    assert again.received_bytes == 1000
    gap = refused(lambda: served.call("UploadImportFile", pb.UploadImportFileRequest(
        upload_id=first.upload_id, offset=2000, content=data[2000:3000],
        more_to_follow=True), token))
    assert gap.code() == grpc.StatusCode.INVALID_ARGUMENT and "missing" in gap.details()


def test_rejected_rows_are_listed_page_by_page(served):
    s = school()
    bad = SCHOOL.copy()
    for i in (3, 9, 14):
        bad.pupils[i].upn = corrupt_upn(bad.pupils[i].upn)
    run = served.start(s, served.upload(s, ctf_bytes(bad)).upload_id)
    served.drain()
    got = served.get(s, run.id, rejections_limit=2)
    assert got.run.status == "succeeded" and got.run.rejected == 3
    assert got.rejections_total == 3 and len(got.rejections) == 2
    assert got.run.counts["created"] == 27
    page = served.call("ListImportRejections", pb.ListImportRejectionsRequest(
        run_id=run.id, limit=2), served.admin(s))
    assert [r.seq for r in page.rejections] == [3, 9] and page.more
    rest = served.call("ListImportRejections", pb.ListImportRejectionsRequest(
        run_id=run.id, limit=2, start_seq=page.next_start_seq), served.admin(s))
    assert [r.seq for r in rest.rejections] == [14] and not rest.more
    assert rest.rejections[0].location == "/CTfile/CTFpupilData/Pupil[15]/UPN"
    assert rest.rejections[0].label == (f"{bad.pupils[14].legal_first_name} "
                                        f"{bad.pupils[14].legal_last_name}")
    health = served.call("GetImportHealth", pb.GetImportHealthRequest(), served.admin(s))
    assert health.colour == "amber" and "rejected 3 rows" in health.reasons[0]


# ---- bad files ------------------------------------------------------------------------------

def stored_files(served, s) -> int:
    with school_scope(s), served.spec.db.read() as session:
        return session.execute(select(func.count()).select_from(ImportFile).where(
            ImportFile.school_id == s)).scalar_one()


@pytest.mark.parametrize(("data", "words"), [
    (BILLION_LAUGHS, "declares an entity"),
    (b'<?xml version="1.0"?><!DOCTYPE CTfile [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     b"<CTfile>&x;</CTfile>", "external entity"),
    (ctf_bytes(SCHOOL, version=19), "CTF version '19.0' is not supported"),
    (b"<Census><Header/></Census>", "not a CTF"),
])
def test_a_bad_ctf_is_refused_at_upload_and_not_kept(served, data, words):
    s = school()
    error = refused(lambda: served.upload(s, data))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in error.details()
    assert stored_files(served, s) == 0


def test_a_file_over_the_size_limit_is_refused(served):
    s = school()
    data = ctf_bytes(generate_school(seed=1, pupils=200))
    assert len(data) > MAX_BYTES
    error = refused(lambda: served.upload(s, data, chunk=150_000))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "too big" in error.details() and "0.4 MB" in error.details()
    assert stored_files(served, s) == 0


def test_malformed_xml_fails_the_run_with_where_and_imports_nothing(served):
    s = school()
    data = ctf_bytes(SCHOOL).replace(b"</Forename>", b"</Forname>", 20)
    run = served.start(s, served.upload(s, data).upload_id, full_extract=True)
    served.drain()
    got = served.get(s, run.id).run
    assert (got.status, got.processed) == ("failed", 0)
    assert "not well-formed XML" in got.error and got.error_location.startswith("line ")
    health = served.call("GetImportHealth", pb.GetImportHealthRequest(), served.admin(s))
    assert health.colour == "red" and "No MIS import has succeeded yet." in health.reasons


# ---- CSV ------------------------------------------------------------------------------------

def test_csv_mapping_and_import(served):
    s = school()
    token = served.admin(s)
    empty = served.call("GetCsvMapping", pb.GetCsvMappingRequest(entity="students"), token)
    assert not empty.saved
    padded = served.call("GetCsvMapping", pb.GetCsvMappingRequest(entity=" staff "), token)
    assert padded.mapping.entity == "staff" and "job_title" in [f.name for f in padded.fields]
    assert [f.name for f in empty.fields if f.required] == [
        "mis_id", "legal_first_name", "legal_last_name", "date_of_birth"]
    incomplete = refused(lambda: served.call("UpdateCsvMapping", pb.UpdateCsvMappingRequest(
        mapping=pb.CsvMapping(entity="students", columns={"mis_id": "Adno"})), token))
    assert incomplete.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "legal_first_name" in incomplete.details()
    saved = served.call("UpdateCsvMapping", pb.UpdateCsvMappingRequest(mapping=pb.CsvMapping(
        entity="students", columns=STUDENT_CSV_HEADERS, date_format="dmy")), token).mapping
    assert dict(saved.columns) == STUDENT_CSV_HEADERS
    data = students_csv_text(SCHOOL).encode("utf-8-sig")
    reply = served.upload(s, data, "pupils.csv")
    assert reply.kind == "csv" and list(reply.missing_columns) == []
    assert reply.csv_columns[0] == "Admission No" and reply.estimated_records == 30
    run = served.start(s, reply.upload_id, full_extract=True)
    served.drain()
    got = served.get(s, run.id).run
    assert got.status == "succeeded" and got.counts["created"] == 30
    assert got.source_details.csv_entity == "students"


def test_csv_missing_columns_and_wrong_encoding(served):
    s = school()
    token = served.admin(s)
    served.call("UpdateCsvMapping", pb.UpdateCsvMappingRequest(mapping=pb.CsvMapping(
        entity="students", columns=STUDENT_CSV_HEADERS, date_format="dmy")), token)
    headers = {k: v for k, v in STUDENT_CSV_HEADERS.items() if k != "date_of_birth"}
    lacking = served.upload(s, students_csv_text(SCHOOL, headers=headers).encode(), "p.csv")
    assert list(lacking.missing_columns) == ["DOB"]
    error = refused(lambda: served.start(s, lacking.upload_id))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "'DOB'" in error.details()
    text = students_csv_text(SCHOOL).replace(SCHOOL.pupils[20].legal_last_name, "Müller", 1)
    line = next(n for n, row in enumerate(text.split("\r\n"), 1) if "Müller" in row)
    latin = refused(lambda: served.upload(s, text.encode("cp1252"), "p.csv"))
    assert latin.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not UTF-8" in latin.details() and f"(line {line})" in latin.details()
    utf16 = refused(lambda: served.upload(s, students_csv_text(SCHOOL).encode("utf-16"),
                                          "p.csv"))
    assert utf16.code() == grpc.StatusCode.INVALID_ARGUMENT and "UTF-16" in utf16.details()


# ---- the JSON feed --------------------------------------------------------------------------

def test_a_feed_in_two_parts(served):
    s = school()
    token = served.integration(s)
    body = json.loads(feed_bytes(SCHOOL, school_id=s, attendance_since=dt.date(2026, 7, 1)))
    first = dict(body, students=body["students"][:10], attendance=[], contacts=[])
    second = dict(body, students=body["students"][10:], employees=[], groups=[])
    one = served.call("SubmitMisFeed", pb.SubmitMisFeedRequest(
        school_id=s, body=json.dumps(first).encode(), more_to_follow=True), token)
    assert (one.run.status, one.part) == ("receiving", 1)
    assert not served.worker.run_once()  # nothing to do until the last part arrives
    two = served.call("SubmitMisFeed", pb.SubmitMisFeedRequest(
        school_id=s, body=json.dumps(second).encode(), feed_run_id=one.run.id), token)
    assert (two.run.status, two.part) == ("queued", 2)
    served.drain()
    got = served.get(s, one.run.id, token=token).run  # the connector can watch its run
    assert got.status == "succeeded", got.error
    stranger = refused(lambda: served.get(s, one.run.id, token=served.integration(s)))
    assert stranger.code() == grpc.StatusCode.NOT_FOUND  # another client of the school
    assert got.counts["students_created"] == 30 and got.full_extract
    assert got.counts["staff_created"] == len(SCHOOL.staff)


def test_feed_refusals(served):
    s, other = school(), school()
    body = feed_bytes(SCHOOL, school_id=s, attendance=False)
    token = served.integration(s)

    def submit(request_school, payload, tok):
        return served.call("SubmitMisFeed", pb.SubmitMisFeedRequest(
            school_id=request_school, body=payload), tok)

    wrong_school = refused(lambda: submit(other, body, token))
    assert wrong_school.code() == grpc.StatusCode.PERMISSION_DENIED
    named_other = refused(lambda: submit(s, feed_bytes(SCHOOL, school_id=other,
                                                       attendance=False), token))
    assert named_other.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "another school" in named_other.details()
    for tok in (served.admin(s), served.integration(s, scope="incidents.write")):
        no_scope = refused(lambda tok=tok: submit(s, body, tok))
        assert no_scope.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "mis.import scope" in no_scope.details()
    broken = refused(lambda: submit(s, b'{"mode": "full", "students": [', token))
    assert broken.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not valid JSON" in broken.details()
    too_big = refused(lambda: submit(s, b" " * (MAX_BYTES + 1), token))
    assert too_big.code() == grpc.StatusCode.INVALID_ARGUMENT
    # An integration may feed and watch its runs, not use the admin pages.
    admin_only = refused(lambda: served.call("ListImportRuns", pb.ListImportRunsRequest(),
                                             token))
    assert admin_only.code() == grpc.StatusCode.PERMISSION_DENIED


# ---- settings, access -----------------------------------------------------------------------

def test_settings_set_the_health_thresholds(served):
    s = school()
    token = served.admin(s)
    defaults = served.call("GetImportSettings", pb.GetImportSettingsRequest(), token)
    assert (defaults.amber_after_hours, defaults.source_lea) == (0, "")
    bad = refused(lambda: served.call("UpdateImportSettings", pb.UpdateImportSettingsRequest(
        settings=pb.ImportSettings(amber_after_hours=48, red_after_hours=24)), token))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    saved = served.call("UpdateImportSettings", pb.UpdateImportSettingsRequest(
        settings=pb.ImportSettings(amber_after_hours=12, red_after_hours=24, source_lea="823",
                                   source_estab="4001")), token)
    assert (saved.amber_after_hours, saved.red_after_hours) == (12, 24)
    health = served.call("GetImportHealth", pb.GetImportHealthRequest(), token)
    assert (health.amber_after_hours, health.red_after_hours) == (12, 24)


@pytest.mark.parametrize(("access", "permissions"), [
    ("restricted", ("add_incidents",)),
    ("full", tuple(p for p in FULL_PERMISSIONS if p != "administration")),
])
def test_admin_rpcs_need_elevated_access_and_administration(served, access, permissions):
    s = school()
    token = served.tokens.token(school_id=s, access=access, permissions=permissions)
    calls = [
        ("UploadImportFile", pb.UploadImportFileRequest(filename="a.xml", content=b"<a/>")),
        ("CreateImportRun", pb.CreateImportRunRequest(upload_id="x")),
        ("ResumeImportRun", pb.ResumeImportRunRequest(run_id="x")),
        ("GetImportRun", pb.GetImportRunRequest(run_id="x")),
        ("GetCsvMapping", pb.GetCsvMappingRequest()),
        ("UpdateImportSettings", pb.UpdateImportSettingsRequest()),
    ]
    for method, request in calls:
        error = refused(lambda m=method, r=request: served.call(m, r, token))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, method


def test_another_schools_run_is_not_found(served):
    s, other = school(), school()
    run = served.start(s, served.upload(s, ctf_bytes(SCHOOL, pupils=SCHOOL.pupils[:2]))
                       .upload_id)
    error = refused(lambda: served.get(other, run.id))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    resume = refused(lambda: served.call("ResumeImportRun", pb.ResumeImportRunRequest(
        run_id=run.id), served.admin(s)))
    assert resume.code() == grpc.StatusCode.FAILED_PRECONDITION  # queued: nothing to resume
    served.drain()
