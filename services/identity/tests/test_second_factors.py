"""Account Settings > Security Keys: authenticator apps (QR code, confirm with a code,
unverified until used) and WebAuthn security keys / passkeys (several per person, elevate
with any), driven by a software authenticator built from fido2's classes. Attacks on each
are refused, change nothing and are logged."""

from __future__ import annotations

import datetime as dt
import json

import grpc
import pyotp
import pytest
from sqlalchemy import select

from haven.identity.v1 import identity_pb2 as pb
from services.identity.models import LoginSession, SecurityKey, SecurityLogEntry
from services.identity.tests.conftest import refused
from services.identity.tests.soft_authenticator import SoftAuthenticator
from services.identity.tests.test_users_admin import DSL, DSL_ID, TEACHER1, TEACHER2


def log(identity, event: str, **where) -> list[SecurityLogEntry]:
    with identity.db.read() as s:
        query = select(SecurityLogEntry).where(SecurityLogEntry.event == event)
        for key, value in where.items():
            query = query.where(getattr(SecurityLogEntry, key) == value)
        rows = list(s.scalars(query.order_by(SecurityLogEntry.at)))
        s.expunge_all()
        return rows


def acr_of(identity, secret: str) -> str:
    from services.identity.sessions import hash_secret

    with identity.db.read() as s:
        return s.scalars(select(LoginSession.acr).where(
            LoginSession.secret_hash == hash_secret(secret))).one()


def register_key(identity, token: str, name: str, authenticator: SoftAuthenticator):
    ceremony = identity.call("BeginSecurityKeyRegistration",
                             pb.BeginSecurityKeyRegistrationRequest(name=name), token)
    return identity.call("FinishSecurityKeyRegistration", pb.FinishSecurityKeyRegistrationRequest(
        challenge_id=ceremony.challenge_id,
        credential_json=authenticator.create(ceremony.options_json)), token)


def elevate_with_key(identity, secret: str, authenticator: SoftAuthenticator, **answer):
    ceremony = identity.stub.BeginSecurityKeyElevation(pb.BeginSecurityKeyElevationRequest(
        session_id=secret, client_ip="192.0.2.60", user_agent="Chromium"))
    return identity.stub.FinishSecurityKeyElevation(pb.FinishSecurityKeyElevationRequest(
        session_id=secret, challenge_id=ceremony.challenge_id,
        credential_json=authenticator.get(ceremony.options_json, **answer),
        client_ip="192.0.2.60", user_agent="Chromium"))


# ---- authenticator apps -----------------------------------------------------------------------


def test_add_an_authenticator_app_with_a_qr_code_and_the_current_code(identity):
    reply = identity.login(TEACHER1)
    token = reply.access_token
    setup = identity.call("BeginTotpRegistration", pb.BeginTotpRegistrationRequest(), token)
    assert setup.otpauth_uri.startswith("otpauth://totp/Haven:teacher1%40demo.haven.test?")
    assert "issuer=Haven" in setup.otpauth_uri and setup.secret in setup.otpauth_uri
    assert setup.qr_svg.startswith("<svg") and "<path" in setup.qr_svg
    app = pyotp.TOTP(setup.secret)
    now = identity.clock().replace(tzinfo=dt.UTC)
    wrong = f"{(int(app.at(now)) + 1) % 1_000_000:06d}"
    error = refused(identity.call, "ConfirmTotpRegistration", pb.ConfirmTotpRegistrationRequest(
        enrolment_id=setup.enrolment_id, name="My phone", code=wrong), token)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert log(identity, "totp_device_refused")[0].detail == "wrong code"
    assert identity.call("ListMySecondFactors", pb.ListMySecondFactorsRequest(),
                         token).factors == []
    code = app.at(now)
    device = identity.call("ConfirmTotpRegistration", pb.ConfirmTotpRegistrationRequest(
        enrolment_id=setup.enrolment_id, name="My phone", code=code), token)
    assert (device.kind, device.name, device.verified) == ("totp", "My phone", False)
    # The code that confirmed it cannot be replayed to elevate; the next one verifies it.
    assert refused(identity.elevate, reply.session_id, code).code() == (
        grpc.StatusCode.INVALID_ARGUMENT)
    identity.clock.advance(30)
    elevated = identity.elevate(reply.session_id, app.at(now + dt.timedelta(seconds=30)))
    assert (elevated.acr, elevated.access) == ("mfa", "restricted")  # not a key holder
    [listed] = identity.call("ListMySecondFactors", pb.ListMySecondFactorsRequest(),
                             elevated.access_token).factors
    assert listed.verified and listed.last_used_at.seconds > 0
    # A setup finished once cannot be confirmed again.
    assert refused(identity.call, "ConfirmTotpRegistration", pb.ConfirmTotpRegistrationRequest(
        enrolment_id=setup.enrolment_id, name="Again", code=code),
        elevated.access_token).code() == grpc.StatusCode.NOT_FOUND


