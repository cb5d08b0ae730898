"""Tokens: exact claims, access rules, signing keys sealed at rest, rotation and the JWKS."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from joserfc import jws

from services.identity.models import Base, SigningKey
from services.identity.secretbox import SecretBox
from services.identity.tokens import (
    Subject,
    TokenIssuer,
    access_for,
    build_claims,
    jwks,
    rotate_keys,
)
from shared.auth import TokenVerifier
from shared.db import Database, utcnow
from shared.errors import Unauthenticated

ALL = ("view_student_list", "add_incidents", "run_reports", "administration")


def subject(*, acr="pwd", key_holder=True, permissions=ALL) -> Subject:
    return Subject(account_id="acc-1", session_id="sess-1", school_id="school-1",
                   user_group_id="grp-1", acr=acr, key_holder=key_holder,
                   group_permissions=permissions, name="Dana Lead")


@pytest.fixture()
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path}/tokens.db")
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


def test_claims_are_exactly_the_contract():
    now = dt.datetime(2026, 1, 5, 8, 30, 0)
    claims = build_claims(subject(acr="mfa"), now=now, ttl=600)
    iat = int(now.replace(tzinfo=dt.UTC).timestamp())
    assert claims == {
        "iss": "haven-identity", "aud": "haven", "sub": "acc-1", "sid": "sess-1",
        "school": "school-1", "grp": "grp-1", "acr": "mfa", "access": "full",
        "perms": sorted(ALL), "name": "Dana Lead", "iat": iat, "exp": iat + 600,
    }


def test_full_access_needs_a_key_holder_group_and_a_second_factor():
    assert access_for(key_holder=True, acr="mfa") == "full"
    assert access_for(key_holder=True, acr="pwd") == "restricted"
    assert access_for(key_holder=False, acr="mfa") == "restricted"
    assert access_for(key_holder=False, acr="pwd") == "restricted"
    now = utcnow()
    for s in (subject(acr="pwd"), subject(acr="mfa", key_holder=False)):
        claims = build_claims(s, now=now, ttl=600)
        assert (claims["access"], claims["perms"]) == ("restricted", ["add_incidents"])


def test_issued_tokens_verify_against_the_jwks(db):
    issuer = TokenIssuer(SecretBox("k" * 32), ttl=600, key_max_age=dt.timedelta(days=30))
    with db.transaction() as s:
        issued = issuer.issue(s, subject(acr="mfa"), now=utcnow())
        published = issuer.jwks_json(s, now=utcnow())
    header = jws.extract_compact(issued.token.encode()).protected
    assert header == {"alg": "ES256", "kid": header["kid"], "typ": "JWT"}
    claims = TokenVerifier(lambda: published).verify(issued.token)
    assert (claims.account_id, claims.access, claims.acr) == ("acc-1", "full", "mfa")


def test_private_keys_are_sealed_at_rest(db):
    box = SecretBox("k" * 32)
    with db.transaction() as s:
        key = rotate_keys(s, box, now=utcnow(), token_ttl=600)
        kid, sealed, public = key.kid, key.private_jwk, key.public_jwk
    assert sealed.startswith("v1.") and "crv" not in sealed
    private = json.loads(box.open(sealed, purpose=f"jwk:{kid}"))
    assert private["d"] and private["kid"] == kid and "d" not in public


def test_rotation_keeps_the_old_key_published_until_its_tokens_expire(db):
    box = SecretBox("k" * 32)
    issuer = TokenIssuer(box, ttl=600, key_max_age=dt.timedelta(days=30))
    t0 = utcnow() - dt.timedelta(seconds=5)
    with db.transaction() as s:
        old_token = issuer.issue(s, subject(), now=t0)
        old_kid = jws.extract_compact(old_token.token.encode()).protected["kid"]
        new_kid = issuer.rotate(s, now=t0 + dt.timedelta(seconds=1)).kid
        new_token = issuer.issue(s, subject(), now=t0 + dt.timedelta(seconds=1))
    assert jws.extract_compact(new_token.token.encode()).protected["kid"] == new_kid
    with db.read() as s:
        during = jwks(s, now=t0 + dt.timedelta(seconds=1 + 600))
        after = jwks(s, now=t0 + dt.timedelta(seconds=1 + 600 + 60))
    assert [k["kid"] for k in during["keys"]] == [new_kid, old_kid]
    assert [k["kid"] for k in after["keys"]] == [new_kid]
    # A verifier holding the JWKS from during the overlap accepts both tokens.
    verifier = TokenVerifier(lambda: json.dumps(during))
    assert verifier.verify(old_token.token).account_id == "acc-1"
    assert verifier.verify(new_token.token).account_id == "acc-1"
    # One that only has the newest key refuses the old key's token.
    with pytest.raises(Unauthenticated):
        TokenVerifier(lambda: json.dumps(after), min_refetch_interval=0).verify(
            old_token.token
        )
    # The next rotation deletes keys whose publication has ended.
    with db.transaction() as s:
        rotate_keys(s, box, now=t0 + dt.timedelta(seconds=700), token_ttl=600)
        assert old_kid not in {k.kid for k in s.query(SigningKey)}


def test_an_old_active_key_is_replaced_when_signing(db):
    issuer = TokenIssuer(SecretBox("k" * 32), ttl=600, key_max_age=dt.timedelta(days=30))
    t0 = utcnow() - dt.timedelta(days=31)
    with db.transaction() as s:
        first = issuer.current_key(s, now=t0).kid
        assert issuer.current_key(s, now=t0 + dt.timedelta(days=29)).kid == first
        second = issuer.current_key(s, now=t0 + dt.timedelta(days=31)).kid
    assert second != first
