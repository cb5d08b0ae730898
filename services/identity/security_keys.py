"""Security keys and passkeys (WebAuthn, with fido2 2.x): register several, name each,
elevate with any of them.

A ceremony has two halves. *Begin* makes a random challenge, keeps it server-side (bound to
the account and the login session, spent on first use, five minutes at most) and returns
the options the browser passes to ``navigator.credentials.create`` / ``.get`` as JSON.
*Finish* takes the browser's JSON answer: fido2 checks the challenge, origin, RP id hash,
user presence and signature; this module also checks that the credential is one of this
account's and that its signature counter went up (a counter that stays at 0 is allowed:
synced passkeys do not count). A counter that goes backwards suggests a cloned key and is
refused.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from fido2.rpid import verify_rp_id
from fido2.server import Fido2Server
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestedCredentialData,
    AuthenticationResponse,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    RegistrationResponse,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.identity.models import Account, SecurityKey, WebAuthnChallenge
from shared.db import new_id
from shared.errors import InvalidArgument, NotFound

CHALLENGE_LIFETIME = dt.timedelta(minutes=5)
REGISTER = "register"
ELEVATE = "elevate"
MAX_RESPONSE_CHARS = 64_000
NO_KEYS = "No security key is registered for your account."


@dataclass(frozen=True)
class RelyingParty:
    """The site the keys are bound to (the gateway's host name) and the origins allowed."""

    rp_id: str
    name: str = "Haven"
    origins: tuple[str, ...] = ()

    def verify_origin(self, origin: str) -> bool:
        if self.origins:
            return origin.rstrip("/") in self.origins
        return verify_rp_id(self.rp_id, origin)

    def server(self) -> Fido2Server:
        server = Fido2Server(
            PublicKeyCredentialRpEntity(id=self.rp_id, name=self.name),
            verify_origin=self.verify_origin,
        )
        server.timeout = int(CHALLENGE_LIFETIME.total_seconds() * 1000) // 2
        return server


@dataclass(frozen=True)
class Ceremony:
    challenge_id: str
    options_json: str
    expires_at: dt.datetime


class Refused(Exception):
    """A finish that must be refused; ``reason`` goes to the security log."""

    def __init__(self, reason: str, key: SecurityKey | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key


def keys_of(session: Session, account_id: str) -> list[SecurityKey]:
    return list(session.scalars(
        select(SecurityKey).where(SecurityKey.account_id == account_id)
        .order_by(SecurityKey.created_at, SecurityKey.id)
    ))


def remove_keys(session: Session, *, account_id: str, key_id: str | None = None) -> int:
    removed = 0
    for key in keys_of(session, account_id):
        if key_id is None or key.id == key_id:
            session.delete(key)
            removed += 1
    session.flush()
    return removed


def _credential(key: SecurityKey) -> AttestedCredentialData:
    return AttestedCredentialData(websafe_decode(key.credential_data))


def _user_handle(account_id: str) -> bytes:
    try:
        return uuid.UUID(account_id).bytes
    except ValueError:
        return account_id.encode("utf-8")[:64]


MAX_OPEN_CEREMONIES = 5  # per session; older ones are dropped


def _keep(session: Session, *, account_id: str, session_id: str, purpose: str, state: dict,
          now: dt.datetime, name: str = "") -> WebAuthnChallenge:
    # Spent and expired challenges go; a session keeps only its newest few open ones, so
    # begin-after-begin cannot grow the table.
    session.execute(delete(WebAuthnChallenge).where(
        WebAuthnChallenge.account_id == account_id,
        (WebAuthnChallenge.used_at.is_not(None)) | (WebAuthnChallenge.expires_at <= now)))
    open_ids = list(session.scalars(
        select(WebAuthnChallenge.id).where(WebAuthnChallenge.session_id == session_id)
        .order_by(WebAuthnChallenge.created_at.desc(), WebAuthnChallenge.id)
        .offset(MAX_OPEN_CEREMONIES - 1)))
    if open_ids:
        session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.id.in_(open_ids)))
    row = WebAuthnChallenge(
        id=new_id(), account_id=account_id, session_id=session_id, purpose=purpose,
        state={"challenge": state["challenge"],
               "user_verification": str(state["user_verification"] or "") or None},
        name=name, created_at=now, expires_at=now + CHALLENGE_LIFETIME,
    )
    session.add(row)
    session.flush()
    return row


