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


def _counting(verifier: TokenVerifier) -> list[str]:
    checked: list[str] = []
    decode = verifier._decode

    def counted(token, keys):
        checked.append(token)
        return decode(token, keys)

    verifier._decode = counted  # type: ignore[method-assign]
    return checked


def test_a_verified_token_is_not_verified_again_until_it_expires(monkeypatch):
    tokens = TokenFactory()
    verifier = tokens.verifier()
    checked = _counting(verifier)
    token = tokens.token(school_id="S1", account_id="U1", ttl=300)
    first = verifier.verify(token)
    assert verifier.verify(token) == first and len(checked) == 1
    other = tokens.token(school_id="S2", account_id="U2")
    assert verifier.verify(other).school_id == "S2" and len(checked) == 2
    # past its expiry (and the leeway) the remembered token is refused like any other
    later = time.time() + 300 + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthenticated):
        verifier.verify(token)
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def test_a_forged_token_is_refused_even_after_the_real_one_was_verified():
    tokens = TokenFactory()
    verifier = tokens.verifier()
    token = tokens.token(school_id="S1", access="restricted")
    verifier.verify(token)
    header, _payload, sig = token.split(".")
    forged_payload = tokens.token(school_id="S1", access="full").split(".")[1]
    with pytest.raises(Unauthenticated):
        verifier.verify(f"{header}.{forged_payload}.{sig}")


def test_a_key_refetch_forgets_the_verified_tokens():
    old, new = TokenFactory(), TokenFactory()
    served = {"jwks": old.jwks_json()}
    verifier = TokenVerifier(lambda: served["jwks"], min_refetch_interval=0)
    token = old.token(school_id="S1")
    verifier.verify(token)
    served["jwks"] = new.jwks_json()  # the old key is withdrawn
    verifier.verify(new.token(school_id="S1"))  # an unknown kid: the keys are fetched again
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def test_the_verified_tokens_kept_are_bounded():
    tokens = TokenFactory()
    verifier = TokenVerifier(tokens.jwks_json, cache_size=3)
    checked = _counting(verifier)
    made = [tokens.token(school_id=f"S{n}") for n in range(5)]
    for token in made:
        verifier.verify(token)
    assert len(verifier._verified) == 3
    verifier.verify(made[0])  # forgotten: checked again
    verifier.verify(made[4])  # kept
    assert len(checked) == 6