def test_another_device_needs_an_elevated_session(identity):
    reply = identity.login(DSL)  # Dana has an authenticator already
    error = refused(identity.call, "BeginTotpRegistration", pb.BeginTotpRegistrationRequest(),
                    reply.access_token)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = refused(identity.call, "BeginSecurityKeyRegistration",
                    pb.BeginSecurityKeyRegistrationRequest(name="Key"), reply.access_token)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    token = identity.elevate(reply.session_id, identity.code(DSL)).access_token
    setup = identity.call("BeginTotpRegistration", pb.BeginTotpRegistrationRequest(), token)
    assert setup.enrolment_id


def test_a_setup_belongs_to_the_session_that_began_it(identity):
    first = identity.login(TEACHER1)
    setup = identity.call("BeginTotpRegistration", pb.BeginTotpRegistrationRequest(),
                          first.access_token)
    other = identity.login(TEACHER2).access_token
    code = pyotp.TOTP(setup.secret).at(identity.clock().replace(tzinfo=dt.UTC))
    assert refused(identity.call, "ConfirmTotpRegistration", pb.ConfirmTotpRegistrationRequest(
        enrolment_id=setup.enrolment_id, name="Stolen", code=code), other).code() == (
        grpc.StatusCode.NOT_FOUND)
    identity.clock.advance(11 * 60)  # setups last ten minutes
    assert refused(identity.call, "ConfirmTotpRegistration", pb.ConfirmTotpRegistrationRequest(
        enrolment_id=setup.enrolment_id, name="Late", code=code),
        first.access_token).code() == grpc.StatusCode.NOT_FOUND


# ---- security keys ----------------------------------------------------------------------------


@pytest.fixture()
def dana(identity):
    """Dana (a key holder) elevated with her app, with a security key registered."""
    token, secret = identity.elevated(DSL)
    key = SoftAuthenticator()
    factor = register_key(identity, token, "Blue key", key)
    return token, secret, key, factor


def test_register_a_security_key_and_elevate_with_it(identity, dana):
    token, _secret, key, factor = dana
    assert (factor.kind, factor.name, factor.verified) == ("security_key", "Blue key", True)
    kinds = [f.kind for f in identity.call("ListMySecondFactors", pb.ListMySecondFactorsRequest(),
                                           token).factors]
    assert kinds == ["totp", "security_key"]
    reply = identity.login(DSL)
    assert reply.has_security_key and reply.has_authenticator_app and reply.can_elevate
    elevated = elevate_with_key(identity, reply.session_id, key)
    assert (elevated.acr, elevated.access) == ("mfa", "full")
    assert elevated.session_id != reply.session_id  # a new session secret
    assert identity.refresh(elevated.session_id).access == "full"
    assert refused(identity.refresh, reply.session_id).code() == (
        grpc.StatusCode.UNAUTHENTICATED)
    [ok] = log(identity, "elevate_ok", factor="security_key")
    assert (ok.detail, ok.client_ip, ok.user_agent, ok.account_id) == (
        "Blue key", "192.0.2.60", "Chromium", DSL_ID)
    key_row_used = identity.call("ListMySecondFactors", pb.ListMySecondFactorsRequest(),
                                 elevated.access_token).factors[1]
    assert key_row_used.last_used_at.seconds > 0


