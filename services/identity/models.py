"""Tables of the identity database only.

Accounts are people (one email, one password, their second factors); a membership puts an
account in a school's user group, so one account can belong to several schools (SSO).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import SchoolScoped, new_id, utcnow
from shared.events import event_tables


class Base(DeclarativeBase):
    pass


EVENTS = event_tables(Base.metadata)


class School(Base):
    """A tenant."""

    __tablename__ = "schools"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    postcode: Mapped[str] = mapped_column(String(16), default="", server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SchoolSettings(SchoolScoped, Base):
    """The settings of one school that identity owns (Admin > Settings)."""

    __tablename__ = "school_settings"
    __table_args__ = (
        ForeignKeyConstraint(["school_id"], ["schools.id"], name="fk_school_settings_school"),
    )

    school_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Lower-case domains; empty means any domain may be used.
    email_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    disable_missing_from_mis: Mapped[bool] = mapped_column(Boolean, default=False)
    use_legal_names: Mapped[bool] = mapped_column(Boolean, default=False)
    idle_timeout_minutes: Mapped[int] = mapped_column(Integer, default=15)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(36), default="")


class Account(Base):
    """A person who logs in. ``email`` is stored lower-case; no password until one is set."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # How many schools it has a membership of (active or not). Kept here, outside any
    # school's rows, so a school-scoped request can tell an SSO account from its own.
    membership_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class UserGroup(SchoolScoped, Base):
    """A school's user group: whether its members hold a key, and its system permissions."""

    __tablename__ = "user_groups"
    __table_args__ = (
        UniqueConstraint("school_id", "name", name="uq_user_groups_school_name"),
        ForeignKeyConstraint(["school_id"], ["schools.id"], name="fk_user_groups_school"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    key_holder: Mapped[bool] = mapped_column(Boolean, default=False)
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Membership(SchoolScoped, Base):
    """An account's place in one school: its user group, and whether it may log in there."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("account_id", "school_id", name="uq_memberships_account_school"),
        ForeignKeyConstraint(["school_id"], ["schools.id"], name="fk_memberships_school"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    user_group_id: Mapped[str] = mapped_column(ForeignKey("user_groups.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    job_title: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # The MIS staff record this membership is matched to (None: a non-MIS user).
    mis_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Where this school's alerts go, when not the account's own email (SSO accounts).
    alert_email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    deactivated_reason: Mapped[str] = mapped_column(String(40), default="", server_default="")


class MisStaff(SchoolScoped, Base):
    """A school's staff as its MIS last described them (from ``mis.staff.upserted``)."""

    __tablename__ = "mis_staff"
    __table_args__ = (UniqueConstraint("school_id", "mis_id", name="uq_mis_staff_school_mis"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    mis_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(40), default="")
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    legal_first_name: Mapped[str] = mapped_column(String(100), default="")
    legal_last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    job_title: Mapped[str] = mapped_column(String(100), default="")
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    start_date: Mapped[str] = mapped_column(String(10), default="")  # ISO date
    end_date: Mapped[str] = mapped_column(String(10), default="")  # ISO date, "" = employed
    present_in_extract: Mapped[bool] = mapped_column(Boolean, default=True)
    as_of: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AlertGroup(SchoolScoped, Base):
    """Staff alerted together (e.g. every DSL) when an incident names the group."""

    __tablename__ = "alert_groups"
    __table_args__ = (
        UniqueConstraint("school_id", "name", name="uq_alert_groups_school_name"),
        ForeignKeyConstraint(["school_id"], ["schools.id"], name="fk_alert_groups_school"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AlertGroupMember(SchoolScoped, Base):
    __tablename__ = "alert_group_members"

    alert_group_id: Mapped[str] = mapped_column(
        ForeignKey("alert_groups.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)


class TotpDevice(Base):
    """An authenticator app ("soft key"). ``secret`` is sealed with the service's key secret."""

    __tablename__ = "totp_devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret: Mapped[str] = mapped_column(Text)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # The newest time step accepted; a code of this step or an earlier one is a replay.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class TotpEnrolment(Base):
    """An authenticator app being set up: its secret waits here until a code confirms it."""

    __tablename__ = "totp_enrolments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    session_id: Mapped[str] = mapped_column(String(36))
    secret: Mapped[str] = mapped_column(Text)  # sealed
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class SecurityKey(Base):
    """A WebAuthn credential (security key or passkey) registered to an account."""

    __tablename__ = "security_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url
    # fido2's AttestedCredentialData (AAGUID, credential id, COSE public key), base64url.
    credential_data: Mapped[str] = mapped_column(Text)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class WebAuthnChallenge(Base):
    """A WebAuthn ceremony begun and not yet finished: its challenge, used at most once."""

    __tablename__ = "webauthn_challenges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    session_id: Mapped[str] = mapped_column(String(36))
    purpose: Mapped[str] = mapped_column(String(20))  # "register" | "elevate"
    state: Mapped[dict] = mapped_column(JSON)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class PasswordResetLink(SchoolScoped, Base):
    """An emailed single-use link to set a password. Only the token's SHA-256 is kept."""

    __tablename__ = "password_reset_links"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    welcome: Mapped[bool] = mapped_column(Boolean, default=False)  # first password
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    client_ip: Mapped[str] = mapped_column(String(64), default="")


class LoginSession(Base):
    """A login. The client holds a random secret; only its SHA-256 is stored here.

    ``id`` is a public handle (the ``sid`` claim of tokens, the security log); it cannot be
    used to refresh or end the session.
    """

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    school_id: Mapped[str] = mapped_column(String(36), index=True)
    acr: Mapped[str] = mapped_column(String(8), default="pwd")
    totp_device_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    security_key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # The secret this session had before elevation replaced it: it can still end the
    # session (logout), never refresh or elevate it.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True,
                                                             index=True)
    # Set when the session was made through the OAuth2 authorization endpoint: its client
    # (whose refresh token is this session's secret) and the scope granted.
    oauth_client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    oauth_scope: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    elevated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_reason: Mapped[str] = mapped_column(String(40), default="")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class SigningKey(Base):
    """An ES256 key that signs access tokens. The private JWK is sealed.

    The newest unretired key signs; a retired key stays published in the JWKS until
    ``publish_until`` (when every token it signed has expired).
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_jwk: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    publish_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class SecurityLogEntry(SchoolScoped, Base):
    """One authentication event. ``school_id`` is "" when no school is known (unknown email).

    ``email`` is the address that was typed, so admins also see attempts on unknown emails.
    """

    __tablename__ = "security_log"
    __table_args__ = (
        Index("ix_security_log_email_event_at", "email", "event", "at"),
        Index("ix_security_log_ip_event_at", "client_ip", "event", "at"),
        Index("ix_security_log_account_event_at", "account_id", "event", "at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    event: Mapped[str] = mapped_column(String(40))
    factor: Mapped[str] = mapped_column(String(20), default="")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    detail: Mapped[str] = mapped_column(String(300), default="")


class IntegrationClient(SchoolScoped, Base):
    """An OAuth2 client of one school (a web-filtering or monitoring vendor, an MIS
    connector): client credentials for one scope. Only the secret's SHA-256 is kept."""

    __tablename__ = "integration_clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the client_id
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(40))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(36), default="")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class AuthorizationCode(Base):
    """An OAuth2 authorization code (single use, short-lived); only its SHA-256 is kept.

    It carries the login session made when the user signed in, with that session's secret
    sealed: the token endpoint hands the secret to the client as its refresh token.
    """

    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(200), default="")
    nonce: Mapped[str] = mapped_column(String(200), default="")
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    session_id: Mapped[str] = mapped_column(String(36))
    session_secret: Mapped[str] = mapped_column(Text)  # sealed
    account_id: Mapped[str] = mapped_column(String(36))
    auth_time: Mapped[dt.datetime] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