def _spend(session: Session, *, challenge_id: str, account_id: str, session_id: str,
           purpose: str, now: dt.datetime) -> WebAuthnChallenge:
    """Claim a ceremony's challenge (once); raises Refused when it is not this caller's,
    already used or too old."""
    row = session.get(WebAuthnChallenge, challenge_id) if challenge_id else None
    if row is None or row.account_id != account_id or row.purpose != purpose:
        raise Refused("unknown challenge")
    if row.session_id != session_id:
        raise Refused("challenge of another session")
    claimed = session.execute(
        update(WebAuthnChallenge)
        .where(WebAuthnChallenge.id == row.id, WebAuthnChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise Refused("challenge already used")
    if now >= row.expires_at:
        raise Refused("stale challenge")
    return row


def _parse(response_json: str) -> dict:
    if not response_json or len(response_json) > MAX_RESPONSE_CHARS:
        raise InvalidArgument("The security key's answer is missing or too long.",
                              field="credential_json")
    try:
        data = json.loads(response_json)
    except ValueError as exc:
        raise InvalidArgument("The security key's answer is not JSON.",
                              field="credential_json") from exc
    if not isinstance(data, dict):
        raise InvalidArgument("The security key's answer is not a credential.",
                              field="credential_json")
    return data


# ---- registration -------------------------------------------------------------------------


def clean_name(name: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise InvalidArgument("Give the security key a name (for example \"Blue key\").",
                              field="name")
    if len(cleaned) > 100:
        raise InvalidArgument("Use at most 100 characters for the key's name.", field="name")
    return cleaned


def begin_registration(session: Session, rp: RelyingParty, *, account: Account,
                       session_id: str, name: str, now: dt.datetime) -> Ceremony:
    name = clean_name(name)
    existing = [
        PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY,
                                      id=_credential(k).credential_id)
        for k in keys_of(session, account.id)
    ]
    options, state = rp.server().register_begin(
        PublicKeyCredentialUserEntity(id=_user_handle(account.id), name=account.email,
                                      display_name=account.display_name),
        existing,
        resident_key_requirement=ResidentKeyRequirement.PREFERRED,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    row = _keep(session, account_id=account.id, session_id=session_id, purpose=REGISTER,
                state=state, now=now, name=name)
    return Ceremony(row.id, json.dumps(dict(options)), row.expires_at)


def finish_registration(session: Session, rp: RelyingParty, *, challenge_id: str,
                        account_id: str, session_id: str, response_json: str,
                        now: dt.datetime) -> SecurityKey:
    """Save the new key; raises Refused (log it) or InvalidArgument (malformed)."""
    data = _parse(response_json)
    row = _spend(session, challenge_id=challenge_id, account_id=account_id,
                 session_id=session_id, purpose=REGISTER, now=now)
    try:
        auth_data = rp.server().register_complete(row.state, RegistrationResponse.from_dict(data))
    except (ValueError, KeyError, TypeError) as exc:
        raise Refused(f"registration not verified: {exc}"[:200]) from exc
    credential = auth_data.credential_data
    credential_id = websafe_encode(credential.credential_id)
    if session.scalars(select(SecurityKey).where(
            SecurityKey.credential_id == credential_id)).first() is not None:
        raise Refused("credential already registered")
    key = SecurityKey(
        id=new_id(), account_id=account_id, name=row.name, credential_id=credential_id,
        credential_data=websafe_encode(bytes(credential)), sign_count=auth_data.counter,
        backup_eligible=auth_data.is_backup_eligible(), created_at=now,
    )
    session.add(key)
    session.flush()
    return key


# ---- authentication (elevation) ---------------------------------------------------------


def begin_authentication(session: Session, rp: RelyingParty, *, account_id: str,
                         session_id: str, now: dt.datetime) -> Ceremony:
    keys = keys_of(session, account_id)
    if not keys:
        raise NotFound(NO_KEYS)
    options, state = rp.server().authenticate_begin(
        [_credential(k) for k in keys], user_verification=UserVerificationRequirement.PREFERRED,
    )
    row = _keep(session, account_id=account_id, session_id=session_id, purpose=ELEVATE,
                state=state, now=now)
    return Ceremony(row.id, json.dumps(dict(options)), row.expires_at)


def finish_authentication(session: Session, rp: RelyingParty, *, challenge_id: str,
                          account_id: str, session_id: str, response_json: str,
                          now: dt.datetime) -> SecurityKey:
    """The key that signed the challenge (its counter and last use updated); raises Refused
    (log it) or InvalidArgument (malformed)."""
    data = _parse(response_json)
    row = _spend(session, challenge_id=challenge_id, account_id=account_id,
                 session_id=session_id, purpose=ELEVATE, now=now)
    try:
        answer = AuthenticationResponse.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise Refused(f"malformed assertion: {exc}"[:200]) from exc
    keys = keys_of(session, account_id)
    by_id = {_credential(k).credential_id: k for k in keys}
    key = by_id.get(answer.raw_id)
    if key is None:
        raise Refused("credential is not this account's")
    handle = answer.response.user_handle
    if handle and handle != _user_handle(account_id):
        raise Refused("user handle is another account's", key)
    try:
        rp.server().authenticate_complete(row.state, [_credential(key)], answer)
    except (ValueError, KeyError, TypeError) as exc:
        raise Refused(f"assertion not verified: {exc}"[:200], key) from exc
    counter = answer.response.authenticator_data.counter
    if (counter or key.sign_count) and counter <= key.sign_count:
        raise Refused(f"sign counter {counter} not above {key.sign_count} (cloned key?)", key)
    key.sign_count = counter
    key.last_used_at = now
    session.flush()
    return key
