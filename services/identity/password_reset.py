"""First passwords and forgotten passwords: an emailed single-use link.

- A link expires at midnight (the school's time zone) of the day it was sent, and works once.
- Asking for a link answers the same whether or not the email belongs to anyone: an unknown
  email is written to the security log (of the school whose page was used, when known) and
  nothing is sent. Too many requests for one email within the window are answered the same
  and send nothing more; too many from one client address are refused (that reveals
  nothing about any email).
- The email itself is sent by notifications, which consumes
  ``identity.password_reset.requested`` (the link's path, never a password).
- Setting the password checks its strength (with the reasons), ends every session of the
  account and spends every other link it has.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.identity import directory, sessions
from services.identity import security_log as slog
from services.identity.config import IdentityConfig
from services.identity.models import Account, PasswordResetLink, School
from services.identity.passwords import MAX_LENGTH, Passwords, check_strength, strength_problems
from shared.db import Database, new_id, utcnow
from shared.errors import DomainError, InvalidArgument, TooManyRequests

LINK_PATH = "/reset-password/{token}"
BAD_LINK = (
    "This link has expired or has already been used. Ask for a new one from the login page."
)
SENT = (
    "If that email address belongs to a user, we have sent it a link to set a password. "
    "The link works until midnight tonight."
)
REVOKED_PASSWORD_RESET = "password_reset"  # noqa: S105 - a reason


class Publisher(Protocol):
    def password_reset_requested(self, session: Session, link: PasswordResetLink,
                                 account: Account, school: School, *, token: str,
                                 actor: str) -> None: ...


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def midnight_after(now: dt.datetime, time_zone: str) -> dt.datetime:
    """The end of ``now``'s day in ``time_zone``, as naive UTC."""
    zone = ZoneInfo(time_zone)
    local = now.replace(tzinfo=dt.UTC).astimezone(zone)
    next_day = local.date() + dt.timedelta(days=1)
    midnight = dt.datetime.combine(next_day, dt.time(0, 0), tzinfo=zone)
    return midnight.astimezone(dt.UTC).replace(tzinfo=None)


def issue_link(
    session: Session,
    publisher: Publisher,
    *,
    account: Account,
    school: School,
    now: dt.datetime,
    actor: str,
    welcome: bool = False,
    client_ip: str = "",
) -> tuple[PasswordResetLink, str]:
    """Make a link and announce it (notifications emails it). Returns it and its token."""
    token = secrets.token_urlsafe(32)
    link = PasswordResetLink(
        id=new_id(), token_hash=hash_token(token), account_id=account.id, school_id=school.id,
        welcome=welcome, created_at=now, expires_at=midnight_after(now, school.time_zone),
        client_ip=client_ip[:64],
    )
    session.add(link)
    session.flush()
    publisher.password_reset_requested(session, link, account, school, token=token,
                                       actor=actor)
    return link, token


def cancel_links(session: Session, *, account_id: str, now: dt.datetime) -> int:
    """Spend every unused link of an account (its password was set, or its email changed)."""
    return session.execute(
        update(PasswordResetLink)
        .where(PasswordResetLink.account_id == account_id, PasswordResetLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False, all_schools=True)
    ).rowcount


@dataclass(frozen=True)
class LinkInfo:
    email: str
    display_name: str
    school_name: str
    welcome: bool
    expires_at: dt.datetime


