"""GetOverview over real gRPC, on SQLite and on PostgreSQL, with a fake records on port 0."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from haven.records.v1 import records_pb2
from haven.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting.grpc_api import ReportingServicer
from services.reporting.records_client import RecordsAccessScope, records_client
from shared.grpc.server import build_server
from shared.service import start_api
from shared.testing import FULL_PERMISSIONS, postgres_database

from .conftest import make_harness, stop_harness

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                                marks=pytest.mark.integration)])
def served(request, tmp_path_factory):
    """One reporting service per backend; every test uses schools and accounts of its own."""
    if request.param == "postgresql":
        cm = postgres_database("haven_reporting")
        url = cm.__enter__()
    else:
        cm, url = None, f"sqlite:///{tmp_path_factory.mktemp('reporting')}/reporting.db"
    h = make_harness(url)
    running = start_api(h.spec, port=0, host="127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{running.ports['reporting']}")
    yield h, reporting_pb2_grpc.ReportingServiceStub(channel)
    channel.close()
    running.stop()
    stop_harness(h)
    if cm is not None:
        cm.__exit__(None, None, None)


def ts(moment: dt.datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(moment.replace(tzinfo=dt.UTC))
    return out


class School:
    """A fresh school with its categories, and a caller who may see some of them."""

    def __init__(self, h) -> None:
        self.h = h
        self.id = str(uuid.uuid4())
        self.account = str(uuid.uuid4())

    def token(self, **kw):
        kw.setdefault("school_id", self.id)
        kw.setdefault("account_id", self.account)
        return self.h.tokens.token(**kw)


def overview(stub, token, start=None, end=None):
    request = reporting_pb2.GetOverviewRequest()
    if start is not None:
        getattr(request, "from").CopyFrom(ts(start))
    if end is not None:
        request.to.CopyFrom(ts(end))
    return stub.GetOverview(request, metadata=[("authorization", f"Bearer {token}")])


def counts(reply):
    return {c.name: c.incidents for c in reply.categories}


@pytest.fixture()
def school(served):
    h, _ = served
    s = School(h)
    s.bullying = h.category(s.id, "Bullying")
    s.attendance = h.category(s.id, "Attendance")
    s.medical = h.category(s.id, "Medical")  # viewable, enabled, no incidents
    s.old = h.category(s.id, "Old category", enabled=False)
    s.retired = h.category(s.id, "Retired", enabled=False)  # disabled, no incidents
    s.hidden = h.category(s.id, "Child protection")  # not viewable by the caller
    h.incident(s.id, [s.bullying], NOW - 3 * DAY)
    h.incident(s.id, [s.bullying, s.attendance], NOW - 2 * DAY)  # counts once in the total
    h.incident(s.id, [s.attendance], NOW - 40 * DAY)
    h.incident(s.id, [s.old], NOW - 5 * DAY)
    h.incident(s.id, [s.hidden], NOW - 1 * DAY)
    h.incident(s.id, [s.hidden, s.bullying], NOW - 1 * DAY)
    h.incident(s.id, [s.bullying], NOW - 400 * DAY)  # older than the default year
    h.records.allow(s.account, [s.bullying, s.attendance, s.medical, s.old, s.retired])
    return s


def test_counts_per_viewable_category_with_zeros_and_a_distinct_total(served, school):
    _, stub = served
    reply = overview(stub, school.token())
    assert counts(reply) == {"Attendance": 2, "Bullying": 3, "Medical": 0, "Old category": 1}
    assert reply.total_incidents == 5  # 6 in the year; the hidden-only one is not counted
    bullying = next(c for c in reply.categories if c.name == "Bullying")
    assert (bullying.category_id, bullying.colour, bullying.enabled) == (
        school.bullying, "aa3355", True)
    assert [c.name for c in reply.categories] == sorted(counts(reply))
    window = getattr(reply, "from").ToDatetime(), reply.to.ToDatetime()
    assert dt.timedelta(days=364) < window[1] - window[0] < dt.timedelta(days=367)
    assert school.account in school.h.records.callers  # records was asked with our token


def test_the_window_is_respected(served, school):
    _, stub = served
    token = school.token()
    week = overview(stub, token, start=NOW - 7 * DAY, end=NOW)
    assert counts(week) == {"Attendance": 1, "Bullying": 3, "Medical": 0, "Old category": 1}
    assert week.total_incidents == 4
    exact = overview(stub, token, start=NOW - 2 * DAY, end=NOW - 2 * DAY + dt.timedelta(seconds=1))
    assert exact.total_incidents == 1  # the start is included ...
    before = overview(stub, token, start=NOW - 3 * DAY, end=NOW - 2 * DAY)
    assert before.total_incidents == 1  # ... the end is not
    long_ago = overview(stub, token, start=NOW - 500 * DAY, end=NOW - 300 * DAY)
    assert counts(long_ago) == {"Attendance": 0, "Bullying": 1, "Medical": 0}
    with pytest.raises(grpc.RpcError) as backwards:
        overview(stub, token, start=NOW, end=NOW - DAY)
    assert backwards.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_categories_the_caller_cannot_view_are_left_out(served, school):
    h, stub = served
    narrow = str(uuid.uuid4())
    h.records.allow(narrow, [school.hidden])
    reply = overview(stub, school.token(account_id=narrow))
    assert counts(reply) == {"Child protection": 2}
    assert reply.total_incidents == 2
    nobody = str(uuid.uuid4())
    h.records.allow(nobody, [])
    empty = overview(stub, school.token(account_id=nobody))
    assert (list(empty.categories), empty.total_incidents) == ([], 0)


@pytest.mark.parametrize(
    ("access", "permissions"),
    [
        ("restricted", ("add_incidents",)),
        ("full", tuple(p for p in FULL_PERMISSIONS if p != "run_reports")),
    ],
)
def test_callers_without_elevated_access_or_run_reports_are_refused(served, school, access,
                                                                    permissions):
    h, stub = served
    before = len(h.records.callers)
    with pytest.raises(grpc.RpcError) as refused:
        overview(stub, school.token(access=access, permissions=permissions))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert len(h.records.callers) == before  # refused before asking records


def test_refused_when_records_says_the_caller_lacks_full_access(served, school):
    h, stub = served
    h.records.allow(school.account, [school.bullying], full_access=False)
    with pytest.raises(grpc.RpcError) as refused:
        overview(stub, school.token())
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_schools_never_see_each_other(served, school):
    h, stub = served
    other = School(h)
    # the other school uses the same category id (keys are per school) and more incidents
    h.category(other.id, "Bullying", category_id=school.bullying)
    foreign = h.category(other.id, "Their category")
    for _ in range(4):
        h.incident(other.id, [school.bullying, foreign], NOW - DAY)
    # a scope naming the other school's categories adds nothing to ours
    h.records.allow(school.account, [school.bullying, foreign])
    reply = overview(stub, school.token())
    assert counts(reply) == {"Bullying": 3}
    assert reply.total_incidents == 3
    h.records.allow(other.account, [school.bullying, foreign])
    theirs = overview(stub, other.token())
    assert counts(theirs) == {"Bullying": 4, "Their category": 4}
    assert theirs.total_incidents == 4


def test_unavailable_when_records_cannot_be_asked(served, school):
    h, _ = served
    dead = records_client("127.0.0.1:1", timeout=0.5)
    servicer = ReportingServicer(h.spec.db, RecordsAccessScope(dead))
    server, port, _ = build_server(
        service="reporting-test", port=0, host="127.0.0.1",
        register=[lambda s: reporting_pb2_grpc.add_ReportingServiceServicer_to_server(
            servicer, s)],
        service_names=[], verifier=h.tokens.verifier(),
    )
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
            pytest.raises(grpc.RpcError) as unavailable,
        ):
            overview(reporting_pb2_grpc.ReportingServiceStub(channel), school.token())
        assert unavailable.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(None)
        dead.close()


def test_deleted_and_merged_incidents_drop_out_and_a_restore_brings_them_back(served, school):
    h, stub = served
    token = school.token()
    iid = h.incident(school.id, [school.medical], NOW - DAY)
    other = h.incident(school.id, [school.medical, school.attendance], NOW - DAY)
    assert counts(overview(stub, token))["Medical"] == 2
    total = overview(stub, token).total_incidents
    h.update(school.id, iid, [school.medical], NOW - DAY, version=2, updated_at=NOW,
             deleted=True, change="deleted")
    reply = overview(stub, token)
    assert (counts(reply)["Medical"], reply.total_incidents) == (1, total - 1)
    h.update(school.id, iid, [school.medical], NOW - DAY, version=3,
             updated_at=NOW + dt.timedelta(seconds=1), change="restored")
    reply = overview(stub, token)
    assert (counts(reply)["Medical"], reply.total_incidents) == (2, total)
    # merged into another incident (it is now an action of that one): counted there only
    h.update(school.id, iid, [school.medical], NOW - DAY, version=4,
             updated_at=NOW + dt.timedelta(seconds=2), merged_into=other, change="merged")
    reply = overview(stub, token)
    assert (counts(reply)["Medical"], reply.total_incidents) == (1, total - 1)
    # edited to another time and category: counted where and when it now is
    h.update(school.id, other, [school.bullying], NOW - 500 * DAY, version=2, updated_at=NOW)
    reply = overview(stub, token)
    assert (counts(reply)["Medical"], counts(reply)["Attendance"]) == (0, 2)
    assert reply.total_incidents == total - 2


def test_a_category_merge_moves_its_counts_and_a_deleted_category_leaves(served, school):
    h, stub = served
    token = school.token()
    before = counts(overview(stub, token))
    assert (before["Attendance"], before["Bullying"]) == (2, 3)
    total = overview(stub, token).total_incidents
    h.merge(school.id, school.attendance, school.bullying)
    for category_id, name in ((school.attendance, "Attendance"), (school.medical, "Medical")):
        h.handle("records.category.upserted", records_pb2.CategoryUpserted(
            category_id=category_id, school_id=school.id, name=name, deleted=True),
            school_id=school.id)
    reply = overview(stub, token)
    # the incident in both counts once in the target; the total is unchanged
    assert counts(reply) == {"Bullying": 4, "Old category": 1}
    assert reply.total_incidents == total
