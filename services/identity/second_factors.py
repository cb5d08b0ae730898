"""Account Settings > Security Keys, and elevating with a security key.

Adding a second factor (an authenticator app, a security key or passkey) is done by the
person, logged in. The first one can be added with a password-only session; once the
account has one, adding or removing another needs a session elevated with an existing one
(otherwise a stolen password would be enough to plant an attacker's key).

- Authenticator app: *begin* gives a new secret (otpauth URI and a QR code as SVG);
  *confirm* saves it under a name when the current code matches. It shows as unverified
  until first used to log in or elevate.
- Security key: *begin* gives the WebAuthn creation options; *finish* checks the browser's
  answer and saves the key under its name.
- Elevating with a security key: begin/finish with the session secret, like ``Elevate``;
  the session then gets acr=mfa and a new secret.

Every refusal is written to the security log and changes nothing else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.identity import access, totp
from services.identity import security_keys as keys
from services.identity import security_log as slog
from services.identity.login import Authenticator, Elevated
from services.identity.secretbox import SecretBox
from shared.context import Claims
from shared.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

ELEVATE_FIRST = (
    "You already have a security key or authenticator app: elevate your access with it "
    "first (or ask an administrator to remove it if it is lost)."
)
BAD_SETUP_CODE = "That code does not match. Check the code your app shows now and try again."
KEY_NOT_ACCEPTED = "Your security key was not accepted. Please try again."


@dataclass(frozen=True)
class Factor:
    id: str
    kind: str  # "totp" | "security_key"
    name: str
    verified: bool
    created_at: dt.datetime
    last_used_at: dt.datetime | None


def factors_of(session: Session, account_id: str) -> list[Factor]:
    apps = [Factor(d.id, "totp", d.name, d.verified, d.created_at, d.last_used_at)
            for d in totp.devices_of(session, account_id)]
    security_keys = [Factor(k.id, "security_key", k.name, True, k.created_at, k.last_used_at)
                     for k in keys.keys_of(session, account_id)]
    return apps + security_keys


class SecondFactors:
    def __init__(self, auth: Authenticator, *, box: SecretBox, rp: keys.RelyingParty) -> None:
        self.auth = auth
        self.db = auth.db
        self.box = box
        self.rp = rp

    def _log(self, who: access.Caller, *, factor: str, now: dt.datetime, client_ip: str,
             user_agent: str) -> dict:
        return dict(account_id=who.account_id, email=who.account.email,
                    school_id=who.school_id, session_id=who.session.id, factor=factor,
                    at=now, client_ip=client_ip, user_agent=user_agent)

    @staticmethod
    def _may_add(session: Session, who: access.Caller) -> None:
        if factors_of(session, who.account_id) and not who.elevated:
            raise PermissionDenied(ELEVATE_FIRST)

    # ---- the caller's own -----------------------------------------------------------------

    def list_mine(self, claims: Claims) -> list[Factor]:
        with self.db.read() as session:
            who = access.caller(session, claims)
            return factors_of(session, who.account_id)

    def begin_totp(self, claims: Claims, *, now: dt.datetime | None = None) -> totp.Enrolment:
        now = now or self.auth.clock()
        with self.db.transaction() as session:
            who = access.caller(session, claims)
            self._may_add(session, who)
            return totp.begin_enrolment(session, self.box, account_id=who.account_id,
                                        session_id=who.session.id, email=who.account.email,
                                        now=now)

    def confirm_totp(self, claims: Claims, *, enrolment_id: str, name: str, code: str,
                     client_ip: str = "", user_agent: str = "",
                     now: dt.datetime | None = None) -> Factor:
        now = now or self.auth.clock()
        totp.clean_code(code)

        def work(session: Session) -> Factor | DomainError:
            who = access.caller(session, claims)
            self._may_add(session, who)
            log = self._log(who, factor=slog.FACTOR_TOTP, now=now, client_ip=client_ip,
                            user_agent=user_agent)
            device = totp.confirm_enrolment(
                session, self.box, enrolment_id=enrolment_id, account_id=who.account_id,
                session_id=who.session.id, name=name, code=code, now=now)
            if device is None:
                slog.record(session, event=slog.TOTP_DEVICE_REFUSED, detail="wrong code",
                            **log)
                return InvalidArgument(BAD_SETUP_CODE, field="code")
            slog.record(session, event=slog.TOTP_DEVICE_ADDED, detail=device.name, **log)
            return Factor(device.id, "totp", device.name, False, device.created_at, None)

        return self.auth.commit_then_raise(work)

    def begin_key_registration(self, claims: Claims, *, name: str,
                               now: dt.datetime | None = None) -> keys.Ceremony:
        now = now or self.auth.clock()
        with self.db.transaction() as session:
            who = access.caller(session, claims)
            self._may_add(session, who)
            return keys.begin_registration(session, self.rp, account=who.account,
                                           session_id=who.session.id, name=name, now=now)

    def finish_key_registration(self, claims: Claims, *, challenge_id: str,
                                credential_json: str, client_ip: str = "",
                                user_agent: str = "", now: dt.datetime | None = None
                                ) -> Factor:
        now = now or self.auth.clock()

        def work(session: Session) -> Factor | DomainError:
            who = access.caller(session, claims)
            self._may_add(session, who)
            log = self._log(who, factor=slog.FACTOR_SECURITY_KEY, now=now,
                            client_ip=client_ip, user_agent=user_agent)
            try:
                key = keys.finish_registration(
                    session, self.rp, challenge_id=challenge_id, account_id=who.account_id,
                    session_id=who.session.id, response_json=credential_json, now=now)
            except keys.Refused as refused:
                slog.record(session, event=slog.SECURITY_KEY_REFUSED, detail=refused.reason,
                            **log)
                return InvalidArgument(KEY_NOT_ACCEPTED, field="credential_json")
            slog.record(session, event=slog.SECURITY_KEY_ADDED, detail=key.name, **log)
            return Factor(key.id, "security_key", key.name, True, key.created_at, None)

        return self.auth.commit_then_raise(work)

    def remove_mine(self, claims: Claims, *, factor_id: str, client_ip: str = "",
                    user_agent: str = "", now: dt.datetime | None = None) -> None:
        """Remove one of the caller's own second factors (needs an elevated session)."""
        now = now or self.auth.clock()
        with self.db.transaction() as session:
            who = access.caller(session, claims)
            if not who.elevated:
                raise PermissionDenied(ELEVATE_FIRST)
            removed_app = totp.remove_devices(session, account_id=who.account_id,
                                              device_id=factor_id)
            removed_key = 0 if removed_app else keys.remove_keys(
                session, account_id=who.account_id, key_id=factor_id)
            if not (removed_app or removed_key):
                raise NotFound("No such security key on your account.", field="factor_id")
            slog.record(session, event=slog.TOTP_DEVICE_REMOVED if removed_app
                        else slog.SECURITY_KEY_REMOVED, detail="removed by its owner",
                        **self._log(who, factor=slog.FACTOR_TOTP if removed_app
                                    else slog.FACTOR_SECURITY_KEY, now=now,
                                    client_ip=client_ip, user_agent=user_agent))

    # ---- elevating with a security key ------------------------------------------------------

    def begin_key_elevation(self, *, session_secret: str, client_ip: str = "",
                            user_agent: str = "", now: dt.datetime | None = None
                            ) -> keys.Ceremony:
        now = now or self.auth.clock()

        def work(session: Session) -> keys.Ceremony | DomainError:
            live = self.auth.live(session, session_secret, now, client_ip=client_ip,
                                  user_agent=user_agent)
            if isinstance(live, DomainError):
                return live
            row, account, _found = live
            if not keys.keys_of(session, account.id):
                return FailedPrecondition(keys.NO_KEYS)
            return keys.begin_authentication(session, self.rp, account_id=account.id,
                                             session_id=row.id, now=now)

        return self.auth.commit_then_raise(work)

    def finish_key_elevation(self, *, session_secret: str, challenge_id: str,
                             credential_json: str, client_ip: str = "", user_agent: str = "",
                             now: dt.datetime | None = None) -> Elevated:
        now = now or self.auth.clock()

        def work(session: Session) -> Elevated | DomainError:
            live = self.auth.live(session, session_secret, now, client_ip=client_ip,
                                  user_agent=user_agent)
            if isinstance(live, DomainError):
                return live
            row, account, (_membership, group, _school) = live
            log = dict(account_id=account.id, email=account.email, school_id=row.school_id,
                       session_id=row.id, factor=slog.FACTOR_SECURITY_KEY,
                       client_ip=client_ip, user_agent=user_agent, at=now)
            throttled = self.auth.elevation_throttled(session, account, log, now)
            if throttled is not None:
                return throttled
            try:
                key = keys.finish_authentication(
                    session, self.rp, challenge_id=challenge_id, account_id=account.id,
                    session_id=row.id, response_json=credential_json, now=now)
            except keys.Refused as refused:
                slog.record(session, event=slog.ELEVATE_FAILED, detail=refused.reason, **log)
                return InvalidArgument(KEY_NOT_ACCEPTED, field="credential_json")
            row.security_key_id = key.id
            slog.record(session, event=slog.ELEVATE_OK, detail=key.name, **log)
            return self.auth.step_up(session, row, account, group, now=now)

        return self.auth.commit_then_raise(work)

