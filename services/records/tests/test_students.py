"""Finding students: any part of a name, archived on request, one school only, by access."""

from __future__ import annotations

import pytest

from services.records import students
from services.records.audit import unit_of_work
from services.records.models import AuditEntry
from shared.context import acting_as
from shared.errors import NotFound, PermissionDenied


def search(world, claims, query="", **kw):
    with acting_as(claims), unit_of_work(world.db, "student.search") as s:
        return students.search_students(s, query=query, **kw)


def names(cards):
    return [f"{c.first_name} {c.last_name}" for c in cards]


def test_finds_any_part_of_first_last_or_preferred_name_case_insensitively(world):
    dsl = world.dsl()
    assert names(search(world, dsl, "GREEN")) == ["Hannah Greenwood", "Matthew Greenwood"]
    assert names(search(world, dsl, "nnah")) == ["Hannah Greenwood"]
    assert names(search(world, dsl, "dani")) == ["Danielle Bradshaw"]
    assert names(search(world, dsl, "matt")) == ["Matthew Greenwood"]  # preferred or first
    assert names(search(world, dsl, "hannah green")) == ["Hannah Greenwood"]  # every word
    assert names(search(world, dsl, "%")) == []  # wildcards are literal
    assert search(world, dsl, "nobody") == []


def test_archived_students_only_when_asked(world):
    dsl = world.dsl()
    assert "Oliver Greenhalgh" not in names(search(world, dsl, "green"))
    found = search(world, dsl, "green", include_archived=True)
    assert "Oliver Greenhalgh" in names(found)
    assert [c.archived for c in found if c.first_name == "Oliver"] == [True]


def test_a_school_never_sees_another_schools_students(world):
    assert names(search(world, world.dsl(), "hannah")) == ["Hannah Greenwood"]
    assert names(search(world, world.dsl(world.b), "hannah")) == ["Hannah Brook"]
    assert names(search(world, world.dsl(world.b), "green", include_archived=True)) == []


def test_limit_defaults_to_20_and_caps_at_100(world):
    from services.records.models import Student

    with acting_as(world.dsl()), world.db.transaction() as s:
        for i in range(120):
            s.add(Student(school_id=world.a.id, first_name=f"Zed{i:03d}", last_name="Many"))
    assert len(search(world, world.dsl(), "many")) == 20
    assert len(search(world, world.dsl(), "many", limit=500)) == 100
    assert len(search(world, world.dsl(), "many", limit=5)) == 5


def test_restricted_callers_get_names_and_groups_only(world):
    cards = search(world, world.teacher(), "hannah", include_archived=True)
    assert len(cards) == 1
    card = cards[0]
    assert (card.first_name, card.last_name, card.tutor_group, card.year_group) == (
        "Hannah", "Greenwood", "8B", "Year 8")
    assert card.restricted
    assert card.date_of_birth is None and card.upn == "" and card.gender == ""
    assert card.monitored_category_ids == []
    # They pick one by name: no browsing the roll, and never an archived student.
    assert search(world, world.teacher(), "") == []
    assert search(world, world.teacher(), "greenhalgh", include_archived=True) == []


def test_full_callers_see_the_whole_card(world):
    (card,) = search(world, world.dsl(), "hannah")
    assert not card.restricted
    assert card.date_of_birth is not None and card.gender == "F"
    assert len(search(world, world.dsl(), "")) == 3  # elevated callers may list the roll


def test_a_caller_without_any_student_permission_is_refused(world):
    nobody = world.tokens.claims(school_id=world.a.id, access="restricted", permissions=())
    with pytest.raises(PermissionDenied):
        search(world, nobody, "hannah")
    assert world.count(AuditEntry, action="access.denied") == 1


def test_get_student_by_shape_and_school(world):
    hannah = world.a.students["hannah"]
    with acting_as(world.dsl()), unit_of_work(world.db, "student.view") as s:
        assert students.get_student(s, hannah).date_of_birth is not None
    with acting_as(world.teacher()), unit_of_work(world.db, "student.view") as s:
        assert students.get_student(s, hannah).date_of_birth is None
    with pytest.raises(NotFound), acting_as(world.dsl(world.b)), unit_of_work(
        world.db, "student.view"
    ) as s:
        students.get_student(s, hannah)
    with pytest.raises(NotFound), acting_as(world.teacher()), unit_of_work(
        world.db, "student.view"
    ) as s:
        students.get_student(s, world.a.students["leaver"])
    assert world.count(AuditEntry, action="access.denied") == 2
    assert world.count(AuditEntry, action="student.viewed") == 1