class PasswordResets:
    def __init__(self, db: Database, *, config: IdentityConfig, passwords: Passwords,
                 publisher: Publisher, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.config = config
        self.passwords = passwords
        self.publisher = publisher
        self.clock = clock
        self.window = dt.timedelta(seconds=config.reset_window_seconds)

    # ---- asking for a link --------------------------------------------------------------------

    def request(self, *, email: str, school_slug: str = "", client_ip: str = "",
                user_agent: str = "", now: dt.datetime | None = None) -> str:
        """Send a link if the email belongs to an active user. Returns the message to show,
        which is the same either way."""
        now = now or self.clock()
        typed = directory.normalise_email(email)[:254]
        if not typed or "@" not in typed:
            raise InvalidArgument("Enter your email address.", field="email")
        refusal: DomainError | None = None
        with self.db.transaction() as session:
            page_school = self._school_by_slug(session, school_slug)
            log = dict(email=typed, client_ip=client_ip, user_agent=user_agent, at=now)
            since = now - self.window
            if client_ip and slog.count_since(
                session, event=slog.PASSWORD_RESET_REQUESTED, since=since, client_ip=client_ip
            ) + slog.count_since(
                session, event=slog.PASSWORD_RESET_UNKNOWN_EMAIL, since=since,
                client_ip=client_ip,
            ) >= self.config.reset_address_limit:
                slog.record(session, event=slog.PASSWORD_RESET_THROTTLED,
                            school_id=page_school.id if page_school else None,
                            detail="too many requests from this address", **log)
                refusal = TooManyRequests(
                    "Too many requests. Please wait an hour and try again."
                )
            else:
                self._request(session, typed, page_school, log, now)
        if refusal is not None:
            raise refusal
        return SENT

    @staticmethod
    def _school_by_slug(session: Session, slug: str) -> School | None:
        cleaned = (slug or "").strip().lower()
        if not cleaned:
            return None
        return session.scalars(select(School).where(School.slug == cleaned)).first()

    def _request(self, session: Session, typed: str, page_school: School | None, log: dict,
                 now: dt.datetime) -> None:
        account = directory.find_account(session, typed)
        where = None
        if account is not None:
            where = (
                directory.active_membership(session, account_id=account.id,
                                            school_id=page_school.id)
                if page_school else None
            ) or directory.active_membership(session, account_id=account.id)
        if account is None or where is None:
            slog.record(session, event=slog.PASSWORD_RESET_UNKNOWN_EMAIL,
                        account_id=account.id if account else None,
                        school_id=page_school.id if page_school else None,
                        detail="unknown email" if account is None else "no active membership",
                        **log)
            return
        _membership, _group, school = where
        sent = slog.count_since(session, event=slog.PASSWORD_RESET_REQUESTED,
                                since=now - self.window, email=typed)
        if sent >= self.config.reset_email_limit:
            slog.record(session, event=slog.PASSWORD_RESET_THROTTLED, account_id=account.id,
                        school_id=school.id, detail="too many links for this email", **log)
            return
        link, _token = issue_link(session, self.publisher, account=account, school=school,
                                  now=now, actor=account.id, client_ip=log["client_ip"])
        slog.record(session, event=slog.PASSWORD_RESET_REQUESTED, account_id=account.id,
                    school_id=school.id, detail=f"link {link.id}", **log)

    # ---- using a link -------------------------------------------------------------------------

    def _live_link(self, session: Session, token: str, now: dt.datetime
                   ) -> tuple[PasswordResetLink, Account] | None:
        if not token or len(token) > 200:
            return None
        link = session.scalars(
            select(PasswordResetLink)
            .where(PasswordResetLink.token_hash == hash_token(token))
            .execution_options(all_schools=True)
        ).first()
        if link is None or link.used_at is not None or now >= link.expires_at:
            return None
        return link, session.get(Account, link.account_id)

    def check(self, *, token: str, now: dt.datetime | None = None) -> LinkInfo:
        """Who a link is for (the page says "set a password for ..."); refused when spent."""
        now = now or self.clock()
        with self.db.read() as session:
            found = self._live_link(session, token, now)
            if found is None:
                raise InvalidArgument(BAD_LINK, field="token")
            link, account = found
            school = session.get(School, link.school_id)
            return LinkInfo(email=account.email, display_name=account.display_name,
                            school_name=school.name if school else "", welcome=link.welcome,
                            expires_at=link.expires_at)

    def strength(self, *, password: str, token: str = "", email: str = "",
                 now: dt.datetime | None = None) -> list[str]:
        """Reasons a password would be refused ([] when fine), counting the person's own
        details (from the link, or the email given) as known words."""
        inputs = [email] if email else []
        if token:
            with self.db.read() as session:
                found = self._live_link(session, token, now or self.clock())
                if found:
                    inputs = [found[1].email, found[1].display_name, email]
        return strength_problems(password[: MAX_LENGTH + 1], user_inputs=inputs)

    def reset(self, *, token: str, password: str, client_ip: str = "", user_agent: str = "",
              now: dt.datetime | None = None) -> str:
        """Set the password a link is for; the link is then spent, the account's sessions
        end and its other links are spent. Returns the account's email."""
        now = now or self.clock()
        with self.db.read() as session:
            found = self._live_link(session, token, now)
            inputs = (found[1].email, found[1].display_name) if found else ()
            link_id = found[0].id if found else None
        if link_id is not None:
            check_strength(password, user_inputs=inputs)  # nothing is spent on a weak one
            hashed = self.passwords.hash(password)
        refusal: DomainError | None = None
        with self.db.transaction() as session:
            claimed = link_id is not None and session.execute(
                update(PasswordResetLink)
                .where(PasswordResetLink.id == link_id, PasswordResetLink.used_at.is_(None),
                       PasswordResetLink.expires_at > now)
                .values(used_at=now)
                .execution_options(synchronize_session=False, all_schools=True)
            ).rowcount == 1
            log = dict(client_ip=client_ip, user_agent=user_agent, at=now)
            if not claimed:
                link = session.scalars(
                    select(PasswordResetLink)
                    .where(PasswordResetLink.token_hash == hash_token(token or ""))
                    .execution_options(all_schools=True)
                ).first()
                account = session.get(Account, link.account_id) if link else None
                slog.record(
                    session, event=slog.PASSWORD_RESET_REFUSED,
                    account_id=account.id if account else None,
                    email=account.email if account else "",
                    school_id=link.school_id if link else None,
                    detail=self._why_spent(link, now), **log,
                )
                refusal = InvalidArgument(BAD_LINK, field="token")
            else:
                link = session.get(PasswordResetLink, link_id)
                account = session.get(Account, link.account_id)
                account.password_hash = hashed
                account.password_changed_at = now
                sessions.revoke_all(session, account_id=account.id, now=now,
                                    reason=REVOKED_PASSWORD_RESET)
                cancel_links(session, account_id=account.id, now=now)
                slog.record(session, event=slog.PASSWORD_SET, account_id=account.id,
                            email=account.email, school_id=link.school_id,
                            detail="first password" if link.welcome else "reset link", **log)
                email = account.email
        if refusal is not None:
            raise refusal
        return email

    @staticmethod
    def _why_spent(link: PasswordResetLink | None, now: dt.datetime) -> str:
        if link is None:
            return "unknown link"
        if link.used_at is not None:
            return "link already used"
        if now >= link.expires_at:
            return "link expired"
        return "link not usable"