def test_several_keys_and_any_of_them_elevates(identity, dana):
    token, _secret, blue, _ = dana
    green = SoftAuthenticator()
    identity.clock.advance(1)
    register_key(identity, token, "Green key", green)
    names = [f.name for f in identity.call("ListMySecondFactors", pb.ListMySecondFactorsRequest(),
                                           token).factors]
    assert names == ["Demo authenticator", "Blue key", "Green key"]
    for key in (green, blue):
        assert elevate_with_key(identity, identity.login(DSL).session_id, key).access == "full"


def test_the_same_key_cannot_be_registered_twice(identity, dana):
    token, _secret, blue, _ = dana
    ceremony = identity.call("BeginSecurityKeyRegistration",
                             pb.BeginSecurityKeyRegistrationRequest(name="Again"), token)
    excluded = json.loads(ceremony.options_json)["publicKey"]["excludeCredentials"]
    assert len(excluded) == 1
    error = refused(identity.call, "FinishSecurityKeyRegistration",
                    pb.FinishSecurityKeyRegistrationRequest(
                        challenge_id=ceremony.challenge_id,
                        credential_json=blue.create(ceremony.options_json)), token)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert log(identity, "security_key_refused")[0].detail == "credential already registered"


def test_attack_an_assertion_from_another_users_key_is_refused(identity, dana):
    _token, _secret, dana_key, _ = dana
    tom = identity.login(TEACHER1)
    tom_key = SoftAuthenticator()
    register_key(identity, tom.access_token, "Tom's key", tom_key)
    # Tom's session, Dana's key (and Dana's user handle): refused.
    reply = identity.login(TEACHER1)
    error = refused(elevate_with_key, identity, reply.session_id, dana_key)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert acr_of(identity, reply.session_id) == "pwd"
    [failed] = log(identity, "elevate_failed", factor="security_key")
    assert failed.detail == "credential is not this account's"
    assert failed.email == TEACHER1


def test_attack_a_stale_or_reused_challenge_is_refused(identity, dana):
    _token, _secret, key, _ = dana
    reply = identity.login(DSL)
    ceremony = identity.stub.BeginSecurityKeyElevation(pb.BeginSecurityKeyElevationRequest(
        session_id=reply.session_id))
    answer = key.get(ceremony.options_json)
    identity.clock.advance(5 * 60 + 1)
    finish = pb.FinishSecurityKeyElevationRequest(
        session_id=reply.session_id, challenge_id=ceremony.challenge_id, credential_json=answer)
    assert refused(identity.stub.FinishSecurityKeyElevation, finish).code() == (
        grpc.StatusCode.INVALID_ARGUMENT)
    assert log(identity, "elevate_failed")[-1].detail == "stale challenge"
    # The same answer again (a replay) meets a spent challenge.
    assert refused(identity.stub.FinishSecurityKeyElevation, finish).code() == (
        grpc.StatusCode.INVALID_ARGUMENT)
    assert log(identity, "elevate_failed")[-1].detail == "challenge already used"
    assert acr_of(identity, reply.session_id) == "pwd"


