"""IdentityService over real gRPC (SQLite): login, elevation, refresh, logout, staff lists."""

from __future__ import annotations

import json

import grpc
import pytest
from joserfc import jws, jwt
from sqlalchemy import select

from haven.identity.v1 import identity_pb2
from services.identity import operations
from services.identity.models import LoginSession, SecurityLogEntry
from services.identity.seed import (
    DEMO_PASSWORD,
    DEMO_SCHOOL_ID,
    DEMO_TOTP_SECRETS,
    DSL_GROUP_ID,
    TEACHERS_GROUP_ID,
)
from services.identity.tests.conftest import (
    BOTH_SCHOOLS,
    OTHER_DSL,
    OTHER_SCHOOL_ID,
    OTHER_TEACHER,
    bearer,
)
from shared.auth import TokenVerifier
from shared.service import identity_jwks_fetcher
from shared.testing import FULL_PERMISSIONS

DSL = "dsl@demo.haven.test"
ADMIN = "admin@demo.haven.test"
TEACHER1 = "teacher1@demo.haven.test"
TEACHER2 = "teacher2@demo.haven.test"
CLAIMS = {"iss", "aud", "sub", "sid", "school", "grp", "acr", "access", "perms", "name", "iat",
          "exp"}


def log_rows(identity, **where) -> list[SecurityLogEntry]:
    with identity.db.read() as s:
        query = select(SecurityLogEntry).order_by(SecurityLogEntry.at)
        for key, value in where.items():
            query = query.where(getattr(SecurityLogEntry, key) == value)
        rows = list(s.scalars(query))
        s.expunge_all()
        return rows


