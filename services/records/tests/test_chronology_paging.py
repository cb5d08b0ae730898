"""Paging a chronology: keyset tokens over pinned first, then newest by when it happened."""

from __future__ import annotations

import datetime as dt

import grpc
from sqlalchemy import update

from haven.records.v1 import records_pb2 as pb
from services.records import editing
from services.records.models import Incident
from services.records.tests.test_incidents import create
from services.records.tests.test_reading import run
from shared.db import utcnow


def _make_25(world) -> list[str]:
    """25 incidents of Hannah: 2 pinned, several sharing one occurred_at (and created_at)."""
    a = world.a
    base = utcnow().replace(microsecond=0) - dt.timedelta(days=40)
    tie = base + dt.timedelta(days=20)
    cats = [[a.categories["Bullying"]], [a.categories["Child Protection"]]]
    ids = []
    for n in range(25):
        occurred = tie if n % 3 == 0 else base + dt.timedelta(days=n)
        ids.append(create(world, world.teacher(), text=f"concern {n}", occurred_at=occurred,
                          category_ids=cats[n % 2]).incident.id)
    with world.db.transaction() as s:  # ties down to created_at: only the id decides
        s.execute(update(Incident).where(Incident.id.in_(ids[:9:3])).values(
            created_at=tie))
    for pinned in (ids[3], ids[10]):  # one inside the tie, one not
        run(world, world.dsl(), editing.pin_incident, incident_id=pinned, pinned=True)
    return ids


def _pages(served, claims, student_id, size):
    pages, token = [], ""
    while True:
        reply = served.call("GetChronology", pb.GetChronologyRequest(
            student_id=student_id, limit=size, page_token=token), claims)
        pages.append([i.id for i in reply.incidents])
        token = reply.next_page_token
        if not token:
            return pages
        assert len(pages) <= 25


def test_pages_cover_the_chronology_once_in_the_same_order(served):
    w = served.world
    hannah = w.a.students["hannah"]
    ids = _make_25(w)
    whole = served.call("GetChronology", pb.GetChronologyRequest(student_id=hannah, limit=1000),
                        w.dsl())
    assert not whole.next_page_token
    order = [i.id for i in whole.incidents]
    assert sorted(order) == sorted(ids)
    assert order[:2] == [ids[10], ids[3]] or order[:2] == [ids[3], ids[10]]
    pages = _pages(served, w.dsl(), hannah, 10)
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [x for p in pages for x in p] == order
    for size in (1, 3):  # every boundary, inside the ties too
        assert [x for p in _pages(served, w.dsl(), hannah, size) for x in p] == order
    # exactly one page's worth: no token pointing at an empty page
    assert [len(p) for p in _pages(served, w.dsl(), hannah, 25)] == [25]


def test_later_pages_keep_every_filter_of_the_caller(served):
    w = served.world
    hannah = w.a.students["hannah"]
    _make_25(w)
    whole = [i.id for i in served.call("GetChronology", pb.GetChronologyRequest(
        student_id=hannah, limit=1000), w.pastoral()).incidents]
    assert 0 < len(whole) < 25  # pastoral may not view Child Protection
    assert [x for p in _pages(served, w.pastoral(), hannah, 4) for x in p] == whole


def test_a_bad_or_foreign_page_token_is_refused(served):
    w = served.world
    hannah, matthew = w.a.students["hannah"], w.a.students["matthew"]
    _make_25(w)
    create(w, w.teacher(), student_id=matthew, text="matthew's")
    token = served.call("GetChronology", pb.GetChronologyRequest(
        student_id=hannah, limit=10), w.dsl()).next_page_token
    assert token
    for bad in ("nonsense!", "bm90IGpzb24", token[:-3], "A" * 500):
        assert served.refused("GetChronology", pb.GetChronologyRequest(
            student_id=hannah, page_token=bad), w.dsl()) == (
            grpc.StatusCode.INVALID_ARGUMENT, "That page link is not valid.")
    # a token from Hannah's chronology does not open (any part of) Matthew's
    assert served.refused("GetChronology", pb.GetChronologyRequest(
        student_id=matthew, page_token=token), w.dsl()) == (
        grpc.StatusCode.INVALID_ARGUMENT, "That page link is not valid.")
    # and it gives a restricted caller nothing
    code, _ = served.refused("GetChronology", pb.GetChronologyRequest(
        student_id=hannah, page_token=token), w.teacher())
    assert code == grpc.StatusCode.PERMISSION_DENIED
