"""A link to one entry of a long chronology (an alert, "back to the incident") opens the page
that holds it; an entry the caller may not see there changes nothing."""

from __future__ import annotations

import pytest

from haven.records.v1 import records_pb2 as pb
from services.records import chronology as reading
from services.records.app import MIGRATIONS
from services.records.audit import unit_of_work
from services.records.models import AuditEntry
from services.records.tests.factories import build_world
from services.records.tests.test_chronology_paging import _make_25, _pages
from services.records.tests.test_incidents import create
from shared.context import acting_as
from shared.db import Database, run_migrations
from shared.testing import FULL_PERMISSIONS, postgres_database

UNKNOWN = "00000000-0000-4000-8000-0000000000ff"


def _chronology(served, claims, student_id, size, highlight="", token=""):
    return served.call("GetChronology", pb.GetChronologyRequest(
        student_id=student_id, limit=size, highlight_incident_id=highlight,
        page_token=token), claims)


def test_every_entry_opens_the_page_that_holds_it(served):
    w = served.world
    hannah = w.a.students["hannah"]
    _make_25(w)
    pages = _pages(served, w.dsl(), hannah, 10)
    assert [len(p) for p in pages] == [10, 10, 5]
    for number, page in enumerate(pages):
        for incident_id in page:
            reply = _chronology(served, w.dsl(), hannah, 10, highlight=incident_id)
            assert [i.id for i in reply.incidents] == page
            assert bool(reply.page_token) == (number > 0)
            if number < len(pages) - 1:  # the older entries follow on as usual
                older = _chronology(served, w.dsl(), hannah, 10, token=reply.next_page_token)
                assert [i.id for i in older.incidents] == pages[number + 1]
            else:
                assert not reply.next_page_token
            if number:  # the page's own link gives the same page again
                again = _chronology(served, w.dsl(), hannah, 10, token=reply.page_token)
                assert [i.id for i in again.incidents] == page
    # one audit entry per view, as for any page
    assert w.count(AuditEntry, action="student.chronology.viewed",
                   student_id=hannah) == 3 + 25 + 20 + 15


def test_pages_of_a_caller_with_fewer_categories_count_only_what_they_see(served):
    w = served.world
    hannah = w.a.students["hannah"]
    _make_25(w)
    pages = _pages(served, w.pastoral(), hannah, 4)
    assert len(pages) > 2
    last = pages[-1][-1]
    reply = _chronology(served, w.pastoral(), hannah, 4, highlight=last)
    assert [i.id for i in reply.incidents] == pages[-1] and reply.page_token


def test_an_explicit_page_wins_over_the_highlight(served):
    w = served.world
    hannah = w.a.students["hannah"]
    _make_25(w)
    pages = _pages(served, w.dsl(), hannah, 10)
    second = _chronology(served, w.dsl(), hannah, 10).next_page_token
    reply = _chronology(served, w.dsl(), hannah, 10, highlight=pages[2][0], token=second)
    assert [i.id for i in reply.incidents] == pages[1] and reply.page_token == second


def _without_edit(w):
    return w.keyholder(w.a.pastoral, w.a.dsl_group, name="Reader", permissions=tuple(
        p for p in FULL_PERMISSIONS if p not in ("edit_incidents", "administration")))


def test_an_entry_the_caller_may_not_see_there_gives_the_first_page_as_if_unknown(served):
    w = served.world
    a = w.a
    hannah, matthew = a.students["hannah"], a.students["matthew"]
    ids = _make_25(w)
    pastoral_order = [x for p in _pages(served, w.pastoral(), hannah, 1000) for x in p]
    dsl_order = [x for p in _pages(served, w.dsl(), hannah, 1000) for x in p]
    hidden = [x for x in reversed(dsl_order) if x not in pastoral_order][0]  # Child Protection
    assert dsl_order.index(hidden) >= 4  # not on the first page anyway
    matthews = create(w, w.teacher(), student_id=matthew, text="matthew's").incident.id
    b = w.b
    other_school = create(w, w.teacher(b), student_id=b.students["hannah"], text="elsewhere",
                          category_ids=[b.categories["Bullying"]], alert_account_ids=[]
                          ).incident.id
    deleted = [x for x in reversed(dsl_order) if x in pastoral_order][0]
    served.call("DeleteIncident", pb.DeleteIncidentRequest(incident_id=deleted,
                                                           reason="entered twice"), w.dsl())
    reader = _without_edit(w)
    first = {}
    for claims, name in ((w.pastoral(), "pastoral"), (reader, "reader")):
        plain = _chronology(served, claims, hannah, 4)
        first[name] = ([i.id for i in plain.incidents], plain.next_page_token)
    cases = [(w.pastoral(), "pastoral", hidden), (w.pastoral(), "pastoral", matthews),
             (w.pastoral(), "pastoral", other_school), (w.pastoral(), "pastoral", UNKNOWN),
             (w.pastoral(), "pastoral", "not an id at all" * 9), (reader, "reader", deleted)]
    for claims, name, highlight in cases:
        reply = _chronology(served, claims, hannah, 4, highlight=highlight)
        assert ([i.id for i in reply.incidents], reply.next_page_token) == first[name]
        assert reply.page_token == ""
    # an editor sees the deleted entry as a marker, on its page
    reply = _chronology(served, w.dsl(), hannah, 4, highlight=deleted)
    assert deleted in [i.id for i in reply.incidents if i.deleted]
    assert reply.page_token and len(ids) == 25


def test_a_highlight_refused_chronology_is_refused_as_before(served):
    w = served.world
    hannah = w.a.students["hannah"]
    ids = _make_25(w)
    refused = served.refused("GetChronology", pb.GetChronologyRequest(
        student_id=hannah, highlight_incident_id=ids[0]), w.teacher())
    assert refused[0].name == "PERMISSION_DENIED"


@pytest.fixture()
def pg_world(tokens):
    with postgres_database("haven_records_highlight") as url:
        run_migrations(url, MIGRATIONS)
        db = Database(url)
        yield build_world(db, tokens)
        db.dispose()


@pytest.mark.integration
def test_the_highlighted_page_on_postgres(pg_world):
    w = pg_world
    hannah = w.a.students["hannah"]
    _make_25(w)

    def page(claims, size, token="", highlight=""):
        with acting_as(claims), unit_of_work(w.db, "student.chronology") as s:
            got = reading.get_chronology(s, hannah, limit=size, page_token=token,
                                         highlight_incident_id=highlight)
            return [v.incident.id for v in got.incidents], got.next_page_token, got.page_token

    for claims in (w.dsl(), w.pastoral()):
        pages, token = [], ""
        while True:
            ids, token, _ = page(claims, 3, token)
            pages.append(ids)
            if not token:
                break
        for number, ids in enumerate(pages):
            for incident_id in ids:
                got, _next, served_token = page(claims, 3, highlight=incident_id)
                assert got == ids and bool(served_token) == (number > 0)
    hidden = next(x for p in page(w.dsl(), 1000)[:1] for x in p
                  if x not in page(w.pastoral(), 1000)[0])
    assert page(w.pastoral(), 3, highlight=hidden) == page(w.pastoral(), 3)
