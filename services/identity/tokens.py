"""Access tokens: ES256 JWTs, the signing keys behind them, and the JWKS every service trusts.

One unretired key signs. ``rotate_keys`` makes a new key and retires the old one, which stays
published until every token it signed has expired (its ``publish_until``). The active key is
also replaced when it is older than ``IDENTITY_SIGNING_KEY_MAX_AGE_DAYS``.

Claims: ``sub`` account, ``sid`` session (public handle), ``school``, ``grp`` user group,
``acr`` ("pwd" | "mfa"), ``access`` ("full" only for a key holder group after a second
factor), ``perms`` (the group's permissions with full access, else ``add_incidents``),
``name``, ``iss``, ``aud``, ``iat``, ``exp``; header ``kid``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.identity.models import SigningKey
from services.identity.secretbox import SecretBox
from shared.auth import AUDIENCE, ISSUER

ALGORITHM = "ES256"
ACR_PASSWORD = "pwd"  # noqa: S105 - an acr value
ACR_MFA = "mfa"
ACCESS_FULL = "full"
ACCESS_RESTRICTED = "restricted"
RESTRICTED_PERMISSIONS: tuple[str, ...] = ("add_incidents",)
# A retired key stays published this long past the last expiry of its tokens (clock skew).
PUBLISH_LEEWAY = dt.timedelta(seconds=60)


def epoch(now: dt.datetime) -> int:
    return int((now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now).timestamp())


def access_for(*, key_holder: bool, acr: str) -> str:
    return ACCESS_FULL if key_holder and acr == ACR_MFA else ACCESS_RESTRICTED


def permissions_for(access: str, group_permissions: Iterable[str]) -> list[str]:
    if access == ACCESS_FULL:
        return sorted(set(group_permissions))
    return list(RESTRICTED_PERMISSIONS)


@dataclass(frozen=True)
class Subject:
    """Whom a token speaks for, as the session and membership are now."""

    account_id: str
    session_id: str
    school_id: str
    user_group_id: str
    acr: str
    key_holder: bool
    group_permissions: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    claims: dict

    @property
    def access(self) -> str:
        return self.claims["access"]

    @property
    def acr(self) -> str:
        return self.claims["acr"]


def build_claims(subject: Subject, *, now: dt.datetime, ttl: int) -> dict:
    access = access_for(key_holder=subject.key_holder, acr=subject.acr)
    iat = epoch(now)
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject.account_id,
        "sid": subject.session_id,
        "school": subject.school_id,
        "grp": subject.user_group_id,
        "acr": subject.acr,
        "access": access,
        "perms": permissions_for(access, subject.group_permissions),
        "name": subject.name,
        "iat": iat,
        "exp": iat + ttl,
    }


ACCESS_INTEGRATION = "integration"


def build_client_claims(*, client_id: str, school_id: str, scope: str, name: str,
                        now: dt.datetime, ttl: int) -> dict:
    iat = epoch(now)
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": client_id,
        "sid": "",
        "school": school_id,
        "grp": "",
        "acr": "",
        "access": ACCESS_INTEGRATION,
        "perms": [],
        "name": name,
        "scope": scope,
        "client_id": client_id,
        "iat": iat,
        "exp": iat + ttl,
    }


def _purpose(kid: str) -> str:
    return f"jwk:{kid}"


def new_signing_key(box: SecretBox, *, now: dt.datetime) -> SigningKey:
    generated = ECKey.generate_key("P-256", private=True)
    kid = generated.thumbprint()  # RFC 7638
    private = dict(generated.as_dict(private=True), kid=kid, use="sig", alg=ALGORITHM)
    public = dict(generated.as_dict(private=False), kid=kid, use="sig", alg=ALGORITHM)
    return SigningKey(
        kid=kid,
        private_jwk=box.seal(json.dumps(private), purpose=_purpose(kid)),
        public_jwk=public,
        created_at=now,
    )


def active_keys(session: Session) -> list[SigningKey]:
    return list(
        session.scalars(
            select(SigningKey)
            .where(SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at.desc(), SigningKey.kid)
        )
    )


def rotate_keys(
    session: Session, box: SecretBox, *, now: dt.datetime, token_ttl: int
) -> SigningKey:
    """Make a new signing key and retire the others (published until their tokens expire).

    Keys whose publication has ended are deleted (their private half is no longer needed).
    """
    publish_until = now + dt.timedelta(seconds=token_ttl) + PUBLISH_LEEWAY
    for key in active_keys(session):
        key.retired_at = now
        key.publish_until = publish_until
    session.execute(
        delete(SigningKey).where(
            SigningKey.retired_at.is_not(None), SigningKey.publish_until <= now
        )
    )
    key = new_signing_key(box, now=now)
    session.add(key)
    session.flush()
    return key


def published_keys(session: Session, *, now: dt.datetime) -> list[SigningKey]:
    return list(
        session.scalars(
            select(SigningKey)
            .where((SigningKey.retired_at.is_(None)) | (SigningKey.publish_until > now))
            .order_by(SigningKey.created_at.desc(), SigningKey.kid)
        )
    )


def jwks(session: Session, *, now: dt.datetime) -> dict:
    """Public keys of every key whose tokens may still be valid."""
    return {"keys": [dict(k.public_jwk) for k in published_keys(session, now=now)]}


class TokenIssuer:
    """Signs tokens with the current key (made on first use, replaced when too old)."""

    def __init__(self, box: SecretBox, *, ttl: int, key_max_age: dt.timedelta) -> None:
        self.box = box
        self.ttl = ttl
        self.key_max_age = key_max_age
        self._private: dict[str, ECKey] = {}
        self._lock = threading.Lock()

    def current_key(self, session: Session, *, now: dt.datetime) -> SigningKey:
        keys = active_keys(session)
        if keys and now - keys[0].created_at < self.key_max_age:
            return keys[0]
        return rotate_keys(session, self.box, now=now, token_ttl=self.ttl)

    def rotate(self, session: Session, *, now: dt.datetime) -> SigningKey:
        return rotate_keys(session, self.box, now=now, token_ttl=self.ttl)

    def _private_key(self, key: SigningKey) -> ECKey:
        with self._lock:
            cached = self._private.get(key.kid)
            if cached is None:
                data = json.loads(self.box.open(key.private_jwk, purpose=_purpose(key.kid)))
                cached = ECKey.import_key(data)
                self._private[key.kid] = cached
            return cached

    def issue(self, session: Session, subject: Subject, *, now: dt.datetime) -> IssuedToken:
        claims = build_claims(subject, now=now, ttl=self.ttl)
        return IssuedToken(token=self.sign(session, claims, now=now), expires_in=self.ttl,
                           claims=claims)

    def issue_for_client(self, session: Session, *, client_id: str, school_id: str,
                         scope: str, name: str, now: dt.datetime) -> IssuedToken:
        """An integration's token (client credentials): its school and one scope, no
        permissions, ``access`` "integration". Every service refuses it for anything but
        what its scope names."""
        claims = build_client_claims(client_id=client_id, school_id=school_id, scope=scope,
                                     name=name, now=now, ttl=self.ttl)
        return IssuedToken(token=self.sign(session, claims, now=now), expires_in=self.ttl,
                           claims=claims)

    def sign(self, session: Session, claims: dict, *, now: dt.datetime,
             typ: str = "JWT") -> str:
        """Sign any claims (access tokens, OIDC ID tokens) with the current key."""
        key = self.current_key(session, now=now)
        return jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": typ}, claims,
                          self._private_key(key))

    def jwks_json(self, session: Session, *, now: dt.datetime) -> str:
        return json.dumps(jwks(session, now=now), sort_keys=True)
