"""Logging in, elevating access with a second factor, refreshing and ending sessions.

- ``login``: email + password -> a session (acr=pwd) and a restricted token. Unknown email and
  wrong password get the same answer (and cost the same time). Throttled per typed email
  address (failures since its last success) and per client address, counted from the
  security log; a throttled attempt is refused before the password is checked.
- ``elevate``: a TOTP code steps the session up to acr=mfa; a key holder's token then has
  full access with the group's permissions.
- ``refresh``: a new token for a live session, with the group's permissions as they are now.
- ``logout``: revokes the session.

Every attempt is written to the security log, including refused ones (the log entry commits
even when the request is refused). Time comes from ``now`` arguments or the clock given to
``Authenticator``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from services.identity import directory, sessions, totp
from services.identity import security_log as slog
from services.identity.config import IdentityConfig
from services.identity.models import Account, LoginSession
from services.identity.passwords import MAX_LENGTH, Passwords
from services.identity.secretbox import SecretBox
from services.identity.tokens import ACR_MFA, IssuedToken, Subject, TokenIssuer
from shared.db import Database, utcnow
from shared.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    TooManyRequests,
    Unauthenticated,
)

Clock = Callable[[], dt.datetime]
T = TypeVar("T")

BAD_CREDENTIALS = "Email or password is incorrect."
NO_ACTIVE_MEMBERSHIP = (
    "Your account is not active at any school. Please ask your school's administrator."
)
BAD_CODE = (
    "That code is incorrect or out of date. Check that your device's clock is set "
    "automatically, then try the new code."
)
NO_DEVICE = "No authenticator app is set up for your account."


def _too_many(what: str, window_seconds: int) -> str:
    minutes = max(1, round(window_seconds / 60))
    return f"Too many {what}. Please wait {minutes} minutes and try again."


@dataclass(frozen=True)
class LoginResult:
    session_secret: str
    session_id: str
    token: IssuedToken
    can_elevate: bool
    display_name: str
    school_id: str
    school_name: str


class Authenticator:
    """Login, elevation, refresh and logout against one identity database."""

    def __init__(
        self,
        db: Database,
        *,
        config: IdentityConfig,
        box: SecretBox,
        passwords: Passwords,
        issuer: TokenIssuer,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.config = config
        self.box = box
        self.passwords = passwords
        self.issuer = issuer
        self.clock = clock
        self.timeouts = sessions.Timeouts(
            idle=dt.timedelta(seconds=config.session_idle_seconds),
            max_age=dt.timedelta(seconds=config.session_max_seconds),
        )
        self.window = dt.timedelta(seconds=config.login_window_seconds)

    # One transaction; a refusal *returned* by ``work`` is raised after the commit, so the
    # security log entry written on the way is kept. A refusal *raised* rolls back.
    def _commit_then_raise(self, work: Callable[[Session], T | DomainError]) -> T:
        with self.db.transaction() as session:
            outcome = work(session)
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    # ---- login ------------------------------------------------------------------------------

    def login(
        self,
        *,
        email: str,
        password: str,
        client_ip: str = "",
        user_agent: str = "",
        now: dt.datetime | None = None,
    ) -> LoginResult:
        now = now or self.clock()
        typed = directory.normalise_email(email)[:254]
        if not typed or not password:
            raise InvalidArgument("Enter your email address and password.")

        log = dict(email=typed, client_ip=client_ip, user_agent=user_agent, at=now,
                   factor=slog.FACTOR_PASSWORD)
        # Read, then check the password outside any transaction (argon2 takes a while and
        # must not hold a database lock), then write the outcome.
        with self.db.read() as session:
            refusal = self._login_throttled(session, typed, client_ip, now)
            account = directory.find_account(session, typed)
            account_id = account.id if account else None
            stored_hash = account.password_hash if account else None
        if refusal:
            with self.db.transaction() as session:
                slog.record(session, event=slog.LOGIN_THROTTLED, detail=refusal, **log)
            raise TooManyRequests(
                _too_many("failed login attempts", self.config.login_window_seconds)
            )
        password_ok = len(password) <= MAX_LENGTH and self.passwords.verify(
            stored_hash, password
        )
        rehashed = (
            self.passwords.hash(password)
            if password_ok and self.passwords.needs_rehash(stored_hash)
            else None
        )

        def work(session: Session) -> LoginResult | DomainError:
            account = session.get(Account, account_id) if account_id else None
            if not password_ok or account is None or account.password_hash != stored_hash:
                detail = (
                    "unknown email" if account is None
                    else "no password set" if not stored_hash
                    else "wrong password" if not password_ok
                    else "password changed meanwhile"
                )
                where = (
                    directory.active_membership(session, account_id=account.id)
                    if account else None
                )
                slog.record(
                    session, event=slog.LOGIN_FAILED, detail=detail,
                    account_id=account.id if account else None,
                    school_id=where[0].school_id if where else None, **log,
                )
                return Unauthenticated(BAD_CREDENTIALS)
            if rehashed:  # the cost parameters have changed since it was hashed
                account.password_hash = rehashed
            found = directory.active_membership(session, account_id=account.id)
            if found is None:
                slog.record(session, event=slog.LOGIN_REFUSED, account_id=account.id,
                            detail="no active membership", **log)
                return PermissionDenied(NO_ACTIVE_MEMBERSHIP)
            membership, group, school = found
            row, secret = sessions.open_session(
                session, account_id=account.id, school_id=school.id, now=now,
                client_ip=client_ip, user_agent=user_agent,
            )
            token = self.issuer.issue(session, self._subject(account, row, group), now=now)
            slog.record(session, event=slog.LOGIN_OK, account_id=account.id,
                        school_id=school.id, session_id=row.id, **log)
            return LoginResult(
                session_secret=secret,
                session_id=row.id,
                token=token,
                can_elevate=group.key_holder and bool(totp.devices_of(session, account.id)),
                display_name=account.display_name,
                school_id=school.id,
                school_name=school.name,
            )

        return self._commit_then_raise(work)

    def _login_throttled(
        self, session: Session, email: str, client_ip: str, now: dt.datetime
    ) -> str | None:
        start = now - self.window
        last_ok = slog.last_at(session, event=slog.LOGIN_OK, email=email)
        since = max(start, last_ok) if last_ok else start
        if (
            slog.count_since(session, event=slog.LOGIN_FAILED, since=since, email=email)
            >= self.config.login_account_failures
        ):
            return "too many failures for this email"
        # With no client address (a caller that forgot to pass it) there is no bucket.
        if client_ip and (
            slog.count_since(session, event=slog.LOGIN_FAILED, since=start, client_ip=client_ip)
            >= self.config.login_address_failures
        ):
            return "too many failures from this address"
        return None

    # ---- live sessions ----------------------------------------------------------------------

    def _live(
        self, session: Session, secret: str, now: dt.datetime, *, client_ip: str,
        user_agent: str,
    ) -> tuple[LoginSession, Account, tuple] | DomainError:
        """The session and its membership, touched; or the refusal (session then ended)."""
        row = sessions.find(session, secret)
        if row is None:
            return Unauthenticated(sessions.SESSION_ENDED)
        reason = sessions.expiry_reason(row, now=now, timeouts=self.timeouts)
        if reason is None:
            found = directory.active_membership(
                session, account_id=row.account_id, school_id=row.school_id
            )
            if found is None:
                reason = sessions.REVOKED_MEMBERSHIP
        if reason is not None:
            if row.revoked_at is None:
                sessions.revoke(row, now=now, reason=reason)
                slog.record(
                    session, event=slog.SESSION_EXPIRED, account_id=row.account_id,
                    school_id=row.school_id, session_id=row.id, client_ip=client_ip,
                    user_agent=user_agent, at=now, detail=reason,
                )
            return Unauthenticated(sessions.SESSION_ENDED)
        row.last_seen_at = now
        account = session.get(Account, row.account_id)
        return row, account, found

    @staticmethod
    def _subject(account: Account, row: LoginSession, group) -> Subject:
        return Subject(
            account_id=account.id,
            session_id=row.id,
            school_id=row.school_id,
            user_group_id=group.id,
            acr=row.acr,
            key_holder=group.key_holder,
            group_permissions=tuple(group.permissions or ()),
            name=account.display_name,
        )

    # ---- elevate ----------------------------------------------------------------------------

    def elevate(
        self,
        *,
        session_secret: str,
        code: str,
        client_ip: str = "",
        user_agent: str = "",
        now: dt.datetime | None = None,
    ) -> IssuedToken:
        now = now or self.clock()
        cleaned = totp.clean_code(code)

        def work(session: Session) -> IssuedToken | DomainError:
            live = self._live(session, session_secret, now, client_ip=client_ip,
                              user_agent=user_agent)
            if isinstance(live, DomainError):
                return live
            row, account, (membership, group, _school) = live
            log = dict(account_id=account.id, email=account.email, school_id=row.school_id,
                       session_id=row.id, factor=slog.FACTOR_TOTP, client_ip=client_ip,
                       user_agent=user_agent, at=now)
            last_ok = slog.last_at(session, event=slog.ELEVATE_OK, email=account.email)
            since = max(now - self.window, last_ok) if last_ok else now - self.window
            failures = slog.count_since(
                session, event=slog.ELEVATE_FAILED, since=since, account_id=account.id
            )
            if failures >= self.config.elevate_failures:
                slog.record(session, event=slog.ELEVATE_THROTTLED, **log)
                return TooManyRequests(
                    _too_many("wrong codes", self.config.login_window_seconds)
                )
            if not totp.devices_of(session, account.id):
                slog.record(session, event=slog.ELEVATE_FAILED, detail="no device", **log)
                return FailedPrecondition(NO_DEVICE)
            check = totp.check_code(session, self.box, account_id=account.id, code=cleaned,
                                    now=now)
            if not check.ok:
                detail = "replayed code" if check.replay else "wrong code"
                slog.record(session, event=slog.ELEVATE_FAILED, detail=detail, **log)
                return InvalidArgument(BAD_CODE, field="totp_code")
            row.acr = ACR_MFA
            row.elevated_at = now
            row.totp_device_id = check.device.id
            slog.record(session, event=slog.ELEVATE_OK, detail=check.device.name, **log)
            return self.issuer.issue(session, self._subject(account, row, group), now=now)

        return self._commit_then_raise(work)

    # ---- refresh and logout -----------------------------------------------------------------

    def refresh(
        self,
        *,
        session_secret: str,
        client_ip: str = "",
        user_agent: str = "",
        now: dt.datetime | None = None,
    ) -> IssuedToken:
        now = now or self.clock()

        def work(session: Session) -> IssuedToken | DomainError:
            live = self._live(session, session_secret, now, client_ip=client_ip,
                              user_agent=user_agent)
            if isinstance(live, DomainError):
                return live
            row, account, (_membership, group, _school) = live
            return self.issuer.issue(session, self._subject(account, row, group), now=now)

        return self._commit_then_raise(work)

    def logout(
        self,
        *,
        session_secret: str,
        client_ip: str = "",
        user_agent: str = "",
        now: dt.datetime | None = None,
    ) -> None:
        """End the session. Ending an unknown or already ended session is not an error."""
        now = now or self.clock()
        with self.db.transaction() as session:
            row = sessions.find(session, session_secret)
            if row is None or row.revoked_at is not None:
                return
            sessions.revoke(row, now=now, reason=sessions.REVOKED_LOGOUT)
            account = session.get(Account, row.account_id)
            slog.record(
                session, event=slog.LOGOUT, account_id=row.account_id,
                email=account.email if account else "", school_id=row.school_id,
                session_id=row.id, client_ip=client_ip, user_agent=user_agent, at=now,
            )

    # ---- keys -------------------------------------------------------------------------------

    def jwks_json(self, now: dt.datetime | None = None) -> str:
        """The published keys; makes the first signing key if there is none yet."""
        now = now or self.clock()
        with self.db.read() as session:
            published = self.issuer.jwks_json(session, now=now)
        if '"keys": []' not in published:
            return published
        with self.db.transaction() as session:
            self.issuer.current_key(session, now=now)
            return self.issuer.jwks_json(session, now=now)
