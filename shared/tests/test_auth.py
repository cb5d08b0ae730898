"""Token verification: signature, issuer, audience, expiry, key rotation."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt

from shared.auth import TokenVerifier
from shared.errors import Unauthenticated
from shared.testing import TokenFactory


def test_a_valid_token_gives_its_claims():
    tokens = TokenFactory()
    claims = tokens.verifier().verify(tokens.token(school_id="S1", account_id="U1",
                                                   access="restricted",
                                                   permissions=("add_incidents",)))
    assert (claims.school_id, claims.account_id, claims.access) == ("S1", "U1", "restricted")
    assert claims.permissions == {"add_incidents"}
    assert not claims.full_access


@pytest.mark.parametrize("change", [
    {"exp": int(time.time()) - 120},  # past the clock-skew leeway
    {"aud": "someone-else"},
    {"iss": "evil"},
])
def test_expired_or_misaddressed_tokens_are_refused(change):
    tokens = TokenFactory()
    with pytest.raises(Unauthenticated):
        tokens.verifier().verify(tokens.token(school_id="S1", **change))


def test_garbage_and_empty_tokens_are_refused():
    verifier = TokenFactory().verifier()
    for bad in ("", "abc", "a.b.c"):
        with pytest.raises(Unauthenticated):
            verifier.verify(bad)


def test_an_unsigned_token_is_refused():
    tokens = TokenFactory()
    good = tokens.token(school_id="S1")
    header, payload, _sig = good.split(".")
    with pytest.raises(Unauthenticated):
        tokens.verifier().verify(f"{header}.{payload}.")


def test_a_rotated_key_is_fetched_once_when_its_kid_appears():
    old, new = TokenFactory(), TokenFactory()
    served = {"jwks": old.jwks_json()}
    fetches = []

    def fetch():
        fetches.append(1)
        return served["jwks"]

    verifier = TokenVerifier(fetch, min_refetch_interval=0)
    verifier.verify(old.token(school_id="S1"))
    served["jwks"] = new.jwks_json()
    verifier.verify(new.token(school_id="S1"))
    assert len(fetches) == 2
    assert jwt.decode(new.token(school_id="S1"), new.key).claims["school"] == "S1"
