"""The MIS staff list (``mis.staff.upserted``): the New User list, users named as the MIS
names them, and users disabled when they no longer appear in the extracts."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from haven.identity.v1 import identity_pb2 as pb
from haven.mis_import.v1 import mis_import_pb2 as mis
from services.identity.seed import DEMO_SCHOOL_ID, TEACHERS_GROUP_ID
from services.identity.tests.conftest import OTHER_SCHOOL_ID, refused
from services.identity.tests.test_users_admin import ADMIN, TEACHER2, TEACHER2_ID
from shared.events import make_envelope


def staff(mis_id: str, first: str, last: str, *, email: str = "", permanent: bool = True,
          start: str = "2020-09-01", end: str = "", present: bool = True,
          legal: tuple[str, str] = ("", ""), school_id: str = DEMO_SCHOOL_ID,
          as_of: dt.datetime | None = None) -> mis.StaffUpserted:
    message = mis.StaffUpserted(
        school_id=school_id, mis_id=mis_id, title="Ms", first_name=first, last_name=last,
        legal_first_name=legal[0], legal_last_name=legal[1],
        email=email or f"{first.lower()}.{last.lower()}@demo.haven.test",
        job_title="Teacher of Maths", permanent=permanent, start_date=start, end_date=end,
        present_in_extract=present, import_run_id="run-1")
    message.as_of.FromDatetime(as_of or dt.datetime(2026, 1, 5, 7, 0))
    return message


def deliver(identity, message: mis.StaffUpserted, school_id: str = DEMO_SCHOOL_ID) -> None:
    [consumer] = identity.spec.consumers
    envelope = make_envelope("mis.staff.upserted", message, school_id=school_id,
                             actor="system:mis_import")
    consumer.handle(envelope.SerializeToString())


@pytest.fixture()
def admin(identity):
    token, _secret = identity.elevated(ADMIN)
    return token


def candidates(identity, token) -> list[str]:
    return [s.display_name for s in
            identity.call("ListMisStaff", pb.ListMisStaffRequest(), token).staff]


def test_the_new_user_list_offers_permanent_current_staff_only(identity, admin):
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    for message in (
        staff("S1", "Amy", "Archer"),
        staff("S2", "Ben", "Baker", permanent=False),
        staff("S3", "Cat", "Cole", start=future),
        staff("S4", "Dan", "Dale", end="2024-07-31"),
        staff("S5", "Eve", "Evans", present=False),
        staff("S6", "Fay", "Fox", email="teacher1@demo.haven.test"),  # already a user
        staff("S7", "Gus", "Gray", school_id=OTHER_SCHOOL_ID),  # another school's MIS
    ):
        deliver(identity, message, school_id=message.school_id)
    assert candidates(identity, admin) == ["Amy Archer"]
    [amy] = identity.call("ListMisStaff", pb.ListMisStaffRequest(), admin).staff
    assert (amy.mis_id, amy.email, amy.job_title) == (
        "S1", "amy.archer@demo.haven.test", "Teacher of Maths")
    # The same record again changes nothing; an older extract delivered late does not win.
    deliver(identity, staff("S1", "Amy", "Archer"))
    deliver(identity, staff("S1", "Amelia", "Archer", as_of=dt.datetime(2025, 1, 1)))
    assert candidates(identity, admin) == ["Amy Archer"]


def test_a_new_user_from_the_mis_list(identity, admin):
    deliver(identity, staff("S1", "Amy", "Archer", legal=("Amelia", "Archer")))
    user = identity.call("CreateUser", pb.CreateUserRequest(
        mis_id="S1", email="amy.archer@demo.haven.test", user_group_id=TEACHERS_GROUP_ID,
        send_password_email=True), admin)
    assert (user.display_name, user.from_mis, user.job_title) == (
        "Amy Archer", True, "Teacher of Maths")
    assert candidates(identity, admin) == []
    assert refused(identity.call, "CreateUser", pb.CreateUserRequest(
        mis_id="S1", email="amy2@demo.haven.test", user_group_id=TEACHERS_GROUP_ID),
        admin).code() == grpc.StatusCode.ALREADY_EXISTS
    # "Use legal names": the school's MIS users are renamed (and announced).
    identity.call("UpdateSchoolSettings", pb.SchoolSettings(
        use_legal_names=True, idle_timeout_minutes=15), admin)
    renamed = identity.call("GetUser", pb.GetUserRequest(account_id=user.account_id),
                            admin).user
    assert renamed.display_name == "Amelia Archer"
    event = identity.events("identity.account.upserted", pb.AccountUpserted)[-1]
    assert (event.account_id, event.display_name) == (user.account_id, "Amelia Archer")


def test_users_missing_from_the_extracts_are_disabled_when_the_school_asks(identity, admin):
    # Tess is matched to her MIS record by email.
    deliver(identity, staff("T2", "Tess", "Tutor", email=TEACHER2))
    live = identity.login(TEACHER2)
    deliver(identity, staff("T2", "Tess", "Tutor", email=TEACHER2, present=False,
                            as_of=dt.datetime(2026, 2, 1)))
    assert identity.refresh(live.session_id).access == "restricted"  # setting off: kept
    identity.call("UpdateSchoolSettings", pb.SchoolSettings(
        disable_missing_from_mis=True, idle_timeout_minutes=15), admin)
    deliver(identity, staff("T2", "Tess", "Tutor", email=TEACHER2, present=False,
                            as_of=dt.datetime(2026, 2, 2)))
    user = identity.call("GetUser", pb.GetUserRequest(account_id=TEACHER2_ID), admin).user
    assert (user.active, user.from_mis) == (False, True)
    assert refused(identity.refresh, live.session_id).code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused(identity.login, TEACHER2).code() == grpc.StatusCode.PERMISSION_DENIED
    event = identity.events("identity.account.upserted", pb.AccountUpserted)[-1]
    assert (event.account_id, event.active) == (TEACHER2_ID, False)
    # An SSO account is never renamed by one school's MIS.
    deliver(identity, staff("SAM", "Samuel", "Supply", email="supply@haven.test"))
    assert "Sam Supply" in [u.display_name for u in identity.call(
        "ListUsers", pb.ListUsersRequest(), admin).users]


def test_an_event_naming_another_school_than_its_envelope_is_ignored(identity, admin):
    deliver(identity, staff("X1", "Xena", "Xu", school_id=OTHER_SCHOOL_ID),
            school_id=DEMO_SCHOOL_ID)
    assert candidates(identity, admin) == []