def refused(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value


# ---- login --------------------------------------------------------------------------------


def test_login_gives_a_restricted_token_other_services_can_verify(identity):
    reply = identity.login(" DSL@Demo.Haven.Test ")
    assert reply.display_name == "Dana Lead"
    assert reply.school_id == DEMO_SCHOOL_ID
    assert reply.school_name == "Haven Demo Academy"
    assert reply.can_elevate is True
    assert reply.expires_in == 600
    assert len(reply.session_id) >= 43

    # As any other service does: JWKS over gRPC, then verify locally.
    verifier = TokenVerifier(identity_jwks_fetcher(identity.addr))
    claims = verifier.verify(reply.access_token)
    assert claims.account_id == "00000000-0000-4000-8000-000000000102"
    assert claims.school_id == DEMO_SCHOOL_ID
    assert claims.user_group_id == DSL_GROUP_ID
    assert (claims.acr, claims.access) == ("pwd", "restricted")
    assert claims.permissions == {"add_incidents"}
    assert claims.name == "Dana Lead"

    header = jwt.decode(reply.access_token, _keys(identity)).header
    payload = jwt.decode(reply.access_token, _keys(identity)).claims
    assert header["alg"] == "ES256" and header["kid"]
    assert set(payload) == CLAIMS
    assert payload["exp"] - payload["iat"] == 600
    assert (payload["iss"], payload["aud"]) == ("haven-identity", "haven")
    # The token names the session by its public id, never by the secret the client holds.
    assert payload["sid"] != reply.session_id
    with identity.db.read() as s:
        row = s.get(LoginSession, payload["sid"])
        assert row.secret_hash != reply.session_id and row.client_ip == "192.0.2.10"
    [ok] = log_rows(identity, event="login_ok")
    assert (ok.account_id, ok.school_id, ok.client_ip) == (claims.account_id, DEMO_SCHOOL_ID,
                                                           "192.0.2.10")


def _keys(identity):
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(json.loads(identity.stub.GetJwks(
        identity_pb2.GetJwksRequest()).jwks_json))


def test_teacher_cannot_elevate_and_has_restricted_access(identity):
    reply = identity.login(TEACHER1)
    assert reply.can_elevate is False
    error = refused(identity.elevate, reply.session_id, "123456")
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_wrong_password_and_unknown_email_get_the_same_answer_and_are_logged(identity):
    wrong = refused(identity.login, DSL, "not-the-password", ip="198.51.100.7")
    unknown = refused(identity.login, "nobody@demo.haven.test", DEMO_PASSWORD,
                      ip="198.51.100.7")
    assert wrong.code() == unknown.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong.details() == unknown.details() == "Email or password is incorrect."
    failed = log_rows(identity, event="login_failed")
    assert [(r.email, r.detail) for r in failed] == [
        (DSL, "wrong password"), ("nobody@demo.haven.test", "unknown email")
    ]
    assert failed[0].account_id and failed[0].school_id == DEMO_SCHOOL_ID
    assert failed[1].account_id is None and failed[1].school_id == ""
    assert all(r.client_ip == "198.51.100.7" and r.factor == "password" for r in failed)
    assert refused(identity.login, "", "x").code() == grpc.StatusCode.INVALID_ARGUMENT


def test_five_failures_for_one_email_throttle_it_even_with_the_right_password(identity):
    for i in range(5):
        error = refused(identity.login, TEACHER1, f"wrong-{i}", ip=f"203.0.113.{i}")
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    error = refused(identity.login, TEACHER1, DEMO_PASSWORD, ip="203.0.113.99")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "Too many failed login attempts" in error.details()
    assert "15 minutes" in error.details()
    assert len(log_rows(identity, event="login_throttled", email=TEACHER1)) == 1
    # Other accounts are unaffected; after the window the account can log in again.
    assert identity.login(TEACHER2).display_name == "Tess Tutor"
    identity.clock.advance(15 * 60 + 1)
    assert identity.login(TEACHER1).display_name == "Tom Teacher"


def test_unknown_emails_are_throttled_like_known_ones(identity):
    for _ in range(5):
        refused(identity.login, "ghost@demo.haven.test", "whatever-it-is", ip="203.0.113.5")
    error = refused(identity.login, "ghost@demo.haven.test", "whatever", ip="203.0.113.6")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_success_resets_the_count_for_that_email(identity):
    for _ in range(4):
        refused(identity.login, TEACHER2, "wrong-password")
    identity.login(TEACHER2)
    for _ in range(4):
        refused(identity.login, TEACHER2, "wrong-password")
    assert identity.login(TEACHER2).display_name == "Tess Tutor"


def test_twenty_failures_from_one_address_throttle_that_address(identity):
    for i in range(20):
        refused(identity.login, f"guess{i}@demo.haven.test", "wrong-password", ip="203.0.113.50")
    error = refused(identity.login, TEACHER1, DEMO_PASSWORD, ip="203.0.113.50")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert identity.login(TEACHER1, ip="203.0.113.51").display_name == "Tom Teacher"


def test_deactivated_membership_is_refused_and_its_sessions_end(identity):
    live = identity.login(TEACHER2)
    operations.set_membership_active(
        identity.db, identity.spec.outbox, email=TEACHER2, school_id=DEMO_SCHOOL_ID, active=False
    )
    error = refused(identity.login, TEACHER2)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert log_rows(identity, event="login_refused", email=TEACHER2)
    assert refused(identity.refresh, live.session_id).code() == grpc.StatusCode.UNAUTHENTICATED


def test_login_picks_the_first_active_membership(identity):
    first = identity.login(BOTH_SCHOOLS)
    assert first.school_id == OTHER_SCHOOL_ID
    operations.set_membership_active(
        identity.db, identity.spec.outbox, email=BOTH_SCHOOLS, school_id=OTHER_SCHOOL_ID,
        active=False,
    )
    assert identity.login(BOTH_SCHOOLS).school_id == DEMO_SCHOOL_ID


# ---- elevation ----------------------------------------------------------------------------


def test_elevating_a_key_holder_gives_full_access(identity):
    reply = identity.login(DSL)
    token = identity.elevate(reply.session_id, identity.code(DSL))
    assert (token.access, token.acr, token.expires_in) == ("full", "mfa", 600)
    claims = identity.spec.verifier.verify(token.access_token)
    assert (claims.acr, claims.access) == ("mfa", "full")
    assert claims.permissions == set(FULL_PERMISSIONS)
    [ok] = log_rows(identity, event="elevate_ok")
    assert (ok.factor, ok.account_id, ok.session_id) == ("totp", claims.account_id,
                                                         claims.session_id)
    # The session now has a new secret (session fixation): a refresh with it keeps the
    # elevation; the secret from before the elevation can no longer refresh it.
    assert token.session_id and token.session_id != reply.session_id
    again = identity.refresh(token.session_id)
    assert (again.access, again.acr) == ("full", "mfa")
    assert refused(identity.refresh, reply.session_id).code() == grpc.StatusCode.UNAUTHENTICATED


def test_codes_one_step_either_side_are_accepted_but_not_two(identity):
    session = identity.login(ADMIN).session_id
    assert refused(identity.elevate, session, identity.code(ADMIN, steps=2)).code() == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert identity.elevate(session, identity.code(ADMIN, steps=-1)).access == "full"
    session2 = identity.login(ADMIN).session_id
    assert identity.elevate(session2, identity.code(ADMIN, steps=1)).access == "full"


def test_a_replayed_code_is_refused(identity):
    code = identity.code(DSL)
    identity.elevate(identity.login(DSL).session_id, code)
    second = identity.login(DSL).session_id
    error = refused(identity.elevate, second, code)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "incorrect or out of date" in error.details()
    assert log_rows(identity, event="elevate_failed")[-1].detail == "replayed code"
    # An older code (previous step) is refused too once a newer step was used.
    assert refused(identity.elevate, second, identity.code(DSL, steps=-1)).code() == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    identity.clock.advance(30)
    assert identity.elevate(second, identity.code(DSL)).access == "full"


def test_a_wrong_or_malformed_code_is_refused(identity):
    session = identity.login(DSL).session_id
    good = identity.code(DSL)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    error = refused(identity.elevate, session, wrong)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert log_rows(identity, event="elevate_failed")[-1].detail == "wrong code"
    assert refused(identity.elevate, session, "12ab56").code() == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    # The session is still restricted and still usable.
    assert identity.refresh(session).access == "restricted"


def test_wrong_codes_are_throttled(identity):
    session = identity.login(DSL).session_id
    good = identity.code(DSL)
    wrong = f"{(int(good) + 7) % 1_000_000:06d}"
    for _ in range(5):
        refused(identity.elevate, session, wrong)
    error = refused(identity.elevate, session, good)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_code_from_a_removed_device_is_refused(identity):
    code = identity.code(DSL)
    assert operations.remove_totp_devices(identity.db, email=DSL) == 1
    session = identity.login(DSL)
    assert session.can_elevate is False
    assert refused(identity.elevate, session.session_id, code).code() == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    # A new phone: the old secret's codes are wrong for the new device.
    new_secret = operations.add_totp_device(identity.db, email=DSL, name="New phone",
                                            config=identity.config)
    assert new_secret != DEMO_TOTP_SECRETS[DSL]
    assert refused(identity.elevate, session.session_id, code).code() == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert identity.elevate(session.session_id, identity.code(DSL)).access == "full"


def test_elevating_an_unknown_session_is_refused(identity):
    error = refused(identity.elevate, "not-a-session", "123456")
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


# ---- refresh and logout -------------------------------------------------------------------


def test_refresh_within_the_idle_time_keeps_the_session_alive(identity):
    session = identity.login(TEACHER1).session_id  # the school's idle timeout: 15 minutes
    for _ in range(3):
        identity.clock.advance(14 * 60)
        assert identity.refresh(session).access == "restricted"


def test_refresh_after_the_idle_timeout_is_refused(identity):
    session = identity.login(TEACHER1).session_id
    identity.clock.advance(15 * 60 + 1)
    error = refused(identity.refresh, session)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "Your session has ended. Please log in again."
    assert log_rows(identity, event="session_expired")[-1].detail == "idle_timeout"
    # Ended for good, even if the clock were to say otherwise.
    identity.clock.advance(-(15 * 60 + 1))
    assert refused(identity.refresh, session).code() == grpc.StatusCode.UNAUTHENTICATED


def test_refresh_after_the_absolute_timeout_is_refused(identity):
    session = identity.login(TEACHER1).session_id
    for _ in range(51):  # 51 x 14 min = 11 h 54 min: never idle
        identity.clock.advance(14 * 60)
        identity.refresh(session)
    identity.clock.advance(14 * 60)
    assert refused(identity.refresh, session).code() == grpc.StatusCode.UNAUTHENTICATED
    assert log_rows(identity, event="session_expired")[-1].detail == "max_age"


def test_logout_then_refresh_is_refused(identity):
    session = identity.login(DSL).session_id
    identity.stub.Logout(identity_pb2.LogoutRequest(session_id=session),
                         metadata=[("x-client-ip", "192.0.2.44")])
    assert refused(identity.refresh, session).code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused(identity.elevate, session, identity.code(DSL)).code() == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    [out] = log_rows(identity, event="logout")
    assert out.client_ip == "192.0.2.44"
    # Logging out twice (or with nonsense) is harmless.
    identity.stub.Logout(identity_pb2.LogoutRequest(session_id=session))
    identity.stub.Logout(identity_pb2.LogoutRequest(session_id="nonsense"))


def test_refresh_reflects_the_group_as_it_is_now(identity):
    elevated = identity.elevate(identity.login(DSL).session_id, identity.code(DSL))
    assert elevated.access == "full"
    session = elevated.session_id
    operations.create_account(
        identity.db, identity.spec.outbox, school_id=DEMO_SCHOOL_ID, email=DSL,
        display_name="Dana Lead", user_group=TEACHERS_GROUP_ID,
    )
    token = identity.refresh(session)
    assert (token.access, token.acr) == ("restricted", "mfa")
    claims = identity.spec.verifier.verify(token.access_token)
    assert claims.user_group_id == TEACHERS_GROUP_ID
    assert claims.permissions == {"add_incidents"}


def test_a_new_password_ends_existing_sessions(identity):
    session = identity.login(TEACHER1).session_id
    operations.set_password(identity.db, email=TEACHER1, password="correct horse battery 42",
                            config=identity.config)
    assert refused(identity.refresh, session).code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused(identity.login, TEACHER1).code() == grpc.StatusCode.UNAUTHENTICATED
    assert identity.login(TEACHER1, "correct horse battery 42").display_name == "Tom Teacher"


# ---- staff lists --------------------------------------------------------------------------


def test_list_staff_shows_the_callers_school_only(identity):
    token = identity.login(TEACHER1).access_token  # restricted access may pick colleagues
    staff = identity.list_staff(token).staff
    assert [s.display_name for s in staff] == [
        "Alex Admin", "Dana Lead", "Sam Supply", "Tess Tutor", "Tom Teacher"
    ]
    dana = next(s for s in staff if s.email == DSL)
    assert (dana.user_group_name, dana.key_holder, dana.user_group_id) == (
        "DSL", True, DSL_GROUP_ID
    )
    assert [s.email for s in identity.list_staff(token, "TEACHER").staff] == [
        TEACHER2, TEACHER1
    ]
    assert [s.display_name for s in identity.list_staff(token, "ess t").staff] == ["Tess Tutor"]
    assert len(identity.list_staff(token, limit=2).staff) == 2
    assert identity.list_staff(token, "%").staff == []
    assert identity.list_staff(token, OTHER_DSL).staff == []


def test_a_token_from_one_school_never_lists_another_schools_staff(identity):
    oak = identity.login(OTHER_DSL)
    assert oak.school_id == OTHER_SCHOOL_ID
    staff = identity.list_staff(oak.access_token).staff
    assert sorted(s.email for s in staff) == sorted([OTHER_DSL, OTHER_TEACHER, BOTH_SCHOOLS])
    for demo_email in (DSL, ADMIN, TEACHER1, "demo.haven.test"):
        assert identity.list_staff(oak.access_token, demo_email).staff == []
    # ...and the demo school's tokens see none of Oakfield's own staff.
    demo_token = identity.login(DSL).access_token
    assert identity.list_staff(demo_token, "oakfield").staff == []


def test_deactivated_staff_are_not_listed(identity):
    operations.set_membership_active(
        identity.db, identity.spec.outbox, email=TEACHER2, school_id=DEMO_SCHOOL_ID, active=False
    )
    token = identity.login(TEACHER1).access_token
    assert TEACHER2 not in [s.email for s in identity.list_staff(token).staff]


def test_list_staff_needs_a_valid_token(identity):
    assert refused(identity.stub.ListStaff, identity_pb2.ListStaffRequest()).code() == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    from shared.testing import TokenFactory

    forged = TokenFactory().token(school_id=DEMO_SCHOOL_ID)
    error = refused(identity.stub.ListStaff, identity_pb2.ListStaffRequest(),
                    metadata=bearer(forged))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


# ---- keys ---------------------------------------------------------------------------------


def test_rotated_keys_stay_published_until_their_tokens_expire(identity):
    old = identity.login(TEACHER1).access_token
    old_kid = jws.extract_compact(old.encode()).protected["kid"]
    new_kid = operations.rotate_signing_keys(identity.db, config=identity.config,
                                             now=identity.clock())
    jwks = json.loads(identity.stub.GetJwks(identity_pb2.GetJwksRequest()).jwks_json)
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
    assert all("d" not in k for k in jwks["keys"])  # public halves only
    fresh = identity.login(TEACHER2).access_token
    assert jws.extract_compact(fresh.encode()).protected["kid"] == new_kid
    # Both tokens work against identity itself (its verifier picks up the new key at once).
    assert identity.list_staff(fresh).staff
    assert identity.list_staff(old).staff
    identity.clock.advance(600 + 61)
    jwks = json.loads(identity.stub.GetJwks(identity_pb2.GetJwksRequest()).jwks_json)
    assert [k["kid"] for k in jwks["keys"]] == [new_kid]
