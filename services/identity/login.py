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

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.identity import directory, sessions, totp
from services.identity import security_keys as keys
from services.identity import security_log as slog
from services.identity import settings as school_settings
from services.identity.config import IdentityConfig
from services.identity.models import Account, LoginSession, School
from services.identity.passwords import MAX_LENGTH, Passwords
from services.identity.secretbox import SecretBox
from services.identity.tokens import ACR_MFA, IssuedToken, Subject, TokenIssuer
from shared.context import school_scope
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
NOT_A_MEMBER = "You are not a user of that school."


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
    has_authenticator_app: bool = False
    has_security_key: bool = False
    other_schools: int = 0  # active memberships elsewhere (an SSO account can switch)
    account_id: str = ""
    idle_timeout_minutes: int = school_settings.DEFAULT_IDLE_MINUTES  # the UI blanks after it


@dataclass(frozen=True)
class Elevated:
    """A stepped-up session: its new token, and the new secret that replaces the old one."""

    token: IssuedToken
    session_secret: str


@dataclass(frozen=True)
class SchoolChoice:
    school_id: str
    name: str
    slug: str
    user_group_name: str
    current: bool
    idle_timeout_minutes: int = school_settings.DEFAULT_IDLE_MINUTES


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
        school_slug: str = "",
        now: dt.datetime | None = None,
    ) -> LoginResult:
        """``school_slug`` (a school's login page) picks that school when the account is an
        active member of it; otherwise the account's first active membership is used."""
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
                if account is not None:
                    where = directory.active_membership(session, account_id=account.id)
                    school_id = where[0].school_id if where else None
                else:  # an unknown email: the school whose login page was used, if any
                    page = session.scalars(select(School).where(
                        School.slug == school_slug.strip().lower())).first() \
                        if school_slug else None
                    school_id = page.id if page else None
                slog.record(
                    session, event=slog.LOGIN_FAILED, detail=detail,
                    account_id=account.id if account else None, school_id=school_id, **log,
                )
                return Unauthenticated(BAD_CREDENTIALS)
            if rehashed:  # the cost parameters have changed since it was hashed
                account.password_hash = rehashed
            found = directory.active_membership(session, account_id=account.id)
            if found is None:
                latest = directory.memberships_of(session, account.id)
                slog.record(session, event=slog.LOGIN_REFUSED, account_id=account.id,
                            school_id=latest[-1].school_id if latest else None,
                            detail="deactivated user" if latest else "no membership", **log)
                return PermissionDenied(NO_ACTIVE_MEMBERSHIP)
            if school_slug:
                wanted = self._member_of_slug(session, account.id, school_slug)
                found = wanted or found
            membership, group, school = found
            result = self._open(session, account, found, now=now, client_ip=client_ip,
                                user_agent=user_agent)
            slog.record(session, event=slog.LOGIN_OK, account_id=account.id,
                        school_id=school.id, session_id=result.session_id, **log)
            return result

        return self._commit_then_raise(work)

    @staticmethod
    def _member_of_slug(session: Session, account_id: str, slug: str):
        school = session.scalars(
            select(School).where(School.slug == slug.strip().lower())
        ).first()
        if school is None:
            return None
        return directory.active_membership(session, account_id=account_id,
                                           school_id=school.id)

    def _open(self, session: Session, account: Account, found: tuple, *, now: dt.datetime,
              client_ip: str, user_agent: str) -> LoginResult:
        """A new session (acr=pwd) in the membership's school, and its first token."""
        membership, group, school = found
        row, secret = sessions.open_session(
            session, account_id=account.id, school_id=school.id, now=now,
            client_ip=client_ip, user_agent=user_agent,
        )
        membership.last_login_at = now
        token = self.issuer.issue(session, self._subject(account, row, group), now=now)
        has_app = bool(totp.devices_of(session, account.id))
        has_key = bool(keys.keys_of(session, account.id))
        others = sum(1 for m in directory.memberships_of(session, account.id)
                     if m.active and m.school_id != school.id)
        return LoginResult(
            session_secret=secret,
            session_id=row.id,
            token=token,
            can_elevate=group.key_holder and (has_app or has_key),
            display_name=account.display_name,
            school_id=school.id,
            school_name=school.name,
            has_authenticator_app=has_app,
            has_security_key=has_key,
            other_schools=others,
            account_id=account.id,
            idle_timeout_minutes=school_settings.get(session, school.id).idle_timeout_minutes,
        )

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
        reason = sessions.expiry_reason(row, now=now, timeouts=self.timeouts,
                                        idle=self.idle_for(session, row.school_id))
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

    def idle_for(self, session: Session, school_id: str) -> dt.timedelta:
        return school_settings.session_idle(
            school_settings.get(session, school_id),
            ceiling=self.timeouts.idle,
            floor=dt.timedelta(seconds=self.config.token_ttl + 60),
        )

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
    ) -> Elevated:
        """Step the session up with an authenticator app's code; the session gets a new
        secret (returned) and the old one stops working."""
        now = now or self.clock()
        cleaned = totp.clean_code(code)

        def work(session: Session) -> Elevated | DomainError:
            live = self._live(session, session_secret, now, client_ip=client_ip,
                              user_agent=user_agent)
            if isinstance(live, DomainError):
                return live
            row, account, (membership, group, _school) = live
            log = dict(account_id=account.id, email=account.email, school_id=row.school_id,
                       session_id=row.id, factor=slog.FACTOR_TOTP, client_ip=client_ip,
                       user_agent=user_agent, at=now)
            throttled = self.elevation_throttled(session, account, log, now)
            if throttled is not None:
                return throttled
            if not totp.devices_of(session, account.id):
                slog.record(session, event=slog.ELEVATE_FAILED, detail="no device", **log)
                return FailedPrecondition(NO_DEVICE)
            check = totp.check_code(session, self.box, account_id=account.id, code=cleaned,
                                    now=now)
            if not check.ok:
                detail = "replayed code" if check.replay else "wrong code"
                slog.record(session, event=slog.ELEVATE_FAILED, detail=detail, **log)
                return InvalidArgument(BAD_CODE, field="totp_code")
            row.totp_device_id = check.device.id
            slog.record(session, event=slog.ELEVATE_OK, detail=check.device.name, **log)
            return self.step_up(session, row, account, group, now=now)

        return self._commit_then_raise(work)

    def elevation_throttled(self, session: Session, account: Account, log: dict,
                            now: dt.datetime) -> DomainError | None:
        """Too many failed second factors (any kind) since the last success: refuse."""
        last_ok = slog.last_at(session, event=slog.ELEVATE_OK, email=account.email)
        since = max(now - self.window, last_ok) if last_ok else now - self.window
        failures = slog.count_since(
            session, event=slog.ELEVATE_FAILED, since=since, account_id=account.id
        )
        if failures < self.config.elevate_failures:
            return None
        slog.record(session, event=slog.ELEVATE_THROTTLED, **log)
        return TooManyRequests(_too_many("failed attempts", self.config.login_window_seconds))

    def step_up(self, session: Session, row: LoginSession, account: Account, group, *,
                now: dt.datetime) -> Elevated:
        """acr=mfa for this session, under a new secret (session fixation)."""
        row.acr = ACR_MFA
        row.elevated_at = now
        secret = sessions.rotate_secret(row)
        token = self.issuer.issue(session, self._subject(account, row, group), now=now)
        return Elevated(token=token, session_secret=secret)

    def live(self, session: Session, secret: str, now: dt.datetime, *, client_ip: str = "",
             user_agent: str = ""):
        """The live session of a secret with its account and membership, or the refusal."""
        return self._live(session, secret, now, client_ip=client_ip, user_agent=user_agent)

    def commit_then_raise(self, work: Callable[[Session], T | DomainError]) -> T:
        return self._commit_then_raise(work)

    # ---- schools (SSO accounts) -------------------------------------------------------------

    def schools_of(self, *, account_id: str, current_school_id: str) -> list[SchoolChoice]:
        """The schools an account is an active user of (the switch menu). The account's own
        memberships of every school: read without the caller's school scope (and so without
        PostgreSQL's row-level security wall), filtered by the account instead."""
        with school_scope(None), self.db.read() as session:
            return [
                SchoolChoice(school_id=school.id, name=school.name, slug=school.slug,
                             user_group_name=group.name,
                             current=school.id == current_school_id,
                             idle_timeout_minutes=school_settings.get(
                                 session, school.id).idle_timeout_minutes)
                for _m, group, school in directory.active_memberships(session, account_id)
            ]

    def switch_school(
        self,
        *,
        session_secret: str,
        school_id: str,
        client_ip: str = "",
        user_agent: str = "",
        now: dt.datetime | None = None,
    ) -> LoginResult:
        """Leave this session for a fresh one in another school of the same account: a new
        secret, acr=pwd (elevate again there), that school's group. Nothing carries across.
        A school the account is not an active user of is refused and logged, and the current
        session stays as it was."""
        now = now or self.clock()

        def work(session: Session) -> LoginResult | DomainError:
            live = self._live(session, session_secret, now, client_ip=client_ip,
                              user_agent=user_agent)
            if isinstance(live, DomainError):
                return live
            row, account, _found = live
            log = dict(account_id=account.id, email=account.email, session_id=row.id,
                       client_ip=client_ip, user_agent=user_agent, at=now)
            target = directory.active_membership(
                session, account_id=account.id, school_id=school_id
            ) if school_id else None
            if target is None:
                slog.record(session, event=slog.SCHOOL_SWITCH_REFUSED, school_id=row.school_id,
                            detail=f"no active membership of {school_id[:40]!r}", **log)
                return PermissionDenied(NOT_A_MEMBER)
            sessions.revoke(row, now=now, reason=sessions.REVOKED_SWITCHED)
            result = self._open(session, account, target, now=now, client_ip=client_ip,
                                user_agent=user_agent)
            # A session opened through OAuth2 stays its client's (the new secret is the
            # client's refresh token now).
            fresh = session.get(LoginSession, result.session_id)
            fresh.oauth_client_id, fresh.oauth_scope = row.oauth_client_id, row.oauth_scope
            slog.record(session, event=slog.SCHOOL_SWITCHED, school_id=school_id,
                        detail=f"from session {row.id}",
                        **dict(log, session_id=result.session_id))
            return result

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

    def refresh_with_subject(
        self, *, session_secret: str, now: dt.datetime | None = None,
    ) -> tuple[IssuedToken, Account, LoginSession]:
        """As ``refresh``, also returning the account and session (OIDC refresh grant)."""
        now = now or self.clock()

        def work(session: Session):
            live = self._live(session, session_secret, now, client_ip="", user_agent="")
            if isinstance(live, DomainError):
                return live
            row, account, (_membership, group, _school) = live
            return (self.issuer.issue(session, self._subject(account, row, group), now=now),
                    account, row)

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
            row = sessions.find_for_logout(session, session_secret)
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