def test_attack_a_challenge_of_another_session_is_refused(identity, dana):
    _token, _secret, key, _ = dana
    first, second = identity.login(DSL), identity.login(DSL)
    ceremony = identity.stub.BeginSecurityKeyElevation(pb.BeginSecurityKeyElevationRequest(
        session_id=first.session_id))
    error = refused(identity.stub.FinishSecurityKeyElevation,
                    pb.FinishSecurityKeyElevationRequest(
                        session_id=second.session_id, challenge_id=ceremony.challenge_id,
                        credential_json=key.get(ceremony.options_json)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert log(identity, "elevate_failed")[-1].detail == "challenge of another session"


def test_attack_a_lower_sign_counter_is_refused(identity, dana):
    _token, _secret, key, _ = dana
    elevate_with_key(identity, identity.login(DSL).session_id, key, counter_step=5)
    with identity.db.read() as s:
        assert s.scalars(select(SecurityKey.sign_count)).one() == 5
    # A clone of the key, behind the original's counter.
    reply = identity.login(DSL)
    error = refused(elevate_with_key, identity, reply.session_id, key, counter_step=-2)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sign counter 3 not above 5" in log(identity, "elevate_failed")[-1].detail
    assert acr_of(identity, reply.session_id) == "pwd"
    with identity.db.read() as s:
        assert s.scalars(select(SecurityKey.sign_count)).one() == 5


def test_attack_a_wrong_origin_or_a_malformed_answer_is_refused(identity, dana):
    _token, _secret, key, _ = dana
    reply = identity.login(DSL)
    error = refused(elevate_with_key, identity, reply.session_id, key,
                    origin="https://evil.example")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "origin" in log(identity, "elevate_failed")[-1].detail.lower()
    ceremony = identity.stub.BeginSecurityKeyElevation(pb.BeginSecurityKeyElevationRequest(
        session_id=reply.session_id))
    for junk in ("", "not json", "[]", json.dumps({"id": "x"})):
        assert refused(identity.stub.FinishSecurityKeyElevation,
                       pb.FinishSecurityKeyElevationRequest(
                           session_id=reply.session_id, challenge_id=ceremony.challenge_id,
                           credential_json=junk)).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert acr_of(identity, reply.session_id) == "pwd"


def test_key_failures_count_towards_the_elevation_throttle(identity, dana):
    _token, _secret, key, _ = dana
    identity.clock.advance(1)  # after the elevation the fixture made
    reply = identity.login(DSL)
    for _ in range(5):
        refused(elevate_with_key, identity, reply.session_id, key, origin="https://evil.example")
    error = refused(elevate_with_key, identity, reply.session_id, key)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_removed_key_elevates_nothing(identity, dana):
    token, _secret, key, factor = dana
    identity.call("RemoveMySecondFactor", pb.RemoveMySecondFactorRequest(factor_id=factor.id),
                  token)
    reply = identity.login(DSL)
    assert not reply.has_security_key
    error = refused(identity.stub.BeginSecurityKeyElevation,
                    pb.BeginSecurityKeyElevationRequest(session_id=reply.session_id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    # Removing needs an elevated session.
    assert refused(identity.call, "RemoveMySecondFactor", pb.RemoveMySecondFactorRequest(
        factor_id="anything"), reply.access_token).code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_key_registration_answer_for_another_challenge_is_refused(identity):
    tom = identity.login(TEACHER1).access_token
    first = identity.call("BeginSecurityKeyRegistration",
                          pb.BeginSecurityKeyRegistrationRequest(name="A"), tom)
    second = identity.call("BeginSecurityKeyRegistration",
                           pb.BeginSecurityKeyRegistrationRequest(name="B"), tom)
    error = refused(identity.call, "FinishSecurityKeyRegistration",
                    pb.FinishSecurityKeyRegistrationRequest(
                        challenge_id=second.challenge_id,
                        credential_json=SoftAuthenticator().create(first.options_json)), tom)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "challenge" in log(identity, "security_key_refused")[0].detail.lower()
    assert identity.call("ListMySecondFactors", pb.ListMySecondFactorsRequest(),
                         tom).factors == []
    assert refused(identity.call, "BeginSecurityKeyRegistration",
                   pb.BeginSecurityKeyRegistrationRequest(name=""), tom).code() == (
        grpc.StatusCode.INVALID_ARGUMENT)
